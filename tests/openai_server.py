"""A local OpenAI-compatible HTTP server for tests, built on the standard library only.

The real `openai` client and `langchain_openai` talk to it over HTTP on 127.0.0.1::

    with OpenAIStubServer(api_key="test-key") as server:
        server.script(["First answer.", "Second answer."])
        client = openai.OpenAI(base_url=server.base_url, api_key="test-key")
        client.chat.completions.create(model="gpt-4.1-mini", messages=[...])

Endpoints: POST /v1/chat/completions (plain and SSE streaming), POST /v1/embeddings
(deterministic hashed bag-of-words vectors, "float" or "base64"), POST
/v1/audio/transcriptions (multipart, like Whisper: scripted transcripts via
`script_transcripts`, an empty one included; `response_format` json, text, verbose_json,
srt or vtt; a file type Whisper does not take is a 400), POST /v1/rerank (the Cohere /
Jina shape that vLLM and llama.cpp's server speak: `query`, `documents`, optional
`top_n`; results best first with `index` and `relevance_score`, by default the share of
the query's words in the document, else `score_rerank`'s function), GET /v1/models and
GET /v1/models/{id}.

Behaviours (`set_behaviour`), all thread-safe and switchable while the server runs
(transcriptions follow "slow", the error behaviours, "malformed" and `fail_next` too):

- "script": scripted replies (queue, then responder callable, then the default reply)
- "slow": wait `delay` seconds before answering and `chunk_delay` between stream chunks
- "429", "500", "503", "401": OpenAI-shaped error responses
- "malformed": HTTP 200 whose body (or one SSE data line) is not valid JSON
- "cut_stream": send a few chunks, then close the connection abruptly

`fail_next(status, count)` fails only the next `count` requests, then the current
behaviour applies again. Every request is recorded (`requests`), with the
Authorization value redacted.

Note on `retry-after`: the openai client only honours a value strictly greater than 0
(up to 120 s); 0 makes it fall back to its own exponential backoff (about 0.5 s).
The server therefore sends both `retry-after` (seconds) and `retry-after-ms`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email.message
import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

SCRIPT = "script"
SLOW = "slow"
RATE_LIMITED = "429"
SERVER_ERROR = "500"
UNAVAILABLE = "503"
UNAUTHORIZED = "401"
MALFORMED = "malformed"
CUT_STREAM = "cut_stream"
BEHAVIOURS = frozenset(
    {SCRIPT, SLOW, RATE_LIMITED, SERVER_ERROR, UNAVAILABLE, UNAUTHORIZED, MALFORMED, CUT_STREAM}
)
_ERROR_BEHAVIOURS = {RATE_LIMITED: 429, SERVER_ERROR: 500, UNAVAILABLE: 503, UNAUTHORIZED: 401}

DEFAULT_CHAT_MODEL = "gpt-4.1-mini"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_TRANSCRIPTION_MODEL = "whisper-1"
DEFAULT_MODELS = (DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL, DEFAULT_TRANSCRIPTION_MODEL)
DEFAULT_REPLY = "This is the default reply of the stub server."
DEFAULT_TRANSCRIPT = "Dit is de standaardtranscriptie van de testserver."
# The file types OpenAI's transcription endpoint takes (by the upload's file name).
AUDIO_EXTENSIONS = frozenset(
    {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "opus", "wav", "webm"}
)
TRANSCRIPT_FORMATS = frozenset({"json", "text", "verbose_json", "srt", "vtt"})
DEFAULT_EMBEDDING_DIM = 64
REDACTED = "<redacted>"

Responder = Callable[[dict[str, Any]], str]
# Scores one (query, document) pair of a rerank request.
RerankScorer = Callable[[str, str], float]
# Gets the form fields and the uploaded files of a transcription request.
TranscriptResponder = Callable[[dict[str, str], dict[str, "UploadedFile"]], str]

# status -> (type, code, message), shaped like the errors of api.openai.com
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key in your account settings.",
    ),
    403: ("invalid_request_error", "permission_denied", "You do not have access to this."),
    404: ("invalid_request_error", "not_found", "Not found."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in a moment.",
    ),
    500: (
        "server_error",
        "server_error",
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: (
        "server_error",
        "service_unavailable",
        "The server is overloaded or not ready yet.",
    ),
}

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")
_PIECE = re.compile(r"\S+\s*|\s+")


def error_body(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    error_type: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """An OpenAI-shaped error body: {"error": {"message", "type", "param", "code"}}."""
    default_type, default_code, default_message = _ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}"),
    )
    return {
        "error": {
            "message": message or default_message,
            "type": error_type or default_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def count_tokens(text: str) -> int:
    """A rough token count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def split_pieces(text: str) -> list[str]:
    """Split a reply into token-ish stream pieces whose concatenation is `text`."""
    return _PIECE.findall(text)


