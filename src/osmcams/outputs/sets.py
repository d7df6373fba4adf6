"""The published set of a refresh, written and replaced all or nothing.

- ``communes.csv`` (with its column types in ``communes.csvt``) and ``communes.json``: the
  density table, as ``count`` writes them;
- ``cameras.geojson``: every camera of the selected communes, with its ``insee``, one
  feature a line, commune after commune in the order of the table;
- ``communes/<insee>-<slug>.geojson``: one per commune, as ``export --output-dir``.

A patch rewrites the files of the communes given and keeps the others' in place;
cameras.geojson is written from feature lines given in order, or, when where each
commune's lines lie in the file in place is known (its `Ranges`), from the lines of the
communes given and the others' bytes copied from that file (kernel-side, with
``os.copy_file_range`` where there is one): the same bytes, without 90 MB through Python.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmcams.join import ROW_KEYS
from osmcams.outputs.writers import (
    FEATURES_END,
    FEATURES_START,
    commune_file,
    csvt_line,
    json_document,
    rows_csv,
    write_feature_lines,
)

COMMUNES_DIR = "communes"
FIXED = {"table": "communes.csv", "types": "communes.csvt", "json": "communes.json",
         "cameras": "cameras.geojson"}

# A file's size and modification time (ns): what tells whether it is still the one written.
Identity = tuple[int, int]
# Where each commune's feature lines lie in cameras.geojson (offset, length; no separators).
Ranges = dict[str, tuple[int, int]]
# The (commune, feature line in UTF-8) of the communes given (None: every one), commune after
# commune in the order of the rows (`Kept.features`).
Lines = Callable[[Collection[str] | None], Iterable[tuple[str, bytes]]]
START, SEPARATOR, END = FEATURES_START.encode(), b",\n", FEATURES_END.encode()


@dataclass
class SetRow:
    """A row of the set: its commune, and its lines in communes.json and communes.csv."""

    insee: str
    name: str
    json: str
    csv: str


def commune_path(insee: str, name: str) -> str:
    """Where a commune's file goes, relative to the output directory."""
    return f"{COMMUNES_DIR}/{commune_file(insee, name, 'geojson')}"


def identities(directory: Path, names: Iterable[str]) -> dict[str, Identity]:
    """The identity of each file `names` (relative to `directory`) that is there."""
    found = {}
    folder = str(directory)
    for name in names:  # a set has thousands: paths as strings, not Path objects
        try:
            stat = os.stat(os.path.join(folder, name))
        except OSError:
            continue
        found[name] = (stat.st_size, stat.st_mtime_ns)
    return found


def write_set(
    directory: Path,
    meta: dict[str, Any],
    warnings: list[str],
    rows: list[SetRow],
    features: dict[str, list[str]],
    cameras: Lines,
    whole: bool = True,
    gone: Sequence[str] = (),
    ranges: Ranges | None = None,
) -> tuple[dict[str, Identity], Ranges]:
    """Publish the set of `rows` in `directory`; the identity of each file written, and the
    ranges of the cameras.geojson published.

    `features` are the feature lines of the communes whose files are written: with
    `whole`, every commune, and the commune files no longer in the set go; else the
    other communes' files stay as they are, but for the files `gone` (their communes
    left the set). `cameras` gives the lines of cameras.geojson. `ranges`, when given, are
    those of the cameras.geojson in place, whose lines are still those of every commune but
    those of `features`: these are copied from it, and those of `features` written as given
    (the same lines, not read again).
    """
    from osmcams.files import publish

    names = dict(FIXED)
    names.update({r.insee: commune_path(r.insee, r.name) for r in rows if r.insee in features})
    stale: list[str] = [name for name in gone if (directory / name).exists()]
    folder = directory / COMMUNES_DIR
    if whole and folder.is_dir():
        kept = set(names.values())
        stale = [f"{COMMUNES_DIR}/{p.name}" for p in folder.glob("*.geojson")
                 if f"{COMMUNES_DIR}/{p.name}" not in kept]
    with publish(directory, names, overwrite=True, remove=stale) as paths:
        header = io.StringIO()
        rows_csv([], ROW_KEYS, header)
        with open(paths["table"], "w", encoding="utf-8", newline="") as out:
            out.write(header.getvalue() + "".join(r.csv for r in rows))
        with open(paths["types"], "w", encoding="utf-8") as out:
            out.write(csvt_line(ROW_KEYS))
        with open(paths["json"], "w", encoding="utf-8") as out:
            json_document(meta, [r.json for r in rows], warnings, out)
        for row in rows:
            if row.insee in features:
                with open(paths[row.insee], "w", encoding="utf-8") as out:
                    write_feature_lines(features[row.insee], out)
        order = [r.insee for r in rows]
        if ranges is None or whole:
            written = _write_cameras(paths["cameras"], order, cameras(None))
        else:
            written = _splice_cameras(paths["cameras"], order, cameras, directory / FIXED["cameras"],
                                      ranges, features)
    return identities(directory, names.values()), written


def _write_cameras(path: Path, order: list[str], lines: Iterable[tuple[str, bytes]]) -> Ranges:
    """cameras.geojson at `path` from the lines of every commune of `order`; its ranges."""
    ranges: Ranges = dict.fromkeys(order, (0, 0))
    with open(path, "wb") as out:
        out.write(START)
        position, separator = len(START), b"\n"
        for code, group in itertools.groupby(lines, key=lambda line: line[0]):
            body = SEPARATOR.join(line for _, line in group)
            out.write(separator + body)
            position += len(separator)
            ranges[code] = (position, len(body))
            position += len(body)
            separator = SEPARATOR
        out.write(END)
    return ranges


def _splice_cameras(path: Path, order: list[str], cameras: Lines, old: Path, ranges: Ranges,
                    changed: dict[str, list[str]]) -> Ranges:
    """cameras.geojson at `path`: the lines of the communes of `order` that are `changed` (as
    given: their files' lines are theirs in it) or not in `ranges` (from `cameras`), the
    others' bytes copied from `old`; its ranges."""
    fresh = {code for code in order if code in changed or code not in ranges}
    bodies = {code: [line.encode() for line in changed[code]] for code in fresh & changed.keys()}
    unread = fresh - changed.keys()
    for code, line in cameras(unread) if unread else ():
        bodies.setdefault(code, []).append(line)
    written: Ranges = {}
    with open(old, "rb") as source, open(path, "wb") as out:
        out.write(START)
        position, separator = len(START), b"\n"
        for code in order:
            if code in fresh:
                body = SEPARATOR.join(bodies.get(code, ()))
                size = len(body)
            else:
                body, size = b"", ranges[code][1]
            if not size:
                written[code] = (0, 0)
                continue
            out.write(separator)
            position += len(separator)
            if body:
                out.write(body)
            else:
                out.flush()
                copy_range(source.fileno(), out.fileno(), ranges[code][0], size)
                out.seek(0, os.SEEK_END)
            written[code] = (position, size)
            position += size
            separator = SEPARATOR
        out.write(END)
    return written


def copy_range(source: int, target: int, offset: int, size: int) -> None:
    """`size` bytes of file `source` from `offset` appended where file `target` stands:
    in the kernel where it can (copy_file_range), else through a buffer."""
    while size:
        try:
            done = os.copy_file_range(source, target, size, offset)
        except (AttributeError, OSError):  # not on this system, or not across these files
            done = 0
        if not done:
            chunk = os.pread(source, min(size, 1 << 20), offset)
            if not chunk:
                raise OSError(f"copy_range: the file ends before byte {offset + size}")
            done = os.write(target, chunk)
        offset += done
        size -= done
