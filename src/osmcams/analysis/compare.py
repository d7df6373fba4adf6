"""Mapped counts beside the figures that towns and the press report.

The reported figures that ship with osmcams (``data/reported_series.csv``) are dated
facts from French press articles and official pages, several per commune where there
were several: each with its outlet, the date it describes and the date published, its
scope, status and qualifier. A count is set against the figure closest to its data
date; a figure of an area wider than the commune never gives a ratio. A commune the
OSM data does not cover gets no mapped count and no completeness (null, with the
reason), never 0.
"""

from __future__ import annotations

import calendar
import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from importlib.resources import files
from typing import Any

from osmcams.communes.model import department_of
from osmcams.errors import DataError
from osmcams.files import read_input
from osmcams.join import MIN_COVERAGE, NO_COUNT_NOTE, NO_DATA_NOTE, Report, data_age_days, dense, share_text
from osmcams.models import listed

MAX_REPORTED_BYTES = 16 << 20  # a table of figures per commune of France takes a few MB
SERIES_COLUMNS = ("insee", "name", "department", "reported_cameras", "qualifier", "scope", "status",
                  "as_of", "source", "published")
COMMUNE_COLUMNS = ("insee", "name", "department", "reported_cameras", "status", "as_of", "source")
DEPARTMENT_COLUMNS = ("department", "name", "communes_total_stated", "communes_with_cameras",
                      "reported_cameras_min", "reported_cameras_max", "as_of", "source")
FIGURE_KEYS = ("reported_cameras", "qualifier", "scope", "status", "as_of", "published", "reported_source")
COMPARE_KEYS = (*FIGURE_KEYS, "completeness", "completeness_qualifier", "flags", "reason")
NO_FIGURE = "no commune of the selection has a reported figure"
QUALIFIERS = ("exact", "about", "at_least")
# A ratio mapped ÷ reported inherits the figure's qualifier: a minimum gives a maximum.
RATIO_QUALIFIER = {"exact": "exact", "about": "about", "at_least": "at_most"}
# A ratio from a count that is a lower bound is one too, and an approximate one stays so.
FLOOR_QUALIFIER = {"exact": "at_least", "about": "at_least_about"}
STATUSES = ("installed", "planned", "annulled")
# Words of a scope wider than the commune (an urban area, a metropolis, a department...);
# a network (municipal, national police, a police department's) is counted in the commune.
WIDER = re.compile(
    r"urban area|aire urbaine|unit[ée] urbaine|m[ée]tropol|agglom|intercommun|communaut[ée]|"
    r"\bepci\b|(?<!police )department|d[ée]partement|\bregion|r[ée]gion", re.IGNORECASE)
OUTDATED_YEARS = 2
NOT_KEPT = "the osmcams that counted did not keep its coverage: no ratio"
INCOMPLETE = "the mapped count is incomplete"
SHIPPED = ("reported_series.csv", "reported_departments.csv")


@dataclass
class Reported:
    """Reported figures, all of them per commune (oldest first) and per department, and
    the files they come from."""

    communes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    # Where each figure was read ("FILE, line N"): one given twice, in one file or two, is refused.
    places: dict[tuple[Any, ...], tuple[str, int]] = field(default_factory=dict, repr=False)


def read_reported(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (), today: date | None = None
) -> Reported:
    """The figures of `paths` (one file, or several: series, one-figure-per-commune or
    department tables), else those shipped with osmcams. `today`: no figure may describe a
    later date but a plan."""
    reported = Reported()
    today = today or date.today()
    if not paths:
        for name in SHIPPED:
            text = files("osmcams.analysis").joinpath(f"data/{name}").read_text(encoding="utf-8")
            _add_table(reported, text, f"osmcams:{name}", today)
    for path in listed(paths):
        _add_table(reported, _text(path), str(path), today)
    for series in reported.communes.values():
        series.sort(key=lambda f: (f["as_of"] is None, f["as_of"] and start_of(f["as_of"]),
                                   f["as_of"] and end_of(f["as_of"])))
    return reported


