"""Mapped counts beside the figures that towns and the press report.

The reported figures that ship with osmcams (``data/``) are facts from French press
articles, each with its source and date. A commune the OSM data does not cover gets
no mapped count and no completeness (null, with the reason), never 0.
"""

from __future__ import annotations

import calendar
import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

from osmcams.communes.model import department_of
from osmcams.errors import DataError
from osmcams.join import Report, data_age_days

COMMUNE_COLUMNS = ("insee", "name", "department", "reported_cameras", "status", "as_of", "source")
DEPARTMENT_COLUMNS = ("department", "name", "communes_total_stated", "communes_with_cameras",
                      "reported_cameras_min", "reported_cameras_max", "as_of", "source")
COMPARE_KEYS = ("reported_cameras", "as_of", "status", "reported_source", "completeness", "flags", "reason")
STATUSES = ("installed", "planned")
OUTDATED_YEARS = 2
SHIPPED = ("reported_counts.csv", "reported_departments.csv")


@dataclass
class Reported:
    """Reported figures per commune and per department, and the files they come from."""

    communes: dict[str, dict[str, Any]] = field(default_factory=dict)
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def read_reported(paths: tuple[str | os.PathLike[str], ...] = ()) -> Reported:
    """The figures of `paths` (commune or department tables), else those shipped with osmcams."""
    reported = Reported()
    if not paths:
        for name in SHIPPED:
            text = files("osmcams.analysis").joinpath(f"data/{name}").read_text(encoding="utf-8")
            _add_table(reported, text, f"osmcams:{name}")
        return reported
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read the reported figures: {e}") from e
        _add_table(reported, text, str(path))
    return reported


