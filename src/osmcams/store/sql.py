"""Helpers for the store's SQL."""

from __future__ import annotations

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
