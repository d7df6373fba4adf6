"""The history store: one SQLite file holding every run, count, camera and change.

Tables (schema version in ``PRAGMA user_version``, migrated forward on open):

- ``runs``: one row per run that changed the data: its data timestamp, replication
  sequence, source, osmcams version, start and end time, and the source and year of the
  populations of its counts;
- ``counts``: cameras per commune, per run, with the share of the commune inside the data
  (``coverage``) and whether that count is a lower bound (``partial``);
- ``cameras``: every camera ever seen in the selected communes, with its first-seen and
  last-seen data timestamps and its latest position, tags and commune (``present`` is 0
  once it is gone; while it is present, ``last_seen`` is NULL: it is the latest run's,
  as the view ``cameras_seen`` shows, so that a run writes only the cameras it touched);
- ``changes``: what each run added, removed, moved or retagged; a camera that moves from
  one commune to another is "moved out" of the one (where it was) and "moved in" to the
  other (where it is now); one that moves out of every commune while it is still a camera
  in OSM is "moved out" alone, one that comes into a commune from outside "moved in" alone:
  "removed" is a camera deleted from OSM or no longer tagged one, "added" the reverse;
- ``kept_*``: what refresh keeps to apply replication diffs (see mirror.py) and to
  publish only what they change, from the store (kept.py, refresh/run.py).

A run is one transaction (`Store.transaction`): a killed run leaves no trace.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Container, Iterable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmcams.errors import CommuneNotFound, DataError, UsageError
from osmcams.files import uninterrupted
from osmcams.models import Camera
from osmcams.store.sql import extract_order, rows_in

HALVES = ("moved out", "moved in")
# How the whole of a run names a move out or in without its other half: the camera left
# every commune, or came into one from outside, and is still a camera in OSM.
ALONE = {"moved out": "moved out of the communes", "moved in": "moved in from outside"}
MOVED_DEGREES = 1e-7  # closer than this (about 1 cm) is the same place


def run_kinds(changes: Iterable[tuple[str, str]]) -> dict[str, int]:
    """How many changes of each kind a run made, from its (kind, camera key) changes: a
    move out or in without the other half (`ALONE`) counted apart."""
    kinds: dict[str, int] = {}
    halves: dict[str, list[str]] = {}
    for kind, key in changes:
        if kind in HALVES:
            halves.setdefault(key, []).append(kind)
        else:
            kinds[kind] = kinds.get(kind, 0) + 1
    for found in halves.values():
        for kind in found:
            name = kind if len(found) > 1 else ALONE[kind]
            kinds[name] = kinds.get(name, 0) + 1
    return kinds


def one_move_each(kinds: dict[str, int]) -> dict[str, int]:
    """`kinds` (how many changes of each kind, as `run_kinds` counts them) with each move
    between communes one "moved" (its "moved in" half; its "moved out" half dropped), as
    the whole of a run says it; the moves out of every commune or in from outside stay."""
    merged = dict(kinds)
    merged["moved"] = merged.get("moved", 0) + merged.pop("moved in", 0)
    merged.pop("moved out", None)
    return merged


@dataclass(frozen=True)
class Migration:
    """What one version of the schema adds to the one before; `readers`: whether what reads
    the store without writing it (history, changes, site, compare) needs it, else a store
    without it reads as it is, and the next refresh migrates it."""

    name: str
    sql: str
    readers: bool = True


# MIGRATIONS[i] takes the schema from version i to i + 1.
MIGRATIONS = [
    Migration("runs, counts, cameras and changes", """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        data_timestamp TEXT,
        sequence INTEGER,
        source TEXT NOT NULL,
        osmcams_version TEXT NOT NULL,
        started TEXT NOT NULL,
        ended TEXT NOT NULL,
        diffs INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE counts (
        run INTEGER NOT NULL REFERENCES runs(id),
        insee TEXT NOT NULL,
        name TEXT NOT NULL,
        cameras INTEGER NOT NULL,
        population INTEGER,
        cameras_per_km2 REAL,
        cameras_per_10k REAL,
        PRIMARY KEY (run, insee)
    );
    CREATE TABLE cameras (
        key TEXT PRIMARY KEY,
        first_seen TEXT,
        last_seen TEXT,
        present INTEGER NOT NULL,
        lon REAL NOT NULL,
        lat REAL NOT NULL,
        tags TEXT NOT NULL,
        insee TEXT
    );
    CREATE TABLE changes (
        run INTEGER NOT NULL REFERENCES runs(id),
        key TEXT NOT NULL,
        change TEXT NOT NULL CHECK (change IN ('added', 'removed', 'moved', 'retagged')),
        insee TEXT,
        lon REAL NOT NULL,
        lat REAL NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX changes_run ON changes(run);
    CREATE TABLE kept_state (name TEXT PRIMARY KEY, value);
    CREATE TABLE kept_objects (
        key TEXT PRIMARY KEY,
        tags TEXT NOT NULL,
        timestamp TEXT,
        nodes TEXT NOT NULL,
        ways TEXT NOT NULL,
        lon REAL,
        lat REAL,
        partial INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE kept_locations (id INTEGER PRIMARY KEY, lon REAL, lat REAL);
    CREATE TABLE kept_ways (id INTEGER PRIMARY KEY, refs TEXT);
    """),
    # A present camera's last_seen is the latest run's data timestamp (view cameras_seen).
    Migration("what an incremental run needs: each camera's commune, the communes, the rows", """
    ALTER TABLE kept_objects ADD COLUMN insee TEXT;
    ALTER TABLE kept_objects ADD COLUMN bad_direction INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX kept_objects_insee ON kept_objects(insee);
    CREATE TABLE kept_communes (id INTEGER PRIMARY KEY, insee TEXT NOT NULL, shape BLOB NOT NULL);
    CREATE VIRTUAL TABLE kept_boxes USING rtree(id, min_lon, max_lon, min_lat, max_lat);
    CREATE TABLE kept_rows (
        insee TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        published INTEGER NOT NULL,
        name TEXT NOT NULL,
        department TEXT,
        population INTEGER,
        area REAL NOT NULL,
        coverage REAL,
        cameras INTEGER NOT NULL,
        cameras_per_km2 REAL,
        json TEXT NOT NULL,
        csv TEXT NOT NULL
    );
    CREATE INDEX counts_insee ON counts(insee, run);
    UPDATE cameras SET last_seen = NULL WHERE present = 1;
    CREATE VIEW cameras_seen AS SELECT key, first_seen,
        coalesce(last_seen, (SELECT data_timestamp FROM runs ORDER BY id DESC LIMIT 1)) AS last_seen,
        present, lon, lat, tags, insee FROM cameras;
    """),
    Migration("each camera's feature line and the tags its commune's row tallies", """
    ALTER TABLE kept_objects ADD COLUMN feature TEXT;
    ALTER TABLE kept_objects ADD COLUMN surveillance_type TEXT;
    ALTER TABLE kept_objects ADD COLUMN surveillance TEXT;
    DELETE FROM kept_state WHERE name = 'communes';
    CREATE INDEX kept_objects_partial ON kept_objects(key) WHERE partial;
    CREATE INDEX kept_objects_unplaced ON kept_objects(key) WHERE lon IS NULL;
    """),
    Migration("the cameras by place, to tell cheaply whether the area the data covers changed", """
    CREATE INDEX kept_objects_lon ON kept_objects(lon, lat);
    CREATE INDEX kept_objects_lat ON kept_objects(lat);
    DELETE FROM kept_state WHERE name = 'communes';
    """),
    Migration("the cameras whose direction cannot be read, counted without reading every row", """
    CREATE INDEX kept_objects_bad ON kept_objects(lon) WHERE bad_direction;
    """),
    # A stored "moved" whose commune differs from the camera's change before it is split.
    Migration("moves between communes: moved out of the commune left, moved in to the other", """
    CREATE TABLE changes_6 (
        run INTEGER NOT NULL REFERENCES runs(id),
        key TEXT NOT NULL,
        change TEXT NOT NULL CHECK (change IN
            ('added', 'removed', 'moved', 'moved out', 'moved in', 'retagged')),
        insee TEXT,
        lon REAL NOT NULL,
        lat REAL NOT NULL,
        tags TEXT NOT NULL
    );
    INSERT INTO changes_6
    SELECT run, key, CASE WHEN NOT across THEN change WHEN part THEN 'moved out' ELSE 'moved in' END,
           CASE WHEN part THEN before ELSE insee END, CASE WHEN part THEN x ELSE lon END,
           CASE WHEN part THEN y ELSE lat END, CASE WHEN part THEN was ELSE tags END
    FROM (SELECT *, change = 'moved' AND x IS NOT NULL AND before IS NOT insee AS across
          FROM (SELECT rowid AS id, *, lag(insee) OVER w AS before, lag(lon) OVER w AS x,
                       lag(lat) OVER w AS y, lag(tags) OVER w AS was
                FROM changes WINDOW w AS (PARTITION BY key ORDER BY run, rowid)))
    CROSS JOIN (SELECT 0 AS part UNION ALL SELECT 1)
    WHERE part = 0 OR across
    ORDER BY run, id, part DESC;
    DROP TABLE changes;
    ALTER TABLE changes_6 RENAME TO changes;
    CREATE INDEX changes_run ON changes(run);
    """),
    Migration("rows say whether a commune is partly covered: the kept rows are written again", """
    DELETE FROM kept_state WHERE name = 'communes';
    """),
    # With the sequence of the set (kept_state "published"), what a run knows of the set in
    # place without reading it back; a store without them gets the whole set written again.
    # The rows by their published order: cameras.geojson is written in it (Kept.features).
    # IF NOT EXISTS: a store whose version was set back (as a test does) migrates again.
    Migration("the published set's files, each with its size and time as the store wrote it", """
    CREATE TABLE IF NOT EXISTS kept_files (
        name TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS kept_rows_published ON kept_rows(published);
    """),
    # The site writes again only the pages of the communes a run touched.
    Migration("a commune's changes and cameras found without reading them all", """
    CREATE INDEX IF NOT EXISTS changes_insee ON changes(insee, run);
    CREATE INDEX IF NOT EXISTS cameras_insee ON cameras(insee);
    """),
    Migration("a commune's outline found without reading them all", """
    CREATE INDEX IF NOT EXISTS kept_communes_insee ON kept_communes(insee);
    """),
    # NULL in the counts stored before: not known.
    Migration("counts say how much of their commune the data covered", """
    ALTER TABLE counts ADD COLUMN coverage REAL;
    ALTER TABLE counts ADD COLUMN partial INTEGER;
    """),
    Migration("runs say where the populations of their counts come from", """
    ALTER TABLE runs ADD COLUMN population_source TEXT;
    ALTER TABLE runs ADD COLUMN population_year TEXT;
    """),
    # The site finds the cameras that were removed and came back among them.
    Migration("the removed cameras found without reading every change", """
    CREATE INDEX IF NOT EXISTS changes_removed ON changes(key, insee) WHERE change = 'removed';
    """),
    # An osmcams before `pbf.box_of_data` kept an extract's header box as its cut even where
    # its data lies outside it: the next refresh reads the extract for its box again.
    Migration("the extract's box checked again: a header's box its data lies outside is no cut", """
    INSERT OR REPLACE INTO kept_state SELECT 'box_unchecked', 'true' FROM kept_state
        WHERE name = 'bbox' AND value IS NOT NULL AND value != 'null';
    """, readers=False),
    # The site follows each camera that moved or came back through its changes (`site._load`).
    Migration("a camera's changes found without reading them all", """
    CREATE INDEX IF NOT EXISTS changes_key ON changes(key, run);
    """, readers=False),
]
COUNT_COLUMNS = "insee, name, cameras, population, cameras_per_km2, cameras_per_10k, coverage, partial"


def count_of(row: dict[str, Any]) -> tuple[Any, ...]:
    """A density row as the values of COUNT_COLUMNS (coverage and partial null when the row
    does not say)."""
    return (row["insee"], row["name"], row["cameras"], row["population"], row["cameras_per_km2"],
            row["cameras_per_10k"], row.get("coverage"), row.get("partial"))

SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Run:
    """What a run read, and when."""

    data_timestamp: str | None
    sequence: int | None
    source: str
    started: str
    ended: str
    diffs: int = 0
    population_source: str | None = None
    population_year: str | None = None


@dataclass(frozen=True)
class Change:
    """One camera added, removed, moved or retagged by a run."""

    key: str
    change: str
    insee: str | None
    lon: float
    lat: float
    tags: dict[str, str]


def _same_place(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) < MOVED_DEGREES and abs(a[1] - b[1]) < MOVED_DEGREES


# The cameras at some instant: {key: ((lon, lat), tags, commune)}.
State = dict[str, tuple[tuple[float, float], dict[str, str], "str | None"]]


def diff(before: State, now: dict[str, tuple[Camera, str]], in_osm: Container[str],
         was_in_osm: Container[str]) -> list[Change]:
    """The changes from the cameras `before` to those `now` (camera, commune), as `state_diff`."""
    return state_diff(before, {key: ((c.lon, c.lat), c.tags, code) for key, (c, code) in now.items()},
                      in_osm, was_in_osm)


def state_diff(before: State, now: State, in_osm: Container[str], was_in_osm: Container[str]) -> list[Change]:
    """The changes from the cameras `before` to those `now`, each in a commune. A camera gone
    from `now` that is `in_osm` (a camera in OSM at `now`, outside every commune) moved out
    of its commune, else it was removed; one new to `now` that was `was_in_osm` (a camera
    in OSM at `before`, outside every commune) moved in, else it was added."""
    changes = [Change(key, "moved out" if key in in_osm else "removed", insee, *place, tags)
               for key, (place, tags, insee) in before.items() if key not in now]
    for key, (place, tags, code) in now.items():
        if key not in before:
            changes.append(Change(key, "moved in" if key in was_in_osm else "added", code, *place, tags))
            continue
        old_place, old_tags, old_code = before[key]
        if old_code != code:  # a change of both communes, each where the camera was in it
            changes.append(Change(key, "moved out", old_code, *old_place, old_tags))
            changes.append(Change(key, "moved in", code, *place, tags))
        elif not _same_place(old_place, place):
            changes.append(Change(key, "moved", code, *place, tags))
        if old_tags != tags:
            changes.append(Change(key, "retagged", code, *place, tags))
    return changes


def replay(changes: Iterable[Change]) -> State:
    """The cameras after `changes`, in order, from none."""
    state: State = {}
    for c in changes:
        if c.change in ("removed", "moved out"):
            state.pop(c.key, None)
        else:
            state[c.key] = ((c.lon, c.lat), c.tags, c.insee)
    return state


class OlderSchema(UsageError):
    """A store of an older schema, opened read-only: it must be migrated first."""


class Store:
    """The history database at `path`, created or migrated on open; or, `read_only`, opened
    without writing a byte (SQLite's mode=ro) once the journal a killed run left, if any, is
    rolled back: `empty` when the file holds no history."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UsageError(f"{self.path.parent} is not a directory (history path {self.path})")
        try:
            if read_only:
                self.db = self._read_only()
            else:
                self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DataError(
                    f"{self.path}: history schema {version} is newer than this osmcams knows "
                    f"({SCHEMA_VERSION}); upgrade osmcams"
                )
            self.empty = version == 0  # a new file, or one without osmcams's tables
            if not read_only:
                self._migrate(version)
            elif 0 < version < SCHEMA_VERSION and any(m.readers for m in MIGRATIONS[version:]):
                self.db.close()
                raise OlderSchema(f"{self.path}: history schema {version} is older than this osmcams's "
                                  f"({SCHEMA_VERSION})")
        except sqlite3.DatabaseError as e:
            raise DataError(f"{self.path}: not a usable osmcams history database: {e}") from e

    def _read_only(self) -> sqlite3.Connection:
        """A connection in SQLite's mode=ro. A refresh killed while writing leaves its journal
        hot, which only a connection that may write can roll back (mode=ro says 'attempt to
        write a readonly database'): one opens it first, as any SQLite program would, and the
        file is again as the last committed run left it."""
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            db.execute("PRAGMA user_version")
        except sqlite3.OperationalError as e:  # SQLITE_READONLY_ROLLBACK, unnamed before 3.11
            if "readonly" not in str(e) or not self.path.with_name(f"{self.path.name}-journal").exists():
                raise
            db.close()
            try:
                with closing(sqlite3.connect(self.path, isolation_level=None)) as writer:
                    writer.execute("PRAGMA user_version")  # reading rolls the journal back
            except sqlite3.DatabaseError as failed:
                raise UsageError(f"{self.path}: a refresh was stopped while writing it, and its "
                                 f"journal cannot be rolled back from here ({failed}): the next "
                                 "refresh does it") from failed
            db = sqlite3.connect(uri, uri=True, isolation_level=None)
        return db

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def _migrate(self, version: int) -> None:
        """Take the schema from `version` to SCHEMA_VERSION in one transaction: a kill
        leaves the store as it was."""
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            for migration in MIGRATIONS[version:]:
                for statement in migration.sql.split(";"):
                    if statement.strip():
                        try:
                            self.db.execute(statement)
                        except sqlite3.OperationalError as e:  # ADD COLUMN has no IF NOT EXISTS:
                            if "duplicate column name" not in str(e):  # a store set back has it
                                raise
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises;
        the commit or the rollback whole even if a Ctrl-C comes meanwhile (no journal left)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            with uninterrupted():
                if self.db.in_transaction:  # SQLite ends it itself on a full disk
                    self.db.execute("ROLLBACK")
            raise
        with uninterrupted():
            self.db.execute("COMMIT")

    # Writing (inside a transaction) -------------------------------------------------

    def record_run(
        self,
        run: Run,
        rows: list[dict[str, Any]],
        cameras: dict[str, list[Camera]],
        touched: set[str] | None,
        in_osm: Container[str],
        was_in_osm: Container[str],
    ) -> list[Change]:
        """Add a run with its counts, update the cameras, and return what changed.

        `rows` are density rows of the run (of every commune, or of those whose cameras
        may have changed); `cameras` the cameras of each of their communes; `touched` the
        keys of the only cameras that may have changed (None: any); `in_osm` and
        `was_in_osm` the cameras in OSM now and at the run before, in a commune or not
        (`state_diff`). A commune's count is stored when it differs from its last stored one.
        """
        from osmcams import __version__

        db = self.db
        previous = db.execute("SELECT data_timestamp FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        run_id = db.execute(
            "INSERT INTO runs (data_timestamp, sequence, source, osmcams_version, started, ended,"
            " diffs, population_source, population_year) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run.data_timestamp, run.sequence, run.source, __version__, run.started, run.ended,
             run.diffs, run.population_source, run.population_year),
        ).lastrowid
        counts = [count_of(r) for r in rows]
        last = self._last_counts([c[0] for c in counts])
        db.executemany(f"INSERT INTO counts (run, {COUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [(run_id, *c) for c in counts if last.get(c[0]) != c[1:]])
        now = {c.key: (c, code) for code, group in cameras.items() for c in group
               if touched is None or c.key in touched}
        stored = self._present(touched, "SELECT key, lon, lat, tags, insee FROM cameras WHERE present = 1")
        before = {key: ((lon, lat), json.loads(tags), insee) for key, lon, lat, tags, insee in stored}
        changes = diff(before, now, in_osm, was_in_osm)
        self._insert_changes(run_id, changes)
        self._count_left(run_id, changes, {c[0] for c in counts})
        db.executemany("UPDATE cameras SET present = 0, last_seen = ? WHERE key = ?",  # in no commune now
                       [(previous and previous[0], key) for key in before.keys() - now.keys()])
        db.executemany(
            "INSERT INTO cameras VALUES (?, ?, NULL, 1, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "last_seen = NULL, present = 1, lon = excluded.lon, lat = excluded.lat,"
            " tags = excluded.tags, insee = excluded.insee",
            ((key, run.data_timestamp, c.lon, c.lat, json.dumps(c.tags, sort_keys=True), code)
             for key, (c, code) in now.items()),
        )
        return changes

    def _count_left(self, run_id: int | None, changes: list[Change], counted: set[str]) -> None:
        """The counts of the communes that lost cameras but have no row in the run (left
        out of a ranking for want of data there now): their last count and the changes,
        without densities, a lower bound of unknown coverage, so that their history agrees
        with their changes."""
        step = {"added": 1, "moved in": 1, "removed": -1, "moved out": -1}
        net: dict[str, int] = {}
        for c in changes:
            if c.insee is not None and c.insee not in counted and c.change in step:
                net[c.insee] = net.get(c.insee, 0) + step[c.change]
        last = self._last_counts(sorted(net))
        self.db.executemany("INSERT INTO counts VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, 1)", [
            (run_id, insee, last[insee][0], max(last[insee][1] + delta, 0), last[insee][2])
            for insee, delta in net.items() if insee in last and delta])

    def _insert_changes(self, run_id: int | None, changes: Iterable[Change]) -> None:
        self.db.executemany(  # a generator, not a list: a first run writes every camera
            "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((run_id, c.key, c.change, c.insee, c.lon, c.lat, json.dumps(c.tags, sort_keys=True))
             for c in changes),
        )

    def _stored_changes(self, last_run: int) -> Iterator[Change]:
        """The stored changes of the runs up to `last_run`, in order."""
        for key, change, insee, lon, lat, tags in self.db.execute(
            "SELECT key, change, insee, lon, lat, tags FROM changes WHERE run <= ? ORDER BY run, rowid",
            (last_run,),
        ):
            yield Change(key, change, insee, lon, lat, json.loads(tags))

    def _last_counts(self, codes: list[str]) -> dict[str, tuple]:
        """The last stored (name, cameras, population, per km², per 10k, coverage, partial)
        of each commune."""
        return {insee: tuple(rest) for insee, *rest in rows_in(
            self.db, f"SELECT {COUNT_COLUMNS} FROM counts c WHERE insee IN ({{marks}})"
            " AND run = (SELECT max(run) FROM counts WHERE insee = c.insee)", codes)}

    def communes_of(self, keys: set[str]) -> dict[str, str | None]:
        """The commune of each present camera among `keys`."""
        return dict(self._present(keys, "SELECT key, insee FROM cameras WHERE present = 1"))

    def _present(self, keys: set[str] | None, query: str) -> list[Any]:
        """The rows of `query` (on present cameras), for the cameras `keys` (None: all)."""
        if keys is None:
            return self.db.execute(query).fetchall()
        return rows_in(self.db, query + " AND key IN ({marks})", keys)

    def first_refresh(self) -> str | None:
        """The data date of the first refresh run (one with a replication sequence), if any."""
        row = self.db.execute(
            "SELECT data_timestamp FROM runs WHERE sequence IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
        return None if row is None else row[0]

    def backfill(self, steps: list[tuple[Run, list[dict[str, Any]], list[Change]]],
                 cameras: list[tuple[Any, ...]], in_osm: Container[str] = (),
                 was_in_osm: Container[str] = ()) -> None:
        """Replace the backfill runs with `steps` (run, density rows, changes), before the
        first refresh run.

        Backfill runs are the runs with no replication sequence. `cameras` are rows of the
        cameras table (key, first_seen, last_seen, present, lon, lat, tags, insee). With no
        refresh run, they replace the table; else the refresh runs' cameras keep their
        state and get the earlier first_seen, cameras gone before them are added, and the
        first refresh run's changes are those since the last step: `in_osm` and `was_in_osm`
        are the cameras in OSM at that run and at the last step (`state_diff`; none: every
        camera gone was removed, every new one added).
        """
        from osmcams import __version__

        db = self.db
        refresh = db.execute("SELECT min(id) FROM runs WHERE sequence IS NOT NULL").fetchone()[0]
        if refresh is not None:  # what the first refresh run found, and its counts
            found = replay(self._stored_changes(refresh))
            counts_then = db.execute(
                f"SELECT ?, {COUNT_COLUMNS}"
                " FROM counts c WHERE run = (SELECT max(run) FROM counts WHERE insee = c.insee"
                " AND run <= ?)", (refresh, refresh)).fetchall()
        for table in ("changes", "counts"):
            db.execute(f"DELETE FROM {table} WHERE run IN (SELECT id FROM runs WHERE sequence IS NULL)")
        db.execute("DELETE FROM runs WHERE sequence IS NULL")
        (first,) = db.execute("SELECT min(id) FROM runs").fetchone()
        run_id = (len(steps) + 1 if first is None else first) - len(steps)
        last: dict[str, tuple[Any, ...]] = {}
        for run, rows, changes in steps:
            db.execute("INSERT INTO runs (id, data_timestamp, source, osmcams_version, started, ended,"
                       " population_source, population_year) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, run.data_timestamp, run.source, __version__, run.started, run.ended,
                        run.population_source, run.population_year))
            counts = [count_of(r) for r in rows]
            db.executemany(f"INSERT INTO counts (run, {COUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(run_id, *c) for c in counts if last.get(c[0]) != c])
            last.update((c[0], c) for c in counts)
            self._insert_changes(run_id, changes)
            run_id += 1
        if refresh is not None:  # the first refresh run: its changes since the backfill's last
            last_state = replay(c for *_, changes in steps for c in changes)
            db.execute("DELETE FROM changes WHERE run = ?", (refresh,))
            self._insert_changes(refresh, state_diff(last_state, found, in_osm, was_in_osm))
            db.executemany(f"INSERT OR IGNORE INTO counts (run, {COUNT_COLUMNS})"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", counts_then)
        if refresh is None:
            db.execute("DELETE FROM cameras")
        else:  # the refresh runs say which cameras are there now
            cameras = [(*c[:3], 0, *c[4:]) for c in cameras]
        db.executemany(
            "INSERT INTO cameras VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "first_seen = coalesce(min(first_seen, excluded.first_seen), excluded.first_seen)",
            cameras,
        )

    # Reading ------------------------------------------------------------------------

    def last_run(self) -> dict[str, Any] | None:
        """The latest run, as a dict of its columns, or None before the first."""
        cursor = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        return None if row is None else dict(zip([d[0] for d in cursor.description], row))

    def commune(self, query: str) -> tuple[str, str]:
        """The (insee, name) of the counted commune named or coded `query`.

        Names match as in `count`: homonyms listed with their codes, unknown names answered
        with the closest counted names; a French commune without counts here is named so.
        """
        from osmcams.communes.model import department_of
        from osmcams.communes.names import match

        known = dict(self.db.execute("SELECT insee, name FROM counts GROUP BY insee"))
        candidates = [(code, name, department_of(code)) for code, name in known.items()]
        try:
            code = match(query, candidates, settle="give the INSEE code",
                         among=f" among the communes counted in {self.path}")
        except CommuneNotFound as e:
            raise CommuneNotFound(f"{e}{_elsewhere(query)}") from None
        return code, known[code]

    def names(self) -> dict[str, str]:
        """The name of each counted commune, by INSEE code (the latest name)."""
        return dict(self.db.execute("SELECT insee, name FROM counts ORDER BY run"))

    def counts(self, commune: str) -> list[dict[str, Any]]:
        """The count of the commune coded or named `commune` (found as `commune()` finds
        it: CommuneNotFound or AmbiguousCommune otherwise) at each run since its first,
        oldest first.

        A run stores a commune's count only when it changed: each run shows the latest
        count stored up to it. `partial` (a lower bound) and `coverage` are null in the
        counts of an osmcams that did not store them.
        """
        stored = self.db.execute("SELECT 1 FROM counts WHERE insee = ? LIMIT 1", (commune,)).fetchone()
        insee = commune if stored else self.commune(commune)[0]
        cursor = self.db.execute(
            "SELECT r.data_timestamp, r.sequence, c.cameras, c.population, c.cameras_per_km2,"
            " c.cameras_per_10k, c.coverage, c.partial, r.ended AS run_ended FROM runs r JOIN counts c"
            " ON c.insee = ? AND c.run = (SELECT max(run) FROM counts WHERE insee = ? AND run <= r.id)"
            " ORDER BY r.id",
            (insee, insee),
        )
        names = [d[0] for d in cursor.description]
        runs = [dict(zip(names, row)) for row in cursor]
        for run in runs:
            run["partial"] = None if run["partial"] is None else bool(run["partial"])
        return runs

    def runs(self, since: str = "") -> list[dict[str, Any]]:
        """The runs whose data is from `since` (a date, as `stored_instant` reads it) on,
        oldest first: the data timestamp, replication sequence, source, osmcams version and
        population source and year (null: not kept by the osmcams of the run) of each."""
        cursor = self.db.execute(
            "SELECT data_timestamp, sequence, source, osmcams_version, population_source,"
            " population_year FROM runs"
            " WHERE coalesce(data_timestamp, '') >= ? ORDER BY id", (since and stored_instant(since),))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def changes(self, since: str, insee: str | None = None) -> list[dict[str, Any]]:
        """Changes of runs whose data is from `since` (a date, as `stored_instant` reads it)
        on, oldest first."""
        query = (
            "SELECT r.data_timestamp, ch.change, ch.key, ch.insee, ch.lon, ch.lat, ch.tags"
            " FROM changes ch JOIN runs r ON r.id = ch.run WHERE r.data_timestamp >= ?"
        )
        params: list[Any] = [stored_instant(since)]
        if insee is not None:
            query += " AND ch.insee = ?"
            params.append(insee)
        # In each run, in the order of an extract (the order the run wrote them in follows
        # Python's hashing of strings, which changes from one process to the next).
        cursor = self.db.execute(query + f" ORDER BY r.id, {extract_order('ch.key')}, ch.rowid", params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor]
        for row in rows:
            row["tags"] = json.loads(row["tags"])
        return rows


def stored_instant(date: str) -> str:
    """`date` (2026, 2026-11, 2026-11-01, 2026-11-01T12:00+01:00) as a UTC instant written
    as the store writes its data timestamps, to compare as text (strftime pads no year
    under 1000); a year or a month is its start. A UsageError when it is not a date."""
    from osmcams.models import parse_date

    stamp = parse_date(date)
    return (f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}T"
            f"{stamp.hour:02d}:{stamp.minute:02d}:{stamp.second:02d}Z")


def read_store(path: Path, none_yet: str, locked: bool = False) -> Store:
    """The store at `path`, opened read-only: nothing created or written, except that a store
    of an older schema is first migrated, as a refresh does, under the store's lock (held by
    the caller when `locked`). No file, an empty one, or one without osmcams's tables, is a
    UsageError saying `none_yet`."""
    if not path.is_file():
        raise UsageError(none_yet)
    try:
        store = Store(path, read_only=True)
    except OlderSchema as older:
        _migrate_older(path, locked, older)
        store = Store(path, read_only=True)
    if store.empty:
        store.close()
        raise UsageError(none_yet)
    return store


def _migrate_older(path: Path, locked: bool, older: OlderSchema) -> None:
    """Migrate the store at `path` (see `read_store`); a place that refuses it is the one
    line of `older`, saying that the next refresh migrates it."""
    from osmcams.files import exclusive_lock

    try:
        with nullcontext() if locked else exclusive_lock(path, f"migrating {path}"):
            Store(path).close()
    except (OSError, DataError) as e:  # a read-only place: SQLite's error, in a DataError
        raise UsageError(f"{older}, and it cannot be migrated from here ({e}): the next refresh "
                         "migrates it") from e


def _elsewhere(query: str) -> str:
    """Where a commune without counts in a history is, when it is a French commune."""
    from osmcams.communes.names import french_commune

    found = french_commune(query)
    if found is None:
        return ""
    return f"; {found[1]} ({found[0]}) is outside the data of these refreshes, or left out by their selection"
