"""Cameras into communes, checked with plain shapely loops over independently read data."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy
import pytest
import shapely
from conftest import run_osmium
from pyproj import CRS, Transformer

from osmcams.communes.boundaries import load_communes
from osmcams.communes.from_osm import communes_from_boundaries
from osmcams.communes.model import Communes
from osmcams.communes.names import select
from osmcams.errors import CommuneNotFound, DataError
from osmcams.geo.areas import areas_km2
from osmcams.join import (
    ROW_KEYS,
    STALE_AFTER_DAYS,
    Report,
    assign,
    count,
    data_age_days,
    outside_row,
    row_of,
)
from osmcams.models import Camera
from osmcams.sources.osm.pbf import Extract, read_cameras, scan_file

BORDER_COMMUNES = {"06012": "Beausoleil", "06032": "Cap-d'Ail"}


def _inside(points: list[tuple[float, float]], shapes: dict[str, Any]) -> dict[str, int]:
    """How many points each shape contains or touches (a plain loop, no index)."""
    return {code: sum(shape.intersects(shapely.Point(p)) for p in points) for code, shape in shapes.items()}


def _laea_km2(geometry: Any) -> float:
    """Area in an equal-area projection centred on the shape."""
    centre = geometry.centroid
    laea = CRS.from_proj4(f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +ellps=WGS84")
    project = Transformer.from_crs("EPSG:4326", laea, always_xy=True).transform
    return shapely.transform(geometry, lambda xy: numpy.column_stack(project(*xy.T))).area / 1e6


@pytest.fixture(scope="module")
def communes_06_cog(communes_06: Path, cog_population: Path) -> Communes:
    """IGN Alpes-Maritimes with the COG 2026 population."""
    return load_communes([communes_06], population=cog_population)


@pytest.fixture(scope="module")
def monaco_report(monaco_scan, communes_06_cog: Communes) -> Report:
    """Monaco 2025 cameras in Beausoleil and Cap-d'Ail (IGN boundaries)."""
    extract, _ = monaco_scan
    return count(extract, communes_06_cog, list(BORDER_COMMUNES))


@pytest.fixture(scope="module")
def monaco_points(monaco_2025: Path, osm_cameras) -> list[tuple[float, float]]:
    """The positions of the Monaco 2025 cameras, as osmium-tool reads them."""
    return [(o.lon, o.lat) for o in osm_cameras(monaco_2025)]


def test_monaco_cameras_in_the_french_border_communes(
    monaco_report: Report, monaco_points, communes_06: Path, ign_shapes
) -> None:
    shapes = ign_shapes(communes_06)
    expected = _inside(monaco_points, {code: shapes[code] for code in BORDER_COMMUNES})
    assert expected == {"06012": 1, "06032": 1}
    assert {r["insee"]: r["cameras"] for r in monaco_report.rows} == expected
    assert [r["name"] for r in monaco_report.rows] == list(BORDER_COMMUNES.values())
    in_06 = sum(any(s.intersects(shapely.Point(p)) for s in shapes.values()) for p in monaco_points)
    assert monaco_report.meta["cameras_outside"] == len(monaco_points) - in_06 == 14
    assert f"14 of {len(monaco_points)} cameras lie outside every loaded commune" in monaco_report.warnings


def test_count_takes_each_code_once_and_refuses_an_unknown_one(
    monaco_scan, communes_06_cog: Communes, monaco_points, communes_06: Path, ign_shapes
) -> None:
    """A code given twice gave its row twice (its cameras counted twice in any total); a
    code the communes do not hold gave pandas' KeyError "None of [Index(['99999'] …"."""
    extract, _ = monaco_scan
    expected = _inside(monaco_points, {"06012": ign_shapes(communes_06)["06012"]})
    report = count(extract, communes_06_cog, ["06012", "06032", "06012"])
    assert [(r["insee"], r["cameras"]) for r in report.rows] == [("06012", expected["06012"]), ("06032", 1)]
    with pytest.raises(CommuneNotFound, match=r"^no commune 99999, 2A004 in .*communes-06-alpes-maritimes"):
        count(extract, communes_06_cog, ["06012", "99999", "2A004"])


