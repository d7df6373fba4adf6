"""Tables and camera files: shapes, formats, file names and atomic writes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import shape

from osmcams.cli import cli
from osmcams.communes.boundaries import load_communes
from osmcams.errors import UsageError
from osmcams.files import atomic_open, atomic_path
from osmcams.join import ROW_KEYS, Report, count
from osmcams.models import make_camera
from osmcams.outputs.writers import (
    RS,
    commune_file,
    render_text,
    slug,
    write_cameras,
    write_report,
)

CSV_HEADER = (
    "insee,name,department,population,area_km2,coverage,partial,cameras,cameras_per_km2,cameras_per_10k,"
    "inhabitants_per_camera,by_type,by_scope,note"
)


@pytest.fixture(scope="module")
def report(monaco_scan, communes_06: Path, cog_population: Path) -> Report:
    """Monaco 2025 cameras in Beausoleil and Cap-d'Ail, with IGN boundaries and COG population."""
    communes = load_communes([communes_06], population=cog_population)
    return count(monaco_scan[0], communes, ["06012", "06032"])


@pytest.fixture
def beausoleil(report: Report) -> dict:
    """Arguments of write_cameras for Beausoleil, with its outline."""
    return {
        "cameras": report.cameras["06012"],
        "boundaries": [{"code": "06012", "name": "Beausoleil", "geometry": report.boundaries["06012"]}],
    }


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if ".tmp" in p.name]


def test_json_shape(report: Report) -> None:
    data = json.loads(render_text(lambda out: write_report(report, "json", out)))
    assert list(data) == ["meta", "communes", "warnings"]
    meta = data["meta"]
    assert meta["source"].endswith("monaco-2025-02-07.osm.pbf")
    assert meta["data_timestamp"] == "2025-02-07T01:02:45Z"
    assert meta["population_source"] == "communes.json (Etalab COG)"
    assert meta["population_year"] is None
    assert meta["osmcams_version"]
    assert [tuple(row) for row in data["communes"]] == [ROW_KEYS, ROW_KEYS]
    assert [row["insee"] for row in data["communes"]] == ["06012", "06032"]
    assert all(isinstance(w, str) for w in data["warnings"])


def test_csv_header_and_rows(report: Report) -> None:
    text = render_text(lambda out: write_report(report, "csv", out))
    lines = text.splitlines()
    assert lines[0] == CSV_HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["insee"] for r in rows] == ["06012", "06032"]
    assert json.loads(rows[0]["by_type"]) == report.rows[0]["by_type"]
    assert rows[0]["cameras"] == "1"


def test_markdown(report: Report) -> None:
    text = render_text(lambda out: write_report(report, "markdown", out))
    lines = text.splitlines()
    assert lines[0] == "| " + " | ".join(ROW_KEYS) + " |"
    assert lines[2].startswith("| 06012 | Beausoleil | 06 |")
    assert "Population: communes.json (Etalab COG), year unknown." in text
    assert text.count("> **Warning:**") == len(report.warnings)


def test_a_markdown_cell_is_one_line_of_text() -> None:
    """A value with a line break, a "|", HTML and an ESC stays in its cell as text (its "["
    escaped: no link), and only number columns are aligned right (text ones were too)."""
    from osmcams.outputs.writers import markdown_table

    rows = [{"name": "Nice\n| <script>alert(1)</script>\x1b[2J", "cameras": 3, "note": "a"}]
    lines = render_text(lambda out: markdown_table(rows, ("name", "cameras", "note"), out)).splitlines()
    assert lines[1] == "|---|---:|---|" and len(lines) == 3
    assert lines[2] == "| Nice \\| &lt;script&gt;alert(1)&lt;/script&gt;\\x1b\\[2J | 3 | a |"


