"""``odoolake up`` / ``odoolake down``: the local workspace server (REST API + Spark Connect)."""

from __future__ import annotations

import configparser
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer

from odoolake.cli.common import HomeOpt, console, err_console, handle_errors
from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError

DEFAULT_PORT = 8765


def _pid_file(paths: WorkspacePaths) -> Path:
    return paths.home / "server.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _health(url: str) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/_odoolake/health", timeout=1) as r:
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
    other = _health(f"http://{host}:{port}")
    if other:
        raise OdoolakeError(f"port {port} on {host} is already used by another odoolake workspace (id "
                            f"{other.get('workspace_id')}): stop it with `odoolake down --home <its home>`, or start "
                            f"this one with --port {port + 1}")
    raise OdoolakeError(f"port {port} on {host} is not available ({reason}): choose another with --port")


def write_profile(profile: str, host: str, token: str, path: Path | None = None) -> Path:
    cfg_path = path or Path(os.environ.get("DATABRICKS_CONFIG_FILE", Path.home() / ".databrickscfg"))
    config = configparser.ConfigParser()
    if cfg_path.exists():
        config.read(cfg_path)
    config[profile] = {"host": host, "token": token}
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    with cfg_path.open("w") as fh:
        config.write(fh)
    cfg_path.chmod(0o600)
    return cfg_path


def _announce(paths: WorkspacePaths, url: str, spark_url: str, profile: str | None) -> None:
    from odoolake.workspace.db import Database
    from odoolake.workspace.identity.tokens import TokenService

    tokens = TokenService(Database(paths.home / "workspace.db"))
    console.print(f"[bold green]odoolake workspace[/] at [bold]{url}[/]  (Spark Connect {spark_url})")
    console.print(f"  state: {paths.home}")
    if profile:
        from odoolake.workspace.app import local_user

        value, _ = tokens.create(local_user(), f"profile {profile}")
        cfg = write_profile(profile, url, value)
        console.print(f"  wrote profile [bold]{profile}[/] to {cfg}: use [bold]--profile {profile}[/] or "
                      f"DATABRICKS_CONFIG_PROFILE={profile}")
    elif tokens.count() == 0:
        console.print("  no tokens yet: [bold]odoolake tokens create --comment laptop[/] mints one without a token "
                      "on this machine (or restart with --write-profile odoolake)")


@handle_errors
def up(
    port: int = typer.Option(DEFAULT_PORT, help="REST API port on 127.0.0.1."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; keep loopback unless you know why."),
    home: str = HomeOpt,
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background; stop with odoolake down."),
    write_profile_name: str = typer.Option(None, "--write-profile", help="Mint a token and write this profile to "
                                           "~/.databrickscfg."),
    production: bool = typer.Option(False, "--production", help="Accept deploys (jobs, pipelines, files, models, "
                                                                "endpoints) only from service principals."),
    workers: int = typer.Option(None, "--workers", min=1, envvar="ODOOLAKE_ENGINE_WORKERS",
                                help="Run the engine in Sail's local cluster mode with this many workers."),
) -> None:
    """Start the local workspace: the Databricks REST API and the Spark Connect endpoint."""
    paths = WorkspacePaths.from_env(home).ensure()
    url = f"http://{host}:{port}"
    state = _pid_file(paths)
    if state.exists():
        running = json.loads(state.read_text())
        if _alive(running["pid"]) and _health(running["url"]):
            raise OdoolakeError(f"A workspace for {paths.home} is already running at {running['url']} "
                                f"(pid {running['pid']}); stop it with odoolake down.")
        state.unlink()
    check_port_free(host, port)
    if detach:
        log = (paths.home / "server.log").open("ab")
        command = [sys.executable, "-m", "odoolake.cli.main", "up", "--port", str(port), "--host", host,
                   "--home", str(paths.home), *(["--production"] if production else []),
                   *(["--workers", str(workers)] if workers else [])]
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 60
        with console.status(f"starting the workspace at {url}…"):
            health = None
            while time.time() < deadline and health is None:
                if proc.poll() is not None:
                    raise OdoolakeError(f"The workspace server exited with code {proc.returncode}; see "
                                        f"{paths.home / 'server.log'}")
                answer = _health(url)
                if answer and answer.get("workspace_id") == paths.workspace_id:  # ours, not whoever holds the port
                    health = answer
                else:
                    time.sleep(0.2)
        if health is not None:
            state.write_text(json.dumps({"pid": proc.pid, "url": url}))
            _announce(paths, url, health["spark_connect"], write_profile_name)
            console.print(f"  running in the background (pid {proc.pid}); log {paths.home / 'server.log'}")
            return
        proc.terminate()
        raise OdoolakeError(f"The workspace server did not answer on {url} within 60 s.")
    import uvicorn

    from odoolake.workspace.app import Workspace, WorkspaceSettings, create_app

    if workers:
        os.environ["ODOOLAKE_ENGINE_WORKERS"] = str(workers)
    settings = WorkspaceSettings(home=paths.home, host=host, port=port, production=production)
    workspace = Workspace(settings)
    app = create_app(settings, workspace)
    state.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)

    original_startup = server.startup

    async def startup(sockets=None) -> None:
        await original_startup(sockets)
        if server.started:
            _announce(paths, url, workspace.engine.remote_url, write_profile_name)

    server.startup = startup  # type: ignore[method-assign]
    try:
        server.run()
    finally:
        if state.exists() and json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()


@handle_errors
def down(home: str = HomeOpt) -> None:
    """Stop the background workspace started with ``odoolake up --detach``."""
    paths = WorkspacePaths.from_env(home)
    state = _pid_file(paths)
    if not state.exists():
        err_console.print(f"No workspace is running for {paths.home}.")
        raise typer.Exit(1)
    running = json.loads(state.read_text())
    pid = running["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    state.unlink(missing_ok=True)
    console.print(f"stopped the workspace at {running['url']} (pid {pid})")
