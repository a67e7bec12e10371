"""Caption-spelling expansion stays cheap and exact; prompt leaks are caught in any spelling.

Expansion is checked against the brute-force definition it replaced, on the sample
episode's vocabulary and on a synthetic 30k-term one. Leaks run through the real
composer against the local OpenAI-compatible openai_stub server.
"""

from __future__ import annotations

import random
import re
import string
import time

import pytest
from conftest import DEV_SET, SAMPLE
from pydantic import SecretStr

from rag import messages_nl as nl
from rag import prompts
from rag.evaluation import load_items
from rag.llm import leaks_prompt
from rag.retrieval import ASR_MAX_TERMS, AsrIndex, asr_variants, expand_terms
from rag.service import AnswerService
from rag.text import search_tokens

KEY = "sk-test-leaks"
ASML = "Welk Nederlands bedrijf speelt een rol in de geopolitieke discussies over chips?"


# -- the definition the index replaced ----------------------------------------------------


def brute_one_edit_apart(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def brute_variants(term: str, vocab: set[str]) -> list[str]:
    """`asr_variants` before the index: every term compared with the whole vocabulary."""
    if term in vocab or len(term) < 4 or term.isdigit():
        return []
    found = [v for v in vocab if len(v) >= 5 and term.startswith(v)]
    found += [v for v in vocab if v[0] == term[0] and brute_one_edit_apart(term, v)]
    for cut in range(3, len(term) - 2):
        head, tail = term[:cut], term[cut:]
        if head in vocab and tail in vocab:
            found += [head, tail]
        elif head[:-1] in vocab and head[-1] == "s" and len(head) > 3 and len(tail) >= 4:
            found += [head[:-1], tail] if tail in vocab else []
    return sorted(set(found))


def brute_expand(terms: list[str], vocab: set[str]) -> list[str]:
    return list(dict.fromkeys(v for t in terms for v in (t, *brute_variants(t, vocab))))


# -- vocabularies and terms ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_vocab() -> set[str]:
    """The sample episode's search terms, filtered as `HybridRetriever` filters BM25's."""
    tokens = search_tokens(SAMPLE.read_text(encoding="utf-8"))
    return {t for t in tokens if len(t) > 1 or t.isdigit()}


@pytest.fixture(scope="module")
def synthetic_vocab() -> set[str]:
    rng = random.Random(30_000)
    vocab: set[str] = set()
    while len(vocab) < 30_000:
        vocab.add(random_word(rng, 4, 12))
    return vocab


def random_word(rng: random.Random, shortest: int, longest: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(shortest, longest)))


def garbled_terms(vocab: set[str], count: int, seed: int) -> list[str]:
    """Terms near the vocabulary: one edit away, extended, joined, cut, or unrelated."""
    rng = random.Random(seed)
    known = sorted(vocab)
    terms: list[str] = []
    for _ in range(count):
        word, other = rng.choice(known), rng.choice(known)
        i = rng.randrange(len(word) + 1)
        letter = rng.choice("aeiouklmnrst")
        terms += [
            word[:i] + letter + word[i + 1 :],  # substitution (or a new last letter)
            word[:i] + letter + word[i:],  # insertion
            word[:i] + word[i + 1 :],  # deletion
            word + other,  # two terms written together
            word + random_word(rng, 1, 6),  # a known prefix
            word[:4],
            word,
            random_word(rng, 2, 14),
        ]
    return terms + ["1300", "abc", "", "a" * 300, rng.choice(known) * 40]


def test_variants_equal_brute_force_on_the_sample_vocabulary(sample_vocab):
    index = AsrIndex(sample_vocab)
    questions = [item.question for item in load_items(DEV_SET)]
    terms = [t for q in questions for t in search_tokens(q)]
    terms += garbled_terms(sample_vocab, 250, seed=1)
    terms += ["quantiseer", "groq", "deepseek", "notebooklm", "karpathy", "anthropic"]
    found = 0
    for term in dict.fromkeys(terms):
        expected = brute_variants(term, sample_vocab)
        assert asr_variants(term, index) == expected, term
        found += bool(expected)
    assert found > 300  # the terms do exercise every kind of match


def test_variants_equal_brute_force_on_a_30k_vocabulary(synthetic_vocab):
    index = AsrIndex(synthetic_vocab)
    for term in dict.fromkeys(garbled_terms(synthetic_vocab, 20, seed=2)):
        assert asr_variants(term, index) == brute_variants(term, synthetic_vocab), term


def test_plain_sets_still_work():
    vocab = {"quanti", "grok", "deep", "seek", "model"}
    assert asr_variants("deepseek", vocab) == ["deep", "seek"]
    assert asr_variants("quantiseer", vocab) == ["quanti"]


def test_expansion_of_real_questions_is_unchanged(sample_vocab):
    index = AsrIndex(sample_vocab)
    for item in load_items(DEV_SET):
        terms = search_tokens(item.question)
        assert expand_terms(terms, index) == brute_expand(terms, sample_vocab)
    own = ["quantiseer", "groq", "deepseek", "groq"]
    assert expand_terms(own, index) == brute_expand(own, sample_vocab)


