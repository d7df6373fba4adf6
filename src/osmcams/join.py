"""Cameras into communes (point in polygon), and the density table.

A camera that lies exactly on a border shared by several communes is given to the
one with the lowest code, so every camera is counted once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypedDict

from osmcams.communes.model import OSM_POPULATION, Communes, short_list
from osmcams.errors import CommuneNotFound, DataError
from osmcams.geo.areas import areas_km2
from osmcams.models import Camera, gc_paused, listed
from osmcams.sources.osm.pbf import Extract


class DensityRow(TypedDict):
    """A commune's row of the density table, its keys in the order of the columns; a null
    is a value the data cannot give (no count outside the data, no density when partial)."""

    insee: str
    name: str
    department: str | None
    population: int | None
    area_km2: float
    coverage: float | None  # the share of its area inside the data; None: unknown
    partial: bool
    cameras: int | None
    cameras_per_km2: float | None
    cameras_per_10k: float | None
    inhabitants_per_camera: int | None
    by_type: dict[str, int] | None  # surveillance:type -> cameras; None: no count
    by_scope: dict[str, int] | None  # surveillance -> cameras; None: no count
    note: str | None


ROW_KEYS = tuple(DensityRow.__annotations__)
# A commune under this share of its area inside the data has no count; under FULL, a partial one.
NO_DATA, FULL = 0.02, 0.995
# Under this share, a partial commune's densities are null: its count is a lower bound.
MIN_COVERAGE = 0.95

# The note of a commune's row without a count: known to lie outside the data, or not known.
NO_DATA_NOTE = "no data: outside the OSM data"
NO_COUNT_NOTE = "no count: the OSM data does not say whether it covers this commune"

STALE_AFTER_DAYS = 30


def is_outside(row: dict[str, Any]) -> bool:
    """Whether a row (count's, timeline's) is that of a commune named outside the data, not
    one that a source could not count or the data may not cover, as its note says."""
    return row.get("note") == NO_DATA_NOTE


def no_population_why(source: str | None) -> str:
    """Why communes of a table `source` have no population, for a warning."""
    if not source:
        return "give --population"
    if source.startswith(OSM_POPULATION):  # a relation without the tag: nothing was merged
        return "their OSM boundaries have no population tag (give --population)"
    return f"not in {source} (codes merged or unknown)"


def population_text(source: str | None, year: str | None) -> str:
    """Where the population comes from, and of which year ("communes.json (Etalab COG),
    year unknown"): the year once, where the source names it already; "none" without one."""
    if not source:
        return "none"
    if not year:
        return f"{source}, year unknown"
    return source if str(year) in source else f"{source}, {year}"


def share_text(share: float | None) -> str:
    """A commune's coverage as people read it: 0.103 -> "10%"; under 1%, "<1%" (a commune
    shown holds data, its cameras at least, however little of it the sampling found);
    "unknown" (a file that says nothing of where it has data)."""
    if share is None:
        return "unknown"
    return "<1%" if share < 0.01 else f"{share:.0%}"


def _communes(n: int, verb: str, plural_verb: str) -> str:
    """ "1 commune lies", "2 communes lie"."""
    return f"1 commune {verb}" if n == 1 else f"{n:,} communes {plural_verb}"


def data_age_days(timestamp: str | None) -> int | None:
    """Whole days between an ISO 8601 UTC timestamp and now."""
    try:
        then = datetime.fromisoformat((timestamp or "").replace("Z", "+00:00"))
    except ValueError:
        return None  # no date, or one we cannot read: no age claimed
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - then).days


@dataclass
class Report:
    """The density rows, where they come from, and what to be wary of."""

    meta: dict[str, Any]
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    cameras: dict[str, list[Camera]] = field(default_factory=dict)
    boundaries: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # further tables, by name
    areas: dict[str, float] = field(default_factory=dict)  # km² of each commune asked, unrounded
    notes: list[str] = field(default_factory=list)  # the warnings about the communes themselves
    # The communes asked for that lie outside the data: rows without counts, for maps to draw
    # as "no data" (their outlines are in `boundaries`); never part of `rows`.
    outside: list[dict[str, Any]] = field(default_factory=list)
    # How the coverage warnings name the data (`coverage_where`), None when its extent is
    # unknown; those warnings are the last of `notes`, `coverage_notes` of them.
    where: str | None = None
    coverage_notes: int = 0
    region: Any = None  # where the data lies, as the coverage was cut (`_data_region`); None: unknown


