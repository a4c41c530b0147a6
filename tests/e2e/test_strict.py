"""--strict: a miss is a 404 naming the closest rules and why each did not match."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from .helpers import (
    SCENARIOS_DIR,
    check_error,
    content_deltas,
    journal,
    make_chat_request,
    post_chat,
    stream_chunks,
    write_scenario,
)

RULES = """\
version: 1
rules:
  - name: invoice-stream
    match:
      model: gpt-4o
      last_user: { contains: "invoice" }
      stream: true
    reply:
      content: "streamed invoice"
  - name: claude-only
    match: { model: "claude-*" }
    reply:
      content: "claude"
"""


def test_strict_miss_names_the_closest_rules(serve, tmp_path):
    server = serve("--strict", "--scenarios", str(write_scenario(tmp_path, RULES)))
    body = make_chat_request("Please send the invoice.", model="gpt-4o")
    error = check_error(post_chat(server.base_url, body), 404)
    message = error["message"]
    assert "invoice-stream" in message, message
    assert "stream" in message.replace("invoice-stream", ""), message
    assert "claude-only" in message, message

    client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=body["messages"])
    assert "invoice-stream" in caught.value.message

    # A matching request is still answered.
    _, _, chunks = stream_chunks(server.base_url, body)
    assert "".join(content_deltas(chunks)) == "streamed invoice"
    entries = journal(server.url)
    assert [e["status"] for e in entries] == [404, 404, 200]


def test_strict_with_bundled_scenarios(serve):
    server = serve(
        "--strict", "--scenarios", str(SCENARIOS_DIR), "--seed", "7", "--freeze-time", "1700000000"
    )
    ok = post_chat(server.base_url, make_chat_request("Hello!"))
    assert ok.status_code == 200, ok.text

    # No tools offered: ask-weather-tool's condition on the message holds; its `tools` (and
    # `tool_choice`) do not.
    body = make_chat_request("What's the weather in Paris?", model="gpt-4o")
    error = check_error(post_chat(server.base_url, body), 404)
    message = error["message"]
    assert "failed" in message or "did not match" in message, message
    # The closest rule is the one whose conditions on what the message says held.
    assert "ask-weather-tool" in message, message
    assert "tools" in message, message


SPENT = """\
version: 1
rules:
  - name: streamed-flaky
    match: { model: flaky, stream: true }
    reply: { content: "streamed" }
  - name: flaky-for-bob
    match: { model: flaky, api_key: bob }
    reply: { content: "bob" }
  - name: flaky-once
    match: { model: flaky }
    sequence:
      - content: "once"
    then: fall_through
"""


def test_a_rule_whose_conditions_all_held_is_the_closest_miss(serve, tmp_path):
    # flaky-once's one condition holds (none failed): once its sequence is spent it is
    # the nearest miss, before the rules whose conditions failed in part.
    server = serve("--strict", "--scenarios", str(write_scenario(tmp_path, SPENT)))
    client = OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    messages = [{"role": "user", "content": "Hi"}]
    first = client.chat.completions.create(model="flaky", messages=messages)
    assert first.choices[0].message.content == "once"
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="flaky", messages=messages)
    closest = caught.value.message.split("Closest: ", 1)[1]
    assert closest.startswith("rules.yaml#flaky-once failed: matched, but its sequence is spent"), (
        closest
    )
    attempts = journal(server.url)[-1]["attempts"]
    assert [a["rule"] for a in attempts] == [
        "rules.yaml#flaky-once",
        "rules.yaml#streamed-flaky",
        "rules.yaml#flaky-for-bob",
    ]
