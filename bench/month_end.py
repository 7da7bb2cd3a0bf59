"""Month-end benchmark: the odoolake pipeline on the embedded engine beside two DuckDB floors, interleaved.

    python bench/month_end.py                                   # 1M and 10M lines, 3 runs each
    python bench/month_end.py --sizes 200000 --runs 3 --engines sail,honest
    git archive 40e205e src | tar -x -C /tmp/base    # an earlier version of the code, run beside this one:
    python bench/month_end.py --sizes 1000000 --runs 3 --engines sail-baseline,sail-pyspark --baseline-src /tmp/base/src

Engines (each run in a fresh worker process, interleaved sail, honest, lean, sail, honest, lean … so all see the
same machine state):
- ``sail``: the pipeline as the month-end job runs it (bronze, silver, gold + features, BIR forms and their check),
  on the embedded engine with Delta tables; then one more month is added and the incremental run is timed.
  ``sail-pyspark`` is the same with the local engine's native steps off (``ODOOLAKE_NATIVE_STEPS=off``, the
  default): the plain PySpark path, as it runs on Databricks; ``sail-native`` with them on (bronze parsed by DuckDB
  and appended by delta-rs). ``sail-baseline`` is ``sail-pyspark`` with the ``odoolake`` package imported from
  ``--baseline-src`` (another version's ``src`` folder, put first on ``PYTHONPATH``): before and after a change,
  interleaved. ``sail-new-period`` is ``sail-pyspark`` with a new month that holds only that month's moves and
  rates (the late edits to earlier months and the rates entered late for them left out, ``new_period_only``): no
  earlier period changes, so silver rewrites one period and the forms one quarter's new month. It is the least a
  design that rewrites only the moves a month touches could leave to do, so its share bounds what such a design
  could reach. ``sail-tiny-month`` adds only the month's first ``TINY_MONTH_MOVES`` moves (and no late rates):
  what a new month costs whatever it holds (the per-run overhead). ``sail-native-month`` is ``sail-pyspark`` whose
  new month runs silver, gold and the forms natively after bronze (``native_month``'s prototype: DuckDB reads the
  Delta tables' files, delta-rs writes, the earlier record versions looked up in an index of bronze's keys built
  after the full run): what the one design left for the 1M new-month target would give. ``sail-native-month-all``
  also runs the new month's bronze on the native path (``ODOOLAKE_NATIVE_STEPS=on`` for that stage only).
  ``sail-native-month-checked`` makes each stage's checks on the engine first, as a built version would (those the
  prototype leaves out: ``native_month_checks``); ``sail-native-month-built`` is that as an engine host that ran the
  full run on the engine would run it: the prototype's modules imported, but not run before and no table open;
  ``sail-native-month-built-native`` is ``sail-native-month-built`` with the checks answered natively from the Delta
  logs (``native_month.native_checks``), as a built native path would make them.
- ``honest``: the same logical work in DuckDB SQL, every table written to Delta with delta-rs (``floor_honest``).
- ``lean``: the core arithmetic only, parquet out (``floor_lean``): a lower bound.

Per stage each worker reports wall time, the CPU time of its process tree (the engine host included), the CPU time
the rest of the machine used meanwhile (``other_cpu``: other people's work on a shared machine), peak RSS of the tree
(sampled every 50 ms), bytes read by the tree's read calls and bytes left on disk by the stage. The pipeline's and the
honest floor's row counts (every table, and the quarantine by stage and reason) and all engines' monthly EWT totals
are compared in every run. Results: Markdown on stdout, JSON in ``bench/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psutil
from ab import src_env
from cpu_time import tree_cpu

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
END = date(2026, 10, 1)
EXTRA = date(2026, 11, 1)
MODELS = ("res_company", "res_partner", "account_tax", "account_move", "account_move_line", "res_currency_rate")
ENGINES = ("sail", "sail-pyspark", "sail-native", "sail-baseline", "sail-new-period", "sail-tiny-month",
           "sail-native-month", "sail-native-month-all", "sail-native-month-checked",
           "sail-native-month-built", "sail-native-month-built-native", "honest", "lean")
TINY_MONTH_MOVES = 20
PIPELINES = tuple(kind for kind in ENGINES if kind.startswith("sail"))  # odoolake itself, not a floor
LABELS = {"sail": "odoolake (Sail + Delta)", "sail-pyspark": "odoolake, PySpark path only",
          "sail-native": "odoolake, native bronze (DuckDB + delta-rs)",
          "sail-baseline": "odoolake, PySpark path, --baseline-src",
          "sail-new-period": "odoolake, PySpark path, new month without late edits",
          "sail-tiny-month": f"odoolake, PySpark path, new month of {TINY_MONTH_MOVES} moves",
          "sail-native-month": "odoolake, PySpark path, new month's silver, gold, forms native (prototype)",
          "sail-native-month-all": "odoolake, PySpark path, new month all native (prototype)",
          "sail-native-month-checked": "odoolake, PySpark path, new month's silver, gold, forms native, checked",
          "sail-native-month-built": "odoolake, PySpark path, new month's silver, gold, forms native, cold, checked",
          "sail-native-month-built-native": "odoolake, PySpark path, new month native, cold, checked natively",
          "honest": "DuckDB honest floor (Delta)", "lean": "DuckDB lean floor (parquet)"}
STAGES = ("bronze", "silver", "gold+features", "forms")


# -- measuring ---------------------------------------------------------------------------------------------------

def _busy_cpu() -> float:
    """CPU seconds the whole machine has spent not idle since boot."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def dir_bytes(root: Path) -> int:
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


