"""An optional cross-encoder: a model that reads the question and a passage together.

The embedder scores question and passage apart, and cannot tell a passage about the
topic from one that gives the detail asked (README, Evaluation); a cross-encoder can.
None can be installed here, so this is a client for a rerank server: the Cohere / Jina
request that vLLM, llama.cpp's server (`--rerank`), LocalAI, Jina and Cohere take
(`RERANK_URL`, e.g. `http://localhost:8080/v1/rerank` for `llama-server -m
bge-reranker-v2-m3.gguf --rerank`). `rag.retrieval` asks it to order the context's
windows and the candidate passages.

A reranker that fails (an error, a malformed reply, no reply within `RERANK_TIMEOUT_S`)
leaves the usual ranking, and is not asked again for `PAUSE_S`, so an outage costs one
question a timeout, not every question.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence

import httpx
from pydantic import SecretStr

log = logging.getLogger(__name__)

PAUSE_S = 60.0  # after a failure, rank without the reranker this long


class RerankError(Exception):
    """The rerank server did not give a usable score for every document."""


class Reranker:
    """Scores documents against a query through a rerank endpoint."""

    def __init__(
        self,
        url: str,
        model: str | None = None,
        api_key: SecretStr | None = None,
        timeout_s: float = 5.0,
        pause_s: float = PAUSE_S,
    ) -> None:
        self.url = url
        self.model = model
        self.pause_s = pause_s
        headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._requests = 0
        self._failures = 0

    def scores(self, query: str, documents: Sequence[str]) -> list[float] | None:
        """One score per document (higher: more relevant), or None when the reranker
        failed or is paused after a failure (the caller keeps its own ranking)."""
        if not documents:
            return []
        with self._lock:
            if time.monotonic() < self._paused_until:
                return None
            self._requests += 1
        try:
            return self._scores(query, documents)
        except (httpx.HTTPError, RerankError, ValueError) as exc:
            with self._lock:
                self._failures += 1
                self._paused_until = time.monotonic() + self.pause_s
            log.warning(
                "reranker failed (%s); ranking without it for %.0f s", _reason(exc), self.pause_s
            )
            return None

    def _scores(self, query: str, documents: Sequence[str]) -> list[float]:
        body: dict[str, object] = {"query": query, "documents": list(documents)}
        if self.model:
            body["model"] = self.model
        response = self._client.post(self.url, json=body)
        response.raise_for_status()
        data = response.json()
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise RerankError("no results in the reply")
        scores: list[float | None] = [None] * len(documents)
        for result in results:
            if not isinstance(result, dict):
                raise RerankError("a result is not an object")
            index, score = result.get("index"), result.get("relevance_score")
            if not isinstance(index, int) or not 0 <= index < len(documents):
                raise RerankError(f"result index {index!r} out of range")
            if not isinstance(score, int | float) or not math.isfinite(score):
                raise RerankError(f"score {score!r} of document {index} is not a number")
            scores[index] = float(score)
        if any(s is None for s in scores):
            raise RerankError("not every document was scored")
        return [float(s) for s in scores if s is not None]

    def counts(self) -> tuple[int, int]:
        """(requests sent, failed ones) since the start, for /stats."""
        with self._lock:
            return self._requests, self._failures

    def close(self) -> None:
        self._client.close()


def _reason(exc: Exception) -> str:
    """What went wrong, without the request's headers (the API key)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return f"{type(exc).__name__}: {exc}"[:200]


def reorder(scores: Sequence[float]) -> list[int]:
    """Positions by descending score; ties keep their order."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))
