"""The cassette library: dialects read, what is skipped, unreadable files, normalised matching."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from mockllm.cassettes import (
    CassetteError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    Recorder,
    Scrubber,
    family_of,
    read_cassette,
)
from mockllm.library import MAX_READERS, CassetteLibrary, Miss
from mockllm.normalize import Normalizer

URL = "https://api.openai.com/v1/chat/completions"
PATH = "/v1/chat/completions"
UUID_A = "0f8fad5b-d9cb-469f-a165-70867728950e"
UUID_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}}],
}
STREAM = (
    'data: {"choices":[{"index":0,"delta":{"content":"Pa"}}]}\n\n'
    'data: {"choices":[{"index":0,"delta":{"content":"ris."}}]}\n\n'
    "data: [DONE]\n\n"
)


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], **extra}


def parsed_item(body: dict[str, Any], response: Any, *, stream: bool = False) -> dict[str, Any]:
    """One interaction as a parsed-body serializer writes it (JSON bodies as data)."""
    answer: dict[str, Any] = {
        "headers": {"content-type": ["text/event-stream" if stream else "application/json"]},
        "status": {"code": 200, "message": "OK"},
    }
    if stream:
        answer["body"] = {"string": response}
    else:
        answer["parsed_body"] = response
    return {
        "request": {
            "headers": {"content-type": ["application/json"]},
            "method": "POST",
            "parsed_body": body,
            "uri": URL,
        },
        "response": answer,
    }


def vcr_item(uri: str, body: Any = None, method: str = "POST") -> dict[str, Any]:
    return {
        "request": {"method": method, "uri": uri, "body": body, "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": json.dumps(COMPLETION)},
        },
    }


def content_of(found: Interaction | Miss) -> str:
    assert isinstance(found, Interaction), found
    return str(orjson.loads(found.response.body)["choices"][0]["message"]["content"])


# --- dialects ---------------------------------------------------------------------------------


def test_parsed_bodies_are_read_back_as_their_serializer_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "parsed.yaml"
    text = yaml.safe_dump(
        {
            "interactions": [
                parsed_item(chat("Capital of France?"), COMPLETION),
                parsed_item(chat("Stream it", stream=True), STREAM, stream=True),
            ]
        }
    )
    path.write_text(text)
    cassette = read_cassette(path, "parsed.yaml")
    assert cassette.file.parsed_bodies and not cassette.file.versioned
    plain, streamed = cassette.interactions
    assert plain.request.json == chat("Capital of France?")
    stored = yaml.safe_load(text)["interactions"][0]["response"]["parsed_body"]
    assert plain.response.body == json.dumps(stored).encode()  # as their deserialize gives it
    assert streamed.response.events is not None
    assert [e for _, e in streamed.response.events][-1] == b"data: [DONE]\n\n"
    assert path.read_text() == text  # reading never rewrites the file


def test_vcrpys_json_serializer_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "test_x.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"version": 1, "interactions": [vcr_item(URL, json.dumps(chat("hi")))]})
    )
    cassette = read_cassette(path, "sub/test_x.json")
    assert cassette.file.serializer == "json"
    assert content_of(cassette.interactions[0]) == "Paris."
    library = CassetteLibrary.load(tmp_path)
    assert content_of(library.find("POST", PATH, orjson.dumps(chat("hi")))) == "Paris."


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.json", "{", "bad.json:1: not valid JSON"),
        ("shape.json", '{"interactions": 3}', "no 'interactions' list"),
        (
            "keys.yaml",
            "interactions:\n- request: {method: GET, uri: x, extra: 1}\n  response: {status: 200}",
            "keys.yaml:2: interactions[0].request.extra: unknown key 'extra'",
        ),
    ],
)
def test_broken_files_say_what_is_wrong(tmp_path: Path, name: str, text: str, expected: str):
    (tmp_path / name).write_text(text)
    with pytest.raises(CassetteError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        read_cassette(tmp_path / name, name)


def test_families_are_known_by_the_end_of_the_path() -> None:
    assert family_of("/v1/chat/completions") == "chat"
    assert family_of("/openai/v1/chat/completions/") == "chat"
    assert family_of("/v1/responses") == "responses"
    assert family_of("/v1/messages") == "messages"
    assert family_of("/v1/embeddings") == "embeddings"
    assert family_of("/v1/models") is None and family_of("/oauth/token") is None


def test_the_legacy_completions_path_is_its_own_family_and_chat_stays_chat() -> None:
    assert family_of("/v1/completions") == "completions"
    assert family_of("/api/v4/completions") == "completions"  # a gateway's prefix
    assert family_of("/openai/v1/completions/") == "completions"
    assert family_of("/completions") == "completions"
    assert family_of("/api/v4/chat/completions") == "chat"  # ends with /completions too
    assert family_of("/v1/chat/completions/") == "chat"
    assert family_of("/v1/text_completions") is None  # the end of a name is no family


def completions_item(path: str, prompt: str, text: str) -> Interaction:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": prompt, "max_tokens": 5}
    answer = {"object": "text_completion", "choices": [{"text": text, "index": 0}]}
    return Interaction(
        RecordedRequest("POST", path, body=orjson.dumps(body), url="https://gw.example" + path),
        RecordedResponse(200, "OK", (("content-type", "application/json"),), orjson.dumps(answer)),
        0,
        "c.yaml",
    )


def test_a_completions_recording_answers_its_family_whatever_the_prefix() -> None:
    library = CassetteLibrary(
        [
            completions_item("/api/v4/completions", "Say hello", " Hello."),
            completions_item("/api/v4/completions", "Say goodbye to Ann", " Bye."),
        ]
    )
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hello", "max_tokens": 5}
    found = library.find("POST", "/v1/completions", orjson.dumps(body))
    assert isinstance(found, Interaction) and b"Hello." in found.response.body
    chat_miss = library.find("POST", "/v1/chat/completions", orjson.dumps(body))
    assert isinstance(chat_miss, Miss)  # the same body on chat is another request
    assert chat_miss.diff[0] == (
        "path: recorded '/api/v4/completions' != sent '/v1/chat/completions'"
    )
    closer = {**body, "prompt": "Say goodbye to Bob"}
    miss = library.find("POST", "/v1/completions", orjson.dumps(closer))
    assert isinstance(miss, Miss) and miss.nearest is not None
    assert b"Bye." in miss.nearest.response.body  # the nearest prompt, not the first recorded
    assert miss.diff == ("prompt: recorded 'Say goodbye to Ann' != sent 'Say goodbye to Bob'",)


# --- loading a folder -------------------------------------------------------------------------


def test_calls_that_are_not_llm_api_calls_are_counted_and_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = [
        vcr_item("https://huggingface.co/api/models/x", method="GET"),
        vcr_item(URL, json.dumps(chat("hi"))),
        vcr_item("https://example.com/oauth/token", "grant_type=x"),
        vcr_item("https://api.anthropic.com/v1/messages", json.dumps(chat("hey"))),
    ]
    (tmp_path / "mixed.yaml").write_text(yaml.safe_dump({"version": 1, "interactions": items}))
    with caplog.at_level(logging.INFO, logger="mockllm.cassettes"):
        library = CassetteLibrary.load(tmp_path)
    assert len(library) == 2 and library.skipped == 2
    assert library.summary() == {"files": 1, "interactions": 2, "skipped": 2, "unreadable": []}
    assert "cassettes=1 interactions=2 skipped=2 unreadable=0" in caplog.text
    assert content_of(library.find("POST", "/v1/messages", orjson.dumps(chat("hey")))) == "Paris."


RESUMED = "https://api.openai.com/v1/responses/resp_1"


def test_route_calls_on_api_paths_are_loaded_and_found_by_path_query_and_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = [
        vcr_item("https://api.openai.com/v1/models", method="GET"),
        vcr_item(f"{RESUMED}?stream=true&starting_after=2", None, "GET"),
        vcr_item("https://api.anthropic.com/v1/messages/count_tokens", json.dumps(chat("hi"))),
        vcr_item("https://huggingface.co/api/models/x", method="GET"),  # not an API path
        vcr_item(URL, json.dumps(chat("hey"))),
    ]
    (tmp_path / "mixed.yaml").write_text(yaml.safe_dump({"version": 1, "interactions": items}))
    with caplog.at_level(logging.INFO, logger="mockllm.cassettes"):
        library = CassetteLibrary.load(tmp_path, normalizer=Normalizer.build(ignore=["user"]))
    assert len(library) == 4 and library.skipped == 1
    assert library.has_routes() and library.has_calls()
    assert "cassettes=1 interactions=4 skipped=1 unreadable=0" in caplog.text
    assert isinstance(library.find_route("GET", "/v1/models", "", b""), Interaction)
    assert isinstance(library.find_route("GET", "/v1/models/", "", b""), Interaction)
    assert library.find_route("DELETE", "/v1/models", "", b"") is None
    assert library.find_route("GET", "/models", "", b"") is None  # a path, not a family
    # the query, its parameters in any order; the body as normalised JSON data
    found = library.find_route("GET", "/v1/responses/resp_1", "starting_after=2&stream=true", b"")
    assert isinstance(found, Interaction) and found.index == 1
    assert library.find_route("GET", "/v1/responses/resp_1", "stream=true", b"") is None
    sent = orjson.dumps({**chat("hi"), "user": "someone"})
    found = library.find_route("POST", "/v1/messages/count_tokens", "", sent)
    assert isinstance(found, Interaction) and found.index == 2
    other = orjson.dumps(chat("no"))
    assert library.find_route("POST", "/v1/messages/count_tokens", "", other) is None
    # an LLM API call never finds a route call, nor names one as its nearest
    miss = library.find("POST", PATH, orjson.dumps(chat("ho")))
    assert isinstance(miss, Miss) and miss.nearest is not None and miss.nearest.index == 4


def test_route_calls_replay_in_order_and_alone_leave_llm_calls_to_the_generator() -> None:
    def poll(status: str, index: int) -> Interaction:
        answer = RecordedResponse(200, body=orjson.dumps({"status": status}))
        return Interaction(RecordedRequest("GET", "/v1/responses/r"), answer, index, "c.yaml")

    library = CassetteLibrary([poll("queued", 0), poll("completed", 1)])
    assert library.has_routes() and not library.has_calls()
    played = [library.find_route("GET", "/v1/responses/r", "", b"") for _ in range(3)]
    assert [i.index for i in played if isinstance(i, Interaction)] == [0, 1, 1]
    library.reset()
    strict = CassetteLibrary([poll("queued", 0)], repeat_last=False)
    assert isinstance(strict.find_route("GET", "/v1/responses/r", "", b""), Interaction)
    assert isinstance(strict.find_route("GET", "/v1/responses/r", "", b""), Miss)
    library.erase("c.yaml")
    assert not library.has_routes() and len(library) == 0


def test_every_unreadable_file_is_named_at_once(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        yaml.safe_dump({"interactions": [vcr_item(URL, json.dumps(chat("hi")))]})
    )
    (tmp_path / "a.yaml").write_text("interactions: [")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "b.json").write_text('{"interactions": [{"request": {}}]}')
    with pytest.raises(CassetteError) as caught:
        CassetteLibrary.load(tmp_path)
    message = str(caught.value)
    assert message.startswith("2 cassette file(s) under")
    assert "--cassettes-skip-unreadable" in message
    assert "a.yaml:2: not valid YAML" in message
    assert "b.json:1: interactions[0]: missing required key 'response'" in message


def test_unreadable_files_can_be_skipped_with_a_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "good.yaml").write_text(
        yaml.safe_dump({"interactions": [vcr_item(URL, json.dumps(chat("hi")))]})
    )
    (tmp_path / "a.yaml").write_text("interactions: [")
    (tmp_path / "b.yml").write_text("- old: format")
    with caplog.at_level(logging.WARNING, logger="mockllm.cassettes"):
        library = CassetteLibrary.load(tmp_path, skip_unreadable=True)
    assert len(library) == 1
    assert [u["file"] for u in library.summary()["unreadable"]] == ["a.yaml", "b.yml"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "written by vcrpy before 1.0" in warnings[1].getMessage()
    assert not library.existed("a.yaml") and library.existed("good.yaml")


def test_the_folder_settings_file_is_not_a_cassette(tmp_path: Path) -> None:
    (tmp_path / "mockllm.yaml").write_text("match: {ignore: [user]}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mockllm.yaml").write_text(
        yaml.safe_dump({"interactions": [vcr_item(URL, json.dumps(chat("hi")))]})
    )
    library = CassetteLibrary.load(tmp_path)  # the root's mockllm.yaml would not read
    assert library.existed("sub/mockllm.yaml") and not library.existed("mockllm.yaml")


# --- matching through normalisers -------------------------------------------------------------


def recorded(content: str, answer: str = "Paris.") -> Interaction:
    body = orjson.dumps(chat(content))
    response = {**COMPLETION, "choices": [{"message": {"content": answer}}]}
    return Interaction(
        RecordedRequest("POST", PATH, body=body, url=URL),
        RecordedResponse(
            200, "OK", (("content-type", "application/json"),), orjson.dumps(response)
        ),
        0,
        "c.yaml",
    )


def test_a_request_with_another_uuid_and_time_matches_its_recording() -> None:
    normalizer = Normalizer.build(builtins=["uuid", "iso_timestamp"])
    library = CassetteLibrary(
        [recorded(f"Ticket {UUID_A} opened 2024-05-01T12:00:00Z")], normalizer=normalizer
    )
    sent = orjson.dumps(chat(f"Ticket {UUID_B} opened 2025-02-03T04:05:06Z"))
    assert content_of(library.find("POST", PATH, sent)) == "Paris."
    plain = CassetteLibrary([recorded(f"Ticket {UUID_A} opened 2024-05-01T12:00:00Z")])
    assert isinstance(plain.find("POST", PATH, sent), Miss)


def test_a_miss_shows_normalised_values_and_names_the_normalisers() -> None:
    normalizer = Normalizer.build(builtins=["uuid", "iso_timestamp"])
    library = CassetteLibrary(
        [recorded(f"Ticket {UUID_A} opened 2024-05-01T12:00:00Z")], normalizer=normalizer
    )
    miss = library.find("POST", PATH, orjson.dumps(chat(f"Ticket {UUID_B} closed 2025-02-03")))
    assert isinstance(miss, Miss)
    assert miss.diff == (
        "messages[0].content: recorded 'Ticket <uuid> opened <timestamp>' != sent"
        " 'Ticket <uuid> closed 2025-02-03' (normalised by uuid, iso_timestamp)",
    )


def test_ignored_nested_paths_do_not_count() -> None:
    normalizer = Normalizer.build(ignore=["metadata.run_id", "messages[*].name"])
    body = chat("hi", metadata={"run_id": "r1", "team": "qa"})
    body["messages"][0]["name"] = "ann"
    interaction = Interaction(
        RecordedRequest("POST", PATH, body=orjson.dumps(body), url=URL),
        recorded("x").response,
        0,
        "c.yaml",
    )
    library = CassetteLibrary([interaction], normalizer=normalizer)
    sent = chat("hi", metadata={"run_id": "r2", "team": "qa"})
    assert content_of(library.find("POST", PATH, orjson.dumps(sent))) == "Paris."
    other_team = chat("hi", metadata={"run_id": "r2", "team": "ops"})
    miss = library.find("POST", PATH, orjson.dumps(other_team))
    assert isinstance(miss, Miss) and miss.diff == ("metadata.team: recorded 'qa' != sent 'ops'",)


def test_erase_forgets_a_cassette() -> None:
    library = CassetteLibrary([recorded("hi")], existing=["c.yaml"])
    library.erase("c")
    assert not library.existed("c.yaml") and len(library) == 0
    assert isinstance(library.find("POST", PATH, orjson.dumps(chat("hi"))), Miss)


# --- writing in a dialect ---------------------------------------------------------------------


def request_of(content: str) -> RecordedRequest:
    headers = (("Content-Type", "application/json"),)
    return RecordedRequest("POST", PATH, "", headers, orjson.dumps(chat(content)), URL)


def response_of(answer: str) -> RecordedResponse:
    body = orjson.dumps({**COMPLETION, "choices": [{"message": {"content": answer}}]})
    return RecordedResponse(200, "OK", (("content-type", "application/json"),), body)


def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "test_x.yaml"
    path.write_text(yaml.safe_dump({"interactions": [parsed_item(chat("old"), COMPLETION)]}))
    return path


def test_recording_into_a_foreign_file_writes_mockllms_form(tmp_path: Path) -> None:
    path = foreign(tmp_path)
    Recorder(tmp_path, Scrubber()).append("test_x", request_of("new"), response_of("New."))
    data = yaml.safe_load(path.read_text())
    assert data["version"] == 1
    assert all("parsed_body" not in i["request"] for i in data["interactions"])
    assert json.loads(data["interactions"][0]["request"]["body"]) == chat("old")
    assert [content_of(i) for i in read_cassette(path, "x").interactions] == ["Paris.", "New."]


def test_keep_format_writes_the_files_own_dialect(tmp_path: Path) -> None:
    path = foreign(tmp_path)
    recorder = Recorder(tmp_path, Scrubber(), keep_format=True)
    recorder.append("test_x", request_of("new"), response_of("New."))
    data = yaml.safe_load(path.read_text())
    assert "version" not in data
    assert [i["request"]["parsed_body"] for i in data["interactions"]] == [chat("old"), chat("new")]
    assert data["interactions"][1]["response"]["parsed_body"]["choices"][0]["message"] == {
        "content": "New."
    }
    assert [content_of(i) for i in read_cassette(path, "x").interactions] == ["Paris.", "New."]


def test_a_json_cassette_is_written_as_json(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, Scrubber())
    recorder.append("sub/test_y.json", request_of("hi"), response_of("Hello."))
    data = json.loads((tmp_path / "sub" / "test_y.json").read_text())
    assert data["version"] == 1 and json.loads(data["interactions"][0]["request"]["body"])
    assert content_of(read_cassette(tmp_path / "sub/test_y.json", "y").interactions[0]) == "Hello."


def test_mode_all_replaces_the_same_request_through_the_normalisers(tmp_path: Path) -> None:
    library = CassetteLibrary(normalizer=Normalizer.build(builtins=["uuid"]))
    recorder = Recorder(tmp_path, Scrubber(), library=library)
    recorder.append("c", request_of(f"id {UUID_A}"), response_of("first"))
    (tmp_path / "c.yaml").write_text((tmp_path / "c.yaml").read_text())  # as if on disk before
    fresh = Recorder(tmp_path, Scrubber(), library=library)
    fresh.append("c", request_of(f"id {UUID_B}"), response_of("second"), replace=True)
    kept = read_cassette(tmp_path / "c.yaml", "c").interactions
    assert [content_of(i) for i in kept] == ["second"]


def test_the_new_settings_reach_worker_processes() -> None:
    from mockllm.config import ServerConfig

    config = ServerConfig(
        ignore_fields=("messages[*].name",),
        normalize=("uuid", "epoch"),
        normalize_regex=(("ORD-[0-9]+", "ORD-N"),),
        cassettes_skip_unreadable=True,
        cassettes_keep_format=True,
    )
    assert ServerConfig.from_json(config.to_json()) == config


_PARALLEL_READ = r"""
import json, os, sys
from pathlib import Path
from mockllm import library

