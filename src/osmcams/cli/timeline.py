"""timeline: cameras per commune through time, from an OSM history file or the ohsome API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from osmcams.cli.options import commune_options, extent_option, show_warnings
from osmcams.cli.render import (
    QUALIFIED,
    TABLE_ROWS,
    emit,
    handle_errors,
    lower_bound,
    partial_note,
    progress_bar,
    status_of,
)
from osmcams.outputs.formats import CHART_SUFFIXES, FORMATS

TIMELINE_FORMATS = ("table", "csv", "json", "markdown")
# A chart's suffix draws the counts over time, and takes no --format.
TIMELINE_SUFFIXES = {".csv": "csv", ".json": "json", ".txt": "table",
                     **dict.fromkeys(FORMATS["markdown"].suffixes, "markdown"),
                     **dict.fromkeys(CHART_SUFFIXES, "chart")}
PERIODS = ("year", "quarter", "month", "week", "day", "hour")
BARS = "▁▂▃▄▅▆▇█"
NO_COUNT = "– no count: a commune outside the data, or one the source could not count (see the warnings)"
SPARK_WIDTH = 40


def sparkline(counts: list[int | None], width: int = SPARK_WIDTH) -> str:
    """Bars for `counts`, the last one always shown, at most `width` of them; none for nulls."""
    values = [v for v in counts if v is not None]
    if len(values) < len(counts):
        return ""
    if len(values) > width:
        step = (len(values) - 1) / (width - 1)
        values = [values[round(i * step)] for i in range(width)]
    top = max(values, default=0)
    if not top:
        return BARS[0] * len(values)
    return "".join(BARS[round(v * (len(BARS) - 1) / top)] for v in values)


def total(values: list[int | None]) -> str:
    """The sum of `values`, or a dash when one is unknown (ohsome gives counts, not changes)."""
    return "–" if None in values else f"{sum(values):,}"  # type: ignore[arg-type]


def rich_table(timeline: Any, limit: int) -> Any:
    from osmcams.cli.render import Fitted
    from osmcams.communes.model import code_label
    from osmcams.join import population_text

    meta, dates = timeline.meta, timeline.dates
    rows = timeline.rows[:limit]
    cut = (f"\nthe first {len(rows):,} of {len(timeline.rows):,} communes; "
           "--format csv, json or markdown for them all" if len(rows) < len(timeline.rows) else "")
    uncounted = "\n" + NO_COUNT if any(r["cameras"][-1] is None for r in rows) else ""
    return Fitted(
        [(code_label(r["insee"] for r in rows), "left"), ("Commune", "text"), (dates[0][:10], "right"),
         ("Trend", "left"), (dates[-1][:10], "right"), ("+", "right"), ("−", "right"), ("/10k", "right"),
         ("First", "left")],
        [[r["insee"], r["name"], lower_bound(r, r["cameras"][0]), sparkline(r["cameras"]),
          lower_bound(r, r["cameras"][-1]), total(r["added"][1:]), total(r["removed"][1:]),
          "–" if r["per_10k"] is None else str(r["per_10k"]), (r["first_camera"] or "–")[:10]]
         for r in rows],
        ["Trend", "First", "/10k", "−", "+"],
        title=f"Cameras mapped in OpenStreetMap, every {meta['every']}, "
              f"{dates[0][:10]} to {dates[-1]}",
        caption=f"{meta['source']}; boundaries {meta['boundaries_date'].split(',')[0]}; "
                f"population: {population_text(meta['population_source'], meta['population_year'])}"
                f"{partial_note(rows, 'its counts are lower bounds')}"
                f"{uncounted}{cut}",
    )


# The columns of a commune's row in Markdown around its counts, one column per date.
BEFORE_DATES = ("insee", "name", "department", "population", "coverage", "partial")
AFTER_DATES = ("per_10k", "first_camera", "note")


def date_column(date: str) -> str:
    """A date as a column's name: the day alone at midnight UTC (the start of a period)."""
    return date[:10] if date.endswith("T00:00:00Z") else date


