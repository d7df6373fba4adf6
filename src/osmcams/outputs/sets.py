"""The published set of a refresh, written and replaced all or nothing.

- ``communes.csv`` (with its column types in ``communes.csvt``) and ``communes.json``: the
  density table, as ``count`` writes them;
- ``cameras.geojson``: every camera of the selected communes, with its ``insee``, one
  feature a line, commune after commune in the order of the table;
- ``communes/<insee>-<slug>.geojson``: one per commune, as ``export --output-dir``.

A patch rewrites the files of the communes given and keeps the others' in place;
cameras.geojson is written whole, from feature lines given in order.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmcams.join import ROW_KEYS
from osmcams.outputs.writers import (
    commune_file,
    csvt_line,
    json_document,
    rows_csv,
    write_feature_bytes,
    write_feature_lines,
)

COMMUNES_DIR = "communes"
FIXED = {"table": "communes.csv", "types": "communes.csvt", "json": "communes.json",
         "cameras": "cameras.geojson"}

# A file's size and modification time (ns): what tells whether it is still the one written.
Identity = tuple[int, int]


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
    cameras: Iterable[bytes],
    whole: bool = True,
    gone: Sequence[str] = (),
) -> dict[str, Identity]:
    """Publish the set of `rows` in `directory`; the identity of each file written.

    `features` are the feature lines of the communes whose files are written: with
    `whole`, every commune, and the commune files no longer in the set go; else the
    other communes' files stay as they are, but for the files `gone` (their communes
    left the set). `cameras` are the lines of cameras.geojson, in UTF-8: the features of
    every commune of `rows`, in their order.
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
        with open(paths["cameras"], "wb") as out:
            write_feature_bytes(cameras, out)
    return identities(directory, names.values())
