"""The answer a model with no script gives once this turn's tool results are back: what each
tool returned (or how it failed), in the prompt's language, and the values those results
give a final-answer tool."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from mockllm.conversation import Conversation, Tool
from mockllm.prompt_reading import WORD, is_delegation, is_handoff, name_key, turn_messages
from mockllm.schema_instances import Hint
from mockllm.tool_arguments import argument_hints

RESULT_CHARS = 240
OBJECT_CHARS = 20_000  # a result object longer than this is quoted, not read


_ANSWER_NAMES = frozenset(
    ("answer", "finalanswer", "result", "response", "output", "reply", "text", "content",
     "summary", "message", "finalresponse", "finaloutput",
     # what an answer's schema calls the prose it says about what was found (the AI SDK's
     # Output.object `{ location, temperatureF, advice }`)
     "advice", "explanation", "report", "recommendation", "details", "description",
     "findings", "conditions", "forecast")
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
    named = [name for name in strings if name_key(name) in _ANSWER_NAMES]
    first: list[str] = []
    if not named and any_required and isinstance(required, list):
        stated = argument_hints(request, Tool("answer", "", schema))
        first = [name for name in strings if name in required and name not in stated]
    chosen = named or first
    # (the results of tools it no longer offers too: a structured output asked for on its
    # own after the loop, as Strands' `structured_output` offers its schema's tool alone)
    results = turn_results(request, offered_only=False)
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


def results_answer(request: Conversation, locale: str) -> str | None:
    """A text answer that uses this turn's tool results, or None when there are none."""
    results = turn_results(request)
    return found_answer(results, locale) if results else None


def turn_results(request: Conversation, *, offered_only: bool = True) -> list[tuple[str, str]]:
    """This turn's tool results that answer the question, each (tool name, what it said);
    with `offered_only`, only those of the tools the request offers (not another agent's,
    before a handoff), else of any tool but a handoff."""
    turn = turn_messages(request)
    names = {call.id: call.name for m in turn for call in m.tool_calls}
    offered = {t.name for t in request.tools} if offered_only else set()
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
    "es": "Esto es lo que encontré. ",
    "fr": "Voici ce que j'ai trouvé. ",
    "de": "Das habe ich gefunden. ",
    "it": "Ecco cosa ho trovato. ",
    "pl": "Oto, co znalazłem. ",
    "cs": "Tady je, co jsem našel. ",
    "da": "Her er, hvad jeg fandt. ",
    "pt": "Aqui está o que encontrei. ",
    "nl": "Dit heb ik gevonden. ",
    "vi": "Đây là những gì tôi tìm được. ",
    "ru": "Вот что я нашёл. ",
    "uk": "Ось що я знайшов. ",
    "ar": "إليك ما وجدته. ",
    "fa": "این چیزی است که پیدا کردم. ",
    "he": "הנה מה שמצאתי. ",
    "el": "Να τι βρήκα. ",
    "th": "นี่คือสิ่งที่ฉันพบ ",
}


