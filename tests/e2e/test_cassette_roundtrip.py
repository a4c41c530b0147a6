"""Cassettes between mockllm and a user's own test suite, and cassettes from other suites.

- mockllm records the official SDKs (chat, Responses, Messages; whole and streamed; an
  error of each API) through `mockllm record`, into pytest-recording's layout
  (`test_users_suite/test_sdk_calls.yaml`), and plain vcrpy replays the file to the same
  SDK results and exceptions;
- vcrpy records the same calls itself (its defaults, `decode_compressed_response`,
  `filter_headers`, the `json` serializer; and httpx's own calls, with zstd bodies) and
  `mockllm serve --cassettes` replays them;
- cassettes copied from other projects' suites (tests/data/cassettes/wild/, each names
  its source) replay to the SDK request their recorded body describes, as they are and
  with their bodies zstd-encoded, as vcrpy keeps them from an API that answers in zstd.

The upstream is a small HTTP server in this process that answers with those recorded
bodies (zstd for a client that offers it, else gzip for one that accepts gzip, as the APIs
behind Cloudflare do). vcrpy runs in this process too: it patches the HTTP clients only
inside its `use_cassette` blocks.
"""

from __future__ import annotations

import gzip
import http.server
import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import vcr
import yaml
import zstandard

from tests.conftest import RunningServer

from .helpers import journal, launch, reset, wait_healthy

WILD = Path(__file__).resolve().parents[1] / "data" / "cassettes" / "wild"
PROMPT = "Round trip?"


# --- what the wild cassettes recorded, read here without mockllm ----------------------------


@dataclass(frozen=True)
class Recorded:
    """One recorded interaction of a wild cassette: its request and decoded answer."""

    cassette: str
    index: int
    path: str
    query: dict[str, str]
    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def is_stream(self) -> bool:
        return bool(self.request.get("stream"))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def read_wild(name: str) -> list[Recorded]:
    out = []
    data = load_yaml((WILD / name).read_text(encoding="utf-8"))
    for index, item in enumerate(data["interactions"]):
        response = item["response"]
        headers = {k.lower(): v[0] for k, v in response["headers"].items()}
        body = response["body"]["string"]
        body = body if isinstance(body, bytes) else body.encode()
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        uri = httpx.URL(item["request"]["uri"])
        out.append(
            Recorded(
                name,
                index,
                uri.path,
                dict(uri.params),
                json.loads(item["request"]["body"]),
                response["status"]["code"],
                headers,
                body,
            )
        )
    return out


WILD_INTERACTIONS = [r for path in sorted(WILD.glob("*.yaml")) for r in read_wild(path.name)]


def the(cassette: str, index: int = 0) -> Recorded:
    return next(r for r in WILD_INTERACTIONS if (r.cassette, r.index) == (cassette, index))


# The upstream's answers: (path, stream) -> a recorded answer from the wild cassettes.
ANSWERS = {
    ("/v1/chat/completions", False): the("crewai_openai_chat_repeated.yaml"),
    ("/v1/chat/completions", True): the("crewai_openai_tool_stream.yaml"),
    ("/v1/responses", False): the("crewai_responses_pretty.yaml"),
    ("/v1/responses", True): the("simonw_llm_responses_stream.yaml"),
    ("/v1/messages", False): the("crewai_anthropic_gzip.yaml"),
    ("/v1/messages", True): the("crewai_anthropic_tool_stream.yaml"),
}


# Errors as the APIs answer them: OpenAI's 400, recorded in pydantic/pydantic-ai's
# tests/models/cassettes/test_openai/test_openai_web_search_tool_model_not_supported.yaml,
# and Anthropic's 529 (its error shape, with the request id the API adds).
REFUSED = "Search the web?"
ERRORS = {
    "/v1/chat/completions": (
        400,
        b'{"error":{"code":null,"message":"Web search options not supported with this'
        b' model.","param":"web_search_options","type":"invalid_request_error"}}',
    ),
    "/v1/messages": (
        529,
        b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},'
        b'"request_id":"req_011CUofgGvqpCtoqCmKcwXdK"}',
    ),
}


# --- the upstream --------------------------------------------------------------------------