def _text(path: str | os.PathLike[str]) -> str:
    """A table's text: UTF-8, else Windows-1252, as a spreadsheet in French saves a CSV."""
    data = read_input(path, MAX_REPORTED_BYTES, "reported figures")
    if data.startswith(b"PK\x03\x04"):  # a zip, as .xlsx and .ods files are
        raise DataError(f"{path}: a spreadsheet, not a CSV table: save it as CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: cannot read the reported figures: neither UTF-8 nor Windows-1252 "
                        f"text (byte {e.object[e.start]:#04x} at {e.start:,})") from e


def _add_table(reported: Reported, text: str, source: str, today: date) -> None:
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text))
    try:
        columns = {name.strip() for name in reader.fieldnames or []}
        reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
        # Each row with the line it ends on, as a reader of the file counts them: blank lines
        # and line breaks inside a field count too.
        rows = [(row, reader.line_num) for row in reader]
    except csv.Error as e:  # a field over csv's limit of 128 KiB
        raise DataError(f"{source}, line {reader.line_num + 1}: {e}") from None
    if set(SERIES_COLUMNS) <= columns or set(COMMUNE_COLUMNS) <= columns:
        parse = _series if set(SERIES_COLUMNS) <= columns else _commune
        for row, line in rows:
            figure = _parsed(parse, row, today, source, line)
            key = tuple(figure[k] for k in ("insee", "reported_cameras", "scope", "status", "as_of",
                                            "source"))
            if key in reported.places:
                file, first = reported.places[key]
                where = (f"{file}, line {first}" if file != source
                         else "itself: the file is given twice" if first == line else f"line {first}")
                raise DataError(f"{source}, line {line}: the same figure as {where}")
            reported.places[key] = source, line
            reported.communes.setdefault(figure["insee"], []).append({**figure, "file": source})
    elif set(DEPARTMENT_COLUMNS) <= columns:
        for row, line in rows:
            figure = _parsed(_department, row, today, source, line)
            reported.departments[figure["department"]] = {**figure, "file": source}
    else:
        raise DataError(f"{source}: not a table of reported figures; its columns should be "
                        f"{', '.join(SERIES_COLUMNS)} (or {', '.join(COMMUNE_COLUMNS)}; "
                        f"or, per department, {', '.join(DEPARTMENT_COLUMNS)})")
    reported.sources.append(source)


def _delimiter(text: str) -> str:
    """The delimiter of a table's header: a comma, or the semicolon of a spreadsheet saved in
    French (or a tab), whichever cuts it into the most known column names."""
    header = text.split("\n", 1)[0]
    known = {*SERIES_COLUMNS, *COMMUNE_COLUMNS, *DEPARTMENT_COLUMNS}
    return max((",", ";", "\t"), key=lambda d: len(known & {name.strip() for name in header.split(d)}))


def _parsed(parse: Any, row: dict[str, str], today: date, source: str, line: int) -> dict[str, Any]:
    try:
        if None in row or any(value is None for value in row.values()):
            raise ValueError("the row does not have as many fields as the header")
        return parse(row, today)  # type: ignore[no-any-return]
    except (ValueError, TypeError) as e:
        raise DataError(f"{source}, line {line}: {e}") from e


MOST_REPORTED = 1_000_000  # cameras of one place: far above any network reported


def _count(value: str | None, what: str, required: bool = True) -> int | None:
    text = (value or "").strip()
    if not text and not required:
        return None
    if not (text.isascii() and text.isdigit() and int(text) <= MOST_REPORTED):
        raise ValueError(f"{what} must be a whole number from 0 to {MOST_REPORTED:,}, not {value!r}")
    return int(text)


