"""Cameras per commune through time from the ohsome API, without a history file.

The communes come from where `count` takes them without --pbf (geo.api.gouv.fr), or
from --boundaries. The counts are per date only: ohsome says how many cameras there
were, not which, so `added`, `removed` and `first_camera` are null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from osmcams.analysis.timeline import (
    MAX_DATES,
    Timeline,
    TooManyDates,
    date_span,
    instants,
    population_warning,
)
from osmcams.errors import NetworkError, UsageError
from osmcams.models import Progress, parse_date
from osmcams.sources.http import Status

COUNTED = (
    "objects whose version valid at the date carries man_made=surveillance and is not "
    "deleted, as ohsome's OSHDB holds them: nodes inside the commune's polygon (ohsome's "
    "/elements/count/groupBy/boundary; a node exactly on a shared border counts for both "
    "communes), ways and relations at the centre of the box ohsome gives for their whole "
    "geometry at the date (/elements/bbox, unclipped), placed like the file-based timeline"
)


def timeline_from_ohsome(
    request: Any,
    settings: Any,
    every: str = "year",
    since: str | None = None,
    until: str | None = None,
    progress: Progress | None = None,
    status: Status | None = None,
) -> Timeline:
    """The timeline of the communes of `request` from ohsome's history of OSM."""
    from osmcams.sources.http import Http

    http = Http(settings, status)
    communes, codes = _communes(http, request, settings, progress)
    found = series(http, communes, codes, every, since, until, progress)
    frame, dates = found.frame, found.dates
    rows = [_row(frame, code, found.counts.get(code), len(dates)) for code in codes]
    if request.every or not request.communes:
        rows.sort(key=lambda r: (r["cameras"][-1] is None, -(r["cameras"][-1] or 0), r["insee"]))
    warnings = [*found.warnings, *population_warning(rows, communes)]
    return Timeline(_meta(http, communes, found.extent, every, dates), dates, rows, warnings)


@dataclass
class Series:
    """Cameras per commune (`frame`, indexed by code) at each date, from ohsome; the communes
    it refused are not in `counts`, and are named in `warnings`."""

    extent: Any
    frame: Any
    dates: list[str]
    counts: dict[str, list[int]]
    warnings: list[str]


def series(
    http: Any, communes: Any, codes: list[str], every: str, since: str | None = None,
    until: str | None = None, progress: Progress | None = None,
) -> Series:
    """The counts of the communes with `codes` at the dates of `every` from `since` (default:
    the last date before the first camera) to `until` (default: ohsome's data date)."""
    from osmcams.sources import ohsome

    extent = ohsome.metadata(http)
    start = since or _first_year(extent.start)
    if since and parse_date(since) < parse_date(extent.start):
        raise UsageError(f"--since {since} is before the start of ohsome's data ({extent.start})")
    begin, stop = date_span(start, until, every, None, extent.end)
    try:
        dates = [d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in instants(begin, stop, every)]
    except TooManyDates:
        if since:
            raise
        raise UsageError(_whole_span(every, begin, stop, extent)) from None
    frame = communes.frame.set_index("insee", drop=False).loc[codes]
    shapes = {code: ohsome.prepared(g) for code, g in zip(codes, frame.geometry.values)}
    answers = ohsome.ask(http, shapes, ohsome.Query.of(dates, http.settings, extent), progress)
    counts = _counts(answers, communes)
    if len(answers.refused) == len(codes):
        raise NetworkError("ohsome counted none of the communes asked: " + "; ".join(
            f"{_label(frame, c)} {why}" for c, why in answers.refused.items()))
    if since is None:  # from the last date before the first camera, as the file path does
        first = min((i for row in counts.values() for i, v in enumerate(row) if v), default=0)
        keep = max(0, first - 1)
        dates, counts = dates[keep:], {c: row[keep:] for c, row in counts.items()}
    warnings = [*http.warnings, *_lag(extent.end)]
    warnings += [f"ohsome could not count {_label(frame, c)}, its cameras are null: {why}"
                 for c, why in answers.refused.items()]
    return Series(extent, frame, dates, counts, warnings)


def _whole_span(every: str, begin: datetime, stop: datetime, extent: Any) -> str:
    """Why ohsome's whole span at `every` is refused without --since, and what to give."""
    from datetime import timedelta

    limit = "" if extent.timeout is None else f", and it stops a request after {extent.timeout:g} s"
    return (f"--every {every} without --since asks ohsome for more than {MAX_DATES:,} dates, one "
            f"every {every} from {begin:%Y-%m-%d} (its data starts {extent.start[:10]}) to "
            f"{stop:%Y-%m-%d}: give --since, e.g. --since {stop - timedelta(days=7):%Y-%m-%d} for the "
            f"last week (ohsome's data follows OSM's hourly diffs{limit})")