class Meter:
    """Stage by stage: wall, CPU of this process tree, other CPU, peak RSS, bytes read, bytes left on disk."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.proc = psutil.Process()
        self.stages: dict[str, dict] = {}
        self.peak = 0
        self._window = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _tree(self) -> list[psutil.Process]:
        return [self.proc, *self.proc.children(recursive=True)]

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = 0
            for p in self._tree():
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.peak = max(self.peak, rss)
            self._window = max(self._window, rss)
            time.sleep(0.05)

    def _usage(self) -> tuple[float, int]:
        tree = self._tree()
        read = 0
        for p in tree:
            with contextlib.suppress(psutil.Error):
                read += p.io_counters().read_chars
        return tree_cpu(self.proc, tree), read

    def stage(self, name: str, fn: Callable[[], object]) -> object:
        self._window = 0
        written0 = dir_bytes(self.out_dir)
        cpu0, read0 = self._usage()
        busy0 = _busy_cpu()
        started = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - started
        cpu1, read1 = self._usage()
        busy1 = _busy_cpu()
        self.stages[name] = {"wall": round(wall, 3), "cpu": round(cpu1 - cpu0, 3),
                             "other_cpu": round(max(0.0, (busy1 - busy0) - (cpu1 - cpu0)), 3),
                             "peak_rss": self._window, "read_bytes": read1 - read0,
                             "written_bytes": dir_bytes(self.out_dir) - written0}
        return result

    def __enter__(self) -> Meter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- workers -----------------------------------------------------------------------------------------------------

def _link_raw(src: Path, dest: Path) -> None:
    for model in MODELS:
        folder = dest / model
        folder.mkdir(parents=True, exist_ok=True)
        for f in sorted((src / model).glob("*.jsonl")) if (src / model).exists() else []:
            link = folder / f.name
            if not link.exists():
                link.symlink_to(f)


# How each native-month variant makes the stages' checks (none: the prototype's most favourable form)
_CHECKS = {"sail-native-month-checked": "engine", "sail-native-month-built": "engine",
           "sail-native-month-built-native": "native"}


def native_month_checks(spark: object, stage: str) -> None:
    """What the pipeline's stage asks the engine before its work and the prototype does not: the tables' layout,
    whether partners, taxes or companies must be rebuilt from a new delivery of theirs (rebuilt on the engine if so),
    which batches and quarters are pending and how the forms are partitioned."""
    from odoolake.pipeline import forms, gold, io, silver

    io.ensure_schemas(spark)  # type: ignore[arg-type]
    if stage == "silver":
        io.outdated(spark, silver.LAYOUT)  # type: ignore[arg-type]
        silver.rebuild_dimensions(spark)  # type: ignore[arg-type]
    elif stage == "gold":
        io.outdated(spark, gold.LAYOUT)  # type: ignore[arg-type]
        gold.pending_periods(spark)  # type: ignore[arg-type]
    else:
        forms.pending_quarters(spark)  # type: ignore[arg-type]


def _native_month_end(home: Path, spark: object, ls: object, native_bronze: bool, warm: bool = True,
                      checks: str | None = None) -> Callable[[Meter], None]:
    """The new month with silver, gold and the forms run by ``native_month``'s prototype after bronze (the engine's,
    or with ``native_bronze`` the local platform's native path). Unmetered before it: the index of bronze's record
    versions and the prototype's imports, as a long-lived host would have them; when ``warm`` also the prototype run
    once (on a copy of the lake, redoing its last batch) and the lake's tables open. With ``checks``, each stage's
    checks are made first, as a built version would make them: on the engine (``"engine"``: ``native_month_checks``)
    or from the Delta logs (``"native"``: ``native_month.native_checks``)."""
    import deltalake  # noqa: F401  (a host imports what it runs at start)
    import duckdb  # noqa: F401
    import floor_honest  # noqa: F401
    from native_month import (
        build_index,
        delta_table,
        dimension_layouts,
        native_checks,
        native_forms,
        native_gold,
        native_silver,
    )

    from odoolake.pipeline import bronze, native

    warehouse, index = home / "warehouse", home.parent / "record_versions.duckdb"
    if warm:
        scratch = home.parent / "warm-up"
        shutil.copytree(warehouse, scratch)
        log = delta_table(scratch / "silver/batch_log")
        last = max(log.to_pyarrow_table(columns=["batch_id"]).column("batch_id").to_pylist())
        log.delete(f"batch_id = '{last}'")
        build_index(scratch, index, [last])
        done = native_silver(scratch, index=index, files="parquet")
        native_gold(scratch, done["batches"], done["periods"], "parquet")
        native_forms(scratch, done["batches"], done["periods"], date.today(), "parquet")
        shutil.rmtree(scratch)
        for log in sorted(warehouse.glob("*/*/_delta_log")):  # open, as the host would have them from the month before
            delta_table(log.parent)
    build_index(warehouse, index, [])
    dimensions = dimension_layouts(warehouse) if checks == "native" else {}

    def ingest() -> object:
        if not native_bronze:
            return bronze.ingest(spark, "dbfs:/raw/odoo", ls)  # type: ignore[arg-type]
        os.environ[native.NATIVE_ENV] = "on"
        try:
            return bronze.ingest(spark, "dbfs:/raw/odoo", ls)  # type: ignore[arg-type]
        finally:
            os.environ[native.NATIVE_ENV] = "off"

    def checked(stage: str, step: Callable[[], object]) -> Callable[[], object]:
        """``step``, after the stage's checks when ``checks``."""
        def run() -> object:
            if checks == "native":
                native_checks(warehouse, stage, dimensions)
            else:
                native_month_checks(spark, stage)
            return step()

        return run if checks else step

    def month_end(m: Meter) -> None:
        m.stage("bronze", ingest)
        done = m.stage("silver", checked("silver", lambda: native_silver(warehouse, index=index, files="parquet")))
        batches, periods = done["batches"], done["periods"]  # type: ignore[index]
        m.stage("gold+features", checked("gold", lambda: native_gold(warehouse, batches, periods, "parquet")))
        m.stage("forms", checked("forms", lambda: native_forms(warehouse, batches, periods, date.today(), "parquet")))

    return month_end


