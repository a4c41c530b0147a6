"""The legacy Completions API through record, replay, faults, drift and to-scenario.

A mockllm playing the real API answers `POST /v1/completions`; `mockllm record` records a
whole answer, a stream, n choices with echo, a 429 and a prompt holding an order number,
through the openai SDK's `client.completions.create` and raw httpx. With the upstream gone,
a replay server answers each one byte for byte, matching by method, path and normalised
body; a chat request is never answered from a completions recording.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from click.testing import CliRunner
from openai import OpenAI

from mockllm.cli import main
from tests.conftest import RunningServer, start_server

from .helpers import journal, write_scenario

MODEL = "gpt-3.5-turbo-instruct"
KEY = "sk-completions-recording-key-0000000"
POEM = ["Roses", " are", " red,", " violets", " blue."]
UPSTREAM_RULES = """\
version: 1
rules:
  - name: poem
    match: { api: completions, last_user: "Write a poem" }
    reply:
      chunks: ["Roses", " are", " red,", " violets", " blue."]
      latency: { ttft_ms: 60, inter_token_ms: 30 }
  - name: order
    match: { api: completions, last_user: { contains: "Say hello to order" } }
    reply: { content: " Hello, order." }
  - name: colour
    match: { api: completions, last_user: "Pick a colour:" }
    reply:
      choices: [{ content: " Red." }, { content: " Blue." }]
  - name: limited
    match: { api: completions, last_user: "rate limit me" }
    reply:
      error: { status: 429, headers: { Retry-After: "7" } }
"""
REPLAY_RULES = """\
version: 1
rules:
  - name: break-poem
    match: { cassette: "completions.yaml#1" }
    sequence:
      - fault: { disconnect_after_tokens: 2 }
      - fault: { error_after_tokens: 2, error: { status: 503, message: "replay broke" } }
