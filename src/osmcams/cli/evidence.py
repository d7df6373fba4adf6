"""compare, match and quality: counts as evidence, and to-do lists for mappers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import (
    Finite,
    names_communes,
    report_from,
    show_warnings,
    source_options,
    with_outside,
)
from osmcams.cli.render import (
    QUALIFIED,
    cell,
    emit,
    floor_note,
    handle_errors,
    lower_bound,
    partial_note,
    print_rich,
    progress_bar,
    say,
)
from osmcams.errors import UsageError
from osmcams.models import cameras_text, printable
from osmcams.outputs.formats import FORMATS, TABLE_FORMATS, TABLE_SUFFIXES, agreed_format

# The options of a count's cameras, communes, boundaries, population and network sources, by
# parameter name: --cameras brings its own cameras and has no use for any of them.
SOURCE_CHOICES = {"pbf": "--pbf", "demo": "--demo", "extent": "--extent", "communes": "--commune",
                  "department": "--department", "every": "--all", "region": "--region",
                  "boundaries": "--boundaries", "code_field": "--code-field", "name_field": "--name-field",
                  "population": "--population", "population_year": "--population-year",
                  "admin_level": "--admin-level", "threads": "--threads",
                  "boundary_source": "--boundary-source",
                  "overpass_url": "--overpass-url", "geo_api_url": "--geo-api-url",
                  "download_url": "--download-url", "cache_dir": "--cache-dir", "offline": "--offline",
                  "refresh": "--refresh"}


def source_chosen() -> str | None:
    """The first option of SOURCE_CHOICES the user set (on the command line or in the
    environment, not by its default, so `--admin-level 8` counts too), or None."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return next((flag for name, flag in SOURCE_CHOICES.items() if ctx.get_parameter_source(name) in given),
                None)


def key_values(title: str, values: dict[str, Any]) -> Any:
    """A two-column rich table of a flat summary, its text never read as rich markup, its
    control characters shown as `printable` shows them (as `Fitted` does)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("", overflow="fold")
    for key, value in values.items():
        table.add_row(Text(printable(key)), Text(printable(cell(value))))
    return table


@click.command()
@source_options
@click.option("--official", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The official register: CSV (';', ',' or tab), spreadsheet (.xlsx, .ods) "
                   "or any vector file.")
@click.option("--lon-field", help="Register column holding the longitude (or X).")
@click.option("--lat-field", help="Register column holding the latitude (or Y).")
@click.option("--crs", help="Coordinate system of a CSV or spreadsheet register's columns "
                            "(EPSG:2154).")
@click.option("--cameras", type=click.Path(path_type=Path, dir_okay=False),
              help="OSM cameras from a file (an osmcams export, or any GeoJSON of points).")
@click.option("--max-distance", type=Finite(0, min_open=True), default=30.0, show_default=True,
              help="Metres within which an OSM camera belongs to a site, or pairs with an official camera.")
@click.option("--register-unit", type=click.Choice(["site", "camera"]), default="site", show_default=True,
              help="What a register row is: a site holding any number of cameras, or one camera.")
@click.option("--count-field", help="With sites: the column holding each site's number of cameras "
                                    "[default: nombre, nb_cameras, cameras, count... when present].")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True, help="Summary format.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="A GeoPackage (.gpkg) with the layers matched, official_only and osm_only.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write matched.geojson, official-only.geojson and osm-only.geojson here.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@handle_errors
def match(
    official: Path, lon_field: str | None, lat_field: str | None, crs: str | None,
    cameras: Path | None, max_distance: float, register_unit: str, count_field: str | None, fmt: str,
    output: Path | None, output_dir: Path | None, overwrite: bool, **kw: Any,
) -> None:
    """Match an official register of camera sites, or of cameras, with OSM cameras.

    Sites (the default: a register row is a place that may hold several cameras):
    every OSM camera within --max-distance of a site is one of its cameras. With a
    count per site, the OSM cameras at each site are set against it. Cameras: one
    to one, the most official cameras that can each get an OSM camera within
    --max-distance, at the least total distance (an optimal assignment).

    \b
    Examples:
      osmcams match --official data.csv --commune Paris --pbf ile-de-france.osm.pbf \\
          --boundaries communes/ --output-dir paris-match/
      osmcams match --official register.gpkg --cameras cameras.geojson -o match.gpkg
      osmcams match --official cameras-l93.csv --crs EPSG:2154 --cameras cameras.geojson \\
          --register-unit camera --format json
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
    if count_field and register_unit != "site":
        raise UsageError("--count-field goes with --register-unit site")
    register = matching.read_register(official, lon_field, lat_field, crs)
    column = matching.count_column(register, count_field) if register_unit == "site" else None
    if column:  # a count that is no whole number, refused before the work too
        matching.site_counts(register, column)
    counted: list[str] = []  # the count's own warnings (shown by report_from), for the outputs
    if cameras is not None:
        chosen = source_chosen()
        if chosen:
            raise UsageError(f"--cameras excludes {chosen}: the cameras come from {cameras.name}, "
                             "not from a count of communes")
        osm = matching.read_cameras(cameras)
        if len(osm):
            matching.check_place(register, matching.near_cameras(osm), f"the area of {cameras}",
                                 register_unit)
        else:  # an export of communes where none is mapped
            osm.warnings.append(f"{cameras.name} holds no camera, so whether the register lies "
                                "where they were looked for cannot be checked")
    else:
        report = report_from(kw)
        counted = report.warnings
        osm, register = matching.from_report(report, register, register_unit)
    show_warnings(register.warnings + osm.warnings)
    warnings = counted + register.warnings + osm.warnings
    if register_unit == "site":
        counts = matching.site_counts(register, column) if column else None
        sites = matching.by_site(register, osm, max_distance)
        summary = matching.site_summary(register, osm, sites, max_distance, counts, column)
    else:
        result = matching.match(register, osm, max_distance)
        summary = {"register_unit": "camera", **matching.summary(register, osm, result, max_distance)}
    if output_dir or output:
        features = (matching.site_layers(register, osm, sites, counts) if register_unit == "site"
                    else matching.layers(register, osm, result))
        about = {"meta": summary, "warnings": warnings}  # where they come from
        if output_dir:  # the three files all or nothing
            with publish(output_dir, names, overwrite) as staged:
                matching.write_layers(features, staged, about)
        if output:
            matching.write_geopackage(features, output, overwrite, about)
    if fmt == "json":
        click.echo(json.dumps({**summary, "warnings": warnings},
                              ensure_ascii=False, allow_nan=False, indent=1))
    elif fmt == "markdown":
        from osmcams.outputs.writers import render_text

        click.echo(render_text(lambda out: match_markdown(summary, warnings, out)), nl=False)
    else:
        print_rich(key_values(f"Official register of {register_unit}s against OpenStreetMap", summary),
                   None, False)
    written = [output_dir / name for name in names.values()] if output_dir else []
    for target in [*written, *([output] if output else [])]:
        say(f"wrote {target}")


