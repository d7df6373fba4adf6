"""Overpass queries, slot wait, runtime errors and answers, against a local server."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from fake_services import (
    OSM_BASE,
    PARIS_AREA,
    boundary_element,
    overpass_answer,
    paris_elements,
    pbf_elements,
    status_page,
)
from werkzeug import Request, Response

from osmcams.errors import AmbiguousCommune, CommuneNotFound, DataError, NetworkError, UsageError
from osmcams.sources.http import Http
from osmcams.sources.overpass import (
    QUERIES,
    Target,
    element_camera,
    fetch_boundaries,
    fetch_cameras,
    quote,
    render,
    slot_wait,
    status_url,
    target,
)

RIVIERA = "osm/big/osrm-monaco-fr-riviera-2016.osm.pbf"
LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_response(answer: dict) -> Response:
    return Response(json.dumps(answer), content_type="application/json")


@pytest.fixture
def queries(httpserver):
    """Every query the server received, as text."""
    seen: list[str] = []

    def record(request: Request) -> None:
        if request.path.endswith("/interpreter"):
            seen.append(request.form["data"])

    return seen, record


def serve(httpserver, answers, record=None):
    """Answer Overpass queries: `answers` maps a text found in the query to an answer."""

    def handler(request: Request) -> Response:
        if record:
            record(request)
        query = request.form["data"]
        for needle, answer in answers.items():
            if needle in query:
                return json_response(answer)
        return json_response(overpass_answer([]))

    httpserver.expect_request("/api/interpreter", method="POST").respond_with_handler(handler)
    httpserver.expect_request("/api/status").respond_with_data(status_page(2))


@pytest.fixture
def paris(shared_data):
    return overpass_answer([{"type": "area", "id": PARIS_AREA}, *paris_elements(shared_data)])


def test_every_query_file_asks_for_json_with_a_timeout():
    files = sorted(QUERIES.glob("*.overpassql"))
    assert len(files) >= 4
    for path in files:
        assert re.search(r"^\[out:json\]\[timeout:\$timeout\];$", path.read_text(), re.M), path


def test_paris_cameras_by_insee(httpserver, net_settings, paris, queries):
    seen, record = queries
    serve(httpserver, {'"ref:INSEE"="75056"': paris}, record)
    extract = fetch_cameras(Http(net_settings), [target("75056")])
    assert len(extract.cameras) == 707
    assert extract.timestamp == OSM_BASE
    assert extract.source.startswith("Overpass API (127.0.0.1:")
    first = extract.cameras[0]
    assert first.surveillance_type == "camera" and first.operator == "Préfecture de Police"
    (query,) = seen
    assert query.startswith("// ")
    assert "[out:json][timeout:180];" in query
    assert 'area["boundary"="administrative"]["admin_level"="8"]["ref:INSEE"="75056"]' in query
    assert 'nwr["man_made"="surveillance"](area.commune);' in query
    assert query.rstrip().endswith("out center tags;")


def test_real_munich_objects_by_relation(httpserver, net_settings, shared_data):
    elements = pbf_elements(shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf")
    answer = overpass_answer([{"type": "area", "id": 3_600_062_428}, *elements])
    serve(httpserver, {"area(id:3600062428)": answer})
    extract = fetch_cameras(Http(net_settings), [target("r62428")])
    assert len(extract.cameras) == 209 == len(elements)
    typed = sum(c.surveillance_type == "camera" for c in extract.cameras)
    assert typed == sum(e["tags"].get("surveillance:type") == "camera" for e in elements) > 150


def test_ways_and_relations_sit_at_their_centre():
    way = {"type": "way", "id": 5, "center": {"lat": 43.7, "lon": 7.4},
           "tags": {"man_made": "surveillance", "camera:direction": "NE"}}
    camera, bad = element_camera(way)
    assert (camera.key, camera.lon, camera.lat, camera.direction, bad) == ("way/5", 7.4, 43.7, 45.0, False)
    assert element_camera({"type": "area", "id": 1}) is None


def test_missing_area_is_an_error_not_zero(httpserver, net_settings):
    serve(httpserver, {})
    with pytest.raises(DataError, match="no area for the admin_level=8 boundary with ref:INSEE=99999"):
        fetch_cameras(Http(net_settings), [target("99999")])


def test_runtime_error_remark_fails_and_is_not_cached(httpserver, net_settings, paris):
    remark = 'runtime error: Query timed out in "query" at line 5 after 181 seconds.'
    partial = overpass_answer(paris["elements"][:100], remark=remark)
    answers = [partial, paris]
    httpserver.expect_request("/api/status").respond_with_data(status_page(2))
    httpserver.expect_request("/api/interpreter").respond_with_handler(
        lambda request: json_response(answers.pop(0))
    )
    http = Http(net_settings)
    with pytest.raises(NetworkError, match="nothing was counted: runtime error: Query timed out"):
        fetch_cameras(http, [target("75056")])
    assert len(fetch_cameras(http, [target("75056")]).cameras) == 707
    assert len(fetch_cameras(http, [target("75056")]).cameras) == 707  # now from the cache
    posts = [r for r, _ in httpserver.log if r.method == "POST"]
    assert len(posts) == 2


def test_no_free_slot_gives_up(httpserver, net_settings):
    httpserver.expect_request("/api/status").respond_with_data(status_page(0, 0))
    serve(httpserver, {})
    with pytest.raises(NetworkError, match="no free slot after 3 checks") as e:
        fetch_cameras(Http(net_settings), [target("75056")])
    assert e.value.exit_code == 5
    assert [r.path for r, _ in httpserver.log] == ["/api/status"] * 3


def test_waits_for_a_slot_then_queries(httpserver, net_settings, paris):
    httpserver.expect_ordered_request("/api/status").respond_with_data(status_page(0, 0))
    httpserver.expect_ordered_request("/api/status").respond_with_data(status_page(1))
    serve(httpserver, {"75056": paris})
    told: list[str | None] = []
    assert len(fetch_cameras(Http(net_settings, told.append), [target("75056")]).cameras) == 707
    assert [r.path for r, _ in httpserver.log] == ["/api/status", "/api/status", "/api/interpreter"]
    host = httpserver.url_for("/").split("//")[1].rstrip("/")
    assert f"waiting 0 s for a free slot on {host}" in told and told[-1] is None


def test_status_parsing():
    assert slot_wait(status_page(2)) is None
    assert slot_wait(status_page(0, 17)) == 17.0
    assert slot_wait("Rate limit: 0\nCurrently running queries:\n") is None
    assert status_url("https://overpass-api.de/api/interpreter") == "https://overpass-api.de/api/status"
    assert status_url("https://example.org/overpass") is None


@pytest.mark.parametrize("name", ['Foo"];out;', 'a\\"];node(1);out;//', "Ville\nnode(1);out;", "O'Hara"])
def test_injection_cannot_change_the_query(name):
    query = render("boundary_by_name", timeout=25, admin_level="8", name=name)
    template = (QUERIES / "boundary_by_name.overpassql").read_text()
    skeleton = LITERAL.sub('""', re.sub(r"\$\w+", '""', template)).replace("[timeout:\"\"]", "[timeout:25]")
    assert LITERAL.sub('""', query) == skeleton
    assert "\n" not in LITERAL.findall(query)[-1]


def test_injection_attempt_reaches_the_server_as_one_literal(httpserver, net_settings, queries):
    seen, record = queries
    serve(httpserver, {}, record)
    with pytest.raises(CommuneNotFound, match="OpenStreetMap has no admin_level=8 boundary"):
        fetch_boundaries(Http(net_settings), [target('Nantes"];out;\nrel(1);out geom;')])
    (query,) = seen
    assert LITERAL.sub('""', query).count("out geom;") == 1
    assert '["name"="Nantes\\"];out;\\nrel(1);out geom;"]' in query


def test_quote_refuses_control_characters():
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(UsageError, match="control character"):
        quote("a\x00b")


def test_targets():
    assert target("2a004") == Target("insee", "2A004", 8)
    assert target("relation/7444") == Target("relation", 7444, 8)
    assert target("München", 6) == Target("name", "München", 6)


@pytest.fixture(scope="module")
def beausoleil(shared_data) -> dict:
    return boundary_element(shared_data / RIVIERA, "06012")


def test_boundary_from_real_relation(httpserver, net_settings, shared_data, beausoleil):
    import geopandas

    serve(httpserver, {'"ref:INSEE"="06012"': overpass_answer([beausoleil])})
    (boundary,) = fetch_boundaries(Http(net_settings), [target("06012")])
    assert boundary.relation_id == beausoleil["id"] and boundary.geometry.is_valid
    ign = geopandas.read_file(
        shared_data / "communes/ign-2018-simplified/departements/communes-06-alpes-maritimes.geojson"
    ).set_index("code").loc["06012", "geometry"]
    overlap = boundary.geometry.intersection(ign).area / ign.area
    assert overlap > 0.9  # the OSM and IGN outlines of Beausoleil agree


def test_open_ring_is_a_clear_error(httpserver, net_settings, beausoleil):
    broken = {**beausoleil, "members": beausoleil["members"][1:]}
    serve(httpserver, {"06012": overpass_answer([broken])})
    with pytest.raises(DataError, match=r"relation \d+ \(Beausoleil\): open ring"):
        fetch_boundaries(Http(net_settings), [target("06012")])


def test_homonym_relations_are_ambiguous(httpserver, net_settings, beausoleil):
    other = {**beausoleil, "id": 1, "tags": {**beausoleil["tags"], "ref:INSEE": "99999"}}
    serve(httpserver, {'"name"="Beausoleil"': overpass_answer([beausoleil, other])})
    with pytest.raises(AmbiguousCommune, match=r"2 relations match .*Beausoleil \(r1, ref:INSEE 99999\)"):
        fetch_boundaries(Http(net_settings), [target("Beausoleil")])


def test_offline_skips_the_status_page(httpserver, net_settings, paris):
    serve(httpserver, {"75056": paris})
    httpserver.expect_request("/api/status").respond_with_data(status_page(2))
    fetch_cameras(Http(net_settings), [target("75056")])
    httpserver.clear_log()
    extract = fetch_cameras(Http(replace(net_settings, offline=True)), [target("75056")])
    assert len(extract.cameras) == 707 and httpserver.log == []


def test_name_targets_need_a_boundary_first(net_settings):
    with pytest.raises(UsageError, match="not by name"):
        fetch_cameras(Http(net_settings), [target("Nantes")])


def test_query_files_are_plain_text(tmp_path: Path):
    assert all(p.suffix == ".overpassql" for p in QUERIES.iterdir())
