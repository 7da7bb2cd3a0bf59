"""Table properties checked as Delta checks them, before anything is written.

A Delta table's properties live in its log (``metaData.configuration``), where every later writer reads them: a
value the engine cannot parse (``delta.checkpointInterval = ' 5 '``, ``delta.logRetentionDuration = '30 days'``,
``delta.appendOnly = 'TRUE'``) is accepted by delta-rs and then fails every write of the table in Sail, and some
(a reader version of 3, deletion vectors) make delta-rs panic. So a property reaches the log only when it is one
Delta knows, with a value in the form the engine reads back; a ``delta.`` key Delta does not know is refused as
Databricks refuses it, and a table feature the local engine cannot write is refused by name rather than kept as a
promise the table does not keep. Properties without the ``delta.`` prefix are the user's and are kept as given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from odoolake.errors import EngineError

UNKNOWN_CONFIGURATION = "DELTA_UNKNOWN_CONFIGURATION"
INVALID_VALUE = "INVALID_TABLE_PROPERTY_VALUE"  # ours: Delta raises IllegalArgumentException with no class
UNWRITABLE_FEATURE = "UNSUPPORTED_FEATURE"
RESERVED_PROPERTY = "UNSUPPORTED_FEATURE.SET_TABLE_PROPERTY"
DUPLICATE_KEY = "DUPLICATE_KEY"
# Kept by the catalog about every table, set by their own clauses (Spark's reserved table properties)
RESERVED = {"comment": "COMMENT", "location": "LOCATION", "provider": "USING", "owner": "ALTER TABLE … OWNER TO",
            "external": "CREATE EXTERNAL TABLE", "is_managed_location": "LOCATION"}


class PropertyRefused(EngineError):
    """A table property the table cannot take; ``error_class`` and ``sql_state`` as Databricks reports it."""

    def __init__(self, error_class: str, sql_state: str, message: str) -> None:
        super().__init__(f"[{error_class}] {message}")
        self.error_class = error_class
        self.sql_state = sql_state
        self.message = message


_BOOLEAN = re.compile(r"(?i)true|false")
_POSITIVE = re.compile(r"[1-9][0-9]{0,8}")
_COUNT = re.compile(r"-1|[0-9]{1,9}")
_SIZE = re.compile(r"(?i)[0-9]{1,15}(?:b|kb|mb|gb)?")
_COLUMN = r"\s*(?:`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_]*)(?:\.(?:`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_]*))*\s*"
_COLUMN_LIST = re.compile(rf"{_COLUMN}(?:,{_COLUMN}){{0,999}}")
_UNITS = r"(?:week|day|hour|minute|second|millisecond|microsecond)s?"
_INTERVAL = re.compile(rf"(?i)(?:interval\s+)?([0-9]{{1,9}}\s+{_UNITS}(?:\s+[0-9]{{1,9}}\s+{_UNITS})*)")


@dataclass(frozen=True)
class Rule:
    """How one known property's value is read: ``form`` matches it whole, ``says`` names the form in a refusal and
    ``normal`` writes it as the engine reads it back."""

    form: re.Pattern[str]
    says: str
    normal: Callable[[str], str] = str


_BOOLEAN_RULE = Rule(_BOOLEAN, "true or false", str.lower)
_INTERVAL_RULE = Rule(_INTERVAL, "an interval of whole units, such as 'interval 30 days' or '7 days'",
                      lambda value: "interval " + " ".join(_INTERVAL.fullmatch(value).group(1).lower().split()))  # type: ignore[union-attr]


def _one_of(*values: str) -> Rule:
    return Rule(re.compile("(?i)" + "|".join(re.escape(v) for v in values)), "one of " + ", ".join(values),
                lambda value: next(v for v in values if v.lower() == value.lower()))


# The properties the local engine writes to the log and reads back correctly (each measured with a write and an
# UPDATE through the engine after it was set), by Delta's spelling.
WRITTEN: dict[str, Rule] = {
    "delta.appendOnly": _BOOLEAN_RULE,
    "delta.checkpointInterval": Rule(_POSITIVE, "a whole number of commits above 0"),
    "delta.logRetentionDuration": _INTERVAL_RULE,
    "delta.deletedFileRetentionDuration": _INTERVAL_RULE,
    "delta.setTransactionRetentionDuration": _INTERVAL_RULE,
    "delta.enableExpiredLogCleanup": _BOOLEAN_RULE,
    "delta.checkpoint.writeStatsAsJson": _BOOLEAN_RULE,
    "delta.checkpoint.writeStatsAsStruct": _BOOLEAN_RULE,
    "delta.dataSkippingNumIndexedCols": Rule(_COUNT, "a whole number of columns, or -1 for all"),
    "delta.dataSkippingStatsColumns": Rule(_COLUMN_LIST, "a list of column names, such as 'a, b.c, `d e`'"),
    "delta.targetFileSize": Rule(_SIZE, "a size in bytes, such as 134217728 or 128mb", str.lower),
    "delta.tuneFileSizesForRewrites": _BOOLEAN_RULE,
    "delta.randomizeFilePrefixes": _BOOLEAN_RULE,
    "delta.isolationLevel": _one_of("Serializable", "WriteSerializable"),
    "delta.parquet.compression.codec": _one_of("uncompressed", "snappy", "gzip", "lz4", "zstd"),
    "delta.autoOptimize.optimizeWrite": _BOOLEAN_RULE,  # Databricks' write tuning: kept, no effect locally
    "delta.autoOptimize.autoCompact": _one_of("auto", "legacy", "true", "false"),
    "delta.checkpointPolicy": _one_of("classic"),
}
# Properties that turn on a table feature (or set the protocol) the local engine cannot write, and the value that
# leaves it off: that value is accepted and not written (written, some make every later write fail).
FEATURES: dict[str, str | None] = {
    "delta.enableChangeDataFeed": "false",
    "delta.enableDeletionVectors": "false",
    "delta.enableRowTracking": "false",
    "delta.enableTypeWidening": "false",
    "delta.columnMapping.mode": "none",
    "delta.enableIcebergCompatV1": "false",
    "delta.enableIcebergCompatV2": "false",
    "delta.universalFormat.enabledFormats": "",
    "delta.enableInCommitTimestamps": "false",
    "delta.enableVariantShredding": "false",
    "delta.minReaderVersion": None,  # the protocol follows the features a table uses
    "delta.minWriterVersion": None,
}
_FEATURE_PREFIX = "delta.feature."
# Accepted and kept by the catalog, not written to the log: a feature that changes nothing the local engine writes
# (every table databricks-sqlalchemy creates names allowColumnDefaults; a DEFAULT clause itself is refused)
CATALOG_ONLY: dict[str, Rule] = {
    "delta.feature.allowColumnDefaults": _one_of("enabled", "supported"),
}
_CANONICAL = {key.lower(): key for key in (*WRITTEN, *FEATURES, *CATALOG_ONLY)}


def canonical(key: str) -> str:
    """A property's key as Delta spells it (Delta's own keys are matched without regard to case)."""
    return _CANONICAL.get(key.lower(), key)


def _check_value(key: str, value: str, rule: Rule) -> str:
    if not rule.form.fullmatch(value):
        raise PropertyRefused(INVALID_VALUE, "42616", f"{key} = '{value}' is invalid: the value must be {rule.says}.")
    return rule.normal(value)


def catalog_only(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> dict[str, str]:
    """Of ``pairs`` (already :func:`checked`), those the catalog keeps and the log does not (``CATALOG_ONLY``)."""
    return {canonical(key): CATALOG_ONLY[canonical(key)].normal(value) for key, value in pairs
            if canonical(key) in CATALOG_ONLY}


def checked(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> dict[str, str]:
    """The properties to write to a table's log for ``pairs`` as written, each value in the form the engine reads
    back; a feature left off and a ``CATALOG_ONLY`` key are checked and not written. Raises
    :class:`PropertyRefused` naming the first key a Delta table cannot take."""
    written: dict[str, str] = {}
    seen: set[str] = set()
    for given, value in pairs:
        key = canonical(given)
        if key in seen:
            raise PropertyRefused(DUPLICATE_KEY, "23505", f"Found duplicate keys '{given}': give each table "
                                                          "property once.")
        seen.add(key)
        if key.lower() in RESERVED:
            raise PropertyRefused(RESERVED_PROPERTY, "0A000",
                                  f"'{given}' is a reserved table property: set it with {RESERVED[key.lower()]}.")
        if not key.lower().startswith("delta."):
            written[key] = value
            continue
        if key in CATALOG_ONLY:
            _check_value(key, value, CATALOG_ONLY[key])
            continue
        rule = WRITTEN.get(key)
        if rule is not None:
            written[key] = _check_value(key, value, rule)
            continue
        if key in FEATURES or key.lower().startswith(_FEATURE_PREFIX):
            off = FEATURES.get(key)
            if off is not None and value.lower() == off:
                continue
            raise PropertyRefused(UNWRITABLE_FEATURE, "0A000",
                                  f"{key} = '{value}' needs a Delta table feature (or protocol version) the local "
                                  "engine cannot write; leave it out locally and set it where the table runs on "
                                  "Databricks (a bundle target's own properties).")
        raise PropertyRefused(UNKNOWN_CONFIGURATION, "F0000",
                              f"Unknown configuration was specified: {given}. Delta's table properties are listed at "
                              "https://docs.delta.io/latest/table-properties.html.")
    return written


def check_unset(keys: list[str]) -> None:
    """Refuse to unset what its own statement manages: a reserved key, a table feature or the column mapping (Delta
    would have to rewrite the data), a CHECK constraint (``ALTER TABLE … DROP CONSTRAINT``)."""
    for key in keys:
        if key.lower() in RESERVED:
            raise PropertyRefused(RESERVED_PROPERTY, "0A000",
                                  f"'{key}' is a reserved table property: set it with {RESERVED[key.lower()]}.")
        if key in FEATURES or key in CATALOG_ONLY or key.lower().startswith((_FEATURE_PREFIX, "delta.constraints.")):
            raise PropertyRefused(UNWRITABLE_FEATURE, "0A000",
                                  f"{key} cannot be unset locally: a table feature, the column mapping or a constraint "
                                  "changes with its own statement (ALTER TABLE … DROP CONSTRAINT for a constraint).")
