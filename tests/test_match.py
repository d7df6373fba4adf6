"""match: the Paris police register against OSM cameras built from it, checked by brute force."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy
import pyogrio
import pytest
from click.testing import CliRunner, Result
from conftest import markdown_tables, run_osmium, shown_cell
from pyproj import Geod, Transformer
from scipy.optimize import linear_sum_assignment
from shapely.geometry import Point

from osmcams.cli import cli
from osmcams.errors import ExitCode

GEOD = Geod(ellps="WGS84")
DROPPED_EVERY = 9  # every 9th official camera is missing from OSM
EXTRA = 25  # OSM cameras that are not in the register


def invoke(*args: str | Path) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def pair(*args: str | Path) -> Result:
    """match, reading the register as cameras: one to one."""
    return invoke("match", "--register-unit", "camera", *args)


@pytest.fixture(scope="module")
def register(shared_data: Path) -> Path:
    return shared_data / "official/paris-police-2019/data.csv"


@pytest.fixture(scope="module")
def official_points(register: Path) -> list[tuple[float, float]]:
    with register.open(encoding="utf-8") as f:
        return [(float(r["lon"]), float(r["lat"])) for r in csv.DictReader(f, delimiter=";")]


@pytest.fixture(scope="module")
def osm_points(official_points: list[tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """OSM node id -> position: the register shifted by up to 12 m, some rows dropped, some added."""
    rng = random.Random(11)
    points = {}
    for i, (lon, lat) in enumerate(official_points):
        if i % DROPPED_EVERY == 0:
            continue
        lon2, lat2, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360), rng.uniform(0, 12))
        points[1000 + i] = (lon2, lat2)
    lons, lats = numpy.array(official_points).T
    added = 0
    while added < EXTRA:  # far from every official camera
        lon, lat = rng.uniform(2.26, 2.41), rng.uniform(48.82, 48.90)
        _, _, d = GEOD.inv(numpy.full(len(lons), lon), numpy.full(len(lats), lat), lons, lats)
        if d.min() > 100:
            points[900_000 + added] = (lon, lat)
            added += 1
    return points


@pytest.fixture(scope="module")
def cameras_geojson(osm_points: dict[int, tuple[float, float]], tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("match") / "cameras.geojson"
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"@id": f"node/{node}", "man_made": "surveillance", "surveillance": "public"}}
        for node, (lon, lat) in osm_points.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def brute_force(
    official: list[tuple[float, float]], osm: dict[int, tuple[float, float]], limit: float = 30.0
) -> tuple[set[tuple[tuple[float, float], str]], float]:
    """The optimal pairs from a dense assignment over every (official, OSM) couple.

    A pair within `limit` is worth far more than any distance saved, so the most
    cameras are paired first, then the total distance is the least.
    """
    ids = list(osm)
    a = numpy.repeat(numpy.array(official), len(ids), axis=0)
    b = numpy.tile(numpy.array([osm[i] for i in ids]), (len(official), 1))
    _, _, d = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    d = d.reshape(len(official), len(ids))
    cost = numpy.where(d <= limit, d - 1e6, 0.0)
    rows, cols = linear_sum_assignment(cost)
    pairs = {(official[r], f"node/{ids[c]}") for r, c in zip(rows, cols) if d[r, c] <= limit}
    total = sum(d[r, c] for r, c in zip(rows, cols) if d[r, c] <= limit)
    return pairs, float(total)


def read_features(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


def test_paris_register_matches_the_brute_force_optimum(
    register: Path, cameras_geojson: Path, official_points, osm_points, tmp_path: Path
) -> None:
    result = pair("--official", register, "--cameras", cameras_geojson,
                    "--output-dir", tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    expected, total = brute_force(official_points, osm_points)
    assert summary["matched"] == len(expected)
    assert summary["official_only"] == len(official_points) - len(expected)
    assert summary["osm_only"] == len(osm_points) - len(expected)
    assert summary["official_total"] == len(official_points) == 707
    matched = read_features(tmp_path / "matched.geojson")
    pairs = {(tuple(f["geometry"]["coordinates"]), f["properties"]["@id"]) for f in matched}
    rounded = {((round(lon, 7), round(lat, 7)), key) for (lon, lat), key in expected}
    assert pairs == rounded
    lengths = sorted(f["properties"]["distance_m"] for f in matched)
    assert sum(lengths) == pytest.approx(total, abs=0.01 * len(matched))
    assert summary["median_distance_m"] == pytest.approx(numpy.median(lengths), abs=0.01)
    # Every dropped row is official-only; every added camera is OSM-only.
    assert len(read_features(tmp_path / "official-only.geojson")) == summary["official_only"]
    osm_only = {f["properties"]["@id"] for f in read_features(tmp_path / "osm-only.geojson")}
    assert {f"node/{900_000 + k}" for k in range(EXTRA)} <= osm_only
    first = matched[0]["properties"]
    assert {"Numéro", "Implantation", "@id", "distance_m", "osm:man_made", "name", "description"} <= (
        set(first)
    )


def test_optimal_not_greedy_in_a_dense_street(write_text) -> None:
    """Greedy nearest-first pairs B with a and leaves A alone; the optimum pairs both."""
    lon, lat = 2.35, 48.86
    east = [GEOD.fwd(lon, lat, 90, metres)[:2] for metres in (0, 20, 12, 35)]
    (a_lon, a_lat), (b_lon, b_lat), *osm = east
    official = write_text("official.csv", f"id;lon;lat\nA;{a_lon};{a_lat}\nB;{b_lon};{b_lat}\n")
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(p)},
                 "properties": {"@id": f"node/{n}"}} for n, p in zip((1, 2), osm)]
    cameras = write_text("osm.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    expected, _ = brute_force([(a_lon, a_lat), (b_lon, b_lat)], dict(zip((1, 2), osm)))
    assert len(expected) == 2
    result = pair("--official", official, "--cameras", cameras, "-f", "json")
    assert json.loads(result.stdout)["matched"] == 2


def test_lambert93_register_is_reprojected(
    register: Path, cameras_geojson: Path, official_points, tmp_path: Path
) -> None:
    to_l93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    l93 = tmp_path / "l93.csv"
    with l93.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["num", "X", "Y"])
        for i, (lon, lat) in enumerate(official_points):
            writer.writerow([i, *to_l93.transform(lon, lat)])
    plain = json.loads(pair("--official", register, "--cameras", cameras_geojson,
                              "-f", "json").stdout)
    result = pair("--official", l93, "--crs", "EPSG:2154", "--cameras", cameras_geojson,
                    "-f", "json")
    assert result.exit_code == 0, result.output
    reprojected = json.loads(result.stdout)
    for key in ("matched", "official_only", "osm_only"):
        assert reprojected[key] == plain[key]
    refused = pair("--official", l93, "--cameras", cameras_geojson)
    assert refused.exit_code == ExitCode.DATA
    assert "try --crs EPSG:2154" in refused.stderr
    import geopandas
    import shapely

    frame = geopandas.GeoDataFrame(
        {"num": range(len(official_points))},
        geometry=shapely.points(numpy.array(official_points)), crs="EPSG:4326",
    ).to_crs("EPSG:2154")
    gpkg = tmp_path / "register.gpkg"
    frame.to_file(gpkg, driver="GPKG")
    from_gpkg = json.loads(pair("--official", gpkg, "--cameras", cameras_geojson,
                                  "-f", "json").stdout)
    assert from_gpkg["matched"] == plain["matched"]


def test_osm_side_from_a_pbf_and_geopackage_layers(
    register: Path, official_points, osm_points, ign_dir: Path, ign_shapes, camera_pbf, tmp_path: Path
) -> None:
    tags = {"man_made": "surveillance", "surveillance": "public"}
    nodes = {node: (lon, lat, tags) for node, (lon, lat) in osm_points.items()}
    box = (2.2, 48.8, 2.5, 48.95)
    pbf = camera_pbf(nodes, box, "2019-02-01T00:00:00Z")
    # The file's extent, that of a real extract: it holds only the cameras, from which the
    # estimate of where it has data would leave out the official sites away from them.
    extent = tmp_path / "box.geojson"
    extent.write_text(json.dumps({"type": "Polygon", "coordinates": [[
        [box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]], [box[0], box[1]]]]}))
    out = tmp_path / "match.gpkg"
    boundaries = ign_dir / "communes-75-paris.geojson"
    result = pair("--official", register, "--commune", "Paris", "--pbf", pbf, "--extent", extent,
                  "--boundaries", boundaries, "-q", "-o", out, "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # Only the cameras inside Paris's (simplified) outline take part, on both sides.
    paris = ign_shapes(boundaries)["75056"]
    official_in = [p for p in official_points if paris.covers(Point(p))]
    osm_in = {node: p for node, p in osm_points.items() if paris.covers(Point(p))}
    expected, _ = brute_force(official_in, osm_in)
    assert (summary["matched"], summary["official_only"], summary["osm_only"]) == (
        len(expected), len(official_in) - len(expected), len(osm_in) - len(expected)
    )
    assert summary["data_timestamp"] == "2019-02-01T00:00:00Z"
    if len(official_in) < len(official_points):
        assert f"{len(official_points) - len(official_in)} of 707 official cameras lie outside Paris" in (
            " ".join(summary["warnings"])
        )
    sites = json.loads(invoke("match", "--official", register, "--commune", "Paris", "--pbf", pbf,
                              "--extent", extent, "--boundaries", boundaries, "-q", "-f", "json").stdout)
    near = near_sites(official_in, osm_in)
    assert (sites["sites_total"], sites["osm_total"]) == (len(official_in), len(osm_in))
    assert sites["sites_with_osm_cameras"] == int(near.any(axis=1).sum())
    assert sites["osm_cameras_at_no_site"] == int((~near.any(axis=0)).sum())
    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == {"matched", "official_only", "osm_only"}
    assert pyogrio.read_info(out, layer="matched")["features"] == summary["matched"]
    assert pyogrio.read_info(out, layer="official_only")["features"] == summary["official_only"]
    assert pyogrio.read_info(out, layer="osm_only")["features"] == summary["osm_only"]


def test_bad_registers_are_one_line(write_text, cameras_geojson: Path) -> None:
    no_coords = write_text("bad.csv", "a;b\n1;2\n")
    result = pair("--official", no_coords, "--cameras", cameras_geojson)
    assert result.exit_code == ExitCode.DATA
    assert "--lon-field and --lat-field" in result.stderr
    named = write_text("named.csv", "E,N\n2.35,48.86\n")
    result = pair("--official", named, "--lon-field", "E", "--lat-field", "N",
                    "--cameras", cameras_geojson, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["official_total"] == 1
    header = write_text("header.csv", "Numéro;Implantation;lon;lat\n")  # a header alone
    result = pair("--official", header, "--cameras", cameras_geojson)
    assert result.exit_code == ExitCode.DATA
    assert result.stderr == (f"osmcams: error: {header}: no row under its header "
                             "(Numéro, Implantation, lon, lat)\n")
    empty = write_text("empty.geojson", "")  # GDAL: "not recognized as a supported file format"
    for args in (("--official", named, "--lon-field", "E", "--lat-field", "N", "--cameras", empty),
                 ("--official", empty, "--cameras", cameras_geojson)):
        result = pair(*args)
        assert result.exit_code == ExitCode.DATA
        assert result.stderr == f"osmcams: error: {empty}: empty, not a file of points\n"


def test_sites_far_from_the_others_keep_their_cameras(write_text) -> None:
    """A register of Paris and of overseas France (La Réunion, Guadeloupe, Nouméa), a camera
    25 m north and one 25 m east of each site: every site holds its two (a projection centred
    on the data lost those thousands of km away)."""
    sites = [(2.35, 48.86), (2.36, 48.87), (55.45, -20.88), (-61.53, 16.24), (166.44, -22.27)]
    cameras = [GEOD.fwd(lon, lat, azimuth, 25.0)[:2] for lon, lat in sites for azimuth in (0, 90)]
    official = write_text("far.csv", "lon;lat\n" + "".join(f"{lon};{lat}\n" for lon, lat in sites))
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": list(p)},
                 "properties": {"@id": f"node/{n}"}} for n, p in enumerate(cameras, 1)]
    osm = write_text("far.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    result = pair("--official", official, "--cameras", osm, "--register-unit", "site", "-f", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["sites_with_osm_cameras"], found["osm_cameras_at_a_site"]) == (5, 10)


def test_the_layers_say_where_they_come_from(write_text, cameras_geojson: Path, tmp_path: Path) -> None:
    """Each GeoJSON layer of --output-dir carries `meta` (the sources, the data date, the
    figures) as a foreign member, and the GeoPackage the same in its metadata, as count's do."""
    import pyogrio

    official = write_text("one.csv", "lon;lat\n2.35;48.86\n")
    result = pair("--official", official, "--cameras", cameras_geojson, "-f", "json",
                  "--output-dir", tmp_path / "layers", "-o", tmp_path / "layers.gpkg")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for name in ("matched", "official-only", "osm-only"):
        collection = json.loads((tmp_path / "layers" / f"{name}.geojson").read_text(encoding="utf-8"))
        assert collection["meta"]["official_source"] == str(official)
        assert collection["meta"]["matched"] == figures["matched"]
    items = pyogrio.read_info(tmp_path / "layers.gpkg", layer="matched")["dataset_metadata"]
    assert items["official_source"] == str(official)


