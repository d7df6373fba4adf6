"""uMap files: the map uMap imports whole, checked against osmium-tool's view of the extract."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner
from conftest import read_umap

from osmcams.cli import cli
from osmcams.join import Report
from osmcams.outputs.umap import umap_document


def _no_nan(name: str) -> float:
    raise AssertionError(f"{name} in a uMap file")


@pytest.fixture(scope="module")
def monaco_umap(monaco_2025: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("umap") / "monaco.umap"
    result = CliRunner().invoke(cli, ["export", "--commune", "Monaco", "--pbf", str(monaco_2025), "-q",
                                      "--fov", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return read_umap(out)


def test_the_file_is_a_umap_map(monaco_umap: dict) -> None:
    props = monaco_umap["properties"]
    assert "© OpenStreetMap contributors" in props["shortCredit"]
    assert "2025-02-07" in props["description"]
    assert " cameras in 1 commune, of which " in props["description"]  # Monaco, asked alone
    names = [layer["_umap_options"]["name"] for layer in monaco_umap["layers"]]
    assert names == ["Communes: cameras per km²", "Cameras", "Fields of view"]
    communes = monaco_umap["layers"][0]
    assert communes["_umap_options"]["type"] == "Choropleth"
    key = communes["_umap_options"]["choropleth"]["property"]
    assert all(isinstance(f["properties"][key], float) for f in communes["features"])
    for layer in monaco_umap["layers"][1:]:
        assert "© OpenStreetMap contributors" in layer["_umap_options"]["popupContentTemplate"]
        assert "{osm_tags}" in layer["_umap_options"]["popupContentTemplate"]


def test_every_camera_is_there_with_flat_properties(
    monaco_umap: dict, monaco_2025: Path, osm_cameras, osmium_polygons
) -> None:
    """The cameras osmium finds inside the Monaco relation that osmium builds."""
    monaco = osmium_polygons(monaco_2025, 8)[2220322]
    expected = {f"node/{o.osm_id}" for o in osm_cameras(monaco_2025)
                if monaco.intersects(shapely.Point(o.lon, o.lat))}
    cameras = monaco_umap["layers"][1]["features"]
    assert {f["properties"]["@id"] for f in cameras} == expected
    assert len(cameras) == len(expected) == 13
    for layer in monaco_umap["layers"]:
        for feature in layer["features"]:
            assert not any(isinstance(v, (dict, list)) for k, v in feature["properties"].items()
                           if k != "_umap_options")  # uMap's own: the feature's style
    some = cameras[0]["properties"]
    assert some["man_made"] == "surveillance"  # tags are top-level keys
    assert "man_made=surveillance" in some["osm_tags"]


def test_communes_without_data_are_not_coloured_as_zero(monaco_umap: dict) -> None:
    """A row with `cameras: null` goes to a grey layer of its own, outside the classes."""
    communes = monaco_umap["layers"][0]["features"]
    row = {k: v for k, v in communes[0]["properties"].items() if ":" not in k and k != "description"}
    missing = {**row, "insee": "X", "name": "Nowhere", "cameras": None, "cameras_per_km2": None,
               "by_type": {}, "by_scope": {}}
    geometry = shapely.geometry.shape(communes[0]["geometry"])
    report = Report({"data_timestamp": None, "boundaries": "b", "population_source": None,
                     "osmcams_version": "0"}, [copy.deepcopy(missing)], boundaries={"X": geometry})
    document = umap_document(report, ["X"])
    layers = {layer["_umap_options"]["name"]: layer["features"] for layer in document["layers"]}
    assert layers["Communes: cameras per km²"] == []
    assert [f["properties"]["name"] for f in layers["Communes without data"]] == ["Nowhere"]
    assert layers["Communes without data"][0]["properties"]["description"].startswith("No data")
    assert "; 1 commune without data." in document["properties"]["description"]  # not "1 communes"
    legends = {layer["_umap_options"]["name"]: layer["_umap_options"].get("description")
               for layer in document["layers"]}
    assert legends["Communes without data"] == "No data: outside the OSM data (1): not counted, not zero."


def test_the_written_file_is_the_document_as_json(monaco_scan, communes_06: Path, cog_population: Path,
                                                  tmp_path: Path) -> None:
    """write_umap writes the cameras' features from pieces kept per set of tags: the file is
    `json.dumps` of the whole document, byte for byte, with hostile, empty, repeated tags
    and tags named as osmcams's own (`@id`, `@timestamp`, kept as tag:@id…) among real cameras."""
    from osmcams.communes.boundaries import load_communes
    from osmcams.join import count
    from osmcams.models import make_camera
    from osmcams.outputs.umap import write_umap

    communes = load_communes([communes_06], population=cog_population)
    report = count(monaco_scan[0], communes, ["06012", "06032"])
    odd = [
        make_camera("node", 1, 7.42, 43.73, {"man_made": "surveillance", "@id": "way/9", "@timestamp": "",
                                             "name": "<img src=x onerror=alert(1)>"})[0],
        make_camera("node", 2, 7.43, 43.74, {"man_made": "surveillance", "height": "",
                                             "operator": "Ville \"A\"\n", "camera:direction": "NE",
                                             "description": "Caméra"},
                    "2024-05-01T10:00:00Z")[0],
        make_camera("node", 3, 7, 43.75, {"surveillance:type": "ALPR", "@direction": "12"}, "")[0],
    ]
    report.cameras["06012"] = report.cameras["06012"] + odd + report.cameras["06012"][:2]
    report.cameras["06032"] = report.cameras["06032"] + report.cameras["06012"][:1]  # another commune
    write_umap(report, ["06012", "06032"], tmp_path / "m.umap", credit="Café")
    expected = json.dumps(umap_document(report, ["06012", "06032"], credit="Café"), ensure_ascii=False,
                          allow_nan=False) + "\n"
    assert (tmp_path / "m.umap").read_text(encoding="utf-8") == expected
    layers = {layer["_umap_options"]["name"]: layer for layer in json.loads(expected)["layers"]}
    assert len(layers["Cameras"]["features"]) == len(report.cameras["06012"]) + len(report.cameras["06032"])
    (first,) = [f["properties"] for f in layers["Cameras"]["features"] if f["id"] == "node/1"]
    assert (first["@id"], first["tag:@id"]) == ("node/1", "way/9")  # the link to OSM is the camera's