def _date_text(value: str | None, what: str, today: date, required: bool = False) -> str | None:
    """A date as precise as its source (2022, 2022-05 or 2022-05-31), checked, or None."""
    text = (value or "").strip()
    if not text and not required:
        return None
    if not re.fullmatch(r"\d{4}(-\d\d(-\d\d)?)?", text):
        raise ValueError(f"{what} must be a date such as 2022, 2022-05 or 2022-05-31, not {value!r}")
    try:
        first = start_of(text)
        end_of(text)
    except ValueError as e:
        raise ValueError(f"{what} {text!r} is not a date: {e}") from e
    if first.year < 1990:
        raise ValueError(f"{what} {text} is before any municipal camera network")
    if first > today:
        raise ValueError(f"{what} {text} is in the future (today is {today})")
    return text


def _code(value: str, department: str | None) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", code):
        raise ValueError(f"{value!r} is not an INSEE commune code")
    given = (department or "").strip().upper()
    if given and given.lstrip("0") != (department_of(code) or "").lstrip("0"):
        raise ValueError(f"department {given} is not that of the commune {code}")
    return code


def _choice(value: str | None, what: str, allowed: tuple[str, ...]) -> str:
    text = (value or "").strip().lower()
    if text not in allowed:
        raise ValueError(f"{what} must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {value!r}")
    return text


def _series(row: dict[str, str], today: date) -> dict[str, Any]:
    """One dated figure of a series table."""
    code = _code(row["insee"], row["department"])
    status = _choice(row["status"], "status", STATUSES)
    # Only a plan may describe a date to come; the figure was published by today all the same.
    as_of = _date_text(row["as_of"], "as_of", date.max if status == "planned" else today)
    published = _date_text(row["published"], "published", today)
    name, source = row["name"].strip(), row["source"].strip()
    if not name or not source:
        raise ValueError("every figure needs the commune's name and its source")
    scope = row["scope"].strip() or None
    return {
        "insee": code, "name": name, "department": department_of(code),
        "reported_cameras": _count(row["reported_cameras"], "reported_cameras"),
        "qualifier": _choice(row["qualifier"], "qualifier", QUALIFIERS),
        "scope": scope, "commune_scope": commune_scope(scope), "status": status,
        "as_of": as_of, "published": published, "source": source,
        "note": (row.get("note") or "").strip() or None,
    }


def _commune(row: dict[str, str], today: date) -> dict[str, Any]:
    """A figure of the one-figure-per-commune shape: exact, of the commune's own network."""
    return _series({**row, "qualifier": "exact", "scope": "", "published": ""}, today)


def commune_scope(scope: str | None) -> bool:
    """Whether a figure's scope is the commune (unsaid: taken as the commune), not an urban
    area, a metropolis, a department or any other wider area."""
    return not (scope and WIDER.search(scope))


def _department(row: dict[str, str], today: date) -> dict[str, Any]:
    low = _count(row["reported_cameras_min"], "reported_cameras_min", False)
    high = _count(row["reported_cameras_max"], "reported_cameras_max", False)
    if low is not None and high is not None and low > high:
        raise ValueError(f"reported_cameras_min {low} is above reported_cameras_max {high}")
    return {
        "department": row["department"].strip().upper(), "name": row["name"].strip(),
        "communes_total_stated": _count(row["communes_total_stated"], "communes_total_stated", False),
        "communes_with_cameras": _count(row["communes_with_cameras"], "communes_with_cameras", False),
        "reported_cameras_min": low, "reported_cameras_max": high,
        "as_of": _date_text(row["as_of"], "as_of", today, required=True), "source": row["source"].strip(),
        "note": (row.get("note") or "").strip() or None,
    }


