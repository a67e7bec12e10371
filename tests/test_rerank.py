"""The optional reranker (`rag.rerank`): a rerank server orders the context and picks
the passage that leads, through the Cohere / Jina request, against the local server."""

from __future__ import annotations

import logging
import time

import pytest
from conftest import DEV_SET
from openai_server import OpenAIStubServer, word_share
from pydantic import SecretStr
from test_cli import aireport

from rag.service import AnswerService

KEY = "rerank-key-7f3a9c"
QUESTION = "Wat is quantisatie en waarom maakt het modellen sneller?"
RERANK = "/v1/rerank"


@pytest.fixture
def stub(openai_stub: OpenAIStubServer):
    openai_stub.reset()
    yield openai_stub
    openai_stub.reset()


def with_reranker(service: AnswerService, stub: OpenAIStubServer, **extra) -> AnswerService:
    settings = service.settings.model_copy(
        update={
            "rerank_url": f"{stub.base_url}/rerank",
            "rerank_api_key": SecretStr(KEY),
            "rerank_model": "bge-reranker-v2-m3",
            **extra,
        }
    )
    reranked = AnswerService(settings, embedder=service.embedder)
    assert reranked.load()
    return reranked


def test_the_reranker_orders_the_context_and_picks_the_lead_passage(service, stub):
    retrieval = with_reranker(service, stub).retrieve(QUESTION)
    assert retrieval is not None and retrieval.reranked
    windows, passages = stub.requests_to(RERANK)
    for request in (windows, passages):
        assert request.body["query"] == QUESTION and request.body["model"] == "bge-reranker-v2-m3"
    # The context: the pool of windows (twice the budget) in the reranker's order, taken
    # while the budget lasts.
    pool = windows.body["documents"]
    plain = service.retrieve(QUESTION)
    assert plain is not None and len(pool) > len(plain.fragments)
    by_score = sorted(pool, key=lambda text: -word_share(QUESTION, text))
    texts = [f.chunk.text for f in retrieval.fragments]
    assert texts == [t for t in by_score if t in texts]  # in the reranker's order
    assert texts[0] == by_score[0] and texts != [f.chunk.text for f in plain.fragments]
    assert [f.rank for f in retrieval.fragments] == list(range(1, len(texts) + 1))
    assert sum(len(t.split()) for t in texts) <= service.settings.context_words
    # The passage that leads the answer is the one the reranker scores best.
    quotes = passages.body["documents"]
    best = max(quotes, key=lambda quote: word_share(QUESTION, quote))
    assert retrieval.passages[0].quote == best
    answer = with_reranker(service, stub).ask(QUESTION)
    assert answer.citations[0].quote == best


@pytest.mark.parametrize(
    ("behaviour", "reason"), [("500", "HTTP 500"), ("malformed", "JSONDecodeError")]
)
def test_a_failing_reranker_leaves_the_usual_ranking_and_rests(
    service, stub, caplog, behaviour, reason
):
    reranked = with_reranker(service, stub)
    stub.set_behaviour(behaviour)
    with caplog.at_level(logging.WARNING, logger="rag.rerank"):
        retrieval = reranked.retrieve(QUESTION)
    plain = service.retrieve(QUESTION)
    assert retrieval is not None and plain is not None and not retrieval.reranked
    assert [f.chunk.id for f in retrieval.fragments] == [f.chunk.id for f in plain.fragments]
    assert [p.quote for p in retrieval.passages] == [p.quote for p in plain.passages]
    assert reason in caplog.text and KEY not in caplog.text
    assert reranked.reranker is not None and reranked.reranker.counts() == (1, 1)
    # Not asked again for a while: the next question does not wait for it.
    asked = len(stub.requests_to(RERANK))
    stub.set_behaviour("script")
    assert not reranked.retrieve("Wat vindt Rick van open source?").reranked
    assert len(stub.requests_to(RERANK)) == asked


def test_a_slow_reranker_is_given_up_on(service, stub):
    reranked = with_reranker(service, stub, rerank_timeout_s=0.3)
    stub.set_behaviour("slow", delay=3.0)
    started = time.perf_counter()
    retrieval = reranked.retrieve(QUESTION)
    assert retrieval is not None and not retrieval.reranked and retrieval.fragments
    assert time.perf_counter() - started < 2.0


def test_with_its_cut_offs_set_the_reranker_decides_found_or_not(service, stub):
    score = with_reranker(service, stub).retrieve(QUESTION).rerank_score
    (_, passages) = stub.requests_to(RERANK)
    assert score == max(word_share(QUESTION, q) for q in passages.body["documents"])
    for found, unsure, verdict in [
        (score - 0.01, score - 0.02, "found"),
        (score + 0.01, score - 0.01, "unsure"),
        (score + 0.02, score + 0.01, "not_found"),
    ]:
        decided = with_reranker(
            service, stub, rerank_found_score=found, rerank_unsure_score=unsure
        ).ask(QUESTION)
        assert decided.verdict == verdict and decided.rerank_score == score
    # Without its cut-offs the embedder's decide, whatever the reranker scores.
    assert with_reranker(service, stub).ask(QUESTION).verdict == service.ask(QUESTION).verdict


def test_eval_fits_the_rerankers_cut_offs(sample_index, clean_env, stub, tmp_path):
    subset = tmp_path / "mini.jsonl"
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    subset.write_text("\n".join(lines[:8]) + "\n", encoding="utf-8")
    env = clean_env | {"RERANK_URL": f"{stub.base_url}/rerank", "RERANK_API_KEY": KEY}
    result = aireport(sample_index, "eval", str(subset), "--folds", "2", env=env)
    assert result.returncode == 0, result.stderr
    assert "cross-validation of the reranker's cut-offs (2 folds, 8 questions)" in result.stdout
    assert "RERANK_FOUND_SCORE=" in result.stdout and "FOUND_SCORE=" in result.stdout
    assert len(stub.requests_to(RERANK)) == 16  # the windows and the passages, per question