def test_a_windows_register_keeps_every_row(tmp_path: Path, cameras_geojson: Path) -> None:
    """A register saved by Excel in Windows-1252, whose "…" (0x85) is a line break to
    str.splitlines once read as Latin-1, and U+2028 in UTF-8: every row is a site. A count
    of "²" is one line, exit 4 (a traceback)."""
    rows = [("Rue A…", 2.35, 48.86), ("Rue B", 2.351, 48.861), ("Rue C\u2028bis", 2.352, 48.862)]
    for name, encoding in (("cp1252.csv", "cp1252"), ("u2028.csv", "utf-8")):
        path = tmp_path / name
        text = "lieu;lon;lat\n" + "".join(f"{place};{lon};{lat}\n" for place, lon, lat in rows)
        path.write_bytes(text.encode(encoding, errors="replace"))
        result = pair("--official", path, "--cameras", cameras_geojson, "-f", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["official_total"] == 3, name
    squared = tmp_path / "squared.csv"
    squared.write_text("lon;lat;nb\n2.35;48.86;\u00b2\n", encoding="utf-8")
    result = pair("--official", squared, "--cameras", cameras_geojson, "--register-unit", "site",
                  "--count-field", "nb")
    assert result.exit_code == ExitCode.DATA, result.output
    assert "nb must be a whole number, not '²'" in result.stderr


def test_a_windows_register_keeps_its_apostrophes(
    register: Path, official_points, site_cameras, tmp_path: Path
) -> None:
    """The Paris register saved in Windows-1252, as Excel in French saves a CSV: its column
    "Précision de l’implantation" came out as "Précision de l\x92implantation", a control
    character, the bytes read as Latin-1; its names are now as written."""
    text = register.read_text(encoding="utf-8")
    saved = tmp_path / "register.csv"
    saved.write_bytes(text.encode("cp1252"))
    assert b"l\x92implantation" in saved.read_bytes()
    cameras = geojson_of(site_cameras, tmp_path / "cameras.geojson")
    out = tmp_path / "out"
    result = invoke("match", "--official", saved, "--cameras", cameras, "-q", "--output-dir", out)
    assert result.exit_code == 0, result.output
    features = read_features(out / "official-only.geojson")
    assert features and all("Précision de l’implantation" in f["properties"] for f in features)
    assert len(features) == int((~near_sites(official_points, site_cameras).any(axis=1)).sum())


@pytest.mark.parametrize("suffix", [".geojson", ".geojsons", ".gpkg", ".parquet", ".csv"])
def test_cameras_from_every_export_format(
    suffix: str, monaco_2025: Path, osm_cameras, write_text, tmp_path: Path
) -> None:
    """Monaco's cameras exported by osmcams, against a register made of their own positions;
    the summary takes the export's data date (the extract's header, by osmium fileinfo) and
    warnings, where the export put them, as the OSM data's."""
    cameras = osm_cameras(monaco_2025)
    square = [[[7.3, 43.6], [7.6, 43.6], [7.6, 43.9], [7.3, 43.9], [7.3, 43.6]]]
    boundary = write_text("zone.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "X0001", "nom": "Zone"},
         "geometry": {"type": "Polygon", "coordinates": square}}]}))
    exported = tmp_path / f"cameras{suffix}"
    with_boundary = ("--with-boundary",) if suffix in (".geojson", ".gpkg") else ()
    result = invoke("export", "--commune", "X0001", "--pbf", monaco_2025, "--boundaries", boundary, "-q",
                    "-o", exported, *with_boundary)
    assert result.exit_code == 0, result.output
    register = write_text("register.csv", "ref;lon;lat\n" + "".join(
        f"{c.osm_id};{c.lon};{c.lat}\n" for c in cameras))
    out = tmp_path / "out"
    result = pair("--official", register, "--cameras", exported, "-f", "json", "--output-dir", out)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["matched"] == len(cameras) == 16
    header = run_osmium("fileinfo", "-g", "header.option.osmosis_replication_timestamp", monaco_2025)
    assert summary["data_timestamp"] == header.strip() == "2025-02-07T01:02:45Z"
    assert any(w.startswith(f"{exported.name}: the OSM data is ") for w in summary["warnings"])
    # A GeoJSON that GDAL reads and a strict JSON reader does not (a NaN): no date, no error.
    loose = tmp_path / "loose.geojson"
    loose.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                     f'{{"a": NaN}}, "geometry": {{"type": "Point", "coordinates": [{cameras[0].lon}, '
                     f'{cameras[0].lat}]}}}}]}}', encoding="utf-8")
    result = pair("--official", register, "--cameras", loose, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data_timestamp"] is None
    for feature in read_features(out / "matched.geojson"):
        properties = feature["properties"]
        assert properties["@id"] == f"node/{properties['ref']}"
        assert properties["distance_m"] < 0.01
        assert properties["osm:man_made"] == "surveillance"


def tagged_camera(node: int) -> dict[str, str]:
    """The OSM tags of camera `node` of `osm_points`: some with a name, a description, a
    camera:type, or keys that osmcams's exports name as their own columns (insee, lon)."""
    tags = {"man_made": "surveillance", "surveillance": "public", "surveillance:type": "camera"}
    tags |= {"name": f"Caméra {node}"} if node % 3 == 0 else {}
    tags |= {"description": "angle rue; quai"} if node % 4 == 0 else {}
    tags |= {"camera:type": "dome"} if node % 5 == 0 else {}
    tags |= {"insee": "75101", "lon": "2.3"} if node % 7 == 0 else {}
    return tags


@pytest.mark.parametrize("suffix", [".csv", ".geojson", ".gpkg", ".parquet"])
def test_an_export_s_own_columns_are_not_read_as_tags(
    suffix: str, register: Path, osm_points, ign_dir: Path, camera_pbf, tmp_path: Path
) -> None:
    """Paris's cameras (the police register's sites moved, some left out, some added), with
    their tags, exported by osmcams then given to match --cameras against the register: the
    name osmcams gives a camera without one ("Camera, public"), the words it puts before a
    description ("direction unknown; …"), its empty CSV cells and its tag:<key> columns were
    read as OSM tags. Each camera's tags in the layers are now those written into the PBF,
    as when matching the PBF itself."""
    nodes = {node: (lon, lat, tagged_camera(node)) for node, (lon, lat) in osm_points.items()}
    box = (2.2, 48.8, 2.5, 48.95)
    pbf = camera_pbf(nodes, box, "2019-02-01T00:00:00Z")
    extent = tmp_path / "box.geojson"
    extent.write_text(json.dumps({"type": "Polygon", "coordinates": [[
        [box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]], [box[0], box[1]]]]}))
    source = ("--commune", "Paris", "--pbf", pbf, "--extent", extent,
              "--boundaries", ign_dir / "communes-75-paris.geojson", "-q")
    exported = tmp_path / f"cameras{suffix}"
    assert invoke("export", *source, "-o", exported).exit_code == 0
    bare = tmp_path / "bare" / exported.name  # a CSV copied without its NAME.meta.json
    bare.parent.mkdir()
    bare.write_bytes(exported.read_bytes())
    layers = {}
    for name, osm in (("export", ("--cameras", exported, "-q")), ("bare", ("--cameras", bare, "-q")),
                      ("pbf", source)):
        result = pair("--official", register, *osm, "--output-dir", tmp_path / name, "-f", "json")
        assert result.exit_code == 0, result.output
        layers[name] = {layer: {f["properties"]["@id"]: f["properties"]
                                for f in read_features(tmp_path / name / f"{layer}.geojson")}
                        for layer in ("matched", "osm-only")}
    matched, alone = layers["export"]["matched"], layers["export"]["osm-only"]
    assert len(matched) > 500 and len(alone) > 10
    for key, properties in matched.items():
        assert {k[4:]: v for k, v in properties.items() if k.startswith("osm:")} == nodes[int(key[5:])][2]
    for key, properties in alone.items():
        tags = nodes[int(key[5:])][2]
        assert {k: v for k, v in properties.items() if k not in ("@id", "name", "description")} == {
            k: v for k, v in tags.items() if k not in ("name", "description")}
        assert properties["name"] == tags.get("name", "not in the official register")
    assert layers["export"] == layers["bare"] == layers["pbf"]


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet", ".csv"])
def test_an_export_without_cameras_leaves_every_site_without_one(
    suffix: str, monaco_2025: Path, communes_06: Path, osm_cameras, ign_shapes, tmp_path: Path
) -> None:
    """Roquebrune-Cap-Martin, where the Monaco extract holds no camera (osmium and shapely):
    its export is a file of no camera, which match read as an error ("no feature with a
    geometry"); its sites are now all without an OSM camera, as with --pbf."""
    roquebrune = ign_shapes(communes_06)["06104"]
    assert not any(roquebrune.covers(Point(c.lon, c.lat)) for c in osm_cameras(monaco_2025))
    exported = tmp_path / f"cameras{suffix}"
    result = invoke("export", "--commune", "06104", "--pbf", monaco_2025, "--boundaries", communes_06,
                    "-q", "-o", exported)
    assert result.exit_code == 0, result.output
    register = tmp_path / "sites.csv"
    inner = roquebrune.representative_point()
    points = [(inner.x, inner.y + i * 1e-4) for i in range(3)]
    assert all(roquebrune.contains(Point(p)) for p in points)
    register.write_text("nom;lon;lat\n" + "".join(f"s{i};{x};{y}\n" for i, (x, y) in enumerate(points)),
                        encoding="utf-8")
    result = invoke("match", "--official", register, "--cameras", exported, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["sites_total"], summary["osm_total"]) == (3, 0)
    assert (summary["sites_with_osm_cameras"], summary["sites_without_osm_cameras"]) == (0, 3)
    assert any("holds no camera" in w for w in summary["warnings"])


