"""The language a message is written in: the locale of generated text, and the language a
triage agent routes by."""

from __future__ import annotations

import pytest

from mockllm.languages import asked_locale, language_of, locale_of, names_language


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


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("What is the weather like in Paris today?", "en_US"),
        ("请用中文介绍一下北京的历史。", "zh_CN"),
        ("用Python写一个排序函数", "zh_CN"),  # mixed, mostly Han
        ("Please translate 你好 into French for me", "en_US"),  # mixed, mostly Latin
        ("東京の天気はどうですか", "ja_JP"),
        ("Translate ありがとう please", "en_US"),  # a quoted word does not make it Japanese
        ("서울 날씨 어때요?", "ko_KR"),
        ("", "en_US"),
        ("12345 !!! ???", "en_US"),
        ("¿Qué tiempo hace hoy en Madrid? Dime la verdad.", "es_ES"),
        ("Bonjour, quelle est la météo à Paris aujourd'hui ?", "fr_FR"),
        ("Wie ist das Wetter heute in München? Ich möchte es wissen.", "de_DE"),
        ("Ciao, che tempo fa oggi a Roma? È bello?", "it_IT"),
        ("Jaka jest dzisiaj pogoda w Krakowie? Proszę powiedz mi.", "pl_PL"),
        ("Jaké je dnes počasí v Praze? Prosím, řekni mi to.", "cs_CZ"),
        ("Hvordan er vejret i København i dag? Jeg vil gerne vide det.", "da_DK"),
        ("Thời tiết hôm nay ở Hà Nội thế nào? Xin cảm ơn bạn.", "vi_VN"),
        ("Olá, você está bem? Como está o tempo em Lisboa?", "pt_BR"),
        ("Hoe is het weer vandaag in Amsterdam? Ik wil het graag weten.", "nl_NL"),
        # Written without accents: told by their words all the same.
        ("Hola como estas", "es_ES"),
        ("Dime el tiempo en Madrid por favor", "es_ES"),
        ("Qual e il tempo a Roma oggi? Grazie per la risposta", "it_IT"),
        ("Quel temps fait-il a Paris aujourd hui, et pour la semaine", "fr_FR"),
        ("Wie ist das Wetter in Berlin heute und morgen", "de_DE"),
        ("Wie is de beste speler van het jaar en waarom", "nl_NL"),
        ("Voce pode me ajudar com o relatorio? Obrigado", "pt_BR"),
        ("Jean de la Fontaine wrote the fables we read in school", "en_US"),
        ("Summarize the quarterly report in three sentences.", "en_US"),
        ("I had a café au lait at the Café de Flore in Paris", "en_US"),
        ("Какая сегодня погода в Москве?", "ru_RU"),
        ("Яка сьогодні погода в Києві?", "uk_UA"),
        ("ما هو الطقس اليوم في القاهرة؟", "ar_AA"),
        ("هوا امروز در تهران چگونه است؟", "fa_IR"),
        ("מה מזג האוויר היום בתל אביב?", "he_IL"),
        ("Τι καιρό κάνει σήμερα στην Αθήνα;", "el_GR"),
        ("วันนี้อากาศที่กรุงเทพเป็นอย่างไร", "th_TH"),
    ],
)
def test_the_locale_generated_text_is_written_in(text: str, locale: str) -> None:
    assert locale_of(text) == locale


@pytest.mark.parametrize(
    ("system", "last_user", "locale"),
    [
        ("You translate the user's message to Spanish", "Hi, how are you?", "es_ES"),
        ("Always respond in German.", "hello", "de_DE"),
        ("Answer only in Japanese.", "What is this?", "ja_JP"),
        ("", "Write a poem in Italian please", "it_IT"),
        ("You are helpful.", "Reply in english", "en_US"),
        # A user asking for one translation, or naming a place: the user's own language.
        ("", "Translate 'good morning' into French.", None),
        ("", "What is the weather in Paris?", None),
        ("", "I live in Spain", None),
        ("You are a weather bot.", "hi", None),
    ],
)
def test_the_language_an_answer_is_asked_to_be_in(
    system: str, last_user: str, locale: str | None
) -> None:
    assert asked_locale(system, last_user) == locale