def worker_sail(raw: Path, extra: Path, home: Path, kind: str = "sail") -> dict:
    from lake_counts import pipeline_counts
    from profile_writes import CallCounter

    from odoolake.cli.common import dbfs_lister
    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import bronze, forms, gold, silver
    from odoolake.workspace.engine import LocalEngine

    paths = WorkspacePaths.from_env(home).ensure()
    local_raw = paths.dbfs_to_local("dbfs:/raw/odoo")
    _link_raw(raw, local_raw)
    calls = CallCounter()
    with Meter(home) as meter:
        engine = LocalEngine(paths)
        spark = meter.stage("startup", engine.session)
        calls.install(spark)
        ls = dbfs_lister(paths)

        def month_end(m: Meter) -> None:
            m.stage("bronze", lambda: bronze.ingest(spark, "dbfs:/raw/odoo", ls))
            m.stage("silver", lambda: silver.run(spark))
            m.stage("gold+features", lambda: (gold.run(spark), gold.refresh_features(spark)))
            m.stage("forms", lambda: (forms.run(spark), forms.check_in_step(spark)))

        def totals() -> dict[str, float]:
            return {r["period"]: float(r["t"]) for r in spark.sql(
                "SELECT period, SUM(withholding_tax) AS t FROM gold.bir_transactions GROUP BY period").collect()}

        month_end(meter)
        full_calls = calls.report()
        full_totals, counts = totals(), pipeline_counts(spark)
        new_month = _native_month_end(home, spark, ls, kind == "sail-native-month-all",
                                      warm=not kind.startswith("sail-native-month-built"),
                                      checks=_CHECKS.get(kind)) \
            if kind.startswith("sail-native-month") else month_end
        _link_raw(extra, local_raw)
        incremental = Meter(home)
        incremental.proc = meter.proc
        new_month(incremental)
        after = {"totals": totals(), "counts": pipeline_counts(spark)}  # what the new month left, to compare engines
        engine.close()
    return {"stages": meter.stages, "incremental": incremental.stages, "peak_rss": meter.peak, "totals": full_totals,
            "counts": counts, "calls": full_calls, "after_new_month": after}


