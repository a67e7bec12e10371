"""`aireport`: index, ask, chat, eval, bench and the webinar export from the terminal.

A thin layer over `rag.service.AnswerService`, the same entry point the bot uses.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TextIO

from rag import messages_nl as nl
from rag.answer import Answer
from rag.index import IndexBusyError, IndexReport
from rag.inputs import InputFileError, Question, read_questions
from rag.service import AnswerService, Turn
from rag.settings import Settings
from rag.transcripts import where_note

COMMANDS_GROUP = "aireport.commands"

log = logging.getLogger("aireport")


def format_answer(answer: Answer) -> str:
    """Plain-text answer with numbered sources, for the terminal."""
    lines = [answer.text]
    if answer.note:
        lines += ["", answer.note]
    return "\n".join(lines + format_sources(answer))


def format_sources(answer: Answer) -> list[str]:
    """The `Bronnen:` block (preceded by a blank line), or nothing without citations."""
    if not answer.citations:
        return []
    lines = ["", "Bronnen:"]
    for c in answer.citations:
        lines.append(f"[{c.n}] {c.title}{where_note(c.start_time, c.position)}")
        if c.url:
            lines.append(f"    {c.url}")
        lines.append(f"    “{' '.join(c.quote.split())}”")
    return lines


class StreamPrinter:
    """Prints a streamed answer as it grows; `on_delta` callback for `AnswerService.ask`.

    A draft that does not extend what was printed (the LLM failed halfway and the
    service fell back) is not printed: `finish` then prints the whole final answer.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.printed = ""
        self.diverged = False

    def __call__(self, text: str) -> None:
        if self.diverged or not text.startswith(self.printed):
            self.diverged = True
            return
        self.out.write(text[len(self.printed) :])
        self.out.flush()
        self.printed = text

    def finish(self, answer: Answer) -> None:
        """Complete the output: sources after a whole stream, else the full answer."""
        if not self.printed:
            text = format_answer(answer)
        elif not self.diverged and answer.text == self.printed and not answer.note:
            sources = format_sources(answer)  # starts with its blank line
            text = "\n" + "\n".join(sources) if sources else ""
        else:  # the stream broke off or was rejected: say so, then the final answer
            head = [answer.note] if answer.note else []
            text = "\n".join(["", "", *head, answer.text, *format_sources(answer)])
        self.out.write(text + "\n")
        self.out.flush()


def ask_and_print(service: AnswerService, question: str, history: list[Turn] | None = None):
    """Ask, streaming the answer to stdout when an LLM writes it; return the `Answer`."""
    if not service.settings.llm_enabled:
        answer = service.ask(question, history)
        print(format_answer(answer), flush=True)
        return answer
    printer = StreamPrinter()
    answer = service.ask(question, history, on_delta=printer)
    printer.finish(answer)
    return answer


def format_report(report: IndexReport) -> str:
    if not report.changed and not report.swapped:
        head = f"Index is up to date: {report.episodes} episodes, {report.chunks} chunks."
    else:
        head = (
            f"Index {'rebuilt' if report.full_rebuild else 'updated'}: "
            f"{len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} removed, {len(report.skipped)} skipped; "
            f"{report.episodes} episodes, {report.chunks} chunks in {report.seconds:.1f} s."
        )
    lines = [head]
    for name, files in (
        ("added", report.added),
        ("updated", report.updated),
        ("removed", report.removed),
    ):
        lines += [f"  {name}: {f}" for f in files]
    lines += [
        f"  skipped: {s.source_file}: {nl.skip_reason(s.code, s.detail)}" for s in report.skipped
    ]
    return "\n".join(lines)


def progress_bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A tqdm bar on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return (lambda done, total: None), (lambda: None)
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="passages", file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def open_service(settings: Settings) -> AnswerService:
    """A service with its index loaded, building the index first when there is none."""
    service = AnswerService(settings)
    if not service.load():
        print("No index yet: indexing the transcripts first…", file=sys.stderr)
        update, close = progress_bar("Indexing")
        try:
            report = service.reindex(update)
        finally:
            close()
        print(format_report(report), file=sys.stderr)
    return service


