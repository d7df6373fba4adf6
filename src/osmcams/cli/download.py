"""download: fetch a region's extract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import network_options, settings_from, show_warnings
from osmcams.cli.render import handle_errors, progress_bar, status_of, stderr


@click.command()
@click.argument("region")
@click.option("--dest", type=click.Path(path_type=Path, file_okay=False),
              help="Directory for extracts (default: <cache-dir>/extracts).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@network_options
@handle_errors
def download(region: str, dest: Path | None, quiet: bool, **kw: Any) -> None:
    """Download a region's OSM extract, resumably, verified against its .md5.

    REGION is a Geofabrik id or name, or an openstreetmap.fr region or department
    (prefix geofabrik: or osmfr: to choose). An unchanged extract is not fetched again.

    \b
    Example:
      osmcams download alpes_maritimes --dest extracts/
    """
    from osmcams.online import extract_dir
    from osmcams.sources import download as catalogue
    from osmcams.sources.http import Http

    settings = settings_from(kw)
    with progress_bar(quiet) as progress:
        http = Http(settings, status_of(progress))
        try:
            plan = catalogue.plan(
                http, catalogue.find_region(http, region), dest or extract_dir(settings)
            )
            stderr().print(catalogue.describe(plan), highlight=False, soft_wrap=True)
            path = catalogue.fetch(http, plan, progress)
        finally:
            show_warnings(http.warnings)
    click.echo(str(path))


