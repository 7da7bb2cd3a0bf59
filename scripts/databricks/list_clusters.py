"""List clusters (the seed's script, unchanged apart from the docstring)."""

from databricks.sdk import WorkspaceClient

w = WorkspaceClient()

for cluster in w.clusters.list():
    print(f"Cluster: {cluster.cluster_name} (ID: {cluster.cluster_id})")
    print(f"  State: {cluster.state}")
    print(f"  Spark Version: {cluster.spark_version}")
