"""osmcams: measure video surveillance mapped in OpenStreetMap, per commune.

Exit codes: 0 success, 1 internal error, 2 usage error, 3 commune not found or
ambiguous, 4 bad or incomplete input data, 5 network or service failure,
6 another run holds the lock, 7 the data cannot be
brought up to date (replication diffs gone), 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import click

from osmcams import __version__
from osmcams.cli.count import count, export
from osmcams.cli.download import download
from osmcams.cli.evidence import compare, match, quality
from osmcams.cli.maps import map_command
from osmcams.cli.refresh import changes, history, refresh
from osmcams.cli.render import stderr
from osmcams.cli.site import site
from osmcams.cli.timeline import timeline
from osmcams.errors import ExitCode, Interrupted


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="osmcams")
@click.option("-v", "--verbose", count=True,
              help="Diagnostics on stderr: -v what osmcams decides, -vv every request and pass.")
def cli(verbose: int) -> None:
    """Measure video surveillance mapped in OpenStreetMap, per commune.

    \b
    Exit codes: 0 OK, 1 internal error, 2 usage error, 3 commune not found or
    ambiguous, 4 bad or incomplete input data, 5 network failure, 6 locked,
    7 stale (replication diffs gone), 130 interrupted, 143 terminated.
    """
    if verbose:
        import logging

        from osmcams.settings import public_text

        class PublicFormatter(logging.Formatter):
            """Log lines whose URLs have no user name or password (pyosmium logs a replication
            URL whole); formatted inside the handler, whose errors logging reports itself."""

            def format(self, record: logging.LogRecord) -> str:
                return public_text(super().format(record))

        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, stream=sys.stderr,
                            force=True)
        for handler in logging.getLogger().handlers:
            handler.setFormatter(PublicFormatter("%(asctime)s %(name)s: %(message)s"))


for command in (count, export, download, compare, match, quality, timeline, refresh, history,
                changes, site):
    cli.add_command(command)
cli.add_command(map_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (for tests and embedding)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="osmcams",
                 standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as e:  # no command: the help, as click gives it
        click.echo(e.ctx.get_help())
        return ExitCode.USAGE
    except click.ClickException as e:  # one line, as every error of osmcams, with where to look
        from rich.markup import escape

        from osmcams.models import one_line

        where = (f" (see {e.ctx.command_path} --help)" if isinstance(e, click.UsageError) and e.ctx
                 else "")
        stderr().print(f"[red]osmcams: error:[/] {escape(one_line(e.format_message()) + where)}",
                       highlight=False, soft_wrap=True)
        return ExitCode.USAGE
    except click.exceptions.Abort as e:  # Ctrl-C or SIGTERM: the shell's own codes for them
        said = f" {e.__cause__}" if isinstance(e.__cause__, Interrupted) else ""
        word, code = STOPS[_ending.signal or signal.SIGINT]
        with _SAYING:  # once: the end at once of a run stuck after the signal says it otherwise
            stderr().print(f"osmcams: {word}{said}", highlight=False, soft_wrap=True, markup=False)
            _ending.said = True
        return code
    except SystemExit as e:
        return int(e.code or 0)
    return ExitCode.OK


INTERRUPT_GRACE = 1.5  # seconds a run has to end after Ctrl-C before it is ended at once
# The signals that stop a run, as Ctrl-C does: the word of its line and its exit code.
STOPS: dict[int, tuple[str, int]] = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}


@dataclass
class _Ending:
    """How the run ends: the signal that stops it (None until one comes), and whether its
    line is said."""

    signal: int | None = None
    said: bool = False
    deferred: bool = False  # it came during an import: sent again until raised


_ending = _Ending()
_SAYING = threading.Lock()  # held while the line of an interruption is said


def _on_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C, or SIGTERM (cron, systemd, kill): KeyboardInterrupt in the main thread, and
    an end within INTERRUPT_GRACE seconds however the other threads are stuck. Its clean-up
    is not cut short: a second signal does nothing, and the end at once waits for the
    blocks that must be done whole (files.uninterrupted: a set being published, temporary
    files being removed, a transaction rolled back). What a kill cuts short is safe all the
    same: outputs are atomic, SQLite rolls back its journal, the next run removes what this
    one left."""
    if _ending.signal is None:
        _ending.signal = signum
        timer = threading.Timer(INTERRUPT_GRACE, _end_now)
        timer.daemon = True  # it must not hold the process itself
        timer.start()
    elif not _ending.deferred:
        return
    _ending.deferred = _deferred(frame)
    if _ending.deferred:  # sent again in a moment, to be raised once the import or fork is done
        again = threading.Timer(0.01, signal.pthread_kill, (threading.main_thread().ident, signum))
        again.daemon = True
        again.start()
        return
    raise KeyboardInterrupt


def _deferred(frame: Any) -> bool:
    """Whether `frame` runs in an import or in a fork (`forks.fork`): a KeyboardInterrupt
    raised in the initialisation of a C extension breaks it (numpy's import fails, orjson's
    crashes the process); one raised in the handlers a fork runs (logging's) is lost, and
    Python prints its traceback."""
    fork = getattr(sys.modules.get("osmcams.forks"), "fork", None)  # None too while it is imported
    forking = fork.__code__ if fork else None
    while frame is not None:
        if frame.f_code is forking or frame.f_code.co_filename.startswith("<frozen importlib."):
            return True
        frame = frame.f_back
    return False


def _end_now() -> None:
    """End the run now, from the timer's thread, once no block that must be done whole
    runs (files.WHOLE, when files is loaded: else none can run); its line said once. No
    import, no lock but these two: the other threads may hold them. Only the main thread
    may restore a signal's default action, so this one exits with the shell's code for it."""
    word, code = STOPS[_ending.signal or signal.SIGINT]
    files = sys.modules.get("osmcams.files")
    with files.WHOLE if files else nullcontext(), _SAYING:
        if not _ending.said:
            os.write(2, f"osmcams: {word}\n".encode())
        os._exit(code)


def run() -> None:
    """Console-script entry point."""
    for signum in STOPS:
        signal.signal(signum, _on_interrupt)
    # One thread for numpy's OpenBLAS (unless the user sets it): osmcams does no linear
    # algebra, and the pool of one thread per core that OpenBLAS starts when numpy loads
    # spins, taking CPU from the work, and makes the later forks (the site's page and
    # downloads processes) forks of a multi-threaded process.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = main()
    if code in (130, 143):  # stopped: the threads that were loading or sampling need not be waited for
        _end_by_signal(_ending.signal or signal.SIGINT, code)
    sys.exit(code)


def _end_by_signal(signum: int, code: int) -> None:
    """End the process now by `signum` itself, whatever its other threads are doing, as
    systemd asks of a program that cleans up on a signal: systemd then takes a run it stops
    for stopped, not failed, and a shell script stops at a Ctrl-C rather than go on with its
    next command (exit status 130 or 143 to the shell either way)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(code)  # not reached but where the signal is blocked