def test_count_field_mistakes_are_refused_before_the_work(register: Path, ign_dir: Path, write_text) -> None:
    """A --count-field the register lacks, one given with --register-unit camera, or a count
    that is no number: each said before the extract is read (here a file that is no PBF,
    whose error came first)."""
    broken = write_text("broken.osm.pbf", "not a PBF\n")
    paris = ign_dir / "communes-75-paris.geojson"
    source = ("--commune", "Paris", "--pbf", broken, "--boundaries", paris, "-q")
    result = invoke("match", "--official", register, *source, "--count-field", "nb")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith(f"osmcams: error: {register}: no column 'nb' among Code postal, ")
    result = invoke("match", "--official", register, *source, "--count-field", "Numéro", "--register-unit",
                    "camera")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == "osmcams: error: --count-field goes with --register-unit site\n"
    result = invoke("match", "--official", register, *source, "--count-field", "Implantation")
    assert result.exit_code == ExitCode.DATA, result.output
    first = register.read_text(encoding="utf-8").splitlines()[1].split(";")[2]  # by hand: a street
    assert result.stderr == (f"osmcams: error: {register}: site 1: Implantation must be a whole number, "
                             f"not {first!r}\n")


def test_options_a_match_has_no_use_for_are_refused_in_one_line(
    register: Path, cameras_geojson: Path, cog_population: Path, ign_dir: Path, tmp_path: Path
) -> None:
    """With --cameras there is no count of communes, so --population (or --boundaries, or
    --admin-level and --overpass-url, even at their defaults, or --threads, with no PBF to
    decode...) is refused; a register with its own geometry has no coordinate columns to
    name. Each was silently ignored: the Paris police register against the same OSM cameras
    either way. OSMCAMS_OVERPASS_URL or OSMCAMS_THREADS set in the environment is a setting
    of every command, not an option given to this one."""
    paris = ign_dir / "communes-75-paris.geojson"
    for option in (("--population", cog_population), ("--population-year", "2021"),
                   ("--boundaries", paris), ("--commune", "Paris"), ("--admin-level", "8"),
                   ("--threads", "2"),
                   ("--boundary-source", "geoapi"), ("--overpass-url", "http://127.0.0.1:9/api"),
                   ("--geo-api-url", "http://127.0.0.1:9"), ("--download-url", "http://127.0.0.1:9"),
                   ("--cache-dir", tmp_path), ("--offline",), ("--refresh",)):
        result = invoke("match", "--official", register, "--cameras", cameras_geojson, *option)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert result.stderr == (f"osmcams: error: --cameras excludes {option[0]}: the cameras come from "
                                 "cameras.geojson, not from a count of communes\n")
    settings = {"OSMCAMS_OVERPASS_URL": "http://127.0.0.1:9/api", "OSMCAMS_THREADS": "2"}
    set_in_env = CliRunner(env=settings).invoke(
        cli, ["match", "--official", str(register), "--cameras", str(cameras_geojson), "-q"])
    assert set_in_env.exit_code == 0, set_in_env.output
    with register.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    features = [{"type": "Feature", "properties": {"E": r["lon"], "N": r["lat"]},
                 "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]}}
                for r in rows]
    located = tmp_path / "register.geojson"
    located.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    assert invoke("match", "--official", located, "--cameras", cameras_geojson).exit_code == 0
    for option in (("--lon-field", "E"), ("--lat-field", "N")):
        result = invoke("match", "--official", located, "--cameras", cameras_geojson, *option)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert result.stderr == (f"osmcams: error: {located} has its own geometry: --lon-field and "
                                 "--lat-field go with a CSV or a spreadsheet\n")


def test_an_osm_extract_is_neither_cameras_nor_a_register(
    monaco_2025: Path, osm_cameras, write_text, cameras_geojson: Path
) -> None:
    """The Monaco extract given as --cameras, against a register of its 16 cameras (osmium),
    was read by GDAL as its 4,202 tagged nodes, shops and all, and matched as "OSM cameras"
    (exit 0). Given as --cameras or as the register, it is now one line, exit 2."""
    cameras = osm_cameras(monaco_2025)
    assert len(cameras) == 16
    assert pyogrio.read_info(monaco_2025, layer="points", force_feature_count=True)["features"] > 4000
    register = write_text("register.csv", "ref;lon;lat\n" + "".join(
        f"{c.osm_id};{c.lon};{c.lat}\n" for c in cameras))
    result = invoke("match", "--official", register, "--cameras", monaco_2025, "-q")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == ("osmcams: error: --cameras takes a file of cameras (an export), not "
                             "OpenStreetMap data: give monaco-2025-02-07.osm.pbf as --pbf, with the "
                             "communes (--commune, --department…)\n")
    result = invoke("match", "--official", monaco_2025, "--cameras", cameras_geojson, "-q")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == (f"osmcams: error: {monaco_2025} is OpenStreetMap data, not a register of "
                             "sites or cameras\n")


def test_outlines_and_fields_of_view_of_an_export_are_not_cameras(
    monaco_2025: Path, communes_06: Path, osm_cameras, ign_shapes, tmp_path: Path
) -> None:
    """Beausoleil and Cap-d'Ail exported --with-boundary --fov as one GeoJSON: their two
    outlines and the view of the camera with a direction were read as three more cameras
    (each at an inner point, 5 'OSM cameras'); the cameras are those osmium finds there."""
    shapes = ign_shapes(communes_06)
    inside = [c for c in osm_cameras(monaco_2025)
              if any(shapes[code].covers(Point(c.lon, c.lat)) for code in ("06012", "06032"))]
    exported = tmp_path / "cameras.geojson"
    result = invoke("export", "--commune", "06012", "--commune", "06032", "--pbf", monaco_2025,
                    "--boundaries", communes_06, "--with-boundary", "--fov", "-q", "-o", exported)
    assert result.exit_code == 0, result.output
    kinds = [f["geometry"]["type"] for f in read_features(exported)]
    assert kinds.count("Point") == len(inside) == 2 and len(kinds) > len(inside)
    register = tmp_path / "sites.csv"
    register.write_text("ref;lon;lat\n" + "".join(f"{c.osm_id};{c.lon};{c.lat}\n" for c in inside),
                        encoding="utf-8")
    result = invoke("match", "--official", register, "--cameras", exported, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["osm_total"], summary["sites_with_osm_cameras"], summary["osm_cameras_at_no_site"]) == (
        2, 2, 0)
    said = " ".join(summary["warnings"])
    assert f"cameras.geojson: {len(kinds) - 2} commune outlines or fields of view" in said
    # A camera way drawn as a line by another tool (overpass turbo) is still a camera.
    spot = inside[0]
    other = tmp_path / "turbo.geojson"
    other.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"@id": "way/1", "man_made": "surveillance"}, "geometry": {
            "type": "LineString", "coordinates": [[spot.lon, spot.lat], [spot.lon + 1e-5, spot.lat]]}},
        {"type": "Feature", "properties": {"@id": "node/2", "man_made": "surveillance"},
         "geometry": {"type": "Point", "coordinates": [spot.lon, spot.lat]}}]}), encoding="utf-8")
    result = invoke("match", "--official", register, "--cameras", other, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["osm_total"] == 2


def test_reading_a_geopackage_leaves_nothing_beside_it(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """GDAL wrote NAME.gpkg.aux.xml, its copy of the metadata, beside every GeoPackage of
    osmcams it read: the cameras of export given to match, the communes of count -o given
    back as --boundaries. Reading now writes nothing; the folders hold what was written."""
    export, communes = tmp_path / "export", tmp_path / "communes"
    export.mkdir()
    communes.mkdir()
    cameras = export / "cameras.gpkg"
    assert invoke("export", "--commune", "06012", "--pbf", monaco_2025, "--boundaries", communes_06, "-q",
                  "-o", cameras).exit_code == 0
    drawn = communes / "counts.gpkg"
    assert invoke("count", "--commune", "06012", "--pbf", monaco_2025, "--boundaries", communes_06, "-q",
                  "-o", drawn).exit_code == 0
    register = tmp_path / "sites.csv"
    register.write_text("ref;lon;lat\n1;7.4229;43.7371\n", encoding="utf-8")  # in Beausoleil
    result = invoke("match", "--official", register, "--cameras", cameras, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    result = invoke("count", "--commune", "06012", "--pbf", monaco_2025, "--boundaries", drawn,
                    "--code-field", "insee", "--name-field", "name", "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in export.iterdir()) == ["cameras.gpkg"]
    assert sorted(p.name for p in communes.iterdir()) == ["counts.gpkg"]


def test_a_file_gdal_cannot_read_is_said_without_its_advice_on_drivers(write_text) -> None:
    """A file GDAL knows no format of, as the cameras or as the register: GDAL's reason
    without "It might help to specify the correct driver explicitly by prefixing the file
    path with '<DRIVER>:'", advice for GDAL's own tools, as --boundaries already said it."""
    garbage = write_text("cameras.fgb", "garbage\n")
    register = write_text("sites.csv", "ref;lon;lat\n1;2.35;48.86\n")
    for official, cameras in ((register, garbage), (garbage, register)):
        args = ("--official", official, "--cameras", cameras)
        result = invoke("match", *args, "-q")
        assert result.exit_code == ExitCode.DATA, result.output
        assert result.stderr == (f"osmcams: error: {garbage}: cannot read: '{garbage}' not recognized as "
                                 "being in a supported file format.\n")


def test_output_dir_is_refused_before_the_work_unless_overwrite(write_text, tmp_path: Path) -> None:
    official = write_text("official.csv", "id,lon,lat\nA,2.35,48.86\n")
    cameras = write_text("osm.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35001, 48.86]},
         "properties": {"@id": "node/7"}}]}))
    out = tmp_path / "out"
    args = ("match", "--official", official, "--cameras", cameras, "--output-dir", out, "-f", "json")
    assert invoke(*args).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["matched.geojson", "official-only.geojson",
                                                     "osm-only.geojson"]
    again = invoke(*args)
    assert again.exit_code == ExitCode.USAGE and "--overwrite" in again.stderr
    assert again.stdout == ""
    assert invoke(*args, "--overwrite").exit_code == 0
    assert len(read_features(out / "matched.geojson")) == 1


