"""The repository's own cassettes folder: what docker-compose mounts at /cassettes, and an
example recording that `mockllm serve --cassettes cassettes/` replays as it was recorded."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from openai import OpenAI

from tests.conftest import start_server

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "cassettes"
EXAMPLE = FOLDER / "examples" / "greeting.yaml"


def test_every_host_folder_compose_mounts_is_in_the_repository() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for volume in compose["services"]["mockllm"]["volumes"]:
        host = volume.split(":")[0]
        assert (ROOT / host).is_dir(), volume


def test_the_example_recording_replays_byte_for_byte(tmp_path: Path) -> None:
    recorded = yaml.safe_load(EXAMPLE.read_text())["interactions"]
    whole, streamed = recorded[0], recorded[1]
    # No scenarios: an answer that is not the recording's would be the generator's.
    server = start_server("--cassettes", str(FOLDER), tmp_path=tmp_path)
    try:
        response = httpx.post(
            f"{server.base_url}/chat/completions",
            content=whole["request"]["body"].encode(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.content == whole["response"]["body"]["string"].encode()
        client = OpenAI(base_url=server.base_url, api_key="anything", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "count to five"}],
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "One, two, three, four, five."
        sse = streamed["response"]["body"]["string"]
        assert '"content":", five."' in sse  # the same deltas as recorded
        log = server.log_with("cassette", "examples/greeting.yaml#1")
        assert "cassette" in log and "examples/greeting.yaml#1" in log
    finally:
        server.stop()
