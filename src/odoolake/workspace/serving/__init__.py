"""Model serving in the local workspace: endpoints over the workspace's MLflow registry, scored in-process."""
