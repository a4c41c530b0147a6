"""What a model with no script does when tools are offered: which tool it calls, the
arguments it reads from the prompt, and its answer once the tools' results are back.

The policy (docs/scenarios.md, "When nothing matches"), family-neutral and deterministic:

- a named tool choice calls that tool;
- `auto` (or no choice): once this turn's tool results are back, answer in text that uses
  them; before that, call the offered tool the last user message relates to most (by the
  words of its name and description), or answer in text when none relates; with parallel
  calls allowed, every other tool the message names is called in the same turn, and the
  tool once for each place the message lists (else the next place once a result is back);
- `required`: call a tool not yet called in this turn before repeating one, the most
  related first; when none relates, a tool that looks like a way to give the final answer
  (`final_result`, `respond`, …), so that agents which end through such a tool end.

Ties are broken by the request's seed. A turn is everything after the last user message.
"""

from __future__ import annotations

import ast
import functools
import json
import random
import re
from dataclasses import replace
from typing import Any

from mockllm.conversation import Conversation, Message, Tool
from mockllm.languages import language_of, names_language
from mockllm.schema_instances import Hint
from mockllm.words import STOP, stem

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
_FINAL_WORDS = frozenset(
    stem(w) for w in ("final", "result", "answer", "respond", "response", "output", "reply")
)  # as `_words` spells them: "response" -> "respons"
_QUERY_NAMES = frozenset(
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
# A place's words are on one line: "for Paris\n\nThis is the expected…" names Paris alone.
_PLACE = re.compile(r"\b(?:in|at|for|to|from|near|of)\s+([A-Z][\w'-]+(?:[ \t]+[A-Z][\w'-]+)*)")
# "in Paris and in Rome", "in Paris, Rome and Oslo": places named in one list, which ends
# with "and" ("in Paris, France" names one place).
_A_PLACE = r"[A-Z][\w'-]+(?:[ \t]+[A-Z][\w'-]+)*"
_PLACE_LIST = re.compile(
    rf"\b(?:in|at|for|to|from|near|of)\s+({_A_PLACE}"
    rf"(?:[ \t]*,[ \t]*(?:(?:in|at|for)[ \t]+)?{_A_PLACE})*"
    rf"[ \t]*,?[ \t]+and[ \t]+(?:(?:in|at|for)[ \t]+)?{_A_PLACE})"
)
_PLACE_WORDS = re.compile(_A_PLACE)
_CAPITALISED = re.compile(r"(?<!^)(?<![.!?]\s)\b([A-Z][a-z][\w'-]*(?:[ \t]+[A-Z][a-z][\w'-]*)*)")
QUERY_HINT_CHARS = 200
RESULT_CHARS = 240
OBJECT_CHARS = 20_000  # a result object longer than this is quoted, not read
FOLLOW_UP_WORDS = 8  # a message this short may ask the last tool's question again


def turn_messages(request: Conversation) -> tuple[Message, ...]:
    """The messages after the last user message: this turn's calls and results."""
    for i in range(len(request.messages) - 1, -1, -1):
        if request.messages[i].role == "user":
            return request.messages[i + 1 :]
    return request.messages


def choose_tool(request: Conversation, seed: int) -> str | None:
    """The function tool a model with no script calls now, or None to answer in text."""
    request = as_asked(request)
    tools = request.tools
    choice = request.tool_choice
    if not tools or choice == "none":
        return None
    names = [t.name for t in tools]
    named = request.named_tool
    if named is not None:
        return named if named in names else None
    allowed = [n for n in request.allowed_tools if n in names] or names
    candidates = [t for t in tools if t.name in allowed]
    # A structured-output tool (named after its schema's class: `Weather`, as LangChain's
    # ToolStrategy offers it) ends the turn: the other tools first, while they relate.
    working = [t for t in candidates if not is_output_tool(t)] or candidates
    turn = turn_messages(request)
    rng = random.Random(seed)
    if choice != "required":
        if _results_of(turn, set(names)):
            # The results are back: the tool again for a place the message lists that it
            # has not asked ("in Paris and in Rome"), or a tool the message also names and
            # this turn has not called yet ("weather in Oslo and the time in Tokyo", one
            # call at a time); else answer with them.
            again = _more_places(request, turn)
            if again is not None and again.name in allowed:
                return again.name
            called = {call.name for m in turn for call in m.tool_calls}
            asked = _words(request.last_user)
            rest = [t for t in candidates if t.name not in called and _words(t.name) & asked]
            return rest[0].name if rest else None
        handing = _hand_on(request, candidates, turn)
        if handing is not None:
            return handing
        # A handoff to a named agent (`transfer_to_flights_refunder`) is made once for what
        # the user last asked: the agent it handed to hands back when its part is done.
        handed = {
            c.name for m in _since_asked(request) for c in m.tool_calls if _names_agent(c.name)
        }
        working = [t for t in working if t.name not in handed]
        if not working:
            return None
        scored = [(relatedness(request.last_user, t), t) for t in working]
        # A handoff (LlamaIndex's `handoff`, the Agents SDK's `transfer_to_…`) passes the
        # question on: a tool that does the work itself comes first, while one relates.
        doing = [(score, t) for score, t in scored if not is_handoff(t.name)]
        if doing and max(score for score, _ in doing) > 0:
            scored = doing
        best = max(score for score, _ in scored)
        if best <= 0:
            return (
                _handoff_by_language(request, candidates)
                or _delegation(request, candidates)
                or _follow_up(request, candidates)
                or _look_up_for(request, working)
            )
        return rng.choice([t for score, t in scored if score == best]).name
    again = _more_places(request, turn)
    if again is not None and again.name in allowed:
        return again.name
    called = {call.name for m in turn for call in m.tool_calls}
    fresh = [t for t in working if t.name not in called]
    if not fresh:
        fresh = [t for t in candidates if t.name not in called] or candidates
    scored = [(relatedness(request.last_user, t), t) for t in fresh]
    best = max(score for score, _ in scored)
    if best <= 0:
        # A page the message names, or a question, is looked up before the answer is
        # given (smolagents' ToolCallingAgent requires a call, final_answer among its
        # tools), unless this turn holds results already.
        if not _results_of(turn, set(names)):
            looked = _look_up_for(request, fresh)
            if looked is not None:
                return looked
        # A tool named for the answer (`final_answer`) before one that only says it
        # returns results (a search tool "returns the top results").
        finals = [t for t in fresh if is_final_tool(t)] or [
            t for t in fresh if _words(f"{t.name} {t.description}") & _FINAL_WORDS
        ]
        return rng.choice(_best_filled(request, finals or fresh)).name
    return rng.choice([t for score, t in scored if score == best]).name


def _best_filled(request: Conversation, tools: list[Tool]) -> list[Tool]:
    """Of several tools that give the answer (pydantic-ai's `final_result_Person` and
    `final_result_Address`), those whose arguments the message fills the most of ("Alice,
    30" a person's name and age, "221B Baker Street, London" an address's street and city),
    as a model picks the output type that fits what it read."""
    if len(tools) < 2:
        return tools
    filled = [(len(argument_hints(request, t)), t) for t in tools]
    most = max(count for count, _ in filled)
    return [t for count, t in filled if count == most]


def is_output_tool(tool: Tool) -> bool:
    """A tool named like a class (`Weather`, `CityInfo`): how agent frameworks offer a
    structured output as a tool, to be called last."""
    return tool.name[:1].isupper() and "_" not in tool.name


def _hand_on(
    request: Conversation, candidates: list[Tool], turn: tuple[Message, ...]
) -> str | None:
    """A handoff for an agent whose own text answer ends the conversation, asked to go on
    (AutoGen's Swarm runs an agent until it hands off): to the agent its instructions name
    ("handoff to the travel agent to finalize"), else the first offered (its `user`)."""
    if not turn or turn[-1].role != "assistant" or turn[-1].tool_calls or not turn[-1].text:
        return None
    handoffs = [t for t in candidates if is_handoff(t.name)]
    if not handoffs:
        return None
    return max(handoffs, key=lambda t: relatedness(request.system, Tool(t.name, "", {}))).name


def _since_asked(request: Conversation) -> tuple[Message, ...]:
    """The messages after the user's own last message: in a team whose agents speak to each
    other as users (AutoGen's, `name` their own), after the last one without a name or
    named `user`."""
    messages = request.messages
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.role == "user" and message.name in (None, "user"):
            if not _HANDOFF_NOTICE.fullmatch(message.text):
                return messages[i + 1 :]
    return messages


def _names_agent(name: str) -> bool:
    """A handoff whose name says which agent it hands to (`transfer_to_travel_agent`), not
    one that takes it as an argument (LlamaIndex's `handoff(to_agent=…)`)."""
    return name.startswith("transfer_to_")


# AutoGen's Swarm writes a handoff into the conversation as a message of the agent that
# handed off: "Transferred to flights_refunder, adopting the role of flights_refunder
# immediately."
_HANDOFF_NOTICE = re.compile(
    r"\s*Transferred to [\w.-]+, adopting the role of [\w.-]+ immediately\.\s*"
)


def past_handoff_notice(request: Conversation) -> Conversation:
    """The request as the agent a handoff passed it to reads it: when the last user message
    is only the handoff's notice, the question is the user message before it."""
    if not _HANDOFF_NOTICE.fullmatch(request.last_user):
        return request
    for message in reversed(request.messages):
        if message.role == "user" and not _HANDOFF_NOTICE.fullmatch(message.text):
            return replace(request, last_user=message.text)
    return request


# The members a team's leader may give a task to, as Agno's Team lists them in its system
# message: `<member id="weather-agent" name="Weather Agent">\n  Role: Looks up the weather`.
_MEMBER = re.compile(r'<member id="([^"]+)" name="([^"]*)">(.*?)</member>', re.DOTALL)


def _members(request: Conversation) -> list[Tool]:
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


def _delegation(request: Conversation, candidates: list[Tool]) -> str | None:
    """The delegation tool, when a member the system message lists does what the message
    asks ("What is the weather in Paris?" and a member whose role "Looks up the weather")."""
    tools = [t for t in candidates if is_delegation(t.name)]
    if not tools:
        return None
    if max((relatedness(request.last_user, m) for m in _members(request)), default=0) <= 0:
        return None
    return tools[0].name


def _handoff_by_language(request: Conversation, candidates: list[Tool]) -> str | None:
    """A message no tool relates to by its words, written in a language a handoff names
    ("Hola, ¿cómo estás?" and transfer_to_spanish_agent, LlamaIndex's handoff listing a
    SpanishAgent): that handoff, as a triage agent that routes by language does."""
    handoffs = [t for t in candidates if is_handoff(t.name)]
    if not handoffs:
        return None
    language = language_of(request.last_user)
    if language is None:
        return None
    for tool in handoffs:
        if names_language(f"{tool.name} {tool.description}", language):
            return tool.name
    return None


def _follow_up(request: Conversation, candidates: list[Tool]) -> str | None:
    """A short follow-up that relates to no tool by its words ("And in Rome?") asks the
    same of the tool the conversation called last, when it names something new to ask
    (a place) and that tool is still offered."""
    if len(request.last_user.split()) > FOLLOW_UP_WORDS:
        return None
    offered = {t.name for t in candidates if not is_handoff(t.name)}  # a tool, not an agent
    earlier = [c.name for m in request.messages for c in m.tool_calls if c.name in offered]
    if not earlier:
        return None
    text = request.last_user
    if _PLACE.search(text) is None and _CAPITALISED.search(text) is None:
        return None
    return earlier[-1]


# A tool that looks things up for the question it is given: a search engine, a knowledge
# base, an encyclopedia (`tavily_search_results_json`, `duckduckgo_search`, `wikipedia`,
# `search_docs`, a retriever tool "Search and return information about …").
_SEARCH_WORDS = frozenset(
    stem(w)
    for w in (
        "search", "lookup", "retrieve", "retriever", "wikipedia", "google", "bing", "tavily",
        "duckduckgo", "serp", "serper", "brave", "arxiv", "web", "internet", "knowledge",
    )
)  # fmt: skip
# A question: "?" (or a full-width one), or its first word asks one.
_QUESTION = re.compile(
    r"[?？]\s*$|^\s*(?:who|what|when|where|which|why|how|whose|whom|is|are|was|were|does|do"
    r"|did|can|could|should|will|would|has|have)\b",
    re.IGNORECASE,
)
QUESTION_WORDS = 2  # content words a question needs to be one a model looks up
WEB_SEARCH = "web_search"  # the name of the web search both APIs run themselves


# The task as an agent framework wraps it in the user message: smolagents'
# ToolCallingAgent opens it with "New task:" (and sends a call's result back as a user
# message "Observation:\n…"); CrewAI writes "Current Task: …" then the expected output.
_NEW_TASK = re.compile(r"\A\s*New task:\s*")
_CREW_TASK = re.compile(
    r"\A\s*Current Task:\s*(.+?)\s*\n\nThis is the expected criteria for your final answer:",
    re.DOTALL,
)
_OBSERVATION = re.compile(r"\A\s*Observation:")


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


def _look_up_for(request: Conversation, candidates: list[Tool]) -> str | None:
    """A message no tool relates to by its words that names a page to read or asks a
    question, with a tool offered to read or search with (`look_up_tool`; not a tool named
    like a class, which gives the answer's form): that tool's name. Not for a result sent
    back as the user's message (smolagents' "Observation:")."""
    text = asked(request)
    if _OBSERVATION.match(text):
        return None
    tool = look_up_tool(text, [t for t in candidates if not is_output_tool(t)])
    return tool.name if tool is not None else None


def look_up_tool(text: str, tools: list[Tool]) -> Tool | None:
    """The tool a model reads a page the message names with (`fetch_tool`), else the one it
    searches the message's question with (`search_tool`), or None."""
    return fetch_tool(text, tools) or search_tool(text, tools)


# A web address a message names ("Summarize https://example.com/post."), without the
# punctuation that ends its sentence.
_URL = re.compile(r"https?://[^\s<>\"'`()\[\]{}]+")
_URL_NAMES = frozenset(
    ("url", "uri", "link", "href", "pageurl", "webpageurl", "websiteurl", "website",
     "targeturl", "sourceurl", "webpage")
)  # fmt: skip
_URL_WORDS = frozenset(("url", "urls", "link", "webpage", "website"))


def url_in(text: str) -> str | None:
    """The first web address the text names, or None."""
    found = _URL.search(text)
    return found.group().rstrip(".,;:!?") if found is not None else None


def fetch_tool(text: str, tools: list[Tool]) -> Tool | None:
    """The tool to read a page the message names with, when no tool relates to it by its
    words ("Summarize https://example.com/post" and the MCP fetch server's `fetch(url)`,
    Anthropic's web_fetch, a ReAct prompt's tool described as reading a URL): the first
    that takes a web address. None when the message names none."""
    if url_in(text) is None:
        return None
    for tool in tools:
        if is_handoff(tool.name):
            continue
        properties = tool.parameters.get("properties")
        if isinstance(properties, dict) and properties:
            if any(isinstance(n, str) and _name_key(n) in _URL_NAMES for n in properties):
                return tool
        elif _words(f"{tool.name} {tool.description}") & _URL_WORDS:
            return tool  # it reads its input as text: the address
    return None


def search_tool(question: str, tools: list[Tool]) -> Tool | None:
    """The tool to look up a question no tool relates to by its words ("Who won the 2022
    World Cup?") with, as a model looks up what it is asked when it can: the first that
    searches (its name or description says search, lookup, retrieve, Wikipedia, web…) and
    takes the text to look up. None for small talk ("How are you?": too few content words)
    or a request to do something ("Summarize this."). A web search the API runs itself
    (`Tool.server`: the Responses API's built-in one, Anthropic's `web_search`) comes after
    every search of the request's own, as this server's can only fail; other server tools
    (a tool search) look nothing up for the user."""
    if _QUESTION.search(question) is None or len(_words(question)) < QUESTION_WORDS:
        return None
    built_in: Tool | None = None
    for tool in tools:
        if is_handoff(tool.name) or (tool.server and tool.name != WEB_SEARCH):
            continue
        if _words(f"{tool.name} {tool.description}") & _SEARCH_WORDS and _takes_query(tool):
            if not tool.server:
                return tool
            built_in = built_in or tool
    return built_in


def _takes_query(tool: Tool) -> bool:
    """Whether a tool takes the text to look up: a `query`, `q`, `question`… of type string,
    any string when it has one argument, or the text itself (a tool with no arguments
    listed: a ReAct prompt's `Search`, which reads its Action Input); not a lookup of one
    record by its id (`lookup_order(order_id)`)."""
    properties = tool.parameters.get("properties")
    if not isinstance(properties, dict) or not properties:
        return True
    texts = [
        name
        for name, schema in properties.items()
        if isinstance(name, str) and isinstance(schema, dict) and schema.get("type") == "string"
    ]
    if any(_name_key(name) in _QUERY_NAMES for name in texts):
        return True
    return len(properties) == 1 and len(texts) == 1 and not _is_id(_name_key(texts[0]))


def _results_of(turn: tuple[Message, ...], offered: set[str]) -> bool:
    """Whether this turn holds a result of a call to one of the `offered` tools: the
    results of tools no longer offered (an agent's handoff to another, whose own tools
    these are) leave the new agent to call its own."""
    called = {call.id: call.name for m in turn for call in m.tool_calls}
    return any(m.role == "tool" and called.get(m.tool_call_id or "") in offered for m in turn)


def choose_tools(request: Conversation, seed: int) -> tuple[str, ...]:
    """The function tools a model with no script calls now, in one turn: the one
    `choose_tool` picks, and, when the request allows parallel calls, that one again for
    each other place left that the message lists ("in Paris and in Rome": get_weather
    twice) and, unless it names a tool, every other offered tool the last user message
    names ("weather in Paris and the time in Tokyo" calls get_weather and get_time), in the
    order they were offered."""
    first = choose_tool(request, seed)
    if first is None or not request.parallel_tool_calls:
        return () if first is None else (first,)
    tool = request.offered_tool(first)
    # Once for each place left that the message lists ("in Paris and in Rome"); the hints
    # are read only when it lists places (the call's arguments read them again).
    firsts: tuple[str, ...] = (first,)
    if tool is not None and _listed_places(request, tool) is not None:
        firsts = (first,) * max(len(places_left(request, tool)), 1)
    if request.named_tool is not None:
        return firsts
    said = asked(request)
    words = _words(said) | _math_words(said)
    allowed = set(request.allowed_tools) or {t.name for t in request.tools}
    called = {call.name for m in turn_messages(request) for call in m.tool_calls}
    named = [
        t.name
        for t in request.tools
        if t.name != first
        and t.name in allowed
        and t.name not in called
        and not is_output_tool(t)
        and not is_handoff(t.name)
        and _words(t.name) & words
    ]
    return (*firsts, *named)


def relatedness(text: str, tool: Tool) -> float:
    """How much `text` is about `tool`: its words found in the tool's name (twice as much)
    and description; arithmetic in the text ("23*19", "7 times 6") asks for the words of
    calculation (multiply, add, calculator…)."""
    asked = _words(text) | _math_words(text)
    if not asked:
        return 0.0
    named = _words(tool.name)
    described = _words(tool.description)
    score = sum(2.0 if w in named else 1.0 if w in described else 0.0 for w in asked)
    for cues, subjects in _CUES:
        if asked & cues and (named & subjects or described & subjects):
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
            "windy cloudy storm celsius fahrenheit outside",
            "weather forecast temperature",
        ),
        ("trading ticker shares nasdaq nyse", "stock stocks price quote ticker share"),
        ("dollars euros yen pounds usd eur gbp jpy", "currency exchange convert conversion"),
        ("meeting meetings appointment appointments", "calendar event schedule meeting"),
        ("plane airport airline fly flying", "flight flights airline"),
        ("package parcel shipping shipped shipment delivery tracking", "order shipment track"),
        ("headlines", "news headline"),
    )
)


