"""The HTTP edges, in process: what the journal's views can always send."""

from __future__ import annotations

import orjson

from mockllm.journal import Exchange, viewable


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_body_too_deep_for_the_views_becomes_a_note_with_its_text() -> None:
    shallow = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert viewable(shallow) is shallow
    for depth in (230, 240, 253, 254):
        deep = nested(depth)
        exchange = Exchange(id="x", method="POST", path="/v1/chat/completions", started=0.0)
        exchange.request = deep
        shown = orjson.loads(orjson.dumps({"requests": [exchange.to_json()]}))
        body = shown["requests"][0]["request"]
        if depth < 240:
            assert body == deep
        else:
            assert body["truncated"] is True and body["text"].startswith('{"a": {"a":')


def test_bytes_and_scalars_are_shown_as_they_can_be() -> None:
    assert viewable(None) is None and viewable("text") == "text"
    assert viewable(b"\xff{")["text"] == "\ufffd{"
