"""An ONNX model's graph nodes read from the protobuf wire format, without ONNX's schema: importing the onnx
package takes longer (0.6 s) than the whole answer ranker loads. protobuf parses the fields; this names them."""

from __future__ import annotations

import numpy as np
from google.protobuf import empty_pb2
from google.protobuf.unknown_fields import UnknownFieldSet

# ONNX's field numbers: ModelProto.graph, GraphProto.node, NodeProto.op_type and .attribute, and AttributeProto's.
MODEL_GRAPH, GRAPH_NODE, NODE_OP_TYPE, NODE_ATTRIBUTE = 7, 1, 4, 5
NAME, FLOAT, INT, STRING, FLOATS, INTS, STRINGS = 1, 2, 3, 4, 7, 8, 9
# The wire type of a length-delimited field: a packed run of repeated numbers.
LENGTH_DELIMITED = 2


def graph_nodes(model: bytes) -> list[tuple[str, dict[str, object]]]:
    """Each node of an ONNX model's graph: its op type and attributes by name."""
    graphs = [value for number, _, value in message_fields(model) if number == MODEL_GRAPH]
    nodes = [value for graph in graphs for number, _, value in message_fields(graph) if number == GRAPH_NODE]
    found = []
    for node in nodes:
        fields = message_fields(node)
        op_type = b"".join(value for number, _, value in fields if number == NODE_OP_TYPE).decode()
        found.append((op_type, dict(attribute(value) for number, _, value in fields if number == NODE_ATTRIBUTE)))
    return found


def attribute(data: bytes) -> tuple[str, object]:
    """An AttributeProto's name and value: a number, bytes, or a list of them (repeated numbers packed or not)."""
    fields = message_fields(data)
    name = b"".join(value for number, _, value in fields if number == NAME).decode()
    found: dict[int, list] = {}
    for number, wire_type, value in fields:
        if number in (FLOATS, INTS) and wire_type == LENGTH_DELIMITED:
            found.setdefault(number, []).extend(np.frombuffer(value, dtype="<u4").tolist() if number == FLOATS else varints(value))
        else:
            found.setdefault(number, []).append(value)
    # Floats arrive as their 32 bits, integers as unsigned 64-bit ones.
    for number in (FLOAT, FLOATS):
        if number in found:
            found[number] = np.array(found[number], dtype="<u4").view("<f4").tolist()
    for number in (INT, INTS):
        if number in found:
            found[number] = np.array(found[number], dtype=np.uint64).view(np.int64).tolist()
    for single in (FLOAT, INT, STRING):
        if single in found:
            return name, found[single][0]
    return name, next((found[many] for many in (FLOATS, INTS, STRINGS) if many in found), [])


def message_fields(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of every field of a serialised protobuf message."""
    message = empty_pb2.Empty()
    message.ParseFromString(data)
    return [(field.field_number, field.wire_type, field.data) for field in UnknownFieldSet(message)]


def varints(data: bytes) -> list[int]:
    """The unsigned 64-bit integers of a packed repeated integer field."""
    numbers, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            numbers.append(value)
            value, shift = 0, 0
    return numbers
