"""Values as Spark's results write them as text: intervals in Hive style, DOUBLE and FLOAT as Java's ``toString``.

A Databricks SQL warehouse shows what Spark's own result formatting gives (``100 13:00:00.000000000`` for
``make_dt_interval(100, 13)``, ``1.0E10`` for a double, ``1.1`` for ``CAST(1.1 AS FLOAT)``), which Python's own
``str`` and ``repr`` do not (``100 days, 13:00:00``, ``10000000000.0``, ``1.100000023841858``)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import numpy
from pyspark.sql import types as T

NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # as Spark's to_json writes them: JSON has no NaN

_MICROS_PER_MINUTE, _MICROS_PER_SECOND = 60_000_000, 1_000_000
_MIN_DAY_TIME_TEXT = "-106751991 04:00:54.775808000"  # the one value whose negation overflows


def day_time_text(micros: int) -> str:
    """A day-time interval (microseconds) as Spark's results write it, Hive style: ``-1 02:03:04.500000000``."""
    if micros == -(2 ** 63):
        return _MIN_DAY_TIME_TEXT
    sign, rest = ("-", -micros) if micros < 0 else ("", micros)
    seconds_and_fraction = rest % _MICROS_PER_MINUTE
    rest //= _MICROS_PER_MINUTE
    minutes, rest = rest % 60, rest // 60
    hours, days = rest % 24, rest // 24
    seconds, micro = divmod(seconds_and_fraction, _MICROS_PER_SECOND)
    return f"{sign}{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{micro * 1000:09d}"


def year_month_text(months: int) -> str:
    """A year-month interval (months) as Spark's results write it, Hive style: ``-1-2``."""
    sign, rest = ("-", -months) if months < 0 else ("", months)
    return f"{sign}{rest // 12}-{rest % 12}"


def timedelta_micros(value: dt.timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * _MICROS_PER_SECOND + value.microseconds


def floats_as_written(value: Any, kind: T.DataType) -> Any:
    """A value with every FLOAT in it replaced by the double its shortest text reads as (2.2, not
    2.200000047683716), so that nested values print as Spark prints them."""
    if value is None:
        return None
    if isinstance(kind, T.FloatType):
        return float(java_number_text(value, single=True)) if math.isfinite(value) else value
    if isinstance(kind, T.ArrayType):
        return [floats_as_written(v, kind.elementType) for v in value]
    if isinstance(kind, T.MapType):
        return {floats_as_written(k, kind.keyType): floats_as_written(v, kind.valueType) for k, v in value.items()}
    if isinstance(kind, T.StructType):
        return T.Row(**{f.name: floats_as_written(value[f.name], f.dataType) for f in kind.fields})
    return value


def holds_float(kind: T.DataType) -> bool:
    return isinstance(kind, T.FloatType) or (isinstance(kind, T.ArrayType) and holds_float(kind.elementType)) or (
        isinstance(kind, T.MapType) and (holds_float(kind.keyType) or holds_float(kind.valueType))) or (
        isinstance(kind, T.StructType) and any(holds_float(f.dataType) for f in kind.fields))


def java_number_text(value: float, single: bool = False) -> str:
    """A DOUBLE (or, ``single``, a FLOAT) as Spark writes it in a result, which is Java's ``toString`` (JDK 19 and
    later): the fewest digits that read back as the value, but two where one digit is not the closest (the
    smallest subnormals: ``1.4E-45``, not ``1.0E-45``); plain from 10^-3 up to 10^7 (``1.1``, ``1234567.0``),
    otherwise in scientific notation (``1.0E10``, ``1.0E-4``); NaN and the infinities as Spark names them."""
    if not math.isfinite(value):
        return NON_FINITE[repr(value)]
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    shortest = str(numpy.float32(value)) if single else repr(value)  # both the shortest text that reads back
    if 1e-3 <= abs(value) < 1e7 and "e" not in shortest:  # most values: Python wrote them as Java does
        return shortest if "." in shortest else shortest + ".0"
    negative, digits, exponent = decimal.Decimal(shortest).as_tuple()
    figures = "".join(map(str, digits)).rstrip("0") or "0"
    if len(figures) == 1:  # Java takes the closest of one or two digits: the two-digit one, rounded correctly
        negative, digits, exponent = decimal.Decimal(f"{value:.1e}").as_tuple()
        figures = "".join(map(str, digits)).rstrip("0") or "0"
    exponent = int(exponent) + len(digits) - len(figures)
    sign = "-" if negative else ""
    if 1e-3 <= abs(value) < 1e7:
        point = len(figures) + exponent  # digits before the decimal point
        if point <= 0:
            return f"{sign}0.{'0' * -point}{figures}"
        whole, fraction = (figures + "0" * max(0, point - len(figures)))[:point], figures[point:]
        return f"{sign}{whole}.{fraction or '0'}"
    return f"{sign}{figures[0]}.{figures[1:] or '0'}E{len(figures) + exponent - 1}"
