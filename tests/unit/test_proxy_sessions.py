"""Who owns a Spark Connect session, over months. A session id belongs to the principal who first used it, and the
ownership is dropped only once Sail no longer runs the session (Sail finds a session by its id alone: an id whose
owner was forgotten while Sail held its state would hand that state to the next claimant). Sessions nobody used for
FORGET_AFTER_LIMITS idle limits are released and then forgotten, so a host running for months does not keep (or
interrupt at shutdown) every session a job ever opened."""

from __future__ import annotations

import pytest

from odoolake.workspace.engine.identity import CallRefused, Principal
from odoolake.workspace.engine.proxy import Sessions, SparkConnectProxy
from odoolake.workspace.identity.roles import DEVELOPER

ANA = Principal("ana@example.com", DEVELOPER, token="dapi-ana")
BEN = Principal("ben@example.com", DEVELOPER, token="dapi-ben")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sail:
    """Release answers: True (released, or closed before), False (Sail did not answer)."""

    def __init__(self, answers: bool = True) -> None:
        self.answers = answers
        self.released: list[tuple[str, str]] = []

    def release_session(self, session_id: str, user_id: str) -> bool:
        self.released.append((session_id, user_id))
        return self.answers


class Rewriter:
    """The sessions the proxy tells the rewriter are gone (it forgets their time zones)."""

    def __init__(self) -> None:
        self.ended: list[set[str]] = []

    def sessions_ended(self, session_ids: set[str]) -> None:
        self.ended.append(set(session_ids))


def proxy_with(sail: Sail, clock: Clock) -> SparkConnectProxy:
    proxy = SparkConnectProxy(sail, Rewriter())  # type: ignore[arg-type]
    proxy.sessions = Sessions(clock)
    return proxy


def test_a_refused_claim_never_makes_the_session_the_callers():
    sessions = Sessions(Clock())
    sessions.claim("ana-1", ANA)
    with pytest.raises(CallRefused, match="belongs to another principal"):
        sessions.claim("ana-1", BEN)
    assert sessions.of_token(BEN.token) == set()  # so spending Ben's token never touches Ana's session
    assert sessions.forget_token(BEN.token) == {}


def test_idle_sessions_are_released_then_forgotten_and_busy_or_recent_ones_kept():
    clock, sail = Clock(), Sail()
    proxy = proxy_with(sail, clock)
    for session_id in ("old", "busy", "recent"):
        proxy.sessions.claim(session_id, ANA)
    clock.now += 50
    proxy.sessions.claim("recent", ANA)
    clock.now += 60
    proxy.sessions.touch({"busy"})  # the keep-alive round: an operation of it still runs
    assert proxy.forget_idle_sessions(100) == 1
    assert sail.released == [("old", ANA.name)]
    assert set(proxy.sessions.all()) == {"busy", "recent"} and proxy.sessions.of_token(ANA.token) == {"busy", "recent"}
    assert proxy.forget_idle_sessions(100) == 0  # once

    clock.now += 101
    assert proxy.forget_idle_sessions(100) == 2
    assert proxy.sessions.all() == {} and proxy.sessions.of_token(ANA.token) == set()
    assert proxy.rewriter.ended == [{"old"}, set(), {"busy", "recent"}]  # each told once, when forgotten


def test_a_session_sail_did_not_release_keeps_its_owner_until_it_does():
    clock, sail = Clock(), Sail(answers=False)
    proxy = proxy_with(sail, clock)
    proxy.sessions.claim("ana-1", ANA)
    clock.now += 200
    assert proxy.forget_idle_sessions(100) == 0
    with pytest.raises(CallRefused):  # still Ana's: Sail may still hold its temp views
        proxy.sessions.claim("ana-1", BEN)
    sail.answers = True
    assert proxy.forget_idle_sessions(100) == 1 and sail.released == [("ana-1", ANA.name)] * 2


def test_a_session_used_while_it_was_being_released_is_not_forgotten():
    clock = Clock()

    class Racing(Sail):
        def release_session(self, session_id: str, user_id: str) -> bool:
            proxy.sessions.claim(session_id, ANA)  # Ana's request arrives meanwhile
            return True

    proxy = proxy_with(Racing(), clock)
    proxy.sessions.claim("ana-1", ANA)
    clock.now += 200
    assert proxy.forget_idle_sessions(100) == 0  # released in Sail (it had closed it anyway), but not forgotten:
    assert proxy.sessions.all() == {"ana-1": ANA.name}  # still Ana's, whose next call Sail answers SESSION_CLOSED


def test_forgetting_sessions_leaves_no_token_behind_and_keeps_the_tokens_other_sessions():
    """A token's list holds only sessions still owned; a token with none left is dropped (a host running for
    months sees a new token per job run). A session claimed with two tokens (a rotated token) leaves both lists."""
    clock, sail = Clock(), Sail()
    proxy = proxy_with(sail, clock)
    rotated = Principal(ANA.name, DEVELOPER, token="dapi-ana-2")
    proxy.sessions.claim("shared", ANA)
    proxy.sessions.claim("shared", rotated)
    proxy.sessions.claim("kept", ANA)
    proxy.sessions.claim("bens", BEN)
    assert proxy.sessions.forget_released({"shared", "bens"}) == {"shared", "bens"}
    assert proxy.sessions.of_token(ANA.token) == {"kept"} and proxy.sessions.of_token(rotated.token) == set()
    assert set(proxy.sessions._tokens) == {ANA.token} and set(proxy.sessions._token_of) == {"kept"}
    assert proxy.sessions.forget_token(ANA.token) == {"kept": ANA.name}
    assert proxy.sessions.forget_released({"kept"}) == {"kept"}
    assert proxy.sessions._tokens == {} and proxy.sessions._token_of == {} and proxy.sessions.all() == {}
