"""Shared CLI helpers: the one error handler, the shared options, the workspace client, output and the console.

Every command answers a failure with one line on stderr (what failed, why, what to do) and exit code 1;
``--debug`` shows the traceback instead. Commands get the handler from ``handle_errors`` (main.py applies it to
every command, so a new command cannot forget it).
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import json
import os
import socket
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.exceptions import TyperException

from odoolake.cli.entry import INTERRUPTED, INTERRUPTED_EXIT
from odoolake.config import DEFAULT_PORT, WorkspacePaths
from odoolake.errors import OdoolakeError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
DEBUG = False
CONNECT_TIMEOUT = 3.0  # seconds to open a connection to a workspace before saying it is not reachable
RETRY_BUDGET = 60  # seconds the SDK may retry one call (its default is 300)
_workspace: dict[str, str] = {}  # the host the command talks to, for messages


class WorkspaceUnreachable(OdoolakeError):
    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        port = urlsplit(host if "://" in host else f"https://{host}").port
        start = f"odoolake up --detach{f' --port {port}' if port and port != DEFAULT_PORT else ''}"
        super().__init__(f"workspace not reachable at {host} ({reason}): start it with `{start}`, or "
                         "check --profile / DATABRICKS_HOST")


# -- the one error handler ------------------------------------------------------------------------

def program() -> str:
    """This command as it was called (``.venv/bin/odoolake`` when the virtualenv is not on PATH), for the commands a
    message tells people to run."""
    called = sys.argv[0] if sys.argv else ""
    return called if Path(called).name == "odoolake" else "odoolake"


def _where(exc: BaseException) -> str:
    """The innermost frame outside odoolake and its libraries (a notebook line, a user script), if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "site-packages" not in f.filename and "/odoolake/" not in f.filename
           and not f.filename.startswith("<")]
    return f" (at {own[-1].filename}:{own[-1].lineno})" if own else ""


# Tables the month-end (``odoolake lake run``, the demo) does not make, and what does.
_BUILT_ELSEWHERE = {"bir_forecast": "`odoolake ml train` then `odoolake ml score` (or the bir_etl job)"}


_lake: dict[str, WorkspacePaths] = {}  # the lake the running command works on (``on_lake``), for its error hints


def on_lake(paths: WorkspacePaths) -> WorkspacePaths:
    """Note the lake this command works on, so that an error can name it."""
    _lake["paths"] = paths
    return paths


def _how_to_build(text: str) -> str:
    """The hint after TABLE_OR_VIEW_NOT_FOUND: what builds the table named, for the lake's own tables; the lake's
    root when a command opened it, and that it is empty (a new root: a typo in --home or ODOOLAKE_HOME, say)."""
    for table, how in _BUILT_ELSEWHERE.items():
        if f"`{table}`" in text or f".{table}`" in text:
            return f"the lake does not have it yet; build it with {how}"
    paths = _lake.get("paths")
    if paths is not None and not any(paths.warehouse.glob("*/*")):
        return (f"the lake at {paths.home} has no tables at all: check --home (or ODOOLAKE_HOME), or build it "
                "with `odoolake demo` (or `odoolake lake run`)")
    where = f" at {paths.home}" if paths is not None else ""
    return (f"no such table in the lake{where}: check the name (`SHOW TABLES IN <schema>`), or, for a lake not built "
            "yet, build it with `odoolake demo` (or `odoolake lake run`)")


def error_line(exc: BaseException) -> str:
    """One line for any failure: ours and the workspace's as they are, others with a hint of what to do."""
    from databricks.sdk.errors import DatabricksError

    if isinstance(exc, OdoolakeError | DatabricksError):
        line = str(exc).split(". Config: ")[0].strip()  # the SDK appends its whole config; the cause comes first
        return f"{_resource(exc)}{line}"
    text = str(exc).strip().split("\n")[0]
    if _is_connection_error(exc) and "host" in _workspace:  # a workspace command lost its workspace
        return str(WorkspaceUnreachable(_workspace["host"], text or type(exc).__name__))
    from odoolake.cli.thin_sql import EngineRefused

    spark_error = type(exc).__module__.startswith(("pyspark", "py4j")) or isinstance(exc, EngineRefused)
    if spark_error:
        text = text.split("\n\nJVM stacktrace")[0]
        if "TABLE_OR_VIEW_NOT_FOUND" in text:
            return f"{text}: {_how_to_build(text)}"
        return f"the engine refused it: {text}"
    return f"{type(exc).__name__}: {text}{_where(exc)} (run with --debug for the traceback)"


