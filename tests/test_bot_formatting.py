"""Telegram HTML: escaping, splitting under 4096, source lists, quotes, episode pages."""

from __future__ import annotations

import random
import re

import pytest
from tg_emulator import HtmlParseError, parse_html, utf16_len

from bot import messages as msg
from bot.formatting import (
    MAX_MESSAGE,
    EpisodeLine,
    answer_keyboard,
    escape,
    html_to_plain,
    link,
    render_answer,
    render_episodes,
    render_quotes,
    render_report,
    render_stats,
    size,
    sources_keyboard,
    split_text,
)
from bot.state import StoredCitation
from bot.stats import StatsSnapshot
from rag.index import IndexReport
from rag.transcripts import Skipped, format_moment

TITLE = "Grok-3 daagt OpenAI uit + NYT omarmt AI | AI Report"
URL = "https://www.youtube.com/watch?v=xDCa0xgymMY"


def telegram_accepts(html: str) -> str:
    """Parse like Telegram does; return the plain text (fails on invalid HTML or length)."""
    text, _ = parse_html(html)
    assert 0 < utf16_len(text.strip()) <= MAX_MESSAGE
    return text


def citation(n: int, quote: str = "eh dit is   een\ncitaat", **kw) -> StoredCitation:
    return StoredCitation(
        n=n,
        title=kw.get("title", TITLE),
        url=kw.get("url", URL),
        start_time=kw.get("start_time"),
        quote=quote,
        position=kw.get("position"),
    )


def hostile_text(length: int, seed: int = 7) -> str:
    """Dutch-ish prose full of HTML/Markdown specials, emoji and paragraph breaks."""
    rng = random.Random(seed)
    words = [
        "<b>",
        "&amp;",
        "a<b",
        "x>y",
        "&",
        "*vet*",
        "_schuin_",
        "`code`",
        "😀",
        "🇳🇱",
        "AI",
        "podcast",
        "Nvidia",
        "<script>",
        "'",
        '"',
        "[1]",
        "\u202eomgekeerd",
        "ééé",
    ]
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < length:
        parts.append(rng.choice(words))
        roll = rng.random()
        if roll < 0.02:
            parts.append("\n\n")
        elif roll < 0.05:
            parts.append("\n")
    return " ".join(parts)[:length]


def test_escape_covers_html_specials_and_drops_null_bytes() -> None:
    assert escape("<b>a & b</b>\x00") == "&lt;b&gt;a &amp; b&lt;/b&gt;"
    assert telegram_accepts(escape("1 < 2 & 3 > 2")) == "1 < 2 & 3 > 2"


def test_a_10000_character_hostile_answer_splits_into_valid_messages() -> None:
    text = hostile_text(10_000)
    parts = render_answer(text, [citation(1), citation(2)])
    assert len(parts) >= 3
    plain = [telegram_accepts(p) for p in parts]
    assert all(size(p) <= MAX_MESSAGE for p in parts)
    # Nothing lost or reordered: the words come back in order, sources at the very end.
    joined = " ".join(plain)
    assert joined.split()[: len(text.split())] == text.split()
    assert plain[-1].rstrip().endswith(TITLE)
    assert "Bronnen" in plain[-1]


def test_split_prefers_paragraph_boundaries() -> None:
    paragraph = ("woord " * 500).strip()  # ~3000 characters
    text = "\n\n".join([paragraph, paragraph, "kort slot"])
    pieces = split_text(text)
    assert [html_to_plain(p) for p in pieces] == [paragraph, f"{paragraph}\n\nkort slot"]


def test_split_cuts_a_single_huge_word_without_breaking_entities() -> None:
    text = "&" * 9000  # every character escapes to five
    pieces = split_text(text)
    assert all(size(p) <= MAX_MESSAGE for p in pieces)
    assert "".join(telegram_accepts(p) for p in pieces) == text


def test_split_drops_whitespace_only_input() -> None:
    assert split_text("  \n\n \n ") == []


def test_source_list_groups_citations_of_one_moment_and_shows_times() -> None:
    citations = [
        citation(1),
        citation(2),
        citation(3, start_time=754.2, url=URL + "&t=754s"),
    ]
    [html] = render_answer("Antwoord [1][2][3].", citations)
    text, entities = parse_html(html)
    assert f"[1][2] {TITLE}" in text
    assert f"[3] {TITLE} (rond 12:34)" in text
    links = [e["url"] for e in entities if e["type"] == "text_link"]
    assert links == [URL, URL + "&t=754s"]