"""


@dataclass
class Recorded:
    folder: Path
    whole: bytes  # the whole answer's bytes as the recorder relayed them
    streamed: bytes  # the stream's bytes as the recorder relayed them
    choices: list[str]


def sdk(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


def ask(server: RunningServer, **fields: object) -> httpx.Response:
    body = {"model": MODEL, **fields}
    headers = {"authorization": f"Bearer {KEY}"}
    return httpx.post(server.base_url + "/completions", json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("completions")
    upstream = start_server(
        "--scenarios", str(write_scenario(tmp, UPSTREAM_RULES)), "--freeze-time", "1700000000",
        tmp_path=tmp,
    )  # fmt: skip
    folder = tmp / "cassettes"
    recorder = start_server(
        "--upstream", upstream.base_url, "--cassettes", str(folder), "--cassette", "completions",
        "--record-mode", "all", tmp_path=tmp,
    )  # fmt: skip
    try:
        client = sdk(recorder)
        whole = client.completions.with_raw_response.create(model=MODEL, prompt="Write a poem")
        assert whole.parse().choices[0].text == "".join(POEM)
        streamed = ask(recorder, prompt="Write a poem", stream=True)
        assert streamed.status_code == 200 and b'"text":" violets"' in streamed.content
        colours = client.completions.create(model=MODEL, prompt="Pick a colour:", n=2, echo=True)
        with pytest.raises(openai.RateLimitError):
            client.completions.create(model=MODEL, prompt="rate limit me")
        ordered = client.completions.create(
            model=MODEL, prompt="Say hello to order ORD-1234", user="run-1"
        )
        assert ordered.choices[0].text == " Hello, order."
        assert [e["source"] for e in journal(recorder.url)] == ["upstream"] * 5
    finally:
        recorder.stop()
        upstream.stop()
    texts = [c.text for c in colours.choices]
    assert texts == ["Pick a colour: Red.", "Pick a colour: Blue."]
    yield Recorded(folder, whole.content, streamed.content, texts)


@pytest.fixture(scope="module")
def replayer(
    recorded: Recorded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_server(
        "--cassettes", str(recorded.folder), "--ignore-field", "user",
        "--normalize-regex", "ORD-[0-9]+", "ORD-<n>", tmp_path=tmp_path_factory.mktemp("replay"),
    )  # fmt: skip
    yield server
    server.stop()


def test_the_recorder_loads_every_completions_interaction(replayer: RunningServer) -> None:
    health = httpx.get(replayer.url + "/__admin/health").json()
    assert health["cassettes"]["interactions"] == 5 and health["cassettes"]["skipped"] == 0
    assert "not an LLM API call" not in replayer.log()


def test_a_whole_answer_replays_byte_for_byte(recorded: Recorded, replayer: RunningServer) -> None:
    replayed = ask(replayer, prompt="Write a poem")
    assert replayed.status_code == 200
    assert replayed.content == recorded.whole
    assert replayed.headers["content-type"] == "application/json"
    answer = sdk(replayer).completions.create(model=MODEL, prompt="Write a poem")
    assert (answer.object, answer.choices[0].text) == ("text_completion", "".join(POEM))
    entry = journal(replayer.url)[-1]
    assert (entry["source"], entry["rule"], entry["api"]) == (
        "cassette",
        "completions.yaml#0",
        "completions",
    )
    # the inspector's "make a rule" reads the recording as to-scenario does
    made = httpx.get(f"{replayer.url}/__admin/requests/{replayed.headers['x-request-id']}/rule")
    (rule,) = yaml.safe_load(made.text)["rules"]
    assert rule["match"]["api"] == "completions"
    assert rule["reply"]["content"] == "".join(POEM)


def test_a_stream_replays_event_for_event(recorded: Recorded, replayer: RunningServer) -> None:
    replayed = ask(replayer, prompt="Write a poem", stream=True)
    assert replayed.headers["content-type"].startswith("text/event-stream")
    assert replayed.content == recorded.streamed
    stream = sdk(replayer).completions.create(model=MODEL, prompt="Write a poem", stream=True)
    assert [chunk.choices[0].text for chunk in stream] == [*POEM, ""]
    assert journal(replayer.url)[-1]["rule"] == "completions.yaml#1"


def test_choices_an_error_and_a_normalised_prompt_replay(
    recorded: Recorded, replayer: RunningServer
) -> None:
    client = sdk(replayer)
    colours = client.completions.create(model=MODEL, prompt="Pick a colour:", n=2, echo=True)
    assert [c.text for c in colours.choices] == recorded.choices
    with pytest.raises(openai.RateLimitError) as limited:
        client.completions.create(model=MODEL, prompt="rate limit me")
    assert limited.value.response.headers["retry-after"] == "7"
    # another order number and another user: normalised and ignored
    ordered = client.completions.create(
        model=MODEL, prompt="Say hello to order ORD-98765", user="run-2"
    )
    assert ordered.choices[0].text == " Hello, order."
    assert journal(replayer.url)[-1]["rule"] == "completions.yaml#4"


def test_a_miss_is_openais_error_naming_the_prompt(replayer: RunningServer) -> None:
    missed = ask(replayer, prompt="Write a poem!")
    assert missed.status_code == 404
    error = missed.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        None,
        "cassette_miss",
    )
    assert error["message"] == (
        "No recorded interaction in the loaded cassettes matches this request; nearest"
        " recorded request: completions.yaml#0; prompt: recorded 'Write a poem' != sent"
        " 'Write a poem!'"
    )
    with pytest.raises(openai.NotFoundError):
        sdk(replayer).completions.create(model=MODEL, prompt="Write a poem!")


def test_a_chat_request_is_not_answered_by_a_completions_recording(
    replayer: RunningServer,
) -> None:
    chat = httpx.post(
        replayer.base_url + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write a poem"}]},
    )
    assert chat.status_code == 404 and chat.json()["error"]["code"] == "cassette_miss"
    assert (
        "path: recorded '/v1/completions' != sent '/v1/chat/completions'"
        in (chat.json()["error"]["message"])
    )


def test_a_replayed_stream_breaks_after_its_text_events(recorded: Recorded, tmp_path: Path) -> None:
    server = start_server(
        "--cassettes", str(recorded.folder), "--scenarios",
        str(write_scenario(tmp_path, REPLAY_RULES)), tmp_path=tmp_path,
    )  # fmt: skip
    try:
        for broken_by in (openai.APIConnectionError, openai.APIError):
            texts: list[str] = []
            with pytest.raises(broken_by) as caught:
                for chunk in sdk(server).completions.create(
                    model=MODEL, prompt="Write a poem", stream=True
                ):
                    texts.append(chunk.choices[0].text)
            assert texts == POEM[:2]  # two text_completion events: two tokens
            if broken_by is openai.APIError:
                assert str(caught.value) == "replay broke"
        entry = journal(server.url)[-1]
        assert (entry["rule"], entry["faults"]) == ("completions.yaml#1", ["error_after_tokens=2"])
    finally:
        server.stop()


def test_the_drift_check_reads_completions(recorded: Recorded, tmp_path: Path) -> None:
    upstream = start_server(
        "--scenarios", str(write_scenario(tmp_path, UPSTREAM_RULES)), tmp_path=tmp_path
    )
    try:
        result = CliRunner().invoke(
            main, ["cassette", "check", str(recorded.folder), "--upstream", upstream.base_url]
        )
    finally:
        upstream.stop()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "completions.yaml#1: POST /v1/completions (stream): ok" in lines
    assert lines[-1] == (
        "5 interaction(s) checked: 5 ok, 0 drifted, 0 failed; 0 skipped (not sent again)"
    )


def test_the_recording_converts_to_completions_rules(recorded: Recorded, tmp_path: Path) -> None:
    cassette = recorded.folder / "completions.yaml"
    result = CliRunner().invoke(main, ["cassette", "to-scenario", str(cassette)])
    assert result.exit_code == 0, result.output
    rules = yaml.safe_load(result.output)["rules"]
    assert [r["match"]["api"] for r in rules] == ["completions"] * 4
    poem, colours, limited, ordered = rules
    assert poem["match"] == {"model": MODEL, "api": "completions", "last_user": "Write a poem"}
    whole, streamed = poem["sequence"]  # the same prompt answered whole, then streamed
    assert whole["content"] == "".join(POEM) and streamed["chunks"] == POEM
    assert [c["content"] for c in colours["reply"]["choices"]] == [" Red.", " Blue."]
    assert limited["reply"]["error"]["status"] == 429
    assert ordered["match"]["last_user"] == "Say hello to order ORD-1234"
    scenario = tmp_path / "completions.yaml"
    scenario.write_text(result.output)
    server = start_server("--scenarios", str(scenario), tmp_path=tmp_path)
    try:
        client = sdk(server)
        answer = client.completions.create(model=MODEL, prompt="Write a poem")
        stream = client.completions.create(model=MODEL, prompt="Write a poem", stream=True)
        texts = [chunk.choices[0].text for chunk in stream]
        again = client.completions.create(model=MODEL, prompt="Pick a colour:", n=2, echo=True)
        with pytest.raises(openai.RateLimitError):
            client.completions.create(model=MODEL, prompt="rate limit me")
    finally:
        server.stop()
    assert answer.choices[0].text == "".join(POEM)
    assert texts == [*POEM, ""]
    assert [c.text for c in again.choices] == recorded.choices
