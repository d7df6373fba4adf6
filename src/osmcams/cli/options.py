"""Options shared by the commands, and the library objects built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from osmcams.cli.render import progress_bar, stderr


def source_options(f: Callable) -> Callable:
    """Where the cameras, boundaries and population come from."""
    options = [
        click.option("--commune", "communes", multiple=True, metavar="NAME_OR_INSEE",
                     help="Commune name or INSEE code; repeat for several."),
        click.option("--department", metavar="CODE", help="Restrict to a department (06, 2A, 974)."),
        click.option("--all", "every", is_flag=True, help="Every commune that has a boundary."),
        click.option("--pbf", type=click.Path(path_type=Path), help="OSM extract (.osm.pbf)."),
        click.option("--boundaries", multiple=True, type=click.Path(path_type=Path),
                     help="Boundary file or directory (GeoJSON, GPKG, Shapefile, GeoParquet)."),
        click.option("--code-field", help="Field holding the commune code."),
        click.option("--name-field", help="Field holding the commune name."),
        click.option("--population", type=click.Path(path_type=Path),
                     help="Population table: COG JSON or INSEE CSV."),
        click.option("--population-year", metavar="YEAR",
                     help="Census year of --population when neither its data nor its name says."),
        click.option("--admin-level", type=click.IntRange(1, 12), default=8, show_default=True,
                     help="admin_level of boundaries read from the PBF."),
        click.option("--threads", type=click.IntRange(0), default=None,
                     help="Threads decoding PBF (default: every core)."),
        click.option("--region", metavar="REGION",
                     help="Download (or reuse) this region's extract and count from it."),
        click.option("--boundary-source", type=click.Choice(["geoapi", "osm"]), default="geoapi",
                     show_default=True,
                     help="Without --pbf/--region: official contours or the OSM relation."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars."),
    ]
    f = network_options(f)
    for option in reversed(options):
        f = option(f)
    return f


def network_options(f: Callable) -> Callable:
    """Endpoints and cache of the network sources (flags override OSMCAMS_* variables)."""
    options = [
        click.option("--overpass-url", help="Overpass interpreter URL [env OSMCAMS_OVERPASS_URL]."),
        click.option("--geo-api-url", help="geo.api.gouv.fr base URL [env OSMCAMS_GEO_API_URL]."),
        click.option("--download-url", help="Geofabrik base URL [env OSMCAMS_DOWNLOAD_URL]."),
        click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
                     help="HTTP cache and extracts [env OSMCAMS_CACHE_DIR]."),
        click.option("--offline", is_flag=True, help="Use only cached answers; fail on a miss."),
        click.option("--refresh", is_flag=True, help="Ignore cached answers and fetch again."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def settings_from(kw: dict[str, Any], **extra: Any):
    from osmcams.settings import Settings

    names = ("overpass_url", "geo_api_url", "download_url", "cache_dir", "offline", "refresh")
    return Settings.from_env(**{name: kw.pop(name) for name in names}, **extra)


def request_from(kw: dict[str, Any]):
    from osmcams.pipeline import Request

    return Request(
        communes=tuple(kw.pop("communes")), department=kw.pop("department"),
        every=kw.pop("every"), pbf=kw.pop("pbf"), boundaries=tuple(kw.pop("boundaries")),
        population=kw.pop("population"), population_year=kw.pop("population_year"),
        admin_level=kw.pop("admin_level"),
        code_field=kw.pop("code_field"), name_field=kw.pop("name_field"),
    )


def report_from(kw: dict[str, Any]):
    from osmcams.online import count_from_region, count_online
    from osmcams.pipeline import count_from_pbf

    settings = settings_from(kw, threads=kw.pop("threads"))
    region, boundary_source = kw.pop("region"), kw.pop("boundary_source")
    request = request_from(kw)
    with progress_bar(kw.pop("quiet")) as progress:
        if region:
            report = count_from_region(request, settings, region, progress=progress)
        elif request.pbf:
            report = count_from_pbf(request, settings, progress)
        else:
            report = count_online(request, settings, boundary_source)
    from rich.markup import escape

    for warning in report.warnings:
        stderr().print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    return report