def assign(cameras: list[Camera], communes: Communes) -> list[str | None]:
    """The code of the commune holding each camera, or None outside every commune."""
    import numpy

    if not cameras:
        return []
    rows = owners(numpy.fromiter((c.lon for c in cameras), float, len(cameras)),
                  numpy.fromiter((c.lat for c in cameras), float, len(cameras)), communes)
    codes = numpy.append(communes.frame["insee"].to_numpy(object), [None])
    return codes[rows].tolist()  # type: ignore[no-any-return]


@gc_paused()  # one point per camera, made and dropped meanwhile
def owners(lon: Any, lat: Any, communes: Communes) -> Any:
    """The row in `communes.frame` of the commune holding each point of the arrays `lon`,
    `lat`, or -1 outside every commune."""
    import numpy
    import shapely

    frame = communes.frame
    outlines = numpy.asarray(frame.geometry.values)
    # The points query a tree of the outlines by their boxes; each outline met, prepared, then
    # tests the points in its box by their coordinates (no tree of hundreds of thousands of points).
    point_idx, poly_idx = shapely.STRtree(outlines).query(shapely.points(lon, lat))
    fresh = ~shapely.is_prepared(outlines)  # those prepared here are let go after
    shapely.prepare(outlines)
    try:
        inside = shapely.intersects_xy(outlines[poly_idx], lon[point_idx], lat[point_idx])
    finally:
        shapely.destroy_prepared(outlines[fresh])
    point_idx, poly_idx = point_idx[inside], poly_idx[inside]
    order = numpy.argsort(frame["insee"].to_numpy(object))
    rank = numpy.empty(len(order), numpy.int64)
    rank[order] = numpy.arange(len(order))
    best = numpy.full(len(lon), len(order))  # one past the last code: no commune
    numpy.minimum.at(best, point_idx, rank[poly_idx])
    return numpy.append(order, -1)[best]


def _ratio(value: float | None, per: float | None, digits: int) -> float | None:
    if value is None or not per:
        return None
    return round(value / per, digits)


def row_of(
    insee: str, name: str, department: str | None, population: int | None, area: float,
    coverage: float | None, kinds: list[tuple[str | None, str | None]],
) -> dict[str, Any]:
    """The density row of a commune holding cameras of `kinds` (the surveillance:type and
    surveillance tags of each, in the order of the extract); `area` in km², unrounded.

    A commune partly inside the data is `partial`: its count is a lower bound, and its
    densities are null under MIN_COVERAGE."""
    count = len(kinds)
    row = {
        "insee": insee,
        "name": name,
        "department": department,
        "population": population,
        "area_km2": round(area, 3),
        "coverage": coverage,
        "partial": is_partial(coverage),
        "cameras": count,
        "by_type": _tally(kind for kind, _ in kinds) if count else {},
        "by_scope": _tally(scope for _, scope in kinds) if count else {},
        "note": (
            "coverage unknown" if coverage is None else None if coverage >= 1
            else f"partial data: {share_text(coverage)} of the area, count incomplete"
        ),
    }
    set_densities(row, area)
    return {key: row[key] for key in ROW_KEYS}


def is_partial(coverage: float | None) -> bool:
    """Whether a count with this `coverage` is a lower bound: the data holds part of the
    commune, or an unknown share of it (what the data holds, at least)."""
    return coverage is None or coverage < 1


def dense(coverage: float | None, min_coverage: float = MIN_COVERAGE) -> bool:
    """Whether a commune with this `coverage` gets densities (and ratios): it is known, and
    at least `min_coverage`; under it, its count is a floor."""
    return coverage is not None and coverage >= min_coverage


