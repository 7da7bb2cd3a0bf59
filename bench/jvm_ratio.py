"""The month-end on the embedded engine against Apache Spark (JVM, local mode) on the same data.

    python bench/jvm_ratio.py [--lines 1000000] [--runs 3] [--jvm-python .jvm-venv/bin/python]

Both engines run the bundle's notebooks through scripts/parity/run_pipeline.py in fresh processes, interleaved
(sail, jvm, sail, jvm …), timed end to end (process start to tables written, so JVM start-up counts, as it
would in a job). JVM Spark writes parquet (no Delta jars here), the embedded engine Delta. Medians of --runs.
`make parity` builds the JVM environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run(python: str, engine: str, raw: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run([python, str(REPO / "scripts" / "parity" / "run_pipeline.py"), "--engine", engine,
                        "--raw-root", str(raw), "--home", tmp, "--out", f"{tmp}/out.json"], check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        return time.perf_counter() - started


def main() -> None:
    from odoolake.datagen import GenConfig, generate

    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jvm-python", default=os.environ.get("ODOOLAKE_JVM_PYTHON", str(REPO / ".jvm-venv/bin/python")))
    args = parser.parse_args()
    if not Path(args.jvm_python).exists():
        raise SystemExit(f"no JVM pyspark at {args.jvm_python}: run `make parity` first")
    raw = HERE / ".data" / f"jvm-{args.lines}"
    if not raw.exists():
        generate(GenConfig(months=24, end=date(2026, 10, 1), lines=args.lines, seed=42), raw)
    times: dict[str, list[float]] = {"sail": [], "jvm": []}
    for _ in range(args.runs):
        times["sail"].append(run(sys.executable, "sail", raw))
        times["jvm"].append(run(args.jvm_python, "jvm", raw))
    sail, jvm = statistics.median(times["sail"]), statistics.median(times["jvm"])
    report = {"date": date.today().isoformat(), "lines": args.lines, "runs": args.runs, "cpus": os.cpu_count(),
              "sail_s": round(sail, 1), "jvm_s": round(jvm, 1), "sail_over_jvm": round(sail / jvm, 3),
              "all": {k: [round(v, 1) for v in vs] for k, vs in times.items()}}
    print(f"{args.lines:,} lines: embedded engine {sail:.1f} s, JVM Spark local {jvm:.1f} s "
          f"(ratio {sail / jvm:.2f}; medians of {args.runs})")
    out = HERE / "results" / f"jvm_ratio-{date.today().isoformat()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    shutil.rmtree(HERE / ".data" / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
