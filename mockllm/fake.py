"""Seeded fake data from the faker library: prose, named providers and schema instances.

This is the only module that imports faker. Every function is deterministic: the same
arguments give the same output in every process (faker's generators are seeded per call,
never from Python's `hash()`).
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import random
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache, lru_cache, partial
from typing import Any

from faker import Factory
from faker.config import AVAILABLE_LOCALES
from faker.generator import Generator
from faker.generator import _re_token as _FAKER_TOKEN
from faker.providers import BaseProvider
from faker.providers.lorem import Provider as _BaseLorem
from faker.providers.lorem.en_US import Provider as _EnglishLorem
from faker.utils.distribution import choices_distribution

from mockllm.languages import DEFAULT_LOCALE
from mockllm.schema_instances import Hint, check_schema, checked_instance

__all__ = [
    "FAKER_ALIASES",
    "FAKER_PROVIDERS",
    "check_faker_spec",
    "check_locale",
    "check_schema",
    "fake_text",
    "faker_call",
    "instance_from_schema",
]


FAKER_ALIASES: dict[str, str] = {
    "sentences": "nb_sentences",
    "words": "nb_words",
    "max_chars": "max_nb_chars",
    "chars": "max_nb_chars",
    "texts": "nb_texts",
    "count": "nb",
}
"""Friendly argument names in scenario files -> faker keyword arguments. A plural
provider also takes its own name as its count: `{text: words, words: 5}`."""

# Providers that return text and touch nothing but the seeded generator. Anything that
# reads the clock without an `end_datetime` to pin (year, day_of_month, date_of_birth, ...)
# is left out: its output would drift from one day to the next.
FAKER_PROVIDERS: tuple[str, ...] = (
    *("paragraph", "paragraphs", "sentence", "sentences", "text", "texts", "word", "words"),
    *("name", "first_name", "last_name", "name_male", "name_female", "prefix", "suffix"),
    *("company", "company_suffix", "catch_phrase", "bs", "job"),
    *("address", "street_address", "street_name", "building_number", "city", "state"),
    *("country", "country_code", "postcode", "latitude", "longitude"),
    *("email", "safe_email", "free_email", "company_email", "user_name", "domain_name"),
    *("hostname", "url", "uri", "slug", "ipv4", "ipv6", "mac_address", "user_agent"),
    *("phone_number", "msisdn", "country_calling_code"),
    *("date", "date_time", "iso8601", "time", "unix_time", "timezone"),
    *("uuid4", "boolean", "password", "color_name", "hex_color", "language_name", "locale"),
    *("currency_code", "currency_name", "cryptocurrency_code", "file_name", "file_extension"),
    *("mime_type", "license_plate", "isbn13", "ean13", "iban", "emoji"),
    *("bothify", "numerify", "lexify", "random_int"),
)
_ALLOWED = frozenset(FAKER_PROVIDERS)
_LOCALES = frozenset(AVAILABLE_LOCALES)
_LISTS_OF_BLOCKS = frozenset({"paragraphs", "texts"})  # joined with a blank line
_LOREM = frozenset({"paragraph", "paragraphs", "sentence", "sentences", "text", "texts"})
# Upper bounds for size arguments, so that no scenario can make one reply enormous.
_COUNT_LIMITS = {"nb": 1000, "nb_words": 1000, "nb_sentences": 1000, "nb_texts": 100}
_COUNT_LIMITS |= {"max_nb_chars": 100_000, "length": 1000, "levels": 10, "deep": 10}
_END = datetime(2025, 1, 1)  # pins faker's "now" for date providers: output must not drift

# Property names (split into lowercase words) -> the provider whose value fits them.
_PROPERTY_PROVIDERS: dict[str, str] = {
    **dict.fromkeys(("name", "fullname", "displayname", "author", "person"), "name"),
    **dict.fromkeys(("firstname", "givenname", "forename"), "first_name"),
    **dict.fromkeys(("lastname", "surname", "familyname"), "last_name"),
    **dict.fromkeys(("username", "login", "handle", "user"), "user_name"),
    **dict.fromkeys(("email", "mail", "emailaddress"), "email"),
    **dict.fromkeys(("phone", "phonenumber", "mobile", "telephone", "tel"), "phone_number"),
    **dict.fromkeys(("address", "location", "streetaddress"), "address"),
    **dict.fromkeys(("street", "addressline"), "street_address"),
    **dict.fromkeys(("city", "town"), "city"),
    **dict.fromkeys(("state", "province", "region"), "state"),
    **dict.fromkeys(("country", "nation"), "country"),
    **dict.fromkeys(("zip", "zipcode", "postcode", "postalcode"), "postcode"),
    **dict.fromkeys(("company", "companyname", "organization", "employer"), "company"),
    **dict.fromkeys(("job", "jobtitle", "occupation", "profession"), "job"),
    **dict.fromkeys(("url", "uri", "link", "website", "homepage", "href"), "url"),
    **dict.fromkeys(("hostname", "host", "domain"), "domain_name"),
    **dict.fromkeys(("date", "birthday", "birthdate", "dob", "day"), "date"),
    **dict.fromkeys(("datetime", "timestamp", "createdat", "updatedat"), "iso8601"),
    **dict.fromkeys(("id", "uuid", "guid"), "uuid4"),
    **dict.fromkeys(("title", "headline", "subject", "summary", "description"), "sentence"),
    **dict.fromkeys(("comment", "reason", "answer", "explanation", "note"), "sentence"),
    **dict.fromkeys(("content", "body", "text", "message", "bio", "details"), "paragraph"),
    **dict.fromkeys(("word", "tag", "keyword", "category", "label", "topic"), "word"),
    **dict.fromkeys(("color", "colour"), "color_name"),
    **dict.fromkeys(("ip", "ipaddress", "ipv4"), "ipv4"),
    **dict.fromkeys(("filename", "file"), "file_name"),
    **dict.fromkeys(("mimetype", "contenttype"), "mime_type"),
    "time": "time",
    "countrycode": "country_code",
    "currency": "currency_code",
    "language": "language_name",
    "timezone": "timezone",
    "slug": "slug",
    "password": "password",
    "ipv6": "ipv6",
    "iban": "iban",
}
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


# One generator per locale, shared by all threads. Seeding and drawing must happen as one
# step, or two requests would interleave draws from the same random state.
_LOCK = threading.RLock()


@dataclass(frozen=True, slots=True)
class _Voice:
    """A locale's seeded generator and how its prose is put together."""

    generator: Generator
    lorem: Any  # faker's lorem provider object for the locale, bound to `generator`
    words: tuple[str, ...] | None  # replaces faker's Latin filler where a locale has no lorem
    connector: str
    period: str
    # The words a sentence is drawn from, when faker's lorem provider is its base class's
    # own (`sentence` then copies this list twice per sentence, to draw a few words from
    # it): fake_text draws the same words from it directly. None: faker's `sentence`.
    pool: tuple[str, ...] | None = None


