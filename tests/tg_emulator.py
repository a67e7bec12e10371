"""A local emulator of the Telegram Bot API for end-to-end tests.

The emulator is a small HTTP server (standard library only) that listens on 127.0.0.1 and
behaves like ``api.telegram.org`` closely enough that the real python-telegram-bot library can
talk to it, including long polling with ``getUpdates``. Tests inject user updates (messages,
commands, button presses, uploads, ...) and inspect everything the bot sent.

Typical use::

    with TelegramEmulator() as tg:
        bot = telegram.Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        ...
        update = tg.inject_private_message("Hallo!")
        reply = tg.wait_for_message(update["message"]["chat"]["id"])

Wire format notes (as produced by python-telegram-bot's ``HTTPXRequest``):

* Requests are POSTs, ``application/x-www-form-urlencoded`` unless files are uploaded, in which
  case ``multipart/form-data`` is used. Every value is a string; non-string values (ints, bools,
  nested objects such as ``reply_markup``, ``entities``, ``commands``) are JSON encoded.
* Responses are ``{"ok": true, "result": ...}`` or
  ``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``. PTB maps the
  HTTP status code (not ``error_code``) to its exception classes, and
  ``parameters.retry_after`` to ``telegram.error.RetryAfter``.
* Text offsets in entities are measured in UTF-16 code units, like Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.message
import itertools
import json
import mimetypes
import re
import secrets
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "DEFAULT_GROUP_ID",
    "DEFAULT_USER_ID",
    "ApiCall",
    "CallbackAnswer",
    "ChatActionRecord",
    "DraftRecord",
    "HtmlParseError",
    "MessageVersion",
    "SentMessage",
    "TelegramEmulator",
    "UploadedFile",
    "parse_html",
    "utf16_len",
]

DEFAULT_USER_ID = 1001
DEFAULT_GROUP_ID = -1001234567890

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
CALLBACK_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
GET_UPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# Update types that are only delivered when explicitly listed in allowed_updates.
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# How request parameters are decoded. Everything else stays a string.
_JSON_PARAMS = frozenset(
    {
        "allowed_updates",
        "button",
        "caption_entities",
        "commands",
        "entities",
        "explanation_entities",
        "input_message_content",
        "link_preview_options",
        "media",
        "menu_button",
        "message_ids",
        "options",
        "permissions",
        "question_entities",
        "reaction",
        "reply_markup",
        "reply_parameters",
        "results",
        "rights",
        "scope",
        "suggested_post_parameters",
    }
)
_INT_PARAMS = frozenset(
    {
        "cache_time",
        "chat_id",
        "direct_messages_topic_id",
        "draft_id",
        "duration",
        "from_chat_id",
        "height",
        "limit",
        "max_connections",
        "message_id",
        "message_thread_id",
        "offset",
        "reply_to_message_id",
        "timeout",
        "until_date",
        "user_id",
        "width",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "allow_paid_broadcast",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "for_channels",
        "has_spoiler",
        "is_big",
        "protect_content",
        "show_alert",
    }
)
_FLOAT_PARAMS = frozenset({"latitude", "longitude"})

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


# --------------------------------------------------------------------------------------------
# UTF-16 helpers
# --------------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (the unit Telegram uses for entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of ``text`` covered by an entity with the given UTF-16 offset and length."""
    raw = text.encode("utf-16-le")
    return raw[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="replace")


def _char_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


# --------------------------------------------------------------------------------------------
# HTML parse mode
# --------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """Raised by :func:`parse_html` for markup that Telegram would reject."""


_ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
}
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(
    r"&(?:#([0-9]{1,10})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]{0,31}));"
)


@dataclass
class _OpenTag:
    name: str
    start: int  # UTF-16 offset in the output text
    attrs: dict[str, str]
    byte_offset: int
    inside_pre: bool = False
    language: str | None = None


def _decode_html_entity(match: re.Match[str]) -> str | None:
    """Decoded text of an entity match; None for unsupported named entities."""
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_HTML_ENTITIES.get(name)
    code_point = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code_point == 0 or code_point > 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        # Telegram keeps invalid numeric references as literal text.
        return match.group(0)
    return chr(code_point)


def _unescape_attribute(value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        decoded = _decode_html_entity(match)
        return match.group(0) if decoded is None else decoded

    return _HTML_ENTITY_RE.sub(replace, value)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Convert Telegram-flavoured HTML to ``(plain_text, entities)``.

    Follows the Bot API's "HTML style" rules (modelled on tdlib's parser): only the supported
    tags, only ``&lt; &gt; &amp; &quot;`` and numeric character references; everything else
    raises :class:`HtmlParseError` with a tdlib-like reason. Entity offsets and lengths are in
    UTF-16 code units. Leading/trailing whitespace is *not* stripped here.
    """
    out: list[str] = []
    pos = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0

    def byte_offset(index: int) -> int:
        return len(source[:index].encode("utf-8"))

    while i < n:
        ch = source[i]
        if ch == "&":
            match = _HTML_ENTITY_RE.match(source, i)
            if match:
                decoded = _decode_html_entity(match)
                if decoded is None:
                    raise HtmlParseError(
                        f'Unsupported HTML entity "{match.group(0)}" at byte offset '
                        f"{byte_offset(i)}; only &lt; &gt; &amp; &quot; and numeric entities "
                        "are supported"
                    )
                out.append(decoded)
                pos += utf16_len(decoded)
                i = match.end()
                continue
            out.append(ch)
            pos += 1
            i += 1
            continue
        if ch != "<":
            out.append(ch)
            pos += _char_units(ch)
            i += 1
            continue

        begin = i
        if i + 1 < n and source[i + 1] == "/":
            # End tag.
            j = i + 2
            while j < n and source[j] != ">" and not source[j].isspace():
                j += 1
            name = source[i + 2 : j].lower()
            while j < n and source[j].isspace():
                j += 1
            if j >= n or source[j] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            top = stack.pop()
            if name != top.name:
                raise HtmlParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, expected "
                    f'"</{top.name}>", found "</{name}>"'
                )
            _close_tag(top, pos, stack, entities)
            i = j + 1
            continue

        # Start tag.
        j = i + 1
        while j < n and source[j] != ">" and not source[j].isspace():
            j += 1
        if j >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        name = source[i + 1 : j].lower()
        if name not in _ALLOWED_TAGS:
            raise HtmlParseError(
                f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}'
            )
        attrs: dict[str, str] = {}
        while True:
            while j < n and source[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(
                    f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}'
                )
            if source[j] == ">":
                j += 1
                break
            k = j
            while k < n and not source[k].isspace() and source[k] not in "=>":
                k += 1
            attr_name = source[j:k].lower()
            if not attr_name:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {byte_offset(begin)}'
                )
            j = k
            while j < n and source[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(
                    f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}'
                )
            if source[j] != "=":
                if name == "blockquote" and attr_name == "expandable":
                    attrs[attr_name] = ""
                    continue
                raise HtmlParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{name}" at byte offset {byte_offset(begin)}'
                )
            j += 1
            while j < n and source[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(
                    f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}'
                )
            quote = source[j]
            if quote in "\"'":
                end = source.find(quote, j + 1)
                if end < 0:
                    raise HtmlParseError(
                        f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}'
                    )
                value = source[j + 1 : end]
                j = end + 1
            else:
                k = j
                while k < n and not source[k].isspace() and source[k] != ">":
                    k += 1
                value = source[j:k]
                j = k
            attrs[attr_name] = _unescape_attribute(value)

        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        if name == "tg-emoji":
            emoji_id = attrs.get("emoji-id", "")
            if not emoji_id.isdigit() or int(emoji_id) == 0:
                raise HtmlParseError("Invalid custom emoji identifier specified")
        inside_pre = name == "code" and bool(stack) and stack[-1].name == "pre"
        stack.append(_OpenTag(name, pos, attrs, byte_offset(begin), inside_pre))
        i = j

    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_tag(
    tag: _OpenTag, end: int, stack: list[_OpenTag], entities: list[dict[str, Any]]
) -> None:
    length = end - tag.start
    if tag.name == "code" and tag.inside_pre:
        # <pre><code class="language-x"> defines the language of the enclosing pre entity.
        css_class = tag.attrs.get("class", "")
        if css_class.startswith("language-") and len(css_class) > len("language-"):
            stack[-1].language = css_class[len("language-") :]
        return
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": tag.start, "length": length}
    if tag.name in _SIMPLE_TAG_TYPES:
        entity["type"] = _SIMPLE_TAG_TYPES[tag.name]
    elif tag.name == "pre":
        entity["type"] = "pre"
        if tag.language:
            entity["language"] = tag.language
    elif tag.name == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
    elif tag.name == "tg-emoji":
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    elif tag.name == "a":
        href = tag.attrs.get("href", "").strip()
        mention = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if mention:
            entity["type"] = "text_mention"
            entity["user"] = {"id": int(mention.group(1)), "is_bot": False, "first_name": ""}
        elif href:
            entity["type"] = "text_link"
            entity["url"] = href
        else:
            # Like Telegram: an <a> without href creates no entity.
            return
    else:  # pragma: no cover - all allowed tags are handled above
        return
    entities.append(entity)


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace like Telegram and shift/clip the entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    left = utf16_len(text[: len(text) - len(text.lstrip())])
    new_len = utf16_len(stripped)
    result = []
    for entity in entities:
        start = max(entity["offset"] - left, 0)
        end = min(entity["offset"] + entity["length"] - left, new_len)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


# Entities Telegram detects automatically in user messages.
_AUTO_ENTITY_PATTERNS = (
    ("url", re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'}]")),
    ("bot_command", re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{4,32}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities (url, bot_command, mention, hashtag) Telegram would attach to a user's text."""
    found: list[tuple[int, int, str]] = []
    for entity_type, pattern in _AUTO_ENTITY_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < e_end and end > e_start for e_start, e_end, _ in found):
                continue
            found.append((start, end, entity_type))
    found.sort()
    return [
        {"offset": utf16_len(text[:start]), "length": utf16_len(text[start:end]), "type": kind}
        for start, end, kind in found
    ]


