"""Errors raised by osmcams, each carrying the exit code the CLI returns."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    COMMUNE = 3
    DATA = 4
    NETWORK = 5
    LOCKED = 6
    STALE = 7


class OsmcamsError(Exception):
    """Base class: a failure the user can act on, reported as one line."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def for_cli(self) -> str:
        """The line the command line prints: the message, unless it names Python's words."""
        return str(self)


class UsageError(OsmcamsError, ValueError):
    """Options that contradict each other or make no sense."""

    exit_code = ExitCode.USAGE


class TargetExists(UsageError):
    """An output file that is there already, to be replaced only when told: the message
    names the Python API's `overwrite=True`, the command line's its --overwrite."""

    def __init__(self, target: object) -> None:
        super().__init__(f"{target} exists; pass overwrite=True to replace it")
        self.target = target

    def for_cli(self) -> str:
        return f"{self.target} exists; add --overwrite to replace it"


class OutputError(OsmcamsError, OSError):
    """An output that cannot be written: a read-only place, a full disk, a name taken twice."""

    exit_code = ExitCode.USAGE


class CommuneNotFound(OsmcamsError, LookupError):
    """No commune matches the name or code; suggestions are in the message."""

    exit_code = ExitCode.COMMUNE


class AmbiguousCommune(OsmcamsError, LookupError):
    """Several communes share the name; the candidates are in the message."""

    exit_code = ExitCode.COMMUNE


class DataError(OsmcamsError, ValueError):
    """Input data that is corrupt, truncated, empty or incomplete."""

    exit_code = ExitCode.DATA


class NetworkError(OsmcamsError, ConnectionError):
    """A service failed after retries, timed out, or answered garbage."""

    exit_code = ExitCode.NETWORK
    status: int | None = None  # the HTTP status, when the server answered with an error
    unreachable = False  # no connection at all: the command may say how to do without
    detail: bytes = b""  # the start of the body of that error answer
    too_large = False  # the answer was longer than max_answer_mb allows


class LockedError(OsmcamsError, RuntimeError):
    """Another run holds the lock."""

    exit_code = ExitCode.LOCKED


class StaleError(OsmcamsError, RuntimeError):
    """The data cannot be brought up to date from where it is; the message says what to do."""

    exit_code = ExitCode.STALE


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that says, after "osmcams: interrupted", what it was doing and what it left
    (exit 130, as any Ctrl-C)."""

    def __init__(self, doing: str, left: str) -> None:
        super().__init__(f"{doing}: {left}")
        self.left = left


def quoted(text: str) -> str:
    """`text` quoted for a one-line message: newlines and bidi controls escaped, as repr does."""
    return repr(text)
