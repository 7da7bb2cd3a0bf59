"""Task process trees and task cgroups (jobs/processes.py). The cgroup checks run on a directory laid out as the
kernel's cgroup v2 files are (cgroup.subtree_control, memory.max, memory.current, memory.events, cgroup.kill)."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from odoolake.testing.waiting import wait_until
from odoolake.workspace.jobs import processes
from odoolake.workspace.jobs.processes import (
    CGROUP_ENV,
    RECOUNT_GROWTH,
    RECOUNT_SECONDS,
    TreeMemory,
    delegated_cgroup,
    kill_tree,
    new_cgroup,
    tree,
)

SPAWNER = ("import subprocess, sys, time\n"
           "kids = [subprocess.Popen(['sleep', '300']), subprocess.Popen(['sleep', '300'], start_new_session=True)]\n"
           "print(' '.join(str(k.pid) for k in kids), flush=True)\n"
           "time.sleep(300)\n")


def _dead(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_kill_tree_reaches_children_in_and_out_of_the_process_group():
    proc = subprocess.Popen([sys.executable, "-c", SPAWNER], stdout=subprocess.PIPE, text=True, start_new_session=True)
    kids = [int(p) for p in proc.stdout.readline().split()]
    assert {p.pid for p in tree(proc.pid)} >= {proc.pid, *kids}
    assert TreeMemory(proc.pid).measure() > psutil.Process(proc.pid).memory_info().rss  # children count too
    kill_tree(proc.pid)
    proc.wait()
    assert all(wait_until(lambda pid=pid: _dead(pid), what=f"process {pid} to die") for pid in kids)
    assert tree(proc.pid) == [] and TreeMemory(proc.pid).measure() == 0


MIB = 2**20
# A parent that fills 200 MiB, then forks a child that does not exec: the child maps all of the parent's pages.
# With "copy" the child writes its own 200 MiB as well, which is memory of its own.
FORKER = ("import os, sys, time\n"
          "block = bytearray(200 * 2**20)\n"
          "for i in range(0, len(block), 4096): block[i] = 1\n"
          "if os.fork() == 0:\n"
          "    if sys.argv[1] == 'copy':\n"
          "        own = bytearray(200 * 2**20)\n"
          "        for i in range(0, len(own), 4096): own[i] = 1\n"
          "    print('ready', flush=True)\n"
          "    time.sleep(300)\n"
          "time.sleep(300)\n")


@pytest.mark.parametrize("child", ["shares", "copy"])
def test_a_forked_child_counts_only_the_memory_it_does_not_share(child):
    proc = subprocess.Popen([sys.executable, "-c", FORKER, child], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        family = wait_until(lambda: tree(proc.pid) if len(tree(proc.pid)) == 2 else None, what="the forked child")
        resident = sum(p.memory_info().rss for p in family)
        limit = 300 * MIB
        assert resident > limit  # RSS counts the shared 200 MiB twice in both cases
        used = TreeMemory(proc.pid).measure(limit)
        if child == "shares":
            assert 200 * MIB < used < limit, used / MIB
        else:
            assert used > 380 * MIB, used / MIB  # 200 MiB of its own beside the 200 both hold
        assert TreeMemory(proc.pid).measure() == pytest.approx(resident, rel=0.05)  # no limit: the cheap sum
    finally:
        kill_tree(proc.pid)
        proc.wait()


def test_a_pss_recount_stands_for_a_while_unless_the_resident_sum_grows(monkeypatch):
    """A task that stays over the limit in RSS (forked workers sharing pages) is not walked page by page at every
    sample: the recount's PSS/RSS ratio scales the resident sum until RECOUNT_SECONDS pass or it grows."""
    resident = {"task": 300 * MIB, "worker": 300 * MIB}  # 600 MiB in RSS, half of it shared: 450 MiB in PSS
    recounts = []

    def proportional(proc: str) -> int:
        recounts.append(proc)
        return {"task": 150 * MIB, "worker": 300 * MIB}[proc]

    monkeypatch.setattr(processes, "tree", lambda pid: ["task", "worker"])
    monkeypatch.setattr(processes, "_resident", lambda proc: resident[proc])
    monkeypatch.setattr(processes, "_proportional", proportional)
    now = [100.0]
    watch = TreeMemory(1, clock=lambda: now[0])
    limit = 500 * MIB
    assert watch.measure(limit) == 450 * MIB and len(recounts) == 2
    now[0] += RECOUNT_SECONDS / 2
    assert watch.measure(limit) == 450 * MIB and len(recounts) == 2  # the recount stands
    resident["worker"] = int(300 * MIB * RECOUNT_GROWTH) + 200 * MIB  # grew by more than RECOUNT_GROWTH
    watch.measure(limit)
    assert len(recounts) == 4
    now[0] += RECOUNT_SECONDS
    watch.measure(limit)
    assert len(recounts) == 6  # stale: counted again
    resident["worker"] = 100 * MIB  # under the limit in RSS: RSS stands, no recount
    assert watch.measure(limit) == 400 * MIB and len(recounts) == 6


def test_cgroups_are_used_only_when_delegated_with_the_memory_controller(tmp_path, monkeypatch):
    monkeypatch.delenv(CGROUP_ENV, raising=False)
    assert delegated_cgroup() is None
    monkeypatch.setenv(CGROUP_ENV, str(tmp_path / "missing"))
    assert delegated_cgroup() is None
    (tmp_path / "cgroup.subtree_control").write_text("cpu pids\n")
    monkeypatch.setenv(CGROUP_ENV, str(tmp_path))
    assert delegated_cgroup() is None
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert delegated_cgroup() == tmp_path
    assert new_cgroup(None, "t1", 2**20) is None


def test_a_task_cgroup_sets_its_limit_reads_its_memory_and_kills_as_a_whole(tmp_path):
    cgroup = new_cgroup(tmp_path, "odoolake-task-1", 300 * 2**20)
    assert cgroup is not None and (tmp_path / "odoolake-task-1" / "memory.max").read_text() == str(300 * 2**20)
    (cgroup.path / "memory.current").write_text("123456\n")
    (cgroup.path / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n")
    assert cgroup.memory() == 123456 and not cgroup.oom_killed()
    (cgroup.path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    assert cgroup.oom_killed()
    (cgroup.path / "cgroup.kill").write_text("")
    cgroup.kill()
    assert (cgroup.path / "cgroup.kill").read_text() == "1"
    cgroup.add(4242)
    assert (cgroup.path / "cgroup.procs").read_text() == "4242"
    for name in ("memory.max", "memory.current", "memory.events", "cgroup.kill", "cgroup.procs"):
        (cgroup.path / name).unlink()  # the kernel's files vanish with the directory
    cgroup.remove()
    assert not cgroup.path.exists()


@pytest.mark.parametrize("events", ["", "garbage\n"])
def test_unreadable_cgroup_files_read_as_nothing(tmp_path, events):
    cgroup = new_cgroup(tmp_path, "t", 2**20)
    (cgroup.path / "memory.events").write_text(events)
    assert cgroup.memory() == 0 and not cgroup.oom_killed()
