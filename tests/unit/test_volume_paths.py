"""One folder for a volume, whoever names it: the Files API, Spark (``/Volumes/…`` and ``dbfs:/Volumes/…``) and
``dbutils.fs``; and files kept where earlier versions put them are moved there, nothing lost."""

from __future__ import annotations

import logging

import pytest

from odoolake.config import VOLUMES_LAYOUT_MARK, WorkspacePaths
from odoolake.workspace.files.dbfs import Volumes
from odoolake.workspace.notebooks.dbutils import Fs


def test_every_reader_names_a_volume_file_by_the_same_local_path(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "home").ensure()
    expected = paths.volumes / "main" / "default" / "raw" / "a.csv"
    assert Volumes(paths.volumes).path("/Volumes/main/default/raw/a.csv")[1] == expected
    assert paths.volume_to_local("/Volumes/main/default/raw/a.csv") == expected
    assert paths.dbfs_to_local("dbfs:/Volumes/main/default/raw/a.csv") == expected
    assert paths.dbfs_to_local("dbfs:/Volumesx/a.csv") == paths.dbfs_root / "Volumesx" / "a.csv"  # no volume
    fs = Fs(paths)
    fs.put("/Volumes/main/default/raw/a.csv", "x,y\n1,2\n")
    assert expected.read_text() == "x,y\n1,2\n"
    assert [f.name for f in fs.ls("/Volumes/main/default/raw")] == ["a.csv"]
    assert fs.head("dbfs:/Volumes/main/default/raw/a.csv") == "x,y\n1,2\n"  # the path ls names it by
    assert [e["name"] for e in Volumes(paths.volumes).list_directory("/Volumes/main/default")] == ["raw"]
    assert [e["name"] for e in Volumes(paths.volumes).list_directory("/Volumes")] == ["main"]  # the mark unlisted
    assert [f.name for f in fs.ls("/Volumes")] == ["main/"]
    for escaping in ("/Volumes/../dbfs/x", "/Volumes/main/../../x"):
        with pytest.raises(ValueError, match="escapes the Volumes root"):
            paths.volume_to_local(escaping)


def test_files_of_the_old_layouts_move_once_and_a_taken_place_keeps_both(tmp_path, caplog):
    home = tmp_path / "home"
    old_files_api = home / "volumes" / "Volumes" / "main" / "default" / "raw"
    old_dbfs = home / "dbfs" / "Volumes" / "main" / "default" / "landing"
    for folder, name, text in ((old_files_api, "a.csv", "uploaded"), (old_dbfs, "b.csv", "written"),
                               (old_files_api, "taken.csv", "old upload")):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    taken = home / "volumes" / "main" / "default" / "raw" / "taken.csv"
    taken.parent.mkdir(parents=True)
    taken.write_text("spark's file")
    with caplog.at_level(logging.WARNING):
        paths = WorkspacePaths.from_env(home).ensure()
    assert paths.volume_to_local("/Volumes/main/default/raw/a.csv").read_text() == "uploaded"
    assert paths.volume_to_local("/Volumes/main/default/landing/b.csv").read_text() == "written"
    assert taken.read_text() == "spark's file" and (old_files_api / "taken.csv").read_text() == "old upload"
    assert "1 file(s)" in caplog.text and "taken.csv" in caplog.text
    assert not (home / "dbfs" / "Volumes").exists()  # emptied folders are removed
    assert (paths.volumes / VOLUMES_LAYOUT_MARK).exists()
    # once: a folder named Volumes made afterwards (a catalog of that name) is left alone
    later = home / "volumes" / "Volumes" / "x"
    later.mkdir(parents=True)
    (later / "c.csv").write_text("new")
    WorkspacePaths.from_env(home).ensure()
    assert (later / "c.csv").read_text() == "new"