def cmd_index(settings: Settings, args: argparse.Namespace) -> int:
    service = AnswerService(settings)
    update, close = progress_bar("Indexing")
    try:
        report = service.reindex(update)
    finally:
        close()
    print(format_report(report))
    return 0


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    if args.questions_file:
        questions = read_questions(Path(args.questions_file))
    elif args.question:
        questions = [Question(" ".join(args.question))]
    else:
        print("aireport ask: give a question, or --questions-file FILE", file=sys.stderr)
        return 2
    service = open_service(settings)
    for i, question in enumerate(questions):
        if args.json:
            answer = service.ask(question.text)
            ident = {} if question.id is None else {"id": question.id}
            print(json.dumps({**ident, **answer.to_json()}, ensure_ascii=False), flush=True)
            continue
        if i:
            print(flush=True)
        ask_and_print(service, question.text)
    return 0


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    service = open_service(settings)
    index = service.index
    episodes = len(index.episodes) if index else 0
    print(f"De AI Report vraagbaak — {episodes} aflevering(en). Stel je vraag; Ctrl-D stopt.")
    history: list[Turn] = []
    while True:
        try:
            question = input("\nvraag> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question.strip():
            continue
        answer = ask_and_print(service, question, history)
        # Small talk and hints ("bedankt!", "meer" first) are not kept, as in the bot.
        if answer.retrieved or answer.citations:
            history = [*history, Turn(question, answer.text)][-4:]


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from rag.evaluation import EvalSuite

    suite = EvalSuite(
        settings,
        [Path(f) for f in args.files],
        cache_dir=Path(args.cache_dir),
        verbose=args.verbose,
    )
    service = open_service(settings)
    suite.run(
        service,
        baseline=args.baseline,
        distractors=args.distractors,
        first_unit_words=args.first_unit_words,
    )
    if args.folds:
        suite.cross_validate(args.folds)
    if args.budgets:
        suite.run_budgets(service, args.budgets, args.folds)
    print(json.dumps(suite.as_json(), indent=2) if args.json else suite.report())
    return 0


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from rag.bench import run_bench

    print(run_bench(settings, args))
    return 0


def add_registered_commands(sub: argparse._SubParsersAction) -> None:
    """Subcommands other packages register under the `aireport.commands` entry points
    (the bot's `webinar`): each names a function that adds its parser to `sub`. `rag`
    itself knows nothing of them."""
    for entry in entry_points(group=COMMANDS_GROUP):
        entry.load()(sub)


def word_count(text: str) -> int:
    """`--first-unit-words 20`: a positive number of words."""
    try:
        words = int(text)
    except ValueError:
        words = 0
    if words < 1:
        raise argparse.ArgumentTypeError(f"not a number of words: {text!r}")
    return words


def word_budgets(text: str) -> list[int]:
    """`--budgets 500,1000,1500`: positive word counts (`word_count` each), in the order
    given."""
    try:
        sizes = [word_count(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError:
        sizes = []
    if not sizes:
        raise argparse.ArgumentTypeError(f"not a list of word counts: {text!r}")
    return list(dict.fromkeys(sizes))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aireport", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--transcripts-dir", type=Path, help="default: $TRANSCRIPTS_DIR or data/transcripts"
    )
    parser.add_argument("--index-dir", type=Path, help="default: $INDEX_DIR or data/index")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("index", help="index new, changed and removed transcripts").set_defaults(
        func=cmd_index
    )

    ask = sub.add_parser("ask", help="answer one question (or a file of questions)")
    ask.add_argument("question", nargs="*")
    ask.add_argument(
        "--json", action="store_true", help="machine-readable output (JSON / JSON Lines)"
    )
    ask.add_argument(
        "--questions-file",
        help='one question per line, or JSON Lines with a "question" (and "id") per line;'
        " prints one result per question",
    )
    ask.set_defaults(func=cmd_ask)

    sub.add_parser("chat", help="ask questions interactively (Ctrl-D exits)").set_defaults(
        func=cmd_chat
    )

    ev = sub.add_parser("eval", help="measure retrieval and answers on JSONL question sets")
    ev.add_argument("files", nargs="+", metavar="FILE")
    ev.add_argument("--json", action="store_true")
    ev.add_argument(
        "--baseline", action="store_true", help="also run LangChain's tutorial pipeline"
    )
    ev.add_argument(
        "--distractors",
        type=int,
        default=0,
        metavar="N",
        help="also measure with N synthetic episodes added to a copy of the corpus",
    )
    ev.add_argument(
        "--folds",
        type=int,
        default=0,
        metavar="K",
        help="cross-validate the found/unsure cut-offs on the first file with K folds",
    )
    ev.add_argument(
        "--budgets",
        type=word_budgets,
        default=[],
        metavar="N,N,…",
        help="also measure recall with each of these words of context (e.g. 500,1000,1500,3000)",
    )
    ev.add_argument(
        "--first-unit-words",
        type=word_count,
        default=0,
        metavar="N",
        help="also measure with the units cut N words into each episode (a second index)",
    )
    ev.add_argument(
        "--cache-dir", default="data/eval-cache", help="distractor corpus, vectors, other index"
    )
    ev.set_defaults(func=cmd_eval)

    bench = sub.add_parser("bench", help="speed and memory benchmarks")
    bench.add_argument("--scale-episodes", type=int, default=200)
    bench.add_argument("--scale-words", type=int, default=2000)
    bench.add_argument(
        "--skip-scale", action="store_true", help="only the benchmarks on the sample"
    )
    bench.add_argument("--repeat", type=int, default=3)
    bench.add_argument(
        "--archive-episodes",
        type=int,
        default=150,
        help="episodes of the replicated archive (serving only, nothing embedded); 0: skip",
    )
    bench.add_argument("--archive-words", type=int, default=20000)
    bench.set_defaults(func=cmd_bench)

    add_registered_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = {}
    if args.transcripts_dir:
        overrides["transcripts_dir"] = args.transcripts_dir
    if args.index_dir:
        overrides["index_dir"] = args.index_dir
    settings = Settings(**overrides)
    try:
        return args.func(settings, args)
    except IndexBusyError:
        print("Another index build is running; try again when it is done.", file=sys.stderr)
        return 1
    except InputFileError as exc:
        print(f"aireport {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
