"""``odoolake up`` / ``odoolake down``: the local workspace server (REST API + Spark Connect)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from odoolake.cli.common import HomeOpt, console, handle_errors, program
from odoolake.config import DEFAULT_PORT, WorkspacePaths
from odoolake.errors import OdoolakeError
from odoolake.pids import end_process, started_at

if TYPE_CHECKING:
    from odoolake.workspace.engine import LocalEngine



def _pid_file(paths: WorkspacePaths) -> Path:
    return paths.home / "server.json"


def _log_file(paths: WorkspacePaths) -> Path:
    """A detached workspace server's stdout and stderr."""
    return paths.home / "server.log"


def _health(url: str) -> dict | None:
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # liveness only: nothing secret is read
    try:
        with urllib.request.urlopen(f"{url}/_odoolake/health", timeout=1, context=context) as r:
            return json.loads(r.read())
    except Exception:
        return None


def check_port_free(host: str, port: int) -> None:
    """Refuse, naming the fix, when something already listens on ``host:port`` (another workspace, or any program)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return
        except OSError as exc:
            reason = exc.strerror or str(exc)
    other = _health(f"https://{host}:{port}") or _health(f"http://{host}:{port}")
    if other:
        raise OdoolakeError(f"port {port} on {host} is already used by another odoolake workspace (id "
                            f"{other.get('workspace_id')}): stop it with `odoolake down --home <its home>`, or start "
                            f"this one with --port {port + 1}")
    raise OdoolakeError(f"port {port} on {host} is not available ({reason}): choose another with --port")


def _announce(paths: WorkspacePaths, url: str, plain_http: bool, profile: str | None) -> None:
    from odoolake.config import local_user
    from odoolake.workspace.db import Database
    from odoolake.workspace.engine.identity import LOCAL_CLUSTER_ID
    from odoolake.workspace.engine.launcher import engine_status
    from odoolake.workspace.frontdoor.tls import TlsFiles
    from odoolake.workspace.frontdoor.trust import write_profile
    from odoolake.workspace.identity.tokens import TokenService

    tokens = TokenService(Database(paths.home / "workspace.db"))
    tls = TlsFiles.under(paths.home)
    status = engine_status(paths.home) or {}
    console.print(f"[bold green]odoolake workspace[/] at [bold]{url}[/]  (REST and Spark Connect, TLS; "
                  f"plain HTTP {'also accepted' if plain_http else 'refused'})")
    console.print(f"  state: {paths.home}   CA: {tls.ca_cert}")
    isolation = status.get("isolation", "unknown")
    reason = status.get("isolation_unavailable")
    console.print(f"  engine: {isolation}" + (f" ({reason})" if reason else ""))
    if profile:
        value, _ = tokens.create(local_user(), f"profile {profile}")
        cfg = write_profile(profile, url, value, tls.ca_bundle, LOCAL_CLUSTER_ID)
        console.print(f"  wrote profile [bold]{profile}[/] to {cfg}: use [bold]--profile {profile}[/] or "
                      f"DATABRICKS_CONFIG_PROFILE={profile}; [bold]eval \"$({program()} env --profile {profile})\"[/] "
                      "makes other clients trust the workspace's CA")
    elif tokens.count() == 0:
        console.print("  no tokens yet: [bold]odoolake tokens create --comment laptop[/] mints one without a token "
                      "on this machine (or restart with --write-profile odoolake)")


@handle_errors
def up(
    port: int = typer.Option(DEFAULT_PORT, help="Port on the host for REST and Spark Connect."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; keep loopback unless you know why."),
    home: str = HomeOpt,
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background; stop with odoolake down."),
    write_profile_name: str = typer.Option(None, "--write-profile", help="Mint a token and write this profile to "
                                           "~/.databrickscfg."),
    production: bool = typer.Option(False, "--production", help="Accept deploys (jobs, pipelines, files, models, "
                                                                "endpoints) and writes only from service principals."),
    workers: int = typer.Option(None, "--workers", min=1, envvar="ODOOLAKE_ENGINE_WORKERS",
                                help="Run the engine in Sail's local cluster mode with this many workers."),
    plain_http: bool = typer.Option(None, "--plain-http/--no-plain-http",
                                    help="Also accept plain HTTP on the port (for the legacy databricks-cli). "
                                         "Default: on for a loopback host, off otherwise."),
) -> None:
    """Start the local workspace: the Databricks REST API and Spark Connect, on one TLS port."""
    import psutil

    from odoolake.workspace.frontdoor.server import is_loopback

    paths = WorkspacePaths.from_env(home).ensure()
    url = f"https://{host}:{port}"
    allow_plain = is_loopback(host) if plain_http is None else plain_http
    state = _pid_file(paths)
    if state.exists():
        running = json.loads(state.read_text())
        if psutil.pid_exists(running["pid"]) and _health(running["url"]):
            raise OdoolakeError(f"A workspace for {paths.home} is already running at {running['url']} "
                                f"(pid {running['pid']}); stop it with odoolake down.")
        state.unlink()
    check_port_free(host, port)
    if detach:
        from odoolake.logfiles import rotated

        log = rotated(_log_file(paths)).open("ab")
        command = [sys.executable, "-m", "odoolake.cli.main", "up", "--port", str(port), "--host", host,
                   "--home", str(paths.home), *(["--production"] if production else []),
                   *(["--workers", str(workers)] if workers else []),
                   "--plain-http" if allow_plain else "--no-plain-http"]
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        with console.status(f"starting the workspace at {url}…"):
            health = None
            while time.time() < deadline and health is None:
                if proc.poll() is not None:
                    raise OdoolakeError(f"The workspace server exited with code {proc.returncode}; see "
                                        f"{_log_file(paths)}")
                answer = _health(url)
                if answer and answer.get("workspace_id") == paths.workspace_id:  # ours, not whoever holds the port
                    health = answer
                else:
                    time.sleep(0.2)
        if health is not None:
            _announce(paths, url, allow_plain, write_profile_name)
            console.print(f"  running in the background (pid {proc.pid}); log {_log_file(paths)}")
            return
        proc.terminate()
        raise OdoolakeError(f"The workspace server did not answer on {url} within 120 s.")

    from odoolake.workspace.engine import LocalEngine

    if workers:
        os.environ["ODOOLAKE_ENGINE_WORKERS"] = str(workers)
    from odoolake.workspace.frontdoor.tls import ensure_certificates

    # The engine host serves Spark Connect with the certificate it finds when it starts: it must find one that names
    # this host (made or renewed here first), or Databricks Connect from another machine fails its name check.
    ensure_certificates(paths.home, (host,))
    # the engine host starts while the server's modules load (~1 s each), and imports its catalog API meanwhile: the
    # server's first SQL statement sets its session's schema, which calls it
    early = LocalEngine.start(paths.home, catalog_at_start=True)
    try:
        if early.remote is None:
            early.lease(wait=False)
        _serve(paths, host, port, url, production, workers, allow_plain, write_profile_name, state, early)
    finally:
        early.close()


def _serve(paths: WorkspacePaths, host: str, port: int, url: str, production: bool, workers: int | None,
           allow_plain: bool, write_profile_name: str | None, state: Path, early: LocalEngine) -> None:
    from odoolake.logfiles import keep_rotating
    from odoolake.workspace.app import Workspace, WorkspaceSettings, create_app
    from odoolake.workspace.engine.host import front_socket
    from odoolake.workspace.engine.session import import_client_in_background
    from odoolake.workspace.frontdoor.server import WorkspaceServer, bind

    keep_rotating(_log_file(paths))  # when detached: its stdout is that file
    try:
        listener = bind(host, port)
    except OSError as exc:
        raise OdoolakeError(f"Cannot listen on {host}:{port}: {exc.strerror}. Another program (or workspace) holds "
                            "the port: stop it, or choose another with --port.") from None
    settings = WorkspaceSettings(home=paths.home, host=host, port=port, production=production,
                                 plain_http=allow_plain)
    if early.remote is None:
        early.lease()  # answers now: the workspace's own lease finds it
    workspace = Workspace(settings)
    app = create_app(settings, workspace)
    server = WorkspaceServer(app, listener, workspace.tls, front_socket(paths.home), allow_plain,
                             engine_up=workspace.engine.lease if workspace.engine.remote is None else None,
                             renew_certificates=workspace.renew_certificates)

    original_startup = server.startup

    async def startup(sockets=None) -> None:
        await original_startup(sockets)
        if server.started:
            state.write_text(json.dumps({"pid": os.getpid(), "url": url, "started": started_at(os.getpid())}))
            _announce(paths, url, allow_plain, write_profile_name)
            import_client_in_background()

    server.startup = startup  # type: ignore[method-assign]
    try:
        server.run()
    finally:
        if state.exists() and json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()


@handle_errors
def env(
    profile: str = typer.Option(None, "--profile", "-p", help="A profile written by odoolake up --write-profile."),
    dotenv: bool = typer.Option(False, "--dotenv", help="KEY=value lines (for VS Code's python.envFile) instead of "
                                                       "shell exports."),
) -> None:
    """Print what a client needs in its environment to trust a local workspace (nothing for a real one).

    Use: eval "$(odoolake env --profile odoolake)", or
    odoolake env --profile odoolake --dotenv > .vscode/odoolake.env
    """
    from odoolake.cli.common import _config_file, _profile_host, _profiles
    from odoolake.workspace.frontdoor.trust import exports

    if profile:
        _profile_host(profile)  # a profile that does not exist is named, not answered with nothing to export
    lines = exports(profile)
    for line in lines:
        print(line.removeprefix("export ") if dotenv else line)
    if not lines and not profile and not os.environ.get("DATABRICKS_CONFIG_PROFILE"):
        # eval "$(odoolake env)" then exports nothing, and a client of a local workspace retries TLS without a word
        print(f"odoolake env: nothing to export for the DEFAULT profile; name a local workspace's profile: odoolake "
              f"env --profile NAME (profiles in {_config_file()}: {', '.join(_profiles()) or 'none'})",
              file=sys.stderr)


@handle_errors
def down(home: str = HomeOpt) -> None:
    """Stop the background workspace started with odoolake up --detach."""
    paths = WorkspacePaths.from_env(home)
    state = _pid_file(paths)
    if not state.exists():
        raise OdoolakeError(f"no workspace is running for {paths.home} (started with `odoolake up --detach`)")
    running = json.loads(state.read_text())
    pid = running["pid"]
    ours = end_process(pid, 10, terminate=True, started=running.get("started"))
    state.unlink(missing_ok=True)
    if ours:
        from odoolake.workspace.engine.launcher import stop_unused_host

        with console.status("stopping the engine …"):
            engine_stopped = stop_unused_host(paths.home)
        console.print(f"stopped the workspace at {running['url']} (pid {pid})" + (
            "" if engine_stopped else "; its engine still serves another odoolake command and stops after it"))
    else:
        console.print(f"the workspace at {running['url']} had stopped already (pid {pid} is another process now); "
                      "its record is removed")
