"""The documentation agrees with the code: schema keys, links, and examples that run.

Every example of README.md and docs/*.md is evidence: tests/test_docs_examples.py (and
tests/test_docs_examples_gateways.py) run each page top to bottom and compare what its
commands and snippets print with what the page shows. How a page marks its blocks is
written at the top of tests/doc_examples.py; in short:

- a ```console block is a transcript (`$ command`, then what it prints): it always runs;
- a block whose first line is `# path/file.ext` is a file, written where the run is;
- `<!-- doc: serve -->`, `<!-- doc: serve mockllm serve ARGS -->`, `<!-- doc: sh -->`,
  `<!-- doc: python -->` (the next block without language, or `text`, is its output),
  `<!-- doc: js needs=PACKAGE -->`, `<!-- doc: log -->` and `<!-- doc: skip REASON -->`
  before a block say what to do with it; a sh, python or js block without one fails;
- ids, times, dates and ports are placeholders (`chatcmpl-<id>`, `req_<id>`, `<time>`,
  port 8000), and `[...]` stands for any text in a line or, alone, for any lines.

This file checks the rest: the scenario reference against the JSON Schema, links and their
anchors, the pytest page's examples as a project, the CI page, and the request-path
diagram.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from mockllm.app import create_app
from mockllm.cli import main
from mockllm.config import ServerConfig
from mockllm.errors import ScenarioError
from mockllm.loader import load_text, scenario_schema
from tests.conftest import QUIET_PLUGINS
from tests.doc_examples import free_port, line_matches, normalize

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.y*ml"))

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
NAMED = re.compile(r"# (\S+\.(?:py|ya?ml|json))\n")
INDENTED_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)


def fenced_blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line, language, dedented text) of every fenced block of a page, indented in a list
    item or not."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(2), textwrap.dedent(m.group(3)))
        for m in INDENTED_FENCE.finditer(text)
    ]


def shown_block(path: Path, start: str) -> str:
    """The one fenced block of a page that starts with `start`, without its fences."""
    found = [text.strip("\n") for _, _, text in fenced_blocks(path) if text.startswith(start)]
    assert len(found) == 1, f"{path.name}: {len(found)} blocks start with {start!r}"
    return found[0]


def code_blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced block of a Markdown file."""
    return FENCE.findall(path.read_text())


def named_blocks(path: Path) -> dict[str, str]:
    """Blocks whose first line is `# some/file.ext`, by that file name."""
    named: dict[str, str] = {}
    for _, text in code_blocks(path):
        match = NAMED.match(text)
        if match:
            assert match.group(1) not in named, f"{path.name}: {match.group(1)} shown twice"
            named[match.group(1)] = text
    return named


# --- the scenario reference and the JSON Schema ---------------------------------------------

SUBSCHEMA_KEYWORDS = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
SUBSCHEMA_LISTS = ("oneOf", "anyOf", "allOf", "prefixItems")


def schema_keys(node: Any, found: set[str] | None = None) -> set[str]:
    """Property names of a JSON Schema, through `properties`, `$defs` and nested schemas."""
    found = set() if found is None else found
    if not isinstance(node, dict):
        return found
    for name, sub in (node.get("properties") or {}).items():
        found.add(name)
        schema_keys(sub, found)
    for sub in (node.get("$defs") or {}).values():
        schema_keys(sub, found)
    for sub in (node.get("patternProperties") or {}).values():
        schema_keys(sub, found)
    for keyword in SUBSCHEMA_KEYWORDS:
        schema_keys(node.get(keyword), found)
    for keyword in SUBSCHEMA_LISTS:
        for sub in node.get(keyword) or ():
            schema_keys(sub, found)
    return found


def key_table_entries(markdown: str) -> set[str]:
    """The `key`s in the first column of tables whose first header cell is `key`."""
    entries: set[str] = set()
    header: list[str] | None = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif header[0] == "key" and not set(cells[0]) <= set("-: "):
            entries.update(re.findall(r"`([^`]+)`", cells[0]))
    return entries


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def test_the_cli_prints_the_loaders_schema(schema: dict[str, Any]):
    assert schema == scenario_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_schema_key_is_documented(schema: dict[str, Any]):
    reference = (DOCS / "scenarios.md").read_text()
    keys = schema_keys(schema)
    assert {"rules", "match", "reply", "sequence", "fault", "latency"} <= keys
    missing = sorted(k for k in keys if f"`{k}`" not in reference)
    assert not missing, f"keys of the schema that docs/scenarios.md never names: {missing}"