def set_densities(row: dict[str, Any], area: float, min_coverage: float = MIN_COVERAGE) -> None:
    """The densities of a row from its cameras, population and `area` (km², unrounded):
    null when its coverage is under `min_coverage`."""
    count, population, coverage = row["cameras"], row["population"], row["coverage"]
    known = dense(coverage, min_coverage)
    row["cameras_per_km2"] = _ratio(count, area, 4) if known else None
    row["cameras_per_10k"] = _ratio(count * 10_000, population, 3) if known else None
    row["inhabitants_per_camera"] = (
        round(population / count) if known and count and population else None
    )


def outside_row(
    insee: str, name: str, department: str | None, population: int | None, area: float,
    located: bool,
) -> dict[str, Any]:
    """The row of a commune the data does not cover (`located`: the data says where it has
    data, so that this commune is known to lie outside it): no count, no density (never 0),
    no coverage either (the little share of it inside the data, under what gets a count,
    would read as a commune with data), the keys of every row (not `partial`: there is no
    count to be a lower bound; no count by type or scope either, which {} would claim); the
    note says why."""
    return {  # in the order of ROW_KEYS
        "insee": insee, "name": name, "department": department, "population": population,
        "area_km2": round(area, 3), "coverage": None, "partial": False, "cameras": None,
        "cameras_per_km2": None, "cameras_per_10k": None, "inhabitants_per_camera": None,
        "by_type": None, "by_scope": None,
        "note": NO_DATA_NOTE if located else NO_COUNT_NOTE,
    }


def rank_order(row: dict[str, Any]) -> tuple[int, float, str]:
    """The order of a ranking: most cameras first, then densest, then by code."""
    return -row["cameras"], -(row["cameras_per_km2"] or 0), row["insee"]


def _tally(values: Iterable[str | None]) -> dict[str, int]:
    """How many of each value, most common first; None counts as "unknown"."""
    return dict(Counter(v or "unknown" for v in values).most_common())


def _data_region(extract: Extract) -> tuple[Any, str]:
    """Where the extract has data, and how that is known; (None, "") when it is not."""
    import shapely

    box = shapely.box(*extract.bbox) if extract.bbox else None
    if extract.extent is not None:  # the box is an upper bound of the extent, never more
        extent = extract.extent if box is None else shapely.intersection(extract.extent, box)
        return extent, f"its extent {extract.extent_source}"
    sampled = extract.data_area
    if box is not None and sampled is not None:
        return shapely.intersection(box, sampled), f"its bounding box and {extract.data_area_from}"
    if box is not None:
        return box, f"its bounding box {tuple(round(v, 5) for v in extract.bbox)}"  # type: ignore[union-attr]
    return sampled, extract.data_area_from if sampled is not None else ""


def data_region(extract: Extract) -> Any:
    """Where the extract has data (`_data_region`); None when that is not known."""
    return _data_region(extract)[0]


PIECE_VERTICES = 256  # the data region is cut into pieces of at most this many vertices
CUTS = 2048  # cuts made and measured at a time by each thread


def _pieces(region: Any) -> list[Any]:
    """`region` cut into disjoint polygons of few vertices, by halving the large ones."""
    import shapely

    pieces, todo = [], list(shapely.get_parts(region))
    while todo:
        part = todo.pop()
        if shapely.get_num_coordinates(part) <= PIECE_VERTICES:
            pieces.append(part)
            continue
        xmin, ymin, xmax, ymax = part.bounds
        if xmax - xmin >= ymax - ymin:
            mid = (xmin + xmax) / 2
            halves = [(xmin, ymin, mid, ymax), (mid, ymin, xmax, ymax)]
        else:
            mid = (ymin + ymax) / 2
            halves = [(xmin, ymin, xmax, mid), (xmin, mid, xmax, ymax)]
        for box in halves:
            half = shapely.intersection(part, shapely.box(*box))
            todo += [p for p in shapely.get_parts(half) if p.geom_type == "Polygon" and not p.is_empty]
    return pieces


