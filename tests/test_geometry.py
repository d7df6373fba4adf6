"""Rings and multipolygons, synthetic and from the complete Riviera boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from shapely.geometry import Polygon

from osmcams.errors import DataError
from osmcams.geo.areas import areas_km2
from osmcams.geo.rings import build_rings, rings_to_multipolygon

SQUARE = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)]


def _square(x: float, y: float, size: float) -> list[tuple[float, float]]:
    return [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]


def test_ways_join_end_to_end_in_any_direction() -> None:
    lines = [
        [(0.0, 0.0), (4.0, 0.0)],
        [(4.0, 4.0), (4.0, 0.0)],  # reversed
        [(0.0, 4.0), (0.0, 0.0)],
        [(4.0, 4.0), (0.0, 4.0)],
    ]
    (ring,) = build_rings(lines, "test")
    assert ring[0] == ring[-1]
    assert Polygon(ring).equals(Polygon(SQUARE))


def test_an_open_outline_names_the_relation_and_the_loose_end() -> None:
    loose_end = r"relation 7 \(X\): open ring, its outline stops at 0\.0000000,4\.0000000"
    with pytest.raises(DataError, match=loose_end):
        build_rings([[(0.0, 0.0), (4.0, 0.0)]], "relation 7 (X)")


def test_no_usable_way_is_no_ring() -> None:
    with pytest.raises(DataError, match="no closed ring"):
        build_rings([[(1.0, 1.0)]], "r")


def test_holes_and_islands_by_even_odd_nesting() -> None:
    rings = [_square(2, 2, 2), SQUARE, _square(10, 10, 1), _square(2.5, 2.5, 1)]
    shape = rings_to_multipolygon(rings)
    assert shape.geom_type == "MultiPolygon"
    assert shape.is_valid
    assert shape.area == pytest.approx(16 - 4 + 1 + 1)  # the square, its hole, an island in it, an islet
    assert not shape.contains(shapely.Point(2.2, 2.2))
    assert shape.contains(shapely.Point(3, 3))


def test_a_self_touching_ring_becomes_valid() -> None:
    bow_tie = [(0.0, 0.0), (2.0, 2.0), (2.0, 0.0), (0.0, 2.0), (0.0, 0.0)]
    shape = rings_to_multipolygon([bow_tie])
    assert shape.is_valid
    assert shape.area == pytest.approx(2.0)


def test_riviera_boundaries_match_osmium_export(riviera: Path, riviera_scan, osmium_polygons) -> None:
    """The relations we assemble are exactly those libosmium makes polygons of, with the same shape."""
    _, boundaries = riviera_scan
    expected = osmium_polygons(riviera, 8)
    ours = {b.relation_id: b.geometry for b in boundaries if b.geometry is not None}
    assert set(ours) == set(expected) == {174562, 174956, 174958, 2220322}
    for relation_id, geometry in ours.items():
        difference = geometry.symmetric_difference(expected[relation_id]).area
        assert difference < 1e-9 * expected[relation_id].area, relation_id
    # The README calls Menton, Èze, Peille... complete, but their outlines are cut by the box.
    left_out = {b.tags["name"]: b.problem for b in boundaries if b.geometry is None}
    cut = {"Menton", "Roquebrune-Cap-Martin", "Èze", "La Trinité", "Peille", "Peillon", "Drap"}
    assert set(left_out) == cut
    assert all("open ring" in problem for problem in left_out.values())


def _geod_km2(geometry) -> float:
    """pyproj.Geod's area of a (multi)polygon, ring by ring, holes subtracted."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    total = 0.0
    for polygon in getattr(geometry, "geoms", [geometry]):
        rings = [polygon.exterior, *polygon.interiors]
        areas = [abs(geod.polygon_area_perimeter(*ring.xy)[0]) for ring in rings]
        total += areas[0] - sum(areas[1:])
    return total / 1e6


def test_areas_within_1e_6_of_geodesic_on_every_ign_commune(ign_dir: Path, ign_shapes) -> None:
    """The equal-area areas of all 35,357 IGN communes, against pyproj.Geod one ring at a time."""
    shapes = {code: g for path in sorted(ign_dir.glob("*.geojson")) for code, g in ign_shapes(path).items()}
    assert len(shapes) == 35_357
    ours = areas_km2(list(shapes.values()))
    expected = [_geod_km2(g) for g in shapes.values()]
    worst = max((abs(a - e) / e, code) for code, a, e in zip(shapes, ours, expected))
    assert worst[0] < 1e-6, worst


def test_areas_of_large_or_coarse_shapes_stay_geodesic() -> None:
    """A 3° square and a thin sliver with 50 km edges: areas as pyproj.Geod gives them."""
    square = Polygon(_square(1.0, 44.0, 3.0))
    sliver = Polygon([(2.0, 45.0), (2.7, 45.0), (2.7, 45.0005), (2.0, 45.0), (2.0, 45.0)])
    hole = Polygon(_square(1.0, 44.0, 0.4), [_square(1.1, 44.1, 0.1)])
    ours = areas_km2([square, sliver, hole, None])
    expected = [_geod_km2(g) for g in (square, sliver, hole)] + [0.0]
    assert ours.tolist() == pytest.approx(expected, rel=1e-9, abs=0)
