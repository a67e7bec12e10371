"""Isolation: one deadline per answer, LLM calls in their own bounded executor, a question
limit per user. Against the local servers (the OpenAI-compatible stub, the Bot API emulator),
through the real openai/langchain and python-telegram-bot clients.

The bot tests share one bot process with a single LLM worker (`LLM_WORKERS=1`), a 4-second
deadline, a per-request timeout far above it (so only the deadline can end a trickling
stream) and a limit of 2 questions, then 3 a minute, per user.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import BotProcess, bot_env, clean_environ, copy_corpus, running_bot, start_bot
from openai_server import OpenAIStubServer
from pydantic import SecretStr
from test_bot_llm import GROQ, cited_reply
from tg_emulator import SentMessage, TelegramEmulator

from bot import messages as msg
from bot.limits import QuestionLimiter
from rag import messages_nl as nl
from rag.service import AnswerService
from rag.settings import Settings

KEY = "sk-isolation-test-do-not-log"
CHAT = "/v1/chat/completions"
ASML = "Welk Nederlands bedrijf speelt een rol in de geopolitieke discussies over chips?"
DEADLINE_S = 4.0
ADMIN = 4545
LIMIT_START = msg.TOO_MANY_QUESTIONS.split("{")[0]  # the text before the seconds


def is_limit_message(message: SentMessage) -> bool:
    return (message.text or "").startswith(LIMIT_START)


# ------------------------------------------------------------------------------ the service


@pytest.fixture
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=KEY, retry_after=0.8) as server:
        server.set_responder(cited_reply)
        yield server


def llm_service(sample_index: Settings, service: AnswerService, url: str, **extra) -> AnswerService:
    settings = sample_index.model_copy(
        update={
            "openai_api_key": SecretStr(KEY),
            "openai_base_url": url,
            "llm_timeout_s": 30.0,  # never the reason a call ends here
            "llm_search_queries": 0,
            **extra,
        }
    )
    svc = AnswerService(settings, embedder=service.embedder)
    assert svc.load()
    return svc


def test_deadline_ends_a_trickling_stream(sample_index, service, stub) -> None:
    """One piece every 0.5 s never trips the 30 s per-read timeout; the 3 s deadline ends it."""
    svc = llm_service(sample_index, service, stub.base_url, llm_deadline_s=3.0)
    stub.set_behaviour("slow", delay=0, chunk_delay=0.5)
    drafts: list[str] = []
    started = time.monotonic()
    answer = svc.ask(ASML, on_delta=drafts.append)
    elapsed = time.monotonic() - started
    assert any("Rick" in d for d in drafts)  # the model was streaming
    assert answer.mode == "extractive" and answer.note == nl.LLM_UNAVAILABLE
    assert answer.text.startswith(nl.EXTRACTIVE_FOUND_INTRO) and answer.citations
    assert drafts[-1] == answer.text  # the partial draft was replaced
    assert 3.0 <= elapsed <= 3.0 + 0.5 + 1.0  # at most one piece after the deadline


def test_deadline_covers_retries_and_query_planning(sample_index, service, stub) -> None:
    """Ten retries allowed, each after the server's retry-after of 0.8 s: only those that fit
    the 2.5 s deadline are made, and the answer is not asked for after it."""
    svc = llm_service(
        sample_index,
        service,
        stub.base_url,
        llm_deadline_s=2.5,
        llm_max_retries=10,
        llm_search_queries=2,
    )
    assert svc.planner is not None
    stub.fail_next(500, count=100, retry_after=0.8)
    started = time.monotonic()
    answer = svc.ask(ASML)
    elapsed = time.monotonic() - started
    requests = stub.requests_to(CHAT)
    assert 3 <= len(requests) <= 5  # the planner's tries that fit, then at most one more
    assert requests[-1].received_at - started <= 2.5
    assert [r.retry_count for r in requests[:3]] == [0, 1, 2]
    assert answer.note == nl.LLM_UNAVAILABLE and answer.citations
    assert answer.search_query == ASML  # planning failed: the question itself was searched
    assert elapsed < 2.5 + 2.0  # the deadline, then retrieval and the extractive answer


# ------------------------------------------------------------------------------ the limiter


def test_limiter_refills_tells_once_and_forgets_quiet_users() -> None:
    now = [0.0]
    limiter = QuestionLimiter(burst=2, per_minute=6, clock=lambda: now[0])  # 1 per 10 s
    assert [limiter.admit(1).allowed for _ in range(2)] == [True, True]
    first, second = limiter.admit(1), limiter.admit(1)
    assert not first.allowed and first.tell and first.wait_s == pytest.approx(10.0)
    assert not second.allowed and not second.tell  # told once
    assert limiter.admit(2).allowed  # another user is not affected
    now[0] = 10.0
    assert limiter.admit(1).allowed  # refilled
    refused = limiter.admit(1)
    assert not refused.allowed and refused.tell  # a new episode: told again
    for user in range(3, 1003):
        limiter.admit(user)
    assert len(limiter) == 1002
    now[0] = 100.0  # everyone quiet long enough to be full again
    assert limiter.admit(5000).allowed
    assert len(limiter) == 1


# ------------------------------------------------------------------------------ the bot


@pytest.fixture(scope="module")
def bot(
    tg: TelegramEmulator, openai_stub: OpenAIStubServer, sample_index: Settings, tmp_path_factory
) -> Iterator[BotProcess]:
    base: Path = tmp_path_factory.mktemp("bot-isolation")
    transcripts, index = copy_corpus(sample_index, base)
    with running_bot(
        tg,
        base / "bot.log",
        transcripts=transcripts,
        index=index,
        state=base / "state",
        admin_user_ids=ADMIN,
        openai_base_url=openai_stub.base_url,
        openai_api_key=KEY,
        llm_timeout_s=30,
        llm_max_retries=0,
        llm_search_queries=0,
        llm_deadline_s=DEADLINE_S,
        llm_workers=1,
        user_questions_burst=2,
        user_questions_per_minute=3,
    ) as process:
        yield process


@pytest.fixture
def llm(openai_stub: OpenAIStubServer, bot: BotProcess) -> Iterator[OpenAIStubServer]:
    openai_stub.reset()
    openai_stub.set_responder(cited_reply)
    yield openai_stub
    openai_stub.reset()


def final_answer(tg: TelegramEmulator, bot: BotProcess, chat: int, start: int) -> SentMessage:
    """The bot's answer in a private chat, once it logged that the final version is in place."""
    bot.wait_for_output(f"answered chat={chat} ", start)
    [message] = tg.messages_in(chat)
    return message


