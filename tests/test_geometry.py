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


def test_pieces_of_communes_are_measured_to_the_precision_of_the_whole(ign_dir: Path, ign_shapes) -> None:
    """Communes of the Alpes-Maritimes cut by a grid of 0.005° cells, as coverage cuts them:
    the pieces' areas, judged against their commune's (`whole_km2`), add up per commune
    within 1e-6 of pyproj.Geod's areas of the same pieces."""
    import numpy

    shapes = list(ign_shapes(ign_dir / "communes-06-alpes-maritimes.geojson").values())[:40]
    cells = [shapely.box(x, y, x + 0.005, y + 0.005)
             for x in numpy.arange(6.6, 7.8, 0.005) for y in numpy.arange(43.4, 44.4, 0.005)]
    tree = shapely.STRtree(cells)
    which, cell = tree.query(shapes, predicate="intersects")
    pieces = shapely.intersection(numpy.array(shapes, dtype=object)[which], numpy.array(cells)[cell])
    whole = areas_km2(shapes)
    ours = numpy.bincount(which, weights=areas_km2(pieces, whole[which]), minlength=len(shapes))
    expected = numpy.bincount(which, weights=[_geod_km2(p) for p in pieces], minlength=len(shapes))
    assert len(pieces) > 5_000
    assert numpy.max(numpy.abs(ours - expected) / whole) < 1e-6


def test_areas_of_large_or_coarse_shapes_stay_geodesic() -> None:
    """A 3° square and a thin sliver with 50 km edges: areas as pyproj.Geod gives them."""
    square = Polygon(_square(1.0, 44.0, 3.0))
    sliver = Polygon([(2.0, 45.0), (2.7, 45.0), (2.7, 45.0005), (2.0, 45.0), (2.0, 45.0)])
    hole = Polygon(_square(1.0, 44.0, 0.4), [_square(1.1, 44.1, 0.1)])
    ours = areas_km2([square, sliver, hole, None])
    expected = [_geod_km2(g) for g in (square, sliver, hole)] + [0.0]
    assert ours.tolist() == pytest.approx(expected, rel=1e-9, abs=0)


# --- shapely's polygonize against our ring assembly, on every real admin boundary --------

EXTRACTS = [
    "monaco-2025-02-07.osm.pbf",
    "monaco-2021-04-21.osm.pbf",
    "helsinki-2019.osm.pbf",
    "saint-barthelemy/saint_barthelemy.osm.pbf",
    "big/graphhopper-rnv-rhein-neckar-2016.osm.pbf",
    "big/osrm-monaco-fr-riviera-2016.osm.pbf",
    "big/valhalla-bench-london-2020.osm.pbf",
    "big/valhalla-bench-munchen-2020.osm.pbf",
    "big/valhalla-docker-andorra-2021.osm.pbf",
    "big/valhalla-docker-liechtenstein-2021.osm.pbf",
]
Lines = list[list[tuple[float, float]]]


def _admin_relations(path: Path) -> list[tuple[str, bool, Lines]]:
    """Every boundary=administrative relation (all levels): label, complete, its present way lines."""
    import osmium

    relations = [
        (r.id, r.tags.get("name", "unnamed"), [m.ref for m in r.members if m.type == "w"])
        for r in osmium.FileProcessor(str(path), osmium.osm.RELATION)
        if r.tags.get("boundary") == "administrative"
    ]
    wanted = {ref for _, _, refs in relations for ref in refs}
    lines = {
        w.id: [(n.location.lon, n.location.lat) for n in w.nodes]
        for w in osmium.FileProcessor(str(path), osmium.osm.WAY | osmium.osm.NODE).with_locations()
        if w.is_way() and w.id in wanted and all(n.location.valid() for n in w.nodes)
    }
    return [
        (f"relation {rid} ({name})", bool(refs) and all(r in lines for r in refs),
         [lines[r] for r in refs if r in lines])
        for rid, name, refs in relations
    ]


def _loose_ends(lines: Lines) -> set[str]:
    """The way ends met an odd number of times, as a DataError names them (lat,lon)."""
    from collections import Counter

    ends = Counter(f"{p[1]:.7f},{p[0]:.7f}" for line in lines if len(line) >= 2 for p in (line[0], line[-1]))
    return {end for end, n in ends.items() if n % 2}


