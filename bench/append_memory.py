"""What bronze's append of a model's new files costs in memory, by how many files it takes at once.

    python bench/append_memory.py --data bench/.data/30000000/raw --files 1,4,12
    python bench/append_memory.py --data bench/.data/30000000/raw --files 12 --repartition 2
    python bench/append_memory.py --data bench/.data/30000000/raw --files 2,4 --join 3

With ``--join K`` each file appended is K monthly files joined into one (written to a temporary folder first, not
timed), so a count of larger files can be set beside the same bytes in more files.

Each count appends the first N monthly files of ``account_move_line`` to an empty lake in one statement, as
``bronze.ingest``'s PySpark path does (``--repartition K`` spreads the rows over K writers first), in a new engine
host each time: wall time, the engine host's CPU, the peak RSS of this process and its children (sampled every 50 ms)
and the data files the append wrote.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from cpu_time import engine_cpu
from profile_writes import PeakRss
from saved import save_results

HERE = Path(__file__).resolve().parent
MODEL_DIR = "account_move_line"


def append(data: Path, files: int, repartition: int | None, join: int = 1) -> dict[str, float]:
    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import bronze, io
    from odoolake.pipeline.schemas import ACCOUNT_MOVE_LINE
    from odoolake.workspace.engine import LocalEngine

    monthly = sorted((data / MODEL_DIR).glob("*.jsonl"))[:files * join]
    if len(monthly) < files * join:
        raise SystemExit(f"--files {files} --join {join}: {data / MODEL_DIR} holds {len(monthly)} files")
    root = Path(tempfile.mkdtemp(prefix="append-memory"))
    try:
        paths = WorkspacePaths.from_env(root).ensure()
        raw = paths.dbfs_to_local(f"dbfs:/raw/odoo/{MODEL_DIR}")
        raw.mkdir(parents=True)
        chosen = []
        for i in range(files):
            parts = monthly[i * join:(i + 1) * join]
            target = raw / parts[0].name
            if join == 1:
                target.symlink_to(parts[0].resolve())
            else:
                with target.open("wb") as out:
                    for part in parts:
                        with part.open("rb") as src:
                            shutil.copyfileobj(src, out, 16 * 2**20)
            chosen.append(target)
        uris = [f"dbfs:/raw/odoo/{MODEL_DIR}/{f.name}" for f in chosen]
        with LocalEngine(paths) as engine:
            spark = engine.session()
            io.ensure_schemas(spark)
            rows = bronze._bronze_rows(spark, ACCOUNT_MOVE_LINE, uris)
            if repartition:
                rows = rows.repartition(repartition)
            rss = PeakRss()
            rss.reset()
            cpu0, wall0 = engine_cpu(), time.perf_counter()
            io.append(rows, ACCOUNT_MOVE_LINE.bronze_table)
            wall, cpu = time.perf_counter() - wall0, engine_cpu() - cpu0
            peak = rss.peak
        written = list((root / "warehouse" / "bronze").rglob("*.parquet"))
        return {"files": files, "json_gib": round(sum(f.stat().st_size for f in chosen) / 2**30, 2),
                "wall_s": round(wall, 1), "engine_cpu_s": round(cpu, 1), "peak_rss_gib": round(peak / 2**30, 2),
                "data_files": len(written)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE / ".data" / "30000000" / "raw")
    parser.add_argument("--files", default="1,4,12", help="comma-separated counts of monthly files")
    parser.add_argument("--repartition", type=int, help="spread the rows over this many writers first")
    parser.add_argument("--join", type=int, default=1, help="make each file appended of this many monthly files")
    args = parser.parse_args()
    runs = []
    for files in (int(n) for n in args.files.split(",")):
        run = append(args.data, files, args.repartition, args.join)
        runs.append(run)
        print(f"{run['files']:>3} files ({run['json_gib']} GiB of JSON): {run['wall_s']} s, engine {run['engine_cpu_s']}"
              f" CPU-s, peak RSS {run['peak_rss_gib']} GiB, {run['data_files']} data files", flush=True)
    save_results(f"append_memory-{'-'.join(args.files.split(','))}{f'-r{args.repartition}' if args.repartition else ''}"
                 f"{f'-j{args.join}' if args.join > 1 else ''}",
                 {"runs": runs, "repartition": args.repartition, "join": args.join})


if __name__ == "__main__":
    main()