def fake_text(seed: int, locale: str, max_words: int) -> str:
    """About `max_words` words of prose in `locale`, ending with sentence punctuation.

    Chinese has no spaces; there a "word" is faker's word, about two characters.
    """
    voice = _voice(locale)
    sentences: list[str] = []
    pool = voice.pool
    with _LOCK:
        generator = voice.generator
        generator.seed_instance(seed)
        rng = generator.random
        bits, draw = rng.getrandbits, rng.random
        count = float(len(pool)) if pool is not None else 0.0
        left = max_words
        while left > 0:
            # `randint(4, 12)`, drawn as it draws: 4 random bits until they are below 9.
            extra = bits(4)
            while extra >= 9:
                extra = bits(4)
            size = min(left, 4 + extra)
            if left - size < 3:
                size = left  # no stub sentence of one or two words at the end
            if pool is not None:
                # faker's `sentence(size, False, words)`: `words` draws one word with
                # `choice`, more with `choices` (whose draws these are); the first is
                # title-cased.
                if size == 1:
                    drawn = [rng.choice(pool)]
                else:
                    drawn = [pool[int(draw() * count)] for _ in range(size)]
                drawn[0] = drawn[0].title()
                lorem = voice.lorem
                sentence = lorem.word_connector.join(drawn) + lorem.sentence_punctuation
            else:
                sentence = voice.lorem.sentence(size, False, voice.words)
            sentences.append(sentence[:-1] + voice.period)
            left -= size
    return voice.connector.join(sentences)


def check_locale(locale: str) -> str | None:
    """Why `locale` is not a faker locale, or None."""
    if locale in _LOCALES:
        return None
    close = difflib.get_close_matches(locale.replace("-", "_"), AVAILABLE_LOCALES, n=3)
    hint = f"did you mean {_either(close)}? " if close else ""
    examples = "en_US, zh_CN, ja_JP, ko_KR, de_DE, fr_FR, es_ES, pt_BR"
    return (
        f"unknown faker locale {locale!r}; {hint}valid: one of faker's "
        f"{len(AVAILABLE_LOCALES)} locales, such as {examples}"
    )


