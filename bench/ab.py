"""Before/after runs of a bench worker, interleaved: this tree's ``src`` and another version's (``--baseline-src``),
each round in fresh processes and in alternating order, so both see the same machine.

Used by ``statements_ab.py`` and ``deep_plans.py`` through ``main``: a worker is the script itself run with
``--worker``, printing one JSON object as its last line of output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def baseline_trees(baseline_src: Path | None) -> dict[str, Path]:
    if baseline_src is None or not (baseline_src / "odoolake").is_dir():
        raise SystemExit("--baseline-src must name a src folder that holds odoolake/ (e.g. a git archive of main)")
    return {"this tree": HERE.parent / "src", "baseline": baseline_src.resolve()}


def src_env(src: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (this process's environment by default) with ``src`` first on ``PYTHONPATH``: a child imports
    ``odoolake`` from there."""
    base = dict(os.environ if env is None else env)
    return {**base, "PYTHONPATH": os.pathsep.join(p for p in (str(src), base.get("PYTHONPATH")) if p)}


def run_worker(script: str, src: Path, args: Sequence[str]) -> dict:
    """``script --worker *args`` with ``src`` first on ``PYTHONPATH``; its last line of output, decoded."""
    proc = subprocess.run([sys.executable, script, "--worker", *args],
                          capture_output=True, text=True, env=src_env(src), check=False, timeout=1200)
    if proc.returncode != 0:
        raise SystemExit(f"worker on {src} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interleave(script: str, trees: dict[str, Path], rounds: int, args: Sequence[str], measures: Sequence[str],
               unit: str = "ms") -> dict[str, list[dict]]:
    """Each round runs every tree's worker once (the order alternating); prints each run, then the medians."""
    results: dict[str, list[dict]] = {name: [] for name in trees}
    for round_no in range(rounds):
        order = list(trees) if round_no % 2 == 0 else list(reversed(trees))
        for name in order:
            load = os.getloadavg()[0]
            result = run_worker(script, trees[name], args)
            results[name].append(result)
            print(f"round {round_no + 1} {name:9s} load {load:4.2f}  " +
                  "  ".join(f"{m} {result[m]:6.2f} {unit}" for m in measures), flush=True)
    for name, runs in results.items():
        print(f"median of {len(runs)} {name:9s}  " +
              "  ".join(f"{m} {statistics.median(r[m] for r in runs):6.2f} {unit}" for m in measures))
    return results


def save(prefix: str, trees: dict[str, Path], results: dict[str, list[dict]]) -> Path:
    out = HERE / "results" / f"{prefix}-{time.strftime('%Y-%m-%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"trees": {k: str(v) for k, v in trees.items()}, "results": results}, indent=2))
    return out


def main(script: str, doc: str, worker: Callable[..., None], measures: Sequence[str], count: tuple[str, int],
         rounds: int, more: Sequence[tuple[str, int]] = ()) -> None:
    """A before/after script's command line: ``--baseline-src``, ``--rounds`` and ``--<count>`` (what each worker
    repeats, passed to ``worker``) and each of ``more`` (further sizes, passed after it); with ``--worker``, this
    process is the worker."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--baseline-src", type=Path)
    parser.add_argument("--rounds", type=int, default=rounds)
    for flag, default in (count, *more):
        parser.add_argument(f"--{flag}", type=int, default=default)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [(flag, getattr(args, flag)) for flag, _ in (count, *more)]
    if args.worker:
        worker(*(value for _, value in sizes))
        os._exit(0)  # PySpark's exit-time clean-up would retry against the engine this worker already stopped
    trees = baseline_trees(args.baseline_src)
    results = interleave(script, trees, args.rounds, [part for flag, value in sizes for part in (f"--{flag}", str(value))],
                         measures)
    save(Path(script).stem, trees, results)
