"""The CLI over network sources: count without --pbf, --region, and download."""

from __future__ import annotations

import csv
import hashlib
import json

import pytest
from click.testing import CliRunner
from fake_services import (
    OSM_BASE,
    PARIS_AREA,
    RangeFile,
    boundary_element,
    overpass_answer,
    paris_elements,
    pbf_elements,
    status_page,
)
from werkzeug import Response

from osmcams.cli import cli

IGN = "communes/ign-2018-simplified/departements"


def serve_overpass(httpserver, answers: dict[str, dict]) -> None:
    def handler(request):
        query = request.form["data"]
        answer = next((a for needle, a in answers.items() if needle in query), overpass_answer([]))
        return Response(json.dumps(answer), content_type="application/json")

    httpserver.expect_request("/api/status").respond_with_data(status_page(2))
    httpserver.expect_request("/api/interpreter", method="POST").respond_with_handler(handler)


def inside(points, geometry) -> int:
    """An independent count: a plain shapely loop."""
    from shapely.geometry import Point

    return sum(geometry.covers(Point(lon, lat)) for lon, lat in points)


def ign_contour(shared_data, department: str, code: str):
    from shapely.geometry import shape

    (path,) = (shared_data / IGN).glob(f"communes-{department}-*.geojson")
    features = json.loads(path.read_text("utf-8"))["features"]
    return shape(next(f for f in features if f["properties"]["code"] == code)["geometry"])


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def paris(httpserver, shared_data, geo_api, net_env):
    elements = paris_elements(shared_data)
    serve_overpass(httpserver, {'"ref:INSEE"="75056"': overpass_answer(
        [{"type": "area", "id": PARIS_AREA}, *elements])})
    return elements


