"""User regexes that cannot stall the server.

A pattern from a scenario runs on Python's `re` when it is simple enough to be fast
(no quantifier over something that itself repeats or branches) and the text is short;
otherwise on RE2, whose matching time is linear in the text. A pattern that repeats
something that itself repeats (`(a+)+`, `(.*a){20}`) is refused at load, named: it can
backtrack catastrophically on `re`, and drives RE2 onto its slow automaton too.
"""

from __future__ import annotations

import re
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

try:
    import re2
except (
    ImportError
):  # pragma: no cover - google-re2 is a dependency; kept optional for odd platforms
    re2 = None

SHORT_TEXT = 4096  # up to this length, a simple pattern runs on Python's re
EAGER_LENGTH = 2000  # a pattern longer than this is compiled at load, to be sure it compiles
MAX_WIDTH = 1200  # the widest pattern accepted (see `_walk`)

_REPEATS = {
    sre_parse.MAX_REPEAT,
    sre_parse.MIN_REPEAT,
    getattr(sre_parse, "POSSESSIVE_REPEAT", None),
}
_BACKTRACKING_ONLY = {sre_parse.ASSERT, sre_parse.ASSERT_NOT, sre_parse.GROUPREF}


def _walk(items: Any, inside_repeat: bool, found: dict[str, bool]) -> int:
    """Note in `found` what makes the pattern risky; return its width: the characters and
    branches it tests, with each counted repetition written out (`[a-z]{300}` is 300), about
    the size of the program RE2 compiles it to."""
    width = 0
    for op, arg in items:
        if op in _REPEATS:
            low, high, sub = arg
            unbounded_or_many = high == sre_parse.MAXREPEAT or high > 1
            if inside_repeat and unbounded_or_many:
                found["repeat_in_repeat"] = True
            inner = _walk(sub, inside_repeat or unbounded_or_many, found)
            width += inner * (max(low, 1) if high == sre_parse.MAXREPEAT else high)
        elif op is sre_parse.BRANCH:
            if inside_repeat:
                found["nested"] = True
            for branch in arg[1]:
                width += _walk(branch, inside_repeat, found)
        elif op is sre_parse.SUBPATTERN:
            width += _walk(arg[-1], inside_repeat, found)
        elif op in _BACKTRACKING_ONLY:
            found["backtracking_only"] = True
            if op is not sre_parse.GROUPREF and arg[0] < 0:
                found["lookbehind"] = True
            if op is not sre_parse.GROUPREF:
                width += _walk(arg[-1], inside_repeat, found)
        elif op is sre_parse.GROUPREF_EXISTS:
            found["backtracking_only"] = True
            width += 1
        else:
            width += 1
    return width


class SafeRegex:
    """`search` (and `sub`) with Python's re on short texts when the pattern is simple, RE2
    otherwise."""

    __slots__ = ("pattern", "tree", "_fast", "_linear", "ignore_case", "_substitute")

    def __init__(self, pattern: str, ignore_case: bool = False) -> None:
        self.pattern = pattern
        flags = re.IGNORECASE if ignore_case else 0
        try:
            tree = sre_parse.parse(pattern, flags)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        found: dict[str, bool] = {}
        width = _walk(tree, False, found)
        if width > MAX_WIDTH:
            # RE2's automaton for a wide pattern outgrows its memory on a long text and
            # falls back to a step per character and instruction: (ab|a){1000}c took 18 s
            # on 500,000 characters, [a-z]{1000}[a-z]{1000}x 15 s; [a-z]{1000}x, 13 ms.
            raise ValueError(
                f"regex {pattern!r} is too wide: its counted repetitions ({{n}}, {{m,n}}) "
                f"write out to {width:,} steps, over {MAX_WIDTH:,}; it could stall matching "
                "on long texts: use smaller counts, or * and +"
            )
        # Python's re is compiled when a text first needs it, like RE2 below: at 10,000
        # rules, compiling every pattern at load took most of a second. What the parse
        # above cannot refuse is refused now all the same: a look-behind that is not of
        # fixed width, and a pattern too long to trust to the compiler unseen.
        fast: Any = _LATER
        if found.get("lookbehind") or len(pattern) > EAGER_LENGTH:
            try:
                fast = re.compile(pattern, flags)
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        if found.get("repeat_in_repeat"):
            # Even RE2 falls back to a slow automaton on these: seconds on a long prompt.
            raise ValueError(
                f"regex {pattern!r} repeats something that itself repeats (like (a+)+ or "
                "(.*a){20}); it could stall matching on long texts: write it without nesting"
            )
        # RE2 is compiled when a long text first needs it (most never see one: compiling
        # every pattern of a large scenario set at load took a third of a second per
        # 4,000), except for a nested pattern, which is refused now if RE2 cannot read it.
        linear: Any = None
        if re2 is not None and not found.get("backtracking_only"):
            linear = _compile_linear(pattern, ignore_case) if found.get("nested") else _LATER
        if found.get("nested"):
            if linear is None:
                raise ValueError(
                    f"regex {pattern!r} nests a repetition inside a repetition or alternation and "
                    "needs backtracking features (lookaround, backreferences): it could stall the "
                    "server on long texts; simplify it"
                )
            fast = None
        self.tree = tree  # Python's reading of it (the rule index works from it)
        self._fast = fast
        self._linear = linear
        self.ignore_case = ignore_case
        self._substitute: Any = None  # RE2 with capturing groups, compiled on the first `sub`

    def _engine(self, text: str) -> Any:
        """The compiled pattern for this text: Python's on short texts, RE2 on long ones
        (None: Python's, compiled by now)."""
        if self._fast is not None and len(text) <= SHORT_TEXT:
            linear = None
        else:
            linear = self._linear
            if linear is _LATER:
                linear = self._linear = _compile_linear(self.pattern, self.ignore_case)
        if linear is None and self._fast is _LATER:
            self._fast = re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)
        return linear

    def search(self, text: str) -> bool:
        linear = self._engine(text)
        if linear is None:
            assert self._fast is not None  # RE2 stands in only where Python's re is kept
            return self._fast.search(text) is not None
        return linear.search(text) is not None

    def sub(self, replacement: str, text: str) -> str:
        """Every match replaced (``\\1`` names a group), in time linear in long texts."""
        if self._engine(text) is None:
            assert self._fast is not None
            return str(self._fast.sub(replacement, text))
        if self._substitute is None:
            # `search` compiles RE2 without captures (faster); a replacement may need them.
            self._substitute = re2.compile(("(?i)" if self.ignore_case else "") + self.pattern)
        return str(self._substitute.sub(replacement, text))


_LATER: Any = object()  # RE2 not compiled yet


def _compile_linear(pattern: str, ignore_case: bool) -> Any:
    """The pattern on RE2, for yes/no answers; None when RE2 cannot read it."""
    options = re2.Options()
    options.never_capture = True  # a yes/no answer is all a matcher needs: much faster
    options.log_errors = False
    try:
        return re2.compile(("(?i)" if ignore_case else "") + pattern, options)
    except Exception:  # noqa: BLE001 - RE2 refuses some Python syntax
        return None