def worker_floor(kind: str, raw: Path, out: Path) -> dict:
    import floor_honest
    import floor_lean

    module = floor_honest if kind == "honest" else floor_lean
    with Meter(out.parent) as meter:
        result = module.run(raw, out, meter.stage)
    return {"stages": meter.stages, "peak_rss": meter.peak, **result}


# -- orchestration -----------------------------------------------------------------------------------------------

def ensure_data(size: int, data_dir: Path) -> tuple[Path, Path]:
    from odoolake.datagen import GenConfig, generate

    root = data_dir / f"{size}"
    raw, extra = root / "raw", root / "extra"
    cfg = GenConfig(lines=size, end=END, seed=42)
    if not (root / "done").exists():
        print(f"generating {size:,} lines …", file=sys.stderr, flush=True)
        generate(cfg, raw)
        generate(cfg, extra, months=[EXTRA])
        (root / "done").write_text("ok")
    return raw, extra


VARIANT_RULES = "moves of the month, their lines, rates not dated before it"  # what a made variant was made by


def new_period_only(extra: Path, month: date = EXTRA, moves: int | None = None) -> Path:
    """A copy of the added drop without its late edits: the moves dated in ``month`` (not the deletions of earlier
    moves: a tombstone carries no date), or only the first ``moves`` of them, their lines, the exchange rates not
    dated before ``month`` (a rate entered late for an earlier bill re-converts that month) and every other model's
    records. Made once beside ``extra``."""
    out = extra.parent / ("extra-new-period" if moves is None else f"extra-{moves}-moves")
    done = out / "done"
    if done.exists() and done.read_text() == VARIANT_RULES:
        return out
    shutil.rmtree(out, ignore_errors=True)  # made by other rules (before late rates were left out): made again
    prefix = f"{month:%Y-%m}"
    kept: set[int] = set()
    for source in sorted(extra.rglob("*.jsonl")):
        model = source.parent.name
        dest = out / source.relative_to(extra)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with source.open(encoding="utf-8") as lines, dest.open("w", encoding="utf-8") as written:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:  # a malformed line is kept as it is: bronze's rejects stay the same
                    written.write(line)
                    continue
                if model == "account_move":
                    day = record.get("date")
                    if not (isinstance(day, str) and day.startswith(prefix)) or (moves is not None and len(kept) >= moves):
                        continue
                    kept.add(record.get("id"))
                elif model == "account_move_line":
                    move = record.get("move_id")
                    if isinstance(move, list) and move and move[0] not in kept:
                        continue
                elif model == "res_currency_rate":  # a rate dated earlier re-converts that month's lines: a late edit
                    day = record.get("name")
                    if isinstance(day, str) and day < prefix:
                        continue
                written.write(line)
        if not dest.stat().st_size:  # nothing of this model left: no file, as an extract with nothing new writes none
            dest.unlink()
    for other in extra.iterdir():
        if other.is_file() and not (out / other.name).exists():
            (out / other.name).write_bytes(other.read_bytes())
    done.write_text(VARIANT_RULES)
    return out