def test_every_documented_key_is_in_the_schema(schema: dict[str, Any]):
    documented = key_table_entries((DOCS / "scenarios.md").read_text())
    assert len(documented) > 30, "docs/scenarios.md lost its key tables"
    unknown = sorted(documented - schema_keys(schema))
    assert not unknown, f"docs/scenarios.md documents keys the schema does not have: {unknown}"


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_bundled_scenarios_validate_against_the_schema(schema: dict[str, Any], path: Path):
    validator = jsonschema.Draft202012Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(yaml.safe_load(path.read_text()))
    ]
    assert not errors, errors


def test_there_are_bundled_scenarios():
    assert len(SCENARIO_FILES) >= 5


# --- links ----------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, re.M)}


def local_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text())
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


MARKDOWN = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_to_files_that_exist(page: Path):
    broken = []
    for target in local_links(page):
        file = target.split("#", 1)[0]
        if file and not (page.parent / file).exists():
            broken.append(target)
    assert not broken, f"{page.name}: links to missing files: {broken}"


def test_readme_links_the_docs():
    linked = {t.split("#", 1)[0] for t in local_links(ROOT / "README.md")}
    assert "docs/scenarios.md" in linked and "docs/getting-started.md" in linked


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_anchors_of_links_exist(page: Path):
    name = page.name
    broken = []
    for target in local_links(page):
        file, _, anchor = target.partition("#")
        if not anchor or (file and not file.endswith(".md")):
            continue
        if anchor not in anchors(page.parent / file if file else page):
            broken.append(target)
    assert not broken, f"{name}: links to missing headings: {broken}"


# --- docs/pytest.md: its examples are one project, run with the plugin ----------------------


def test_pytest_doc_examples_pass(pytester: pytest.Pytester):
    blocks = named_blocks(DOCS / "pytest.md")
    assert {"tests/test_refund.py", "tests/conftest.py", "tests/test_marker.py"} <= set(blocks)
    for name, text in blocks.items():
        target = pytester.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    tests = sum(len(re.findall(r"^def test_", t, re.M)) for t in blocks.values())
    # Two more tests fail as the page's "A failed assertion shows the journal" shows.
    (pytester.path / "tests" / "test_failing_assertions.py").write_text(FAILING_ASSERTIONS)
    result = pytester.runpytest_subprocess(
        *QUIET_PLUGINS,
        "--strict-markers",
        "-W",
        "error",
        "tests",
        timeout=180,
    )
    result.assert_outcomes(passed=tests, failed=2)
    raised = re.findall(r"^E\s+(AssertionError: .*)$", result.stdout.str(), re.M)
    assert raised == shown_block(DOCS / "pytest.md", "AssertionError: ").split("\n")


FAILING_ASSERTIONS = """\
from openai import OpenAI
import openai
import pytest

SEQUENCE = {
    "name": "flaky",
    "match": {"model": "flaky-model"},
    "sequence": [{"error": {"status": 500}}, {"content": "second time lucky"}],
}


def test_called_once_not_twice(mockllm):
    mockllm.add_rules(SEQUENCE)
    client = OpenAI(base_url=mockllm.base_url, api_key="test", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="flaky-model", messages=[{"role": "user", "content": "hi"}]
        )
    mockllm.assert_called(rule="flaky", times=2)


def test_never_called(mockllm):
    client = OpenAI(base_url=mockllm.base_url, api_key="test")
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Where is my refund?"}]
    )
    mockllm.assert_called(rule="refund")
"""


def test_pytest_doc_names_every_marker_key_and_option():
    text = (DOCS / "pytest.md").read_text()
    from mockllm import pytest_plugin

    for key in re.findall(r"(\w+)=None", pytest_plugin.MARKER):
        assert f"`{key}`" in text, key
    source = Path(pytest_plugin.__file__).read_text()
    for option in re.findall(r'"(--mockllm-[\w-]+)"', source):
        assert f"`{option}" in text, option


# --- docs/ci.md -----------------------------------------------------------------------------