def embed_text(text: str, dim: int = DEFAULT_EMBEDDING_DIM) -> list[float]:
    """A deterministic, L2-normalised hashed bag-of-words vector (float32 values).

    Texts sharing words get similar vectors; identical texts get identical vectors.
    A text without words gets a fixed unit vector.
    """
    if dim < 1:
        raise ValueError("dim must be at least 1")
    vector = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[digest % dim] += 1.0 if (digest >> 63) & 1 == 0 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        vector = [0.0] * dim
        vector[0] = 1.0
    else:
        vector = [v / norm for v in vector]
    # Round-trip through float32 so the "float" and "base64" encodings agree exactly.
    return list(struct.unpack(f"<{dim}f", struct.pack(f"<{dim}f", *vector)))


def word_share(query: str, document: str) -> float:
    """The share of the query's words (lower case) that the document holds."""
    wanted = set(_WORD.findall(query.lower()))
    held = set(_WORD.findall(document.lower()))
    return len(wanted & held) / len(wanted) if wanted else 0.0


def encode_base64(vector: list[float]) -> str:
    """Encode like the OpenAI API: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def message_text(message: Any) -> str:
    """The text of one chat message, whether `content` is a string or a list of parts."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _input_texts(value: Any) -> list[str]:
    """Embedding `input` as a list of strings; token-id arrays become "tok<id>" words."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return [" ".join(f"tok{v}" for v in value)]
        texts: list[str] = []
        for item in value:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, list):
                texts.append(" ".join(f"tok{v}" for v in item))
            else:
                raise ValueError("input items must be strings or token arrays")
        return texts
    raise ValueError("input must be a string or a list")


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request."""

    field_name: str
    filename: str | None
    content_type: str | None
    content: bytes


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """The form fields and file parts of a multipart/form-data body (ValueError if broken)."""
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not boundary or not isinstance(boundary, str):
        raise ValueError("multipart boundary is missing")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("multipart body is not terminated")
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, _, content = chunk.partition(b"\r\n\r\n")
        headers = HeaderParser().parsestr(head.decode("utf-8", errors="replace"))
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("a multipart part has no name")
        filename = headers.get_filename()
        if filename is not None:
            files[name] = UploadedFile(
                field_name=name,
                filename=unquote(filename),
                content_type=headers.get_content_type() if "content-type" in headers else None,
                content=content,
            )
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


@dataclass
class RecordedRequest:
    """One request as the server saw it (the Authorization value is redacted).

    A multipart request's `body` is its form fields (a dict of strings), `files` its files.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes = b""
    status: int | None = None
    received_at: float = field(default_factory=time.monotonic)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return self.body["messages"]
        return []

    @property
    def text(self) -> str:
        """All message contents and embedding inputs, joined with newlines."""
        parts = [message_text(m) for m in self.messages]
        if isinstance(self.body, dict) and "input" in self.body:
            with contextlib.suppress(ValueError):
                parts.extend(_input_texts(self.body["input"]))
        return "\n".join(parts)

    @property
    def retry_count(self) -> int:
        """The client's `x-stainless-retry-count` header (0 on the first attempt)."""
        try:
            return int(self.headers.get("x-stainless-retry-count", "0"))
        except ValueError:
            return 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stub: OpenAIStubServer) -> None:
        self.stub = stub
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away (timeouts, cut streams)
            return
        if error is not None:
            self.stub._record_error(error)
        super().handle_error(request, client_address)


