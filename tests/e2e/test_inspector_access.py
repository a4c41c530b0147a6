"""Who may open the inspector, over real sockets: a caller from another address of this
machine (not loopback) is refused the page, its files and its feed unless it has the
admin token; with the token, the page keeps it in a cookie the feed accepts."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from ..conftest import RunningServer, start_server

TOKEN = "inspector-token-7d1c0e"
PATHS = ("/__admin/ui", "/__admin/ui/inspector.js", "/__admin/feed", "/__admin/state")


def outside_address() -> str:
    """An address of this machine that is not loopback (the one its default route uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.skip("this machine has no address besides loopback to call from")
    return address


@pytest.fixture
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server("--host", "0.0.0.0", tmp_path=tmp_path_factory.mktemp("open"))
    yield running
    running.stop()


@pytest.fixture
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        "--host", "0.0.0.0", "--admin-token", TOKEN, tmp_path=tmp_path_factory.mktemp("token")
    )
    yield running
    running.stop()


def from_outside(address: str) -> httpx.Client:
    # Bound to the outside address, so that the server sees it as the caller.
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(transport=transport, timeout=5)


def test_a_caller_that_is_not_loopback_is_refused(open_server: RunningServer):
    address = outside_address()
    with from_outside(address) as client:
        for path in PATHS:
            refused = client.get(f"http://{address}:{open_server.port}{path}")
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["error"]["code"] == "admin_remote_refused"
            assert "<html" not in refused.text
    # The same paths answer on loopback.
    assert httpx.get(f"{open_server.url}/__admin/ui").status_code == 200


def test_with_the_token_a_remote_page_gets_in_and_its_feed_too(token_server: RunningServer):
    address = outside_address()
    base = f"http://{address}:{token_server.port}"
    with from_outside(address) as client:
        for path in PATHS:
            assert client.get(base + path).status_code == 401
        opened = client.get(f"{base}/__admin/ui?token={TOKEN}", follow_redirects=True)
        assert opened.status_code == 200 and "<title>mockllm inspector</title>" in opened.text
        assert str(opened.url) == f"{base}/__admin/ui"  # the token left the address bar
        with client.stream("GET", f"{base}/__admin/feed") as feed:
            assert feed.status_code == 200
            assert feed.headers["content-type"].startswith("text/event-stream")
            first = next(feed.iter_lines())
            assert first == "event: hello"
    # Without the cookie again: refused.
    with from_outside(address) as client:
        assert client.get(f"{base}/__admin/feed").status_code == 401
