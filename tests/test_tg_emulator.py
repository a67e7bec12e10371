"""Tests for the local Telegram Bot API emulator, driven by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters
from tg_emulator import (
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    TelegramEmulator,
    parse_html,
    utf16_len,
)


@pytest.fixture
def tg(emulator: TelegramEmulator) -> TelegramEmulator:
    """A fresh emulator for each test (conftest's `emulator`)."""
    return emulator


@pytest.fixture
def bot(client: Bot) -> Bot:
    """A python-telegram-bot client on it (conftest's `client`)."""
    return client


@pytest.fixture
def chat_id(tg: TelegramEmulator) -> int:
    """A private chat the bot may write to (the user has talked to the bot before)."""
    update = tg.inject_private_message("/start")
    return update["message"]["chat"]["id"]


# ------------------------------------------------------------------------------ basics


async def test_get_me(tg: TelegramEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "vraagbaak_test_bot"
    assert me.is_bot
    assert me.id == tg.bot_user["id"]
    assert tg.call_count("getMe") >= 2  # Bot.initialize() + the explicit call


async def test_unknown_token_raises_invalid_token(tg: TelegramEmulator) -> None:
    # A well-formed but unknown token gets 401, a malformed one 404 (like Telegram).
    for token, reason in (("123456:not-the-right-token", "Unauthorized"), ("garbage", "Not Found")):
        with pytest.raises(InvalidToken, match="(?i)rejected by the server") as caught:
            async with Bot(token, base_url=tg.base_url):
                pass  # pragma: no cover - initialize() must fail
        assert str(caught.value.__cause__) == reason
    assert [c.error_code for c in tg.rejections()] == [401, 404]


async def test_unknown_method_and_case_insensitive_names(
    tg: TelegramEmulator, bot: Bot, chat_id: int
) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathicMessage")
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{tg.api_url}/SENDMESSAGE", json={"chat_id": chat_id, "text": "via JSON"}
        )
        missing = await client.get(f"{tg.api_url}/noSuchMethod")
    assert answer.status_code == 200
    assert answer.json()["result"]["text"] == "via JSON"
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert tg.calls("sendMessage")[-1].params == {"chat_id": chat_id, "text": "via JSON"}


# ------------------------------------------------------------------------------ formatting


async def test_send_message_html_returns_utf16_entities(
    tg: TelegramEmulator, bot: Bot, chat_id: int
) -> None:
    html = (
        "  <b>Vet</b> 😀 <i>schuin &amp; <u>onder</u></i> "
        '<a href="https://example.com/?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x = 1 &lt; 2</code></pre>\n'
    )
    message = await bot.send_message(chat_id, html, parse_mode=ParseMode.HTML)

    assert message.text == "Vet 😀 schuin & onder link x = 1 < 2"
    types = [(e.type, e.offset, e.length) for e in message.entities]
    # "😀" is two UTF-16 code units, so "schuin" starts at offset 7, not 6.
    assert types == [
        ("bold", 0, 3),
        ("italic", 7, 14),
        ("underline", 16, 5),
        ("text_link", 22, 4),
        ("pre", 27, 9),
    ]
    assert message.entities[3].url == "https://example.com/?a=1&b=2"
    assert message.entities[4].language == "python"
    assert message.parse_entity(message.entities[2]) == "onder"

    sent = tg.last_message(chat_id)
    assert sent is not None
    assert sent.raw_text == html
    assert sent.entity_texts("bold") == ["Vet"]
    assert sent.parse_mode == "HTML"
    tg.assert_no_rejections()


@pytest.mark.parametrize(
    "html",
    [
        "<foo>unknown tag</foo>",
        "<b>never closed",
        "<b><i>mis-nested</b></i>",
        "1 < 2 is a bare less-than",
        "stray </b> end tag",
        "named entity &nbsp; is not allowed",
        "<span>span without spoiler class</span>",
        "line<br>break",
    ],
)
async def test_invalid_html_is_rejected(
    tg: TelegramEmulator, bot: Bot, chat_id: int, html: str
) -> None:
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(chat_id, html, parse_mode=ParseMode.HTML)
    assert tg.messages_in(chat_id) == []
    rejected = tg.rejections()
    assert len(rejected) == 1
    assert rejected[0].method == "sendMessage"
    assert rejected[0].params["text"] == html
    with pytest.raises(AssertionError, match="(?i)can't parse entities"):
        tg.assert_no_rejections()


async def test_plain_text_is_not_parsed(bot: Bot, chat_id: int) -> None:
    message = await bot.send_message(chat_id, "1 < 2 & <b>not bold</b>")
    assert message.text == "1 < 2 & <b>not bold</b>"
    assert message.entities == ()


async def test_length_limits_apply_to_parsed_text(
    tg: TelegramEmulator, bot: Bot, chat_id: int
) -> None:
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(chat_id, "x" * 5000)
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(chat_id, " \n <b> </b> ", parse_mode=ParseMode.HTML)

    # 4096 characters after parsing, although the raw HTML is five times as long.
    accepted = await bot.send_message(chat_id, "&amp;" * 4096, parse_mode=ParseMode.HTML)
    assert accepted.text == "&" * 4096
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(chat_id, "&amp;" * 4097, parse_mode=ParseMode.HTML)

    # Emoji count as two UTF-16 code units.
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(chat_id, "😀" * 2049)
    assert len(tg.messages_in(chat_id)) == 1


def test_parse_html_unit() -> None:
    text, entities = parse_html(
        '<tg-spoiler>a</tg-spoiler><span class="tg-spoiler">b</span>'
        "<blockquote expandable>c</blockquote>&#x1F600;&#65;"
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><a href="tg://user?id=42">d</a>'
    )
    assert text == "abc😀A👍d"
    assert utf16_len(text) == 9
    assert [e["type"] for e in entities] == [
        "spoiler",
        "spoiler",
        "expandable_blockquote",
        "custom_emoji",
        "text_mention",
    ]
    assert entities[3]["offset"] == 6 and entities[3]["length"] == 2
    assert entities[4]["user"]["id"] == 42


# ------------------------------------------------------------------------------ editing


async def test_edit_message_text(tg: TelegramEmulator, bot: Bot, chat_id: int) -> None:
    sent = await bot.send_message(chat_id, "Even denken…")
    edited = await bot.edit_message_text(
        "<b>Klaar</b>", chat_id=chat_id, message_id=sent.message_id, parse_mode="HTML"
    )
    assert edited.text == "Klaar"
    assert edited.edit_date is not None

    record = tg.get_message(chat_id, sent.message_id)
    assert record.text == "Klaar"
    assert [v.text for v in record.history] == ["Even denken…", "Klaar"]
    assert len(record.edits) == 1

    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text(
            "<b>Klaar</b>", chat_id=chat_id, message_id=sent.message_id, parse_mode="HTML"
        )
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=chat_id, message_id=9999)
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.edit_message_text(
            "<b>kapot", chat_id=chat_id, message_id=sent.message_id, parse_mode="HTML"
        )
    assert tg.get_message(chat_id, sent.message_id).text == "Klaar"