def test_without_times_a_source_says_how_far_into_the_episode_it_is() -> None:
    citations = [
        citation(1, position=0.274),
        citation(2, position=0.2711),  # the same moment, rounded
        citation(3, position=0.9),
        citation(4, start_time=754.2, position=0.4, url=URL + "&t=754s"),
        citation(5, position=0.0),  # where the episode begins: not "rond 0%"
        citation(6, position=0.004),
    ]
    [html] = render_answer("Antwoord [1][2][3][4][5][6].", citations)
    text = telegram_accepts(html)
    assert f"[5][6] {TITLE} (aan het begin van de aflevering)" in text
    assert f"[1][2] {TITLE} (rond 27% van de aflevering)" in text
    assert f"[3] {TITLE} (rond 90% van de aflevering)" in text
    assert f"[4] {TITLE} (rond 12:34)" in text  # a known time wins
    [quotes] = render_quotes("Vraag?", citations[:1])
    assert "(rond 27% van de aflevering)" in telegram_accepts(quotes)


def test_answer_without_citations_has_no_source_list() -> None:
    [html] = render_answer("Dat is in de afleveringen niet besproken.", [])
    assert telegram_accepts(html) == "Dat is in de afleveringen niet besproken."


def test_note_is_shown_in_italics() -> None:
    [html] = render_answer("Antwoord [1].", [citation(1)], note="(samenvatting <niet> beschikbaar)")
    text, entities = parse_html(html)
    assert "(samenvatting <niet> beschikbaar)" in text
    assert any(e["type"] == "italic" for e in entities)


def test_links_only_for_http_urls_and_attributes_escaped() -> None:
    assert link("Titel", "javascript:alert(1)") == "Titel"
    html = link('A "quoted" <title>', 'https://example.com/?a=1&b="2"')
    text, entities = parse_html(html)
    assert text == 'A "quoted" <title>'
    assert entities[0]["url"] == 'https://example.com/?a=1&b="2"'


def test_quotes_are_whitespace_folded_and_escaped() -> None:
    parts = render_quotes("Wat is <Groq>?", [citation(1, quote="eh  grok\nmet een <q>  ")])
    text = telegram_accepts(parts[0])
    assert "„Wat is <Groq>?”" in text
    assert "“eh grok met een <q>”" in text


def test_many_long_quotes_split_over_messages() -> None:
    citations = [citation(n, quote="woord " * 400) for n in range(1, 13)]
    parts = render_quotes("vraag", citations)
    assert len(parts) > 1
    for part in parts:
        telegram_accepts(part)


def test_sources_button_callback_data_fits_64_bytes() -> None:
    markup = sources_keyboard(9_223_372_036_854_775_807)  # the largest SQLite row id
    data = markup.inline_keyboard[0][0].callback_data
    assert re.fullmatch(r"src:\d+", data)
    assert len(data.encode()) <= 64


@pytest.mark.parametrize(
    ("sources", "verdict", "rows"),
    [(True, "found", ["src"]), (False, "not_found", ["wbq"]), (True, "unsure", ["src", "wbq"])],
)
def test_answer_keyboard_buttons_and_callback_data(sources, verdict, rows) -> None:
    largest = 9_223_372_036_854_775_807
    markup = answer_keyboard(largest, sources=sources, verdict=verdict)
    *first, feedback = markup.inline_keyboard
    assert [row[0].callback_data.split(":")[0] for row in first] == rows
    assert [b.callback_data for b in feedback] == [f"fb:{largest}:u", f"fb:{largest}:d"]
    for row in markup.inline_keyboard:
        assert all(len(b.callback_data.encode()) <= 64 for b in row)


def test_episode_pages_have_navigation_buttons() -> None:
    episodes = [EpisodeLine(f"Aflevering {i} <&>", URL) for i in range(1, 24)]
    first, markup = render_episodes(episodes, 0)
    assert "1. Aflevering 1 <&>" in telegram_accepts(first)
    assert [b.callback_data for b in markup.inline_keyboard[0]] == ["eps:1"]
    middle, markup = render_episodes(episodes, 1)
    assert "11. Aflevering 11" in telegram_accepts(middle)
    assert [b.callback_data for b in markup.inline_keyboard[0]] == ["eps:0", "eps:2"]
    last, markup = render_episodes(episodes, 99)  # out of range: the last page
    assert "23. Aflevering 23" in telegram_accepts(last)
    assert [b.callback_data for b in markup.inline_keyboard[0]] == ["eps:1"]
    single, markup = render_episodes(episodes[:3], 0)
    assert markup is None
    assert render_episodes([], 0) == (msg.NO_EPISODES, None)