_OPERATIONS = (
    (re.compile(r"[*×x]\s*\d|\btimes\b|\bmultipl|\bproduct\b", re.I), ("multiply", "product")),
    (re.compile(r"\d\s*\+|\bplus\b|\badd\b|\bsum\b", re.I), ("add", "sum")),
    (re.compile(r"\d\s*-\s*\d|\bminus\b|\bsubtract", re.I), ("subtract", "minus")),
    (re.compile(r"\d\s*[/÷]\s*\d|\bdivided\b|\bdivide\b", re.I), ("divide", "quotient")),
)
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


def _math_words(text: str) -> frozenset[str]:
    """The words of the calculation a text asks for, when it asks for one."""
    if not re.search(r"\d", text):
        return frozenset()
    found = {stem(w) for pattern, words in _OPERATIONS if pattern.search(text) for w in words}
    return frozenset(found | _CALCULATION) if found else frozenset()


def arithmetic_for(text: str, tool: Tool) -> str | None:
    """The arithmetic a text asks a calculating tool to work out ("What is 12*12?" ->
    "12*12"), or None when the text asks none or the tool does not calculate."""
    if not _math_words(text) & _words(f"{tool.name} {tool.description}"):
        return None
    return arithmetic_in(text)


def arithmetic_in(text: str) -> str | None:
    """The arithmetic a text asks ("What is 12*12?" -> "12*12"), or None."""
    found = _ARITHMETIC.search(text)
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


