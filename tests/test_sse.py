"""SSE bytes: events encoded, a recorded body split, an event's data read and rewritten."""

from __future__ import annotations

from mockllm.sse import DONE, data_of, encode, map_data, split_events


def test_encode_and_split_round_trip():
    body = encode(b'{"a":1}') + encode(b'{"b":2}') + DONE
    assert split_events(body) == [b'data: {"a":1}\n\n', b'data: {"b":2}\n\n', DONE]
    assert split_events(b"data: x\r\n\r\ndata: y") == [b"data: x\r\n\r\n", b"data: y"]


def test_data_of_joins_data_lines_and_leaves_out_the_rest():
    assert data_of(b'data: {"a":1}\n\n') == b'{"a":1}'
    assert data_of(b": OPENROUTER PROCESSING\n\n") == b""
    assert data_of(b"event: x\ndata:first\ndata:  second\nid: 7\n\n") == b"first\n second"
    assert data_of(DONE) == b"[DONE]"


def test_map_data_rewrites_only_data_lines_and_keeps_line_endings():
    event = b'event: x\r\ndata: {"k":1}\r\n: comment\r\n\r\n'
    changed = map_data(event, lambda value: value.replace(b"1", b"2"))
    assert changed == b'event: x\r\ndata: {"k":2}\r\n: comment\r\n\r\n'
    assert map_data(event, lambda value: value) is not None
    assert map_data(b"data:   same\n\n", lambda value: value) == b"data:   same\n\n"
