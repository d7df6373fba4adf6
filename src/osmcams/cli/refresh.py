"""refresh, history and changes: scheduled updates from replication diffs, and their record."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from osmcams.cli.options import brief
from osmcams.cli.render import handle_errors, progress_bar, say
from osmcams.errors import UsageError

if TYPE_CHECKING:
    from osmcams.store.history import Store

SPARKS = "▁▂▃▄▅▆▇█"
PERIODS = ("year", "quarter", "month", "week", "day")
config_option = click.option(
    "--config", "config_path", required=True, metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False), help="The refresh configuration (TOML).",
)


@click.command()
@config_option
@click.option("--threads", type=click.IntRange(0), default=None,
              help="Threads decoding PBF (default: every core).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success (for cron).")
@click.option("--backfill", type=click.Path(path_type=Path, dir_okay=False), metavar="HISTORY",
              help="Instead of a refresh: seed the history from an OSM full-history file "
                   "(.osh.pbf), with runs from the first camera's year up to its data date, or "
                   "up to the first refresh run. Run again to replace them. `ohsome`: the "
                   "counts per date from the ohsome API instead [env OSMCAMS_OHSOME_URL].")
@click.option("--every", type=click.Choice(PERIODS), default=None,
              help="With --backfill: one run at the start of each period [default: month].")
@handle_errors
def refresh(config_path: Path, threads: int | None, quiet: bool, backfill: Path | None,
            every: str | None) -> None:
    """Bring the published counts up to date with the OSM replication diffs.

    The first run reads the extract; later runs apply only the diffs published since,
    then write communes.csv, communes.json, cameras.geojson and communes/*.geojson into
    [output] dir, all or nothing, and record the run in the history database. A run
    finding nothing new writes nothing. Exit codes: 0 done or nothing new, 2 bad
    configuration, 4 bad data, 5 server unreachable or corrupt diff, 6 another refresh is
    running, 7 the server no longer has the diffs needed (set [source] region).

    \b
    Examples:
      osmcams refresh --config /etc/osmcams/osmcams.toml --quiet
    (a crontab line, with the full path: cron's PATH holds no virtualenv:
    17 * * * * /opt/osmcams/.venv/bin/osmcams refresh --config … --quiet)
      osmcams refresh --config osmcams.toml --backfill alpes-maritimes.osh.pbf --every quarter
      osmcams refresh --config osmcams.toml --backfill ohsome
    """
    from osmcams.refresh.config import load_config
    from osmcams.refresh.run import now
    from osmcams.refresh.run import refresh as run_refresh
    from osmcams.settings import Settings

    config = load_config(config_path)
    config.check_inputs()
    settings = Settings.from_env(threads=threads)

    def log(message: str) -> None:
        if quiet:
            return
        head, warned, text = message.partition("warning: ")
        if warned and not head:  # long lists cut, as count cuts them
            message = warned + brief(text, "the published communes.json lists them all")
        say(f"{now()} {message}")

    if backfill is not None:
        from osmcams.refresh.backfill import backfill as run_backfill

        with progress_bar(quiet) as progress:
            log(run_backfill(config, settings, backfill, every or "month", log, progress))
        return
    if every is not None:
        raise UsageError("--every goes with --backfill")
    with progress_bar(quiet) as progress:
        outcome = run_refresh(config, settings, log, progress)
    log(outcome.summary)


def _store(config_path: Path):
    """The configuration's history store, read-only: history and changes write nothing."""
    from osmcams.refresh.config import load_config
    from osmcams.store.history import read_store

    config = load_config(config_path)
    return read_store(config.history,
                      f"no history at {config.history} yet: run osmcams refresh --config {config_path}")


def store_meta(store: Store, since: str = "") -> dict[str, Any]:
    """Where an output of the store comes from: the source, data timestamp and population
    source and year of the latest of its runs from `since` on, those runs (`Store.runs`),
    the store and this osmcams's version."""
    from osmcams import __version__

    runs = store.runs(since)
    latest = runs[-1] if runs else {}
    return {
        **{key: latest.get(key) for key in ("source", "data_timestamp", "population_source",
                                            "population_year")},
        **({"since": since} if since else {}),
        "runs": runs, "store": str(store.path), "osmcams_version": __version__,
    }


def sparkline(values: list[int]) -> str:
    """One block character per value, from ▁ (the least) to █ (the most)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    return "".join(SPARKS[(v - low) * (len(SPARKS) - 1) // span] for v in values)


@click.command()
@config_option
@click.option("--commune", required=True, metavar="NAME_OR_INSEE", help="The commune.")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@handle_errors
def history(config_path: Path, commune: str, fmt: str) -> None:
    """Camera counts of a commune over the refresh runs, oldest first.

    \b
    Example:
      osmcams history --config osmcams.toml --commune Nice --format json
    """
    store = _store(config_path)
    try:
        insee, name = store.commune(commune)
        runs = store.counts(insee)
        meta = store_meta(store)
    finally:
        store.close()
    if fmt == "json":
        data = {"meta": meta, "commune": {"insee": insee, "name": name}, "runs": runs}
        click.echo(json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False))
    elif fmt == "csv":
        from osmcams.outputs.writers import render_text, rows_csv

        keys = tuple(runs[0]) if runs else ("data_timestamp", "sequence", "cameras")
        click.echo(render_text(lambda out: rows_csv(runs, keys, out)), nl=False)
    else:
        _history_table(insee, name, runs, meta)


def _history_table(insee: str, name: str, runs: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    from rich.console import Console

    from osmcams.cli.render import Fitted, cell, lower_bound, partial_note
    from osmcams.join import population_text, share_text

    counts = [r["cameras"] for r in runs]
    rows = [[cell(r["data_timestamp"]), "–" if r["sequence"] is None else str(r["sequence"]),
             lower_bound(r, r["cameras"]),
             "?" if r["partial"] is None else share_text(r["coverage"]),
             cell(r["cameras_per_km2"]), cell(r["cameras_per_10k"])] for r in runs]
    Console().print(Fitted(
        [("Data of", "left"), ("Sequence", "right"), ("Cameras", "right"), ("Cover", "right"),
         ("/km²", "right"), ("/10k", "right")], rows, ["Sequence", "/10k", "/km²"],
        title=f"{name} ({insee}): cameras over time  {sparkline(counts)}",
        caption=f"{meta['source']}; population: "
                + ("not kept by the osmcams that counted" if meta["population_source"] is None and runs
                   and runs[-1]["population"] is not None
                   else population_text(meta["population_source"], meta["population_year"]))
                + partial_note(runs)
                + ("\n? coverage not kept by the osmcams that counted"
                   if any(r["partial"] is None for r in runs) else ""),
    ))


@click.command()
@config_option
@click.option("--since", required=True, metavar="DATE",
              help="Changes in data from this date on (UTC): 2026, 2026-11, 2026-11-01, 2026-11-01T12:00Z.")
@click.option("--commune", metavar="NAME_OR_INSEE", help="Only this commune.")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "csv", "geojson"]),
              default="table", show_default=True, help="Output format.")
@handle_errors
def changes(config_path: Path, since: str, commune: str | None, fmt: str) -> None:
    """Cameras added, removed, moved or retagged by the refresh runs since a date.

    A camera that moves between communes is "moved out" of one and "moved in" to the other;
    one still in OSM that leaves every commune is "moved out" alone, one that comes in from
    outside them "moved in" alone. "removed" is a camera deleted from OSM or untagged.

    \b
    Example:
      osmcams changes --config osmcams.toml --since 2026-11-01 --format geojson > new.geojson
    """
    from osmcams.store.history import stored_instant

    start = stored_instant(since)
    store = _store(config_path)
    try:
        insee = store.commune(commune)[0] if commune else None
        rows = store.changes(start, insee)
        names = store.names()
        meta = store_meta(store, start)
        latest = meta if meta["runs"] else store_meta(store)  # what the table's caption dates
    finally:
        store.close()
    for row in rows:  # places to 7 decimals (1 cm), as every file of osmcams has them
        row.update(commune=names.get(row["insee"]), lon=round(row["lon"], 7), lat=round(row["lat"], 7))
    if fmt == "geojson":
        from osmcams.outputs.writers import write_geojson

        features = [{
            "type": "Feature",
            "id": row["key"],
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": {
                "@id": row["key"], "change": row["change"], "insee": row["insee"],
                "commune": row["commune"], "data_timestamp": row["data_timestamp"],
                "name": f"{row['change']} {row['key']}",
                "description": ", ".join(f"{k}={v}" for k, v in row["tags"].items()),
            },
        } for row in rows]
        write_geojson(features, sys.stdout, about={"meta": meta})
        return
    keys = ("data_timestamp", "change", "key", "insee", "commune", "lon", "lat")
    if fmt == "csv":
        from osmcams.outputs.writers import render_text, rows_csv

        click.echo(render_text(lambda out: rows_csv(rows, keys, out)), nl=False)
        return
    from rich.console import Console

    from osmcams.cli.render import Fitted

    Console().print(Fitted(
        [(key, "text" if key == "commune" else "left") for key in keys],
        [["–" if row[k] is None else str(row[k]) for k in keys] for row in rows],
        ["lat", "lon", "insee", "commune"], title=f"Camera changes since {start}",
        caption=f"{latest['source']}, data of {latest['data_timestamp']}"
                + ("" if rows else f"\nno camera added, removed, moved or retagged since {start}"),
    ))
