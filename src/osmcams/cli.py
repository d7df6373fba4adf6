"""osmcams: measure video surveillance mapped in OpenStreetMap, per commune.

Exit codes: 0 success, 1 internal error, 2 usage error, 3 commune not found or
ambiguous, 4 bad or incomplete input data, 5 network or service failure,
6 another run holds the lock.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import cache, wraps
from pathlib import Path
from typing import Any

import click

from osmcams import __version__
from osmcams.errors import ExitCode, OsmcamsError, UsageError
from osmcams.formats import (
    CAMERA_FORMATS,
    CAMERA_SUFFIXES,
    TABLE_FORMATS,
    TABLE_SUFFIXES,
    format_for,
)


@cache
def stderr() -> Any:
    """The rich console on stderr, made on first use so --help stays fast."""
    from rich.console import Console

    return Console(stderr=True)


# Rows a rich table shows by default: rendering tens of thousands takes minutes.
TABLE_ROWS = 100
# Progress labels that count items (files) rather than bytes.
COUNTED = {"Boundaries"}


def _progress(quiet: bool):
    """A rich progress bar on stderr, as a context manager yielding the callback."""
    from contextlib import nullcontext

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    if quiet or not stderr().is_terminal:  # no bars in logs and pipes
        return nullcontext(None)

    class Amount(ProgressColumn):
        """Bytes for scans and downloads, a count for files."""

        def render(self, task: Any) -> Any:
            counted = task.description.strip() in COUNTED
            return (MofNCompleteColumn() if counted else DownloadColumn()).render(task)

    bar = Progress(
        TextColumn("{task.description:<12}"), BarColumn(), Amount(),
        TimeElapsedColumn(), console=stderr(), transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    class _Bar:
        def __enter__(self):
            bar.__enter__()
            return update

        def __exit__(self, *exc):
            return bar.__exit__(*exc)

    return _Bar()


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


def _settings(kw: dict[str, Any], **extra: Any):
    from osmcams.settings import Settings

    names = ("overpass_url", "geo_api_url", "download_url", "cache_dir", "offline", "refresh")
    return Settings.from_env(**{name: kw.pop(name) for name in names}, **extra)


def _request(kw: dict[str, Any]):
    from osmcams.pipeline import Request

    return Request(
        communes=tuple(kw.pop("communes")), department=kw.pop("department"),
        every=kw.pop("every"), pbf=kw.pop("pbf"), boundaries=tuple(kw.pop("boundaries")),
        population=kw.pop("population"), admin_level=kw.pop("admin_level"),
        code_field=kw.pop("code_field"), name_field=kw.pop("name_field"),
    )


def _report(kw: dict[str, Any]):
    from osmcams.online import count_from_region, count_online
    from osmcams.pipeline import count_from_pbf

    settings = _settings(kw, threads=kw.pop("threads"))
    region, boundary_source = kw.pop("region"), kw.pop("boundary_source")
    request = _request(kw)
    with _progress(kw.pop("quiet")) as progress:
        if region:
            report = count_from_region(request, settings, region, progress=progress)
        elif request.pbf:
            report = count_from_pbf(request, settings, progress)
        else:
            report = count_online(request, settings, boundary_source)
    for warning in report.warnings:
        stderr().print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    return report


def _rich_table(report, limit: int) -> Any:
    from rich import box
    from rich.table import Table

    meta = report.meta
    rows = report.rows[:limit]
    cut = (
        f"\nthe first {len(rows):,} of {len(report.rows):,} rows; "
        "--top N, or --format csv, json or markdown for them all"
        if len(rows) < len(report.rows)
        else ""
    )
    table = Table(
        title=f"Cameras mapped in OpenStreetMap, data of {meta['data_timestamp'] or 'unknown date'}",
        caption=(
            f"{meta['source']}; population: {meta['population_source'] or 'none'} "
            f"({meta['population_year'] or 'year unknown'}){cut}"
        ),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("INSEE", no_wrap=True)
    table.add_column("Commune", min_width=10, overflow="fold")
    for name in ("Pop.", "km²", "Cams", "/km²", "/10k", "inh/cam"):
        table.add_column(name, justify="right")
    table.add_column("Types", min_width=8, overflow="fold")

    def show(value: Any) -> str:
        return "–" if value is None else f"{value:,}" if isinstance(value, int) else str(value)

    for r in rows:
        table.add_row(
            r["insee"], r["name"], show(r["population"]), show(r["area_km2"]),
            show(r["cameras"]), show(r["cameras_per_km2"]), show(r["cameras_per_10k"]),
            show(r["inhabitants_per_camera"]),
            ", ".join(f"{k} {v}" for k, v in r["by_type"].items()) or "–",
        )
    return table


def _emit(text: str, output: Path | None, overwrite: bool) -> None:
    from osmcams.files import atomic_open

    if output is None:
        click.echo(text, nl=False)
        return
    with atomic_open(output, overwrite) as out:
        out.write(text)


def handle_errors(f: Callable) -> Callable:
    """Turn osmcams errors into one line on stderr and their exit code."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except OsmcamsError as e:
            stderr().print(f"[red]osmcams: error:[/] {e}", highlight=False, soft_wrap=True)
            sys.exit(e.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="osmcams")
