"""Output: density tables (CSV, JSON, Markdown) and cameras (GeoJSON, GPKG, CSV).

Every file is written atomically (see files.py), so a crash never leaves half a
file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from osmcams.errors import OutputError, UsageError
from osmcams.files import atomic_open, atomic_path
from osmcams.join import MIN_COVERAGE, ROW_KEYS, Report
from osmcams.models import Camera
from osmcams.outputs.formats import CAMERA_FORMATS, GDAL_DRIVERS, SUFFIX
from osmcams.outputs.fov import View, view_feature

RS = "\x1e"


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    return "" if value is None else value


def rows_csv(rows: list[dict[str, Any]], keys: tuple[str, ...], out: IO[str]) -> None:
    """Rows as CSV with a header, nested values as JSON."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in keys])


def _markdown_cell(value: Any) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "–"
    elif isinstance(value, list):
        value = "; ".join(map(str, value)) or "–"
    return "–" if value is None else str(value).replace("|", "\\|")


def markdown_table(rows: list[dict[str, Any]], keys: tuple[str, ...], out: IO[str]) -> None:
    """Rows as a Markdown table, numbers aligned right."""
    out.write("| " + " | ".join(keys) + " |\n")
    out.write("|" + "|".join("---:" if k not in ("insee", "name") else "---" for k in keys) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(_markdown_cell(row.get(k)) for k in keys) + " |\n")


def report_markdown(report: Report, out: IO[str], keys: tuple[str, ...] = ROW_KEYS) -> None:
    """The table in Markdown, with any further tables, then the sources and warnings.

    The count of a commune only partly inside the data is shown as a lower bound, "≥3"."""
    partial = [r for r in report.rows if r.get("partial")]
    markdown_table([{**r, "cameras": f"≥{r['cameras']}"} if r.get("partial") else r
                    for r in report.rows], keys, out)
    if partial:
        out.write(
            f"\n≥: only partly inside the data ({len(partial)} of {len(report.rows)} communes): "
            "the count is a lower bound; densities are null under "
            f"{report.meta.get('min_coverage', MIN_COVERAGE):.0%} coverage.\n"
        )
    for name, rows in report.extra.items():
        if rows:
            out.write(f"\n**{name.capitalize()}**\n\n")
            markdown_table(rows, tuple(rows[0]), out)
    meta = report.meta
    out.write(
        f"\nSource: {meta['source']}, data of {meta['data_timestamp'] or 'unknown date'}. "
        f"Boundaries: {meta['boundaries']}. Population: {meta['population_source'] or 'none'}"
        f" ({meta['population_year'] or 'year unknown'}). osmcams {meta['osmcams_version']}.\n"
    )
    for warning in report.warnings:
        out.write(f"\n> **Warning:** {warning}\n")


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
    import shapely

    oriented = shapely.orient_polygons(shapely.set_precision(geometry, 1e-7))
    return {
        "type": "Feature",
        "id": f"commune/{code}",
        "geometry": shapely.geometry.mapping(oriented),
        "properties": {"kind": "boundary", "insee": code, "name": name},
    }


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A density row with nested counts spread into keys: by_type {"camera": 3} -> by_type:camera."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{key}:{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def commune_features(report: Report) -> list[dict[str, Any]]:
    """Each commune of the report as a polygon with its row as flat properties."""
    features = []
    for row in report.rows:
        if row["insee"] not in report.boundaries:
            continue
        feature = boundary_feature(row["insee"], row["name"], report.boundaries[row["insee"]])
        feature["properties"] = flat_row(row)
        features.append(feature)
    return features


def write_geojson(
    features: list[dict[str, Any]], out: IO[str], sequence: bool = False,
    about: dict[str, Any] | None = None,
) -> None:
    """A FeatureCollection, or an RFC 8142 text sequence (one feature per line); `about`
    ({"meta": …, "warnings": …}) goes into the collection as foreign members (RFC 7946 §6.1)."""
    if sequence:
        for feature in features:
            out.write(RS + feature_line(feature) + "\n")
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


def write_csv_report(report: Report, target: str | os.PathLike[str], overwrite: bool = False) -> None:
    """The rows as CSV at `target` and their meta and warnings as NAME.meta.json beside it,
    published together (both or neither)."""
    from osmcams.files import publish

    target, sidecar = Path(target), meta_sidecar(target)
    try:
        with publish(target.parent, {"table": target.name, "meta": sidecar.name}, overwrite) as paths:
            with open(paths["table"], "w", encoding="utf-8", newline="") as out:
                rows_csv(report.rows, ROW_KEYS, out)
            with open(paths["meta"], "w", encoding="utf-8") as out:
                out.write(_dump({**provenance(report), "csv": target.name}, 1) + "\n")
    except OutputError as e:  # name the file asked for, not the directory of the set
        text = str(e).replace(f"cannot write {target.parent}:", f"cannot write {target}:", 1)
        raise OutputError(text) from e


def write_feature_blocks(blocks: Iterable[bytes | memoryview], out: IO[bytes]) -> None:
    """A FeatureCollection, in UTF-8, of features given in blocks of lines, each block the
    lines of some features joined by ",\n" (empty for none), as `write_feature_lines`."""
    out.write(FEATURES_START.encode())
    separator = b"\n"
    for block in blocks:
        if block:
            out.write(separator)
            out.write(block)
            separator = b",\n"
    out.write(FEATURES_END.encode())


