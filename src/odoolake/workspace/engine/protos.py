"""Spark Connect's protobuf messages without importing PySpark's client.

``import pyspark.sql.connect.proto`` runs ``pyspark/__init__`` and ``pyspark/sql/connect/__init__``, which import
pandas and the whole DataFrame client: 1.8 s before the engine host could answer its first call, for modules it
never uses. The generated ``*_pb2`` modules need only protobuf, so they are loaded here under their own names with
empty stand-ins for the parent packages, which are then removed again: a later real ``import pyspark`` (Sail's
Python UDF runner does one) imports the real packages and finds these same proto modules already loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

_PARENTS = ("pyspark", "pyspark.sql", "pyspark.sql.connect")


def _load() -> tuple[Any, Any, Any]:
    if "pyspark.sql.connect.proto" in sys.modules or "pyspark.sql.connect" in sys.modules:
        from pyspark.sql.connect.proto import base_pb2, commands_pb2, relations_pb2

        return base_pb2, commands_pb2, relations_pb2
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyspark is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    stand_ins = []
    for name in _PARENTS:
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            sys.modules[name] = module
            stand_ins.append(name)
    try:
        base = importlib.import_module("pyspark.sql.connect.proto.base_pb2")
        commands = importlib.import_module("pyspark.sql.connect.proto.commands_pb2")
        relations = importlib.import_module("pyspark.sql.connect.proto.relations_pb2")
    finally:
        for name in stand_ins:
            del sys.modules[name]
    return base, commands, relations


base_pb2, commands_pb2, relations_pb2 = _load()
