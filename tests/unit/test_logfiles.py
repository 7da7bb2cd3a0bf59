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
