"""The month-end pipeline in plain PySpark: it runs unchanged on Databricks and on the local engine."""
