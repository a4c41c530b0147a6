"""Which rules may answer a request, found without testing every rule in turn.

Each rule is filed under one of its conditions, the one whose value fewest rules share:
an exact value (a model id, a prompt, a body field) in a table by that value, or a text
pattern (`contains`, a glob, a regex) in one combined RE2 set per field, which finds
every pattern of the field in one pass over the text. A request looks up each table
once and runs each set once; the rules found there, and those filed under no condition,
are the candidates, tested whole in the order rules are tried. So the cost of a request
grows with the rules that nearly match it, not with the size of the scenario set.

The index only narrows: a candidate still has every condition tested, so the rule that
answers is the one a full scan finds. Filing must never leave out a rule whose
condition holds: a regex goes into a set as a broadened reading of Python's own parse
of it (`broad_regex`), which finds a match wherever Python's re does and perhaps more;
what cannot be read so is left unfiled, and its rule stays a candidate for every
request.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import fnmatch
import functools
import itertools
import operator
import re
from collections.abc import Callable, Sequence
from re import _casefix  # type: ignore[attr-defined]
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from mockllm.conversation import Conversation
from mockllm.matchers import FIELD_GETTERS, MISSING, dig
from mockllm.rules import Glob, Rule, TextPattern

try:
    import re2
except ImportError:  # pragma: no cover - google-re2 is a dependency
    re2 = None

SMALL = 8  # at most this many rules: testing each costs less than looking them up
SET_SIZE = 200  # patterns per RE2 set: keeps each set's automaton small
SET_MEMORY = 64 << 20  # RE2's budget per set (its default, 8 MB, is tight for 200 patterns)

# Where a condition files its rule, best first: a value the request either has or not
# (a prompt, a body field) rules out more rules than a pattern over text, which rules
# out more than a model id that many rules share.
_RANK_EXACT_TEXT, _RANK_BODY, _RANK_SET_TEXT, _RANK_EXACT_NAME, _RANK_SET_NAME = range(5)
_TEXT_FIELDS = frozenset({"last_user", "system", "any_message"})


def _all_messages(request: Conversation) -> str:
    """Every message's text, one after the other: a pattern found in one message is
    found here (the sets of `any_message` keep no anchors, so none is lost)."""
    return "\n".join(message.text for message in request.messages)


# The fields whose conditions are filed, and how a request's value is read.
_FIELDS: dict[str, Callable[[Conversation], object]] = {
    **FIELD_GETTERS,
    "any_message": _all_messages,
}

_BROAD = "(?s:.)"  # what the sets put for a class Python and RE2 read differently
_MAX_REPEAT = 1000  # RE2's largest repeat count
# The flags as plain ints: `&` on a RegexFlag goes through the enum machinery (2 us).
_IGNORECASE, _MULTILINE = int(re.IGNORECASE), int(re.MULTILINE)
_REPEATS = (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT)


_PLAIN = re.compile(r"[A-Za-z0-9]*")


def _literal(text: str) -> str:
    """`text` as an RE2 pattern matching exactly it."""
    if _PLAIN.fullmatch(text):
        return text
    return "".join(map(_literal_char, text))


@functools.lru_cache(maxsize=65536)
def _literal_char(char: str) -> str:
    if char.isascii() and char.isalnum() or not char.isascii() and char.isprintable():
        return char
    return f"\\x{{{ord(char):x}}}"


def broad_regex(source: str, ignore_case: bool = False, anchors: bool = True) -> str | None:
    """An RE2 pattern that finds a match in every text where Python's re finds `source`
    (and perhaps in more), or None when none is worked out.

    Written from Python's own reading of the pattern (its parser), so both engines read
    the same thing: literals and ranges exactly, and a letter under `ignore_case` (or
    `(?i)`) as every character Python's re takes for it; classes whose meaning differs
    between them (`\\d`, `\\w`, `\\s` are Unicode-aware in Python) as any character;
    assertions (`$`, `\\b`, lookarounds) left out, which only lets more texts through; a
    start anchor kept where `anchors`.
    """
    try:
        tree = sre_parse.parse(source, re.IGNORECASE if ignore_case else 0)
    except (re.error, RecursionError, OverflowError):
        return None
    return broad_from_tree(tree, anchors)


def broad_from_tree(tree: Any, anchors: bool = True) -> str | None:
    """`broad_regex` of a pattern Python's parser has read already."""
    try:
        return _emit(tree.data, int(tree.state.flags), anchors)
    except (_Unreadable, RecursionError):
        return None