def names_tool(text: str, tool: Tool) -> bool:
    """Whether the text names the tool itself (a word of its name), as a second thing to do
    ("the weather in Oslo and what is 12*12")."""
    return relatedness(text, Tool(tool.name, "", {})) > 0


def argument_hints(request: Conversation, tool: Tool) -> dict[str, Hint]:
    """Values a model would read from the prompt for the tool's top-level arguments: the
    question for a `query`, the place named for a `city` or `location`, the arithmetic for
    an `expression`, an address for an `email`, a ticker for a `symbol`, currency codes in
    the order named, and the numbers the message gives for its number arguments ("Multiply
    23 by 19" -> a=23, b=19)."""
    properties = tool.parameters.get("properties")
    if not isinstance(properties, dict):
        return {}
    text = asked(request)
    hints: dict[str, Hint] = {}
    # (not the digits of a web address: "post-1" in https://example.com/post-1)
    numbers = [float(n) if "." in n else int(n) for n in _NUMBER.findall(_URL.sub(" ", text))]
    currencies = _CURRENCY.findall(text)
    for name, schema in properties.items():
        key = _name_key(name) if isinstance(name, str) else ""
        kind = schema.get("type") if isinstance(schema, dict) else None
        options = schema.get("enum") if isinstance(schema, dict) else None
        if isinstance(options, list):
            if (option := _option_named(text, options)) is not None:
                hints[name] = option  # "the weather in Paris in celsius" -> unit=celsius
        elif kind == "array":
            if key in _PLACE_LISTS and (places := _places_in(text)):
                hints[name] = places  # "the weather in Paris and Rome" -> ["Paris", "Rome"]
        elif kind in ("integer", "number"):
            if numbers and key not in _NOT_AMOUNTS:
                hints[name] = numbers.pop(0)
        elif key in _LANGUAGE_NAMES and (language := _LANGUAGE.search(text)) is not None:
            hints[name] = language.group(1)  # "Translate 'good morning' to French" -> French
        elif _is_id(key) and (found := _IDENTIFIER.search(text)) is not None:
            hints[name] = found.group(1)  # "Look up order 12345" -> order_id="12345"
        elif key in _BODY_NAMES and (saying := _SAYING.search(text)) is not None:
            hints[name] = _sentence(saying.group(1))  # "…saying the meeting moved to 3pm."
        elif key in _SUBJECT_NAMES and (saying := _SAYING.search(text)) is not None:
            hints[name] = _sentence(saying.group(1), words=6).rstrip(".")
        elif key == "text" and (quoted := _QUOTED.search(text)) is not None:
            hints[name] = next(g for g in quoted.groups() if g)  # "Translate 'good morning'…"
        elif key in _URL_NAMES and (url := url_in(text)) is not None:
            hints[name] = url  # "Summarize https://example.com/post." -> the address
        elif key in _QUERY_NAMES and text:
            hints[name] = text[:QUERY_HINT_CHARS].strip()
        elif key in _EXPRESSION_NAMES and (sum_ := _ARITHMETIC.search(text)) is not None:
            hints[name] = " ".join(sum_.group().split())  # "What is 23*19?" -> "23*19"
        elif key in _PERSON_NAMES and (person := _person_in(text)) is not None:
            hints[name] = person
        elif key in _PATH_NAMES and (path := _FILE_PATH.search(text)) is not None:
            hints[name] = path.group(1)  # "Read README.md" -> "README.md"
        elif key in _EMAIL_NAMES and (address := _EMAIL.search(text)) is not None:
            hints[name] = address.group()
        elif key in _STREET_NAMES and (street := _STREET.search(text)) is not None:
            hints[name] = " ".join(street.group(1).split())  # "221B Baker Street"
        elif key in _TICKER_NAMES and (ticker := _TICKER.search(text)) is not None:
            hints[name] = ticker.group(1)
        elif key in _AGENT_NAMES and (agent := _agent_for(text, tool.description, request)):
            hints[name] = agent
        elif "currency" in key and currencies:
            hints[name] = currencies.pop(0)
        elif key in _PLACE_NAMES:
            # The town after a street address ("221B Baker Street, London"), the place named
            # after the tool's own word ("weather in Paris and the time in Tokyo": Paris for
            # get_weather, Tokyo for get_time), else the first one named.
            after = _mention(text, tool.name)
            town = _TOWN_AFTER_STREET.search(text) if key in _TOWN_NAMES else None
            place = (
                (_PLACE.search(text, after) if after else None)
                or _PLACE.search(text)
                or _CAPITALISED.search(text)
            )
            if town is not None:
                hints[name] = town.group("town")
            elif place is not None:
                hints[name] = place.group(1)
    return hints


