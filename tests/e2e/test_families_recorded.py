"""Other families through record, replay and to-scenario: the Responses API, embeddings.

A mockllm playing the real API answers `POST /v1/responses`; `mockllm record` records a
streamed and a whole answer with the openai SDK; a replay server re-emits the recorded
events (`event:` lines included) byte for byte, and the converted scenario answers the
same text with `match: {api: responses}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner
from openai import OpenAI

from mockllm.cli import main
from tests.conftest import RunningServer, start_server

from .helpers import journal, write_scenario

RULES = """\
version: 1
rules:
  - name: haiku
    match: { last_user: "Write a haiku" }
    reply: { chunks: ["Old", " pond,", " a", " frog."] }
"""
KEY = "sk-responses-recording-key-000000000"
ASKED = {"role": "user", "content": "Is anybody there?"}
UUID_A = "0f8fad5b-d9cb-469f-a165-70867728950e"
UUID_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
EMBEDDED: list[list[float]] = []


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, bytes]]:
    tmp = tmp_path_factory.mktemp("responses")
    upstream = start_server(
        "--scenarios",
        str(write_scenario(tmp, RULES)),
        "--freeze-time",
        "1700000000",
        tmp_path=tmp,
    )
    folder = tmp / "cassettes"
    recorder = start_server(
        "--upstream",
        upstream.base_url,
        "--cassettes",
        str(folder),
        "--cassette",
        "haiku",
        "--record-mode",
        "all",
        tmp_path=tmp,
    )
    try:
        client = OpenAI(base_url=recorder.base_url, api_key=KEY, max_retries=0)
        whole = client.responses.create(model="gpt-4.1", input="Write a haiku")
        assert whole.output_text == "Old pond, a frog."
        relayed = httpx.post(
            recorder.base_url + "/responses",
            json={"model": "gpt-4.1", "input": "Write a haiku", "stream": True},
            headers={"authorization": f"Bearer {KEY}"},
        )
        assert relayed.status_code == 200
        assert b"event: response.output_text.delta" in relayed.content
        vector = client.embeddings.create(
            model="text-embedding-3-small", input=f"ticket {UUID_A}", dimensions=8
        )
        (folder / "mockllm.yaml").write_text("match: {normalize: [uuid]}\n")
        EMBEDDED.append(vector.data[0].embedding)
    finally:
        recorder.stop()
        upstream.stop()
    yield folder, relayed.content


@pytest.fixture(scope="module")
def replayer(
    recorded: tuple[Path, bytes], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_server("--cassettes", str(recorded[0]), tmp_path=tmp_path_factory.mktemp("r"))
    yield server
    server.stop()


def test_a_recorded_responses_stream_replays_its_events_exactly(
    recorded: tuple[Path, bytes], replayer: RunningServer
) -> None:
    _, relayed = recorded
    replayed = httpx.post(
        replayer.base_url + "/responses",
        json={"model": "gpt-4.1", "input": "Write a haiku", "stream": True},
        headers={"authorization": "Bearer sk-other"},
    )
    assert replayed.status_code == 200
    assert replayed.content == relayed  # event: lines, data, order, byte for byte
    assert journal(replayer.url)[-1]["rule"] == "haiku.yaml#1"
    client = OpenAI(base_url=replayer.base_url, api_key="sk-other", max_retries=0)
    assert client.responses.create(model="gpt-4.1", input="Write a haiku").output_text == (
        "Old pond, a frog."
    )


def test_the_recording_converts_to_a_rule_for_the_responses_api(
    recorded: tuple[Path, bytes], tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["cassette", "to-scenario", str(recorded[0] / "haiku.yaml")])
    assert result.exit_code == 0, result.output
    (rule,) = yaml.safe_load(result.output)["rules"]
    assert rule["match"] == {"model": "gpt-4.1", "api": "responses", "last_user": "Write a haiku"}
    whole, streamed = rule["sequence"]  # the same request answered whole, then streamed
    assert whole["content"] == "Old pond, a frog."
    assert streamed["chunks"] == ["Old", " pond,", " a", " frog."]
    assert whole["usage"] == {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16}
    scenario = tmp_path / "haiku.yaml"
    scenario.write_text(result.output)
    server = start_server("--scenarios", str(scenario), tmp_path=tmp_path)
    try:
        client = OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)
        answer = client.responses.create(model="gpt-4.1", input="Write a haiku")
        streamed = client.responses.create(model="gpt-4.1", input="Write a haiku", stream=True)
        deltas = [e.delta for e in streamed if e.type == "response.output_text.delta"]
    finally:
        server.stop()
    assert answer.output_text == "Old pond, a frog."
    assert "".join(deltas) == "Old pond, a frog."


def test_embeddings_record_and_replay_through_the_normalisers(replayer: RunningServer) -> None:
    client = OpenAI(base_url=replayer.base_url, api_key="sk-other", max_retries=0)
    vector = client.embeddings.create(
        model="text-embedding-3-small", input=f"ticket {UUID_B}", dimensions=8
    )
    assert vector.data[0].embedding == EMBEDDED[0]  # recorded for another UUID
    entry = journal(replayer.url)[-1]
    assert (entry["source"], entry["rule"]) == ("cassette", "haiku.yaml#2")


def test_a_responses_chain_records_and_replays(tmp_path: Path) -> None:
    """A second turn names the first by `previous_response_id`: the upstream holds that
    response, the recorder and the replay server do not, and neither refuses the turn."""
    upstream = start_server("--freeze-time", "1700000000", tmp_path=tmp_path)
    folder = tmp_path / "cassettes"
    recorder = start_server(
        "--upstream", upstream.base_url, "--cassettes", str(folder), "--record-mode", "all",
        tmp_path=tmp_path,
    )  # fmt: skip
    try:
        client = OpenAI(base_url=recorder.base_url, api_key=KEY, max_retries=0)
        first = client.responses.create(model="gpt-4.1", input="Capital of France?")
        second = client.responses.with_raw_response.create(
            model="gpt-4.1", input="And of Spain?", previous_response_id=first.id
        )
        assert second.status_code == 200
        assert second.parse().previous_response_id == first.id
    finally:
        recorder.stop()
        upstream.stop()
    replayer = start_server("--cassettes", str(folder), tmp_path=tmp_path)
    try:
        client = OpenAI(base_url=replayer.base_url, api_key="sk-other", max_retries=0)
        assert client.responses.create(model="gpt-4.1", input="Capital of France?").id == first.id
        replayed = client.responses.with_raw_response.create(
            model="gpt-4.1", input="And of Spain?", previous_response_id=first.id
        )
        assert replayed.status_code == 200
        assert replayed.content == second.content
    finally:
        replayer.stop()


def test_an_unreachable_upstream_is_a_502_in_each_familys_shape(tmp_path: Path) -> None:
    from tests.conftest import free_port

    gone = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    recorder = start_server(
        "--upstream", gone, "--cassettes", str(tmp_path / "cassettes"), "--record-mode", "all",
        tmp_path=tmp_path,
    )  # fmt: skip
    try:
        messages = httpx.post(
            f"{recorder.url}/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [ASKED]},
            headers={"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"},
            timeout=30,
        )
        assert messages.status_code == 502
        body = messages.json()
        assert body["type"] == "error" and body["error"]["type"] == "api_error"
        assert body["error"]["message"].startswith("Upstream connect failure: ")
        chat = httpx.post(
            f"{recorder.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [ASKED]},
            headers={"authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        assert chat.status_code == 502
        error = chat.json()["error"]
        assert (error["type"], error["param"], error["code"]) == (
            "server_error",
            None,
            "upstream_error",
        )
    finally:
        recorder.stop()