def test_only_the_first_unknown_terms_are_expanded():
    vocab = {f"term{c}x" for c in string.ascii_lowercase}
    unknown = [f"term{c}y" for c in string.ascii_lowercase]  # each one edit from a known term
    expanded = expand_terms(["term" + "ax", *unknown], AsrIndex(vocab))
    variants = [t for t in expanded if t.endswith("x")]
    assert variants == ["termax", *[f"term{c}x" for c in string.ascii_lowercase[1:ASR_MAX_TERMS]]]
    assert set(unknown) <= set(expanded)  # unexpanded terms are still searched


def test_a_long_question_of_made_up_words_costs_little_cpu(synthetic_vocab):
    rng = random.Random(1000)
    words: list[str] = []
    while len(" ".join(words)) < 1000:
        words.append(random_word(rng, 5, 9))
    terms = search_tokens(" ".join(words)[:1000])
    assert len(terms) > 100
    index = AsrIndex(synthetic_vocab)
    seconds = []
    for _ in range(3):
        started = time.process_time()
        expand_terms(terms, index)
        seconds.append(time.process_time() - started)
    # The brute-force expansion took ~0.75 s of CPU here; the indexed one ~0.01 s.
    assert min(seconds) < 0.2


def test_indexing_a_30k_vocabulary_is_cheap(synthetic_vocab):
    started = time.process_time()
    AsrIndex(synthetic_vocab)
    assert time.process_time() - started < 0.5


# -- prompt leaks -------------------------------------------------------------------------

SEPARATORS = {
    "underscore": "_",
    "hyphen": "-",
    "dot": ".",
    "zero-width-space": "\u200b",
    "zero-width-joiner": "\u200d",
    "nothing": "",
    "marker": " [1] ",
}


def disguised_prompt(separator: str) -> str:
    return "Natuurlijk: " + separator.join(prompts.SYSTEM_PROMPT.split()) + " [1]"


@pytest.mark.parametrize("separator", SEPARATORS.values(), ids=SEPARATORS.keys())
def test_a_disguised_prompt_is_a_leak(separator):
    assert leaks_prompt(disguised_prompt(separator))
    assert leaks_prompt(disguised_prompt(separator).upper())


def test_a_run_of_ten_prompt_words_leaks_and_nine_do_not():
    words = re.findall(r"[^\W\d_]+", prompts.SYSTEM_PROMPT)  # letters only, as compared
    for start in range(0, len(words) - 10, 7):
        assert leaks_prompt("Zie [1]. " + "_".join(words[start : start + 10]))
    assert not leaks_prompt("Zie [1]. " + "_".join(words[30:39]))


def test_answers_and_transcripts_are_not_leaks():
    assert not leaks_prompt("ASML maakt de machines waarmee chips worden gemaakt [1].")
    assert not leaks_prompt(SAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def llm_service(sample_index, service, openai_stub) -> AnswerService:
    settings = sample_index.model_copy(
        update={
            "openai_api_key": SecretStr(KEY),
            "openai_base_url": openai_stub.base_url,
            "llm_timeout_s": 3.0,
            "llm_max_retries": 1,
            "llm_search_queries": 0,
        }
    )
    svc = AnswerService(settings, embedder=service.embedder)
    assert svc.load()
    return svc


@pytest.fixture(scope="module")
def asml_retrieval(llm_service):
    retrieval = llm_service.retrieve(ASML)
    assert retrieval.verdict.value == "found" and retrieval.fragments
    return retrieval


@pytest.mark.parametrize("separator", SEPARATORS.values(), ids=SEPARATORS.keys())
@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "stream"])
def test_a_disguised_leak_falls_back_to_the_extractive_answer(
    openai_stub, llm_service, asml_retrieval, separator, streamed
):
    openai_stub.reset()
    openai_stub.script([disguised_prompt(separator)])
    deltas: list[str] = []
    on_delta = deltas.append if streamed else None
    composed = llm_service.composer.compose(asml_retrieval, None, on_delta)
    assert composed.mode == "extractive" and composed.note == nl.LLM_UNAVAILABLE
    assert composed.found and composed.citations
    assert composed.text.startswith(nl.EXTRACTIVE_FOUND_INTRO)
    assert not any(leaks_prompt(d) for d in deltas)
    assert not deltas or deltas[-1] == composed.text


def test_a_cited_answer_still_goes_through(openai_stub, llm_service, asml_retrieval):
    openai_stub.reset()
    openai_stub.script(["ASML maakt de machines waarmee chips worden gemaakt [1]."])
    composed = llm_service.composer.compose(asml_retrieval)
    assert composed.mode == "llm" and composed.note is None
    assert composed.text == "ASML maakt de machines waarmee chips worden gemaakt [1]."
