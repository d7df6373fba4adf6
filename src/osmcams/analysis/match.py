"""Official camera registers against OSM cameras: by site, or an optimal one-to-one matching.

A register of sites (a row is a place that can hold several cameras, as the Paris
police register's "implantations") takes every OSM camera within the distance of a
site as one of its cameras. A register of cameras is matched one to one:

Candidate pairs come from a k-d tree on a local metric projection, their lengths are
geodesic, and the pairs kept are a maximum matching of least total length (SciPy's
sparse assignment): as many official cameras as possible get an OSM camera within the
distance, and among such matchings the total distance is the smallest. A greedy
nearest-first matching does worse in dense streets.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osmcams.communes.model import error_reason
from osmcams.errors import DataError, UsageError
from osmcams.files import atomic_path, gdal_reads_in_place, read_input
from osmcams.join import data_age_days
from osmcams.models import flat_tags, parse_nested
from osmcams.outputs.writers import write_geojson

MAX_REGISTER_BYTES = 256 << 20  # a register of a country's sites takes tens of MB
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "x_wgs84", "coord_x", "xlong")
LAT_NAMES = ("lat", "latitude", "y", "y_wgs84", "coord_y", "ylat")
LAYERS = ("matched", "official-only", "osm-only")
UNITS = ("site", "camera")
# Register columns holding the number of cameras at a site.
COUNT_NAMES = ("nombre", "nombre_cameras", "nombre de caméras", "nb_cameras", "nb", "cameras", "count",
               "camera_count")
# Fields of an osmcams camera record that are not OSM tags.
RECORD_FIELDS = {"osm_type", "osm_id", "surveillance_type", "camera_type", "camera_mount", "zone",
                 "direction", "timestamp", "tags", "@id", "id", "kind", "lon", "lat",
                 "insee", "commune", "@direction", "@timestamp"}


@dataclass
class Points:
    """Points in lon/lat, each with its own properties, and where they come from."""

    lons: list[float]
    lats: list[float]
    properties: list[dict[str, Any]]
    source: str
    warnings: list[str] = field(default_factory=list)
    timestamp: str | None = None  # the data date, when known

    def __len__(self) -> int:
        return len(self.lons)


@dataclass
class Matching:
    """The pairs (official index, OSM index, metres) and what is left on each side."""

    pairs: list[tuple[int, int, float]]
    official_only: list[int]
    osm_only: list[int]


# --- Reading ------------------------------------------------------------------------------


def read_register(
    path: str | os.PathLike[str],
    lon_field: str | None = None,
    lat_field: str | None = None,
    crs: str | None = None,
    cameras: bool = False,
) -> Points:
    """The cameras of an official register: a CSV (`;`, `,` or tab), a spreadsheet (.xlsx,
    .ods: read as the CSV is) or a vector file; an OpenStreetMap file is refused.

    The coordinates of a CSV or spreadsheet are lon/lat unless `crs` names another system;
    vector files carry their own CRS. Everything is reprojected to WGS84. `cameras`: OSM
    cameras (`read_cameras`), where a file without a point is no error (an export of a
    commune where none is mapped).
    """
    from osmcams.counting import is_osm_file

    path = Path(path)
    if is_osm_file(path):  # GDAL reads its every tagged node as a point
        raise UsageError(f"{path} is OpenStreetMap data, not a register of sites or cameras")
    if not path.is_file():
        raise DataError(f"{path}: {'not a regular file' if path.exists() else 'no such file'}")
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return _read_csv(path, lon_field, lat_field, crs, cameras)
    return _read_vector(path, crs, cameras, lon_field, lat_field)


def _read_csv(path: Path, lon_field: str | None, lat_field: str | None, crs: str | None,
              cameras: bool) -> Points:
    data = read_input(path, MAX_REGISTER_BYTES, "a register of sites")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # a CSV of Excel on Windows: ’ and … as written
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # every byte is a character
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=";,\t")
    except csv.Error as e:
        raise DataError(f"{path}: not a CSV table with ';', ',' or tab between fields") from e
    # Lines as csv ends them (\r, \n): str.splitlines() also ends one at U+2028 and at the
    # "…" of Windows-1252 read as Latin-1 (U+0085), inside a field.
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        rows = list(reader)
    except csv.Error as e:  # a field over csv's limit of 128 KiB
        raise DataError(f"{path}, line {reader.line_num + 1}: {e}") from None
    columns = [c for c in reader.fieldnames or [] if c is not None]
    return _table_points(path, columns, rows, lon_field, lat_field, crs, cameras)


def _table_points(path: Path, columns: list[str], rows: list[dict[str, Any]], lon_field: str | None,
                  lat_field: str | None, crs: str | None, cameras: bool) -> Points:
    """The points of a table's rows (a CSV's, a spreadsheet's), from its coordinate columns,
    found or named; the other columns are each point's properties."""
    lon = _column(columns, lon_field, LON_NAMES, "--lon-field", path)
    lat = _column(columns, lat_field, LAT_NAMES, "--lat-field", path)
    xs, ys, properties, unreadable = [], [], [], 0
    for row in rows:
        try:
            x, y = _number(row[lon]), _number(row[lat])
        except (TypeError, ValueError):
            unreadable += 1
            continue
        xs.append(x)
        ys.append(y)
        properties.append({k: v for k, v in row.items() if k not in (lon, lat) and k is not None})
    if not rows and cameras:
        return Points([], [], [], str(path))
    if not rows:
        raise DataError(f"{path}: no row under its header ({', '.join(columns)})")
    if not xs:
        raise DataError(f"{path}: no row with readable coordinates in {lon!r} and {lat!r}")
    warnings = []
    if unreadable:
        warnings.append(f"{path.name}: {unreadable} rows without readable coordinates, left out")
    if crs is None:
        if any(abs(x) > 180 for x in xs) or any(abs(y) > 90 for y in ys):
            hint = "; they look like Lambert-93, try --crs EPSG:2154" if _lambert93(xs, ys) else ""
            raise DataError(f"{path}: {lon!r}/{lat!r} are not longitudes and latitudes; "
                            f"give their system with --crs{hint}")
        return Points(xs, ys, properties, str(path), warnings)
    lons, lats = _to_wgs84(xs, ys, crs)
    return Points(lons, lats, properties, str(path), warnings)