_FAILED_LEADS = {
    "en": "I couldn't get that. ",
    "zh": "查询没有成功。",
    "ja": "取得できませんでした。",
    "ko": "가져오지 못했습니다. ",
    "es": "No pude obtenerlo. ",
    "fr": "Je n'ai pas pu l'obtenir. ",
    "de": "Das konnte ich nicht abrufen. ",
    "it": "Non sono riuscito a ottenerlo. ",
    "pl": "Nie udało mi się tego uzyskać. ",
    "cs": "Nepodařilo se mi to získat. ",
    "da": "Jeg kunne ikke hente det. ",
    "pt": "Não consegui obter isso. ",
    "nl": "Dat kon ik niet ophalen. ",
    "vi": "Tôi không lấy được thông tin đó. ",
    "ru": "Не удалось это получить. ",
    "uk": "Не вдалося це отримати. ",
    "ar": "لم أتمكن من الحصول على ذلك. ",
    "fa": "نتوانستم آن را دریافت کنم. ",
    "he": "לא הצלחתי לקבל את זה. ",
    "el": "Δεν μπόρεσα να το βρω. ",
    "th": "ฉันไม่สามารถดึงข้อมูลนั้นได้ ",
}
# A result that reports a failure: "Error: ...", "Exception: ...", a traceback (LangGraph's
# ToolNode writes "Error: ValueError('...')\n Please fix your mistakes."), the OpenAI Agents
# SDK's default for a tool that raised ("An error occurred while running the tool. Please
# try again.", followed in Python by "Error: <what went wrong>").
_FAILURE = re.compile(
    r"\s*(?:error|exception)\s*[:\-]\s*|\s*traceback \(most recent call last\):\s*"
    r"|\s*an error occurred while running the tool\.\s*(?:please try again\.\s*)?"
    r"(?:error:\s*)?",
    re.IGNORECASE,
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
    "es": ("{name} devolvió: {text}", "{name} falló: {text}"),
    "fr": ("{name} a renvoyé : {text}", "{name} a échoué : {text}"),
    "de": ("{name} lieferte: {text}", "{name} schlug fehl: {text}"),
    "it": ("{name} ha restituito: {text}", "{name} non è riuscito: {text}"),
    "pl": ("{name} zwrócił: {text}", "{name} zakończył się błędem: {text}"),
    "cs": ("{name} vrátil: {text}", "{name} selhal: {text}"),
    "da": ("{name} returnerede: {text}", "{name} mislykkedes: {text}"),
    "pt": ("{name} retornou: {text}", "{name} falhou: {text}"),
    "nl": ("{name} gaf terug: {text}", "{name} mislukte: {text}"),
    "vi": ("{name} trả về: {text}", "{name} gặp lỗi: {text}"),
    "ru": ("{name} вернул: {text}", "{name} завершился с ошибкой: {text}"),
    "uk": ("{name} повернув: {text}", "{name} завершився з помилкою: {text}"),
    "ar": ("أعاد {name}: {text}", "فشل {name}: {text}"),
    "fa": ("{name} برگرداند: {text}", "{name} ناموفق بود: {text}"),
    "he": ("{name} החזיר: {text}", "{name} נכשל: {text}"),
    "el": ("Το {name} επέστρεψε: {text}", "Το {name} απέτυχε: {text}"),
    "th": ("{name} ส่งคืน: {text}", "{name} ล้มเหลว: {text}"),
}
# The languages whose report carries its own full stop, or writes none (Thai).
_OWN_STOP = frozenset(("zh", "ja", "ko", "th"))


def _reported(name: str, text: str, locale: str, failed: bool = False) -> str:
    language = locale[:2] if locale[:2] in _REPORTS else "en"
    said = _REPORTS[language][failed].format(name=name, text=text)
    if language not in _OWN_STOP and not text.endswith((".", "!", "?")):
        said += "."
    return said


# Keys of a result object that say how the call went, not what it found.
_STATUS_KEYS = frozenset(("status", "success", "ok", "error", "code", "type", "id"))
# The values such a key has when it only says that: a status of "success" does, a status of
# "shipped" (an order's, `{"order_id": "98765", "status": "shipped"}`) is what was found.
_OUTCOMES = frozenset(("success", "successful", "succeeded", "ok", "error", "failed", "failure"))


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
        if found not in (None, "", [], {}) and not _says_outcome(str(key), found)
    ]
    if not said:
        return text
    if len(said) == 1 and isinstance(said[0][1], str | int | float):
        return str(said[0][1])
    return ", ".join(f"{' '.join(WORD.findall(key)).lower()} {_flat(found)}" for key, found in said)


def _says_outcome(key: str, value: Any) -> bool:
    """A key that says how the call went (`"status": "success"`, `"ok": true`, an `id`),
    not what it found."""
    if key.lower() not in _STATUS_KEYS:
        return False
    if key.lower() != "status" or not isinstance(value, str):
        return True
    return value.lower() in _OUTCOMES


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