def run_worker(kind: str, *args: str, baseline_src: Path | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", kind, *args]
    env = dict(os.environ, RUST_LOG="error")
    if kind.startswith("sail-"):
        env["ODOOLAKE_NATIVE_STEPS"] = "on" if kind == "sail-native" else "off"
    if kind == "sail-baseline":
        if baseline_src is None or not (baseline_src / "odoolake").is_dir():
            raise SystemExit("--engines sail-baseline needs --baseline-src <a src folder holding odoolake/>")
        env = src_env(baseline_src, env)
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load_before"] = round(load, 2)
    return result


def _median_stage(results: list[dict], key: str = "stages") -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in results[0][key]:
        out[name] = {m: round(statistics.median(r[key][name][m] for r in results), 3)
                     for m in ("wall", "cpu", "other_cpu", "read_bytes", "written_bytes")}
        out[name]["peak_rss"] = max(r[key][name]["peak_rss"] for r in results)
    return out


def _total(results: list[dict], metric: str, key: str = "stages") -> float:
    """Median over runs of the run's total (startup excluded)."""
    return round(statistics.median(sum(v[metric] for k, v in r[key].items() if k != "startup") for r in results), 2)


def _totals_mismatch(a: dict[str, float], b: dict[str, float]) -> dict[str, list]:
    return {p: [a.get(p), b.get(p)] for p in sorted(set(a) | set(b))
            if a.get(p) is None or b.get(p) is None or abs(a[p] - b[p]) > 0.005}


def summarize(size: int, results: dict[str, list[dict]]) -> dict:
    out: dict = {"engines": {}}
    for kind, runs in results.items():
        entry = {"stages": _median_stage(runs), "wall": _total(runs, "wall"), "cpu": _total(runs, "cpu"),
                 "other_cpu": _total(runs, "other_cpu"),
                 "peak_rss_gib": round(max(r["peak_rss"] for r in runs) / 2**30, 2),
                 "runs": len(runs), "load_before": [r["load_before"] for r in runs],
                 "wall_runs": [round(sum(v["wall"] for k, v in r["stages"].items() if k != "startup"), 2)
                               for r in runs]}
        if "incremental" in runs[0]:
            entry["incremental"] = _median_stage(runs, "incremental")
            entry["incremental_wall"] = _total(runs, "wall", "incremental")
            entry["incremental_share"] = round(entry["incremental_wall"] / entry["wall"], 3)
            entry["incremental_cpu"] = _total(runs, "cpu", "incremental")
            entry["incremental_cpu_share"] = round(entry["incremental_cpu"] / entry["cpu"], 3)
            entry["incremental_wall_runs"] = [
                round(sum(v["wall"] for k, v in r["incremental"].items() if k != "startup"), 2) for r in runs]
            entry["calls"] = runs[0]["calls"]
        out["engines"][kind] = entry
    engines = out["engines"]
    for kind in PIPELINES:
        if kind not in engines:
            continue
        for floor in ("honest", "lean"):
            if floor in engines:
                engines[kind][f"ratio_{floor}"] = {m: round(engines[kind][m] / engines[floor][m], 2)
                                                   for m in ("wall", "cpu")}
    first = {k: v[0] for k, v in results.items()}
    out["ewt_totals_mismatch"] = {f"{a} vs {b}": m for a in first for b in first if a < b
                                  if (m := _totals_mismatch(first[a]["totals"], first[b]["totals"]))}
    pipelines = [kind for kind in first if "after_new_month" in first[kind]]
    for kind in pipelines[1:]:  # the lake each left after its new month, against the first pipeline's
        a, b = first[pipelines[0]]["after_new_month"], first[kind]["after_new_month"]
        out[f"new_month_mismatch_{kind}"] = {
            "totals": _totals_mismatch(a["totals"], b["totals"]),
            "counts": {k: [a["counts"].get(k), b["counts"].get(k)] for k in sorted(set(a["counts"]) | set(b["counts"]))
                       if a["counts"].get(k) != b["counts"].get(k)}}
    if "honest" in first:
        for kind in PIPELINES:
            if kind in first:
                a, b = first[kind]["counts"], first["honest"]["counts"]
                out[f"count_mismatch_{kind}"] = {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b))
                                                 if a.get(k) != b.get(k)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default="sail,honest,lean")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    parser.add_argument("--tag", default="", help="a suffix for the result file's name")
    parser.add_argument("--baseline-src", type=Path, help="for --engines sail-baseline: another version's src folder")
    args = parser.parse_args()
    import shutil
    import tempfile

    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise SystemExit(f"--engines: unknown {', '.join(unknown)} (known: {', '.join(ENGINES)})")
    report = {"machine": {"cpus": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
                          "python": platform.python_version(), "platform": platform.platform()},
              "date": date.today().isoformat(), "command": " ".join(sys.argv), "sizes": {}}
    for size in [int(s) for s in args.sizes.split(",")]:
        raw, extra = ensure_data(size, args.data_dir)
        results: dict[str, list[dict]] = {e: [] for e in engines}
        for run in range(args.runs):
            for kind in engines:
                tmp = Path(tempfile.mkdtemp(dir=args.data_dir))
                try:
                    print(f"{size:,} lines, run {run + 1}/{args.runs}: {kind} …", file=sys.stderr, flush=True)
                    added = new_period_only(extra) if kind == "sail-new-period" else \
                        new_period_only(extra, moves=TINY_MONTH_MOVES) if kind == "sail-tiny-month" else extra
                    target = [str(raw), str(added), str(tmp / "home")] if kind.startswith("sail") else \
                        [str(raw), str(tmp / "floor")]
                    results[kind].append(run_worker(kind, *target, baseline_src=args.baseline_src))
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        report["sizes"][size] = {"summary": summarize(size, results), "raw": results}
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    name = f"month_end-{date.today().isoformat()}{'-' + args.tag if args.tag else ''}.json"
    (out_dir / name).write_text(json.dumps(report, indent=1))
    print(render(report))
    print(f"\nresults: bench/results/{name}", file=sys.stderr)


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def render(report: dict) -> str:
    rows = ["| lines | engine | bronze | silver | gold+features | forms | total wall | total CPU | other CPU | "
            "peak RSS GiB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for size, entry in report["sizes"].items():
        for kind, e in entry["summary"]["engines"].items():
            st = e["stages"]
            cells = [f"{st[s]['wall']:.2f} s ({st[s]['cpu']:.1f})" if s in st else "—" for s in STAGES]
            rows.append(f"| {int(size):,} | {LABELS[kind]} | {' | '.join(cells)} | {e['wall']:.2f} s | "
                        f"{e['cpu']:.2f} s | {e['other_cpu']:.1f} s | {e['peak_rss_gib']} |")
    rows += ["", "Stage cells: median wall (median CPU seconds of the process tree).", "",
             "| lines | engine | / honest (wall, CPU) | / lean (wall, CPU) | one new month / full run (wall; CPU) |",
             "|---|---|---|---|---|"]
    for size, entry in report["sizes"].items():
        for kind, e in entry["summary"]["engines"].items():
            if not kind.startswith("sail"):
                continue
            h, lean = e.get("ratio_honest"), e.get("ratio_lean")
            pair = [f"{r['wall']}×, {r['cpu']}×" if r else "—" for r in (h, lean)]
            rows.append(f"| {int(size):,} | {LABELS[kind]} | {pair[0]} | {pair[1]} | "
                        f"{e['incremental_share'] * 100:.1f}% ({e['incremental_wall']:.2f} s); "
                        f"{e['incremental_cpu_share'] * 100:.1f}% ({e['incremental_cpu']:.2f} s) |")
    rows += ["", "| lines | engine | read | written (bronze, silver, gold, forms) |", "|---|---|---|---|"]
    for size, entry in report["sizes"].items():
        for kind, e in entry["summary"]["engines"].items():
            st = e["stages"]
            rows.append(f"| {int(size):,} | {LABELS[kind]} | "
                        f"{_gib(sum(st[s]['read_bytes'] for s in STAGES if s in st))} GiB | "
                        + ", ".join(f"{st[s]['written_bytes'] / 2**20:.0f}" if s in st else "—" for s in STAGES)
                        + " MiB |")
    for size, entry in report["sizes"].items():
        s = entry["summary"]
        rows.append(f"\n{int(size):,} lines: EWT totals equal across engines: {not s['ewt_totals_mismatch']}; "
                    + "; ".join(f"row counts {k.removeprefix('count_mismatch_')} = honest: {not v}"
                                for k, v in s.items() if k.startswith("count_mismatch_")))
        for key, found in s.items():
            if key.startswith("new_month_mismatch_"):
                rows.append(f"after the new month, {key.removeprefix('new_month_mismatch_')} against the first "
                            f"pipeline: EWT totals {found['totals'] or 'equal'}; row counts {found['counts'] or 'equal'}")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        kind, rest = sys.argv[2], sys.argv[3:]
        result = worker_sail(Path(rest[0]), Path(rest[1]), Path(rest[2]), kind) if kind.startswith("sail") else \
            worker_floor(kind, Path(rest[0]), Path(rest[1]))
        print(json.dumps(result))
    else:
        main()