async def test_keyboard_callback_query_flow(tg: TelegramEmulator, bot: Bot, chat_id: int) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍", callback_data="fb:up"),
                InlineKeyboardButton("👎", callback_data="fb:down"),
            ]
        ]
    )
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(
            chat_id,
            "te lang",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("x", callback_data="y" * 65)]]
            ),
        )
    message = await bot.send_message(chat_id, "Was dit nuttig?", reply_markup=keyboard)
    assert message.reply_markup == keyboard

    await bot.get_updates()  # drain the /start update
    pending = tg.pending_updates()
    tg.inject_callback_query(chat_id, message.message_id, button_text="👎")
    with pytest.raises(ValueError, match="(?i)no button"):
        tg.inject_callback_query(chat_id, message.message_id, "fb:sideways")

    updates = await bot.get_updates(offset=pending[-1]["update_id"] + 1)
    assert len(updates) == 1
    query = updates[0].callback_query
    assert query is not None
    assert query.data == "fb:down"
    assert query.message is not None and query.message.message_id == message.message_id

    assert await bot.answer_callback_query(query.id, text="Dank je!")
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    answers = tg.callback_answers()
    assert [(a.callback_query_id, a.text) for a in answers] == [(query.id, "Dank je!")]

    await bot.edit_message_reply_markup(chat_id, message.message_id, reply_markup=None)
    assert tg.get_message(chat_id, message.message_id).reply_markup is None
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_reply_markup(chat_id, message.message_id, reply_markup=None)


