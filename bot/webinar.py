"""The webinar inbox: subscribers file questions for the hosts' live webinar, the hosts get
them grouped by meaning, with what the archive already says.

Subscribers: `/webinar <vraag>` files a question (private chat or group; it counts against
the same per-user question limit as any question, and the archive's answer is shown right
away when it has one), `/mijnvragen` lists one's open questions with a button to withdraw
each, and the "Stel deze vraag in het webinar" button under an unsure or not-found answer
files its question. Admins (private chat): `/webinarinfo <tekst>` sets what askers are told
about the next webinar, `/webinarvragen` sends a summary and a Markdown document,
`/webinarafgerond [link]` archives the round and thanks each asker once. `aireport webinar
export|list` prints the same from the state file, without Telegram (`--round DATE`: a
closed round's questions; `aireport webinar rounds` lists the closed rounds).

Grouping (`bot.grouping`): the questions are embedded with the service's embedder and
merged by average-linkage agglomerative clustering at `GROUP_THRESHOLD`, chosen on
`eval/webinar_pairs.jsonl` (see the README's "Webinar inbox"). With an LLM configured,
the export gives each group of two or more wordings a one-line summary (one request for
the whole export, in the service's LLM executor and within one answer deadline; its tokens
count in the service's usage totals, as `/stats` shows); without one, or when that request
fails, the group is headed by its representative wording.
The document names no one: no user ids, no usernames (the state keeps no usernames).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.messages import HumanMessage, SystemMessage
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.answering import MAX_QUESTION_CHARS, LiveAnswer, within_limit
from bot.examples import example_questions
from bot.formatting import (
    WEBINAR_BUTTON_VERDICTS,
    WEBINAR_FILE_CALLBACK,
    clean,
    escape,
    fold,
    html_to_plain,
    shorten,
)
from bot.grouping import GROUP_THRESHOLD, cluster, question_vectors, representative_index
from bot.guards import admins_only, members_only
from bot.handlers import COMMAND_RE, without_mention
from bot.runtime import runtime
from bot.state import (
    DB_NAME,
    MAX_OPEN_WEBINAR_QUESTIONS,
    WEBINAR_INFO_KEY,
    WebinarQuestion,
    read_webinar_questions,
    read_webinar_rounds,
)
from bot.telegram_io import (
    NO_PREVIEW,
    message_of,
    query_of,
    reply_html,
    send_html,
    thread_of,
    typing,
    user_of,
)
from rag import prompts
from rag.llm import THINK_RE, ChatCaller, LLMError, chat_model
from rag.prompts import as_data
from rag.transcripts import where_note

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from rag.service import AnswerService
    from rag.settings import Settings

log = logging.getLogger(__name__)

MAX_INFO_CHARS = 1000
LIST_QUESTION_CHARS = 300  # per question in /mijnvragen (10 of them fit one message)
SUMMARY_TOP = 5
SUMMARY_QUESTION_CHARS = 200
QUOTE_WORDS = 60
WITHDRAW_CALLBACK = "wbx:"
WITHDRAW_PATTERN = r"^wbx:\d{1,19}$"
LINK_RE = re.compile(r"^https?://\S+$")
PAIRS_FILE = Path(__file__).resolve().parent.parent / "eval" / "webinar_pairs.jsonl"
# LLM summaries: one request for the export; the top groups, a few wordings of each.
SUMMARY_MAX_GROUPS = 30
SUMMARY_MAX_WORDINGS = 8
SUMMARY_MAX_TOKENS = 1200  # about 40 tokens a line for SUMMARY_MAX_GROUPS lines
SUMMARY_MAX_CHARS = 200
SUMMARY_GRACE_S = 1.0
# "3: …", "- Groep 3. …": a group's number, then its summary.
SUMMARY_LINE_RE = re.compile(r"^\s*(?:[-*•]\s*)?(?:groep\s*)?(\d{1,3})\s*[:.)\-–]\s*(.+)$", re.I)


# ------------------------------------------------------------------------------ grouping


@dataclass(frozen=True)
class ArchiveView:
    """What the archive says about a group: the verdict and the best (or nearest) fragment."""

    verdict: str | None
    title: str | None = None
    url: str | None = None
    start_time: float | None = None
    quote: str | None = None
    position: float | None = None


@dataclass(frozen=True)
class QuestionGroup:
    questions: list[WebinarQuestion]
    representative: str
    askers: int
    first_asked: float
    last_asked: float
    archive: ArchiveView | None = None
    summary: str | None = None  # the LLM's one line for a group of 2+ wordings

    @property
    def title(self) -> str:
        """What heads the group: the LLM's summary, else the representative wording."""
        return self.summary or self.representative