class _Unreadable(Exception):
    """A pattern piece the sets do not work out."""


_FOLDS: dict[int, list[int]] | None = None  # a lower case -> the other characters of it


# The characters outside ASCII that Python's re, ignoring case, takes for an ASCII letter
# (what `_folded_from_tables` finds; tests/test_rule_index.py checks every ASCII character).
_ASCII_EXTRA = {ord("i"): (0x130, 0x131), ord("k"): (0x212A,), ord("s"): (0x17F,)}


@functools.lru_cache(maxsize=4096)
def _folded(char: int) -> str:
    """A class of every character Python's re matches for `char` when ignoring case: those
    of the same simple lower case, and its extra equivalences (sre's own tables). An ASCII
    character's is known without building the table of all of Unicode (0.1 s)."""
    if char >= 128:
        return _folded_from_tables(char)
    text = chr(char)
    chars = {char, ord(text.lower()), ord(text.upper())}
    chars.update(_ASCII_EXTRA.get(ord(text.lower()), ()))
    return "[" + "".join(f"\\x{{{c:x}}}" for c in sorted(chars)) + "]"


def _folded_from_tables(char: int) -> str:
    global _FOLDS
    lower = _sre.unicode_tolower
    if _FOLDS is None:  # once per process, when a case-insensitive regex is first filed
        folds: dict[int, list[int]] = {}
        codes = range(0x110000)
        # Only the code points with a lower case of their own are visited (a loop over all
        # 1.1 million took a tenth of a second).
        for code in itertools.compress(codes, map(operator.ne, codes, map(lower, codes))):
            folds.setdefault(lower(code), []).append(code)
        _FOLDS = folds
    low = lower(char)
    chars = {char}
    for target in (low, *_casefix._EXTRA_CASES.get(low, ())):
        if lower(target) == target:
            chars.add(target)
        chars.update(_FOLDS.get(target, ()))
    return "[" + "".join(f"\\x{{{c:x}}}" for c in sorted(chars)) + "]"


def _emit(items: list[Any], flags: int, anchors: bool) -> str:
    fold = bool(flags & _IGNORECASE)
    out = []
    for op, arg in items:
        if op is sre_c.LITERAL:
            out.append(_folded(arg) if fold else _literal_char(chr(arg)))
        elif op is sre_c.NOT_LITERAL:
            out.append(_BROAD if fold else f"[^\\x{{{arg:x}}}]")
        elif op is sre_c.ANY or op is sre_c.CATEGORY:
            out.append(_BROAD)
        elif op is sre_c.IN:
            out.append(_BROAD if fold else _emit_class(arg))
        elif op is sre_c.BRANCH:
            out.append("(?:" + "|".join(_emit(b.data, flags, anchors) for b in arg[1]) + ")")
        elif op is sre_c.SUBPATTERN:
            _, add_flags, del_flags, sub = arg
            inner = (flags | int(add_flags)) & ~int(del_flags)
            out.append("(?:" + _emit(sub.data, inner, anchors) + ")")
        elif op is sre_c.ATOMIC_GROUP:
            out.append("(?:" + _emit(arg.data, flags, anchors) + ")")
        elif op in _REPEATS:
            low, high, sub = arg
            if low > _MAX_REPEAT:
                raise _Unreadable
            body = "(?:" + _emit(sub.data, flags, anchors) + ")"
            if high == sre_c.MAXREPEAT or high > _MAX_REPEAT:
                out.append(f"{body}{{{low},}}")
            else:
                out.append(f"{body}{{{low},{high}}}")
        elif op is sre_c.AT:
            if anchors and arg in (sre_c.AT_BEGINNING, sre_c.AT_BEGINNING_STRING):
                multiline = flags & _MULTILINE and arg is sre_c.AT_BEGINNING
                out.append("(?m:^)" if multiline else "^")
            # ends and word boundaries are left out: more texts pass, none is lost
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            pass  # lookarounds left out, as above
        elif op is sre_c.GROUPREF:
            out.append("(?s:.*)")  # what the group matched, whatever it was
        else:
            raise _Unreadable
    return "".join(out)