def test_trickling_stream_is_cut_at_the_deadline_and_frees_the_worker(
    tg: TelegramEmulator, bot: BotProcess, llm: OpenAIStubServer
) -> None:
    llm.set_behaviour("slow", delay=0, chunk_delay=1.0)  # ~40 pieces: 40 s without a deadline
    start = len(bot.output())
    asked = time.time()
    tg.inject_private_message(GROQ, user_id=5001)
    answer = final_answer(tg, bot, 5001, start)
    elapsed = answer.history[-1].timestamp - asked
    assert DEADLINE_S - 0.5 <= elapsed <= DEADLINE_S + 2.5
    assert any("Rick" in v.text for v in answer.history[:-1])  # drafts were streaming
    assert answer.text.startswith(nl.EXTRACTIVE_FOUND_INTRO) and nl.LLM_UNAVAILABLE in answer.text
    assert "Rick Lamers vertelt" not in answer.text and answer.buttons
    # The worker stops reading the stream at its next piece, and its one slot is free again.
    bot.wait_for_output("passed while streaming", start, timeout=3)
    requests = len(llm.requests_to(CHAT))
    llm.set_behaviour("slow", delay=0, chunk_delay=0)
    start = len(bot.output())
    tg.inject_private_message(GROQ, user_id=5002)
    fresh = final_answer(tg, bot, 5002, start)
    assert len(llm.requests_to(CHAT)) == requests + 1
    assert nl.LLM_UNAVAILABLE not in fresh.text and "Rick Lamers vertelt" in fresh.text
    tg.assert_no_rejections()


def test_busy_llm_workers_do_not_delay_another_chat(
    tg: TelegramEmulator, bot: BotProcess, llm: OpenAIStubServer
) -> None:
    """The single LLM worker waits for a slow provider; another chat gets its (extractive)
    answer at once, without queueing for the worker or calling the provider."""
    llm.set_behaviour("slow", delay=DEADLINE_S + 1)
    requests = len(llm.requests_to(CHAT))
    start = len(bot.output())
    tg.inject_private_message(GROQ, user_id=5101)
    tg.wait_for(lambda: len(llm.requests_to(CHAT)) == requests + 1, timeout=10)
    asked = time.time()
    tg.inject_private_message(ASML, user_id=5102)
    other = final_answer(tg, bot, 5102, start)
    assert other.history[0].timestamp - asked < 2.5
    assert other.text.startswith(nl.EXTRACTIVE_FOUND_INTRO) and nl.LLM_UNAVAILABLE in other.text
    assert len(llm.requests_to(CHAT)) == requests + 1  # it never asked the provider
    assert "all 1 LLM workers are busy" in bot.output()[start:]
    slow = final_answer(tg, bot, 5101, start)  # the deadline ends the first one
    assert slow.history[-1].timestamp > other.history[-1].timestamp
    assert nl.LLM_UNAVAILABLE in slow.text
    tg.assert_no_rejections()