def group_questions(
    questions: Sequence[WebinarQuestion],
    embedder: Embeddings,
    threshold: float = GROUP_THRESHOLD,
) -> list[QuestionGroup]:
    """Questions grouped by meaning, most distinct askers first (then most questions, then
    the most recently asked)."""
    if not questions:
        return []
    vectors = question_vectors(embedder, [q.question for q in questions])
    groups = []
    for members in cluster(vectors, threshold):
        rows = [questions[i] for i in members]
        groups.append(
            QuestionGroup(
                questions=rows,
                representative=questions[representative_index(vectors, members)].question,
                askers=len({q.user_id for q in rows}),
                first_asked=min(q.created_at for q in rows),
                last_asked=max(q.created_at for q in rows),
            )
        )
    groups.sort(key=lambda g: (-g.askers, -len(g.questions), -g.last_asked))
    return groups


def archive_view(service: AnswerService, question: str) -> ArchiveView:
    """The archive's verdict on a question and its best fragment (the service's retrieval;
    no LLM writes anything here, so the export costs no tokens per group)."""
    from rag.answer import passage_citation, pick_passages

    retrieval = service.search(question)
    if retrieval is None:
        return ArchiveView(None)
    verdict = retrieval.verdict.value
    best = pick_passages(retrieval, 1) if retrieval.fragments else []
    if not best:
        return ArchiveView(verdict)
    citation = passage_citation(1, best[0])
    return ArchiveView(
        verdict,
        citation.title,
        citation.url,
        citation.start_time,
        citation.quote,
        citation.position,
    )


def with_archive(groups: Sequence[QuestionGroup], service: AnswerService) -> list[QuestionGroup]:
    """The groups with what the archive says about each representative wording."""
    out = []
    for group in groups:
        try:
            view = archive_view(service, group.representative)
        except Exception:  # one failed lookup must not cost the hosts the whole export
            log.exception("archive lookup failed for a webinar group")
            view = ArchiveView(None)
        out.append(replace(group, archive=view))
    return out


def build_export(
    questions: Sequence[WebinarQuestion], service: AnswerService, archive: bool = True
) -> list[QuestionGroup]:
    groups = group_questions(questions, service.embedder)
    if archive and service.index is not None:
        groups = with_archive(groups, service)
    if service.settings.llm_enabled:
        groups = with_summaries(groups, service)
    return groups


# ------------------------------------------------------------------------ LLM summaries


def summary_requests(groups: Sequence[QuestionGroup]) -> list[tuple[int, list[str]]]:
    """(rank, wordings) of the groups the LLM summarises: the top ones with two or more
    different wordings (the same question filed by several people has one)."""
    wanted = []
    for n, group in enumerate(groups, start=1):
        wordings = {" ".join(q.question.casefold().split()): q.question for q in group.questions}
        if len(wordings) >= 2:
            wanted.append((n, list(wordings.values())[:SUMMARY_MAX_WORDINGS]))
    return wanted[:SUMMARY_MAX_GROUPS]


def parse_summaries(raw: str, wanted: Sequence[int]) -> dict[int, str]:
    """The model's `n: summary` lines for the groups asked about; anything else is ignored
    (a group without a usable line keeps its representative wording)."""
    summaries: dict[int, str] = {}
    for line in THINK_RE.sub("", raw).splitlines():
        match = SUMMARY_LINE_RE.match(line)
        if match is None:
            continue
        n = int(match.group(1))
        text = as_data(fold(match.group(2)).strip("\"'“”„*_ "))
        usable = any(c.isalnum() for c in text) and len(text) <= SUMMARY_MAX_CHARS
        if n in wanted and n not in summaries and usable:
            summaries[n] = text
    return summaries


