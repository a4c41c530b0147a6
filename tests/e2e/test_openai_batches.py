"""OpenAI's Files and Batch APIs through the openai SDK and raw httpx: a batch's requests are
answered as their endpoint answers them (a rule's reply, the default generator, the
endpoint's refusals), its results written to files in the API's line format, and a bad
input file ends the batch `failed` with the lines named."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import Batch, CreateEmbeddingResponse, FileObject
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tests.conftest import RunningServer, start_server
from tests.e2e.helpers import journal, write_scenario

FROZEN = 1_700_000_000
RULES = """\
version: 1
rules:
  - name: invoices
    match:
      last_user: { contains: "invoice" }
    reply:
      content: "Invoice 42 is paid."
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("openai_batches")
    scenario = write_scenario(folder, RULES)
    running = start_server(
        "--seed", "5", "--freeze-time", str(FROZEN), "--scenarios", str(scenario), tmp_path=folder
    )
    yield running
    running.stop()


def chat_line(custom_id: str, text: str, **fields: Any) -> dict[str, Any]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **fields}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def upload(
    client: OpenAI, lines: list[Any], name: str = "in.jsonl", purpose: str = "batch"
) -> FileObject:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    return client.files.create(file=(name, io.BytesIO(text.encode())), purpose=purpose)  # type: ignore[arg-type]


def run(client: OpenAI, lines: list[Any], endpoint: str = "/v1/chat/completions") -> Batch:
    made = client.batches.create(
        input_file_id=upload(client, lines).id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
    )
    assert made.status == "validating"
    return client.batches.retrieve(made.id)


def results(client: OpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    text = client.files.content(file_id).text
    return {line["custom_id"]: line for line in map(json.loads, text.splitlines())}


def test_an_upload_is_a_file_object_as_the_api_writes_it(server: RunningServer) -> None:
    content = b'{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {}}\n'
    answer = httpx.post(
        server.url + "/v1/files",
        headers={"authorization": "Bearer sk-test"},
        files={"file": ("requests.jsonl", content)},
        data={"purpose": "batch"},
    )
    assert answer.status_code == 200, answer.text
    file = answer.json()
    assert list(file) == [
        "object", "id", "purpose", "filename", "bytes", "created_at", "expires_at", "status",
        "status_details",
    ]  # fmt: skip
    assert file["id"].startswith("file-") and len(file["id"]) == 27
    assert (file["purpose"], file["filename"], file["bytes"]) == (
        "batch",
        "requests.jsonl",
        len(content),
    )
    # a batch file lives 30 days unless expires_after says otherwise
    assert (file["created_at"], file["expires_at"]) == (FROZEN, FROZEN + 30 * 86400)
    FileObject.model_validate(file)
    got = httpx.get(server.url + f"/v1/files/{file['id']}/content")
    assert got.content == content


def test_a_batch_answers_each_request_as_its_endpoint_does(
    client: OpenAI, server: RunningServer
) -> None:
    lines = [chat_line("rule", "Where is the invoice?"), chat_line("free", "Tell me a story")]
    lines.append(chat_line("refused", "hi", temperature=3))
    batch = run(client, lines)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 2)
    assert batch.request_counts.failed == 1
    assert batch.model == "gpt-4o-mini-2024-07-18"  # as its answers name it
    done = results(client, batch.output_file_id)
    assert set(done) == {"rule", "free"}
    replies = {k: ChatCompletion.model_validate(v["response"]["body"]) for k, v in done.items()}
    assert replies["rule"].choices[0].message.content == "Invoice 42 is paid."
    # the same request to the endpoint itself gets the same answer (same seed)
    direct = client.chat.completions.create(**lines[1]["body"])
    assert replies["free"].choices[0].message.content == direct.choices[0].message.content
    assert batch.usage is not None
    assert batch.usage.input_tokens == sum(r.usage.prompt_tokens for r in replies.values())  # type: ignore[union-attr]
    assert batch.usage.output_tokens == sum(r.usage.completion_tokens for r in replies.values())  # type: ignore[union-attr]
    failed = results(client, batch.error_file_id)["refused"]
    assert failed["response"]["status_code"] == 400
    assert failed["response"]["body"]["error"]["param"] == "temperature"
    assert failed["error"] is None
    # each request is in the journal, as the endpoint answered it
    entries = {e["id"]: e for e in journal(server.url)}
    for line in [*done.values(), failed]:
        entry = entries[line["response"]["request_id"]]
        assert (entry["path"], entry["status"]) == (
            "/v1/chat/completions",
            line["response"]["status_code"],
        )


