"""Recordings that stay useful: normalised requests match across runs, and rules break replays.

A mockllm with scripted rules plays the real API; `mockllm record` records from it with the
openai SDK; the replay servers then run offline with the folder's `mockllm.yaml`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningServer, start_server

from .helpers import journal, write_scenario

STORY = ["Once", " upon", " a", " time", " there", " was", " a", " stream."]
UPSTREAM_RULES = """\
version: 1
rules:
  - name: ticket
    match: { last_user: { contains: "ticket" } }
    reply: { content: "Ticket noted." }
  - name: story
    match: { last_user: "Tell me a story" }
    reply:
      chunks: ["Once", " upon", " a", " time", " there", " was", " a", " stream."]
"""
NORMALISERS = """\
match:
  normalize: [uuid, iso_timestamp]
"""
CHAOS_RULES = """\
version: 1
rules:
  - name: break-story
    match: { cassette: "docs/story.yaml#1" }
    sequence:
      - fault: { disconnect_after_tokens: 3 }
      - fault: { error_after_tokens: 3, error: { status: 503, message: "replay broke" } }
      - latency: { ttft_ms: 400 }
  - name: live
    match: { last_user: "live story" }
    sequence:
      - chunks: ["Once", " upon", " a", " time"]
        fault: { disconnect_after_tokens: 3 }
      - chunks: ["Once", " upon", " a", " time"]
        fault: { error_after_tokens: 3, error: { status: 503, message: "live broke" } }
"""


def ticket(run: int) -> str:
    """A prompt that holds what changes from run to run: a UUID and the time."""
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(days=run, seconds=run)
    return f"Open ticket {uuid.uuid4()} at {when.isoformat()}"


def client(server: RunningServer) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key="sk-rules-test-0000000000000", max_retries=0)


def ask(server: RunningServer, text: str) -> str:
    reply = client(server).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
    )
    return str(reply.choices[0].message.content)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """docs/story.yaml: a ticket (a UUID and a timestamp in the prompt) and a streamed story,
    recorded in mode new_episodes with the folder's normalisers in place."""
    tmp = tmp_path_factory.mktemp("rules")
    upstream = start_server("--scenarios", str(write_scenario(tmp, UPSTREAM_RULES)), tmp_path=tmp)
    folder = tmp / "cassettes"
    folder.mkdir()
    (folder / "mockllm.yaml").write_text(NORMALISERS)
    recorder = start_server(
        "--upstream",
        upstream.base_url,
        "--cassettes",
        str(folder),
        "--cassette",
        "docs/story",  # as docs/recording.md's quick start names it
        "--record-mode",
        "new_episodes",
        tmp_path=tmp,
    )
    try:
        assert ask(recorder, ticket(0)) == "Ticket noted."
        stream = client(recorder).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Tell me a story"}],
            stream=True,
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "".join(STORY)
        # normalised alike when recording: another run's ticket is no new episode
        assert ask(recorder, ticket(1)) == "Ticket noted."
        assert [e["source"] for e in journal(recorder.url)] == ["upstream", "upstream", "cassette"]
        assert len(journal(upstream.url)) == 2
    finally:
        recorder.stop()
        upstream.stop()
    yield folder


@pytest.fixture(scope="module")
def replayer(recorded: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("replay")
    server = start_server(
        "--cassettes",
        str(recorded),
        "--scenarios",
        str(write_scenario(tmp, CHAOS_RULES)),
        tmp_path=tmp,
    )
    yield server
    server.stop()


def test_a_later_run_with_another_uuid_and_time_matches(replayer: RunningServer) -> None:
    assert ask(replayer, ticket(7)) == "Ticket noted."
    assert journal(replayer.url)[-1]["rule"] == "docs/story.yaml#0"


def test_a_miss_shows_the_normalised_values_and_the_normalisers(replayer: RunningServer):
    response = httpx.post(
        replayer.base_url + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ticket(3) + "!"}]},
    )
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert "nearest recorded request: docs/story.yaml#0" in message
    assert (
        "messages[0].content: recorded 'Open ticket <uuid> at <timestamp>' != sent"
        " 'Open ticket <uuid> at <timestamp>!' (normalised by uuid, iso_timestamp)"
    ) in message
    doc = (Path(__file__).resolve().parents[2] / "docs" / "recording.md").read_text()
    assert response.text in doc  # the miss docs/recording.md shows, byte for byte


def broken(server: RunningServer, text: str) -> tuple[list[str], BaseException]:
    """The deltas the SDK yields before the stream breaks, and what it raises."""
    deltas: list[str] = []
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is what is compared
        for chunk in client(server).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)
    return deltas, caught.value


def test_a_recorded_stream_breaks_where_a_rule_says_as_a_live_one_does(
    replayer: RunningServer,
) -> None:
    httpx.post(replayer.url + "/__admin/reset")
    # 1. the connection is cut after the third token
    replayed, replay_error = broken(replayer, "Tell me a story")
    live, live_error = broken(replayer, "live story")
    assert replayed == STORY[:3] and live == STORY[:3]
    assert type(replay_error) is type(live_error)
    assert isinstance(replay_error, httpx.RemoteProtocolError | openai.APIConnectionError)
    entry = journal(replayer.url)[-2]
    assert (entry["rule"], entry["source"]) == ("docs/story.yaml#1", "cassette")
    assert entry["faults"] == ["disconnect_after_tokens=3"]
    # 2. an in-band error after the third token
    replayed, replay_error = broken(replayer, "Tell me a story")
    live, live_error = broken(replayer, "live story")
    assert replayed == STORY[:3] and live == STORY[:3]
    assert type(replay_error) is type(live_error) is openai.APIError
    assert str(replay_error) == "replay broke" and str(live_error) == "live broke"
    # 3. then the recording plays whole, later than recorded
    stream = client(replayer).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me a story"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "".join(STORY)
    assert journal(replayer.url)[-1]["duration_ms"] >= 390


def test_the_documented_replay_rule_is_the_one_tested() -> None:
    import re

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "recording.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "break-story" in b]
    assert yaml.safe_load(block)["rules"][0] == yaml.safe_load(CHAOS_RULES)["rules"][0]


def test_a_replay_rule_that_names_no_loaded_interaction_is_named_at_start(
    recorded: Path, replayer: RunningServer, tmp_path: Path
) -> None:
    slip = CHAOS_RULES.replace('"docs/story.yaml#1"', '"story.yaml#1"')
    server = start_server(
        "--cassettes", str(recorded), "--scenarios", str(write_scenario(tmp_path, slip)),
        tmp_path=tmp_path,
    )  # fmt: skip
    try:
        said = server.log_with("its match.cassette names no loaded interaction")
        assert "rule 'break-story': its match.cassette names no loaded interaction" in said
    finally:
        server.stop()
    assert "names no loaded interaction" not in replayer.log()