def summarize(groups: Sequence[QuestionGroup], service: AnswerService) -> dict[int, str]:
    """One-line summaries by group rank, from one LLM request in the service's executor
    within one answer deadline (its tokens go into the service's usage totals); {} when
    there is nothing to summarise or the call fails."""
    wanted = summary_requests(groups)
    if not wanted:
        return {}
    settings = service.settings
    secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    caller = ChatCaller(chat_model(settings, 0.0, SUMMARY_MAX_TOKENS), secret, settings)
    messages = [
        SystemMessage(prompts.WEBINAR_SUMMARY_PROMPT),
        HumanMessage(prompts.webinar_summary_user_message(wanted)),
    ]
    deadline = service.deadline()
    future = service.llm_executor.submit(lambda: caller.invoke(messages, deadline))
    if future is None:
        log.warning("all LLM workers are busy: the webinar groups are not summarised")
        return {}
    try:
        raw, usage = future.result(timeout=deadline.remaining() + SUMMARY_GRACE_S)
    except LLMError as exc:
        log.warning("webinar group summaries failed, using representative wordings: %s", exc)
        return {}
    except FutureTimeout:
        deadline.expire()
        log.warning("webinar group summaries: deadline of %g s passed", deadline.seconds)
        return {}
    # The tokens are spent whether the reply's lines are usable or not.
    service.count_llm_call("webinar_summaries", usage)
    summaries = parse_summaries(raw, [n for n, _ in wanted])
    log.info(
        "webinar export: %d of %d groups summarised, tokens=%d",
        len(summaries),
        len(wanted),
        usage.get("total_tokens", 0),
    )
    return summaries


def with_summaries(groups: Sequence[QuestionGroup], service: AnswerService) -> list[QuestionGroup]:
    """The groups with the LLM's one-line summary where it gave one."""
    summaries = summarize(groups, service)
    return [
        replace(g, summary=summaries.get(n)) if n in summaries else g
        for n, g in enumerate(groups, start=1)
    ]


# ----------------------------------------------------------------------- pairs (threshold)


def load_pairs(path: Path = PAIRS_FILE) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def pair_similarities(pairs: Sequence[dict], embedder: Embeddings) -> list[tuple[float, bool]]:
    """(cosine, same question?) per pair, with the vectors the grouping uses."""
    texts = [t for p in pairs for t in (p["a"], p["b"])]
    vectors = question_vectors(embedder, texts)
    return [
        (float(vectors[2 * i] @ vectors[2 * i + 1]), bool(p["same"])) for i, p in enumerate(pairs)
    ]


def precision_recall(scored: Sequence[tuple[float, bool]], threshold: float) -> tuple[float, float]:
    """Precision and recall of "same group" (a pair of two clusters as one at `threshold`)."""
    tp = sum(1 for s, same in scored if same and s >= threshold)
    fp = sum(1 for s, same in scored if not same and s >= threshold)
    fn = sum(1 for s, same in scored if same and s < threshold)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


