"""The scaling curve: month-end time against lines, from `bench/month_end.py` result files, with the fitted exponent
(time ∝ lines^k, least squares on log-log) per engine, for wall time and CPU time, and the log-log plot.

    python bench/scaling.py bench/results/month_end-2026-12-01-1m.json bench/results/month_end-2026-12-01-3m.json \
        [--plot docs/img/scaling.png] [--project 100000000]

Each result file may hold several sizes; a size seen twice keeps the later file's. CPU time is the process tree's
(the engine host included), so it holds up on a shared machine where wall time does not.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

LABELS = {"sail": "odoolake (the `sail` entry: native bronze in the 1M file of 2026-12-01)",
          "sail-pyspark": "odoolake, PySpark path only", "sail-native": "odoolake, native bronze",
          "honest": "DuckDB honest floor", "lean": "DuckDB lean floor"}


def load(files: list[Path]) -> dict[str, dict[int, dict]]:
    """engine → lines → the summary entry (median wall, CPU, peak RSS, stages)."""
    out: dict[str, dict[int, dict]] = {}
    for path in files:
        report = json.loads(path.read_text())
        for size, entry in report["sizes"].items():
            for engine, summary in entry["summary"]["engines"].items():
                out.setdefault(engine, {})[int(size)] = summary
    return out


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(k, c) of time = c · lines^k, least squares on the logarithms."""
    xs, ys = [math.log(x) for x, _ in points], [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    k = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return k, math.exp(my - k * mx)


def table(data: dict[str, dict[int, dict]], project: int) -> str:
    rows = [f"| engine | lines | wall s | CPU s | peak RSS GiB | exponent (wall, CPU) | {project:,} lines, "
            "extrapolated (wall, CPU) |", "|---|---|---|---|---|---|---|"]
    for engine, by_size in data.items():
        sizes = sorted(by_size)
        if len(sizes) >= 2:
            kw, cw = fit([(n, by_size[n]["wall"]) for n in sizes])
            kc, cc = fit([(n, by_size[n]["cpu"]) for n in sizes])
            exp = f"{kw:.2f}, {kc:.2f}"
            proj = f"{cw * project ** kw / 60:.0f} min, {cc * project ** kc / 60:.0f} min"
        else:
            exp = proj = "—"
        for i, n in enumerate(sizes):
            e = by_size[n]
            rows.append(f"| {LABELS.get(engine, engine) if i == 0 else ''} | {n:,} | {e['wall']:.1f} | {e['cpu']:.1f} "
                        f"| {e['peak_rss_gib']:.2f} | {exp if i == 0 else ''} | {proj if i == 0 else ''} |")
    return "\n".join(rows)


def plot(data: dict[str, dict[int, dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, metric in zip(axes, ("wall", "cpu"), strict=True):
        for engine, by_size in data.items():
            sizes = sorted(by_size)
            ax.plot(sizes, [by_size[n][metric] for n in sizes], marker="o", label=LABELS.get(engine, engine))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("lines (account.move.line)")
        ax.set_title(f"month-end, {'wall' if metric == 'wall' else 'CPU'} seconds")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--project", type=int, default=100_000_000)
    args = parser.parse_args()
    data = load(args.results)
    print(table(data, args.project))
    if args.plot:
        plot(data, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