# What a message asks to be said: "Send an email to bob@example.com saying the meeting
# moved to 3pm." -> "The meeting moved to 3pm."
_SAYING = re.compile(
    r"\b(?:saying|that says|to say|telling (?:him|her|them)|with the message)\s*:?\s*"
    r"(?:that\s+)?[\"'“]?(.+?)[\"'”]?\s*[.!?]?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_BODY_NAMES = frozenset(("body", "message", "content", "text", "emailbody", "msg", "note"))
_SUBJECT_NAMES = frozenset(("subject", "title", "emailsubject", "headline"))


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


def _is_id(key: str) -> bool:
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
    place = _PLACE.search(text)
    return [place.group(1)] if place is not None else []


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
            return found.group(1)
    for one in _ONE_NAME.finditer(text):
        name = one.group(1) or one.group(2)
        if name.lower() not in STOP and name.lower() not in _NOT_NAMES:
            return name
    return None


_NOT_NAMES = frozenset(
    ("extract", "what", "who", "where", "when", "how", "tell", "give", "get", "find", "show",
     "please", "create", "make", "list", "describe", "write", "return", "hello", "hi", "hey")
)  # fmt: skip


def hints_per_place(request: Conversation, tool: Tool) -> list[dict[str, Hint]]:
    """The argument hints once for each place the last user message names in one list
    ("the weather in Paris and in Rome": city=Paris, then city=Rome), for a tool with one
    place argument; else the hints once (`argument_hints`)."""
    hints = argument_hints(request, tool)
    listed = _listed_places(request, tool)
    if listed is None:
        return [hints]
    name, places = listed
    return [{**hints, name: place} for place in places]


def places_left(request: Conversation, tool: Tool) -> list[dict[str, Hint]]:
    """`hints_per_place` without the places this turn has called the tool for already
    ("the weather in Paris and in Rome", get_weather(city='Paris') back: Rome's hints);
    empty once every place the message lists has been asked."""
    listed = _listed_places(request, tool)
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


def _more_places(request: Conversation, turn: tuple[Message, ...]) -> Tool | None:
    """A tool this turn called that has places the message lists still to ask ("the
    weather in Paris and in Rome", only Paris asked), or None."""
    called = list(dict.fromkeys(call.name for m in turn for call in m.tool_calls))
    for name in called:
        tool = request.offered_tool(name)
        if tool is not None and _listed_places(request, tool) and places_left(request, tool):
            return tool
    return None


def _listed_places(request: Conversation, tool: Tool) -> tuple[str, list[str]] | None:
    """The tool's one place argument and the places the last user message names in one
    list (two or more), or None."""
    properties = tool.parameters.get("properties")
    names = [
        name
        for name in (properties if isinstance(properties, dict) else ())
        if isinstance(name, str) and _name_key(name) in _PLACE_NAMES
    ]
    listed = _PLACE_LIST.search(request.last_user)
    if len(names) != 1 or listed is None:
        return None
    places = list(dict.fromkeys(_PLACE_WORDS.findall(listed.group(1))))
    return (names[0], places) if len(places) > 1 else None


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)")
_NOT_AMOUNTS = frozenset(("limit", "page", "offset", "topk", "maxresults", "count"))
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
# The town after a street address: "221B Baker Street, London" -> London.
_TOWN_AFTER_STREET = re.compile(
    r"(?:" + _STREET.pattern + r"),[ \t]*(?P<town>[A-Z][\w'-]*(?:[ \t]+[A-Z][\w'-]*)*)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_NAMES = frozenset(("email", "to", "recipient", "emailaddress", "address", "toemail"))
_TICKER = re.compile(r"\b([A-Z]{2,5})\b")
_TICKER_NAMES = frozenset(("ticker", "symbol", "stock", "tickersymbol", "stocksymbol"))
_CURRENCY = re.compile(r"\b(USD|EUR|GBP|JPY|CNY|CHF|CAD|AUD|INR|KRW|SEK|NOK|DKK|HKD|SGD)\b")


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
    ] or _members(request)
    if not listed:
        return None
    language = language_of(text)
    spoken = [
        a for a in listed if language and names_language(f"{a.name} {a.description}", language)
    ]
    return max(spoken or listed, key=lambda agent: relatedness(text, agent)).name