# ----------------------------------------------------------------------------- rendering


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _md(text: str) -> str:
    """One line of user text, safe inside Markdown (no headings, links or emphasis)."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", fold(clean(text)))


def _quote(text: str) -> str:
    words = fold(text).split()
    cut = " ".join(words[:QUOTE_WORDS])
    return cut + (" …" if len(words) > QUOTE_WORDS else "")


def verdict_label(verdict: str | None) -> str:
    return msg.WEBINAR_VERDICTS.get(verdict, msg.WEBINAR_VERDICTS[None])


def render_markdown(
    groups: Sequence[QuestionGroup],
    generated_at: float | None = None,
    round_name: str | None = None,
) -> str:
    """The hosts' document: groups ranked by askers, with wordings, dates and the archive
    (of the open questions, or of the closed round `round_name`)."""
    generated_at = time.time() if generated_at is None else generated_at
    questions = sum(len(g.questions) for g in groups)
    lines = [
        f"# Webinarvragen, ronde {round_name}" if round_name else "# Webinarvragen",
        "",
        f"Gemaakt op {_when(generated_at)}: {questions} {_kind(round_name)} in {len(groups)} "
        "groepen, "
        "gerangschikt naar het aantal verschillende mensen dat de vraag stelde. "
        "Vragen die op elkaar lijken staan in één groep.",
    ]
    for n, group in enumerate(groups, start=1):
        people = msg.WEBINAR_PERSON if group.askers == 1 else msg.WEBINAR_PEOPLE
        lines += [
            "",
            f"## {n}. {_md(group.title)}",
            "",
            *([f"- {msg.WEBINAR_SUMMARY_NOTE}"] if group.summary else []),
            f"- Gesteld door {group.askers} {people} ({len(group.questions)} keer)",
            f"- Eerst gesteld: {_when(group.first_asked)} · laatst: {_when(group.last_asked)}",
            "- Formuleringen:",
        ]
        lines += [f"  - {_md(q.question)}" for q in group.questions]
        lines += _archive_lines(group.archive)
    return "\n".join(lines) + "\n"


def _archive_lines(view: ArchiveView | None) -> list[str]:
    if view is None:
        return ["- Archief: niet opgezocht (geen index)"]
    lines = [f"- Archief: **{verdict_label(view.verdict)}**"]
    if view.quote:
        label = "Beste fragment" if view.verdict == "found" else "Dichtstbijzijnde fragment"
        title = _md(view.title or "")
        where = f"[{title}]({view.url})" if view.url else title
        lines.append(f"- {label}: {where}{where_note(view.start_time, view.position)}")
        lines.append(f"  > {_md(_quote(view.quote))}")
    return lines


CSV_FIELDS = [
    "groep",
    "vragers",
    "vragen_in_groep",
    "representatief",
    "samenvatting",
    "formulering",
    "gesteld",
    "eerst_gesteld",
    "laatst_gesteld",
    "archief",
    "aflevering",
    "link",
    "fragment",
]


def render_csv(groups: Sequence[QuestionGroup]) -> str:
    """One row per wording, with its group's rank, size, dates and the archive's view."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for n, group in enumerate(groups, start=1):
        view = group.archive or ArchiveView(None)
        for q in group.questions:
            writer.writerow(
                [
                    n,
                    group.askers,
                    len(group.questions),
                    fold(group.representative),
                    fold(group.summary or ""),
                    fold(q.question),
                    _when(q.created_at),
                    _when(group.first_asked),
                    _when(group.last_asked),
                    view.verdict or "",
                    view.title or "",
                    view.url or "",
                    _quote(view.quote) if view.quote else "",
                ]
            )
    return out.getvalue()


def _kind(round_name: str | None) -> str:
    return "gearchiveerde vragen" if round_name else "open vragen"


def render_table(
    groups: Sequence[QuestionGroup], width: int = 70, round_name: str | None = None
) -> str:
    """A short plain-text table of the groups."""
    lines = [f"{'#':>3}  {'vragers':>7}  {'vragen':>6}  {'laatst':<16}  vraag"]
    for n, g in enumerate(groups, start=1):
        question = shorten(fold(g.title), width)
        lines.append(
            f"{n:>3}  {g.askers:>7}  {len(g.questions):>6}  {_when(g.last_asked):<16}  {question}"
        )
    total = sum(len(g.questions) for g in groups)
    lines.append(f"{total} {_kind(round_name)} in {len(groups)} groepen")
    return "\n".join(lines)


def render_summary(groups: Sequence[QuestionGroup]) -> str:
    """The Telegram message that goes with the document (escaped HTML)."""
    top = []
    for n, group in enumerate(groups[:SUMMARY_TOP], start=1):
        verdict = verdict_label(group.archive.verdict if group.archive else None)
        top.append(
            msg.WEBINAR_EXPORT_TOP_LINE.format(
                n=n,
                question=escape(shorten(fold(group.title), SUMMARY_QUESTION_CHARS)),
                askers=group.askers,
                people=msg.WEBINAR_PERSON if group.askers == 1 else msg.WEBINAR_PEOPLE,
                verdict=verdict,
            )
        )
    return msg.WEBINAR_EXPORT_SUMMARY.format(
        questions=sum(len(g.questions) for g in groups),
        askers=len({q.user_id for g in groups for q in g.questions}),
        groups=len(groups),
        top="\n".join(top),
    )


def render_my_questions(
    questions: Sequence[WebinarQuestion],
) -> tuple[str, InlineKeyboardMarkup | None]:
    """`/mijnvragen`: the list and a withdraw button per question."""
    if not questions:
        return msg.WEBINAR_MINE_EMPTY, None
    lines = [msg.WEBINAR_MINE_HEADING.format(count=len(questions)), ""]
    buttons = []
    for n, q in enumerate(questions, start=1):
        text = escape(shorten(fold(q.question), LIST_QUESTION_CHARS))
        lines.append(msg.WEBINAR_MINE_LINE.format(n=n, question=text))
        buttons.append(
            InlineKeyboardButton(
                msg.WEBINAR_WITHDRAW_BUTTON.format(n=n),
                callback_data=f"{WITHDRAW_CALLBACK}{q.id}",
            )
        )
    lines += ["", msg.WEBINAR_MINE_FOOTER]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def info_text(info: str | None) -> str:
    return msg.WEBINAR_NEXT.format(info=escape(info)) if info else msg.WEBINAR_NO_DATE


