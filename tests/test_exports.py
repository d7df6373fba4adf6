"""`export` files as uMap and QGIS take them: flat properties, one file for several communes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyogrio
import pytest
from click.testing import CliRunner
from shapely.geometry import Point

from osmcams.cli import cli


def _export(*args: object) -> None:
    result = CliRunner().invoke(cli, ["export", *map(str, args)])
    assert result.exit_code == 0, result.output


def _read(path: Path) -> list[dict]:
    """Each camera's properties, read back with json, csv or pyogrio."""
    if path.suffix == ".geojson":
        features = json.loads(path.read_text())["features"]
        return [f["properties"] for f in features if f["geometry"]["type"] == "Point"]
    if path.suffix == ".csv":
        return list(csv.DictReader(path.open(encoding="utf-8")))
    import geopandas

    frame = pyogrio.read_dataframe(path, layer="cameras") if path.suffix == ".gpkg" else (
        geopandas.read_parquet(path))
    return [{k: v for k, v in row.items() if k != "geometry" and v == v and v is not None}
            for row in frame.to_dict("records")]


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".csv", ".parquet"])
def test_beausoleil_cameras_have_flat_true_properties(
    suffix: str, monaco_2025: Path, communes_06: Path, osm_cameras, tmp_path: Path
) -> None:
    """Monaco 2025 + IGN 06: the tags osmium-tool reads, as top-level keys, with the commune."""
    out = tmp_path / f"b{suffix}"
    _export("--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries", communes_06, "-q", "-o", out)
    expected = {f"{'node' if o.kind == 'n' else 'way'}/{o.osm_id}": o.tags for o in osm_cameras(monaco_2025)}
    cameras = _read(out)
    assert len(cameras) == 1
    for properties in cameras:
        assert not [k for k, v in properties.items() if isinstance(v, (dict, list))]
        assert "tags" not in properties
        assert properties["insee"] == "06012" and properties["commune"] == "Beausoleil"
        tags = expected[properties["@id"]]
        assert tags == {"man_made": "surveillance", "surveillance:type": "camera"}  # all osmium sees
        assert properties["name"] == "Camera"
        assert properties["description"] == "direction unknown"
        for key, value in tags.items():
            assert properties[key] == value, key


def test_one_file_for_several_communes(
    monaco_2025: Path, communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """Beausoleil and Cap-d'Ail in one GeoPackage: each camera in the commune whose outline holds it."""
    out = tmp_path / "two.gpkg"
    _export("--commune", "06012", "--commune", "06032", "--pbf", monaco_2025, "--boundaries", communes_06,
            "-q", "-o", out, "--with-boundary")
    shapes = ign_shapes(communes_06)
    cameras = pyogrio.read_dataframe(out, layer="cameras")
    assert sorted(cameras["insee"]) == ["06012", "06032"]
    for point, code in zip(cameras.geometry, cameras["insee"]):
        assert [c for c in ("06012", "06032") if shapes[c].covers(Point(point.x, point.y))] == [code]
    dome = cameras[cameras["insee"] == "06032"].iloc[0]  # camera:type=dome, camera:mount=pole
    assert (dome["name"], dome["commune"]) == ("Camera, dome, outdoor", "Cap-d'Ail")
    assert dome["camera:mount"] == "pole"
    assert "mounted on pole" in dome["description"]
    boundary = pyogrio.read_dataframe(out, layer="boundary")
    assert sorted(boundary["insee"]) == ["06012", "06032"]


@pytest.mark.parametrize("suffix", [".shp", ".fgb", ".kml"])
def test_gdal_formats_hold_every_camera(
    suffix: str, monaco_2025: Path, osm_cameras, write_text, tmp_path: Path
) -> None:
    """Monaco's cameras in a square zone, written through GDAL and read back with pyogrio."""
    square = [[[7.3, 43.6], [7.6, 43.6], [7.6, 43.9], [7.3, 43.9], [7.3, 43.6]]]
    zone = write_text("zone.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "X0001", "nom": "Zone"},
         "geometry": {"type": "Polygon", "coordinates": square}}]}))
    out = tmp_path / f"cameras{suffix}"
    _export("--commune", "X0001", "--pbf", monaco_2025, "--boundaries", zone, "-q", "-o", out)
    frame = pyogrio.read_dataframe(out)
    expected = osm_cameras(monaco_2025)
    assert len(frame) == len(expected) == 16
    assert sorted((round(p.x, 6), round(p.y, 6)) for p in frame.geometry) == sorted(
        (round(c.lon, 6), round(c.lat, 6)) for c in expected)
    if suffix != ".shp":  # a Shapefile shortens field names to 10 characters
        names = frame["Name" if suffix == ".kml" else "name"]  # KML's own Name
        assert "Camera, fixed, outdoor" in set(names) and set(frame["insee"]) == {"X0001"}
        assert set(frame["@id"]) == {f"node/{c.osm_id}" for c in expected}
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    if suffix == ".shp":
        assert all(out.with_suffix(s).is_file() for s in (".shx", ".dbf", ".prj"))
        refused = CliRunner().invoke(cli, ["export", "--commune", "X0001", "--pbf", str(monaco_2025),
                                           "--boundaries", str(zone), "-q", "-f", "shp",
                                           "--output-dir", str(tmp_path / "d")])
        assert refused.exit_code == 2 and "several files" in refused.output
    assert CliRunner().invoke(cli, ["export", "--commune", "X0001", "--pbf", str(monaco_2025), "-q",
                                    "--boundaries", str(zone), "-o", str(out)]).exit_code == 2