def _add_table(reported: Reported, text: str, source: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    columns = set(rows[0]) if rows else set()
    if set(COMMUNE_COLUMNS) <= columns:
        table, key, parse = reported.communes, "insee", _commune
    elif set(DEPARTMENT_COLUMNS) <= columns:
        table, key, parse = reported.departments, "department", _department
    else:
        raise DataError(f"{source}: not a table of reported figures; its columns should be "
                        f"{', '.join(COMMUNE_COLUMNS)} (or, per department, {', '.join(DEPARTMENT_COLUMNS)})")
    for line, row in enumerate(rows, 2):
        try:
            record = parse(row)
        except (ValueError, TypeError) as e:
            raise DataError(f"{source}, line {line}: {e}") from e
        table[record[key]] = {**record, "file": source}
    reported.sources.append(source)


def _count(value: str | None, what: str, required: bool = True) -> int | None:
    text = (value or "").strip()
    if not text and not required:
        return None
    if not text.isdigit():
        raise ValueError(f"{what} must be a whole number, not {value!r}")
    return int(text)


def _as_of(value: str | None) -> str:
    text = (value or "").strip()
    if not re.fullmatch(r"(19|20)\d\d(-(0[1-9]|1[0-2])(-\d\d)?)?", text):
        raise ValueError(f"as_of must be a date such as 2022, 2022-05 or 2022-05-31, not {value!r}")
    return text


def _commune(row: dict[str, str]) -> dict[str, Any]:
    code = row["insee"].strip().upper()
    if not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", code):
        raise ValueError(f"{row['insee']!r} is not an INSEE commune code")
    status = row["status"].strip().lower()
    if status not in STATUSES:
        raise ValueError(f"status must be installed or planned, not {row['status']!r}")
    return {
        "insee": code, "name": row["name"].strip(), "department": department_of(code),
        "reported_cameras": _count(row["reported_cameras"], "reported_cameras"),
        "status": status, "as_of": _as_of(row["as_of"]), "source": row["source"].strip(),
        "note": (row.get("note") or "").strip() or None,
    }


def _department(row: dict[str, str]) -> dict[str, Any]:
    return {
        "department": row["department"].strip().upper(), "name": row["name"].strip(),
        "communes_total_stated": _count(row["communes_total_stated"], "communes_total_stated", False),
        "communes_with_cameras": _count(row["communes_with_cameras"], "communes_with_cameras", False),
        "reported_cameras_min": _count(row["reported_cameras_min"], "reported_cameras_min", False),
        "reported_cameras_max": _count(row["reported_cameras_max"], "reported_cameras_max", False),
        "as_of": _as_of(row["as_of"]), "source": row["source"].strip(),
        "note": (row.get("note") or "").strip() or None,
    }


def end_of(as_of: str) -> date:
    """The last day a reported date can mean: 2019 -> 2019-12-31, 2022-05 -> 2022-05-31."""
    parts = [int(p) for p in as_of.split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else 12
    day = parts[2] if len(parts) > 2 else calendar.monthrange(year, month)[1]
    return date(year, month, day)


def flags(figure: dict[str, Any], data_timestamp: str | None) -> list[str]:
    """Why a reported figure should be read with care."""
    found = []
    if figure["status"] == "planned":
        found.append("planned: a target, not cameras in place")
    data_date = _date(data_timestamp)
    if data_date is not None and (data_date - end_of(figure["as_of"])).days > OUTDATED_YEARS * 365.25:
        found.append(f"reported {figure['as_of']}, more than {OUTDATED_YEARS} years before the OSM data")
    return found


def partial(row: dict[str, Any]) -> list[str]:
    """A flag for a count from data that covers only part of the commune."""
    coverage = row.get("coverage")
    if row.get("cameras") is None or coverage is None or coverage >= 1:
        return []
    return [f"the OSM data covers {coverage:.0%} of the commune: the mapped count is incomplete"]


def _date(timestamp: str | None) -> date | None:
    if data_age_days(timestamp) is None:
        return None
    return date.fromisoformat(str(timestamp)[:10])


def compare(report: Report, reported: Reported, named: bool) -> Report:
    """The count's rows beside the reported figures, and a summary per department.

    `named`: the communes were asked for by name, so each gets a row even without a
    reported figure. Otherwise only communes with a reported figure get one, and the
    departments of the selection are summarised.
    """
    timestamp = report.meta.get("data_timestamp")
    by_code = {row["insee"]: row for row in report.rows}
    selected = list(report.cameras)  # every code asked for, covered by the data or not
    rows = []
    for code in selected:
        figure = reported.communes.get(code)
        if figure is None and not named:
            continue
        rows.append(_row(by_code.get(code), code, figure, timestamp))
    departments = [] if named else [
        _department_row(code, figure, report, selected, timestamp)
        for code, figure in reported.departments.items()
        if any(department_of(c) == code for c in selected)
    ]
    warnings = list(report.warnings)
    if not rows:
        warnings.append("no commune of the selection has a reported figure")
    meta = {**report.meta, "reported_sources": reported.sources,
            "completeness": "mapped cameras ÷ reported cameras"}
    return Report(meta, rows, warnings, report.cameras, report.boundaries,
                  extra={"departments": departments})


def _row(
    row: dict[str, Any] | None, code: str, figure: dict[str, Any] | None, timestamp: str | None
) -> dict[str, Any]:
    from osmcams.join import ROW_KEYS

    if row is None:  # left out of the count: the data does not cover it
        row = dict.fromkeys(ROW_KEYS)
        row.update(insee=code, name=figure["name"] if figure else code, department=department_of(code))
    mapped = row.get("cameras")
    reason = row.get("reason")
    if mapped is None and reason is None:
        reason = "the OSM data does not cover this commune"
    reported = figure["reported_cameras"] if figure else None
    completeness = None
    if mapped is not None and reported:
        completeness = round(mapped / reported, 3)
    elif figure and mapped is not None:
        reason = "the reported figure is 0: no ratio"
    return {
        **row,
        "reported_cameras": reported,
        "as_of": figure["as_of"] if figure else None,
        "status": figure["status"] if figure else None,
        "reported_source": figure["source"] if figure else None,
        "completeness": completeness,
        "flags": (flags(figure, timestamp) if figure else []) + partial(row),
        "reason": reason if figure else reason or "no reported figure",
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
        "flags": flags({**figure, "status": "installed"}, timestamp),
        "reason": reason,
    }
