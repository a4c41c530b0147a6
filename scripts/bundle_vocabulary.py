"""Write mockllm/vocab/cl100k_base.tiktoken.xz, the vocabulary mockllm reads token arrays
of embeddings requests with, and check it.

    .venv/bin/python scripts/bundle_vocabulary.py            # fetch, rebuild, check
    .venv/bin/python scripts/bundle_vocabulary.py PACKAGE.tgz  # from a downloaded package
    .venv/bin/python scripts/bundle_vocabulary.py --check    # check the bundled file only

cl100k_base is the byte-pair vocabulary of OpenAI's tiktoken (MIT licence), the one its
embedding models (text-embedding-3-small, -3-large, ada-002) encode text with. tiktoken
downloads it at run time, which a machine without internet cannot; the npm package
`tiktoken` (dqbd/tiktoken, MIT licence) ships it in its encoders/cl100k_base.json. This
script takes it from there (`npm pack tiktoken@VERSION`), writes it back in tiktoken's own
file format (a `base64-bytes rank` line per token), checks the SHA-256 that tiktoken pins
for that file (tiktoken_ext/openai_public.py), and stores it xz-compressed: 1.68 MB of
text in 0.56 MB.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NPM_PACKAGE = "tiktoken@1.0.22"
MEMBER = "package/encoders/cl100k_base.json"
# tiktoken's expected_hash for cl100k_base.tiktoken, the file it would download.
SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
TOKENS = 100256  # ranks 0 to 100255
OUT = Path(__file__).resolve().parent.parent / "mockllm" / "vocab" / "cl100k_base.tiktoken.xz"


def tiktoken_file(encoder_json: bytes) -> bytes:
    """tiktoken's file from the npm package's JSON: its `bpe_ranks` holds lines of
    `! FIRST-RANK TOKEN TOKEN …`, each token base64 and ranked one after the other."""
    ranks: dict[int, str] = {}
    for line in json.loads(encoder_json)["bpe_ranks"].splitlines():
        if not line:
            continue
        _, first, *tokens = line.split(" ")
        for offset, token in enumerate(tokens):
            ranks[int(first) + offset] = token
    return "".join(f"{ranks[rank]} {rank}\n" for rank in sorted(ranks)).encode()


def fetch(folder: Path) -> Path:
    """The npm package's tarball, through npm's own client."""
    subprocess.run(
        ["npm", "pack", NPM_PACKAGE, "--silent"], cwd=folder, check=True, capture_output=True
    )
    (tarball,) = folder.glob("*.tgz")
    return tarball


def check(text: bytes) -> None:
    digest = hashlib.sha256(text).hexdigest()
    if digest != SHA256:
        sys.exit(f"cl100k_base: SHA-256 {digest}, expected {SHA256} (tiktoken's)")
    lines = text.splitlines()
    if len(lines) != TOKENS or [int(line.split()[1]) for line in lines] != list(range(TOKENS)):
        sys.exit(f"cl100k_base: expected ranks 0 to {TOKENS - 1} in order")


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        check(lzma.decompress(OUT.read_bytes()))
        print(f"{OUT.name}: SHA-256 {SHA256} once decompressed: ok")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(sys.argv[1]) if sys.argv[1:] else fetch(Path(tmp))
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(MEMBER)
            if member is None:
                sys.exit(f"{tarball}: no {MEMBER}")
            text = tiktoken_file(member.read())
    check(text)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_bytes(lzma.compress(text, preset=9 | lzma.PRESET_EXTREME))
    print(f"{OUT.name}: {len(text)} bytes in {OUT.stat().st_size}, SHA-256 {SHA256}: ok")


if __name__ == "__main__":
    main()
