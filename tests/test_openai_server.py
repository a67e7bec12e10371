"""The OpenAI-compatible stub server, exercised through the real openai and langchain clients."""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from langchain_openai.chat_models.base import (
    OpenAIAPIError,
    OpenAIAuthenticationError,
    OpenAIConnectionError,
    OpenAIModelNotFoundError,
    OpenAIRateLimitError,
    OpenAITimeoutError,
)
from openai_server import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_TRANSCRIPT,
    DEFAULT_TRANSCRIPTION_MODEL,
    REDACTED,
    OpenAIStubServer,
    count_tokens,
    embed_text,
    split_pieces,
)

API_KEY = "test-key"
DIM = 32
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
VOICE = (Path(__file__).parent / "fixtures" / "voice.ogg").read_bytes()
USER = [{"role": "user", "content": "Wat zei de podcast over AI-regelgeving?"}]


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY, embedding_dim=DIM) as stub:
        yield stub
        assert stub.errors == [], "the stub server itself raised"


@pytest.fixture
def client(server: OpenAIStubServer) -> Iterator[openai.OpenAI]:
    with make_client(server) as sync_client:
        yield sync_client


def make_client(server: OpenAIStubServer, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5.0)
    return openai.OpenAI(base_url=server.base_url, **kwargs)


def make_chat_model(server: OpenAIStubServer, **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("timeout", 5.0)
    return ChatOpenAI(
        base_url=server.base_url, api_key=API_KEY, model=DEFAULT_CHAT_MODEL, max_retries=0, **kwargs
    )


def ask(client: openai.OpenAI, model: str = DEFAULT_CHAT_MODEL) -> str | None:
    completion = client.chat.completions.create(model=model, messages=USER)
    return completion.choices[0].message.content


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


# -- the server itself -----------------------------------------------------------------------


def test_listens_on_an_ephemeral_localhost_port(server: OpenAIStubServer) -> None:
    assert server.port > 0
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    with socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass


def test_stop_closes_the_port_and_interrupts_slow_requests() -> None:
    stub = OpenAIStubServer(api_key=API_KEY).start()
    port = stub.port
    stub.set_behaviour("slow", delay=30)
    outcome: list[BaseException] = []

    def slow_request() -> None:
        with make_client(stub, timeout=30) as slow_client:
            try:
                ask(slow_client)
            except BaseException as exc:  # handed to the main thread
                outcome.append(exc)

    worker = threading.Thread(target=slow_request)
    worker.start()
    deadline = time.monotonic() + 5
    while not stub.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stub.requests, "the slow request never arrived"

    started = time.monotonic()
    stub.stop()
    worker.join(timeout=5)
    assert time.monotonic() - started < 3
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], openai.APIConnectionError)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_unknown_behaviour_is_rejected(server: OpenAIStubServer) -> None:
    with pytest.raises(ValueError, match="unknown behaviour"):
        server.set_behaviour("teapot")
    assert server.behaviour == "script"
    server.behaviour = "500"
    assert server.behaviour == "500"


