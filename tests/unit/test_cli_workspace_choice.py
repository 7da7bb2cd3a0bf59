"""Which workspace and credentials a CLI command uses: --profile, a bundle target's host, DATABRICKS_HOST, or the
profile exported in DATABRICKS_CONFIG_PROFILE (the user guide's option table)."""

from __future__ import annotations

import os

import pytest

from odoolake.cli import common


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    config = tmp_path / "databrickscfg"
    (tmp_path / "ca-bundle.pem").write_text("the local workspace's CA\n")
    config.write_text(f"[odoolake]\nhost = https://127.0.0.1:8765\ntoken = dapi-local\n"
                      f"odoolake_ca_bundle = {tmp_path / 'ca-bundle.pem'}\n"
                      "[elsewhere]\nhost = https://127.0.0.1:18765\ntoken = dapi-other\n")
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"):
        monkeypatch.setenv(name, "")  # recorded, so what trust_profile sets is undone after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config))
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(common, "check_workspace", lambda host: None)
    from databricks.sdk.config import Config

    monkeypatch.setattr(Config, "_resolve_host_metadata", lambda self: None)  # no workspace answers here
    return monkeypatch


def test_an_exported_profile_serves_a_bundle_target_at_its_host(profiles):
    """``DATABRICKS_CONFIG_PROFILE=odoolake bundle deploy`` against the local target (http://127.0.0.1:8765): the
    profile's token and CA, as the user guide says; a profile of another workspace is not used for it."""
    profiles.setenv("DATABRICKS_CONFIG_PROFILE", "odoolake")
    client = common.workspace_client(None, "http://127.0.0.1:8765")
    assert client.config.profile == "odoolake" and client.config.token == "dapi-local"
    assert os.environ["REQUESTS_CA_BUNDLE"].endswith("ca-bundle.pem")  # the profile's CA is trusted
    profiles.setenv("DATABRICKS_CONFIG_PROFILE", "elsewhere")
    profiles.setenv("DATABRICKS_TOKEN", "dapi-env")
    client = common.workspace_client(None, "http://127.0.0.1:8765")
    assert client.config.host == "http://127.0.0.1:8765" and client.config.token == "dapi-env"
    client = common.workspace_client("elsewhere", "http://127.0.0.1:8765")  # --profile takes the target's place
    assert client.config.host == "https://127.0.0.1:18765"


def test_same_host_compares_host_and_port():
    assert common._same_host("https://127.0.0.1:8765", "http://127.0.0.1:8765")
    assert not common._same_host("https://127.0.0.1:18765", "http://127.0.0.1:8765")
    assert common._same_host("https://adb-1.azuredatabricks.net", "adb-1.azuredatabricks.net:443")
    assert not common._same_host(None, "https://x")


def test_an_empty_odoolake_home_is_the_default_root_not_the_current_folder(monkeypatch, tmp_path):
    """``ODOOLAKE_HOME=`` made the current folder the root (a lake's files written straight into it)."""
    from pathlib import Path

    from odoolake.config import DEFAULT_HOME, WorkspacePaths

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ODOOLAKE_HOME", "")
    assert WorkspacePaths.from_env().home == (tmp_path / DEFAULT_HOME).resolve()
    assert WorkspacePaths.from_env("").home == (tmp_path / DEFAULT_HOME).resolve()
    assert WorkspacePaths.from_env("lake").home == Path(tmp_path / "lake").resolve()
