"""uMap files: the map uMap imports whole, checked against osmium-tool's view of the extract."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner

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
    return json.loads(out.read_text(encoding="utf-8"), parse_constant=_no_nan)


def test_the_file_is_a_umap_map(monaco_umap: dict) -> None:
    assert monaco_umap["type"] == "umap"
    assert monaco_umap["geometry"]["type"] == "Point"
    props = monaco_umap["properties"]
    assert "© OpenStreetMap contributors" in props["shortCredit"]
    assert "2025-02-07" in props["description"]
    names = [layer["_umap_options"]["name"] for layer in monaco_umap["layers"]]
    assert names == ["Communes: cameras per km²", "Cameras", "Fields of view"]
    communes = monaco_umap["layers"][0]
    assert communes["_umap_options"]["type"] == "Choropleth"
    key = communes["_umap_options"]["choropleth"]["property"]
    assert all(isinstance(f["properties"][key], float) for f in communes["features"])
    for layer in monaco_umap["layers"]:
        assert layer["type"] == "FeatureCollection"
        template = layer["_umap_options"]["popupContentTemplate"]
        assert "{name}" in template and "{description}" in template
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
