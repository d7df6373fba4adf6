"""geo.api.gouv.fr: French communes by name or code, with their official contour and population.

Names are matched like the file path (osmcams.communes.names.match): without case or
accents, homonyms listed with their INSEE codes, unknown names answered with the
closest names the API knows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from osmcams.communes.model import COLUMNS, MAX_POPULATION, Communes, department_of
from osmcams.communes.names import abroad, department_hint, match
from osmcams.errors import CommuneNotFound, DataError
from osmcams.models import nan_unsaid
from osmcams.settings import public_url
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


def _communes(http: Http, params: dict[str, str], belongs: Callable[[dict[str, Any]], None] | None = None
              ) -> list[dict[str, Any]]:
    """The communes answered for `params`, checked (each one `belongs` to what was asked)
    before the answer is cached."""
    def check(answer: Any) -> None:
        _check_list(answer)
        if belongs is not None:
            for item in answer:
                belongs(item)

    return http.get_json(_url(http), params, check=check)


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
        code = _check_commune(feature.get("properties"))
        _check_contour(feature.get("geometry"), code, feature["properties"].get("nom") or code)


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
    if population is not None and population > MAX_POPULATION:
        raise unexpected(SERVICE, f"sent a population for {code} over {MAX_POPULATION:,}")
    return code


def _check_contour(geometry: Any, code: str, name: str) -> None:
    from shapely.errors import ShapelyError
    from shapely.geometry import shape

    kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
    if kind not in CONTOUR_TYPES:
        raise unexpected(SERVICE, f"sent a contour for {code} that is a {kind}, not a polygon")
    try:
        with nan_unsaid():  # check_outlines refuses the outline
            polygon = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, ShapelyError) as e:
        raise unexpected(SERVICE, f"sent a contour for {code} that is not well formed") from e
    if polygon.is_empty:
        raise unexpected(SERVICE, f"sent an empty contour for {code}")
    west, south, east, north = polygon.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):  # refused before it is kept
        raise DataError(f"{SERVICE} sent a contour beyond longitude ±180 or latitude ±90 in the "
                        f"outline of {name!r} ({code})")


def resolve(http: Http, query: str, department: str | None = None) -> str:
    """The INSEE code of the commune that `query` (a name or a code) names."""
    query = query.strip()
    params = {"fields": LOOKUP_FIELDS}
    if department:
        params["codeDepartement"] = department
    if department_of(query.upper()):
        found = _communes(http, {**params, "code": query.upper()}, functools.partial(_asked, query.upper()))
        if not found:
            where = f" in department {department}" if department else ""
            raise CommuneNotFound(f"no commune with INSEE code {query}{where} on geo.api.gouv.fr")
        return str(found[0]["code"])
    found = _communes(
        http, {**params, "nom": query, "boost": "population", "limit": str(SEARCH_LIMIT)}
    )
    candidates = [(str(c["code"]), str(c["nom"]), c.get("codeDepartement")) for c in found]
    try:
        return match(query, candidates, department)
    except CommuneNotFound as e:
        raise abroad(e, query, SERVICE) from None


def load(http: Http, codes: Sequence[str]) -> Communes:
    """The official contour, population and department of each commune, as Communes."""
    features = []
    for code in codes:
        found = _features(http, {"code": code}, functools.partial(_asked, code))
        if not found:
            raise CommuneNotFound(f"no commune with INSEE code {code} on geo.api.gouv.fr")
        features.append(found[0])
    return _to_communes(http, features)


def _asked(code: str, props: dict[str, Any]) -> None:
    """An error when a commune answered is not the one asked for (another commune's outline
    under the name asked)."""
    if props.get("code") != code:
        raise unexpected(SERVICE, f"answered with commune {props.get('code')} when asked for {code}")


def _of_department(department: str, props: dict[str, Any]) -> None:
    """An error when a commune answered is not of the department asked for."""
    if props.get("codeDepartement") != department or department_of(props.get("code")) != department:
        raise unexpected(
            SERVICE, f"answered with commune {props.get('code')} of department "
            f"{props.get('codeDepartement')} when asked for department {department}"
        )


def department_features(http: Http, department: str) -> list[dict[str, Any]]:
    """The GeoJSON features of every commune of a department (contour, code, name and
    population in one request), each checked to be of that department."""
    features = _features(http, {"codeDepartement": department}, functools.partial(_of_department, department))
    if not features:
        raise CommuneNotFound(f"no department {department} on geo.api.gouv.fr{department_hint(department)}")
    return features


def load_department(http: Http, department: str) -> Communes:
    """Every commune of a department, in one request."""
    return _to_communes(http, department_features(http, department))


def _features(http: Http, params: dict[str, str], belongs: Callable[[dict[str, Any]], None]
              ) -> list[dict[str, Any]]:
    """The features answered for `params`, each checked (and that it `belongs` to what was
    asked) before the answer is cached: a wrong one is never kept."""
    params = {**params, "fields": CONTOUR_FIELDS, "format": "geojson", "geometry": "contour"}

    def check(answer: Any) -> None:
        _check_collection(answer)
        for feature in answer["features"]:
            belongs(feature.get("properties") or {})

    return http.get_json(_url(http), params, check=check)["features"]


def _to_communes(http: Http, features: list[dict[str, Any]]) -> Communes:
    """Communes from checked features, their outlines checked as a boundary file's are."""
    import geopandas
    import numpy
    from shapely.geometry import shape

    from osmcams.communes.boundaries import Outlines, check_outlines

    rows = []
    for feature in features:
        props, geometry = feature.get("properties") or {}, feature.get("geometry")
        code = str(props.get("code"))
        if not geometry:
            raise DataError(f"geo.api.gouv.fr has no contour for {props.get('nom')} ({code})")
        with nan_unsaid():  # check_outlines refuses the outline
            outline = shape(geometry)
        rows.append({
            "insee": code,
            "name": props.get("nom") or code,
            "department": props.get("codeDepartement"),
            "population": props.get("population"),
            "geometry": outline,
        })
    source = f"geo.api.gouv.fr ({host(http.settings.geo_api_url)}) contours"
    outlines = Outlines([r["insee"] for r in rows], [r["name"] for r in rows],
                        numpy.array([r["geometry"] for r in rows], dtype=object))
    repairs = check_outlines(outlines, source, SERVICE)
    for row, outline in zip(rows, outlines.geometries):
        row["geometry"] = outline
    frame = geopandas.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")
    frame["population"] = frame["population"].astype("Int64")
    return Communes(
        frame, source, population_source=POPULATION_SOURCE, population_year=POPULATION_YEAR,
        repairs=repairs,
    )


# Official outlines kept per department, for runs on an extract (--pbf) and offline runs.
# They are kept until `osmcams download communes` fetches them again: communes change once
# a year, on 1 January.
LASTING = "communes"


def department_file(cache_dir: Path, department: str) -> Path:
    """Where the official communes of `department` are kept (a GeoJSON as geo.api sends it)."""
    return cache_dir / LASTING / f"geoapi-{department}.geojson"


def keep_department(http: Http, department: str) -> tuple[Path, int]:
    """Fetch the communes of a department and keep them; the file and the number of communes.

    The answer is checked (codes, department, coordinates) before it is kept; outlines
    that need repair are kept as sent and repaired, with a warning, when read.
    """
    import json

    from osmcams.files import atomic_open

    features = department_features(http, department)
    _to_communes(http, features)  # refuses what a boundary file may not hold
    kept = {
        "type": "FeatureCollection",
        "source": f"{public_url(_url(http))}?codeDepartement={department}",
        "fetched": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "features": features,
    }
    target = department_file(http.settings.cache_dir, department)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(target, overwrite=True) as out:
        json.dump(kept, out, ensure_ascii=False, separators=(",", ":"))
    return target, len(features)