def test_each_camera_carries_its_commune_as_cameras_geojson_does(
    monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path
) -> None:
    """uMap can filter the cameras by commune: each camera of the .umap has the flat `insee`
    and `commune` of cameras.geojson, the commune a point-in-polygon test of the camera on
    the boundary file puts it in."""
    options = ["--department", "06", "--pbf", str(monaco_2025), "--boundaries", str(communes_06),
               "--population", str(cog_population), "-q"]
    files = {}
    for name in ("cameras.geojson", "cameras.umap"):
        result = CliRunner().invoke(cli, ["export", *options, "-o", str(tmp_path / name)],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        files[name] = json.loads((tmp_path / name).read_text(encoding="utf-8"), parse_constant=_no_nan)
    (layer,) = [layer for layer in files["cameras.umap"]["layers"]
                if layer["_umap_options"]["name"] == "Cameras"]
    in_umap = {f["id"]: f for f in layer["features"]}
    in_geojson = {f["id"]: f for f in files["cameras.geojson"]["features"]}
    communes = json.loads(communes_06.read_text(encoding="utf-8"))["features"]
    shapes = [(c["properties"]["code"], c["properties"]["nom"], shapely.geometry.shape(c["geometry"]))
              for c in communes]
    assert set(in_umap) == set(in_geojson) and len(in_umap) == 2  # Beausoleil's and Cap-d'Ail's
    for key, feature in in_umap.items():
        point = shapely.Point(feature["geometry"]["coordinates"])
        (code, name), = [(code, name) for code, name, shape in shapes if shape.contains(point)]
        properties = feature["properties"]
        assert (properties["insee"], properties["commune"]) == (code, name)
        same = in_geojson[key]["properties"]
        assert (same["insee"], same["commune"]) == (code, name)
    assert sorted(f["properties"]["insee"] for f in in_umap.values()) == ["06012", "06032"]


def test_the_map_opens_on_the_centroid_of_the_communes_together(monaco_scan, communes_06: Path) -> None:
    """The map's centre is the centroid of the union of its communes (shapely's union, here
    of the 163 communes of the Alpes-Maritimes), drawn from theirs without the union."""
    from osmcams.communes.boundaries import load_communes
    from osmcams.join import count

    communes = load_communes([communes_06])
    codes = communes.frame["insee"].tolist()
    report = count(monaco_scan[0], communes, codes)
    point = umap_document(report, codes)["geometry"]["coordinates"]
    union = shapely.union_all(communes.frame.geometry.values).centroid
    assert point == [round(union.x, 7), round(union.y, 7)]


def _one_commune(tags: dict[str, str] | None, **row: object) -> Report:
    """Commune A, a square, with a camera tagged `tags` (none without), its row `row` over a
    plain one."""
    from osmcams.models import make_camera

    cameras = [] if tags is None else [make_camera("node", 1, 7.005, 43.705, tags)[0]]
    rows = [{"insee": "A", "name": "One", "department": None, "population": None, "cameras": 1,
             "coverage": 1.0, "cameras_per_km2": 2.5, "cameras_per_10k": None, **row}]
    meta = {"data_timestamp": None, "boundaries": "b.geojson", "population_source": None,
            "osmcams_version": "0"}
    return Report(meta, rows, cameras={"A": cameras}, boundaries={"A": shapely.box(7.0, 43.7, 7.01, 43.71)})


def _camera_properties(report: Report) -> dict[str, object]:
    """The properties of the one camera of a report's uMap document."""
    (shown,) = [f["properties"] for layer in umap_document(report, ["A"])["layers"]
                for f in layer["features"] if "osm_tags" in f["properties"]]
    return shown


def test_a_line_break_in_a_tag_stays_in_its_line_of_the_popup() -> None:
    """The popup lists the tags a line each: a value holding a line break (or CR, or ESC)
    shows it as \\n, never as a line that reads as a tag of its own."""
    shown = _camera_properties(_one_commune({"man_made": "surveillance",
                                             "description": "line1\nfake=tag\r\nend\x1b[2J"}))
    assert shown["osm_tags"].splitlines() == ["description=line1\\nfake=tag\\r\\nend\\x1b[2J",
                                              "man_made=surveillance"]


def test_umap_markup_in_a_tag_is_shown_not_read() -> None:
    """uMap turns {{url}} in a popup into an image it fetches, and [[url|text]] into a link:
    from tags, their doubled braces and brackets are broken apart, the text kept."""
    shown = _camera_properties(_one_commune({"man_made": "surveillance",
                                             "name": "{{https://tracker.example/p.png}}",
                                             "operator": "[[https://evil.example|Mairie]]"}))
    for key in ("name", "description", "osm_tags"):
        assert "{{" not in shown[key] and "[[" not in shown[key] and "]]" not in shown[key]
    assert shown["name"].replace("\u200b", "") == "{{https://tracker.example/p.png}}"


def test_umap_markup_in_a_tag_is_shown_not_read_in_the_popup_of_a_view() -> None:
    """A field of view's popup shows its camera's name, description and tags as the camera's
    does: they reached it with {{url}} and [[url|text]] whole, an image uMap would fetch and a
    link; the doubled braces and brackets are now broken apart there too, the text kept."""
    from osmcams.outputs.fov import FovSettings, fields_of_view

    report = _one_commune({"man_made": "surveillance", "camera:direction": "90",
                           "name": "{{https://tracker.example/p.png}}",
                           "operator": "[[https://evil.example|Mairie]]"})
    views, _ = fields_of_view(report.cameras["A"], FovSettings())
    (layer,) = [layer for layer in umap_document(report, ["A"], views)["layers"]
                if layer["_umap_options"]["name"] == "Fields of view"]
    (shown,) = [f["properties"] for f in layer["features"]]
    for key in ("name", "description", "osm_tags"):
        assert "{{" not in shown[key] and "[[" not in shown[key] and "]]" not in shown[key], shown[key]
    assert shown["name"].replace("\u200b", "") == "{{https://tracker.example/p.png}}"
    assert "operator: [[https://evil.example|Mairie]]" in shown["description"].replace("\u200b", "")
    assert shown == {**_camera_properties(report), "fov": "cone", "fov_range_m": 30.0}


def test_a_commune_of_unknown_coverage_is_drawn_partial() -> None:
    """A commune counted where the file says nothing of its coverage (OSM XML without bounds):
    a floor, dashed as the partly covered ones, its label saying the coverage is unknown."""
    from osmcams.outputs.figures import drawn

    report = _one_commune(None, coverage=None, partial=True, cameras_per_km2=None)
    assert drawn(report, "per_km2", "quantiles").kinds == ["partial"]
    (commune,) = [f for layer in umap_document(report, ["A"])["layers"] for f in layer["features"]]
    assert commune["properties"]["covered"] == "coverage unknown"
    assert commune["properties"]["_umap_options"]["dashArray"]