def test_one_path_name_or_code_alone_is_not_read_letter_by_letter(
    monaco_2025: Path, communes_06: Path, monaco_points, ign_shapes
) -> None:
    """load_communes("/work/….geojson") read each character as a path ("w: no such file or
    directory"), select_communes(communes, "Beausoleil") looked up "B" ("no commune 'B'"),
    and count(…, "06012") the codes 0, 6, 1 and 2."""
    import osmcams

    communes = osmcams.load_communes(str(communes_06))
    assert osmcams.select_communes(communes, "Beausoleil") == ["06012"]
    report = osmcams.count(osmcams.read_cameras(monaco_2025), communes, "06012")
    expected = _inside(monaco_points, {"06012": ign_shapes(communes_06)["06012"]})
    assert [(r["insee"], r["cameras"]) for r in report.rows] == list(expected.items())


def test_rows_and_densities(monaco_report: Report, cog_population: Path) -> None:
    cog = {r["code"]: r.get("population") for r in json.loads(cog_population.read_text())}
    for row in monaco_report.rows:
        assert tuple(row) == ROW_KEYS
        assert row["population"] == cog[row["insee"]]
        assert row["department"] == "06"
        if row["coverage"] < 0.95:  # partly inside the data: a lower bound, no density
            assert row["partial"] and row["cameras_per_km2"] is row["cameras_per_10k"] is None
        else:
            assert row["cameras_per_km2"] == pytest.approx(row["cameras"] / row["area_km2"], rel=1e-3)
            assert row["cameras_per_10k"] == round(row["cameras"] * 10_000 / row["population"], 3)
            assert row["inhabitants_per_camera"] == round(row["population"] / row["cameras"], 1)
        assert sum(row["by_type"].values()) == sum(row["by_scope"].values()) == row["cameras"]
    beausoleil = monaco_report.rows[0]
    assert beausoleil["by_type"] == {"camera": 1}
    assert beausoleil["by_scope"] == {"unknown": 1}  # its camera has no surveillance=* tag
    meta = monaco_report.meta
    assert meta["data_timestamp"] == "2025-02-07T01:02:45Z"
    assert meta["population_source"] == "communes.json (Etalab COG)"
    assert meta["population_year"] is None  # neither the data nor the name says


def test_boundaries_of_one_extract_and_cameras_of_another(
    riviera: Path, riviera_scan, monaco_scan, monaco_points, osmium_polygons
) -> None:
    """Complete boundaries from the Riviera 2016 file, cameras from Monaco 2025."""
    _, boundaries = riviera_scan
    communes = communes_from_boundaries(boundaries, riviera.name, 8)
    codes = select(communes, every=True)
    report = count(monaco_scan[0], communes, codes, rank=True)
    by_relation = {b.relation_id: b.tags.get("ref:INSEE", f"r{b.relation_id}") for b in boundaries}
    expected = _inside(monaco_points, {by_relation[r]: g for r, g in osmium_polygons(riviera, 8).items()})
    # OSM's 2016 Cap-d'Ail holds a camera that the simplified IGN outline gives to Monaco.
    assert expected == {"r2220322": 13, "06012": 1, "06032": 2, "06150": 0}
    # La Turbie, with no camera, lies almost wholly outside the Monaco extract's cut (its
    # nodes there are those of ways that cross the cut): no count, not a 0.
    del expected["06150"]
    assert {r["insee"]: r["cameras"] for r in report.rows} == expected
    assert [r["insee"] for r in report.rows] == ["r2220322", "06032", "06012"]  # ranked
    assert report.meta["cameras_outside"] == 0
    # Ranking every commune names those left out of the table.
    for name in ("Menton", "Èze", "Roquebrune-Cap-Martin"):
        assert any(w.startswith(f"boundary of {name!r} (") for w in report.warnings)


