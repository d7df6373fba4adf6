"""geo.api.gouv.fr lookups against a local server serving the IGN contours and COG populations."""

from __future__ import annotations

import json

import pytest

from osmcams.errors import AmbiguousCommune, CommuneNotFound, NetworkError
from osmcams.sources import geoapi
from osmcams.sources.http import Http


def cog(shared_data, code: str) -> dict:
    rows = json.loads((shared_data / "population/cog-2026/communes.json").read_text("utf-8"))
    return next(r for r in rows if r["code"] == code and r["type"] == "commune-actuelle")


def test_resolve_by_name_without_accents_or_case(net_settings, geo_api):
    assert geoapi.resolve(Http(net_settings), "nantes") == "44109"


def test_resolve_by_code(net_settings, geo_api, httpserver):
    assert geoapi.resolve(Http(net_settings), "75056") == "75056"
    request, _ = httpserver.log[-1]
    assert request.args["code"] == "75056"


def test_homonyms_list_codes_and_departments(net_settings, geo_api):
    with pytest.raises(AmbiguousCommune) as e:
        geoapi.resolve(Http(net_settings), "Saint-Denis")
    message = str(e.value)
    assert "Saint-Denis (93066, department 93)" in message
    assert "Saint-Denis (97411, department 974)" in message
    assert e.value.exit_code == 3


def test_department_settles_a_homonym(net_settings, geo_api, httpserver):
    assert geoapi.resolve(Http(net_settings), "Saint-Denis", "974") == "97411"
    assert httpserver.log[-1][0].args["codeDepartement"] == "974"


def test_unknown_name_suggests(net_settings, geo_api):
    with pytest.raises(CommuneNotFound, match=r"no commune 'Nantse'; did you mean Nantes \(44109\)"):
        geoapi.resolve(Http(net_settings), "Nantse")


def test_unknown_code(net_settings, geo_api):
    with pytest.raises(CommuneNotFound, match="no commune with INSEE code 44999"):
        geoapi.resolve(Http(net_settings), "44999")


def test_contour_and_population_in_one_request(net_settings, geo_api, httpserver, shared_data):
    communes = geoapi.load(Http(net_settings), ["93066"])
    row = communes.frame.iloc[0]
    assert (row.insee, row["name"], row.department) == ("93066", "Saint-Denis", "93")
    assert row.population == cog(shared_data, "93066")["population"]
    assert row.geometry.geom_type in ("Polygon", "MultiPolygon") and row.geometry.is_valid
    assert communes.population_source.startswith("geo.api.gouv.fr")
    assert "year not stated" in communes.population_year
    (request, _), = [entry for entry in httpserver.log if "contour" in entry[0].args.get("fields", "")]
    assert request.args["fields"] == "nom,code,population,surface,contour,codeDepartement"
    assert (request.args["format"], request.args["geometry"]) == ("geojson", "contour")


def test_whole_department(net_settings, geo_api, shared_data):
    communes = geoapi.load_department(Http(net_settings), "93")
    ign = json.loads(
        (shared_data / "communes/ign-2018-simplified/departements/communes-93-seine-saint-denis.geojson")
        .read_text("utf-8")
    )
    rows = json.loads((shared_data / "population/cog-2026/communes.json").read_text("utf-8"))
    current = {r["code"] for r in rows if r["type"] == "commune-actuelle"}
    expected = {f["properties"]["code"] for f in ign["features"]} & current
    assert set(communes.frame.insee) == expected and len(expected) > 35
    assert set(communes.frame.department) == {"93"}


def test_garbage_answer(net_settings, httpserver):
    httpserver.expect_request("/geo/communes").respond_with_json({"message": "oops"})
    with pytest.raises(NetworkError, match="something else than a list of communes"):
        geoapi.resolve(Http(net_settings), "Nantes")