def test_count_paris_without_pbf(paris, shared_data):
    result = run("count", "--commune", "Paris", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (row,) = report["communes"]
    expected = inside([(e["lon"], e["lat"]) for e in paris], ign_contour(shared_data, "75", "75056"))
    assert (row["insee"], row["cameras"]) == ("75056", expected)
    assert expected > 690  # a few geocoded positions fall just outside the simplified outline
    assert report["meta"]["data_timestamp"] == OSM_BASE
    assert report["meta"]["population_source"].startswith("geo.api.gouv.fr")
    assert report["meta"]["cameras_outside"] == 707 - expected
    assert row["population"] > 2_000_000


def test_offline_serves_the_cache(paris, httpserver):
    first = run("count", "--commune", "75056", "--format", "csv")
    httpserver.clear_log()
    again = run("count", "--commune", "75056", "--format", "csv", "--offline")
    assert again.exit_code == 0 and again.stdout == first.stdout
    assert httpserver.log == []
    rows = list(csv.DictReader(again.stdout.splitlines()))
    assert rows[0]["insee"] == "75056"


def test_offline_miss_exits_5(net_env, geo_api):
    result = run("count", "--commune", "Nantes", "--offline")
    assert result.exit_code == 5
    assert "offline: no cached answer" in result.stderr and "Traceback" not in result.stderr


def test_homonyms_exit_3(net_env, geo_api):
    result = run("count", "--commune", "Saint-Denis")
    assert result.exit_code == 3
    assert "93066" in result.stderr and "97411" in result.stderr


def test_department_settles_the_homonym(net_env, geo_api, httpserver):
    serve_overpass(httpserver, {'"ref:INSEE"="97411"': overpass_answer([{"type": "area", "id": 1}])})
    result = run("count", "--commune", "Saint-Denis", "--department", "974", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["communes"][0]["cameras"] == 0


def test_overpass_504_exits_5_and_writes_nothing(net_env, geo_api, httpserver, tmp_path):
    httpserver.expect_request("/api/status").respond_with_data(status_page(2))
    httpserver.expect_request("/api/interpreter").respond_with_data("Gateway Timeout", status=504)
    output = tmp_path / "out.json"
    result = run("count", "--commune", "Nantes", "-f", "json", "-o", str(output))
    assert result.exit_code == 5
    assert result.stderr.strip().splitlines() == [
        f"osmcams: error: {net_env.overpass_url.split('/')[2]} answered 504 GATEWAY TIMEOUT after 3 tries"
    ]
    assert not output.exists()


def test_osm_boundary_source(net_env, httpserver, shared_data):
    relation = boundary_element(shared_data / "osm/big/osrm-monaco-fr-riviera-2016.osm.pbf", "06012")
    cameras = pbf_elements(shared_data / "osm/monaco-2025-02-07.osm.pbf")
    serve_overpass(httpserver, {
        '"ref:INSEE"="06012"': overpass_answer([relation]),
        f"area(id:{3_600_000_000 + relation['id']})": overpass_answer(
            [{"type": "area", "id": 3_600_000_000 + relation["id"]}, *cameras]),
    })
    result = run("count", "--commune", "06012", "--boundary-source", "osm", "-f", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    (row,) = report["communes"]
    assert row["name"] == "Beausoleil"
    from osmcams.sources.overpass import boundary

    expected = inside([(c["lon"], c["lat"]) for c in cameras], boundary(relation).geometry)
    assert row["cameras"] == expected
    assert report["meta"]["cameras_outside"] == len(cameras) - expected > 0  # reported, not counted


def test_download_command_and_count_region(net_env, httpserver, shared_data, tmp_path):
    data = (shared_data / "osm/monaco-2021-04-21.osm.pbf").read_bytes()
    url = httpserver.url_for("/geofabrik/europe/monaco-latest.osm.pbf")
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json({
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": None,
                      "properties": {"id": "monaco", "name": "Monaco", "parent": "europe",
                                     "urls": {"pbf": url}}}],
    })
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(
        RangeFile(data))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_data(
        hashlib.md5(data).hexdigest() + "  monaco-latest.osm.pbf\n")
    dest = tmp_path / "extracts"
    result = run("download", "Monaco", "--dest", str(dest), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(dest / "monaco-latest.osm.pbf")
    assert f"{len(data) / 1e6:,.1f} MB" in result.stderr
    assert (dest / "monaco-latest.osm.pbf").read_bytes() == data

    counted = run("count", "--region", "monaco", "--commune", "Beausoleil", "--quiet", "-f", "json",
                  "--boundaries", str(shared_data / IGN / "communes-06-alpes-maritimes.geojson"))
    assert counted.exit_code == 0, counted.stderr
    report = json.loads(counted.stdout)
    assert report["meta"]["source"].endswith("extracts/monaco-latest.osm.pbf")
    assert report["communes"][0]["cameras"] == 0  # the 2021 Monaco cameras are all in Monaco


def test_unknown_region_exits_2(net_env, httpserver):
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(
        {"type": "FeatureCollection", "features": []})
    httpserver.expect_request("/extracts/europe/france/").respond_with_data("<html></html>")
    result = run("download", "atlantis")
    assert result.exit_code == 2 and "no region 'atlantis'" in result.stderr


def test_bad_endpoint_is_a_usage_error(net_env):
    result = run("count", "--commune", "Nantes", "--overpass-url", "ftp://example.org/api")
    assert result.exit_code == 2 and "http or https" in result.stderr


def test_export_paris_without_pbf(paris, shared_data, tmp_path):
    target = tmp_path / "paris.geojson"
    result = run("export", "--commune", "Paris", "--output", str(target), "--with-boundary")
    assert result.exit_code == 0, result.output
    features = json.loads(target.read_text("utf-8"))["features"]
    boundary, cameras = features[0], features[1:]
    assert boundary["properties"] == {"kind": "boundary", "insee": "75056", "name": "Paris"}
    contour = ign_contour(shared_data, "75", "75056")
    assert len(cameras) == inside([(e["lon"], e["lat"]) for e in paris], contour)
    assert all(f["id"].startswith("node/") and f["properties"]["@id"] == f["id"] for f in cameras)
    assert {f["properties"]["insee"] for f in cameras} == {"75056"}


def test_credentials_never_reach_the_outputs(net_env, httpserver, shared_data, monkeypatch):
    relation = boundary_element(shared_data / "osm/big/osrm-monaco-fr-riviera-2016.osm.pbf", "06012")
    area = 3_600_000_000 + relation["id"]
    serve_overpass(httpserver, {
        '"ref:INSEE"="06012"': overpass_answer([relation]),
        f"area(id:{area})": overpass_answer([{"type": "area", "id": area}]),
    })
    secret = net_env.overpass_url.replace("http://", "http://user:secret@")
    monkeypatch.setenv("OSMCAMS_OVERPASS_URL", secret)
    result = run("count", "--commune", "06012", "--boundary-source", "osm", "-f", "json")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)["meta"]
    assert "secret" not in result.output and "user" not in json.dumps(meta)
    assert meta["source"].startswith("Overpass API (127.0.0.1:")


def test_the_status_line_shows_what_the_run_waits_for(monkeypatch):
    import io

    from rich.console import Console

    from osmcams.cli import render

    screen = io.StringIO()
    monkeypatch.setattr(render, "stderr", lambda: Console(file=screen, force_terminal=True, width=100))
    with render.progress_bar(quiet=False) as progress:
        status = render.status_of(progress)
        status("waiting for overpass-api.de")
        status(None)
        status("waiting 30 s for a free slot on overpass-api.de")
    assert "waiting for overpass-api.de" in screen.getvalue()
    assert "waiting 30 s for a free slot" in screen.getvalue()
    assert render.status_of(None) is None  # quiet or not a terminal: no status
