"""The arguments a model with no script reads from the prompt for a tool's call: the question
for a `query`, the place named for a `city`, the arithmetic for an `expression`, an address,
a ticker, a person, a file, the numbers given; and the places a message lists, each a call
of its own."""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
import zoneinfo
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mockllm.cache import per_text
from mockllm.conversation import Conversation, Message, Tool
from mockllm.languages import language_of, names_language
from mockllm.prompt_reading import (
    NOT_ARITHMETIC,
    URL,
    asked,
    is_handoff,
    math_words,
    members,
    mention,
    name_key,
    relatedness,
    turn_messages,
    url_in,
    words_of,
)
from mockllm.schema_instances import Count, Hint, Nested, Records
from mockllm.words import STOP, stem

QUERY_NAMES = frozenset(
    ("query", "q", "question", "search", "searchquery", "prompt", "text", "input", "topic",
     "keywords", "keyword", "term", "terms", "message", "request", "task")
)  # fmt: skip
_PLACE_NAMES = frozenset(
    ("city", "location", "place", "town", "country", "destination", "region", "cityname")
)
_PATH_NAMES = frozenset(
    ("filepath", "path", "filename", "file", "targetfile", "notebookpath", "relativepath",
     "absolutepath", "sourcepath", "filepathname")
)  # fmt: skip
# A file the message names: a name with an extension ("README.md", "src/app.py") or a path
# ("/etc/hosts", "./notes/todo.txt"); not the end of a sentence ("Read it.").
_FILE_PATH = re.compile(
    r"(?<![\w@:/.-])((?:~|\.{1,2})?/?(?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]*"
    r"|(?:~|\.{1,2})?/(?:[\w.-]+/)*[\w.-]+)(?![\w/-])"
)
_EXPRESSION_NAMES = frozenset(("expression", "expr", "formula", "equation", "math", "calculation"))
_ARITHMETIC = re.compile(r"[\d(][\d\s.()]*(?:[-+*/x×÷^%][\s(]*[\d.]+[\d\s.()]*)+")
# A calculation asked in words: "Add 3 and 4", "Multiply 23 by 19", "Subtract 3 from 10".
_WORDED = re.compile(
    r"\b(add|sum\s+of|multiply|subtract|divide)\s+(-?\d+(?:\.\d+)?)\s+"
    r"(?:and|by|to|from|with)\s+(-?\d+(?:\.\d+)?)(?!\d|\.\d)",
    re.IGNORECASE,
)
_OPERATORS = (("add", "+"), ("sum", "+"), ("multiply", "*"), ("subtract", "-"), ("divide", "/"))
_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent)\s+of\s+(\d+(?:\.\d+)?)", re.I)
# A place's words are on one line: "for Paris\n\nThis is the expected…" names Paris alone.
PLACE = re.compile(r"\b(?:in|at|for|to|from|near|of)\s+([A-Z][\w'-]+(?:[ \t]+[A-Z][\w'-]+)*)")
# "in Paris and in Rome", "in Paris, Rome and Oslo": places named in one list, which ends
# with "and" ("in Paris, France" names one place).
_A_PLACE = r"[A-Z][\w'-]+(?:[ \t]+[A-Z][\w'-]+)*"
# (each may say how it is asked for: "Toronto in metric and Dallas in imperial")
_HOW = r"(?:[ \t]+(?:in|with|using)[ \t]+[a-z][\w'-]*)?"
_PLACE_LIST = re.compile(
    rf"\b(?:in|at|for|to|from|near|of)\s+({_A_PLACE}{_HOW}"
    rf"(?:[ \t]*,[ \t]*(?:(?:in|at|for)[ \t]+)?{_A_PLACE}{_HOW})*"
    rf"[ \t]*,?[ \t]+and[ \t]+(?:(?:in|at|for)[ \t]+)?{_A_PLACE}{_HOW})"
)
_PLACE_WORDS = re.compile(_A_PLACE)
# The two ends of a trip: "a flight from Paris to Rome".
_ORIGINS = frozenset(("from", "origin", "source", "departure", "fromcity", "origincity"))
_DESTINATIONS = frozenset(("to", "destination", "arrival", "tocity", "destinationcity"))
_FROM_PLACE = re.compile(rf"\bfrom\s+({_A_PLACE})")
_TO_PLACE = re.compile(rf"\bto\s+({_A_PLACE})")
CAPITALISED = re.compile(r"(?<!^)(?<![.!?]\s)\b([A-Z][a-z][\w'-]*(?:[ \t]+[A-Z][a-z][\w'-]*)*)")
QUERY_HINT_CHARS = 200
URL_NAMES = frozenset(
    ("url", "uri", "link", "href", "pageurl", "webpageurl", "websiteurl", "website",
     "targeturl", "sourceurl", "webpage")
)  # fmt: skip


def arithmetic_for(text: str, tool: Tool) -> str | None:
    """The arithmetic a text asks a calculating tool to work out ("What is 12*12?" ->
    "12*12"), or None when the text asks none or the tool does not calculate."""
    if not math_words(text) & words_of(f"{tool.name} {tool.description}"):
        return None
    return arithmetic_in(text)


def arithmetic_in(text: str) -> str | None:
    """The arithmetic a text asks ("What is 12*12?" -> "12*12"; "What is 15% of 240?" ->
    "240 * 15 / 100"), or None; not a day's digits ("2024-01-01")."""
    if "-" in text or "/" in text:
        text = NOT_ARITHMETIC.sub(" ", text)
    if (share := _PERCENT_OF.search(text)) is not None:
        return f"{share[2]} * {share[1]} / 100"
    found = _ARITHMETIC.search(text)
    if found is None and (worded := _WORDED.search(text)) is not None:
        # "Add 3 and 4" -> "3 + 4", "Subtract 3 from 10" -> "10 - 3"
        verb, a, b = worded[1].lower(), worded[2], worded[3]
        operator = next(o for words, o in _OPERATORS if verb.startswith(words))
        return f"{b} - {a}" if verb.startswith("subtract") else f"{a} {operator} {b}"
    return None if found is None else " ".join(found.group().split())


def text_input(request: Conversation, tool: Tool) -> str:
    """The text a tool that reads one input takes from the last user message: the
    arithmetic for a calculating tool, else the value its argument (or a word of its name
    or description: "the weather in a city") asks for, else the message itself ("What is
    the weather in Paris?" -> "Paris" for `get_weather`)."""
    question = asked(request)
    words = re.findall(r"[a-z]+", f"{tool.name} {tool.description}".lower())
    shown = tool.parameters.get("properties")
    properties = dict(shown) if isinstance(shown, dict) else {}
    for word in words:
        properties.setdefault(word, {})
    reads = Tool(tool.name, tool.description, {"properties": properties})
    found = next(iter(argument_hints(request, reads).values()), question)
    return arithmetic_for(question, tool) or str(found)


def argument_hints(request: Conversation, tool: Tool) -> dict[str, Hint]:
    """Values a model would read from the prompt for the tool's top-level arguments: the
    question for a `query`, the place named for a `city` or `location`, the arithmetic for
    an `expression`, an address for an `email`, a ticker for a `symbol`, currency codes in
    the order named, and the numbers the message gives for its number arguments ("Multiply
    23 by 19" -> a=23, b=19); for an object argument, the texts it gives for the object's
    own properties (`Nested`)."""
    text = asked(request)
    # (not the digits of a web address: "post-1" in https://example.com/post-1; nor those
    # of the identifier a string argument takes: "Refund order 8812 for 25.50" -> 25.5)
    said = text
    if _takes_id(tool) and (found := _IDENTIFIER.search(text)) is not None:
        said = f"{text[: found.start()]} {text[found.end() :]}"
    numbers = _numbers_in(URL.sub(" ", said))
    return _hints(request, tool, tool.parameters, text, numbers, _currencies_in(text), 0)


def _takes_id(tool: Tool) -> bool:
    """Whether the tool has a string argument for an identifier (`order_id`)."""
    properties = tool.parameters.get("properties")
    return isinstance(properties, dict) and any(
        isinstance(k, str)
        and isinstance(v, dict)
        and v.get("type") == "string"
        and is_id(name_key(k))
        for k, v in properties.items()
    )


