"""Cameras per commune through time, from an OSM history file.

The count at an instant is the number of objects whose version valid then carries
man_made=surveillance and is not deleted, placed where they were then. The dates
are the instants that start each period from `since` to `until`, and `until`
itself. Boundaries are today's, applied to every date.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from osmcams.errors import UsageError
from osmcams.models import gc_paused, parse_date

EVERY = ("year", "quarter", "month", "week", "day", "hour")
MAX_DATES = 100_000
CSV_KEYS = ("insee", "name", "coverage", "partial", "date", "cameras", "added", "removed", "note")
OUTSIDE = ""  # a camera present but in no loaded commune
def _floor(moment: datetime, every: str) -> datetime:
    """The start of the period of `moment`."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if every == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if every == "day":
        return day
    if every == "week":
        return day - timedelta(days=day.weekday())
    month = {"month": moment.month, "quarter": 3 * ((moment.month - 1) // 3) + 1}.get(every, 1)
    return day.replace(month=month, day=1)


def _next(start: datetime, every: str) -> datetime:
    """The start of the period after the one starting at `start`."""
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
    if every in step:
        return start + step[every]
    months = start.year * 12 + start.month - 1 + {"year": 12, "quarter": 3, "month": 1}[every]
    return start.replace(year=months // 12, month=months % 12 + 1)


class TooManyDates(UsageError):
    """A span of more than MAX_DATES dates."""


def instants(since: datetime, until: datetime, every: str) -> list[datetime]:
    """`since`, the starts of the periods after it and before `until`, then `until`;
    TooManyDates beyond MAX_DATES."""
    if since > until:
        raise UsageError(f"--since {since:%Y-%m-%dT%H:%M:%SZ} is after --until "
                         f"{until:%Y-%m-%dT%H:%M:%SZ}")
    dates = [since]
    start = _next(_floor(since, every), every)
    while start < until:
        dates.append(start)
        if len(dates) > MAX_DATES:
            raise TooManyDates(f"more than {MAX_DATES:,} dates: choose a longer --every "
                               "or a shorter span with --since and --until")
        start = _next(start, every)
    if until > dates[-1]:
        dates.append(until)
    return dates


@dataclass
class Timeline:
    """Counts per commune at each date, where they come from, and what to be wary of."""

    meta: dict[str, Any]
    dates: list[str]
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document: meta, dates, communes, warnings."""
        return {"meta": self.meta, "dates": self.dates, "communes": self.rows,
                "warnings": self.warnings}

    def long_rows(self) -> Iterator[dict[str, Any]]:
        """One row per commune and date (CSV_KEYS), for pivoting."""
        for row in self.rows:
            for i, date in enumerate(self.dates):
                yield {"insee": row["insee"], "name": row["name"], "coverage": row["coverage"],
                       "partial": row["partial"], "date": date, "cameras": row["cameras"][i],
                       "added": row["added"][i], "removed": row["removed"][i], "note": row["note"]}


NOT_CAMERA, OUT = -2, -1  # the states of a segment that is no camera, or in no commune


@dataclass
class Segments:
    """Every version of every track, flat: its track, its start (seconds), and its state:
    the row in the communes' frame holding it, OUT, or NOT_CAMERA; `ends`: where the
    segments of each track end."""

    track: Any
    starts: Any
    states: Any
    ends: Any

    def codes(self, communes: Any) -> list[list[str | None]]:
        """For each track, the commune code of each of its segments (OUTSIDE, None)."""
        import numpy

        names = numpy.append(communes.frame["insee"].to_numpy(object), [None, OUTSIDE])
        flat = names[self.states].tolist()  # NOT_CAMERA and OUT index the last two
        ends = self.ends.tolist()
        return [flat[a:b] for a, b in zip([0, *ends], ends)]

    def first_seen(self, communes: Any) -> dict[str, int]:
        """The instant each commune first held a camera."""
        import numpy

        held = self.states >= 0
        first = numpy.full(len(communes.frame), numpy.iinfo(numpy.int64).max)
        numpy.minimum.at(first, self.states[held], self.starts[held])
        rows = numpy.flatnonzero(first < numpy.iinfo(numpy.int64).max)
        return dict(zip(communes.frame["insee"].to_numpy(object)[rows].tolist(), first[rows].tolist()))


def segments_of(tracks: Any, communes: Any) -> Segments:
    """The segments of `tracks` (`osh.Tracks`), placed in `communes`."""
    import numpy

    from osmcams.join import owners

    camera = ~numpy.isnan(tracks.lon)
    states = numpy.full(len(tracks.starts), NOT_CAMERA)
    states[camera] = owners(tracks.lon[camera], tracks.lat[camera], communes)
    sizes = tracks.sizes()
    return Segments(numpy.repeat(numpy.arange(len(sizes)), sizes), tracks.starts, states, tracks.ends)


@dataclass
class _Counts:
    """Cameras in each chosen commune (rows) at each date (columns), those added and removed
    in the period ending at each date, and cameras present and outside at the last date."""

    cameras: Any
    added: Any
    removed: Any
    present: int
    outside: int


def _count(segments: Segments, dates: list[int], column: Any) -> _Counts:
    """The counts at `dates` of the chosen communes, `column` being the row of the counts of
    each commune of the frame (-1: not chosen). A segment is the state of its track at the
    dates from its start, inclusive, to the next segment's, exclusive; one whose span holds
    no date is never seen, and the state of a track changes only where a seen one starts."""
    import numpy

    size, chosen = len(dates), int(column.max(initial=-1)) + 1
    begin = numpy.searchsorted(dates, segments.starts, "left")
    end = numpy.where(_last(segments.track), size, numpy.append(begin[1:], size))
    seen = begin < end
    track, states, begin = segments.track[seen], segments.states[seen], begin[seen]
    where = numpy.where(states >= 0, column[states.clip(0)], -1)
    follows = numpy.diff(track, prepend=-1) == 0  # the one before is of the same track
    before = numpy.where(follows, numpy.roll(where, 1), -1)
    moved = (begin > 0) & (before != where)

    def tally(rows: Any, at: Any) -> Any:
        kept = rows >= 0
        cells = numpy.bincount(rows[kept] * size + at[kept], minlength=chosen * size)
        return cells.reshape(chosen, size)

    added, removed = tally(where[moved], begin[moved]), tally(before[moved], begin[moved])
    start = begin == 0
    cameras = tally(where[start], begin[start]) + added - removed
    at_last = states[_last(track)]
    return _Counts(cameras.cumsum(axis=1), added, removed,
                   int((at_last != NOT_CAMERA).sum()), int((at_last == OUT).sum()))


def _last(track: Any) -> Any:
    """Which segments are the last of their track, by the track of each."""
    import numpy

    return numpy.diff(track, append=-1) != 0


def date_span(
    since: str | None, until: str | None, every: str, first: int | None, data_date: str | None
) -> tuple[datetime, datetime]:
    """The first and last dates: `since`, else January 1st of the year of the first camera
    (`first`), or of the last date when there is none by then; `until`, else `data_date`."""
    end = parse_date(data_date) if data_date else None
    stop = parse_date(until) if until else end
    if stop is None:
        raise UsageError("the file carries no date: give --until")
    if end is not None and stop > end:
        raise UsageError(f"--until {until} is after the data date {data_date}: "
                         "nothing is known after it")
    if since:
        start = parse_date(since)
        if until is None and end is not None and start > end:
            raise UsageError(f"--since {since} is after the data date {data_date}: "
                             "nothing is known after it")
        return start, stop
    if first is None or first > stop.timestamp():  # no camera by the last date
        return _floor(stop, "year"), stop
    return _floor(datetime.fromtimestamp(first, timezone.utc), "year"), stop


@gc_paused()  # a list per track and per commune row, made at once among the tracks
def build(
    history: Any,
    communes: Any,
    codes: list[str],
    every: str = "year",
    since: str | None = None,
    until: str | None = None,
    rank: bool = False,
    boundaries_date: str | None = None,
) -> Timeline:
    """The timeline of the communes with `codes`, from the tracks of `history`.

    `boundaries_date`: when the boundaries are as they were (None: today's, from files).
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy

    from osmcams import __version__
    from osmcams.join import coverage_of, covered, data_age_days
    from osmcams.sources.osm.osh import iso

    frame = communes.frame.set_index("insee", drop=False)
    asked = frame.loc[codes]

    def measured() -> tuple[Any, Any]:
        """The data area (drawn now) and the coverage of the communes asked."""
        dated = history.dated()
        return dated, coverage_of(dated, asked)

    with ThreadPoolExecutor(1) as background:  # mostly in scipy and GEOS, out of the GIL
        known = background.submit(measured)
        segments = segments_of(history.columns, communes)
        first = segments.first_seen(communes)
        dated, coverage = known.result()
        # A commune that held a camera at any date has data, whatever the sampling says.
        chosen, partial = covered(dated, asked, rank, set(first), coverage)
    codes = list(chosen["insee"])
    index = {code: k for k, code in enumerate(codes)}
    start, stop = date_span(since, until, every, min((first[c] for c in codes if c in first), default=None),
                        history.timestamp)
    dates = [int(d.timestamp()) for d in instants(start, stop, every)]
    column = communes.frame["insee"].map(index).fillna(-1).to_numpy(numpy.int64)
    counts = _count(segments, dates, column)
    populations = chosen["population"].astype(object).where(chosen["population"].notna(), None)
    rows = [
        _row(code, name, department, population, coverage, counts, k, first.get(code))
        for k, (code, name, department, population, coverage) in enumerate(zip(
            codes, chosen["name"], chosen["department"], populations, chosen["coverage"]))
    ]
    no_population = population_warning(rows, communes)
    if rank:
        rows.sort(key=lambda r: (-r["cameras"][-1], r["insee"]))
    else:  # as count's: a commune named outside the data keeps its row, with no count
        rows = _with_uncounted(rows, asked, coverage[0] is not None, len(dates))
    # As count's: the source's communes left out matter when the rows claim to cover them all.
    left_out = [*communes.notes, *(communes.warnings if rank else [])]
    warnings = [*history.warnings, *left_out, *partial, *no_population]
    meta = {
        "source": history.source,
        "data_timestamp": history.timestamp,
        "timestamp_source": history.timestamp_source,
        "data_age_days": data_age_days(history.timestamp),
        "every": every,
        "since": iso(dates[0]),
        "until": iso(dates[-1]),
        "counted": "objects whose version valid at the date carries man_made=surveillance and "
                   "is not deleted, as `osmium time-filter FILE DATE` holds them; ways and "
                   "relations at the centre of the bounding box of their nodes as they were then",
        "added_removed": "per period ending at the date: cameras there at the date but not at "
                         "the one before, and the reverse (a camera that moves between communes "
                         "leaves one and joins the other); null at the first date",
        "boundaries": communes.source,
        "boundaries_date": (f"as they were at {boundaries_date}" if boundaries_date
                            else "today's, as in the files")
                           + ", applied to every date: a commune merged since is not split back "
                             "into its parts",
        "population_source": communes.population_source,
        "population_year": communes.population_year,
        "per_10k": "cameras at the last date per 10,000 inhabitants; null under 95% coverage, "
                   "as count's densities",
        "coverage": "share of the commune's area inside the file's data (the polygon it was cut "
                    "with, when known: --extent or NAME.poly beside it; else its header's bounding "
                    "box and its sampled nodes): below 1, the counts are incomplete; null: "
                    "unknown; a commune with no data has null counts and coverage when named "
                    "(its note says why), else is left out, with a warning",
        "cameras_at_last_date": counts.present,
        "cameras_outside_at_last_date": counts.outside,
        "border_rule": "a camera on a shared border counts for the commune with the lowest code",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "osmcams_version": __version__,
    }
    return Timeline(meta, [iso(d) for d in dates], rows, warnings)


def _with_uncounted(rows: list[dict[str, Any]], asked: Any, located: bool, size: int) -> list[dict[str, Any]]:
    """`rows`, and a row with null counts at each of `size` dates for each commune of `asked`
    they lack, in the order asked: outside the data when `located` (where the data lies is
    known), else not known to be covered. As count's, such a row has no coverage (the little
    share of it inside the data would read as a commune with data); its note says why."""
    from osmcams.join import NO_COUNT_NOTE, NO_DATA_NOTE

    counted = {row["insee"]: row for row in rows}
    populations = asked["population"].astype(object).where(asked["population"].notna(), None)
    return [counted.get(code) or {
        "insee": code, "name": name, "department": department,
        "population": None if population is None else int(population), "coverage": None,
        "partial": False, "cameras": [None] * size, "added": [None] * size, "removed": [None] * size,
        "per_10k": None, "first_camera": None, "note": NO_DATA_NOTE if located else NO_COUNT_NOTE,
    } for code, name, department, population
        in zip(asked["insee"], asked["name"], asked["department"], populations)]


def cameras_at(history: Any, boundaries: dict[str, Any], moments: list[int]) -> dict[str, list[int]]:
    """Cameras in each commune of `boundaries` (code -> lon/lat outline) at each of the
    sorted instants `moments` (Unix seconds), counted as `build` counts them."""
    import geopandas
    import numpy

    from osmcams.communes.model import Communes

    codes = list(boundaries)
    frame = geopandas.GeoDataFrame({"insee": codes}, geometry=list(boundaries.values()), crs="EPSG:4326")
    counts = _count(segments_of(history.columns, Communes(frame, history.source)), moments,
                    numpy.arange(len(codes)))
    return {code: counts.cameras[k].tolist() for k, code in enumerate(codes)}


def population_warning(rows: list[dict[str, Any]], communes: Any) -> list[str]:
    from osmcams.communes.model import short_list
    from osmcams.join import no_population_why

    notes = communes.population_notes
    explained = [notes[r["insee"]] for r in rows if r["insee"] in notes]
    missing = [f"{r['name']} ({r['insee']})" for r in rows
               if r["population"] is None and r["insee"] not in notes]
    if not missing:
        return explained
    why = no_population_why(communes.population_source)
    have = "1 commune has" if len(missing) == 1 else f"{len(missing):,} communes have"
    return [*explained, f"{have} no population, {why}, so no per_10k: " + short_list(missing)]


def _row(
    code: str, name: str, department: str | None, population: int | None, coverage: float | None,
    counts: _Counts, k: int, first: int | None,
) -> dict[str, Any]:
    from osmcams.join import dense, is_partial
    from osmcams.sources.osm.osh import iso

    population = None if population is None else int(population)
    cameras = counts.cameras[k].tolist()
    return {
        "insee": code,
        "name": name,
        "department": department,
        "population": population,
        "coverage": None if coverage is None else float(coverage),
        "partial": is_partial(coverage),  # its counts lower bounds, as count's
        "cameras": cameras,
        "added": [None, *counts.added[k, 1:].tolist()],
        "removed": [None, *counts.removed[k, 1:].tolist()],
        # As count's densities: none for a commune mostly outside the data (its count a floor).
        "per_10k": (round(cameras[-1] * 10_000 / population, 3)
                    if population and dense(coverage) else None),
        "first_camera": None if first is None else iso(first),
        "note": None,
    }


def timeline_from_pbf(
    request: Any,
    settings: Any,
    every: str = "year",
    since: str | None = None,
    until: str | None = None,
    progress: Any = None,
) -> Timeline:
    """The timeline of a history file's cameras in communes from boundary files."""
    history, communes, codes = _read(request, settings, progress)
    return build(history, communes, codes, every, since, until,
                 rank=request.every or not request.communes,
                 boundaries_date=None if request.boundaries else history.timestamp)


def report_at(request: Any, settings: Any, at: str, progress: Any = None) -> Any:
    """The count (a join.Report) of a history file's cameras as they were at `at`: what
    `osmium time-filter FILE at` holds, with their tags then, in today's communes."""
    from osmcams.join import count
    from osmcams.models import make_camera
    from osmcams.sources.osm.osh import iso, seconds

    history, communes, codes = _read(request, settings, progress, tags=True)
    moment = parse_date(at)
    end = parse_date(history.timestamp) if history.timestamp else None
    if end is not None and moment > end:
        raise UsageError(f"--at {iso(seconds(moment))} is after the data of {history.source} "
                         f"({history.timestamp})")
    instant = seconds(moment)
    cameras = []
    for track in history.tracks:
        i = bisect.bisect_right(track.starts, instant) - 1
        if i < 0 or track.positions[i] is None:
            continue
        kind, number = track.key.split("/")
        lon, lat = track.positions[i]  # type: ignore[misc]
        cameras.append(make_camera(kind, int(number), lon, lat, track.tags[i], iso(track.starts[i]))[0])
    dated = history.dated()
    dated.cameras = cameras
    dated.timestamp, dated.read_at = iso(instant), history.timestamp
    dated.timestamp_source = f"--at, in the history file {history.source} (data of {history.timestamp})"
    return count(dated, communes, codes, rank=request.every or not request.communes)


def _read(request: Any, settings: Any, progress: Any, tags: bool = False) -> tuple[Any, Any, list[str]]:
    """The history of the request's file (its tags too with `tags`), its communes, and the
    codes asked for."""
    from osmcams.counting import communes_for, parsed_beside, read_file, selected, while_loading
    from osmcams.sources.extent import extent_of
    from osmcams.sources.osm.osh import read_boundaries, read_history

    if request.pbf is None:
        raise UsageError("--pbf is required: a history file (.osh.pbf)")
    pbf = request.pbf
    extent = extent_of(pbf, request.extent)  # as count reads it: --extent, else NAME.poly beside

    def load() -> Any:
        """The communes from files (when given), and the estimate's imports."""
        from osmcams.sources.osm.blocks import estimate_imports

        estimate_imports()
        parsed()
        return communes_for(request, settings, progress=progress) if request.boundary_files else None

    with parsed_beside(request, settings) as parsed:
        history, communes = while_loading(
            load, lambda tick: read_history(pbf, settings.threads, tick, tags=tags), progress)
    history.extent, history.extent_source = extent
    if communes is None:  # the admin relations of --boundaries FILE.osm.pbf, else of the history
        osm = request.osm_boundaries  # file as they are at its end
        found = (read_file(osm, request.admin_level, settings.threads, progress)[1] if osm
                 else read_boundaries(pbf, request.admin_level, settings.threads, progress))
        communes = communes_for(request, settings, found, (osm or pbf).name, progress)
    return history, communes, selected(request, communes)
