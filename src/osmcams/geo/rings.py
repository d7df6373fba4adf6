"""Rings from way geometries, and multipolygons from rings (even-odd rule).

The ways are joined by hand rather than by shapely (issue 22), because measurement says so.
tests/test_geometry.py compares both on every boundary=administrative relation of the ten
extracts in ../shared/data/osm and on the Overpass tests' Beausoleil (195 relations):
- shapely (`node` then `build_area` of the lines) gives the same area for all 62 complete
  relations that close, and for Beausoleil; it refuses the same relations as open (17
  complete, 114 with member ways missing, 1 Overpass);
- but shapely gives an open outline back as dangles, not as the place where the walk stops, so
  a shapely version must pick one of the loose ends: it names another than the walk below in
  6 of the 17 complete open rings (56 of 132 in all), which would change the warnings users see;
- and it is slower: Liechtenstein's 15 complete relations (14,564 points) take 62-64 ms
  against 31-36 ms, the Riviera's 27 take 15-17 ms against 11-12 (benchmarks/rings.py,
  median of 21 runs).
Our areas are `osmium export`'s for all 62, and libosmium refuses the same 17 (tested).
`build_area` of `polygonize_full`'s faces, rather than of the lines, is wrong for enclaves
(Schaan and Planken in Liechtenstein, 2e-5 deg²).
"""

from __future__ import annotations

from collections.abc import Sequence

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