def _numbers_in(text: str) -> list[int | float]:
    return [float(n) if "." in n else int(n) for n in _NUMBER.findall(text)]


def _hints(
    request: Conversation,
    tool: Tool,
    parameters: dict[str, Any],
    text: str,
    numbers: list[int | float],
    currencies: list[tuple[str, bool]],
    depth: int,
) -> dict[str, Hint]:
    """The hints for the properties of `parameters` (the tool's own; an object's within
    them, at depth 1: its texts only; an array's item, at depth 2: its texts and
    numbers)."""
    properties = parameters.get("properties")
    if not isinstance(properties, dict):
        return {}
    hints: dict[str, Hint] = {}
    # the dates the message gives, each with the time of day it gives for it, read when a
    # date is asked
    days: list[tuple[str, str]] | None = None
    for name, schema in properties.items():
        key = name_key(name) if isinstance(name, str) else ""
        kind = schema.get("type") if isinstance(schema, dict) else None
        options = schema.get("enum") if isinstance(schema, dict) else None
        inner = _object_of(schema, tool.parameters) if depth == 0 else None
        if inner is not None:
            within = _hints(request, tool, inner, text, [], list(currencies), 1)
            kept = {k: v for k, v in within.items() if isinstance(v, str)}
            if kept:  # "…lives at 221B Baker Street, London" -> address.city
                hints[name] = Nested(kept)
        elif depth == 1 and kind in ("integer", "number", "boolean"):
            continue  # an object's numbers and verdicts are the top level's to take
        elif isinstance(options, list):
            if (option := _option_named(text, options) or _sentiment(text, options)) is not None:
                hints[name] = option  # "the weather in Paris in celsius" -> unit=celsius
        elif kind == "array":
            if key in _PLACE_LISTS and (places := _places_in(text)):
                hints[name] = places  # "the weather in Paris and Rome" -> ["Paris", "Rome"]
            elif _of_strings(schema) and (items := _items_in(text, key in _PEOPLE_LISTS)):
                hints[name] = items  # "likes chess and hiking" -> ["chess", "hiking"]
            elif (counted := _counted_in(text, _items_resolved(schema, tool))) is not None:
                # "2 apples and 3 pears" -> [{name, quantity}, …] (records of a `$ref`, as
                # pydantic writes a `list[LineItem]`, built each as its items are)
                refers = "$ref" in (schema.get("items") or {})
                hints[name] = Records(Nested(r) for r in counted) if refers else counted
            elif depth == 0 and (records := _records_in(request, tool, schema, text)):
                hints[name] = records  # "Alice is 30, Bob is 25" -> [{name, age}, …]
            elif (
                _record_keys(_items_resolved(schema, tool)) is None
                and (asked_for := _count_asked(text)) is not None
            ):
                hints[name] = Count(asked_for)  # "Generate 3 hero descriptions": 3 items
        elif kind in ("integer", "number"):
            if key in _HOW_MANY:
                if (asked_for := _count_asked(text)) is not None:
                    hints[name] = asked_for  # "Tell me 3 jokes" -> count=3
                    if asked_for in numbers:
                        numbers.remove(asked_for)
            elif numbers and key not in _NOT_AMOUNTS:
                hints[name] = numbers.pop(0)
        elif kind == "boolean":
            # (not one with a default: a setting, `is_public`, that the schema says how to
            # leave when the message does not say)
            if "default" not in schema and (verdict := _verdict(name, text)) is not None:
                hints[name] = verdict  # "Can you solve 3x + 5 = 20?" -> is_math_homework
        elif _is_date(key, schema) and (days := days if days is not None else _days_in(text)):
            day, clock = days.pop(0)  # "on 2024-05-01", "on May 1, 2024" -> "2024-05-01"
            # ("on 2025-07-01 at 18:30" -> "2025-07-01T18:30:00Z" for a date-time)
            hints[name] = f"{day}T{clock}Z" if schema.get("format") == "date-time" else day
        elif (
            (_is_date(key, schema) or key in _TIME_NAMES)
            and (relative := relative_time(text)) is not None
            and (
                schema.get("format") in ("date", "date-time") or relative.exact(key in _TIME_NAMES)
            )
        ):
            # "tomorrow at 9am" -> tomorrow's date at 09:00, counted from the request's time
            hints[name] = relative.written(_now(), schema.get("format"), key in _TIME_NAMES)
        elif _is_date(key, schema) and "format" not in schema and (when := _WEEKDAY.search(text)):
            hints[name] = when.group(1).capitalize()  # "a science fair on Friday" -> Friday
        elif key in _LANGUAGE_NAMES and (language := _LANGUAGE.search(text)) is not None:
            hints[name] = language.group(1)  # "Translate 'good morning' to French" -> French
        elif is_id(key) and (found := _IDENTIFIER.search(text)) is not None:
            hints[name] = found.group(1)  # "Look up order 12345" -> order_id="12345"
        elif (
            key in _REMINDER_NAMES
            and "emind" in text
            and "remind" in f"{tool.name} {tool.description}".lower()
            and (of := _REMINDED.search(text)) is not None
        ):
            # "Remind me tomorrow at 9am to call Bob" -> "Call Bob", for a reminder's tool
            what = of.group(1)
            hints[name] = what[:1].upper() + what[1:]
        elif key in _BODY_NAMES and (saying := _SAYING.search(text)) is not None:
            hints[name] = _sentence(saying.group(1))  # "…saying the meeting moved to 3pm."
        elif key in _SUBJECT_NAMES and (saying := _SAYING.search(text)) is not None:
            hints[name] = _sentence(saying.group(1), words=6).rstrip(".")
        elif key in _TOPIC_NAMES and (told := _TOLD.match(text)) is not None:
            # "Create a high priority ticket: the login page is down for all users."
            if key in _SUBJECT_NAMES:  # a few words, not ending on "for" or "the"
                words = told.group(1).rstrip(".!?").split()[:6]
                while len(words) > 1 and words[-1].lower() in STOP:
                    words.pop()
                hints[name] = _sentence(" ".join(words)).rstrip(".")
            else:
                hints[name] = _sentence(told.group(1))
        elif key == "text" and (quoted := _QUOTED.search(text)) is not None:
            hints[name] = next(g for g in quoted.groups() if g)  # "Translate 'good morning'…"
        elif key in URL_NAMES and (url := url_in(text)) is not None:
            hints[name] = url  # "Summarize https://example.com/post." -> the address
        elif key in QUERY_NAMES and text:
            # ("…? Also search for who won the super bowl." -> what it says to search for)
            found = _SEARCH_FOR.search(text) if len(text) > 30 else None
            hints[name] = (found.group(1) if found else text)[:QUERY_HINT_CHARS].strip()
        elif key in _EXPRESSION_NAMES and (sum_ := arithmetic_in(text)) is not None:
            hints[name] = sum_  # "What is 23*19?" -> "23*19"
        elif key in _PERSON_NAMES and (person := _person_in(text)) is not None:
            hints[name] = person
        elif key in _EVENT_NAMES and (event := _EVENT.search(text) or _event_first(text)):
            hints[name] = event.group(1).title()  # "going to a science fair" -> Science Fair
        elif key in _PATH_NAMES and (path := _FILE_PATH.search(text)) is not None:
            hints[name] = path.group(1)  # "Read README.md" -> "README.md"
        elif key in _EMAIL_NAMES and (address := _EMAIL.search(text)) is not None:
            hints[name] = address.group()
        elif key in _PHONE_NAMES and (phone := _PHONE.search(text)) is not None:
            hints[name] = phone.group().strip()  # "(555) 123-4567", "+44 20 7946 0958"
        elif key in _STREET_NAMES and (street := _STREET.search(text)) is not None:
            hints[name] = " ".join(street.group(1).split())  # "221B Baker Street"
        elif key in _TICKER_NAMES and (ticker := _TICKER.search(text)) is not None:
            hints[name] = ticker.group(1)
        elif key in _VENUE_NAMES and (venue := _VENUE.search(text) or CAPITALISED.search(text)):
            hints[name] = venue.group(1)  # "Book a table at Chez Panisse" -> "Chez Panisse"
        elif key in _AGENT_NAMES and (agent := _agent_for(text, tool.description, request)):
            hints[name] = agent
        elif key in _REASON_NAMES and is_handoff(tool.name) and text:
            # why the question goes on: what it asks ("I want to talk to a human now!")
            hints[name] = _sentence(text[:QUERY_HINT_CHARS].strip())
        elif currencies and ("currency" in key or key in _SIDES and _about_money(tool)):
            # "Convert 100 USD to EUR" -> from=USD, to=EUR: the one after "to" for a target
            targets = [c for c in currencies if c[1]] if key.startswith(_TARGETS) else []
            hints[name] = currencies.pop(currencies.index((targets or currencies)[0]))[0]
        elif key in _ZONE_NAMES and (zone := _zone_in(text, tool.name)) is not None:
            hints[name] = zone  # "the time in Tokyo" -> "Asia/Tokyo"
        elif key in _ORIGINS and (origin := _FROM_PLACE.search(text)) is not None:
            hints[name] = origin.group(1)  # "a flight from Paris to Rome" -> from=Paris
        elif key in _DESTINATIONS and (destination := _TO_PLACE.search(text)) is not None:
            hints[name] = destination.group(1)  # … -> to=Rome
        elif key in _PLACE_NAMES:
            # The town after a street address ("221B Baker Street, London"), the place named
            # after the tool's own word ("weather in Paris and the time in Tokyo": Paris for
            # get_weather, Tokyo for get_time), else the first one named.
            after = mention(text, tool.name)
            town = _TOWN_AFTER_STREET.search(text) if key in _TOWN_NAMES else None
            place = (PLACE.search(text, after) if after else None) or PLACE.search(text)
            lower = lower_case_places(text) if place is None else ()
            if place is None and not lower:
                place = CAPITALISED.search(text)
            if town is not None:
                hints[name] = town.group("town")
            elif place is not None:
                hints[name] = place.group(1)
            elif lower:
                hints[name] = lower[0][0]  # "the weather in toronto" -> Toronto
            elif depth == 0 and (before := _place_before(request)) is not None:
                hints[name] = before  # "…in Rome?", then "How many people live there?"
    return hints


