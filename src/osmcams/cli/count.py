"""count and export: cameras per commune, as tables and as camera files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import (
    apply_ranking,
    fov_from,
    fov_options,
    names_communes,
    ranking_options,
    report_from,
    show_warnings,
    source_options,
    with_outside,
)
from osmcams.cli.render import (
    TABLE_ROWS,
    cell,
    emit,
    floor_note,
    handle_errors,
    lower_bound,
    partial_note,
    print_rich,
    say,
)
from osmcams.errors import UsageError
from osmcams.models import cameras_text
from osmcams.outputs.formats import (
    CAMERA_FORMATS,
    CAMERA_SUFFIXES,
    COMMUNE_LAYERS,
    COUNT_FORMATS,
    COUNT_SUFFIXES,
    FORMATS,
    OUTLINES,
    VIEWS,
    agreed_format,
)

# The count table's columns, and the order in which a narrow terminal leaves them out.
COUNT_COLUMNS = (("INSEE", "left"), ("Commune", "text"), ("Pop.", "right"), ("km²", "right"),
                 ("Cover", "right"), ("Cams", "right"), ("/km²", "right"), ("/10k", "right"),
                 ("inh/cam", "right"), ("Types", "text"))
COUNT_DROPPED = ("Types", "inh/cam", "km²", "Pop.", "/10k", "/km²")


def rich_table(report, limit: int) -> Any:
    from osmcams.cli.render import Fitted
    from osmcams.communes.model import code_label
    from osmcams.join import NO_COUNT_NOTE, is_outside, population_text, share_text

    meta = report.meta
    rows = report.rows[:limit]
    cut = (
        f"\nthe first {len(rows):,} of {len(report.rows):,} rows; "
        "--top N, or --format csv, json or markdown for them all"
        if len(rows) < len(report.rows)
        else ""
    )
    empty = "\nno commune to show: the warnings above say why" if not rows else ""
    partial = partial_note(rows, "its count is a lower bound, its densities are null under "
                                 f"{meta['min_coverage']:.0%} coverage")
    if any(is_outside(r) for r in rows):
        partial += "\n– cover and cameras: a commune outside the data, with no count"
    if any(r["note"] == NO_COUNT_NOTE for r in rows):  # not known to be outside: not said to be
        partial += "\n– cover and cameras: a commune the data may not cover, with no count"
    return Fitted(
        [(code_label(r["insee"] for r in rows), "left"), *COUNT_COLUMNS[1:]],
        [[r["insee"], r["name"], cell(r["population"]), f"{r['area_km2']:,.3f}",
          "–" if r["cameras"] is None else "?" if r["coverage"] is None else share_text(r["coverage"]),
          lower_bound(r, r["cameras"]),
          cell(r["cameras_per_km2"]), cell(r["cameras_per_10k"]), cell(r["inhabitants_per_camera"]),
          ", ".join(f"{k} {v}" for k, v in (r["by_type"] or {}).items()) or "–"] for r in rows],
        COUNT_DROPPED,
        title=f"Cameras mapped in OpenStreetMap, data of {meta['data_timestamp'] or 'unknown date'}",
        caption=(
            f"{meta['source']}; population: "
            f"{population_text(meta['population_source'], meta['population_year'])}{empty}{partial}{cut}"
        ),
    )


@click.command()
@source_options
@click.option("-f", "--format", "fmt", type=click.Choice(COUNT_FORMATS),
              help="Output format [default: from the --output suffix, else table].")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--top", type=click.IntRange(1),
              help=f"Only the first N rows [the table shows {TABLE_ROWS} unless told].")
@ranking_options
@handle_errors
def count(
    fmt: str | None, output: Path | None, overwrite: bool, top: int | None,
    sort_by: str | None, min_population: int | None, include_partial: bool, min_coverage: float,
    **kw: Any,
) -> None:
    """Count cameras per commune, with densities.

    Without --pbf or --region, live data: Overpass and geo.api.gouv.fr.

    A commune only partly inside the data is marked partial: its count is a lower
    bound (≥ in tables), its densities are null under --min-coverage, and a ranking
    (--all, --department, a region code, --sort-by, --min-population, --top) leaves it
    out unless --include-partial.

    \b
    Examples:
      osmcams count --commune Nantes
      osmcams count --commune Beausoleil --pbf monaco.osm.pbf \\
          --boundaries communes/ --population communes.json
      osmcams count --all --pbf france.osm.pbf --boundaries communes/ -o ranking.csv
      osmcams count --region 93 --pbf paca.osm.pbf --boundaries communes/ \\
          --population communes.json --sort-by per_10k --min-population 5000
    """
    from osmcams.outputs.writers import (
        check_targets,
        render_text,
        write_communes,
        write_csv_report,
        write_report,
    )

    fmt = agreed_format(output, fmt, COUNT_SUFFIXES, "table")
    if fmt in COMMUNE_LAYERS and output is None:  # before the work, not after
        raise UsageError(f"--format {fmt} draws the communes: give it --output FILE")
    if output:
        check_targets(output, fmt, overwrite)  # before the work, not after
    ranking = top is not None or not names_communes(kw)
    report = report_from(kw)
    apply_ranking(report, sort_by, min_population, include_partial, min_coverage, ranking)
    if top:
        report.rows = report.rows[:top]
    if not ranking:  # a commune named gets its row, with no count outside the data
        report.rows = with_outside(report, sort_by is None)
    if fmt in COMMUNE_LAYERS:
        assert output is not None
        write_communes(report, output, fmt, overwrite)
        return
    if fmt == "table":
        # A file takes every row; a terminal the first TABLE_ROWS.
        print_rich(rich_table(report, top or (len(report.rows) if output else TABLE_ROWS)), output, overwrite)
        return
    if fmt == "csv" and output is not None:  # with NAME.meta.json and its column types, NAME.csvt
        write_csv_report(report, output, overwrite)
        return
    emit(render_text(lambda out: write_report(report, fmt, out)), output, overwrite)


@click.command()
@source_options
@click.option("-f", "--format", "fmt", type=click.Choice(CAMERA_FORMATS),
              help="Output format [default: from the --output suffix, else geojson].")
@click.option("--sequence", is_flag=True, help="GeoJSON text sequence (RFC 8142); same as -f geojsonseq.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="One output file.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
              help="One file per commune, named <insee>-<slug>.<ext>.")
@click.option("--with-boundary", is_flag=True, help="Add the commune outline.")
@click.option("--credit", metavar="TEXT",
              help="uMap: credit printed for your own boundary or population files, in place of "
                   "their file names.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@fov_options
@handle_errors
def export(
    fmt: str | None, sequence: bool, output: Path | None, output_dir: Path | None,
    with_boundary: bool, credit: str | None, overwrite: bool, **kw: Any,
) -> None:
    """Write the cameras of communes as GeoJSON, GeoPackage, GeoParquet, CSV, Shapefile,
    FlatGeobuf, KML or a uMap map.

    \b
    Examples:
      osmcams export --commune Beausoleil --pbf monaco.osm.pbf \\
          --boundaries communes/ --output-dir maps/ --with-boundary
      osmcams export --commune Beausoleil --pbf monaco.osm.pbf \\
          --boundaries communes/ -o beausoleil.gpkg --fov --fov-range 40
      osmcams export --commune Monaco --pbf monaco.osm.pbf -o monaco.umap --fov
    """
    from osmcams.files import publish
    from osmcams.outputs.fov import fields_of_view
    from osmcams.outputs.umap import write_umap
    from osmcams.outputs.writers import commune_file, provenance, write_cameras

    fov = fov_from(kw)

    if sequence:  # a sequence's own suffixes only: json.load cannot read one named .geojson
        if fmt not in (None, "geojson", "geojsonseq"):
            raise UsageError("--sequence goes with GeoJSON only")
        fmt = "geojsonseq"
    fmt = agreed_format(output, fmt, CAMERA_SUFFIXES, "geojson")
    if (output is None) == (output_dir is None):
        raise UsageError("give exactly one of --output and --output-dir")
    if credit and fmt != "umap":
        raise UsageError(f"--credit goes with a uMap map, not {fmt}")
    for flag, wanted, kind in (("--with-boundary", with_boundary, OUTLINES), ("--fov", fov, VIEWS)):
        if wanted and kind not in FORMATS[fmt].carries:
            raise UsageError(f"{flag} goes with GeoJSON, GeoPackage or uMap, not {fmt}")
    if not FORMATS[fmt].one_file and output_dir is not None:
        raise UsageError("a Shapefile is several files: give -o FILE.shp, or another format")
    from osmcams.outputs.writers import check_targets, companions

    if output is not None:
        check_targets(output, fmt, overwrite)  # before the work, not after
    report = report_from(kw)
    blind: list[str] = []
    views: dict[str, Any] = {}

    def write(rows: list[dict[str, Any]], target: Path, replace: bool) -> None:
        codes = [row["insee"] for row in rows]
        if fov:
            for row in rows:
                views[row["insee"]], missing = fields_of_view(report.cameras[row["insee"]], fov)
                blind.extend(f"{row['name']}: {w}" for w in missing)
        shown = [v for code in codes for v in views[code]] if fov else None
        if fmt == "umap":  # a whole map: the communes, their cameras, their views
            if target == output:  # with the communes asked for outside the data, as "no data"
                codes += [row["insee"] for row in report.outside]
            write_umap(report, codes, target, shown, replace, credit)
            return
        boundaries = [
            {"code": row["insee"], "name": row["name"], "geometry": report.boundaries[row["insee"]]}
            for row in rows
        ] if with_boundary else None
        cameras = [c for code in codes for c in report.cameras[code]]
        communes = [(row["insee"], row["name"]) for row in rows for _ in report.cameras[row["insee"]]]
        write_cameras(cameras, target, fmt, boundaries, replace, shown, communes, provenance(report))

    if output is not None:  # one file for every commune, each camera with its own
        write(report.rows, output, overwrite)
        targets = {row["insee"]: output for row in report.rows}
    else:
        # All or nothing: names checked (collisions, existing files) before the first write.
        labels = {row["insee"]: f"{row['name']} ({row['insee']})" for row in report.rows}
        names = {
            labels[row["insee"]]: commune_file(row["insee"], row["name"], fmt) for row in report.rows
        }
        beside = {f"{label} ({path.suffix})": path.name for label, name in names.items()  # written with
                  for path in companions(output_dir / name, fmt)}  # type: ignore[operator]  # each one
        with publish(output_dir, {**names, **beside}, overwrite) as staged:  # type: ignore[arg-type]
            for row in report.rows:
                write([row], staged[labels[row["insee"]]], True)
        targets = {code: output_dir / names[label] for code, label in labels.items()}  # type: ignore[operator]
    shared = output is not None and len(report.rows) > 1
    for row in report.rows:
        code = row["insee"]
        say(
            f"{targets[code]}: {cameras_text(len(report.cameras[code]))}"
            + (f" in {row['name']} ({code})" if shared else "")
            + floor_note(row)
            + (f", {len(views[code])} field{'s' * (len(views[code]) != 1)} of view" if code in views else "")
        )
    show_warnings(blind)