def _mention(text: str, tool_name: str) -> int:
    """Where the prompt first names the tool (one of its name's words), or 0."""
    lowered = text.lower()
    found = [
        lowered.find(word) for word in map(str.lower, _WORD.findall(tool_name)) if len(word) > 2
    ]
    return min((i for i in found if i >= 0), default=0)


@functools.lru_cache(maxsize=4096)
def _name_key(name: str) -> str:
    """A property name's words, lower case, run together ("search_query" -> "searchquery")."""
    return "".join(w.lower() for w in _WORD.findall(name))


_ANSWER_NAMES = frozenset(
    ("answer", "finalanswer", "result", "response", "output", "reply", "text", "content",
     "summary", "message", "finalresponse", "finaloutput")
)  # fmt: skip


def answer_hints(
    request: Conversation, schema: dict[str, Any], locale: str, *, any_required: bool = True
) -> dict[str, Hint]:
    """Once this turn's tool results are back, the answer they give for the property of an
    answering schema that holds the answer (`answer`, `result`, `output`…, else, with
    `any_required`, its first required string the message gives no value for: not the
    `city` of pydantic-ai's `final_result` for `Weather(city, temperature_c, conditions)`):
    a final-answer tool's arguments (`final_answer(answer=…)`, as agent frameworks end a
    loop) or a structured output, built from what the tools said."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    strings = [
        name
        for name, sub in properties.items()
        if isinstance(name, str) and isinstance(sub, dict) and sub.get("type") == "string"
    ]
    required = schema.get("required")
    named = [name for name in strings if _name_key(name) in _ANSWER_NAMES]
    first: list[str] = []
    if not named and any_required and isinstance(required, list):
        stated = argument_hints(request, Tool("answer", "", schema))
        first = [name for name in strings if name in required and name not in stated]
    chosen = named or first
    results = _turn_results(request)
    if not results:
        return {}
    hints: dict[str, Hint] = {}
    if chosen:
        hints[chosen[0]] = found_answer(results, locale)
    return _result_numbers(request, properties, results) | hints


def _result_numbers(
    request: Conversation, properties: dict[str, Any], results: list[tuple[str, str]]
) -> dict[str, Hint]:
    """The numbers the tools' results give, in order, for the number properties the
    message gives no value for ("It is 18C and sunny" -> `temperature_c` 18), as a model
    copies what a tool found into its structured answer."""
    numbers = [
        float(n) if "." in n else int(n)
        for _, text in results
        for n in _RESULT_NUMBER.findall(text)
    ]
    if not numbers:
        return {}
    stated = argument_hints(request, Tool("answer", "", {"properties": properties}))
    hints: dict[str, Hint] = {}
    for name, sub in properties.items():
        if not numbers:
            break
        kind = sub.get("type") if isinstance(sub, dict) else None
        if isinstance(name, str) and kind in ("integer", "number") and name not in stated:
            hints[name] = numbers.pop(0)
    return hints


# A number in a tool's result, units after it ("18C", "21°C", "3.5km") or not.
_RESULT_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\d.]\d)")


def is_final_tool(tool: Tool) -> bool:
    """A tool that ends an agent's loop by giving its answer (`final_answer`, `respond`,
    `submit_result`)."""
    return _final_name(tool.name)


@functools.lru_cache(maxsize=1024)
def _final_name(name: str) -> bool:
    return bool(_words(name) & _FINAL_WORDS)


def results_answer(request: Conversation, locale: str) -> str | None:
    """A text answer that uses this turn's tool results, or None when there are none."""
    results = _turn_results(request)
    return found_answer(results, locale) if results else None