# The files GDAL writes beside a .shp.
SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")


def _columns(records: list[dict[str, Any]]) -> list[str]:
    """Every key of `records`, in first-seen order; keys equal but for case are kept once."""
    seen: dict[str, str] = {}
    for record in records:
        for key in record:
            seen.setdefault(key.lower(), key)
    return list(seen.values())


def _camera_frame(records: list[dict[str, Any]], cameras: list[Camera]):
    import geopandas
    import shapely

    geometry = shapely.points([[c.lon, c.lat] for c in cameras]) if cameras else []
    return geopandas.GeoDataFrame(
        records, columns=_columns(records) or ["@id"], geometry=geometry, crs="EPSG:4326"
    )


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
    if fmt not in CAMERA_FORMATS or fmt == "umap":  # uMap maps need the report: outputs.umap
        raise UsageError(f"unknown camera format {fmt!r}")
    if views is not None and fmt not in ("geojson", "geojsonseq", "gpkg"):
        raise UsageError(f"fields of view go with GeoJSON or GeoPackage, not {fmt}")
    places: list[tuple[str | None, str | None]] = (
        list(communes) if communes is not None else [(None, None)] * len(cameras)
    )
    if len(places) != len(cameras):
        raise ValueError("one commune per camera")
    records = [] if "geojson" in fmt else [c.flat_properties(*p) for c, p in zip(cameras, places)]
    if fmt == "gpkg":
        import geopandas

        with atomic_path(target, overwrite) as temp:
            temp.unlink()
            layers = [("cameras", _camera_frame(records, cameras))]
            if boundaries:
                layers.append(("boundary", geopandas.GeoDataFrame(
                    [{"insee": b["code"], "name": b["name"]} for b in boundaries],
                    geometry=[b["geometry"] for b in boundaries], crs="EPSG:4326",
                )))
            if views:
                layers.append(("fields_of_view", geopandas.GeoDataFrame(
                    [v.properties() for v in views], geometry=[v.polygon for v in views],
                    crs="EPSG:4326",
                )))
            metadata = {"dataset_metadata": gdal_metadata(about)} if about else {}
            for i, (layer, frame) in enumerate(layers):
                gdal_write(frame, temp, target, layer=layer, driver="GPKG", **(metadata if not i else {}))
        return
    if fmt in GDAL_DRIVERS:
        sidecars = [Path(target).with_suffix(s) for s in SHAPEFILE_PARTS] if fmt == "shp" else []
        if not overwrite and [p for p in sidecars if p.exists()]:
            raise UsageError(f"{sidecars[0]} exists; add --overwrite to replace it")
        with atomic_path(target, overwrite) as temp:
            temp.unlink()
            named = {} if fmt == "shp" else {"layer": "cameras"}  # not the temporary name
            gdal_write(_camera_frame(records, cameras), temp, target, driver=GDAL_DRIVERS[fmt],
                       geometry_type="Point", **named)
            if fmt == "shp":  # the sidecar files go with the .shp, each renamed into place
                for part in temp.parent.glob(f"{temp.stem}.*"):
                    if part != temp:
                        os.replace(part, Path(target).with_suffix(part.suffix))
        return
    if fmt == "parquet":  # GeoParquet, for DuckDB, Sedona and pandas; the outline is left out
        with atomic_path(target, overwrite) as temp:
            _camera_frame(records, cameras).to_parquet(temp)
        return
    with atomic_open(target, overwrite) as out:
        if fmt == "csv":
            rows = [{"lon": c.lon, "lat": c.lat, **r} for c, r in zip(cameras, records)]
            rows_csv(rows, tuple(_columns(rows) or ["lon", "lat", "@id"]), out)
            return
        features = [boundary_feature(**b) for b in boundaries or []]
        features += [camera_feature(c, *place) for c, place in zip(cameras, places)]
        features += [view_feature(v) for v in views or []]
        write_geojson(features, out, sequence=fmt == "geojsonseq", about=about)


def write_communes(report: Report, target: str | os.PathLike[str], fmt: str, overwrite: bool = False) -> None:
    """The communes as polygons with their rows as flat properties: a density layer for
    uMap or QGIS, as GeoJSON or as the `communes` layer of a GeoPackage."""
    features = commune_features(report)
    if fmt == "geojson":
        with atomic_open(target, overwrite) as out:
            write_geojson(features, out, about=provenance(report))
        return
    if fmt != "gpkg":
        raise UsageError(f"communes are written as GeoJSON or GeoPackage, not {fmt}")
    import geopandas
    from shapely.geometry import shape

    frame = geopandas.GeoDataFrame(
        [f["properties"] for f in features], geometry=[shape(f["geometry"]) for f in features],
        crs="EPSG:4326",
    )
    with atomic_path(target, overwrite) as temp:
        temp.unlink()
        gdal_write(frame, temp, target, layer="communes", driver="GPKG",
                   dataset_metadata=gdal_metadata(provenance(report)))


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
    return f"{slug(code)}-{slug(name)}{SUFFIX[fmt]}"


def render_text(write: Any) -> str:
    """What `write(out)` writes, as a string."""
    buffer = io.StringIO()
    write(buffer)
    return buffer.getvalue()
