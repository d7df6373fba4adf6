"""Rings from way geometries, multipolygons from rings (even-odd rule), geodesic areas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from osmcams.errors import DataError

Point = tuple[float, float]


def _key(point: Point) -> tuple[int, int]:
    return round(point[0] * 1e7), round(point[1] * 1e7)


def build_rings(lines: Sequence[Sequence[Point]], label: str) -> list[list[Point]]:
    """Join way geometries end to end into closed rings.

    Raises DataError naming `label` and the loose end when a ring cannot be closed.
    """
    pending = {i: list(line) for i, line in enumerate(lines) if len(line) >= 2}
    ends: dict[tuple[int, int], set[int]] = {}
    for i, line in pending.items():
        ends.setdefault(_key(line[0]), set()).add(i)
        ends.setdefault(_key(line[-1]), set()).add(i)

    def take(i: int) -> list[Point]:
        line = pending.pop(i)
        ends[_key(line[0])].discard(i)
        ends[_key(line[-1])].discard(i)
        return line

    rings = []
    while pending:
        ring = take(next(iter(pending)))
        while _key(ring[0]) != _key(ring[-1]):
            tail = _key(ring[-1])
            if not ends.get(tail):
                lon, lat = ring[-1]
                raise DataError(f"{label}: open ring, its outline stops at {lat:.7f},{lon:.7f}")
            line = take(next(iter(ends[tail])))
            ring.extend(line[1:] if _key(line[0]) == tail else line[-2::-1])
        if len(ring) >= 4:
            rings.append(ring)
    if not rings:
        raise DataError(f"{label}: no closed ring")
    return rings


def rings_to_multipolygon(rings: Sequence[Sequence[Point]]):
    """A valid MultiPolygon from rings, nested by the even-odd rule (holes, islands)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    shapes = sorted(
        (shapely.make_valid(Polygon(ring)) for ring in rings), key=lambda p: -p.area
    )
    result = shapes[0]
    for shape in shapes[1:]:
        result = result.symmetric_difference(shape)
    parts = [g for g in getattr(result, "geoms", [result]) if isinstance(g, Polygon)]
    parts += [
        p
        for g in getattr(result, "geoms", [])
        if isinstance(g, MultiPolygon)
        for p in g.geoms
    ]
    return MultiPolygon(parts)


def areas_km2(geometries: Any) -> Any:
    """Geodesic areas on the WGS84 ellipsoid, in km², of (multi)polygons in lon/lat."""
    import numpy
    import shapely
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    polygons, owner = shapely.get_parts(numpy.asarray(geometries), return_index=True)
    rings, polygon = shapely.get_rings(polygons, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    ends = numpy.cumsum(numpy.bincount(ring, minlength=len(rings)))[:-1]
    ring_areas = numpy.array([
        abs(geod.polygon_area_perimeter(lons, lats)[0])
        for lons, lats in zip(numpy.split(coords[:, 0], ends), numpy.split(coords[:, 1], ends))
    ])
    exterior = numpy.r_[True, polygon[1:] != polygon[:-1]]
    signed = numpy.where(exterior, ring_areas, -ring_areas)
    return numpy.bincount(owner[polygon], weights=signed, minlength=len(geometries)) / 1e6


def out_of_range(geometries: Any) -> Any:
    """Which geometries have a coordinate beyond longitude ±180 or latitude ±90."""
    import numpy
    import shapely

    west, south, east, north = shapely.bounds(numpy.asarray(geometries)).T
    return (west < -180) | (east > 180) | (south < -90) | (north > 90)


def repair(geometries: Any) -> tuple[Any, Any, list[str], Any, Any]:
    """Valid versions of the invalid (multi)polygons among `geometries`.

    Returns the repaired shapes (only their polygons kept), their positions, why each
    was invalid, and the areas in km² before and after.
    """
    import numpy
    import shapely
    from shapely.geometry import MultiPolygon

    geometries = numpy.asarray(geometries)
    index = numpy.flatnonzero(~shapely.is_valid(geometries))
    broken = geometries[index]
    reasons = [str(r) for r in shapely.is_valid_reason(broken)]
    fixed = []
    for shape in shapely.make_valid(broken):
        parts = [p for p in shapely.get_parts(shape) if p.geom_type in ("Polygon", "MultiPolygon")]
        union = shapely.union_all(parts) if parts else MultiPolygon()
        fixed.append(union)
    repaired = numpy.array(fixed, dtype=object)
    return repaired, index, reasons, areas_km2(broken), areas_km2(repaired)
