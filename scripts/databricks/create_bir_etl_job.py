"""Create the "BIR Month-End ETL" job (the seed's script, corrected).

Changes from the seed: ``depends_on`` takes ``TaskDependency`` objects and ``new_cluster`` a ``ClusterSpec``
(the SDK serialises typed objects, not dicts). Credentials come from the environment or a profile:
``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` or ``DATABRICKS_CONFIG_PROFILE``.
"""

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.compute import ClusterSpec
from databricks.sdk.service.jobs import JobCluster, NotebookTask, Task, TaskDependency

w = WorkspaceClient()

job = w.jobs.create(
    name="BIR Month-End ETL",
    tasks=[
        Task(
            task_key="bronze_ingestion",
            notebook_task=NotebookTask(notebook_path="/Shared/ETL/bronze_ingestion",
                                       base_parameters={"raw_root": "dbfs:/raw/odoo"}),
            job_cluster_key="main_cluster",
        ),
        Task(
            task_key="silver_cleaning",
            notebook_task=NotebookTask(notebook_path="/Shared/ETL/silver_cleaning"),
            depends_on=[TaskDependency(task_key="bronze_ingestion")],
            job_cluster_key="main_cluster",
        ),
        Task(
            task_key="gold_aggregation",
            notebook_task=NotebookTask(notebook_path="/Shared/ETL/gold_aggregation"),
            depends_on=[TaskDependency(task_key="silver_cleaning")],
            job_cluster_key="main_cluster",
        ),
    ],
    job_clusters=[
        JobCluster(
            job_cluster_key="main_cluster",
            new_cluster=ClusterSpec(
                spark_version="14.3.x-scala2.12",
                node_type_id="Standard_DS3_v2",
                num_workers=2,
                spark_conf={"spark.databricks.delta.optimizeWrite.enabled": "true"},
            ),
        )
    ],
)

print(f"Created job: {job.job_id}")
