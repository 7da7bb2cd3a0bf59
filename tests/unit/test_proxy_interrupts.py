"""A client's interrupt stops an operation the proxy has taken in but Sail does not know yet.

The fake Sail forgets an interrupt that finds nothing, as Sail (and Spark) do. Spark's server knows an operation from
the moment it arrives; behind the proxy, an operation can still be in the proxy's rules or on its way to Sail when the
client's interrupt reaches Sail first. These tests fail if the proxy only passes the interrupt on.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import grpc
import pytest

from odoolake.testing.waiting import wait_until
from odoolake.workspace.engine import interrupts
from odoolake.workspace.engine.identity import Principal
from odoolake.workspace.engine.protos import base_pb2
from odoolake.workspace.engine.proxy import STOPPED_MESSAGE, SparkConnectProxy
from odoolake.workspace.engine.rewrite import Prepared
from odoolake.workspace.identity.roles import DEVELOPER

SESSION = "0b1c6a39-5e52-4c55-9a38-4b6f1f4f6a10"
OPERATION = "5f0e5a8e-59d4-4d6b-a1b4-0b8d7e3c2a11"
QUERY_SECONDS = 60.0  # how long the fake query runs when nothing stops it: far longer than the tests wait
TAG = base_pb2.InterruptRequest.InterruptType.INTERRUPT_TYPE_TAG


class Context:
    """What the proxy uses of a gRPC call's context."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", "Bearer dapi-test")]

    def add_callback(self, callback: Any) -> bool:
        return True

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def abort_with_status(self, status: Any) -> None:
        self.code, self.details = status.code, status.details
        raise Aborted(status.details)


class Aborted(Exception):
    """What grpc's abort_with_status raises to end the call."""


class Auth:
    def principal(self, metadata: dict[str, str]) -> Principal:
        return Principal("dev@localhost", DEVELOPER, "dapi-test")


