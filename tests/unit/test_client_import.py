"""The workspace server imports PySpark's Connect client in a thread of its own once it listens
(``import_client_in_background``), so that its first SQL statement does not pay for the import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import sys, threading
from odoolake.workspace.engine.session import import_client_in_background
print('before', 'pyspark.sql.connect.session' in sys.modules)
import_client_in_background()
loader = next(t for t in threading.enumerate() if t.name == 'import-client')
print('own thread', loader is not threading.current_thread())
loader.join(120)
print('after', hasattr(sys.modules.get('pyspark.sql.connect.session'), 'SparkSession'))
"""


def test_the_client_is_imported_in_a_thread_of_its_own_only_once_asked(tmp_path: Path) -> None:
    # a script, not ``python -c``: PySpark's client takes a main module without a file for a doctest run and exits
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    done = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=180, check=True)
    assert done.stdout.split("\n")[:3] == ["before False", "own thread True", "after True"], done.stderr
