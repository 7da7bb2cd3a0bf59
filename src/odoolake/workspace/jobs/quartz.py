"""Quartz cron, as Databricks schedules use it, on top of croniter.

Quartz fields are ``sec min hour day-of-month month day-of-week [year]``; exactly one of the day fields is
``?``; day-of-week counts 1 = Sunday … 7 = Saturday (croniter counts 0 = Sunday), ``6L`` is the last Friday and
``2#1`` the first Monday (croniter spells them ``L5`` and ``1#1``); ``L`` and ``15W`` in day-of-month mean the
same in both. ``LW`` and ``L-n`` are refused with a clear message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from odoolake.errors import OdoolakeError

_DOW_NUMBER = re.compile(r"^([1-7])$")


class QuartzError(OdoolakeError):
    def __init__(self, expression: str, problem: str) -> None:
        self.expression = expression
        super().__init__(f"Invalid Quartz cron expression {expression!r}: {problem}")


def _dow_token(token: str, expression: str) -> str:
    token = token.upper()
    if token == "L":
        return "6"  # Quartz: L alone in day-of-week is Saturday
    m = re.fullmatch(r"([1-7])L", token)
    if m:
        return f"L{int(m.group(1)) - 1}"
    m = re.fullmatch(r"([1-7])#([1-5])", token)
    if m:
        return f"{int(m.group(1)) - 1}#{m.group(2)}"
    m = re.fullmatch(r"([1-7])-([1-7])(/\d+)?", token)
    if m:
        return f"{int(m.group(1)) - 1}-{int(m.group(2)) - 1}{m.group(3) or ''}"
    m = re.fullmatch(r"([1-7])/(\d+)", token)
    if m:
        return f"{int(m.group(1)) - 1}/{m.group(2)}"
    if _DOW_NUMBER.match(token):
        return str(int(token) - 1)
    if re.fullmatch(r"\*(/\d+)?|(SUN|MON|TUE|WED|THU|FRI|SAT)(-(SUN|MON|TUE|WED|THU|FRI|SAT))?", token):
        return token
    raise QuartzError(expression, f"day-of-week value {token!r} is not valid (1-7, SUN-SAT, nL, n#k)")


def to_croniter(expression: str) -> str:
    """The croniter expression (seconds first) equivalent to a Quartz expression."""
    fields = expression.split()
    if len(fields) not in (6, 7):
        raise QuartzError(expression, f"expected 6 or 7 fields (sec min hour day month weekday [year]), got {len(fields)}")
    sec, minute, hour, dom, month, dow = fields[:6]
    year = fields[6] if len(fields) == 7 else None
    if (dom == "?") == (dow == "?"):
        raise QuartzError(expression, "exactly one of day-of-month and day-of-week must be '?'")
    if dom.upper() == "LW" or re.fullmatch(r"L-\d+", dom.upper() or ""):
        raise QuartzError(expression, f"day-of-month {dom!r} is not supported locally (use L or nW)")
    dom = "*" if dom == "?" else dom.upper()
    dow = "*" if dow == "?" else ",".join(_dow_token(t, expression) for t in dow.split(","))
    parts = [sec, minute, hour, dom, month.upper(), dow] + ([year] if year else [])
    translated = " ".join(parts)
    if not croniter.is_valid(translated, second_at_beginning=True):
        raise QuartzError(expression, "a field is out of range")
    return translated


def zone(timezone_id: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone_id)
    except (ZoneInfoNotFoundError, ValueError):
        raise OdoolakeError(f"Unknown timezone_id {timezone_id!r}; use an IANA/Java id such as Asia/Manila or UTC.") \
            from None


def fire_times(expression: str, timezone_id: str, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after ``after`` (timezone-aware), in the schedule's time zone.

    Ends when the expression has no later fire time (a year field in the past, 30 February); never raises
    croniter's own errors, so a caller handles one error type. A wall-clock time the end of daylight saving time
    repeats fires once, at its first occurrence, as Quartz steps through wall-clock fields: a daily 01:30 job runs
    once that night, and an every-30-minutes schedule skips the repeated hour (Databricks documents that gap).
    """
    tz = zone(timezone_id)
    try:
        it = croniter(to_croniter(expression), after.astimezone(tz), second_at_beginning=True)
    except CroniterError as exc:
        raise QuartzError(expression, str(exc)) from None
    while True:
        try:
            fire = it.get_next(datetime)
        except CroniterError:
            return
        if not _repeated_wall_time(fire, tz):
            yield fire


def _repeated_wall_time(moment: datetime, tz: ZoneInfo) -> bool:
    """Whether ``moment`` is the second occurrence of its wall-clock time (the hour daylight saving time's end
    repeats)."""
    wall = moment.astimezone(tz).replace(tzinfo=None)
    first, second = wall.replace(tzinfo=tz, fold=0).utcoffset(), wall.replace(tzinfo=tz, fold=1).utcoffset()
    return first != second and moment.utcoffset() == second


def next_fire(expression: str, timezone_id: str, after: datetime) -> datetime:
    """The first fire time after ``after``; QuartzError when the expression never fires again."""
    for fire in fire_times(expression, timezone_id, after):
        return fire
    raise QuartzError(expression, f"it never fires after {after:%Y-%m-%d %H:%M} {timezone_id} (a day that does not "
                      "exist in that month, such as 30 February, or a year already past)")