# What a reminder is of: "Remind me tomorrow at 9am to call Bob", "remind me to stretch in
# 2 hours", "Remind me next Monday about the launch party" (without the time it is due).
_REMINDER_NAMES = frozenset(
    ("text", "title", "task", "reminder", "message", "note", "content", "description",
     "subject", "what", "body", "remindertext", "label")
)  # fmt: skip
_WHEN_SAID = (
    r"(?:(?:the\s+day\s+after\s+)?tomorrow|tonight|today|this\s+\w+|next\s+\w+"
    r"|in\s+(?:\d+|an?|one|two|three|four|five|ten)\s+\w+|on\s+\w+|at\s+\d[\d:]*\s*(?:[ap]\.?m\.?)?"
    r"|at\s+(?:noon|midnight)|(?:this\s+)?(?:morning|afternoon|evening))"
)
_REMINDED = re.compile(
    r"\b(?i:remind)\s+me\b.*?\b(?:to|about|that)\s+(.+?)"
    rf"(?:[ \t]*,?[ \t]+{_WHEN_SAID})*[ \t]*[.!?]*[ \t]*$",
    re.IGNORECASE | re.DOTALL,
)


# What a message that asks for more than a search says to search for.
_SEARCH_FOR = re.compile(
    r"(?:^|[.?!]\s+)(?:also\s+|and\s+|then\s+)?(?:search|look\s+up|google)"
    r"(?:\s+the\s+web)?(?:\s+(?:for|about|on))?\s+([^.?!\n]{3,})",
    re.IGNORECASE,
)


_REASON_NAMES = frozenset(("reason", "rationale", "justification", "why"))


def _items_resolved(schema: Any, tool: Tool) -> Any:
    """An array schema whose items are a local `$ref` (`list[LineItem]`), with the object
    it refers to in their place; another schema as it is."""
    items = schema.get("items") if isinstance(schema, dict) else None
    if not isinstance(items, dict) or "$ref" not in items:
        return schema
    inner = _object_of(items, tool.parameters)
    return schema if inner is None else {**schema, "items": inner}


def _place_before(request: Conversation) -> str | None:
    """The place the user named last before the last message (which names none), as a
    follow-up asks about it again: "What about Rome?", then "How many people live there?"."""
    users = [m for m in request.messages if m.role == "user" and m.text]
    for message in reversed(users[:-1]):
        if (found := PLACE.search(message.text) or CAPITALISED.search(message.text)) is not None:
            return found.group(1)
    return None


def _object_of(schema: Any, root: Any, hops: int = 0) -> dict[str, Any] | None:
    """An object schema with properties, as a property gives it: itself, its local `$ref`
    (`#/$defs/Address`, into the tool's own definitions) or the one object of an optional
    (`anyOf` of it and null); None otherwise. Its properties' own references stay
    resolvable through the definitions it is given."""
    if not isinstance(schema, dict) or hops > 8:  # (references that never end)
        return None
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        objects = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        return _object_of(objects[0], root, hops + 1) if len(objects) == 1 else None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and isinstance(root, dict):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        return _object_of(node, root, hops + 1)
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        definitions = {
            k: root[k] for k in ("$defs", "definitions") if isinstance(root, dict) and k in root
        }
        return {**schema, **definitions}
    return None