# ------------------------------------------------------------------------------ handlers


def _command_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    message = message_of(update)
    text = COMMAND_RE.sub("", message.text or "", count=1)
    if message.chat.type != ChatType.PRIVATE:
        text = without_mention(text, context.bot.username)
    return clean(text).strip()


@members_only
async def webinar_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/webinar <vraag>`: file the question; show the archive's answer when it has one."""
    rt = runtime(context)
    message = message_of(update)
    user = update.effective_user
    if user is None:
        return
    question = _command_text(update, context)
    if not any(ch.isalnum() for ch in question):
        info = await rt.store.run(rt.store.get_setting, WEBINAR_INFO_KEY)
        example = escape(example_questions(rt.service.index, 1)[0])
        text = msg.WEBINAR_USAGE.format(example=example, limit=MAX_OPEN_WEBINAR_QUESTIONS)
        await reply_html(message, text + info_text(info))
        return
    await file_question(update, context, question)


async def file_question(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, *, admitted: bool = False
) -> None:
    """File `question` (from `/webinar`, or a voice note for it) under the user's name;
    `admitted`: it was counted against the user's question limit already."""
    rt = runtime(context)
    message = message_of(update)
    user = user_of(update)
    started = time.monotonic()
    if not admitted and not await within_limit(rt, message):  # no await before this
        return
    if len(question) > MAX_QUESTION_CHARS:
        await reply_html(
            message, msg.TOO_LONG.format(length=len(question), limit=MAX_QUESTION_CHARS)
        )
        return
    filing = await rt.store.run(rt.store.add_webinar_question, user.id, message.chat_id, question)
    if filing.status == "full":
        log.info("user %s has %d open webinar questions: refused", user.id, filing.open_count)
        await reply_html(message, msg.WEBINAR_FULL.format(limit=MAX_OPEN_WEBINAR_QUESTIONS))
        return
    shown = escape(shorten(fold(question), LIST_QUESTION_CHARS))
    info = await rt.store.run(rt.store.get_setting, WEBINAR_INFO_KEY)
    if filing.status == "duplicate":
        await reply_html(message, msg.WEBINAR_DUPLICATE.format(question=shown) + info_text(info))
        return
    log.info("user %s filed webinar question %s", user.id, filing.question_id)
    chat_id = message.chat_id
    async with rt.chat_locks.hold(chat_id):
        answer = None
        if rt.service.index is not None:
            try:
                async with typing(context.bot, chat_id, thread_of(message)):
                    answer = await rt.service.ask_async(question)
            except Exception:  # filed all the same; the archive's answer is a bonus
                log.exception("could not look up webinar question %s", filing.question_id)
        if answer is not None:
            await rt.store.run(rt.store.set_webinar_verdict, filing.question_id, answer.verdict)
        found = answer is not None and answer.verdict == "found"
        text = msg.WEBINAR_FILED.format(question=shown)
        if found:
            text += msg.WEBINAR_ANSWERED
        await reply_html(message, text + info_text(info))
        if found and answer is not None:
            answer_id = await rt.store.run(rt.store.add_answer, chat_id, answer)
            await LiveAnswer(message).finish(answer, answer_id)
            rt.stats.record(True, (time.monotonic() - started) * 1000)


@members_only
async def my_questions_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/mijnvragen`: the user's open webinar questions, each with a withdraw button."""
    rt = runtime(context)
    message = message_of(update)
    user = update.effective_user
    if user is None:
        return
    if message.chat.type != ChatType.PRIVATE:  # the list is nobody else's business
        await reply_html(message, msg.WEBINAR_PRIVATE_ONLY)
        return
    questions = await rt.store.run(rt.store.webinar_questions, user.id)
    text, markup = render_my_questions(questions)
    await reply_html(message, text, markup)


