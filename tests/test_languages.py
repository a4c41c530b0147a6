"""The language a message is written in, as a triage agent routes by it."""

from __future__ import annotations

import pytest

from mockllm.languages import language_of, names_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hola, ¿cómo estás?", "es"),
        ("¿Qué tiempo hace en Madrid?", "es"),
        ("Bonjour, quelle est la capitale de la France ?", "fr"),
        ("Wie ist das Wetter in Berlin?", "de"),
        ("Ciao, come stai? Che cosa fai?", "it"),
        ("Olá, você está bem?", "pt"),
        ("今天天气怎么样", "zh"),
        ("Hello, how are you?", "en"),
        ("Please answer in French: what is the capital of France?", "en"),
        ("What is a dog and a cat?", "en"),
        ("La la land.", None),  # as Spanish as French or Italian
        ("Paris", None),
    ],
)
def test_the_language_of_a_message(text: str, code: str | None) -> None:
    assert language_of(text) == code


def test_a_tool_names_a_language_in_its_name_or_description() -> None:
    assert names_language("transfer_to_spanish_agent", "es")
    assert names_language("Speaks French; handles questions in French", "fr")
    assert names_language("回答用中文", "zh")
    assert not names_language("transfer_to_englishman", "en")
    assert not names_language("transfer_to_billing_agent", "es")
