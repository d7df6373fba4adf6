"""What every map of a report shares: the communes drawn, their classes, their marks, the credits.

The PNG, the HTML page and the uMap file all read these, so that the three maps of the
same data colour each commune alike, mark the same communes as partly covered or
without data, and print the same credits.
"""

from __future__ import annotations

import html
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from osmcams.communes.model import OSM_POPULATION
from osmcams.communes.population import OFFICIAL_SOURCE, year_in
from osmcams.join import NO_COUNT_NOTE, Report, population_text, share_text
from osmcams.models import printable

NO_DATA = "#d9d9d9"  # grey: a commune asked for that the data does not cover
NO_DATA_EDGE = "#969696"
PARTIAL_EDGE = "#252525"  # the dashed outline of a commune counted on part of its area
PARTIAL_DASH = (6, 4)  # dash, gap in pixels, the same in every map
UNCLASSED = "#ffffff"  # a partly covered commune whose density is unknown
CLASSES = 5
# ColorBrewer YlOrRd, as uMap's choropleth reads it for 3 to 9 classes, so that uMap's
# legend has the colours osmcams draws; 1 and 2 classes take the ends of the 3-class ramp.
YLORRD = {
    1: ("#feb24c",),
    2: ("#ffeda0", "#f03b20"),
    3: ("#ffeda0", "#feb24c", "#f03b20"),
    4: ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"),
    5: ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
    6: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"),
    7: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
    8: ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
    9: ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026",
        "#800026"),
}
MEASURES = {
    "per_km2": ("cameras_per_km2", "cameras per km²"),
    "per_10k": ("cameras_per_10k", "cameras per 10,000 inhabitants"),
}
PARTIAL_LABEL = "partly in the OSM data (dashed):\ncount incomplete"
NO_DATA_LABEL = "no data: outside\nthe OSM data"
# Of the communes without a count where the data does not say where it lies (join.NO_COUNT_NOTE).
NO_COUNT_LABEL = "no count: the OSM data does\nnot say whether it covers"
# What a static map writes under the name of a commune without a count.
NO_DATA_MARK = "no data"
NO_COUNT_MARK = "no count: may\nnot be covered"
UNKNOWN_LABEL = "counted, density unknown"
ZERO = ("#ffffb2",)  # every commune at 0: the lightest colour, not a middle one
OSM_CREDIT = "© OpenStreetMap contributors, ODbL"
OSM_URL = "https://www.openstreetmap.org/copyright"
ODBL = {"name": "ODbL 1.0", "url": "https://opendatacommons.org/licenses/odbl/1-0/"}
LICENCE_OUVERTE = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
IGN_URL = "https://geoservices.ign.fr/adminexpress"
COG_POPULATION = "INSEE, Code officiel géographique (Etalab)"  # --population communes.json
# Sources named by what they are, from how osmcams names them: IGN's ADMIN EXPRESS files
# (as IGN ships them, or simplified as communes-NN-name.geojson), geo.api.gouv.fr (IGN
# contours too), the Etalab COG tables, and OSM's own admin relations.
KNOWN_BOUNDARIES = re.compile(
    r"admin[-_ ]?express|(^|[/\\_\-. ])ign([/\\_\-. ]|$)"
    r"|communes-\w\w\w?-[^/\\]*\.geojson|geo\.api\.gouv\.fr",
    re.IGNORECASE,
)
OSM_BOUNDARIES = re.compile(r"\(admin_level=\d+ relations\)")