class _Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if "messages" in sent and sent["messages"][-1]["content"] == REFUSED:
            status, error = ERRORS[self.path]
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        answer = ANSWERS[(self.path, bool(sent.get("stream")))]
        body = answer.body
        headers = {"content-type": answer.headers["content-type"]}
        for name in ("x-request-id", "request-id", "openai-version"):
            if name in answer.headers:
                headers[name] = answer.headers[name]
        accepted = self.headers.get("accept-encoding", "")
        if answer.is_stream:
            pass
        elif "zstd" in accepted:  # preferred when offered, as Cloudflare prefers it
            body, headers["content-encoding"] = zstd_frames(body), "zstd"
        elif "gzip" in accepted:
            body, headers["content-encoding"] = gzip.compress(body), "gzip"
        self.send_response(answer.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


# --- the SDK calls of a user's test --------------------------------------------------------


_CLIENTS: dict[str, tuple[openai.OpenAI, anthropic.Anthropic]] = {}


def clients(base: str) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    """The SDKs' clients for a server's root URL, made once (each costs an SSL context)."""
    if base not in _CLIENTS:
        _CLIENTS[base] = (
            openai.OpenAI(base_url=f"{base}/v1", api_key="sk-user-suite-key", max_retries=0),
            anthropic.Anthropic(base_url=base, api_key="sk-ant-user-suite", max_retries=0),
        )
    return _CLIENTS[base]


CALLS = 8  # the requests sdk_calls makes


def sdk_calls(base: str, cassette: str | None = None) -> dict[str, Any]:
    """Chat, Responses and Messages, whole and streamed, as a user's test makes them; what
    the SDKs return, as data. ``base`` is the server's root URL."""
    client, claude = clients(base)
    more: dict[str, Any] = {"extra_headers": {"X-Mockllm-Cassette": cassette}} if cassette else {}
    refused: Any = [{"role": "user", "content": REFUSED}]
    errors = {}
    try:
        client.chat.completions.create(
            model="gpt-4o", messages=refused, web_search_options={}, **more
        )
    except openai.APIStatusError as exc:
        errors["chat error"] = (exc.status_code, type(exc).__name__, exc.body)
    try:
        claude.messages.create(
            model="claude-3-5-haiku-20241022", max_tokens=8, messages=refused, **more
        )
    except anthropic.APIStatusError as exc:
        errors["messages error"] = (exc.status_code, type(exc).__name__, exc.body)
    ask: Any = [{"role": "user", "content": PROMPT}]
    chat, responses = client.chat.completions, client.responses
    model = "claude-3-5-haiku-20241022"
    return {
        "chat": chat.create(model="gpt-4o", messages=ask, **more).to_dict(),
        "chat stream": [
            chunk.to_dict()
            for chunk in chat.create(model="gpt-4o-mini", messages=ask, stream=True, **more)
        ],
        "responses": responses.create(model="gpt-4o-mini", input=PROMPT, **more).to_dict(),
        "responses stream": [
            event.to_dict()
            for event in responses.create(model="gpt-5.5", input=PROMPT, stream=True, **more)
        ],
        "messages": claude.messages.create(
            model=model, max_tokens=64, messages=ask, **more
        ).to_dict(),
        "messages stream": [
            event.to_dict()
            for event in claude.messages.create(
                model=model, max_tokens=64, messages=ask, stream=True, **more
            )
        ],
        **errors,
    }


# --- servers -------------------------------------------------------------------------------


# vcrpy's settings a user's suite records with: (cassette file, use_cassette options)
VCRPY_SETTINGS = {
    "default": ("vcrpy/default.yaml", {}),
    "decoded": ("vcrpy/decoded.yaml", {"decode_compressed_response": True}),
    "filtered": ("vcrpy/filtered.yaml", {"filter_headers": ["authorization", "x-api-key"]}),
    # vcrpy's json serializer cannot hold the gzipped bytes: such suites decode them.
    "json": ("vcrpy/as_json.json", {"serializer": "json", "decode_compressed_response": True}),
}


def record_with_vcrpy(path: Path, upstream: str, options: dict[str, Any]) -> dict[str, Any]:
    with vcr.use_cassette(str(path), record_mode="once", **options):
        return sdk_calls(upstream)


_HTTPX: list[httpx.Client] = []


def plain_httpx() -> httpx.Client:
    """httpx itself, made once; it asks for zstd, the zstandard package being installed."""
    if not _HTTPX:
        _HTTPX.append(httpx.Client(timeout=10))
    return _HTTPX[0]


def close_clients() -> None:
    """Close the clients (first: a server waits for open connections when it stops)."""
    for client in [*_HTTPX, *(c for pair in _CLIENTS.values() for c in pair)]:
        client.close()
    _HTTPX.clear()
    _CLIENTS.clear()


def httpx_calls(base: str, cassette: str | None = None) -> dict[str, Any]:
    """A user's code calling the APIs with httpx itself: the JSON each answers."""
    headers = {"X-Mockllm-Cassette": cassette} if cassette else {}
    ask = [{"role": "user", "content": PROMPT}]
    calls = {
        "chat": ("/v1/chat/completions", {"model": "gpt-4o", "messages": ask}),
        "responses": ("/v1/responses", {"model": "gpt-4o-mini", "input": PROMPT}),
        "messages": (
            "/v1/messages",
            {"model": "claude-3-5-haiku-20241022", "max_tokens": 64, "messages": ask},
        ),
    }
    return {
        kind: plain_httpx()
        .post(f"{base}{path}", json=body, headers={**headers, "anthropic-version": "2023-06-01"})
        .json()
        for kind, (path, body) in calls.items()
    }


def record_httpx_with_vcrpy(path: Path, upstream: str, options: dict[str, Any]) -> dict[str, Any]:
    with vcr.use_cassette(str(path), record_mode="once", **options):
        return httpx_calls(upstream)


# vcrpy keeps zstd bodies with their header, even when told to decode (it knows no zstd).
VCRPY_ZSTD = {
    "default": ("vcrpy/httpx_zstd.yaml", {}),
    "decoded": ("vcrpy/httpx_zstd_decoded.yaml", {"decode_compressed_response": True}),
}


# Each wild interaction's body zstd-encoded three ways: one frame with its size; frames as
# a server that compresses while it writes flushes them (an event or 64 bytes each, no
# sizes); and stored decoded with the header kept.
ZSTD_FORMS = ("one_frame", "frames", "decoded")


def zstd_frames(body: bytes) -> bytes:
    out = io.BytesIO()
    pieces = body.split(b"\n\n") if body.startswith((b"data:", b"event:")) else []
    pieces = [p + b"\n\n" for p in pieces[:-1]] + pieces[-1:] if pieces else []
    pieces = pieces or [body[i : i + 64] for i in range(0, len(body), 64)]
    for piece in pieces:
        frame = io.BytesIO()
        with zstandard.ZstdCompressor().stream_writer(frame, closefd=False) as writer:
            writer.write(piece)
        out.write(frame.getvalue())
    return out.getvalue()


def write_zstd_cassettes(folder: Path) -> None:
    for form in ZSTD_FORMS:
        for path in sorted(WILD.glob("*.yaml")):
            data = load_yaml(path.read_text(encoding="utf-8"))
            for item, recorded in zip(data["interactions"], read_wild(path.name), strict=True):
                response = item["response"]
                headers = {k: v for k, v in response["headers"].items() if k.lower() not in (
                    "content-encoding", "content-length")}  # fmt: skip
                body = recorded.body
                if form == "one_frame":
                    body = zstandard.ZstdCompressor().compress(body)
                elif form == "frames":
                    body = zstd_frames(body)
                response["headers"] = {**headers, "Content-Encoding": ["zstd"]}
                response["body"] = {"string": body}
            target = folder / form / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            text = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False)
            target.write_text(text, encoding="utf-8")