def _lambert93(xs: list[float], ys: list[float]) -> bool:
    return all(50_000 < x < 1_300_000 for x in xs) and all(6_000_000 < y < 7_200_000 for y in ys)


def _number(text: str | None) -> float:
    value = float((text or "").strip().replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _column(columns: list[str], named: str | None, known: tuple[str, ...], flag: str, path: Path) -> str:
    if named:
        if named not in columns:
            raise UsageError(f"{path}: no column {named!r} among {', '.join(columns)}")
        return named
    lower = {c.strip().lower(): c for c in columns if c}
    found = next((lower[name] for name in known if name in lower), None)
    if found is None:
        raise DataError(f"{path}: cannot find the coordinate columns among {', '.join(columns)}; "
                        f"name them with --lon-field and --lat-field")
    return found


def _to_wgs84(xs: list[float], ys: list[float], crs: str) -> tuple[list[float], list[float]]:
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError as e:
        raise UsageError(f"unknown coordinate system {crs!r}") from e
    transformer = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    lons, lats = transformer.transform(xs, ys)
    return list(lons), list(lats)


def _read_vector(path: Path, crs: str | None, cameras: bool = False, lon_field: str | None = None,
                 lat_field: str | None = None) -> Points:
    """The features of a vector file as points; a table without geometry (a spreadsheet) is
    read as a CSV is. `cameras`: OSM cameras, where a file without a feature is no error, and
    where the outlines and fields of view an export puts beside the camera points are no
    cameras."""
    import geopandas

    frame = _read_frame(path)
    if not isinstance(frame, geopandas.GeoDataFrame):  # .xlsx, .ods: coordinates in columns
        columns = [str(c) for c in frame.columns]
        rows = [{c: _cell_text(v) for c, v in zip(columns, values)}
                for values in frame.itertuples(index=False, name=None)]
        return _table_points(path, columns, rows, lon_field, lat_field, crs, cameras)
    if lon_field or lat_field:
        raise UsageError(f"{path} has its own geometry: --lon-field and --lat-field go with a CSV "
                         "or a spreadsheet")
    if frame.crs is None:
        frame = frame.set_crs(crs or "EPSG:4326")
    elif crs:
        raise UsageError(f"{path} declares its coordinate system: --crs goes with CSV files")
    frame = frame[~frame.geometry.isna() & ~frame.geometry.is_empty]
    if frame.empty and cameras:
        return Points([], [], [], str(path))
    if frame.empty:
        raise DataError(f"{path}: no feature with a geometry")
    warnings = []
    added = _outlines_and_views(frame) if cameras else None
    if added is not None and added.any():  # export --with-boundary, --fov
        warnings.append(f"{path.name}: {added.sum():,} commune outlines or fields of view, beside "
                        "the cameras, are not cameras: left out")
        frame = frame[~added]
    if not frame.geometry.geom_type.eq("Point").all():
        warnings.append(f"{path.name}: features that are not points stand at an inner point")
        frame = frame.set_geometry(frame.geometry.representative_point())
    frame = frame.to_crs("EPSG:4326")
    table = frame.drop(columns=frame.geometry.name)
    records = json.loads(table.to_json(orient="records", date_format="iso", default_handler=str))
    properties = [{k: v for k, v in row.items() if v is not None} for row in records]
    return Points(list(frame.geometry.x), list(frame.geometry.y), properties, str(path), warnings)


def _cell_text(value: Any) -> str:
    """A spreadsheet's cell as a CSV would hold it: "" when empty, 75001 not 75001.0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _outlines_and_views(frame: Any) -> Any:
    """Which features of `frame` are what `export --with-boundary --fov` writes beside the
    camera points: commune outlines (`kind` boundary) and fields of view (`fov`), as a
    boolean Series; a camera way of another tool, drawn as a line, is a camera."""
    outline = frame["kind"].eq("boundary") if "kind" in frame else False
    view = frame["fov"].notna() if "fov" in frame else False
    return ~frame.geometry.geom_type.eq("Point") & (outline | view)


def _read_frame(path: Path) -> Any:
    """The file's features; of several layers, `cameras` (an osmcams export) or the first."""
    import geopandas
    import pyogrio

    if path.is_file() and not path.stat().st_size:  # GDAL would say it knows no such format
        raise DataError(f"{path}: empty, not a file of points")
    gdal_reads_in_place()
    try:
        if path.suffix.lower() == ".parquet":
            return geopandas.read_parquet(path)
        names = [str(name) for name, _ in pyogrio.list_layers(path)]
        layer = "cameras" if "cameras" in names else names[0]
        return pyogrio.read_dataframe(path, layer=layer)
    except Exception as e:  # the readers raise several unrelated types for bad files
        raise DataError(f"{path}: cannot read: {error_reason(e)}") from e


def read_cameras(path: str | os.PathLike[str]) -> Points:
    """OSM cameras from a file: any camera file osmcams exports, or any GeoJSON of points.

    Each point's properties become {"@id": "node/123", **tags}: the `tags` of an
    osmcams record, the tags among an osmcams export's columns (`flat_tags`), else the
    feature's own properties.
    """
    from osmcams.counting import is_osm_file

    path = Path(path)
    if is_osm_file(path):  # GDAL would read its every tagged node, shops and all, as a camera
        raise UsageError(f"--cameras takes a file of cameras (an export), not OpenStreetMap data: "
                         f"give {path.name} as --pbf, with the communes (--commune, --department…)")
    points = read_register(path, cameras=True)
    about = file_about(path)
    # An osmcams export: its name, description and other columns of its own are no tags.
    exported = about is not None or any("@direction" in p for p in points.properties)
    if about is not None:  # an osmcams file: its data date, and what to be wary of
        stamp = about["meta"].get("data_timestamp")
        points.timestamp = stamp if isinstance(stamp, str) and data_age_days(stamp) is not None else None
        points.warnings += [f"{path.name}: {w}" for w in about["warnings"]]
    else:
        stamps = [str(p["timestamp"]) for p in points.properties if p.get("timestamp")]
        points.timestamp = max(stamps, default=None)
    points.properties = [_osm_properties(p, i, exported) for i, p in enumerate(points.properties)]
    return points


def file_about(path: Path) -> dict[str, Any] | None:
    """Where the cameras of a file osmcams wrote come from ({"meta", "warnings"}), read from
    where it put them: a GeoJSON collection's foreign members, a GeoPackage's or FlatGeobuf's
    metadata, the Parquet footer, else NAME.meta.json beside it (a CSV's, a Shapefile's);
    None for a file that says nothing of it, or nothing that can be read."""
    import ijson

    from osmcams.outputs.writers import meta_sidecar

    suffix = path.suffix.lower()
    try:
        if suffix in (".geojson", ".json"):
            with open(path, "rb") as f:  # osmcams writes them before the features
                meta = next(ijson.items(f, "meta", use_float=True), None)
            if isinstance(meta, dict):
                with open(path, "rb") as f:
                    return _about({"meta": meta, "warnings": next(ijson.items(f, "warnings"), [])})
        elif suffix in (".gpkg", ".fgb"):
            import pyogrio

            info = pyogrio.read_info(path, layer=0)  # the dataset's items are on every layer
            items = dict(info.get("dataset_metadata" if suffix == ".gpkg" else "layer_metadata") or {})
            if "data_timestamp" in items:  # GDAL's items are texts, JSON for what was not one
                warnings = json.loads(items.pop("warnings", "[]"))
                return _about({"meta": {k: None if v == "null" else v for k, v in items.items()},
                               "warnings": warnings})
        elif suffix == ".parquet":
            import pyarrow.parquet

            text = (pyarrow.parquet.read_schema(path).metadata or {}).get(b"osmcams")
            if text:
                return _about(json.loads(text))
        sidecar = meta_sidecar(path)
        if sidecar.is_file():
            return _about(json.loads(sidecar.read_text(encoding="utf-8")))
    except (OSError, ValueError, ijson.JSONError):  # JSON that GDAL reads, ijson not (NaN)
        return None  # says nothing of itself that can be read: no data date
    return None


def _about(data: Any) -> dict[str, Any] | None:
    """{"meta", "warnings"} of what a file says of itself, or None when it holds no meta."""
    if not (isinstance(data, dict) and isinstance(data.get("meta"), dict)):
        return None
    warnings = data.get("warnings")
    return {"meta": data["meta"],
            "warnings": [w for w in warnings if isinstance(w, str)] if isinstance(warnings, list) else []}


def from_report(report: Any, register: Points, unit: str = "site") -> tuple[Points, Points]:
    """The OSM cameras of a count's communes, and the register cut to those communes, and
    to the part of them that the OSM data covers; its rows are `unit`s (site or camera)."""
    import numpy
    import shapely

    rows = [row for row in report.rows if row.get("cameras") is not None]
    if not rows:
        raise DataError("the OSM data covers none of the communes asked for")
    cameras = [camera for row in rows for camera in report.cameras[row["insee"]]]
    osm = Points(
        [c.lon for c in cameras], [c.lat for c in cameras],
        [{"@id": c.key, **c.tags} for c in cameras],
        report.meta["source"], timestamp=report.meta.get("data_timestamp"),
    )
    area = shapely.union_all([report.boundaries[row["insee"]] for row in rows])
    check_place(register, area, ", ".join(row["name"] for row in rows), unit)
    lons, lats = numpy.asarray(register.lons), numpy.asarray(register.lats)
    inside = shapely.contains_xy(area, lons, lats)
    if inside.sum() < len(register):
        register.warnings.append(
            f"{len(register) - inside.sum()} of {len(register)} official {unit}s lie outside "
            f"{', '.join(row['name'] for row in rows)}, left out"
        )
    partial = ", ".join(row["name"] for row in rows if row.get("partial"))
    if partial and report.region is None:
        register.warnings.append(
            f"{partial}: only partly in the OSM data, whose extent is unknown: official "
            f"{unit}s where it has no data count as missing from OpenStreetMap")
    elif partial:  # where the data has nothing, an official camera is neither matched nor missing
        uncovered = inside & ~shapely.contains_xy(report.region, lons, lats)
        if uncovered.any():
            register.warnings.append(
                f"{uncovered.sum()} of {len(register)} official {unit}s lie in the part of "
                f"{partial} that the OSM data does not cover, left out: neither matched nor missing")
            inside &= ~uncovered
    kept = numpy.flatnonzero(inside).tolist()
    cut = Points(
        [register.lons[i] for i in kept], [register.lats[i] for i in kept],
        [register.properties[i] for i in kept], register.source, register.warnings,
    )
    return osm, cut


PLACE_MARGIN = 0.05  # degrees (about 5 km) around the OSM cameras where a register may lie


def check_place(register: Points, where: Any, what: str, unit: str = "site") -> None:
    """DataError when no row of `register` (a `unit`: site or camera) lies in `where` (a
    shapely geometry, the place `what`): its longitudes and latitudes swapped, a wrong
    --crs, another place."""
    import numpy
    import shapely

    lons, lats = numpy.asarray(register.lons), numpy.asarray(register.lats)
    if not len(lons) or where.is_empty or shapely.contains_xy(where, lons, lats).any():
        return
    if shapely.contains_xy(where, lats, lons).any():
        why = "its longitudes and latitudes are swapped: name them with --lon-field and --lat-field"
    else:
        why = "a wrong --crs, or a register of another place"
    raise DataError(
        f"{register.source}: none of its {len(lons)} {unit}s lies in {what} (they lie around "
        f"longitude {numpy.median(lons):.4f}, latitude {numpy.median(lats):.4f}): {why}?"
    )


def near_cameras(osm: Points) -> Any:
    """Where a register matched with the cameras `osm` should lie: around them."""
    import shapely

    return shapely.multipoints(list(zip(osm.lons, osm.lats))).envelope.buffer(PLACE_MARGIN)


def _osm_properties(properties: dict[str, Any], index: int, exported: bool) -> dict[str, Any]:
    """{"@id": "node/123", **tags} of a camera read from a file (`exported`: by osmcams,
    its properties flat as `Camera.flat_properties` writes them)."""
    tags = properties.get("tags")
    if isinstance(tags, str) and tags.startswith("{"):
        with contextlib.suppress(ValueError):  # not JSON after all, or too deep: a text
            tags = parse_nested(json.loads, tags)
    if not isinstance(tags, dict):
        tags = (flat_tags({k: v for k, v in properties.items()  # GDAL reads a feature's id as one
                           if not (k == "id" and v == properties.get("@id"))}) if exported
                else {k: v for k, v in properties.items() if k not in RECORD_FIELDS})
    key = properties.get("@id") or properties.get("id")
    if properties.get("osm_type") and properties.get("osm_id") is not None:
        key = f"{properties['osm_type']}/{int(properties['osm_id'])}"
    if not (isinstance(key, str) and re.fullmatch(r"(node|way|relation)/\d+", key)):
        key = f"feature/{index + 1}"
    return {"@id": key, **{str(k): str(v) for k, v in tags.items()}}


# --- Matching -----------------------------------------------------------------------------


def match(official: Points, osm: Points, max_distance: float = 30.0) -> Matching:
    """The maximum one-to-one matching within `max_distance` metres of least total length."""
    import numpy
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    rows, cols, metres = candidates(official, osm, max_distance)
    pairs: list[tuple[int, int, float]] = []
    if len(rows):
        # Only the cameras with a candidate take part; each official one may also stay
        # unmatched (its own dummy column), at a cost above any set of real pairs.
        used_rows, row_of = numpy.unique(rows, return_inverse=True)
        used_cols, col_of = numpy.unique(cols, return_inverse=True)
        n, m = len(used_rows), len(used_cols)
        weights = metres + 1.0  # a zero distance must still be an edge
        unmatched = (min(n, m) + 1) * (max_distance + 1.0) + 1.0
        graph = coo_array(
            (numpy.r_[weights, numpy.full(n, unmatched)],
             (numpy.r_[row_of, numpy.arange(n)], numpy.r_[col_of, m + numpy.arange(n)])),
            shape=(n, m + n),
        ).tocsr()
        chosen_rows, chosen_cols = min_weight_full_bipartite_matching(graph)
        length = {(int(r), int(c)): float(d) for r, c, d in zip(row_of, col_of, metres)}
        for r, c in zip(chosen_rows.tolist(), chosen_cols.tolist()):
            if c < m:
                pairs.append((int(used_rows[r]), int(used_cols[c]), length[(r, c)]))
    matched_official = {p[0] for p in pairs}
    matched_osm = {p[1] for p in pairs}
    return Matching(
        pairs,
        [i for i in range(len(official)) if i not in matched_official],
        [j for j in range(len(osm)) if j not in matched_osm],
    )


def candidates(official: Points, osm: Points, max_distance: float) -> tuple[Any, Any, Any]:
    """Pairs (official, OSM) closer than `max_distance` metres, with geodesic lengths.

    A k-d tree on earth-centred coordinates finds them: the straight line between two
    points is never longer than the geodesic, so no pair within the distance is missed,
    however far apart the data lies (a projection centred on it lost pairs overseas). The
    lengths are on the ellipsoid.
    """
    import numpy
    from pyproj import Geod
    from scipy.spatial import cKDTree

    empty = numpy.array([], int), numpy.array([], int), numpy.array([], float)
    if not len(official) or not len(osm):
        return empty
    near = cKDTree(_earth_centred(official)).sparse_distance_matrix(
        cKDTree(_earth_centred(osm)), max_distance * (1 + 1e-9) + 1e-3, output_type="coo_matrix"
    )
    rows, cols = near.row.astype(int), near.col.astype(int)
    if not len(rows):
        return empty
    lons_a, lats_a = numpy.asarray(official.lons)[rows], numpy.asarray(official.lats)[rows]
    lons_b, lats_b = numpy.asarray(osm.lons)[cols], numpy.asarray(osm.lats)[cols]
    _, _, metres = Geod(ellps="WGS84").inv(lons_a, lats_a, lons_b, lats_b)
    keep = metres <= max_distance
    return rows[keep], cols[keep], metres[keep]


WGS84_A, WGS84_F = 6_378_137.0, 1 / 298.257223563


def _earth_centred(points: Points) -> Any:
    """The points as x, y, z in metres from the earth's centre, on the WGS 84 ellipsoid."""
    import numpy

    lon = numpy.radians(numpy.asarray(points.lons, float))
    lat = numpy.radians(numpy.asarray(points.lats, float))
    e2 = WGS84_F * (2 - WGS84_F)
    n = WGS84_A / numpy.sqrt(1 - e2 * numpy.sin(lat) ** 2)
    return numpy.column_stack((n * numpy.cos(lat) * numpy.cos(lon), n * numpy.cos(lat) * numpy.sin(lon),
                               n * (1 - e2) * numpy.sin(lat)))


def summary(official: Points, osm: Points, matching: Matching, max_distance: float) -> dict[str, Any]:
    """Counts and distances of a matching, for a table or JSON."""
    lengths = [d for _, _, d in matching.pairs]

    def metres(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "matched": len(matching.pairs),
        "official_only": len(matching.official_only),
        "osm_only": len(matching.osm_only),
        "median_distance_m": metres(statistics.median(lengths) if lengths else None),
        "mean_distance_m": metres(statistics.fmean(lengths) if lengths else None),
        "max_pair_distance_m": metres(max(lengths) if lengths else None),
        "official_total": len(official),
        "osm_total": len(osm),
        "matched_share_of_official": round(len(lengths) / len(official), 4) if len(official) else None,
        "max_distance_m": max_distance,
        "official_source": official.source,
        "osm_source": osm.source,
        "data_timestamp": osm.timestamp,
    }


@dataclass
class Sites:
    """Per site, the OSM cameras within the distance (index, metres, nearest first); and
    per OSM camera, the sites it is within the distance of."""

    cameras: list[list[tuple[int, float]]]
    sites_of: list[list[int]]


def by_site(sites: Points, osm: Points, max_distance: float = 30.0) -> Sites:
    """Every OSM camera within `max_distance` metres of a site belongs to it (many to one;
    a camera as near two sites belongs to both)."""
    rows, cols, metres = candidates(sites, osm, max_distance)
    cameras: list[list[tuple[int, float]]] = [[] for _ in range(len(sites))]
    sites_of: list[list[int]] = [[] for _ in range(len(osm))]
    for i, j, d in sorted(zip(rows.tolist(), cols.tolist(), metres.tolist()), key=lambda p: (p[0], p[2])):
        cameras[i].append((j, d))
        sites_of[j].append(i)
    return Sites(cameras, sites_of)


def count_column(register: Points, named: str | None = None) -> str | None:
    """The register column holding a number of cameras per site: `named`, else one of
    COUNT_NAMES, else None."""
    # Every site's (a vector file's first feature may leave out a column it has no value for).
    columns = list(dict.fromkeys(key for properties in register.properties for key in properties))
    if named:
        if named not in columns:
            raise UsageError(f"{register.source}: no column {named!r} among {', '.join(columns)}")
        return named
    lower = {str(c).strip().lower(): c for c in columns}
    return next((lower[name] for name in COUNT_NAMES if name in lower), None)


def site_counts(register: Points, column: str) -> list[int | None]:
    """The number of cameras of each site (None where the cell is empty)."""
    counts: list[int | None] = []
    for line, row in enumerate(register.properties, 1):
        value = row.get(column)
        if isinstance(value, float) and value.is_integer():  # a number column of a vector file
            value = int(value)
        text = "" if value is None else str(value).strip()
        if not text:
            counts.append(None)
            continue
        if not (text.isascii() and text.isdigit()):  # "²" is a digit to str.isdigit, not to int()
            raise DataError(f"{register.source}: site {line}: {column} must be a whole number, not {text!r}")
        counts.append(int(text))
    return counts


def site_summary(
    sites: Points, osm: Points, found: Sites, max_distance: float, counts: list[int | None] | None = None,
    column: str | None = None,
) -> dict[str, Any]:
    """Sites with and without OSM cameras, OSM cameras at a site and at none; with a count
    per site, the registered cameras beside the OSM cameras at each site."""
    nearest = [near[0][1] for near in found.cameras if near]
    at_site = sum(bool(s) for s in found.sites_of)
    summary: dict[str, Any] = {
        "register_unit": "site",
        "sites_with_osm_cameras": len(nearest),
        "sites_without_osm_cameras": len(sites) - len(nearest),
        "osm_cameras_at_a_site": at_site,
        "osm_cameras_at_no_site": len(osm) - at_site,
        "osm_cameras_at_several_sites": sum(len(s) > 1 for s in found.sites_of),
        "most_osm_cameras_at_a_site": max(map(len, found.cameras), default=0),
        "median_nearest_distance_m": round(statistics.median(nearest), 2) if nearest else None,
        "sites_total": len(sites),
        "osm_total": len(osm),
        "sites_with_osm_share": round(len(nearest) / len(sites), 4) if len(sites) else None,
    }
    if counts is not None:
        known = [(n, len(near)) for n, near in zip(counts, found.cameras) if n is not None]
        summary.update({
            "count_column": column,
            "registered_cameras": sum(n for n, _ in known),
            "osm_cameras_at_counted_sites": sum(m for _, m in known),
            "sites_with_as_many_osm_cameras": sum(m == n for n, m in known),
            "sites_with_fewer_osm_cameras": sum(m < n for n, m in known),
            "sites_with_more_osm_cameras": sum(m > n for n, m in known),
            "registered_cameras_missing_from_osm": sum(max(n - m, 0) for n, m in known),
            "sites_without_count": len(counts) - len(known),
        })
    summary.update({"max_distance_m": max_distance, "official_source": sites.source,
                    "osm_source": osm.source, "data_timestamp": osm.timestamp})
    return summary


def site_layers(
    sites: Points, osm: Points, found: Sites, counts: list[int | None] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The three layers for sites: sites with OSM cameras (their ids, how many, the nearest
    distance, and the registered count), sites without, OSM cameras at no site."""
    with_cameras, without = [], []
    for i, near in enumerate(found.cameras):
        extra: dict[str, Any] = {} if counts is None else {"registered_cameras": counts[i]}
        if near:
            ids = [osm.properties[j]["@id"] for j, _ in near]
            properties = {**sites.properties[i], **extra, "osm_cameras": len(near),
                          "osm_ids": ";".join(ids), "nearest_m": round(near[0][1], 2)}
            properties.setdefault("name", f"site with {len(near)} OSM camera{'s' * (len(near) > 1)}")
            properties.setdefault("description", f"{_text(sites, i)}; OSM: {', '.join(ids)}")
            with_cameras.append(_feature(sites, i, properties))
        else:
            without.append(_feature(sites, i, {**sites.properties[i], **extra, "osm_cameras": 0,
                                               "name": sites.properties[i].get("name")
                                               or "no camera in OpenStreetMap",
                                               "description": _text(sites, i)}))
    alone = [_osm_only(sites, osm, j) for j, of in enumerate(found.sites_of) if not of]
    return dict(zip(LAYERS, (with_cameras, without, alone)))


# --- Writing ------------------------------------------------------------------------------


def _feature(points: Points, i: int, properties: dict[str, Any]) -> dict[str, Any]:
    coordinates = [round(points.lons[i], 7), round(points.lats[i], 7)]
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": coordinates},
            "properties": properties}


def _text(official: Points, i: int) -> str:
    return "; ".join(f"{k}: {v}" for k, v in official.properties[i].items() if v not in ("", None))


def _osm_only(official: Points, osm: Points, j: int) -> dict[str, Any]:
    key = osm.properties[j]["@id"]
    return _feature(osm, j, {**osm.properties[j], "name": osm.properties[j].get("name")
                             or "not in the official register",
                             "description": f"{key}, not in {Path(official.source).name}"})


def layers(official: Points, osm: Points, matching: Matching) -> dict[str, list[dict[str, Any]]]:
    """The three layers as GeoJSON features: matched pairs, official only, OSM only."""
    matched = []
    for i, j, metres in matching.pairs:
        osm_props = osm.properties[j]
        properties = {**official.properties[i], "@id": osm_props["@id"], "distance_m": round(metres, 2)}
        properties.update({f"osm:{k}": v for k, v in osm_props.items() if k != "@id"})
        properties.setdefault("name", f"matched {osm_props['@id']}")
        properties.setdefault("description", f"{metres:.1f} m from {osm_props['@id']}: {_text(official, i)}")
        matched.append(_feature(official, i, properties))
    official_only = [
        _feature(official, i, {**official.properties[i], "name": official.properties[i].get("name")
                               or "not in OpenStreetMap", "description": _text(official, i)})
        for i in matching.official_only
    ]
    osm_only = [_osm_only(official, osm, j) for j in matching.osm_only]
    return dict(zip(LAYERS, (matched, official_only, osm_only)))


def write_layers(features: dict[str, list[dict[str, Any]]], paths: dict[str, Path],
                 about: dict[str, Any]) -> None:
    """Each layer to its GeoJSON file (paths in a staging directory: see files.publish), with
    where it comes from (`about`: {"meta", "warnings"}) as the collection's foreign members."""
    for name, path in paths.items():
        with open(path, "w", encoding="utf-8") as out:
            write_geojson(features[name], out, about=about)


def write_geopackage(features: dict[str, list[dict[str, Any]]], target: Path, overwrite: bool,
                     about: dict[str, Any]) -> None:
    """The three layers in one GeoPackage (layer names with underscores), where they come from
    (`about`) in its metadata."""
    import geopandas

    from osmcams.outputs.writers import gdal_metadata

    with atomic_path(target, overwrite, ".gpkg") as temp:
        temp.unlink()
        for i, (name, layer) in enumerate(features.items()):
            frame = (
                geopandas.GeoDataFrame.from_features(layer, crs="EPSG:4326")
                if layer
                else geopandas.GeoDataFrame({"name": []}, geometry=[], crs="EPSG:4326")
            )
            frame.to_file(temp, layer=name.replace("-", "_"), driver="GPKG",
                          **({"dataset_metadata": gdal_metadata(about)} if not i else {}))