# What a message asks to be said: "Send an email to bob@example.com saying the meeting
# moved to 3pm." -> "The meeting moved to 3pm."
_SAYING = re.compile(
    r"\b(?:saying|that says|to say|telling (?:him|her|them)|with the message)\s*:?\s*"
    r"(?:that\s+)?[\"'“]?(.+?)[\"'”]?\s*[.!?]?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_BODY_NAMES = frozenset(("body", "message", "content", "text", "emailbody", "msg", "note"))
_SUBJECT_NAMES = frozenset(("subject", "title", "emailsubject", "headline"))
# What a one-line request is about, after its colon: its title in a few words, its
# description whole ("Create a ticket: the login page is down." -> "The login page is down").
_TOLD = re.compile(r"[^:\n]{3,80}:[ \t]*([^:\n]{3,400}?)[ \t]*\Z")
_TOPIC_NAMES = _SUBJECT_NAMES | frozenset(
    ("summary", "description", "details", "issue", "problem", "body", "content", "note")
)


def _sentence(said: str, words: int = 0) -> str:
    """What a message asks to be said, as a sentence (its first `words` words when given)."""
    kept = " ".join(said.split()[:words] if words else said.split())
    return kept[:1].upper() + kept[1:] + ("" if kept.endswith((".", "!", "?")) else ".")


# A text a message quotes: 'good morning', "good morning", “good morning”.
_QUOTED = re.compile(
    r"(?<!\w)'([^'\n]{2,200})'(?!\w)|(?<!\w)\"([^\"\n]{2,200})\"(?!\w)|“([^”\n]{2,200})”"
)
_PLACE_LISTS = frozenset(
    ("cities", "locations", "places", "towns", "countries", "destinations", "regions")
)
_LANGUAGE_NAMES = frozenset(
    ("language", "lang", "targetlanguage", "targetlang", "tolanguage", "outputlanguage")
)
# A language a message asks for by its English name: "to French", "into German", "in Spanish".
_LANGUAGE = re.compile(
    r"\b(?:to|into|in)\s+(English|Spanish|French|German|Italian|Portuguese|Dutch|Polish|Czech"
    r"|Danish|Swedish|Norwegian|Finnish|Greek|Turkish|Russian|Ukrainian|Arabic|Persian|Hebrew"
    r"|Hindi|Thai|Vietnamese|Indonesian|Chinese|Japanese|Korean)\b"
)
# An identifier a message gives: a word with a digit ("12345", "ORD-1042", "#4521" -> 4521),
# not a time or an amount ("3pm", "10kg").
_IDENTIFIER = re.compile(
    r"(?<![\w.@/-])#?((?:[A-Za-z]+[-_]?)?\d[\w-]*)(?![\w@/]|\.\w)(?<!\d[ap]m)(?<!\dkg)"
)


def is_id(key: str) -> bool:
    """A property named for an identifier: `id`, `order_id`, `ticketId`, `invoice_number`."""
    if key in _AGENT_NAMES or key in ("paid", "valid"):
        return False  # a team member's id is the member the message is about
    return key == "id" or key.endswith(("id", "number"))


def _places_in(text: str) -> list[str]:
    """The places a message names: those of its one list ("in Paris, Rome and Oslo"),
    else the one it names ("in Paris")."""
    listed = _PLACE_LIST.search(text)
    if listed is not None:
        return list(dict.fromkeys(_PLACE_WORDS.findall(listed.group(1))))
    lower = lower_case_places(text)
    if lower and len(lower[0]) > 1:
        return list(lower[0])  # "in toronto and dallas"
    place = PLACE.search(text)
    return [place.group(1)] if place is not None else list(lower[0]) if lower else []


def _option_named(text: str, options: list[Any]) -> str | None:
    """The one value of a string enum the message names as a word ("in celsius", "in
    Celsius"), or None when it names none or several."""
    lowered = text.lower()
    named = [
        option
        for option in options
        if isinstance(option, str) and option.strip() and _has_word(lowered, option.lower())
    ]
    return named[0] if len(named) == 1 else None


# Words that say how a text feels, for a sentiment enum the message names no value of
# ("Classify the sentiment: I love this product, it is great!" -> positive).
_GLAD = frozenset(
    ("love", "loved", "loves", "great", "excellent", "amazing", "awesome", "fantastic",
     "wonderful", "happy", "good", "best", "like", "liked", "enjoy", "enjoyed", "perfect",
     "recommend", "nice", "beautiful", "delighted", "pleased", "glad", "brilliant",
     "superb", "fast", "helpful", "easy", "thanks", "thank")
)  # fmt: skip
_SAD = frozenset(
    ("hate", "hated", "terrible", "awful", "bad", "worst", "horrible", "poor",
     "disappointed", "disappointing", "broken", "broke", "angry", "useless", "waste",
     "sad", "annoying", "slow", "refund", "rude", "late", "never", "worse", "fail",
     "failed", "problem", "issue", "unhappy", "frustrated", "frustrating", "wrong")
)  # fmt: skip
_NEGATIONS = frozenset(("not", "no", "don't", "didn't", "isn't", "wasn't", "doesn't", "never"))
_FEELINGS = {"positive": "positive", "pos": "positive", "negative": "negative",
             "neg": "negative", "neutral": "neutral", "mixed": "mixed"}  # fmt: skip


def _sentiment(text: str, options: list[Any]) -> str | None:
    """The value of a sentiment enum (positive, negative, neutral, mixed: in any case) that
    the message's words say, as a model reads a review; None for another enum."""
    feelings = {
        _FEELINGS[option.lower()]: option
        for option in options
        if isinstance(option, str) and option.lower() in _FEELINGS
    }
    if not {"positive", "negative"} <= feelings.keys():
        return None
    glad = sad = 0
    words = re.findall(r"[a-z']+", text.lower())
    for at, word in enumerate(words):
        turned = any(w in _NEGATIONS for w in words[max(0, at - 2) : at])
        if word in _GLAD:
            glad, sad = (glad, sad + 1) if turned else (glad + 1, sad)
        elif word in _SAD and word != "never":
            glad, sad = (glad + 1, sad) if turned else (glad, sad + 1)
    if glad and sad and "mixed" in feelings:
        return feelings["mixed"]
    if glad != sad:
        return feelings["positive" if glad > sad else "negative"]
    return feelings.get("neutral")


# A boolean that says whether the message is something (`is_math_homework`, `isOffTopic`,
# `contains_pii`), as a guardrail's classifier answers (the Agents SDK's guardrail example).
_QUESTION = re.compile(r"(?:is|has|contains|includes|mentions|asks|requires|needs)(?=[A-Z_])")
_FINE = frozenset(
    stem(w)
    for w in ("safe", "valid", "relevant", "appropriate", "allowed", "ok", "correct", "polite",
              "legitimate", "legit", "acceptable", "clean")
)  # fmt: skip
_MATH_CUES = re.compile(
    r"\b(?:solve|equation|derivative|integral|algebra|calculus|geometry|factor|fraction"
    r"|homework|math|maths)\b|\d\s*[-+*/^=]\s*\d|\d[a-z]\b",
    re.IGNORECASE,
)


_MATH_VERDICTS = frozenset(stem(w) for w in ("math", "homework"))


def _verdict(name: str, text: str) -> bool | None:
    """Whether the message is what a boolean named as a question says (`is_math_homework`:
    the message uses its words, or asks arithmetic for "math"); one named for what is fine
    (`is_safe`, `is_relevant`, `is_on_topic`) holds, as a model finds most messages are;
    None for a boolean not named as such a question."""
    found = _QUESTION.match(name)
    if found is None:
        return None
    asked = words_of(name[found.end() :])
    if "topic" in asked:
        return "off" not in asked
    asked -= STOP
    if not asked:
        return None
    if asked & _FINE:
        return True
    said = words_of(text) | math_words(text)
    if asked & _MATH_VERDICTS and _MATH_CUES.search(text):
        return True  # (`is_homework`, a guardrail told to check for "math homework")
    return bool(asked & said)


def _is_date(key: str, schema: Any) -> bool:
    """A property that holds a day: `date`, `start_date`, `due_date`, `birthday`, or a
    string of format date or date-time."""
    if isinstance(schema, dict) and schema.get("format") in ("date", "date-time"):
        return True
    return key in _DATE_NAMES or (key.endswith("date") and key != "update")


_DATE_NAMES = frozenset(("day", "when", "deadline", "birthday", "dob", "dateofbirth"))
# A moment a message gives in words ("Remind me tomorrow at 9am"), for these as well: a day
# and its time of day.
_TIME_NAMES = frozenset(
    ("time", "datetime", "when", "at", "remindat", "starttime", "startsat", "scheduledtime",
     "scheduledat", "duetime", "reminderdatetime", "remindertime", "eventtime", "timestamp")
)  # fmt: skip
# The request's time (--freeze-time, else the time it arrived), from which "tomorrow" and
# "in 2 hours" count: set by the engine as it answers.
REQUEST_TIME: ContextVar[float | None] = ContextVar("request_time", default=None)


def _now() -> float:
    at = REQUEST_TIME.get()
    return time.time() if at is None else at


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A moment said relative to now: "today", "tonight", "tomorrow", "(next|this|on) Monday",
# "in 2 hours", "in a week".
_RELATIVE = re.compile(
    r"\b(?:(today|tonight|(?:the\s+day\s+after\s+)?tomorrow|next\s+week)"
    r"|(?:(next|this)\s+)?(" + "|".join(_WEEKDAYS) + r")"
    r"|in\s+(\d{1,3}|an?|one|two|three|four|five|six|ten|twelve)\s+(minute|hour|day|week)s?)\b",
    re.IGNORECASE,
)
# The time of day a message gives: "at 9am", "9:30 pm", "at 18:30", "at 8", "noon".
_TIME_OF_DAY = re.compile(
    r"\b(?:at\s+)?(\d{1,2})(?::([0-5]\d))?\s*([ap])\.?m\b\.?|\bat\s+(\d{1,2})(?::([0-5]\d))?\b"
    r"|\b(noon|midnight)\b",
    re.IGNORECASE,
)
_AMOUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "ten": 10, "twelve": 12}  # fmt: skip
_UNITS_S = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


