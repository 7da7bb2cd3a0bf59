"""Who owns a Spark Connect session, over months: a session id belongs to the principal who first used it, and
sessions nobody used for FORGET_AFTER_LIMITS idle limits are forgotten and released in the engine, so a host that
runs for months does not keep (or interrupt at shutdown) every session a job ever opened."""

from __future__ import annotations

import pytest

from odoolake.workspace.engine.identity import CallRefused, Principal
from odoolake.workspace.engine.proxy import FORGET_AFTER_LIMITS, Sessions, SparkConnectProxy
from odoolake.workspace.identity.roles import DEVELOPER

ANA = Principal("ana@example.com", DEVELOPER, token="dapi-ana")
BEN = Principal("ben@example.com", DEVELOPER, token="dapi-ben")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_nobody_named_for_the_time_given_are_forgotten_and_busy_ones_kept():
    clock = Clock()
    sessions = Sessions(clock)
    for session_id in ("old", "busy", "recent"):
        sessions.claim(session_id, ANA)
    clock.now += 50
    sessions.claim("recent", ANA)
    with pytest.raises(CallRefused):
        sessions.claim("old", BEN)  # another principal naming it is refused, and is no use of it
    clock.now += 60

    assert sessions.forget_idle(100, busy={"busy"}) == {"old": ANA.name}
    assert set(sessions.all()) == {"busy", "recent"}
    assert sessions.of_token(ANA.token) == {"busy", "recent"}
    assert sessions.forget_idle(100, busy={"busy"}) == {}  # once

    clock.now += 100
    assert sessions.forget_idle(100, busy=set()) == {"busy": ANA.name, "recent": ANA.name}
    assert sessions.all() == {} and sessions.of_token(ANA.token) == set()
    sessions.claim("old", BEN)  # forgotten: the engine released it, so a new claim is a new, empty session


class Sail:
    def __init__(self) -> None:
        self.released: list[tuple[str, str]] = []

    def release_session(self, session_id: str, user_id: str) -> None:
        self.released.append((session_id, user_id))


def test_the_proxy_releases_in_the_engine_the_sessions_it_forgets():
    sail = Sail()
    proxy = SparkConnectProxy(sail, None)  # type: ignore[arg-type]
    clock = Clock()
    proxy.sessions = Sessions(clock)
    proxy.sessions.claim("a", ANA)
    proxy.sessions.claim("b", BEN)
    clock.now += FORGET_AFTER_LIMITS * 10 + 1
    proxy.sessions.claim("b", BEN)
    assert proxy.forget_idle_sessions(FORGET_AFTER_LIMITS * 10) == 1
    assert sail.released == [("a", ANA.name)]
    assert proxy.sessions.all() == {"b": BEN.name}