def _inside_km2(geometries: Any, region: Any, areas: Any = None) -> tuple[Any, Any, Any]:
    """Which geometries lie wholly inside `region`; of the others, the area in km² inside it,
    and which meet it. Each is tested and cut only by the few small pieces of the region near
    it, not by the whole (a region of many cells is slow to cut, and most communes are far
    from its edge). The cuts are shared among threads, each cutting and measuring CUTS pieces
    at a time (GEOS lets go of the GIL). `areas`: those of `geometries` in km², when known,
    against which the precision of the cut pieces' areas is judged (`areas_km2`)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    import numpy
    import shapely

    geometries = numpy.asarray(geometries)
    none = numpy.zeros(len(geometries), bool)
    pieces = numpy.array(_pieces(region), dtype=object)
    if not len(pieces):
        return numpy.zeros(len(geometries)), none, none
    which, piece = shapely.STRtree(pieces).query(geometries, predicate="intersects")
    within = _within(geometries, region, pieces, which, piece)
    crossing = ~within[which]
    which, piece = which[crossing], piece[crossing]

    def cut(start: int) -> Any:
        pairs = slice(start, start + CUTS)
        cut = shapely.intersection(geometries[which[pairs]], pieces[piece[pairs]])
        return areas_km2(cut, None if areas is None else areas[which[pairs]])

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        areas = numpy.concatenate([numpy.zeros(0), *pool.map(cut, range(0, len(which), CUTS))])
    meets = none.copy()
    meets[which] = True
    return numpy.bincount(which, weights=areas, minlength=len(geometries)), meets, within


def _within(geometries: Any, region: Any, pieces: Any, which: Any, piece: Any) -> Any:
    """Which geometries lie wholly inside `region`, knowing the pieces each meets (`which`,
    `piece`, by geometry): one that meets a single piece is inside the region if inside it."""
    import numpy
    import shapely

    met = numpy.bincount(which, minlength=len(geometries))
    within = numpy.zeros(len(geometries), bool)
    one = numpy.flatnonzero(met == 1)
    only = numpy.empty(len(geometries), numpy.int64)
    only[which] = piece  # the piece of those that meet one
    within[one] = shapely.contains(pieces[only[one]], geometries[one])
    many = numpy.flatnonzero(met > 1)
    shapely.prepare(region)
    within[many] = shapely.contains(region, geometries[many])
    return within


def coverage_of(extract: Extract, chosen: Any) -> tuple[Any, str]:
    """The share of the area of each commune of `chosen` inside the extract's data (1 from
    FULL on, else to 3 decimals), and how that data is known; (None, "") when it is not."""
    return coverage_in(*_data_region(extract), chosen)


def coverage_in(region: Any, how: str, chosen: Any) -> tuple[Any, str]:
    """`coverage_of`, inside `region` known `how` (`_data_region`)."""
    if region is None:
        return None, ""
    areas = chosen["area_km2"].to_numpy() if "area_km2" in chosen else None
    return shares_in(region, chosen.geometry.values, areas), how


def shares_of(extract: Extract, geometries: Any, areas: Any = None) -> Any:
    """`coverage_of` the outlines `geometries` (an array), by themselves: each share is the
    one a count of them among others gives; `areas`, their km², as `coverage_in` takes them
    when the communes hold them. None when where the extract has data is not known."""
    region, _ = _data_region(extract)
    return None if region is None else shares_in(region, geometries, areas)


def shares_in(region: Any, geometries: Any, areas: Any = None) -> Any:
    """The share of the area of each of `geometries` inside `region` (1 from FULL on, else to
    3 decimals); `areas`: their km², when known."""
    import numpy
    import shapely

    areas = None if areas is None else numpy.asarray(areas, float)
    try:
        inside, meets, within = _inside_km2(geometries, region, areas)
    except shapely.errors.GEOSException:  # an invalid outline: repair it, then cut
        inside, meets, within = _inside_km2(shapely.make_valid(geometries), region, areas)
    shares = within.astype(float)
    across = numpy.flatnonzero(meets)  # only those that cross the edge of the region are cut
    whole = areas[across] if areas is not None else areas_km2(geometries[across])
    shares[across] = inside[across] / whole
    return numpy.where(shares >= FULL, 1.0, numpy.round(shares, 3))


def holds_the_data(extract: Extract, geometries: Any) -> Any:
    """Which of `geometries` (an array) hold the whole of where the extract has data."""
    import numpy
    import shapely

    region, _ = _data_region(extract)
    holds = numpy.zeros(len(geometries), bool)
    if region is None or region.is_empty:
        return holds
    west, south, east, north = shapely.bounds(region)
    bounds = shapely.bounds(geometries)
    near = numpy.flatnonzero((bounds[:, 0] <= west) & (bounds[:, 1] <= south) & (bounds[:, 2] >= east)
                             & (bounds[:, 3] >= north))
    try:
        holds[near] = shapely.covers(geometries[near], region)
    except shapely.errors.GEOSException:  # an invalid outline: repair it
        holds[near] = shapely.covers(shapely.make_valid(geometries[near]), region)
    return holds


def covered(
    extract: Extract, chosen: Any, rank: bool, holding: set[str] | frozenset[str] = frozenset(),
    known: tuple[Any, str] | None = None,
) -> tuple[Any, list[str]]:
    """The communes the extract has data for, with a `coverage` column, and warnings.

    `coverage` is the share of a commune's area inside the extract's data. A commune
    (almost) wholly outside is left out, with a warning, of a ranking and of several
    communes named; alone, or when none is covered, it is an error: a zero there would
    be a number without data. A partly covered one keeps
    its count, flagged, and so does one `holding` cameras of the extract, however
    little of it the sampling found: the extract has data there; and one that holds all
    of the extract's data (an island's extract, whose commune takes in the sea). `known`
    is the `coverage_of` the communes, when known already.
    """
    shares, how = known or coverage_of(extract, chosen)
    names = [f"{n} ({c})" for n, c in zip(chosen["name"].tolist(), chosen["insee"].tolist())]
    if shares is None:  # only its cameras say where it has data: counted there, as lower bounds
        unknown = f"{extract.source} declares no bounding box and its nodes cannot be sampled"
        holds = chosen["insee"].isin(holding).to_numpy()
        if not holds.any():
            raise DataError(f"{unknown}: whether it covers {short_list(names, 5)} is unknown, and "
                            "none holds a camera of it: nothing there can be counted")
        left = [name for name, held in zip(names, holds) if not held]
        return chosen[holds].assign(coverage=None), [
            f"{unknown}: only the communes holding its cameras are counted, each a lower bound"
            + (f"; left out: {short_list(left, 5)}" if left else "")]
    chosen = chosen.assign(coverage=shares)
    where = coverage_where(extract.source, how)
    kept = (shares >= NO_DATA) | chosen["insee"].isin(holding).to_numpy()
    if not kept.all():
        kept |= holds_the_data(extract, chosen.geometry.values)
    outside = [name for name, keep in zip(names, kept) if not keep]
    if outside and not rank and len(outside) == len(names):  # of several named, the others count
        raise DataError(f"{', '.join(outside)}: outside {where}, nothing there can be counted")
    if outside and not kept.any():  # an empty table would read as "no cameras"
        raise DataError(
            f"none of the {len(outside):,} selected communes is covered by {where}: "
            + short_list(outside, 5)
        )
    partial = [
        f"{name} {share_text(share)}" for name, share, keep in zip(names, shares, kept) if keep and share < 1
    ]
    return chosen[kept], coverage_warnings(where, partial, outside)


def coverage_where(source: str, how: str) -> str:
    """How the coverage warnings name the data of `source`, known from `how`."""
    return f"the data of {source} (known from {how})"


def coverage_warnings(where: str, partial: list[str], outside: list[str]) -> list[str]:
    """The warnings on the communes partly inside the data (`partial`: "Name (code) NN%")
    and outside it, with no count (`outside`: "Name (code)"), in the order asked."""
    warnings = []
    if partial:
        warnings.append(
            f"{_communes(len(partial), 'is', 'are')} only partly inside {where}, so "
            f"{'its count is' if len(partial) == 1 else 'their counts are'} incomplete: "
            + ", ".join(partial)
        )
    if outside:
        warnings.append(f"{_communes(len(outside), 'lies', 'lie')} outside {where}, so "
                        f"{'it has' if len(outside) == 1 else 'they have'} no count: " + ", ".join(outside))
    return warnings


def commune_areas(chosen: Any) -> Any:
    """The area in km² of each commune of `chosen` (cached with the boundaries, or computed)."""
    cached = "area_km2" in chosen
    return chosen["area_km2"].to_numpy() if cached else areas_km2(chosen.geometry.values)


def _column(frame: Any, name: str) -> list[Any]:
    """The values of a column, None where missing."""
    column = frame[name].astype(object)
    return column.where(column.notna(), None).tolist()  # type: ignore[no-any-return]


def density_rows(chosen: Any, areas: Any, by_commune: dict[str, list[Camera]]) -> list[dict[str, Any]]:
    """One row (ROW_KEYS) per commune of `chosen`, with its coverage, from its cameras."""
    columns = (_column(chosen, name) for name in ("insee", "name", "department", "population", "coverage"))
    return [
        row_of(insee, name, department, None if population is None else int(population), area,
               None if coverage is None else float(coverage),
               [(k.surveillance_type, k.surveillance) for k in by_commune[insee]])
        for insee, name, department, population, coverage, area in zip(*columns, areas.tolist())
    ]


def count(
    extract: Extract, communes: Communes, codes: str | Iterable[str], rank: bool = False,
    owners: list[str | None] | None = None,
) -> Report:
    """The density table for the communes with `codes`, from the cameras of `extract`.

    Rows keep the order of `codes` (one alone, or several; each once), or are ranked by
    cameras and density when `rank`. `owners` are the `assign` of the cameras, when known
    already. A code that `communes` does not hold is a CommuneNotFound.
    """
    import numpy

    frame = communes.frame.set_index("insee", drop=False)
    codes = list(dict.fromkeys(listed(codes)))
    row = {code: i for i, code in enumerate(frame["insee"].tolist())}  # one row per code
    unknown = [code for code in codes if code not in row]
    if unknown:
        raise CommuneNotFound(f"no commune {short_list(unknown)} in {communes.source}")
    owners = assign(extract.cameras, communes) if owners is None else owners
    by_commune: dict[str, list[Camera]] = {code: [] for code in codes}
    for camera, code in zip(extract.cameras, owners):
        if code in by_commune:
            by_commune[code].append(camera)
    holding = {code for code, cameras in by_commune.items() if cameras}
    region, how = _data_region(extract)
    asked = frame.take([row[code] for code in codes])  # by position: loc seeks each label
    known = coverage_in(region, how, asked)
    chosen, coverage = covered(extract, asked, rank, holding, known)
    areas = commune_areas(chosen)
    rows = density_rows(chosen, areas, by_commune)
    if rank:
        rows.sort(key=rank_order)
    # Communes left out of the source matter only when the rows claim to cover them all.
    left_out = communes.warnings if rank else []
    repaired = [notes[code] for code in codes for notes in (communes.repairs, communes.population_notes)
                if code in notes]
    notes = [*communes.notes, *left_out, *repaired, *coverage]
    meta, warnings = finish(
        extract, communes, rows, notes, len(owners), sum(code is None for code in owners)
    )
    kept = set(chosen["insee"])
    left = frame.take([row[code] for code in codes if code not in kept])
    columns = (_column(left, name) for name in ("insee", "name", "department", "population"))
    left_areas = commune_areas(left).tolist()
    outside = [outside_row(insee, name, department, None if population is None else int(population), area,
                           known[0] is not None)
               for insee, name, department, population, area in zip(*columns, left_areas)]
    boundaries = {code: outline for part in (chosen, left)  # outlines out of their numpy array, at once
                  for code, outline in zip(part["insee"].tolist(), numpy.asarray(part.geometry.values))}
    where = None if known[0] is None else coverage_where(extract.source, known[1])
    return Report(meta, rows, warnings, by_commune, boundaries,
                  areas=dict(zip([*chosen["insee"], *left["insee"]], [*areas.tolist(), *left_areas])),
                  notes=notes, outside=outside,
                  where=where, coverage_notes=len(coverage) if where else 0, region=region)


def coverage_method(extract: Extract) -> str:
    """How the coverage of the rows is known: the extract's extent, or an estimate."""
    if extract.extent is not None:
        return f"extent: {extract.extent_source}"
    if extract.bbox is None and extract.data_area is None:
        return "unknown"
    return "estimated from the data"


