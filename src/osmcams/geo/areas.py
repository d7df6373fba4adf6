"""Ellipsoidal areas of lon/lat geometries, and checks of their coordinates."""

from __future__ import annotations

import math
from typing import Any

# WGS84, and the constants of its Lambert azimuthal equal-area projection.
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
_E2 = WGS84_F * (2 - WGS84_F)
_E = _E2**0.5
_Q_POLE = 1 / (1 - _E2) - math.log((1 - _E) / (1 + _E)) / (2 * _E)  # q(90°) / (1 - e²)
_R_AUTHALIC = WGS84_A * math.sqrt((1 - _E2) * _Q_POLE / 2)
# Straight edges in the projection stray from the geodesics by about
# e²/a · L³/12 m² per edge of length L (the authalic latitude bends them):
# geometries whose edges could add up to more than CHORD_BOUND of their area,
# or wider than GEODESIC_SPAN degrees, get the geodesic area instead.
CHORD_ERROR = 2e-10  # m² per m³ of edge, over twice e²/(12a) = 8.8e-11
CHORD_BOUND = 4e-7
GEODESIC_SPAN = 0.5
AREA_BATCH = 4096


def _sin_authalic(lat: Any) -> Any:
    """The sine of the authalic latitude of WGS84 latitudes (degrees), after Snyder."""
    import numpy

    sin_lat = numpy.sin(numpy.radians(lat))
    es = _E * sin_lat
    q = sin_lat / (1 - es * es) - numpy.log((1 - es) / (1 + es)) / (2 * _E)
    return q / _Q_POLE


def _equal_area_xy(lon: Any, lat: Any, lon0: Any, lat0: Any, owner: Any) -> tuple[Any, Any]:
    """Lambert azimuthal equal-area (WGS84, metres) of points about their owner's centre.

    Point i is projected about centre owner[i] of (lon0, lat0). Area is kept exactly.
    """
    import numpy

    sin0 = _sin_authalic(lat0)
    cos0 = numpy.sqrt(1 - sin0 * sin0)
    sin_phi0 = numpy.sin(numpy.radians(lat0))
    d = numpy.cos(numpy.radians(lat0)) / numpy.sqrt(1 - _E2 * sin_phi0 * sin_phi0)
    d *= WGS84_A / (_R_AUTHALIC * cos0)
    sin0, cos0, d = sin0[owner], cos0[owner], d[owner]
    sin_b = _sin_authalic(lat)
    cos_b = numpy.sqrt(1 - sin_b * sin_b)
    dlon = numpy.radians(lon - lon0[owner])
    cos_l = numpy.cos(dlon)
    k = _R_AUTHALIC * numpy.sqrt(2 / (1 + sin0 * sin_b + cos0 * cos_b * cos_l))
    return k * d * cos_b * numpy.sin(dlon), k / d * (cos0 * sin_b - sin0 * cos_b * cos_l)


def areas_km2(geometries: Any, whole_km2: Any = None) -> Any:
    """Areas on the WGS84 ellipsoid, in km², of (multi)polygons in lon/lat.

    Each geometry is projected in Lambert azimuthal equal-area about the centre of
    its bounding box, AREA_BATCH geometries at a time (to bound memory); the few
    whose straight edges could stray from the geodesic area by more than
    CHORD_BOUND get pyproj.Geod's geodesic area. `whole_km2`: for pieces cut from
    larger shapes, the areas of those shapes, against which the straying is then
    judged, since it is their share that is sought.
    """
    import numpy

    geometries = numpy.asarray(geometries, dtype=object)
    whole = numpy.zeros(len(geometries)) if whole_km2 is None else numpy.asarray(whole_km2, float) * 1e6
    batches = [_areas_m2(geometries[i : i + AREA_BATCH], whole[i : i + AREA_BATCH])
               for i in range(0, len(geometries), AREA_BATCH)]
    return numpy.concatenate(batches) / 1e6 if batches else numpy.zeros(0)


