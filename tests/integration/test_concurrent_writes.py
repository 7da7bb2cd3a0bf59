"""Two processes writing the same Delta table at once (as two job runs' task processes do): each commit holds one
writer's rows, never a mix, and no commit is lost."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from deltalake import DeltaTable

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine import LocalEngine

WRITER = textwrap.dedent("""
    import sys
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine import LocalEngine

    home, tag, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = LocalEngine(WorkspacePaths.from_env(home))  # the same engine host as the test's own session
    spark = engine.session()
    for i in range(rounds):
        df = spark.range(2000).selectExpr(f"id", f"'{tag}' AS writer", f"{i} AS round")
        mode = "append" if i % 2 else "overwrite"
        df.write.format("delta").mode(mode).saveAsTable("race.shared")
    engine.close()
""")


def test_two_processes_never_interleave_a_commit(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "home").ensure()
    engine = LocalEngine(paths)
    spark = engine.session()
    spark.sql("CREATE SCHEMA IF NOT EXISTS race")
    spark.range(1).selectExpr("id", "'seed' AS writer", "0 AS round").write.format("delta").mode("overwrite") \
        .saveAsTable("race.shared")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rounds = 6
    procs = [subprocess.Popen([sys.executable, str(script), str(paths.home), tag, str(rounds)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for tag in ("A", "B")]
    outputs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    location = spark.sql("DESCRIBE DETAIL race.shared").first()["location"].removeprefix("file://")
    table = DeltaTable(location)
    assert table.version() == 2 * rounds  # every write committed: none lost to a race
    for version in range(1, table.version() + 1):
        operation = next(h for h in table.history() if h["version"] == version)
        added = DeltaTable(location, version=version).to_pandas()
        previous = DeltaTable(location, version=version - 1).to_pandas()
        new = added.merge(previous, how="left", indicator=True).query("_merge == 'left_only'") \
            if operation["operationParameters"].get("mode") == "Append" else added
        assert len(new) == 2000 and new[["writer", "round"]].drop_duplicates().shape[0] == 1, version
    engine.close()
