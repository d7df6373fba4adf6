"""What the CLI shows: the stderr console, progress bars, the error boundary and outputs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import cache, wraps
from pathlib import Path
from typing import Any

import click

from osmcams.errors import NetworkError, OsmcamsError
from osmcams.models import one_line, printable


@cache
def stderr() -> Any:
    """The rich console on stderr, made on first use so --help stays fast."""
    from rich.console import Console

    return Console(stderr=True)


def say(text: str) -> None:
    """`text` as one line on stderr, shown as it is: no rich markup, a line break or control
    character in a name or path as `one_line` shows it."""
    stderr().print(one_line(text), highlight=False, soft_wrap=True, markup=False)


# Rows a rich table shows by default: rendering tens of thousands takes minutes.
TABLE_ROWS = 100
# Progress labels that count items (files, communes) rather than bytes.
COUNTED = {"Boundaries", "Diffs", "Official communes", "ohsome"}


def progress_bar(quiet: bool):
    """A rich progress bar on stderr, as a context manager yielding the callback.

    The callback's `status` method shows (or, given None, removes) a line saying
    what the run waits for, such as a network service; see `status_of`.
    """
    from contextlib import nullcontext

    if quiet or not stderr().is_terminal:  # no bars in logs and pipes (nor their import)
        return nullcontext(None)

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    class Amount(ProgressColumn):
        """Bytes for scans and downloads, a count for files."""

        def render(self, task: Any) -> Any:
            if task.fields.get("waiting"):
                return ""
            counted = task.description.strip() in COUNTED
            return (MofNCompleteColumn() if counted else DownloadColumn()).render(task)

    bar = Progress(
        TextColumn("{task.description:<12}"), BarColumn(), Amount(),
        TimeElapsedColumn(), console=stderr(), transient=True,
    )
    tasks: dict[str, Any] = {}

    class Update:
        def __call__(self, label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        def status(self, text: str | None) -> None:
            waiting = tasks.pop(" waiting", None)
            if waiting is not None:
                bar.remove_task(waiting)
            if text:
                tasks[" waiting"] = bar.add_task(text, total=None, waiting=True)

    class _Bar:
        def __enter__(self):
            bar.__enter__()
            return Update()

        def __exit__(self, *exc):
            return bar.__exit__(*exc)

    return _Bar()


def status_of(progress: Any) -> Callable[[str | None], None] | None:
    """The status callback of what progress_bar yielded (None when nothing is shown)."""
    return getattr(progress, "status", None)


def emit(text: str, output: Path | None, overwrite: bool) -> None:
    from osmcams.files import atomic_open

    if output is None:
        click.echo(text, nl=False)
        return
    with atomic_open(output, overwrite) as out:
        out.write(text)


def print_rich(renderable: Any, output: Path | None, overwrite: bool) -> None:
    """A rich table to the terminal or, as plain text 160 columns wide, to `output`."""
    import io

    from rich.console import Console

    if output is None:
        Console().print(renderable)
        return
    text = io.StringIO()
    Console(file=text, width=160).print(renderable)
    emit(text.getvalue(), output, overwrite)


# How a reported figure is qualified, as a prefix: 4,113, ~4,000, ≥3,000.
QUALIFIED = {"exact": "", "about": "~", "at_least": "≥", "at_most": "≤", "at_least_about": "≥~"}



def cell(value: Any) -> str:
    """A value as a table cell: "–" for none, thousands separators, lists joined."""
    if isinstance(value, list):
        return "; ".join(map(str, value)) or "–"
    return "–" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def lower_bound(row: dict[str, Any], value: Any) -> str:
    """`value` as a cell, after ≥ when the row's commune is only partly inside the data
    (a dash alone when there is no value)."""
    return ("≥" if row.get("partial") and value is not None else "") + cell(value)


def floor_note(row: dict[str, Any]) -> str:
    """", a lower bound (coverage 40%)" after a count of a commune only partly inside the
    data, for the line that names a file written for it; "" otherwise."""
    from osmcams.join import share_text

    return f", a lower bound (coverage {share_text(row['coverage'])})" if row.get("partial") else ""


def partial_note(rows: list[dict[str, Any]], what: str = "its count is a lower bound") -> str:
    """The caption's line on the ≥ of partly covered communes, when `rows` have one."""
    return f"\n≥ a commune only partly inside the data: {what}" if any(r.get("partial") for r in rows) else ""


