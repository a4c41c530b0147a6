"""How the default generator reads a request: the words of a text (stemmed, stop words left
out, CJK by character pairs), this turn's messages, the task a framework's template wraps,
and how much a text is about a tool. Choosing tools, reading their arguments and answering
from their results (tool_policy, tool_arguments, tool_results) all read through it."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import replace

from mockllm.cache import per_text
from mockllm.conversation import Conversation, Message, Tool
from mockllm.words import STOP, stem

WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")


def turn_messages(request: Conversation) -> tuple[Message, ...]:
    """The messages after the last user message: this turn's calls and results."""
    for i in range(len(request.messages) - 1, -1, -1):
        if request.messages[i].role == "user":
            return request.messages[i + 1 :]
    return request.messages


# The members a team's leader may give a task to, as Agno's Team lists them in its system
# message: `<member id="weather-agent" name="Weather Agent">\n  Role: Looks up the weather`.
_MEMBER = re.compile(r'<member id="([^"]+)" name="([^"]*)">(.*?)</member>', re.DOTALL)


def members(request: Conversation) -> list[Tool]:
    """The members the system message lists, each as a tool named by its id and described
    by its name and role."""
    return [
        Tool(found.group(1), f"{found.group(2)} {found.group(3)}", {})
        for found in _MEMBER.finditer(request.system)
    ]


def is_delegation(name: str) -> bool:
    """A tool that gives a task to a member of a team and returns its answer (Agno's
    `delegate_task_to_member`, `delegate_task_to_members`)."""
    return name.startswith("delegate_task_to_")


# The task as an agent framework wraps it in the user message: smolagents'
# ToolCallingAgent opens it with "New task:" (and sends a call's result back as a user
# message "Observation:\n…"); CrewAI writes "Current Task: …" then the expected output.
_NEW_TASK = re.compile(r"\A\s*New task:\s*")
_CREW_TASK = re.compile(
    r"\A\s*Current Task:\s*(.+?)\s*\n\nThis is the expected criteria for your final answer:",
    re.DOTALL,
)


def task_of(text: str) -> str | None:
    """The task a framework's template wraps (smolagents' "New task:\n…", CrewAI's
    "Current Task: …\n\nThis is the expected criteria…"), or None when it wraps none."""
    crew = _CREW_TASK.match(text)
    if crew is not None:
        return crew.group(1)
    new = _NEW_TASK.match(text)
    return text[new.end() :].strip() if new is not None else None


def asked(request: Conversation) -> str:
    """The last user message as the user asked it: the task a framework wraps in it."""
    return task_of(request.last_user) or request.last_user.strip()


def as_asked(request: Conversation) -> Conversation:
    """The request as a model choosing a tool reads what it is asked: the task a
    framework's template wraps (`task_of`), so that the template's own words ("Current
    Task", "expected criteria") relate to no tool. (The answer's text still reads the whole
    message: the template may ask for its form.)"""
    task = task_of(request.last_user)
    return request if task is None else replace(request, last_user=task)


# A web address a message names ("Summarize https://example.com/post."), without the
# punctuation that ends its sentence.
URL = re.compile(r"https?://[^\s<>\"'`()\[\]{}]+")


def url_in(text: str) -> str | None:
    """The first web address the text names, or None."""
    found = URL.search(text)
    return found.group().rstrip(".,;:!?") if found is not None else None


def relatedness(text: str, tool: Tool) -> float:
    """How much `text` is about `tool`: its words found in the tool's name (twice as much)
    and description; arithmetic in the text ("23*19", "7 times 6") asks for the words of
    calculation (multiply, add, calculator…)."""
    said = words_of(text) | math_words(text)
    if not said:
        return 0.0
    named = words_of(tool.name)
    described = words_of(tool.description)
    score = sum(2.0 if w in named else 1.0 if w in described else 0.0 for w in said)
    for cues, subjects in _CUES:
        if said & cues and (named & subjects or described & subjects):
            score += 0.5  # about the tool's subject in other words: less than its own
    return score


# Words that say what a message is about when the tool's words are others ("Will it rain
# in Oslo tomorrow?" is about the weather, "How is AAPL trading?" about a stock's price):
# (cues in the message, the subject's words in a tool's name or description).
_CUES = tuple(
    (frozenset(map(stem, cues.split())), frozenset(map(stem, subjects.split())))
    for cues, subjects in (
        (
            "rain raining snow snowing sunny umbrella forecast temperature degrees humidity "
            "windy cloudy storm celsius fahrenheit outside warm cold hot chilly freezing "
            "jacket",
            "weather forecast temperature",
        ),
        ("trading ticker shares nasdaq nyse", "stock stocks price quote ticker share"),
        ("dollars euros yen pounds usd eur gbp jpy", "currency exchange convert conversion"),
        ("meeting meetings appointment appointments", "calendar event schedule meeting"),
        ("plane airport airline fly flying", "flight flights airline"),
        ("package parcel shipping shipped shipment delivery tracking", "order shipment track"),
        ("headlines", "news headline"),
        ("people inhabitants residents populous", "population"),
        (
            "human person manager supervisor representative furious angry complaint",
            "escalation escalate human manager supervisor",
        ),
        # The domains a triage agent's handoffs name ("Handles billing questions"), by the
        # words a customer uses instead ("I was charged twice for my subscription").
        (
            "charged charge charges overcharged bill billed invoice invoices payment payments "
            "pay paid refund refunds subscription receipt card",
            "billing payment payments invoice invoices refund refunds",
        ),
        (
            "crash crashes crashed crashing bug bugs error errors login freezes frozen glitch "
            "broken",
            "technical tech troubleshooting bug bugs",
        ),
        ("price prices pricing cost quote discount plan plans upgrade buy", "sales pricing"),
        ("remind", "reminder reminders"),  # (a reminder is not stemmed to "remind")
        (
            "shipping shipped delivery delivered arrive arrived tracking package parcel",
            "shipping delivery tracking",
        ),
    )
)


