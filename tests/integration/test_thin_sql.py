"""`odoolake lake sql` runs on the embedded engine without PySpark's client: its rows and errors must be what PySpark's
``collect()`` and error messages give for the same statement."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from odoolake.cli import entry
from odoolake.cli.thin_sql import EngineRefused, run
from odoolake.config import WorkspacePaths
from odoolake.testing.sessions import engine_hosts
from odoolake.workspace.engine import LocalEngine, host
from odoolake.workspace.engine.launcher import EngineLease, engine_status, no_host

EVERY_TYPE = ("SELECT 1 AS one, 1234567.5BD AS amount, TIMESTAMP'2026-01-02 03:04:05' AS ts, "
              "TIMESTAMP_NTZ'2026-01-02 03:04:05' AS ts_ntz, DATE'2026-01-01' AS d, map('a', 1) AS m, "
              "named_struct('x', 1, 'y', 'z') AS s, array(named_struct('k', 1)) AS nested, X'0102' AS b, "
              "CAST(NULL AS STRING) AS missing, 1.5D AS dbl, INTERVAL '1' DAY AS iv, 'ñ' AS text")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    paths = WorkspacePaths.from_env(tmp_path_factory.mktemp("thin")).ensure()
    engine = LocalEngine(paths)
    yield paths, engine.session()
    engine.close()


def _pyspark(spark, statement: str, limit: int) -> tuple[list[str], list[tuple]]:
    frame = spark.sql(statement)
    rows = frame.limit(limit + 1).collect() if frame.columns else []
    return frame.columns, [tuple(r.asDict(recursive=True).values()) for r in rows]  # what the command printed


@pytest.mark.parametrize("statement", [EVERY_TYPE, "SELECT id FROM range(7)", "SELECT * FROM range(0)",
                                       "SHOW SCHEMAS"])
def test_rows_are_what_pyspark_collects(engine, statement):
    paths, spark = engine
    assert run(paths, statement, 5) == _pyspark(spark, statement, 5)


def test_commands_run_once_and_answer_as_with_pyspark(engine):
    paths, spark = engine
    assert run(paths, "CREATE TABLE default.thin_t AS SELECT 1 AS a", 5) == (["count"], [(1,)])
    assert run(paths, "INSERT INTO default.thin_t VALUES (2)", 5) == (["num_affected_rows", "num_inserted_rows"],
                                                                      [(1, 1)])
    assert sorted(r[0] for r in spark.table("default.thin_t").collect()) == [1, 2]


@pytest.mark.parametrize(("statement", "condition"), [("SELECT * FROM default.nope", "TABLE_OR_VIEW_NOT_FOUND"),
                                                      ("SELEC 1", "PARSE_SYNTAX_ERROR"),
                                                      ("", "PARSE_EMPTY_STATEMENT")])
def test_errors_carry_the_engines_message(engine, statement, condition):
    paths, spark = engine
    with pytest.raises(EngineRefused) as refused:
        run(paths, statement, 5)
    with pytest.raises(Exception) as pyspark_error:
        _pyspark(spark, statement, 5)
    assert str(refused.value).startswith(f"[{condition}]")
    assert str(refused.value) == str(pyspark_error.value).split("\n")[0]


def test_the_command_does_not_import_pyspark(engine):
    paths, _ = engine
    probe = ("import sys, runpy; sys.argv = ['odoolake', 'lake', 'sql', 'SELECT 41 + 1 AS answer', '--output', 'json',"
             f" '--home', {str(paths.home)!r}]\ntry:\n    runpy.run_module('odoolake.cli.entry', run_name='__main__')\n"
             "finally:\n    print('PYSPARK' if 'pyspark.sql.connect.session' in sys.modules else 'THIN', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert json.loads(proc.stdout)["rows"] == [{"answer": 42}], proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "THIN"


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_host_lingers_for_the_next_command_then_exits_on_its_own(tmp_path):
    """After `lake sql` the host stays for host.IDLE_EXIT_SECONDS: the next command uses it; then it exits by itself."""
    paths = WorkspacePaths.from_env(tmp_path / "linger").ensure()
    assert run(paths, "SELECT 1 AS one", 5) == (["one"], [(1,)])
    first = engine_status(paths.home)
    assert first is not None, "the host is still there after the command"
    assert run(paths, "SELECT 2 AS two", 5) == (["two"], [(2,)])
    assert engine_status(paths.home)["pid"] == first["pid"]  # the same host answered
    # gone, not merely slow to answer: its socket withdrawn and its process no longer a host of this root
    _wait_for(lambda: not host.engine_socket(paths.home).exists() and no_host(paths.home),
              timeout=host.IDLE_EXIT_SECONDS + 60)
    assert run(paths, "SELECT 3 AS three", 5) == (["three"], [(3,)])  # a new host starts for the next command


def test_a_failed_command_stops_the_host_at_once(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "failed").ensure()
    with pytest.raises(EngineRefused):
        run(paths, "SELEC 1", 5)
    assert engine_status(paths.home) is None  # no lingering: the command ended in an error


def test_a_client_arriving_while_the_host_exits_waits_and_starts_a_new_one(tmp_path):
    """The host decides to exit holding the lease file exclusively until it has withdrawn; a client that comes then
    waits for the lock instead of reaching a host that is going away."""
    paths = WorkspacePaths.from_env(tmp_path / "race").ensure()
    (paths.home / "run").mkdir(parents=True, exist_ok=True)
    claim = host._claim_idle(paths.home)
    assert claim is not None
    got: list[EngineLease] = []
    waiting = threading.Thread(target=lambda: got.append(EngineLease(paths, "owner@localhost")), daemon=True)
    waiting.start()
    waiting.join(0.5)
    assert not got, "the client must wait while the exiting host holds the lease file"
    claim.close()
    waiting.join(120)
    assert got and engine_status(paths.home) is not None
    got[0].close()
    assert host._claim_idle(tmp_path / "removed") is not None  # a home removed under the host counts as idle


def test_the_host_started_with_the_process_is_the_one_the_command_uses(tmp_path):
    """odoolake.cli.entry starts the host from the arguments, before the CLI's imports; the command takes it over."""
    paths = WorkspacePaths.from_env(tmp_path / "early").ensure()
    entry.start(["lake", "sql", "SELECT 1", "--home", str(paths.home)])
    early = entry._early.get("lease")
    assert early is not None and early.started_here and early._proc is not None
    assert run(paths, "SELECT 5 AS five", 5) == (["five"], [(5,)])
    assert "lease" not in entry._early  # taken over, not left for exit to let go
    assert engine_status(paths.home)["pid"] == early._proc.pid  # no second host was started