def handle_errors(f: Callable) -> Callable:
    """Turn osmcams errors into one line on stderr and their exit code."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except OsmcamsError as e:
            from rich.markup import escape

            hint = _offline_hint() if isinstance(e, NetworkError) and e.unreachable else ""
            stderr().print(f"[red]osmcams: error:[/] {escape(one_line(e.for_cli() + hint))}",
                           highlight=False, soft_wrap=True)
            sys.exit(e.exit_code)
        except EOFError as e:  # click would call it an interruption (exit 130): a bug, shown as one
            raise RuntimeError(f"EOFError: {e}") from e

    return wrapper


def _offline_hint() -> str:
    """How the command that was run can do without the network, by the options it has."""
    import click

    context = click.get_current_context(silent=True)
    options = {name for p in context.command.params for name in p.opts} if context else set()
    if {"--pbf", "--offline"} <= options:
        return "; count from a file with --pbf, or from cached answers with --offline"
    if "--offline" in options:
        return "; use the cached answers with --offline"
    if "--pbf" in options:  # timeline: a history file, or ohsome
        return "; count from a file with --pbf"
    return ""


SHORT = 10  # a column header up to this wide is never wrapped


class Fitted:
    """A rich table that never cuts a number, a code, a date or an id.

    `columns` are (header, kind): "text" wraps at word boundaries (names, notes); "left"
    and "right" are values, never wrapped nor cut, aligned so. When the width given to the
    table is too narrow, the columns named in `drop` are left out, least useful first,
    and the caption says which. Every text shows as it is, never read as rich markup
    ("[/x]" in a name would end the run).
    """

    def __init__(self, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]],
                 drop: Sequence[str] = (), caption: str | None = None, **table: Any) -> None:
        self.columns, self.drop = list(columns), list(drop)
        self.rows = [[printable(value) for value in row] for row in rows]
        self.caption = None if caption is None else printable(caption)
        self.table: dict[str, Any] = {key: printable(value) if isinstance(value, str) else value
                                      for key, value in table.items()}

    def shown(self, hidden: Sequence[str]) -> list[int]:
        """The columns shown: not `hidden`, nor a column of blanks; without rows, every
        header, under the title and caption."""
        return [i for i, (header, _) in enumerate(self.columns) if header not in hidden
                and (not self.rows or any(i < len(row) and row[i] for row in self.rows))]

    def text_widths(self, i: int) -> tuple[int, int]:
        """The least width of text column `i` (its longest word) and its width unwrapped."""
        from rich.cells import cell_len

        texts = [self.columns[i][0], *(row[i] for row in self.rows if i < len(row))]
        return (max(cell_len(word) for text in texts for word in [*text.split(), ""]),
                max(map(cell_len, texts)))

    def build(self, hidden: Sequence[str] = (), widths: dict[int, int] | None = None) -> Any:
        """The rich table without the columns `hidden`, text column i `widths[i]` wide
        when given, else at least as wide as its longest word."""
        from rich import box
        from rich.cells import cell_len
        from rich.table import Table
        from rich.text import Text

        note = (f"left out for want of width: {', '.join(hidden)} "
                "(widen the terminal, or --format or -o for every column)") if hidden else None
        caption = "\n".join(filter(None, [self.caption, note])) or None
        texts: dict[str, Any] = {key: Text(value, style=f"table.{key}") if isinstance(value, str) else value
                                 for key, value in self.table.items()}
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                      caption=caption and Text(caption, style="table.caption"), **texts)
        shown = self.shown(hidden)
        for i in shown:
            header, kind = self.columns[i]
            if kind == "text":  # at least as wide as its longest word: wrapped between words
                if widths:
                    table.add_column(header, overflow="fold", width=widths[i])
                else:
                    table.add_column(header, overflow="fold", min_width=self.text_widths(i)[0])
                continue
            # A short header whole ("To do"), a long one wrapped at its words.
            heading = [cell_len(header)] if cell_len(header) <= SHORT else map(cell_len, header.split())
            width = max([*(cell_len(row[i]) for row in self.rows if i < len(row)), *heading])
            table.add_column(header, justify="right" if kind == "right" else "left", width=width,
                             overflow="fold")
        for row in self.rows:
            table.add_row(*(Text(row[i]) for i in shown if i < len(row)))
        return table

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        hidden: list[str] = []
        table = self.build()
        unbounded = options.update_width(1_000_000)  # the true minimum, not one clamped to the width
        for header in self.drop:
            if Measurement.get(console, unbounded, table).minimum <= options.max_width:
                break
            hidden.append(header)
            table = self.build(hidden)
        least, most = Measurement.get(console, unbounded, table)
        if least <= options.max_width < most:  # rich's own cut would widen a column back
            table = self.build(hidden, self.shared(hidden, options.max_width - least))
        yield table

    def shared(self, hidden: Sequence[str], spare: int) -> dict[int, int]:
        """Widths of the shown text columns: each its least, and `spare` cells more, given to
        the narrowest of those that would take them, up to their unwrapped width."""
        shown = [i for i in self.shown(hidden) if self.columns[i][1] == "text"]
        bounds = {i: self.text_widths(i) for i in shown}
        widths = {i: least for i, (least, _) in bounds.items()}
        for _ in range(spare):
            wanting = [i for i in shown if widths[i] < bounds[i][1]]
            if not wanting:
                break
            widths[min(wanting, key=widths.__getitem__)] += 1
        return widths
