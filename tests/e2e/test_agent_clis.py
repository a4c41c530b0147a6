"""Requests that agent CLIs send, replayed against the default generator.

Each body in tests/data/agent-clis.json was taken as the CLI sent it to mockllm (its
headers that change the API's behaviour kept): Claude Code 2.1.197 (`claude -p`, Messages
API, streamed, adaptive thinking, 26 tools, the `mid-conversation-system-2026-04-07`
beta) and the Codex CLI 0.171.0 (`codex exec`, Responses API, streamed, `store: false`,
`include: ["reasoning.encrypted_content"]`, `client_metadata`, a `namespace` of tools).
The answers are checked as the API would give them and as the CLI reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from ..conftest import RunningServer

CAPTURED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "agent-clis.json").read_text("utf-8")
)


def _send(
    server: RunningServer, name: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    captured = CAPTURED[name]
    key = {"x-api-key": "sk-ant-test", "authorization": "Bearer sk-test"}
    sent = {**captured["headers"], **key, **headers}
    return httpx.post(
        f"{server.url}{captured['path']}",
        json=captured["body"] if body is None else body,
        headers=sent,
        timeout=30,
    )


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    return [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]


def test_claude_code_sends_a_system_message_mid_conversation(server: RunningServer) -> None:
    """With the mid-conversation system beta, Claude Code sends its reminders (agent types,
    skills) as a `role: "system"` message after the user's: the API takes it. A 400 made
    the CLI send every conversation again without the beta."""
    roles = [m["role"] for m in CAPTURED["claude_code_first_turn"]["body"]["messages"]]
    assert roles == ["user", "system"]
    response = _send(server, "claude_code_first_turn")
    assert response.status_code == 200, response.text
    events = _events(response)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    blocks = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert blocks[0] == "thinking" and blocks[-1] == "tool_use"


def test_a_system_message_without_the_beta_is_refused(server: RunningServer) -> None:
    captured = CAPTURED["claude_code_first_turn"]
    betas = captured["headers"]["anthropic-beta"].split(",")
    others = ",".join(b for b in betas if b != "mid-conversation-system-2026-04-07")
    response = _send(server, "claude_code_first_turn", **{"anthropic-beta": others})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith('messages: Unexpected role "system".')


def _completed(response: httpx.Response) -> dict[str, Any]:
    """The `response.completed` event's response, after checking the stream's first event."""
    assert response.status_code == 200, response.text
    events = _events(response)
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"
    completed: dict[str, Any] = events[-1]["response"]
    return completed


def test_codex_sends_client_metadata(server: RunningServer) -> None:
    """Codex sends `client_metadata` (its thread, turn and installation ids) on every
    Responses request, and the API takes it: it was refused as an unknown parameter, and
    no turn of `codex exec` could start."""
    body = dict(CAPTURED["codex_first_turn"]["body"])
    assert "client_metadata" in body
    body["tools"] = [t for t in body["tools"] if t["type"] != "namespace"]
    response = _completed(_send(server, "codex_first_turn", body))
    kinds = [item["type"] for item in response["output"]]
    assert kinds[0] == "reasoning" and "encrypted_content" in response["output"][0]


def test_codex_offers_a_namespace_of_tools(server: RunningServer) -> None:
    """Codex offers its sub-agent tools as a `namespace` (`multi_agent_v1`): the API takes
    the tool type (it was refused, `Invalid value: 'namespace'`), and the tools are echoed
    as sent."""
    sent = CAPTURED["codex_first_turn"]["body"]["tools"]
    assert [t["name"] for t in sent if t["type"] == "namespace"] == ["multi_agent_v1"]
    response = _completed(_send(server, "codex_first_turn"))
    assert [t for t in response["tools"] if t["type"] == "namespace"] == [
        t for t in sent if t["type"] == "namespace"
    ]
    calls = [item for item in response["output"] if item["type"] == "function_call"]
    assert all(call["name"] in {t.get("name") for t in sent} for call in calls)


def _text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return "".join(
        e["delta"]["text"]
        for e in _events(response)
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )


def test_claude_codes_json_file_names_ask_for_no_json(server: RunningServer) -> None:
    """Claude Code's reminders name files (`settings.json`, `~/.claude/keybindings.json`)
    and say "customize keyboard shortcuts, rebind keys": once the tools' results were back,
    every answer was a JSON object with the keys `shortcuts` and `rebind`, as if the prompt
    asked for one."""
    text = _text(_send(server, "claude_code_results_back"))
    assert text and not text.lstrip().startswith(("{", "```")), text


def test_python_module_names_ask_for_no_json(server: RunningServer) -> None:
    """Claude Code 2.1.337 warns that "a planted `json.py` runs on `import json`": the name
    of Python's module is no request for JSON either (its answers were the same object)."""
    text = _text(_send(server, "claude_agent_sdk_results_back"))
    assert text and not text.lstrip().startswith(("{", "```")), text