# --- Registers of sites -----------------------------------------------------------------


@pytest.fixture(scope="module")
def site_cameras(official_points: list[tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """OSM cameras placed by site: none on some sites, one to three on others (up to 12 m
    away), some 25 to 40 m away (either side of the 30 m), and some far from every site."""
    rng = random.Random(24)
    points, node = {}, 1
    for lon, lat in official_points:
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            points[node] = GEOD.fwd(lon, lat, rng.uniform(0, 360), rng.uniform(0, 12))[:2]
            node += 1
        if rng.random() < 0.1:
            points[node] = GEOD.fwd(lon, lat, rng.uniform(0, 360), rng.uniform(25, 40))[:2]
            node += 1
    for _ in range(EXTRA):
        points[node] = (rng.uniform(2.26, 2.41), rng.uniform(48.82, 48.90))
        node += 1
    return points


def geojson_of(points: dict[int, tuple[float, float]], path: Path) -> Path:
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"@id": f"node/{node}", "man_made": "surveillance"}}
        for node, (lon, lat) in points.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def near_sites(
    official: list[tuple[float, float]], osm: dict[int, tuple[float, float]], limit: float = 30.0
) -> Any:
    """Which OSM camera is within `limit` metres of which site, from every geodesic distance."""
    ids = list(osm)
    a = numpy.repeat(numpy.array(official), len(ids), axis=0)
    b = numpy.tile(numpy.array([osm[i] for i in ids]), (len(official), 1))
    _, _, d = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    return d.reshape(len(official), len(ids)) <= limit