@dataclass(frozen=True, slots=True)
class Relative:
    """A moment a message gives relative to now: days ahead (`days`, or the coming
    `weekday`, 0 for Monday, a week on when that day is today) at a time of day (`clock`,
    minutes after midnight), or `seconds` from now; `next` when it says "next Monday"."""

    days: int = 0
    weekday: int | None = None
    clock: int | None = None
    seconds: int | None = None
    next: bool = False

    def exact(self, timed: bool) -> bool:
        """Whether it says more than a day's name, for a string of no format: a day's
        argument keeps "on Friday" as "Friday" (at 7pm or not), unless "next Friday"; an
        argument that holds a time (`timed`) takes Friday's date at the time of day given."""
        if self.weekday is not None and not self.next:
            return timed and self.clock is not None
        return self.clock is not None or self.seconds is not None or self.next

    def written(self, now: float, form: Any, timed: bool) -> str:
        """The moment from `now` (UTC) as a `form` (date, date-time) asks it: an ISO
        date-time with Z for a date-time; for a string of no format, an ISO date-time for an
        argument that holds a time (`timed`: `when`, `time`) given a time of day or an
        amount of time; else a date."""
        at = dt.datetime.fromtimestamp(now, dt.UTC).replace(microsecond=0)
        if self.seconds is not None:
            at += dt.timedelta(seconds=self.seconds)
        else:
            ahead = self.days
            if self.weekday is not None:
                ahead = (self.weekday - at.weekday()) % 7 or 7
            at = at.replace(hour=0, minute=0, second=0) + dt.timedelta(days=ahead)
            if self.clock is not None:
                at += dt.timedelta(minutes=self.clock)
        clocked = self.clock is not None or self.seconds is not None
        if form != "date-time" and (form == "date" or not timed or not clocked):
            return at.date().isoformat()
        return at.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if form == "date-time" else "")


def relative_time(text: str) -> Relative | None:
    """The moment a message gives relative to its time ("Remind me tomorrow at 9am": a day
    ahead at 09:00; "tonight at 8": today at 20:00; "the day after tomorrow"; "next week";
    "next Monday"; "in 2 hours"), or None. (A text with none of their words is not read.)"""
    if not any(word in text for word in _RELATIVE_WORDS):
        return None
    return _relative_in(text)


# A word that each of the moments `_RELATIVE` reads holds (a weekday's "day"), as written.
_RELATIVE_WORDS = (
    "day", "Day", "DAY", "night", "Night", "NIGHT", "orrow", "ORROW", "week", "Week", "WEEK",
    "hour", "Hour", "HOUR", "minute", "Minute", "MINUTE",
)  # fmt: skip


@per_text
def _relative_in(text: str) -> Relative | None:
    found = _RELATIVE.search(text)
    if found is None:
        return None
    day, _, weekday, amount, unit = found.groups()
    if amount is not None:
        count = _AMOUNTS.get(amount.lower()) or int(amount)
        return Relative(seconds=count * _UNITS_S[unit.lower()])
    clock = _time_of_day(text, evening=(day or "").lower() == "tonight")
    if weekday is not None:
        ahead = _WEEKDAYS.index(weekday.lower())
        return Relative(weekday=ahead, clock=clock, next=(found[2] or "").lower() == "next")
    said = day.lower()
    # ("the day after tomorrow": two days on; "next week": seven)
    ahead = 7 if said.startswith("next") else 2 if said.startswith("the") else 1
    return Relative(days=0 if said in ("today", "tonight") else ahead, clock=clock)


def _time_of_day(text: str, evening: bool) -> int | None:
    """The time of day the message gives, in minutes after midnight ("9am": 540; "at 8"
    tonight: 1200), or None."""
    for found in _TIME_OF_DAY.finditer(text):
        if found[6] is not None:
            return 12 * 60 if found[6].lower() == "noon" else 0
        hour = int(found[1] or found[4])
        minute = int(found[2] or found[5] or 0)
        if hour > 23 or (found[3] is not None and hour > 12):
            continue
        if found[3] is not None:
            hour = hour % 12 + (12 if found[3].lower() == "p" else 0)
        elif evening and hour < 12:
            hour += 12
        return hour * 60 + minute
    return None


_MONTHS = {
    m[:3]: i
    for i, m in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august",
         "september", "october", "november", "december"), start=1
    )
}  # fmt: skip
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
# A date a message gives: 2024-05-01, May 1, 2024 (May 1st 2024), 1 May 2024.
_DAY = re.compile(
    r"\b(\d{4})-(\d{2})-(\d{2})\b"
    rf"|\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"
    rf"|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b",
    re.IGNORECASE,
)


# The time of day after a date: "on 2025-07-01 at 18:30", "May 1, 2024, 2pm", "… at 9:30 am".
_CLOCK = re.compile(
    r"[ \t]*,?[ \t]*(?:at[ \t]+)?([01]?\d|2[0-3])(?::([0-5]\d))?(?![\d:])"
    r"(?:[ \t]*([ap])\.?m\b\.?)?",
    re.IGNORECASE,
)


def _days_in(text: str) -> list[tuple[str, str]]:
    """The dates a message gives, in order, as ISO dates, each with the time of day given
    after it ("hh:mm:ss"; midnight when none is)."""
    days = []
    for found in _DAY.finditer(text):
        g = found.groups()
        if g[0] is not None:
            year, month, day = int(g[0]), int(g[1]), int(g[2])
        elif g[3] is not None:
            year, month, day = int(g[5]), _MONTHS[g[3].lower()], int(g[4])
        else:
            year, month, day = int(g[8]), _MONTHS[g[7].lower()], int(g[6])
        if 1 <= month <= 12 and 1 <= day <= 31:
            days.append((f"{year:04d}-{month:02d}-{day:02d}", _clock_at(text, found.end())))
    return days


def _clock_at(text: str, start: int) -> str:
    """The time of day written at `start` ("at 18:30", "2pm"), as hh:mm:ss; midnight when
    none is (a bare number is no time: "May 1, 2024 3 guests")."""
    found = _CLOCK.match(text, start)
    if found is None or (found[2] is None and found[3] is None):
        return "00:00:00"
    hour = int(found[1])
    if found[3] is not None:
        if hour > 12:
            return "00:00:00"
        hour = hour % 12 + (12 if found[3].lower() == "p" else 0)
    return f"{hour:02d}:{found[2] or '00'}:00"


_PEOPLE_LISTS = frozenset(
    ("attendees", "participants", "people", "members", "guests", "authors", "names",
     "friends", "speakers", "invitees", "recipients", "players", "characters")
)  # fmt: skip
# A list a message gives: "chess and hiking", "apples, pears and plums", "Alice and Bob".
# (an article before a thing is not the thing's: "a keyboard and a mouse")
_ITEM = r"(?:(?:an?|the|some)[ \t]+(?=[a-z]))?(?:[A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*)*|[a-z][\w'-]*)"
_ARTICLE = re.compile(r"(?:an?|the|some)[ \t]+(?=[a-z])")
_ITEMS = re.compile(rf"\b{_ITEM}(?:[ \t]*,[ \t]*{_ITEM})*[ \t]*,?[ \t]+and[ \t]+{_ITEM}\b")
_ASKING = frozenset(
    ("invite", "add", "email", "call", "ask", "tell", "notify", "include", "list", "name",
     "meet", "message", "remind", "cc", "book", "extract", "find", "get", "with")
)  # fmt: skip
_SPLIT = re.compile(r"[ \t]*(?:,[ \t]*and|,|and)[ \t]+")


def _of_strings(schema: Any) -> bool:
    items = schema.get("items") if isinstance(schema, dict) else None
    return isinstance(items, dict) and items.get("type") == "string" and "enum" not in items


_THING_NAMES = frozenset(("name", "item", "product", "title", "ingredient", "thing", "label"))
_COUNT_NAMES = frozenset(("quantity", "qty", "count", "amount", "number", "units", "how many"))
# "2 apples, 3 bananas and 1 melon": a number and what it counts, in a list.
_COUNTED = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s+([a-z][a-z'-]*(?:\s+[a-z][a-z'-]*){0,2}?)"
                      r"(?=\s*(?:,|\band\b|\.|;|$))")  # fmt: skip


