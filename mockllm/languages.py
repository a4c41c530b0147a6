"""The language a message is written in, and whether a text names that language: how a
triage agent with one handoff per language ("Handoff to the appropriate agent based on the
language of the request", the OpenAI Agents SDK's first example) picks its agent.

Chinese, Japanese and Korean are told by their scripts (`fake.detect_locale`); English,
Spanish, French, German, Italian and Portuguese by their common short words (English's are
`words.STOP`), when one of them has clearly more in the message than the others.
"""

from __future__ import annotations

import re

from mockllm.fake import detect_locale
from mockllm.words import STOP

# Words frequent in one language's questions and rare in the others' (and in English).
_FUNCTION_WORDS = {
    "es": frozenset(
        "el la los las de del que y en es por para con una un como cómo qué cuál dónde "
        "cuándo hola estás está son muy gracias pero se lo mi tu".split()
    ),
    "fr": frozenset(
        "le la les de des du est et en un une que qui pour dans bonjour quelle quel "
        "vous je nous sont avec pas ce cette merci où comment pourquoi".split()
    ),
    "de": frozenset(
        "der das und ist nicht ein eine ich du sie wir mit für auf wie warum wer "
        "hallo danke bitte dem zu".split()
    ),
    "it": frozenset(
        "il lo la gli le di che è e un una per con non sono come cosa dove perché ciao "
        "grazie della del questo".split()
    ),
    "pt": frozenset(
        "o os as de do da que e em um uma para com não é são como onde olá obrigado "
        "você está isso".split()
    ),
}
_NAMES = {
    "en": ("english",),
    "es": ("spanish", "español", "espanol", "castellano"),
    "fr": ("french", "français", "francais"),
    "de": ("german", "deutsch"),
    "it": ("italian", "italiano"),
    "pt": ("portuguese", "português", "portugues"),
    "zh": ("chinese", "mandarin", "中文"),
    "ja": ("japanese", "日本語"),
    "ko": ("korean", "한국어"),
}
_WORD = re.compile(r"[^\W\d_]+")
_LEAST_WORDS = 2  # a language is told by two of its words at least
SAMPLE_CHARS = 2000


def language_of(text: str) -> str | None:
    """The language the text is written in, as a two-letter code (`en`, `es`, `zh`…); None
    for one it cannot tell."""
    sample = text[:SAMPLE_CHARS]
    script = detect_locale(sample)[:2]
    if script in ("zh", "ja", "ko"):
        return script
    words = [w.lower() for w in _WORD.findall(sample)]
    counts = {code: sum(w in vocab for w in words) for code, vocab in _FUNCTION_WORDS.items()}
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    (best, most), (_, next_most) = ranked[0], ranked[1]
    english = sum(w in STOP for w in words)
    if english >= _LEAST_WORDS and english > most:
        return "en"
    if most < _LEAST_WORDS or most == next_most or english >= most:
        return None
    return best


def names_language(text: str, code: str) -> bool:
    """Whether the text names the language (`transfer_to_spanish_agent`, "Speaks French")."""
    lowered = text.lower()
    return any(
        name in lowered if not name.isascii() else re.search(rf"(?<![a-z]){name}(?![a-z])", lowered)
        for name in _NAMES.get(code, ())
    )