def test_geojson_is_rfc_7946(beausoleil: dict, tmp_path: Path) -> None:
    target = tmp_path / "b.geojson"
    write_cameras(beausoleil["cameras"], target, "geojson", beausoleil["boundaries"])
    data = json.loads(target.read_text())
    assert data["type"] == "FeatureCollection"
    assert "crs" not in data
    outline, *points = data["features"]
    assert outline["properties"] == {"kind": "boundary", "insee": "06012", "name": "Beausoleil"}
    for polygon in shapely.get_parts(shape(outline["geometry"])):
        assert polygon.exterior.is_ccw
        assert all(not ring.is_ccw for ring in polygon.interiors)
    outline_shape = beausoleil["boundaries"][0]["geometry"]
    assert shape(outline["geometry"]).symmetric_difference(outline_shape).area < 1e-12
    (camera,) = beausoleil["cameras"]
    assert points == [{
        "type": "Feature",
        "id": camera.key,
        "geometry": {"type": "Point", "coordinates": [camera.lon, camera.lat]},  # lon first
        "properties": json.loads(json.dumps(camera.flat_properties())),
    }]
    assert _no_temp_files(tmp_path)


def test_geojson_sequence(report: Report, tmp_path: Path) -> None:
    cameras = report.cameras["06012"] + report.cameras["06032"]
    target = tmp_path / "c.geojsons"
    write_cameras(cameras, target, "geojsonseq")
    lines = target.read_text().split("\n")
    assert lines[-1] == ""
    assert all(line.startswith(RS) for line in lines[:-1])
    assert [json.loads(line[1:])["id"] for line in lines[:-1]] == [c.key for c in cameras]


def test_geojsonl_is_newline_delimited(report: Report, tmp_path: Path) -> None:
    """.geojsonl holds one feature a line and no RS, as GDAL's GeoJSONSeq driver writes it."""
    cameras = report.cameras["06012"] + report.cameras["06032"]
    target = tmp_path / "c.geojsonl"
    write_cameras(cameras, target, "geojsonseq")
    assert RS not in target.read_text()
    with target.open() as lines:
        assert [json.loads(line)["id"] for line in lines] == [c.key for c in cameras]
    assert list(pyogrio.read_dataframe(target)["@id"]) == [c.key for c in cameras]


def test_gpkg_and_csv(beausoleil: dict, report: Report, tmp_path: Path) -> None:
    cameras = report.cameras["06012"] + report.cameras["06032"]
    write_cameras(cameras, tmp_path / "c.gpkg", "gpkg", beausoleil["boundaries"])
    layers = {name for name, _ in pyogrio.list_layers(tmp_path / "c.gpkg")}
    assert layers == {"cameras", "boundary"}
    frame = pyogrio.read_dataframe(tmp_path / "c.gpkg", layer="cameras")
    assert len(frame) == 2
    assert list(frame["@id"]) == [c.key for c in cameras]
    write_cameras(cameras, tmp_path / "c.csv", "csv")
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert tuple(rows[0])[:5] == ("lon", "lat", "@id", "name", "description")
    assert [float(r["lon"]) for r in rows] == [c.lon for c in cameras]
    assert _no_temp_files(tmp_path)


def test_empty_camera_files(tmp_path: Path) -> None:
    write_cameras([], tmp_path / "none.geojson", "geojson")
    empty = {"type": "FeatureCollection", "features": []}
    assert json.loads((tmp_path / "none.geojson").read_text()) == empty
    write_cameras([], tmp_path / "none.gpkg", "gpkg")
    assert len(pyogrio.read_dataframe(tmp_path / "none.gpkg")) == 0


@pytest.mark.parametrize(("name", "expected"), [
    ("Beausoleil", "06012-beausoleil.geojson"),
    ("Cap-d'Ail", "06012-cap-d-ail.geojson"),
    ("Saint-Étienne", "06012-saint-etienne.geojson"),
    ("../../etc/passwd", "06012-etc-passwd.geojson"),
    ("a/b", "06012-a-b.geojson"),
    ("/", "06012-commune.geojson"),
    ("..", "06012-commune.geojson"),
    ("Ὀδυσσεύς", "06012-commune.geojson"),
])
def test_commune_files_stay_in_the_directory(tmp_path: Path, name: str, expected: str) -> None:
    assert commune_file("06012", name, "geojson") == expected
    assert "/" not in commune_file("../x", name, "csv")


