"""What gzip cost between the proxy and Sail: the proxy's channel as it was (accepting gzip, grpc-python's default)
and as it is (``UNCOMPRESSED_ANSWERS``), against one Sail, interleaved round by round.

    .venv/bin/python bench/upstream_compression.py [--rounds 5] [--small 200] [--big 5] [--big-rows 300000]

Both channels are the proxy's own options otherwise (``CHANNEL_OPTIONS``, ``SINGLE_THREADED_STREAMS``) and read raw
answers as the proxy does. Sail runs in this process, as in the engine host, so the CPU time counts Sail's
compression and grpc's decompression alike. Prints the median per call over the rounds, wall and CPU, and checks
that both channels received the same Arrow batches.
"""

from __future__ import annotations

import argparse
import statistics
import time

import grpc

from odoolake.workspace.engine.protos import base_pb2, relations_pb2
from odoolake.workspace.engine.upstream import (
    CHANNEL_OPTIONS,
    SERVICE,
    SINGLE_THREADED_STREAMS,
    UNCOMPRESSED_ANSWERS,
)

SESSION = "00112233-4455-6677-8899-aabbccddeeff"


def _request(query: str) -> base_pb2.ExecutePlanRequest:
    return base_pb2.ExecutePlanRequest(session_id=SESSION, user_context=base_pb2.UserContext(user_id="bench"),
                                       plan=base_pb2.Plan(root=relations_pb2.Relation(
                                           sql=relations_pb2.SQL(query=query))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", type=int, default=200, help="calls of the one-row query per round")
    parser.add_argument("--big", type=int, default=5, help="calls of the large query per round")
    parser.add_argument("--big-rows", type=int, default=300_000)
    args = parser.parse_args()
    from pysail.spark import SparkConnectServer

    sail = SparkConnectServer("127.0.0.1", 0)
    sail.start(background=True)
    host, port = sail.listening_address
    kinds = {"gzip accepted (before)": [*CHANNEL_OPTIONS, SINGLE_THREADED_STREAMS],
             "identity only (now)": [*CHANNEL_OPTIONS, SINGLE_THREADED_STREAMS, UNCOMPRESSED_ANSWERS]}
    channels = {kind: grpc.insecure_channel(f"{host}:{port}", options=options) for kind, options in kinds.items()}
    calls = {kind: channel.unary_stream(f"/{SERVICE}/ExecutePlan", request_serializer=lambda m: m.SerializeToString())
             for kind, channel in channels.items()}
    queries = {"one row": (_request("SELECT 1 AS x"), args.small),
               f"{args.big_rows:,} rows": (_request(
                   f"SELECT id, id * 1.5 AS amount, concat('partner-', id % 997) AS name FROM range({args.big_rows})"),
                   args.big)}
    print("| query | channel | wall per call | CPU per call | Arrow bytes |\n|---|---|---:|---:|---:|")
    for label, (request, count) in queries.items():
        received = {kind: sorted(base_pb2.ExecutePlanResponse.FromString(raw).arrow_batch.data for raw in call(request))
                    for kind, call in calls.items()}  # the batches each channel got, in any order (also the warm-up)
        if len({tuple(batches) for batches in received.values()}) != 1:
            raise SystemExit(f"{label}: the channels received different answers")
        walls: dict[str, list[float]] = {kind: [] for kind in calls}
        cpus: dict[str, list[float]] = {kind: [] for kind in calls}
        for _ in range(args.rounds):
            for kind, call in calls.items():
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(count):
                    for _answer in call(request):
                        pass
                walls[kind].append((time.perf_counter() - wall) / count * 1000)
                cpus[kind].append((time.process_time() - cpu) / count * 1000)
        for kind in calls:
            print(f"| {label} | {kind} | {statistics.median(walls[kind]):.2f} ms | "
                  f"{statistics.median(cpus[kind]):.2f} ms | {sum(map(len, received[kind])):,} |")
    for channel in channels.values():
        channel.close()
    sail.stop()


if __name__ == "__main__":
    main()
