"""SSE bytes: events encoded, a recorded body split, an event's data read and rewritten."""

from __future__ import annotations

import re

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


def test_padding_fits_each_text_to_16_characters_and_repeats_for_the_same_seed():
    from mockllm.wire import Padding

    deltas = ["", "a", "Hello", "x" * 15, "y" * 16, "z" * 17, "日本語"] * 40  # several blocks
    one, again, other = Padding("chatcmpl-1"), Padding("chatcmpl-1"), Padding("chatcmpl-2")
    pads = [one.text(d) for d in deltas]
    assert pads == [again.text(d) for d in deltas]
    assert pads != [other.text(d) for d in deltas]
    for delta, pad in zip(deltas, pads, strict=True):
        assert re.fullmatch(rb'"[A-Za-z0-9]{1,16}"', pad), pad
        assert (len(delta) + len(pad) - 2) % 16 == 0
    some = [Padding(f"id{i}").some() for i in range(300)]
    assert {len(p) - 2 for p in some} == set(range(1, 16))


def test_padding_runs_are_the_texts_drawn_at_once():
    from mockllm.wire import Padding

    deltas = [f"word{i}" * (i % 5) for i in range(100)]
    drawn, bounds = Padding("s").runs(deltas)
    each = Padding("s")
    assert [b'"' + drawn[a:b] + b'"' for a, b in zip(bounds, bounds[1:], strict=False)] == [
        each.text(d) for d in deltas
    ]
