"""Content words: a word stemmed to what its inflections share, and the stop words that say
little about what a text is about. The generator's tool choice and the embeddings' vectors
both read texts through them."""

from __future__ import annotations

import functools

STOP = frozenset(
    (
        "a an and are as at be by can could did do does for from get give have how i in is it "
        "its me my of on or please show tell that the this to us want was we what when where "
        "which who why will with would you your s what's it's i'm there their them they he she "
        "his her our so if then than but not no yes any some all just also been being has had "
        "am were into about up out over"
    ).split()
)


# The short words frequent in one language's sentences and rare in the others' (and in
# English: `STOP`), by the language's two-letter code.
FUNCTION_WORDS = {
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
        "você está isso obrigada pode tudo bem meu minha seu sua "
        # the same words as they are typed without accents
        "nao sao ola voce".split()
    ),
    # Words of its own only (not those shared with German, English and the Romance
    # languages: `de`, `en`, `is`, `wie`, `hallo`).
    "nl": frozenset(
        "het een ik niet wat hoe waar waarom wanneer bedankt dank alstublieft graag weer "
        "vandaag zijn voor ook maar deze mijn jij bent heb heeft naar bij uit nog geen "
        "goed van".split()
    ),
    # Words of their own only (not those Czech and Polish share: `to`, `na`, `jak`, `co`).
    "pl": frozenset(
        "się jest że nie dla czy jestem proszę dziękuję cześć gdzie kiedy dlaczego może "
        "mnie który która które oraz jaka jaki dzisiaj pogoda bardzo".split()
    ),
    "cs": frozenset(
        "je se že jsem jsi není děkuji prosím dobrý ahoj kde kdy proč jaký jaké může "
        "který která které pro dnes počasí velmi".split()
    ),
    "da": frozenset(
        "og er det at ikke jeg med som har hvad hvor hvordan hej tak vil kan også være "
        "til på mig dig vejret i dag".split()
    ),
    "vi": frozenset(
        "và là của có không tôi bạn một những được cho với này các trong người xin chào "
        "cảm ơn gì như thế nào ở đâu khi hôm nay thời tiết".split()
    ),
}


@functools.lru_cache(maxsize=16384)  # the same words come back in every prompt
def stem(word: str) -> str:
    """`dogs`, `named`/`name`, `cities`, `called` -> `dog`, `nam`, `city`, `call`: the
    common English endings and a final `e` off, as long as three letters are left."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)] + keep
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word
