"""Files the workspace keeps beside users' files — a table's write lock, an upload in progress — are never listed:
not by DBFS, the Files API on Volumes, nor a notebook's ``dbutils.fs.ls``."""

from __future__ import annotations

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine.locks import table_lock
from odoolake.workspace.files.dbfs import Dbfs, Volumes
from odoolake.workspace.notebooks.dbutils import Fs


def _folder_with_a_locked_table(folder) -> None:
    (folder / "payees" / "_delta_log").mkdir(parents=True)
    with table_lock(folder / "payees"):  # leaves its hidden lock file beside the table, as every write does
        pass
    (folder / "notes.csv.1a2b3c4d.odoolake-upload").write_text("half written")
    (folder / "notes.csv").write_text("a,b\n")
    (folder / ".hidden").write_text("a user's own dot file")


def test_lock_and_upload_files_are_not_listed_anywhere(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "home").ensure()
    _folder_with_a_locked_table(paths.dbfs_to_local("dbfs:/tmp/lake"))
    assert any(p.name.endswith(".odoolake-lock") for p in paths.dbfs_to_local("dbfs:/tmp/lake").iterdir())
    wanted = [".hidden", "notes.csv", "payees"]
    assert sorted(i["path"].rsplit("/", 1)[1] for i in Dbfs(paths.dbfs_root).list("/tmp/lake")) == wanted
    assert sorted(f.name.rstrip("/") for f in Fs(paths).ls("dbfs:/tmp/lake")) == wanted

    volumes = Volumes(tmp_path / "volumes")
    _folder_with_a_locked_table(volumes.path("/Volumes/main/default/raw/x")[1].parent)
    listed = volumes.list_directory("/Volumes/main/default/raw")
    assert sorted(entry["name"] for entry in listed) == wanted
