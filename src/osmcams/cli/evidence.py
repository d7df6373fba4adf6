"""compare, match and quality: counts as evidence, and to-do lists for mappers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import Finite, report_from, show_warnings, source_options
from osmcams.cli.render import cell, emit, handle_errors, print_rich, stderr
from osmcams.errors import UsageError
from osmcams.outputs.formats import TABLE_FORMATS, TABLE_SUFFIXES, format_for

SOURCE_CHOICES = ("pbf", "communes", "department", "every", "region", "boundaries")


def key_values(title: str, values: dict[str, Any]) -> Any:
    """A two-column rich table of a flat summary."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("", overflow="fold")
    for key, value in values.items():
        table.add_row(key, cell(value))
    return table


@click.command()
@source_options
@click.option("--official", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The official register: CSV (';' or ',') or any vector file.")
@click.option("--lon-field", help="Register column holding the longitude (or X).")
@click.option("--lat-field", help="Register column holding the latitude (or Y).")
@click.option("--crs", help="Coordinate system of a CSV register's columns (EPSG:2154).")
@click.option("--cameras", type=click.Path(path_type=Path, dir_okay=False),
              help="OSM cameras from a file (an osmcams export, or any GeoJSON of points).")
@click.option("--max-distance", type=Finite(0, min_open=True), default=30.0, show_default=True,
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
    from osmcams.files import check_set, check_target, publish

    if output is not None and output.suffix.lower() != ".gpkg":
        raise UsageError("-o takes a GeoPackage (.gpkg); use --output-dir for GeoJSON files")
    names = {name: f"{name}.geojson" for name in matching.LAYERS}
    if output_dir:
        check_set(output_dir, names, overwrite)  # before the work, not after
    if output:
        check_target(output, overwrite)
    register = matching.read_register(official, lon_field, lat_field, crs)
    if cameras is not None:
        chosen = [name for name in SOURCE_CHOICES if kw.get(name)]
        if chosen:
            raise UsageError(f"--cameras excludes --{chosen[0].replace('every', 'all')}")
        osm = matching.read_cameras(cameras)
        if len(osm):
            matching.check_place(register, matching.near_cameras(osm), f"the area of {cameras}")
    else:
        report = report_from(kw)
        osm, register = matching.from_report(report, register)
    show_warnings(register.warnings + osm.warnings)
    result = matching.match(register, osm, max_distance)
    summary = matching.summary(register, osm, result, max_distance)
    if output_dir or output:
        features = matching.layers(register, osm, result)
        if output_dir:  # the three files all or nothing
            with publish(output_dir, names, overwrite) as staged:
                matching.write_layers(features, staged)
        if output:
            matching.write_geopackage(features, output, overwrite)
    if fmt == "json":
        click.echo(json.dumps({**summary, "warnings": register.warnings + osm.warnings},
                              ensure_ascii=False, allow_nan=False, indent=1))
    else:
        print_rich(key_values("Official register against OpenStreetMap", summary), None, False)
    written = [output_dir / name for name in names.values()] if output_dir else []
    for target in [*written, *([output] if output else [])]:
        stderr().print(f"wrote {target}", highlight=False, soft_wrap=True)


def compare_table(report: Any) -> Any:
    """The communes, then the departments, as rich tables."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    meta = report.meta
    communes = Table(
        title=f"Mapped in OpenStreetMap (data of {meta['data_timestamp'] or 'unknown date'}) "
              "against reported figures",
        caption=f"{meta['source']}; reported: {', '.join(meta['reported_sources'])}",
        box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )
    for name in ("INSEE", "Commune", "Mapped", "Reported", "As of", "Status", "Complete", "Notes"):
        communes.add_column(name, justify="right" if name in ("Mapped", "Reported", "Complete") else "left",
                            overflow="fold", no_wrap=name in ("INSEE", "As of"),
                            min_width=16 if name == "Notes" else None)
    for r in report.rows:
        complete = f"{r['completeness']:.0%}" if r["completeness"] is not None else None
        communes.add_row(r["insee"], r["name"], cell(r["cameras"]), cell(r["reported_cameras"]),
                         cell(r["as_of"]), cell(r["status"]), cell(complete),
                         cell([*r["flags"], *([r["reason"]] if r["reason"] else [])]))
    departments = Table(title="Departments", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("Dept", "Name", "Communes", "With cameras mapped", "reported", "Mapped", "Reported range",
                 "As of", "Notes"):
        departments.add_column(name, overflow="fold")
    for d in report.extra.get("departments", []):
        low, high = d["reported_cameras_min"], d["reported_cameras_max"]
        span = None if low is None else str(low) if low == high else f"{low}–{high}"
        departments.add_row(
            d["department"], d["name"], cell(d["communes"]), cell(d["communes_with_mapped_cameras"]),
            cell(d["communes_with_cameras_reported"]), cell(d["mapped_cameras"]), cell(span),
            d["as_of"], cell([*d["flags"], *([d["reason"]] if d["reason"] else [])]),
        )
    return Group(communes, departments) if report.extra.get("departments") else communes


@click.command()
@source_options
@click.option("--reported", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Reported figures (CSV shaped like the shipped tables); repeat for several. "
                   "[default: the figures shipped with osmcams]")
@click.option("-f", "--format", "fmt", type=click.Choice(TABLE_FORMATS),
              help="Output format [default: from the --output suffix, else table].")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@handle_errors
def compare(
    reported: tuple[Path, ...], fmt: str | None, output: Path | None, overwrite: bool, **kw: Any
) -> None:
    """Put mapped counts beside the camera counts reported by towns and the press.

    Completeness is mapped ÷ reported. A figure that is planned, or older than the
    OSM data by more than two years, is flagged. Departments with reported figures
    are summarised when whole departments are counted.

    \b
    Examples:
      osmcams compare --department 30 --pbf occitanie.osm.pbf --boundaries communes/
      osmcams compare --commune Nice --commune Nantes
      osmcams compare --all --pbf france.osm.pbf --boundaries communes/ \\
          --reported my-figures.csv -o compare.csv
    """
    from osmcams.analysis.compare import COMPARE_KEYS, read_reported
    from osmcams.analysis.compare import compare as compare_counts
    from osmcams.files import check_target
    from osmcams.join import ROW_KEYS
    from osmcams.outputs.writers import render_text, write_report

    fmt = fmt or format_for(output, TABLE_SUFFIXES, "table")
    if output:
        check_target(output, overwrite)
    figures = read_reported(reported)
    named = bool(kw["communes"])
    report = compare_counts(report_from(kw), figures, named)
    if fmt == "table":
        print_rich(compare_table(report), output, overwrite)
        return
    text = render_text(lambda out: write_report(report, fmt, out, (*ROW_KEYS, *COMPARE_KEYS)))
    emit(text, output, overwrite)


def quality_table(report: Any) -> Any:
    """Counts per commune: cameras, what they lack, notes, odd values, near-duplicates."""
    from rich import box
    from rich.table import Table

    from osmcams.analysis.quality import CHECKED

    meta = report.meta
    table = Table(
        title=f"What mappers still have to do, data of {meta['data_timestamp'] or 'unknown date'}",
        caption=f"{meta['source']}; numbers are cameras lacking each tag",
        box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )
    short = [key.split(":")[-1] for key in CHECKED]
    for name in ("INSEE", "Commune", "Cams", "To do", *short, "fixme", "odd", "dupl."):
        table.add_column(name, justify="left" if name in ("INSEE", "Commune") else "right", overflow="fold",
                         no_wrap=name != "Commune", min_width=10 if name == "Commune" else None)
    for r in report.rows:
        if r["cameras"] is None:
            table.add_row(r["insee"], r["name"], "–", r["reason"])
            continue
        odd = sum(sum(values.values()) for values in r["odd_values"].values())
        table.add_row(r["insee"], r["name"], str(r["cameras"]), str(r["to_complete"]),
                      *(str(r["missing"][key]) for key in CHECKED),
                      str(r["fixme"]), str(odd), str(r["near_duplicates"]))
    return table


@click.command()
@source_options
@click.option("--duplicate-distance", type=Finite(0, min_open=True), default=3.0,
              show_default=True, help="Metres under which two cameras are near-duplicates.")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]),
              help="Output format [default: from the --output suffix, else table].")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to this file.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Also write a to-do GeoJSON per commune, <insee>-<slug>.geojson, for uMap.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@handle_errors
def quality(
    duplicate_distance: float, fmt: str | None, output: Path | None, output_dir: Path | None,
    overwrite: bool, **kw: Any,
) -> None:
    """List what the mappers still have to do, per commune.

    Cameras lacking surveillance, surveillance:type, camera:type, camera:mount,
    camera:direction (unless the camera turns), surveillance:zone or operator;
    fixme and note tags; values the OSM wiki does not document; near-duplicates.

    \b
    Example:
      osmcams quality --commune Nantes --pbf pays-de-la-loire.osm.pbf \\
          --boundaries communes/ --output-dir todo/
    """
    from osmcams.analysis.quality import quality as commune_quality
    from osmcams.files import check_target, publish
    from osmcams.outputs.writers import commune_file, render_text, report_json, write_geojson

    fmt = fmt or format_for(output, {".json": "json", ".txt": "table"}, "table")
    if output:
        check_target(output, overwrite)
    report, todo = commune_quality(report_from(kw), duplicate_distance)
    if output_dir:  # all or nothing: names checked before the first file is written
        names = {row["insee"]: row["name"] for row in report.rows}
        files = {code: commune_file(code, names[code], "geojson") for code in todo}
        with publish(output_dir, files, overwrite) as staged:
            for code, features in todo.items():
                with open(staged[code], "w", encoding="utf-8") as out:
                    write_geojson(features, out)
        for code, features in todo.items():
            stderr().print(f"{output_dir / files[code]}: {len(features)} cameras to complete",
                           highlight=False, soft_wrap=True)
    if fmt == "json":
        emit(render_text(lambda out: report_json(report, out)), output, overwrite)
    else:
        print_rich(quality_table(report), output, overwrite)