def finish(
    extract: Extract, communes: Communes, rows: list[dict[str, Any]], fixed: list[str],
    total: int, outside: int,
) -> tuple[dict[str, Any], list[str]]:
    """The meta and the warnings of a report: `fixed` are those about the communes and
    their coverage; `extract` gives its own (its cameras are not read here)."""
    from osmcams import __version__

    warnings = [*extract.warnings, *fixed]
    newest = extract.read_at or extract.timestamp  # not the date asked of a history (--at)
    age = data_age_days(newest)
    if age is not None and age > STALE_AFTER_DAYS:
        warnings.append(
            f"the OSM data is {age:,} days old ({newest}): cameras mapped since are missing"
        )
    if outside:
        warnings.append(f"{outside:,} of {total:,} cameras lie outside every loaded commune")
    no_population = [f"{r['name']} ({r['insee']})" for r in rows
                     if r["population"] is None and r["insee"] not in communes.population_notes]
    if no_population:
        why = no_population_why(communes.population_source)
        warnings.append(
            f"{_communes(len(no_population), 'has', 'have')} no population, {why}: "
            + ", ".join(no_population)
        )
    meta = {
        "source": extract.source,
        "data_timestamp": extract.timestamp,
        "timestamp_source": extract.timestamp_source,
        "data_age_days": age,
        "boundaries": communes.source,
        "population_source": communes.population_source,
        "population_year": communes.population_year,
        "coverage_from": coverage_method(extract),
        "cameras_total": total,
        "cameras_outside": outside,
        "border_rule": "a camera on a shared border counts for the commune with the lowest code",
        "min_coverage": MIN_COVERAGE,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "osmcams_version": __version__,
    }
    return meta, warnings