def _areas_m2(geometries: Any, whole_m2: Any) -> Any:
    import numpy
    import shapely

    polygons, owner = shapely.get_parts(geometries, return_index=True)
    rings, polygon = shapely.get_rings(polygons, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    by_ring = owner[polygon]
    bounds = shapely.bounds(geometries)
    centre = (bounds[:, :2] + bounds[:, 2:]) / 2
    vertex_owner = by_ring[ring]
    x, y = _equal_area_xy(coords[:, 0], coords[:, 1], centre[:, 0], centre[:, 1], vertex_owner)
    same_ring = ring[1:] == ring[:-1]
    cross = numpy.where(same_ring, x[:-1] * y[1:] - x[1:] * y[:-1], 0.0)
    cubes = numpy.where(same_ring, numpy.hypot(x[1:] - x[:-1], y[1:] - y[:-1]) ** 3, 0.0)
    ring_areas = numpy.abs(numpy.bincount(ring[1:], weights=cross, minlength=len(rings))) / 2
    hole = numpy.r_[False, polygon[1:] == polygon[:-1]]
    count = len(geometries)

    def total() -> Any:
        signed = numpy.where(hole, -ring_areas, ring_areas)
        return numpy.bincount(by_ring, weights=signed, minlength=count)

    areas = total()
    edges = numpy.bincount(vertex_owner[1:], weights=cubes, minlength=count)
    span = numpy.fmax(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    loose = (span > GEODESIC_SPAN) | (CHORD_ERROR * edges > CHORD_BOUND * numpy.fmax(areas, whole_m2))
    if loose.any():
        from pyproj import Geod

        geod = Geod(ellps="WGS84")
        starts = numpy.searchsorted(ring, numpy.arange(len(rings) + 1))
        for r in numpy.flatnonzero(loose[by_ring]).tolist():
            lon, lat = coords[starts[r] : starts[r + 1]].T
            ring_areas[r] = abs(geod.polygon_area_perimeter(lon, lat)[0])
        areas = total()
    return areas


def out_of_range(geometries: Any) -> Any:
    """Which geometries have a coordinate beyond longitude ±180 or latitude ±90."""
    import numpy
    import shapely

    west, south, east, north = shapely.bounds(numpy.asarray(geometries)).T
    return (west < -180) | (east > 180) | (south < -90) | (north > 90)


class NotNumbers(ValueError):
    """Geometries with a coordinate that is not a number (NaN) or is infinite: no repair
    makes them a place."""

    def __init__(self, positions: list[int]) -> None:
        super().__init__(f"{len(positions)} geometries with coordinates that are not numbers")
        self.positions = positions


def repair(geometries: Any) -> tuple[Any, Any, list[str], Any, Any]:
    """Valid versions of the invalid (multi)polygons among `geometries`.

    Returns the repaired shapes (only their polygons kept), their positions, why each
    was invalid, and the areas in km² before and after. NotNumbers for those with a
    coordinate that is NaN or infinite.
    """
    import numpy
    import shapely
    from shapely.geometry import MultiPolygon

    geometries = numpy.asarray(geometries)
    index = numpy.flatnonzero(~shapely.is_valid(geometries))
    broken = geometries[index]
    reasons = [str(r) for r in shapely.is_valid_reason(broken)]
    unplaced = [int(i) for i, r in zip(index, reasons) if r.startswith("Invalid Coordinate")]
    if unplaced:
        raise NotNumbers(unplaced)
    fixed = []
    for shape in shapely.make_valid(broken):
        parts = [p for p in shapely.get_parts(shape) if p.geom_type in ("Polygon", "MultiPolygon")]
        union = shapely.union_all(parts) if parts else MultiPolygon()
        fixed.append(union)
    repaired = numpy.array(fixed, dtype=object)
    return repaired, index, reasons, areas_km2(broken), areas_km2(repaired)
