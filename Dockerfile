# De AI Report vraagbaak: the Telegram bot with the embedded (offline) default.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TRANSCRIPTS_DIR=/app/data/transcripts \
    INDEX_DIR=/app/data/index \
    STATE_DIR=/app/data/state

# Install the package non-editable from a throwaway source folder; compilers only
# for wheels that may need building, removed in the same layer.
COPY pyproject.toml README.md /src/
COPY rag /src/rag
COPY bot /src/bot
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && pip install /src \
    && apt-get purge -y build-essential && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* /src \
    && useradd --create-home --uid 10001 vraagbaak

WORKDIR /app

COPY --chown=vraagbaak:vraagbaak data/transcripts ./data/transcripts
COPY --chown=vraagbaak:vraagbaak eval ./eval
RUN mkdir -p /app/data/index /app/data/state && chown -R vraagbaak:vraagbaak /app/data

# The container starts as root only for the entrypoint: it creates the data folders, gives
# a bind-mounted host folder to vraagbaak (uid 10001), then runs the command as vraagbaak
# (setpriv). Started with `--user`, it only checks that the folders can be written.
COPY docker/entrypoint.sh /usr/local/bin/vraagbaak-entrypoint
RUN chmod 755 /usr/local/bin/vraagbaak-entrypoint

VOLUME ["/app/data"]

ENTRYPOINT ["/usr/local/bin/vraagbaak-entrypoint"]
CMD ["python", "-m", "bot"]