def test_result_lines_are_written_as_the_api_writes_them(client: OpenAI) -> None:
    # U+2028 inside a line's JSON string does not end the line (Windows line ends do)
    lines = [json.dumps(chat_line("ü-1", "Where is the invoice? ünï"), ensure_ascii=False)]
    lines.append(json.dumps(chat_line("2", "a\u2028b"), ensure_ascii=False) + "\r")
    batch = run(client, lines)
    assert batch.output_file_id is not None
    raw = client.files.content(batch.output_file_id).content
    assert raw.endswith(b"\n") and raw.count(b"\n") == 2
    raw = raw.split(b"\n")[0]
    assert raw.startswith(b'{"id": "batch_req_') and b', "custom_id": "\\u00fc-1", ' in raw
    line = json.loads(raw)
    assert list(line) == ["id", "custom_id", "response", "error"]
    assert batch.request_counts is not None and batch.request_counts.completed == 2
    assert list(line["response"]) == ["status_code", "request_id", "body"]
    # 32 hex digits after the prefix, the first eight the time it was made, as the API's
    assert len(line["id"]) == len("batch_req_") + 32 and line["id"][10:18] == f"{FROZEN:08x}"
    assert batch.id.startswith("batch_") and batch.id[6:14] == f"{FROZEN:08x}"
    output = client.files.retrieve(batch.output_file_id)
    assert (output.purpose, output.filename) == ("batch_output", f"{batch.id}_output.jsonl")


def test_responses_and_embeddings_batches(client: OpenAI) -> None:
    responses = run(
        client,
        [
            {
                "custom_id": "r1",
                "method": "POST",
                "url": "/v1/responses",
                "body": {"model": "gpt-4o-mini", "input": "Where is the invoice?"},
            }
        ],
        "/v1/responses",
    )
    body = results(client, responses.output_file_id)["r1"]["response"]["body"]
    assert Response.model_validate(body).output_text == "Invoice 42 is paid."
    embeddings = run(
        client,
        [
            {
                "custom_id": "e1",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": "text-embedding-3-small", "input": ["a", "b"]},
            }
        ],
        "/v1/embeddings",
    )
    vectors = CreateEmbeddingResponse.model_validate(
        results(client, embeddings.output_file_id)["e1"]["response"]["body"]
    )
    assert [len(d.embedding) for d in vectors.data] == [1536, 1536]
    assert (
        embeddings.usage is not None
        and embeddings.usage.input_tokens == vectors.usage.prompt_tokens
    )


def test_a_bad_input_file_fails_the_batch_naming_each_line(client: OpenAI) -> None:
    bad_url = {**chat_line("b", "x"), "url": "/v1/embeddings"}
    no_method = {k: v for k, v in chat_line("c", "x").items() if k != "method"}
    batch = run(client, [chat_line("a", "x"), "{not json", bad_url, chat_line("a", "y"), no_method])
    assert batch.status == "failed" and batch.failed_at == FROZEN
    assert batch.output_file_id is None and batch.errors is not None
    found = [(e.code, e.line, e.param) for e in batch.errors.data or []]
    assert found == [
        ("invalid_json_line", 2, None),
        ("url_mismatch", 3, "url"),
        ("duplicate_custom_id", 4, "custom_id"),
        ("missing_required_parameter", 5, "method"),
    ]
    empty = run(client, ["", "   "])
    assert [(e.code, e.line) for e in empty.errors.data or []] == [("empty_file", None)]  # type: ignore[union-attr]


def test_requests_for_two_models_fail_the_batch(client: OpenAI) -> None:
    other = chat_line("b", "x")
    other["body"]["model"] = "gpt-4o"
    batch = run(client, [chat_line("a", "x"), other])
    assert [(e.code, e.line) for e in batch.errors.data or []] == [("model_mismatch", 2)]  # type: ignore[union-attr]


