"""The code MLflow logs as a ``bir_tax_forecaster`` version (models from code): run when a version is loaded, it
names the model, whose table comes from the version's artifact (:class:`odoolake.ml.served.ForecastTableModel`)."""

from mlflow.models import set_model

from odoolake.ml.served import ForecastTableModel

set_model(ForecastTableModel())
