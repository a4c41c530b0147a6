"""Chat Completions audio output (gpt-4o-audio-preview and kin), as the API answers it: a
spoken answer's `message.audio` (id, base64 data in the requested format, expiry,
transcript), its usage counted as text and audio tokens, its stream of transcript then data
deltas ending with the expiry, and the 400s of an audio model asked for no audio and of a
stream in another format than pcm16. Through the front door: the official `openai` SDK,
and raw httpx for the exact order of the streamed chunks.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import RunningServer, start_server

from .helpers import write_scenario

REPLY = "Hello there! How can I help?"
RULES = f"""\
version: 1
rules:
  - name: greet
    match: {{ last_user: {{ contains: hello }} }}
    reply:
      content: "{REPLY}"
"""
FROZEN = 1_700_000_000
MODEL = "gpt-4o-audio-preview"
HELLO = [{"role": "user", "content": "hello"}]
RATE = 24_000
TOKEN_SAMPLES = 1_200  # 50 ms of audio is one audio token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("chat-audio")
    rules = write_scenario(tmp, RULES)
    running = start_server(
        "--scenarios", str(rules), "--freeze-time", str(FROZEN), "--seed", "7", tmp_path=tmp
    )
    yield running
    running.stop()


def spoken(client: OpenAI, audio_format: str, messages: Any = HELLO) -> Any:
    return client.chat.completions.create(
        model=MODEL,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": audio_format},  # type: ignore[typeddict-item]
        messages=messages,
    )


def audio_samples(completion: Any) -> int:
    """The samples the usage says the answer's audio holds."""
    return completion.usage.completion_tokens_details.audio_tokens * TOKEN_SAMPLES


def test_a_spoken_answer_is_a_wav_of_the_rule_s_reply(client: OpenAI) -> None:
    completion = spoken(client, "wav")
    message = completion.choices[0].message
    assert message.content is None and message.refusal is None
    assert message.audio is not None
    assert message.audio.transcript == REPLY
    # audio_ + 32 hex digits, the first 8 the time it was made; it expires an hour later.
    assert message.audio.id.startswith("audio_") and len(message.audio.id) == 38
    made = int(message.audio.id[6:14], 16)
    assert FROZEN < made < FROZEN + 60
    assert message.audio.expires_at == made + 3600
    wav = base64.b64decode(message.audio.data)
    assert wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", wav[4:8])[0] == len(wav) - 8
    kind, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", wav[20:36])
    assert (kind, channels, rate, byte_rate, align, bits) == (1, 1, RATE, 2 * RATE, 2, 16)
    assert wav[36:40] == b"data"
    size = struct.unpack("<I", wav[40:44])[0]
    assert size == len(wav) - 44 == 2 * audio_samples(completion)
    assert 1.0 <= size / byte_rate <= 4.0  # five words, about a third of a second each
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    details = usage.completion_tokens_details
    assert usage.completion_tokens == details.text_tokens + details.audio_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.text_tokens == usage.prompt_tokens


def test_pcm16_is_the_raw_samples_of_the_same_length(client: OpenAI) -> None:
    wav = base64.b64decode(spoken(client, "wav").choices[0].message.audio.data)
    completion = spoken(client, "pcm16")
    pcm = base64.b64decode(completion.choices[0].message.audio.data)
    assert pcm == wav[44:]
    assert len(pcm) == 2 * audio_samples(completion)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert max(abs(s) for s in samples) <= 1024  # quiet: far below full scale


def _flac_samples(data: bytes) -> int:
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first
    fields = int.from_bytes(data[18:26], "big")
    rate, channels, bits = fields >> 44, (fields >> 41 & 7) + 1, (fields >> 36 & 31) + 1
    assert (rate, channels, bits) == (RATE, 1, 16)
    return fields & (1 << 36) - 1


def _mp3_samples(data: bytes) -> int:
    # MPEG-2 layer III, 32 kbit/s, 24 kHz, mono: frames of 96 bytes and 576 samples.
    assert data[:4] == b"\xff\xf3\x44\xc0" and len(data) % 96 == 0
    return len(data) // 96 * 576


def _aac_samples(data: bytes) -> int:
    frames = 0
    while data:
        header = int.from_bytes(data[:7], "big")
        assert header >> 44 == 0xFFF  # ADTS sync
        assert (header >> 38 & 3, header >> 34 & 15, header >> 30 & 7) == (1, 6, 1)  # LC, 24k
        data = data[header >> 13 & 0x1FFF :]
        frames += 1
    return frames * 1024


def _opus_samples(data: bytes) -> int:
    assert data[:4] == b"OggS" and data[28:36] == b"OpusHead"
    assert data[37] == 1 and struct.unpack("<I", data[40:44])[0] == RATE  # mono, 24 kHz in
    last = data.rindex(b"OggS")
    assert data[last + 5] & 4  # the end of the stream
    return struct.unpack("<q", data[last + 6 : last + 14])[0] // 2  # 48 kHz granules


@pytest.mark.parametrize(
    ("audio_format", "samples_of"),
    [
        ("flac", _flac_samples),
        ("mp3", _mp3_samples),
        ("aac", _aac_samples),
        ("opus", _opus_samples),
    ],
)
def test_each_other_format_is_a_file_of_that_length(
    client: OpenAI, audio_format: str, samples_of: Any
) -> None:
    completion = spoken(client, audio_format)
    samples = samples_of(base64.b64decode(completion.choices[0].message.audio.data))
    expected = audio_samples(completion)
    assert expected <= samples < expected + 1024  # whole frames of the codec


