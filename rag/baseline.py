"""The LangChain tutorial pipeline, as a baseline for `aireport eval --baseline`.

What LangChain's RAG tutorial builds: each file loaded whole, cut by
`RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`, embedded into
a LangChain `FAISS` vector store with the same embedder as the product, and
searched with `similarity_search`; the top hits are taken until they fill the same
word budget the product gets. It only retrieves: its numbers are retrieval numbers.
Chunk vectors are cached on disk (`.npy`, no pickle) by a hash of the texts.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
from langchain_community.vectorstores import FAISS
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.answer import Answer, RetrievedFragment
from rag.embeddings import embed_passages, embedder_name
from rag.transcripts import TranscriptError, list_transcript_files, read_source_text
from rag.types import AnswerMode

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200


class TutorialBaseline:
    """Retrieval as in LangChain's RAG tutorial, over the same transcripts folder."""

    def __init__(
        self,
        transcripts_dir: Path,
        embedder: Embeddings,
        context_words: int = 1500,
        cache_dir: Path | None = None,
    ) -> None:
        self.context_words = context_words
        docs = []
        for path in list_transcript_files(transcripts_dir):
            try:
                docs.append(Document(read_source_text(path), metadata={"source_file": path.name}))
            except (TranscriptError, OSError) as exc:
                log.warning("baseline skips %s: %s", path.name, exc)
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
        )
        splits = splitter.split_documents(docs)
        texts = [d.page_content for d in splits]
        vectors = _cached_vectors(embedder, texts, cache_dir)
        self.store = FAISS.from_embeddings(
            list(zip(texts, vectors.tolist(), strict=True)),
            embedder,
            metadatas=[d.metadata for d in splits],
        )
        self.size = len(splits)

    def ask(self, question: str) -> Answer:
        """An `Answer` with only `retrieved` filled: the fragments within the word budget."""
        docs = self.store.similarity_search(question, k=min(self.size, 100)) if self.size else []
        retrieved: list[RetrievedFragment] = []
        words = 0
        for doc in docs:
            n = len(doc.page_content.split())
            if retrieved and words + n > self.context_words:
                break
            start = doc.metadata["start_index"]
            retrieved.append(
                RetrievedFragment(
                    len(retrieved) + 1,
                    doc.metadata["source_file"],
                    doc.metadata["source_file"],
                    start,
                    start + len(doc.page_content),
                    0.0,
                )
            )
            words += n
        return Answer(question, "", False, AnswerMode.BASELINE, [], retrieved, {"total": 0.0})


def _cached_vectors(embedder: Embeddings, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    digest = hashlib.sha256(embedder_name(embedder).encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    path = cache_dir / f"baseline-{digest.hexdigest()[:16]}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    vectors = embed_passages(embedder, texts)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
    return vectors