def test_a_cancelled_batch_ends_cancelled(client: OpenAI) -> None:
    made = client.batches.create(
        input_file_id=upload(client, [chat_line("a", "x")]).id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
    )
    cancelling = client.batches.cancel(made.id)
    assert (cancelling.status, cancelling.cancelling_at) == ("cancelling", FROZEN)
    cancelled = client.batches.retrieve(made.id)
    assert (cancelled.status, cancelled.output_file_id) == ("cancelled", None)
    with pytest.raises(openai.ConflictError, match="Cannot cancel a batch with status 'cancelled'"):
        client.batches.cancel(made.id)


def test_batches_are_listed_newest_first_and_paged(client: OpenAI) -> None:
    first = run(client, [chat_line("a", "x")])
    second = run(client, [chat_line("a", "y")])
    page = client.batches.list(limit=1)
    assert [b.id for b in page.data] == [second.id] and page.has_more
    after = client.batches.list(limit=1, after=second.id)
    assert [b.id for b in after.data] == [first.id]
    with pytest.raises(openai.BadRequestError, match="Expected an integer between 1 and 100"):
        client.batches.list(limit=101)
    with pytest.raises(openai.BadRequestError, match="Expected an integer between 1 and 10000"):
        client.files.list(limit=10_001)


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"input_file_id": "file-nope"}, 404, "No such File object: file-nope"),
        ({"endpoint": "/v1/messages"}, 400, "Invalid value: '/v1/messages'. Supported values"),
        ({"completion_window": "1h"}, 400, "Invalid value: '1h'. Supported values are: '24h'."),
        ({"input_file_id": None}, 400, "Missing required parameter: 'input_file_id'."),
        ({"priority": 1}, 400, "Unknown parameter: 'priority'."),
        ({"metadata": {"k": 1}}, 400, "Invalid type for 'metadata.k'"),
    ],
)
def test_create_refusals(
    client: OpenAI, server: RunningServer, fields: dict[str, Any], status: int, message: str
) -> None:
    body: dict[str, Any] = {
        "input_file_id": upload(client, [chat_line("a", "x")]).id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    answer = httpx.post(server.url + "/v1/batches", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["message"].startswith(message)


def test_a_file_of_another_purpose_is_not_a_batch_input(client: OpenAI) -> None:
    notes = upload(client, ["{}"], purpose="user_data")
    with pytest.raises(openai.BadRequestError, match="must have purpose 'batch'"):
        client.batches.create(
            input_file_id=notes.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(
        openai.BadRequestError, match="Not allowed to download files of purpose: user_data"
    ):
        client.files.content(notes.id)


def test_upload_refusals(client: OpenAI, server: RunningServer) -> None:
    with pytest.raises(
        openai.BadRequestError, match="Invalid file format for Batch API. Must be .jsonl"
    ):
        upload(client, ["{}"], name="requests.txt")
    with pytest.raises(openai.BadRequestError, match="Invalid value: 'training'"):
        upload(client, ["{}"], purpose="training")
    answer = httpx.post(
        server.url + "/v1/files", files={"notfile": ("a.jsonl", b"{}")}, data={"purpose": "batch"}
    )
    assert answer.json()["error"]["message"] == "Missing required parameter: 'file'."
    answer = httpx.post(server.url + "/v1/files", json={"purpose": "batch"})
    assert answer.status_code == 400 and "multipart/form-data" in answer.json()["error"]["message"]


def test_files_are_listed_by_purpose_then_deleted(client: OpenAI) -> None:
    kept = upload(client, ["{}"], purpose="evals")
    listed = client.files.list(purpose="evals")
    assert [f.id for f in listed.data] == [kept.id]
    assert client.files.retrieve(kept.id) == kept
    deleted = client.files.delete(kept.id)
    assert (deleted.id, deleted.deleted) == (kept.id, True)
    with pytest.raises(openai.NotFoundError) as refused:
        client.files.retrieve(kept.id)
    assert refused.value.body == {  # type: ignore[comparison-overlap]
        "message": f"No such File object: {kept.id}",
        "type": "invalid_request_error",
        "param": "id",
        "code": None,
    }
    with pytest.raises(openai.NotFoundError, match="No batch found with id 'batch_nope'"):
        client.batches.retrieve("batch_nope")


def test_anthropics_files_api_answers_on_the_same_paths(server: RunningServer) -> None:
    """With `anthropic-version` (the Anthropic SDK's requests), /v1/files is Anthropic's Files
    API: its metadata, its list, its errors; an uploaded file's bytes are not downloadable,
    as the API answers."""
    from anthropic import Anthropic, BadRequestError, NotFoundError
    from anthropic.types import DeletedFile, FileMetadata

    with Anthropic(base_url=server.url, api_key="sk-ant-x", max_retries=0) as claude:
        made = claude.files.upload(file=("notes.txt", b"hello", "text/plain"))
        assert isinstance(made, FileMetadata)
        assert made.id.startswith("file_01") and len(made.id) == len("file_01") + 22
        assert (made.filename, made.mime_type, made.size_bytes) == ("notes.txt", "text/plain", 5)
        assert (made.created_at.timestamp(), made.downloadable) == (FROZEN, False)
        pdf = claude.files.upload(file=("paper.pdf", b"%PDF-1.4"))
        assert pdf.mime_type == "application/pdf"  # from the name, as the SDK sends none
        listed = claude.files.list(limit=1)
        assert [f.id for f in listed.data] == [pdf.id] and listed.has_more
        assert claude.files.retrieve_metadata(made.id) == made
        with pytest.raises(BadRequestError, match="File is not downloadable"):
            claude.files.download(made.id)
        gone = claude.files.delete(made.id)
        assert isinstance(gone, DeletedFile) and (gone.id, gone.type) == (made.id, "file_deleted")
        with pytest.raises(NotFoundError) as missing:
            claude.files.retrieve_metadata(made.id)
        assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    # an OpenAI client on the same server sees only its own files
    with OpenAI(base_url=server.base_url, api_key="sk-x") as client:
        assert made.id not in [f.id for f in client.files.list().data]


def test_a_file_sent_in_parts_becomes_a_file(client: OpenAI, tmp_path: Any) -> None:
    """The SDK's upload_file_chunked: an upload, its parts, then the file they make (in the
    order part_ids gives), usable as a batch's input."""
    path = tmp_path / "requests.jsonl"
    content = "".join(
        json.dumps(chat_line(f"r{i}", f"Where is invoice {i}?")) + "\n" for i in range(4)
    )
    path.write_text(content)
    done = client.uploads.upload_file_chunked(
        file=path, mime_type="text/jsonl", purpose="batch", part_size=100
    )
    assert (done.status, done.object, done.bytes) == ("completed", "upload", len(content))
    assert done.id.startswith("upload_") and done.expires_at == FROZEN + 3600
    assert done.file is not None and done.file.filename == "requests.jsonl"
    assert client.files.content(done.file.id).text == content
    batch = client.batches.create(
        input_file_id=done.file.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert client.batches.retrieve(batch.id).request_counts.completed == 4  # type: ignore[union-attr]


def test_an_upload_is_completed_only_with_its_bytes(client: OpenAI) -> None:
    made = client.uploads.create(
        bytes=6, filename="a.jsonl", mime_type="text/jsonl", purpose="batch"
    )
    first = client.uploads.parts.create(made.id, data=b"abc")
    second = client.uploads.parts.create(made.id, data=b"def")
    assert (first.object, first.upload_id) == ("upload.part", made.id)
    with pytest.raises(openai.BadRequestError, match="the upload was created with bytes=6"):
        client.uploads.complete(made.id, part_ids=[first.id])
    with pytest.raises(openai.BadRequestError, match="md5"):
        client.uploads.complete(made.id, part_ids=[first.id, second.id], md5="0" * 32)
    done = client.uploads.complete(made.id, part_ids=[second.id, first.id])
    assert done.file is not None and client.files.content(done.file.id).content == b"defabc"
    with pytest.raises(openai.BadRequestError, match="is completed"):
        client.uploads.parts.create(made.id, data=b"x")
    cancelled = client.uploads.cancel(
        client.uploads.create(
            bytes=1, filename="b.jsonl", mime_type="text/jsonl", purpose="batch"
        ).id
    )
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.NotFoundError, match="No such Upload object: upload_nope"):
        client.uploads.cancel("upload_nope")
    with pytest.raises(openai.BadRequestError, match="Invalid file format for Batch API"):
        client.uploads.create(bytes=1, filename="b.txt", mime_type="text/plain", purpose="batch")