def timeline_markdown(timeline: Any, out: Any) -> None:
    """The counts as count's Markdown gives them: a row per commune, a column per date, a
    partly covered commune's counts as "≥3", none as "–"; then the sources and warnings."""
    from osmcams.join import MIN_COVERAGE, Report
    from osmcams.outputs.writers import report_markdown

    dates = tuple(map(date_column, timeline.dates))
    rows = [{**{k: r[k] for k in (*BEFORE_DATES, *AFTER_DATES)}, **dict(zip(dates, r["cameras"]))}
            for r in timeline.rows]
    report = Report(timeline.meta, rows, timeline.warnings)
    report_markdown(report, out, (*BEFORE_DATES, *dates, *AFTER_DATES), dates,
                    f"its counts are lower bounds; per_10k is null under {MIN_COVERAGE:.0%} coverage",
                    (NO_COUNT,) if any(r["cameras"][-1] is None for r in timeline.rows) else ())


def timeline_json(timeline: Any) -> str:
    """The JSON document, one line per commune; NaN is refused."""
    import json

    def dump(value: Any, indent: int | None = None) -> str:
        return json.dumps(value, ensure_ascii=False, indent=indent, allow_nan=False)

    return (
        '{"meta": ' + dump(timeline.meta, 2).replace("\n", "\n ") + ",\n"
        + ' "dates": ' + dump(timeline.dates) + ",\n"
        + ' "communes": [' + ",".join("\n  " + dump(r) for r in timeline.rows) + "\n ],\n"
        + ' "warnings": ' + dump(timeline.warnings, 2).replace("\n", "\n ") + "}\n"
    )


@click.command()
@click.option("--pbf", type=click.Path(path_type=Path),
              help="OSM full-history file (.osh.pbf) [default: ask the ohsome API].")
@commune_options
@extent_option
@click.option("--every", "period", type=click.Choice(PERIODS), default="year", show_default=True,
              help="One date at the start of each period.")
@click.option("--since", metavar="DATE",
              help="First date: 2016, 2016-05, 2016-05-01, 2016-05-01T12:00Z "
                   "[default: January 1st of the year of the first camera].")
@click.option("--until", metavar="DATE",
              help="Last date [default: the data date of the file or of ohsome].")
@click.option("-f", "--format", "fmt", type=click.Choice(TIMELINE_FORMATS),
              help="Output format [default: from the --output suffix, else table].")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to this file; FILE.png, .svg or .html draws the counts over time "
                   "(one panel per commune, up to 12: the 12 with the most cameras beyond).")
@click.option("--credit", metavar="TEXT",
              help="Charts: credit printed for your own boundary or population files, in place "
                   "of their file names.")
@click.option("--with-reported", is_flag=True,
              help="Charts: the camera counts reported by towns and the press, as dated points "
                   "(those shipped with osmcams, or --reported FILE).")
@click.option("--reported", "reported_files", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Charts: reported figures from this table (as compare reads), instead of "
                   "the shipped ones; repeatable.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--admin-level", type=click.IntRange(1, 12), default=8, show_default=True,
              help="admin_level of the boundaries read from the file, as they are at its data "
                   "date (without --boundaries), or from an OSM file given as --boundaries.")
@click.option("--threads", type=click.IntRange(0), default=None,
              help="Threads decoding PBF (default: every core).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Cache of parsed boundaries and HTTP answers [env OSMCAMS_CACHE_DIR].")