def test_geodesic_area_matches_an_equal_area_projection(riviera_scan, communes_06: Path, ign_shapes) -> None:
    shapes = {str(b.relation_id): b.geometry for b in riviera_scan[1] if b.geometry is not None}
    shapes.update({code: g for code, g in ign_shapes(communes_06).items() if code in ("06012", "06088")})
    ours = dict(zip(shapes, areas_km2(list(shapes.values()))))
    for name, geometry in shapes.items():
        assert ours[name] == pytest.approx(_laea_km2(geometry), rel=0.005), name


def test_a_camera_on_a_shared_border_counts_once_for_the_lowest_code(write_text) -> None:
    squares = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "nom": name},
         "geometry": {"type": "Polygon", "coordinates": [[[x, 0], [x + 1, 0], [x + 1, 1], [x, 1], [x, 0]]]}}
        for code, name, x in (("99002", "Est", 1), ("99001", "Ouest", 0))
    ]}
    communes = load_communes([write_text("squares.geojson", json.dumps(squares))])
    cameras = [Camera("node", i, lon, lat) for i, (lon, lat) in
               enumerate([(1.0, 0.5), (1.0, 1.0), (0.5, 0.5), (1.5, 0.5), (3.0, 3.0)])]
    assert assign(cameras, communes) == ["99001", "99001", "99001", "99002", None]
    extract = Extract(cameras, "synthetic", None, "unknown", (0.0, 0.0, 3.0, 3.0))
    report = count(extract, communes, ["99001", "99002"])
    assert [r["cameras"] for r in report.rows] == [3, 1]
    assert report.meta["cameras_outside"] == 1
    assert "lowest code" in report.meta["border_rule"]


def test_saint_barthelemy_has_no_camera_and_no_error(osm_dir: Path, tmp_path: Path) -> None:
    path = osm_dir / "saint-barthelemy/saint_barthelemy.osm.pbf"
    extract, boundaries = scan_file(path, admin_level=3, threads=1)
    communes = communes_from_boundaries(boundaries, path.name, 3)
    report = count(extract, communes, select(communes, ["Saint-Barthélemy"]))
    (row,) = report.rows
    coverage = row.pop("coverage")
    # Its relation takes in the sea, where no node lies: the estimate stops at the coast,
    # within the island's land (its coastline, assembled by osmium-tool and shapely), under
    # the 2 % of a count; the commune is counted all the same, as it holds all the data.
    land = _laea_km2(_land(path, tmp_path)) / _laea_km2(communes.frame.geometry.iloc[0])
    assert 0.5 * land <= coverage <= land < 0.02
    assert row.pop("note").startswith("partial data: ")
    density = 0.0 if coverage >= 0.95 else None  # a lower bound: no density under 95 %
    assert row == {
        "insee": "97-7", "name": "Saint-Barthélemy", "department": None, "population": 9035,
        "area_km2": row["area_km2"], "partial": True, "cameras": 0, "cameras_per_km2": density,
        "cameras_per_10k": density, "inhabitants_per_camera": None, "by_type": {}, "by_scope": {},
    }
    # The relation's outline takes in the territorial waters: 1,814 km², not the island's 21 km².
    assert row["area_km2"] == pytest.approx(_laea_km2(communes.frame.geometry.iloc[0]), rel=0.005)
    assert not any("Saint-Barthélemy" in w and "only partly inside" not in w for w in report.warnings)


def _land(path: Path, tmp_path: Path) -> Any:
    """The land inside the natural=coastline ways of an OSM file, by osmium-tool and shapely."""
    coast = tmp_path / "coast.osm.pbf"
    run_osmium("tags-filter", path, "w/natural=coastline", "-o", coast)
    lines = [shapely.from_geojson(line.strip("\x1e")) for line in
             run_osmium("export", coast, "-f", "geojsonseq", "-o", "-").splitlines() if line.strip()]
    return shapely.polygonize([g for g in lines if g.geom_type == "LineString"])