def match_markdown(summary: dict[str, Any], warnings: list[str], out: Any) -> None:
    """The summary as a Markdown table of its keys and values, as JSON has them, then the
    register, the OSM cameras and their data date, and the warnings."""
    from osmcams import __version__
    from osmcams.outputs.writers import markdown_sources, markdown_table

    markdown_table([{"key": key, "value": value} for key, value in summary.items()], ("key", "value"), out)
    markdown_sources(f"Register: {summary['official_source']}. OpenStreetMap: {summary['osm_source']}, "
                     f"data of {summary['data_timestamp'] or 'unknown date'}. osmcams {__version__}.",
                     warnings, out)


def reported_cell(figure: dict[str, Any]) -> str | None:
    """A reported figure with its qualifier: 4,113, ~4,000, ≥3,000."""
    if figure["reported_cameras"] is None:
        return None
    return f"{QUALIFIED[figure['qualifier']]}{figure['reported_cameras']:,}"


def ratio_cell(row: dict[str, Any]) -> str | None:
    """A completeness with its qualifier: 42%, ~42%, ≤42%."""
    if row["completeness"] is None:
        return None
    share = row["completeness"]
    digits = 0 if share >= 0.1 else 1  # 0.2%, not 0%
    return f"{QUALIFIED[row['completeness_qualifier']]}{share:.{digits}%}"


