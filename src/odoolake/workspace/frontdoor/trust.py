"""Client-side trust of a local workspace's certificate authority.

``odoolake up --write-profile NAME`` records the workspace's CA bundle in the profile (``odoolake_ca_bundle``, a key
the Databricks SDK ignores). What a client can only take from the environment is printed by ``odoolake env``:
``REQUESTS_CA_BUNDLE`` for requests-based clients (the SDK, MLflow), ``SSL_CERT_FILE`` for clients on urllib3 or
Python's ``ssl`` defaults (the SQL connector, for its API calls and for the result links it downloads) and
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` for gRPC ones (Databricks Connect, PySpark). The bundle also holds the public
roots, so real workspaces stay reachable from the same shell.
"""

from __future__ import annotations

import configparser
import os
import shlex
from pathlib import Path

CA_KEY = "odoolake_ca_bundle"
TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")


def config_file() -> Path:
    return Path(os.environ.get("DATABRICKS_CONFIG_FILE", Path.home() / ".databrickscfg"))


def profile_ca_bundle(profile: str | None) -> Path | None:
    """The CA bundle a profile written by ``odoolake up`` names, if it still exists."""
    name = profile or os.environ.get("DATABRICKS_CONFIG_PROFILE") or "DEFAULT"
    parser = configparser.ConfigParser()
    parser.read(config_file())
    if not parser.has_section(name) and name != "DEFAULT":
        return None
    value = parser[name].get(CA_KEY) if name in parser else None
    return Path(value) if value and Path(value).is_file() else None


def trust_profile(profile: str | None) -> None:
    """Trust the profile's workspace CA in this process (for the SDK clients the CLI builds). The bundle replaces
    any CA bundle already named in the environment; it was built from that one (see ``tls.ensure_certificates``)."""
    bundle = profile_ca_bundle(profile)
    if bundle is not None:
        for variable in TRUST_VARIABLES:
            os.environ[variable] = str(bundle)


def exports(profile: str | None) -> list[str]:
    """``export`` lines for a shell; empty when the profile needs nothing (a real Databricks workspace). Node-based
    clients (the VS Code Databricks extension) add ``NODE_EXTRA_CA_CERTS`` to their own roots, so it names the CA."""
    bundle = profile_ca_bundle(profile)
    if bundle is None:
        return []
    values = {variable: bundle for variable in TRUST_VARIABLES}
    ca = bundle.with_name("ca.pem")
    if ca.is_file():
        values["NODE_EXTRA_CA_CERTS"] = ca
    return [f"export {variable}={shlex.quote(str(path))}" for variable, path in values.items()]


def write_profile(profile: str, host: str, token: str, ca_bundle: Path | None, cluster_id: str | None,
                  path: Path | None = None) -> Path:
    cfg_path = path or config_file()
    parser = configparser.ConfigParser()
    if cfg_path.exists():
        parser.read(cfg_path)
    section = {"host": host, "token": token}
    if cluster_id:
        section["cluster_id"] = cluster_id
    if ca_bundle is not None:
        section[CA_KEY] = str(ca_bundle)
    parser[profile] = section
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        parser.write(fh)
    cfg_path.chmod(0o600)
    return cfg_path


def spark_remote(profile: str) -> str:
    """A Spark Connect URL for a profile's workspace (``sc://host:port/;use_ssl=true;token=…``), trusting its CA."""
    from urllib.parse import urlparse

    from odoolake.errors import OdoolakeError

    parser = configparser.ConfigParser()
    parser.read(config_file())
    if profile not in parser:
        raise OdoolakeError(f"No profile {profile!r} in {config_file()}; `odoolake up --write-profile {profile}` "
                            "writes one.")
    section = parser[profile]
    host, token = section.get("host"), section.get("token")
    if not host or not token:
        raise OdoolakeError(f"Profile {profile!r} needs a host and a token to reach Spark Connect.")
    url = urlparse(host)
    trust_profile(profile)
    return f"sc://{url.hostname}:{url.port or 443}/;use_ssl=true;token={token}"
