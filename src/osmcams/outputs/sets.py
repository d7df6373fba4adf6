"""The published set of a refresh, written and replaced all or nothing.

- ``communes.csv`` (with its column types in ``communes.csvt``) and ``communes.json``: the
  density table, as ``count`` writes them;
- ``cameras.geojson``: every camera of the selected communes, with its ``insee``, one
  feature a line, commune after commune in the order of the table;
- ``communes/<insee>-<slug>.geojson``: one per commune, as ``export --output-dir``.

A patch rewrites the files of the communes given, and copies the features of the others,
as bytes, from the cameras.geojson in place: they did not change.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
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
    write_feature_blocks,
    write_feature_lines,
)

COMMUNES_DIR = "communes"
FIXED = {"table": "communes.csv", "types": "communes.csvt", "json": "communes.json",
         "cameras": "cameras.geojson"}
SCAN = 1 << 23  # bytes of cameras.geojson searched for newlines at once


class StaleSet(ValueError):
    """The published cameras.geojson is not the one a patch expects."""


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


def write_set(
    directory: Path,
    meta: dict[str, Any],
    warnings: list[str],
    rows: list[SetRow],
    features: dict[str, list[str]],
    before: list[tuple[str, int]] | None = None,
) -> None:
    """Publish the set of `rows` in `directory`.

    `features` are the feature lines of the communes whose files are written. Without
    `before`, that is every commune, and the commune files no longer in the set go.
    With `before` (each commune of the published cameras.geojson and its number of
    features, in its order), the other communes' features are copied from it; StaleSet
    when it does not hold them.
    """
    from osmcams.files import publish

    names = dict(FIXED)
    names.update({r.insee: commune_path(r.insee, r.name) for r in rows if r.insee in features})
    stale: list[str] = []
    folder = directory / COMMUNES_DIR
    if before is None and folder.is_dir():
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
        with open(paths["cameras"], "wb") as out:
            if before is None:
                write_feature_blocks((",\n".join(features[r.insee]).encode() for r in rows), out)
            else:
                old = (directory / FIXED["cameras"]).read_bytes()
                write_feature_blocks(_patched(old, rows, features, before), out)


def _patched(
    old: bytes, rows: list[SetRow], features: dict[str, list[str]], before: list[tuple[str, int]],
) -> Iterator[bytes | memoryview]:
    """The features of `rows`, a block per commune: those of `features`, else as `old`
    (the published cameras.geojson) has them.

    The communes not in `features` are in the same order in `old` as in `rows` (their
    ranks did not change relative to one another): their lines are found in one pass.
    """
    import numpy

    if not old.startswith(FEATURES_START.encode() + b"\n"):
        raise StaleSet("cameras.geojson does not start as osmcams writes it")
    # Line k of `old` ends at ends[k] (after its newline); line 0 is the first line, features
    # start at line 1 and end with ",\n" (the last with "\n"), and the line "]}" closes.
    text = numpy.frombuffer(old, numpy.uint8)
    ends = numpy.concatenate([numpy.flatnonzero(text[at:at + SCAN] == ord("\n")) + at + 1
                              for at in range(0, len(text), SCAN)])
    view = memoryview(old)
    line = 1
    blocks = iter(before)
    for row in rows:
        if row.insee in features:
            yield ",\n".join(features[row.insee]).encode()
            continue
        for code, count in blocks:
            first, line = line, line + count
            if code == row.insee:
                break
        else:
            raise StaleSet(f"cameras.geojson lacks the cameras of {row.insee}")
        if not count:
            continue
        if line >= len(ends):
            raise StaleSet("cameras.geojson ends before its kept communes do")
        start, end = int(ends[first - 1]), int(ends[line - 1]) - 1  # without the last newline
        if old[end - 1] == ord(","):  # the file's last feature has none
            end -= 1
        mark = f'"insee": {json.dumps(row.insee, ensure_ascii=False)}'.encode()
        if old.count(mark, start, end) != count or old[end - 1] != ord("}"):
            raise StaleSet(f"cameras.geojson does not hold the cameras of {row.insee} as kept")
        yield view[start:end]
    line += sum(count for _, count in blocks)
    if line != len(ends) - 1 or old[ends[line - 1]:] != FEATURES_END.lstrip("\n").encode():
        raise StaleSet("cameras.geojson does not end where its kept communes do")
