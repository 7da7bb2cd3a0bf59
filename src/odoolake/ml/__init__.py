"""The withholding-tax forecaster: features → time-aware split → candidates → MLflow run → registry → scoring."""

from odoolake.ml.tracking import ALIAS, EXPERIMENT, MODEL_NAME

__all__ = ["ALIAS", "EXPERIMENT", "MODEL_NAME"]
