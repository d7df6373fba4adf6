"""download: fetch a region's extract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import network_options, settings_from, show_warnings
from osmcams.cli.render import handle_errors, progress_bar, say, status_of

COMMUNES = "communes"


@click.command()
@click.argument("region")
@click.option("--dest", type=click.Path(path_type=Path, file_okay=False),
              help="Directory for extracts (default: <cache-dir>/extracts).")
@click.option("--department", "departments", multiple=True, metavar="CODE",
              help="With 'communes': the department to keep (06, 2A, 974); repeat for several.")
@click.option("--all", "every", is_flag=True, help="With 'communes': every department.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@network_options
@handle_errors
def download(
    region: str, dest: Path | None, departments: tuple[str, ...], every: bool, quiet: bool, **kw: Any
) -> None:
    """Download a region's OSM extract, resumably, verified against its .md5, or the
    official communes for offline runs.

    REGION is a Geofabrik id or name, or an openstreetmap.fr region or department
    (prefix geofabrik: or osmfr: to choose). An unchanged extract is not fetched again.

    REGION 'communes' keeps the official outlines, codes and names of the communes of
    each --department (or --all) from geo.api.gouv.fr in the cache directory: counts on
    an extract (--pbf) use them instead of the extract's own boundary relations.

    \b
    Examples:
      osmcams download alpes_maritimes --dest extracts/
      osmcams download communes --department 06 --department 83
    """
    from osmcams.errors import UsageError
    from osmcams.online import extract_dir
    from osmcams.sources import download as catalogue
    from osmcams.sources.http import Http

    settings = settings_from(kw)
    if region == COMMUNES:
        if dest:
            raise UsageError("--dest goes with an extract; communes are kept in the --cache-dir")
        _keep_communes(settings, departments, every, quiet)
        return
    if departments or every:
        raise UsageError(f"--department and --all go with 'osmcams download {COMMUNES}'")
    with progress_bar(quiet) as progress:
        http = Http(settings, status_of(progress))
        try:
            plan = catalogue.plan(
                http, catalogue.find_region(http, region), dest or extract_dir(settings)
            )
            say(catalogue.describe(plan))
            path = catalogue.fetch(http, plan, progress)
        finally:
            show_warnings(http.warnings)
    click.echo(str(path))




def _keep_communes(settings: Any, departments: tuple[str, ...], every: bool, quiet: bool) -> None:
    from osmcams.communes.names import department_code, every_department
    from osmcams.errors import CommuneNotFound, UsageError
    from osmcams.sources import geoapi
    from osmcams.sources.http import Http

    if every == bool(departments):
        raise UsageError("give --department CODE (repeatable) or --all")
    wanted = every_department() if every else list(dict.fromkeys(map(department_code, departments)))
    unknown = sorted(set(wanted) - set(every_department()))
    if unknown:  # refused before any request, as a code no department has
        raise UsageError(f"no department {', '.join(unknown)} in the COG (codes such as 06, 2A, 974)")
    with progress_bar(quiet) as progress:
        http = Http(settings, status_of(progress))
        try:
            for done, department in enumerate(wanted, 1):
                try:
                    path, kept = geoapi.keep_department(http, department)
                except CommuneNotFound as e:
                    if not every:  # one asked for by name: an error; with --all, a note
                        raise
                    http.warnings.append(str(e))
                    continue
                finally:
                    if progress:
                        progress("Official communes", done, len(wanted))
                say(f"department {department}: {kept:,} communes kept in {path}")
        finally:
            show_warnings(http.warnings)