async def test_delete_reply_chat_action_and_chat_not_found(
    tg: TelegramEmulator, bot: Bot, chat_id: int
) -> None:
    user_message_id = tg.pending_updates()[0]["message"]["message_id"]
    reply = await bot.send_message(
        chat_id, "antwoord", reply_parameters=ReplyParameters(user_message_id)
    )
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "/start"
    assert reply.message_id > user_message_id
    with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
        await bot.send_message(chat_id, "x", reply_to_message_id=4242)

    assert await bot.send_chat_action(chat_id, "typing")
    assert [a.action for a in tg.chat_actions(chat_id)] == ["typing"]

    assert await bot.delete_message(chat_id, reply.message_id)
    assert tg.messages_in(chat_id) == []
    assert tg.messages_in(chat_id, include_deleted=True)[0].deleted
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(chat_id, reply.message_id)

    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(777, "wie ben jij?")

    tg.block_chat(chat_id)
    with pytest.raises(Forbidden, match="(?i)blocked"):
        await bot.send_message(chat_id, "hallo?")


# ------------------------------------------------------------------------------ updates


async def test_long_polling_wakes_up_on_injected_update(tg: TelegramEmulator, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    tg.inject_private_message("Wat is RAG?", first_name="Anna", username="anna")
    updates = await asyncio.wait_for(poll, timeout=3)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "Wat is RAG?"
    assert message.from_user is not None and message.from_user.first_name == "Anna"
    assert message.chat.type == "private"


async def test_long_polling_blocks_for_timeout_without_updates(bot: Bot) -> None:
    started = time.monotonic()
    updates = await bot.get_updates(timeout=1)
    elapsed = time.monotonic() - started
    assert updates == ()
    assert 0.9 <= elapsed < 2.5


async def test_offset_confirms_updates(tg: TelegramEmulator, bot: Bot) -> None:
    ids = [tg.inject_private_message(f"vraag {n}")["update_id"] for n in range(3)]
    first = await bot.get_updates()
    again = await bot.get_updates()  # nothing confirmed yet
    assert [u.update_id for u in first] == ids == [u.update_id for u in again]

    limited = await bot.get_updates(offset=ids[1], limit=1)
    assert [u.update_id for u in limited] == [ids[1]]
    assert [u["update_id"] for u in tg.pending_updates()] == ids[1:]

    newest = await bot.get_updates(offset=-1)
    assert [u.update_id for u in newest] == [ids[2]]
    assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert tg.pending_updates() == []


async def test_group_mentions_commands_and_other_update_types(
    tg: TelegramEmulator, bot: Bot
) -> None:
    bot_message = tg.inject_group_message("hallo", mention_bot=True)
    mention = bot_message["message"]
    assert mention["text"] == "@vraagbaak_test_bot hallo"
    tg.inject_command("vraag", "wat is AI?", chat_id=DEFAULT_GROUP_ID, with_bot_username=True)
    tg.inject_edited_message(DEFAULT_GROUP_ID, mention["message_id"], "@vraagbaak_test_bot hoi")
    tg.inject_document("notes.txt", b"hallo wereld", caption="lees dit")
    tg.inject_sticker()
    tg.inject_photo(caption="foto")
    tg.inject_voice(duration=7)
    tg.inject_location(52.0, 5.0)

    updates = await bot.get_updates()
    assert len(updates) == 8
    group, command, edited, document, sticker, photo, voice, location = updates

    assert group.message is not None and group.message.chat.type == "supergroup"
    assert group.message.parse_entities(["mention"]) == {
        group.message.entities[0]: "@vraagbaak_test_bot"
    }
    assert command.message is not None
    assert command.message.text == "/vraag@vraagbaak_test_bot wat is AI?"
    assert command.message.entities[0].type == "bot_command"
    assert command.message.entities[0].offset == 0
    assert command.message.entities[0].length == len("/vraag@vraagbaak_test_bot")
    assert edited.edited_message is not None and edited.edited_message.text.endswith("hoi")
    assert document.message is not None and document.message.document is not None
    assert document.message.document.file_name == "notes.txt"
    assert document.message.document.mime_type == "text/plain"
    assert sticker.message is not None and sticker.message.sticker is not None
    assert photo.message is not None and len(photo.message.photo) == 2
    assert voice.message is not None and voice.message.voice is not None
    assert voice.message.voice.to_dict()["duration"] == 7
    assert location.message is not None and location.message.location is not None
    assert location.message.location.latitude == 52.0

    # The bot can reply to a user in the group, and users can reply to the bot.
    answer = await bot.send_message(
        DEFAULT_GROUP_ID, "hoi!", reply_to_message_id=mention["message_id"]
    )
    reply = tg.inject_group_message("en nu?", reply_to_message_id=answer.message_id)
    assert reply["message"]["reply_to_message"]["from"]["username"] == "vraagbaak_test_bot"


async def test_document_download(tg: TelegramEmulator, bot: Bot) -> None:
    content = b"%PDF-1.4 fake pdf \x00\xff\r\n binary"
    tg.inject_document("aflevering.pdf", content, "application/pdf")
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.document is not None
    file = await update.message.document.get_file()
    assert file.file_path is not None and file.file_path.startswith(tg.base_file_url)
    buffer = io.BytesIO()
    await file.download_to_memory(buffer)
    assert buffer.getvalue() == content
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await bot.get_file("does-not-exist")


async def test_send_document_is_recorded(tg: TelegramEmulator, bot: Bot, chat_id: int) -> None:
    message = await bot.send_document(
        chat_id,
        b"col1,col2\n1,2\n",
        filename="export.csv",
        caption="<i>export</i>",
        parse_mode="HTML",
    )
    assert message.document is not None
    assert message.document.file_name == "export.csv"
    assert message.caption == "export"
    sent = tg.last_message(chat_id)
    assert sent is not None and sent.kind == "document"
    assert sent.file is not None and sent.file.content == b"col1,col2\n1,2\n"
    assert sent.entity_texts("italic") == ["export"]
    # The uploaded file can be fetched again through getFile.
    file = await bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"col1,col2\n1,2\n"


# ------------------------------------------------------------------------------ misc methods


async def test_commands_webhook_and_drafts(tg: TelegramEmulator, bot: Bot, chat_id: int) -> None:
    assert await bot.set_my_commands(
        [BotCommand("start", "Begin"), BotCommand("vraag", "Stel een vraag")]
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start", "vraag"]
    assert tg.commands()[1] == {"command": "vraag", "description": "Stel een vraag"}
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Vraag!", "ongeldig")])
    assert await bot.delete_my_commands()
    assert tg.commands() == []

    assert await bot.set_webhook("https://example.com/hook")
    assert (await bot.get_webhook_info()).url == "https://example.com/hook"
    with pytest.raises(Conflict, match="(?i)webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert tg.pending_updates() == []
    assert (await bot.get_webhook_info()).url == ""

    assert await bot.send_message_draft(
        chat_id, draft_id=1, text="Ik zoek <b>even</b>…", parse_mode="HTML"
    )
    drafts = tg.drafts(chat_id)
    assert [(d.draft_id, d.text) for d in drafts] == [(1, "Ik zoek even…")]


async def test_fail_next_429_raises_retry_after(
    tg: TelegramEmulator, bot: Bot, chat_id: int
) -> None:
    tg.fail_next("sendMessage", count=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(chat_id, "te snel")
        assert "retry in 1" in str(caught.value).lower()
    message = await bot.send_message(chat_id, "nu wel")
    assert message.text == "nu wel"
    assert tg.texts_in(chat_id) == ["nu wel"]
    assert tg.rejections() == []  # injected failures are not counted as rejections
    injected = tg.rejections(include_injected=True)
    assert [(c.error_code, c.injected_failure) for c in injected] == [(429, True)] * 2

    tg.fail_next(
        "sendChatAction", error_code=403, description="Forbidden: bot was blocked by the user"
    )
    with pytest.raises(Forbidden):
        await bot.send_chat_action(chat_id, "typing")


def test_wait_for_timeout_reports_context(tg: TelegramEmulator) -> None:
    tg.inject_private_message("hallo")
    with pytest.raises(AssertionError, match="(?i)a bot message in chat 1001") as caught:
        tg.wait_for_message(DEFAULT_USER_ID, timeout=0.2)
    assert "pending updates: 1" in str(caught.value)
    assert tg.wait_for(lambda: tg.pending_updates(), timeout=0.5)[0]["message"]["text"] == "hallo"


# ------------------------------------------------------------------------------ application


async def test_application_echo_roundtrip(tg: TelegramEmulator) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        update = tg.inject_private_message("Hoe werkt de vraagbaak?")
        user_message = update["message"]
        reply = await tg.wait_for_message_async(
            user_message["chat"]["id"],
            after_message_id=user_message["message_id"],
            timeout=5,
        )
        assert reply.text == "echo: Hoe werkt de vraagbaak?"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    assert tg.pending_updates() == []  # the final getUpdates confirmed the processed update
    assert tg.call_count("deleteWebhook") == 1
    tg.assert_no_rejections()
