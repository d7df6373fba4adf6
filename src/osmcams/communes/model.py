"""The communes record: boundaries with population, and what was left out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ["insee", "name", "department", "population", "geometry"]


NOTHING_SELECTED = "name a commune with --commune, a --department, or use --all"


@dataclass(frozen=True)
class Unusable:
    """A commune that the source names but gives no usable outline for, and why."""

    code: str | None
    name: str
    reason: str  # a whole clause: "its boundary is incomplete in …"


@dataclass
class Communes:
    """Boundaries with population, and where each came from."""

    frame: Any  # GeoDataFrame with COLUMNS, in EPSG:4326
    source: str
    population_source: str | None = None
    population_year: str | None = None
    # About communes left out: shown with rankings.
    warnings: list[str] = field(default_factory=list)
    # About the files (an assumed CRS, codes restored, GDAL's remarks): shown with any count.
    notes: list[str] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    # Per code, about an outline that had to be repaired: shown wherever the commune is counted.
    repairs: dict[str, str] = field(default_factory=dict)
    # Per code, why a commune its population table lists has no population: shown likewise.
    population_notes: dict[str, str] = field(default_factory=dict)
    # Why an extract's own relations stand in for the official communes, when they do.
    stand_in: str | None = None
    # The admin_level of the OSM relations they were read from, when they were.
    admin_level: int | None = None


MAX_POPULATION = 100_000_000
OSM_POPULATION = "OSM population tag"  # the population source of communes read from OSM


@dataclass(frozen=True)
class Population:
    """Population per commune code, with its source and year, and the official names."""

    values: dict[str, int]
    source: str
    year: str | None
    names: dict[str, str] = field(default_factory=dict)
    merged: dict[str, list[str]] = field(default_factory=dict)  # the codes merged into each since


INSEE_CODE = re.compile(r"[0-9][0-9AB][0-9]{3}")  # a French commune's: 06088, 2A004, 97411


def department_of(code: str | None) -> str | None:
    """The department of a French INSEE commune code ("97411" -> "974")."""
    if not code or not INSEE_CODE.fullmatch(code):
        return None
    return code[:3] if code.startswith("97") else code[:2]


def code_label(codes: Iterable[str]) -> str:
    """The heading of a column of commune codes: "INSEE" when each is a French commune's,
    else "Code" (a London borough's ref, an OSM relation's r1155956)."""
    return "INSEE" if all(INSEE_CODE.fullmatch(code or "") for code in codes) else "Code"


def one_row_per_code(frame: Any) -> Any:
    """Merge the features that share a code (a commune stored in several parts)."""
    if not frame["insee"].duplicated().any():
        return frame
    merged = frame.dissolve(by="insee", aggfunc="first", as_index=False, sort=False)
    return merged[frame.columns]


def short_list(names: Sequence[str], most: int = 10) -> str:
    """A short list of names for a one-line message."""
    shown = [name if len(name) <= 40 else name[:39] + "…" for name in names[:most]]
    more = f" and {len(names) - most:,} more" if len(names) > most else ""
    return ", ".join(shown) + more


def error_reason(error: Exception) -> str:
    """An exception as words on one line, without the raw "[Errno 2]", the bytes of the file
    or GDAL's advice on drivers ("It might help to specify the correct driver…")."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    text = str(error).splitlines()[0].split("; It might help")[0] if str(error) else type(error).__name__
    return text if len(text) <= 160 else text[:159] + "…"



def commune_frame(
    insee: Iterable[Any], name: Iterable[Any], department: Iterable[Any], population: Iterable[Any],
    geometry: Any, **extra: Any,
) -> Any:
    """The frame of `Communes`, its column types set by this schema rather than by its values:
    text is str or None (pandas would read a missing text as NaN, which no JSON can hold),
    population nullable integers, geometry in EPSG:4326."""
    import geopandas
    import pandas

    def text(values: Iterable[Any]) -> Any:
        return pandas.Series([v if isinstance(v, str) else None for v in values], dtype=object)

    columns = {"insee": text(insee), "name": text(name), "department": text(department),
               "population": pandas.array(list(population), dtype="Int64"), **extra}
    return geopandas.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326")