def _emit_class(items: list[Any]) -> str:
    parts = []
    negate = False
    for op, arg in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            parts.append(f"\\x{{{arg:x}}}")
        elif op is sre_c.RANGE:
            parts.append(f"\\x{{{arg[0]:x}}}-\\x{{{arg[1]:x}}}")
        else:  # a category (\\d, \\w, \\s), or something of Python's own
            return _BROAD
    if not parts:
        return _BROAD
    return ("[^" if negate else "[") + "".join(parts) + "]"


def _glob_regex(glob: Glob, anchors: bool) -> str | None:
    """A glob as an RE2 pattern over the whole text (anywhere in it, without `anchors`):
    exactly, for literal parts and `*`; else broadened from its `fnmatch` regex."""
    parts = glob.literal_parts
    if parts is None:
        inner = broad_regex(fnmatch.translate(glob.pattern), glob.ignore_case, anchors)
        if inner is None:
            return None
        return f"^(?:{inner})" if anchors else inner  # the regex is matched at the start
    inner = "(?s:.*)".join(_literal(part) for part in parts)
    return f"^{inner}$" if anchors else inner


class _Reads:
    """Whether RE2 reads a pattern: added to a set that is never compiled (a parse only;
    compiling each one took ten times as long), a fresh set every thousand patterns."""

    def __init__(self) -> None:
        self._set: Any = None
        self._count = 0

    def __call__(self, source: str) -> bool:
        if self._set is None or self._count >= 1000:
            options = re2.Options()
            options.log_errors = False
            self._set, self._count = re2.Set.SearchSet(options), 0
        self._count += 1
        try:
            self._set.Add(source)
        except re2.error:
            return False
        return True


_re2_reads = _Reads()


# A filing: (rank, kind, where, what). kind "exact": `what` is the value looked up in
# the table `where`; kind "set": `what` is an RE2 pattern in the set `where`, a
# (field, lowered) pair: lowered sets read the text in lower case.
Filing = tuple[int, str, Any, Any]


def _pattern_filings(field: str, pattern: TextPattern) -> list[Filing] | None:
    """Where a pattern on a field can file its rule (every option of an `any`), or None."""
    if pattern.kind == "any":
        found: list[Filing] = []
        for option in pattern.options:
            each = _pattern_filings(field, option)
            if each is None:
                return None
            found += each
        return found
    text = field in _TEXT_FIELDS
    anchors = field != "any_message"  # its set reads all the messages as one text
    set_rank = _RANK_SET_TEXT if text else _RANK_SET_NAME
    if pattern.kind == "exact" and not pattern.ignore_case and anchors:
        return [(_RANK_EXACT_TEXT if text else _RANK_EXACT_NAME, "exact", field, pattern.value)]
    if re2 is None:
        return None
    if pattern.kind == "exact":  # the whole text (any message's, for any_message)
        literal = _literal(pattern.value)  # folded already where the case is ignored
        whole = f"^{literal}$" if anchors else literal
        return [(set_rank, "set", (field, pattern.ignore_case), whole)]
    if pattern.kind == "contains" and pattern.value:
        return [(set_rank, "set", (field, pattern.ignore_case), _literal(pattern.value))]
    source: str | None = None
    if pattern.kind == "regex":
        source = broad_from_tree(pattern.regex.tree, anchors)
    elif pattern.kind == "glob":
        source = _glob_regex(pattern.regex, anchors)
    # Literal text always reads; what was worked out from a regex is checked one by one,
    # so that one pattern RE2 refuses does not leave a whole set out.
    if source is None or not _re2_reads(source):
        return None
    return [(set_rank, "set", (field, False), source)]


def _choices(rule: Rule) -> list[list[Filing]]:
    """Where each condition of a rule that can be filed would file it (an `any` under
    each of its options)."""
    out = []
    for condition in rule.conditions:
        found: list[Filing] | None = None
        if condition.key in _FIELDS and isinstance(condition.arg, TextPattern):
            found = _pattern_filings(condition.key, condition.arg)
        elif condition.key == "body" and len(condition.arg) == 1:
            path, steps, pattern = condition.arg[0]
            if pattern.kind == "exact" and not pattern.ignore_case:
                found = [(_RANK_BODY, "exact", ("body", steps), pattern.value)]
            elif pattern.kind == "equals":  # a number or a boolean, compared as it is
                found = [(_RANK_BODY, "exact", ("equals", steps), pattern.value)]
        if found:
            out.append(found)
    return out


def _key(filing: Filing) -> tuple[Any, ...]:
    return (filing[1], filing[2], filing[3])


