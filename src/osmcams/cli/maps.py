"""map: cameras per commune as a picture (PNG, SVG, PDF) or a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import (
    fov_from,
    fov_options,
    report_from,
    request_from,
    settings_from,
    show_warnings,
    source_options,
)
from osmcams.cli.render import handle_errors, progress_bar, say
from osmcams.errors import UsageError
from osmcams.outputs.formats import MAP_MEASURES, MAP_SCHEMES, MAP_SUFFIXES


@click.command("map")
@source_options
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="FILE.png, .svg or .pdf (a static map) or FILE.html (an interactive one).")
@click.option("--by", "measure", type=click.Choice(MAP_MEASURES), default="per_km2", show_default=True,
              help="Cameras per km², or per 10,000 inhabitants.")
@click.option("--scheme", type=click.Choice(MAP_SCHEMES), default="quantiles", show_default=True,
              help="How mapclassify breaks the values into classes.")
@fov_options
@click.option("--tiles", metavar="URL",
              help="HTML: a background tile layer, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png "
                   "(fetched by the browser; without it the page needs no network).")
@click.option("--no-cluster", is_flag=True, help="HTML: one marker per camera, never grouped.")
@click.option("--at", metavar="DATE",
              help="The map as it was at DATE (2019, 2019-06, 2019-06-01, 2019-06-01T12:00Z), "
                   "from a full-history --pbf (.osh.pbf); today's boundaries.")
@click.option("--credit", metavar="TEXT",
              help="Credit printed for your own boundary or population files, in place of their "
                   "file names (IGN, INSEE/Etalab and OSM are credited by name already).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@handle_errors
def map_command(
    output: Path, measure: str, scheme: str, tiles: str | None, no_cluster: bool,
    at: str | None, credit: str | None, overwrite: bool, **kw: Any,
) -> None:
    """Draw cameras per commune: a choropleth with the cameras on top.

    The suffix of --output chooses the kind: .png, .svg or .pdf for a static
    map (matplotlib), .html for one page that opens from disk with no network
    (Leaflet inlined), with a popup per commune and per camera.

    \b
    Examples:
      osmcams map --department 06 --pbf riviera.osm.pbf --boundaries communes/ \\
          --population communes.json --by per_10k -o nice.png
      osmcams map --commune Monaco --pbf monaco.osm.pbf --fov -o monaco.html
      osmcams map --department 06 --pbf alpes-maritimes.osh.pbf --boundaries communes/ \\
          --at 2019-01-01 -o 06-2019.png
    """
    from osmcams.files import check_target, streamed_target
    from osmcams.outputs.fov import fields_of_view

    kind = MAP_SUFFIXES.get(output.suffix.lower())
    if kind is None:
        streamed_target(output)  # a directory is said to be one, not a file of another kind
        raise UsageError(f"{output}: the suffix must be one of {', '.join(MAP_SUFFIXES)}")
    if kind == "static" and (tiles or no_cluster):
        raise UsageError("--tiles and --no-cluster go with an .html map")
    check_target(output, overwrite)  # before the work, not after
    fov = fov_from(kw)
    report = report_from(kw) if at is None else _report_at(kw, at)
    views = None
    if fov:
        cameras = [c for row in report.rows for c in report.cameras.get(row["insee"], [])]
        views, blind = fields_of_view(cameras, fov)
        show_warnings(blind)
    if kind == "static":
        from osmcams.outputs.maps import draw_static

        draw_static(report, output, measure, scheme, views, overwrite, credit)
    else:
        from osmcams.outputs.maps import write_html

        write_html(report, output, overwrite, measure=measure, scheme=scheme, views=views,
                   tiles=tiles, cluster=not no_cluster, credit=credit)
    outside = f", {len(report.outside):,} without data" if report.outside else ""
    drawn = len(report.rows)
    say(f"{output}: {drawn:,} commune{'s' * (drawn != 1)}{outside}")


def _report_at(kw: dict[str, Any], at: str) -> Any:
    """The report of a history file's cameras as they were at `at`."""
    from osmcams.analysis.timeline import report_at

    if not kw.get("pbf"):
        raise UsageError("--at needs --pbf HISTORY.osh.pbf, a full-history file")
    if kw.pop("region"):
        raise UsageError("--at reads a history file: give --pbf, not --region")
    kw.pop("boundary_source")
    settings = settings_from(kw, threads=kw.pop("threads"))
    request = request_from(kw)
    with progress_bar(kw.pop("quiet")) as progress:
        report = report_at(request, settings, at, progress)
    show_warnings(report.warnings)
    return report
