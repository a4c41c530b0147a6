"""The language a text is written in: the faker locale generated text is written in
(`locale_of`), and how a triage agent with one handoff per language ("Handoff to the
appropriate agent based on the language of the request", the OpenAI Agents SDK's first
example) picks its agent (`language_of`, `names_language`).

Scripts tell Chinese, Japanese, Korean, Russian, Ukrainian, Arabic, Persian, Hebrew, Greek
and Thai; common short words tell English, Spanish, French, German, Italian, Portuguese,
Polish, Czech, Danish, Vietnamese and Dutch (English's are `words.STOP`), when one of them
has clearly more in the text than the others, with accents or without.
"""

from __future__ import annotations

import re

from mockllm.cache import per_text
from mockllm.words import FUNCTION_WORDS, STOP

DEFAULT_LOCALE = "en_US"  # the locale of generated text when the prompt does not say

# Scripts. Compiled once: the server reads the prompt's language for every generated
# answer. They match runs, not single characters: far fewer matches to count.
_LETTERS = re.compile(r"[^\W\d_]+")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]+")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]+")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]+")
# Other scripts, each with the letters that tell a second language written in it apart.
_SCRIPTS = (
    (re.compile("[\u0400-\u04ff]+"), "ru_RU", re.compile("[іїєґІЇЄҐ]"), "uk_UA"),
    (re.compile("[\u0600-\u06ff\u0750-\u077f]+"), "ar_AA", re.compile("[پچژگ]"), "fa_IR"),
    (re.compile("[\u0590-\u05ff]+"), "he_IL", None, ""),
    (re.compile("[\u0370-\u03ff\u1f00-\u1fff]+"), "el_GR", None, ""),
    (re.compile("[\u0e00-\u0e7f]+"), "th_TH", None, ""),
)
_SCRIPT_SHARE = 0.3  # of the letters, for a script to be the text's
_SAMPLE = 2048  # characters looked at: the language shows long before the end
# The languages told by their words, and the faker locale each one's text is written in
# (faker's Portuguese lorem is Latin filler: mockllm.fake has Portuguese words of its own).
_WORD_LOCALES = {
    "es": "es_ES", "fr": "fr_FR", "de": "de_DE", "it": "it_IT", "pt": "pt_BR",
    "pl": "pl_PL", "cs": "cs_CZ", "da": "da_DK", "vi": "vi_VN", "nl": "nl_NL",
}  # fmt: skip
_WORDS_SAMPLE = 600  # characters whose words are counted, for a prompt's locale


def locale_of(text: str) -> str:
    """The faker locale a prompt is written in (en_US when it cannot tell).

    A script wins when at least 30% of the letters are in it: kana (with Han) means
    Japanese, hangul Korean, Han alone Chinese; Cyrillic Russian (Ukrainian with its own
    letters), Arabic script Arabic (Persian with its own letters), then Hebrew, Greek, Thai.
    Text in Latin letters is Spanish, French, German, Italian, Portuguese, Polish, Czech,
    Danish, Vietnamese or Dutch when its short words say so, with accents or without
    ("Dime el tiempo en Madrid por favor" is Spanish); otherwise English.
    """
    sample = text[:_SAMPLE]
    if sample.isascii():  # English, or a language written without accents here
        return _WORD_LOCALES.get(_by_words(sample[:_WORDS_SAMPLE]) or "", DEFAULT_LOCALE)
    letters, han, kana, hangul = (
        sum(map(len, pattern.findall(sample))) for pattern in (_LETTERS, _HAN, _KANA, _HANGUL)
    )
    if not letters:
        return DEFAULT_LOCALE
    if kana and (kana + han) / letters >= _SCRIPT_SHARE:
        return "ja_JP"
    if hangul / letters >= _SCRIPT_SHARE:
        return "ko_KR"
    if han / letters >= _SCRIPT_SHARE:
        return "zh_CN"
    for script, locale, own_letters, other in _SCRIPTS:
        if sum(map(len, script.findall(sample))) / letters >= _SCRIPT_SHARE:
            if own_letters is not None and own_letters.search(sample):
                return other
            return locale
    code = _by_words(sample[:_WORDS_SAMPLE])
    return _WORD_LOCALES.get(code or "", DEFAULT_LOCALE)


def _by_words(sample: str) -> str | None:
    """The language whose short words the text has clearly more of than any other's; None
    when none has."""
    english = 0
    found: list[str] = []
    lowered = sample.lower()
    for word in (_ASCII_WORD if lowered.isascii() else _WORD).findall(lowered):
        codes = _LANGUAGES_OF.get(word)
        if codes is not None:
            for code in codes:
                if code == "en":
                    english += 1
                else:
                    found.append(code)
    if not found:  # English's words alone (most prompts): no ranking to do
        return "en" if english >= _LEAST_WORDS else None
    counts = dict.fromkeys(FUNCTION_WORDS, 0)
    for code in found:
        counts[code] += 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    (best, most), (_, next_most) = ranked[0], ranked[1]
    if english >= _LEAST_WORDS and english > most:
        return "en"
    if most < _LEAST_WORDS or most == next_most or english >= most:
        return None
    return best


