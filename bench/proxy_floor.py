"""The cost of any Python gRPC hop in front of Sail: the floor under the front door's added latency.

    .venv/bin/python bench/proxy_floor.py [--queries 300] [--out FILE]

Starts Sail (pysail) and two pass-through Spark Connect proxies that do nothing but relay bytes — one on grpc's
sync server (threads, as the engine host's proxy is built), one on grpc.aio (one event loop) — each in its own
process, then runs ``spark.sql("SELECT <i>").collect()`` straight to Sail and through each proxy, interleaved call
by call, with pyspark's default reattachable execution and without it. Reports p50/p90 per path and the CPU time
the proxy process spent per query. No authentication, no TLS, no plan rules: whatever the front door adds beyond
these numbers is its own work; these numbers are what a Python hop costs before doing any.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SERVICE = "spark.connect.SparkConnectService"
UNARY = ("AnalyzePlan", "Config", "ReleaseExecute", "ReleaseSession", "Interrupt", "FetchErrorDetails",
         "ArtifactStatus")
STREAM = ("ExecutePlan", "ReattachExecute")
KINDS = ("sync", "aio")


def _identity(data: bytes) -> bytes:
    return data


def serve(kind: str, target: str) -> None:
    """Run one pass-through proxy to ``target``; prints its port once it listens."""
    import grpc

    def metadata(context) -> list:
        return list(context.invocation_metadata())

    if kind == "sync":
        channel = grpc.insecure_channel(target)
        unary = {n: channel.unary_unary(f"/{SERVICE}/{n}", request_serializer=_identity,
                                        response_deserializer=_identity) for n in UNARY}
        stream = {n: channel.unary_stream(f"/{SERVICE}/{n}", request_serializer=_identity,
                                          response_deserializer=_identity) for n in STREAM}

        def relay_unary(name):
            return lambda request, context: unary[name](request, metadata=metadata(context))

        def relay_stream(name):
            def relay(request, context):
                yield from stream[name](request, metadata=metadata(context))
            return relay

        handlers = {n: grpc.unary_unary_rpc_method_handler(relay_unary(n), request_deserializer=_identity,
                                                           response_serializer=_identity) for n in UNARY}
        handlers.update({n: grpc.unary_stream_rpc_method_handler(relay_stream(n), request_deserializer=_identity,
                                                                 response_serializer=_identity) for n in STREAM})
        server = grpc.server(ThreadPoolExecutor(16))
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print(port, flush=True)
        server.wait_for_termination()
        return

    async def main() -> None:
        channel = grpc.aio.insecure_channel(target)
        unary = {n: channel.unary_unary(f"/{SERVICE}/{n}", request_serializer=_identity,
                                        response_deserializer=_identity) for n in UNARY}
        stream = {n: channel.unary_stream(f"/{SERVICE}/{n}", request_serializer=_identity,
                                          response_deserializer=_identity) for n in STREAM}

        def relay_unary(name):
            async def relay(request, context):
                return await unary[name](request, metadata=metadata(context))
            return relay

        def relay_stream(name):
            async def relay(request, context):
                async for message in stream[name](request, metadata=metadata(context)):
                    yield message
            return relay

        handlers = {n: grpc.unary_unary_rpc_method_handler(relay_unary(n), request_deserializer=_identity,
                                                           response_serializer=_identity) for n in UNARY}
        handlers.update({n: grpc.unary_stream_rpc_method_handler(relay_stream(n), request_deserializer=_identity,
                                                                 response_serializer=_identity) for n in STREAM})
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


def measure(queries: int) -> dict:
    import psutil
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    sail = SparkConnectServer("127.0.0.1", 0)
    sail.start(background=True)
    target = "{}:{}".format(*sail.listening_address)
    proxies = {kind: subprocess.Popen([sys.executable, __file__, "--serve", kind, target], stdout=subprocess.PIPE,
                                      text=True) for kind in KINDS}
    try:
        ports = {kind: int(proc.stdout.readline()) for kind, proc in proxies.items()}  # type: ignore[union-attr]
        cpu = {kind: psutil.Process(proc.pid) for kind, proc in proxies.items()}
        report: dict = {}
        for reattach in (True, False):
            sessions = {"direct": SparkSession.builder.remote(f"sc://{target}").create()}
            sessions.update({f"{kind}_proxy": SparkSession.builder.remote(f"sc://127.0.0.1:{ports[kind]}").create()
                             for kind in KINDS})
            for session in sessions.values():
                if not reattach:
                    session.client.disable_reattachable_execute()
                for _ in range(10):
                    session.sql("SELECT 1").collect()
            wall: dict[str, list[float]] = {name: [] for name in sessions}
            spent = {kind: sum(cpu[kind].cpu_times()[:2]) for kind in KINDS}
            for i in range(queries):
                for name, session in sessions.items():
                    start = time.perf_counter()
                    session.sql(f"SELECT {i}").collect()
                    wall[name].append((time.perf_counter() - start) * 1000)
            mode = "reattachable" if reattach else "not_reattachable"
            report[mode] = {name: {"p50_ms": round(statistics.median(v), 2),
                                   "p90_ms": round(sorted(v)[int(0.9 * (len(v) - 1))], 2)} for name, v in wall.items()}
            for kind in KINDS:
                used = sum(cpu[kind].cpu_times()[:2]) - spent[kind]
                report[mode][f"{kind}_proxy"]["proxy_cpu_ms_per_query"] = round(used / queries * 1000, 2)
                report[mode][f"{kind}_proxy"]["added_p50_ms"] = round(
                    report[mode][f"{kind}_proxy"]["p50_ms"] - report[mode]["direct"]["p50_ms"], 2)
            for session in sessions.values():
                session.stop()
        return report
    finally:
        for proc in proxies.values():
            proc.kill()
        sail.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    report = {"date": time.strftime("%Y-%m-%d"), "queries": args.queries, **measure(args.queries)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