def test_paris_register_is_read_as_sites_and_matches_a_brute_force_count(
    register: Path, official_points, site_cameras, tmp_path: Path
) -> None:
    cameras = geojson_of(site_cameras, tmp_path / "cameras.geojson")
    result = invoke("match", "--official", register, "--cameras", cameras,  # sites by default
                    "--output-dir", tmp_path / "out", "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    near = near_sites(official_points, site_cameras)
    ids = list(site_cameras)
    assert summary["register_unit"] == "site"
    assert summary["sites_total"] == 707
    assert summary["sites_with_osm_cameras"] == int(near.any(axis=1).sum())
    assert summary["sites_without_osm_cameras"] == int((~near.any(axis=1)).sum())
    assert summary["osm_cameras_at_a_site"] == int(near.any(axis=0).sum())
    assert summary["osm_cameras_at_no_site"] == int((~near.any(axis=0)).sum())
    assert summary["osm_cameras_at_several_sites"] == int((near.sum(axis=0) > 1).sum())
    assert summary["most_osm_cameras_at_a_site"] == int(near.sum(axis=1).max()) >= 3
    matched = read_features(tmp_path / "out/matched.geojson")
    expected = {(round(official_points[i][0], 7), round(official_points[i][1], 7)):
                {f"node/{ids[j]}" for j in numpy.flatnonzero(near[i])}
                for i in numpy.flatnonzero(near.any(axis=1))}
    assert {tuple(f["geometry"]["coordinates"]): set(f["properties"]["osm_ids"].split(";"))
            for f in matched} == expected
    assert all(f["properties"]["osm_cameras"] == len(expected[tuple(f["geometry"]["coordinates"])])
               for f in matched)
    assert len(read_features(tmp_path / "out/official-only.geojson")) == summary["sites_without_osm_cameras"]
    alone = {f["properties"]["@id"] for f in read_features(tmp_path / "out/osm-only.geojson")}
    assert alone == {f"node/{ids[j]}" for j in numpy.flatnonzero(~near.any(axis=0))}
    # One to one, the second and third camera of a site would be "OSM only".
    paired = json.loads(pair("--official", register, "--cameras", cameras, "-f", "json").stdout)
    assert paired["osm_only"] > summary["osm_cameras_at_no_site"]


def test_markdown_summary_is_the_json_s_and_the_brute_force_count(
    register: Path, official_points, site_cameras, tmp_path: Path
) -> None:
    """--format markdown: a row per key of the summary, its value as --format json gives it,
    the counts of sites with and without cameras as the brute force finds them; the camera
    file, named with "|" and markup, one cell of text; the register, the OSM source and
    its data date in a line below, then the warnings."""
    cameras = geojson_of(site_cameras, tmp_path / "cam|eras *x* [a](b).geojson")
    args = ("match", "--official", register, "--cameras", cameras)
    summary = json.loads(invoke(*args, "-f", "json").stdout)
    result = invoke(*args, "-f", "markdown")
    assert result.exit_code == 0, result.output
    table, = markdown_tables(result.stdout)
    warnings = summary.pop("warnings")
    assert table == [["key", "value"], *([key, shown_cell(value)] for key, value in summary.items())]
    cells = dict(table[1:])
    near = near_sites(official_points, site_cameras)
    assert cells["sites_with_osm_cameras"] == str(int(near.any(axis=1).sum()))
    assert cells["sites_without_osm_cameras"] == str(int((~near.any(axis=1)).sum()))
    assert cells["osm_cameras_at_no_site"] == str(int((~near.any(axis=0)).sum()))
    assert cells["osm_source"] == str(cameras)
    assert "Register: " in result.stdout and "data of unknown date" in result.stdout
    assert result.stdout.count("> **Warning:**") == len(warnings)


def test_a_register_with_a_count_per_site(official_points, site_cameras, tmp_path: Path) -> None:
    rng = random.Random(5)
    counts = [rng.choice((1, 2, 3, 4)) for _ in official_points]
    counts[3] = None  # a site without a count
    register = tmp_path / "sites.csv"
    lines = [f"{i};{lon};{lat};{'' if n is None else n}\n"
             for i, ((lon, lat), n) in enumerate(zip(official_points, counts))]
    register.write_text("site;lon;lat;nombre\n" + "".join(lines), encoding="utf-8")
    cameras = geojson_of(site_cameras, tmp_path / "cameras.geojson")
    result = invoke("match", "--official", register, "--cameras", cameras, "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    at = near_sites(official_points, site_cameras).sum(axis=1).tolist()
    known = [(n, m) for n, m in zip(counts, at) if n is not None]
    assert summary["count_column"] == "nombre"
    assert summary["registered_cameras"] == sum(n for n, _ in known)
    assert summary["osm_cameras_at_counted_sites"] == sum(m for _, m in known)
    assert summary["sites_with_as_many_osm_cameras"] == sum(n == m for n, m in known)
    assert summary["sites_with_fewer_osm_cameras"] == sum(m < n for n, m in known)
    assert summary["sites_with_more_osm_cameras"] == sum(m > n for n, m in known)
    assert summary["registered_cameras_missing_from_osm"] == sum(max(n - m, 0) for n, m in known)
    assert summary["sites_without_count"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("site;lon;lat;nombre\n1;2.35;48.86;many\n", encoding="utf-8")
    refused = invoke("match", "--official", bad, "--cameras", cameras)
    assert refused.exit_code == ExitCode.DATA
    assert "nombre must be a whole number, not 'many'" in refused.stderr


def test_sites_where_the_data_has_none_are_neither_matched_nor_missing(
    monaco_2025: Path, communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """Beausoleil, with an extent of its southern half only: of four sites, the two in its
    northern half (outside the extent, by shapely) are left out with a warning, in the JSON
    too. They were counted as sites without an OSM camera, where OSM has no data at all."""
    import shapely

    beausoleil = ign_shapes(communes_06)["06012"]
    west, south, east, north = beausoleil.bounds
    half = shapely.box(west - 0.01, south - 0.01, east + 0.01, (south + north) / 2)
    extent = tmp_path / "south.geojson"
    extent.write_text(json.dumps({"type": "Feature", "properties": {},
                                  "geometry": shapely.geometry.mapping(half)}), encoding="utf-8")
    inside = [p for p in (shapely.Point(x, y) for x in numpy.linspace(west, east, 25)
                          for y in numpy.linspace(south, north, 25)) if beausoleil.contains(p)]
    covered = [p for p in inside if half.contains(p)][:2]
    uncovered = [p for p in inside if not half.contains(p)][:2]
    register = tmp_path / "sites.csv"
    register.write_text("nom;lon;lat\n" + "".join(f"s{i};{p.x};{p.y}\n" for i, p in
                                                 enumerate(covered + uncovered)), encoding="utf-8")
    result = invoke("match", "--official", register, "--commune", "Beausoleil", "--pbf", monaco_2025,
                    "--boundaries", communes_06, "--extent", extent, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["sites_total"] == 2
    assert ("2 of 4 official sites lie in the part of Beausoleil that the OSM data does not cover"
            in " ".join(summary["warnings"]))
    assert any("only partly inside the data" in w for w in summary["warnings"])


@pytest.mark.parametrize("driver", ["XLSX", "ODS"])
def test_a_register_kept_as_a_spreadsheet(
    driver: str, register: Path, official_points, site_cameras, tmp_path: Path
) -> None:
    """The Paris register saved as a spreadsheet (.xlsx, .ods: a table with its coordinates in
    columns, no geometry) was a traceback ("'DataFrame' object has no attribute 'crs'"); it is
    now read as the CSV is, every site counted as the brute force counts them."""
    import pandas

    table = pandas.read_csv(register, sep=";", dtype=str)
    table[["lon", "lat"]] = table[["lon", "lat"]].astype(float)  # numbers, as a spreadsheet holds them
    sheet = tmp_path / f"register.{driver.lower()}"
    pyogrio.write_dataframe(table, sheet, driver=driver)
    cameras = geojson_of(site_cameras, tmp_path / "cameras.geojson")
    result = invoke("match", "--official", sheet, "--cameras", cameras, "-q", "-f", "json",
                    "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    near = near_sites(official_points, site_cameras)
    assert summary["sites_total"] == len(official_points) == 707
    assert summary["sites_with_osm_cameras"] == int(near.any(axis=1).sum())
    assert summary["osm_cameras_at_no_site"] == int((~near.any(axis=0)).sum())
    first = read_features(tmp_path / "out/matched.geojson")[0]["properties"]
    assert first["Code postal"] == "75001" and "lon" not in first
