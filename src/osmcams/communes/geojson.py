"""Plain GeoJSON boundary files read without GDAL, three times faster.

What GDAL's GeoJSON driver reads from a FeatureCollection in lon/lat whose features
are (multi)polygons or null geometries with text properties; anything else is left
to GDAL, so that its reading, its warnings and its messages stay the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osmcams.models import gc_paused, nan_unsaid

COLLECTION_KEYS = {"type", "features", "name", "bbox"}
FEATURE_KEYS = {"type", "geometry", "properties", "bbox"}
GEOMETRY_KEYS = {"type", "coordinates", "bbox"}


@gc_paused()  # hundreds of thousands of coordinate lists, made and dropped meanwhile
def read_plain_geojson(path: Path) -> tuple[dict[str, list[Any]], Any, str] | None:
    """The columns (properties, None where absent, in order of appearance), the geometries
    (None where null) and the CRS of a plain GeoJSON file; None when it is not plain."""
    import orjson

    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.keys() - COLLECTION_KEYS or data.get("type") != "FeatureCollection":
        return None
    features = data.get("features")
    if not isinstance(features, list) or not features:
        return None
    columns = _columns(features)
    geometries = None if columns is None else _geometries(features)
    return None if columns is None or geometries is None else (columns, geometries, "EPSG:4326")


def _columns(features: list[Any]) -> dict[str, list[Any]] | None:
    """The properties of `features` as columns, if they are all text or null."""
    columns: dict[str, list[Any]] = {}
    for number, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.keys() - FEATURE_KEYS or feature.get("type") != "Feature":
            return None
        properties = feature.get("properties")
        if not isinstance(properties, dict):
            return None
        for key, value in properties.items():
            if not isinstance(value, str) and value is not None:
                return None  # GDAL chooses the type of a field of numbers
            columns.setdefault(key, [None] * number)
        for key, values in columns.items():
            values.append(properties.get(key))
    return columns


def _geometries(features: list[Any]) -> Any:
    """The (multi)polygons of `features` in lon/lat pairs, built at once; None if any other."""
    import numpy
    import shapely

    kinds: list[str | None] = []
    coords: list[Any] = []
    ring_sizes: list[int] = []  # positions per ring
    polygon_sizes: list[int] = []  # rings per polygon
    parts: list[int] = []  # polygons per feature
    for feature in features:
        geometry = feature.get("geometry")
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if geometry is None:
            polygons: Any = []
        elif kind in ("Polygon", "MultiPolygon") and geometry.keys() <= GEOMETRY_KEYS:
            coordinates = geometry.get("coordinates")
            polygons = [coordinates] if kind == "Polygon" else coordinates
            if not isinstance(polygons, list) or not polygons:
                return None
        else:
            return None
        kinds.append(kind)
        parts.append(len(polygons))
        for polygon in polygons:
            if not isinstance(polygon, list) or not polygon:
                return None
            polygon_sizes.append(len(polygon))
            for ring in polygon:
                if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
                    return None  # GDAL's own reading of unclosed or short rings
                ring_sizes.append(len(ring))
                coords.extend(ring)
    try:
        xy = numpy.array(coords)
    except ValueError:  # positions of several sizes
        return None
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.dtype.kind not in "fi":  # pairs of numbers only
        return None
    with nan_unsaid():  # check_outlines refuses the outline
        rings = shapely.linearrings(xy.astype(float), indices=_owners(ring_sizes))
    polygons = shapely.polygons(rings, indices=_owners(polygon_sizes))
    owner = _owners(parts)  # the feature of each polygon
    kind_of = numpy.array(kinds, dtype=object)
    single = kind_of[owner] == "Polygon"
    geometries = numpy.full(len(features), None, dtype=object)
    geometries[owner[single]] = polygons[single]
    multi = numpy.flatnonzero(kind_of == "MultiPolygon")
    if len(multi):
        sizes = numpy.asarray(parts)[multi]
        geometries[multi] = shapely.multipolygons(polygons[~single], indices=_owners(sizes))
    return geometries


def _owners(sizes: Any) -> Any:
    """For groups of `sizes` items, the group of each item: [2, 1] -> [0, 0, 1]."""
    import numpy

    return numpy.repeat(numpy.arange(len(sizes)), sizes)