def test_ci_doc_shows_the_compose_file_as_it_is():
    shown = named_blocks(DOCS / "ci.md")["docker-compose.yml"]
    assert yaml.safe_load(shown) == yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_ci_doc_lists_the_images_settings():
    text = (DOCS / "ci.md").read_text()
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    dockerfile = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    env = dict(re.findall(r"\b(MOCKLLM_\w+)=(\S+)", dockerfile))
    assert env, "the Dockerfile sets no MOCKLLM_* variables"
    for name, value in env.items():
        assert f"| `{name}` | `{value}` |" in text, name


def test_ci_doc_github_actions_service():
    workflow = yaml.safe_load(named_blocks(DOCS / "ci.md")[".github/workflows/test.yml"])
    job = workflow["jobs"]["test"]
    service = job["services"]["mockllm"]
    assert "8000:8000" in service["ports"]
    assert all(f"--health-{o}" in service["options"] for o in ("interval", "retries", "timeout"))
    assert job["env"]["OPENAI_BASE_URL"] == "http://127.0.0.1:8000/v1"
    steps = " ".join(str(step) for step in job["steps"])
    assert "/__admin/rules" in steps


def test_ci_doc_schema_modeline_example():
    text = (DOCS / "ci.md").read_text()
    assert "mockllm schema > mockllm-scenario.schema.json" in text
    modeline = "# yaml-language-server: $schema=./mockllm-scenario.schema.json"
    (example,) = [t for lang, t in code_blocks(DOCS / "ci.md") if t.startswith(modeline)]
    jsonschema.validate(yaml.safe_load(example), scenario_schema())
    assert load_text(example, "example.yaml")
    for lang, block in code_blocks(DOCS / "ci.md"):
        if lang == "json":
            json.loads(block)


# --- docs/architecture.md -------------------------------------------------------------------


def test_architecture_draws_the_request_path_in_order():
    """The Mermaid diagram (GitHub renders it) names every step of a chat request, in the
    order the code takes them."""
    (diagram,) = [text for lang, text in code_blocks(DOCS / "architecture.md") if lang == "mermaid"]
    assert diagram.startswith("flowchart TD\n")
    steps = [
        "authenticate",
        "required headers",
        "body:",
        "ranges:",
        "allowed models",
        "rate limit",
        "a rule",
        "a cassette",
        "the upstream when recording",
        "the default generator",
        "credit hold",
        "write:",
    ]
    positions = [diagram.index(step) for step in steps]
    assert positions == sorted(positions), steps


def test_the_families_page_shows_the_bundled_rule():
    """docs/families.md quotes the rule of scenarios/support.yaml: the quote stays true."""
    page = (DOCS / "families.md").read_text()
    shown = re.search(r"```yaml\n(  - name: refund-policy.*?)```", page, re.S)
    assert shown is not None
    bundled = (ROOT / "scenarios" / "support.yaml").read_text()
    lines = [line for line in shown.group(1).splitlines() if line.strip()]
    kept = [
        line for line in bundled.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    assert "\n".join(lines) in "\n".join(kept)


# --- outputs the pages show outside their examples ------------------------------------------
# What a page shows of mockllm's output where a transcript would need an unreachable
# upstream, a timing or many small files: each is what mockllm says now, checked here.


def _app_client(config: ServerConfig) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(config))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


@pytest.mark.anyio
async def test_recording_doc_shows_the_502_of_an_upstream_that_cannot_be_reached(tmp_path):
    """docs/recording.md: the 502 bodies of chat and of the Messages API, with the page's
    upstream (port 9201) gone."""
    page = DOCS / "recording.md"
    port = free_port()  # nothing listens there
    config = ServerConfig(
        cassettes=tmp_path, upstream=f"http://127.0.0.1:{port}/v1", record_mode="all"
    )
    user = [{"role": "user", "content": "Capital of France?"}]
    async with _app_client(config) as http:
        chat = await http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": user})
        claude = await http.post(
            "/v1/messages",
            json={"model": "claude-3-5-sonnet-20241022", "max_tokens": 64, "messages": user},
        )
    assert (chat.status_code, claude.status_code) == (502, 502)
    assert chat.text.replace(f":{port}/", ":9201/") == shown_block(page, '{"error":{"message":"Up')
    assert claude.text.replace(f":{port}/", ":9201/") == shown_block(page, '{"type":"error"')