def _turn_results(request: Conversation) -> list[tuple[str, str]]:
    """This turn's tool results that answer the question, each (tool name, what it said)."""
    turn = turn_messages(request)
    names = {call.id: call.name for m in turn for call in m.tool_calls}
    offered = {t.name for t in request.tools}
    results = [
        (
            names.get(m.tool_call_id or "", "the tool"),
            # A result its client marks as an error (Anthropic's is_error) reads as one.
            f"Error: {m.text}" if m.failed and failure_in(m.text) is None else m.text,
        )
        for m in turn
        if m.role == "tool"
        # a handoff's result (a tool the request no longer offers, or, when it offers none,
        # one named as handoffs are) is not an answer's
        and not is_handoff(names.get(m.tool_call_id or "", ""))
        and (
            not offered
            or names.get(m.tool_call_id or "", "") in offered
            or m.tool_call_id not in names
        )
    ]
    return results


def relayed_answer(request: Conversation) -> str | None:
    """The answer another agent gave in this turn after a handoff passed the question to
    it, for the agent it came back to to pass on (LangGraph's supervisor:
    `transfer_to_weather_expert`, the expert's answer, `transfer_back_to_supervisor`), or
    None when no agent answered after a handoff."""
    handed = False
    said = None
    for message in turn_messages(request):
        if any(is_handoff(call.name) for call in message.tool_calls):
            handed = True
        elif handed and message.role == "assistant" and message.text.strip():
            said = message.text.strip()
    return said