def _police_cameras(path: Path) -> list[tuple[float, float]]:
    with path.open(encoding="utf-8") as f:
        return [(float(r["lon"]), float(r["lat"])) for r in csv.DictReader(f, delimiter=";")]


def _opl_nodes(points: list[tuple[float, float]]) -> str:
    return "".join(
        f"n{i} v1 t2019-02-01T00:00:00Z Tman_made=surveillance,surveillance=public,"
        f"surveillance:type=camera,operator=Préfecture%20%de%20%Police x{lon} y{lat}\n"
        for i, (lon, lat) in enumerate(points, 1)
    )


def test_paris_police_register_falls_in_paris(
    shared_data: Path, ign_dir: Path, ign_shapes: Callable[[Path], dict[str, Any]], write_text
) -> None:
    points = _police_cameras(shared_data / "official/paris-police-2019/data.csv")
    paris_file = ign_dir / "communes-75-paris.geojson"
    expected = _inside(points, ign_shapes(paris_file))
    assert len(points) == 707
    extract = read_cameras(write_text("police.opl", _opl_nodes(points)), threads=1)
    communes = load_communes([paris_file])
    report = count(extract, communes, ["75056"])
    # Two crossings at the city edge (Porte de Saint-Cloud, rue des Frères Flavien) lie a few
    # metres outside the simplified IGN outline.
    assert report.rows[0]["cameras"] == expected["75056"] == 705
    assert report.meta["cameras_outside"] == 707 - 705
    assert report.rows[0]["by_scope"] == {"public": 705}


def test_cameras_are_placed_as_a_plain_loop_places_them_on_real_borders(
    shared_data: Path, ign_dir: Path, ign_shapes: Callable[[Path], dict[str, Any]]
) -> None:
    """The police register of Paris and every vertex of the outline of Paris (most of them on
    a border shared with a commune around it), in the IGN communes of Paris and the three
    departments around it: each point in the commune of lowest code that contains or touches
    it, as a loop over every outline finds it."""
    files = [next(ign_dir.glob(f"communes-{d}-*.geojson")) for d in ("75", "92", "93", "94")]
    shapes = {code: shape for path in files for code, shape in ign_shapes(path).items()}
    border = shapely.get_coordinates(shapes["75056"].boundary).tolist()
    points = _police_cameras(shared_data / "official/paris-police-2019/data.csv") + border
    cameras = [Camera("node", i, lon, lat) for i, (lon, lat) in enumerate(points)]
    xy = shapely.points(numpy.array(points))
    holders = [shape.intersects(xy) for shape in shapes.values()]
    expected = [min((code for code, holds in zip(shapes, holders) if holds[i]), default=None)
                for i in range(len(points))]
    shared = sum(sum(bool(holds[i]) for holds in holders) > 1 for i in range(len(points)))
    assert shared > 100 and len(shapes) == 124
    assert assign(cameras, load_communes(files)) == expected


def test_old_data_is_called_stale(monaco_report: Report) -> None:
    age = monaco_report.meta["data_age_days"]
    assert age == data_age_days("2025-02-07T01:02:45Z") and age > STALE_AFTER_DAYS
    assert (
        f"the OSM data is {age} days old (2025-02-07T01:02:45Z): cameras mapped since are missing"
        in monaco_report.warnings
    )


def test_fresh_data_is_not_called_stale() -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data_age_days(now) == 0


