"""Protocol-buffer wire format, for plans deeper than upb will decode.

PySpark's protobuf runtime (upb) refuses messages nested more than 100 levels, and a DataFrame built from a few
dozen chained operations is that deep (each operation is a Relation holding a Relation). Spark's own server accepts
1024 levels. For such plans the engine does not decode the whole request: it walks the wire format without
recursion, finds the small messages its rules read (``Read``, ``SQL`` …), decodes and rewrites only those, and
splices them back, fixing the length of every enclosing message.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

MAX_DEPTH = 1024  # Spark Connect's own limit (spark.connect.grpc.marshallerRecursionLimit)
UPB_DEPTH = 100  # how deep a message upb (protobuf's C runtime) decodes
_LEN = 2


class WireError(ValueError):
    pass


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@dataclass(frozen=True)
class Field:
    number: int
    wire_type: int
    tag_start: int
    length_start: int  # where a length-delimited field's length prefix starts (== value_start otherwise)
    value_start: int
    value_end: int


def fields(buf: bytes, start: int, end: int) -> Iterator[Field]:
    pos = start
    while pos < end:
        tag_start = pos
        tag, pos = read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        length_start = pos
        if wire_type == 0:
            _, pos = read_varint(buf, pos)
            value_start = length_start
        elif wire_type == 1:
            value_start, pos = pos, pos + 8
        elif wire_type == 5:
            value_start, pos = pos, pos + 4
        elif wire_type == _LEN:
            length, value_start = read_varint(buf, pos)
            pos = value_start + length
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > end:
            raise WireError("field runs past its message")
        yield Field(number, wire_type, tag_start, length_start, value_start, pos)


@dataclass(frozen=True)
class Found:
    path: tuple[Field, ...]  # from the outermost field to the found message's own field
    descriptor: Descriptor

    @property
    def field(self) -> Field:
        return self.path[-1]


_Trail = tuple[Field, "_Trail"] | None  # a field and the trail of the message holding it (None: the root)


@functools.cache
def message_types(root: Descriptor) -> dict[str, Descriptor]:
    """Every message type a ``root`` message can hold at any depth (itself included), by full name."""
    found: dict[str, Descriptor] = {}
    todo = [root]
    while todo:
        descriptor = todo.pop()
        if descriptor.full_name not in found:
            found[descriptor.full_name] = descriptor
            todo.extend(fd.message_type for fd in descriptor.fields if fd.message_type is not None)
    return found


@functools.cache
def reaching(root: Descriptor, targets: frozenset[str]) -> frozenset[str]:
    """The message types, among those ``root`` can hold at any depth, from which a message whose full name is in
    ``targets`` can be reached (the targets themselves included). Read off the schema, so a walk that skips every
    other message type misses nothing: in a Spark Connect plan that is every expression tree, most of its bytes."""
    holds = {name: {fd.message_type.full_name for fd in descriptor.fields if fd.message_type is not None}
             for name, descriptor in message_types(root).items()}
    found = set(targets) & set(holds)
    grown = True
    while grown:
        grown = False
        for name, children in holds.items():
            if name not in found and children & found:
                found.add(name)
                grown = True
    return frozenset(found)


def find(buf: bytes, root: Descriptor, targets: frozenset[str]) -> list[Found]:
    """Every message whose type's full name is in ``targets``, at any depth (found messages are searched inside
    too). Only fields whose type can hold a target are entered (``reaching``)."""
    return _walk(buf, 0, len(buf), root, 0, targets, reaching(root, targets))


def _walk(buf: bytes, start: int, end: int, descriptor: Descriptor, depth: int, targets: frozenset[str],
          entered: frozenset[str] | None) -> list[Found]:
    """The messages of ``targets`` in a message at ``depth``, entering the message fields of ``entered`` types (all
    when None: a walk that only counts levels), each level counted towards ``MAX_DEPTH``."""
    found: list[Found] = []
    # (start, end, descriptor, depth, trail): a path is built only for what is found
    stack: list[tuple[int, int, Descriptor, int, _Trail]] = [(start, end, descriptor, depth, None)]
    while stack:
        start, end, descriptor, depth, trail = stack.pop()
        if depth > MAX_DEPTH:
            raise WireError(f"the plan is nested more than {MAX_DEPTH} levels deep")
        by_number = descriptor.fields_by_number
        for field in fields(buf, start, end):
            fd = by_number.get(field.number)
            if fd is None or fd.type != FieldDescriptor.TYPE_MESSAGE or field.wire_type != _LEN:
                continue
            child = fd.message_type
            assert child is not None  # a message field always has one
            if entered is not None and child.full_name not in entered:
                _within_depth(buf, field, child, depth + 1)
                continue
            child_trail: _Trail = (field, trail) if targets else None
            if child.full_name in targets:
                found.append(Found(_path(child_trail), child))
            stack.append((field.value_start, field.value_end, child, depth + 1, child_trail))
    return found


def _within_depth(buf: bytes, field: Field, descriptor: Descriptor, depth: int) -> None:
    """A message the walk skips still counts towards ``MAX_DEPTH``: the engine would take a deeper one as it comes
    (Sail's host died on an expression nested 1,500 levels deep). upb decodes it at C speed when it is at most
    ``UPB_DEPTH`` levels deep, which is enough while ``depth + UPB_DEPTH`` is within the limit; anything else is walked
    field by field, counting levels."""
    if depth + UPB_DEPTH <= MAX_DEPTH:
        try:
            message_factory.GetMessageClass(descriptor).FromString(buf[field.value_start:field.value_end])
            return
        except DecodeError:
            pass  # deeper than upb decodes (or not decodable at all): walked below
    _walk(buf, field.value_start, field.value_end, descriptor, depth, frozenset(), None)


def _path(trail: _Trail) -> tuple[Field, ...]:
    path: list[Field] = []
    while trail is not None:
        field, trail = trail
        path.append(field)
    return tuple(reversed(path))


def replace(buf: bytes, path: tuple[Field, ...], value: bytes) -> bytes:
    """``buf`` with the value of the last field of ``path`` replaced, every enclosing length updated.

    One copy of ``buf`` whatever the depth: the new lengths are worked out from the inside out, then the bytes are
    joined from the outside in."""
    lengths = [len(value)]  # the new value length of each field on the path, innermost first
    for depth in range(len(path) - 1, 0, -1):
        child, parent = path[depth], path[depth - 1]
        old_size = child.value_end - child.tag_start
        new_size = child.length_start - child.tag_start + len(varint(lengths[-1])) + lengths[-1]
        lengths.append(parent.value_end - parent.value_start - old_size + new_size)
    lengths.reverse()
    pieces = [buf[:path[0].tag_start]]
    for depth, field in enumerate(path):
        pieces += [buf[field.tag_start:field.length_start], varint(lengths[depth])]
        pieces.append(buf[field.value_start:path[depth + 1].tag_start] if depth + 1 < len(path) else value)
    for depth in range(len(path) - 1, 0, -1):
        pieces.append(buf[path[depth].value_end:path[depth - 1].value_end])
    pieces.append(buf[path[0].value_end:])
    return b"".join(pieces)


def ordinals(buf: bytes, path: tuple[Field, ...]) -> tuple[int, ...]:
    """Where each field of ``path`` stands among the fields of the message holding it: an address that stays true
    when a field elsewhere is replaced (``replace`` moves offsets, never the order of fields)."""
    places, start, end = [], 0, len(buf)
    for wanted in path:
        places.append(next(i for i, field in enumerate(fields(buf, start, end)) if field.tag_start == wanted.tag_start))
        start, end = wanted.value_start, wanted.value_end
    return tuple(places)


def locate(buf: bytes, places: tuple[int, ...]) -> tuple[Field, ...]:
    """The path that ``ordinals`` gave ``places`` for, in ``buf`` as it is now."""
    path, start, end = [], 0, len(buf)
    for place in places:
        field = next(itertools.islice(fields(buf, start, end), place, None))
        path.append(field)
        start, end = field.value_start, field.value_end
    return tuple(path)


def without(buf: bytes, start: int, end: int, number: int) -> tuple[bytes, bytes]:
    """Split a message into (its bytes without field ``number``, the raw encoding of that field)."""
    kept, taken = bytearray(), bytearray()
    for field in fields(buf, start, end):
        (taken if field.number == number else kept).extend(buf[field.tag_start:field.value_end])
    return bytes(kept), bytes(taken)


def length_delimited(number: int, value: bytes) -> bytes:
    return varint(number << 3 | _LEN) + varint(len(value)) + value
