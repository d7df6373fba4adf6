"""The true extent of an extract: the polygon it was cut with, where it is known.

Extract providers publish it as an Osmosis `.poly` file beside each extract
(`NAME.poly` beside `NAME.osm.pbf`); a GeoJSON Polygon or MultiPolygon (bare, a
Feature or a FeatureCollection) is read too.

The `.poly` format: a name line, then sections, each a name line (a leading `!`
marks a hole), lines of `lon lat`, and `END`; a final `END` closes the file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from osmcams.errors import DataError

MAX_BYTES = 64 << 20  # a country's polygon takes a few MB; more is not an extent


def _text(path: Path) -> str:
    from osmcams.files import read_input

    try:
        return read_input(path, MAX_BYTES, "an extent").decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: cannot read the extent: {e}") from e


def parse_poly(text: str, name: str = "extent") -> Any:
    """The (multi)polygon of the text of a `.poly` file; DataError naming the line at fault."""
    import shapely

    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line]
    if not lines:
        raise DataError(f"{name}: empty, not a .poly file")
    outers: list[list[tuple[float, float]]] = []
    holes: list[list[tuple[float, float]]] = []
    at = 1  # after the file's name line
    while True:
        if at >= len(lines):
            raise DataError(f"{name}: ends without the final END")
        n, line = lines[at]
        if line == "END":
            break
        ring: list[tuple[float, float]] = []
        at += 1
        while True:
            if at >= len(lines):
                raise DataError(f"{name}: section {line!r} (line {n}) ends without END")
            m, point = lines[at]
            at += 1
            if point == "END":
                break
            parts = point.split()
            try:
                lon, lat = (float(v) for v in parts)
            except ValueError:
                raise DataError(f"{name}, line {m}: {point[:60]!r} is not 'lon lat'") from None
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise DataError(f"{name}, line {m}: {lon} {lat} is not a longitude and latitude")
            ring.append((lon, lat))
        if len(ring) < 3:
            raise DataError(f"{name}: section {line!r} (line {n}) has {len(ring)} points, a ring needs 3")
        (holes if line.startswith("!") else outers).append(ring)
    if at != len(lines) - 1:
        raise DataError(f"{name}, line {lines[at + 1][0]}: text after the final END")
    if not outers:
        raise DataError(f"{name}: no polygon, only holes")
    area = shapely.union_all([shapely.make_valid(shapely.Polygon(r)) for r in outers])
    if holes:
        area = shapely.difference(area, shapely.union_all([shapely.make_valid(shapely.Polygon(r))
                                                           for r in holes]))
    return area


def parse_geojson(text: str, name: str = "extent") -> Any:
    """The union of the Polygons and MultiPolygons of a GeoJSON text."""
    import shapely
    import shapely.errors
    import shapely.geometry

    from osmcams.models import TooDeep, nan_unsaid, parse_nested

    try:
        data = parse_nested(json.loads, text)
    except TooDeep as e:
        raise DataError(f"{name}: not an extent: {e}") from None
    except ValueError as e:
        raise DataError(f"{name}: not JSON: {e}") from None
    if not isinstance(data, dict):
        raise DataError(f"{name}: not a GeoJSON object")
    crs = data.get("crs")  # of GeoJSON before RFC 7946: a named one other than WGS 84 is refused
    named = crs.get("properties") if isinstance(crs, dict) else None
    named = named.get("name") if isinstance(named, dict) else None
    if crs is not None and not (isinstance(named, str) and re.search(r"(CRS84|EPSG:+4326)$", named)):
        raise DataError(f"{name}: its crs is {json.dumps(crs)[:80]}; an extent is in longitude and "
                        "latitude (WGS 84, as RFC 7946 GeoJSON)")
    kind = data.get("type")
    if kind == "FeatureCollection":
        geometries = [f.get("geometry") if isinstance(f, dict) else None for f in data.get("features") or []]
    elif kind == "Feature":
        geometries = [data.get("geometry")]
    else:
        geometries = [data]
    shapes = []
    for geometry in geometries:
        if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            found = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise DataError(f"{name}: a {found} where the extent needs a Polygon or MultiPolygon")
        try:
            with nan_unsaid():  # refused below
                shape = shapely.geometry.shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.ShapelyError) as e:
            raise DataError(f"{name}: an unreadable polygon: {e}") from None
        for lon, lat in shapely.get_coordinates(shape).tolist():
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):  # NaN fails it too
                raise DataError(f"{name}: {lon} {lat} is not a longitude and latitude")
        shapes.append(shapely.make_valid(shape))
    if not shapes:
        raise DataError(f"{name}: no polygon")
    return shapely.union_all(shapes)


def read_extent(path: str | os.PathLike[str]) -> Any:
    """The polygon of a `.poly` or GeoJSON file; DataError when it is not one."""
    import shapely

    path = Path(path)
    text = _text(path)
    parse = parse_poly if path.suffix.lower() == ".poly" else parse_geojson
    polygon = shapely.make_valid(parse(text, str(path)))
    if polygon.is_empty or polygon.area == 0:
        raise DataError(f"{path}: the extent has no area")
    return polygon


def poly_beside(pbf: str | os.PathLike[str]) -> Path:
    """Where the `.poly` of an extract lies: NAME.poly beside NAME.osm.pbf (or NAME.pbf)."""
    pbf = Path(pbf)
    name = pbf.name
    for suffix in (".osm.pbf", ".osh.pbf", ".pbf"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return pbf.with_name(f"{name}.poly")


def extent_of(pbf: str | os.PathLike[str], given: str | os.PathLike[str] | None = None
              ) -> tuple[Any, str | None]:
    """The extent of an extract and the file it comes from: `given`, else the `.poly`
    beside it; (None, None) when neither."""
    path = Path(given) if given is not None else poly_beside(pbf)
    if given is None and not path.is_file():
        return None, None
    return read_extent(path), str(path)