def test_unknown_path_gets_openai_shaped_404(server: OpenAIStubServer) -> None:
    request = urllib.request.Request(
        f"{server.base_url}/nope", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 404
    error = json.loads(info.value.read())["error"]
    assert error["code"] == "unknown_url"
    assert set(error) == {"message", "type", "param", "code"}


def test_embed_text_is_deterministic_normalised_and_similarity_preserving() -> None:
    a = embed_text("De podcast bespreekt AI in het onderwijs", 64)
    again = embed_text("De podcast bespreekt AI in het onderwijs", 64)
    similar = embed_text("De podcast bespreekt AI in de zorg", 64)
    unrelated = embed_text("Recept voor appeltaart met kaneel", 64)
    assert a == again
    assert len(a) == 64
    assert math.isclose(math.sqrt(sum(v * v for v in a)), 1.0, rel_tol=1e-6)
    assert cosine(a, similar) > cosine(a, unrelated) + 0.3
    assert math.isclose(math.sqrt(sum(v * v for v in embed_text("", 8))), 1.0)


def test_split_pieces_reassembles_the_text() -> None:
    text = "  Zie [1] en [3]:\nAI-wetgeving komt eraan.  "
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert len(pieces) > 3


# -- chat completions through the openai client ----------------------------------------------


def test_chat_completion_returns_scripted_replies_then_default(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.script(["Antwoord één.", "Antwoord twee."])
    first = client.chat.completions.create(model=DEFAULT_CHAT_MODEL, messages=USER)
    assert first.choices[0].message.content == "Antwoord één."
    assert first.choices[0].message.role == "assistant"
    assert first.choices[0].finish_reason == "stop"
    assert first.model == DEFAULT_CHAT_MODEL
    assert first.object == "chat.completion"
    assert first.id.startswith("chatcmpl-")
    assert first.usage is not None
    assert first.usage.completion_tokens == count_tokens("Antwoord één.")
    assert first.usage.prompt_tokens > 0
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert ask(client) == "Antwoord twee."
    assert ask(client) == server.default_reply
    assert server.pending_replies == 0


def test_requests_are_recorded_with_the_key_redacted(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    messages = [
        {"role": "system", "content": "Fragmenten:\n[1] Aflevering 12 over de AI Act."},
        {"role": "user", "content": "Wat is de AI Act?"},
        {"role": "assistant", "content": "Een Europese wet [1]."},
        {"role": "user", "content": "En wanneer gaat die in?"},
    ]
    client.chat.completions.create(model=DEFAULT_CHAT_MODEL, messages=messages, temperature=0.2)
    recorded = server.last_request
    assert recorded.method == "POST"
    assert recorded.path == CHAT
    assert recorded.status == 200
    assert recorded.body["temperature"] == 0.2
    assert recorded.messages == messages
    assert "[1] Aflevering 12 over de AI Act." in recorded.text
    assert "En wanneer gaat die in?" in recorded.text
    assert recorded.headers["authorization"] == REDACTED
    assert API_KEY not in json.dumps(recorded.headers)
    assert recorded.headers["content-type"] == "application/json"


def test_responder_builds_the_reply_from_the_request(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    def cite_fragments(request: dict[str, Any]) -> str:
        prompt = "\n".join(str(m.get("content")) for m in request["messages"])
        numbers = re.findall(r"^\[(\d+)\]", prompt, flags=re.MULTILINE)
        return "Volgens " + " en ".join(f"[{n}]" for n in numbers) + "."

    server.script(cite_fragments)
    messages = [
        {"role": "system", "content": "[2] Over chips.\n[5] Over taalmodellen."},
        {"role": "user", "content": "Vraag?"},
    ]
    completion = client.chat.completions.create(model=DEFAULT_CHAT_MODEL, messages=messages)
    assert completion.choices[0].message.content == "Volgens [2] en [5]."
    server.script(["queued first"])
    assert ask(client) == "queued first"
    server.set_responder(None)
    assert ask(client) == server.default_reply


def test_failing_responder_gives_500_and_is_reported(server: OpenAIStubServer) -> None:
    def broken(request: dict[str, Any]) -> str:
        raise RuntimeError("responder bug")

    server.script(broken)
    with make_client(server) as sync_client, pytest.raises(openai.InternalServerError):
        ask(sync_client)
    assert [type(e) for e in server.errors] == [RuntimeError]
    server.reset()  # so the fixture's no-errors check passes
    assert server.errors == [] and server.requests == []


def test_streaming_yields_pieces_usage_and_stops(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    reply = "De AI Act [1] geldt vanaf 2026 [2]."
    server.script([reply])
    stream = client.chat.completions.create(
        model=DEFAULT_CHAT_MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content for c in content_chunks) == reply
    assert len(content_chunks) == len(split_pieces(reply)) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == count_tokens(reply)
    assert all(c.model == DEFAULT_CHAT_MODEL for c in chunks)
    assert len({c.id for c in chunks}) == 1


def test_streaming_without_include_usage_sends_no_usage(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.script(["Kort antwoord."])
    chunks = list(
        client.chat.completions.create(model=DEFAULT_CHAT_MODEL, messages=USER, stream=True)
    )
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Kort antwoord."


async def test_async_streaming(server: OpenAIStubServer) -> None:
    server.script(["Asynchroon gestreamd antwoord."])
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key=API_KEY, max_retries=0, timeout=5
    ) as async_client:
        stream = await async_client.chat.completions.create(
            model=DEFAULT_CHAT_MODEL,
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = ""
        usage = None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage is not None:
                usage = chunk.usage
    assert text == "Asynchroon gestreamd antwoord."
    assert usage is not None and usage.completion_tokens == count_tokens(text)


def test_models_are_listed(server: OpenAIStubServer, client: openai.OpenAI) -> None:
    assert sorted(m.id for m in client.models.list()) == sorted(
        [DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL, DEFAULT_TRANSCRIPTION_MODEL]
    )
    assert client.models.retrieve(DEFAULT_CHAT_MODEL).id == DEFAULT_CHAT_MODEL


def test_without_known_models_and_key_anything_goes() -> None:
    with OpenAIStubServer(api_key=None, models=None) as stub:
        stub.script(["ok"])
        with make_client(stub, api_key="whatever") as sync_client:
            assert ask(sync_client, model="any-local-model") == "ok"
            assert list(sync_client.models.list()) == []


# -- embeddings ----------------------------------------------------------------------------------


def test_openai_embeddings_float_and_base64_agree(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    texts = ["AI in de zorg", "AI in het onderwijs"]
    by_default = client.embeddings.create(model=DEFAULT_EMBEDDING_MODEL, input=texts)
    assert server.last_request.body["encoding_format"] == "base64"  # the client's default
    as_float = client.embeddings.create(
        model=DEFAULT_EMBEDDING_MODEL, input=texts, encoding_format="float"
    )
    raw = client.embeddings.create(
        model=DEFAULT_EMBEDDING_MODEL, input="AI in de zorg", encoding_format="base64"
    )
    assert [d.embedding for d in by_default.data] == [d.embedding for d in as_float.data]
    assert as_float.data[0].embedding == embed_text(texts[0], DIM)
    assert [d.index for d in as_float.data] == [0, 1]
    assert isinstance(raw.data[0].embedding, str)
    assert as_float.usage.prompt_tokens == sum(count_tokens(t) for t in texts)
    assert as_float.model == DEFAULT_EMBEDDING_MODEL
    dims = client.embeddings.create(
        model=DEFAULT_EMBEDDING_MODEL, input="x", dimensions=8, encoding_format="float"
    )
    assert len(dims.data[0].embedding) == 8


def test_langchain_embeddings(server: OpenAIStubServer) -> None:
    embeddings = OpenAIEmbeddings(
        base_url=server.base_url,
        api_key=API_KEY,
        model=DEFAULT_EMBEDDING_MODEL,
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    texts = [
        "De podcast bespreekt AI in het onderwijs",
        "De podcast bespreekt AI in het onderwijs",
        "De podcast bespreekt AI in de zorg",
        "Recept voor appeltaart met kaneel",
    ]
    vectors = embeddings.embed_documents(texts)
    assert [len(v) for v in vectors] == [DIM] * 4
    assert vectors[0] == vectors[1]
    assert cosine(vectors[0], vectors[2]) > cosine(vectors[0], vectors[3])
    assert embeddings.embed_query(texts[0]) == vectors[0]
    assert server.requests_to(EMBEDDINGS)[0].body["input"] == texts


async def test_langchain_embeddings_async(server: OpenAIStubServer) -> None:
    # An explicit HTTP client, closed before pytest-asyncio closes the event loop.
    async with openai.DefaultAsyncHttpxClient() as http_async_client:
        embeddings = OpenAIEmbeddings(
            base_url=server.base_url,
            api_key=API_KEY,
            model=DEFAULT_EMBEDDING_MODEL,
            check_embedding_ctx_length=False,
            max_retries=0,
            http_async_client=http_async_client,
        )
        vector = await embeddings.aembed_query("AI in de zorg")
    assert vector == embed_text("AI in de zorg", DIM)


# -- langchain-openai chat -------------------------------------------------------------------


def test_chat_openai_invoke_sends_history_and_returns_script(server: OpenAIStubServer) -> None:
    server.script(["Het antwoord volgens [1]."])
    history = [
        SystemMessage("Beantwoord met bronnen.\n[1] Fragment uit aflevering 3."),
        HumanMessage("Eerste vraag?"),
        AIMessage("Eerste antwoord."),
        HumanMessage("Vervolgvraag?"),
    ]
    result = make_chat_model(server).invoke(history)
    assert result.content == "Het antwoord volgens [1]."
    assert result.usage_metadata is not None and result.usage_metadata["output_tokens"] > 0
    recorded = server.last_request
    assert recorded.path == CHAT
    assert [m["role"] for m in recorded.messages] == ["system", "user", "assistant", "user"]
    assert "[1] Fragment uit aflevering 3." in recorded.text
    assert recorded.body["model"] == DEFAULT_CHAT_MODEL


def test_chat_openai_stream_returns_script_with_usage(server: OpenAIStubServer) -> None:
    reply = "Gestreamd via LangChain, met bron [2]."
    server.script([reply])
    chunks = list(make_chat_model(server, stream_usage=True).stream("Vraag?"))
    assert "".join(str(c.content) for c in chunks) == reply
    assert sum(1 for c in chunks if c.content) == len(split_pieces(reply))
    total: AIMessageChunk = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == count_tokens(reply)
    assert server.last_request.body["stream"] is True
    assert server.last_request.body["stream_options"] == {"include_usage": True}


async def test_chat_openai_astream(server: OpenAIStubServer) -> None:
    server.script(["Async LangChain."])
    async with openai.DefaultAsyncHttpxClient() as http_async_client:
        model = make_chat_model(server, http_async_client=http_async_client)
        pieces = [str(c.content) async for c in model.astream("Vraag?")]
    assert "".join(pieces) == "Async LangChain."


# -- failure modes through the openai client ------------------------------------------------


def test_wrong_api_key_is_authentication_error(server: OpenAIStubServer) -> None:
    with (
        make_client(server, api_key="wrong-key") as sync_client,
        pytest.raises(openai.AuthenticationError) as info,
    ):
        ask(sync_client)
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert info.value.type == "invalid_request_error"
    assert server.last_request.status == 401


def test_behaviour_401_fails_even_with_the_right_key(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.set_behaviour("401")
    with pytest.raises(openai.AuthenticationError):
        ask(client)
    server.set_behaviour("script")
    assert ask(client) == server.default_reply


def test_rate_limit_without_retries(server: OpenAIStubServer, client: openai.OpenAI) -> None:
    server.set_behaviour("429")
    with pytest.raises(openai.RateLimitError) as info:
        ask(client)
    assert info.value.status_code == 429
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "0.05"
    assert info.value.response.headers["retry-after-ms"] == "50"
    assert len(server.requests) == 1


def test_rate_limit_once_then_recovers_with_retries(server: OpenAIStubServer) -> None:
    server.script(["Na één retry."])
    server.fail_next(429, 1)
    with make_client(server, max_retries=2) as sync_client:
        assert ask(sync_client) == "Na één retry."
    assert [(r.status, r.retry_count) for r in server.requests] == [(429, 0), (200, 1)]


def test_retries_are_bounded(server: OpenAIStubServer) -> None:
    server.set_behaviour("429")
    with make_client(server, max_retries=2) as sync_client, pytest.raises(openai.RateLimitError):
        ask(sync_client)
    assert [r.retry_count for r in server.requests] == [0, 1, 2]


def test_client_honours_retry_after(server: OpenAIStubServer) -> None:
    # The client's own backoff for a first retry is at most 0.5 s, so a wait of at
    # least 0.8 s can only come from the retry-after header.
    server.fail_next(429, 1, retry_after=0.8)
    with make_client(server, max_retries=1) as sync_client:
        started = time.monotonic()
        ask(sync_client)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.8
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.8


def test_fail_next_queues_failures_then_recovers(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.fail_next(500)
    server.fail_next(503)
    with pytest.raises(openai.InternalServerError) as first:
        ask(client)
    with pytest.raises(openai.InternalServerError) as second:
        ask(client)
    assert (first.value.status_code, second.value.status_code) == (500, 503)
    assert ask(client) == server.default_reply


@pytest.mark.parametrize("behaviour", ["500", "503"])
def test_server_errors(server: OpenAIStubServer, client: openai.OpenAI, behaviour: str) -> None:
    server.set_behaviour(behaviour)
    with pytest.raises(openai.InternalServerError) as info:
        ask(client)
    assert info.value.status_code == int(behaviour)
    assert info.value.type == "server_error"


def test_server_error_is_retried_then_recovers(server: OpenAIStubServer) -> None:
    server.fail_next(503, 1, retry_after=0.01)
    with make_client(server, max_retries=1) as sync_client:
        assert ask(sync_client) == server.default_reply
    assert [r.status for r in server.requests] == [503, 200]


def test_malformed_json_raises_json_decode_error_without_retry(server: OpenAIStubServer) -> None:
    server.set_behaviour("malformed")
    with make_client(server, max_retries=2) as sync_client:
        with pytest.raises(json.JSONDecodeError):
            ask(sync_client)
        with pytest.raises(json.JSONDecodeError):
            sync_client.embeddings.create(model=DEFAULT_EMBEDDING_MODEL, input="x")
    assert len(server.requests) == 2  # not retried


def test_malformed_stream_raises_json_decode_error(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.set_behaviour("malformed")
    stream = client.chat.completions.create(model=DEFAULT_CHAT_MODEL, messages=USER, stream=True)
    received = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 1
    assert received[0].choices[0].delta.role == "assistant"


def test_slow_server_times_out(server: OpenAIStubServer) -> None:
    server.set_behaviour("slow", delay=5)
    with make_client(server, timeout=0.5) as sync_client:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(sync_client)
        assert 0.4 < time.monotonic() - started < 3


def test_slow_server_within_the_timeout_answers(server: OpenAIStubServer) -> None:
    server.set_behaviour("slow", delay=0.2, chunk_delay=0.01)
    server.script(["Langzaam maar zeker."])
    with make_client(server, timeout=5) as sync_client:
        started = time.monotonic()
        assert ask(sync_client) == "Langzaam maar zeker."
        assert time.monotonic() - started >= 0.2


def test_stream_stalling_between_chunks_times_out(server: OpenAIStubServer) -> None:
    server.script(["Dit antwoord komt nooit helemaal aan."])
    server.set_behaviour("slow", delay=0, chunk_delay=5)
    with make_client(server, timeout=0.5) as sync_client:
        stream = sync_client.chat.completions.create(
            model=DEFAULT_CHAT_MODEL, messages=USER, stream=True
        )
        received = []
        with pytest.raises(openai.APITimeoutError):
            for chunk in stream:
                received.append(chunk)
    assert [c.choices[0].delta.role for c in received] == ["assistant"]


def test_cut_stream_raises_connection_error_after_first_chunks(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.script(["Een twee drie vier vijf."])
    server.set_behaviour("cut_stream", cut_after=2)
    stream = client.chat.completions.create(model=DEFAULT_CHAT_MODEL, messages=USER, stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in stream:
            received.append(chunk)
    assert type(info.value) is openai.APIConnectionError
    assert [c.choices[0].delta.content for c in received] == ["", "Een ", "twee "]
    assert all(c.choices[0].finish_reason is None for c in received)


def test_cut_plain_response_is_a_retried_connection_error(server: OpenAIStubServer) -> None:
    server.set_behaviour("cut_stream")
    with (
        make_client(server, max_retries=1) as sync_client,
        pytest.raises(openai.APIConnectionError) as info,
    ):
        ask(sync_client)
    assert type(info.value) is openai.APIConnectionError
    assert [r.retry_count for r in server.requests] == [0, 1]


def test_unknown_model_is_not_found(server: OpenAIStubServer, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        ask(client, model="gpt-does-not-exist")
    assert info.value.code == "model_not_found"
    assert "gpt-does-not-exist" in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-embedder", input="x")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-does-not-exist")


# -- failure modes through langchain-openai --------------------------------------------------

LANGCHAIN_FAILURES = [
    ("401", OpenAIAuthenticationError, ModelAuthenticationError),
    ("429", OpenAIRateLimitError, ModelRateLimitError),
    ("500", OpenAIAPIError, ModelAPIError),
    ("503", OpenAIAPIError, ModelAPIError),
    ("cut_stream", OpenAIConnectionError, ModelConnectionError),
    ("slow", OpenAITimeoutError, ModelTimeoutError),
    ("malformed", json.JSONDecodeError, ValueError),
]


@pytest.mark.parametrize("method", ["invoke", "stream"])
@pytest.mark.parametrize(("behaviour", "expected", "generic"), LANGCHAIN_FAILURES)
def test_chat_openai_failure_types(
    server: OpenAIStubServer,
    method: str,
    behaviour: str,
    expected: type[BaseException],
    generic: type[BaseException],
) -> None:
    server.set_behaviour(behaviour, delay=5)
    model = make_chat_model(server, timeout=0.5)
    with pytest.raises(generic) as info:
        if method == "invoke":
            model.invoke("Vraag?")
        else:
            list(model.stream("Vraag?"))
    assert type(info.value) is expected
    assert len(server.requests) == 1  # max_retries=0


def test_chat_openai_unknown_model(server: OpenAIStubServer) -> None:
    model = ChatOpenAI(
        base_url=server.base_url, api_key=API_KEY, model="gpt-does-not-exist", max_retries=0
    )
    with pytest.raises(ModelNotFoundError) as info:
        model.invoke("Vraag?")
    assert type(info.value) is OpenAIModelNotFoundError
    assert isinstance(info.value, openai.NotFoundError)


def test_langchain_embeddings_errors_are_plain_openai_errors(server: OpenAIStubServer) -> None:
    embeddings = OpenAIEmbeddings(
        base_url=server.base_url,
        api_key=API_KEY,
        model=DEFAULT_EMBEDDING_MODEL,
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    server.set_behaviour("429")
    with pytest.raises(openai.RateLimitError) as info:
        embeddings.embed_query("x")
    assert type(info.value) is openai.RateLimitError


# ------------------------------------------------------------------------ transcriptions


def transcribe(client: openai.OpenAI, name: str = "voice.ogg", **kwargs: Any) -> Any:
    kwargs.setdefault("model", DEFAULT_TRANSCRIPTION_MODEL)
    return client.audio.transcriptions.create(file=(name, VOICE, "audio/ogg"), **kwargs)


def test_transcription_receives_the_audio_and_fields(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.script_transcripts(["Wat zei Rick over Groq?", ""])
    first = transcribe(client, language="nl", prompt="Namen: Groq, Anthropic.")
    assert first.text == "Wat zei Rick over Groq?"
    [request] = server.requests_to(TRANSCRIPTIONS)
    assert request.body == {
        "model": DEFAULT_TRANSCRIPTION_MODEL,
        "language": "nl",
        "prompt": "Namen: Groq, Anthropic.",
    }
    upload = request.files["file"]
    assert (upload.filename, upload.content_type, upload.content) == (
        "voice.ogg",
        "audio/ogg",
        VOICE,
    )
    assert request.headers["authorization"] == REDACTED
    assert transcribe(client).text == ""  # the scripted empty transcript
    assert transcribe(client).text == DEFAULT_TRANSCRIPT  # the queue is used up


def test_transcription_formats_and_responder(
    server: OpenAIStubServer, client: openai.OpenAI
) -> None:
    server.script_transcripts(
        lambda fields, files: f"{fields['model']}:{len(files['file'].content)}"
    )
    expected = f"{DEFAULT_TRANSCRIPTION_MODEL}:{len(VOICE)}"
    assert transcribe(client, response_format="text").strip() == expected
    assert transcribe(client, response_format="verbose_json").text == expected
    assert expected in transcribe(client, response_format="srt")
    assert transcribe(client, response_format="vtt").startswith("WEBVTT")


@pytest.mark.parametrize(
    ("kwargs", "name", "error", "fragment"),
    [
        ({}, "voice.aac", openai.BadRequestError, "Invalid file format"),
        ({"language": "dutch"}, "voice.ogg", openai.BadRequestError, "ISO-639-1"),
        ({"model": "whisper-9"}, "voice.ogg", openai.NotFoundError, "whisper-9"),
    ],
    ids=["format", "language", "model"],
)
def test_transcription_rejects_what_whisper_rejects(
    server: OpenAIStubServer, client: openai.OpenAI, kwargs, name, error, fragment
) -> None:
    with pytest.raises(error) as info:
        transcribe(client, name, **kwargs)
    assert fragment in str(info.value)


def test_transcription_follows_the_error_and_slow_behaviours(server: OpenAIStubServer) -> None:
    with make_client(server, max_retries=0, timeout=0.3) as client:
        server.set_behaviour("500")
        with pytest.raises(openai.InternalServerError):
            transcribe(client)
        server.set_behaviour("slow", delay=1.0)
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            transcribe(client)
        assert time.monotonic() - started < 0.9
        server.set_behaviour("script")
        server.fail_next(503)
        with pytest.raises(openai.InternalServerError):
            transcribe(client)
        assert transcribe(client).text == DEFAULT_TRANSCRIPT
    statuses = [r.status for r in server.requests_to(TRANSCRIPTIONS)]
    assert len(statuses) == 4  # the slow one may still be asleep: its status is not checked
    assert statuses[0] == 500 and statuses[2:] == [503, 200]


def test_a_broken_multipart_body_is_a_400(server: OpenAIStubServer) -> None:
    request = urllib.request.Request(
        f"{server.base_url}/audio/transcriptions",
        data=b"--x\r\nnot a part",
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Authorization": f"Bearer {API_KEY}",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 400