class _CutConnection(Exception):
    """Internal signal: the response was deliberately cut off."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Small writes (headers, then SSE chunks) must not wait for delayed ACKs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.stub._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.stub._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- request handling -------------------------------------------------------------------

    def _dispatch(self) -> None:
        stub = self.server.stub
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        body: Any = None
        files: dict[str, UploadedFile] = {}
        bad_json = False
        content_type = self.headers.get("Content-Type") or ""
        if content_type.lower().startswith("multipart/form-data"):
            try:
                body, files = parse_multipart(raw, content_type)
            except ValueError:
                bad_json = True  # answered like a body that cannot be parsed
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        headers = {key.lower(): value for key, value in self.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = REDACTED
        record = stub._record(
            RecordedRequest(
                method=self.command,
                path=urlsplit(self.path).path,
                headers=headers,
                body=body,
                raw_body=raw,
                files=files,
            )
        )
        self._current = record
        try:
            self._route(record, bad_json)
        except _CutConnection:
            self.close_connection = True
        except OSError:
            self.close_connection = True
            raise
        except Exception as exc:  # a bug in a responder or in this server
            stub._record_error(exc)
            self._send_error(500, f"stub server error: {exc!r}")
        finally:
            self._current = None

    def send_response(self, code: int, message: str | None = None) -> None:
        # Record the status before any byte reaches the client, so a test that has its
        # response can rely on `RecordedRequest.status`.
        current: RecordedRequest | None = getattr(self, "_current", None)
        if current is not None:
            current.status = code
        super().send_response(code, message)

    def _route(self, record: RecordedRequest, bad_json: bool) -> int:
        stub = self.server.stub
        expected = None if stub.api_key is None else f"Bearer {stub.api_key}"
        if expected is not None and self.headers.get("Authorization") != expected:
            return self._send_error(401)

        plan = stub._plan()
        if plan.fail_status is not None:
            return self._send_error(plan.fail_status, retry_after=plan.retry_after)
        if bad_json:
            if record.path.rstrip("/") == "/v1/audio/transcriptions":
                return self._send_error(400, "We could not parse the multipart body.")
            return self._send_error(400, "We could not parse the JSON body of your request.")

        path = record.path.rstrip("/")
        if self.command == "GET" and path == "/v1/models":
            return self._respond(plan, self._models_payload())
        if self.command == "GET" and path.startswith("/v1/models/"):
            model = unquote(path[len("/v1/models/") :])
            if not stub._model_known(model):
                return self._model_not_found(model)
            return self._respond(plan, _model_entry(model))
        if self.command == "POST" and path == "/v1/chat/completions":
            return self._chat(plan, record.body)
        if self.command == "POST" and path == "/v1/embeddings":
            return self._embeddings(plan, record.body)
        if self.command == "POST" and path == "/v1/audio/transcriptions":
            return self._transcription(plan, record)
        if self.command == "POST" and path == "/v1/rerank":
            return self._rerank(plan, record.body)
        return self._send_error(
            404, f"Invalid URL ({self.command} {record.path})", code="unknown_url"
        )

    def _check_model(self, body: Any) -> tuple[str | None, int | None]:
        if not isinstance(body, dict):
            return None, self._send_error(400, "The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return None, self._send_error(400, "you must provide a model parameter", param="model")
        if not self.server.stub._model_known(model):
            return None, self._model_not_found(model)
        return model, None

    def _model_not_found(self, model: str) -> int:
        return self._send_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )

    def _models_payload(self) -> dict[str, Any]:
        models = self.server.stub.models or ()
        return {"object": "list", "data": [_model_entry(name) for name in sorted(models)]}

    def _chat(self, plan: _Plan, body: Any) -> int:
        model, status = self._check_model(body)
        if status is not None:
            return status
        assert model is not None
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._send_error(400, "messages must be a non-empty list", param="messages")
        reply = self.server.stub._next_reply(body)
        prompt_tokens = sum(count_tokens(message_text(m)) + 3 for m in messages)
        completion_tokens = count_tokens(reply)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = f"chatcmpl-stub{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
            return self._chat_stream(
                plan, completion_id, created, model, reply, usage if include_usage else None
            )
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "system_fingerprint": None,
        }
        return self._respond(plan, payload)

    def _chat_stream(
        self,
        plan: _Plan,
        completion_id: str,
        created: int,
        model: str,
        reply: str,
        usage: dict[str, int] | None,
    ) -> int:
        stub = self.server.stub

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "delta": delta,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
            }
            if usage is not None:
                data["usage"] = None
            return data

        if plan.behaviour == SLOW:
            stub._sleep(plan.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        self.end_headers()

        self._write_event(chunk({"role": "assistant", "content": "", "refusal": None}))
        if plan.behaviour == MALFORMED:
            self._write_chunk(b'data: {"id": "chatcmpl-broken", "choices": [\n\n')
        else:
            for sent, piece in enumerate(split_pieces(reply)):
                if plan.behaviour == CUT_STREAM and sent >= plan.cut_after:
                    self._cut()
                if plan.behaviour == SLOW:
                    stub._sleep(plan.chunk_delay)
                self._write_event(chunk({"content": piece}))
            if plan.behaviour == CUT_STREAM:
                self._cut()
            self._write_event(chunk({}, "stop"))
            if usage is not None:
                final = chunk({})
                final["choices"] = []
                final["usage"] = usage
                self._write_event(final)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")
        return 200

    def _embeddings(self, plan: _Plan, body: Any) -> int:
        model, status = self._check_model(body)
        if status is not None:
            return status
        assert model is not None
        if "input" not in body:
            return self._send_error(400, "you must provide an input parameter", param="input")
        try:
            texts = _input_texts(body["input"])
        except ValueError as exc:
            return self._send_error(400, str(exc), param="input")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            return self._send_error(
                400, f"invalid encoding_format {encoding!r}", param="encoding_format"
            )
        dim = body.get("dimensions") or self.server.stub.embedding_dim
        if not isinstance(dim, int) or dim < 1:
            return self._send_error(
                400, "dimensions must be a positive integer", param="dimensions"
            )
        data = []
        for index, text in enumerate(texts):
            vector = embed_text(text, dim)
            data.append(
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": encode_base64(vector) if encoding == "base64" else vector,
                }
            )
        tokens = sum(count_tokens(text) for text in texts)
        payload = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return self._respond(plan, payload)

    def _rerank(self, plan: _Plan, body: Any) -> int:
        """Cohere / Jina-style reranking: every document scored against the query."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return self._send_error(400, "you must provide a query parameter", param="query")
        documents = body.get("documents")
        if not isinstance(documents, list) or not documents:
            return self._send_error(400, "you must provide documents", param="documents")
        texts = [d.get("text") if isinstance(d, dict) else d for d in documents]
        if not all(isinstance(t, str) for t in texts):
            return self._send_error(400, "documents must be strings", param="documents")
        scorer = self.server.stub.rerank_scorer or word_share
        scores = [float(scorer(body["query"], text)) for text in texts]
        ranked = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n > 0:
            ranked = ranked[:top_n]
        results = [{"index": i, "relevance_score": scores[i]} for i in ranked]
        tokens = count_tokens(body["query"]) * len(texts) + sum(map(count_tokens, texts))
        payload = {
            "id": f"rerank-{uuid.uuid4().hex}",
            "model": body.get("model") or "reranker",
            "results": results,
            "usage": {"total_tokens": tokens},
        }
        return self._respond(plan, payload)

    def _transcription(self, plan: _Plan, record: RecordedRequest) -> int:
        """Whisper-like: multipart `file` + `model` (+ language, prompt, response_format)."""
        fields, files = record.body, record.files
        if not isinstance(fields, dict) or not record.headers.get("content-type", "").startswith(
            "multipart/form-data"
        ):
            return self._send_error(400, "Expected a multipart/form-data request.")
        model = fields.get("model")
        if not model:
            return self._send_error(400, "you must provide a model parameter", param="model")
        if not self.server.stub._model_known(model):
            return self._model_not_found(model)
        upload = files.get("file")
        if upload is None or not upload.content:
            return self._send_error(400, "you must provide a file parameter", param="file")
        extension = (upload.filename or "").rsplit(".", 1)[-1].lower()
        if extension not in AUDIO_EXTENSIONS:
            return self._send_error(
                400,
                f"Invalid file format. Supported formats: {sorted(AUDIO_EXTENSIONS)}",
                param="file",
            )
        language = fields.get("language")
        if language is not None and not re.fullmatch(r"[a-z]{2}", language):
            return self._send_error(
                400, f"Invalid language {language!r}: use ISO-639-1", param="language"
            )
        response_format = fields.get("response_format") or "json"
        if response_format not in TRANSCRIPT_FORMATS:
            return self._send_error(
                400, f"Invalid response_format {response_format!r}", param="response_format"
            )
        text = self.server.stub._next_transcript(fields, files)
        if response_format == "json":
            return self._respond(plan, {"text": text})
        if response_format == "verbose_json":
            payload = {
                "task": "transcribe",
                "language": language or "english",
                "duration": 0.0,
                "text": text,
                "segments": [],
            }
            return self._respond(plan, payload)
        if response_format == "srt":
            text = f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n"
        elif response_format == "vtt":
            text = f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n"
        return self._respond_text(plan, text)

    # -- writing ----------------------------------------------------------------------------

    def _respond_text(self, plan: _Plan, text: str) -> int:
        """Send a 200 text/plain body (transcripts in "text", "srt" and "vtt")."""
        if plan.behaviour == SLOW:
            self.server.stub._sleep(plan.delay)
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return 200

    def _respond(self, plan: _Plan, payload: dict[str, Any]) -> int:
        """Send a 200 JSON payload, applying the slow / malformed / cut_stream behaviours."""
        if plan.behaviour == SLOW:
            self.server.stub._sleep(plan.delay)
        data = json.dumps(payload).encode()
        if plan.behaviour == MALFORMED:
            data = data[: max(1, len(data) // 2)]  # truncated JSON, complete HTTP body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        self.end_headers()
        if plan.behaviour == CUT_STREAM:
            self.wfile.write(data[: len(data) // 2])
            self._cut()
        self.wfile.write(data)
        return 200

    def _send_error(
        self,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> int:
        data = json.dumps(error_body(status, message, code=code, param=param)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        if status == 429 or (status >= 500 and retry_after is not None):
            seconds = self.server.stub.retry_after if retry_after is None else retry_after
            self.send_header("retry-after", f"{seconds:g}")
            self.send_header("retry-after-ms", str(round(seconds * 1000)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _write_event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _cut(self) -> None:
        """Close the connection abruptly, mid-body."""
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _CutConnection


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "stub"}


@dataclass(frozen=True)
class _Plan:
    """A snapshot of what to do with one request."""

    behaviour: str
    fail_status: int | None
    retry_after: float | None
    delay: float
    chunk_delay: float
    cut_after: int


class OpenAIStubServer:
    """An OpenAI-compatible server on 127.0.0.1 running in a background thread.

    Args:
        api_key: the expected bearer token; None accepts any (or no) Authorization header.
        models: the known model names; None accepts any model name.
        embedding_dim: dimension of the embeddings (a request's `dimensions` overrides it).
        default_reply: the reply when the script queue is empty and no responder is set.
        retry_after: seconds sent in `retry-after` / `retry-after-ms` on 429 responses.
        delay: default seconds to wait in the "slow" behaviour.
        cut_after: default number of content chunks sent before "cut_stream" cuts.
        host, port: where to listen; port 0 picks a free ephemeral port.
    """

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        models: Iterable[str] | None = DEFAULT_MODELS,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        default_reply: str = DEFAULT_REPLY,
        retry_after: float = 0.05,
        delay: float = 2.0,
        cut_after: int = 2,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.models: frozenset[str] | None = None if models is None else frozenset(models)
        self.embedding_dim = embedding_dim
        self.default_reply = default_reply
        self.retry_after = retry_after
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._behaviour = SCRIPT
        self._delay = delay
        self._chunk_delay = delay
        self._cut_after = cut_after
        self._default_delay = delay
        self._default_cut_after = cut_after
        self._replies: deque[str] = deque()
        self._responder: Responder | None = None
        self._transcripts: deque[str] = deque()
        self._transcript_responder: TranscriptResponder | None = None
        self.default_transcript = DEFAULT_TRANSCRIPT
        self.rerank_scorer: RerankScorer | None = None
        self._failures: deque[tuple[int, float | None]] = deque()
        self._requests: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> OpenAIStubServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"openai-stub-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in the "slow" behaviour
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The root URL, e.g. http://127.0.0.1:PORT."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to pass as `base_url` to the openai client: http://127.0.0.1:PORT/v1."""
        return f"{self.url}/v1"

    # -- behaviour --------------------------------------------------------------------------

    @property
    def behaviour(self) -> str:
        with self._lock:
            return self._behaviour

    @behaviour.setter
    def behaviour(self, name: str) -> None:
        self.set_behaviour(name)

    def set_behaviour(
        self,
        name: str | int,
        *,
        delay: float | None = None,
        chunk_delay: float | None = None,
        cut_after: int | None = None,
    ) -> None:
        """Switch the behaviour for all following requests.

        `delay` ("slow"): seconds before answering; `chunk_delay` ("slow"): seconds between
        stream chunks (defaults to `delay`); `cut_after` ("cut_stream"): content chunks
        sent before the cut. Options not given fall back to the constructor defaults.
        """
        name = str(name)
        if name not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {name!r}; choose from {sorted(BEHAVIOURS)}")
        with self._lock:
            self._behaviour = name
            self._delay = self._default_delay if delay is None else delay
            self._chunk_delay = self._delay if chunk_delay is None else chunk_delay
            self._cut_after = self._default_cut_after if cut_after is None else cut_after

    def script(self, replies: Iterable[str] | Responder) -> None:
        """Answer with these texts in order (replacing any queued ones), or via a callable.

        A callable gets the decoded request JSON and returns the reply text. Queued texts
        come first, then the responder, then `default_reply`. The behaviour is unchanged,
        so scripted replies also feed "slow", "cut_stream" and streaming responses.
        """
        with self._lock:
            if callable(replies):
                self._responder = replies
            else:
                texts = list(replies)
                if not all(isinstance(text, str) for text in texts):
                    raise TypeError("scripted replies must be strings")
                self._replies = deque(texts)

    def script_transcripts(self, transcripts: Iterable[str] | TranscriptResponder) -> None:
        """Transcribe with these texts in order (replacing queued ones; "" is an empty
        transcript), or via a callable that gets the form fields and files. Queued texts
        come first, then the callable, then `default_transcript`."""
        with self._lock:
            if callable(transcripts):
                self._transcript_responder = transcripts
            else:
                texts = list(transcripts)
                if not all(isinstance(text, str) for text in texts):
                    raise TypeError("scripted transcripts must be strings")
                self._transcripts = deque(texts)

    def set_responder(self, responder: Responder | None) -> None:
        """Set (or with None, clear) the callable that builds replies from the request."""
        with self._lock:
            self._responder = responder

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    def fail_next(self, status: int, count: int = 1, *, retry_after: float | None = None) -> None:
        """Answer the next `count` requests with an error `status`, then recover.

        Failures queue up behind earlier ones. 429 responses (and 5xx when `retry_after` is
        given) carry `retry-after` headers; `retry_after` overrides the server default.
        """
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def reset(self) -> None:
        """Back to the "script" behaviour with no queued replies, responder, failures or records."""
        with self._lock:
            self._behaviour = SCRIPT
            self._delay = self._chunk_delay = self._default_delay
            self._cut_after = self._default_cut_after
            self._replies.clear()
            self._responder = None
            self._transcripts.clear()
            self._transcript_responder = None
            self.rerank_scorer = None
            self._failures.clear()
            self._requests.clear()
            self._errors.clear()

    # -- records ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests to one path, e.g. "/v1/chat/completions"."""
        return [r for r in self.requests if r.path.rstrip("/") == path.rstrip("/")]

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError("no requests recorded")
            return self._requests[-1]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the server (e.g. a failing responder)."""
        with self._lock:
            return list(self._errors)

    # -- internals used by the handler -------------------------------------------------------

    def _record(self, request: RecordedRequest) -> RecordedRequest:
        with self._lock:
            self._requests.append(request)
        return request

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _model_known(self, model: str) -> bool:
        return self.models is None or model in self.models

    def _plan(self) -> _Plan:
        with self._lock:
            fail_status: int | None = None
            retry_after: float | None = None
            if self._failures:
                fail_status, retry_after = self._failures.popleft()
            elif self._behaviour in _ERROR_BEHAVIOURS:
                fail_status = _ERROR_BEHAVIOURS[self._behaviour]
            return _Plan(
                behaviour=self._behaviour,
                fail_status=fail_status,
                retry_after=retry_after,
                delay=self._delay,
                chunk_delay=self._chunk_delay,
                cut_after=self._cut_after,
            )

    def _next_reply(self, body: dict[str, Any]) -> str:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
            responder = self._responder
        if responder is not None:
            reply = responder(body)
            if not isinstance(reply, str):
                raise TypeError(f"responder returned {type(reply).__name__}, not str")
            return reply
        return self.default_reply

    def _next_transcript(self, fields: dict[str, str], files: dict[str, UploadedFile]) -> str:
        with self._lock:
            if self._transcripts:
                return self._transcripts.popleft()
            responder = self._transcript_responder
        if responder is not None:
            text = responder(fields, files)
            if not isinstance(text, str):
                raise TypeError(f"transcript responder returned {type(text).__name__}, not str")
            return text
        return self.default_transcript

    def _sleep(self, seconds: float) -> None:
        """Wait, unless the server stops meanwhile: then drop the connection unanswered."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise ConnectionAbortedError("stub server stopping")


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground, e.g. for manual or subprocess-based testing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="expected bearer token (default: any)")
    parser.add_argument("--any-model", action="store_true", help="accept every model name")
    parser.add_argument("--reply", action="append", default=[], help="a scripted reply")
    args = parser.parse_args(argv)
    server = OpenAIStubServer(
        api_key=args.api_key, models=None if args.any_model else DEFAULT_MODELS, port=args.port
    )
    server.script(args.reply)
    with server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
