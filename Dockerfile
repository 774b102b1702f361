# One image for both services:
#   python -m api        (the default command; listens on API_PORT, 8000)
#   python -m projector  (the Faust worker)
# Configuration comes from the environment only; see docs/configuration.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, read from pyproject.toml alone, so that a code change
# does not reinstall them. Dev extras are not installed.
COPY pyproject.toml /src/pyproject.toml
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (the Lua scripts ship as package data).
COPY README.md /src/README.md
COPY events /src/events
COPY readmodel /src/readmodel
COPY projector /src/projector
COPY api /src/api
COPY devstack /src/devstack
RUN pip install --no-deps /src && rm -rf /src

# An unprivileged user; Faust's data directory (PROJECTOR_DATA_DIR) defaults
# to a directory under /tmp.
RUN useradd --create-home --home-dir /app --uid 10001 --user-group app
USER app
WORKDIR /app

EXPOSE 8000
CMD ["python", "-m", "api"]