def start_of(as_of: str) -> date:
    """The first day a reported date can mean: 2019 -> 2019-01-01, 2022-05 -> 2022-05-01."""
    parts = [int(p) for p in as_of.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def end_of(as_of: str) -> date:
    """The last day a reported date can mean: 2019 -> 2019-12-31, 2022-05 -> 2022-05-31."""
    parts = [int(p) for p in as_of.split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else 12
    day = parts[2] if len(parts) > 2 else calendar.monthrange(year, month)[1]
    return date(year, month, day)


def moment_of(as_of: str) -> datetime:
    """The instant a dated figure is set against OSM: the end of the period it describes
    (2019 -> 2020-01-01T00:00Z, 2022-05 -> 2022-06-01T00:00Z)."""
    return datetime.combine(end_of(as_of) + timedelta(days=1), time(), timezone.utc)


def _distance(figure: dict[str, Any], data_date: date) -> int:
    """Days between the data date and the period the figure describes (0: within it)."""
    first, last = start_of(figure["as_of"]), end_of(figure["as_of"])
    return max((first - data_date).days, (data_date - last).days, 0)


def closest(figures: list[dict[str, Any]], data_timestamp: str | None) -> dict[str, Any]:
    """The figure nearest the data date (without one, the latest), a plan for a date after
    it only when there is nothing else. Of figures as near, the one of the commune's own
    scope, installed, described last. Undated ones come last."""
    data_date = _date(data_timestamp)
    dated = [f for f in figures if f["as_of"]]
    if not dated:
        return figures[-1]

    def rank(f: dict[str, Any]) -> tuple[bool, int, bool, bool, int]:
        later = data_date is not None and start_of(f["as_of"]) > data_date
        far = _distance(f, data_date) if data_date else 0
        return (later and f["status"] == "planned", far, not f["commune_scope"], f["status"] != "installed",
                -end_of(f["as_of"]).toordinal())

    return min(dated, key=rank)


def flags(figure: dict[str, Any], data_timestamp: str | None) -> list[str]:
    """Why a reported figure should be read with care."""
    found = []
    if not figure["commune_scope"]:
        found.append(f"scope: {figure['scope']}")
    if figure["status"] == "planned":
        found.append("planned: a target, not cameras in place")
    if figure["status"] == "annulled":
        found.append("annulled: cameras ruled out")
    data_date = _date(data_timestamp)
    if figure["as_of"] is None:
        found.append("the figure is not dated")
    elif data_date is not None and (data_date - end_of(figure["as_of"])).days > OUTDATED_YEARS * 365.25:
        found.append(f"reported {figure['as_of']}, more than {OUTDATED_YEARS} years before the OSM data")
    elif data_date is not None and start_of(figure["as_of"]) > data_date:
        found.append(f"describes {figure['as_of']}, after the OSM data")
    if figure.get("note"):  # what the table says of its own figure ("communes about to be equipped")
        found.append(figure["note"])
    return found


def ratio(mapped: int, figure: dict[str, Any], short: str | None = None, floor: bool = False
          ) -> tuple[float | None, str | None, str | None]:
    """Completeness mapped ÷ reported, its qualifier, or the reason there is none. `short`:
    why the commune's count says too little for a ratio, its coverage being under what
    densities need (it would read as 0 % where there is almost no data); `floor`: the count
    is a lower bound (the data covers most of the commune, not all), and so is the ratio."""
    if short is not None:
        return None, None, short
    if not figure["commune_scope"]:
        return None, None, "the figure's scope is not the commune: no ratio"
    if figure["status"] == "annulled":
        return None, None, "the figure is of annulled cameras: no ratio"
    if not figure["reported_cameras"]:
        return None, None, "the reported figure is 0: no ratio"
    qualifier = RATIO_QUALIFIER[figure["qualifier"]]
    if floor and qualifier == "at_most":
        return None, None, f"{INCOMPLETE}, the figure a minimum: no ratio"
    share = mapped / figure["reported_cameras"]  # to 3 decimals, or 2 significant digits under 1 %
    return (round(share, 3) if share >= 0.01 or not share else float(f"{share:.2g}"),
            FLOOR_QUALIFIER[qualifier] if floor else qualifier, None)


def partial(row: dict[str, Any]) -> list[str]:
    """A flag for a count from data that covers only part of the commune."""
    coverage = row.get("coverage")
    if row.get("cameras") is None or coverage is None or coverage >= 1:
        return []
    return [f"the OSM data covers {share_text(coverage)} of the commune: {INCOMPLETE}"]


def _date(timestamp: str | None) -> date | None:
    if data_age_days(timestamp) is None:
        return None
    return date.fromisoformat(str(timestamp)[:10])


@dataclass(frozen=True)
class Kept:
    """A commune's count kept by a run of the refresh's store, with the coverage and the
    lower-bound flag kept beside it (null from an osmcams that did not keep them)."""

    cameras: int
    coverage: float | None
    partial: bool | None


# commune -> as_of -> the cameras mapped at its moment (from a store, as a run kept them),
# or why they are not known
Then = dict[str, dict[str, "int | Kept | str"]]


def compare(report: Report, reported: Reported, named: bool, then: Then | None = None) -> Report:
    """The count's rows beside the reported figures, and a summary per department.

    Each row sets the figure closest to the data date against the count, and lists every
    figure of the commune as `series`; with `then` (counts from a history at each figure's
    `moment_of`), each with the cameras mapped then. `named`: the communes were asked for
    by name, so each gets a row even without a reported figure. Otherwise only communes
    with a reported figure get one, and the departments of the selection are summarised.
    """
    timestamp = report.meta.get("data_timestamp")
    by_code = {row["insee"]: row for row in [*report.rows, *report.outside]}  # outside: no count
    selected = list(report.cameras)  # every code asked for, covered by the data or not
    rows = []
    for code in selected:
        figures = reported.communes.get(code, [])
        if not figures and not named:
            continue
        rows.append(_row(by_code.get(code), code, figures, timestamp, then,
                         report.meta.get("min_coverage", MIN_COVERAGE)))
    departments = [] if named else [
        _department_row(code, figure, report, selected, timestamp)
        for code, figure in reported.departments.items()
        if any(department_of(c) == code for c in selected)
    ]
    warnings = list(report.warnings)
    if not rows:
        warnings.append(NO_FIGURE)
    meta = {**report.meta, "reported_sources": reported.sources,
            "completeness": "mapped cameras ÷ reported cameras, for a figure of the commune's own "
                            "scope; about for an approximate figure, at most for a minimum; at "
                            "least (at least about) from a partly covered commune's count",
            "reported_figure": "the one closest to the data date; `series` lists them all",
            "mapped_then": ("cameras mapped at the end of the period each figure describes, from "
                            "the history" if then is not None else None)}
    extra = {"departments": departments}
    if then is not None:
        extra["over_time"] = [point for row in rows for point in row["series"]]
    return Report(meta, rows, warnings, report.cameras, report.boundaries, extra=extra)


def series_point(
    code: str, name: str, figure: dict[str, Any], then: Then | None, data_timestamp: str | None,
    short: str | None = None, row: dict[str, Any] | None = None, min_coverage: float = MIN_COVERAGE,
) -> dict[str, Any]:
    """One dated figure beside the cameras mapped at its moment, when a history tells; with
    the commune's count `row`, whether that is a lower bound (partial) and its coverage. A
    count a store kept is judged by the coverage kept with it instead (`short` and `row`
    describe the count now)."""
    moment = None if figure["as_of"] is None else moment_of(figure["as_of"])
    known = None if then is None or moment is None else then.get(code, {}).get(figure["as_of"])
    if isinstance(known, Kept):
        row = {"cameras": known.cameras, "coverage": known.coverage, "partial": known.partial}
        short = NOT_KEPT if known.partial is None else too_short(row, min_coverage)
        known = known.cameras
    mapped = known if isinstance(known, int) else None
    if mapped is not None:
        completeness, qualifier, reason = ratio(mapped, figure, short, bool(row and partial(row)))
    else:
        stamp = _instant(data_timestamp)
        completeness, qualifier = None, None
        reason = ("no history of the OSM data" if then is None
                  else "the figure is not dated" if moment is None
                  else known if isinstance(known, str)
                  else "after the data date" if stamp is not None and moment > stamp
                  else uncounted(row))
    return {
        "insee": code, "name": name, **_figure_keys(figure),
        "moment": None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}",
        "mapped_then": mapped, "partial": row and row["partial"], "coverage": row and row["coverage"],
        "completeness": completeness,
        "completeness_qualifier": qualifier, "reason": reason,
    }


def _instant(timestamp: str | None) -> datetime | None:
    if data_age_days(timestamp) is None:
        return None
    return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))


