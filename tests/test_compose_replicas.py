"""docker-compose.replicas.yml: replicas sharing one state on Redis behind nginx, checked
without a Docker engine (the replicas' behaviour is tests/e2e/test_shared_state.py's)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mockllm.config import ServerConfig

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.replicas.yml"
IMAGE_HEALTHCHECK = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][
    "mockllm"
]["healthcheck"]


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_service_has_a_health_check_and_starts_after_its_dependencies():
    found = services()
    assert set(found) == {"redis", "mockllm", "balancer"}
    for name, service in found.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert found["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert found["mockllm"]["healthcheck"] == IMAGE_HEALTHCHECK
    assert "/__admin/health" in " ".join(found["balancer"]["healthcheck"]["test"])
    assert found["mockllm"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert found["balancer"]["depends_on"]["mockllm"]["condition"] == "service_healthy"


def test_replicas_share_the_redis_service_behind_one_address():
    found = services()
    mock = found["mockllm"]
    assert mock["build"] == "." and mock["deploy"]["replicas"] >= 2
    assert "ports" not in mock, "replicas are reached through the balancer only"
    env = mock["environment"]
    assert env["MOCKLLM_STATE"] == "redis://redis:6379/0"
    assert ServerConfig(state=env["MOCKLLM_STATE"]).state  # a URL the CLI accepts
    assert "--appendonly" in found["redis"]["command"]
    assert found["redis"]["image"].startswith("redis:")
    assert found["balancer"]["image"].startswith("nginx:")
    assert found["balancer"]["ports"] == ["127.0.0.1:8000:8000"]
    (mount,) = found["balancer"]["volumes"]
    host, inside = mount.split(":")[:2]
    conf = (ROOT / host).read_text()
    assert inside == "/etc/nginx/conf.d/default.conf"
    assert re.search(r"server\s+mockllm:8000;", conf)
    assert re.search(r"listen\s+8000;", conf)
    assert "proxy_buffering off;" in conf  # streams pass at mockllm's pace


def test_ci_doc_shows_the_replicas_files_as_they_are():
    from tests.test_docs import code_blocks, named_blocks

    doc = ROOT / "docs" / "ci.md"
    shown = named_blocks(doc)["docker-compose.replicas.yml"]
    assert yaml.safe_load(shown) == yaml.safe_load(COMPOSE.read_text())
    name = "# examples/replicas/nginx.conf\n"
    (conf,) = [text for _, text in code_blocks(doc) if text.startswith(name)]
    assert conf == name + (ROOT / "examples" / "replicas" / "nginx.conf").read_text()
