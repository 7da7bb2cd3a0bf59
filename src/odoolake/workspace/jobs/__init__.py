"""Jobs and runs: settings validation, the run life cycle, the task DAG and the runner."""