def _polygonized(lines: Lines) -> tuple[object, str | None]:
    """shapely's reading of the same lines: (area, None) or (None, why not)."""
    from shapely.geometry import MultiLineString, MultiPolygon

    usable = [line for line in lines if len(line) >= 2]
    loose = _loose_ends(usable)
    if loose:
        return None, f"open ring, its outline stops at {min(loose)}"
    noded = shapely.node(MultiLineString(usable))
    _, cuts, dangles, invalid = shapely.polygonize_full([noded])
    assert cuts.is_empty and dangles.is_empty and invalid.is_empty  # every end is met an even number of times
    area = shapely.build_area(noded)
    if area.is_empty:
        return None, "no closed ring"
    return MultiPolygon(list(getattr(area, "geoms", [area]))), None


def _ours(lines: Lines, label: str) -> tuple[object, str | None]:
    try:
        return rings_to_multipolygon(build_rings(lines, label)), None
    except DataError as e:
        return None, str(e).removeprefix(f"{label}: ")


def _compare(tally: dict[str, int], kind: str, ours: tuple, theirs: tuple, lines: Lines) -> None:
    """Count one relation; fail on any difference but the loose end an open ring is named by."""
    (mine, my_error), (shape, their_error) = ours, theirs
    assert (my_error is None) == (their_error is None), (my_error, their_error)
    if my_error is None:
        assert mine.is_valid and shape.is_valid
        assert mine.equals(shape) or mine.symmetric_difference(shape).area < 1e-12
        outcome = "identical area"
    elif my_error == their_error:
        outcome = "same error"
    else:
        prefix = "open ring, its outline stops at "
        assert my_error.startswith(prefix) and their_error.startswith(prefix)
        assert {my_error, their_error} <= {prefix + end for end in _loose_ends(lines)}
        outcome = "open ring, another loose end named"
    key = f"{kind}: {outcome}"
    tally[key] = tally.get(key, 0) + 1


def test_shapely_polygonize_agrees_on_every_real_admin_boundary(osm_dir: Path, riviera: Path) -> None:
    """Every admin relation of every extract, and the Overpass tests' relations: shapely vs ours.

    Areas and the relations refused are the same; an open ring is often named by another of its
    loose ends (both are true), which is why geo/rings.py keeps its own assembly (see its comment).
    """
    from fake_services import boundary_element

    from osmcams.sources.overpass import boundary

    tally: dict[str, int] = {}
    for name in EXTRACTS:
        for label, complete, lines in _admin_relations(osm_dir / name):
            if lines:
                kind = "complete" if complete else "ways missing"
                _compare(tally, kind, _ours(lines, label), _polygonized(lines), lines)
    beausoleil = boundary_element(riviera, "06012")
    for element in (beausoleil, {**beausoleil, "members": beausoleil["members"][1:]}):
        label = f"relation {element['id']} ({element['tags']['name']})"
        lines = [
            [(p["lon"], p["lat"]) for p in m["geometry"]]
            for m in element["members"] if m["role"] in ("outer", "inner", "")
        ]
        try:
            ours: tuple = (boundary(element).geometry, None)
        except DataError as e:
            ours = (None, str(e).removeprefix(f"{label}: "))
        _compare(tally, "overpass", ours, _polygonized(lines), lines)
    print(tally)
    assert tally["complete: identical area"] > 60 and tally["overpass: identical area"] == 1
    assert tally["complete: open ring, another loose end named"] > 0


def test_our_rings_are_osmiums_on_every_real_admin_boundary(osm_dir: Path, tmp_path: Path) -> None:
    """Every complete admin relation of every extract: our area is `osmium export`'s, and the
    relations we refuse as open are those libosmium makes no polygon of."""
    import json

    from conftest import run_osmium
    from shapely.geometry import shape

    assembled = refused = 0
    for name in EXTRACTS:
        filtered = tmp_path / "boundaries.osm.pbf"
        run_osmium("tags-filter", "-O", osm_dir / name, "r/boundary=administrative", "-o", filtered)
        text = run_osmium("export", filtered, "--geometry-types=polygon", "-f", "geojsonseq",
                          "-a", "type,id", "-o", "-")
        features = [json.loads(line.strip("\x1e")) for line in text.splitlines() if line.strip("\x1e")]
        expected = {
            int(f["properties"]["@id"]): shape(f["geometry"])
            for f in features if f["properties"]["@type"] == "relation"
        }
        for label, complete, lines in _admin_relations(osm_dir / name):
            relation_id = int(label.split()[1])
            if not complete:
                continue
            ours, error = _ours(lines, label)
            if error is not None:
                assert relation_id not in expected, (name, label, error)
                refused += 1
                continue
            difference = ours.symmetric_difference(expected[relation_id]).area
            assert difference < 1e-9 * expected[relation_id].area, (name, label)
            assembled += 1
    print(f"{assembled} relations as osmium makes them, {refused} refused by both")
    assert assembled > 60 and refused > 0