def _best(choices: list[list[Filing]], shared: dict[tuple[Any, ...], int]) -> list[Filing]:
    """The condition a rule is filed under: the one whose values fewest rules share (a
    system prompt that a thousand rules name rules out none of them), then by rank."""
    return min(
        choices,
        key=lambda found: (
            max(shared[_key(f)] for f in found),
            max(f[0] for f in found),
        ),
    )


def _as_text(value: object) -> str | None:
    """A value as an exact pattern reads it (rules.TextPattern.test), None: never equal."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


class _PatternSet:
    """The text patterns of one field, in RE2 sets, each pattern naming rule positions."""

    __slots__ = ("get", "lowered", "sets")

    def __init__(self, get: Callable[[Conversation], object], lowered: bool) -> None:
        self.get = get
        self.lowered = lowered
        self.sets: list[tuple[Any, list[list[int]]]] = []

    def build(self, patterns: dict[str, list[int]]) -> bool:
        options = re2.Options()
        options.max_mem = SET_MEMORY
        options.log_errors = False
        items = list(patterns.items())
        for start in range(0, len(items), SET_SIZE):
            chunk = items[start : start + SET_SIZE]
            compiled = re2.Set.SearchSet(options)
            try:
                for source, _ in chunk:
                    compiled.Add(source)
                compiled.Compile()
            except re2.error:
                return False
            self.sets.append((compiled, [positions for _, positions in chunk]))
        return True

    def found(self, request: Conversation, into: list[int]) -> bool:
        """Add the positions of the rules whose pattern the request's text holds; False
        when the text cannot be searched (the caller then tests every rule)."""
        text = self.get(request)
        if not isinstance(text, str):
            return True  # a pattern holds only for text
        if self.lowered:
            text = text.lower()
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads only UTF-8
            return False
        for compiled, positions in self.sets:
            hits = compiled.Match(data)
            if hits:
                for hit in hits:
                    into += positions[hit]
        return True


class RuleIndex:
    """The rules (in the order they are tried) and where each is filed."""

    __slots__ = ("rules", "_always", "_exact", "_body", "_sets")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._always: list[int] = []
        self._exact: list[tuple[Callable[[Conversation], object], dict[Any, list[int]]]] = []
        # (path, compared as text (exact) or as it is (equals), table)
        self._body: list[tuple[tuple[str | int, ...], bool, dict[Any, list[int]]]] = []
        self._sets: list[_PatternSet] = []
        if len(self.rules) <= SMALL:
            return
        exact: dict[Any, dict[Any, list[int]]] = {}
        patterns: dict[tuple[str, bool], dict[str, list[int]]] = {}
        choices = [_choices(rule) for rule in self.rules]
        shared: dict[tuple[Any, ...], int] = {}
        for found in choices:
            for filing in {_key(f) for each in found for f in each}:
                shared[filing] = shared.get(filing, 0) + 1
        for position, found in enumerate(choices):
            if not found:
                self._always.append(position)
                continue
            for _, kind, where, what in _best(found, shared):
                if kind == "exact":
                    exact.setdefault(where, {}).setdefault(what, []).append(position)
                else:
                    patterns.setdefault(where, {}).setdefault(what, []).append(position)
        for where, table in exact.items():
            if isinstance(where, tuple):
                self._body.append((where[1], where[0] == "body", table))
            else:
                self._exact.append((_FIELDS[where], table))
        for (field, lowered), sources in patterns.items():
            compiled = _PatternSet(_FIELDS[field], lowered)
            if compiled.build(sources):
                self._sets.append(compiled)
            else:  # a pattern RE2 refused after all: its rules are tried on every request
                self._always += [p for positions in sources.values() for p in positions]
        self._always.sort()

    def candidates(self, request: Conversation) -> Sequence[Rule]:
        """The rules that may match the request, in the order they are tried."""
        rules = self.rules
        if len(rules) <= SMALL:
            return rules
        found = list(self._always)
        for get, table in self._exact:
            value = _as_text(get(request))
            if value is not None:
                positions = table.get(value)
                if positions:
                    found += positions
        for steps, as_text, table in self._body:
            value = dig(request.body, steps)
            if value is MISSING or isinstance(value, dict | list):
                continue
            if as_text:
                value = _as_text(value)
            if value is not None:
                positions = table.get(value)
                if positions:
                    found += positions
        for patterns in self._sets:
            if not patterns.found(request, found):
                return rules
        if len(found) > 1:
            found = sorted(set(found))
        return [rules[position] for position in found]