def _record_keys(schema: Any) -> tuple[str, str] | None:
    """The names of the thing and of its quantity, for an array of such objects (an order's
    lines: `{item, qty}`); None for another array."""
    items = schema.get("items") if isinstance(schema, dict) else None
    props = items.get("properties") if isinstance(items, dict) else None
    if not isinstance(props, dict):
        return None
    thing = next((k for k in props if name_key(k) in _THING_NAMES), None)
    count = next((k for k in props if name_key(k) in _COUNT_NAMES), None)
    return None if thing is None or count is None else (thing, count)


def _counted_in(text: str, schema: Any) -> list[dict[str, str | int | float]] | None:
    """The things a message counts ("2 apples, 3 bananas and 1 melon"), for an array of
    objects of a name and a quantity, each record one of them; None when it counts fewer
    than two or the array's items are not such objects."""
    keys = _record_keys(schema)
    if keys is None:
        return None
    thing, count = keys
    whole = (schema["items"]["properties"][count] or {}).get("type") == "integer"
    found = [
        (float(n) if "." in n else int(n), what.strip())
        for n, what in _COUNTED.findall(text)
        if what.split()[0] not in STOP
    ]
    if len(found) < 2 or (whole and any(isinstance(n, float) for n, _ in found)):
        return None
    return [{thing: what, count: n} for n, what in found]


# "Generate 3 hero descriptions", "List five fruits", "Give me 10 startup ideas": a number
# of things (a plural word after it, one other word between at most), not an age or a
# length ("34 years old", "in 3 sentences"): a count a model would write that many of.
_ASKED_COUNT = re.compile(
    r"(?<![\w.])(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+"
    r"(?:([a-z][a-z-]*)\s+)?([a-z][a-z-]*s)\b",
    re.IGNORECASE,
)
_COUNT_WORDS = {
    w: i + 1
    for i, w in enumerate("one two three four five six seven eight nine ten eleven twelve".split())
}
_NOT_THINGS = frozenset(
    "years months weeks days hours minutes seconds times percent dollars euros pounds "
    "sentences words paragraphs lines characters pages steps degrees miles kilometers "
    "meters feet inches kilos pounds people others".split()
)


# Where one item of a list ends: "Alice is 30, Bob is 25 and Carol is 41".
_RECORD_END = re.compile(r"\s*(?:[,;]\s*(?:and\s+)?|\s+and\s+|\n+)\s*")


def _records_in(request: Conversation, tool: Tool, schema: Any, text: str) -> Records | None:
    """The values a message gives for each object of an array, in order (instructor's
    `create_iterable`: "Extract the users: Alice is 30, Bob is 25 and Carol is 41." -> a
    name and an age for each): the message (after its colon) cut where a part starts with
    a capital, a part in lower case going on with the one before ("Alice is 30 and lives in
    Paris"); None unless two parts or more each give values, one property at least in all."""
    items = schema.get("items") if isinstance(schema, dict) else None
    inner = _object_of(items, tool.parameters) if items is not None else None
    if inner is None:
        return None
    parts: list[str] = []
    for part in _RECORD_END.split(text.partition(":")[2] or text):
        part = part.strip(" .!?")
        if parts and part and not part[0].isupper():
            parts[-1] = f"{parts[-1]} and {part}"
        elif part:
            parts.append(part)
    if len(parts) < 2:
        return None
    records = Records(
        Nested(_hints(request, tool, inner, part, _numbers_in(part), [], 2)) for part in parts
    )
    shared = set(records[0]).intersection(*records[1:])
    return records if shared and all(records) else None


def _count_asked(text: str) -> int | None:
    """How many things the message asks for ("Generate 3 hero descriptions": 3), from 1 to
    12; None when it asks for no number of things."""
    for found in _ASKED_COUNT.finditer(text):
        between, things = (found[2] or "").lower(), found[3].lower()
        if between in STOP or things in _NOT_THINGS or things in STOP:
            continue
        number = found[1].lower()
        count = _COUNT_WORDS.get(number) or int(number)
        if 1 <= count <= 12:
            return count
    return None


def _items_in(text: str, people: bool) -> list[str]:
    """The things a message lists ("likes chess and hiking"): people's names for a list of
    people (`attendees`), words in lower case for another, none a stop word."""
    for found in _ITEMS.finditer(text):
        items = [
            _ARTICLE.sub("", item.strip(), count=1)
            for item in _SPLIT.split(found.group())
            if item.strip()
        ]
        first, _, rest = items[0].partition(" ")
        if rest and first.lower() in _ASKING:
            items[0] = rest  # "Invite Alice Smith, Bob Jones and Carol" -> "Alice Smith"
        if any(item.lower() in STOP for item in items):
            continue
        if (
            all(item[:1].isupper() for item in items)
            if people
            else all(item.islower() for item in items)
        ):
            return list(dict.fromkeys(items))
    return []


def _has_word(text: str, word: str) -> bool:
    """Whether `word` is in `text` with no letter or digit either side of it."""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before == "_" or after.isalnum() or after == "_"):
            return True
        start = text.find(word, start + 1)
    return False


def _person_in(text: str) -> str | None:
    """The person a message names: two capitalised words or more ("Marie Curie"), else one
    name where a person is spoken of ("the person: Alice, 30", "Alice is 30")."""
    for found in _PERSON.finditer(text):
        if found.group(1).rsplit(" ", 1)[-1] not in _STREET_WORDS:  # not "Downing Street"
            first, _, rest = found.group(1).partition(" ")
            asking = first.lower() in _ASKING or first.lower() in _NOT_NAMES
            if asking and " " in rest:  # "Save Jane Doe": the verb that asks is no name
                return rest
            if not asking:
                return found.group(1)
    for one in _ONE_NAME.finditer(text):
        name = one.group(1) or one.group(2)
        if name.lower() not in STOP and name.lower() not in _NOT_NAMES:
            return name
    return None


# What an event is named, where no person is: "Alice and Bob are going to a science fair
# on Friday" (the OpenAI structured outputs guide's CalendarEvent), "Schedule the quarterly
# review on March 3".
_EVENT_NAMES = frozenset(("name", "title", "event", "eventname", "eventtitle"))
_EVENT = re.compile(
    r"\b(?i:to|for|attend|attending|schedule|book|plan|organi[sz]e|host|hold|called|named)"
    r"\s+(?:an?|the)\s+((?:(?!(?:on|at|in|with|for|from|to|by|of)\b)[a-z][\w-]*\s+){0,3}"
    r"(?!(?:on|at|in|with|for|from|to|by|of)\b)[a-z][\w-]*)"
    r"(?=\s+(?:on|at|in|with|for|from|this|next|tomorrow|today|tonight)\b|\s*[.,!?]|\s*$)"
)
# An event a sentence opens with: "The launch party starts at 7pm on Friday".
_EVENT_FIRST = re.compile(
    r"(?:^|[.!?]\s+)(?i:the|our|my|a|an)\s+((?:[a-z][\w-]*\s+){0,3}?[a-z][\w-]*)\s+"
    r"(?:starts|begins|kicks\s+off|takes\s+place|opens|runs|will\s+(?:start|begin|be\s+held)"
    r"|is\s+(?:on|at|this|next|tomorrow|tonight|today|scheduled|planned|set))\b"
)


def _event_first(text: str) -> re.Match[str] | None:
    """An event a sentence of the message opens with (`_EVENT_FIRST`); read when the
    message says when something starts or takes place."""
    if any(verb in text for verb in _EVENT_VERBS):
        return _EVENT_FIRST.search(text)
    return None


_EVENT_VERBS = (" starts", " begins", " off", " place", " opens", " runs", " will ", " is ")


# A day named by its weekday, or today or tomorrow, for a date the message gives no more of.
_WEEKDAY = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tomorrow|tonight)\b",
    re.IGNORECASE,
)
_NOT_NAMES = frozenset(
    ("extract", "what", "who", "where", "when", "how", "tell", "give", "get", "find", "show",
     "please", "create", "make", "list", "describe", "write", "return", "hello", "hi", "hey",
     "save", "store", "register", "contact", "update", "delete", "remove", "lookup", "look")
)  # fmt: skip


