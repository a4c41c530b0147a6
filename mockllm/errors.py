"""The exceptions mockllm raises.

    MockLLMError
    ├── ScenarioError        a scenario (file, admin upload) does not validate; carries Problems
    │   └── ProfileError     a profile or keys file does not validate
    ├── CassetteError        a cassette cannot be read, written or named
    ├── ConfigError          a setting is not valid (a record mode, an upstream URL)
    └── RequestError         an HTTP request is refused; carries status, type, code, param
        └── StateUnavailable the shared state store (Redis) does not answer or refuses: 503

Library code raises these; `cli.py` maps them to exit codes and the HTTP modules (`app`,
`routes`, `admin`) to responses. Messages are written for the person who has to fix the
input.
"""

from __future__ import annotations

from dataclasses import dataclass


class MockLLMError(Exception):
    """Base of every error mockllm raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: where it is and what is wrong."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ScenarioError(MockLLMError):
    """A scenario does not validate. `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))


class ProfileError(ScenarioError):
    """A profile or keys file does not validate."""


class CassetteError(MockLLMError):
    """A cassette cannot be read, written or named."""


class ConfigError(MockLLMError):
    """Command-line flags or environment variables are inconsistent."""


class RequestError(MockLLMError):
    """An HTTP request mockllm refuses, in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        from_profile: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers
        # (profile name, error kind) of a gateway's refusal: another API family may word
        # the refusals of the default profile, which speaks for OpenAI, in its own terms.
        self.from_profile = from_profile
        self.reason: str | None = None  # why, when it matters past the wire: "rate_limited"


class StateUnavailable(RequestError):
    """The shared state store does not answer, or refuses a command (`refused`: out of
    memory, a read-only replica, an ACL). A request that needs state is refused with 503
    (and Retry-After) until it is back; at start-up it is a startup error."""

    def __init__(self, where: str, cause: str, refused: bool = False) -> None:
        what, until = (
            ("refused a command", "takes them") if refused else ("is unreachable", "is back")
        )
        super().__init__(
            503,
            f"mockllm's state store ({where}) {what}: {cause.rstrip('.')}. Requests that "
            f"need state (sequences, credits, rate limits, the journal) are refused until it "
            f"{until}.",
            type="server_error",
            code="state_unavailable",
            headers=(("retry-after", "1"),),
        )
        self.where = where
        self.cause = cause
        self.refused = refused