def test_a_kml_description_is_html_that_shows_the_tags_as_text(tmp_path: Path) -> None:
    """KML viewers (Google Earth, OsmAnd) render <description> as HTML: a tag holding markup
    is escaped for HTML, then for XML, and reads back as the text of that HTML."""
    import html
    import xml.etree.ElementTree as ElementTree

    from osmcams.models import make_camera
    from osmcams.outputs.writers import write_cameras

    evil = "</div><img src=x onerror=alert(1)> & co"
    camera = make_camera("node", 1, 7.4, 43.7, {"man_made": "surveillance", "operator": evil})[0]
    write_cameras([camera], tmp_path / "x.kml", "kml")
    (description,) = [e.text for e in ElementTree.parse(tmp_path / "x.kml").iter()
                      if e.tag.endswith("}description")]
    assert "<img" not in description and html.unescape(description).endswith(f"operator: {evil}")


@pytest.mark.parametrize("suffix", ["gpkg", "fgb", "parquet", "csv"])
def test_an_export_without_a_camera_has_the_columns_and_types_of_one_with(
    tmp_path: Path, suffix: str
) -> None:
    """Roquebrune-Cap-Martin holds no camera of the demo's data, Beausoleil one: the empty
    file has the columns every camera has, typed as Beausoleil's (its GeoPackage had a
    GEOMETRY layer with 3 fields, its Parquet an @id of doubles, its CSV lon,lat,@id)."""
    import pyarrow.parquet

    def columns(commune: str) -> dict[str, str]:
        out = tmp_path / f"{commune}.{suffix}"
        result = CliRunner().invoke(cli, ["export", "--demo", "--commune", commune, "-q", "-o", str(out)])
        assert result.exit_code == 0, result.output
        if suffix == "csv":
            return dict.fromkeys(out.read_text(encoding="utf-8").splitlines()[0].split(","), "")
        if suffix == "parquet":
            schema = pyarrow.parquet.read_schema(out)
            return {name: str(schema.field(name).type).replace("large_", "") for name in schema.names}
        info = pyogrio.read_info(out)
        return {**dict(zip(info["fields"], map(str, info["dtypes"]))), "geometry": info["geometry_type"]}

    empty, one = columns("Roquebrune-Cap-Martin"), columns("Beausoleil")
    assert empty == {key: one[key] for key in empty}
    assert {"@id", "name", "description", "insee", "commune", "@direction", "@timestamp"} <= set(empty)