def hints_per_place(request: Conversation, tool: Tool) -> list[dict[str, Hint]]:
    """The argument hints once for each place the last user message names in one list
    ("the weather in Paris and in Rome": city=Paris, then city=Rome), for a tool with one
    place argument; else the hints once (`argument_hints`)."""
    hints = argument_hints(request, tool)
    listed = listed_places(request, tool)
    if listed is None:
        return [hints]
    name, places = listed
    per_place = [{**hints, name: place} for place in places]
    options = {
        key: schema["enum"]
        for key, schema in (tool.parameters.get("properties") or {}).items()
        if isinstance(schema, dict) and isinstance(schema.get("enum"), list) and key not in hints
    }
    if options:
        # each place's own value of an enum: "Toronto in metric and Dallas in imperial"
        text = request.last_user
        lowered, at = text.lower(), 0
        starts = []
        for place in places:
            found = lowered.find(place.lower(), at)
            starts.append(found if found >= 0 else at)
            at = max(found, at)
        for i, hints_of in enumerate(per_place):
            said = text[starts[i] : starts[i + 1] if i + 1 < len(starts) else len(text)]
            for key, values in options.items():
                if (option := _option_named(said, values)) is not None:
                    hints_of[key] = option
    return per_place


def places_left(request: Conversation, tool: Tool) -> list[dict[str, Hint]]:
    """`hints_per_place` without the places this turn has called the tool for already
    ("the weather in Paris and in Rome", get_weather(city='Paris') back: Rome's hints);
    empty once every place the message lists has been asked."""
    listed = listed_places(request, tool)
    if listed is None:
        return hints_per_place(request, tool)
    name, _ = listed
    asked = {
        str(call.parsed_arguments.get(name))
        for m in turn_messages(request)
        for call in m.tool_calls
        if call.name == tool.name and isinstance(call.parsed_arguments, dict)
    }
    return [hints for hints in hints_per_place(request, tool) if str(hints[name]) not in asked]


def call_hints(request: Conversation, tool: Tool, nth: int = 0) -> dict[str, Hint]:
    """The argument hints of an answer's `nth` call to the tool (from 0): the nth place
    of those left to ask (`places_left`), else `argument_hints`."""
    left = places_left(request, tool)
    return left[min(nth, len(left) - 1)] if left else argument_hints(request, tool)


def more_places(request: Conversation, turn: tuple[Message, ...]) -> Tool | None:
    """A tool this turn called that has places the message lists still to ask ("the
    weather in Paris and in Rome", only Paris asked), or None."""
    called = list(dict.fromkeys(call.name for m in turn for call in m.tool_calls))
    for name in called:
        tool = request.offered_tool(name)
        if tool is not None and listed_places(request, tool) and places_left(request, tool):
            return tool
    return None


def listed_places(request: Conversation, tool: Tool) -> tuple[str, list[str]] | None:
    """The tool's one place argument and the places the last user message names in one
    list (two or more), or None."""
    properties = tool.parameters.get("properties")
    names = [
        name
        for name in (properties if isinstance(properties, dict) else ())
        if isinstance(name, str) and name_key(name) in _PLACE_NAMES
    ]
    if len(names) != 1:
        return None
    listed = _PLACE_LIST.search(request.last_user)
    if listed is not None:
        places = list(dict.fromkeys(_PLACE_WORDS.findall(listed.group(1))))
    else:  # "in toronto and dallas"
        places = next((list(found) for found in lower_case_places(request.last_user)), [])
    return (names[0], places) if len(places) > 1 else None


