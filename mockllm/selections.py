"""The answer to a prompt that lists numbered choices and asks which are most relevant to a
question: LlamaIndex's selectors, which route a RouterQueryEngine.

Their prompts read "Some choices are given below. It is provided in a numbered list (1 to
3) …", the choices as `(1) Useful for questions about the weather`, then "… most relevant
to the question: 'What is the weather in Paris?'". LLMSingleSelector and LLMMultiSelector
ask for a JSON list of `{"choice": 1, "reason": …}` (their example, with bare keys and
doubled braces, is not JSON); PydanticSingleSelector and PydanticMultiSelector force a tool
whose arguments are `{"index": 1, "reason": …}` or `{"selections": [{"index", "reason"}]}`.
The choice is the one the question relates to most (the first when none relates); a
multi-selection takes every choice that relates, up to the number the prompt allows.

AutoGen's SelectorGroupChat asks a model which participant speaks next: "You are in a role
play game. The following roles are available:" and each as `name: description`, the
conversation so far as `source: text` lines, and "select the next role from ['planner',
'weather_agent'] to play. Only return the role." The answer is a listed name: while only
the user has spoken, the role whose description says it engages first (else the one the
task relates to most); after that, of the others than the last speaker, the one the last
message relates to most, else the next listed after it.

LlamaIndex's LLMQuestionGenerator (a SubQuestionQueryEngine's) asks in the same spirit for
"a list of relevant sub-questions in json markdown", after examples of `<Tools>` (a JSON
object of names and descriptions), `<User Question>` and `<Output>`: the answer sends the
question to each tool it relates to (`{"items": [{"sub_question", "tool_name"}]}`).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from mockllm.conversation import Conversation, Tool
from mockllm.prompt_reading import relatedness

_LISTED = re.compile(r"numbered list \(1 to (\d+)\)")
_CHOICE = re.compile(r"^\((\d+)\) (.*?)\s*(?=^\(\d+\) |^-{5,}|\Z)", re.MULTILINE | re.DOTALL)
_QUESTION = re.compile(r"relevant to the question: '(.*)'", re.DOTALL)
_AT_MOST = re.compile(r"no more than (\d+)")
_JSON_CHOICE = re.compile(r"\bchoice:\s*1,")  # the text selectors' example


def selection_answer(request: Conversation) -> str | None:
    """The JSON list a text selector's prompt asks for, or None for another prompt."""
    text = request.last_user
    if "choice:" not in text or _JSON_CHOICE.search(text) is None:  # (a fast test first)
        return None
    chosen = _selected(request.last_user)
    if chosen is None:
        return None
    listed = [{"choice": number, "reason": reason} for number, reason in chosen]
    return orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode()