def test_a_streamed_spoken_answer_is_accumulated_by_the_sdk(
    client: OpenAI, server: RunningServer
) -> None:
    request: dict[str, Any] = {
        "model": MODEL,
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
        "messages": HELLO,
        "stream_options": {"include_usage": True},
    }
    with client.chat.completions.stream(**request) as stream:
        final = stream.get_final_completion()
    heard = final.choices[0].message.audio
    assert heard is not None and heard.transcript == REPLY
    whole = spoken(client, "pcm16").choices[0].message.audio
    assert base64.b64decode(heard.data) == base64.b64decode(whole.data)
    assert heard.expires_at == whole.expires_at
    assert final.usage is not None and final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.audio_tokens == len(
        base64.b64decode(whole.data)
    ) // (2 * TOKEN_SAMPLES)
    # The order of the chunks, as recordings show it: the role; the transcript, the first
    # piece with the id; the data, the first piece with the role and id again; the expiry,
    # without a finish reason; the usage.
    raw = httpx.post(
        f"{server.base_url}/chat/completions",
        json={**request, "stream": True},
        headers={"authorization": "Bearer sk-test"},
        timeout=10,
    )
    lines = [line[6:] for line in raw.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "refusal": None}
    said = [d for d in deltas if "transcript" in d.get("audio", {})]
    assert said[0] == {"content": None, "audio": {"id": whole.id, "transcript": "Hello"}}
    assert "".join(d["audio"]["transcript"] for d in said) == REPLY
    data = [d for d in deltas if "data" in d.get("audio", {})]
    assert deltas.index(data[0]) == len(said) + 1  # after the whole transcript
    assert {k: v for k, v in data[0].items() if k != "audio"} == {
        "role": "assistant",
        "content": None,
        "refusal": None,
    }
    assert data[0]["audio"]["id"] == whole.id
    assert deltas[-1] == {"audio": {"expires_at": whole.expires_at}}
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_an_audio_model_asked_for_no_audio_is_refused(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO)  # type: ignore[arg-type]
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["message"] == (
        "This model requires that either input content or output modality contain audio."
    )
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "model",
        "invalid_value",
    )


def test_a_stream_is_spoken_in_pcm16_only(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "wav"},
            messages=HELLO,  # type: ignore[arg-type]
            stream=True,
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["message"] == (
        "Unsupported value: 'audio.format' does not support 'wav' when stream=true. "
        "Supported values are: 'pcm16'."
    )
    assert (error["param"], error["code"]) == ("audio.format", "unsupported_value")


def test_the_same_request_is_spoken_in_the_same_bytes(client: OpenAI) -> None:
    # The default generator's answer (no rule matches): the same words, the same audio.
    ask = [{"role": "user", "content": "Describe a lighthouse at dusk in one sentence."}]
    first, second = (spoken(client, "mp3", ask) for _ in range(2))
    assert first.choices[0].message.audio.transcript
    assert first.choices[0].message.audio.data == second.choices[0].message.audio.data
    assert first.choices[0].message.audio.id == second.choices[0].message.audio.id


def test_a_voice_conversation_names_the_earlier_answer_by_its_audio_id(client: OpenAI) -> None:
    first = spoken(client, "wav").choices[0].message.audio
    history = [
        *HELLO,
        {"role": "assistant", "audio": {"id": first.id}},
        {"role": "user", "content": "hello again"},
    ]
    assert spoken(client, "wav", history).choices[0].message.audio.transcript == REPLY
    # The earlier spoken answer is audio in the conversation: a written answer is taken.
    written = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
    assert written.choices[0].message.content == REPLY
    assert written.choices[0].message.audio is None


def test_the_audio_heard_is_counted_ten_tokens_a_second(client: OpenAI) -> None:
    from mockllm import audio  # clips of a known length: a 2 s WAV, a 1.008 s MP3

    def heard(audio_format: str, clip: bytes) -> Any:
        data = base64.b64encode(clip).decode()
        part = {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}
        ask = [{"role": "user", "content": [{"type": "text", "text": "hello"}, part]}]
        return client.chat.completions.create(model=MODEL, messages=ask).usage  # type: ignore[arg-type]

    plain = spoken(client, "pcm16").usage  # "hello" alone: its text tokens
    for audio_format, clip, tokens in (
        ("wav", audio.encode("wav", 2 * RATE), 20),
        ("mp3", audio.encode("mp3", RATE), 11),
    ):
        usage = heard(audio_format, clip)
        assert usage.prompt_tokens_details.audio_tokens == tokens
        assert usage.prompt_tokens_details.text_tokens == plain.prompt_tokens
        assert usage.prompt_tokens == plain.prompt_tokens + tokens


def test_an_audio_model_s_choices_carry_no_logprobs_key(server: RunningServer) -> None:
    # As every recorded answer of gpt-4o-audio-preview writes them, whole and streamed.
    body: dict[str, Any] = {
        "model": MODEL,
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
        "messages": HELLO,
    }
    url, headers = f"{server.base_url}/chat/completions", {"authorization": "Bearer sk-test"}
    whole = httpx.post(url, json=body, headers=headers, timeout=10).json()
    assert list(whole["choices"][0]) == ["index", "message", "finish_reason"]
    streamed = httpx.post(url, json={**body, "stream": True}, headers=headers, timeout=10)
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: {")]
    choices = [c for e in events for c in json.loads(e)["choices"]]
    assert choices and all(list(c) == ["index", "delta", "finish_reason"] for c in choices)
