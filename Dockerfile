# mockllm as a service: OpenAI's and Anthropic's APIs (chat, Responses, embeddings, Messages) on port 8000.
#
#   docker build -t mockllm .
#   docker run --rm -p 127.0.0.1:8000:8000 mockllm
#   docker run --rm -p 127.0.0.1:8000:8000 -v "$PWD/scenarios:/scenarios:ro" -e MOCKLLM_SEED=7 mockllm
#
# Settings come from MOCKLLM_* variables (every flag of `mockllm serve` has one), so that
# `docker run -e`, compose `environment:` and GitHub Actions `services:` (which cannot
# pass a command) change one setting without restating the others. Arguments after the
# image name replace the command: `docker run mockllm serve --strict`,
# `docker run mockllm validate /scenarios`; the variables still apply.
# Replicas share their state (sequences, credits, rate limits, journal, run-time rules)
# with MOCKLLM_STATE=redis://HOST:6379/0: see docker-compose.replicas.yml.
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed unprivileged user; /cassettes is its own so that recordings can be written.
RUN groupadd --system --gid 10001 mockllm \
    && useradd --system --uid 10001 --gid mockllm --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mockllm \
    && mkdir -p /cassettes \
    && chown mockllm:mockllm /cassettes

WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockllm ./mockllm
# pip compiles the bytecode while installing (the user cannot write it later): fast start.
RUN pip install --no-cache-dir . \
    && rm -rf /src

# The bundled scenarios are the defaults; mount a folder on /scenarios to replace them.
COPY scenarios/ /scenarios/

WORKDIR /
VOLUME ["/scenarios", "/cassettes"]

# Only the image binds 0.0.0.0. Inside a container every caller is remote (a published
# port arrives from the bridge's gateway, a compose neighbour from its own address), and
# tests must still reset and read the journal: the admin API is open to them. The
# container network is the boundary; publish the port on 127.0.0.1, or set
# MOCKLLM_ADMIN_TOKEN to require a token instead. With an empty /cassettes a request
# that no rule matches goes on to the default generator (MOCKLLM_CASSETTE_MISS).
ENV MOCKLLM_HOST=0.0.0.0 \
    MOCKLLM_PORT=8000 \
    MOCKLLM_SCENARIOS=/scenarios \
    MOCKLLM_CASSETTES=/cassettes \
    MOCKLLM_ADMIN_REMOTE=1 \
    MOCKLLM_CASSETTE_MISS=fallthrough

USER 10001:10001
EXPOSE 8000

# No curl in the image: the health check is the image's own Python.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --start-interval=1s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:%s/__admin/health' % os.environ.get('MOCKLLM_PORT', '8000'), timeout=2).status != 200)"]

ENTRYPOINT ["mockllm"]
CMD ["serve"]
