"""Where a front-door call's time goes: one Spark Connect call, the same for every path, over each of the engine's ways in.

    .venv/bin/python bench/front_door_hops.py [--calls 400] [--rounds 3] [--out FILE]

Starts a workspace (the real front door, in this process) and sends the same unary ``Config`` call (a settings
read that Sail answers; no query planning) over:

- ``owner_plain``: the owner's Unix socket — the proxy and its rules, no TLS, no token;
- ``front_tls_metadata``: the engine's front socket with TLS and the token sent as plain call metadata;
- ``front_tls_call_credentials``: the same, the token sent by gRPC call credentials, as PySpark and Databricks
  Connect send it;
- ``rest_port``: the workspace's own port (the front door's splice, then TLS and call credentials): what a client
  of ``sc://host:port/;use_ssl=true;token=…`` gets.

The paths run interleaved call by call, ``--rounds`` times; the report is the median over rounds of each path's
p50, with this process's CPU time per call beside it: the client's side (gRPC, TLS, call credentials), and for
``rest_port`` also the front door's splice, which runs in this process (the proxy runs in the engine host's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import grpc

from odoolake.testing.workspace import in_process_workspace
from odoolake.workspace.engine.host import engine_socket, front_socket
from odoolake.workspace.engine.protos import base_pb2

CONFIG = "/spark.connect.SparkConnectService/Config"
LOCAL_NAME = [("grpc.ssl_target_name_override", "localhost"), ("grpc.default_authority", "localhost")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                        f"front-door-hops-{date.today().isoformat()}.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, in_process_workspace(Path(tmp), "bench") as running:
        ws, port, token = running.workspace, running.port, running.token
        ws.engine.stop_session(ws.engine.session())  # the engine host is up
        tls = grpc.ssl_channel_credentials(root_certificates=Path(ws.tls.ca_bundle).read_bytes())
        with_token = grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(token))
        front = f"unix:{front_socket(ws.paths.home)}"
        channels = {
            "owner_plain": (grpc.insecure_channel(f"unix:{engine_socket(ws.paths.home)}"), None),
            "front_tls_metadata": (grpc.secure_channel(front, tls, options=LOCAL_NAME),
                                   [("authorization", f"Bearer {token}")]),
            "front_tls_call_credentials": (grpc.secure_channel(front, with_token, options=LOCAL_NAME), None),
            "rest_port": (grpc.secure_channel(f"localhost:{port}", with_token), None),
        }
        sessions = {name: str(uuid.uuid4()) for name in channels}
        calls = {name: channel.unary_unary(CONFIG, request_serializer=base_pb2.ConfigRequest.SerializeToString,
                                           response_deserializer=base_pb2.ConfigResponse.FromString)
                 for name, (channel, _) in channels.items()}
        get = base_pb2.ConfigRequest.Operation(get_option=base_pb2.ConfigRequest.GetOption(
            keys=["spark.sql.session.timeZone"]))

        def call(name: str) -> tuple[float, float]:
            request = base_pb2.ConfigRequest(session_id=sessions[name], operation=get,
                                             user_context=base_pb2.UserContext(user_id="bench"))
            wall, cpu = time.perf_counter(), time.process_time()
            calls[name](request, metadata=channels[name][1], timeout=30)
            return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000

        for name in calls:  # connect, handshake and warm each path
            for _ in range(20):
                call(name)
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
        for r in range(args.rounds):
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
            for _ in range(args.calls):
                for name in calls:
                    samples[name].append(call(name))
            for name, values in samples.items():
                rounds[name].append((statistics.median(v[0] for v in values), statistics.mean(v[1] for v in values)))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{name} {rounds[name][-1][0]:.3f} ms" for name in calls), flush=True)
        report = {"date": date.today().isoformat(), "calls_per_round": args.calls, "rounds": args.rounds,
                  "paths": {name: {"p50_ms": round(statistics.median(v[0] for v in values), 3),
                                   "this_process_cpu_ms_per_call": round(statistics.median(v[1] for v in values), 3)}
                            for name, values in rounds.items()}}
        base = report["paths"]["owner_plain"]["p50_ms"]
        for values in report["paths"].values():
            values["added_over_owner_plain_ms"] = round(values["p50_ms"] - base, 3)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        for channel, _ in channels.values():
            channel.close()


if __name__ == "__main__":
    main()
