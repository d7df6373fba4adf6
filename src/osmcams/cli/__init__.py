"""osmcams: measure video surveillance mapped in OpenStreetMap, per commune.

Exit codes: 0 success, 1 internal error, 2 usage error, 3 commune not found or
ambiguous, 4 bad or incomplete input data, 5 network or service failure,
6 another run holds the lock, 7 the data cannot be
brought up to date (replication diffs gone).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

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
from osmcams.errors import ExitCode


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="osmcams")
def cli() -> None:
    """Measure video surveillance mapped in OpenStreetMap, per commune.

    \b
    Exit codes: 0 OK, 1 internal error, 2 usage error, 3 commune not found or
    ambiguous, 4 bad or incomplete input data, 5 network failure, 6 locked,
    7 stale (replication diffs gone).
    """


for command in (count, export, download, compare, match, quality, timeline, refresh, history,
                changes, site):
    cli.add_command(command)
cli.add_command(map_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (for tests and embedding)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="osmcams",
                 standalone_mode=False)
    except click.ClickException as e:
        e.show()
        return ExitCode.USAGE
    except click.exceptions.Abort:  # Ctrl-C: the shell's own code for an interrupt
        stderr().print("osmcams: interrupted")
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    return ExitCode.OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
