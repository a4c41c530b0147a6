# Sourced by scripts/serve and scripts/test: make .venv with the package and test tools.
# Re-installs only when pyproject.toml changed since the last install.
PYTHON="${PYTHON:-python3}"
VENV="${MOCKLLM_VENV:-.venv}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "mockllm needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
stamp="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet -e '.[test]' >&2
  touch "$stamp"
fi
# Bytecode for mockllm's own modules (an editable install has none until first import),
# written even where PYTHONDONTWRITEBYTECODE is set: start-up then reads it instead of
# compiling every module, about a quarter of the time to healthy. Only changed files
# are compiled again.
"$VENV/bin/python" -m compileall -q mockllm >/dev/null 2>&1 || true

# For the inspector's browser tests (scripts/test): Debian's chromium, when it is missing
# and this runs as root with apt-get. Elsewhere those tests fail, saying how to install it.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 || [ "$(id -u)" != 0 ] \
      || ! command -v apt-get >/dev/null 2>&1; then
    return 0
  fi
  echo "installing chromium for the inspector's browser tests (apt-get)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 \
    || echo "could not install chromium: the browser tests will fail" >&2
}
