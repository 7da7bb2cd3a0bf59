"""Secrets: the Secrets API (scopes, values, ACLs), values sealed at rest, handed to a task only when it reads them.

- ``store.py``: scopes, secrets and ACLs in SQLite; each value sealed with AES-GCM under the workspace's key
  (``crypto.py``), bound to its ``scope/key``; permissions READ < WRITE < MANAGE, admins manage every scope.
- ``grants.py``: a task process gets a credential that can do one thing, read secrets as the run's principal, and
  lives only as long as the task. The server remembers every value a task read.
- ``redaction.py``: those values are replaced by ``[REDACTED]`` in every byte the task writes (read from its
  stdout/stderr pipe, so children and ``os.write`` are covered), its exit value, error and task values.
- ``reader.py``: ``dbutils.secrets`` in a task (through its credential), or in a local run by the machine's owner.
"""