@dataclass(frozen=True)
class Classes:
    """Classes of the known values: `bins` are their upper bounds (each a value of the data),
    `lows` their smallest values, `counts` how many values each holds."""

    bins: tuple[float, ...]
    lows: tuple[float, ...]
    counts: tuple[int, ...]
    colours: tuple[str, ...]

    def index(self, value: float | None) -> int | None:
        """The class of `value` (classes hold (previous bound, bound]); None for no value."""
        if value is None:
            return None
        for i, bound in enumerate(self.bins):
            if value <= bound:
                return i
        return len(self.bins) - 1

    def colour(self, value: float | None) -> str:
        """The colour of `value`'s class; the no-data grey for None."""
        i = self.index(value)
        return NO_DATA if i is None else self.colours[i]

    def labels(self) -> list[str]:
        """"0", "0.36 – 0.46", … : the values each class holds, for the legend, its bounds
        rounded outward (0.0254 to 0.4939 reads "0.02 – 0.5", never "0.03 – 0.49"), with as
        many more decimals as keep two classes apart (11.8092 and 11.8109 end one class and
        make the next: "… – 11.81" and "11.811", not "11.81" twice)."""
        apart = [_apart(hi, lo) for hi, lo in zip(self.bins, self.lows[1:])]
        below, above = [2, *apart], [*apart, 2]  # the decimals at each class's two ends
        return [number(hi, max(b, a)) if lo == hi
                else f"{_shown(lo, math.floor, b)} – {_shown(hi, math.ceil, a)}"
                for lo, hi, b, a in zip(self.lows, self.bins, below, above)]

    def umap_breaks(self) -> str:
        """uMap's manual breaks, "min,bound1,…": rounded to 2 decimals (as uMap saves
        them) wherever that keeps every value in its class; none without a class."""
        if not self.bins:
            return ""
        edges = [self.lows[0], *self.bins]
        out = [_outward(edges[0], math.floor, None, self.lows[0])]
        for i, bound in enumerate(self.bins):
            following = self.lows[i + 1] if i + 1 < len(self.lows) else None
            out.append(_outward(bound, math.ceil, following, bound))
        return ",".join(out)


MOST_DECIMALS = 9  # in a legend: values closer than this are shown alike


def _shown(value: float, rounding: Any, digits: int) -> str:
    """`value` rounded by `rounding` to `digits` decimals, or 4 under 0.01 as `number` writes it."""
    rounded = _rounded(value, rounding, digits)
    return number(rounded or _rounded(value, rounding, max(digits, 4)), digits)


def _apart(high: float, low: float) -> int:
    """The fewest decimals, 2 at least, at which `high` rounded up shows below `low` rounded down."""
    digits = 2
    while digits < MOST_DECIMALS and float(_shown(high, math.ceil, digits).replace(",", "")) >= float(
            _shown(low, math.floor, digits).replace(",", "")):
        digits += 1
    return digits


def _rounded(value: float, rounding: Any, digits: int = 2) -> float:
    """`value` to `digits` decimals by `rounding` (math.floor or math.ceil)."""
    return rounding(round(value * 10**digits, 9)) / 10**digits


def _outward(value: float, rounding: Any, limit: float | None, keep: float) -> str:
    """`value` rounded to 2 decimals by `rounding` when that stays below `limit`, else `keep`."""
    rounded = _rounded(value, rounding, 2)
    if limit is None or rounded < limit:
        return repr(rounded)
    return repr(keep)


def number(value: float, digits: int = 2) -> str:
    """2.2310 -> "2.23", 0.0 -> "0", 1234.5 -> "1,234.5"; under 0.01, four decimals; with
    `digits`, at least that many."""
    if not value:
        return "0"
    return f"{value:,.{max(digits, 2 if abs(value) >= 0.01 else 4)}f}".rstrip("0").rstrip(".")