def _strict_json(text: str | bytes) -> dict:
    """JSON as the standard has it: NaN and Infinity are refused."""
    def refuse(word: str) -> None:
        raise ValueError(f"not JSON: {word}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("suffix", [".parquet", ".fgb", ".kml", ".shp", ".geojsonl", ".geojsons"])
def test_every_camera_file_states_its_data_date(
    suffix: str, monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """GeoParquet in its key-value metadata (`osmcams`, beside `geo`), FlatGeobuf in its header
    (GDAL's layer metadata); a KML, a Shapefile or a text sequence in NAME.meta.json beside it,
    which is checked before the work and never replaced without --overwrite. The date is the
    one `osmium fileinfo` reads in the extract's header."""
    import pyarrow.parquet
    from conftest import run_osmium

    stamp = run_osmium("fileinfo", "-g", "header.option.osmosis_replication_timestamp", monaco_2025).strip()
    out = tmp_path / f"cameras{suffix}"
    args = ("--commune", "06012", "--commune", "06032", "--pbf", monaco_2025, "--boundaries", communes_06,
            "-q", "-o", out)
    sidecar = tmp_path / "cameras.meta.json"
    if suffix not in (".parquet", ".fgb"):
        sidecar.write_text("mine")
        refused = CliRunner().invoke(cli, ["export", *map(str, args)])
        assert refused.exit_code == 2 and "cameras.meta.json exists" in refused.stderr
        assert sidecar.read_text() == "mine" and not out.exists()
        sidecar.unlink()
    _export(*args)
    if suffix == ".parquet":
        metadata = pyarrow.parquet.read_schema(out).metadata
        assert _strict_json(metadata[b"geo"])["primary_column"] == "geometry"
        meta = _strict_json(metadata[b"osmcams"])["meta"]
    elif suffix == ".fgb":
        meta = pyogrio.read_info(out)["layer_metadata"]
    else:
        about = _strict_json(sidecar.read_text(encoding="utf-8"))
        fmt = {".kml": "kml", ".shp": "shp"}.get(suffix, "geojsonseq")
        assert about[fmt] == out.name and any("06032" in w for w in about["warnings"])
        meta = about["meta"]
        sidecar.write_text("mine")
        _export(*args, "--overwrite")
        assert _strict_json(sidecar.read_text(encoding="utf-8"))["meta"]["data_timestamp"] == stamp
    assert meta["data_timestamp"] == stamp == "2025-02-07T01:02:45Z"
    assert meta["source"] == str(monaco_2025)
    if suffix == ".parquet":
        assert pyarrow.parquet.read_metadata(out).num_rows == 2
    elif suffix == ".geojsons":
        assert out.read_text(encoding="utf-8").count("\x1e") == 2
    else:
        assert len(pyogrio.read_dataframe(out)) == 2
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name or ".osmcams-tmp" in p.name]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_file_never_takes_over_the_sources_of_another_of_its_name(
    overwrite: list[str], monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """`export -o x.csv`, then `-o x.kml` in the same folder: the second was refused as
    "x.meta.json exists; add --overwrite", naming a file the user never asked for, and with
    --overwrite the KML took x.csv's x.meta.json, so that x.csv said nothing of its data
    any more. Both are refused in one line that names x.csv; other formats, and x.csv
    itself again, go on."""
    args = ["--commune", "06012", "--pbf", str(monaco_2025), "--boundaries", str(communes_06), "-q"]
    _export(*args, "-o", tmp_path / "x.csv")
    sidecar = tmp_path / "x.meta.json"
    kept = sidecar.read_text(encoding="utf-8")
    assert _strict_json(kept)["csv"] == "x.csv"
    for command in (["export", *args, "-o", str(tmp_path / "x.kml")],
                    ["count", *args, "-o", str(tmp_path / "x.txt")],  # no sidecar: written
                    ["export", *args, "-o", str(tmp_path / "x.geojsonl")]):
        done = CliRunner().invoke(cli, [*command, *overwrite])
        if command[-1].endswith(".txt"):
            assert done.exit_code == 0, done.stderr
            continue
        assert done.exit_code == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f"{sidecar} holds the sources of {tmp_path / 'x.csv'}" in done.stderr
        assert not (tmp_path / Path(command[-1]).name).exists()
    assert sidecar.read_text(encoding="utf-8") == kept
    _export(*args, "-o", tmp_path / "x.csv", "--overwrite")
    assert _strict_json(sidecar.read_text(encoding="utf-8"))["csv"] == "x.csv"
