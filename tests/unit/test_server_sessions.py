"""The server-side session ids the engine's proxy answers with: new for each start of the engine host."""

from __future__ import annotations

import pytest

from odoolake.workspace.engine.errors import SESSION_CHANGED
from odoolake.workspace.engine.identity import CallRefused
from odoolake.workspace.engine.protos import base_pb2
from odoolake.workspace.engine.proxy import ServerSessions

SESSION = "5e0b085c-2ab0-43d3-bc57-1b921c4b5290"


def test_a_request_naming_another_hosts_server_session_is_refused_by_name():
    before, after = ServerSessions(), ServerSessions()  # two starts of the engine host
    assert before.id_of(SESSION) != after.id_of(SESSION) != SESSION
    seen = base_pb2.ExecutePlanRequest(session_id=SESSION, client_observed_server_side_session_id=before.id_of(SESSION))
    before.check(seen)  # the same host: fine, and the id (the proxy's, not Sail's) is not passed on
    assert not seen.HasField("client_observed_server_side_session_id")
    seen.client_observed_server_side_session_id = before.id_of(SESSION)
    with pytest.raises(CallRefused) as refused:
        after.check(seen)
    assert refused.value.error_class == SESSION_CHANGED and refused.value.code == "FAILED_PRECONDITION"
    after.check(base_pb2.ExecutePlanRequest(session_id=SESSION))  # a client that has seen no id yet
    after.check(base_pb2.ReleaseSessionRequest(session_id=SESSION))  # no such field: spark.stop() always goes through


def test_every_answer_carries_the_hosts_server_session_id():
    host = ServerSessions()
    for name, response in (("ExecutePlan", base_pb2.ExecutePlanResponse), ("Config", base_pb2.ConfigResponse),
                           ("AnalyzePlan", base_pb2.AnalyzePlanResponse),
                           ("ArtifactStatus", base_pb2.ArtifactStatusesResponse),
                           ("ReleaseSession", base_pb2.ReleaseSessionResponse)):
        sails = response(session_id=SESSION, server_side_session_id=SESSION).SerializeToString()
        answered = response.FromString(sails + host.suffix(name, SESSION))
        assert answered.server_side_session_id == host.id_of(SESSION) and answered.session_id == SESSION, name
