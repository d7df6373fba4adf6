"""geo.api.gouv.fr: French communes by name or code, with their official contour and population.

Names are matched like the file path (osmcams.communes.names.match): without case or
accents, homonyms listed with their INSEE codes, unknown names answered with the
closest names the API knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from osmcams.communes.model import COLUMNS, Communes, department_of
from osmcams.communes.names import match
from osmcams.errors import CommuneNotFound, DataError
from osmcams.sources.http import Http, host, unexpected

LOOKUP_FIELDS = "nom,code,codeDepartement,population"
CONTOUR_FIELDS = "nom,code,population,surface,contour,codeDepartement"
POPULATION_SOURCE = "geo.api.gouv.fr (INSEE legal population)"
# The API serves the latest legal population without saying which census year it is.
POPULATION_YEAR = "latest (year not stated by geo.api.gouv.fr)"
SEARCH_LIMIT = 50
SERVICE = "geo.api.gouv.fr"
CONTOUR_TYPES = ("Polygon", "MultiPolygon")


def _url(http: Http) -> str:
    return http.settings.geo_api_url.rstrip("/") + "/communes"


def _communes(http: Http, params: dict[str, str]) -> list[dict[str, Any]]:
    return http.get_json(_url(http), params, check=_check_list)


def _check_list(answer: Any) -> None:
    if not isinstance(answer, list):
        raise unexpected(SERVICE, "sent something else than a list of communes")
    for item in answer:
        _check_commune(item)


def _check_collection(answer: Any) -> None:
    if not isinstance(answer, dict) or not isinstance(answer.get("features"), list):
        raise unexpected(SERVICE, "sent something else than a GeoJSON FeatureCollection")
    for feature in answer["features"]:
        if not isinstance(feature, dict):
            raise unexpected(SERVICE, "sent a feature that is not an object")
        _check_contour(feature.get("geometry"), _check_commune(feature.get("properties")))


def _check_commune(item: Any) -> str:
    """The INSEE code of one commune of an answer, checked with its other fields."""
    if not isinstance(item, dict):
        raise unexpected(SERVICE, "sent a commune that is not an object")
    code = item.get("code")
    if not isinstance(code, str) or not department_of(code):
        raise unexpected(SERVICE, f"sent a commune without a valid INSEE code ({code!r})")
    for name in ("nom", "codeDepartement"):
        if not isinstance(item.get(name, ""), (str, type(None))):
            raise unexpected(SERVICE, f"sent a '{name}' for {code} that is not text")
    population = item.get("population")
    if population is not None and (
        not isinstance(population, int) or isinstance(population, bool) or population < 0
    ):
        raise unexpected(
            SERVICE, f"sent a population for {code} that is not a whole number: {population!r}"
        )
    return code


def _check_contour(geometry: Any, code: str) -> None:
    from shapely.geometry import shape

    kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
    if kind not in CONTOUR_TYPES:
        raise unexpected(SERVICE, f"sent a contour for {code} that is a {kind}, not a polygon")
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise unexpected(SERVICE, f"sent a contour for {code} that is not well formed") from e
    if polygon.is_empty:
        raise unexpected(SERVICE, f"sent an empty contour for {code}")


def resolve(http: Http, query: str, department: str | None = None) -> str:
    """The INSEE code of the commune that `query` (a name or a code) names."""
    query = query.strip()
    params = {"fields": LOOKUP_FIELDS}
    if department:
        params["codeDepartement"] = department
    if department_of(query.upper()):
        found = _communes(http, {**params, "code": query.upper()})
        if not found:
            where = f" in department {department}" if department else ""
            raise CommuneNotFound(f"no commune with INSEE code {query}{where} on geo.api.gouv.fr")
        return str(found[0]["code"])
    found = _communes(
        http, {**params, "nom": query, "boost": "population", "limit": str(SEARCH_LIMIT)}
    )
    candidates = [(str(c["code"]), str(c["nom"]), c.get("codeDepartement")) for c in found]
    return match(query, candidates, department)


def load(http: Http, codes: Sequence[str]) -> Communes:
    """The official contour, population and department of each commune, as Communes."""
    features = []
    for code in codes:
        found = _features(http, {"code": code})
        if not found:
            raise CommuneNotFound(f"no commune with INSEE code {code} on geo.api.gouv.fr")
        features.append(found[0])
    return _to_communes(http, features)


def load_department(http: Http, department: str) -> Communes:
    """Every commune of a department, in one request."""
    features = _features(http, {"codeDepartement": department})
    if not features:
        raise CommuneNotFound(f"no department {department} on geo.api.gouv.fr")
    return _to_communes(http, features)


def _features(http: Http, params: dict[str, str]) -> list[dict[str, Any]]:
    params = {**params, "fields": CONTOUR_FIELDS, "format": "geojson", "geometry": "contour"}
    return http.get_json(_url(http), params, check=_check_collection)["features"]


def _to_communes(http: Http, features: list[dict[str, Any]]) -> Communes:
    import geopandas
    from shapely.geometry import shape

    rows = []
    for feature in features:
        props, geometry = feature.get("properties") or {}, feature.get("geometry")
        code = str(props.get("code"))
        if not geometry:
            raise DataError(f"geo.api.gouv.fr has no contour for {props.get('nom')} ({code})")
        rows.append({
            "insee": code,
            "name": props.get("nom", code),
            "department": props.get("codeDepartement"),
            "population": props.get("population"),
            "geometry": shape(geometry),
        })
    frame = geopandas.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")
    frame["population"] = frame["population"].astype("Int64")
    return Communes(
        frame,
        f"geo.api.gouv.fr ({host(http.settings.geo_api_url)}) contours",
        population_source=POPULATION_SOURCE,
        population_year=POPULATION_YEAR,
    )