@dataclass
class Servers:
    upstream: str
    recorder: RunningServer
    replayer: RunningServer
    recorded: Path  # the recorder's cassettes folder
    replayed: Path  # the replay server's
    by_vcrpy: dict[str, dict[str, Any]]  # what the SDKs got while vcrpy recorded
    by_httpx: dict[str, dict[str, Any]]  # what httpx got while vcrpy recorded


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp("roundtrip")
    upstream = _Upstream(("127.0.0.1", 0), _Answer)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{upstream.server_port}"
    recorded = tmp / "recorded"
    started = [launch("record", "--upstream", f"{root}/v1", "--cassettes", str(recorded),
                      "--cassette", "test_users_suite/test_sdk_calls", cwd=tmp)]  # fmt: skip
    try:
        folder = tmp / "replay"
        shutil.copytree(WILD, folder / "wild")
        write_zstd_cassettes(folder / "zstd")
        by_vcrpy = {
            name: record_with_vcrpy(folder / file, root, options)
            for name, (file, options) in VCRPY_SETTINGS.items()
        }
        by_httpx = {
            name: record_httpx_with_vcrpy(folder / file, root, options)
            for name, (file, options) in VCRPY_ZSTD.items()
        }
        started.append(launch("serve", "--cassettes", str(folder), cwd=tmp))
        wait_healthy(*started)
        yield Servers(root, started[0], started[1], recorded, folder, by_vcrpy, by_httpx)
    finally:
        close_clients()
        for server in started:  # both stop at once
            server.proc.terminate()
        for server in started:
            server.stop()
        upstream.shutdown()
        upstream.server_close()