async def withdraw_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A withdraw button of `/mijnvragen`: only the asker's own question is withdrawn."""
    rt = runtime(context)
    query, data = query_of(update)
    user_id = query.from_user.id
    question_id = int(data.removeprefix(WITHDRAW_CALLBACK))
    withdrawn = await rt.store.run(rt.store.withdraw_webinar_question, question_id, user_id)
    if withdrawn:
        log.info("user %s withdrew webinar question %s", user_id, question_id)
    await query.answer(msg.WEBINAR_WITHDRAWN if withdrawn else msg.WEBINAR_WITHDRAW_GONE)
    listing = query.message
    if not isinstance(listing, Message) or listing.chat.id != user_id:
        return  # not the asker's own list: leave it as it is
    if not withdrawn and not _has_button(listing.reply_markup, data):
        return  # the list no longer offers this question: nothing to refresh
    questions = await rt.store.run(rt.store.webinar_questions, user_id)
    text, markup = render_my_questions(questions)
    try:
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )
    except BadRequest as exc:  # a double press: the list shows this already
        if "message is not modified" not in exc.message.lower():
            raise


@members_only
async def file_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Stel deze vraag in het webinar" under an unsure or not-found answer: files the
    answer's question under the name of whoever pressed (in a group, each person once)."""
    rt = runtime(context)
    query, data = query_of(update)
    user = query.from_user
    answer_id = int(data.removeprefix(WEBINAR_FILE_CALLBACK))
    message = query.message
    stored = None
    if message is not None:
        stored = await rt.store.run(rt.store.get_answer, message.chat.id, answer_id)
    if message is None or stored is None or stored.verdict not in WEBINAR_BUTTON_VERDICTS:
        await query.answer(msg.WEBINAR_FILE_GONE, show_alert=True)
        return
    chat_id = message.chat.id
    filing = await rt.store.run(rt.store.add_webinar_question, user.id, chat_id, stored.question)
    if filing.status == "full":
        log.info("user %s has %d open webinar questions: refused", user.id, filing.open_count)
        await query.answer(
            html_to_plain(msg.WEBINAR_FULL.format(limit=MAX_OPEN_WEBINAR_QUESTIONS)),
            show_alert=True,
        )
        return
    if filing.status == "duplicate":  # a second press, or filed before by command
        await query.answer(msg.WEBINAR_FILE_DUPLICATE)
        return
    await rt.store.run(rt.store.set_webinar_verdict, filing.question_id, stored.verdict)
    log.info("user %s filed webinar question %s by button", user.id, filing.question_id)
    await query.answer(msg.WEBINAR_FILE_FILED)
    shown = escape(shorten(fold(stored.question), LIST_QUESTION_CHARS))
    if message.chat.type == ChatType.PRIVATE:
        text = msg.WEBINAR_FILED.format(question=shown)
    else:
        name = escape(shorten(clean(user.full_name), 64))
        text = msg.WEBINAR_FILED_BY_BUTTON.format(name=name, question=shown)
    info = await rt.store.run(rt.store.get_setting, WEBINAR_INFO_KEY)
    await send_html(
        context.bot,
        chat_id,
        text + info_text(info),
        reply_to=message.message_id,
        thread_id=message.message_thread_id if isinstance(message, Message) else None,
    )


def _has_button(markup: InlineKeyboardMarkup | None, data: str) -> bool:
    rows = markup.inline_keyboard if markup is not None else ()
    return any(button.callback_data == data for row in rows for button in row)


