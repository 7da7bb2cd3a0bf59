"""Ending a process found by a recorded pid: it is asked to stop, killed if it does not, and a pid that now belongs
to another user's process is left alone and said to be so."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from odoolake.pids import end_process

POLITE = """
import pathlib, signal, sys, time
def stop(*_):
    pathlib.Path(sys.argv[1]).write_text("asked to stop")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_running_process_is_asked_to_stop_and_one_ignoring_it_killed(tmp_path):
    said = tmp_path / "said"
    polite = subprocess.Popen([sys.executable, "-c", POLITE, str(said)], stdout=subprocess.PIPE, text=True)
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    try:
        for proc in (polite, stubborn):
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        assert end_process(polite.pid, 30, terminate=True)
        assert said.read_text() == "asked to stop" and not psutil.pid_exists(polite.pid)
        assert end_process(stubborn.pid, 0.5, terminate=True)
        assert stubborn.wait(30) == -9  # SIGKILL, after the timeout
    finally:
        polite.kill()
        stubborn.kill()


def test_a_process_that_is_gone_is_ended_already():
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(30)
    assert end_process(done.pid, 1, terminate=True) and end_process(done.pid, 1, terminate=False)


def test_another_users_process_is_left_alone_and_reported(monkeypatch):
    """A recorded pid reused by another user's process: the system refuses the signal (EPERM), and the process is
    neither waited for nor killed."""
    sent: list[int] = []

    def kill(pid: int, sig: int) -> None:
        sent.append(sig)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", kill)
    assert end_process(os.getpid(), 30, terminate=True) is False
    assert end_process(os.getpid(), 30, terminate=False) is False
    assert sent == [15, 0]  # one refused signal each: no wait, no SIGKILL


def test_a_pid_reused_by_another_process_of_the_same_user_is_left_alone(monkeypatch):
    """``odoolake down`` records when the server started: a later process given the same pid is not signalled."""
    from odoolake.pids import started_at

    sent: list[int] = []
    real_kill = os.kill
    monkeypatch.setattr(os, "kill", lambda pid, sig: (sent.append(sig), real_kill(pid, sig))[1])
    other = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == "ready\n"
        recorded = started_at(other.pid) - 60  # the server that had this pid started a minute earlier
        assert end_process(other.pid, 0.5, terminate=True, started=recorded) is False
        assert sent == [] and other.poll() is None
        assert end_process(other.pid, 0.5, terminate=True, started=started_at(other.pid))
        assert other.wait(30) == -9
    finally:
        other.kill()


def test_the_recorded_start_does_not_move_when_the_wall_clock_is_set(monkeypatch):
    """psutil's create_time is the boot time as the wall clock puts it now plus the ticks to the start: a clock set
    27 s ahead under a running server made ``odoolake down`` take the server for another process and forget it."""
    import psutil
    import psutil._pslinux as linux

    from odoolake.pids import started_at

    other = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == "ready\n"
        recorded, epoch_recorded = started_at(other.pid), psutil.Process(other.pid).create_time()
        real = linux.boot_time
        monkeypatch.setattr(linux, "boot_time", lambda: real() + 27)  # the clock, set 27 s ahead
        assert psutil.Process(other.pid).create_time() != epoch_recorded  # what moved
        assert started_at(other.pid) == recorded
        # a record from an earlier version (seconds since the epoch) is compared within minutes, not exactly
        assert end_process(other.pid, 0.5, terminate=True, started=epoch_recorded - 600) is False
        assert end_process(other.pid, 0.5, terminate=True, started=epoch_recorded)
        assert other.wait(30) == -9
    finally:
        other.kill()
