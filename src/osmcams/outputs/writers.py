"""Output: density tables (CSV, JSON, Markdown) and cameras (GeoJSON, GPKG, CSV).

Every file is written atomically (see files.py), so a crash never leaves half a
file behind.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import IO, Any, Union, get_args, get_origin, get_type_hints

from osmcams.errors import OutputError, UsageError
from osmcams.files import atomic_open, atomic_path
from osmcams.join import MIN_COVERAGE, ROW_KEYS, DensityRow, Report, population_text
from osmcams.models import Camera, printable
from osmcams.outputs.formats import CAMERAS, FORMATS, NEWLINE_DELIMITED, VIEWS, Format
from osmcams.outputs.fov import View, view_feature

RS = "\x1e"
# The type of each column osmcams writes, in GDAL's names, whatever the values of a run:
# a code stays text, a count an integer, a column of nulls keeps its type. Other columns
# (OSM tags) are text; by_type:* and by_scope:* are counts. A density row's columns take
# the types join.DensityRow declares.
GDAL_TYPES = {bool: "Integer(Boolean)", int: "Integer", float: "Real", str: "String"}


def _gdal_type(hint: Any) -> str:
    """The GDAL type of a declared Python type: `int | None` is Integer, a dict is text."""
    if get_origin(hint) in (Union, UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    return GDAL_TYPES.get(hint, "String")


COLUMN_TYPES = {
    **{key: _gdal_type(hint) for key, hint in get_type_hints(DensityRow).items()},
    "lon": "Real", "lat": "Real", "@id": "String", "@direction": "Real", "@timestamp": "DateTime",
    "commune": "String", "date": "DateTime", "added": "Integer", "removed": "Integer",
    "reported_cameras": "Integer", "completeness": "Real",  # compare's
}
COUNTS = ("by_type:", "by_scope:")
PANDAS_TYPES = {"Integer": "Int64", "Real": "float64", "Integer(Boolean)": "boolean"}


def column_type(key: str) -> str:
    """The GDAL type of column `key`: Integer, Integer(Boolean), Real, DateTime or String."""
    return COLUMN_TYPES.get(key) or ("Integer" if key.startswith(COUNTS) else "String")


def csvt_line(keys: Iterable[str]) -> str:
    """The one line of a `.csvt`: the column types of a CSV, which GDAL and QGIS read, so
    that 06032 stays a text code and not the number 6032."""
    return ",".join(f'"{column_type(k)}"' for k in keys) + "\n"


def typed(frame: Any, datetimes: bool = True) -> Any:
    """`frame` with each column cast to its type (`column_type`): nullable integers, floats,
    UTC timestamps (unless not `datetimes`: a Shapefile or KML keeps them as text)."""
    import pandas

    for key in frame.columns:
        kind = column_type(key) if key != frame.geometry.name else None
        if kind in PANDAS_TYPES:
            frame[key] = frame[key].astype(object).where(frame[key].notna(), None).astype(PANDAS_TYPES[kind])
        elif kind == "DateTime" and datetimes:
            frame[key] = pandas.to_datetime(frame[key], utc=True, errors="coerce")
    return frame


# What makes a spreadsheet read a cell as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    if isinstance(value, str):
        return _inert(value)
    return "" if value is None else value


def _inert(text: str) -> str:
    """`text` with a leading ' when a spreadsheet would run it as a formula (a commune
    named "=HYPERLINK(…)", a tag value "-2+3+cmd|…"); a number such as "-45" as it is."""
    if not text.startswith(FORMULA_STARTS):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


def rows_csv(rows: list[dict[str, Any]], keys: tuple[str, ...], out: IO[str]) -> None:
    """Rows as CSV with a header, nested values as JSON, no value a formula."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in keys])


def _markdown_cell(value: Any) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "–"
    elif isinstance(value, list):
        value = "; ".join(map(str, value)) or "–"
    if value is None:
        return "–"
    return _markdown_line(str(value))


# What Markdown would read as markup in a line of text: a "|" ends a table's cell, "*", "_"
# and "~" emphasise, "`" opens code (where backslashes are not escapes), "[" and "]" make a
# link; a backslash before punctuation escapes it (C:\* would lose its backslash).
MARKDOWN_MARKUP = re.compile(r"[|*_~`\[\]]|\\(?=[!-/:-@\[-`{-~])")