def check_faker_spec(provider: str, args: dict[str, object]) -> str | None:
    """Why `faker_call(..., provider, args)` would fail, or None. Tries the call once."""
    if provider not in _ALLOWED:
        close = difflib.get_close_matches(provider, FAKER_PROVIDERS, n=3)
        hint = f"did you mean {_either(close)}? " if close else ""
        return (
            f"unknown faker provider {provider!r}; {hint}"
            f"valid providers: {', '.join(FAKER_PROVIDERS)}"
        )
    kwargs = _kwargs(provider, args)
    if isinstance(kwargs, str):
        return kwargs
    try:
        _run(DEFAULT_LOCALE, 0, provider, kwargs)
    except Exception as exc:  # any faker complaint about a value is the user's to fix
        return f"faker provider {provider!r} rejected arguments {args}: {exc}"
    return None


def faker_call(seed: int, locale: str, provider: str, args: dict[str, object]) -> str:
    """The text of one faker provider call, seeded; lists are joined, other values str().

    Example:
        faker_call(7, "zh_CN", "paragraph", {"sentences": 4})
    """
    if provider not in _ALLOWED:
        raise ValueError(check_faker_spec(provider, args))
    kwargs = _kwargs(provider, args)
    if isinstance(kwargs, str):
        raise ValueError(kwargs)
    return _run(locale, seed, provider, kwargs)


def instance_from_schema(
    schema: dict[str, Any],
    seed: int,
    locale: str = DEFAULT_LOCALE,
    hints: dict[str, Hint] | None = None,
) -> object:
    """A JSON value that `schema` accepts, with faker strings in `locale` where names suggest
    (and `hints` for top-level string properties, where the schema accepts them).

    Raises ValueError, with `check_schema`'s message, for a schema it cannot read.

    Example:
        instance_from_schema({"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"]}, seed=1)  ->  {"city": "East Wendy"}
    """
    return checked_instance(schema, random.Random(seed), partial(_schema_text, locale), hints)


def _schema_text(locale: str, kind: str, rng: random.Random) -> str:
    provider = _provider_for(kind)
    if not provider:
        nb = 1 + rng.getrandbits(64) % 3
        pool = _voice(locale).pool
        if pool is None:
            return _run(locale, rng, "words", {"nb": nb})
        # faker's `words(nb)` over the same list (which it copies on every call), joined.
        drawn = [rng.choice(pool)] if nb == 1 else rng.choices(pool, k=nb)
        return _voice(locale).connector.join(drawn)
    if provider == "word" and (pool := _voice(locale).pool) is not None:
        return rng.choice(pool)  # faker's `word()`: `words(1)`
    return _run(locale, rng, provider, {})


@lru_cache(maxsize=1024)
def _provider_for(name: str) -> str:
    """The provider whose values suit a property called `name`; "" when none does."""
    words = [w.lower() for w in _WORDS.findall(name)]
    # "shippingAddress" -> "shippingaddress", then "address"; "cities" -> "city".
    for candidate in ("".join(words), "".join(words[-2:]), *words[-1:]):
        forms = [candidate]
        if candidate.endswith("s"):
            forms += [candidate[:-3] + "y", candidate[:-2], candidate[:-1]]
        for form in forms:
            if form in _PROPERTY_PROVIDERS:
                return _PROPERTY_PROVIDERS[form]
    return ""


