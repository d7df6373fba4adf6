"""Counting from network sources: Overpass cameras with official or OSM boundaries, or a
downloaded regional extract. The join and the report are those of the PBF path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from osmcams.counting import Request, count_from_pbf
from osmcams.errors import UsageError
from osmcams.join import Report
from osmcams.models import Progress
from osmcams.settings import Settings, public_url
from osmcams.sources.http import Http, Status

BOUNDARY_SOURCES = ("geoapi", "osm")
DEPARTMENT_LEVEL = 6


def count_online(
    request: Request,
    settings: Settings,
    boundary_source: str = "geoapi",
    status: Status | None = None,
) -> Report:
    """Count live OSM cameras (Overpass) in communes from geo.api.gouv.fr or from OSM.

    Cameras are selected by the OSM area of each commune (one query per commune, or
    one for a whole department), then joined to the boundaries on the client: a
    camera outside the final boundary is not counted, and is reported. `status` is
    told what the run waits for.
    """
    from osmcams.communes.from_osm import communes_from_boundaries
    from osmcams.communes.population import apply_population
    from osmcams.join import count
    from osmcams.sources.overpass import Target, fetch_boundaries, fetch_cameras, target

    if request.every or request.region:
        raise UsageError(
            "--all and --region CODE need a PBF (--pbf, or --region NAME to download one): "
            "Overpass is queried commune by commune"
        )
    if request.boundaries or request.code_field or request.name_field:
        raise UsageError("--boundaries, --code-field and --name-field go with --pbf or --region")
    if boundary_source not in BOUNDARY_SOURCES:
        raise UsageError(f"--boundary-source must be one of {', '.join(BOUNDARY_SOURCES)}")
    http = Http(settings, status)
    if boundary_source == "osm":
        if not request.communes:
            raise UsageError("--boundary-source osm needs --commune (name, INSEE code or r<id>)")
        boundaries = fetch_boundaries(
            http, [target(q, request.admin_level) for q in request.communes]
        )
        communes = communes_from_boundaries(
            boundaries, f"Overpass API ({public_url(settings.overpass_url)})", request.admin_level
        )
        targets = [Target("relation", b.relation_id) for b in boundaries]
    else:
        communes = official_communes(http, request)
        if request.communes:
            targets = [Target("insee", code, 8) for code in communes.frame["insee"]]
        else:
            targets = [Target("insee", str(request.department), DEPARTMENT_LEVEL)]
    if request.population:
        apply_population(communes, request.population, request.population_year)
    bounds = communes.frame.total_bounds
    extract = fetch_cameras(http, targets, (bounds[0], bounds[1], bounds[2], bounds[3]))
    report = count(extract, communes, list(communes.frame["insee"]), rank=not request.communes)
    report.warnings[:0] = http.warnings
    return report


def official_communes(http: Http, request: Request):
    """The communes asked by name or code, or every commune of the department, from
    geo.api.gouv.fr."""
    from osmcams.sources import geoapi

    if request.communes:
        codes: list[str] = []
        for query in request.communes:
            code = geoapi.resolve(http, query, request.department)
            if code not in codes:
                codes.append(code)
        return geoapi.load(http, codes)
    return geoapi.load_department(http, str(request.department))


def count_from_region(
    request: Request,
    settings: Settings,
    region: str,
    progress: Progress | None = None,
    status: Status | None = None,
) -> Report:
    """Download (or reuse) the extract of `region`, then count from it like ``--pbf``."""
    from osmcams.sources.download import extract_for

    if request.pbf is not None:
        raise UsageError("--region and --pbf exclude each other")
    http = Http(settings, status)
    path = extract_for(http, region, extract_dir(settings), progress)
    report = count_from_pbf(replace(request, pbf=path), settings, progress)
    report.warnings[:0] = http.warnings
    return report


def extract_dir(settings: Settings) -> Path:
    """Where downloaded extracts are kept by default."""
    return settings.cache_dir / "extracts"
