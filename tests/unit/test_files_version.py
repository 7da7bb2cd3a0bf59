"""What the result cache keys a table of plain files on: its files, or past FILES_VERSION_LIMIT its folders."""

from __future__ import annotations

import os

from odoolake.workspace.sql.statements import FILES_VERSION_LIMIT, files_version


def test_a_file_added_or_rewritten_changes_it_and_nothing_else_does(tmp_path):
    (tmp_path / "day1.csv").write_text("x\n1\n")
    first = files_version(tmp_path)
    assert files_version(tmp_path) == first
    (tmp_path / "day1.csv").write_text("x\n12\n")  # rewritten in place: the folder's own time does not change
    rewritten = files_version(tmp_path)
    assert rewritten != first
    (tmp_path / "part=2").mkdir()
    (tmp_path / "part=2" / "day2.csv").write_text("x\n3\n")
    assert files_version(tmp_path) != rewritten
    os.symlink(tmp_path / "gone", tmp_path / "dangling")  # no error: a table's folder may hold anything
    assert files_version(tmp_path) == files_version(tmp_path)


def test_a_large_table_is_judged_by_its_folders_and_stays_stable(tmp_path):
    for i in range(FILES_VERSION_LIMIT + 5):
        (tmp_path / f"f{i}.csv").write_text("x")
    many = files_version(tmp_path)
    assert files_version(tmp_path) == many  # not a new value each call: other statements stay cacheable
    (tmp_path / "landed.csv").write_text("y")
    assert files_version(tmp_path) != many
