"""Run Databricks source-format notebooks locally: cells, magics, ``dbutils`` and ``display``."""

from odoolake.workspace.notebooks.runtime import NotebookResult, run_notebook
from odoolake.workspace.notebooks.source import Cell, parse_notebook

__all__ = ["Cell", "NotebookResult", "parse_notebook", "run_notebook"]