def _figure_keys(figure: dict[str, Any] | None) -> dict[str, Any]:
    """The FIGURE_KEYS of a figure (its `source` as `reported_source`), all null without one."""
    if figure is None:
        return dict.fromkeys(FIGURE_KEYS)
    return {key: figure["source"] if key == "reported_source" else figure[key] for key in FIGURE_KEYS}


def uncounted(row: dict[str, Any] | None) -> str:
    """Why a commune has no count, as count notes it: the data does not say whether it covers
    it, or it lies outside the data (also when it was left out of the count, `row` None)."""
    return NO_COUNT_NOTE if row is not None and row.get("note") == NO_COUNT_NOTE else NO_DATA_NOTE


def too_short(row: dict[str, Any], min_coverage: float = MIN_COVERAGE) -> str | None:
    """Why the count of `row` says too little for a ratio (its coverage is under
    `min_coverage`), or None. Said once: the flag of a partial count goes into it."""
    coverage = row.get("coverage")
    if row.get("cameras") is None or dense(coverage, min_coverage):
        return None
    return ("the OSM data covers an unknown share of the commune: no ratio" if coverage is None
            else f"the OSM data covers {share_text(coverage)} of the commune: {INCOMPLETE}, no ratio")


def _row(
    row: dict[str, Any] | None, code: str, figures: list[dict[str, Any]], timestamp: str | None,
    then: Then | None, min_coverage: float,
) -> dict[str, Any]:
    from osmcams.join import ROW_KEYS

    figure = closest(figures, timestamp) if figures else None
    if row is None:  # left out of the count, outline and all: the data does not cover it
        row = dict.fromkeys(ROW_KEYS)
        row.update(insee=code, name=figure["name"] if figure else code, department=department_of(code),
                   partial=False, note=uncounted(None))
    mapped = row.get("cameras")
    short = too_short(row, min_coverage)
    completeness, qualifier, reason = (
        (None, None, uncounted(row) + ("" if figure else "; no reported figure")) if mapped is None
        else ratio(mapped, figure, short, bool(partial(row))) if figure
        else (None, None, "no reported figure"))
    return {
        **row,
        **_figure_keys(figure),
        "completeness": completeness,
        "completeness_qualifier": qualifier,
        "flags": (flags(figure, timestamp) if figure else []) + ([] if short and figure else partial(row)),
        "reason": reason,
        "series": [series_point(code, row["name"], f, then, timestamp, short, row, min_coverage)
                   for f in figures],
    }


