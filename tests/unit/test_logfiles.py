"""A log past its size limit is moved aside at the next start, keeping KEEP_OLD older logs and no more."""

from __future__ import annotations

import os

from odoolake.logfiles import KEEP_OLD, rotated


def test_a_log_past_the_limit_is_moved_aside_and_the_oldest_beyond_the_kept_ones_deleted(tmp_path):
    log = tmp_path / "server.log"
    assert rotated(log, max_bytes=10) == log and not log.exists()  # nothing yet: nothing to move
    log.write_text("start 1\n")  # 8 bytes: under the limit, kept as it is
    assert rotated(log, max_bytes=10) == log and log.read_text() == "start 1\n"
    for start in range(2, 2 + KEEP_OLD + 2):
        with rotated(log, max_bytes=10).open("a") as fh:
            fh.write(f"start {start}: more than ten bytes\n")
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))  # not the lock
    assert names == ["server.log", *(f"server.log.{n}" for n in range(1, KEEP_OLD + 1))]
    assert log.read_text() == f"start {KEEP_OLD + 3}: more than ten bytes\n"
    assert (tmp_path / "server.log.1").read_text() == f"start {KEEP_OLD + 2}: more than ten bytes\n"
    assert (tmp_path / f"server.log.{KEEP_OLD}").read_text() == f"start {KEEP_OLD + 1}: more than ten bytes\n"


WRITER = """
import os, sys, threading, time
from pathlib import Path
from odoolake.logfiles import keep_rotating

log, stop, limit = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
assert keep_rotating(log, every=0.01, max_bytes=limit) is not None
n = 0
while not stop.exists():
    print(f"stdout {n:06d}")  # no flush: keep_rotating made stdout line-buffered
    sys.stderr.write(f"stderr {n:06d}\\n")
    sys.stderr.flush()
    n += 1
    time.sleep(0.001)
print(f"last {n}", flush=True)
sys.stderr.write(f"end {n}\\n")
"""


def test_a_running_process_moves_its_own_log_aside_without_losing_or_splitting_a_line(tmp_path):
    """The workspace server and the engine host run for months: their log (their stdout and stderr, opened by
    whoever started them) is moved aside while they run, every line whole in one file or the other."""
    import subprocess
    import sys

    from odoolake.testing.waiting import wait_until

    log, stop, limit = tmp_path / "engine.log", tmp_path / "stop", 20_000  # past stdout's 8 KiB file buffer
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout block-buffered, as installed
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(log), str(stop), str(limit)], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: (tmp_path / f"engine.log.{KEEP_OLD}").exists() or proc.poll() is not None,
                   what="the log to be moved aside twice")
    finally:
        stop.touch()
        assert proc.wait(30) == 0
    files = [log, *(tmp_path / f"engine.log.{n}" for n in range(1, KEEP_OLD + 1))]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("engine.log")) == [p.name for p in files]
    lines = [line for p in reversed(files) for line in p.read_text().splitlines()]
    newest = log.read_text().splitlines()
    last = int(newest[-2].split()[1])
    assert newest[-2:] == [f"last {last}", f"end {last}"]  # stdout and stderr both moved to the new file
    for stream in ("stdout", "stderr"):
        numbers = [int(line.split()[1]) for line in lines if line.startswith(stream)]
        assert all(len(line) == 13 for line in lines if line.startswith(stream))  # no line split or merged
        # the oldest logs beyond KEEP_OLD were deleted: what is kept is every line from some point on, in order
        assert numbers == list(range(numbers[0], last)), stream
    assert all(p.stat().st_size > limit for p in files[1:])  # moved aside only once past the limit


def test_a_process_whose_output_is_not_the_log_leaves_it_alone(tmp_path):
    from odoolake.logfiles import keep_rotating

    log = tmp_path / "server.log"
    log.write_text("x" * 100)
    assert keep_rotating(log, every=0.01, max_bytes=10) is None  # pytest's stdout is not that file
    assert log.read_text() == "x" * 100


def test_a_log_deleted_while_the_process_runs_is_started_afresh_with_the_same_mode(tmp_path):
    """Someone frees disk space with ``rm server.log``: the process would write to the deleted file, unseen and
    never moved aside again. It starts a new one at the next check, with the mode the old one had."""
    import subprocess
    import sys

    from odoolake.testing.waiting import wait_until

    log, stop = tmp_path / "engine.log", tmp_path / "stop"
    log.touch(mode=0o640)
    log.chmod(0o640)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(log), str(stop), "1000000"], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: log.stat().st_size > 0, what="the first lines")
        log.unlink()
        wait_until(lambda: log.exists() and "stdout" in log.read_text(), what="a new log")
    finally:
        stop.touch()
        assert proc.wait(30) == 0
    assert log.stat().st_mode & 0o777 == 0o640
    assert log.read_text().splitlines()[-2:][1].startswith("end ")


def test_two_processes_never_move_the_same_log_aside_at_once(tmp_path):
    """An engine host winding down and the next one starting may both find the log past its limit: one moves it
    while the other waits, then finds the new, small log and leaves it."""
    import fcntl
    import threading

    log = tmp_path / "engine.log"
    log.write_text("x" * 100)
    with (tmp_path / ".engine.log.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is moving it
        mover = threading.Thread(target=rotated, args=(log,), kwargs={"max_bytes": 10})
        mover.start()
        mover.join(0.5)
        assert mover.is_alive() and log.read_text() == "x" * 100  # waits for the lock
        log.rename(tmp_path / "engine.log.1")  # what the other process did
        log.write_text("new")
    mover.join(30)
    assert not mover.is_alive() and log.read_text() == "new" and (tmp_path / "engine.log.1").read_text() == "x" * 100
