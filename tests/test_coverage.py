"""Never a 0 where there is no data: coverage from the header box and the sampled nodes.

Expectations come from osmium-tool (every node location of the file) and shapely/pyproj.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy
import pytest
import shapely
from click.testing import CliRunner
from conftest import benchmark_script, run_osmium
from pyproj import Geod

from osmcams.cli import cli
from osmcams.errors import ExitCode


def invoke(*args: str | Path):
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args])


def strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def standalone_nodes(pbf: Path):
    """The tagged nodes of a file that no way refers to, read by osmium-tool, as points."""
    text = run_osmium("cat", pbf, "-t", "node", "-t", "way", "-f", "opl", "-o", "-")
    referred = {ref for refs in re.findall(r"^w\S+ .* N(\S*)$", text, re.M)
                for ref in refs.split(",") if ref}
    found = re.findall(r"^n(\d+) .* T(\S+) x(\S+) y(\S+)$", text, re.M)
    return shapely.points(numpy.array([(float(x), float(y)) for i, _, x, y in found
                                       if f"n{i}" not in referred]).reshape(-1, 2))


def km2(geometry) -> float:
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geometry)[0]) / 1e6


def test_no_count_where_the_extract_has_no_data(
    monaco_2025: Path, communes_06: Path, ign_dir: Path, cog_population: Path, ign_shapes
) -> None:
    """The openstreetmap.fr Monaco extract keeps whole the ways that cross its cut: their
    nodes far into France are no evidence of data, its standalone nodes are."""
    common = ("--pbf", monaco_2025, "--boundaries", communes_06, "--population", cog_population, "-q")
    for name in ("Nice", "Menton", "Peille"):  # no standalone node of the file lies there
        result = invoke("count", "--commune", name, *common)
        assert result.exit_code == ExitCode.DATA, result.output
        assert "outside the data of" in result.stderr.splitlines()[-1]
    result = invoke("count", "--commune", "Nantes", "--pbf", monaco_2025, "--boundaries",
                    ign_dir / "communes-44-loire-atlantique.geojson", "-q")
    assert result.exit_code == ExitCode.DATA
    result = invoke("count", "--department", "06", *common, "-f", "json", "--include-partial")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    assert data["meta"]["coverage_from"] == "estimated from the data"
    rows = {r["insee"]: r for r in data["communes"]}
    shapes = ign_shapes(communes_06)
    tree = shapely.STRtree(standalone_nodes(monaco_2025))
    alone = {code: len(tree.query(shape, predicate="contains")) for code, shape in shapes.items()}
    # Every commune with many standalone nodes is counted, none without any (or a camera).
    assert {code for code, n in alone.items() if n >= 100} <= set(rows)
    assert not {code for code, n in alone.items() if n == 0} & set(rows)
    for row in rows.values():
        assert 0.02 <= row["coverage"] <= 1 or row["cameras"]
        assert (row["note"] is None) == (row["coverage"] == 1)
    # The audit's true shares (node density against a complete extract; standalone nodes):
    # never more, a little less at most.
    for code, low, high in [("06012", 0.25, 0.52), ("06032", 0.05, 0.25), ("06150", 0, 0.07),
                            ("06104", 0, 0.07)]:
        assert low <= (rows[code]["coverage"] if code in rows else 0) <= high, code
    assert rows["06012"]["cameras"] == 1 and rows["06032"]["cameras"] == 1  # their cameras
    left_out = next(w for w in data["warnings"] if "have no count" in w)
    assert f"{163 - len(rows)} communes lie outside the data" in left_out
    assert "Nice (06088)" in left_out and "Peille (06091)" in left_out  # the JSON lists them all …
    stderr = next(line for line in result.stderr.splitlines() if "have no count" in line)
    assert "more (--format json lists them all)" in stderr and len(stderr) < 400  # … the terminal a few


def test_the_header_box_is_an_upper_bound(
    shared_data: Path, communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """The Riviera 2016 bounding-box extract: its header box is its cut. Without its
    extent, no commune gets more than its share of the box, nor much less where the
    data is dense."""
    pbf = shared_data / "osm/big/osrm-monaco-fr-riviera-2016.osm.pbf"
    shapes = ign_shapes(communes_06)
    box = shapely.box(7.349, 43.71, 7.491, 43.77)  # its header, as `osmium fileinfo` shows it
    truth = true_shares(shapes, box)
    assert 0.02 < truth["06083"] < 0.04  # Menton
    result = invoke("count", "--department", "06", "--pbf", pbf, "--boundaries", communes_06,
                    "--include-partial",
                    "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in strict_json(result.stdout)["communes"]}
    assert set(rows) <= {code for code, share in truth.items() if share >= 0.02}
    for code, row in rows.items():
        assert row["coverage"] <= printed(truth[code]) + 0.01, code
    for code in ("06012", "06032", "06150", "06059"):  # Beausoleil, Cap-d'Ail, La Turbie, Èze
        assert rows[code]["coverage"] >= printed(truth[code]) - 0.35, code
    extent = tmp_path / "box.geojson"  # its cut, when told
    extent.write_text(json.dumps(shapely.geometry.mapping(box)))
    with_extent = invoke("count", "--commune", "Menton", "--pbf", pbf, "--boundaries", communes_06,
                         "--extent", extent, "-f", "csv", "-q")
    header, row = with_extent.stdout.splitlines()
    values = dict(zip(header.split(","), row.split(",")))
    assert float(values["coverage"]) == pytest.approx(truth["06083"], abs=0.01)
    assert values["cameras"] == "0" and "partial data" in values["note"]


def test_json_without_a_department_is_strict_json(monaco_2025: Path, tmp_path: Path) -> None:
    square = {"type": "Feature", "properties": {"code": "99001", "nom": "Carré"}, "geometry": {
        "type": "Polygon", "coordinates": [[[7.41, 43.73], [7.43, 43.73], [7.43, 43.74], [7.41, 43.74],
                                            [7.41, 43.73]]]}}
    path = tmp_path / "square.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [square]}))
    result = invoke("count", "--all", "--pbf", monaco_2025, "--boundaries", path, "-f", "json",
                    "-q", "--include-partial")
    assert result.exit_code == 0, result.output
    (row,) = strict_json(result.stdout)["communes"]
    assert 0.8 <= row["coverage"] <= 1  # a little of it in the sea, where no node lies


class Pieces(NamedTuple):
    """München tiled over France, 0.6 by 0.5 degrees apart (3 MB: 5 tiles), and the ids of
    the nodes its ways refer to (pyosmium)."""

    pbf: Path
    tiles: int
    on_ways: set[int]


@pytest.fixture(scope="module")
def pieces(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Pieces:
    import osmium

    with pytest.MonkeyPatch.context() as patch:
        tiling = benchmark_script("make_tiled_pbf", patch)
        pbf = tmp_path_factory.mktemp("pieces") / "pieces.osm.pbf"
        built = tiling.build(shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf", 3, pbf,
                             spread=(0.6, 0.5))
    on_ways = {n.ref for o in osmium.FileProcessor(str(pbf), osmium.osm.WAY) for n in o.nodes}
    return Pieces(pbf, built["tiles"], on_ways)


def test_a_file_of_pieces_counts_the_pieces_it_did_not_sample(
    pieces: Pieces, ign_dir: Path, ign_shapes, osm_cameras, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tiles whose node ids do not mix: the sampling (cut to one block here) sees one tile,
    the cameras of the others still show where the file has data (those no way refers
    to), and are all counted."""
    import pyogrio

    from osmcams.sources.osm import blocks

    pbf = pieces.pbf
    assert pieces.tiles >= 3
    monkeypatch.setattr(blocks, "SAMPLED_BLOCKS", 1)

    found = osm_cameras(pbf)
    cameras = shapely.points([(o.lon, o.lat) for o in found])
    alone = shapely.points([(o.lon, o.lat) for o in found
                            if o.kind == "n" and o.osm_id not in pieces.on_ways])
    west, south, east, north = shapely.total_bounds(cameras)
    files = [f for f in sorted(ign_dir.glob("*.geojson"))
             if shapely.intersects(shapely.box(*pyogrio.read_info(f)["total_bounds"]),
                                   shapely.box(west, south, east, north))]
    shapes = {code: shape for f in files for code, shape in ign_shapes(f).items()}
    expected = {code: int(shapely.contains(shape, cameras).sum()) for code, shape in shapes.items()}
    expected = {code: n for code, n in expected.items() if n}
    assert len(expected) >= 3

    boundaries = tmp_path / "communes"
    boundaries.mkdir()
    for f in files:
        (boundaries / f.name).symlink_to(f)
    result = invoke("count", "--all", "--pbf", pbf, "--boundaries", boundaries, "-f", "json", "-q",
                    "--include-partial")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in strict_json(result.stdout)["communes"]}
    assert {code: rows[code]["cameras"] for code in expected if code in rows} == expected
    evidence = [code for code in expected if shapely.contains(shapes[code], alone).any()]
    assert len(evidence) >= 3 and all(0 < rows[code]["coverage"] <= 1 for code in evidence)


