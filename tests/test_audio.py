"""The audio bytes of a spoken answer: how long a transcript takes, and each format's
container read back field by field (checksums recomputed bit by bit here)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from mockllm import audio

RATE = 24_000


def _crc(data: bytes, poly: int, width: int) -> int:
    """A CRC computed bit by bit (MSB first, no reflection, zero start), as FLAC and Ogg
    define theirs."""
    crc, top, mask = 0, 1 << (width - 1), (1 << width) - 1
    for byte in data:
        crc ^= byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
    return crc


def test_a_transcript_takes_a_third_of_a_second_a_word_in_whole_tokens() -> None:
    eleven = "Hello there! How can I assist you with your test today?"
    samples = audio.samples_for(eleven)
    assert samples % audio.TOKEN_SAMPLES == 0
    assert samples / RATE == pytest.approx(11 * 0.35, abs=0.05)  # recorded: 3.7 s
    assert audio.audio_tokens(samples) == samples // 1_200  # 20 tokens a second
    assert audio.samples_for("") == 1_200  # one token at least
    assert audio.samples_for("Hi") == 1_200 * 7
    assert audio.samples_for("你好世界") == audio.samples_for("hello world")  # 2 characters a word


def test_pcm16_is_a_quiet_steady_tone() -> None:
    pcm = audio.encode("pcm16", 2_400)
    assert len(pcm) == 4_800
    samples = struct.unpack("<2400h", pcm)
    assert max(samples) == 512 and min(samples) == -512
    assert samples[:120] == samples[120:240]  # 200 Hz
    assert audio.encode("pcm16", 2_400) is pcm  # one length, one set of bytes


def test_wav_is_a_riff_header_then_the_samples() -> None:
    wav = audio.encode("wav", 1_200)
    assert wav[:4] == b"RIFF" and struct.unpack("<I", wav[4:8])[0] == len(wav) - 8
    assert wav[8:16] == b"WAVEfmt " and struct.unpack("<I", wav[16:20])[0] == 16
    assert struct.unpack("<HHIIHH", wav[20:36]) == (1, 1, RATE, 2 * RATE, 2, 16)
    assert wav[36:40] == b"data" and struct.unpack("<I", wav[40:44])[0] == 2_400
    assert wav[44:] == audio.encode("pcm16", 1_200)


def test_flac_frames_are_verbatim_with_their_checksums() -> None:
    samples = 6_000  # a full block of 4800 and a last one of 1200
    flac = audio.encode("flac", samples)
    assert flac[:4] == b"fLaC" and flac[4:8] == b"\x80\x00\x00\x22"  # last block: STREAMINFO
    info = flac[8:42]
    assert struct.unpack(">HH", info[:4]) == (4_800, 4_800)
    fields = int.from_bytes(info[10:18], "big")
    assert fields >> 44 == RATE and fields >> 41 & 7 == 0 and fields >> 36 & 31 == 15
    assert fields & (1 << 36) - 1 == samples
    pcm = audio.encode("pcm16", samples)
    assert info[18:] == hashlib.md5(pcm).digest()
    decoded, at = b"", 42
    for number, size in enumerate((4_800, 1_200)):
        header = flac[at : at + 7]
        assert header[:4] == b"\xff\xf8\x77\x08" and header[4] == number
        assert struct.unpack(">H", header[5:7])[0] == size - 1
        assert flac[at + 7] == _crc(header, 0x07, 8)
        body_end = at + 8 + 1 + 2 * size
        assert flac[at + 8] == 0x02  # a verbatim subframe
        frame_crc = struct.unpack(">H", flac[body_end : body_end + 2])[0]
        assert frame_crc == _crc(flac[at:body_end], 0x8005, 16)
        decoded += flac[at + 9 : body_end]
        at = body_end + 2
    assert at == len(flac)
    assert decoded == struct.pack(f">{samples}h", *struct.unpack(f"<{samples}h", pcm))


def test_flac_numbers_its_frames_as_utf8_does() -> None:
    from mockllm.audio import _utf8_number

    assert _utf8_number(5) == b"\x05"
    assert _utf8_number(0x7FF) == "\u07ff".encode()
    assert _utf8_number(0x10000) == "\U00010000".encode()
    assert _utf8_number(1 << 35) == b"\xfe\xa0\x80\x80\x80\x80\x80"  # 36 bits: FLAC's own


def test_mp3_is_silent_mpeg2_layer3_frames() -> None:
    mp3 = audio.encode("mp3", 1_200)
    assert len(mp3) == 3 * 96  # 576 samples a frame
    for at in range(0, len(mp3), 96):
        assert mp3[at : at + 4] == b"\xff\xf3\x44\xc0"  # 32 kbit/s, 24 kHz, mono, no CRC
        assert mp3[at + 4 : at + 96] == bytes(92)


def test_aac_is_adts_frames_of_silent_aac_lc() -> None:
    aac = audio.encode("aac", 2_400)
    header = int.from_bytes(aac[:7], "big")
    assert header >> 44 == 0xFFF and header >> 40 & 1 == 1  # sync; no CRC
    assert (header >> 38 & 3, header >> 34 & 15, header >> 30 & 7) == (1, 6, 1)  # LC 24k mono
    length = header >> 13 & 0x1FFF
    assert len(aac) == 3 * length  # 1024 samples a frame
    assert aac[length - 1] & 0b111 == 0b111  # the END element closes the raw data block


def test_opus_is_an_ogg_stream_with_its_checksums() -> None:
    samples = 2 * RATE + 1_200  # 2.05 s: 103 packets of 20 ms over three pages
    ogg = audio.encode("opus", samples)
    pages, at = [], 0
    while at < len(ogg):
        assert ogg[at : at + 5] == b"OggS\0"
        count = ogg[at + 26]
        body = sum(ogg[at + 27 : at + 27 + count])
        end = at + 27 + count + body
        page = ogg[at:end]
        crc = struct.unpack("<I", page[22:26])[0]
        assert crc == _crc(page[:22] + b"\0\0\0\0" + page[26:], 0x04C11DB7, 32)
        pages.append(page)
        at = end
    head, tags = pages[0], pages[1]
    assert head[5] == 2 and head[28:36] == b"OpusHead"
    assert struct.unpack("<BBHIhB", head[36:47]) == (1, 1, 0, RATE, 0, 0)
    assert tags[28:36] == b"OpusTags"
    assert [p[5] for p in pages[2:]] == [0, 0, 4]  # the last ends the stream
    assert struct.unpack("<q", pages[-1][6:14])[0] == 2 * samples  # 48 kHz granules
    packets = sum(p[26] for p in pages[2:])
    assert packets == 103 and pages[2][27 + packets % 50 :].count(b"\xf8\xff\xfe") == 50


def test_an_unknown_format_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown audio format 'ogg'; valid: wav, aac"):
        audio.encode("ogg", 1_200)