# --------------------------------------------------------------------------------------------
# Records exposed to tests
# --------------------------------------------------------------------------------------------


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    field_name: str
    filename: str | None
    content: bytes
    content_type: str | None


@dataclass
class ApiCall:
    """One HTTP request the emulator received, with its decoded parameters and outcome."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile] = field(default_factory=dict)
    http_method: str = "POST"
    timestamp: float = field(default_factory=time.time)
    ok: bool | None = None
    error_code: int | None = None
    description: str | None = None
    result: Any = None
    injected_failure: bool = False
    abandoned: bool = False  # long poll whose client disconnected before an answer was sent

    @property
    def rejected(self) -> bool:
        return self.ok is False and not self.injected_failure


@dataclass
class MessageVersion:
    """One version of a bot message (the original send or an edit)."""

    text: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    raw_text: str | None
    parse_mode: str | None
    method: str
    timestamp: float = field(default_factory=time.time)


@dataclass
class SentMessage:
    """A message sent by the bot, with its current state and edit history."""

    chat_id: int
    message_id: int
    kind: str  # "text", "document", "photo", ...
    message: dict[str, Any]  # current Message JSON, as the Bot API would return it
    params: dict[str, Any]  # parameters of the call that created the message
    history: list[MessageVersion] = field(default_factory=list)  # original first, current last
    deleted: bool = False
    file: UploadedFile | None = None

    @property
    def current(self) -> MessageVersion:
        return self.history[-1]

    @property
    def text(self) -> str | None:
        """Current plain text (or caption for media), after HTML parsing and edits."""
        return self.current.text

    @property
    def raw_text(self) -> str | None:
        """Current text exactly as the bot sent it (e.g. still containing HTML tags)."""
        return self.current.raw_text

    @property
    def entities(self) -> list[dict[str, Any]]:
        return self.current.entities

    @property
    def parse_mode(self) -> str | None:
        return self.current.parse_mode

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        return self.current.reply_markup

    @property
    def edits(self) -> list[MessageVersion]:
        return self.history[1:]

    @property
    def reply_to_message_id(self) -> int | None:
        reply = self.message.get("reply_to_message")
        return reply["message_id"] if reply else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """All inline keyboard buttons, row by row."""
        markup = self.reply_markup or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def entity_texts(self, entity_type: str | None = None) -> list[str]:
        """Text covered by each entity (optionally only entities of one type)."""
        text = self.text or ""
        return [
            utf16_slice(text, e["offset"], e["length"])
            for e in self.entities
            if entity_type is None or e["type"] == entity_type
        ]


@dataclass
class ChatActionRecord:
    chat_id: int
    action: str
    message_thread_id: int | None = None
    timestamp: float = field(default_factory=time.time)


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    query: dict[str, Any]
    timestamp: float = field(default_factory=time.time)


@dataclass
class DraftRecord:
    chat_id: int
    draft_id: int
    text: str
    entities: list[dict[str, Any]]
    raw_text: str | None
    parse_mode: str | None
    timestamp: float = field(default_factory=time.time)


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, error_code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


class _Abandoned(Exception):
    """The client of a long poll went away; no answer is sent."""


def _bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, Any]]:
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not boundary or not isinstance(boundary, str):
        raise _bad_request("multipart boundary is missing")
    delimiter = b"--" + boundary.encode("latin-1")
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, _, content = chunk.partition(b"\r\n\r\n")
        headers = HeaderParser().parsestr(head.decode("utf-8", errors="replace"))
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = headers.get_filename()
        if filename is not None:
            files[name] = UploadedFile(
                field_name=name,
                filename=unquote(filename),
                content=content,
                content_type=headers.get_content_type() if "content-type" in headers else None,
            )
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TelegramBotApiEmulator/1.0"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body are written separately; without TCP_NODELAY, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every request.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator._register_connection(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.emulator._register_connection(self.connection, add=False)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _client_alive(self) -> bool:
        """False once the client closed the connection (e.g. a cancelled long poll)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return True
            return bool(self.connection.recv(1, socket.MSG_PEEK))
        except (OSError, ValueError):
            return False

    def _dispatch(self, http_method: str) -> None:
        emulator = self.server.emulator
        url = urlsplit(self.path)
        body = self._read_body()
        path = unquote(url.path)

        file_match = re.fullmatch(r"/file/bot([^/]*)/(.+)", path)
        if file_match:
            status, content, content_type = emulator._handle_file_download(
                file_match.group(1), file_match.group(2)
            )
            self._send(status, content, content_type)
            return

        api_match = re.fullmatch(r"/bot([^/]*)/([^/]*)", path)
        if not api_match:
            self._send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return

        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        files: dict[str, UploadedFile] = {}
        content_type = self.headers.get("Content-Type", "")
        try:
            if body:
                if content_type.startswith("multipart/form-data"):
                    fields, files = _parse_multipart(body, content_type)
                    params.update(fields)
                elif content_type.startswith("application/json"):
                    decoded = json.loads(body)
                    if not isinstance(decoded, dict):
                        raise _bad_request("JSON body must be an object")
                    params.update(decoded)
                else:
                    params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (ApiError, ValueError) as exc:
            description = exc.description if isinstance(exc, ApiError) else f"Bad Request: {exc}"
            self._send_json(400, {"ok": False, "error_code": 400, "description": description})
            return

        hold = emulator._take_hold(api_match.group(2))
        answer = emulator._handle_api(
            api_match.group(1),
            api_match.group(2),
            params,
            files,
            http_method,
            self._client_alive,
        )
        if hold is not None:  # `hold_next`: done, but the bot hears of it later
            release, timeout = hold
            release.wait(timeout)
        if answer is None:
            self.close_connection = True
            return
        self._send_json(*answer)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _send(self, status: int, content: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: TelegramEmulator):
        super().__init__(address, _Handler)
        self.emulator = emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection resets during shutdown are expected; don't spam stderr.
        pass


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class TelegramEmulator:
    """An in-process fake of the Telegram Bot API server.

    All state is guarded by one re-entrant lock; ``getUpdates`` long polls wait on a condition
    variable bound to that lock and wake up as soon as an update is injected.
    """

    def __init__(
        self,
        *,
        bot_username: str = "vraagbaak_test_bot",
        bot_first_name: str = "De AI Report vraagbaak",
        bot_id: int = 7_000_000_001,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_long_poll_timeout: float = 50.0,
    ):
        self.token = token or f"{bot_id}:AAE{secrets.token_urlsafe(24)[:32]}"
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.host = host
        self._requested_port = port
        self.max_long_poll_timeout = max_long_poll_timeout

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = False

        self._calls: list[ApiCall] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100_000_001
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._webhook: dict[str, Any] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._blocked_chats: set[int] = set()
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._next_message_id: dict[int, int] = {}
        self._sent: dict[tuple[int, int], SentMessage] = {}
        self._sent_order: list[SentMessage] = []
        self._chat_actions: list[ChatActionRecord] = []
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._callback_answers: list[CallbackAnswer] = []
        self._drafts: list[DraftRecord] = []
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._bot_settings: dict[str, Any] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, str] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._holds: dict[str, deque[tuple[threading.Event, float]]] = {}
        self._counter = itertools.count(1)

        self._methods: dict[str, tuple[str, Callable[[ApiCall, Callable[[], bool]], Any]]] = {}
        handlers: dict[str, Callable[..., Any]] = {
            "getMe": self._api_get_me,
            "getUpdates": self._api_get_updates,
            "setWebhook": self._api_set_webhook,
            "deleteWebhook": self._api_delete_webhook,
            "getWebhookInfo": self._api_get_webhook_info,
            "setMyCommands": self._api_set_my_commands,
            "getMyCommands": self._api_get_my_commands,
            "deleteMyCommands": self._api_delete_my_commands,
            "sendMessage": self._api_send_message,
            "sendMessageDraft": self._api_send_message_draft,
            "editMessageText": self._api_edit_message_text,
            "editMessageReplyMarkup": self._api_edit_message_reply_markup,
            "deleteMessage": self._api_delete_message,
            "deleteMessages": self._api_delete_messages,
            "sendChatAction": self._api_send_chat_action,
            "answerCallbackQuery": self._api_answer_callback_query,
            "sendDocument": self._media_sender("document"),
            "sendPhoto": self._media_sender("photo"),
            "sendAudio": self._media_sender("audio"),
            "sendVoice": self._media_sender("voice"),
            "sendVideo": self._media_sender("video"),
            "sendAnimation": self._media_sender("animation"),
            "getFile": self._api_get_file,
            "close": self._api_true,
            "logOut": self._api_true,
            "setMyDescription": self._api_store_setting,
            "setMyShortDescription": self._api_store_setting,
            "setMyName": self._api_store_setting,
            "setChatMenuButton": self._api_store_setting,
            "setMessageReaction": self._api_true,
            "pinChatMessage": self._api_true,
            "unpinChatMessage": self._api_true,
        }
        for name, handler in handlers.items():
            self._methods[name.lower()] = (name, handler)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> TelegramEmulator:
        """Start the HTTP server in a background thread (idempotent)."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping = False
            self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="telegram-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server, release waiting long polls and close open connections."""
        with self._cond:
            server, self._server = self._server, None
            self._stopping = True
            self._cond.notify_all()
            connections = list(self._connections)
        if server is None:
            return
        server.shutdown()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _register_connection(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The emulator is not running; call start() first")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """Value for ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``Bot(base_file_url=...)`` / ``ApplicationBuilder().base_file_url(...)``."""
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def api_url(self) -> str:
        """Full method URL prefix including the token, e.g. for raw httpx calls."""
        return f"{self.base_url}{self.token}"

    @property
    def bot_username(self) -> str:
        return self.bot_user["username"]

    # ---------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        count: int = 1,
        error_code: int = 429,
        description: str = "Too Many Requests: retry after 1",
        retry_after: int | None = 1,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an error.

        ``parameters.retry_after`` is only included for 429 errors (as Telegram does).
        """
        failure = _Failure(error_code, description, retry_after if error_code == 429 else None)
        with self._lock:
            queue = self._failures.setdefault(method.lower(), deque())
            queue.extend(failure for _ in range(count))

    def hold_next(self, method: str, timeout: float = 20.0) -> threading.Event:
        """Carry out the next call of ``method`` (its effects are visible at once) but
        keep its HTTP response until the returned event is set (or ``timeout`` passes):
        the bot is still awaiting a message that users can already see and answer."""
        release = threading.Event()
        with self._lock:
            self._holds.setdefault(method.lower(), deque()).append((release, timeout))
        return release

    def _take_hold(self, method: str) -> tuple[threading.Event, float] | None:
        with self._lock:
            queue = self._holds.get(method.lower())
            return queue.popleft() if queue else None

    def block_chat(self, chat_id: int, blocked: bool = True) -> None:
        """Simulate a user who blocked the bot: sends answer 403 Forbidden."""
        with self._lock:
            if blocked:
                self._blocked_chats.add(chat_id)
            else:
                self._blocked_chats.discard(chat_id)

    # ---------------------------------------------------------------- users and chats

    def add_user(
        self,
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Test",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "nl",
    ) -> dict[str, Any]:
        """Register (or update) a user; returns the User JSON."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        with self._lock:
            self._users[user_id] = user
            return copy.deepcopy(user)

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Register a group/supergroup/channel chat (private chats are created per user)."""
        if chat_type is None:
            chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            user = self._users.get(chat_id) or self.add_user(chat_id)
            chat.update({k: user[k] for k in ("first_name", "last_name", "username") if k in user})
        else:
            chat["title"] = title or "Test groep"
            if username:
                chat["username"] = username
        with self._lock:
            self._chats[chat_id] = chat
            return copy.deepcopy(chat)

    def _user(self, user_id: int, first_name: str | None, username: str | None) -> dict[str, Any]:
        existing = self._users.get(user_id)
        if existing is None:
            default_username = "tester" if user_id == DEFAULT_USER_ID else None
            return self.add_user(
                user_id, first_name or "Test", username=username or default_username
            )
        if first_name is not None or username is not None:
            return self.add_user(
                user_id,
                first_name or existing["first_name"],
                username=username or existing.get("username"),
                last_name=existing.get("last_name"),
                language_code=existing.get("language_code"),
            )
        return copy.deepcopy(existing)

    def _chat_for(
        self,
        chat_id: int | None,
        user: dict[str, Any],
        chat_type: str | None = None,
        title: str | None = None,
    ) -> dict[str, Any]:
        if chat_id is None or chat_id == user["id"]:
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
            self._chats[user["id"]] = chat
            return copy.deepcopy(chat)
        if chat_id in self._chats and chat_type is None and title is None:
            return copy.deepcopy(self._chats[chat_id])
        return self.add_chat(chat_id, chat_type, title=title)

    # ---------------------------------------------------------------- injecting updates

    def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` is assigned); returns the stored update."""
        with self._cond:
            stored = copy.deepcopy(update)
            stored["update_id"] = self._next_update_id
            self._next_update_id += 1
            self._updates.append(stored)
            self._cond.notify_all()
            return copy.deepcopy(stored)

    def _new_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _reply_snapshot(self, chat_id: int, message_id: int) -> dict[str, Any]:
        original = self._messages.get(chat_id, {}).get(message_id)
        if original is None:
            raise ValueError(f"no message {message_id} in chat {chat_id} to reply to")
        snapshot = copy.deepcopy(original)
        snapshot.pop("reply_to_message", None)
        return snapshot

    def _inject_user_message(
        self,
        fields: dict[str, Any],
        *,
        chat_id: int | None,
        user_id: int,
        first_name: str | None,
        username: str | None,
        reply_to_message_id: int | None = None,
        chat_type: str | None = None,
        title: str | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        with self._cond:
            user = self._user(user_id, first_name, username)
            chat = self._chat_for(chat_id, user, chat_type, title)
            reply = None
            if reply_to_message_id is not None:
                reply = self._reply_snapshot(chat["id"], reply_to_message_id)
            message: dict[str, Any] = {
                "message_id": self._new_message_id(chat["id"]),
                "from": user,
                "chat": chat,
                "date": int(time.time()),
            }
            if message_thread_id is not None:
                message["message_thread_id"] = message_thread_id
            if reply is not None:
                message["reply_to_message"] = reply
            message.update(fields)
            self._messages.setdefault(chat["id"], {})[message["message_id"]] = message
            return self.inject_update({"message": message})

    def inject_message(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
        reply_to_message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        chat_type: str | None = None,
        title: str | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a text message (private chat of ``user_id`` unless ``chat_id`` is given).

        Entities (bot_command, mention, url, hashtag) are detected like Telegram does unless
        ``entities`` is passed explicitly. Returns the Update dict.
        """
        fields: dict[str, Any] = {"text": text}
        detected = detect_entities(text) if entities is None else entities
        if detected:
            fields["entities"] = detected
        return self._inject_user_message(
            fields,
            chat_id=chat_id,
            user_id=user_id,
            first_name=first_name,
            username=username,
            reply_to_message_id=reply_to_message_id,
            chat_type=chat_type,
            title=title,
            message_thread_id=message_thread_id,
        )

    def inject_private_message(
        self,
        text: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a text message in the private chat between ``user_id`` and the bot."""
        return self.inject_message(
            text,
            user_id=user_id,
            first_name=first_name,
            username=username,
            reply_to_message_id=reply_to_message_id,
        )

    def inject_group_message(
        self,
        text: str,
        *,
        chat_id: int = DEFAULT_GROUP_ID,
        chat_type: str | None = None,
        title: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
        mention_bot: bool = False,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a group/supergroup message.

        ``mention_bot=True`` prefixes ``@<bot username>`` unless the text already mentions the
        bot; a ``mention`` entity is generated for every @username in the text.
        ``reply_to_message_id`` may point at one of the bot's messages in that chat.
        """
        mention = f"@{self.bot_username}"
        if mention_bot and mention.lower() not in text.lower():
            text = f"{mention} {text}"
        return self.inject_message(
            text,
            chat_id=chat_id,
            chat_type=chat_type,
            title=title,
            user_id=user_id,
            first_name=first_name,
            username=username,
            reply_to_message_id=reply_to_message_id,
            message_thread_id=message_thread_id,
        )

    def inject_command(
        self,
        command: str,
        args: str = "",
        *,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
        with_bot_username: bool = False,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject ``/command[@bot] args`` with a ``bot_command`` entity at offset 0.

        ``command`` may be given with or without the leading slash.
        """
        text = "/" + command.lstrip("/")
        if with_bot_username:
            text += f"@{self.bot_username}"
        command_length = utf16_len(text)
        if args:
            text += f" {args}"
        entities = [{"offset": 0, "length": command_length, "type": "bot_command"}]
        entities += [e for e in detect_entities(text) if e["offset"] >= command_length]
        return self.inject_message(
            text,
            chat_id=chat_id,
            user_id=user_id,
            first_name=first_name,
            username=username,
            entities=entities,
            reply_to_message_id=reply_to_message_id,
        )

    def inject_edited_message(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The user edits one of their earlier messages; injects an ``edited_message`` update."""
        with self._cond:
            message = self._messages.get(chat_id, {}).get(message_id)
            if message is None or message.get("from", {}).get("is_bot"):
                raise ValueError(f"no user message {message_id} in chat {chat_id} to edit")
            message["text"] = text
            message.pop("entities", None)
            detected = detect_entities(text) if entities is None else entities
            if detected:
                message["entities"] = detected
            message["edit_date"] = int(time.time())
            return self.inject_update({"edited_message": message})

    def inject_callback_query(
        self,
        chat_id: int,
        message_id: int,
        data: str | None = None,
        *,
        button_text: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
        check_button: bool = True,
    ) -> dict[str, Any]:
        """The user presses an inline button of a bot message.

        Select the button by ``data`` (its callback_data) or by ``button_text``. With
        ``check_button`` (default) the button must exist on the message's current keyboard.
        """
        with self._cond:
            sent = self._sent.get((chat_id, message_id))
            if sent is None or sent.deleted:
                raise ValueError(f"no (undeleted) bot message {message_id} in chat {chat_id}")
            if button_text is not None:
                matches = [b for b in sent.buttons if b.get("text") == button_text]
                if not matches or "callback_data" not in matches[0]:
                    raise ValueError(
                        f"no callback button with text {button_text!r}; buttons: {sent.buttons}"
                    )
                data = matches[0]["callback_data"]
            if data is None:
                raise ValueError("pass data or button_text")
            if check_button and data not in sent.callback_data:
                raise ValueError(
                    f"message {message_id} has no button with callback_data {data!r}; "
                    f"available: {sent.callback_data}"
                )
            user = self._user(user_id, first_name, username)
            query_id = str(secrets.randbits(63))
            query = {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(sent.message),
                "chat_instance": str(abs(hash(("chat", chat_id))) % 10**18),
                "data": data,
            }
            self._callback_queries[query_id] = {"query": query, "answered": False}
            return self.inject_update({"callback_query": query})

    def _store_file(self, content: bytes, folder: str, extension: str) -> _StoredFile:
        number = next(self._counter)
        stored = _StoredFile(
            file_id=f"EMU{folder[:3].upper()}{number:06d}{secrets.token_hex(8)}",
            file_unique_id=f"AgAD{number:06d}",
            content=content,
            file_path=f"{folder}/file_{number}{extension}",
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored.file_id
        return stored

    def register_file(
        self, content: bytes, *, folder: str = "documents", extension: str = ""
    ) -> dict[str, Any]:
        """Store bytes so they can be fetched via getFile; returns file_id/file_unique_id."""
        with self._lock:
            stored = self._store_file(content, folder, extension)
            return {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(content),
            }

    def inject_document(
        self,
        file_name: str,
        content: bytes,
        mime_type: str | None = None,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """The user uploads a document; the bytes are downloadable via getFile."""
        mime_type = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        extension = "." + file_name.rsplit(".", 1)[1] if "." in file_name else ""
        with self._lock:
            document = self.register_file(content, folder="documents", extension=extension)
        document.update({"file_name": file_name, "mime_type": mime_type})
        fields: dict[str, Any] = {"document": document}
        if caption:
            fields["caption"] = caption
            entities = detect_entities(caption)
            if entities:
                fields["caption_entities"] = entities
        return self._inject_user_message(
            fields, chat_id=chat_id, user_id=user_id, first_name=first_name, username=username
        )

    def inject_photo(
        self,
        content: bytes = b"\xff\xd8\xff\xe0fake-jpeg",
        *,
        caption: str | None = None,
        width: int = 1280,
        height: int = 960,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (two PhotoSize entries, like Telegram's thumbnails)."""
        sizes = []
        for scale in (0.0703125, 1.0):
            size = self.register_file(content, folder="photos", extension=".jpg")
            size["width"] = max(1, int(width * scale))
            size["height"] = max(1, int(height * scale))
            sizes.append(size)
        fields: dict[str, Any] = {"photo": sizes}
        if caption:
            fields["caption"] = caption
        return self._inject_user_message(
            fields, chat_id=chat_id, user_id=user_id, first_name=first_name, username=username
        )

    def inject_voice(
        self,
        content: bytes = b"OggSfake-voice",
        *,
        duration: int = 3,
        mime_type: str = "audio/ogg",
        caption: str | None = None,
        file_size: int | None = None,
        chat_id: int | None = None,
        chat_type: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a voice note (downloadable via getFile). `file_size` overrides
        the size Telegram reports (the stored bytes stay `content`)."""
        return self._inject_media(
            "voice",
            content,
            {"duration": duration, "mime_type": mime_type},
            extension=".oga",
            caption=caption,
            file_size=file_size,
            chat_id=chat_id,
            chat_type=chat_type,
            user_id=user_id,
            first_name=first_name,
            username=username,
            reply_to_message_id=reply_to_message_id,
        )

    def inject_audio(
        self,
        content: bytes = b"ID3fake-mp3",
        *,
        duration: int = 3,
        file_name: str | None = "vraag.mp3",
        mime_type: str | None = None,
        caption: str | None = None,
        file_size: int | None = None,
        chat_id: int | None = None,
        chat_type: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends an audio file (a music-player file, not a voice note)."""
        guessed = mimetypes.guess_type(file_name)[0] if file_name else None
        fields: dict[str, Any] = {"duration": duration}
        if file_name is not None:
            fields["file_name"] = file_name
        if mime_type or guessed:
            fields["mime_type"] = mime_type or guessed
        extension = "." + file_name.rsplit(".", 1)[1] if file_name and "." in file_name else ""
        return self._inject_media(
            "audio",
            content,
            fields,
            extension=extension,
            caption=caption,
            file_size=file_size,
            chat_id=chat_id,
            chat_type=chat_type,
            user_id=user_id,
            reply_to_message_id=reply_to_message_id,
        )

    def inject_video_note(
        self,
        content: bytes = b"\x00\x00\x00\x18ftypmp42fake-video-note",
        *,
        duration: int = 3,
        length: int = 384,
        file_size: int | None = None,
        chat_id: int | None = None,
        chat_type: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a round video note (MPEG-4; video notes have no caption)."""
        return self._inject_media(
            "video_note",
            content,
            {"duration": duration, "length": length},
            extension=".mp4",
            file_size=file_size,
            chat_id=chat_id,
            chat_type=chat_type,
            user_id=user_id,
            reply_to_message_id=reply_to_message_id,
        )

    def _inject_media(
        self,
        kind: str,
        content: bytes,
        fields: dict[str, Any],
        *,
        extension: str,
        caption: str | None = None,
        file_size: int | None = None,
        chat_id: int | None = None,
        chat_type: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        media = self.register_file(content, folder=kind, extension=extension)
        media.update(fields)
        if file_size is not None:
            media["file_size"] = file_size
        message: dict[str, Any] = {kind: media}
        if caption:
            message["caption"] = caption
            entities = detect_entities(caption)
            if entities:
                message["caption_entities"] = entities
        return self._inject_user_message(
            message,
            chat_id=chat_id,
            chat_type=chat_type,
            user_id=user_id,
            first_name=first_name,
            username=username,
            reply_to_message_id=reply_to_message_id,
        )

    def inject_sticker(
        self,
        emoji: str = "👍",
        *,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """The user sends a (static) sticker."""
        sticker = self.register_file(b"RIFFfake-webp", folder="stickers", extension=".webp")
        sticker.update(
            {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
                "set_name": "EmulatorStickers",
            }
        )
        return self._inject_user_message(
            {"sticker": sticker},
            chat_id=chat_id,
            user_id=user_id,
            first_name=first_name,
            username=username,
        )

    def inject_location(
        self,
        latitude: float = 52.3676,
        longitude: float = 4.9041,
        *,
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """The user shares a location."""
        return self._inject_user_message(
            {"location": {"latitude": latitude, "longitude": longitude}},
            chat_id=chat_id,
            user_id=user_id,
            first_name=first_name,
            username=username,
        )

    # ---------------------------------------------------------------- inspection

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """All requests received (in order), optionally only those of one method."""
        with self._lock:
            selected = [
                c for c in self._calls if method is None or c.method.lower() == method.lower()
            ]
            return copy.deepcopy(selected)

    @property
    def requests(self) -> list[ApiCall]:
        """Alias of :meth:`calls` without a filter."""
        return self.calls()

    def call_count(self, method: str) -> int:
        with self._lock:
            return sum(1 for c in self._calls if c.method.lower() == method.lower())

    def rejections(self, *, include_injected: bool = False) -> list[ApiCall]:
        """Calls answered with an error (excluding ``fail_next`` errors unless asked)."""
        with self._lock:
            selected = [
                c
                for c in self._calls
                if c.ok is False and (include_injected or not c.injected_failure)
            ]
            return copy.deepcopy(selected)

    def assert_no_rejections(self) -> None:
        """Fail if the bot made any request the Bot API would reject."""
        rejected = self.rejections()
        if rejected:
            lines = [
                f"  {c.method} -> {c.error_code} {c.description} | params={_short(c.params)}"
                for c in rejected
            ]
            raise AssertionError("Telegram rejected requests:\n" + "\n".join(lines))

    def sent_messages(self, *, include_deleted: bool = True) -> list[SentMessage]:
        """All messages the bot sent, in send order."""
        with self._lock:
            return copy.deepcopy([m for m in self._sent_order if include_deleted or not m.deleted])

    def messages_in(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """Messages the bot sent in one chat (current state), oldest first."""
        with self._lock:
            return copy.deepcopy(
                [
                    m
                    for m in self._sent_order
                    if m.chat_id == chat_id and (include_deleted or not m.deleted)
                ]
            )

    def texts_in(self, chat_id: int) -> list[str | None]:
        """Current (plain) texts of the bot's undeleted messages in a chat."""
        return [m.text for m in self.messages_in(chat_id)]

    def last_message(self, chat_id: int) -> SentMessage | None:
        """The bot's most recent undeleted message in a chat, or None."""
        messages = self.messages_in(chat_id)
        return messages[-1] if messages else None

    def get_message(self, chat_id: int, message_id: int) -> SentMessage:
        with self._lock:
            sent = self._sent.get((chat_id, message_id))
            if sent is None:
                raise KeyError(f"the bot sent no message {message_id} in chat {chat_id}")
            return copy.deepcopy(sent)

    def chat_actions(self, chat_id: int | None = None) -> list[ChatActionRecord]:
        with self._lock:
            return copy.deepcopy(
                [a for a in self._chat_actions if chat_id is None or a.chat_id == chat_id]
            )

    def callback_answers(self, callback_query_id: str | None = None) -> list[CallbackAnswer]:
        with self._lock:
            return copy.deepcopy(
                [
                    a
                    for a in self._callback_answers
                    if callback_query_id is None or a.callback_query_id == callback_query_id
                ]
            )

    def drafts(self, chat_id: int | None = None) -> list[DraftRecord]:
        """Message drafts streamed with sendMessageDraft."""
        with self._lock:
            return copy.deepcopy(
                [d for d in self._drafts if chat_id is None or d.chat_id == chat_id]
            )

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Commands registered with setMyCommands for a scope (default scope by default)."""
        key = (_scope_key(scope), language_code or "")
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    def webhook_info(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._webhook)

    def bot_settings(self) -> dict[str, Any]:
        """Values stored by setMyDescription / setMyShortDescription / setMyName / ..."""
        with self._lock:
            return copy.deepcopy(self._bot_settings)

    def pending_updates(self) -> list[dict[str, Any]]:
        """Injected updates the bot has not confirmed yet (via getUpdates offset)."""
        with self._lock:
            return copy.deepcopy(self._updates)

    # ---------------------------------------------------------------- waiting

    def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        description: str | None = None,
    ) -> Any:
        """Block until ``predicate()`` is truthy and return its value.

        Exceptions raised by the predicate count as "not yet". On timeout an AssertionError
        with a summary of the recent traffic is raised. Do not call this from the event loop
        that runs the bot (it would block it); use :meth:`wait_for_async` there.
        """
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                result = predicate()
            except Exception as exc:  # a failing predicate means "not yet"
                result, last_error = None, exc
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    self._timeout_report(predicate, timeout, description, last_error)
                )
            with self._cond:
                self._cond.wait(min(remaining, 0.05))

    async def wait_for_async(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        description: str | None = None,
    ) -> Any:
        """Async variant of :meth:`wait_for` that keeps the event loop running."""
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            try:
                result = predicate()
            except Exception as exc:  # a failing predicate means "not yet"
                result, last_error = None, exc
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self._timeout_report(predicate, timeout, description, last_error)
                )
            await asyncio.sleep(0.01)

    def _message_matcher(
        self,
        chat_id: int,
        text_contains: str | None,
        after_message_id: int | None,
        predicate: Callable[[SentMessage], bool] | None,
    ) -> Callable[[], SentMessage | None]:
        def find() -> SentMessage | None:
            for message in self.messages_in(chat_id):
                if after_message_id is not None and message.message_id <= after_message_id:
                    continue
                if text_contains is not None and text_contains not in (message.text or ""):
                    continue
                if predicate is not None and not predicate(message):
                    continue
                return message
            return None

        return find

    def wait_for_message(
        self,
        chat_id: int,
        *,
        text_contains: str | None = None,
        after_message_id: int | None = None,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> SentMessage:
        """Block until the bot has a matching (undeleted) message in ``chat_id``; returns the
        oldest match. ``after_message_id`` skips messages up to that id (e.g. the id of the
        user message the bot is answering)."""
        find = self._message_matcher(chat_id, text_contains, after_message_id, predicate)
        return self.wait_for(
            find, timeout, _describe_wait(chat_id, text_contains, after_message_id)
        )

    async def wait_for_message_async(
        self,
        chat_id: int,
        *,
        text_contains: str | None = None,
        after_message_id: int | None = None,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> SentMessage:
        """Async variant of :meth:`wait_for_message`."""
        find = self._message_matcher(chat_id, text_contains, after_message_id, predicate)
        return await self.wait_for_async(
            find, timeout, _describe_wait(chat_id, text_contains, after_message_id)
        )

    def _timeout_report(
        self,
        predicate: Callable[[], Any],
        timeout: float,
        description: str | None,
        last_error: BaseException | None,
    ) -> str:
        lines = [f"Timed out after {timeout:.1f}s waiting for {description or predicate!r}"]
        if last_error is not None:
            lines.append(f"Last predicate error: {last_error!r}")
        with self._lock:
            calls = [c for c in self._calls if c.method != "getUpdates"][-15:]
            polls = sum(1 for c in self._calls if c.method == "getUpdates")
            lines.append(f"getUpdates calls so far: {polls}; pending updates: {len(self._updates)}")
            lines.append("Recent non-polling requests:" if calls else "No non-polling requests.")
            for call in calls:
                outcome = "ok" if call.ok else f"{call.error_code} {call.description!r}"
                lines.append(f"  {call.method} -> {outcome} params={_short(call.params)}")
            for sent in self._sent_order[-10:]:
                state = " (deleted)" if sent.deleted else ""
                lines.append(
                    f"  bot message chat={sent.chat_id} id={sent.message_id}{state}: "
                    f"{_short(sent.text)}"
                )
        return "\n".join(lines)

    # ---------------------------------------------------------------- request handling

    def _handle_api(
        self,
        token: str,
        method: str,
        params: dict[str, Any],
        files: dict[str, UploadedFile],
        http_method: str,
        client_alive: Callable[[], bool],
    ) -> tuple[int, dict[str, Any]] | None:
        with self._cond:
            call = ApiCall(method=method, params=dict(params), files=files, http_method=http_method)
            self._calls.append(call)
            try:
                if token != self.token:
                    if _TOKEN_RE.fullmatch(token):
                        raise ApiError(401, "Unauthorized")
                    raise ApiError(404, "Not Found")
                entry = self._methods.get(method.lower())
                if entry is None:
                    raise ApiError(404, "Not Found")
                call.method, handler = entry
                call.params = _decode_params(params)
                queue = self._failures.get(method.lower())
                if queue:
                    failure = queue.popleft()
                    call.injected_failure = True
                    parameters = (
                        {"retry_after": failure.retry_after}
                        if failure.retry_after is not None
                        else None
                    )
                    raise ApiError(failure.error_code, failure.description, parameters)
                result = handler(call, client_alive)
            except _Abandoned:
                call.abandoned = True
                call.description = "client disconnected before the long poll was answered"
                self._cond.notify_all()
                return None
            except ApiError as exc:
                call.ok = False
                call.error_code = exc.error_code
                call.description = exc.description
                payload: dict[str, Any] = {
                    "ok": False,
                    "error_code": exc.error_code,
                    "description": exc.description,
                }
                if exc.parameters:
                    payload["parameters"] = exc.parameters
                self._cond.notify_all()
                return exc.error_code, payload
            except Exception as exc:  # an emulator bug: answer 500 and record it
                call.ok = False
                call.error_code = 500
                call.description = f"Internal Server Error: emulator failed: {exc!r}"
                self._cond.notify_all()
                return 500, {"ok": False, "error_code": 500, "description": call.description}
            call.ok = True
            call.result = copy.deepcopy(result)
            self._cond.notify_all()
            return 200, {"ok": True, "result": result}

    def _handle_file_download(self, token: str, file_path: str) -> tuple[int, bytes, str]:
        with self._cond:
            call = ApiCall("fileDownload", {"file_path": file_path}, http_method="GET")
            self._calls.append(call)
            file_id = self._file_paths.get(file_path)
            if token != self.token:
                call.ok, call.error_code, call.description = False, 401, "Unauthorized"
                status, content = 401, b"Unauthorized"
            elif file_id is None:
                call.ok, call.error_code, call.description = False, 404, "Not Found"
                status, content = 404, b"Not Found"
            else:
                call.ok = True
                status, content = 200, self._files[file_id].content
            self._cond.notify_all()
        content_type = mimetypes.guess_type(file_path)[0] or "application/octet-stream"
        return status, content, content_type if status == 200 else "text/plain"

    # ---------------------------------------------------------------- helpers for handlers

    def _chat(self, params: dict[str, Any], key: str = "chat_id") -> dict[str, Any]:
        chat_id = params.get(key)
        if chat_id is None or chat_id == "":
            raise _bad_request(f"{key} is empty")
        if isinstance(chat_id, str):
            username = chat_id.lstrip("@").lower()
            for chat in self._chats.values():
                if chat.get("username", "").lower() == username:
                    return chat
            raise _bad_request("chat not found")
        chat = self._chats.get(chat_id)
        if chat is None:
            raise _bad_request("chat not found")
        return chat

    def _check_blocked(self, chat: dict[str, Any]) -> None:
        if chat["id"] in self._blocked_chats:
            if chat["type"] == "private":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            raise ApiError(403, "Forbidden: bot was kicked from the group chat")

    def _format(
        self,
        text: Any,
        parse_mode: Any,
        entities: Any,
        *,
        limit: int,
        caption: bool = False,
        allow_empty: bool = False,
    ) -> tuple[str, list[dict[str, Any]]]:
        text = "" if text is None else str(text)
        mode = (parse_mode or "").strip().lower()
        if mode == "html":
            try:
                text, parsed = parse_html(text)
            except HtmlParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        elif mode in ("markdown", "markdownv2", ""):
            # Markdown is accepted loosely: the text is kept as-is, without entities.
            parsed = []
            if not mode and entities:
                if not isinstance(entities, list):
                    raise _bad_request("can't parse entities JSON object")
                parsed = entities
        else:
            raise _bad_request(f"unsupported parse_mode {parse_mode}")
        text, parsed = _strip_text(text, parsed)
        length = utf16_len(text)
        if caption:
            if length > limit:
                raise _bad_request("message caption is too long")
        else:
            if length == 0 and not allow_empty:
                raise _bad_request("message text is empty")
            if length > limit:
                raise _bad_request("message is too long")
        return text, parsed

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup '
                    "should be an Array of Arrays"
                )
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise _bad_request(
                            "can't parse inline keyboard button: Text must be non-empty"
                        )
                    data = button.get("callback_data")
                    if data is not None and (
                        not isinstance(data, str)
                        or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad_request("BUTTON_DATA_INVALID")
        return markup

    def _reply_to(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if reply is None:
            return None
        if not isinstance(reply, dict) or "message_id" not in reply:
            raise _bad_request("can't parse reply parameters JSON object")
        target_chat = reply.get("chat_id", chat["id"])
        message = self._messages.get(target_chat, {}).get(reply["message_id"])
        if message is None:
            if reply.get("allow_sending_without_reply"):
                return None
            raise _bad_request("message to be replied not found")
        snapshot = copy.deepcopy(message)
        snapshot.pop("reply_to_message", None)
        return snapshot

    def _bot_from(self) -> dict[str, Any]:
        return {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}

    def _store_bot_message(
        self,
        call: ApiCall,
        chat: dict[str, Any],
        kind: str,
        content: dict[str, Any],
        version: MessageVersion,
        file: UploadedFile | None = None,
    ) -> dict[str, Any]:
        params = call.params
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat["id"]),
            "from": self._bot_from(),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
        reply = self._reply_to(chat, params)
        if reply is not None:
            message["reply_to_message"] = reply
        message.update(content)
        _apply_markup(message, version.reply_markup)
        self._messages.setdefault(chat["id"], {})[message["message_id"]] = message
        sent = SentMessage(
            chat_id=chat["id"],
            message_id=message["message_id"],
            kind=kind,
            message=message,
            params=copy.deepcopy(params),
            history=[version],
            file=file,
        )
        self._sent[(sent.chat_id, sent.message_id)] = sent
        self._sent_order.append(sent)
        return copy.deepcopy(message)

    def _editable(self, params: dict[str, Any], action: str) -> SentMessage:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by the emulator")
        chat = self._chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        sent = self._sent.get((chat["id"], message_id))
        if sent is None:
            if message_id in self._messages.get(chat["id"], {}):
                raise _bad_request(f"message can't be {action}ed")
            raise _bad_request(f"message to {action} not found")
        if sent.deleted:
            raise _bad_request(f"message to {action} not found")
        return sent

    # ---------------------------------------------------------------- API methods

    def _api_true(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        return True

    def _api_store_setting(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        self._bot_settings[call.method] = copy.deepcopy(call.params)
        return True

    def _api_get_me(self, call: ApiCall, client_alive: Callable[[], bool]) -> dict[str, Any]:
        return copy.deepcopy(self.bot_user)

    def _api_get_updates(
        self, call: ApiCall, client_alive: Callable[[], bool]
    ) -> list[dict[str, Any]]:
        params = call.params
        if self._webhook.get("url"):
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), self.max_long_poll_timeout)
        allowed = params.get("allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise _bad_request("can't parse allowed_updates JSON array")
            self._allowed_updates = [str(a) for a in allowed]

        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

        self._poll_generation += 1
        generation = self._poll_generation
        deadline = time.monotonic() + timeout
        while True:
            if self._stopping:
                return []
            if generation != self._poll_generation:
                if not client_alive():
                    raise _Abandoned
                raise ApiError(409, GET_UPDATES_CONFLICT)
            self._updates = [u for u in self._updates if self._update_allowed(u)]
            if self._updates:
                return copy.deepcopy(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._cond.wait(min(remaining, 0.1))
            if not client_alive():
                raise _Abandoned

    def _update_allowed(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _OPT_IN_UPDATE_TYPES

    def _api_set_webhook(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        params = call.params
        url = params.get("url", "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if url:
            self._webhook = {k: v for k, v in params.items() if k != "certificate"}
        else:
            self._webhook = {}
        return True

    def _api_delete_webhook(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {}
        return True

    def _api_get_webhook_info(
        self, call: ApiCall, client_alive: Callable[[], bool]
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook.get("max_connections"):
            info["max_connections"] = self._webhook["max_connections"]
        if self._webhook.get("allowed_updates"):
            info["allowed_updates"] = self._webhook["allowed_updates"]
        return info

    def _api_set_my_commands(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand")
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            description = str(command.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(call.params.get("scope")), call.params.get("language_code", ""))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _api_get_my_commands(
        self, call: ApiCall, client_alive: Callable[[], bool]
    ) -> list[dict[str, Any]]:
        key = (_scope_key(call.params.get("scope")), call.params.get("language_code", ""))
        return copy.deepcopy(self._commands.get(key, []))

    def _api_delete_my_commands(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        key = (_scope_key(call.params.get("scope")), call.params.get("language_code", ""))
        self._commands.pop(key, None)
        return True

    def _api_send_message(self, call: ApiCall, client_alive: Callable[[], bool]) -> dict[str, Any]:
        params = call.params
        chat = self._chat(params)
        if "text" not in params:
            raise _bad_request("message text is empty")
        text, entities = self._format(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_TEXT_LENGTH,
        )
        markup = self._check_markup(params.get("reply_markup"))
        self._check_blocked(chat)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        version = MessageVersion(
            text, entities, markup, params.get("text"), params.get("parse_mode"), call.method
        )
        return self._store_bot_message(call, chat, "text", content, version)

    def _api_send_message_draft(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        params = call.params
        chat = self._chat(params)
        if chat["type"] != "private":
            raise _bad_request("TEXTDRAFT_PEER_INVALID")
        draft_id = params.get("draft_id")
        if not draft_id:
            raise _bad_request("draft_id must be non-zero")
        text, entities = self._format(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_TEXT_LENGTH,
            allow_empty=True,
        )
        self._check_blocked(chat)
        self._drafts.append(
            DraftRecord(
                chat["id"], draft_id, text, entities, params.get("text"), params.get("parse_mode")
            )
        )
        return True

    def _api_edit_message_text(
        self, call: ApiCall, client_alive: Callable[[], bool]
    ) -> dict[str, Any]:
        params = call.params
        sent = self._editable(params, "edit")
        if sent.kind != "text":
            raise _bad_request("there is no text in the message to edit")
        text, entities = self._format(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_TEXT_LENGTH,
        )
        markup = self._check_markup(params.get("reply_markup"))
        current = sent.current
        if (text, entities, markup) == (current.text, current.entities, current.reply_markup):
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        sent.history.append(
            MessageVersion(
                text, entities, markup, params.get("text"), params.get("parse_mode"), call.method
            )
        )
        sent.message["text"] = text
        sent.message.pop("entities", None)
        if entities:
            sent.message["entities"] = entities
        _apply_markup(sent.message, markup)
        sent.message["edit_date"] = int(time.time())
        return copy.deepcopy(sent.message)

    def _api_edit_message_reply_markup(
        self, call: ApiCall, client_alive: Callable[[], bool]
    ) -> dict[str, Any]:
        sent = self._editable(call.params, "edit")
        markup = self._check_markup(call.params.get("reply_markup"))
        current = sent.current
        if markup == current.reply_markup:
            raise _bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        sent.history.append(
            MessageVersion(
                current.text,
                current.entities,
                markup,
                current.raw_text,
                current.parse_mode,
                call.method,
            )
        )
        _apply_markup(sent.message, markup)
        sent.message["edit_date"] = int(time.time())
        return copy.deepcopy(sent.message)

    def _delete(self, chat_id: int, message_id: int) -> bool:
        sent = self._sent.get((chat_id, message_id))
        if sent is not None:
            if sent.deleted:
                return False
            sent.deleted = True
            self._messages.get(chat_id, {}).pop(message_id, None)
            return True
        return self._messages.get(chat_id, {}).pop(message_id, None) is not None

    def _api_delete_message(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        chat = self._chat(call.params)
        message_id = call.params.get("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        if not self._delete(chat["id"], message_id):
            raise _bad_request("message to delete not found")
        return True

    def _api_delete_messages(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        chat = self._chat(call.params)
        message_ids = call.params.get("message_ids")
        if not isinstance(message_ids, list) or not 1 <= len(message_ids) <= 100:
            raise _bad_request("message_ids must contain 1-100 identifiers")
        for message_id in message_ids:
            self._delete(chat["id"], message_id)
        return True

    def _api_send_chat_action(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        chat = self._chat(call.params)
        action = call.params.get("action")
        if action not in CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        self._check_blocked(chat)
        self._chat_actions.append(
            ChatActionRecord(chat["id"], action, call.params.get("message_thread_id"))
        )
        return True

    def _api_answer_callback_query(self, call: ApiCall, client_alive: Callable[[], bool]) -> bool:
        query_id = call.params.get("callback_query_id")
        entry = self._callback_queries.get(str(query_id))
        if entry is None or entry["answered"]:
            raise _bad_request(CALLBACK_QUERY_INVALID.removeprefix("Bad Request: "))
        text = call.params.get("text")
        if text is not None and len(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        entry["answered"] = True
        self._callback_answers.append(
            CallbackAnswer(
                callback_query_id=str(query_id),
                text=text,
                show_alert=bool(call.params.get("show_alert", False)),
                url=call.params.get("url"),
                cache_time=call.params.get("cache_time"),
                query=copy.deepcopy(entry["query"]),
            )
        )
        return True

    def _media_sender(self, kind: str) -> Callable[[ApiCall, Callable[[], bool]], Any]:
        def send(call: ApiCall, client_alive: Callable[[], bool]) -> dict[str, Any]:
            return self._send_media(call, kind)

        return send

    def _send_media(self, call: ApiCall, kind: str) -> dict[str, Any]:
        params = call.params
        chat = self._chat(params)
        upload = call.files.get(kind)
        value = params.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = call.files.get(value.removeprefix("attach://"))
        if upload is not None:
            extension = mimetypes.guess_extension(upload.content_type or "") or ""
            if upload.filename and "." in upload.filename:
                extension = "." + upload.filename.rsplit(".", 1)[1]
            stored = self._store_file(upload.content, f"{kind}s", extension)
            file_name, mime_type = upload.filename, upload.content_type
        elif isinstance(value, str) and value in self._files:
            stored = self._files[value]
            upload = UploadedFile(kind, None, stored.content, None)
            file_name, mime_type = None, None
        elif isinstance(value, str) and re.match(r"https?://", value):
            stored = self._store_file(b"", f"{kind}s", "")
            upload = UploadedFile(kind, value.rsplit("/", 1)[-1], b"", None)
            file_name, mime_type = upload.filename, None
        else:
            raise _bad_request(f"there is no {kind} in the request")
        caption, caption_entities = self._format(
            params.get("caption"),
            params.get("parse_mode"),
            params.get("caption_entities"),
            limit=MAX_CAPTION_LENGTH,
            caption=True,
        )
        markup = self._check_markup(params.get("reply_markup"))
        self._check_blocked(chat)
        file_json: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        content: dict[str, Any] = {}
        if kind == "photo":
            content["photo"] = [{**file_json, "width": 800, "height": 600}]
        else:
            if file_name and kind in ("document", "audio", "video", "animation"):
                file_json["file_name"] = file_name
            if mime_type:
                file_json["mime_type"] = mime_type
            if kind in ("audio", "voice", "video", "animation"):
                file_json["duration"] = int(params.get("duration") or 0)
            if kind in ("video", "animation"):
                file_json.update(
                    {"width": params.get("width") or 0, "height": params.get("height") or 0}
                )
            content[kind] = file_json
        if caption:
            content["caption"] = caption
            if caption_entities:
                content["caption_entities"] = caption_entities
        version = MessageVersion(
            caption or None,
            caption_entities,
            markup,
            params.get("caption"),
            params.get("parse_mode"),
            call.method,
        )
        return self._store_bot_message(call, chat, kind, content, version, file=upload)

    def _api_get_file(self, call: ApiCall, client_alive: Callable[[], bool]) -> dict[str, Any]:
        file_id = call.params.get("file_id")
        stored = self._files.get(str(file_id))
        if stored is None:
            raise _bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }


# --------------------------------------------------------------------------------------------
# Module helpers
# --------------------------------------------------------------------------------------------


def _apply_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    """Telegram only echoes inline keyboards on returned messages."""
    if markup and "inline_keyboard" in markup:
        message["reply_markup"] = copy.deepcopy(markup)
    else:
        message.pop("reply_markup", None)


def _scope_key(scope: Any) -> str:
    if not scope:
        return json.dumps({"type": "default"})
    return json.dumps(scope, sort_keys=True)


def _decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn the (string) request parameters into Python values, like the Bot API does."""
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            decoded[key] = value
            continue
        if key in _JSON_PARAMS:
            if value == "":
                continue
            try:
                decoded[key] = json.loads(value)
            except ValueError:
                raise _bad_request(f"can't parse {key} JSON object") from None
        elif key in _INT_PARAMS:
            try:
                decoded[key] = int(value)
            except ValueError:
                if key == "chat_id" and value.startswith("@"):
                    decoded[key] = value
                    continue
                try:
                    decoded[key] = float(value)
                except ValueError:
                    raise _bad_request(f"invalid {key} specified") from None
        elif key in _BOOL_PARAMS:
            decoded[key] = value.strip().lower() in ("true", "1")
        elif key in _FLOAT_PARAMS:
            try:
                decoded[key] = float(value)
            except ValueError:
                raise _bad_request(f"invalid {key} specified") from None
        else:
            decoded[key] = value
    return decoded


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_wait(chat_id: int, text_contains: str | None, after_message_id: int | None) -> str:
    parts = [f"a bot message in chat {chat_id}"]
    if text_contains is not None:
        parts.append(f"containing {text_contains!r}")
    if after_message_id is not None:
        parts.append(f"after message {after_message_id}")
    return " ".join(parts)