def compare_table(report: Any) -> Any:
    """The communes, the figures through time (with a history), then the departments."""
    from rich.console import Group

    from osmcams.cli.render import Fitted
    from osmcams.communes.model import code_label
    from osmcams.outputs.writers import TITLES

    meta = report.meta
    notes = [("Notes", "text")]
    communes = [[r["insee"], r["name"], lower_bound(r, r["cameras"]), cell(reported_cell(r)),
                 cell(r["as_of"]), cell(r["reported_source"]), cell(ratio_cell(r)),
                 cell([*r["flags"], *([r["reason"]] if r["reason"] else [])])] for r in report.rows]
    tables = [Fitted(
        [(code_label(r["insee"] for r in report.rows), "left"), ("Commune", "text"), ("Mapped", "right"),
         ("Reported", "right"), ("As of", "left"), ("Source", "text"), ("Complete", "right"), *notes],
        communes, ["Source", "Complete"],
        title=f"Mapped in OpenStreetMap (data of {meta['data_timestamp'] or 'unknown date'}) "
              "against the reported figure closest to that date",
        caption=f"{meta['source']}; reported: {', '.join(meta['reported_sources'])}"
                + partial_note(report.rows, "its mapped count is a lower bound"),
    )]
    if report.extra.get("over_time"):  # with a history and a figure (compare says when none)
        over_time = report.extra["over_time"]
        points = [[p["name"], cell(reported_cell(p)), cell(p["as_of"]), p["status"], cell(p["scope"]),
                   p["reported_source"], lower_bound(p, p["mapped_then"]), cell(ratio_cell(p)),
                   cell(p["reason"])] for p in over_time]
        tables.append(Fitted(
            [("Commune", "text"), ("Reported", "right"), ("As of", "left"), ("Status", "left"),
             ("Scope", "text"), ("Source", "text"), ("Mapped then", "right"), ("Complete", "right"),
             *notes],
            points, ["Scope", "Source", "Status"],
            title=TITLES["over_time"],
            caption=partial_note(over_time, "its mapped count then is a lower bound").strip() or None,
        ))
    departments = []
    for d in report.extra.get("departments") or []:
        low, high = d["reported_cameras_min"], d["reported_cameras_max"]
        span = (None if low is None and high is None else f"≤{high:,}" if low is None
                else f"≥{low:,}" if high is None else cell(low) if low == high else f"{low:,}–{high:,}")
        departments.append([
            d["department"], d["name"], cell(d["communes"]), cell(d["communes_with_mapped_cameras"]),
            cell(d["communes_with_cameras_reported"]), cell(d["mapped_cameras"]), cell(span),
            cell(d["as_of"]), cell(d["reported_source"]),
            cell([*d["flags"], *([d["reason"]] if d["reason"] else [])]),
        ])
    if departments:
        tables.append(Fitted(
            [("Dept", "left"), ("Name", "text"), ("Communes", "right"),
             ("With cameras mapped", "right"), ("reported", "right"), ("Mapped", "right"),
             ("Reported range", "right"), ("As of", "left"), ("Source", "text"), *notes],
            departments, ["Communes", "reported", "With cameras mapped", "Source"], title="Departments",
        ))
    return Group(*tables)

def mapped_then(
    pbf: Path | None, history_store: Any, counted: Any, figures: Any, threads: int | None, quiet: bool
) -> Any:
    """With a history file or an open history store, the cameras of each counted commune at
    each of its figures' dates; from a history file, none for a commune the data does not
    cover."""
    from osmcams.analysis import dated
    from osmcams.analysis.compare import Kept
    from osmcams.sources.osm.osh import is_history, read_history

    if history_store is not None:
        stored = history_store.names()  # a commune without counts there has no runs
        runs = {code: [(run["data_timestamp"], Kept(run["cameras"], run["coverage"], run["partial"]))
                       for run in history_store.counts(code) if run["data_timestamp"]]
                if code in stored else []
                for code in counted.boundaries}
        return dated.mapped_then_from_runs(runs, figures)
    if pbf is None or not is_history(pbf):
        return None
    with progress_bar(quiet) as progress:
        history = read_history(pbf, threads or 0, progress)
    covered = {row["insee"] for row in counted.rows}  # not `outside`: no count, then or now
    return dated.mapped_then(history, {code: shape for code, shape in counted.boundaries.items()
                                       if code in covered}, figures)


@click.command()
@source_options
@click.option("--reported", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Reported figures (CSV shaped like the shipped tables); repeat for several. "
                   "[default: the figures shipped with osmcams]")
@click.option("--store", type=click.Path(path_type=Path, dir_okay=False),
              help="The refresh's history store: each figure beside the count of its last run "
                   "before the figure's date. (A history file as --pbf does the same.)")
@click.option("-f", "--format", "fmt", type=click.Choice(TABLE_FORMATS),
              help="Output format [default: from the --output suffix, else table].")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@handle_errors
