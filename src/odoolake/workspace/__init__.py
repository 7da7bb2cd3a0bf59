"""The local workspace: what replaces Databricks on one machine. The application never imports it."""