def test_slug_is_short_ascii() -> None:
    assert slug("L'Haÿ-les-Roses") == "l-hay-les-roses"
    assert len(slug("x" * 500)) == 80


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    """From Python, an existing file is refused with the parameter to pass, overwrite=True,
    not the command line's --overwrite: the file itself, or one that goes beside it."""
    from osmcams.outputs.writers import write_csv_set

    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(UsageError, match=r"out\.csv exists; pass overwrite=True to replace it$"):
        write_cameras([], target, "csv")
    assert target.read_text() == "old"
    (tmp_path / "rows.csvt").write_text("mine")
    with pytest.raises(UsageError, match=r"rows\.csvt exists; pass overwrite=True to replace it$"):
        write_csv_set(tmp_path / "rows.csv", False, ("a",), lambda out: out.write("a\n1\n"), None)
    assert (tmp_path / "rows.csvt").read_text() == "mine" and not (tmp_path / "rows.csv").exists()
    write_cameras([], target, "csv", overwrite=True)
    assert target.read_text().splitlines() == ["lon,lat,@id,name,description,@direction,@timestamp"]
    with pytest.raises(UsageError, match="missing does not exist: create it first"):
        write_cameras([], tmp_path / "missing" / "out.csv", "csv")
    with pytest.raises(UsageError, match=r"out\.csv is not a directory"):
        write_cameras([], target / "out.csv", "csv")
    with pytest.raises(UsageError, match="unknown camera format"):
        write_cameras([], tmp_path / "x.dxf", "dxf")


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target, overwrite=True) as out:
        out.write("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "new.gpkg"):
        raise RuntimeError("crash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_written_files_are_readable_by_others(tmp_path: Path) -> None:
    with atomic_open(tmp_path / "t.txt") as out:
        out.write("x")
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == 0o644


def test_geoparquet_cameras(tmp_path: Path) -> None:
    import geopandas

    cameras = [make_camera("node", 1, 7.42, 43.73, {"man_made": "surveillance", "direction": "NE"})[0],
               make_camera("way", 2, 7.43, 43.74, {"man_made": "surveillance"})[0]]
    write_cameras(cameras, tmp_path / "c.parquet", "parquet")
    frame = geopandas.read_parquet(tmp_path / "c.parquet")
    assert list(frame["@id"]) == ["node/1", "way/2"]
    assert list(frame["@direction"].fillna(-1)) == [45.0, -1]
    assert [(p.x, p.y) for p in frame.geometry] == [(7.42, 43.73), (7.43, 43.74)]
    assert frame.crs.to_epsg() == 4326
    assert list(frame["direction"].fillna("")) == ["NE", ""] and "tags" not in frame


def test_count_writes_the_communes_as_a_density_layer(
    monaco_2025: Path, communes_06: Path, cog_population: Path, osm_cameras, ign_shapes, tmp_path: Path
) -> None:
    """`count -o x.geojson|.gpkg`: polygons with their rows, checked against osmium and shapely."""
    geojson, gpkg = tmp_path / "communes.geojson", tmp_path / "communes.gpkg"
    for target in (geojson, gpkg):
        result = CliRunner().invoke(cli, [
            "count", "--department", "06", "--pbf", str(monaco_2025), "--boundaries", str(communes_06),
            "--population", str(cog_population), "-q", "-o", str(target), "--include-partial",
        ])
        assert result.exit_code == 0, result.output
    shapes = ign_shapes(communes_06)
    cameras = [shapely.Point(o.lon, o.lat) for o in osm_cameras(monaco_2025) if o.kind == "n"]
    features = json.loads(geojson.read_text(encoding="utf-8"))["features"]
    assert features
    for feature in features:
        properties, outline = feature["properties"], shape(feature["geometry"])
        expected = shapes[properties["insee"]]
        assert all(not isinstance(v, (dict, list)) for v in properties.values())
        assert abs(outline.area - expected.area) <= 1e-6 * expected.area
        assert properties["cameras"] == sum(expected.covers(c) for c in cameras)
    assert sum(f["properties"]["cameras"] for f in features) == 2  # Beausoleil and Cap-d'Ail
    frame = pyogrio.read_dataframe(gpkg, layer="communes")
    assert sorted(frame["insee"]) == sorted(f["properties"]["insee"] for f in features)


def test_count_draws_communes_only_into_a_file(monaco_2025: Path, communes_06: Path) -> None:
    result = CliRunner().invoke(cli, ["count", "--commune", "06012", "--pbf", str(monaco_2025),
                                      "--boundaries", str(communes_06), "-q", "-f", "gpkg"])
    assert result.exit_code == 2
    assert "give it --output FILE" in result.stderr


def _set_features(report: Report) -> dict[str, list[str]]:
    """Each commune's camera features as the lines of cameras.geojson, with an accented name
    (its bytes and characters differ), and Èze with none."""
    from osmcams.outputs.writers import feature_line

    names = {"06012": "Beausoleil é", "06032": "Cap-d'Ail", "06059": "Èze"}
    return {code: [feature_line({
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
        "properties": {"@id": f"{c.osm_type}/{c.osm_id}", "name": names[code], "insee": code}})
        for c in report.cameras.get(code, [])] for code in names}


def test_a_patched_set_keeps_the_other_communes_files(report: Report, tmp_path: Path) -> None:
    """A patch writes the files of the communes given, keeps the others' in place, and
    writes cameras.geojson from the lines given; each file written is named with its size
    and time as os.stat gives them."""
    import os

    from osmcams.outputs.sets import SetRow, commune_path, write_set

    features = _set_features(report)
    rows = [SetRow(code, code, "{}", f"{code}\n") for code in features]
    assert [len(features[c]) for c in features] == [len(report.cameras["06012"]),
                                                    len(report.cameras["06032"]), 0]
    every = [line for lines in features.values() for line in lines]
    written, ranges = write_set(tmp_path, {}, [], rows, features, _lines(features))
    files = {"communes.csv", "communes.csvt", "communes.json", "cameras.geojson",
             *(commune_path(code, code) for code in features)}
    assert set(written) == files
    path = tmp_path / "cameras.geojson"
    assert json.loads(path.read_text(encoding="utf-8"))["features"] == [json.loads(x) for x in every]
    kept = tmp_path / commune_path("06012", "06012")
    stamp = kept.stat().st_mtime_ns

    moved = {"06032": features["06032"][1:]}  # Cap-d'Ail loses its first camera
    lines = [*features["06012"], *moved["06032"]]
    written, _ = write_set(tmp_path, {}, [], rows, moved, _lines({**features, **moved}), whole=False,
                           ranges=ranges)
    assert set(written) == {*files} - {commune_path(code, code) for code in ("06012", "06059")}
    for name, (size, mtime) in written.items():
        stat = os.stat(tmp_path / name)
        assert (stat.st_size, stat.st_mtime_ns) == (size, mtime), name
    assert json.loads(path.read_text(encoding="utf-8"))["features"] == [json.loads(x) for x in lines]
    assert kept.stat().st_mtime_ns == stamp
    cap_d_ail = json.loads((tmp_path / commune_path("06032", "06032")).read_text(encoding="utf-8"))
    assert cap_d_ail["features"] == [json.loads(x) for x in moved["06032"]]


def _lines(features: dict[str, list[str]]) -> Callable[[Any], list[tuple[str, bytes]]]:
    """What `Kept.features` gives, from each commune's lines, in the order of `features`."""
    return lambda codes: [(code, line.encode()) for code, lines in features.items()
                          if codes is None or code in codes for line in lines]


@pytest.mark.parametrize("count", [0, 1, 2, 500])
def test_cameras_spliced_from_the_file_in_place_equal_a_whole_write(count: int, tmp_path: Path) -> None:
    """cameras.geojson is the collection `write_feature_lines` writes; its ranges hold each
    commune's lines; written again with some communes changed, others in a new order, one
    new and one gone, from those ranges, it is the file a whole write gives (the changed
    communes' lines taken as given, and no commune's lines read but the new one's)."""
    from osmcams.outputs.sets import SetRow, write_set
    from osmcams.outputs.writers import write_feature_lines

    def feature(code: str, i: int) -> str:
        return json.dumps({"type": "Feature", "properties": {"name": f"Èze {code} {i}"}, "geometry": None},
                          ensure_ascii=False)

    codes = [f"060{k:02d}" for k in range(8)]
    features = {code: [feature(code, i) for i in range(count * (k % 3))] for k, code in enumerate(codes)}
    rows = [SetRow(code, code, "{}", f"{code}\n") for code in codes]
    _, ranges = write_set(tmp_path, {}, [], rows, features, _lines(features))
    path = tmp_path / "cameras.geojson"
    text = io.StringIO()
    write_feature_lines([line for lines in features.values() for line in lines], text)
    assert path.read_bytes() == text.getvalue().encode()
    for code, (offset, size) in ranges.items():
        assert path.read_bytes()[offset:offset + size].decode() == ",\n".join(features[code])

    changed = {codes[1]: [feature(codes[1], 0)], codes[2]: [], codes[4]: features[codes[4]][1:]}
    after = {**features, **changed, "06099": [feature("06099", 0)]}
    del after[codes[5]]
    order = [codes[4], "06099", *codes[:4], *codes[6:]]
    after = {code: after[code] for code in order}
    asked: list[Any] = []

    def lines(wanted: Any) -> list[tuple[str, bytes]]:
        asked.append(wanted)
        return _lines(after)(wanted)

    spliced = tmp_path / "spliced"
    spliced.mkdir()
    path.rename(spliced / "cameras.geojson")
    rows = [SetRow(code, code, "{}", f"{code}\n") for code in order]
    _, moved = write_set(spliced, {}, [], rows, changed, lines, whole=False, ranges=ranges)
    assert asked == [{"06099"}]
    whole = tmp_path / "whole"
    _, expected = write_set(whole, {}, [], rows, after, _lines(after))
    assert (spliced / "cameras.geojson").read_bytes() == (whole / "cameras.geojson").read_bytes()
    assert moved == expected


def test_count_files_say_where_their_numbers_come_from(
    monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path
) -> None:
    """`count -o` to GeoJSON (foreign member `meta`), GeoPackage (gpkg_metadata, read with
    sqlite3 and with GDAL through pyogrio) and CSV (NAME.meta.json beside it): the data date
    is the one `osmium fileinfo` reads in the file's header."""
    import sqlite3

    from conftest import run_osmium

    stamp = run_osmium("fileinfo", "-g", "header.option.osmosis_replication_timestamp",
                       monaco_2025).strip()
    args = ["count", "--commune", "06012", "--commune", "06104", "--pbf", str(monaco_2025),
            "--boundaries", str(communes_06), "--population", str(cog_population), "-q", "-o"]

    def check(meta: dict) -> None:
        assert meta["data_timestamp"] == stamp
        assert meta["source"] == str(monaco_2025)
        assert meta["population_source"] == "communes.json (Etalab COG)"
        assert meta["coverage_from"] == "estimated from the data"  # no .poly beside it
        assert meta["min_coverage"] == 0.95 and meta["osmcams_version"]

    target = tmp_path / "c.geojson"
    assert CliRunner().invoke(cli, [*args, str(target)]).exit_code == 0
    collection = json.loads(target.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2
    check(collection["meta"])
    assert any("06104" in w for w in collection["warnings"])  # partly covered, said so
    assert len(pyogrio.read_dataframe(target)) == 2  # GDAL reads past the foreign members

    target = tmp_path / "c.gpkg"
    assert CliRunner().invoke(cli, [*args, str(target)]).exit_code == 0
    with sqlite3.connect(target) as db:
        (scope, xml), = db.execute(
            "SELECT m.md_scope, m.metadata FROM gpkg_metadata m JOIN gpkg_metadata_reference r"
            " ON r.md_file_id = m.id WHERE r.reference_scope = 'geopackage'").fetchall()
    assert scope == "dataset" and f'<MDI key="data_timestamp">{stamp}</MDI>' in xml
    items = pyogrio.read_info(target, layer="communes")["dataset_metadata"]
    assert items["data_timestamp"] == stamp and items["source"] == str(monaco_2025)
    assert json.loads(items["min_coverage"]) == 0.95 and "06104" in items["warnings"]
    assert set(items) == {*collection["meta"], "warnings"}
    assert len(pyogrio.read_dataframe(target, layer="communes")) == 2

    target = tmp_path / "c.csv"
    assert CliRunner().invoke(cli, [*args, str(target)]).exit_code == 0
    assert [r["insee"] for r in csv.DictReader(io.StringIO(target.read_text(encoding="utf-8")))] == [
        "06012", "06104"]
    sidecar = json.loads((tmp_path / "c.meta.json").read_text(encoding="utf-8"))
    check(sidecar["meta"])
    assert sidecar["csv"] == "c.csv" and any("06104" in w for w in sidecar["warnings"])
    # The files beside it exist: without --overwrite, nothing is written, each refused before
    # the work; with it, all are replaced.
    (tmp_path / "c.csv").unlink()
    for beside in ("c.csvt", "c.meta.json"):
        result = CliRunner().invoke(cli, [*args, str(target)])
        assert result.exit_code == 2 and f"{beside} exists" in result.stderr
        assert not target.exists()
        (tmp_path / beside).rename(tmp_path / f"{beside}.aside")
    for beside in ("c.csvt", "c.meta.json"):
        (tmp_path / f"{beside}.aside").rename(tmp_path / beside)
    assert CliRunner().invoke(cli, [*args, str(target), "--overwrite"]).exit_code == 0
    assert target.exists()

    # export's CSV and timeline's (of the same data as a history): the same.
    history = tmp_path / "m.osh.pbf"
    run_osmium("cat", monaco_2025, "-o", history)
    for command, name in (("export", "x.csv"), ("timeline", "t.csv")):
        given = [command, *(str(history) if a == str(monaco_2025) and command == "timeline" else a
                            for a in args[1:]), str(tmp_path / name)]
        for beside in (".csvt", ".meta.json"):
            (tmp_path / name).with_suffix(beside).write_text("mine")
            result = CliRunner().invoke(cli, given)
            assert result.exit_code == 2 and "exists; add --overwrite" in result.stderr, result.output
            assert (tmp_path / name).with_suffix(beside).read_text() == "mine"
            (tmp_path / name).with_suffix(beside).unlink()
        assert CliRunner().invoke(cli, given).exit_code == 0
        written = json.loads((tmp_path / name).with_suffix(".meta.json").read_text(encoding="utf-8"))
        assert written["csv"] == name and written["meta"]["source"] in (str(monaco_2025), str(history))

    # export: the camera files of GeoJSON and GeoPackage say it too.
    args[0] = "export"
    for name in ("e.geojson", "e.gpkg"):
        assert CliRunner().invoke(cli, [*args, str(tmp_path / name)]).exit_code == 0
    check(json.loads((tmp_path / "e.geojson").read_text(encoding="utf-8"))["meta"])
    items = pyogrio.read_info(tmp_path / "e.gpkg", layer="cameras")["dataset_metadata"]
    assert items["data_timestamp"] == stamp


def _odd_cameras(report: Report) -> list:
    """The real cameras of Monaco's neighbours, some twice (a repeated set of tags), and cameras
    whose tags are named as the computed properties, are empty, hostile or differ by case only."""
    odd = [
        make_camera("node", 1, 7.42, 43.73, {"man_made": "surveillance", "@id": "way/9",
                                             "@timestamp": "", "Name": "upper", "insee": "99999"})[0],
        make_camera("node", 2, 7.43, 43.74, {"man_made": "surveillance", "name": "<b>x</b>", "height": "",
                                             "camera:direction": "NE", "description": "Caméra"},
                    "2024-05-01T10:00:00Z")[0],
        make_camera("way", 3, 7.44, 43.75, {"surveillance:type": "ALPR", "@direction": "12"})[0],
    ]
    real = report.cameras["06012"] + report.cameras["06032"]
    return real + odd + real[:3]


def test_gpkg_columns_equal_a_frame_of_the_records(report: Report, tmp_path: Path) -> None:
    """The GeoPackage, written column by column once per set of tags, holds what a frame made
    from each camera's own flat properties holds (the plain way, through GDAL's feature loop)."""
    import geopandas

    from osmcams.outputs.writers import typed

    cameras = _odd_cameras(report)
    places = [("06012", "Beausoleil") if i % 2 else ("06032", "Cap-d'Ail") for i in range(len(cameras))]
    write_cameras(cameras, tmp_path / "c.gpkg", "gpkg", communes=places)
    records = [c.flat_properties(*p) for c, p in zip(cameras, places)]
    columns: dict[str, str] = {}
    for record in records:
        for key in record:
            columns.setdefault(key.lower(), key)
    expected = typed(geopandas.GeoDataFrame(records, columns=list(columns.values()), crs="EPSG:4326",
                                            geometry=[shapely.Point(c.lon, c.lat) for c in cameras]))
    expected.to_file(tmp_path / "e.gpkg", layer="cameras", driver="GPKG", use_arrow=False)
    written, wanted = (pyogrio.read_dataframe(tmp_path / n, layer="cameras") for n in ("c.gpkg", "e.gpkg"))
    assert list(written.columns) == list(wanted.columns)
    assert written.to_wkb().equals(wanted.to_wkb())
    # A tag named as a property of osmcams's own is kept apart: it took node/1's place.
    first = written.loc[len(report.cameras["06012"]) + len(report.cameras["06032"])]
    assert (first["@id"], first["tag:@id"], first["insee"], first["tag:insee"], first["tag:Name"]) == \
        ("node/1", "way/9", "06032", "99999", "upper")  # Name: name but for case, osmcams's own
    assert pyogrio.read_info(tmp_path / "c.gpkg", layer="cameras")["dtypes"].tolist() == \
        pyogrio.read_info(tmp_path / "e.gpkg", layer="cameras")["dtypes"].tolist()


def test_the_camera_frame_equals_a_frame_of_the_records(report: Report, osm_dir: Path) -> None:
    """The cameras' frame, its columns typed once per set of tags, is the frame that pandas
    makes from each camera's own flat properties: the same values and types, column by column
    (Helsinki's 221 real cameras in 24 sets of tags, with Monaco's and the odd ones)."""
    import geopandas
    import pandas

    from osmcams.outputs.writers import _camera_frame, _Cameras, _folded_columns, typed
    from osmcams.sources.osm.pbf import read_cameras

    cameras = [*read_cameras(osm_dir / "helsinki-2019.osm.pbf", threads=1).cameras, *_odd_cameras(report)]
    places = [(None, None) if i % 3 == 0 else ("06012", "Beausoleil") for i in range(len(cameras))]
    assert len({c.tag_set() for c in cameras}) > 20
    frame = _camera_frame(_Cameras(cameras, places, None, None, None, placed=True))
    names, folded = _folded_columns([c.flat_properties(*p) for c, p in zip(cameras, places)])
    expected = typed(geopandas.GeoDataFrame({name: [r.get(name.lower()) for r in folded] for name in names},
                                            geometry=[shapely.Point(c.lon, c.lat) for c in cameras],
                                            crs="EPSG:4326"))
    pandas.testing.assert_frame_equal(frame, expected)


def test_a_communes_layer_without_a_commune_keeps_its_columns(report: Report, tmp_path: Path) -> None:
    """Every commune left out of a ranking: the GeoPackage layer keeps the fields and types of
    one with communes, and a geometry type, as the CSV keeps its header."""
    from osmcams.outputs.writers import write_communes

    write_communes(report, tmp_path / "full.gpkg", "gpkg")
    write_communes(Report(report.meta, [], boundaries=report.boundaries), tmp_path / "empty.gpkg", "gpkg")
    full, empty = (pyogrio.read_info(tmp_path / n, layer="communes") for n in ("full.gpkg", "empty.gpkg"))
    assert empty["features"] == 0 and empty["geometry_type"] == "MultiPolygon"  # what any commune fits
    kept = [(f, t) for f, t in zip(full["fields"], full["dtypes"])
            if not f.startswith(("by_type:", "by_scope:"))]
    assert list(zip(empty["fields"], empty["dtypes"])) == kept


@pytest.mark.parametrize("fmt", ["csv", "geojson", "parquet"])
def test_tags_named_as_osmcams_columns_take_no_place_of_theirs(tmp_path: Path, fmt: str) -> None:
    """Tags @id, lon, lat and geometry (anyone can write them): the camera keeps its own id
    and place, the tags are kept as tag:<key> (uMap: test_umap). @id=bogus had replaced
    node/1, which uMap's links follow; lon=1.5 the CSV's longitude; geometry was lost."""
    import geopandas

    tags = {"man_made": "surveillance", "@id": "bogus", "lon": "1.5", "lat": "2.5", "geometry": "x"}
    camera = make_camera("node", 1, 7.42, 43.73, tags)[0]
    out = tmp_path / f"c.{fmt}"
    write_cameras([camera], out, fmt)
    if fmt == "csv":
        (row,) = csv.DictReader(out.open(encoding="utf-8"))
        own = (row["@id"], float(row["lon"]), float(row["lat"]))
    elif fmt == "parquet":
        frame = geopandas.read_parquet(out)
        row = frame.iloc[0].to_dict()
        own = (row["@id"], frame.geometry.x[0], frame.geometry.y[0])
    else:
        feature = json.loads(out.read_text(encoding="utf-8"))["features"][0]
        row = feature["properties"]
        own = (row["@id"], *feature["geometry"]["coordinates"])
    assert own == ("node/1", 7.42, 43.73)
    assert {k: row[k] for k in ("tag:@id", "tag:lon", "tag:lat", "tag:geometry")} == \
        {"tag:@id": "bogus", "tag:lon": "1.5", "tag:lat": "2.5", "tag:geometry": "x"}


def test_keys_equal_but_for_case_lose_no_value(camera_pbf, communes_06: Path, tmp_path: Path) -> None:
    """operator=Ville, Operator=Police and both on one camera; surveillance:type camera and
    Camera. A GeoPackage, a Shapefile or Parquet cannot tell such columns apart: one column
    holds every value (joined by ";" on the camera with both), and the counts by type add
    up. "Police" was lost, and count's GeoPackage failed on a field by_type:Camera."""
    import geopandas

    tagged = [{"operator": "Ville", "surveillance:type": "camera"},
              {"Operator": "Police", "surveillance:type": "Camera"},
              {"operator": "Ville", "Operator": "Police", "surveillance:type": "camera"}]
    pbf = camera_pbf({i + 1: (7.425 + i * 0.001, 43.745, {"man_made": "surveillance", **tags})
                      for i, tags in enumerate(tagged)}, (7.3, 43.6, 7.6, 43.9))
    expected = {"node/1": "Ville", "node/2": "Police", "node/3": "Ville;Police"}
    where = ["--pbf", pbf, "--boundaries", communes_06, "--commune", "Beausoleil", "-q"]
    runner = CliRunner()
    for suffix in ("gpkg", "fgb", "parquet", "csv"):
        out = tmp_path / f"cameras.{suffix}"
        assert runner.invoke(cli, ["export", *map(str, where), "-o", str(out)]).exit_code == 0
        if suffix == "csv":
            rows = list(csv.DictReader(out.open(encoding="utf-8")))
        else:
            frame = geopandas.read_parquet(out) if suffix == "parquet" else pyogrio.read_dataframe(out)
            rows = frame.drop(columns="geometry").to_dict("records")
        assert {r["@id"]: r["operator"] for r in rows} == expected, suffix
    out = tmp_path / "counts.gpkg"
    result = runner.invoke(cli, ["count", *map(str, where), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = pyogrio.read_dataframe(out, layer="communes").to_dict("records")
    assert {k: v for k, v in row.items() if k.startswith("by_type:")} == {"by_type:camera": 3}
