"""`aireport webinar export|list|rounds`: the bot's subcommand of the `aireport` CLI.

Registered under the `aireport.commands` entry point (pyproject.toml), so `rag.cli` adds
it without importing the bot. This module is light (argparse only): the bot's webinar
code is imported when the command runs, not on every `aireport` call.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.settings import Settings


def cmd_webinar(settings: Settings, args: argparse.Namespace) -> int:
    from bot.webinar import cli_main

    return cli_main(settings, args)


def add_webinar_parser(sub: argparse._SubParsersAction) -> None:
    """`aireport webinar export|list|rounds` (reads the bot's state file; no token needed)."""
    webinar = sub.add_parser("webinar", help="the webinar questions subscribers sent the bot")
    actions = webinar.add_subparsers(dest="webinar_command", required=True)
    export = actions.add_parser("export", help="the grouped questions as Markdown or CSV")
    export.add_argument("--format", choices=["md", "csv"], default="md")
    listing = actions.add_parser("list", help="a short table of the groups")
    rounds = actions.add_parser("rounds", help="the closed rounds and their number of questions")
    for parser in (export, listing):
        parser.add_argument(
            "--round",
            metavar="YYYY-MM-DD",
            help="the questions archived when this round was closed, instead of the open ones",
        )
    for parser in (export, listing, rounds):
        parser.add_argument(
            "--state-dir", type=Path, help="the bot's STATE_DIR (default: $STATE_DIR or data/state)"
        )
    webinar.set_defaults(func=cmd_webinar)
