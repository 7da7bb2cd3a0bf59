"""Settings for the whole suite."""

from __future__ import annotations

import logging


def pytest_unconfigure(config) -> None:
    """After the run, a Spark Connect client that a test left open cleans up at interpreter exit; PySpark logs that
    call's error to the stderr it found when its logger was made, pytest's capture, closed by then, which printed
    "--- Logging error ---" tracebacks after the results. Nothing is reported then, so such errors are not shown."""
    logging.raiseExceptions = False



def pytest_configure(config) -> None:
    from tests.wire_diagnosis import explain_undecodable_responses

    explain_undecodable_responses()