pids = set()
real = library.read_cassette
def read_cassette(path, name):
    with open(sys.argv[2], "a") as out:
        out.write(f"{os.getpid()}\n")
    return real(path, name)
library.read_cassette = read_cassette
root = Path(sys.argv[1])
library.PARALLEL_BYTES = int(sys.argv[3])
library.parallel_reads = sys.argv[4] == "yes"
try:
    lib = library.CassetteLibrary.load(root, skip_unreadable=True)
except Exception as exc:
    print(json.dumps({"error": str(exc)}))
    raise SystemExit(0)
print(json.dumps({
    "interactions": sorted(repr(i) for items in lib._by_cassette.values() for i in items),
    "unreadable": [[u.file, u.reason] for u in lib.unreadable],
    "skipped": lib.skipped,
}))
"""


def test_a_large_folder_is_read_by_several_processes_with_the_same_result(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = Path(__file__).parent / "data" / "cassettes"
    root = tmp_path / "cassettes"
    for i in range(6):
        for source in sorted(data.rglob("*.yaml")):
            target = root / f"copy{i}" / source.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    (root / "copy3" / "broken.yaml").write_text("interactions: [\n")

    def load(parallel_bytes: int, owned: str = "yes") -> tuple[dict[str, Any], set[str]]:
        pids = tmp_path / f"pids-{parallel_bytes}-{owned}"
        argv = [str(root), str(pids), str(parallel_bytes), owned]
        done = subprocess.run(
            [sys.executable, "-c", _PARALLEL_READ, *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout.splitlines()[-1]), set(pids.read_text().split())

    alone, one = load(1 << 40)
    shared, several = load(1)
    embedded, host = load(1, owned="no")  # a host's process: never forks
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    readers = min(cores or 1, MAX_READERS)  # one per core (CI has two)
    assert len(one) == 1 and len(several) == readers and len(host) == 1, (one, several, host)
    assert embedded == alone
    assert alone["interactions"] and alone == shared
    assert [u[0] for u in shared["unreadable"]] == ["copy3/broken.yaml"]


def test_fields_to_ignore_given_to_load_are_ignored(tmp_path: Path) -> None:
    recorded = vcr_item(URL, json.dumps(chat("hi", user="alice")))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"version": 1, "interactions": [recorded]}))
    library = CassetteLibrary.load(tmp_path, ["user"])
    sent = json.dumps(chat("hi", user="bob")).encode()
    assert isinstance(library.find("POST", "/v1/chat/completions", sent), Interaction)
    strict = CassetteLibrary.load(tmp_path)
    assert not isinstance(strict.find("POST", "/v1/chat/completions", sent), Interaction)
