"""Rings from way geometries, and multipolygons from rings (even-odd rule)."""

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