def compare(
    reported: tuple[Path, ...], store: Path | None, fmt: str | None, output: Path | None, overwrite: bool,
    **kw: Any,
) -> None:
    """Put mapped counts beside the camera counts reported by towns and the press.

    Each commune's figure closest to the data date, with its outlet and date.
    Completeness is mapped ÷ reported: about for an approximate figure, at most
    for a minimum, none for a figure of a wider area than the commune (flagged).
    A planned figure, or one older than the OSM data by more than two years, is
    flagged. With a history file as --pbf, or --store, every figure is set beside
    the cameras mapped at its date. Departments with reported figures are
    summarised when whole departments are counted.

    \b
    Examples:
      osmcams compare --department 30 --pbf occitanie.osm.pbf --boundaries communes/
      osmcams compare --commune Nice --commune Nantes
      osmcams compare --all --pbf france.osm.pbf --boundaries communes/ \\
          --reported my-figures.csv -o compare.csv
      osmcams compare --commune Nice --pbf alpes-maritimes.osh.pbf --boundaries communes/
    """
    from osmcams.analysis.compare import COMPARE_KEYS, NO_FIGURE, read_reported
    from osmcams.analysis.compare import compare as compare_counts
    from osmcams.join import ROW_KEYS
    from osmcams.outputs.writers import check_targets, render_text, write_csv_report, write_report
    from osmcams.store.history import read_store

    fmt = agreed_format(output, fmt, TABLE_SUFFIXES, "table")
    if output:
        check_targets(output, fmt, overwrite)  # before the work, not after
    figures = read_reported(reported)
    named = names_communes(kw)  # --commune, or the demo's five
    pbf, threads, quiet = kw["pbf"], kw["threads"], kw["quiet"]
    history_store = None if store is None else read_store(
        store, f"{store}: no such history store (no refresh wrote one there)")  # before the work
    try:
        counted = report_from(kw)
        then = mapped_then(pbf, history_store, counted, figures, threads, quiet)
    finally:
        if history_store is not None:
            history_store.close()
    report = compare_counts(counted, figures, named, then)
    show_warnings(report.warnings[len(counted.warnings):])  # the count's were shown as it ended
    if fmt == "table":
        if report.rows and report.extra.get("over_time") == []:  # communes named, none with a figure
            show_warnings([f"{NO_FIGURE}: none to set beside the cameras mapped through time"])
        print_rich(compare_table(report), output, overwrite)
        return
    keys = (*ROW_KEYS, *COMPARE_KEYS)
    if fmt == "csv" and output is not None:  # with NAME.meta.json and its column types, NAME.csvt
        write_csv_report(report, output, overwrite, keys)
        return
    emit(render_text(lambda out: write_report(report, fmt, out, keys)), output, overwrite)


def quality_table(report: Any) -> Any:
    """Counts per commune: cameras, what they lack, notes, odd values, near-duplicates."""
    from rich.console import Group
    from rich.markup import escape

    from osmcams.analysis.quality import CHECKED
    from osmcams.cli.render import Fitted, lower_bound, partial_note
    from osmcams.communes.model import code_label
    from osmcams.join import share_text
    from osmcams.outputs.writers import TITLES

    meta = report.meta
    # Each checked key by its own name, less the "surveillance:" every reader knows.
    keys = [key.removeprefix("surveillance:") for key in CHECKED]
    rows = []
    for r in report.rows:
        if r["cameras"] is None:  # no data: the reason, where the numbers would be
            rows.append([r["insee"], r["name"], "–", "–", *("" for _ in CHECKED), "", "", "",
                         r["reason"]])
            continue
        odd = sum(sum(values.values()) for values in r["odd_values"].values())
        numbers = [r["cameras"], r["to_complete"], *(r["missing"][key] for key in CHECKED), r["fixme"], odd,
                   r["near_duplicates"]]  # partly inside the data: what it holds, at least
        rows.append([r["insee"], r["name"], *(lower_bound(r, n) for n in numbers),
                     f"coverage {share_text(r['coverage'])}" if r["partial"] else ""])
    table = Fitted(
        [(code_label(r[0] for r in rows), "left"), ("Commune", "text"), ("Cams", "right"), ("To do", "right"),
         *((key, "right") for key in keys), ("fixme", "right"), ("odd", "right"),
         ("dupl.", "right"), ("Note", "text")],
        rows,
        ["Note", "fixme", "odd", "zone", "operator", "camera:direction", "camera:mount", "dupl.",
         "camera:type", "surveillance", "type"],
        title=f"What mappers still have to do, data of {meta['data_timestamp'] or 'unknown date'}",
        caption=f"{meta['source']}; numbers are cameras lacking each tag"
                + partial_note(report.rows, "its numbers are lower bounds")
                + "".join(f"\n– {reason}" for reason in dict.fromkeys(
                    r["reason"] for r in report.rows if r["cameras"] is None)),
    )
    unreadable = [[escape(r["name"]), bad["@id"], escape(bad["key"]), escape(bad["value"])]
                  for r in report.rows for bad in r["unreadable_directions"] or []]
    if not unreadable:
        return table
    directions = Fitted([("Commune", "text"), ("Camera", "left"), ("Key", "left"), ("Value", "text")],
                        unreadable, title=TITLES["unreadable_directions"])
    return Group(table, directions)


