"""Audio bytes for a spoken answer: so many samples of 24 kHz mono 16-bit audio, in the
container of each output format the Chat Completions API offers.

The samples are a quiet, steady 200 Hz tone (about -36 dBFS) for `pcm16`, `wav` and `flac`,
and silence for the formats whose encoding is lossy (`mp3`, `aac`, `opus`): every file is
what a standard decoder accepts, of the length asked for. How long a transcript takes to
say (`samples_for`) and how many audio tokens that is (`audio_tokens`) are decided here too,
so the bytes and the usage always agree.

Example:
    n = samples_for("Hello there!")      # 0.7 s: 16800 samples
    wav = encode("wav", n)              # a RIFF file of 44 + 2 * n bytes
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from functools import lru_cache

RATE = 24_000  # samples a second, as the API's pcm16 and wav are
TOKEN_SAMPLES = 1_200  # 50 ms of audio is an audio output token (20 a second)
SECONDS_PER_WORD = 0.35  # recordings: 11 words in 3.7 s, 43 words in 15 s
FORMATS = ("wav", "aac", "mp3", "flac", "opus", "pcm16")

_PERIOD = 120  # samples of one period of the tone (200 Hz at 24 kHz)
_AMPLITUDE = 512
_TONE = struct.pack(
    f"<{_PERIOD}h",
    *(round(_AMPLITUDE * math.sin(2 * math.pi * i / _PERIOD)) for i in range(_PERIOD)),
)
_TONE_BE = struct.pack(f">{_PERIOD}h", *struct.unpack(f"<{_PERIOD}h", _TONE))


def _is_wide(char: str) -> bool:
    """A CJK ideograph, kana or hangul syllable: a character that is said as a syllable."""
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF


def samples_for(transcript: str) -> int:
    """How many samples saying `transcript` takes: 0.35 s a word (a CJK character, kana or
    hangul syllable half a word), in whole audio tokens of 50 ms, one token at least."""
    words = len(transcript.split())
    if not transcript.isascii():
        wide = sum(1 for char in transcript if _is_wide(char))
        words += math.ceil(wide / 2) - (1 if wide and words else 0)
    tokens = max(1, math.ceil(words * SECONDS_PER_WORD * RATE / TOKEN_SAMPLES))
    return tokens * TOKEN_SAMPLES


def audio_tokens(samples: int) -> int:
    """The audio output tokens of so many samples (20 a second)."""
    return math.ceil(samples / TOKEN_SAMPLES)


def pcm16(samples: int) -> bytes:
    """The raw samples: 16-bit little-endian, mono, no header."""
    return (_TONE * (samples // _PERIOD + 1))[: 2 * samples]


@lru_cache(maxsize=8)  # a few lengths at a time: a long answer is megabytes
def encode(audio_format: str, samples: int) -> bytes:
    """The bytes of so many samples in one of `FORMATS` (the same length gives the same
    bytes, so answers of one length share them)."""
    if audio_format == "pcm16":
        return pcm16(samples)
    if audio_format == "wav":
        return _wav(samples)
    if audio_format == "flac":
        return _flac(samples)
    if audio_format == "mp3":
        return _mp3(samples)
    if audio_format == "aac":
        return _aac(samples)
    if audio_format == "opus":
        return _opus(samples)
    raise ValueError(f"unknown audio format {audio_format!r}; valid: {', '.join(FORMATS)}")


@lru_cache(maxsize=8)  # a few lengths at a time: a long answer is megabytes
def encode_base64(audio_format: str, samples: int) -> str:
    """`encode`, in base64, as the API sends audio in JSON."""
    return base64.b64encode(encode(audio_format, samples)).decode("ascii")


# --- WAV: a RIFF header and the samples ------------------------------------------------------


def _wav(samples: int) -> bytes:
    data = pcm16(samples)
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)  # PCM, mono, 16-bit
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


# --- FLAC: STREAMINFO, then frames of one verbatim subframe -----------------------------------

_FLAC_BLOCK = 4_800  # 0.2 s: a whole number of the tone's periods, so full frames share data


def _crc_table(poly: int, width: int) -> tuple[int, ...]:
    top, mask = 1 << (width - 1), (1 << width) - 1
    table = []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & top else crc << 1
        table.append(crc & mask)
    return tuple(table)


_CRC8 = _crc_table(0x07, 8)
_CRC16 = _crc_table(0x8005, 16)
_CRC32 = _crc_table(0x04C11DB7, 32)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes, crc: int = 0) -> int:
    table = _CRC16
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def _crc32(data: bytes) -> int:
    crc, table = 0, _CRC32
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def _utf8_number(n: int) -> bytes:
    """A frame number as FLAC codes it: UTF-8's variable length, extended to 36 bits."""
    if n < 0x80:
        return bytes((n,))
    more = 1  # continuation bytes: the lead byte keeps 6 - more bits
    while n >= 1 << (5 * more + 6):
        more += 1
    lead = (0xFF << (7 - more)) & 0xFF
    tail = (0x80 | (n >> (6 * i)) & 0x3F for i in range(more - 1, -1, -1))
    return bytes((lead | n >> (6 * more), *tail))


