"""geo.api.gouv.fr lookups against a local server serving the IGN contours and COG populations."""

from __future__ import annotations

import copy
import json

import pytest
from shapely.geometry import Polygon

from osmcams.errors import AmbiguousCommune, CommuneNotFound, DataError, NetworkError
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


def test_a_place_outside_france_says_what_to_do(net_settings, geo_api):
    """geo.api.gouv.fr holds French communes only: a name no French commune bears says so and
    what to do; a French commune outside the department asked is not told to leave France."""
    with pytest.raises(CommuneNotFound) as e:
        geoapi.resolve(Http(net_settings), "Monaco")
    said = ("o French commune is named 'Monaco', and geo.api.gouv.fr holds French communes only: for "
            "a place outside France, count in the OSM data's own boundaries (--pbf FILE without "
            "--boundaries, or --boundary-source osm)")  # after the names it may be a typo of: "? No"
    assert str(e.value).startswith("no commune 'Monaco'") and str(e.value)[-len(said) - 3:-len(said)] in (
        ": n", "? N")
    assert str(e.value).endswith(said) and "\n" not in str(e.value)
    with pytest.raises(CommuneNotFound) as e:
        geoapi.resolve(Http(net_settings), "Nice", "93")
    assert "outside France" not in str(e.value)


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


def _answer(shared_data, code: str, geometry=None, answered: str | None = None) -> dict:
    """geo.api.gouv.fr's GeoJSON for one real commune (IGN outline, COG population), altered."""
    from fake_services import GeoApi

    commune = copy.deepcopy(GeoApi(shared_data, (code[:2],)).communes[answered or code])
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {k: commune[k] for k in ("nom", "code", "codeDepartement", "population")},
        "geometry": geometry or commune["contour"],
    }]}


def test_a_contour_beyond_longitude_180_is_refused(net_settings, httpserver, shared_data):
    """Issue 21, item 8: one vertex at longitude 500 would multiply the area by 6.5."""
    contour = _answer(shared_data, "06012")["features"][0]["geometry"]
    ring = contour["coordinates"][0] if contour["type"] == "Polygon" else contour["coordinates"][0][0]
    ring[1] = [500.0, ring[1][1]]
    httpserver.expect_request("/geo/communes").respond_with_json(_answer(shared_data, "06012", contour))
    with pytest.raises(DataError, match=r"beyond longitude ±180 .* 'Beausoleil' \(06012\)") as e:
        geoapi.load(Http(net_settings), ["06012"])
    assert e.value.exit_code == 4


def test_a_bowtie_contour_is_repaired_with_a_warning(net_settings, httpserver, shared_data):
    """A bowtie has a signed area of 0: made valid, its area is that of its two triangles."""
    from osmcams.geo.areas import areas_km2

    bowtie = {"type": "Polygon", "coordinates": [[[7.40, 43.72], [7.44, 43.76], [7.44, 43.72],
                                                  [7.40, 43.76], [7.40, 43.72]]]}
    httpserver.expect_request("/geo/communes").respond_with_json(_answer(shared_data, "06012", bowtie))
    communes = geoapi.load(Http(net_settings), ["06012"])
    shape_ = communes.frame.geometry.iloc[0]
    assert shape_.is_valid
    halves = [Polygon([(7.40, 43.72), (7.42, 43.74), (7.40, 43.76)]),
              Polygon([(7.44, 43.72), (7.42, 43.74), (7.44, 43.76)])]
    assert areas_km2([shape_])[0] == pytest.approx(sum(areas_km2(halves)), rel=1e-6)
    assert "the outline of 'Beausoleil' (06012) is invalid" in communes.repairs["06012"]


def test_an_answer_for_another_commune_is_refused(net_settings, httpserver, shared_data):
    """Asked for Beausoleil (06012), answered Cap-d'Ail (06032): not printed as Beausoleil."""
    httpserver.expect_request("/geo/communes").respond_with_json(
        _answer(shared_data, "06012", answered="06032"))
    with pytest.raises(NetworkError, match="answered with commune 06032 when asked for 06012"):
        geoapi.load(Http(net_settings), ["06012"])


def test_a_department_answer_with_another_departments_commune_is_refused(
    net_settings, httpserver, shared_data
):
    httpserver.expect_request("/geo/communes").respond_with_json(_answer(shared_data, "06012"))
    with pytest.raises(NetworkError, match="commune 06012 of department 06 when asked for department 83"):
        geoapi.load_department(Http(net_settings), "83")


@pytest.mark.parametrize("wrong", ["another commune", "longitude 200"])
def test_an_answer_refused_is_not_kept(net_settings, httpserver, shared_data, wrong):
    """The commune asked for, or an outline on the globe, is checked before the answer is
    cached: a refused one was kept for a day, and the next run refused it again without
    asking."""
    if wrong == "another commune":
        bad = _answer(shared_data, "06032")
    else:
        contour = _answer(shared_data, "06012")["features"][0]["geometry"]
        ring = contour["coordinates"][0] if contour["type"] == "Polygon" else contour["coordinates"][0][0]
        ring[1] = [200.0, ring[1][1]]
        bad = _answer(shared_data, "06012", contour)
    httpserver.expect_ordered_request("/geo/communes").respond_with_json(bad)
    httpserver.expect_ordered_request("/geo/communes").respond_with_json(_answer(shared_data, "06012"))
    with pytest.raises((NetworkError, DataError)):
        geoapi.load(Http(net_settings), ["06012"])
    assert geoapi.load(Http(net_settings), ["06012"]).frame["insee"].tolist() == ["06012"]
    assert len(httpserver.log) == 2
