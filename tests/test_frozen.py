"""quick_init builds a frozen dataclass exactly as the dataclass's own __init__ does."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from collections.abc import Callable
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from typing import Any

import pytest

from mockllm import conversation, engine, render, rules, selector, wire
from mockllm.dialects import ParseContext
from mockllm.frozen import quick_init

_posts: list[str] = []


def _shape(make: Callable[[type[Any]], type[Any]]) -> Any:
    """The same class body twice: one built by dataclasses alone, one with quick_init."""

    @dataclass(frozen=True, slots=True)
    class Shape:
        a: int
        b: str = "b"
        c: tuple[int, ...] = field(default_factory=tuple)
        d: list[int] = field(default_factory=lambda: [1, 2])
        e: int = field(default=5, init=False)
        f: list[int] = field(default_factory=list, init=False)
        g: int = field(default=7, kw_only=True)
        h: str = field(kw_only=True, default="h")

        def __post_init__(self) -> None:
            _posts.append(f"{self.a}{self.b}")

    return make(Shape)


PLAIN = _shape(lambda cls: cls)
QUICK = _shape(quick_init)

CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {}),
    ((1, "x"), {}),
    ((1, "x", (3,)), {}),
    ((1, "x", (3,), [9]), {"g": 8}),
    ((), {"a": 2, "h": "z", "d": []}),
    ((1,), {"c": (1, 2), "b": "q"}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_same_values_and_post_init(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _posts.clear()
    plain, quick = PLAIN(*args, **kwargs), QUICK(*args, **kwargs)
    assert _posts[0] == _posts[1]
    assert dataclasses.astuple(plain) == dataclasses.astuple(quick)
    assert repr(plain) == repr(quick)
    assert quick == QUICK(*args, **kwargs)
    with pytest.raises(TypeError, match="unhashable type: 'list'"):  # as the dataclass's own
        hash(quick)
    assert dataclasses.replace(quick, b="r").b == "r"
    # a factory makes a new value per instance
    assert QUICK(1).d is not QUICK(1).d and QUICK(1).f is not QUICK(1).f


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, "x", (), [], 5), {}), ((1,), {"e": 3}), ((1,), {"zz": 1}), ((1,), {"a": 1})],
)
def test_same_refusals(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError) as plain:
        PLAIN(*args, **kwargs)
    with pytest.raises(TypeError) as quick:
        QUICK(*args, **kwargs)
    assert str(plain.value) == str(quick.value)


def test_still_frozen_and_hashed_by_its_fields() -> None:
    quick = QUICK(1)
    with pytest.raises(FrozenInstanceError):
        quick.a = 2
    with pytest.raises(FrozenInstanceError):
        del quick.b
    latency = rules.Latency(100, 20.0, None, 2)
    assert hash(latency) == hash((100, 20.0, None, 2))
    assert latency == rules.Latency(100, 20.0, None, 2) != rules.Latency(100, 20.0, None, 3)
    with pytest.raises(FrozenInstanceError):
        latency.ttft_ms = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(latency)) == latency


def test_refuses_what_it_would_not_build_alike() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int] = 0

    for cls in (Mutable, NoSlots, WithInitVar):
        with pytest.raises(TypeError, match=cls.__name__):
            quick_init(cls)


QUICK_CLASSES = [
    ParseContext,
    render.RenderedToolCall,
    render.RenderedChoice,
    render.Rendered,
    selector.Selection,
    rules.Latency,
    rules.TextPattern,
    rules.Condition,
    rules.Template,
    rules.ChoiceSpec,
    rules.Reply,
    rules.Rule,
    engine.Answer,
    engine.Failure,
    wire.Body,
    conversation.ToolCall,
    conversation.Message,
    conversation.Tool,
    conversation.ResponseFormat,
    conversation.Conversation,
]


@pytest.mark.parametrize("cls", QUICK_CLASSES, ids=lambda cls: cls.__name__)
def test_project_classes_keep_the_dataclass_signature(cls: type[Any]) -> None:
    """Each class given quick_init takes the parameters its dataclass __init__ took."""
    init = vars(cls)["__init__"]
    assert any(name.startswith("_set_") for name in init.__code__.co_names)
    twin = dataclasses.make_dataclass(
        cls.__name__,
        [(f.name, f.type, _copy(f)) for f in dataclasses.fields(cls)],
        frozen=True,
        slots=True,
    )
    ours = inspect.signature(init).parameters
    theirs = inspect.signature(vars(twin)["__init__"]).parameters
    assert list(ours) == list(theirs)
    for name, param in ours.items():
        other = theirs[name]
        assert param.kind == other.kind, name
        if other.default is inspect.Parameter.empty or repr(other.default) != "<factory>":
            assert param.default is other.default or param.default == other.default, name


def _copy(f: dataclasses.Field[Any]) -> Any:
    return field(
        default=f.default,
        default_factory=f.default_factory,
        init=f.init,
        kw_only=f.kw_only,
    )