def test_claude_codes_reminders_are_not_the_users_words(server: RunningServer) -> None:
    """Claude Code puts a `<system-reminder>` block (today's date, "this context may or may
    not be relevant to your tasks") before the user's own text. Read as the user's words,
    it made a plain question call the tool with the longest description (`Workflow`), then
    every `Task…` tool in turn, before answering."""
    body = json.loads(json.dumps(CAPTURED["claude_code_first_turn"]["body"]))
    blocks = body["messages"][0]["content"]
    assert blocks[0]["text"].startswith("<system-reminder>")
    blocks[-1]["text"] = "What is the capital of France?"
    events = _events(_send(server, "claude_code_first_turn", body))
    blocks_sent = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert blocks_sent == ["thinking", "text"]
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_codex_offers_tool_search(server: RunningServer) -> None:
    """For gpt-5.5, Codex offers `tool_search` (deferred tools found by search, run by the
    client) beside its freeform `apply_patch` (a custom tool with a Lark grammar): the API
    takes it; it was refused (`Invalid value: 'tool_search'.`) and `codex exec -m gpt-5.5`
    failed on its first request."""
    sent = CAPTURED["codex_gpt_5_5_first_turn"]["body"]["tools"]
    assert {"tool_search", "custom"} <= {t["type"] for t in sent}
    response = _completed(_send(server, "codex_gpt_5_5_first_turn"))
    assert [t["type"] for t in response["tools"]] == [t["type"] for t in sent]
    assert response["status"] == "completed"


def test_the_agent_sdks_claude_code_sends_per_turn_control(server: RunningServer) -> None:
    """The Claude Agent SDK for Python (0.2.190) runs Claude Code 2.1.337, which sends its
    environment as a `role: "system"` message with `output_config` under the
    `per-turn-control-2026-07-01` and `mid-conversation-tool-changes-2026-07-01` betas
    (not `mid-conversation-system-2026-04-07`): refused, the CLI sent it again without
    `output_config`, was refused again, and the SDK's `query()` raised."""
    captured = CAPTURED["claude_agent_sdk_first_turn"]
    assert "mid-conversation-system-2026-04-07" not in captured["headers"]["anthropic-beta"]
    assert captured["body"]["messages"][1]["output_config"] == {"effort": "medium"}
    response = _send(server, "claude_agent_sdk_first_turn")
    assert response.status_code == 200, response.text
    assert _events(response)[-1]["type"] == "message_stop"


def test_claude_code_reads_the_file_the_user_names(server: RunningServer) -> None:
    """Asked to read README.md, the Read tool is called with that file (it was called with a
    word drawn at random, "add"), as a model reads the path from the request."""
    body = json.loads(json.dumps(CAPTURED["claude_code_first_turn"]["body"]))
    body["messages"][0]["content"][-1]["text"] = "Read README.md and summarise it"
    events = _events(_send(server, "claude_code_first_turn", body))
    started = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert [b["type"] for b in started] == ["thinking", "tool_use"]
    assert started[1]["name"] == "Read"
    arguments = "".join(
        e["delta"].get("partial_json", "") for e in events if e["type"] == "content_block_delta"
    )
    assert json.loads(arguments)["file_path"] == "README.md"