def quality_markdown(report: Any, out: Any) -> None:
    """The counts per commune as count's Markdown gives them, the cameras lacking each checked
    key as missing:<key> and the odd values as their number, those of a commune partly
    inside the data as "≥3", none as "–"; then the odd values and the unreadable directions,
    a table each, the sources and the warnings."""
    from osmcams.analysis.quality import CHECKED
    from osmcams.join import Report
    from osmcams.outputs.writers import report_markdown

    missing = tuple(f"missing:{key}" for key in CHECKED)
    counts = ("cameras", "to_complete", *missing, "fixme", "odd_values", "near_duplicates")
    rows, odd, unreadable = [], [], []
    for r in report.rows:
        place = {"insee": r["insee"], "name": r["name"]}
        odd_values = None if r["odd_values"] is None else sum(
            n for values in r["odd_values"].values() for n in values.values())
        rows.append({**place, "coverage": r["coverage"], "partial": r["partial"],
                     "cameras": r["cameras"], "to_complete": r["to_complete"],
                     **{f"missing:{key}": (r["missing"] or {}).get(key) for key in CHECKED},
                     "fixme": r["fixme"], "odd_values": odd_values, "near_duplicates": r["near_duplicates"],
                     "reason": r["reason"]})
        odd += [{**place, "partial": r["partial"], "key": key, "value": value, "cameras": n}
                for key, values in (r["odd_values"] or {}).items() for value, n in values.items()]
        unreadable += [{**place, **bad} for bad in r["unreadable_directions"] or []]
    keys = ("insee", "name", "coverage", "partial", *counts, "reason")
    report_markdown(Report(report.meta, rows, report.warnings,
                           extra={"odd_values": odd, "unreadable_directions": unreadable}),
                    out, keys, counts, "its numbers are lower bounds")


@click.command()
@source_options
@click.option("--duplicate-distance", type=Finite(0, min_open=True), default=3.0,
              show_default=True, help="Metres under which two cameras are near-duplicates.")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json", "markdown"]),
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
    from osmcams.outputs.writers import commune_file, provenance, render_text, report_json, write_geojson

    fmt = agreed_format(output, fmt, {".json": "json", ".txt": "table",
                                      **dict.fromkeys(FORMATS["markdown"].suffixes, "markdown")}, "table")
    if output:
        check_target(output, overwrite)
    named = names_communes(kw)
    counted = report_from(kw)
    if named:  # a commune named keeps its row, with no numbers outside the data
        counted.rows = with_outside(counted, True)
    report, todo = commune_quality(counted, duplicate_distance)
    if output_dir:  # all or nothing: names checked before the first file is written
        names = {row["insee"]: row["name"] for row in report.rows}
        files = {code: commune_file(code, names[code], "geojson") for code in todo}
        with publish(output_dir, files, overwrite) as staged:
            for code, features in todo.items():
                with open(staged[code], "w", encoding="utf-8") as out:
                    write_geojson(features, out, about=provenance(report))
        rows = {row["insee"]: row for row in report.rows}
        for code, features in todo.items():
            say(f"{output_dir / files[code]}: {cameras_text(len(features))} to complete"
                + floor_note(rows[code]))
    if fmt == "json":
        emit(render_text(lambda out: report_json(report, out)), output, overwrite)
    elif fmt == "markdown":
        emit(render_text(lambda out: quality_markdown(report, out)), output, overwrite)
    else:
        print_rich(quality_table(report), output, overwrite)
