"""Which tools a model with no script calls when tools are offered, or none (it answers in
text). The arguments it gives them are tool_arguments'; its answer to their results,
tool_results'.

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

import functools
import random
import re
from dataclasses import replace

from mockllm.conversation import Conversation, Message, Tool
from mockllm.languages import language_of, names_language
from mockllm.prompt_reading import (
    as_asked,
    asked,
    is_delegation,
    is_handoff,
    math_words,
    members,
    name_key,
    relatedness,
    turn_messages,
    url_in,
    words_of,
)
from mockllm.tool_arguments import (
    CAPITALISED,
    PLACE,
    QUERY_NAMES,
    URL_NAMES,
    argument_hints,
    is_id,
    listed_places,
    more_places,
    places_left,
)
from mockllm.words import stem

_FINAL_WORDS = frozenset(
    stem(w) for w in ("final", "result", "answer", "respond", "response", "output", "reply")
)  # as `words_of` spells them: "response" -> "respons"
FOLLOW_UP_WORDS = 8  # a message this short may ask the last tool's question again


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
            again = more_places(request, turn)
            if again is not None and again.name in allowed:
                return again.name
            called = {call.name for m in turn for call in m.tool_calls}
            asked = words_of(request.last_user)
            # (named by a word of its own: not translate_to_french, once
            # translate_to_spanish has answered "Translate 'good morning' to Spanish")
            said = frozenset().union(*map(words_of, called))
            rest = [
                t for t in candidates if t.name not in called and (words_of(t.name) - said) & asked
            ]
            if rest:
                return rest[0].name
            # The structured output's tool ends the turn (Strands' `Weather`, "to be invoked
            # as the last and final tool"), once the tools it follows are back: a tool named
            # like a class beside tools that are not, not one of an app whose tools all are
            # (Claude Code's `Agent`, `Bash`, `Read`: its turn ends in text).
            apart = not all(is_output_tool(t) for t in candidates)
            ending = [
                t
                for t in candidates
                if apart
                and is_output_tool(t)
                and t.name not in called
                and (
                    words_of(t.description) & _FINAL_WORDS or relatedness(request.last_user, t) > 0
                )
            ]
            return ending[0].name if ending else None
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
    again = more_places(request, turn)
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
        # A tool named for the answer (`final_answer`), or the structured output's tool
        # (LangChain's ToolStrategy: `Weather`, `extract-1`), before one that only says it
        # returns results (a search tool "returns the top results"); not a tool nothing
        # asked for.
        finals = (
            [t for t in fresh if is_final_tool(t)]
            or [t for t in candidates if is_output_tool(t) and t.name not in called]
            or [t for t in fresh if words_of(f"{t.name} {t.description}") & _FINAL_WORDS]
        )
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
    """A tool named like a class (`Weather`, `CityInfo`), or `extract-1` (LangChain.js's
    ToolStrategy for a schema with no title): how agent frameworks offer a structured
    output as a tool, to be called last."""
    name = tool.name
    if name.startswith("extract-"):
        return name[8:].isdigit()
    return name[:1].isupper() and "_" not in name


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


def _delegation(request: Conversation, candidates: list[Tool]) -> str | None:
    """The delegation tool, when a member the system message lists does what the message
    asks ("What is the weather in Paris?" and a member whose role "Looks up the weather")."""
    tools = [t for t in candidates if is_delegation(t.name)]
    if not tools:
        return None
    if max((relatedness(request.last_user, m) for m in members(request)), default=0) <= 0:
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
    if PLACE.search(text) is None and CAPITALISED.search(text) is None:
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
# The searches the APIs run themselves: the web search (both APIs), the Responses API's file
# search.
BUILT_IN_SEARCHES = frozenset(("web_search", "file_search"))
_OBSERVATION = re.compile(r"\A\s*Observation:")


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


_URL_WORDS = frozenset(("url", "urls", "link", "webpage", "website"))


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
            if any(isinstance(n, str) and name_key(n) in URL_NAMES for n in properties):
                return tool
        elif words_of(f"{tool.name} {tool.description}") & _URL_WORDS:
            return tool  # it reads its input as text: the address
    return None


def search_tool(question: str, tools: list[Tool]) -> Tool | None:
    """The tool to look up a question no tool relates to by its words ("Who won the 2022
    World Cup?") with, as a model looks up what it is asked when it can: the first that
    searches (its name or description says search, lookup, retrieve, Wikipedia, web…) and
    takes the text to look up. None for small talk ("How are you?": too few content words)
    or a request to do something ("Summarize this."). A search the API runs itself
    (`Tool.server`: the Responses API's built-in web and file searches, Anthropic's
    `web_search`) comes after every search of the request's own, as this server's can only
    fail; other server tools (a tool search) look nothing up for the user."""
    if _QUESTION.search(question) is None or len(words_of(question)) < QUESTION_WORDS:
        return None
    built_in: Tool | None = None
    for tool in tools:
        if is_handoff(tool.name) or (tool.server and tool.name not in BUILT_IN_SEARCHES):
            continue
        if words_of(f"{tool.name} {tool.description}") & _SEARCH_WORDS and _takes_query(tool):
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
    if any(name_key(name) in QUERY_NAMES for name in texts):
        return True
    return len(properties) == 1 and len(texts) == 1 and not is_id(name_key(texts[0]))


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
    if tool is not None and listed_places(request, tool) is not None:
        firsts = (first,) * max(len(places_left(request, tool)), 1)
    if request.named_tool is not None:
        return firsts
    said = asked(request)
    words = words_of(said) | math_words(said)
    allowed = set(request.allowed_tools) or {t.name for t in request.tools}
    called = {call.name for m in turn_messages(request) for call in m.tool_calls}
    # Named by a word of its own: "Translate 'good morning' to Spanish" names
    # translate_to_spanish, not translate_to_french (the Agents SDK's agents as tools).
    shared = words_of(first)
    # (a structured output's tool is not called beside the tools it follows; beside
    # another such tool it is: instructor's ANTHROPIC_PARALLEL_TOOLS offers only those)
    outputs = tool is not None and is_output_tool(tool)
    named = [
        t.name
        for t in request.tools
        if t.name != first
        and t.name in allowed
        and t.name not in called
        and (outputs or not is_output_tool(t))
        and not is_handoff(t.name)
        and (words_of(t.name) - shared) & words
    ]
    return (*firsts, *(n for name in named for n in _per_place(request, name)))


def _per_place(request: Conversation, name: str) -> tuple[str, ...]:
    """A tool called beside another: once for each place the message lists for it."""
    tool = request.offered_tool(name)
    if tool is None or listed_places(request, tool) is None:
        return (name,)
    return (name,) * max(len(places_left(request, tool)), 1)


def is_final_tool(tool: Tool) -> bool:
    """A tool that ends an agent's loop by giving its answer (`final_answer`, `respond`,
    `submit_result`)."""
    return _final_name(tool.name)


@functools.lru_cache(maxsize=1024)
def _final_name(name: str) -> bool:
    return bool(words_of(name) & _FINAL_WORDS)