def is_handoff(name: str) -> bool:
    """A tool that hands the conversation to another agent, named as the OpenAI Agents SDK
    (`transfer_to_french_agent`, whose result is `{"assistant": "french_agent"}`),
    LangGraph's supervisor and swarm (`transfer_to_…`, `transfer_back_to_supervisor`) and
    LlamaIndex's AgentWorkflow (`handoff`) name them: the agent it hands to answers the
    question, not what the handoff returned."""
    return name == "handoff" or name.startswith(("transfer_to_", "transfer_back_to_"))


def found_answer(results: list[tuple[str, str]], locale: str) -> str:
    """The text answer built from tools' results, each a (tool name, what it said) pair:
    "Here is what I found. get_weather returned: 18C and sunny." (in the locale's
    language)."""
    if all(is_delegation(name) for name, _ in results):
        return "\n\n".join(text.strip() for _, text in results)  # the members' answers
    failures = [failure_in(text) for _, text in results]
    parts = [
        _reported(name, _clip(_readable(text)), locale)
        if failure is None
        else _reported(name, _clip(failure), locale, failed=True)
        for (name, text), failure in zip(results, failures, strict=True)
    ]
    leads = _FAILED_LEADS if all(f is not None for f in failures) else _LEADS
    return leads.get(locale[:2], leads["en"]) + " ".join(parts)


