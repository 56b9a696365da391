# The image installs exactly what uv.lock pins (the dependencies, not the dev
# extra), with the uv the Makefile pins, and the project itself as a package
# (not editable), web/ (the dashboard) included.
FROM python:3.11-slim AS build
# Keep equal to UV_VERSION in the Makefile (tests/test_install_files.py checks).
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
# The image's own Python, never one uv would download; compiled at install, as
# the final image cannot write next to its files.
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /src
# The dependencies first, in a layer of their own: only a new lock rebuilds it.
# --locked: a pyproject.toml that uv.lock no longer matches stops the build.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project
COPY README.md ./
COPY domain domain
COPY store store
COPY service service
COPY gql gql
COPY jobs jobs
COPY cli cli
COPY web web
RUN uv sync --locked --no-dev --no-editable

FROM python:3.11-slim
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH
WORKDIR /app
CMD ["journeys", "serve", "--host", "0.0.0.0"]
