"""Helpers for the store's SQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

BATCH = 500  # bound parameters a query, well under SQLite's old limit of 999


def batches(values: Iterable[Any]) -> Iterator[tuple[str, list[Any]]]:
    """`values` in order, BATCH at a time, each batch with the `?,?,…` of its `IN (…)` list."""
    ordered = sorted(values)
    for start in range(0, len(ordered), BATCH):
        chunk = ordered[start : start + BATCH]
        yield ",".join("?" * len(chunk)), chunk


def rows_in(db: sqlite3.Connection, query: str, values: Iterable[Any]) -> list[Any]:
    """The rows of `query`, whose `IN ({marks})` list takes every one of `values`."""
    return [row for marks, chunk in batches(values) for row in db.execute(query.format(marks=marks), chunk)]


def extract_order(key: str = "key") -> str:
    """An ORDER BY list that sorts camera keys ("node/123") in the order of an extract:
    nodes, ways, relations, each by id."""
    return (f"CASE substr({key}, 1, 1) WHEN 'n' THEN 0 WHEN 'w' THEN 1 ELSE 2 END,"
            f" CAST(substr({key}, instr({key}, '/') + 1) AS INTEGER)")


def kept_value(db: sqlite3.Connection, name: str) -> Any:
    """A value kept with `keep_value` in the store `db` (its kept_state), or None."""
    row = db.execute("SELECT value FROM kept_state WHERE name = ?", (name,)).fetchone()
    return None if row is None else json.loads(row[0])


def keep_value(db: sqlite3.Connection, name: str, value: Any) -> None:
    """Keep a JSON value under `name` in the store `db` (its kept_state)."""
    db.execute("INSERT OR REPLACE INTO kept_state VALUES (?, ?)", (name, json.dumps(value)))

