"""Table properties as Delta reads them: each value in the form the engine reads back (measured against Sail: a
write and an UPDATE after the property was set), Delta's keys by Delta's spelling, a feature left off not written."""

from __future__ import annotations

import pytest

from odoolake.workspace.engine import sqltext
from odoolake.workspace.engine.table_properties import (
    DUPLICATE_KEY,
    INVALID_VALUE,
    UNKNOWN_CONFIGURATION,
    UNWRITABLE_FEATURE,
    PropertyRefused,
    catalog_only,
    checked,
)


@pytest.mark.parametrize(("given", "written"), [
    (("delta.appendOnly", "TRUE"), ("delta.appendOnly", "true")),
    (("DELTA.APPENDONLY", "false"), ("delta.appendOnly", "false")),
    (("delta.logRetentionDuration", "30 days"), ("delta.logRetentionDuration", "interval 30 days")),
    (("delta.logRetentionDuration", "INTERVAL  7 DAYS 12 hours"), ("delta.logRetentionDuration",
                                                                   "interval 7 days 12 hours")),
    (("delta.deletedFileRetentionDuration", "interval 1 week"), ("delta.deletedFileRetentionDuration",
                                                                 "interval 1 week")),
    (("delta.checkpointInterval", "10"), ("delta.checkpointInterval", "10")),
    (("delta.dataSkippingNumIndexedCols", "-1"), ("delta.dataSkippingNumIndexedCols", "-1")),
    (("delta.targetFileSize", "128MB"), ("delta.targetFileSize", "128mb")),
    (("delta.isolationLevel", "writeserializable"), ("delta.isolationLevel", "WriteSerializable")),
    (("Team", "Finance, PH"), ("Team", "Finance, PH")),  # the user's own: as given, case kept
    (("delta.dataSkippingStatsColumns", "a, b.c, `d e`"), ("delta.dataSkippingStatsColumns", "a, b.c, `d e`")),
])
def test_values_are_written_as_the_engine_reads_them(given, written):
    assert checked([given]) == dict([written])


def test_a_feature_left_off_is_checked_and_not_written():
    assert checked([("delta.enableChangeDataFeed", "false"), ("delta.columnMapping.mode", "None"),
                    ("delta.enableDeletionVectors", "FALSE")]) == {}


@pytest.mark.parametrize(("given", "error_class"), [
    (("delta.checkpointInterval", "0"), INVALID_VALUE), (("delta.checkpointInterval", "1_0"), INVALID_VALUE),
    (("delta.checkpointInterval", " 5 "), INVALID_VALUE), (("delta.appendOnly", "1"), INVALID_VALUE),
    (("delta.logRetentionDuration", "interval 1.5 hours"), INVALID_VALUE),
    (("delta.logRetentionDuration", "interval 1 month"), INVALID_VALUE),  # Delta refuses months for durations
    (("delta.logRetentionDuration", "interval days"), INVALID_VALUE),
    (("delta.dataSkippingNumIndexedCols", "-2"), INVALID_VALUE),
    (("delta.minWriterVersion", "1"), UNWRITABLE_FEATURE), (("delta.columnMapping.mode", "name"), UNWRITABLE_FEATURE),
    (("delta.enableChangeDataFeed", "true"), UNWRITABLE_FEATURE), (("delta.checkpointPolicy", "v2"), INVALID_VALUE),
    (("delta.appendonly.typo", "true"), UNKNOWN_CONFIGURATION),
    # the engine's writes failed on these ("no closing '`'"): a list of column names, each whole
    (("delta.dataSkippingStatsColumns", "`a"), INVALID_VALUE), (("delta.dataSkippingStatsColumns", "a,,b"), INVALID_VALUE),
    (("delta.enableDeletionVectors", " false "), UNWRITABLE_FEATURE),
])
def test_what_a_write_would_fail_on_is_refused_by_name(given, error_class):
    with pytest.raises(PropertyRefused) as err:
        checked([given])
    assert err.value.error_class == error_class and given[0] in err.value.message


def test_a_key_given_twice_is_refused_delta_keys_whatever_their_case():
    for pairs in ([("a", "1"), ("a", "2")], [("delta.appendOnly", "true"), ("Delta.AppendOnly", "true")]):
        with pytest.raises(PropertyRefused) as err:
            checked(pairs)
        assert err.value.error_class == DUPLICATE_KEY
    assert checked([("a", "1"), ("A", "2")]) == {"a": "1", "A": "2"}  # the user's keys are case-sensitive


def test_property_lists_are_read_as_sparks_grammar_reads_them():
    toks = sqltext.tokens("(delta.appendOnly = true, 'x' 'y' = 'a' 'b', n -1.5, `q`.r = 'v')")
    assert sqltext.property_list(toks, 0) == (
        (("delta.appendOnly", "true"), ("xy", "ab"), ("n", "-1.5"), ("q.r", "v")), len(toks))
    for bad in ("()", "(a = )", "(= 'b')", "('a' = 'b'", "('a' = 'b' 'c' 'd' e)", "('a' = x)"):
        with pytest.raises(sqltext.SqlSyntaxError, match="TBLPROPERTIES takes a list"):
            sqltext.property_list(sqltext.tokens(bad), 0)


def test_databricks_sqlalchemys_column_defaults_feature_is_kept_by_the_catalog_not_written():
    """Every table databricks-sqlalchemy creates says ``'delta.feature.allowColumnDefaults' = 'enabled'``: accepted
    (the catalog keeps it), not written to the log, its value still checked."""
    pairs = [("delta.feature.allowColumnDefaults", "enabled"), ("team", "fin")]
    assert checked(pairs) == {"team": "fin"}
    assert catalog_only(pairs) == {"delta.feature.allowColumnDefaults": "enabled"}
    with pytest.raises(PropertyRefused) as err:
        checked([("delta.feature.allowColumnDefaults", "on")])
    assert err.value.error_class == INVALID_VALUE