def _flac(samples: int) -> bytes:
    raw = pcm16(samples)
    block = min(_FLAC_BLOCK, samples)
    info = struct.pack(">HH", block, block) + bytes(6)  # the frame sizes are not given
    info += struct.pack(">Q", (RATE << 44) | (0 << 41) | (15 << 36) | samples)
    info += hashlib.md5(raw).digest()
    out = [b"fLaC", b"\x80" + len(info).to_bytes(3, "big"), info]  # the last metadata block
    big_endian = (_TONE_BE * (samples // _PERIOD + 1))[: 2 * samples]
    # Every full block holds the same samples: their subframe's CRC is worked out once.
    full = _crc16(b"\x02" + big_endian[: 2 * _FLAC_BLOCK])
    for number, start in enumerate(range(0, samples, _FLAC_BLOCK)):
        size = min(_FLAC_BLOCK, samples - start)
        # Sync, fixed blocks; the block size in 16 bits after the number, 24 kHz; mono,
        # 16 bits a sample.
        header = b"\xff\xf8\x77\x08" + _utf8_number(number) + struct.pack(">H", size - 1)
        header += bytes((_crc8(header),))
        subframe = b"\x02" + big_endian[2 * start : 2 * (start + size)]  # verbatim
        if size == _FLAC_BLOCK:
            crc = _crc16_zeros(_crc16(header), len(subframe)) ^ full
        else:
            crc = _crc16(subframe, _crc16(header))
        out += (header, subframe, struct.pack(">H", crc))
    return b"".join(out)


@lru_cache(maxsize=8)
def _zero_shift(length: int) -> tuple[int, ...]:
    """Where each bit of a CRC-16 register goes through `length` zero bytes."""
    return tuple(_crc16(bytes(length), 1 << bit) for bit in range(16))


def _crc16_zeros(crc: int, length: int) -> int:
    """The CRC-16 register `crc` run through `length` zero bytes (the CRC is linear: the
    CRC of a header and a body is this of the header's, XOR the body's own)."""
    shift, out = _zero_shift(length), 0
    for bit in range(16):
        if crc >> bit & 1:
            out ^= shift[bit]
    return out


# --- MP3: silent MPEG-2 Layer III frames (24 kHz, mono, 32 kbit/s) ---------------------------

_MP3_SAMPLES = 576  # a granule: one to a frame at MPEG-2's rates
# Sync, MPEG-2, layer III, no CRC; 32 kbit/s, 24 kHz, no padding; mono. 72 * 32000 / 24000
# = 96 bytes a frame; side information all zero: no main data, so silence.
_MP3_FRAME = b"\xff\xf3\x44\xc0" + bytes(92)


def _mp3(samples: int) -> bytes:
    return _MP3_FRAME * math.ceil(samples / _MP3_SAMPLES)


# --- AAC: ADTS frames of silent AAC-LC (24 kHz, mono) ----------------------------------------

_AAC_SAMPLES = 1_024


def _aac_frame() -> bytes:
    # One single channel element with no scale factor bands (so no spectral data: silence),
    # then the END element: id 0 (SCE), tag 0, global gain 100, ics_info of a long window
    # with max_sfb 0, no pulse, TNS or gain control data, then id 7 (END).
    bits = "000" + "0000" + f"{100:08b}" + "0" + "00" + "0" + "000000" + "0" + "000" + "111"
    payload = int(bits, 2).to_bytes(len(bits) // 8, "big")
    length = 7 + len(payload)
    # Sync, MPEG-4, no CRC; AAC LC, 24 kHz (index 6), mono; the frame's length; buffer
    # fullness 0x7FF (variable rate); one raw data block.
    header = (0xFFF << 44) | (1 << 40) | (1 << 38) | (6 << 34) | (1 << 30)
    header |= (length << 13) | (0x7FF << 2)
    return header.to_bytes(7, "big") + payload


_AAC_FRAME = _aac_frame()


def _aac(samples: int) -> bytes:
    return _AAC_FRAME * math.ceil(samples / _AAC_SAMPLES)


# --- Opus: an Ogg stream of OpusHead, OpusTags and silent 20 ms packets ----------------------

_OPUS_SILENCE = b"\xf8\xff\xfe"  # TOC: CELT-only, fullband, 20 ms, mono; a silent frame
_OPUS_PACKET = 960  # samples at 48 kHz, the rate Opus granule positions count in
_OPUS_PER_PAGE = 50  # packets a page (one second)
_SERIAL = 0x6D6F636B


def _ogg_page(kind: int, granule: int, sequence: int, packets: list[bytes]) -> bytes:
    """One Ogg page (`kind`: 2 the first, 4 the last) holding whole packets."""
    lacing = b"".join(b"\xff" * (len(p) // 255) + bytes((len(p) % 255,)) for p in packets)
    head = b"OggS\0" + struct.pack("<BqII", kind, granule, _SERIAL, sequence)
    body = bytes((len(lacing),)) + lacing + b"".join(packets)
    return head + struct.pack("<I", _crc32(head + b"\0\0\0\0" + body)) + body


def _opus(samples: int) -> bytes:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 0, RATE, 0, 0)  # no pre-skip
    vendor = b"mockllm"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [_ogg_page(2, 0, 0, [head]), _ogg_page(0, 0, 1, [tags])]
    end = samples * 2  # the last sample, at 48 kHz
    count = math.ceil(end / _OPUS_PACKET)
    for first in range(0, count, _OPUS_PER_PAGE):
        last = min(first + _OPUS_PER_PAGE, count)
        is_last = last == count
        granule = end if is_last else last * _OPUS_PACKET
        page = _ogg_page(4 if is_last else 0, granule, len(pages), [_OPUS_SILENCE] * (last - first))
        pages.append(page)
    return b"".join(pages)