@click.option("--ohsome-url", help="Without --pbf: ohsome API base URL [env OSMCAMS_OHSOME_URL].")
@click.option("--geo-api-url", help="Without --pbf and --boundaries: geo.api.gouv.fr base URL "
                                    "[env OSMCAMS_GEO_API_URL].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@handle_errors
def timeline(
    pbf: Path | None, period: str, since: str | None, until: str | None, fmt: str | None,
    output: Path | None, credit: str | None, with_reported: bool, reported_files: tuple[Path, ...],
    overwrite: bool, threads: int | None, cache_dir: Path | None,
    ohsome_url: str | None, geo_api_url: str | None, quiet: bool, **kw: Any,
) -> None:
    """Cameras per commune through time, from OSM's full history.

    The count at a date is what a snapshot of OSM then held (osmium time-filter):
    each version counts from its timestamp until the next. Boundaries are today's.
    Without --pbf, the counts come from the ohsome API (HeiGIT), and the communes
    from geo.api.gouv.fr unless --boundaries.

    \b
    Examples:
      osmcams timeline --pbf alpes-maritimes.osh.pbf --boundaries communes/ \\
          --commune Nice --commune Cannes
      osmcams timeline --pbf alpes-maritimes.osh.pbf --boundaries communes/ \\
          --department 06 -o spread.png
      osmcams timeline --pbf france.osh.pbf --boundaries communes/ --population communes.json \\
          --department 44 --every quarter --since 2014 -o nantes-area.csv
      osmcams timeline --pbf guyane.osh.pbf --all --every month   # the file's own boundaries
      osmcams timeline --commune Nantes --every month --since 2015   # the ohsome API
    """
    from osmcams.analysis.ohsome import timeline_from_ohsome
    from osmcams.analysis.timeline import timeline_from_pbf
    from osmcams.counting import Request
    from osmcams.errors import UsageError
    from osmcams.outputs.formats import agreed_format
    from osmcams.outputs.writers import render_text, rows_csv
    from osmcams.settings import Settings

    chart = output is not None and output.suffix.lower() in CHART_SUFFIXES
    if chart and fmt:
        raise UsageError(f"{output.name} is a chart: leave out --format {fmt}")  # type: ignore[union-attr]
    for flag, given in (("--credit", credit), ("--with-reported", with_reported),
                        ("--reported", reported_files)):
        if given and not chart:
            raise UsageError(f"{flag} goes with a chart: -o FILE.png, .svg or .html")
    points = _reported_points(reported_files) if with_reported or reported_files else None
    fmt = agreed_format(output, fmt, TIMELINE_SUFFIXES, "table")
    if output:
        from osmcams.outputs.writers import check_targets

        check_targets(output, fmt, overwrite)  # before the work, not after
    request = Request(
        communes=tuple(kw.pop("communes")), department=kw.pop("department"),
        every=kw.pop("every"), pbf=pbf, boundaries=tuple(kw.pop("boundaries")),
        population=kw.pop("population"), population_year=kw.pop("population_year"),
        code_field=kw.pop("code_field"), name_field=kw.pop("name_field"),
        admin_level=kw.pop("admin_level"), extent=kw.pop("extent"),
    )
    if pbf is None and request.extent:
        raise UsageError("--extent goes with --pbf: ohsome holds the whole planet")
    settings = Settings.from_env(threads=threads, cache_dir=cache_dir, ohsome_url=ohsome_url,
                                 geo_api_url=geo_api_url)
    with progress_bar(quiet) as progress:
        if pbf is None:
            result = timeline_from_ohsome(request, settings, period, since, until, progress,
                                          status_of(progress))
        else:
            result = timeline_from_pbf(request, settings, period, since, until, progress)
    show_warnings(result.warnings)
    if chart:
        from osmcams.outputs.charts import draw_timeline

        draw_timeline(result, output, overwrite, credit, points)  # type: ignore[arg-type]
        return
    if fmt == "json":
        text = timeline_json(result)
    elif fmt == "markdown":
        text = render_text(lambda out: timeline_markdown(result, out))
    elif fmt == "csv":
        from osmcams.analysis.timeline import CSV_KEYS

        def rows(out: Any) -> None:
            rows_csv(list(result.long_rows()), CSV_KEYS, out)

        if output is None:
            text = render_text(rows)
        else:  # with its column types and where its numbers come from, beside it
            from osmcams.outputs.writers import write_csv_set

            about = {"meta": result.meta, "warnings": result.warnings}
            write_csv_set(output, overwrite, CSV_KEYS, rows, about)
            return
    else:
        import io

        from rich.console import Console

        table = rich_table(result, TABLE_ROWS)
        if output is None:
            Console().print(table)
            return
        buffer = io.StringIO()
        Console(file=buffer, width=160).print(table)
        text = buffer.getvalue()
    emit(text, output, overwrite)


def _reported_points(paths: tuple[Path, ...]) -> dict[str, Any]:
    """The dated reported figures of each commune (shipped, or of `paths`) as chart points;
    annulled ones and undated ones left out."""
    from osmcams.analysis.compare import moment_of, read_reported
    from osmcams.outputs.charts import ReportedPoint

    reported = read_reported(paths)
    return {
        code: [ReportedPoint(moment_of(f["as_of"]), f["reported_cameras"],
                             f"{QUALIFIED[f['qualifier']]}{f['reported_cameras']:,}", f["as_of"],
                             f["source"], f["status"] == "installed" and f["commune_scope"])
               for f in figures
               if f["as_of"] and f["reported_cameras"] is not None and f["status"] != "annulled"]
        for code, figures in reported.communes.items()
    }