_NAMES = {
    "en": ("english",),
    "es": ("spanish", "español", "espanol", "castellano"),
    "fr": ("french", "français", "francais"),
    "de": ("german", "deutsch"),
    "it": ("italian", "italiano"),
    "pt": ("portuguese", "português", "portugues"),
    "pl": ("polish", "polski"),
    "cs": ("czech", "čeština", "cestina"),
    "da": ("danish", "dansk"),
    "vi": ("vietnamese", "tiếng việt", "tieng viet"),
    "nl": ("dutch", "nederlands"),
    "zh": ("chinese", "mandarin", "中文"),
    "ja": ("japanese", "日本語"),
    "ko": ("korean", "한국어"),
}
_WORD = re.compile(r"[^\W\d_]+")
_ASCII_WORD = re.compile(r"[a-z]+")  # the same words, in lower-case ASCII text (faster)
# Each short word, with the languages it is one of (English's: `words.STOP`): a prompt's
# words are looked up once each, not once for each language.
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _code, _vocab in (("en", STOP), *FUNCTION_WORDS.items()):
    for _word in _vocab:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _code)
_LEAST_WORDS = 2  # a language is told by two of its words at least
SAMPLE_CHARS = 2000


def language_of(text: str) -> str | None:
    """The language the text is written in, as a two-letter code (`en`, `es`, `zh`…); None
    for one it cannot tell."""
    sample = text[:SAMPLE_CHARS]
    script = locale_of(sample)[:2]
    if script in ("zh", "ja", "ko"):
        return script
    return _by_words(sample)


def names_language(text: str, code: str) -> bool:
    """Whether the text names the language (`transfer_to_spanish_agent`, "Speaks French")."""
    lowered = text.lower()
    return any(
        name in lowered if not name.isascii() else re.search(rf"(?<![a-z]){name}(?![a-z])", lowered)
        for name in _NAMES.get(code, ())
    )


# The locale of each language a name can ask for (one told by its script, or by its words).
_NAMED_LOCALES = {
    **_WORD_LOCALES, "en": DEFAULT_LOCALE, "zh": "zh_CN", "ja": "ja_JP", "ko": "ko_KR",
    "ru": "ru_RU", "ar": "ar_AA", "el": "el_GR", "he": "he_IL", "th": "th_TH",
}  # fmt: skip
_LANGUAGE_NAMES = {
    **{name: code for code, names in _NAMES.items() for name in names},
    "russian": "ru", "arabic": "ar", "greek": "el", "hebrew": "he", "thai": "th",
}  # fmt: skip
_NAME = "|".join(sorted(map(re.escape, _LANGUAGE_NAMES), key=len, reverse=True))
# "Always respond in German", "Answer only in Japanese", "Write a poem in Italian".
_RESPOND_IN = re.compile(
    rf"\b(?:respond|reply|answer|write|speak|talk)\w*\b[^.\n]{{0,40}}?\bin\s+({_NAME})"
    r"(?![^\W\d_])",
    re.IGNORECASE,
)
# An agent whose role is to translate: "You translate the user's message to Spanish" (the
# OpenAI Agents SDK's agents as tools). Only a system prompt's: a user asking for one
# translation ("Translate 'good morning' to French") is answered in the user's language.
_TRANSLATES_TO = re.compile(
    rf"\btranslat\w*\b[^.\n]{{0,80}}?\b(?:to|into)\s+({_NAME})(?![^\W\d_])",
    re.IGNORECASE,
)


def asked_locale(system: str, last_user: str) -> str | None:
    """The locale of the language the answer is asked to be in: by the system prompt (an
    agent that translates to Spanish, one told to respond in German), or else by the last
    user message ("Write a poem in Italian"); None when neither asks for one."""
    asked = _asked_by_system(system)
    if asked is None and " in " in last_user:  # (the user's text is new each time: a
        lowered = last_user.lower()  # few substring tests before any pattern runs)
        if any(verb in lowered for verb in _VERBS):
            asked = _asked_by(last_user)
    return asked


_VERBS = ("respond", "reply", "answer", "write", "speak", "talk")


@per_text
def _asked_by_system(text: str) -> str | None:
    return _asked_by(text) or _locale_named(_TRANSLATES_TO.search(text))


def _asked_by(text: str) -> str | None:
    return _locale_named(_RESPOND_IN.search(text))


def _locale_named(found: re.Match[str] | None) -> str | None:
    return None if found is None else _NAMED_LOCALES.get(_LANGUAGE_NAMES[found[1].lower()])