def _resource(exc: BaseException) -> str:
    """``resources.<kind>.<key>: `` when a bundle deploy failed on that resource (the note it adds), else ''."""
    from odoolake.bundles.deploy import RESOURCE_NOTE

    notes = [n for n in getattr(exc, "__notes__", []) if n.startswith(RESOURCE_NOTE)]
    return f"resources.{notes[-1][len(RESOURCE_NOTE):]}: " if notes else ""


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    try:
        import httpx

        kinds: tuple[type[BaseException], ...] = (requests.ConnectionError, httpx.ConnectError, ConnectionError,
                                                    TimeoutError)
    except ImportError:
        kinds = (requests.ConnectionError, ConnectionError, TimeoutError)
    return isinstance(exc, kinds)


def handle_errors(func: F) -> F:
    if getattr(func, "_odoolake_handled", False):
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException, click.exceptions.ClickException, SystemExit):
            raise  # usage errors and deliberate exits are click's to print
        except KeyboardInterrupt:
            err_console.print(f"[bold red]error:[/] {INTERRUPTED}")
            sys.exit(INTERRUPTED_EXIT)
        except Exception as exc:
            if DEBUG:
                raise
            err_console.print(f"[bold red]error:[/] {escape(error_line(exc))}", soft_wrap=True)
            sys.exit(1)

    wrapper._odoolake_handled = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def handle_all(app: typer.Typer) -> None:
    """Apply handle_errors to every command of ``app`` and its groups (commands need not remember it)."""
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = handle_errors(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            handle_all(group.typer_instance)


# -- shared options --------------------------------------------------------------------------------

HomeOpt = typer.Option(None, "--home", envvar="ODOOLAKE_HOME", help="Workspace root (default ./.odoolake).")
ProfileOpt = typer.Option(None, "--profile", "-p", help="A ~/.databrickscfg profile (default: DATABRICKS_HOST and "
                          "DATABRICKS_TOKEN, or DATABRICKS_CONFIG_PROFILE).")
TargetOpt = typer.Option(None, "--target", "-t", help="Bundle target (default: the bundle's default target).")


class Output(StrEnum):
    """``--output``: text for people, json for scripts (annotate the parameter with this type)."""

    text = "text"
    json = "json"


OutputOpt = typer.Option(Output.text, "--output", "-o", help="text, or json for scripts.")


def emit(output: str, data: Any, text: Callable[[], None]) -> None:
    """Print ``data`` as JSON for ``--output json``, else call ``text`` to print it for people."""
    if output == "json":
        print(json.dumps(data, indent=2, default=str))
    else:
        text()


# -- workspace clients -----------------------------------------------------------------------------

def _config_file() -> Path:
    return Path(os.environ.get("DATABRICKS_CONFIG_FILE", Path.home() / ".databrickscfg"))


def _hosts_of_profiles() -> dict[str, str]:
    config = configparser.ConfigParser()
    if _config_file().exists():
        config.read(_config_file())
    return {name: config[name].get("host", "") for name in config.sections()}


def _same_host(a: str | None, b: str) -> bool:
    """Whether two workspace URLs name the same host and port (the scheme's default port if none is given)."""
    if not a:
        return False
    x, y = (urlsplit(u if "://" in u else f"https://{u}") for u in (a, b))
    return (x.hostname, x.port or (443 if x.scheme == "https" else 80)) == \
        (y.hostname, y.port or (443 if y.scheme == "https" else 80))


def _profiles() -> list[str]:
    """The profiles of the Databricks config file, in its order."""
    config = configparser.ConfigParser()
    if _config_file().exists():
        config.read(_config_file())
    return config.sections()


def _profile_host(profile: str) -> str:
    path = _config_file()
    config = configparser.ConfigParser()
    if path.exists():
        config.read(path)
    if profile not in config:
        known = ", ".join(_profiles()) or "none"
        raise OdoolakeError(f"profile {profile!r} is not in {path} (profiles: {known}); create one with "
                            f"`odoolake up --detach --write-profile {profile}`")
    host = config[profile].get("host")
    if not host:
        raise OdoolakeError(f"profile {profile!r} in {path} has no host")
    return host


def check_workspace(host: str) -> None:
    """One connection to ``host`` within CONNECT_TIMEOUT, or WorkspaceUnreachable; for https, its TLS handshake
    verified as the clients will verify it (the CA bundle named in the environment, else the system's), or a one-line
    error naming the fix. Otherwise the SDK retries for minutes and PySpark's channel waits without a word."""
    import ssl

    parts = urlsplit(host if "://" in host else f"https://{host}")
    if not parts.hostname:
        raise OdoolakeError(f"{host!r} is not a workspace URL; give it as http://host:port or https://host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else (
            f"no answer within {CONNECT_TIMEOUT:.0f} s" if isinstance(exc, TimeoutError) else str(exc))
        raise WorkspaceUnreachable(host, reason) from None
    with sock:
        if parts.scheme != "https":
            return
        bundle = next((os.environ[v] for v in ("REQUESTS_CA_BUNDLE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
                                               "SSL_CERT_FILE") if os.environ.get(v)), None)
        try:
            with ssl.create_default_context(cafile=bundle).wrap_socket(sock, server_hostname=parts.hostname):
                pass
        except ssl.SSLCertVerificationError as exc:
            raise OdoolakeError(
                f"the certificate of {host} is not trusted ({exc.verify_message}): for a local workspace, add "
                "`odoolake_ca_bundle = <its root>/tls/ca-bundle.pem` to the profile (`odoolake up --write-profile "
                f'NAME` writes it), or run eval "$({program()} env --profile NAME)" first') from None
        except (OSError, ssl.SSLError):
            return  # not a certificate problem: the client names it


def check_spark_remote(remote: str) -> None:
    """A Spark Connect URL (``sc://host:port/;use_ssl=true;…``) that answers, and whose certificate is trusted, before
    PySpark opens a channel to it (PySpark waits on a dead one for minutes, and again when the session is released)."""
    parts = urlsplit("x" + remote[2:] if remote.startswith("sc://") else remote)
    secure = "use_ssl=true" in remote.lower()
    host = f"{'https' if secure else 'http'}://{parts.hostname}:{parts.port or 15002}"
    _workspace["host"] = host
    check_workspace(host)


def workspace_client(profile: str | None = None, host: str | None = None):
    """The SDK client for a profile, a host, or the environment, after checking the workspace answers at all.

    A dead workspace is reported in a few seconds ("workspace not reachable at …") instead of after the SDK's
    five minutes of retries; a missing profile is named with the ones that exist.
    """
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    env_profile = os.environ.get("DATABRICKS_CONFIG_PROFILE")
    chosen = profile or (None if host or os.environ.get("DATABRICKS_HOST") else env_profile)
    if not chosen and host and env_profile and _same_host(_hosts_of_profiles().get(env_profile), host):
        chosen = env_profile  # a bundle target's host that the exported profile names: its token and CA
    target = _profile_host(chosen) if chosen else (host or os.environ.get("DATABRICKS_HOST"))
    if not target:
        raise OdoolakeError("no workspace given: pass --profile NAME, or set DATABRICKS_HOST and DATABRICKS_TOKEN "
                            "(`odoolake up --detach --write-profile odoolake` writes a profile)")
    _workspace["host"] = target
    if chosen:
        from odoolake.workspace.frontdoor.trust import trust_profile

        trust_profile(chosen)  # a local workspace's CA, recorded in the profile by `odoolake up --write-profile`
    check_workspace(target)
    try:
        config = Config(profile=chosen, retry_timeout_seconds=RETRY_BUDGET) if chosen else Config(
            host=target, retry_timeout_seconds=RETRY_BUDGET)
    except ValueError as exc:
        raise OdoolakeError(f"no credentials for {target}: {str(exc).split('. Config:')[0]}") from None
    return WorkspaceClient(config=config)


# -- the lake --------------------------------------------------------------------------------------

@contextmanager
def lake_session(paths: WorkspacePaths, doing: str | None = None) -> Iterator[Any]:
    """A Spark session for one command, closed after it: the embedded engine, or ``ODOOLAKE_SPARK_REMOTE`` if set.
    ``doing`` is shown (on stderr, in a terminal) while the command works: what it is doing, and that it is."""
    from odoolake.workspace.engine import REMOTE_ENV, LocalEngine

    on_lake(paths)
    if os.environ.get(REMOTE_ENV):
        check_spark_remote(os.environ[REMOTE_ENV])
    with err_console.status(doing) if doing else contextlib.nullcontext(), LocalEngine.start(paths.home) as engine:
        yield engine.session()


def dbfs_lister(paths: WorkspacePaths) -> Callable[[str], list[str]]:
    """``dbutils.fs.ls`` for the local DBFS root: file URIs under a ``dbfs:/`` folder."""

    def ls(uri: str) -> list[str]:
        folder: Path = paths.dbfs_to_local(uri)
        if not folder.is_dir():
            return []
        return [f"{uri.rstrip('/')}/{p.name}" for p in sorted(folder.iterdir()) if p.is_file()]

    return ls