class SlowRules:
    """The proxy's rules, taking as long as the test says."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def prepare_execute(self, request: Any, call: Any) -> Prepared:
        self.entered.set()
        assert self.release.wait(30), "the test never let the rules finish"
        return Prepared()


class ForgetfulSail:
    """Sail as the proxy calls it: an operation is known once it has arrived; an interrupt finding none is forgotten;
    one finding it closes its stream (without an error) and answers once the stream has ended, as Sail does."""

    def __init__(self, query_seconds: float = QUERY_SECONDS) -> None:
        self.query_seconds = query_seconds
        self.executing = threading.Event()  # the request has left the proxy
        self.arrive = threading.Event()  # the test lets it arrive in Sail
        self.running: dict[str, tuple[frozenset[str], threading.Event, threading.Event]] = {}
        self.lock = threading.Lock()
        self.while_interrupting: Any = None  # what the test does between the streams' end and Sail's answer
        self.unary_stream = {"ExecutePlan": self.execute}
        self.unary_unary = {"Interrupt": self.interrupt}

    def execute(self, request: base_pb2.ExecutePlanRequest) -> Any:
        def answer() -> Any:
            self.executing.set()
            assert self.arrive.wait(30), "the test never let the request arrive"
            stop, closed = threading.Event(), threading.Event()
            with self.lock:
                self.running[request.operation_id] = (frozenset(request.tags), stop, closed)
            try:
                if not stop.wait(self.query_seconds):
                    yield base_pb2.ExecutePlanResponse(session_id=SESSION, operation_id=request.operation_id
                                                       ).SerializeToString()
            finally:  # interrupted: the stream ends without an error
                closed.set()

        return answer()

    def interrupt(self, request: base_pb2.InterruptRequest) -> bytes:
        with self.lock:
            hits = [op for op, (tags, stop, _) in self.running.items() if not stop.is_set() and (
                request.operation_tag in tags if request.interrupt_type == TAG else op == request.operation_id)]
            for op in hits:
                self.running[op][1].set()
        for op in hits:
            assert self.running[op][2].wait(30)
        if self.while_interrupting is not None:
            self.while_interrupting()
        return base_pb2.InterruptResponse(session_id=SESSION, interrupted_ids=hits).SerializeToString()

    def interrupt_operation(self, session_id: str, user_id: str, operation_id: str) -> None:
        self.interrupt(base_pb2.InterruptRequest(
            session_id=session_id, operation_id=operation_id,
            interrupt_type=base_pb2.InterruptRequest.InterruptType.INTERRUPT_TYPE_OPERATION_ID))


class Call:
    """One ExecutePlan through the proxy, read to its end on a thread of its own."""

    def __init__(self, proxy: SparkConnectProxy, operation_id: str = OPERATION) -> None:
        request = base_pb2.ExecutePlanRequest(session_id=SESSION, operation_id=operation_id, tags=["statement-7"])
        request.plan.root.range.end = 10
        self.context = Context()
        self.answers: list[bytes] = []
        def read() -> None:
            with contextlib.suppress(Aborted):
                for answer in proxy.execute_plan(request.SerializeToString(), self.context, Auth()):
                    self.answers.append(answer)

        self.thread = threading.Thread(target=read, daemon=True)
        self.thread.start()

    def ended(self) -> bool:
        return not self.thread.is_alive()


def interrupt_tag(proxy: SparkConnectProxy, tag: str) -> list[str]:
    request = base_pb2.InterruptRequest(session_id=SESSION, interrupt_type=TAG, operation_tag=tag)
    return list(base_pb2.InterruptResponse.FromString(proxy.unary("Interrupt", request, Context(), Auth())
                                                      ).interrupted_ids)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupts, "RETRY_SECONDS", 0.05)


def test_an_interrupt_while_the_rules_run_keeps_the_operation_from_reaching_sail():
    sail, rules = ForgetfulSail(), SlowRules()
    proxy = SparkConnectProxy(sail, rules)  # type: ignore[arg-type]
    call = Call(proxy)
    assert rules.entered.wait(30)
    assert interrupt_tag(proxy, "statement-7") == [OPERATION]  # Sail found nothing; the proxy stopped it
    rules.release.set()
    wait_until(call.ended, what="the interrupted call to end", timeout=QUERY_SECONDS / 3)
    assert not sail.executing.is_set()  # never sent to Sail
    assert (call.context.code, call.context.details) == (grpc.StatusCode.CANCELLED, STOPPED_MESSAGE)


def test_an_interrupt_that_overtakes_the_operation_on_its_way_to_sail_still_stops_it():
    sail, rules = ForgetfulSail(), SlowRules()
    rules.release.set()
    proxy = SparkConnectProxy(sail, rules)  # type: ignore[arg-type]
    call = Call(proxy)
    assert sail.executing.wait(30)
    assert interrupt_tag(proxy, "statement-7") == [OPERATION]
    sail.arrive.set()  # the query arrives after the interrupt: the proxy interrupts it again, by its id
    wait_until(call.ended, what="the interrupted call to end", timeout=QUERY_SECONDS / 3)
    assert (call.context.code, call.context.details) == (grpc.StatusCode.CANCELLED, STOPPED_MESSAGE)
    assert call.answers == []


def test_an_interrupt_naming_another_tag_leaves_the_operation_alone():
    sail, rules = ForgetfulSail(query_seconds=0.3), SlowRules()
    rules.release.set()
    proxy = SparkConnectProxy(sail, rules)  # type: ignore[arg-type]
    call = Call(proxy)
    assert sail.executing.wait(30)
    assert interrupt_tag(proxy, "statement-8") == []
    sail.arrive.set()
    wait_until(call.ended, what="the call to end")
    assert call.context.code is None and len(call.answers) == 1


def test_a_query_sail_stops_ends_cancelled_though_sail_closes_its_stream_before_it_answers():
    """Sail ends an interrupted stream without an error and answers the interrupt afterwards: the proxy must know the
    stream ended by an interrupt before Sail says so, or the client gets a short result as a success."""
    sail, rules = ForgetfulSail(), SlowRules()
    rules.release.set()
    sail.arrive.set()
    proxy = SparkConnectProxy(sail, rules)  # type: ignore[arg-type]
    call = Call(proxy)
    wait_until(lambda: OPERATION in sail.running, what="the query to run in Sail")
    assert interrupt_tag(proxy, "statement-7") == [OPERATION]
    wait_until(call.ended, what="the interrupted call to end")
    assert (call.context.code, call.context.details) == (grpc.StatusCode.CANCELLED, STOPPED_MESSAGE)


def test_an_operation_arriving_while_sail_handles_an_interrupt_is_not_stopped_by_it():
    sail, rules = ForgetfulSail(query_seconds=0.3), SlowRules()
    rules.release.set()
    sail.arrive.set()
    proxy = SparkConnectProxy(sail, rules)  # type: ignore[arg-type]
    later: list[Call] = []

    def another_query_arrives() -> None:  # the same tag, sent after the interrupt
        later.append(Call(proxy, operation_id="op-2"))
        wait_until(lambda: "op-2" in sail.running, what="the later query to run in Sail")

    sail.while_interrupting = another_query_arrives
    first = Call(proxy)
    wait_until(lambda: OPERATION in sail.running, what="the first query to run in Sail")
    assert interrupt_tag(proxy, "statement-7") == [OPERATION]
    wait_until(later[0].ended, what="the later query to end")
    assert later[0].context.code is None and len(later[0].answers) == 1  # ran to its end, a success
    wait_until(first.ended, what="the interrupted call to end")
    assert first.context.code == grpc.StatusCode.CANCELLED
