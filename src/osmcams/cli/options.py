"""Options shared by the commands, and the library objects built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from osmcams.cli.render import progress_bar, status_of, stderr
from osmcams.models import one_line


class Finite(click.FloatRange):
    """A FloatRange that refuses nan and inf, which pass its bounds."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _one_department(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> str | None:
    """The one --department given: a second was dropped without a word."""
    if len(values) > 1:
        raise click.BadParameter(f"one department, not {len(values)} ({', '.join(values)}): "
                                 "give --region, or run once for each")
    return values[0] if values else None


def commune_options(f: Callable) -> Callable:
    """Which communes, and the files their boundaries and population come from."""
    options = [
        click.option("--commune", "communes", multiple=True, metavar="NAME_OR_INSEE",
                     help="Commune name or INSEE code; repeat for several."),
        click.option("--department", metavar="CODE", multiple=True, callback=_one_department,
                     help="Restrict to a department (06, 2A, 974)."),
        click.option("--all", "every", is_flag=True, help="Every commune that has a boundary."),
        click.option("--boundaries", multiple=True, type=click.Path(path_type=Path),
                     help="Boundary file or directory (GeoJSON, GPKG, Shapefile, GeoParquet)."),
        click.option("--code-field", help="Field holding the commune code."),
        click.option("--name-field", help="Field holding the commune name."),
        click.option("--population", type=click.Path(path_type=Path),
                     help="Population table: COG JSON or INSEE CSV."),
        click.option("--population-year", metavar="YEAR",
                     help="Census year of --population when neither its data nor its name says."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


extent_option = click.option(
    "--extent", type=click.Path(path_type=Path), metavar="FILE",
    help="The polygon the extract was cut with (.poly or GeoJSON), for its coverage "
         "[default: NAME.poly beside NAME.osm.pbf, when there is one].")


def source_options(f: Callable) -> Callable:
    """Where the cameras, boundaries and population come from."""
    options = [
        commune_options,
        click.option("--pbf", type=click.Path(path_type=Path), help="OSM extract (.osm.pbf)."),
        click.option("--demo", is_flag=True,
                     help="The real data that ships with osmcams, offline: the Monaco extract of "
                          "2025-02-07 and the French communes it reaches (every one of them "
                          "unless --commune says)."),
        extent_option,
        click.option("--admin-level", type=click.IntRange(1, 12), default=8, show_default=True,
                     help="admin_level of boundaries read from the PBF."),
        click.option("--threads", type=click.IntRange(0), default=None,
                     help="Threads decoding PBF (default: every core)."),
        click.option("--region", metavar="REGION",
                     help="A COG region code (11, 76, 93): its communes only. "
                          "A region name (alpes-maritimes): download (or reuse) its extract "
                          "and count from it."),
        click.option("--boundary-source", type=click.Choice(["geoapi", "osm"]), default="geoapi",
                     show_default=True,
                     help="Without --pbf/--region: official contours or the OSM relation."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars."),
    ]
    f = network_options(f)
    for option in reversed(options):
        f = option(f)
    return f


def fov_options(f: Callable) -> Callable:
    """Fields of view: whether to draw them, and their default width and reach."""
    options = [
        click.option("--fov", is_flag=True,
                     help="Add each camera's field of view (cone, or disc for domes)."),
        click.option("--fov-angle", type=Finite(0, 360, min_open=True), default=60.0,
                     show_default=True, help="Width of a cone, in degrees (and of the view of "
                     "a camera looking straight down, camera:tilt=-90 or camera:angle=90)."),
        click.option("--fov-range", type=Finite(0, min_open=True), default=30.0,
                     show_default=True, help="Reach of a view in metres, unless height and "
                     "camera:tilt (or camera:angle) tell where it meets the ground."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def fov_from(kw: dict[str, Any]):
    """The field-of-view settings, or None without --fov."""
    from osmcams.outputs.fov import FovSettings

    angle, reach = kw.pop("fov_angle"), kw.pop("fov_range")
    return FovSettings(angle, reach) if kw.pop("fov") else None


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


def request_from(kw: dict[str, Any], region: str | None = None):
    from osmcams.counting import Request

    return Request(
        region=region,
        communes=tuple(kw.pop("communes")), department=kw.pop("department"),
        every=kw.pop("every"), pbf=kw.pop("pbf"), boundaries=tuple(kw.pop("boundaries")),
        population=kw.pop("population"), population_year=kw.pop("population_year"),
        admin_level=kw.pop("admin_level"),
        code_field=kw.pop("code_field"), name_field=kw.pop("name_field"), extent=kw.pop("extent"),
    )


def report_from(kw: dict[str, Any]):
    from osmcams.counting import count_from_pbf
    from osmcams.online import count_from_region, count_online

    settings = settings_from(kw, threads=kw.pop("threads"))
    from osmcams.communes.names import is_region_code

    if kw.pop("demo"):
        _use_demo(kw)

    region, boundary_source = kw.pop("region"), kw.pop("boundary_source")
    request = request_from(kw, region if is_region_code(region) else None)
    if request.region:
        region = None  # a code selects communes; only a name downloads an extract
    with progress_bar(kw.pop("quiet")) as progress:
        if region:
            report = count_from_region(
                request, settings, region, progress=progress, status=status_of(progress)
            )
        elif request.pbf:
            report = count_from_pbf(request, settings, progress)
        else:
            report = count_online(request, settings, boundary_source, status_of(progress))
    show_warnings(report.warnings)
    return report


DEMO_NOTE = (
    "demo: the openstreetmap.fr extract of Monaco of 2025-02-07 (© OpenStreetMap contributors, "
    "ODbL) and the IGN outlines of the 5 French communes it reaches (Licence Ouverte); "
    "Monaco is not a French commune, so its cameras lie outside every commune"
)


def names_communes(kw: dict[str, Any]) -> bool:
    """Whether the command names its communes: --commune, or --demo alone (its five)."""
    return bool(kw["communes"]) or (kw["demo"] and not (kw["department"] or kw["region"] or kw["every"]))


def with_outside(report: Any, in_order: bool) -> list[dict[str, Any]]:
    """The rows of `report` and those of the communes named that lie outside its data (no
    count): in the order asked when `in_order`, else after the others."""
    rows = [*report.rows, *report.outside]
    if in_order:
        asked = {code: i for i, code in enumerate(report.cameras)}  # every code asked for
        rows.sort(key=lambda row: asked[row["insee"]])
    return rows


def _use_demo(kw: dict[str, Any]) -> None:
    """Point the options at the demo data; refuse the options that name other data."""
    from osmcams.communes.names import is_region_code
    from osmcams.counting import demo_data
    from osmcams.errors import UsageError

    for name in ("pbf", "boundaries", "population"):
        if kw[name]:
            raise UsageError(f"--demo brings its own data: drop --{name}")
    if kw["region"] and not is_region_code(kw["region"]):  # a region name names an extract
        raise UsageError("--demo brings its own data: drop --region, or give a region code")
    kw["pbf"], boundaries = demo_data()
    stderr().print(DEMO_NOTE, highlight=False, soft_wrap=True)
    kw["boundaries"] = (boundaries,)
    if not (kw["communes"] or kw["department"] or kw["region"] or kw["every"]):
        # Each of its communes by name, not a ranking: the partly covered ones are the lesson.
        import json

        features = json.loads(boundaries.read_text(encoding="utf-8"))["features"]
        kw["communes"] = tuple(f["properties"]["code"] for f in features)


NAMED = 5  # items a warning on the terminal names before it counts the rest


def brief(warning: str, whole: str = "--format json lists them all") -> str:
    """A warning listing many items, cut to the first NAMED and the count of the rest;
    `whole` says where they are all."""
    head, colon, tail = warning.partition(": ")
    items = tail.split(", ")
    if not colon or len(items) <= NAMED + 1:
        return warning
    return f"{head}: {', '.join(items[:NAMED])} and {len(items) - NAMED:,} more ({whole})"


def show_warnings(warnings: list[str]) -> None:
    """Each warning as one line on stderr, long lists cut short (the JSON output has them all).

    Rich markup in names is shown as it is; a line break or control character as
    `models.one_line` shows it.
    """
    from rich.markup import escape

    for warning in warnings:
        stderr().print(f"[yellow]warning:[/] {escape(one_line(brief(warning)))}", highlight=False,
                       soft_wrap=True)


def ranking_options(f: Callable) -> Callable:
    """How a ranking is ordered and which communes it keeps."""
    options = [
        click.option("--sort-by", type=click.Choice(["cameras", "per_km2", "per_10k"]),
                     help="Rank by cameras, cameras per km² or per 10,000 inhabitants "
                          "[default: cameras for a ranking, else the order asked]."),
        click.option("--min-population", type=click.IntRange(0), metavar="N",
                     help="Leave out communes of fewer than N inhabitants (or unknown)."),
        click.option("--include-partial", is_flag=True,
                     help="Keep in a ranking the communes only partly inside the data "
                          "(their counts are lower bounds, marked ≥)."),
        click.option("--min-coverage", type=Finite(0, 1), default=0.95,
                     show_default=True, metavar="SHARE",
                     help="Densities of a commune with less of its area inside the data are null."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def apply_ranking(
    report: Any, sort_by: str | None, min_population: int | None, include_partial: bool,
    min_coverage: float, ranking: bool,
) -> None:
    """Densities under `min_coverage` made null, and the rows of `report` re-ranked as
    asked; a `ranking` (or a sort) leaves out the partly covered communes unless
    `include_partial`. Warns about the communes left out."""
    from osmcams.join import ranked, set_densities, whole

    report.meta["min_coverage"] = min_coverage
    for row in report.rows:
        if row["insee"] in report.areas:
            set_densities(row, report.areas[row["insee"]], min_coverage)
    if sort_by is None and min_population is None:
        rows, warnings = (report.rows, []) if include_partial or not ranking else whole(report.rows)
    else:
        rows, warnings = ranked(report.rows, sort_by or "cameras", min_population, include_partial)
    if sort_by is None:  # keep the order the rows came in
        order = {id(row): i for i, row in enumerate(report.rows)}
        rows.sort(key=lambda row: order[id(row)])
    report.rows = rows
    report.warnings.extend(warnings)
    show_warnings(warnings)


