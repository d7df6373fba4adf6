"""Reported figures through time: each dated figure beside the cameras a history held then.

For the timeline chart and for `compare`: a figure describing 2019-01 is set against the
map as it was at the end of that period (`compare.moment_of`), counted as `timeline`
counts (`timeline.cameras_at`).
"""

from __future__ import annotations

from typing import Any

from osmcams.analysis.compare import Reported, Then, moment_of, series_point
from osmcams.analysis.timeline import cameras_at, parse_date


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
    return {code: {as_of: counts[code][at[stamps[as_of]]] for as_of in days if as_of in stamps}
            for code, days in dated.items()}


def figures_over_time(
    history: Any, boundaries: dict[str, Any], reported: Reported, names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every reported figure of the communes of `boundaries`, oldest first per commune, with
    insee, name, as_of, moment, reported_cameras, qualifier, scope, status, reported_source,
    mapped_then, completeness, completeness_qualifier and reason (why no count or ratio)."""
    then = mapped_then(history, boundaries, reported)
    return [
        series_point(code, (names or {}).get(code) or figure["name"], figure, then, history.timestamp)
        for code in boundaries for figure in reported.communes.get(code, [])
    ]