SORT_KEYS = {"cameras": "cameras", "per_km2": "cameras_per_km2", "per_10k": "cameras_per_10k"}


def whole(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of communes wholly inside the data, for a ranking, and a warning naming
    how many partly covered ones are left out."""
    kept = [r for r in rows if not r.get("partial")]
    if len(kept) == len(rows):
        return rows, []
    return kept, [
        f"{_communes(len(rows) - len(kept), 'is', 'are')} only partly inside the data, their "
        "counts lower bounds: left out of the ranking (--include-partial keeps them): "
        + ", ".join(f"{r['name']} ({r['insee']}) {share_text(r['coverage'])}"
                    for r in rows if r.get("partial"))
    ]


def ranked(
    rows: list[dict[str, Any]], sort_by: str = "cameras", min_population: int | None = None,
    include_partial: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows ranked by `sort_by` (highest first, unknown values last), ties by cameras then code.

    Communes partly inside the data are left out unless `include_partial`; with
    `min_population`, communes below it, or of unknown population. The warnings say how many.
    """
    warnings: list[str] = []
    if not include_partial:
        rows, warnings = whole(rows)
    if min_population is not None:
        kept = [r for r in rows if (r["population"] or 0) >= min_population]
        if len(kept) < len(rows):
            warnings.append(
                f"{_communes(len(rows) - len(kept), 'is', 'are')} below {min_population:,} "
                "inhabitants, or of unknown population, left out of the ranking"
            )
        rows = kept
    key = SORT_KEYS[sort_by]

    def order(row: dict[str, Any]) -> tuple[bool, float, float, str]:
        value, cameras = row.get(key), row.get("cameras")
        return (value is None, -(value or 0), -(cameras or 0), row["insee"])

    return sorted(rows, key=order), warnings