def test_a_camera_on_a_way_is_no_evidence_where_the_sampling_missed_it(
    pieces: Pieces, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """München tiled over France (3 MB, 5 tiles), the sampling cut to one block: the cameras
    of the tiles it missed show where the file has data, but not those that a way refers to (31 of
    München's 209). The ways that cross its cut leave their cameras beyond it, one 2.3 km
    to the west, which the estimate used to reach out to."""
    import osmium

    from osmcams.sources.osm import blocks
    from osmcams.sources.osm.pbf import read_cameras

    pbf, on_ways = pieces.pbf, pieces.on_ways
    monkeypatch.setattr(blocks, "SAMPLED_BLOCKS", 1)
    cameras = {o.id: (round(o.location.lon, 7), round(o.location.lat, 7))  # pyosmium, apart from the sieve
               for o in osmium.FileProcessor(str(pbf), osmium.osm.NODE)
               if o.tags.get("man_made") == "surveillance"}
    alone = {at for i, at in cameras.items() if i not in on_ways}
    on_a_way = {at for i, at in cameras.items() if i in on_ways} - alone
    assert len(on_a_way) >= 3 * 25

    extract = read_cameras(pbf)
    assert extract.standalone is not None
    points = {(round(x, 7), round(y, 7)) for x, y in extract.standalone[0].tolist()}
    assert alone <= points
    assert not on_a_way & points
    # Those far from every camera standing alone lie beyond the cut: outside the estimate.
    lone = shapely.points(list(alone))
    beyond = [at for at in on_a_way if shapely.distance(shapely.Point(at), lone).min() > 0.01]
    assert beyond
    assert extract.data_area is not None
    assert not shapely.intersects(extract.data_area, shapely.points(beyond)).any()
    # Sifted by worker processes, which read the ids sought from a file: the same points.
    from osmcams.sources.osm import sieve

    monkeypatch.setattr(sieve, "IN_PROCESS_BYTES", 0)
    by_workers = read_cameras(pbf, threads=2).standalone
    assert by_workers is not None and numpy.array_equal(by_workers[0], extract.standalone[0])


def test_the_tiled_benchmark_is_measured_against_its_tiles(
    pieces: Pieces, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`benchmarks/coverage.py --tiled` on München tiled over France (3 MB, 5 tiles), the
    sampling cut to one block: the truth is the union of the tiles' boxes of standalone nodes (pyosmium);
    no commune outside a tile gets a count, none is over the truth, and the communes the
    tiles meet are found."""
    from osmcams.sources.osm import blocks

    monkeypatch.setattr(blocks, "SAMPLED_BLOCKS", 1)
    result = benchmark_script("coverage", monkeypatch).tiled(pieces.pbf, (0.6, 0.5), False)
    assert result["cut"] == f"pieces.osm.pbf ({pieces.tiles} tiles)" and result["communes"] >= 3
    assert result["max_over"] <= 0.01 and not result["outside_counted"]
    assert result["within"] >= 0.5


def test_cutting_by_small_pieces_gives_the_areas_of_a_whole_cut(communes_06, ign_shapes) -> None:
    """A speckled region of 2,000 cells (as random nodes make): the areas inside it are those
    of shapely's intersection with the whole region (each piece projected about its own centre:
    within a millionth), and the communes that meet it are those that intersect it. With a
    block of land added, the communes wholly inside are those the region contains, whether
    they lie in one piece of it or across several."""
    import numpy
    import shapely

    from osmcams.geo.areas import areas_km2
    from osmcams.join import _inside_km2

    rng = numpy.random.default_rng(1)
    x, y = rng.uniform(6.6, 7.6, 2000), rng.uniform(43.5, 44.3, 2000)
    region = shapely.coverage_union_all(shapely.box(x, y, x + 0.02, y + 0.02))
    region = shapely.union_all(shapely.get_parts(region))
    communes = numpy.array(list(ign_shapes(communes_06).values()), dtype=object)
    cuts = shapely.intersection(communes, region)
    inside, meets, within = _inside_km2(communes, region)
    assert not within.any()
    assert numpy.allclose(inside, areas_km2(cuts), rtol=1e-5, atol=1e-9)
    assert meets.tolist() == shapely.intersects(communes, region).tolist()

    region = shapely.union(region, shapely.box(6.95, 43.6, 7.45, 43.9))
    within = _inside_km2(communes, region)[2]
    assert within.tolist() == shapely.contains(region, communes).tolist()
    assert within.sum() > 50


# --- The extent the extract was cut with -------------------------------------------------

# A polygon of our own with a hole, across Monaco and the French communes around it.
CUT = [(7.36, 43.72), (7.44, 43.715), (7.47, 43.74), (7.43, 43.765), (7.38, 43.76), (7.36, 43.72)]
HOLE = [(7.40, 43.735), (7.41, 43.735), (7.41, 43.745), (7.40, 43.745), (7.40, 43.735)]


def poly_text(outer, hole) -> str:
    lines = ["riviera cut", "1", *(f"   {x:.6E}   {y:.6E}" for x, y in outer), "END",
             "!2", *(f"   {x} {y}" for x, y in hole), "END", "END"]
    return "\n".join(lines) + "\n"


def cut(source: Path, target: Path, strategy: str, polygon=None, box=None, bounds: bool = True) -> Path:
    """`osmium extract` of `source` with `polygon` (a shapely geometry) or `box`; its box in
    the header with `bounds`."""
    where = ["-b", ",".join(map(str, box))] if polygon is None else ["-p", geojson_of(polygon, target)]
    run_osmium("extract", *where, "-s", strategy, *(["--set-bounds"] if bounds else []), source,
               "-o", target, "-O")
    return target


def geojson_of(area, pbf: Path) -> Path:
    """`area` as a GeoJSON Feature beside `pbf`, for `osmium extract -p`."""
    path = pbf.with_suffix(".geojson")
    path.write_text(json.dumps({"type": "Feature", "properties": {},
                                "geometry": shapely.geometry.mapping(area)}))
    return path


def printed(share: float) -> float:
    """A coverage as printed: 1 from 99.5 % on."""
    return 1.0 if share >= 0.995 else share


def true_shares(shapes: dict, area) -> dict[str, float]:
    """The share of each commune inside `area`, with shapely and pyproj."""
    return {code: km2(shape.intersection(area)) / km2(shape) for code, shape in shapes.items()}


@pytest.mark.parametrize("strategy", ["simple", "complete_ways", "smart"])
def test_the_poly_beside_an_extract_gives_the_true_share(
    riviera: Path, communes_06: Path, ign_shapes, tmp_path: Path, strategy: str
) -> None:
    area = shapely.Polygon(CUT, [HOLE])
    pbf = cut(riviera, tmp_path / "riviera-cut.osm.pbf", strategy, polygon=area)
    (tmp_path / "riviera-cut.poly").write_text(poly_text(CUT, HOLE))
    result = invoke("count", "--department", "06", "--pbf", pbf, "--boundaries", communes_06,
                    "--include-partial",
                    "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    assert data["meta"]["coverage_from"] == f"extent: {tmp_path / 'riviera-cut.poly'}"
    rows = {r["insee"]: r for r in data["communes"]}
    truth = true_shares(ign_shapes(communes_06), area)
    assert {code for code, share in truth.items() if share >= 0.02} == set(rows)
    for code, row in rows.items():
        assert row["coverage"] == pytest.approx(printed(truth[code]), abs=0.01), code
    assert not {code for code, share in truth.items() if share == 0} & set(rows)


def test_extent_given_as_geojson_and_box_as_an_upper_bound(
    riviera: Path, communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """--extent FILE wins over the .poly beside; the header box still bounds it."""
    box = (7.40, 43.72, 7.45, 43.76)
    pbf = cut(riviera, tmp_path / "box.osm.pbf", "complete_ways", box=box)
    (tmp_path / "box.poly").write_text(poly_text(CUT, HOLE))  # wrong on purpose: --extent wins
    wide = tmp_path / "wide.geojson"  # wider than the cut: the header box bounds it
    wide.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {},
        "geometry": shapely.geometry.mapping(shapely.box(7.3, 43.6, 7.6, 43.9))}]}))
    result = invoke("count", "--commune", "Beausoleil", "--commune", "Cap-d'Ail", "--commune",
                    "Turbie", "--pbf", pbf, "--boundaries", communes_06, "--extent", wide,
                    "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    assert data["meta"]["coverage_from"] == f"extent: {wide}"
    truth = true_shares(ign_shapes(communes_06), shapely.box(*box))
    for row in data["communes"]:
        assert row["coverage"] == pytest.approx(printed(truth[row["insee"]]), abs=0.01)


@pytest.mark.parametrize("text, message", [
    ("", "empty, not a .poly file"),
    ("x\n1\n 7 43\n 8 43\n 8 44\nEND\n", "ends without the final END"),
    ("x\n1\n 7 43\n 8 43\nEND\nEND\n", "has 2 points, a ring needs 3"),
    ("x\n1\n 7 43\n 8 north\n 8 44\nEND\nEND\n", "line 4: '8 north' is not 'lon lat'"),
    ("x\n1\n 7 43\n 8 43\n 8 94\nEND\nEND\n", "line 5: 8.0 94.0 is not a longitude and latitude"),
    ("x\n1\n 7 43\n 8 43\n 8 44\nEND\nEND\nmore\n", "line 8: text after the final END"),
    ("x\n!1\n 7 43\n 8 43\n 8 44\nEND\nEND\n", "no polygon, only holes"),
    ("x\n1\n 7 43\n 8 43\n 8 44\n", "section '1' (line 2) ends without END"),
])
def test_a_bad_poly_is_one_line_and_exit_4(
    monaco_2025: Path, communes_06: Path, tmp_path: Path, text: str, message: str
) -> None:
    poly = tmp_path / "bad.poly"
    poly.write_text(text)
    result = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries",
                    communes_06, "--extent", poly, "-q")
    assert result.exit_code == ExitCode.DATA, result.output
    assert result.stderr.strip().splitlines()[-1].endswith(message), result.stderr


def square(east: object) -> str:
    """A GeoJSON Polygon whose second corner has the longitude `east`, as written."""
    return f'{{"type": "Polygon", "coordinates": [[[7.4, 43.7], [{east}, 43.7], [7.5, 43.8], [7.4, 43.7]]]}}'


def test_a_bad_geojson_extent_is_one_line_and_exit_4(monaco_2025: Path, communes_06: Path,
                                                      tmp_path: Path) -> None:
    for text, message in [("{", "not JSON"),
                          ('{"type": "Point", "coordinates": [7, 43]}', "a Point where the extent"),
                          ('{"type": "FeatureCollection", "features": []}', "no polygon"),
                          (square(200), "200.0 43.7 is not a longitude and latitude"),
                          (square("NaN"), "nan 43.7 is not a longitude and latitude"),
                          (square("1e999"), "inf 43.7 is not a longitude and latitude"),
                          ('{"type": "Polygon", "coordinates": [[[NaN, 43], [8, 43], [8, 44], [NaN, 43]]]}',
                           "an unreadable polygon"),  # its ring does not close: NaN is no NaN
                          ("[" * 100_000 + "]" * 100_000, "nested hundreds of levels deep"),
                          ('{"type": "Polygon", "crs": {"type": "name", "properties": {"name": '
                           '"urn:ogc:def:crs:EPSG::2154"}}, "coordinates": [[[7, 43], [8, 43], [8, 44], '
                           '[7, 43]]]}', "an extent is in longitude and latitude")]:
        path = tmp_path / "bad.geojson"
        path.write_text(text)
        result = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries",
                        communes_06, "--extent", path, "-q")
        assert result.exit_code == ExitCode.DATA, result.output
        assert message in result.stderr.strip().splitlines()[-1]
    result = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries",
                    communes_06, "--extent", tmp_path / "absent.poly", "-q")
    assert result.exit_code == ExitCode.DATA and "no such file" in result.stderr


# --- The estimate, against cuts whose truth is known ---------------------------------------

# Extracts, the polygon of our own cut from each (lon, lat) inside where it is complete,
# and the side in degrees of the squares that stand for communes there.
SOURCES = {
    "riviera": ("osm/big/osrm-monaco-fr-riviera-2016.osm.pbf",  # its header box
                [(7.37, 43.725), (7.45, 43.717), (7.47, 43.745), (7.42, 43.765), (7.38, 43.755)],
                0.01),
    "andorra": ("osm/big/valhalla-docker-andorra-2021.osm.pbf",  # the country
                [(1.50, 42.47), (1.62, 42.47), (1.68, 42.55), (1.60, 42.62), (1.52, 42.58)], 0.01),
    "liechtenstein": ("osm/big/valhalla-docker-liechtenstein-2021.osm.pbf",  # the country
                      [(9.51, 47.07), (9.56, 47.07), (9.58, 47.15), (9.54, 47.22), (9.51, 47.17)],
                      0.01),
    "munchen": ("osm/big/valhalla-bench-munchen-2020.osm.pbf",  # its centre, 2 by 1.7 km
                [(11.567, 48.132), (11.580, 48.131), (11.586, 48.138), (11.578, 48.144),
                 (11.568, 48.141)], 0.002),
}


def squares(bounds, side: float) -> dict[str, object]:
    """Squares of `side` degrees over `bounds`, as communes: {code: polygon}."""
    west, south, east, north = bounds
    found = {}
    for i, x in enumerate(numpy.arange(west, east, side)):
        for j, y in enumerate(numpy.arange(south, north, side)):
            found[f"S{i:02d}{j:02d}"] = shapely.box(x, y, x + side, y + side)
    return found


def squares_file(shapes: dict[str, object], path: Path) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "nom": code},
         "geometry": shapely.geometry.mapping(shape)} for code, shape in shapes.items()]}))
    return path


def estimated_rows(pbf: Path, shapes: dict[str, object], area, tmp_path: Path) -> tuple[dict, dict]:
    """`count --all` of the cut `pbf` in the squares `shapes`, read without its extent: its
    rows by code, and the true share of each square inside `area` (`true_shares`)."""
    result = invoke("count", "--include-partial", "--all", "--pbf", pbf, "--boundaries",
                    squares_file(shapes, tmp_path / "squares.geojson"), "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    assert data["meta"]["coverage_from"] == "estimated from the data"
    return {r["insee"]: r for r in data["communes"]}, true_shares(shapes, area)


@pytest.mark.parametrize("strategy", ["simple", "complete_ways", "smart"])
@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("by", ["polygon", "box"])
def test_the_estimate_errs_toward_no_data(
    shared_data: Path, tmp_path: Path, source: str, strategy: str, by: str
) -> None:
    """Cuts of our own, made by osmium-tool, without their extent: no commune (here squares)
    gets more than its true share (shapely and pyproj), none outside the cut a count; those
    inside, with many standalone nodes, are counted. Where the data is dense (München) the
    shares are close to the truth; where it is sparse (mountains, forests, 2016 data) the
    estimate says less."""
    name, ring, side = SOURCES[source]
    area = shapely.Polygon(ring)
    if by == "box":
        area = shapely.box(*area.bounds).buffer(-side, join_style="mitre")
    pbf = cut(shared_data / name, tmp_path / "cut.osm.pbf", strategy, polygon=area, bounds=False)
    shapes = squares(shapely.buffer(area, 3 * side).bounds, side)
    rows, truth = estimated_rows(pbf, shapes, area, tmp_path)
    for code, row in rows.items():
        assert row["coverage"] <= printed(truth[code]) + 0.02 or row["cameras"], code
    assert not [code for code, row in rows.items() if truth[code] == 0 and not row["cameras"]]
    tree = shapely.STRtree(standalone_nodes(pbf))
    alone = {code: len(tree.query(shape, predicate="contains")) for code, shape in shapes.items()}
    dense = [code for code, share in truth.items() if share == 1 and alone[code] >= 20]
    assert dense and set(dense) <= set(rows)
    assert numpy.median([rows[code]["coverage"] for code in dense]) >= 0.85
    if source == "munchen":
        errors = [abs(truth[code] - (rows[code]["coverage"] if code in rows else 0))
                  for code in shapes if truth[code] > 0]
        assert sum(errors) / len(errors) <= 0.05


# Cuts of our own of the Riviera 2016 extract, complete inside its header box: a convex one
# and one notched from the north, as a user's polygon may be.
RIVIERA_CUTS = {
    "pentagon": [(7.371, 43.717), (7.463, 43.717), (7.477, 43.746), (7.42, 43.764), (7.366, 43.752)],
    "notched": [(7.36, 43.715), (7.48, 43.715), (7.48, 43.765), (7.445, 43.765), (7.425, 43.735),
                (7.405, 43.765), (7.36, 43.765)],
}


@pytest.mark.parametrize("strategy", ["simple", "complete_ways", "smart"])
@pytest.mark.parametrize("which", list(RIVIERA_CUTS))
def test_the_estimate_against_the_true_share_of_communes(
    riviera: Path, communes_06: Path, ign_shapes, tmp_path: Path, which: str, strategy: str
) -> None:
    """Real communes, cut by osmium-tool, read without the cut's extent: none gets more than
    its true share (shapely and pyproj), none outside the cut a count, none wholly inside
    is left out; the median error is at most 0.1, the largest 0.22 (where standalone nodes
    are sparse, it says less; the nodes of short ways reach further: 0.08 to 0.1 and 0.2 to
    0.28 without them; benchmarks/coverage.py measures more cuts)."""
    area = shapely.Polygon(RIVIERA_CUTS[which])
    pbf = cut(riviera, tmp_path / "cut.osm.pbf", strategy, polygon=area, bounds=False)
    result = invoke("count", "--department", "06", "--pbf", pbf, "--boundaries", communes_06,
                    "--include-partial", "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r["coverage"] for r in strict_json(result.stdout)["communes"]}
    near = {code: shape for code, shape in ign_shapes(communes_06).items()
            if shape.intersects(area.buffer(0.05))}
    truth = true_shares(near, area)
    assert set(rows) <= set(near)
    over = {code: (rows[code], truth[code]) for code in rows if rows[code] > printed(truth[code]) + 0.01}
    assert not over
    assert {code for code, share in truth.items() if share == 0}.isdisjoint(rows)
    assert {code for code, share in truth.items() if share >= 0.995} <= set(rows)
    errors = numpy.array([abs(share - rows.get(code, 0)) for code, share in truth.items() if share > 0])
    assert len(errors) >= 7 and numpy.median(errors) <= 0.1 and errors.max() <= 0.22, errors.round(2)


def test_the_nodes_of_short_ways_say_there_is_data_short_of_their_edge() -> None:
    """Nodes of short ways every 10 m over a square of 1 km, and a lone one 2 km away (beyond
    LONGEST_M): the area they hug is the square less HUGGING_M all round, without it."""
    from osmcams.geo.footprint import HUGGING_M, METRES_PER_DEGREE, hugged

    metres = numpy.array([METRES_PER_DEGREE * numpy.cos(numpy.radians(45.0)), METRES_PER_DEGREE])
    grid = numpy.stack(numpy.meshgrid(numpy.arange(0, 1001, 10.0), numpy.arange(0, 1001, 10.0)), -1)
    points = numpy.vstack((grid.reshape(-1, 2), [(3000.0, 500.0)])) / metres + (5.0, 45.0)
    area = shapely.transform(hugged(points), lambda xy: (xy - (5.0, 45.0)) * metres)
    inner = shapely.box(HUGGING_M, HUGGING_M, 1000 - HUGGING_M, 1000 - HUGGING_M)
    assert shapely.difference(area, inner.buffer(1.0)).is_empty
    assert area.area >= 0.97 * inner.area
    assert hugged(points[:5]) is None


# Central München and central London, 1.5 km boxes (their header boxes), cut by a polygon
# notched from the north.
NOTCHED = ("munchen", "london")
HEADER_BOXES = {"munchen": (11.5656571, 48.1314385, 11.5861277, 48.143394),
                "london": (-0.1141636, 51.5107253, -0.093166, 51.5232569)}


@pytest.mark.parametrize("strategy", ["simple", "complete_ways", "smart"])
@pytest.mark.parametrize("city", NOTCHED)
def test_the_estimate_does_not_bridge_a_notch_of_the_cut(
    shared_data: Path, tmp_path: Path, city: str, strategy: str
) -> None:
    """The notch, 0.4 km wide at its mouth, narrower than the triangles that the standalone
    nodes on either side span: those triangles are left out, though with `complete_ways` and
    `smart` the ways that cross the notch leave their nodes in it, and the notch is no hole
    of the estimate to fill. Measured with shapely and pyproj: at most 2 % of the estimate
    lies outside the cut (0.4–1.0 %; 10 % with `complete_ways` before voids among dense
    standalone nodes were left out), 90 % of the cut inside."""
    west, south, east, north = HEADER_BOXES[city]
    width, height = east - west, north - south
    notched = shapely.Polygon([(west + u * width, south + v * height) for u, v in [
        (0.08, 0.08), (0.92, 0.08), (0.92, 0.92), (0.68, 0.92), (0.54, 0.42), (0.40, 0.92),
        (0.08, 0.92)]])
    source = shared_data / f"osm/big/valhalla-bench-{city}-2020.osm.pbf"
    pbf = cut(source, tmp_path / "cut.osm.pbf", strategy, polygon=notched, bounds=False)
    from osmcams.sources.osm.pbf import scan_file

    area = scan_file(pbf, threads=1)[0].data_area
    assert area is not None
    assert km2(shapely.difference(area, notched)) / km2(area) <= 0.02
    assert km2(shapely.intersection(area, notched)) / km2(notched) >= 0.9


def bezirksteile(pbf: Path, tmp_path: Path) -> dict[str, object]:
    """The complete admin_level=10 outlines of München 2020, assembled by osmium-tool."""
    relations, exported = tmp_path / "level10.osm.pbf", tmp_path / "level10.geojson"
    run_osmium("tags-filter", pbf, "r/admin_level=10", "-o", relations)
    run_osmium("export", relations, "-o", exported, "--geometry-types=polygon", "-a", "id")
    return {f"r{f['properties']['@id']}": shapely.geometry.shape(f["geometry"])
            for f in json.loads(exported.read_text())["features"]
            if f["properties"].get("admin_level") == "10"}


def test_munchen_is_covered_as_far_as_its_data_reaches_past_its_header_box(
    shared_data: Path, tmp_path: Path
) -> None:
    """München 2020 keeps standalone nodes up to 143 m outside its header's box (test_pbf):
    its complete Bezirksteile (admin_level 10, assembled by osmium-tool) were covered as far
    as the box, Gärtnerplatz 54 %, where the convex hull of those nodes holds 82 % of it, and
    the four others 93–98 %, wholly inside the hull. Now, as a snapshot (`count`) and as a
    history file (`timeline`, the file written by `osmium cat`): never over the hull's share
    (shapely and pyproj), within 0.1 of it, and Gärtnerplatz well past the box's share."""
    pbf = shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf"
    outlines = bezirksteile(pbf, tmp_path)
    hull = shapely.convex_hull(shapely.multipoints(standalone_nodes(pbf)))
    box = shapely.box(*map(float, run_osmium("fileinfo", "-g", "header.boxes", pbf).strip("()\n").split(",")))
    truth, boxed = true_shares(outlines, hull), true_shares(outlines, box)
    assert len(outlines) == 5 and round(boxed["r67030"], 2) == 0.54 and round(truth["r67030"], 2) == 0.82
    history = tmp_path / "munchen.osh.pbf"
    dated = "--output-header=osmosis_replication_timestamp=2020-07-20T12:44:03Z"  # as in its header
    run_osmium("cat", pbf, "-o", history, dated)
    chosen = [arg for code in outlines for arg in ("--commune", code)]
    for command, source in (("count", pbf), ("timeline", history)):
        result = invoke(command, *chosen, "--pbf", source, "--admin-level", "10", "-f", "json", "-q")
        assert result.exit_code == 0, result.output
        rows = {r["insee"]: r["coverage"] for r in strict_json(result.stdout)["communes"]}
        assert rows.keys() == outlines.keys()
        for code, share in rows.items():
            assert truth[code] - 0.1 <= share <= printed(truth[code]) + 0.005, (command, code, share)
        assert rows["r67030"] >= boxed["r67030"] + 0.15


def test_an_extent_past_a_header_box_that_is_not_the_cut_is_not_clipped_to_it(
    shared_data: Path, tmp_path: Path
) -> None:
    """München 2020 with a .poly of our own that holds its data: the convex hull of its
    standalone nodes (tagged, no way refers to them: a pyosmium loop), grown by 30 m (in
    UTM 32N, pyproj). Its header's box is not the cut, but the extent was clipped to it all
    the same (Gärtnerplatz 0.54 where the extent holds 0.86). Now the box is set aside as
    without an extent, with its warning:
    each complete Bezirksteil's coverage is its share inside the extent (shapely and pyproj),
    by `count` and by `timeline` alike."""
    import osmium
    from pyproj import Transformer

    class Standalone(osmium.SimpleHandler):
        def __init__(self) -> None:
            super().__init__()
            self.tagged: dict[int, tuple[float, float]] = {}
            self.referred: set[int] = set()

        def node(self, n) -> None:
            if len(n.tags):
                self.tagged[n.id] = (n.location.lon, n.location.lat)

        def way(self, w) -> None:
            self.referred.update(r.ref for r in w.nodes)

    pbf = shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf"
    found = Standalone()
    found.apply_file(str(pbf))
    alone = [place for i, place in found.tagged.items() if i not in found.referred]
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    hull = shapely.convex_hull(shapely.multipoints(numpy.array(alone)))
    grown = shapely.transform(shapely.transform(hull, lambda xy: numpy.column_stack(
        to_utm.transform(*xy.T))).buffer(30), lambda xy: numpy.column_stack(
        to_utm.transform(*xy.T, direction="INVERSE")))
    poly = tmp_path / "munchen.poly"
    ring = grown.exterior.coords
    poly.write_text("\n".join(["munchen", "1", *(f"  {x:.7f}  {y:.7f}" for x, y in ring),
                                "END", "END"]) + "\n")
    outlines = bezirksteile(pbf, tmp_path)
    box = shapely.box(*map(float, run_osmium("fileinfo", "-g", "header.boxes", pbf).strip("()\n").split(",")))
    truth = true_shares(outlines, grown)
    clipped = true_shares(outlines, shapely.intersection(grown, box))
    assert round(truth["r67030"], 2) == 0.86 and round(clipped["r67030"], 2) == 0.54
    history = tmp_path / "munchen.osh.pbf"
    run_osmium("cat", pbf, "-o", history,
               "--output-header=osmosis_replication_timestamp=2020-07-20T12:44:03Z")
    chosen = [arg for code in outlines for arg in ("--commune", code)]
    for command, source in (("count", pbf), ("timeline", history)):
        result = invoke(command, *chosen, "--pbf", source, "--admin-level", "10", "--extent", poly,
                        "-f", "json")
        assert result.exit_code == 0, result.output
        data = strict_json(result.stdout)
        assert f"known from its extent {poly}" in result.stderr, command
        rows = {r["insee"]: r["coverage"] for r in data["communes"]}
        assert rows.keys() == outlines.keys()
        for code, share in rows.items():
            assert share == pytest.approx(printed(truth[code]), abs=0.01), (command, code, share)
        assert "lie outside the bounding box of its header" in result.stderr, command


# A star-shaped cut of our own of the Rhein-Neckar 2016 extract (Mannheim, Heidelberg and the
# Odenwald), inside its header box: concave sides where ways cross the cut on either side.
RHEIN_NECKAR_CUT = [(8.58, 49.34), (8.68, 49.36), (8.78, 49.33), (8.74, 49.40), (8.80, 49.46),
                    (8.68, 49.43), (8.58, 49.46), (8.62, 49.40)]


@pytest.mark.parametrize("strategy", ["simple", "complete_ways", "smart"])
def test_an_extract_of_ways_alone_errs_toward_no_data(
    shared_data: Path, tmp_path: Path, strategy: str
) -> None:
    """The Rhein-Neckar extract holds routing ways and their nodes, almost no standalone
    node: the estimate comes from all its sampled nodes, and those of the ways that cross a
    cut lie past it (with `complete_ways` and `smart`). Cut by osmium-tool and read without
    the cut's extent: no square outside the cut gets a count, none more than its true
    share (shapely and pyproj); most of those wholly inside are counted."""
    area = shapely.Polygon(RHEIN_NECKAR_CUT)
    pbf = cut(shared_data / "osm/big/graphhopper-rnv-rhein-neckar-2016.osm.pbf", tmp_path / "cut.osm.pbf",
              strategy, polygon=area, bounds=False)
    assert len(standalone_nodes(pbf)) < 100
    shapes = squares(shapely.buffer(area, 0.04).bounds, 0.02)
    rows, truth = estimated_rows(pbf, shapes, area, tmp_path)
    over = {code: (row["coverage"], round(truth[code], 3)) for code, row in rows.items()
            if row["coverage"] > printed(truth[code]) + 0.02 and not row["cameras"]}
    assert not over
    assert not [code for code, row in rows.items() if truth[code] == 0 and not row["cameras"]]
    inside = [code for code, share in truth.items() if share >= 0.995]
    assert len(set(inside) & set(rows)) >= len(inside) / 2


def test_an_osm_xml_cut_is_estimated_as_its_pbf_not_taken_as_its_bounding_box(
    monaco_2025: Path, communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """A triangle cut of Monaco 2025 with its box in the header, as OSM XML and as PBF. The
    XML's nodes were never sampled, so its box stood for its data: Beausoleil, half of it
    beyond the cut (its camera too), was 100 % covered with 0 cameras and 0.0 per km². Both
    now get the estimate from their nodes: the same shares, never over the truth."""
    area = shapely.Polygon([(7.405, 43.725), (7.445, 43.725), (7.445, 43.765)])
    truth = true_shares(ign_shapes(communes_06), area)
    found = []
    for name in ("cut.osm.bz2", "cut.osm.pbf"):
        source = cut(monaco_2025, tmp_path / name, "complete_ways", polygon=area)
        result = invoke("count", "--commune", "06012", "--commune", "06032", "--pbf", source,
                        "--boundaries", communes_06, "-f", "json", "-q")
        assert result.exit_code == 0, result.output
        found.append({r["insee"]: r for r in strict_json(result.stdout)["communes"]})
    xml, pbf = found
    assert truth["06012"] < 0.9 and truth["06032"] < 0.9
    for code in ("06012", "06032"):
        assert xml[code]["partial"] and xml[code]["cameras_per_km2"] is None
        assert xml[code]["coverage"] <= truth[code] + 0.01
        assert xml[code]["coverage"] == pytest.approx(pbf[code]["coverage"], abs=0.01)


def test_where_coverage_is_unknown_only_communes_holding_cameras_are_counted(
    communes_06: Path, tmp_path: Path
) -> None:
    """An OSM XML file without bounds, of one node, too few to sample: its camera in
    Beausoleil says it has data there, a count that is a lower bound with no density; it
    says nothing of Cap-d'Ail, which gets no count (it was a 0), and alone is an error."""
    features = json.loads(communes_06.read_text(encoding="utf-8"))["features"]
    inside = shapely.geometry.shape(next(f["geometry"] for f in features
                                         if f["properties"]["code"] == "06012")).representative_point()
    xml = tmp_path / "nobounds.osm"
    xml.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
                   f' <node id="1" version="1" timestamp="2020-01-01T00:00:00Z" lat="{inside.y}" '
                   f'lon="{inside.x}"><tag k="man_made" v="surveillance"/></node>\n</osm>\n')
    result = invoke("count", "--commune", "06012", "--commune", "06032", "--pbf", xml, "--boundaries",
                    communes_06, "-f", "json")
    assert result.exit_code == 0, result.output
    row, cap_d_ail = strict_json(result.stdout)["communes"]
    assert (row["insee"], row["cameras"], row["coverage"], row["partial"]) == ("06012", 1, None, True)
    assert row["cameras_per_km2"] is None and row["cameras_per_10k"] is None
    assert "left out: Cap-d'Ail (06032)" in result.stderr
    assert (cap_d_ail["insee"], cap_d_ail["cameras"], cap_d_ail["coverage"]) == ("06032", None, None)
    assert cap_d_ail["note"] == "no count: the OSM data does not say whether it covers this commune"
    alone = invoke("count", "--commune", "06032", "--pbf", xml, "--boundaries", communes_06, "-q")
    assert alone.exit_code == ExitCode.DATA and "nothing there can be counted" in alone.stderr


def test_a_history_file_takes_its_extent_as_a_snapshot_does(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """`count --pbf FILE.osh.pbf --extent POLY`: the extent gives the coverage, as for the same
    data as a snapshot (the history file's count estimated it, and ignored the extent)."""
    history = tmp_path / "monaco.osh.pbf"
    run_osmium("cat", monaco_2025, "-o", history)
    extent = tmp_path / "box.geojson"
    extent.write_text(json.dumps({"type": "Polygon", "coordinates": [
        [[7.40, 43.72], [7.45, 43.72], [7.45, 43.76], [7.40, 43.76], [7.40, 43.72]]]}))
    found = []
    for pbf in (monaco_2025, history):
        result = invoke("count", "--commune", "06012", "--commune", "06032", "--pbf", pbf,
                        "--boundaries", communes_06, "--extent", extent, "-f", "json", "-q")
        assert result.exit_code == 0, result.output
        data = strict_json(result.stdout)
        assert data["meta"]["coverage_from"] == f"extent: {extent}"
        found.append({r["insee"]: r["coverage"] for r in data["communes"]})
    assert found[0] == found[1]


# --- OSM XML: the same data as a PBF ---------------------------------------------------------

# Each extract as PBF, its OSM XML twin (None: written by osmium-tool) and the squares standing
# for communes over its box (None: the communes of 06).
XML_TWINS = {
    "monaco-2025": ("osm/monaco-2025-02-07.osm.pbf", None, None),
    "riviera-2016": ("osm/big/osrm-monaco-fr-riviera-2016.osm.pbf", None, None),
    "saint-barthelemy": ("osm/saint-barthelemy/saint_barthelemy.osm.pbf",
                         "osm/saint-barthelemy/saint_barthelemy.osm.bz2", (-63.07, 17.66, -62.57, 18.15)),
}


@pytest.mark.parametrize("which", list(XML_TWINS))
def test_an_xml_extract_is_covered_as_the_same_data_as_pbf(
    shared_data: Path, communes_06: Path, ign_shapes, tmp_path: Path, which: str
) -> None:
    """The same data as PBF and as OSM XML (.osm.bz2) gets the same coverage through `count`:
    the XML's nodes are sampled as the PBF's. Its coverage was its header's box alone
    (Riviera: Beausoleil, Cap-d'Ail and La Turbie whole, where the PBF says 0.83, 0.99 and
    0.87), or unknown without one (Monaco 2025: only the communes holding cameras counted);
    Saint-Barthélemy's shipped .osm.bz2 (osmconvert's) counted 625 squares, most at sea,
    where its PBF counts 10. Against osmium-tool: every commune or square with 100
    standalone nodes is counted, none over its share of the header's box (shapely and
    pyproj), and none with neither a node nor a camera (at sea)."""
    name, twin, bounds = XML_TWINS[which]
    pbf = shared_data / name
    if twin is None:
        xml = tmp_path / f"{which}.osm.bz2"
        run_osmium("cat", pbf, "-o", xml)
    else:
        xml = shared_data / twin
    if bounds is None:
        boundaries, choice = communes_06, ("--department", "06")
        shapes = ign_shapes(communes_06)
    else:
        shapes = squares(bounds, 0.02)
        boundaries, choice = squares_file(shapes, tmp_path / "squares.geojson"), ("--all",)
    found = []
    for path in (pbf, xml):
        result = invoke("count", *choice, "--pbf", path, "--boundaries", boundaries, "--include-partial",
                        "-f", "json", "-q")
        assert result.exit_code == 0, result.output
        data = strict_json(result.stdout)
        assert data["meta"]["coverage_from"] == "estimated from the data"
        found.append({r["insee"]: (r["coverage"], r["partial"], r["cameras"]) for r in data["communes"]})
    assert found[1] == found[0]
    rows = found[1]
    tree = shapely.STRtree(standalone_nodes(xml))
    alone = {code: len(tree.query(shape, predicate="contains")) for code, shape in shapes.items()}
    assert {code for code, n in alone.items() if n >= 100} <= set(rows)
    box = run_osmium("fileinfo", "-g", "header.boxes", xml).split()
    if box:  # (w,s,e,n)
        truth = true_shares(shapes, shapely.box(*map(float, box[0].strip("()").split(","))))
        assert all(coverage <= printed(truth[code]) + 0.01 for code, (coverage, _, _) in rows.items())
    text = run_osmium("cat", xml, "-t", "node", "-f", "opl", "-o", "-")
    nodes = shapely.STRtree(shapely.points([(float(x), float(y)) for x, y in
                                            re.findall(r" x(\S+) y(\S+)$", text, re.M)]))
    assert not [code for code, (_, _, cameras) in rows.items()
                if not cameras and not len(nodes.query(shapes[code], predicate="contains"))]
    if which == "monaco-2025":
        assert "06091" not in rows  # Peille
        assert 0.25 <= rows["06012"][0] <= 0.52 and rows["06012"][1]  # Beausoleil: the audit's share


def test_only_triangles_among_the_sampled_nodes_are_judged_hollow(
    pieces: Pieces, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """München tiled over France, the sampling cut to one block: most triangles of the
    standalone nodes lie in tiles it missed. Which are hollow (`footprint._hollow`: gaps
    sought only among the sampled nodes, a corner's node only within 2 THIN_M) equals the
    gaps of every triangle and each corner's nearest node sought with no bound (scipy's
    tree), and the area drawn is the same."""
    from osmcams.geo import footprint
    from osmcams.sources.osm import blocks
    from osmcams.sources.osm.pbf import scan_file

    def among_nodes(plane, simplices, tree):
        return (tree.query(plane)[0] <= 2 * footprint.THIN_M)[simplices].all(axis=1)

    def unbounded(plane, simplices, widest, tree):
        corners = plane[simplices]
        middle = corners.mean(axis=1, keepdims=True)
        halfway = (middle + (corners + numpy.roll(corners, 1, axis=1)) / 2) / 2
        probes = numpy.concatenate((middle, halfway), axis=1).reshape(-1, 2)
        gaps = tree.query(probes)[0].reshape(len(corners), -1).max(axis=1)
        return among_nodes(plane, simplices, tree) & (gaps > widest)

    monkeypatch.setattr(blocks, "SAMPLED_BLOCKS", 1)
    fast, calls = footprint._hollow, []

    def both(plane, simplices, widest, tree):
        calls.append((fast(plane, simplices, widest, tree), unbounded(plane, simplices, widest, tree),
                      among_nodes(plane, simplices, tree)))
        return calls[-1][1]

    monkeypatch.setattr(footprint, "_hollow", both)
    slow = scan_file(pieces.pbf, threads=1)[0].data_area
    monkeypatch.setattr(footprint, "_hollow", fast)
    assert shapely.to_wkb(scan_file(pieces.pbf, threads=1)[0].data_area) == shapely.to_wkb(slow)
    assert calls
    assert all(numpy.array_equal(got, expected) for got, expected, _ in calls)
    assert sum(int(among.sum()) for *_, among in calls) < sum(len(among) for *_, among in calls) / 2
    assert any(expected.any() for _, expected, _ in calls)
