"""A workspace root moved, copied or restored elsewhere keeps its tables: the catalog keeps locations inside the
root relative to it, and a managed table's location is always its managed location. Before, ``catalog.db`` held
absolute paths, so a copy of a root read and wrote the original's files."""

from __future__ import annotations

import shutil
import sqlite3

import pyarrow as pa
from deltalake import write_deltalake

from odoolake.config import WorkspacePaths
from odoolake.workspace.catalog.store import CatalogStore, FullName

OWNER = "owner@localhost"
MANAGED = FullName("main", "gold", "ewt")
IN_DBFS = FullName("main", "gold", "landing")
OUTSIDE = FullName("main", "gold", "shared")


def _delta(location) -> None:
    write_deltalake(str(location), pa.table({"amount": pa.array([1.5], pa.float64())}))


def _store(home) -> CatalogStore:
    return CatalogStore(WorkspacePaths.from_env(str(home)).ensure(), OWNER)


def _kept(home) -> dict[str, str]:
    with sqlite3.connect(home / "catalog.db") as conn:
        return dict(conn.execute("SELECT name, storage_location FROM tables").fetchall())


def _three_tables(home, outside) -> None:
    store = _store(home)
    store.create_schema("main", "gold")
    _delta(store.managed_location("gold", "ewt"))
    store.create_table(MANAGED, None)
    _delta(store.paths.dbfs_to_local("dbfs:/landing/t"))
    store.create_table(IN_DBFS, "dbfs:/landing/t")
    _delta(outside)
    store.create_table(OUTSIDE, str(outside))


def test_locations_inside_the_root_are_kept_relative(tmp_path):
    home, outside = tmp_path / "a", tmp_path / "elsewhere" / "shared"
    _three_tables(home, outside)
    assert _kept(home) == {"ewt": "warehouse/gold/ewt", "landing": "dbfs/landing/t", "shared": str(outside)}


def test_a_copied_root_uses_its_own_files_and_not_the_originals(tmp_path):
    home, copy, outside = tmp_path / "a", tmp_path / "b", tmp_path / "elsewhere" / "shared"
    _three_tables(home, outside)
    shutil.copytree(home, copy)
    store = _store(copy)
    assert store.table(MANAGED).storage_location == str(copy / "warehouse" / "gold" / "ewt")
    assert store.location(MANAGED) == str(copy / "warehouse" / "gold" / "ewt")
    assert store.table(IN_DBFS).storage_location == str(copy / "dbfs" / "landing" / "t")
    assert store.location(IN_DBFS) == str(copy / "dbfs" / "landing" / "t")
    assert store.table(OUTSIDE).storage_location == str(outside)  # outside the root: the same files for both
    assert store.table(MANAGED).as_api()["storage_location"] == (copy / "warehouse" / "gold" / "ewt").as_uri()


def test_renaming_a_managed_table_keeps_its_new_location_relative(tmp_path):
    home = tmp_path / "a"
    _three_tables(home, tmp_path / "elsewhere" / "shared")
    _store(home).rename_table(MANAGED, FullName("main", "gold", "ewt_old"))
    assert _kept(home)["ewt_old"] == "warehouse/gold/ewt_old"


def test_a_catalog_written_with_absolute_paths_is_read_where_the_root_is_now(tmp_path):
    """A root copied before this change: its rows name the old root. Managed tables resolve to the new root's
    managed location; absolute paths inside the current root are made relative when the catalog opens."""
    home, old = tmp_path / "now", tmp_path / "then"
    _three_tables(home, tmp_path / "elsewhere" / "shared")
    with sqlite3.connect(home / "catalog.db") as conn:
        conn.execute("UPDATE tables SET storage_location = ? WHERE name = 'ewt'", (f"{old}/warehouse/gold/ewt",))
        conn.execute("UPDATE tables SET storage_location = ? WHERE name = 'landing'", (f"{old}/dbfs/landing/t",))
    store = _store(home)
    assert store.table(MANAGED).storage_location == str(home / "warehouse" / "gold" / "ewt")
    assert store.location(MANAGED) == str(home / "warehouse" / "gold" / "ewt")
    assert _kept(home)["landing"] == "dbfs/landing/t"  # inside the root it was copied from: rebased
    assert store.location(IN_DBFS) == str(home / "dbfs" / "landing" / "t")
    assert store.table(IN_DBFS).delta_version == 0
    assert _kept(home)["shared"] == str(tmp_path / "elsewhere" / "shared")  # outside both roots: unchanged


def test_a_path_into_the_root_through_a_symlink_is_kept_relative(tmp_path):
    home = tmp_path / "a"
    _three_tables(home, tmp_path / "elsewhere" / "shared")
    (tmp_path / "alias").symlink_to(home)
    store = _store(home)
    _delta(store.paths.dbfs_to_local("dbfs:/aliased/t"))
    store.create_table(FullName("main", "gold", "aliased"), str(tmp_path / "alias" / "dbfs" / "aliased" / "t"))
    _delta(store.managed_location("gold", "direct"))
    made = store.create_table(FullName("main", "gold", "direct"), str(tmp_path / "alias" / "warehouse" / "gold" / "direct"))
    assert _kept(home)["aliased"] == "dbfs/aliased/t" and made.table_type == "MANAGED"
