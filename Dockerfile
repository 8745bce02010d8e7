# tocsin worker image: the locked dependencies and the spaCy model inside, running as non-root.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/tocsin
COPY requirements.lock pyproject.toml README.md ./
RUN /opt/tocsin/bin/pip install -r requirements.lock
COPY streams ./streams
COPY schemas ./schemas
RUN /opt/tocsin/bin/pip install --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 tocsin
COPY --from=build /opt/tocsin /opt/tocsin
# schemas/ is read at start-up from beside the installed package's source tree.
COPY --chown=tocsin:tocsin schemas /app/schemas
COPY --chown=tocsin:tocsin streams /app/streams
WORKDIR /app
USER tocsin
ENV PATH=/opt/tocsin/bin:$PATH PYTHONPATH=/app TOCSIN_DATA_DIR=/home/tocsin/data \
    TOCSIN_WEB_HOST=0.0.0.0
EXPOSE 6066
ENTRYPOINT ["tocsin"]
CMD ["worker"]
