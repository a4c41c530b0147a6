"""ServerConfig: every setting of a running server, frozen, built from flags and env."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

RecordMode = Literal["none", "once", "new_episodes", "all"]
LogFormat = Literal["text", "json"]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_N = 128
DEFAULT_JOURNAL_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What `mockllm serve` was asked to do. Built once; never changed while serving."""

    host: str = "127.0.0.1"
    port: int = 8000
    scenarios: tuple[Path, ...] = ()
    cassettes: Path | None = None
    cassette: str | None = None
    record_mode: RecordMode = "none"
    upstream: str | None = None
    replay_speed: float = 1.0  # recorded pace x this; 0: as fast as possible
    ignore_fields: tuple[str, ...] = ()  # request body JSON paths replay matching ignores
    normalize: tuple[str, ...] = ()  # built-in request normalisers (uuid, iso_timestamp, ...)
    normalize_regex: tuple[tuple[str, str], ...] = ()  # (pattern, replacement) rewrites
    cassettes_skip_unreadable: bool = False  # serve the readable cassettes, list the others
    allow_playback_repeats: bool = True  # once its recordings are played, repeat the last
    cassettes_keep_format: bool = False  # record into a foreign file in its own dialect
    scrub_headers: tuple[str, ...] = ()  # extra header names removed from recordings
    scrub_paths: tuple[str, ...] = ()  # JSON body paths removed from recordings
    cassette_miss: str = "error"  # or "fallthrough": a replay miss goes on to the generator
    profile: str = "openai"
    keys: Path | None = None
    seed: int = 0
    strict: bool = False
    freeze_time: float | None = None
    workers: int = 1
    log_level: str = "info"
    log_format: LogFormat = "text"
    models: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_n: int = DEFAULT_MAX_N
    max_output_tokens: int | None = None  # a cap on every model; None: each model's own
    lenient: bool = False  # accept what the real service refuses
    journal_size: int = DEFAULT_JOURNAL_SIZE
    hang_max_s: float = 300.0
    body_timeout_s: float = 30.0  # a request body (or headers) not received by then is refused
    admin_token: str | None = None
    admin_remote: bool = False
    locale: str | None = None  # default generator language; None: the prompt's
    embedding_dimensions: int = 1536  # vector size of embedding models without a known one
    ttft_ms: float = 0.0
    inter_token_ms: float = 0.0
    jitter_ms: float = 0.0
    reload: bool = True
    state: str | None = None  # None: in memory; a redis:// URL: shared by every process
    state_prefix: str = "mockllm:"  # names of this server's keys in a shared store
    latency_model: str = "none"  # a preset name, "none", or a YAML file (docs/load.md)
    metrics: bool = True  # GET /metrics, Prometheus text format
    metrics_names: tuple[str, ...] = ()  # more names for the same figures: "vllm"

    def missing(self) -> tuple[str, str] | None:
        """A setting these settings need and lack, as (its name, why), or None.

        The CLI and the pytest plugin each say how to set it (a flag, a fixture)."""
        if self.record_mode != "none" and self.upstream is None:
            return "upstream", f"record mode {self.record_mode!r} needs an upstream to record from"
        if self.upstream is not None and self.cassettes is None:
            return "cassettes", "an upstream needs a cassettes folder to record into"
        if self.cassette is not None and self.cassettes is None:
            return "cassettes", f"the cassette {self.cassette!r} needs a cassettes folder"
        return None

    def to_json(self) -> str:
        """The config as JSON (to hand to worker processes)."""
        data = asdict(self)
        data["scenarios"] = [str(p) for p in self.scenarios]
        for name in ("cassettes", "keys"):
            data[name] = str(data[name]) if data[name] is not None else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["scenarios"] = tuple(Path(p) for p in data.get("scenarios", ()))
        for name in (
            "models",
            "ignore_fields",
            "scrub_headers",
            "scrub_paths",
            "normalize",
            "metrics_names",
        ):
            data[name] = tuple(data.get(name, ()))
        data["normalize_regex"] = tuple(tuple(pair) for pair in data.get("normalize_regex", ()))
        for name in ("cassettes", "keys"):
            if data.get(name) is not None:
                data[name] = Path(data[name])
        return cls(**data)