def _kwargs(provider: str, args: dict[str, object]) -> dict[str, object] | str:
    """`args` as faker keyword arguments, or the reason they are not valid."""
    params = _params(provider)
    out: dict[str, object] = {}
    for key, value in args.items():
        name = key if key in params else FAKER_ALIASES.get(key, "")
        if name not in params and key in ("count", provider) and "nb" in params:
            name = "nb"
        if name not in params:
            friendly = [_friendly(p, provider) for p in params]
            close = difflib.get_close_matches(key, friendly + list(params), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            valid = ", ".join(friendly) or "none"
            return f"faker provider {provider!r} has no argument {key!r}; {hint}valid: {valid}"
        limit = _COUNT_LIMITS.get(name)
        if limit is not None and not (
            isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit
        ):
            return (
                f"faker argument {key!r} must be a whole number from 0 to {limit}, found {value!r}"
            )
        out[name] = value
    return out


@cache
def _params(provider: str) -> tuple[str, ...]:
    method = getattr(_voice(DEFAULT_LOCALE).generator, provider)
    return tuple(inspect.signature(method).parameters)


def _friendly(param: str, provider: str) -> str:
    if param == "nb":
        return f"{provider} (or count)" if provider.endswith("s") else "count"
    return next((k for k, v in FAKER_ALIASES.items() if v == param), param)


def _run(locale: str, seed: int | random.Random, provider: str, kwargs: dict[str, object]) -> str:
    """Call an allowed provider on the generator of `locale`, seeded with `seed`, or drawing
    from the random generator given (an instance's values come from one: seeding faker for
    each of them took 5 us), and return text."""
    voice = _voice(locale)
    if not hasattr(voice.generator, provider):  # e.g. `state` outside the US-style locales
        voice = _voice(DEFAULT_LOCALE)
    params = _params(provider)
    if "end_datetime" in params:
        kwargs = {"end_datetime": _END, **kwargs}
    if "ext_word_list" in params and voice.words is not None:
        kwargs = {"ext_word_list": voice.words, **kwargs}
    generator = voice.generator
    with _LOCK:
        if isinstance(seed, random.Random):
            kept, generator.random = generator.random, seed
            try:
                value = getattr(generator, provider)(**kwargs)
            finally:
                generator.random = kept
        else:
            generator.seed_instance(seed)
            value = getattr(generator, provider)(**kwargs)
    if isinstance(value, list | tuple):
        sep = "\n\n" if provider in _LISTS_OF_BLOCKS else voice.connector
        value = sep.join(str(item) for item in value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = str(value)
    if provider in _LOREM and voice.period != ".":
        text = text.replace(".", voice.period)
    return text


def _voice(locale: str) -> _Voice:
    return _voice_of(locale if locale in _LOCALES else DEFAULT_LOCALE)


# Words of a language whose faker locales have no lorem of their own (Latin filler), for
# the prose written in them: common Portuguese nouns, adjectives, verbs and adverbs.
_OWN_WORDS = {
    "pt": tuple(
        """casa tempo dia ano vida mundo trabalho parte cidade lugar forma caso ponto governo
        empresa grupo problema mão país semana mês noite água história projeto sistema
        programa pessoa homem mulher criança família amigo escola livro carta porta janela
        rua mesa cama cozinha jardim mercado banco loja preço valor dinheiro conta produto
        serviço cliente equipe reunião relatório resultado pergunta resposta ideia plano
        objetivo processo questão informação notícia mensagem palavra nome número ordem
        lista exemplo razão momento começo fim meio lado frente centro norte sul céu sol
        lua chuva vento mar rio praia montanha floresta campo árvore flor animal cachorro
        gato pássaro peixe comida pão café leite fruta carne arroz bom novo grande pequeno
        alto baixo longo curto rápido lento fácil difícil claro escuro forte fraco feliz
        triste bonito simples importante possível próximo último primeiro certo errado
        livre cheio vazio quente frio seguro pronto ser estar ter fazer ir ver dar saber
        poder querer dizer vir ficar passar deixar levar começar encontrar chegar pensar
        falar olhar conhecer viver sentir trazer voltar abrir fechar ganhar perder comprar
        vender pagar escrever ler ouvir entender ajudar mudar seguir mostrar precisar
        continuar sempre nunca hoje amanhã ontem agora depois antes aqui ali muito pouco
        mais menos bem mal ainda também já logo juntos""".split()
    ),
}


@cache
def _voice_of(locale: str) -> _Voice:
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # faker warns about its deprecated locales (fr_QC)
        generator = Factory.create(locale)
    for provider in generator.providers:
        kept = _WeightsKept(provider)
        provider.random_elements = kept  # type: ignore[method-assign]
        if type(provider).random_element is BaseProvider.random_element:  # not a locale's own
            provider.random_element = kept.element  # type: ignore[method-assign]
    if type(generator).parse is Generator.parse:
        generator.parse = _FormatKept(generator)  # type: ignore[method-assign]
    lorem = _provider_object(generator, "lorem")
    company = _provider_object(generator, "company")
    words: tuple[str, ...] | None = None
    if type(lorem).__module__.endswith(".la") and locale != "la":
        # faker falls back to Latin filler here; the locale's own words read better.
        if locale.startswith("en_"):
            words = tuple(_EnglishLorem.word_list)
        elif locale.split("_")[0] in _OWN_WORDS:
            words = _OWN_WORDS[locale.split("_")[0]]
        elif "catch_phrase_words" in vars(type(company)):
            groups = type(company).catch_phrase_words
            words = tuple(dict.fromkeys(word for group in groups for word in group))
    period = "。" if locale.startswith("zh") else str(lorem.sentence_punctuation)
    kind = type(lorem)
    plain = all(
        getattr(kind, name) is getattr(_BaseLorem, name)
        for name in ("sentence", "words", "get_words_list", "random_choices")
    )
    pool = tuple(words if words is not None else lorem.word_list) if plain else None
    return _Voice(generator, lorem, words, str(lorem.word_connector), period, pool)


class _WeightsKept:
    """A faker provider's `random_elements` (and `random_element`, which draws one) that
    draws from a weighted table (first names, street suffixes, name formats: thousands of
    entries each) without adding its weights up again on every draw: the same draws, from
    the same random numbers, as faker's own.

    Faker passes the weights to `random.choices`, which adds them up (cum_weights) on each
    call; a name took 200 us. Given the sums kept from the first draw, `random.choices`
    picks by the same bisection of the same `random()` values, so every value is the same.
    A list, tuple or string goes straight to faker's `choices_distribution`, as faker's
    method sends it; anything else (unique draws, no weighting, a set) goes to faker's own
    method.
    """

    __slots__ = ("provider", "original")

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.original = provider.random_elements  # faker's, bound to the provider

    def __call__(
        self,
        elements: Any = ("a", "b", "c"),
        length: int | None = None,
        unique: bool = False,
        use_weighting: bool | None = None,
    ) -> Any:
        provider = self.provider
        kind = type(elements)
        if not unique and kind in _SEQUENCES:
            rng = provider.generator.random
            if length is None:
                length = rng.randint(1, len(elements))
            return choices_distribution(elements, None, rng, length=length)
        weighted = provider.__use_weighting__ if use_weighting is None else use_weighting
        if unique or not weighted or not isinstance(elements, OrderedDict):
            return self.original(elements, length, unique, use_weighting)
        table = _TABLES.get(id(elements))
        if table is None or table[0] is not elements:
            table = (elements, tuple(elements), list(itertools.accumulate(elements.values())))
            _TABLES[id(elements)] = table
        rng = provider.generator.random
        if length is None:
            length = rng.randint(1, len(elements))
        return rng.choices(table[1], cum_weights=table[2], k=length)

    def element(self, elements: Any = ("a", "b", "c")) -> Any:
        """faker's `random_element`: the first of `random_elements(elements, length=1)`."""
        return self(elements, 1)[0]


_SEQUENCES = frozenset({tuple, list, str})


class _FormatKept:
    """A faker generator's `parse` ("{{first_name}} {{last_name}}" -> "Ann Lee") that splits
    each format into its text and its tokens once, then calls the tokens' providers in
    order: the same calls, in the order `re.sub` makes them, with the same text around
    them. Faker's own `parse` takes a format with an argument group ("{{pyint:small}}") or
    a token no provider answers to (it raises faker's error)."""

    __slots__ = ("generator", "original", "formats")

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.original = generator.parse
        self.formats: dict[str, tuple[tuple[str, str], ...] | None] = {}

    def __call__(self, text: str) -> str:
        pieces = self.formats.get(text, ())
        if pieces == ():
            pieces = _format_pieces(text)
            if len(self.formats) < _MAX_FORMATS:  # faker's formats; a caller's text may vary
                self.formats[text] = pieces
        if pieces is None:
            return self.original(text)
        generator = self.generator
        out = []
        for literal, token in pieces:
            out.append(literal)
            if token:
                try:
                    method = getattr(generator, token)
                except AttributeError:
                    return self.original(text)  # faker's error, naming the locale
                out.append(str(method()))
        return "".join(out)


_MAX_FORMATS = 4096


def _format_pieces(text: str) -> tuple[tuple[str, str], ...] | None:
    """`text` as (text before, token) pairs, the last with no token; None when a token has
    an argument group."""
    pieces = []
    at = 0
    for found in _FAKER_TOKEN.finditer(text):
        if found.group(2):
            return None
        pieces.append((text[at : found.start()], found.group(1)))
        at = found.end()
    pieces.append((text[at:], ""))
    return tuple(pieces)


# faker's weighted tables (module constants) by id, each with its keys and running sums
_TABLES: dict[int, tuple[OrderedDict[Any, float], tuple[Any, ...], list[float]]] = {}


def _provider_object(generator: Generator, kind: str) -> Any:
    return next(p for p in generator.providers if f".{kind}" in type(p).__module__)


def _either(names: list[str]) -> str:
    return " or ".join(repr(n) for n in names)