def test_report_lists_files_and_skip_reasons() -> None:
    report = IndexReport(
        added=["nieuw <1>.md"],
        removed=["oud.md"],
        skipped=[Skipped("leeg.md", "empty"), Skipped("groot.vtt", "too_large", "30.0 MB")],
        episodes=3,
        chunks=120,
        seconds=4.25,
        swapped=True,
    )
    [html] = render_report(report)
    text = telegram_accepts(html)
    assert "Toegevoegd: 1 · bijgewerkt: 0 · verwijderd: 1 · overgeslagen: 2" in text
    assert "• nieuw <1>.md" in text
    assert "• leeg.md: leeg bestand" in text
    assert "• groot.vtt: te groot (30.0 MB)" in text
    assert "3 afleveringen, 120 fragmenten" in text
    assert "4.2 s" in text or "4.3 s" in text


def test_report_with_thousands_of_files_splits() -> None:
    report = IndexReport(added=[f"aflevering-{i:05d}.md" for i in range(3000)], swapped=True)
    parts = render_report(report)
    assert len(parts) > 1
    assert sum(telegram_accepts(p).count("• aflevering-") for p in parts) == 3000


def test_up_to_date_report() -> None:
    [html] = render_report(IndexReport(unchanged=["a.md"], episodes=1, chunks=9, seconds=0.2))
    assert "al bijgewerkt" in telegram_accepts(html)


def test_stats_text() -> None:
    snapshot = StatsSnapshot(uptime_s=3725, questions=8, not_found=2, p50_ms=640, p95_ms=1850)
    text = telegram_accepts(render_stats(snapshot, episodes=1, chunks=91))
    assert "Vragen beantwoord: 8" in text
    assert "Niet gevonden: 2 (25%)" in text
    assert "p50: 640 ms · p95: 1.85 s" in text
    assert "1 u 2 min" in text
    empty = telegram_accepts(render_stats(StatsSnapshot(1, 0, 0, None, None), 0, 0))
    assert "n.v.t." in empty
    assert "Feedback" not in empty
    votes = telegram_accepts(render_stats(snapshot, 1, 91, feedback=((3, 1), (0, 0))))
    assert "Feedback: 👍 3 · 👎 1 (75% positief); sinds de start 👍 0 · 👎 0 (nog geen" in votes
    assert "Reranker" not in votes  # none configured
    reranked = telegram_accepts(render_stats(snapshot, 1, 91, reranker=(1234, 2)))
    assert "Reranker: 1.234 verzoeken · mislukt of te traag: 2" in reranked


@pytest.mark.parametrize(
    ("seconds", "expected"), [(None, None), (0, "0:00"), (754.9, "12:34"), (3725, "1:02:05")]
)
def test_format_moment(seconds, expected) -> None:
    assert format_moment(seconds) == expected


def test_every_html_message_template_is_valid_telegram_html() -> None:
    """Templates with placeholders filled in must parse (catches a stray '<' in a text)."""
    filled = {
        "examples": "x",
        "question": "x",
        "topic": "x",
        "example": "x",
        "bot_username": "bot",
        "days": 90,
        "length": 1,
        "limit": 1,
        "n": 1,
        "title": "x",
        "moment": "",
        "time": "1:00",
        "quote": "x",
        "count": 1,
        "page": 1,
        "pages": 2,
        "done": 1,
        "total": 2,
        "percent": 50,
        "minutes": 15,
        "info": "x",
        "current": "x",
        "askers": 1,
        "groups": 1,
        "people": 1,
        "top": "x",
        "verdict": "x",
        "base_url": "x",
        "errors": "x",
        "minimum": 8,
        "episodes": 1,
        "chunks": 1,
        "seconds": 1.0,
        "kind": "x",
        "added": 0,
        "updated": 0,
        "removed": 0,
        "skipped": 0,
        "label": "x",
        "name": "x",
        "reason": "x",
        "words": 1,
        "old_words": 2,
        "backup": ".backup/x.md.20250101T000000Z.bak",
        "episode_id": "x",
        "size": 1.0,
        "uptime": "x",
        "questions": 1,
        "requests": 1,
        "date": "2026-06-12",
        "sent": 1,
        "up": 1,
        "down": 1,
        "share": "50%",
        "up_start": 1,
        "down_start": 1,
        "share_start": "50%",
        "link": "https://example.com/x?a=1&amp;b=2",
        "not_found": 0,
        "not_found_rate": "0%",
        "p50": "x",
        "p95": "x",
        "duration": 121,
        "failures": 0,
        "refused": 0,
        "times": 2,
        "chats": 2,
        "chat_word": "chats",
        "when": "2026-06-12 20:00",
        "shown": 1,
        "comment": "Klopt niet &amp; mist iets",
    }
    checked = 0
    for name, value in vars(msg).items():
        if name.isupper() and isinstance(value, str) and not name.startswith(("TOKEN", "SETTINGS")):
            try:
                parse_html(value.format(**filled))
            except HtmlParseError as exc:  # pragma: no cover - the assertion message
                pytest.fail(f"messages.{name} is not valid Telegram HTML: {exc}")
            checked += 1
    assert checked > 40
