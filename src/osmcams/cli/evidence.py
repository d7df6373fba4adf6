"""compare, match and quality: counts as evidence, and to-do lists for mappers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import report_from, show_warnings, source_options
from osmcams.cli.render import emit, handle_errors, stderr
from osmcams.errors import UsageError

SOURCE_CHOICES = ("pbf", "communes", "department", "every", "region", "boundaries")


def key_values(title: str, values: dict[str, Any]) -> Any:
    """A two-column rich table of a flat summary."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("", overflow="fold")
    for key, value in values.items():
        table.add_row(key, "–" if value is None else f"{value:,}" if isinstance(value, int) else str(value))
    return table


def print_table(table: Any, output: Path | None, overwrite: bool) -> None:
    """A rich table to the terminal or, as plain text, to `output`."""
    import io

    from rich.console import Console

    if output is None:
        Console().print(table)
        return
    text = io.StringIO()
    Console(file=text, width=160).print(table)
    emit(text.getvalue(), output, overwrite)


@click.command()
@source_options
@click.option("--official", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The official register: CSV (';' or ',') or any vector file.")
@click.option("--lon-field", help="Register column holding the longitude (or X).")
@click.option("--lat-field", help="Register column holding the latitude (or Y).")
@click.option("--crs", help="Coordinate system of a CSV register's columns (EPSG:2154).")
@click.option("--cameras", type=click.Path(path_type=Path, dir_okay=False),
              help="OSM cameras from a file (an osmcams export, or any GeoJSON of points).")
@click.option("--max-distance", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True,
              help="Metres within which an official and an OSM camera may pair.")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Summary format.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="A GeoPackage (.gpkg) with the layers matched, official_only and osm_only.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write matched.geojson, official-only.geojson and osm-only.geojson here.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@handle_errors
def match(
    official: Path, lon_field: str | None, lat_field: str | None, crs: str | None,
    cameras: Path | None, max_distance: float, fmt: str, output: Path | None,
    output_dir: Path | None, overwrite: bool, **kw: Any,
) -> None:
    """Match an official camera register with OSM cameras, one to one.

    The pairs are the most official cameras that can each get an OSM camera
    within --max-distance, at the least total distance (an optimal assignment).

    \b
    Examples:
      osmcams match --official data.csv --commune Paris --pbf ile-de-france.osm.pbf \\
          --boundaries communes/ --output-dir paris-match/
      osmcams match --official register.gpkg --cameras cameras.geojson -o match.gpkg
      osmcams match --official cameras-l93.csv --crs EPSG:2154 --cameras cameras.geojson \\
          --format json
    """
    from osmcams.analysis import match as matching
    from osmcams.files import check_target

    if output is not None and output.suffix.lower() != ".gpkg":
        raise UsageError("-o takes a GeoPackage (.gpkg); use --output-dir for GeoJSON files")
    targets = matching.output_paths(output_dir) if output_dir else {}
    if output_dir and output_dir.is_dir():
        for target in targets.values():
            check_target(target, overwrite)  # before the work, not after
    if output:
        check_target(output, overwrite)
    register = matching.read_register(official, lon_field, lat_field, crs)
    if cameras is not None:
        chosen = [name for name in SOURCE_CHOICES if kw.get(name)]
        if chosen:
            raise UsageError(f"--cameras excludes --{chosen[0].replace('every', 'all')}")
        osm = matching.read_cameras(cameras)
    else:
        report = report_from(kw)
        osm, register = matching.from_report(report, register)
    show_warnings(register.warnings + osm.warnings)
    result = matching.match(register, osm, max_distance)
    summary = matching.summary(register, osm, result, max_distance)
    if output_dir or output:
        features = matching.layers(register, osm, result)
        if output_dir:
            output_dir.mkdir(parents=True, exist_ok=True)
            matching.write_layers(features, targets, overwrite)
        if output:
            matching.write_geopackage(features, output, overwrite)
    if fmt == "json":
        click.echo(json.dumps({**summary, "warnings": register.warnings + osm.warnings},
                              ensure_ascii=False, allow_nan=False, indent=1))
    else:
        print_table(key_values("Official register against OpenStreetMap", summary), None, False)
    for target in [*targets.values(), *([output] if output else [])]:
        stderr().print(f"wrote {target}", highlight=False, soft_wrap=True)
