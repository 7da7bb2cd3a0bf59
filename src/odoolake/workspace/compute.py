"""The one local cluster and the one SQL warehouse: both are the embedded engine.

Start/stop/restart change the reported state (a stopped cluster refuses work started on it); creating
more clusters or warehouses is refused with a clear error rather than faked.
"""

from __future__ import annotations

import os
import threading
import time

from odoolake.workspace.errors import InvalidParameterValue, InvalidState, ResourceDoesNotExist, missing
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

LOCAL_CLUSTER_ID = "0101-000000-odoolake"
SPARK_VERSION = "15.4.x-scala2.12"
# The runtimes clusters/spark-versions lists: the local cluster's and the LTS lines Databricks Connect and bundles
# name (the SDK's select_spark_version picks among them). Every job runs on the embedded engine whatever it names.
SPARK_VERSIONS = (
    (SPARK_VERSION, "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"),
    ("16.4.x-scala2.12", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"),
    ("16.4.x-scala2.13", "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.13)"),
    ("17.3.x-scala2.13", "17.3 LTS (includes Apache Spark 4.0.0, Scala 2.13)"),
)
# Node types clusters/list-node-types lists: Azure's general-purpose sizes (the cloud a bundle deploys to), so a
# node type the SDK's select_node_type picks here is one Azure Databricks takes; (id, cores, memory GiB, disk GiB).
NODE_TYPES = (("Standard_D4ds_v5", 4, 16, 150), ("Standard_D8ds_v5", 8, 32, 300), ("Standard_D16ds_v5", 16, 64, 600),
              ("Standard_E8ds_v5", 8, 64, 300))


def spark_versions() -> dict:
    return {"versions": [{"key": key, "name": name} for key, name in SPARK_VERSIONS]}


def node_types() -> dict:
    return {"node_types": [
        {"node_type_id": node, "instance_type_id": node, "num_cores": float(cores), "memory_mb": gib * 1024,
         "num_gpus": 0, "category": "General Purpose" if node.startswith("Standard_D") else "Memory Optimized",
         "description": f"{node} ({cores} cores, {gib} GiB; locally every job runs on the embedded engine)",
         "is_deprecated": False, "is_io_cache_enabled": True, "photon_driver_capable": True,
         "photon_worker_capable": True, "support_port_forwarding": True,
         "node_instance_type": {"instance_type_id": node, "local_disks": 1, "local_disk_size_gb": disk}}
        for node, cores, gib, disk in NODE_TYPES]}


class LocalCompute:
    def __init__(self, user: str, host: str, port: int) -> None:
        self.user = user
        self.host = host
        self.port = port
        self.started = int(time.time() * 1000)
        self.cluster_state = "RUNNING"
        self.warehouse_state = "RUNNING"
        self._lock = threading.Lock()

    # clusters
    def cluster(self) -> dict:
        return {
            "cluster_id": LOCAL_CLUSTER_ID, "cluster_name": "odoolake-local", "state": self.cluster_state,
            "state_message": "" if self.cluster_state == "RUNNING" else "Stopped by the user",
            "spark_version": SPARK_VERSION, "node_type_id": "local", "driver_node_type_id": "local",
            "num_workers": 0, "cluster_source": "API", "creator_user_name": self.user, "start_time": self.started,
            "autotermination_minutes": 0, "cluster_cores": float(os.cpu_count() or 1),
            "data_security_mode": "SINGLE_USER", "single_user_name": self.user, "spark_context_id": 1,
            "spark_conf": {"spark.master": "sail-local", "spark.databricks.cluster.profile": "singleNode"},
            "custom_tags": {"ResourceClass": "SingleNode"}, "default_tags": {"Vendor": "odoolake"},
            "jdbc_port": 0,
        }

    def require_cluster(self, cluster_id: object) -> dict:
        if cluster_id != LOCAL_CLUSTER_ID:
            raise missing("Cluster", cluster_id)
        return self.cluster()

    def set_cluster_state(self, cluster_id: object, state: str) -> None:
        self.require_cluster(cluster_id)
        with self._lock:
            self.cluster_state = state

    def create_cluster(self) -> None:
        raise InvalidParameterValue(
            f"The local workspace has one cluster, {LOCAL_CLUSTER_ID} (the embedded engine); "
            "use it as existing_cluster_id, or declare job clusters in job settings.")

    def require_running(self) -> None:
        if self.cluster_state != "RUNNING":
            raise InvalidState(f"Cluster {LOCAL_CLUSTER_ID} is {self.cluster_state}; start it first.")

    # warehouses
    def warehouse(self) -> dict:
        return {
            "id": LOCAL_WAREHOUSE_ID, "name": "odoolake local warehouse", "state": self.warehouse_state,
            "cluster_size": "2X-Small", "min_num_clusters": 1, "max_num_clusters": 1, "auto_stop_mins": 0,
            "warehouse_type": "PRO", "enable_serverless_compute": False, "enable_photon": False,
            "creator_name": self.user, "num_clusters": 1, "num_active_sessions": 0,
            "channel": {"name": "CHANNEL_NAME_CURRENT"}, "jdbc_url": "",
            "odbc_params": {"hostname": self.host, "path": f"/sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}",
                            "port": self.port, "protocol": "https"},  # the front door serves TLS
            "health": {"status": "HEALTHY", "summary": "Embedded engine"}, "tags": {"custom_tags": []},
        }

    def require_warehouse(self, warehouse_id: object) -> dict:
        if warehouse_id != LOCAL_WAREHOUSE_ID:
            raise ResourceDoesNotExist(f"Warehouse {warehouse_id} does not exist.")
        return self.warehouse()

    def set_warehouse_state(self, warehouse_id: object, state: str) -> None:
        self.require_warehouse(warehouse_id)
        with self._lock:
            self.warehouse_state = state