def _department_row(
    code: str, figure: dict[str, Any], report: Report, selected: list[str], timestamp: str | None
) -> dict[str, Any]:
    codes = [c for c in selected if department_of(c) == code]
    counted = [r for r in report.rows if r["insee"] in codes and r.get("cameras") is not None]
    whole = len(counted) == len(codes) and not any(partial(r) for r in counted)
    reason = None if whole else (
        f"{len(codes) - len(counted) + sum(bool(partial(r)) for r in counted)} of {len(codes)} "
        "communes are not wholly covered by the OSM data"
    )
    mapped = sum(r["cameras"] for r in counted) if whole else None
    equipped = sum(r["cameras"] > 0 for r in counted) if whole else None
    return {
        "department": code, "name": figure["name"],
        "communes": len(codes),
        "communes_with_mapped_cameras": equipped,
        "communes_with_cameras_reported": figure["communes_with_cameras"],
        "communes_total_stated": figure["communes_total_stated"],
        "mapped_cameras": mapped,
        "reported_cameras_min": figure["reported_cameras_min"],
        "reported_cameras_max": figure["reported_cameras_max"],
        "as_of": figure["as_of"], "reported_source": figure["source"],
        "flags": flags({**figure, "status": "installed", "qualifier": "exact", "commune_scope": True},
                       timestamp),
        "reason": reason,
    }
