"""Where a benchmark keeps what it measured: ``bench/results/<name>.json`` with the command that made it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent / "results"


def save_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with the command line to ``bench/results/<name>.json`` and say so on stderr."""
    FOLDER.mkdir(exist_ok=True)
    path = FOLDER / f"{name}.json"
    path.write_text(json.dumps({"command": " ".join(sys.argv), **payload}, indent=1))
    print(f"\nresults: bench/results/{path.name}", file=sys.stderr)
    return path