def _first_year(start: str) -> str:
    """The first January 1st within ohsome's data."""
    moment = parse_date(start)
    year = moment.year + (moment != datetime(moment.year, 1, 1, tzinfo=timezone.utc))
    return str(year)


def _lag(end: str) -> list[str]:
    from osmcams.join import data_age_days

    days = data_age_days(end)
    return [f"ohsome's data ends {end[:10]}, {days:,} days ago: nothing after it is counted"] if days else []


def _label(frame: Any, code: str) -> str:
    return f"{frame.loc[code, 'name']} ({code})"


def _communes(http: Any, request: Any, settings: Any, progress: Progress | None) -> tuple[Any, list[str]]:
    """The communes and the codes asked for: from --boundaries, else from geo.api.gouv.fr."""
    from osmcams.communes.population import apply_population
    from osmcams.counting import communes_for, selected
    from osmcams.online import official_communes

    if request.boundaries:
        communes = communes_for(request, settings, progress=progress)
        return communes, selected(request, communes)
    if request.every:
        raise UsageError("--all without --pbf needs --boundaries (the communes to ask ohsome for)")
    if request.code_field or request.name_field:
        raise UsageError("--code-field and --name-field go with --boundaries")
    communes = official_communes(http, request)
    if request.population:
        apply_population(communes, request.population, request.population_year)
    return communes, list(communes.frame["insee"])


def _counts(answers: Any, communes: Any) -> dict[str, list[int]]:
    """Cameras per commune and date: ohsome's node counts plus the ways and relations whose
    box's centre lies in the commune (lowest code on a shared border), asked by its batch."""
    import numpy

    from osmcams.join import owners

    counts = {code: list(row) for code, row in answers.nodes.items()}
    found = {(k, osm_id, at): (lon, lat) for k, (_, centres) in enumerate(answers.shapes)
             for osm_id, at, lon, lat in centres}
    if found:  # placed at once: one pass of the communes over every centre
        lon, lat = numpy.array(list(found.values()), float).T
        names = communes.frame["insee"].to_numpy(object)
        asked = [set(batch) for batch, _ in answers.shapes]
        for (k, _, at), row in zip(found, owners(lon, lat, communes).tolist()):
            code = names[row] if row >= 0 else None
            if code in asked[k]:
                counts[code][at] += 1
    return counts


def _row(frame: Any, code: str, cameras: list[int] | None, size: int) -> dict[str, Any]:
    """A row like the file path's; null counts at every date for a commune ohsome refused."""
    import pandas

    population = frame.loc[code, "population"]
    population = None if pandas.isna(population) else int(population)
    return {
        "insee": code,
        "name": frame.loc[code, "name"],
        "department": frame.loc[code, "department"],
        "population": population,
        "coverage": None if cameras is None else 1.0,
        "partial": False,  # the whole planet, or no count to be a lower bound
        "cameras": cameras or [None] * size,
        "added": [None] * size,
        "removed": [None] * size,
        "per_10k": round(cameras[-1] * 10_000 / population, 3) if cameras and population else None,
        "first_camera": None,
        "note": None if cameras is not None else "no count: ohsome could not count it (see the warnings)",
    }


def _meta(http: Any, communes: Any, extent: Any, every: str, dates: list[str]) -> dict[str, Any]:
    from osmcams import __version__
    from osmcams.join import data_age_days
    from osmcams.sources import ohsome

    return {
        "source": ohsome.source_name(http),
        "data_timestamp": extent.end,
        "timestamp_source": "ohsome /metadata extractRegion.temporalExtent.toTimestamp",
        "data_age_days": data_age_days(extent.end),
        "every": every,
        "since": dates[0],
        "until": dates[-1],
        "counted": COUNTED,
        "added_removed": "null: ohsome gives counts per date, not which cameras they are",
        "first_camera": "null: ohsome gives counts per date only",
        "polygons": f"made valid, then simplified within {ohsome.TOLERANCE:g} degrees (about 1 m) "
                    f"and rounded to {ohsome.DIGITS} decimals before they are sent; on the test "
                    "data this changes no count",
        "boundaries": communes.source,
        "boundaries_date": "today's, as the source gives them, applied to every date: a "
                           "commune merged since is not split back into its parts",
        "population_source": communes.population_source,
        "population_year": communes.population_year,
        "per_10k": "cameras at the last date per 10,000 inhabitants",
        "coverage": "1: ohsome holds the whole planet; null: ohsome could not count the commune",
        "border_rule": "a way or relation on a shared border counts for the commune with the "
                       "lowest code; a node exactly on it, for both (ohsome's count)",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "osmcams_version": __version__,
    }
