"""The workspace tree (notebooks and files), DBFS 2.0 and the Files API, on local disk."""
