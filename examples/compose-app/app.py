"""A tiny app that talks to mockllm through the OpenAI SDK, as `docker compose up` runs it.

The SDK reads OPENAI_BASE_URL (http://mockllm:8000/v1 in docker-compose.yml) and
OPENAI_API_KEY from the environment, so the app itself names no server. It checks one
scripted reply, one generated stream and the journal, and exits 0 when all hold.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

from openai import OpenAI


def admin(path: str, method: str = "GET") -> dict:
    """Call mockllm's admin API, next to the /v1 base URL."""
    root = os.environ["OPENAI_BASE_URL"].rstrip("/").removesuffix("/v1")
    request = urllib.request.Request(
        root + path, method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def main() -> int:
    client = OpenAI()
    admin("/__admin/reset", "POST")  # journal and sequences back to their start

    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}]
    )
    scripted = reply.choices[0].message.content
    print(f"scripted:  {scripted}")  # scenarios/greeting.yaml#hello

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        messages=[{"role": "user", "content": "Tell me something"}],
    )
    generated = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    print(f"generated: {generated}")  # no rule: the default generator

    journal = admin("/__admin/requests")["requests"]
    print("journal:   " + ", ".join(f"{e['rule'] or e['source']} {e['status']}" for e in journal))

    ok = (
        scripted == "Hello! How can I help you today?"
        and bool(generated)
        and [e["status"] for e in journal] == [200, 200]
        and (journal[0]["rule"] or "").endswith("#hello")
    )
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