# (not the digits of a code: "A-1023", nor of a word: "3pm", "2nd"; a unit may follow:
# "18C", "3.5km")
_NUMBER = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)-?\d+(?:\.\d+)?"
    r"(?:(?=(?:[CFK]|km|kg|cm|mm|mi|lbs?|ml|m|g)\b)|(?!\w|\.\d))"
)
_NOT_AMOUNTS = frozenset(("page", "offset"))
# How many things to give back: the number of things the message asks for ("Tell me 3
# jokes", "the 5 latest orders"), not any number it gives ("news about the 2022 cup").
_HOW_MANY = frozenset(("count", "limit", "topk", "maxresults", "numresults", "howmany"))
_PERSON_NAMES = frozenset(("name", "fullname", "personname", "customername", "contactname"))
_PERSON = re.compile(r"\b([A-Z][a-z]+(?: [A-Z][a-z]+)+)\b")  # two capitalised words or more
# One name given where a person is asked about: "the person: Alice, 30", "Name: Bob",
# "Alice is 30", "Alice, 30 years old".
_ONE_NAME = re.compile(
    r"\b(?:[Pp]erson|[Nn]ame|[Uu]ser|[Cc]ustomer|[Cc]ontact|[Ee]mployee|[Pp]atient|[Aa]uthor"
    r"|[Ss]tudent)\b[^.!?\n\w]*([A-Z][a-z]+)\b(?![ \t]+[A-Z])"
    r"|\b([A-Z][a-z]+)(?=,[ \t]*\d|[ \t]+is[ \t]+\d|[ \t]*\([ \t]*\d)"
)
_STREET_NAMES = frozenset(
    ("street", "streetaddress", "address", "address1", "addressline1", "addressline", "line1")
)
_STREET_WORDS = frozenset(
    ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive",
     "Dr", "Way", "Court", "Ct", "Place", "Pl", "Square", "Sq", "Terrace", "Parkway", "Pkwy",
     "Highway", "Hwy", "Row", "Close", "Crescent", "Alley")
)  # fmt: skip
_STREET = re.compile(
    r"\b(\d+[A-Za-z]?[ \t]+(?:[A-Z][\w'-]*[ \t]+){0,4}"
    rf"(?:{'|'.join(sorted(_STREET_WORDS))})\b\.?)"
)
_TOWN_NAMES = frozenset(("city", "town", "cityname"))
# A place or a business a message names: "a table at Chez Panisse", "a room at the Hilton".
_VENUE_NAMES = frozenset(
    "restaurant restaurantname hotel hotelname venue venuename company companyname store "
    "shop business businessname airline brand organization organisation employer".split()
)
_VENUE = re.compile(r"\b(?:at|with|from)\s+(?:the\s+)?([A-Z][\w'&-]*(?:[ \t]+[A-Z][\w'&-]*)*)")
# The town after a street address: "221B Baker Street, London" -> London.
_TOWN_AFTER_STREET = re.compile(
    r"(?:" + _STREET.pattern + r"),[ \t]*(?P<town>[A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*)*)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_NAMES = frozenset(("email", "to", "recipient", "emailaddress", "address", "toemail"))
_PHONE_NAMES = frozenset(
    ("phone", "phonenumber", "telephone", "tel", "mobile", "mobilenumber", "cell",
     "cellphone", "contactnumber")
)  # fmt: skip
# A phone number a message gives: seven digits or more, with the spaces, dots, dashes and
# brackets people write them with ("(555) 123-4567", "+1 415-555-0100", "555.123.4567").
_PHONE = re.compile(
    r"(?<![\w.])(?!\d{4}-\d\d-\d\d\b)"  # (not a date: 2024-05-01)
    r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{5,}\d(?![\w-])"
)
_TICKER = re.compile(r"\b([A-Z]{2,5})\b")
_TICKER_NAMES = frozenset(("ticker", "symbol", "stock", "tickersymbol", "stocksymbol"))
# A currency a message names, by its code or its name ("100 dollars to euros").
_CURRENCY = re.compile(
    r"(\b(?:to|into|in)\s+)?\b(USD|EUR|GBP|JPY|CNY|CHF|CAD|AUD|INR|KRW|SEK|NOK|DKK|HKD|SGD"
    r"|(?i:dollars?|euros?|pounds?|yen|yuan|francs?|rupees?))\b"
)
_CODES = {
    "dollar": "USD", "euro": "EUR", "pound": "GBP", "yen": "JPY", "yuan": "CNY",
    "franc": "CHF", "rupee": "INR",
}  # fmt: skip
_TARGETS = ("to", "target", "into", "quote", "dest")


def _currencies_in(text: str) -> list[tuple[str, bool]]:
    """The currencies a message names, in order, as codes, each with whether it is what
    the amount is turned into ("to EUR", "into euros")."""
    return [
        (_CODES.get(found.group(2).lower().rstrip("s"), found.group(2)), found.group(1) is not None)
        for found in _CURRENCY.finditer(text)
    ]


# The two sides of a conversion, when the tool converts money (`convert_currency(amount,
# from, to)`): not a trip's ("from Paris to Rome").
_SIDES = frozenset(("from", "to", "source", "target", "base", "quote", "frm", "into"))


_ZONE_NAMES = frozenset(
    ("timezone", "tz", "zone", "timezonename", "ianatimezone", "tzname", "timezoneid")
)
# An IANA zone a message names: "Europe/Paris", "America/Argentina/Buenos_Aires".
_IANA = re.compile(
    r"\b((?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)"
    r"/[A-Za-z_+-]+(?:/[A-Za-z_]+)?|UTC)\b"
)
# Cities a zone is not named after, that people ask the time of.
_ZONE_OF = {
    "san francisco": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "washington": "America/New_York", "boston": "America/New_York",
    "miami": "America/New_York", "beijing": "Asia/Shanghai", "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata", "mumbai": "Asia/Kolkata", "bangalore": "Asia/Kolkata",
    "osaka": "Asia/Tokyo", "kyoto": "Asia/Tokyo", "milan": "Europe/Rome",
    "barcelona": "Europe/Madrid", "munich": "Europe/Berlin", "geneva": "Europe/Zurich",
    "montreal": "America/Toronto", "rio de janeiro": "America/Sao_Paulo",
    "melbourne": "Australia/Melbourne", "london": "Europe/London",
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """The IANA zones by their city, in lower case ("new york" -> "America/New_York")."""
    try:
        names = zoneinfo.available_timezones()
    except (OSError, ValueError):
        names = set()
    by_city = {
        name.rpartition("/")[2].replace("_", " ").lower(): name
        for name in sorted(names)
        if name.startswith(_IANA_AREAS)
    }
    return by_city | _ZONE_OF


_IANA_AREAS = ("Africa/", "America/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Pacific/")
# Cities people write in lower case as well ("What's the weather in toronto and dallas?",
# instructor's example): those a time zone is named after, and these, which name none.
_CITIES = frozenset(
    ("dallas", "houston", "austin", "san antonio", "san diego", "san jose", "seattle",
     "boston", "miami", "atlanta", "philadelphia", "washington", "las vegas", "portland",
     "san francisco", "orlando", "nashville", "baltimore", "pittsburgh", "cleveland",
     "minneapolis", "st louis", "new orleans", "salt lake city", "ottawa", "calgary",
     "quebec", "oslo", "milan", "naples", "venice", "florence", "barcelona", "seville",
     "munich", "hamburg", "frankfurt", "cologne", "geneva", "lyon", "marseille",
     "manchester", "liverpool", "edinburgh", "glasgow", "osaka", "kyoto", "beijing",
     "mumbai", "delhi", "new delhi", "bangalore", "rio de janeiro", "rio", "cape town",
     "melbourne", "sydney", "auckland")
)  # fmt: skip
# Words a zone's last part spells that name no city a message means ("Australia/North").
_NOT_CITIES = frozenset(
    ("north", "south", "west", "east", "act", "wake", "easter", "central", "eastern",
     "western", "pacific", "mountain", "samoa", "universal", "zulu", "current", "general",
     "center", "virgin", "knox in", "resolute")
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _known_cities() -> frozenset[str]:
    return (frozenset(_zones()) | _CITIES) - _NOT_CITIES


@functools.lru_cache(maxsize=1)
def _first_words() -> frozenset[str]:
    """The first word of each known city ("new" of "new york")."""
    return frozenset(city.split(" ", 1)[0] for city in _known_cities())


_TOKEN = re.compile(r"[A-Za-z][\w'-]*|[,;.!?]")
# A word in lower case after a word that comes before a place: what may be a city.
_AFTER_PLACE_WORD = re.compile(r"\b(?i:in|at|for|near|from)[ \t]+([a-z][\w'-]*)")
_BEFORE_PLACE = frozenset(("in", "at", "for", "near", "from"))


@per_text
def lower_case_places(text: str) -> tuple[tuple[str, ...], ...]:
    """The cities a message names in lower case after "in", "at", "for", "near" or "from"
    ("the weather in toronto and dallas?"), each as a place is written ("Toronto"), in the
    lists it names them in: (("Toronto", "Dallas"),). A list's places may each say how they
    are asked for ("toronto in metric and dallas in imperial")."""
    firsts = _first_words()
    if not any(found[1] in firsts for found in _AFTER_PLACE_WORD.finditer(text)):
        return ()  # (no city follows: the words are not read one by one)
    tokens = _TOKEN.findall(text)
    cities = _known_cities()
    lists: list[tuple[str, ...]] = []

    def city_at(j: int) -> tuple[str, int] | None:
        for n in (3, 2, 1):  # "salt lake city", "new york", "toronto"
            words = tokens[j : j + n]
            if len(words) == n and all(w.islower() for w in words):
                if (name := " ".join(words)) in cities:
                    return name.title(), n
        return None

    i = 0
    while i < len(tokens):
        if tokens[i].lower() not in _BEFORE_PLACE:
            i += 1
            continue
        j, found = i + 1, []
        while (city := city_at(j)) is not None:
            found.append(city[0])
            j += city[1]
            if j + 1 < len(tokens) and tokens[j] in ("in", "with", "using") and not city_at(j + 1):
                j += 2  # "toronto in metric"
            if tokens[j : j + 2] == [",", "and"]:
                j += 2
            elif j < len(tokens) and tokens[j] in (",", "and"):
                j += 1
            else:
                break
            if j < len(tokens) and tokens[j].lower() in _BEFORE_PLACE:
                j += 1  # "in toronto and in dallas"
        if found:
            lists.append(tuple(dict.fromkeys(found)))
        i = max(j, i + 1)
    return tuple(lists)


def _zone_in(text: str, tool_name: str) -> str | None:
    """The IANA zone a message names, or the zone of the place it names (after the tool's
    own word when there are several: "the weather in Paris and the time in Tokyo")."""
    if (named := _IANA.search(text)) is not None:
        return named.group(1)
    after = mention(text, tool_name)
    places = [p.group(1) for p in PLACE.finditer(text, after)] + [
        p.group(1) for p in PLACE.finditer(text)
    ]
    zones = _zones()
    return next((zones[p.lower()] for p in places if p.lower() in zones), None)


def _about_money(tool: Tool) -> bool:
    said = f"{tool.name} {tool.description}".lower()
    return "currenc" in said or "exchange" in said


_AGENT_NAMES = frozenset(
    ("toagent", "agent", "agentname", "targetagent", "nextagent", "memberid", "member")
)
# The agents a handoff tool lists: LlamaIndex's "Currently available agents:
# {'WriteAgent': 'Writes a short report.'}", or "- WriteAgent: Writes …" lines.
_LISTED_AGENT = re.compile(
    r"""['"]([A-Za-z_][\w\-]*)['"]\s*:\s*['"]([^'"\n]*)"""
    r"|^[ \t]*[-*]?[ \t]*([A-Za-z_][\w\-]*):[ \t]+(.+)$",
    re.MULTILINE,
)


def _agent_for(text: str, description: str, request: Conversation) -> str | None:
    """The agent a handoff tool's description lists (or the team members the system
    message lists, by id) that the message is most about (the first listed when none
    relates), or None when none is listed."""
    listed = [
        Tool(found.group(1) or found.group(3), found.group(2) or found.group(4) or "", {})
        for found in _LISTED_AGENT.finditer(description)
    ] or members(request)
    if not listed:
        return None
    language = language_of(text)
    spoken = [
        a for a in listed if language and names_language(f"{a.name} {a.description}", language)
    ]
    return max(spoken or listed, key=lambda agent: relatedness(text, agent)).name
