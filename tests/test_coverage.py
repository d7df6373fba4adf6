"""Never a 0 where there is no data: coverage from the header box and the sampled nodes.

Expectations come from osmium-tool (every node location of the file) and shapely/pyproj.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner
from conftest import run_osmium
from pyproj import Geod

from osmcams.cli import cli
from osmcams.errors import ExitCode


def invoke(*args: str | Path):
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args])


def strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def monaco_nodes(monaco_2025: Path):
    """Every node location of the Monaco 2025 extract, read by osmium-tool."""
    text = run_osmium("cat", monaco_2025, "-t", "node", "-f", "opl", "-o", "-")
    return shapely.points([(float(x), float(y)) for x, y in re.findall(r" x(\S+) y(\S+)", text)])


def km2(geometry) -> float:
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geometry)[0]) / 1e6


def test_no_count_where_the_extract_has_no_data(
    monaco_2025: Path, communes_06: Path, ign_dir: Path, cog_population: Path, ign_shapes, monaco_nodes
) -> None:
    common = ("--pbf", monaco_2025, "--boundaries", communes_06, "--population", cog_population, "-q")
    for name in ("Nice", "Menton"):  # no node of the file lies there
        result = invoke("count", "--commune", name, *common)
        assert result.exit_code == ExitCode.DATA, result.output
        assert "outside the data of" in result.stderr.splitlines()[-1]
    result = invoke("count", "--commune", "Nantes", "--pbf", monaco_2025, "--boundaries",
                    ign_dir / "communes-44-loire-atlantique.geojson", "-q")
    assert result.exit_code == ExitCode.DATA
    result = invoke("count", "--department", "06", *common, "-f", "json", "--include-partial")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    rows = {r["insee"]: r for r in data["communes"]}
    shapes = ign_shapes(communes_06)
    tree = shapely.STRtree(monaco_nodes)
    nodes = {code: len(tree.query(shape, predicate="contains")) for code, shape in shapes.items()}
    # Every commune with a real share of the file's nodes is counted, none without any.
    assert {code for code, n in nodes.items() if n >= 1000} <= set(rows)
    assert not {code for code, n in nodes.items() if n == 0} & set(rows)
    assert 0 < len(rows) < 20  # not 163 rows of zeros
    for row in rows.values():
        assert 0.02 <= row["coverage"] <= 1
        assert (row["note"] is None) == (row["coverage"] == 1)
    assert rows["06012"]["coverage"] == 1 and rows["06012"]["cameras"] == 1  # Beausoleil
    left_out = next(w for w in data["warnings"] if "left out" in w)
    assert f"{163 - len(rows)} communes lie outside the data" in left_out
    assert "Nice (06088)" in left_out  # the JSON lists them all …
    stderr = next(line for line in result.stderr.splitlines() if "left out" in line)
    assert "more (--format json lists them all)" in stderr and len(stderr) < 400  # … the terminal a few


def test_the_header_box_gives_menton_its_share(
    shared_data: Path, communes_06: Path, ign_shapes
) -> None:
    pbf = shared_data / "osm/big/osrm-monaco-fr-riviera-2016.osm.pbf"
    menton = ign_shapes(communes_06)["06083"]
    box = shapely.box(7.349, 43.71, 7.491, 43.77)  # its header, as `osmium fileinfo` shows it
    expected = km2(menton.intersection(box)) / km2(menton)
    assert 0.02 < expected < 0.04
    result = invoke("count", "--commune", "Menton", "--pbf", pbf, "--boundaries", communes_06,
                    "-f", "csv", "-q")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    values = dict(zip(header.split(","), row.split(",")))
    assert float(values["coverage"]) == pytest.approx(expected, abs=0.01)
    assert values["cameras"] == "0" and "partial data" in values["note"]
    assert "only partly inside" in result.stderr


def test_json_without_a_department_is_strict_json(monaco_2025: Path, tmp_path: Path) -> None:
    square = {"type": "Feature", "properties": {"code": "99001", "nom": "Carré"}, "geometry": {
        "type": "Polygon", "coordinates": [[[7.41, 43.73], [7.43, 43.73], [7.43, 43.74], [7.41, 43.74],
                                            [7.41, 43.73]]]}}
    path = tmp_path / "square.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [square]}))
    result = invoke("count", "--all", "--pbf", monaco_2025, "--boundaries", path, "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    (row,) = strict_json(result.stdout)["communes"]
    assert row["coverage"] == 1


def test_a_file_of_pieces_counts_the_pieces_it_did_not_sample(
    shared_data: Path, ign_dir: Path, ign_shapes, osm_cameras, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tiles whose node ids do not mix: the sampling (cut to one block here) sees one tile,
    the cameras of the others still show where the file has data, and are all counted."""
    import importlib.util
    import sys

    import pyogrio

    from osmcams.sources.osm import blocks

    spec = importlib.util.spec_from_file_location(
        "make_tiled_pbf", Path(__file__).resolve().parents[1] / "benchmarks" / "make_tiled_pbf.py"
    )
    assert spec is not None and spec.loader is not None
    tiling = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, tiling)
    spec.loader.exec_module(tiling)
    pbf = tmp_path / "pieces.osm.pbf"
    built = tiling.build(shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf", 3, pbf,
                         spread=(0.6, 0.5))
    assert built["tiles"] >= 3
    monkeypatch.setattr(blocks, "SAMPLED_BLOCKS", 1)

    cameras = shapely.points([(o.lon, o.lat) for o in osm_cameras(pbf)])
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
    assert all(0 < rows[code]["coverage"] <= 1 for code in expected)


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