# (a word asks for a calculation next to a number: "add 3 and 4", "the sum of", "3 times
# 4"; not "Add a reminder for 9am", "the product 55123" or "3 times a day")
_OPERATIONS = (
    (
        re.compile(r"[*×x]\s*\d|\btimes\s+-?\d|\bmultipl|\bproduct\s+of\b", re.I),
        ("multiply", "product"),
    ),
    (re.compile(r"\d\s*\+|\bplus\b|\badd\s+(?:up\s+)?-?\d|\bsum\s+of\b", re.I), ("add", "sum")),
    (re.compile(r"\d\s*-\s*\d|\bminus\b|\bsubtract", re.I), ("subtract", "minus")),
    (re.compile(r"\d\s*[/÷]\s*\d|\bdivided\b|\bdivide\b", re.I), ("divide", "quotient")),
    (re.compile(r"\d\s*%\s*of\s+\d|\bpercent\s+of\s+\d", re.I), ("percent", "percentage")),
)
# A day written in digits ("2024-01-01", "03/15/2024") is no subtraction or division.
NOT_ARITHMETIC = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}/\d{1,2}/\d{4}\b")
_CALCULATION = frozenset(
    stem(w)
    for w in (
        "calculate",
        "calculator",
        "math",
        "arithmetic",
        "compute",
        "expression",
        "evaluate",
        "eval",
    )
)


@per_text  # (read again for each tool a request offers, and by several readers)
def math_words(text: str) -> frozenset[str]:
    """The words of the calculation a text asks for, when it asks for one."""
    if not re.search(r"\d", text):
        return frozenset()
    if "-" in text or "/" in text:
        text = NOT_ARITHMETIC.sub(" ", text)
    found = {stem(w) for pattern, words in _OPERATIONS if pattern.search(text) for w in words}
    return frozenset(found | _CALCULATION) if found else frozenset()


def names_tool(text: str, tool: Tool, used: Iterable[str] = ()) -> bool:
    """Whether the text names the tool itself (a word of its name), as a second thing to do
    ("the weather in Oslo and what is 12*12"): a word its name does not share with the tools
    `used` ("Translate 'good morning' to Spanish" names translate_to_spanish; once that has
    acted, not translate_to_french)."""
    own = words_of(tool.name).difference(*map(words_of, used))
    said = words_of(text) | math_words(text)
    return bool(own & said) or any(said & cues and own & subjects for cues, subjects in _CUES)


def mention(text: str, tool_name: str) -> int:
    """Where the prompt first names the tool (one of its name's words), or 0."""
    lowered = text.lower()
    found = [
        lowered.find(word) for word in map(str.lower, WORD.findall(tool_name)) if len(word) > 2
    ]
    return min((i for i in found if i >= 0), default=0)


@functools.lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """A property name's words, lower case, run together ("search_query" -> "searchquery")."""
    return "".join(w.lower() for w in WORD.findall(name))


def is_handoff(name: str) -> bool:
    """A tool that hands the conversation to another agent, named as the OpenAI Agents SDK
    (`transfer_to_french_agent`, whose result is `{"assistant": "french_agent"}`),
    LangGraph's supervisor and swarm (`transfer_to_…`, `transfer_back_to_supervisor`) and
    LlamaIndex's AgentWorkflow (`handoff`) name them: the agent it hands to answers the
    question, not what the handoff returned."""
    return name == "handoff" or name.startswith(("transfer_to_", "transfer_back_to_"))


def words_of(text: str) -> frozenset[str]:
    """The words of a text, stemmed, without stop words (CJK as character pairs). Those of
    a text up to 32 KiB are kept: a tool's description is read again with every request
    that offers it (a coding agent's 26 tools took 19 ms a request)."""
    if len(text) <= _KEPT_TEXT:
        return _kept_words(text)
    return _words(text)


_KEPT_TEXT = 32 * 1024  # at most 1024 texts of this size are kept: 32 MiB


@functools.lru_cache(maxsize=1024)
def _kept_words(text: str) -> frozenset[str]:
    return _words(text)


def _words(text: str) -> frozenset[str]:
    words = {stem(w.lower()) for w in WORD.findall(text)}
    for run in _CJK.findall(text):  # CJK has no spaces: compare character pairs
        words.update(run[i : i + 2] for i in range(max(len(run) - 1, 1)))
    return frozenset(w for w in words if len(w) > 1 and w not in STOP)
