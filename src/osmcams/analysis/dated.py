"""Reported figures through time: each dated figure beside the cameras mapped then.

For the timeline chart and for `compare`: a figure describing 2019-01 is set against the
map as it was at the end of that period (`compare.moment_of`): from a history file,
counted as `timeline` counts (`timeline.cameras_at`); or from the refresh's store, the
count of its last run with data from no later than that.
"""

from __future__ import annotations

import bisect
from typing import Any

from osmcams.analysis.compare import Kept, Reported, Then, moment_of, series_point, too_short
from osmcams.analysis.timeline import cameras_at
from osmcams.models import parse_date


def mapped_then(history: Any, boundaries: dict[str, Any], reported: Reported) -> Then:
    """Per commune of `boundaries` (code -> lon/lat outline), per `as_of` of its figures,
    the cameras `history` held at its moment; moments after the data date are left out."""
    end = parse_date(history.timestamp) if history.timestamp else None
    dated = {code: [f["as_of"] for f in reported.communes.get(code, []) if f["as_of"]]
             for code in boundaries}
    stamps = {as_of: int(moment_of(as_of).timestamp()) for days in dated.values() for as_of in days
              if end is None or moment_of(as_of) <= end}
    moments = sorted(set(stamps.values()))
    counts = cameras_at(history, boundaries, moments)
    at = {moment: k for k, moment in enumerate(moments)}
    return {code: {as_of: counts[code][at[stamps[as_of]]] if as_of in stamps else "after the data date"
                   for as_of in days}
            for code, days in dated.items()}


def mapped_then_from_runs(runs: dict[str, list[tuple[str, Kept]]], reported: Reported) -> Then:
    """The same from counts per commune at dated runs (data timestamp, count kept with its
    coverage), oldest first: at each figure's moment, the count of the last run with data
    from no later than it; before the first run or after the last one, the reason there is
    none."""
    then: Then = {}
    for code, counts in runs.items():
        dates = [parse_date(stamp) for stamp, _ in counts]
        then[code] = {}
        for figure in reported.communes.get(code, []):
            if not figure["as_of"]:
                continue
            if not counts:
                then[code][figure["as_of"]] = "no count of this commune in the store"
                continue
            moment = moment_of(figure["as_of"])
            before = bisect.bisect_right(dates, moment)
            then[code][figure["as_of"]] = (
                counts[before - 1][1] if before and moment <= dates[-1]
                else f"before the first count in the store ({counts[0][0]})" if not before
                else f"after the last count in the store ({counts[-1][0]})")
    return then


def figures_over_time(
    history: Any, boundaries: dict[str, Any], reported: Reported, names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every reported figure of the communes of `boundaries`, oldest first per commune, with
    insee, name, as_of, moment, reported_cameras, qualifier, scope, status, reported_source,
    mapped_then, partial, coverage, completeness, completeness_qualifier and reason (why no
    count or ratio). As in `compare`, a commune outside the history's data has no
    mapped_then (never a 0), and one mostly outside it no ratio."""
    import geopandas

    from osmcams.join import covered, is_partial

    then = mapped_then(history, boundaries, reported)
    holding = {code for code, counts in then.items()
               if any(isinstance(n, int) and n for n in counts.values())}
    frame = geopandas.GeoDataFrame({"insee": list(boundaries), "name": list(boundaries)},
                                   geometry=list(boundaries.values()), crs="EPSG:4326")
    chosen, _ = covered(history.dated(), frame, True, holding)
    rows = {code: {"cameras": 0, "coverage": share, "partial": is_partial(share)}
            for code, share in zip(chosen["insee"], chosen["coverage"].astype(object))}
    return [
        series_point(code, (names or {}).get(code) or figure["name"], figure,
                     {code: then[code]} if code in rows else {}, history.timestamp,
                     too_short(rows[code]) if code in rows else None, rows.get(code))
        for code in boundaries for figure in reported.communes.get(code, [])
    ]