def test_an_early_host_for_another_root_is_let_go(tmp_path):
    """A command that ends up on another root stops the host started for the first (it held that root's start lock
    until its host answered), and runs on its own."""
    named, used = (WorkspacePaths.from_env(tmp_path / name).ensure() for name in ("named", "used"))
    entry.start(["lake", "sql", "SELECT 1", "--home", str(named.home)])
    assert "lease" in entry._early
    assert run(used, "SELECT 6 AS six", 5) == (["six"], [(6,)])
    assert "lease" not in entry._early
    assert engine_status(used.home) is not None  # it ran on its own root's host, which lingers after it
    _wait_for(lambda: no_host(named.home))  # the host started for the other root stops


def _refused_command(home) -> subprocess.CompletedProcess:
    """`lake sql` with an --output value the CLI refuses, after the host was started from the arguments."""
    return subprocess.run([sys.executable, "-m", "odoolake.cli.entry", "lake", "sql", "SELECT 1", "--output", "yaml",
                           "--home", str(home)], capture_output=True, text=True, timeout=300)


def test_a_command_that_never_runs_stops_the_host_started_for_it(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "refused").ensure()
    proc = _refused_command(paths.home)
    assert proc.returncode == 2 and "--output" in proc.stderr
    assert host.log_file(paths.home).exists()  # the host was started, before the options were checked
    # and stopped as the command exited, not left to linger (alone, it would answer, idle for host.IDLE_EXIT_SECONDS
    # and only then exit)
    answered = []

    def host_ended() -> bool:
        answered.append(host.status_file(paths.home).exists())
        return not engine_hosts(paths.home)

    _wait_for(host_ended)
    assert not any(answered)


def test_a_command_that_never_runs_leaves_a_running_host_running(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "warm").ensure()
    assert run(paths, "SELECT 1 AS one", 5) == (["one"], [(1,)])  # the host lingers after it
    before = engine_status(paths.home)
    assert before is not None
    assert _refused_command(paths.home).returncode == 2
    assert engine_status(paths.home)["pid"] == before["pid"]  # still there for the next command


def test_a_root_that_does_not_exist_is_not_made_by_the_early_start(tmp_path):
    missing = tmp_path / "typo"
    entry.start(["lake", "sql", "SELECT 1", "--home", str(missing)])
    assert "lease" not in entry._early and not missing.exists()


def test_abandoning_a_host_still_starting_kills_it_unless_another_client_waits(tmp_path):
    """EngineLease.abandon: a host nobody else waits for is killed before it answers; one a second client is waiting
    for (blocked on the start lock, holding its own lease) is left to start and serve that client."""
    alone = WorkspacePaths.from_env(tmp_path / "alone").ensure()
    lease = EngineLease(alone, "owner@localhost", wait=False)
    lease.abandon()
    assert lease._proc is not None and lease._proc.poll() is not None  # ended, not merely asked to
    assert no_host(alone.home)

    shared = WorkspacePaths.from_env(tmp_path / "shared").ensure()
    first = EngineLease(shared, "owner@localhost", wait=False)
    got: list[EngineLease] = []
    waiting = threading.Thread(target=lambda: got.append(EngineLease(shared, "owner@localhost")), daemon=True)
    waiting.start()
    lease_inode = host.lease_file(shared.home).stat().st_ino
    locks = Path("/proc/locks")
    _wait_for(lambda: locks.read_text().count(f":{lease_inode} ") >= 2)  # it holds its lease too
    first.abandon()
    waiting.join(120)
    assert got and engine_status(shared.home) is not None  # the host it waited for answers it
    assert engine_status(shared.home)["pid"] == first._proc.pid
    got[0].close()


def test_an_interrupt_before_the_cli_runs_stops_the_early_host(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the CLI is still being imported: the command says so in one line, exits 130 (as every command
    does when interrupted) and stops the host it started, without waiting for it."""
    paths = WorkspacePaths.from_env(tmp_path / "interrupted").ensure()

    class Interrupted(types.ModuleType):
        def __getattr__(self, name: str):
            if name == "app":  # the import the entry point makes
                raise KeyboardInterrupt
            raise AttributeError(name)

    monkeypatch.setitem(sys.modules, "odoolake.cli.main", Interrupted("odoolake.cli.main"))
    monkeypatch.setattr(sys, "argv", ["odoolake", "lake", "sql", "SELECT 1", "--home", str(paths.home)])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == entry.INTERRUPTED_EXIT
    assert capsys.readouterr().err.strip() == f"error: {entry.INTERRUPTED}"
    assert "lease" not in entry._early and not engine_hosts(paths.home)
