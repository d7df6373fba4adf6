"""The child processes of a split first pass (sources/pbf.py).

``feed PATH OFFSET LENGTH …`` copies byte ranges of a file to stdout: a PBF stream.
``scan PATH ADMIN_LEVEL THREADS OFFSET LENGTH …`` reads those ranges (header block first)
with libosmium and prints the pickled Scan; a file it cannot read is one line on stderr
and exit 4.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from osmcams.errors import DataError, ExitCode

PIECE = 1 << 20


def feed(path: str, ranges: list[tuple[int, int]]) -> int:
    """Copy the byte ranges of `path` to stdout, in order."""
    out = sys.stdout.buffer
    try:
        with open(path, "rb", buffering=0) as f:
            for offset, length in ranges:
                f.seek(offset)
                while length > 0:
                    piece = f.read(min(length, PIECE))
                    if not piece:
                        return 0  # the file shrank: the reader reports a cut block
                    out.write(piece)
                    length -= len(piece)
        out.flush()
    except BrokenPipeError:
        pass  # the reader stopped first, on an error it reports itself
    return 0


def scan(path: str, admin_level: int | None, threads: int, ranges: list[tuple[int, int]]) -> int:
    """Print the pickled first-pass Scan of the byte ranges of `path`."""
    import osmium

    from osmcams.sources.pbf import _scan_part

    pool = osmium.io.ThreadPool(max(1, threads), 0)
    try:
        found = _scan_part(Path(path), ranges, admin_level, pool, None)
    except DataError as e:
        print(e, file=sys.stderr)
        return ExitCode.DATA
    sys.stdout.buffer.write(pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


def _ranges(numbers: list[str]) -> list[tuple[int, int]]:
    values = [int(n) for n in numbers]
    return list(zip(values[::2], values[1::2]))


def main(argv: list[str]) -> int:
    """Run `feed` or `scan` as named by the first argument."""
    if argv[0] == "feed":
        return feed(argv[1], _ranges(argv[2:]))
    level = None if argv[2] == "None" else int(argv[2])
    return scan(argv[1], level, int(argv[3]), _ranges(argv[4:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
