"""A log past its size limit is moved aside at the next start, keeping KEEP_OLD older logs and no more."""

from __future__ import annotations

from odoolake.logfiles import KEEP_OLD, rotated


def test_a_log_past_the_limit_is_moved_aside_and_the_oldest_beyond_the_kept_ones_deleted(tmp_path):
    log = tmp_path / "server.log"
    assert rotated(log, max_bytes=10) == log and not log.exists()  # nothing yet: nothing to move
    log.write_text("start 1\n")  # 8 bytes: under the limit, kept as it is
    assert rotated(log, max_bytes=10) == log and log.read_text() == "start 1\n"
    for start in range(2, 2 + KEEP_OLD + 2):
        with rotated(log, max_bytes=10).open("a") as fh:
            fh.write(f"start {start}: more than ten bytes\n")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["server.log", *(f"server.log.{n}" for n in range(1, KEEP_OLD + 1))]
    assert log.read_text() == f"start {KEEP_OLD + 3}: more than ten bytes\n"
    assert (tmp_path / "server.log.1").read_text() == f"start {KEEP_OLD + 2}: more than ten bytes\n"
    assert (tmp_path / f"server.log.{KEEP_OLD}").read_text() == f"start {KEEP_OLD + 1}: more than ten bytes\n"


WRITER = """
import os, sys, threading, time
from pathlib import Path
from odoolake.logfiles import keep_rotating

log = Path(sys.argv[1])
stop = Path(sys.argv[2])
assert keep_rotating(log, every=0.01, max_bytes=2000) is not None
n = 0
while not stop.exists():
    print(f"stdout {n:06d}", flush=True)
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

    log, stop = tmp_path / "engine.log", tmp_path / "stop"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(log), str(stop)], stdout=out,
                                stderr=subprocess.STDOUT)
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
    assert all(p.stat().st_size > 2000 for p in files[1:])  # moved aside only once past the limit


def test_a_process_whose_output_is_not_the_log_leaves_it_alone(tmp_path):
    from odoolake.logfiles import keep_rotating

    log = tmp_path / "server.log"
    log.write_text("x" * 100)
    assert keep_rotating(log, every=0.01, max_bytes=10) is None  # pytest's stdout is not that file
    assert log.read_text() == "x" * 100