def test_coverage_of_an_extract_with_a_bounding_box(osm_dir: Path, communes_06_cog: Communes) -> None:
    extract = read_cameras(osm_dir / "monaco-2021-04-21.osm.pbf")
    west, south, east, north = extract.bbox
    box = shapely.box(west, south, east, north)
    touched = {
        code for code, geom in zip(communes_06_cog.frame["insee"], communes_06_cog.frame.geometry)
        if geom.intersection(box).area > 0
    }
    report = count(extract, communes_06_cog, select(communes_06_cog, department="06"), rank=True)
    # The box reaches four communes; the standalone nodes of the file (its data), one: the
    # Geofabrik extract is cut along the border, and keeps whole the ways across it.
    assert touched == {"06012", "06032", "06104", "06150"}
    assert {r["insee"] for r in report.rows} == {"06012"}
    share = areas_km2([box.intersection(communes_06_cog.frame.set_index("insee").geometry["06012"])])[0]
    beausoleil = next(r for r in report.rows if r["insee"] == "06012")
    assert 0.02 <= beausoleil["coverage"] <= round(share / beausoleil["area_km2"], 3) + 0.01
    assert "162 communes lie outside the data of" in " ".join(report.warnings)
    with pytest.raises(DataError, match=r"^Nice \(06088\): outside the data of"):
        count(extract, communes_06_cog, ["06088"])


def test_a_row_outside_the_data_has_the_keys_of_every_row() -> None:
    """Every table, file and map reads the same keys from every row: one outside the data has
    them all, in the same order, and no number for what the data cannot say."""
    outside = outside_row("06091", "Peille", "06", 2_400, 42.1, True)
    inside = row_of("06012", "Beausoleil", "06", 13_000, 2.7, 0.5, [("fixed", "public")])
    assert list(outside) == list(inside) == list(ROW_KEYS)
    assert outside["partial"] is False and outside["cameras"] is None
    assert outside["cameras_per_km2"] is outside["cameras_per_10k"] is None


def test_share_text_never_reads_zero_for_a_commune_with_data() -> None:
    """A commune shown holds data, however little the sampling found: under 1 % its share
    reads "<1%", never "0%" (0.004) nor a rounded-up "1%" (0.007)."""
    from osmcams.join import share_text

    assert [share_text(s) for s in (0.0, 0.004, 0.007, 0.0099, 0.01, 0.103, 0.994)] == [
        "<1%", "<1%", "<1%", "<1%", "1%", "10%", "99%"]


def test_the_population_is_credited_with_its_year_once() -> None:
    """The shipped COG's source names its year: "COG 2026 (…) (2026)" said it twice. Its
    year is the census's, 2023, not the COG edition's, 2026, that a publisher printed."""
    from osmcams.communes.population import OFFICIAL_SOURCE, OFFICIAL_YEAR
    from osmcams.join import population_text

    assert OFFICIAL_YEAR == "2023"
    assert population_text(OFFICIAL_SOURCE, OFFICIAL_YEAR) == OFFICIAL_SOURCE
    assert population_text("communes.json (Etalab COG)", None) == "communes.json (Etalab COG), year unknown"
    assert population_text("pop.csv (INSEE)", "2021") == "pop.csv (INSEE), 2021"
    assert population_text(None, None) == "none"


def test_communes_from_osm_without_a_population_tag_are_said_so(shared_data: Path) -> None:
    """München's Bezirksteile (admin_level 10, osmium: no population tag on any): their
    warning said "not in OSM population tag (codes merged or unknown)"; nothing was merged."""
    import osmium

    from osmcams.communes.from_osm import communes_from_boundaries
    from osmcams.sources.osm.pbf import scan_file

    pbf = shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf"
    tagged = [r.id for r in osmium.FileProcessor(str(pbf), osmium.osm.RELATION)
              if r.tags.get("admin_level") == "10" and "population" in r.tags]
    assert not tagged
    extract, boundaries = scan_file(pbf, 10)
    communes = communes_from_boundaries(boundaries, pbf.name, 10)
    report = count(extract, communes, communes.frame["insee"].tolist())
    (warning,) = [w for w in report.warnings if "no population" in w]
    assert "their OSM boundaries have no population tag" in warning and "merged" not in warning