# --- cassettes from the wild ---------------------------------------------------------------


def replay_raw(server: RunningServer, recorded: Recorded, cassette: str) -> httpx.Response:
    """The recorded request sent through the SDK (its raw response: status, headers, bytes)."""
    client, claude = clients(server.url)
    request = dict(recorded.request)
    if recorded.path.startswith("/openai/deployments/"):  # Azure's: /openai/deployments/NAME/
        with openai.AzureOpenAI(
            azure_endpoint=server.url,
            azure_deployment=recorded.path.split("/")[3],
            api_version=recorded.query["api-version"],
            api_key="azure-key",
            max_retries=0,
        ) as azure:
            request.setdefault("model", openai.NOT_GIVEN)  # the deployment names it
            return _sent(azure.chat.completions, request, cassette)
    resource: Any = (
        claude.messages
        if recorded.path.endswith("/messages")
        else client.responses
        if recorded.path.endswith("/responses")
        else client.chat.completions
    )
    return _sent(resource, request, cassette)


def _sent(resource: Any, request: dict[str, Any], cassette: str) -> httpx.Response:
    with resource.with_streaming_response.create(
        **request, extra_headers={"X-Mockllm-Cassette": cassette}
    ) as response:
        response.read()
        return response.http_response  # type: ignore[no-any-return]


def same_answer(response: httpx.Response, recorded: Recorded) -> None:
    assert response.status_code == recorded.status
    assert "content-encoding" not in response.headers
    if recorded.is_stream:  # the same events, blank lines between them aside
        assert response.headers["content-type"].startswith("text/event-stream")
        got = [line for line in response.content.decode().splitlines() if line]
        assert got == [line for line in recorded.body.decode().splitlines() if line]
    else:
        assert response.content == recorded.body
    # The request id is the exchange's own (docs/recording.md, replaying); the rest as recorded.
    kept = {k: v for k, v in recorded.headers.items() if k.startswith(("openai-", "anthropic-"))}
    assert {k: response.headers.get(k) for k in kept} == kept


WILD_IDS = [f"{r.cassette}#{r.index}" for r in WILD_INTERACTIONS]


@pytest.mark.parametrize("recorded", WILD_INTERACTIONS, ids=WILD_IDS)
def test_wild_cassettes_replay_to_the_sdk(servers: Servers, recorded: Recorded) -> None:
    reset(servers.replayer.url)
    cassette = f"wild/{recorded.cassette}"
    for _ in range(recorded.index + 1):  # the same request again plays the next answer
        response = replay_raw(servers.replayer, recorded, cassette)
    same_answer(response, recorded)
    entry = journal(servers.replayer.url)[-1]
    assert entry["rule"] == f"{cassette}#{recorded.index}"
    # the journal tells the call as it was made, on a path mockllm does not serve too
    family = "messages" if recorded.path.endswith("/messages") else recorded.path.split("/")[-1]
    family = {"completions": "chat"}.get(family, family)
    model = recorded.request.get("model") or recorded.path.split("/")[3]
    assert (entry["api"], entry["model"], entry["stream"]) == (family, model, recorded.is_stream)


