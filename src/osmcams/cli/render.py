"""What the CLI shows: the stderr console, progress bars, the error boundary and outputs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache, wraps
from pathlib import Path
from typing import Any

import click

from osmcams.errors import OsmcamsError


@cache
def stderr() -> Any:
    """The rich console on stderr, made on first use so --help stays fast."""
    from rich.console import Console

    return Console(stderr=True)


# Rows a rich table shows by default: rendering tens of thousands takes minutes.
TABLE_ROWS = 100
# Progress labels that count items (files, communes) rather than bytes.
COUNTED = {"Boundaries", "Diffs", "ohsome"}


def progress_bar(quiet: bool):
    """A rich progress bar on stderr, as a context manager yielding the callback.

    The callback's `status` method shows (or, given None, removes) a line saying
    what the run waits for, such as a network service; see `status_of`.
    """
    from contextlib import nullcontext

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    if quiet or not stderr().is_terminal:  # no bars in logs and pipes
        return nullcontext(None)

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


def cameras_text(n: int) -> str:
    """ "1 camera", "2 cameras"."""
    return "1 camera" if n == 1 else f"{n:,} cameras"


def cell(value: Any) -> str:
    """A value as a table cell: "–" for none, thousands separators, lists joined."""
    if isinstance(value, list):
        return "; ".join(map(str, value)) or "–"
    return "–" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def handle_errors(f: Callable) -> Callable:
    """Turn osmcams errors into one line on stderr and their exit code."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except OsmcamsError as e:
            from rich.markup import escape

            stderr().print(f"[red]osmcams: error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            sys.exit(e.exit_code)

    return wrapper


