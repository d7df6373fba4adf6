"""Seed the refresh history from an OSM history file: `refresh --backfill`.

The backfill runs are dated at the start of each period (`every`) from January 1st of
the year of the first camera in the selected communes to the file's data date, as the
timeline's dates are; when refresh runs exist, only the dates before the first of them
are kept, and the runs are placed before it. A backfill run has no replication sequence,
and the history file is its source. A second backfill replaces the first. Each camera
gets its first and last appearance, to the second. The configuration's communes and
boundaries are used as they are. All of it is one transaction.

`--backfill ohsome` takes the counts from the ohsome API instead of a file: counts per
date only (no cameras, no changes), its runs' source naming ohsome.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from osmcams.errors import UsageError
from osmcams.models import Camera, Progress
from osmcams.refresh.config import Config
from osmcams.settings import Settings
from osmcams.store.history import Run, Store, diff

Log = Callable[[str], None]
OHSOME = "ohsome"  # --backfill ohsome: the ohsome API instead of a history file


def backfill(
    config: Config, settings: Settings, path: str | Path, every: str, log: Log,
    progress: Progress | None = None,
) -> str:
    """Backfill the history of `config` from the history file at `path`, or from the ohsome
    API when `path` is "ohsome"; a summary line."""
    from osmcams.refresh.run import gone_if_failed, run_lock

    with run_lock(config), gone_if_failed(config.history):
        store = Store(config.history)
        try:
            if str(path) == OHSOME:
                return _backfill_ohsome(store, config, settings, every, log, progress)
            return _backfill(store, config, settings, Path(path), every, log, progress)
        finally:
            store.close()


def _communes(config: Config, store: Store, history_path: Path | None, settings: Settings,
              progress: Progress | None) -> Any:
    """The configuration's communes: from its files, else as the refresh runs read them from
    the extract, else from the history file at its data date (if any)."""
    from osmcams.counting import communes_for
    from osmcams.refresh.mirror import Mirror
    from osmcams.refresh.run import boundary_from_record

    request = config.request
    if request.boundaries:
        return communes_for(request, settings, progress=progress)
    stored = Mirror(store.db, config.pbf, settings.threads).get("boundaries")
    if stored is None:
        from osmcams.sources.osm.osh import read_boundaries

        if history_path is None:
            raise UsageError("--backfill ohsome needs the communes' boundaries: set [communes] "
                             "boundaries, or run refresh once to read them from the extract")

        boundaries, source = read_boundaries(history_path, request.admin_level, settings.threads,
                                             progress), history_path.name
    else:
        boundaries, source = [boundary_from_record(r) for r in stored], config.pbf.name
    return communes_for(request, settings, boundaries, source, progress)


def _backfill(store: Store, config: Config, settings: Settings, path: Path, every: str, log: Log,
              progress: Progress | None) -> str:
    from osmcams.analysis.timeline import date_span, instants, segments_of
    from osmcams.counting import selected as selection
    from osmcams.join import commune_areas, covered, density_rows
    from osmcams.refresh.run import now
    from osmcams.sources.osm.osh import iso, read_history, seconds

    started = now()
    history = read_history(path, settings.threads, progress, tags=True)
    communes = _communes(config, store, path, settings, progress)
    codes = selection(config.request, communes)
    segments = segments_of(history.columns, communes)
    states, first = segments.codes(communes), segments.first_seen(communes)
    chosen, coverage = covered(history.dated(), communes.frame.set_index("insee", drop=False).loc[codes],
                                 rank=config.request.every or not config.request.communes, holding=set(first))
    for warning in history.warnings + coverage:
        log(f"warning: {warning}")
    areas = commune_areas(chosen)
    selected = set(chosen["insee"])
    start, stop = date_span(None, None, every, min((first[c] for c in selected if c in first),
                                               default=None), history.timestamp)
    dates = [seconds(d) for d in instants(start, stop, every)]
    limit = store.first_refresh()
    if limit is not None:
        dates = [d for d in dates if iso(d) < limit]
    if not dates:
        raise UsageError(f"{path.name}: its data starts after the first refresh run ({limit}): "
                         "nothing to backfill")
    cameras = _Cameras(history.tracks, states, selected)
    steps = []
    before: dict[str, Any] = {}
    was_in_osm: set[str] = set()
    for date in dates:
        present, in_osm = cameras.at(date)
        by_commune: dict[str, list[Camera]] = {code: [] for code in selected}
        for camera, code in present.values():
            by_commune[code].append(camera)
        changes = diff(before, present, in_osm, was_in_osm)
        steps.append((Run(iso(date), None, str(path), started, now(), 0, communes.population_source,
                          communes.population_year), density_rows(chosen, areas, by_commune), changes))
        before = {key: ((c.lon, c.lat), c.tags, code) for key, (c, code) in present.items()}
        was_in_osm = in_osm
    rows = cameras.rows(dates[-1])
    at_refresh = set() if limit is None else _in_osm_at(cameras, store, config, limit, history.timestamp)
    with store.transaction():
        store.backfill(steps, rows, at_refresh, was_in_osm)
    changed = sum(len(changes) for *_, changes in steps)
    where = f"before the first refresh run ({limit})" if limit else "to its data date"
    return (f"backfilled {len(steps)} runs from {path.name}, every {every}, {iso(dates[0])} to "
            f"{iso(dates[-1])} ({where}): {len(rows):,} cameras seen in {len(selected):,} "
            f"communes, {changed:,} changes")


def _in_osm_at(cameras: _Cameras, store: Store, config: Config, instant: str, end: str | None) -> set[str]:
    """The cameras in OSM outside the selected communes at the first refresh run, of data of
    `instant`, as the history file has them then (one it holds in a commune there, where
    the refresh found none, is not known to have moved out); when it ends (`end`) before,
    those of its end that the refresh still keeps (one deleted in between is not kept,
    unless it came back since)."""
    from osmcams.models import parse_date
    from osmcams.refresh.mirror import Mirror
    from osmcams.sources.osm.osh import seconds

    inside, every = cameras.at(seconds(parse_date(instant)))
    outside = every - inside.keys()
    if end is not None and end >= instant:
        return outside
    return Mirror(store.db, config.pbf).kept(outside)


def _backfill_ohsome(store: Store, config: Config, settings: Settings, every: str, log: Log,
                     progress: Progress | None) -> str:
    """Runs with the counts ohsome gives at each date, before the first refresh run."""
    import pandas

    from osmcams.analysis.ohsome import series
    from osmcams.counting import selected as selection
    from osmcams.join import commune_areas, row_of
    from osmcams.refresh.run import now
    from osmcams.sources.http import Http
    from osmcams.sources.ohsome import source_name

    started = now()
    http = Http(settings)
    communes = _communes(config, store, None, settings, progress)
    codes = selection(config.request, communes)
    found = series(http, communes, codes, every, progress=progress)
    for warning in found.warnings:
        log(f"warning: {warning}")
    limit = store.first_refresh()
    dates = [d for d in found.dates if limit is None or d < limit]
    if not dates:
        raise UsageError(f"ohsome's data starts after the first refresh run ({limit}): "
                         "nothing to backfill")
    chosen = found.frame[found.frame["insee"].isin(list(found.counts))]
    areas = commune_areas(chosen).tolist()
    populations = [None if pandas.isna(p) else int(p) for p in chosen["population"]]
    source = source_name(http)
    steps: list[tuple[Run, list[dict[str, Any]], list[Any]]] = []
    for i, date in enumerate(dates):
        rows = [row_of(code, name, department, population, area, 1.0,
                       [(None, None)] * found.counts[code][i])  # how many, not which
                for code, name, department, population, area in zip(
                    chosen["insee"], chosen["name"], chosen["department"], populations, areas)]
        steps.append((Run(date, None, source, started, now(), 0, communes.population_source,
                          communes.population_year), rows, []))
    with store.transaction():
        store.backfill(steps, [])
    where = f"before the first refresh run ({limit})" if limit else "to its data date"
    return (f"backfilled {len(steps)} runs from {source}, every {every}, {dates[0]} to "
            f"{dates[-1]} ({where}): counts of {len(chosen):,} communes, no cameras or changes "
            "(ohsome gives counts per date)")


class _Cameras:
    """The cameras of the tracks in the selected communes, at any instant."""

    def __init__(self, tracks: list[Any], states: list[list[str | None]], selected: set[str]):
        self.tracks, self.states, self.selected = tracks, states, selected
        self._made: dict[tuple[int, int], Camera] = {}

    def _camera(self, t: int, i: int) -> Camera:
        from osmcams.models import make_camera

        if (t, i) not in self._made:
            track = self.tracks[t]
            kind, osm_id = track.key.split("/")
            lon, lat = track.positions[i]
            self._made[t, i] = make_camera(kind, int(osm_id), lon, lat, track.tags[i])[0]
        return self._made[t, i]

    def at(self, instant: int) -> tuple[dict[str, tuple[Camera, str]], set[str]]:
        """{key: (camera, commune code)} of the cameras in the selected communes at `instant`,
        and the keys of every camera then, in a commune or not."""
        found, cameras = {}, set()
        for t, (track, codes) in enumerate(zip(self.tracks, self.states)):
            i = bisect.bisect_right(track.starts, instant) - 1
            code = codes[i] if i >= 0 else None
            if code is not None:  # a camera (OUTSIDE: in no loaded commune)
                cameras.add(track.key)
                if code in self.selected:
                    found[track.key] = (self._camera(t, i), code)
        return found, cameras

    def rows(self, last: int) -> list[tuple[Any, ...]]:
        """Rows of the cameras table for the cameras seen up to `last`: first and last seen
        (the last second it was there, or `last`), whether there at `last`, and where."""
        from osmcams.sources.osm.osh import iso

        rows = []
        for t, (track, codes) in enumerate(zip(self.tracks, self.states)):
            seen = [i for i, (start, code) in enumerate(zip(track.starts, codes))
                    if start <= last and code in self.selected]
            if not seen:
                continue
            i = seen[-1]
            there = i + 1 == len(track.starts) or track.starts[i + 1] > last
            until = last if there else track.starts[i + 1] - 1
            camera = self._camera(t, i)
            rows.append((track.key, iso(track.starts[seen[0]]), iso(until), int(there), camera.lon,
                         camera.lat, json.dumps(camera.tags, sort_keys=True), codes[i]))
        return rows