def breaks(values: list[float], scheme: str = "quantiles", k: int = CLASSES) -> tuple[float, ...]:
    """Upper bounds of at most `k` classes of `values`, each a value of the data.

    With no more distinct values than `k`, each value is its own class. Otherwise zero,
    when present, is a class of its own, and the rest is cut by `scheme`: "quantiles"
    (the i-th of k bounds is the smallest value with at least i/k of the values at or
    below it) or "fisher_jenks" (mapclassify). Equal bounds merge: no two classes
    repeat, and no class is empty.
    """
    known = sorted(values)
    distinct = sorted(set(known))
    if len(distinct) <= k:
        return tuple(distinct)
    bins: list[float] = []
    if distinct[0] == 0:
        bins.append(0.0)
        known = [v for v in known if v > 0]
        k -= 1
        if len(set(known)) <= k:
            return tuple(bins + sorted(set(known)))
    if scheme == "quantiles":
        n = len(known)
        cut = [known[-(-i * n // k) - 1] for i in range(1, k + 1)]
    else:
        import warnings

        import numpy

        with warnings.catch_warnings():  # "numba not installed": slower, same breaks
            warnings.simplefilter("ignore", UserWarning)
            import mapclassify

            jenks = mapclassify.FisherJenks(numpy.array(known), k=k).bins.tolist()
        cut = [max(v for v in known if v <= b + 1e-12) for b in jenks]  # snapped to the data
    return tuple(bins + sorted(set(cut)))


def classify(values: list[float | None], scheme: str = "quantiles", k: int = CLASSES) -> Classes:
    """The classes of the known `values` (None is no data), coloured light to dark."""
    known = [v for v in values if v is not None]
    bins = breaks(known, scheme, k)
    members: list[list[float]] = [[] for _ in bins]
    for value in known:
        members[next(i for i, b in enumerate(bins) if value <= b)].append(value)
    colours = ZERO if bins == (0.0,) else YLORRD.get(len(bins), ())
    return Classes(bins, tuple(min(m) for m in members), tuple(len(m) for m in members), colours)


def drawn_rows(report: Report) -> list[dict[str, Any]]:
    """The rows a map draws: the report's, then the communes asked for outside the data."""
    return [r for r in [*report.rows, *report.outside] if r["insee"] in report.boundaries]


@dataclass(frozen=True)
class Drawn:
    """The communes of a map: each row, its value, its class colour and its kind."""

    rows: list[dict[str, Any]]
    values: list[float | None]
    classes: Classes
    colours: list[str]
    kinds: list[str]  # "full", "partial" (counted on part of its area) or "nodata"
    shares: list[float | None]

    def count(self, kind: str) -> int:
        return self.kinds.count(kind)


def drawn(report: Report, measure: str, scheme: str, codes: list[str] | None = None) -> Drawn:
    """The communes to draw (those with `codes`, when given), classed by `measure` with `scheme`."""
    key, _ = MEASURES[measure]
    rows = [r for r in drawn_rows(report) if codes is None or r["insee"] in codes]
    values = [value_of(r, key) for r in rows]
    classes = classify(values, scheme)
    shares = [partial_share(r) for r in rows]
    kinds = ["nodata" if r.get("cameras") is None else "partial" if s is not None or r.get("partial")
             else "full" for r, s in zip(rows, shares)]  # partial with no share: coverage unknown
    colours = [NO_DATA if k == "nodata" else UNCLASSED if v is None else classes.colour(v)
               for k, v in zip(kinds, values)]
    return Drawn(rows, values, classes, colours, kinds, shares)


def legend_entries(figure: Drawn) -> list[tuple[str, str]]:
    """(colour, label) of each class, with how many communes it holds, then the counted
    communes whose density is unknown (no population), if any."""
    entries = [(colour, f"{label} ({n:,})") for colour, label, n
               in zip(figure.classes.colours, figure.classes.labels(), figure.classes.counts)]
    unknown = sum(k != "nodata" and v is None for k, v in zip(figure.kinds, figure.values))
    if unknown:
        entries.append((UNCLASSED, f"{UNKNOWN_LABEL} ({unknown:,})"))
    return entries


def flat_label(label: str, n: int) -> str | None:
    """A legend label on one line with its count, or None for no commune."""
    return f"{label.replace(chr(10), ' ')} ({n:,})" if n else None


def no_data_label(rows: list[dict[str, Any]]) -> str:
    """The legend label of the communes of `rows` without a count: outside the data, or not
    known to be covered, as their note says (a report's are all one or the other)."""
    return NO_COUNT_LABEL if any(r.get("note") == NO_COUNT_NOTE for r in rows) else NO_DATA_LABEL


def no_data_mark(row: dict[str, Any]) -> str:
    """What a static map writes under the name of the commune of `row`, without a count: its
    note, short, as `no_data_label` chooses the legend's ("no data" for one outside the data)."""
    return NO_COUNT_MARK if row.get("note") == NO_COUNT_NOTE else NO_DATA_MARK


def no_data_name(communes: int) -> str:
    """The name of the area of `communes` without data, as its popup heads it."""
    return f"{communes:,} commune{'s' * (communes != 1)} without data"


def partial_share(row: dict[str, Any]) -> float | None:
    """The covered share of a commune counted on part of its area, else None."""
    coverage = row.get("coverage")
    if row.get("cameras") is None or coverage is None or coverage >= 1:
        return None
    return float(coverage)


# Unicode's bidirectional embeddings, overrides and isolates: matplotlib obeys them, so that
# "Zone\u202eRTL (M08)" was drawn "Zone(80M) LTR", a commune's code reversed.
_BIDI = str.maketrans({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def unreversed(text: str) -> str:
    """`text` with its bidirectional overrides shown as \\u202e: the text that follows it on a
    line (another name, a count) is drawn as written."""
    return text.translate(_BIDI)


def shown_text(text: str) -> str:
    """`text` as a title or a label shows it as written: a control character as \\xNN (a
    terminal escape, a bell in a page's <title>, which an SVG file refuses), a bidirectional
    override as \\u202e (`unreversed`)."""
    return unreversed(printable(text))


def html_text(text: str) -> str:
    """`text` as HTML shows it as written (`shown_text`), escaped: a name in a page is shown
    as the map and the site show it."""
    return html.escape(shown_text(text))


def drawn_text(text: str) -> str:
    """`text` as matplotlib must be given it to draw it as written (`shown_text`), a `$`
    not read as the start of mathematics."""
    return shown_text(text).replace("$", r"\$")


def covered_text(share: float) -> str:
    """0.103 -> "10% covered"; under 1%, "<1% covered"."""
    return f"{share_text(share)} covered"


def value_of(row: dict[str, Any], key: str) -> float | None:
    """The density a map colours a row by; None without a count."""
    value = row.get(key) if row.get("cameras") is not None else None
    return None if value is None or value != value else float(value)



def date_of(report: Report) -> str:
    """The data date, YYYY-MM-DD."""
    return (report.meta.get("data_timestamp") or "unknown date")[:10]


def _file_name(source: str) -> str:
    """A source without its directories: "/data/x/communes.gpkg (3 files)" -> "communes.gpkg (3 files)"."""
    head, _, tail = source.partition(" (")
    name = os.path.basename(head.rstrip("/\\")) or head
    return name + (f" ({tail}" if tail else "")


def ign_year(boundaries: str) -> str | None:
    """The year of IGN's boundaries, from the nearest folder or file name of their source that
    names them with a year ("ign-2018-simplified/departements", "ADMIN-EXPRESS-COG_…_2022-04-15"),
    else None: a year elsewhere in a path (a project's folder) says nothing of them."""
    head = boundaries.partition(" (")[0]
    for part in reversed(re.split(r"[/\\]", head)):
        if KNOWN_BOUNDARIES.search(f"/{part}/") and (year := year_in(part)):
            return year
    return None


def credits(meta: dict[str, Any], credit: str | None = None) -> list[tuple[str, str | None]]:
    """What a published map credits, as (text, link): OSM with its data date, then the
    boundaries and the population by what they are, IGN's with their year when their source
    says it, the population with its year ("year unknown" when no one says). An unknown
    source is named by its file name only, or replaced by `credit`; no path of this machine
    is ever printed."""
    stamp = meta.get("data_timestamp")
    osm = f"© OpenStreetMap contributors (data of {stamp[:10]}), ODbL" if stamp else OSM_CREDIT
    lines: list[tuple[str, str | None]] = [(osm, OSM_URL)]
    unknown = []
    boundaries = str(meta.get("boundaries") or "")
    if KNOWN_BOUNDARIES.search(boundaries):
        year = ign_year(boundaries)
        lines.append((f"Boundaries: IGN ADMIN EXPRESS{f' {year}' if year else ''}, Licence Ouverte", IGN_URL))
    elif boundaries and not OSM_BOUNDARIES.search(boundaries):
        unknown.append(f"Boundaries: {_file_name(boundaries)}")
    population, year = str(meta.get("population_source") or ""), meta.get("population_year")
    if population.endswith("(Etalab COG)") or population == OFFICIAL_SOURCE:  # --population's or shipped
        name = population if population == OFFICIAL_SOURCE else COG_POPULATION
        lines.append((f"Population: {population_text(name, year)}, Licence Ouverte", LICENCE_OUVERTE))
    elif population.startswith("geo.api.gouv.fr"):
        lines.append((f"Population: {population_text('INSEE via geo.api.gouv.fr', year)}, Licence Ouverte",
                      LICENCE_OUVERTE))
    elif population and not population.startswith(OSM_POPULATION):
        unknown.append(f"Population: {population_text(_file_name(population), year)}")
    if credit:
        lines.append((credit, None))
    else:
        lines += [(text, None) for text in unknown]
    return lines


def credit_text(meta: dict[str, Any], credit: str | None = None) -> str:
    """`credits` on one line."""
    return " · ".join(text for text, _ in credits(meta, credit))