def _markdown_line(text: str) -> str:
    """`text` as one line of Markdown that shows as itself, whatever it holds: a line break
    would end the row or the quote, markup (MARKDOWN_MARKUP) is escaped with a backslash,
    "<" would open HTML, which Markdown renderers pass through, and a control character
    (ESC) drive the terminal that shows the file."""
    line = " ".join(printable(text.replace("\t", " ")).splitlines())
    return html.escape(MARKDOWN_MARKUP.sub(r"\\\g<0>", line), quote=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The counts that are lower bounds in a row of a commune only partly inside the data.
LOWER_BOUNDS = ("cameras", "mapped_then")


def markdown_table(rows: list[dict[str, Any]], keys: tuple[str, ...], out: IO[str],
                   bounds: tuple[str, ...] = LOWER_BOUNDS) -> None:
    """Rows as a GitHub-flavoured Markdown table, numbers aligned right, text left, none as
    "–"; the `bounds` of a row only partly inside the data (`partial`) as "≥3"."""
    numbers = {k for k in keys if any(_is_number(r.get(k)) for r in rows)}
    out.write("| " + " | ".join(keys) + " |\n")
    out.write("|" + "|".join("---:" if k in numbers else "---" for k in keys) + "|\n")
    for row in rows:
        floor = "≥" if row.get("partial") else ""
        out.write("| " + " | ".join(
            (floor if k in bounds and row.get(k) is not None else "") + _markdown_cell(row.get(k))
            for k in keys) + " |\n")


# The headings of a report's further tables, by name (else the name, capitalised).
TITLES = {"over_time": "Every reported figure beside the cameras mapped at its date",
          "odd_values": "Values the OSM wiki does not document",
          "unreadable_directions": "Directions osmcams cannot read"}


def report_markdown(report: Report, out: IO[str], keys: tuple[str, ...] = ROW_KEYS,
                    bounds: tuple[str, ...] = LOWER_BOUNDS, floor: str | None = None,
                    notes: tuple[str, ...] = ()) -> None:
    """The table in Markdown, with any further tables, then the sources and warnings.

    The `bounds` of a commune only partly inside the data are shown as lower bounds, "≥3",
    and a line under the table says what that means (`floor`, else count's densities);
    `notes` are further lines under it."""
    partial = [r for r in report.rows if r.get("partial")]
    markdown_table(report.rows, keys, out, bounds)
    if partial:
        floor = floor or ("the count is a lower bound; densities are null under "
                          f"{report.meta.get('min_coverage', MIN_COVERAGE):.0%} coverage")
        out.write(f"\n≥: only partly inside the data ({len(partial):,} of {len(report.rows):,} communes): "
                  f"{floor}.\n")
    for note in notes:
        out.write(f"\n{_markdown_line(note)}\n")
    for name, rows in report.extra.items():
        if rows:
            out.write(f"\n**{TITLES.get(name, name.replace('_', ' ').capitalize())}**\n\n")
            markdown_table(rows, tuple(rows[0]), out, bounds)
    meta = report.meta
    markdown_sources(
        f"Source: {meta['source']}, data of {meta['data_timestamp'] or 'unknown date'}. "
        f"Boundaries: {meta['boundaries']}. Population: "
        f"{population_text(meta['population_source'], meta['population_year'])}. "
        f"osmcams {meta['osmcams_version']}.", report.warnings, out)


def markdown_sources(line: str, warnings: list[str], out: IO[str]) -> None:
    """Under Markdown tables: where their numbers come from, in one `line`, then each warning
    as a quote."""
    out.write("\n" + _markdown_line(line) + "\n")
    for warning in warnings:
        out.write(f"\n> **Warning:** {_markdown_line(warning)}\n")


def _dump(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, allow_nan=False)


_ROW = json.JSONEncoder(ensure_ascii=False).encode  # one encoder for every row


def report_json(report: Report, out: IO[str]) -> None:
    """The report as one JSON object, with one line per commune."""
    extra = {name: [_ROW(r) for r in rows] for name, rows in report.extra.items()}
    json_document(report.meta, [_ROW(r) for r in report.rows], report.warnings, out, extra)


def json_document(
    meta: dict[str, Any], rows: list[str], warnings: list[str], out: IO[str],
    extra: dict[str, list[str]] | None = None,
) -> None:
    """`report_json` from rows encoded already (`row_lines`)."""
    out.write('{"meta": ' + _dump(meta, 2).replace("\n", "\n ") + ",\n")
    out.write(' "communes": [' + ",".join("\n  " + r for r in rows) + "\n ],\n")
    for name, lines in (extra or {}).items():
        out.write(f' "{name}": [' + ",".join("\n  " + r for r in lines) + "\n ],\n")
    out.write(' "warnings": ' + _dump(warnings, 2).replace("\n", "\n ") + "}\n")


def row_lines(row: dict[str, Any], keys: tuple[str, ...] = ROW_KEYS) -> tuple[str, str]:
    """A density row as its line in the JSON document and its line of CSV."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_cell(row.get(k)) for k in keys])
    return _ROW(row), buffer.getvalue()


def write_report(report: Report, fmt: str, out: IO[str], keys: tuple[str, ...] = ROW_KEYS) -> None:
    """The report as csv, json or markdown; `keys` are the columns of CSV and Markdown."""
    if fmt == "csv":
        rows_csv(report.rows, keys, out)
    elif fmt == "json":
        report_json(report, out)
    elif fmt == "markdown":
        report_markdown(report, out, keys)
    else:
        raise UsageError(f"unknown table format {fmt!r}")


def _round(value: float) -> float:
    return round(value, 7)


def camera_feature(camera: Camera, insee: str | None = None, commune: str | None = None) -> dict[str, Any]:
    """An RFC 7946 point feature with flat properties (Camera.flat_properties)."""
    return {
        "type": "Feature",
        "id": camera.key,
        "geometry": {"type": "Point", "coordinates": [_round(camera.lon), _round(camera.lat)]},
        "properties": camera.flat_properties(insee, commune),
    }


def boundary_feature(code: str, name: str, geometry: Any) -> dict[str, Any]:
    """The commune outline as a feature, rings wound as RFC 7946 asks."""
    return {
        "type": "Feature",
        "id": f"commune/{code}",
        "geometry": outline_shape(geometry),
        "properties": {"kind": "boundary", "insee": code, "name": name},
    }


def outline_shape(geometry: Any) -> dict[str, Any]:
    """A commune outline as GeoJSON geometry, at 7 decimals, rings wound as RFC 7946 asks."""
    import shapely

    return shapely.geometry.mapping(shapely.orient_polygons(shapely.set_precision(geometry, 1e-7)))


def outline_shapes(report: Report) -> dict[str, Any]:
    """`outline_shape` of each outline of `report`: for the writers of one report's files
    (`shapes` of `commune_features`)."""
    return {code: outline_shape(geometry) for code, geometry in report.boundaries.items()}


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A density row with nested counts spread into keys: by_type {"camera": 3} -> by_type:camera."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}:{k}": v for k, v in value.items()})
        elif value is None and f"{key}:" in COUNTS:  # no count (outside the data): no column
            continue
        else:
            flat[key] = value
    return flat


def commune_features(report: Report, rows: list[dict[str, Any]] | None = None,
                     outlines: bool = True, shapes: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each commune of the report (or of `rows`) as a polygon with its row as flat properties
    (without `outlines`, a feature without geometry); `shapes` are the outlines' geometry
    when worked out already (`outline_shapes`)."""
    features = []
    for row in report.rows if rows is None else rows:
        code = row["insee"]
        if code not in report.boundaries:
            continue
        geometry = None
        if outlines:
            geometry = shapes[code] if shapes is not None else outline_shape(report.boundaries[code])
        features.append({"type": "Feature", "id": f"commune/{code}", "geometry": geometry,
                         "properties": flat_row(row)})
    return _with_every_count(features)


def _with_every_count(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every feature with the same keys, in the same order: a by_* count a commune lacks
    is 0 (None when the commune has no count at all), any other missing key None."""
    keys: dict[str, None] = {}
    for feature in features:
        keys.update(dict.fromkeys(feature["properties"]))
    for feature in features:
        props = feature["properties"]
        zero = 0 if props.get("cameras") is not None else None
        feature["properties"] = {k: props.get(k, zero if k.startswith(COUNTS) else None) for k in keys}
    return features


def write_geojson(
    features: list[dict[str, Any]], out: IO[str], sequence: str | None = None,
    about: dict[str, Any] | None = None,
) -> None:
    """A FeatureCollection, or a text sequence of one feature a line, each after `sequence`
    (RS for RFC 8142, "" newline-delimited); `about` ({"meta": …, "warnings": …}) goes into
    the collection as foreign members (RFC 7946 §6.1)."""
    if sequence is not None:
        for feature in features:
            out.write(sequence + feature_line(feature) + "\n")
        return
    write_feature_lines(map(feature_line, features), out, about)


def feature_line(feature: dict[str, Any]) -> str:
    """A feature as the one line it takes in the GeoJSON osmcams writes."""
    return json.dumps(feature, ensure_ascii=False, allow_nan=False)


FEATURES_START = '{"type": "FeatureCollection", "features": ['
FEATURES_END = "\n]}\n"


def write_feature_lines(lines: Iterable[str], out: IO[str], about: dict[str, Any] | None = None) -> None:
    """A FeatureCollection of features given as their lines (`feature_line`), one a line;
    the members of `about` come before the features."""
    body = ",\n".join(lines)
    start = FEATURES_START
    if about:
        members = "".join(f"{_dump(k)}: {_dump(v)}, " for k, v in about.items())
        start = start.replace('"features"', members + '"features"', 1)
    out.write(start + ("\n" + body if body else "") + FEATURES_END)


def provenance(report: Report) -> dict[str, Any]:
    """Where the numbers of a report come from, and what to be wary of: what a file of it
    carries beside its rows."""
    return {"meta": report.meta, "warnings": report.warnings}


def gdal_metadata(about: dict[str, Any]) -> dict[str, str]:
    """`about` as GDAL metadata items (a GeoPackage's gpkg_metadata): the meta's keys, and
    the warnings, each a string (JSON for what is not one)."""
    items = {**about["meta"], "warnings": about["warnings"]}
    return {k: v if isinstance(v, str) else _dump(v) for k, v in items.items()}


def meta_sidecar(target: str | os.PathLike[str]) -> Path:
    """The file beside a CSV that says where its numbers come from: NAME.meta.json."""
    return Path(target).with_suffix(".meta.json")


def write_csv_report(report: Report, target: str | os.PathLike[str], overwrite: bool = False,
                     keys: tuple[str, ...] = ROW_KEYS) -> None:
    """The rows as CSV at `target` (columns `keys`), with their column types and where they
    come from beside it (`write_csv_set`)."""
    write_csv_set(target, overwrite, keys, lambda out: rows_csv(report.rows, keys, out), provenance(report))


def write_csv_set(target: str | os.PathLike[str], overwrite: bool, keys: tuple[str, ...],
                  write_rows: Callable[[IO[str]], None], about: dict[str, Any] | None) -> None:
    """A CSV at `target` (`write_rows` writes it, columns `keys`), its column types as
    NAME.csvt and, with `about`, where its numbers come from as NAME.meta.json beside it,
    published together (all or none; none replaced without `overwrite`). Into a device or a
    pipe (/dev/stdout), where nothing can stand beside it, the CSV alone."""
    from osmcams.files import check_target, streamed_target

    target = check_target(target, overwrite)  # a folder that is not there is not made
    if streamed_target(target):
        with atomic_path(target, overwrite) as path, open(path, "w", encoding="utf-8", newline="") as out:
            write_rows(out)
        return
    types = target.with_suffix(".csvt").name
    with _published(target, overwrite, [types], about, "csv") as paths:
        with open(paths[target.name], "w", encoding="utf-8", newline="") as out:
            write_rows(out)
        with open(paths[types], "w", encoding="utf-8") as out:
            out.write(csvt_line(keys))


@contextmanager
def _published(target: Path, overwrite: bool, beside: list[str], about: dict[str, Any] | None,
               fmt: str) -> Iterator[dict[str, Path]]:
    """Where to write `target` and the files named `beside` it, by name; with `about`, its
    NAME.meta.json (`{"meta", "warnings", fmt: NAME}`) is written too. All are published
    together (all or none; none replaced without `overwrite`)."""
    from osmcams.files import publish

    meta = meta_sidecar(target).name
    names = [target.name, *beside, *([meta] if about is not None else [])]
    if about is not None:
        _refuse_shared_sidecar(target)
    try:
        with publish(target.parent, {name: name for name in names}, overwrite) as paths:
            yield paths
            if about is not None:
                with open(paths[meta], "w", encoding="utf-8") as out:
                    out.write(_dump({**about, fmt: target.name}, 1) + "\n")
    except OutputError as e:  # name the file asked for, not the directory of the set
        text = str(e).replace(f"cannot write {target.parent}:", f"cannot write {target}:", 1)
        raise OutputError(text) from e


def check_targets(target: str | os.PathLike[str], fmt: str, overwrite: bool) -> None:
    """Before any work: `target` and its `companions`, none of which may exist unless
    `overwrite`, nor be the NAME.meta.json of another file (`_sidecar_owner`)."""
    from osmcams.files import check_target

    beside = companions(target, fmt)
    if meta_sidecar(target) in beside:
        _refuse_shared_sidecar(Path(target))
    for path in (target, *beside):
        check_target(path, overwrite)


def _sidecar_owner(target: Path) -> Path | None:
    """The other file whose sources NAME.meta.json beside `target` holds (`x.csv` for
    `x.kml`), when that file is there; None otherwise."""
    sidecar = meta_sidecar(target)
    try:
        about = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    except (OSError, ValueError):
        return None
    names = [about.get(fmt) for fmt in META_BESIDE] if isinstance(about, dict) else []
    owners = [target.with_name(n) for n in names
              if isinstance(n, str) and n not in ("", target.name) and Path(n).name == n]
    return next((owner for owner in owners if owner.exists()), None)


def _refuse_shared_sidecar(target: Path) -> None:
    """UsageError when writing `target` would replace the NAME.meta.json of another file."""
    owner = _sidecar_owner(target)
    if owner is not None:
        raise UsageError(f"{meta_sidecar(target)} holds the sources of {owner}, which {target.name} "
                         f"would take over: give {target.name} another name, or remove {owner.name}")


def companions(target: str | os.PathLike[str], fmt: str) -> list[Path]:
    """The files written beside `target` in `fmt`, none of which is replaced without
    --overwrite: a CSV's column types, a Shapefile's parts, and NAME.meta.json beside a
    file that cannot say where its data come from (`META_BESIDE`; none into a device).
    UsageError for a Shapefile that is not a .shp file: its parts are named after it."""
    from osmcams.files import streamed_target

    target = Path(target)
    if fmt == "shp" and (target.suffix.lower() != ".shp" or streamed_target(target)):
        raise UsageError(f"{target}: a Shapefile is several files named after its .shp: give -o a name "
                         "ending in .shp (or write a GeoPackage)")
    if streamed_target(target):
        return []
    parts = {"csv": (".csvt",), "shp": SHAPEFILE_PARTS}.get(fmt, ())
    meta = [meta_sidecar(target)] if fmt in META_BESIDE else []
    return [target.with_suffix(s) for s in parts] + meta


# The files GDAL writes beside a .shp.
SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")
# The formats with no place for where their data come from (a text sequence has no
# collection, a Shapefile no metadata, GDAL's KML no document description): it goes into
# NAME.meta.json beside them. GeoJSON, GeoPackage, GeoParquet and FlatGeobuf hold it.
META_BESIDE = ("csv", "shp", "kml", "geojsonseq")


def _columns(records: list[dict[str, Any]]) -> list[str]:
    """Every key of `records`, in first-seen order; keys equal but for case are kept once
    (a GeoPackage's, a Shapefile's and Parquet's column names are not told apart by case):
    their values are `_folded` into that column."""
    seen: dict[str, str] = {}
    for record in records:
        for key in record:
            seen.setdefault(key.lower(), key)
    return list(seen.values())


def _folded(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with its keys lower-cased, the values of keys equal but for case as one: counts
    added up (by_type:Camera to by_type:camera), texts joined by ";" as OSM joins values
    (an operator=Ville and an Operator=Police on one camera), so that none is lost."""
    found: dict[str, Any] = {}
    for key, value in record.items():
        low = key.lower()
        mine = found.get(low)
        if mine is None or value is None or mine == value:
            found[low] = value if mine is None else mine
        elif type(mine) is type(value) is int:
            found[low] = mine + value
        else:
            found[low] = f"{mine};{value}"
    return found


def _folded_columns(records: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns of `records` (`_columns`) and the records `_folded`, for frames."""
    return _columns(records), [_folded(record) for record in records]


def _camera_frame(given: _Cameras, datetimes: bool = True):
    import geopandas
    import numpy
    import shapely

    cameras = given.cameras
    geometry = shapely.points(numpy.array([(c.lon, c.lat) for c in cameras], dtype=float).reshape(-1, 2))
    columns = given.columns(frame=True)
    if not columns:  # no camera: the columns every camera has, typed (text, not a float)
        import pandas

        kinds = {"String": "string", "Real": "float64", "DateTime": "datetime64[us, UTC]"}
        columns = {key: pandas.Series([], dtype=kinds[column_type(key)]) for key in given.every_camera()}
    return typed(geopandas.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326"), datetimes)


def write_cameras(
    cameras: list[Camera],
    target: str | os.PathLike[str],
    fmt: str,
    boundaries: list[dict[str, Any]] | None = None,
    overwrite: bool = False,
    views: list[View] | None = None,
    communes: list[tuple[str, str]] | None = None,
    about: dict[str, Any] | None = None,
) -> None:
    """Cameras to `target` in `fmt`, with flat properties; `communes` gives each camera's
    (insee, name) in the same order, `boundaries` (code, name, geometry) add the outlines,
    `views` the fields of view (GeoJSON and GeoPackage only), `about` where they come
    from (`provenance`: in a GeoJSON FeatureCollection and a GeoPackage)."""
    spec = FORMATS.get(fmt)
    # uMap maps need the report: outputs.umap
    if spec is None or CAMERAS not in spec.carries or spec.writer not in CAMERA_WRITERS:
        raise UsageError(f"unknown camera format {fmt!r}")
    if views is not None and VIEWS not in spec.carries:
        raise UsageError(f"fields of view go with GeoJSON or GeoPackage, not {fmt}")
    places: list[tuple[str | None, str | None]] = (
        list(communes) if communes is not None else [(None, None)] * len(cameras)
    )
    if len(places) != len(cameras):
        raise ValueError("one commune per camera")
    given = _Cameras(cameras, places, boundaries, views, about, placed=communes is not None)
    CAMERA_WRITERS[spec.writer](spec, given, target, overwrite)


@dataclass(frozen=True)
class _Cameras:
    """What write_cameras is given to write: the cameras, each one's (insee, name), the
    outlines, the fields of view and where they come from."""

    cameras: list[Camera]
    places: list[tuple[str | None, str | None]]
    boundaries: list[dict[str, Any]] | None
    views: list[View] | None
    about: dict[str, Any] | None
    placed: bool = False  # with their communes (insee, commune)

    def every_camera(self) -> list[str]:
        """The flat properties every camera has (`Camera.flat_properties`)."""
        return ["@id", "name", "description", *(["insee", "commune"] if self.placed else []),
                "@direction", "@timestamp"]

    def view_places(self) -> list[tuple[str | None, str | None]]:
        """The (insee, name) of each view's camera, as its camera has them."""
        places = {camera.key: place for camera, place in zip(self.cameras, self.places)}
        return [places.get(view.camera.key, (None, None)) for view in self.views or []]

    def columns(self, frame: bool = False) -> dict[str, Any]:
        """The records column by column, as a frame made from them has them (`_columns`:
        keys in first-seen order, keys equal but for case once; a missing key is None).

        All but the camera's own `@id`, `@timestamp` and place depend on its tags only: they
        are worked out once per set of tags (a country's cameras repeat a few thousand). For
        a `frame`, these columns are pandas arrays, each value typed once per set of tags
        (pandas, given a whole column, types each of its cells: most of a frame's making)."""
        import numpy

        sets: dict[tuple[Any, ...], int] = {}
        records: list[dict[str, Any]] = []  # the first record of each set
        index = numpy.empty(len(self.cameras), dtype=numpy.intp)
        for i, (camera, place) in enumerate(zip(self.cameras, self.places)):
            key = (place[0] is None, *camera.tag_set())
            found = sets.get(key)
            if found is None:
                found = sets[key] = len(records)
                records.append(camera.flat_properties(*place))
            index[i] = found
        own = {"@id": [c.key for c in self.cameras], "@timestamp": [c.timestamp for c in self.cameras],
               "insee": [p[0] for p in self.places],
               "commune": [None if p[0] is None else p[1] for p in self.places]}
        columns: dict[str, Any] = {}
        names, folded = _folded_columns(records)
        for name in names:
            values = numpy.empty(len(self.cameras) if name in own else len(records), dtype=object)
            values[:] = own[name] if name in own else [r.get(name.lower()) for r in folded]
            if name in own:
                columns[name] = values
            elif frame:  # typed as the whole column would be: it holds the same values
                import pandas

                columns[name] = pandas.Series(values).array.take(index)
            else:
                columns[name] = values[index]
        return columns


def _write_gpkg(spec: Format, given: _Cameras, target: str | os.PathLike[str], overwrite: bool) -> None:
    """A GeoPackage: the cameras, the outlines and the fields of view, one layer each."""
    import geopandas

    with atomic_path(target, overwrite, spec.suffix) as temp:
        temp.unlink()
        layers = [("cameras", _camera_frame(given))]
        if given.boundaries:
            layers.append(("boundary", geopandas.GeoDataFrame(
                [{"insee": b["code"], "name": b["name"]} for b in given.boundaries],
                geometry=[b["geometry"] for b in given.boundaries], crs="EPSG:4326",
            )))
        if given.views:  # the cameras' columns, typed and folded as theirs
            names, folded = _folded_columns([v.properties(*place) for v, place
                                             in zip(given.views, given.view_places())])
            layers.append(("fields_of_view", typed(geopandas.GeoDataFrame(
                [{key: row.get(key.lower()) for key in names} for row in folded], columns=names,
                geometry=[v.polygon for v in given.views], crs="EPSG:4326",
            ))))
        metadata = {"dataset_metadata": gdal_metadata(given.about)} if given.about else {}
        for i, (layer, frame) in enumerate(layers):  # the cameras through Arrow: GDAL's own loop
            gdal_write(frame, temp, target, layer=layer, driver=spec.driver, use_arrow=not i,
                       **({**metadata, "geometry_type": "Point"} if not i else {}))


def _write_gdal(spec: Format, given: _Cameras, target: str | os.PathLike[str], overwrite: bool) -> None:
    """One layer of points through the format's GDAL driver; a FlatGeobuf holds where the
    cameras come from in its header (GDAL's layer metadata), the others beside them."""
    frame = _camera_frame(given, spec.name == "fgb")
    if spec.name == "kml" and "description" in frame:  # KML viewers read it as HTML
        frame["description"] = [None if text is None else html.escape(text)
                                for text in frame["description"]]
    named: dict[str, Any] = {} if spec.name == "shp" else {"layer": "cameras"}  # a Shapefile's: its name
    if spec.name == "fgb" and given.about:
        named["layer_metadata"] = gdal_metadata(given.about)
    with _camera_file(spec, given, target, overwrite) as path:
        # GDAL takes a path without its driver's extension for a folder to write into.
        own = path if path.suffix.lower() == spec.suffix else path.with_name(path.name + spec.suffix)
        gdal_write(frame, own, target, driver=spec.driver, geometry_type="Point", **named)
        if own != path:
            os.replace(own, path)


@contextmanager
def _camera_file(
    spec: Format, given: _Cameras, target: str | os.PathLike[str], overwrite: bool
) -> Iterator[Path]:
    """Where to write the camera file `target` (no file there yet), published with its
    `companions`: a Shapefile's parts and, for a format in META_BESIDE, NAME.meta.json
    (`given.about`). Into a device or a pipe, the file alone."""
    from osmcams.files import check_target, streamed_target

    target = check_target(target, overwrite)
    if streamed_target(target):
        with atomic_path(target, overwrite) as temp:
            temp.unlink()
            yield temp
        return
    beside = [p.name for p in companions(target, spec.name) if p != meta_sidecar(target)]
    about = given.about if spec.name in META_BESIDE else None
    with _published(target, overwrite, beside, about, spec.name) as paths:
        yield paths[target.name]


def _write_parquet(spec: Format, given: _Cameras, target: str | os.PathLike[str], overwrite: bool) -> None:
    """GeoParquet, for DuckDB, Sedona and pandas; the outline is left out. Where the cameras
    come from is JSON under the key `osmcams` of the file's key-value metadata, beside `geo`."""
    import pyarrow.parquet

    with atomic_path(target, overwrite) as temp:
        _camera_frame(given).to_parquet(temp)
        if given.about:
            table = pyarrow.parquet.read_table(temp)
            metadata = {**table.schema.metadata, b"osmcams": _dump(given.about).encode()}
            pyarrow.parquet.write_table(table.replace_schema_metadata(metadata), temp)


def _write_csv(spec: Format, given: _Cameras, target: str | os.PathLike[str], overwrite: bool) -> None:
    """A CSV of lon, lat and the flat properties, with its column types and where the
    cameras come from beside it (`write_csv_set`)."""
    columns = {"lon": [c.lon for c in given.cameras], "lat": [c.lat for c in given.cameras],
               **given.columns()}  # folded as every other format's, once per set of tags
    keys = tuple(columns) if given.cameras else ("lon", "lat", *given.every_camera())
    rows = [dict(zip(keys, values)) for values in zip(*columns.values())]
    write_csv_set(target, overwrite, keys, lambda out: rows_csv(rows, keys, out), given.about)


def _write_geojson(spec: Format, given: _Cameras, target: str | os.PathLike[str], overwrite: bool) -> None:
    """A FeatureCollection, or a text sequence of features: outlines, cameras, fields of view;
    where they come from in the collection, beside a sequence (`_camera_file`)."""
    sequence = None
    if spec.sequence_of is not None:
        sequence = "" if Path(target).suffix.lower() == NEWLINE_DELIMITED else RS
    with _camera_file(spec, given, target, overwrite) as path, \
            open(path, "w", encoding="utf-8", newline="") as out:
        features = [boundary_feature(**b) for b in given.boundaries or []]
        features += [camera_feature(c, *place) for c, place in zip(given.cameras, given.places)]
        features += [view_feature(v, *place) for v, place in zip(given.views or [], given.view_places())]
        write_geojson(features, out, sequence, given.about)


# Format.writer -> the function that writes cameras in it.
CAMERA_WRITERS: dict[str, Callable[[Format, _Cameras, str | os.PathLike[str], bool], None]] = {
    "geojson": _write_geojson, "gpkg": _write_gpkg, "parquet": _write_parquet, "csv": _write_csv,
    "gdal": _write_gdal,
}


def write_communes(report: Report, target: str | os.PathLike[str], fmt: str, overwrite: bool = False,
                   shapes: dict[str, Any] | None = None) -> None:
    """The communes as polygons with their rows as flat properties: a density layer for
    uMap or QGIS, as GeoJSON or as the `communes` layer of a GeoPackage (`shapes`: see
    `commune_features`)."""
    features = commune_features(report, shapes=shapes)
    if fmt == "geojson":
        with atomic_open(target, overwrite) as out:
            write_geojson(features, out, about=provenance(report))
        return
    if fmt != "gpkg":
        raise UsageError(f"communes are written as GeoJSON or GeoPackage, not {fmt}")
    import geopandas
    from shapely.geometry import shape

    # No commune (all left out of a ranking): the layer keeps its columns (but the counts by
    # type and scope, a column each) and a geometry type.
    names, folded = _folded_columns([f["properties"] for f in features])
    columns = names if features else [key for key in ROW_KEYS if not f"{key}:".startswith(COUNTS)]
    frame = typed(geopandas.GeoDataFrame(
        [{key: row.get(key.lower()) for key in columns} for row in folded], columns=columns,
        geometry=[shape(f["geometry"]) for f in features], crs="EPSG:4326",
    ))
    with atomic_path(target, overwrite, ".gpkg") as temp:
        temp.unlink()
        gdal_write(frame, temp, target, layer="communes", driver="GPKG",
                   dataset_metadata=gdal_metadata(provenance(report)),
                   **({} if features else {"geometry_type": "MultiPolygon"}))


def gdal_write(frame: Any, temp: Path, target: Path | str | os.PathLike[str], **options: Any) -> None:
    """`frame.to_file(temp, **options)`; a GDAL failure (a full disk) is one OutputError line."""
    import warnings

    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        with warnings.catch_warnings():  # a Shapefile's shortened field names: said in the README
            warnings.simplefilter("ignore")
            frame.to_file(temp, **options)
    except (DataLayerError, DataSourceError) as e:
        raise OutputError(f"cannot write {target}: {str(e).splitlines()[0][:120]}…") from e


def slug(name: str) -> str:
    """A file-name-safe ASCII slug: "Saint-Étienne" -> "saint-etienne"."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "commune"


def commune_file(code: str, name: str, fmt: str) -> str:
    """`<code>-<slug>.<ext>`: a plain file name, whatever the code and the name hold."""
    return f"{slug(code)}-{slug(name)}{FORMATS[fmt].suffix}"


def render_text(write: Any) -> str:
    """What `write(out)` writes, as a string."""
    buffer = io.StringIO()
    write(buffer)
    return buffer.getvalue()