# A whole JSON answer, a Responses stream and a Messages stream, in each zstd form.
ZSTD_REPLAYED = [
    the("crewai_openai_chat_repeated.yaml"),
    the("simonw_llm_responses_stream.yaml"),
    the("crewai_anthropic_tool_stream.yaml"),
]


@pytest.mark.parametrize("form", ZSTD_FORMS)
def test_zstd_bodies_replay_decoded(servers: Servers, form: str) -> None:
    reset(servers.replayer.url)
    for recorded in ZSTD_REPLAYED:
        cassette = f"zstd/{form}/{recorded.cassette}"
        same_answer(replay_raw(servers.replayer, recorded, cassette), recorded)
        assert journal(servers.replayer.url)[-1]["rule"] == f"{cassette}#{recorded.index}"


# --- a user's own suite replays mockllm's cassette -----------------------------------------


@pytest.fixture(scope="module")
def recorded_by_mockllm(servers: Servers) -> tuple[Path, dict[str, Any]]:
    """What the SDK calls got through `mockllm record`, and the cassette it wrote."""
    seen = sdk_calls(servers.recorder.url)
    path = servers.recorded / "test_users_suite" / "test_sdk_calls.yaml"
    deadline = time.monotonic() + 5  # written just after each answer's last byte
    while time.monotonic() < deadline:
        if path.exists() and len(load_yaml(path.read_text())["interactions"]) == CALLS:
            break
        time.sleep(0.01)
    return path, seen


def test_the_calls_through_the_recorder_get_the_upstreams_answers(
    recorded_by_mockllm: tuple[Path, dict[str, Any]], servers: Servers
) -> None:
    _, seen = recorded_by_mockllm
    assert seen == servers.by_vcrpy["default"]  # what the SDKs get from the upstream itself
    assert seen["chat"]["choices"][0]["message"]["content"].startswith("Hello! I'm just")
    assert seen["chat error"][:2] == (400, "BadRequestError")
    assert seen["messages error"][:2] == (529, "OverloadedError")


def test_vcrpy_replays_mockllms_cassette_to_the_sdks(
    recorded_by_mockllm: tuple[Path, dict[str, Any]], servers: Servers
) -> None:
    path, seen = recorded_by_mockllm
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        replayed = sdk_calls(servers.upstream)
    assert replayed == seen
    assert cassette.play_count == CALLS and cassette.all_played
    # told apart by their bodies, as the client sent them
    by_body = ("method", "scheme", "host", "port", "path", "query", "body")
    with vcr.use_cassette(str(path), record_mode="none", match_on=by_body) as cassette:
        assert sdk_calls(servers.upstream) == seen
    assert cassette.all_played


# --- mockllm replays a user's vcrpy cassettes ----------------------------------------------


@pytest.mark.parametrize("setting", VCRPY_SETTINGS)
def test_mockllm_replays_what_vcrpy_recorded(servers: Servers, setting: str) -> None:
    reset(servers.replayer.url)
    cassette = VCRPY_SETTINGS[setting][0]
    replayed = sdk_calls(servers.replayer.url, cassette)
    assert replayed == servers.by_vcrpy[setting]
    rules = [entry["rule"] for entry in journal(servers.replayer.url)]
    assert rules == [f"{cassette}#{index}" for index in range(CALLS)]


@pytest.mark.parametrize("setting", VCRPY_ZSTD)
def test_mockllm_replays_the_zstd_bodies_vcrpy_kept(servers: Servers, setting: str) -> None:
    reset(servers.replayer.url)
    cassette = VCRPY_ZSTD[setting][0]
    stored = load_yaml((servers.replayed / cassette).read_text(encoding="utf-8"))
    encodings = [i["response"]["headers"]["content-encoding"] for i in stored["interactions"]]
    assert encodings == [["zstd"]] * 3
    assert httpx_calls(servers.replayer.url, cassette) == servers.by_httpx[setting]
    rules = [entry["rule"] for entry in journal(servers.replayer.url)]
    assert rules == [f"{cassette}#{index}" for index in range(3)]