_SUB_QUESTIONS = "output a list of relevant sub-questions"
_LAST_TOOLS = re.compile(r"<Tools>\s*```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
_USER_QUESTION = re.compile(r"<User Question>\s*\n(.*?)\n\s*<Output>", re.DOTALL)


def sub_questions_answer(request: Conversation) -> str | None:
    """The sub-questions a question generator's prompt asks for, in a ```json fence, or
    None for another prompt."""
    prompt = request.last_user
    if _SUB_QUESTIONS not in prompt:
        return None
    shown = _LAST_TOOLS.findall(prompt)
    asked = _USER_QUESTION.findall(prompt)
    if not shown or not asked:
        return None
    try:
        tools = orjson.loads(shown[-1])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(tools, dict) or not tools:
        return None
    question = " ".join(asked[-1].split())
    listed = [Tool(str(name), str(text), {}) for name, text in tools.items()]
    related = [tool for tool in listed if relatedness(question, tool) > 0] or listed[:1]
    items = [{"sub_question": question, "tool_name": tool.name} for tool in related]
    text = orjson.dumps({"items": items}, option=orjson.OPT_INDENT_2).decode()
    return f"```json\n{text}\n```"


_NEXT_ROLE = re.compile(r"select the next role from \[(.*?)\] to play\. Only return the role\.")
_ROLES = re.compile(
    r"The following roles are available:\n(.*?)\.?\n\s*Read the following conversation",
    re.DOTALL,
)
_HISTORY = re.compile(r"Only return the role\.\n(.*)\n\s*Read the above conversation\.", re.DOTALL)
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_FIRST = re.compile(r"\bfirst\b|\bnew task", re.IGNORECASE)


def speaker_answer(request: Conversation) -> str | None:
    """The participant a group chat's speaker selector names next (AutoGen's
    SelectorGroupChat), or None for another prompt."""
    prompt = request.system if _NEXT_ROLE.search(request.system) else request.last_user
    listed = _NEXT_ROLE.search(prompt)
    if listed is None:
        return None
    names: list[str] = [str(a or b) for a, b in _QUOTED.findall(listed.group(1))]
    if not names:
        return None
    roles = _ROLES.search(prompt)
    described = dict.fromkeys(names, "")
    for line in (roles.group(1) if roles else "").splitlines():
        name, _, text = line.partition(":")
        if name.strip() in described:
            described[name.strip()] = text.strip()
    history = _HISTORY.search(prompt)
    said = _said_by(history.group(1) if history else "", [*names, "user"])
    agents = [(source, text) for source, text in said if source in names]
    if not agents:
        task = " ".join(text for _, text in said)
        first = [n for n in names if _FIRST.search(described[n])]
        return first[0] if first else _most_related(task, names, described)
    last, text = said[-1]
    others = [n for n in names if n != last] or names
    scored = [(relatedness(text, Tool(n, described[n], {})), n) for n in others]
    if max(score for score, _ in scored) > 0:
        return _most_related(text, others, described)
    after = names[(names.index(last) + 1) % len(names)] if last in names else names[0]
    return after if after in others else others[0]


def _most_related(text: str, names: list[str], described: dict[str, str]) -> str:
    """The name whose role the text relates to most (the first listed of equals)."""
    return max(names, key=lambda n: relatedness(text, Tool(n, described[n], {})))


def _said_by(history: str, sources: list[str]) -> list[tuple[str, str]]:
    """A conversation written as `source: text` lines, as (source, text) pairs; a line that
    names no source continues the text before it."""
    said: list[tuple[str, str]] = []
    for line in history.strip().splitlines():
        source, colon, text = line.partition(":")
        if colon and source.strip() in sources:
            said.append((source.strip(), text.strip()))
        elif said:
            said[-1] = (said[-1][0], f"{said[-1][1]}\n{line}")
    return said


def selection_arguments(request: Conversation, tool: Tool) -> dict[str, Any] | None:
    """The arguments of a Pydantic selector's tool (SingleSelection: index and reason;
    MultiSelection: a list of them), or None for another tool or prompt."""
    properties = tool.parameters.get("properties")
    if not isinstance(properties, dict):
        return None
    if set(properties) == {"index", "reason"}:
        chosen = _selected(request.last_user, single=True)
        if chosen is None:
            return None
        number, reason = chosen[0]
        return {"index": number, "reason": reason}
    if set(properties) == {"selections"} and tool.name == "MultiSelection":
        chosen = _selected(request.last_user)
        if chosen is None:
            return None
        return {"selections": [{"index": n, "reason": reason} for n, reason in chosen]}
    return None


def _selected(prompt: str, *, single: bool = False) -> list[tuple[int, str]] | None:
    """The chosen (number, reason) pairs, the most related first; None when the prompt
    lists no numbered choices."""
    listed = _LISTED.search(prompt)
    if listed is None:
        return None
    choices = [(int(n), " ".join(text.split())) for n, text in _CHOICE.findall(prompt)]
    choices = [(n, text) for n, text in choices if 1 <= n <= int(listed.group(1))]
    if not choices:
        return None
    asked = _QUESTION.findall(prompt)
    question = asked[-1] if asked else prompt
    scored = sorted(
        ((relatedness(question, Tool(f"choice_{n}", text, {})), n, text) for n, text in choices),
        key=lambda item: -item[0],
    )
    at_most = _AT_MOST.search(prompt)
    if single or at_most is None:
        kept = scored[:1]
    else:
        kept = [item for item in scored if item[0] > 0][: int(at_most.group(1))] or scored[:1]
    return [(n, f"The question is most related to: {text}") for _, n, text in kept]
