import pytest

from odoolake.bir.tin import TinStatus, parse_tin, require_tin
from odoolake.errors import BirRuleError

CASES = [
    ("123-456-789-000", ("123456789", "0000"), TinStatus.VALID),
    ("123-456-789-00000", ("123456789", "0000"), TinStatus.VALID),
    ("123-456-789-00012", ("123456789", "0012"), TinStatus.VALID),
    ("123456789", ("123456789", "0000"), TinStatus.NORMALISED),
    ("123456789000", ("123456789", "0000"), TinStatus.NORMALISED),
    ("1234567890", None, TinStatus.MALFORMED),
    ("12345678X", None, TinStatus.MALFORMED),
    ("000-000-000-000", None, TinStatus.MALFORMED),
    ("123-456-789-123456", None, TinStatus.MALFORMED),
    (False, None, TinStatus.MISSING),
    ("", None, TinStatus.MISSING),
]


@pytest.mark.parametrize(("raw", "expected", "status"), CASES)
def test_parse_tin(raw, expected, status):
    tin, got = parse_tin(raw)
    assert got == status
    assert (None if tin is None else (tin.number, tin.branch)) == expected


def test_require_tin_names_the_problem():
    with pytest.raises(BirRuleError, match="malformed"):
        require_tin("ABC")


def test_spark_tin_rules_match_python(spark):
    """The silver TIN columns (Spark) and odoolake.bir.tin (Python) agree on every case."""
    from pyspark.sql import functions as F

    from odoolake.pipeline.silver import tin_columns

    rows = [(str(raw) if raw is not False else None,) for raw, _, _ in CASES]
    df = spark.createDataFrame(rows, "vat string").select("vat", *tin_columns(F.col("vat"), F.lit(None)))
    got = {r["vat"]: (r["tin"], r["tin_branch"], r["tin_status"]) for r in df.collect()}
    for raw, expected, status in CASES:
        key = None if raw is False else str(raw)
        if key == "":
            continue
        tin, branch, spark_status = got[key]
        assert spark_status == status.value, raw
        assert (None if tin is None else (tin, branch)) == expected, raw