def unavailable_answer(names: list[str], locale: str) -> str:
    """What a model says after calls of tools the API runs itself, none of which could run
    here: "I couldn't get that. web_search failed: unavailable." (each tool once)."""
    return found_answer([(name, "Error: unavailable") for name in dict.fromkeys(names)], locale)


_LEADS = {
    "en": "Here is what I found. ",
    "zh": "根据查询结果，",
    "ja": "調べた結果です。",
    "ko": "확인한 결과입니다. ",
}


_FAILED_LEADS = {
    "en": "I couldn't get that. ",
    "zh": "查询没有成功。",
    "ja": "取得できませんでした。",
    "ko": "가져오지 못했습니다. ",
}
# A result that reports a failure: "Error: ...", "Exception: ...", a traceback (LangGraph's
# ToolNode writes "Error: ValueError('...')\n Please fix your mistakes.").
_FAILURE = re.compile(
    r"\s*(?:error|exception)\s*[:\-]\s*|\s*traceback \(most recent call last\):\s*", re.IGNORECASE
)
_FIX_YOUR_MISTAKES = re.compile(r"\s*please fix your mistakes\.?\s*$", re.IGNORECASE)


def failure_in(text: str) -> str | None:
    """What went wrong, when a tool's result reports a failure (text that starts "Error:",
    an object with an `error`), or None."""
    found = _FAILURE.match(text)
    if found is not None:
        return _FIX_YOUR_MISTAKES.sub("", text[found.end() :]).strip() or text.strip()
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}") and len(stripped) <= OBJECT_CHARS:
        value = _object_in(stripped)
        error = value.get("error") if value else None
        if error not in (None, False, "", [], {}):
            return _flat(error)
    return None


# How an answer reports one result, by language: what the tool gave, or how it failed.
_REPORTS = {
    "zh": ("{name} 返回：{text}。", "{name} 出错：{text}。"),
    "ja": ("{name} の結果：{text}。", "{name} でエラー：{text}。"),
    "ko": ("{name} 결과: {text}.", "{name} 오류: {text}."),
    "en": ("{name} returned: {text}", "{name} failed: {text}"),
}


def _reported(name: str, text: str, locale: str, failed: bool = False) -> str:
    language = locale[:2] if locale[:2] in _REPORTS else "en"
    said = _REPORTS[language][failed].format(name=name, text=text)
    if language == "en" and not text.endswith((".", "!", "?")):
        said += "."
    return said


# Keys of a result object that say how the call went, not what it found.
_STATUS_KEYS = frozenset(("status", "success", "ok", "error", "code", "type", "id"))


def _readable(text: str) -> str:
    """A result a tool gave as an object (JSON, or a Python dict's repr), read as a model
    reads it: its one value that says something (Google ADK's `{"status": "success",
    "report": "It is 18C and sunny in Paris."}` -> the report), else its values each after
    its key's words ("temperature 18, conditions sunny"); other text as it is."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")) or len(stripped) > OBJECT_CHARS:
        return text
    value = _object_in(stripped)
    if not value:
        return text
    said = [
        (str(key), found)
        for key, found in value.items()
        if str(key).lower() not in _STATUS_KEYS and found not in (None, "", [], {})
    ]
    if not said:
        return text
    if len(said) == 1 and isinstance(said[0][1], str | int | float):
        return str(said[0][1])
    return ", ".join(
        f"{' '.join(_WORD.findall(key)).lower()} {_flat(found)}" for key, found in said
    )


def _object_in(text: str) -> dict[Any, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _flat(value: Any) -> str:
    if isinstance(value, str | int | float):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= RESULT_CHARS else flat[: RESULT_CHARS - 1].rstrip() + "…"


def _words(text: str) -> frozenset[str]:
    words = {stem(w.lower()) for w in _WORD.findall(text)}
    for run in _CJK.findall(text):  # CJK has no spaces: compare character pairs
        words.update(run[i : i + 2] for i in range(max(len(run) - 1, 1)))
    return frozenset(w for w in words if len(w) > 1 and w not in STOP)