@admins_only
async def webinar_info_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/webinarinfo <tekst>`: what askers are told about the next webinar (`wissen` clears)."""
    rt = runtime(context)
    message = message_of(update)
    text = COMMAND_RE.sub("", message.text or "", count=1)
    text = clean(text).strip()
    if not text:
        current = await rt.store.run(rt.store.get_setting, WEBINAR_INFO_KEY)
        shown = escape(current) if current else msg.WEBINAR_INFO_NONE
        await reply_html(message, msg.WEBINAR_INFO_USAGE.format(current=shown))
        return
    if text.casefold() == "wissen":
        await rt.store.run(rt.store.set_setting, WEBINAR_INFO_KEY, None)
        await reply_html(message, msg.WEBINAR_INFO_CLEARED)
        return
    if len(text) > MAX_INFO_CHARS:
        await reply_html(
            message, msg.WEBINAR_INFO_TOO_LONG.format(length=len(text), limit=MAX_INFO_CHARS)
        )
        return
    await rt.store.run(rt.store.set_setting, WEBINAR_INFO_KEY, text)
    log.info("admin %s set the webinar info", user_of(update).id)
    await reply_html(message, msg.WEBINAR_INFO_SET.format(info=escape(text)))


@admins_only
async def webinar_questions_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/webinarvragen`: a summary message and the Markdown document of grouped questions."""
    rt = runtime(context)
    message = message_of(update)
    questions = await rt.store.run(rt.store.webinar_questions)
    if not questions:
        await reply_html(message, msg.WEBINAR_EXPORT_EMPTY)
        return
    async with typing(context.bot, message.chat_id):
        groups = await asyncio.to_thread(build_export, questions, rt.service)
    now = time.time()
    await reply_html(message, render_summary(groups))
    document = render_markdown(groups, now).encode("utf-8")
    name = f"webinarvragen-{datetime.fromtimestamp(now):%Y-%m-%d}.md"
    await context.bot.send_document(message.chat_id, document, filename=name)
    log.info("sent the webinar export: %d questions in %d groups", len(questions), len(groups))


@admins_only
async def webinar_done_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/webinarafgerond [link]`: archive the open questions under today's date and thank
    each asker once (with the recording link when given). Users the bot cannot reach
    (blocked it, or never started a private chat) are skipped and counted, not retried."""
    rt = runtime(context)
    message = message_of(update)
    link = _command_text(update, context)
    if link and (not LINK_RE.match(link) or len(link) > MAX_INFO_CHARS):
        await reply_html(message, msg.WEBINAR_DONE_USAGE)
        return
    round_name = datetime.now().strftime("%Y-%m-%d")
    questions, askers = await rt.store.run(rt.store.close_webinar_round, round_name)
    if not questions:
        await reply_html(message, msg.WEBINAR_DONE_EMPTY)
        return
    await rt.store.run(rt.store.set_setting, WEBINAR_INFO_KEY, None)
    log.info(
        "admin %s closed webinar round %s: %d questions of %d askers",
        user_of(update).id,
        round_name,
        questions,
        len(askers),
    )
    await reply_html(
        message,
        msg.WEBINAR_DONE_CLOSED.format(date=round_name, questions=questions, askers=len(askers)),
    )
    text = msg.WEBINAR_DONE_THANKS
    if link:
        text += msg.WEBINAR_DONE_RECORDING.format(link=escape(link))
    sent = skipped = 0
    for user_id in askers:  # the bot's AIORateLimiter paces these and waits out 429s
        try:
            await send_html(context.bot, user_id, text)
        except Forbidden as exc:  # blocked the bot, or never started a private chat
            log.info("webinar thanks to user %s skipped: %s", user_id, exc.message)
            skipped += 1
        except TelegramError as exc:  # e.g. chat not found: skipped all the same
            log.warning("webinar thanks to user %s failed: %s", user_id, exc.message)
            skipped += 1
        else:
            sent += 1
    log.info("webinar round %s: thanks sent %d, skipped %d", round_name, sent, skipped)
    await reply_html(message, msg.WEBINAR_DONE_SUMMARY.format(sent=sent, skipped=skipped))


# ----------------------------------------------------------------------------------- CLI


def cli_main(settings: Settings, args: argparse.Namespace) -> int:
    """Run `aireport webinar …`; reads the state file, needs no Telegram token."""
    from rag.service import AnswerService

    path = (args.state_dir or settings.state_dir) / DB_NAME
    if not path.exists():
        print(f"No bot state at {path} (set --state-dir or STATE_DIR).", file=sys.stderr)
        return 1
    rounds = read_webinar_rounds(path)
    if args.webinar_command == "rounds":
        if not rounds:
            print("No closed webinar rounds.", file=sys.stderr)
        for name, count in rounds:
            print(f"{name}  {count:>4} vragen")
        return 0
    round_name = getattr(args, "round", None)
    questions = read_webinar_questions(path, round_name)
    if not questions:
        if round_name is None:
            print("No open webinar questions.", file=sys.stderr)
            return 0
        known = ", ".join(name for name, _ in rounds) or "none"
        print(f"No webinar round {round_name} (closed rounds: {known}).", file=sys.stderr)
        return 1
    service = AnswerService(settings)
    if args.webinar_command == "list":
        print(render_table(group_questions(questions, service.embedder), round_name=round_name))
        return 0
    if not service.load():
        print("No index: the archive's answers are left out.", file=sys.stderr)
    groups = build_export(questions, service)
    if args.format == "csv":
        sys.stdout.write(render_csv(groups))
    else:
        sys.stdout.write(render_markdown(groups, round_name=round_name))
    return 0