def cli() -> None:
    """Measure video surveillance mapped in OpenStreetMap, per commune.

    \b
    Exit codes: 0 OK, 1 internal error, 2 usage error, 3 commune not found or
    ambiguous, 4 bad or incomplete input data, 5 network failure, 6 locked.
    """


@cli.command()
@source_options
@click.option("-f", "--format", "fmt", type=click.Choice(TABLE_FORMATS),
              help="Output format [default: from the --output suffix, else table].")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--top", type=click.IntRange(1),
              help=f"Only the first N rows [the table shows {TABLE_ROWS} unless told].")
@handle_errors
def count(
    fmt: str | None, output: Path | None, overwrite: bool, top: int | None, **kw: Any
) -> None:
    """Count cameras per commune, with densities.

    Without --pbf or --region, live data: Overpass and geo.api.gouv.fr.

    \b
    Examples:
      osmcams count --commune Nantes
      osmcams count --commune Beausoleil --pbf monaco.osm.pbf \\
          --boundaries communes/ --population communes.json
      osmcams count --all --pbf france.osm.pbf --boundaries communes/ -o ranking.csv
    """
    from osmcams.files import check_target
    from osmcams.writers import render_text, write_report

    fmt = fmt or format_for(output, TABLE_SUFFIXES, "table")
    if output:
        check_target(output, overwrite)  # before the work, not after
    report = _report(kw)
    if top:
        report.rows = report.rows[:top]
    if fmt == "table":
        import io

        from rich.console import Console

        table = _rich_table(report, top or TABLE_ROWS)
        if output is None:
            Console().print(table)
            return
        text = io.StringIO()
        Console(file=text, width=160).print(table)
        _emit(text.getvalue(), output, overwrite)
        return
    _emit(render_text(lambda out: write_report(report, fmt, out)), output, overwrite)


@cli.command()
@source_options
@click.option("-f", "--format", "fmt", type=click.Choice(CAMERA_FORMATS),
              help="Output format [default: from the --output suffix, else geojson].")
@click.option("--sequence", is_flag=True, help="GeoJSON text sequence (RFC 8142); same as -f geojsonseq.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="One output file.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
              help="One file per commune, named <insee>-<slug>.<ext>.")
@click.option("--with-boundary", is_flag=True, help="Add the commune outline.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@handle_errors
def export(
    fmt: str | None, sequence: bool, output: Path | None, output_dir: Path | None,
    with_boundary: bool, overwrite: bool, **kw: Any,
) -> None:
    """Write the cameras of communes as GeoJSON, GeoPackage, GeoParquet or CSV.

    \b
    Example:
      osmcams export --commune Beausoleil --pbf monaco.osm.pbf \\
          --boundaries communes/ --output-dir maps/ --with-boundary
    """
    from osmcams.files import check_target
    from osmcams.writers import commune_path, write_cameras

    fmt = fmt or format_for(output, CAMERA_SUFFIXES, "geojsonseq" if sequence else "geojson")
    if sequence:
        if fmt not in ("geojson", "geojsonseq"):
            raise UsageError("--sequence goes with GeoJSON only")
        fmt = "geojsonseq"
    if (output is None) == (output_dir is None):
        raise UsageError("give exactly one of --output and --output-dir")
    if with_boundary and fmt in ("csv", "parquet"):
        raise UsageError(f"--with-boundary goes with GeoJSON or GeoPackage, not {fmt}")
    if output is not None:
        check_target(output, overwrite)  # before the work, not after
    report = _report(kw)
    if output is not None and len(report.rows) != 1:
        raise UsageError(f"{len(report.rows)} communes selected: use --output-dir")
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    targets = {
        row["insee"]: output or commune_path(output_dir, row["insee"], row["name"], fmt)  # type: ignore[arg-type]
        for row in report.rows
    }
    for target in targets.values():  # all or nothing: refuse before the first file is written
        check_target(target, overwrite)
    for row in report.rows:
        code, name = row["insee"], row["name"]
        boundary = (
            {"code": code, "name": name, "geometry": report.boundaries[code]}
            if with_boundary
            else None
        )
        write_cameras(report.cameras[code], targets[code], fmt, boundary, overwrite)
        stderr().print(
            f"{targets[code]}: {len(report.cameras[code])} cameras", highlight=False, soft_wrap=True
        )


@cli.command()
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
    from osmcams import download as catalogue
    from osmcams.http import Http
    from osmcams.online import extract_dir

    settings = _settings(kw)
    http = Http(settings)
    plan = catalogue.plan(http, catalogue.find_region(http, region), dest or extract_dir(settings))
    stderr().print(catalogue.describe(plan), highlight=False, soft_wrap=True)
    with _progress(quiet) as progress:
        path = catalogue.fetch(http, plan, progress)
    click.echo(str(path))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (for tests and embedding)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="osmcams",
                 standalone_mode=False)
    except click.ClickException as e:
        e.show()
        return ExitCode.USAGE
    except click.exceptions.Abort:  # Ctrl-C: the shell's own code for an interrupt
        stderr().print("osmcams: interrupted")
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    return ExitCode.OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