@pytest.mark.anyio
async def test_cli_doc_shows_the_replay_miss_of_its_cassette(tmp_path):
    """docs/cli.md: the miss of a request one character off its cassettes/demo.yaml."""
    page = DOCS / "cli.md"
    (tmp_path / "demo.yaml").write_text(named_blocks(page)["cassettes/demo.yaml"])
    question = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello?"}]}
    async with _app_client(ServerConfig(cassettes=tmp_path)) as http:
        miss = await http.post("/v1/chat/completions", json=question)
    assert miss.status_code == 404
    assert miss.text == shown_block(page, '{"error":{"message":"No recorded interaction')


@pytest.mark.anyio
async def test_load_doc_shows_the_journal_fields_of_a_latency_model():
    """docs/load.md: the journal entry of an answer a latency model covered has the fields
    the page shows (their figures depend on the load and the clock)."""
    shown = json.loads(shown_block(DOCS / "load.md", '{\n  "first_token_ms"'))
    question = {
        "model": "gpt-4o-mini",
        "max_tokens": 4,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    async with _app_client(ServerConfig(latency_model="llama-3.1-8b-h100")) as http:
        await http.post("/v1/chat/completions", json=question)
        (entry,) = (await http.get("/__admin/requests")).json()["requests"]
    assert set(shown) <= set(entry)
    assert set(entry["usage"]) == set(shown["usage"])
    assert set(entry["load"]) == set(shown["load"])
    assert entry["load"]["model"] == shown["load"]["model"]
    assert entry["load"]["group"] == shown["load"]["group"]


def test_models_doc_shows_a_catalogue_entry_as_it_is():
    """docs/models.md: the o3 entry, comments aside, is the catalogue's."""
    (shown,) = yaml.safe_load(shown_block(DOCS / "models.md", "- id: o3"))
    catalogue = yaml.safe_load((ROOT / "mockllm" / "models.yaml").read_text(encoding="utf-8"))
    entries = catalogue["models"] if isinstance(catalogue, dict) else catalogue
    (entry,) = [e for e in entries if e.get("id") == "o3"]
    assert shown == entry


SCENARIO_MISTAKES = [  # a file for each message of "Other messages you may meet"
    "rules:\n  - name: a\n",
    "rules:\n  - reply: {content: x}\n    then: cycle\n",
    "rules:\n  - name: a\n    reply: {content: x}\n  - name: a\n    reply: {content: y}\n",
    "rules:\n  - reply: {content: x}\n    reply: {content: y}\n",
    "rules:\n  - reply:\n      content: x\n      choices: [{content: y}]\n",
    "rules:\n  - reply:\n      content: x\n      faker: {text: sentence}\n",
    "rules:\n  - reply:\n      chunks: [a, c]\n      content: ab\n",
    "rules:\n  - name: a\n    reply:\n      error:\n        status: 200\n",
    "rules:\n  - name: a\n    reply:\n      error: {message: x}\n",
    "rules:\n  - reply: {faker: {text: sentence, locale: zh_XX}}\n",
    "rules:\n  - {match: {api: embeddings}, reply: {content: x}}\n",
    "rules:\n  - reply: {content: 2024-01-01}\n",
    "rules:\n  - reply: !!python/object/apply:os.system [echo]\n",
    "rules:\n  a: 1\n",
    "rules:\n  - reply: {content: x\n",
    "",
]


def test_scenarios_doc_shows_the_loaders_messages():
    """docs/scenarios.md lists messages of the loader: each is what it says of a file."""
    shown = shown_block(DOCS / "scenarios.md", "x.yaml:2: rules[0]: a rule needs").split("\n")
    said = []
    for text in SCENARIO_MISTAKES:
        with pytest.raises(ScenarioError) as raised:
            load_text(text, "x.yaml")
        said.append(str(raised.value))
    assert len(shown) == len(said)
    for line, message in zip(shown, said, strict=True):
        assert line_matches(line, message), f"the page shows\n{line}\nthe loader says\n{message}"


# --- scenario YAML the pages show -----------------------------------------------------------

RULE_KEYS = {"name", "match", "when", "reply", "sequence", "then", "latency_model"}
SCENARIO_KEYS = {"version", "name", "description", "defaults", "rules"}
SHOWN_BROKEN = {("cli.md", "greet.yaml"), ("scenarios.md", "chat.yaml")}  # to show validate


def shown_scenarios() -> list[tuple[str, str]]:
    """(where, text) of every YAML block of the pages that is a scenario, a list of rules,
    or a rule's keys, as a scenario document; the bundled files' excerpts are left to
    test_excerpts_are_the_bundled_files."""
    found = []
    for page in MARKDOWN:
        for line, lang, text in fenced_blocks(page):
            name = NAMED.match(text)
            if lang != "yaml" or "(excerpt)" in text.split("\n", 1)[0]:
                continue
            if name and (page.name, name.group(1)) in SHOWN_BROKEN:
                continue
            data = yaml.safe_load(text)
            where = f"{page.name}:{line}"
            if isinstance(data, dict) and "rules" in data and set(data) <= SCENARIO_KEYS:
                found.append((where, text))
            elif name:
                continue  # a file of another kind: a profile, a keys file, a cassette's settings
            elif isinstance(data, list) and all(isinstance(r, dict) and "name" in r for r in data):
                found.append((where, yaml.safe_dump({"version": 1, "rules": data})))
            elif isinstance(data, dict) and data and set(data) <= RULE_KEYS:
                rule = {"name": "shown", "reply": {"content": "x"}, **data}
                found.append((where, yaml.safe_dump({"version": 1, "rules": [rule]})))
    return found


def test_the_pages_show_scenarios():
    assert len(shown_scenarios()) >= 20


@pytest.mark.parametrize(
    ("where", "text"), shown_scenarios(), ids=[w for w, _ in shown_scenarios()]
)
def test_every_shown_scenario_validates(where: str, text: str):
    load_text(text, where)  # raises ScenarioError naming each problem


def test_excerpts_are_the_bundled_files():
    """A block headed `# scenarios/NAME.yaml (excerpt)` shows lines of that file, in order."""
    excerpts = 0
    for page in MARKDOWN:
        for _, _, text in fenced_blocks(page):
            head = re.match(r"# (scenarios/\S+\.yaml) \(excerpt\)\n", text)
            if head is None:
                continue
            excerpts += 1
            bundled = iter(line.strip() for line in (ROOT / head.group(1)).read_text().splitlines())
            for line in text.splitlines()[1:]:
                if line.strip():
                    assert line.strip() in bundled, f"{page.name}: not in {head.group(1)}: {line}"
    assert excerpts >= 3


@pytest.mark.anyio
async def test_wire_doc_shows_a_message_with_tool_calls_and_logprobs():
    """docs/wire.md's fragments: the page's weather request without `stream` (the bundled
    scenarios, frozen time), and logprobs asked of a reply "Yes indeed." (a logprob is the
    request's own figure; the rest is the same)."""
    page = DOCS / "wire.md"
    message = json.loads("{" + shown_block(page, '"message": {"role": "assistant"') + "}")
    logprobs = json.loads("{" + shown_block(page, '"logprobs": {"content"') + "}")["logprobs"]
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
    config = ServerConfig(scenarios=(ROOT / "scenarios",), freeze_time=1_700_000_000)
    async with _app_client(config) as http:
        answer = await http.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "tools": [weather], "messages": [PARIS]},
        )
    real = answer.json()["choices"][0]["message"]
    assert normalize(json.dumps(real)) == normalize(json.dumps(message["message"]))
    rules = load_text("rules:\n  - reply: {content: Yes indeed.}\n")
    transport = httpx.ASGITransport(app=create_app(ServerConfig(), rules))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        question = {"role": "user", "content": "Is it?"}
        answer = await http.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "logprobs": True, "messages": [question]},
        )
    real = answer.json()["choices"][0]["logprobs"]
    for token in real["content"] + logprobs["content"]:
        token["logprob"] = "<logprob>"
    assert real == logprobs


WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}
PARIS = {"role": "user", "content": "What is the weather in Paris?"}


def test_cli_doc_synopsis_names_every_command():
    """docs/cli.md opens with one line (or two) per command: the CLI's commands, no more."""
    shown = shown_block(DOCS / "cli.md", "mockllm serve [OPTIONS]")
    named = set(re.findall(r"^mockllm ([a-z][\w-]*(?: [a-z][\w-]*)?)", shown, re.M))
    commands = {
        f"{name} {sub}" if hasattr(command, "commands") else name
        for name, command in main.commands.items()
        for sub in getattr(command, "commands", [""])
    }
    assert {n for n in named if n.split(" ")[0] in main.commands} == commands