def replies_to(tg: TelegramEmulator, chat: int, message_id: int) -> list[SentMessage]:
    return [m for m in tg.messages_in(chat) if m.reply_to_message_id == message_id]


def test_flooding_user_is_told_once_and_others_are_answered(
    tg: TelegramEmulator, bot: BotProcess, llm: OpenAIStubServer
) -> None:
    llm.set_behaviour("slow", delay=0, chunk_delay=0)
    start = len(bot.output())
    flood = [tg.inject_private_message(f"{GROQ} ({i})", user_id=5201) for i in range(6)]
    tg.inject_private_message(ASML, user_id=5202)
    final_answer(tg, bot, 5202, start)  # the other user is answered
    ids = [u["message"]["message_id"] for u in flood]
    tg.wait_for(lambda: len(replies_to(tg, 5201, ids[1])) == 1, timeout=20)
    time.sleep(1.0)  # room for any reply that should not come
    replies = [replies_to(tg, 5201, i) for i in ids]
    assert [len(r) for r in replies] == [1, 1, 1, 0, 0, 0]
    assert not any(is_limit_message(m) for r in replies[:2] for m in r)  # answers
    [told] = replies[2]
    assert is_limit_message(told) and "opnieuw" in told.text
    assert bot.output()[start:].count("over the question limit: told") == 1
    tg.assert_no_rejections()


def test_edits_count_and_admins_are_limited_but_may_reindex(
    tg: TelegramEmulator, bot: BotProcess, llm: OpenAIStubServer
) -> None:
    llm.set_behaviour("slow", delay=0, chunk_delay=0)
    start = len(bot.output())
    question = tg.inject_private_message(GROQ, user_id=ADMIN)["message"]
    final_answer(tg, bot, ADMIN, start)
    for text in ("Wat zei Rick over Groq?", "Wat zei Rick Lamers over Nvidia?", "En over ASML?"):
        tg.inject_edited_message(ADMIN, question["message_id"], text)  # edited again and again
    tg.wait_for(lambda: len(replies_to(tg, ADMIN, question["message_id"])) == 3, timeout=20)
    time.sleep(1.0)
    replies = replies_to(tg, ADMIN, question["message_id"])
    assert len(replies) == 3  # the question, its first edit, then the limit message once
    assert sum(is_limit_message(m) for m in replies) == 1
    # /reindex is not a question: the admin over the limit may still run it.
    command = tg.inject_command("reindex", user_id=ADMIN)["message"]
    status = tg.wait_for_message(
        ADMIN, predicate=lambda m: m.reply_to_message_id == command["message_id"], timeout=10
    )
    assert status.history[0].text.startswith("Index bijwerken")
    tg.wait_for(lambda: "Index bijwerken" not in tg.get_message(ADMIN, status.message_id).text, 60)
    tg.assert_no_rejections()


def test_the_key_is_never_logged(bot: BotProcess) -> None:
    assert KEY not in bot.output()


def test_start_up_warms_retrieval_without_calling_the_llm(
    tg: TelegramEmulator, sample_index: Settings, tmp_path: Path
) -> None:
    """The warm-up at start searches the index; it must not ask the provider for search
    queries (outside the LLM executor, without a deadline, before anyone asked)."""
    transcripts, index = copy_corpus(sample_index, tmp_path)
    with OpenAIStubServer(api_key=KEY) as stub:
        stub.set_responder(cited_reply)
        env = bot_env(
            clean_environ(),
            tg,
            transcripts=transcripts,
            index=index,
            state=tmp_path / "state",
            openai_base_url=stub.base_url,
            openai_api_key=KEY,
            llm_search_queries=3,
        )
        process = start_bot(env, tg, tmp_path / "bot.log")
        try:
            process.wait_for_output("ready: 1 episodes", 0)
            assert stub.requests == []
        finally:
            assert process.stop() == 0, process.output()[-3000:]


def test_plain_search_makes_no_llm_request(sample_index: Settings) -> None:
    with OpenAIStubServer(api_key=KEY) as stub:
        settings = sample_index.model_copy(
            update={
                "openai_base_url": stub.base_url,
                "openai_api_key": SecretStr(KEY),
                "llm_search_queries": 3,
            }
        )
        service = AnswerService(settings)
        assert service.load()
        retrieval = service.search("Wat is het verschil tussen Groq en Grok?")
        assert retrieval is not None and retrieval.fragments
        assert stub.requests == []
