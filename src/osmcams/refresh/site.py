"""A static site of the refresh: an index, a page and an Atom feed per commune.

Built from the history store and the published set, into ``[site] dir``:

- ``index.html``: totals, the choropleth (``map.html``), the ranking, a search box, the
  latest changes, the total over time, the downloads;
- ``communes/<insee>-<slug>.html``: a commune's row, map with fields of view
  (``.map.html``), cameras with their first and last seen dates, changes run by run,
  reported figures and to-do list; a commune without data gets a page saying so;
- ``communes/<insee>-<slug>.js``: a measured commune's outline, cameras (its lines of
  cameras.geojson) and fields of view (direction, width, reach), which the maps load and
  ``static/site-map.js`` draws;
- ``map-nodata.js``: the communes without data as one area, which ``map.html`` draws;
- ``feed.atom`` and ``communes/<insee>-<slug>.atom``: an entry per run that changed
  something, dated as their latest entry (without one, as the store's first run);
- ``static/``: Leaflet, the site's scripts and style; ``data/``: the set to download (the
  GeoPackages and uMap file once a day of data, the uMap file with the area of
  ``map-nodata.js``).

Everything is written through `files.publish`: a reader sees the old site or the new
one. ``site.json`` remembers the run the site shows (``site-rows.json`` the ranking's rows
of the measured communes, ``site-nodata.txt`` those of the others, written again only
with the communes), so that the next update reads and writes only what later runs touched.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import html
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Collection
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from osmcams.communes.model import code_label
from osmcams.errors import Interrupted, OutputError, UsageError
from osmcams.files import clean_leftovers, publish, remove_folder, temp_folder, uninterrupted
from osmcams.forks import beside, in_parallel
from osmcams.join import Report, population_text, share_text
from osmcams.models import Camera, cameras_text, make_camera, printable
from osmcams.outputs.figures import OSM_CREDIT
from osmcams.outputs.maps import no_data_geometry, no_data_script, static_text
from osmcams.outputs.writers import slug
from osmcams.refresh.config import SITE_STATE, Config, SiteConfig
from osmcams.store.history import ALONE, HALVES, Store, one_move_each, read_store, run_kinds
from osmcams.store.kept import Kept
from osmcams.store.sql import keep_value, kept_value

STATE_VERSION = 2
ROWS = "site-rows.json"  # the ranking's rows of the measured communes, kept
NO_DATA = "site-nodata.txt"  # those of the communes without data, kept with them
NO_DATA_AREA = "map-nodata.js"  # their outlines as one area, drawn again when they change
# kept_state: which communes the area kept by a refresh with a site is of, and its part in
# each square degree (`_area_parts`), so that a commune that gains or loses its data costs
# the merging of its square's communes alone (on the benchmark: 106 squares, 10 ms at most)
AREA_KEY, AREA_PART = "no_data_squares_of", "no_data_square:"
# When communes/ last changed as the site's build left it (its mtime, in ns): while it
# still says so, no page was deleted there since, and it need not be listed again.
CHECKED = "site-checked.txt"
MAP_CSS = ("leaflet.css", "MarkerCluster.css", "MarkerCluster.Default.css")
MAP_JS = ("leaflet.js", "leaflet.markercluster.js")
OWN = ("site.css", "site.js", "site-map.js")
PARALLEL = 4000  # work (pages and cameras) from which two processes share the communes
DAILY = ("cameras.gpkg", "communes.gpkg", "osmcams.umap")  # written once a day of data
SET_FILES = ("communes.csv", "communes.json", "cameras.geojson")
FEED_ENTRIES = 50  # runs with changes in each feed
LATEST_RUNS = 10  # runs with changes listed on the index
LISTED = 100  # changes listed for one run, then "and N more"
OSM = "https://www.openstreetmap.org/"
ATOM = "http://www.w3.org/2005/Atom"
MARKUP = re.compile("[&<>\"']")  # what html.escape replaces
NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")  # what XML refuses, besides control characters
Log = Callable[[str], None]


def esc(value: Any) -> str:
    """`value` as HTML text or attribute value (`_clean`)."""
    text = value if type(value) is str else str(value)
    if not (text.isascii() and text.isprintable()):  # printable ASCII has none of them
        text = _clean(text)
    elif not MARKUP.search(text):  # nothing to escape
        return text
    return html.escape(text, quote=True)


def _clean(value: Any) -> str:
    """`value` as text for HTML or XML: its control characters shown as \\xNN, as in a
    terminal (`printable`: a name's escape or bell in a <title> or an Atom title), and the
    other characters XML refuses replaced."""
    return NOT_XML.sub("\ufffd", printable(str(value)))


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


Change = tuple[str, str, "str | None", str]  # kind, OSM key, commune, the camera's label


@dataclass
class RunInfo:
    """A run of the store, and what it changed in the communes of the site."""

    id: int
    data_timestamp: str | None
    sequence: int | None
    ended: str
    tally: dict[str, int] = field(default_factory=dict)  # changes of each kind, in every commune
    listed: list[Change] = field(default_factory=list)  # the first of them, for the index and feed

    @property
    def when(self) -> str:
        """Its data date (RFC 3339), or when it ended when that is unknown."""
        return self.data_timestamp or self.ended

    @property
    def anchor(self) -> str:
        return f"run-{self.sequence}" if self.sequence is not None else "run-" + slug(self.when)


@dataclass
class SiteData:
    """What the pages show, read from the store and the published set: everything about the
    communes of `loaded` (their cameras, timelines, changes, outlines), the rows and names
    of all."""

    meta: dict[str, Any]
    rows: list[dict[str, Any]]  # the published rows, in their order
    no_data: dict[str, str]  # name of each selected commune the data does not cover (when read)
    communes: int  # selected communes, with data or not
    runs: list[RunInfo]
    cameras: dict[str, list[Camera]]  # published cameras of each loaded commune
    features: dict[str, list[str]]  # their feature lines in cameras.geojson
    seen: dict[str, list[tuple[Any, ...]]]  # (key, first seen, last seen, present, label) by commune
    counts: dict[str, list[tuple[int, int]]]  # (run, cameras) by loaded commune, when it changed
    boundaries: dict[str, Any]
    report_state: dict[str, Any]
    stems: dict[str, str] = field(default_factory=dict)  # `<insee>-<slug>` of each commune's files
    # the runs that changed each loaded commune: their first changes there and their tally
    changed: dict[str, list[tuple[RunInfo, list[Change], dict[str, int]]]] = field(default_factory=dict)
    types: dict[str, dict[str, int]] = field(default_factory=dict)  # cameras by type, by commune
    texts: dict[str, str] = field(default_factory=dict)  # the JSON of each row, as kept
    row: dict[str, dict[str, Any]] = field(default_factory=dict)  # the row of each commune
    names: dict[str, str] = field(default_factory=dict)
    outside: list[str] = field(default_factory=list)  # the selected communes without data
    totals: dict[int, int] = field(default_factory=dict)  # the change of the total by run (`TOTALS`)

    def __post_init__(self) -> None:
        self.row = {r["insee"]: r for r in self.rows}
        self.names = {code: str(r["name"]) for code, r in self.row.items()} | self.no_data
        self.stems = dict(self.stems)
        for code, name in self.names.items():
            if code not in self.stems:
                self.stems[code] = f"{slug(code)}-{slug(name)}"

    def name(self, code: str) -> str:
        return self.names.get(code, code)

    def release(self) -> None:
        """Free what the pages of the communes needed (once they are written)."""
        for found in (self.cameras, self.features, self.seen, self.changed, self.counts, self.boundaries):
            found.clear()

    def has_feed(self, code: str) -> bool:
        """Whether a loaded commune has a feed: it is measured, or was once (a commune
        never in the data gets none)."""
        return code in self.row or code in self.changed


# The change of the total of cameras that each run after `?` made: the sum, over the communes
# it counted, of each one's count less its count before (searched in counts_insee)
TOTALS = ("SELECT run, sum(cameras - coalesce((SELECT p.cameras FROM counts p WHERE p.insee = c.insee"
          " AND p.run < c.run ORDER BY p.run DESC LIMIT 1), 0)) FROM counts c WHERE run > ? GROUP BY run"
          " ORDER BY run")
BEFORE_ALL = -(2**63)  # below every run's id (a backfill's runs have 0 and below)
# The changes of the cameras of `marks`, in order: an index search (changes_key), not a scan
JOURNEYS = "SELECT key, run, change, insee FROM changes WHERE key IN ({marks}) ORDER BY key, run, rowid"
LABEL = ("coalesce(nullif(json_extract({0}, '$.name'), ''),"
         " nullif(json_extract({0}, '$.\"surveillance:type\"'), ''), 'surveillance')")


def _load(config: Config, store: Store, loaded: set[str] | None, stems: dict[str, str],
          names: bool = True, tallies: dict[int, dict[str, int]] | None = None, after: int = 0,
          totals: dict[int, int] | None = None,
          read: Callable[[dict[str, list[Camera]]], None] | None = None) -> SiteData:
    """The site's data, with everything about the communes of `loaded` (None: all);
    `stems` are the file names already known; the communes without data are all read with
    `names` only (else those the changes listed name); `tallies` are those of the runs up
    to `after` already known (the last ones that changed something), `totals` the changes
    of the total those runs made (`TOTALS`: all of them). The cameras are read first, and
    given to `read` (the downloads' start) before the rest."""
    import orjson

    from osmcams.store.sql import extract_order, rows_in

    db = store.db

    def where(query: str, order: str) -> list[Any]:
        """The rows of `query` (on `insee`) about the loaded communes."""
        if loaded is None:
            return db.execute(query.format(where="TRUE") + " ORDER BY " + order).fetchall()
        return rows_in(db, query.format(where="insee IN ({marks})") + " ORDER BY " + order, loaded)

    cameras: dict[str, list[Camera]] = {}
    features: dict[str, list[str]] = {}
    types: dict[str, dict[str, int]] = {}
    for key, lon, lat, tags, stamp, line, insee, kind in where(
            "SELECT key, lon, lat, tags, timestamp, feature, insee, surveillance_type FROM kept_objects"
            " WHERE lon IS NOT NULL AND feature IS NOT NULL AND {where}", f"insee, {extract_order()}"):
        osm_type, _, number = key.partition("/")
        cameras.setdefault(insee, []).append(make_camera(osm_type, int(number), lon, lat, orjson.loads(tags),
                                                         stamp)[0])
        features.setdefault(insee, []).append(line)
        mine_types = types.setdefault(insee, {})
        mine_types[kind or "unknown"] = mine_types.get(kind or "unknown", 0) + 1
    if read is not None:
        read(cameras)
    state = dict(db.execute("SELECT name, value FROM kept_state WHERE name IN "
                            "('selected', 'names', 'report')").fetchall())
    texts = _texts(store)
    rows = [json.loads(text) for text in texts.values()]
    meta = _meta(config)
    counted = {r["insee"] for r in rows}
    selected = set(json.loads(state.get("selected", "[]")))
    runs = {rid: RunInfo(rid, stamp, sequence, ended) for rid, stamp, sequence, ended in db.execute(
        "SELECT id, data_timestamp, sequence, ended FROM runs ORDER BY id")}
    for rid, tally in (tallies or {}).items():
        if rid in runs:
            runs[rid].tally = dict(tally)
    since = after if tallies is not None else 0
    for rid, kind, n in db.execute("SELECT run, change, count(*) FROM changes WHERE run > ? AND change"
                                   f" NOT IN {HALVES} GROUP BY run, change", (since,)):
        runs[rid].tally[kind] = n
    halves: dict[int, list[tuple[str, str]]] = {}  # a move out or in alone is told apart
    for rid, kind, key in db.execute("SELECT run, change, key FROM changes WHERE run > ?"
                                     f" AND change IN {HALVES}", (since,)):
        halves.setdefault(rid, []).append((kind, key))
    for rid, moves in halves.items():
        runs[rid].tally.update(run_kinds(moves))
    label = LABEL.format("tags")
    for run in [run for run in runs.values() if run.tally][-FEED_ENTRIES:]:
        run.listed = db.execute(f"SELECT change, key, insee, {label} FROM changes WHERE run = ?"
                                f" ORDER BY rowid LIMIT {LISTED}", (run.id,)).fetchall()

    changed: dict[str, list[tuple[RunInfo, list[Change], dict[str, int]]]] = {}
    for insee, rid, kind, n in where(
            "SELECT insee, run, change, count(*) FROM changes WHERE {where} GROUP BY insee, run, change",
            "insee, run"):
        mine = changed.setdefault(insee, [])
        if not mine or mine[-1][0].id != rid:
            mine.append((runs[rid], [], {}))
        mine[-1][2][kind] = n
    listed: dict[tuple[str, int], list[Change]] = {}
    for rid, kind, key, insee, name in where(
            f"SELECT run, change, key, insee, {label} FROM (SELECT *, row_number() OVER (PARTITION BY"
            f" insee, run ORDER BY rowid) AS place FROM changes WHERE {{where}}) WHERE place <= {LISTED}",
            "insee, run, place"):
        listed.setdefault((insee, rid), []).append((kind, key, insee, name))
    for insee, mine in changed.items():
        for run, found, _ in mine:
            found += listed.get((insee, run.id), [])
    # The communes without data: all of them with `names`, else those the changes listed name.
    named = json.loads(state.get("names", "{}"))
    shown = {insee for run in runs.values() for *_, insee, _ in run.listed}
    shown |= {insee for found in listed.values() for *_, insee, _ in found}
    shown |= loaded or set()  # and those that lost their data
    no_data = {code: named.get(code, code) for code in sorted(selected - counted)
               if names or code in shown}  # in order: the stems of site.json follow it
    seen: dict[str, list[tuple[Any, ...]]] = {}
    for key, first, last, present, name, insee in where(
            f"SELECT key, first_seen, last_seen, present, {label}, insee FROM cameras WHERE {{where}}",
            "insee, first_seen, key"):
        seen.setdefault(insee, []).append((key, first, last, present, name))
    # A camera that moved between communes, or out of every one and in again, or was removed
    # and came back (maybe in another commune: the store keeps one row a camera, with its
    # first seen): its stay in each, from its changes.
    travelled = {key for (key,) in where(
        "SELECT DISTINCT key FROM changes WHERE change IN ('moved in', 'moved out') AND {where}", "key")}
    travelled |= _returned(db, loaded, seen)
    if travelled:
        journeys: dict[str, list[tuple[int, str, str | None]]] = {}
        for key, rid, kind, insee in rows_in(db, JOURNEYS, travelled):
            journeys.setdefault(key, []).append((rid, kind, insee))
        for code in seen:
            seen[code] = [entry for entry in seen[code] if entry[0] not in travelled]
        whens = [run.when for run in runs.values()]
        before = dict(zip(runs, [None, *whens[:-1]]))  # the data of the run before each
        for key, first, last, name in rows_in(db, f"SELECT key, first_seen, last_seen, {label} FROM"
                                              " cameras WHERE key IN ({marks})", travelled):
            for insee, (start, end) in stays(journeys.get(key, []), first, last, runs, before).items():
                if insee is not None and (loaded is None or insee in loaded):
                    seen.setdefault(insee, []).append((key, start, end, end is None, name))
        for code in seen:
            seen[code].sort(key=lambda entry: (entry[1] or "", entry[0]))
    counts: dict[str, list[tuple[int, int]]] = {}
    for insee, rid, n in where("SELECT insee, run, cameras FROM counts WHERE {where}", "insee, run"):
        counts.setdefault(insee, []).append((rid, n))
    known = dict(totals or {})  # the index's chart: the changes of every commune's counts, summed
    known.update(db.execute(TOTALS, (after if totals is not None else BEFORE_ALL,)))
    boundaries = Kept(store.db).outlines(counted if loaded is None else counted & loaded)
    return SiteData(meta, rows, no_data, len(selected | counted), list(runs.values()), cameras, features,
                    seen, counts,
                    boundaries, json.loads(state.get("report", "{}")), stems, changed, types, texts,
                    outside=sorted(selected - counted), totals=known)


def _returned(db: Any, loaded: set[str] | None, seen: dict[str, list[tuple[Any, ...]]]) -> set[str]:
    """The cameras removed once and there again since (removed twice, or once and present
    now) that were or are in the communes of `loaded` (None: all); `seen`: the cameras now
    in them, as `_load` reads them."""
    from osmcams.store.sql import rows_in

    removals: dict[str, list[str | None]] = {}
    for key, insee in db.execute("SELECT key, insee FROM changes WHERE change = 'removed'"):
        removals.setdefault(key, []).append(insee)
    if loaded is not None and removals:
        here = {entry[0] for found in seen.values() for entry in found}
        removals = {key: places for key, places in removals.items()
                    if key in here or any(insee in loaded for insee in places)}
    once = [key for key, places in removals.items() if len(places) == 1]
    present = {key for key, now in rows_in(db, "SELECT key, present FROM cameras WHERE key IN ({marks})",
                                           once) if now}
    return {key for key, places in removals.items() if len(places) > 1 or key in present}


def _outside(db: Any) -> list[str]:
    """The selected communes without data (no kept row) of the store `db`."""
    counted = {code for (code,) in db.execute("SELECT insee FROM kept_rows")}
    return sorted(set(kept_value(db, "selected") or ()) - counted)


def _area_key(db: Any, outside: list[str]) -> str:
    """What the area of the communes `outside` depends on: their codes, and the communes'
    key (`refresh.run`), which changes with their boundary files."""
    return hashlib.sha256(json.dumps([kept_value(db, "communes"), outside]).encode()).hexdigest()


# The kept communes' boxes, in the order of their codes (`where`: a condition on them)
BOXES = ("SELECT c.insee, b.min_lon, b.max_lon, b.min_lat, b.max_lat FROM kept_boxes b"
         " JOIN kept_communes c ON c.id = b.id{where} ORDER BY c.insee")


def _square(west: float, east: float, south: float, north: float) -> str:
    """The square degree that holds the middle of a box: the part of the area that a
    commune's outline goes into."""
    return f"{math.floor((west + east) / 2)}:{math.floor((south + north) / 2)}"


def _squares(db: Any, wanted: set[str], where: str = "", params: tuple[Any, ...] = ()
             ) -> dict[str, list[str]]:
    """The communes of `wanted` among the kept ones (those of `where`), by their `_square`."""
    squares: dict[str, list[str]] = {}
    for code, west, east, south, north in db.execute(BOXES.format(where=where), params):
        if code in wanted:
            squares.setdefault(_square(west, east, south, north), []).append(code)
    return squares


def _area_parts(db: Any, squares: dict[str, list[str]], kept: dict[str, list[str]]) -> dict[str, list[str]]:
    """The parts of the area of the communes of `squares` (`_squares`), each [what it depends
    on, `maps.merged_polygons` of its communes]; those of `kept` that are the same are not
    merged again."""
    from osmcams.outputs.maps import merged_polygons

    parts = {square: [_area_key(db, codes), ""] for square, codes in squares.items()}
    merged = [square for square, part in parts.items() if kept.get(square, [None])[0] != part[0]]
    shapes = Kept(db).outlines([code for square in merged for code in squares[square]])
    for square in merged:
        parts[square][1] = merged_polygons([shapes[code] for code in squares[square] if code in shapes])
    return {square: kept[square] if square not in merged else part for square, part in parts.items()}


def keep_no_data_area(store: Store, changed: Collection[str] = ()) -> None:
    """Keep in the store the area that the site's map draws of the communes without data,
    when they are not those of the one kept (its parts whose communes changed merged again):
    a refresh with a site does, under the store's lock, so that a build only writes it.
    `changed`: communes that gained or lost their data since; when the area kept is that of
    the communes without data before them, only their squares are looked at again."""
    from osmcams.store.sql import rows_in

    db = store.db
    outside = _outside(db)
    key = _area_key(db, outside)
    held = kept_value(db, AREA_KEY)
    if held == key:
        return
    kept = {name[len(AREA_PART):]: json.loads(value) for name, value in db.execute(
        "SELECT name, value FROM kept_state WHERE name LIKE ?", (AREA_PART + "%",))}
    wanted = set(outside)
    if changed and held == _area_key(db, sorted(wanted ^ set(changed))):
        squares: dict[str, list[str]] = {}
        for _, *box in rows_in(db, BOXES.format(where=" WHERE c.insee IN ({marks})"), changed):
            square = _square(*box)
            if square in squares:  # another changed commune's: read already
                continue
            x, y = (int(n) for n in square.split(":"))
            squares[square] = _squares(db, wanted, " WHERE b.max_lon >= ? AND b.min_lon <= ? AND b.max_lat"
                                       " >= ? AND b.min_lat <= ?", (x, x + 1, y, y + 1)).get(square, [])
        parts = {square: part for square, part in kept.items() if square not in squares}
        parts |= _area_parts(db, {square: codes for square, codes in squares.items() if codes}, kept)
    else:
        parts = _area_parts(db, _squares(db, wanted), kept)
    db.executemany("DELETE FROM kept_state WHERE name = ?", [(AREA_PART + square,) for square in kept
                                                             if square not in parts])
    db.executemany("INSERT OR REPLACE INTO kept_state VALUES (?, ?)", [
        (AREA_PART + square, json.dumps(part)) for square, part in parts.items() if kept.get(square) != part])
    keep_value(db, AREA_KEY, key)


def _no_data_parts(db: Any, outside: list[str]) -> list[str]:
    """The parts of the area of the communes `outside` (`_area_parts`) in the store `db`: those
    it keeps when it keeps the area of these communes, else merged here."""
    if kept_value(db, AREA_KEY) == _area_key(db, outside):
        return [json.loads(value)[1] for (value,) in db.execute(
            "SELECT value FROM kept_state WHERE name LIKE ? ORDER BY name", (AREA_PART + "%",))]
    parts = _area_parts(db, _squares(db, set(outside)), {})
    return [part for _, (_, part) in sorted(parts.items())]  # as kept


def stays(changes: list[tuple[int, str, str | None]], first: str | None, last: str | None,
          runs: dict[int, RunInfo], before: dict[int, str | None]
          ) -> dict[str | None, tuple[str | None, str | None]]:
    """Where a camera has been: for each commune, when it was first there and when last seen
    there (None while it is), from its `changes` in order (run, kind, commune). `first` and
    `last`: its first and last seen (None while present), where no change opens or ends a
    stay. A stay ends with the data of the run before the one that took it away (`before`:
    that of each run), as the store's last seen of a camera removed."""
    found: dict[str | None, tuple[str | None, str | None]] = {}
    here: tuple[str | None, str | None] | None = None  # the open stay: (commune, since)

    def close(end: str | None) -> None:
        assert here is not None
        found[here[0]] = (found[here[0]][0] if here[0] in found else here[1], end)

    for rid, kind, insee in changes:
        if kind in ("added", "moved in"):
            here = (insee, runs[rid].when)
        elif here is None:  # there since it was first seen
            here = (insee, first)
        if kind in ("removed", "moved out"):
            close(before.get(rid))
            here = None
    if here is not None:
        close(last)
    return found


def _texts(store: Store) -> dict[str, str]:
    """The JSON text of each published row, by code, in the published order."""
    return dict(store.db.execute("SELECT insee, json FROM kept_rows ORDER BY published").fetchall())


def _meta(config: Config) -> dict[str, Any]:
    """The `meta` of the published set."""
    try:
        with open(config.output_dir / "communes.json", encoding="utf-8") as f:
            meta: dict[str, Any] = json.load(f)["meta"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"no published set in {config.output_dir} ({e}): run osmcams refresh "
                         f"--config {config.path} first") from e
    return meta


def _all_cameras(store: Store, counted: list[str]) -> dict[str, list[Camera]]:
    """The published cameras of the communes of `counted`, in the order of an extract."""
    import orjson

    from osmcams.store.sql import extract_order

    found: dict[str, list[Camera]] = {code: [] for code in counted}
    for key, lon, lat, tags, stamp, insee in store.db.execute(  # every published camera, in one query
            "SELECT key, lon, lat, tags, timestamp, insee FROM kept_objects WHERE lon IS NOT NULL AND"
            f" feature IS NOT NULL ORDER BY {extract_order()}"):
        mine = found.get(insee)
        if mine is not None:
            osm_type, _, number = key.partition("/")
            mine.append(make_camera(osm_type, int(number), lon, lat, orjson.loads(tags), stamp)[0])
    return found


def _page(title: str, body: str, root: str, site: SiteConfig, feed: str | None) -> str:
    credit = f" · {esc(site.credit)}" if site.credit else ""
    alternate = "" if feed is None else (
        f'<link rel="alternate" type="application/atom+xml" title="{esc(title)}" href="{esc(feed)}">\n')
    subscribe = "" if feed is None else f' · <a href="{esc(feed)}">Atom feed</a>'
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'  # no icon: else browsers ask the host's root for one
        f'<link rel="stylesheet" href="{root}static/site.css">\n'
        f"{alternate}"
        f"</head>\n<body>\n{body}\n"
        f"<footer><p>Cameras: {esc(OSM_CREDIT)}{credit} · made with osmcams{subscribe}</p></footer>\n"
        f'<script src="{root}static/site.js"></script>\n</body>\n</html>\n'
    )


def _osm_link(key: str) -> str:
    text = esc(key)  # OSM has nothing to escape
    return f'<a href="{OSM}{text}">{text}</a>'


def _change_items(changes: list[Change], total: int, link: Callable[[str | None], str]) -> str:
    """A list of the first changes of `total`: kind, OSM object, name, commune (`link` gives
    its HTML)."""
    items = [f'<li class="{esc(kind)}"><b>{esc(kind)}</b> {_osm_link(key)} “{esc(label)}”{link(insee)}</li>'
             for kind, key, insee, label in changes[:LISTED]]
    if total > LISTED:
        items.append(f"<li>and {total - LISTED:,} more</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _tally(kinds: dict[str, int], commune: bool) -> str:
    """"+2 −1 cameras, 1 moved, 1 retagged" from the changes of a run (`kinds`: how many of
    each, as `run_kinds` counts them), in a `commune` (its moves in and out of it apart) or
    in all, where a move between communes is one move and a move out of every commune or in
    from outside is named so, as `refresh` says."""
    shown = dict(kinds) if commune else one_move_each(kinds)
    text = f"+{shown.get('added', 0):,} −{shown.get('removed', 0):,} cameras"
    return text + "".join(f", {shown[k]:,} {k}" for k in ("moved", *ALONE.values(), "moved in", "moved out",
                                                         "retagged") if shown.get(k))


def chart(points: list[tuple[str, int]], label: str, floor: bool = False) -> str:
    """An inline SVG step chart of `points` (RFC 3339 date, count), oldest first, in time,
    on an axis from 0, as the timeline's charts: a camera more is a small step; with `floor`,
    each count is a lower bound (≥ in its tooltip). A single point is drawn mid-axis, its date
    under it."""
    if not points:
        return ""
    width, height, left, bottom = 640, 170, 56, 26
    from datetime import datetime

    values = [v for _, v in points]
    high = max(values)
    span = high or 1
    n = len(points)
    times = [datetime.fromisoformat(d.replace("Z", "+00:00")).timestamp() for d, _ in points]
    start, length = times[0], (times[-1] - times[0]) or 1.0

    def x(i: int) -> float:
        return left + (width - left - 10) * ((times[i] - start) / length if n > 1 else 0.5)

    def y(v: int) -> float:
        return 10 + (height - bottom - 10) * (1 - v / span)

    first, last = points[0][0], points[-1][0]
    cut = 10 if first[:10] != last[:10] else 16  # the day, or the time within one day
    first, last = first[:cut].replace("T", " "), last[:cut].replace("T", " ")
    path = [f"M{x(0):.1f},{y(values[0]):.1f}"]
    for i in range(1, n):
        path.append(f"H{x(i):.1f}V{y(values[i]):.1f}")
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5"><title>{esc(d[:16])}: {"≥" * floor}{v:,}</title>'
        "</circle>"
        for i, (d, v) in enumerate(points))
    top = f'<text x="{left - 6}" y="{y(high) + 4:.1f}" text-anchor="end">{high:,}</text>' if high else ""
    centred = ' text-anchor="middle"' if n == 1 else ""
    end = "" if last == first else (
        f'<text x="{width - 10}" y="{height - 6}" text-anchor="end">{esc(last)}</text>')
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="{esc(label)}"><title>{esc(label)}</title>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}"/>'
        f'{top}<text x="{left - 6}" y="{y(0) + 4:.1f}" text-anchor="end">0</text>'
        f'<text x="{x(0):.1f}" y="{height - 6}"{centred}>{esc(first)}</text>{end}'
        f'<path d="{"".join(path)}"/>{dots}</svg>'
    )


def _series(data: SiteData, code: str | None) -> list[tuple[str, int]]:
    """The cameras of commune `code` (None: in total) after each run that changed them,
    and at the latest run."""
    if not data.runs:
        return []
    when = {run.id: run.when for run in data.runs}
    if code is not None:
        points = [(when[rid], n) for rid, n in data.counts.get(code, [])]
    else:
        total, points = 0, []
        for run in data.runs:
            if run.id in data.totals:
                total += data.totals[run.id]
                points.append((run.when, total))
    if points and points[-1][0] != data.runs[-1].when:
        points.append((data.runs[-1].when, points[-1][1]))
    return points


def _map_page(data: SiteData, codes: list[str], root: str, types: dict[str, int], views: bool,
              outside: int = 0) -> str:
    """map.html of the communes of `codes` (all measured, with an outline): Leaflet and
    site-map.js from static/, each commune's outline and cameras from its data file, drawn
    by map.html's own script (`maps.map_data` without outlines or markers); with `outside`
    communes without data, their area from map-nodata.js."""
    from osmcams.outputs.maps import map_data, script_json

    wanted = set(codes)  # in the published order
    rows = [data.row[codes[0]]] if len(codes) == 1 else [r for r in data.rows if r["insee"] in wanted]
    drawn = map_data(Report(data.meta, rows, boundaries=dict.fromkeys(codes)), types=types, outside=outside)
    # As pairs: in the object literal that the page's script is, a "__proto__" key would be lost.
    drawn["typeColours"] = list(drawn["typeColours"].items())
    script = script_json(drawn)
    here = "" if root else "communes/"
    links = "".join(f'<link rel="stylesheet" href="{root}static/{n}">' for n in MAP_CSS)
    scripts = "".join(f'<script src="{root}static/{n}"></script>' for n in (*MAP_JS, "site-map.js"))
    if outside:
        scripts += f'<script src="{root}{NO_DATA_AREA}"></script>'
    scripts += "".join(f'<script src="{here}{esc(data.stems[r["insee"]])}.js"></script>' for r in rows)
    parts = {"title": esc(drawn["title"]), "data": f"osmcamsMap({script}, {json.dumps(views)})"}
    template = static_text("map.html").replace("<style>{css}</style>", links, 1)
    template = template.replace("<script>{js}</script>", scripts, 1)
    return re.sub(r"\{(title|data)\}", lambda m: parts[m.group(1)], template)


_SWEEPS: dict[tuple[Any, ...], Any] = {}  # view_sweeps of the cameras' tags, with the default settings


def _data_file(data: SiteData, code: str) -> str:
    """communes/<stem>.js: the commune's outline, its cameras as cameras.geojson has them,
    and how their fields of view are drawn ([camera, kind, reach, sweeps])."""
    from osmcams.outputs.fov import FovSettings, view_sweeps
    from osmcams.outputs.writers import outline_shape

    settings = FovSettings()
    views = []
    for i, camera in enumerate(data.cameras.get(code, [])):
        key = camera.tag_set()
        if key not in _SWEEPS:  # they depend on the tags only, which a country's cameras repeat
            if len(_SWEEPS) > 10_000:
                _SWEEPS.clear()
            _SWEEPS[key] = view_sweeps(camera, settings)
        shape = _SWEEPS[key]
        if shape is not None:
            views.append([i, shape[0], round(shape[1], 1), shape[2]])
    outline = None
    if code in data.boundaries:
        outline = outline_shape(data.boundaries[code])
    return (f"osmcamsData({json.dumps(code)}, {{\"outline\": {json.dumps(outline)}, \"cameras\": ["
            + ",\n".join(data.features.get(code, [])) + f"], \"views\": {json.dumps(views)}}});\n")


def _row_table(row: dict[str, Any], state: dict[str, Any]) -> str:
    coverage = row.get("coverage")
    population = population_text(state.get("population_source"), state.get("population_year"))
    items = [
        ("Cameras mapped", "≥" * bool(row.get("partial")) + _number(row["cameras"])),  # as its chart
        ("Per km²", _number(row.get("cameras_per_km2"), 3)),
        ("Per 10,000 inhabitants", _number(row.get("cameras_per_10k"), 3)),
        ("Coverage of the data", "unknown" if coverage is None else esc(share_text(coverage))),
        ("Area", f"{_number(row.get('area_km2'), 2)} km²"),
        ("Population", f"{_number(row.get('population'))} ({esc(population)})"),
    ]
    if row.get("note"):
        items.append(("Note", esc(row["note"])))
    return '<table class="row">' + "".join(
        f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in items) + "</table>"


def _qualified(text: str, qualifier: str | None) -> str:
    """A figure or a ratio with its qualifier in words: "4,000 (about)", "50% (at most)"."""
    return text if qualifier in (None, "exact") else f"{text} ({qualifier.replace('_', ' ')})"


def _reported(data: SiteData, row: dict[str, Any], reported: Any) -> str:
    from osmcams.analysis.compare import compare

    code = row["insee"]
    if reported is None or code not in reported.communes:
        return ""
    compared = compare(Report(data.meta, [row], cameras={code: data.cameras.get(code, [])}), reported, True)
    lines = []
    for r in compared.rows:
        completeness = ("–" if r.get("completeness") is None
                        else _qualified(f"{r['completeness']:.0%}", r["completeness_qualifier"]))
        flags = ", ".join(map(str, r.get("flags") or [])) or "–"
        lines.append(
            f"<tr><td>{_qualified(_number(r.get('reported_cameras')), r.get('qualifier'))}</td>"
            f"<td>{esc(r.get('as_of') or '?')}</td>"
            f"<td>{esc(r.get('status') or '?')}</td><td>{esc(r.get('reported_source') or '?')}</td>"
            f"<td>{completeness}</td><td>{esc(flags)}</td></tr>")
    return ('<h2 id="reported">Reported figures</h2><table class="list"><tr><th>Reported cameras</th>'
            "<th>As of</th><th>Status</th><th>Source</th><th>Mapped ÷ reported</th><th>Flags</th></tr>"
            + "".join(lines) + "</table><p>A figure compares with the map only for its own scope "
            "and date.</p>")


def _todo(cameras: list[Camera]) -> str:
    from osmcams.analysis.quality import todo_texts

    if not cameras:
        return ""
    found = todo_texts(cameras, 3.0)
    if not found:
        return "<h2 id=\"todo\">Mapping party to-do</h2><p>Every camera has the checked tags.</p>"
    items = "".join(f"<li>{_osm_link(camera.key)}: {_escaped(text)}</li>" for camera, text in found)
    return (f'<h2 id="todo">Mapping party to-do</h2><p>{len(found):,} of '
            f"{cameras_text(len(cameras))} to complete.</p><ul>{items}</ul>")


@functools.lru_cache(maxsize=4096)
def _escaped(text: str) -> str:
    """`esc(text)`, kept for the to-do texts that a country's cameras repeat."""
    return esc(text)


def commune_page(data: SiteData, code: str, site: SiteConfig, stem: str, reported: Any) -> str:
    """The page of commune `code`."""
    name = data.name(code)
    row = data.row.get(code)
    stamp = data.meta.get("data_timestamp") or "unknown date"
    head = (f'<header><p><a href="../index.html">{esc(site.title)}</a></p>'
            f"<h1>{esc(name)} <small>({esc(code)})</small></h1>")
    events: list[str] = []
    for run, mine, kinds in reversed(data.changed.get(code, [])):
        events.append(f'<h3 id="{esc(run.anchor)}">Data of {esc(run.when)}: {_tally(kinds, True)}</h3>'
                      + _change_items(mine, sum(kinds.values()), lambda _: ""))
    timeline = "".join(
        f"<tr><td>{_osm_link(key)}</td><td>{esc(label)}</td><td>{esc(first or '?')}</td>"
        f"<td>{'still there' if present else esc(last or '?')}</td></tr>"
        for key, first, last, present, label in data.seen.get(code, []))
    past = ('<h2 id="timeline">Cameras, first and last seen</h2>'
            + ('<table class="list"><tr><th>Object</th><th>Name</th><th>First seen</th><th>Last seen</th>'
               f"</tr>{timeline}</table>" if timeline
               else "<p>No camera is mapped here in the data this site is built from.</p>")
            + '<h2 id="changes">Changes, run by run</h2>'
            + ("".join(events) or "<p>No change recorded.</p>"))
    if row is None:  # a commune that had data once keeps what happened then, and its feed's anchors
        body = head + (
            f"<p>Written from the data of {esc(stamp)}.</p></header><main>"
            '<p class="nodata"><strong>No data.</strong> The OpenStreetMap data this site is built '
            f"from does not cover {esc(name)}: its cameras cannot be counted here. This is not a "
            "count of zero.</p>" + (past if events or timeline else "") + "</main>")
        return _page(f"{name}: no data — {site.title}", body, "../", site,
                     f"{stem}.atom" if data.has_feed(code) else None)
    views = bool(data.cameras.get(code))
    body = head + (
        f"<p>Written from the data of {esc(stamp)}; the <a href=\"../index.html\">index</a> has the "
        "latest.</p></header><main>"
        + _row_table(row, data.report_state)
        + f'<iframe class="map" title="Map of the cameras" src="{esc(stem)}.map.html"></iframe>'
        + f'<p><a href="{esc(stem)}.map.html">Full-screen map</a>'
        + (" (fields of view drawn where a direction is tagged)" if views else "") + "</p>"
        + "<h2>Cameras over time</h2>"
        + chart(_series(data, code), f"Cameras mapped in {name}", bool(row.get("partial")))
        + (f'<p class="note">The data covers {esc(share_text(row["coverage"]))} of {esc(name)}: each '
           "count is a lower bound.</p>" if row.get("partial") and row.get("coverage") is not None else "")
        + past + _reported(data, row, reported) + _todo(data.cameras.get(code, [])) + "</main>")
    return _page(f"{name} — {site.title}", body, "../", site, f"{stem}.atom")


def _cell(value: Any, text: str) -> str:
    return f'<td data-v="{"" if value is None else esc(value)}">{text}</td>'


NO_DATA_ROW = '<tr class="nodata"'


def _no_data_row(data: SiteData, code: str, name: str) -> str:
    from osmcams.communes.names import bare

    return (f'{NO_DATA_ROW} data-key="{esc(bare(name))}" data-code="{esc(code)}"><td data-v="{esc(name)}">'
            f'<a href="communes/{esc(data.stems[code])}.html">{esc(name)}</a></td>' + _cell(code, esc(code))
            + '<td data-v="" colspan="5">no data</td></tr>')


def no_data_rows(data: SiteData) -> str:
    """The ranking's rows of the communes without data (they change only with the communes)."""
    return "".join(_no_data_row(data, code, name) for code, name in sorted(data.no_data.items()))


def patched_no_data_rows(data: SiteData, kept: str, before: set[str]) -> str:
    """`no_data_rows` from those `kept` when the communes with data were `before`: without
    the rows of the communes that gained their data, with those of the ones that lost it."""
    gained = {esc(code) for code in data.row if code not in before}
    rows: list[tuple[str, str]] = []
    for row in kept.split(NO_DATA_ROW)[1:]:
        code = row.split(' data-code="', 1)[1].split('"', 1)[0]  # no attribute value holds a quote
        if code not in gained:
            rows.append((html.unescape(code), NO_DATA_ROW + row))
    rows += [(code, _no_data_row(data, code, data.no_data[code])) for code in before - set(data.row)
             if code in data.no_data]
    return "".join(row for _, row in sorted(rows))


def _ranked_row(r: dict[str, Any], stem: str) -> str:
    """The ranking's row of a measured commune."""
    from osmcams.communes.names import bare

    coverage, cell = r.get("coverage"), _cell
    return (
        f'<tr data-key="{esc(bare(r["name"]))}" data-code="{esc(r["insee"])}">'
        f'<td data-v="{esc(r["name"])}"><a href="communes/{esc(stem)}.html">{esc(r["name"])}</a></td>'
        + cell(r["insee"], esc(r["insee"]))
        + cell(r["cameras"], _number(r["cameras"]) + (
            f' <abbr class="partial" title="{esc(r["note"])}">*</abbr>' if r.get("note") else ""))
        + cell(r.get("cameras_per_km2"), _number(r.get("cameras_per_km2"), 3))
        + cell(r.get("cameras_per_10k"), _number(r.get("cameras_per_10k"), 3))
        + cell(coverage, "unknown" if coverage is None else esc(share_text(coverage)))
        + cell(r.get("population"), _number(r.get("population"))) + "</tr>")


def index_page(data: SiteData, site: SiteConfig, no_data: str, dated: dict[str, str],
               ranked: dict[str, list[Any]]) -> str:
    """The index: totals, map, ranking (`no_data`: the rows of `no_data_rows`; `ranked`: the
    rows of the measured communes already written, by code, with the row they show, kept
    up to date), latest changes, chart, downloads (those of `dated` are of that data date)."""
    stems = data.stems
    stamp = data.meta.get("data_timestamp") or "unknown date"
    total = sum(r["cameras"] for r in data.rows)
    lines = []
    for r in data.rows:
        code = r["insee"]
        known = ranked.get(code)
        if known is None or known[0] != data.texts.get(code) or known[1] != stems[code]:
            known = ranked[code] = [data.texts.get(code), stems[code], _ranked_row(r, stems[code])]
        lines.append(known[2])
    lines.append(no_data)
    label = code_label(stems)
    asked = "name or INSEE code" if label == "INSEE" else "name or code"  # not "Code code"
    columns = ["Commune", label, "Cameras", "Per km²", "Per 10,000", "Coverage", "Population"]
    head = "".join(f'<th data-sort="{i}">{esc(c)}</th>' for i, c in enumerate(columns))
    fed = [run for run in data.runs if run.tally][-FEED_ENTRIES:]  # those the feed has
    earlier, latest = fed[:-LATEST_RUNS], fed[-LATEST_RUNS:]

    def commune_link(code: str | None) -> str:
        if code is None or code not in stems:
            return ""
        return f' in <a href="communes/{esc(stems[code])}.html">{esc(data.name(code))}</a>'

    changes = "".join(
        f'<h3 id="{esc(run.anchor)}">Data of {esc(run.when)}: {_tally(run.tally, False)}</h3>'
        + _change_items(run.listed, sum(run.tally.values()), commune_link)
        for run in reversed(latest)) or "<p>None yet.</p>"
    if earlier:  # a line each, where the site feed's entries of them link to
        changes += "<h3>Earlier runs</h3><ul>" + "".join(
            f'<li id="{esc(run.anchor)}">Data of {esc(run.when)}: {_tally(run.tally, False)}</li>'
            for run in reversed(earlier)) + "</ul>"
    downloads = [("data/communes.csv", "Counts per commune (CSV)"),
                 ("data/communes.json", "Counts per commune (JSON, with sources)"),
                 ("data/cameras.geojson", "Cameras (GeoJSON)"),
                 ("data/cameras.gpkg", "Cameras and commune outlines (GeoPackage)"),
                 ("data/communes.gpkg", "Communes with their counts (GeoPackage)"),
                 ("data/osmcams.umap", "uMap map (import into umap.openstreetmap.fr)")]
    floor = any(r.get("partial") for r in data.rows)  # then the total is a lower bound
    totals = "".join(f"<li><b>{sign}{n:,}</b> {word}{'s' * (n != 1)}{what}</li>" for sign, n, word, what in (
        ("≥" * floor, total, "camera", ""), ("", len(data.rows), "commune", " measured"),
        ("", data.communes - len(data.rows), "commune", " without data")))
    top = (
        f"<header><h1>{esc(site.title)}</h1><p>Video surveillance mapped in OpenStreetMap; data of "
        f'<time datetime="{esc(stamp)}">{esc(stamp)}</time>.</p>'
        f'<ul class="totals">{totals}</ul>'
        "</header><main>"
        '<iframe class="map" title="Map of the communes" src="map.html"></iframe>'
        '<p><a href="map.html">Full-screen map</a></p>'
        '<h2 id="ranking-title">Communes</h2><p><label for="search">Find a commune</label> '
        f'<input id="search" type="search" placeholder="{asked}" disabled> '
        '<span id="shown"></span></p>'
        f'<table id="ranking" class="list"><thead><tr>{head}</tr></thead><tbody>')
    bottom = (
        "</tbody></table><p>* Partial data: the data covers only part of the commune (see "
        "Coverage), so its count is a floor. No data: the data does not cover the commune, "
        "there is no count.</p>"
        '<h2 id="latest">Latest changes</h2>' + changes
        + '<h2 id="total">Cameras over time</h2>'
        + chart(_series(data, None), "Cameras mapped, in total", floor)
        + '<h2 id="downloads">Downloads</h2><ul>'
        + "".join(f'<li><a href="{p}">{esc(t)}</a>'
                  + (f" (data of {esc(dated[p])}, written once a day)" if p in dated else "") + "</li>"
                  for p, t in downloads)
        + f"</ul><p>Sources: {esc(data.meta.get('source') or '?')}; boundaries: "
        + esc(os.path.basename(str(data.meta.get("boundaries") or "?")))
        + "; population: " + esc(population_text(data.meta.get("population_source"),
                                                 data.meta.get("population_year"))) + ".</p></main>")
    body = "".join([top, *lines, bottom])  # the 8 MB of rows copied once
    return _page(site.title, body, "", site, "feed.atom")


# Feeds ------------------------------------------------------------------------------------


def feed(site: SiteConfig, data: SiteData, title: str, path: str, page: str, identity: str,
         code: str | None) -> str:
    """An Atom feed (RFC 4287) of the runs that changed the communes (`code`, or all).

    Its `updated` is its latest entry's, or without one the store's first run's: a feed
    changes with its entries only, so that a build that leaves a feed in place and one that
    writes it anew agree."""
    ElementTree.register_namespace("", ATOM)

    def sub(parent: Any, tag: str, text: str | None = None, **attributes: str) -> Any:
        element = ElementTree.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
        if text is not None:
            element.text = _clean(text)
        return element

    runs = ([(run, run.listed, run.tally) for run in data.runs if run.tally] if code is None
            else data.changed.get(code, []))[-FEED_ENTRIES:]
    stems = data.stems
    root = ElementTree.Element(f"{{{ATOM}}}feed")
    sub(root, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, site.base_url + identity)}")
    sub(root, "title", title)
    latest = runs[-1][0].when if runs else (data.runs[0].when if data.runs else "1970-01-01T00:00:00Z")
    sub(root, "updated", latest)
    sub(sub(root, "author"), "name", site.credit or "osmcams")
    sub(root, "link", rel="self", type="application/atom+xml", href=site.base_url + path)
    sub(root, "link", rel="alternate", type="text/html", href=site.base_url + page)
    sub(root, "rights", OSM_CREDIT)
    sub(root, "generator", "osmcams")
    for run, changes, kinds in reversed(runs):
        entry = sub(root, "entry")
        key = f"{run.data_timestamp}/{run.sequence}/{identity}"
        sub(entry, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, site.base_url + key)}")
        sub(entry, "title", f"Data of {run.when}: {_tally(kinds, code is not None)}")
        sub(entry, "updated", run.when)
        sub(entry, "link", rel="alternate", type="text/html", href=f"{site.base_url}{page}#{run.anchor}")

        def link(insee: str | None) -> str:
            if insee is None or insee not in stems or code is not None:
                return ""
            url = f"{site.base_url}communes/{stems[insee]}.html"
            return f' in <a href="{esc(url)}">{esc(data.name(insee))}</a>'

        sub(entry, "content", _change_items(changes, sum(kinds.values()), link), type="html")
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# Building ---------------------------------------------------------------------------------


def _write(path: Path, content: bytes) -> None:
    """`content` into the file `path` (as `open(path, "wb")` would, with less work)."""
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        data = memoryview(content)
        while data:
            data = data[os.write(out, data):]
    finally:
        os.close(out)


def _state_key(config: Config, store: Store) -> str:
    from osmcams import __version__

    row = store.db.execute("SELECT value FROM kept_state WHERE name = 'communes'").fetchone()
    backfilled = store.db.execute("SELECT count(*), max(ended) FROM runs WHERE sequence IS NULL").fetchone()
    site = config.site
    assert site is not None
    return json.dumps([STATE_VERSION, __version__, site.title, site.base_url, site.credit,
                       str(config.output_dir), row and row[0], list(backfilled)])


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        return state if isinstance(state, dict) else None
    except (OSError, ValueError):
        return None


def _copy(source: Path, target: Path, published: Path) -> None:
    """A published file into the staging directory: a hard link when it can be one (the set
    replaces its files, it never writes into them), else a copy; nothing when the site has
    that very file already (`optional` publishing leaves it)."""
    try:
        if os.path.samefile(source, published):
            return
    except OSError:
        pass
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _missing(folder: Path, state: dict[str, Any]) -> tuple[set[str], set[str]]:
    """What the site in `folder` that `state` describes lacks (files deleted by hand): the
    communes with a file missing, and the other files missing. One listing of each folder
    of the site (of communes/ only when it changed since the build: `CHECKED`), no file
    opened."""
    def listed(sub: str) -> set[str]:
        try:
            return set(os.listdir(folder / sub))
        except OSError:
            return set()

    codes: set[str] = set()
    mtime = _communes_mtime(folder)
    if mtime is None or mtime != _read_text(folder / CHECKED):
        pages = listed("communes")
        ends = {code: (".html", ".atom") for code in state.get("former", [])}  # measured once, not now
        ends |= {code: (".html", ".atom", ".map.html", ".js") for code in state.get("counted", [])}
        codes = {code for code, stem in state["stems"].items()
                 if any(f"{stem}{end}" not in pages for end in ends.get(code, (".html",)))}
    present = listed(".") | {f"{sub}/{name}" for sub in ("static", "data") for name in listed(sub)}
    wanted = {"index.html", "map.html", "feed.atom", ROWS, NO_DATA, *state["downloads"],
              *([NO_DATA_AREA] if state.get("outside") else []),
              *(f"static/{n}" for n in (*MAP_CSS, *MAP_JS, *OWN)), *(f"data/{n}" for n in SET_FILES)}
    return codes, wanted - present


def _communes_mtime(folder: Path) -> str | None:
    """The mtime of the site's communes/ (ns), None when it cannot be read."""
    try:
        return str(os.stat(folder / "communes").st_mtime_ns)
    except OSError:
        return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _touched(store: Store, state: dict[str, Any]) -> tuple[set[str], bool]:
    """The communes that the runs after the site's own changed (cameras or counts), or that
    gained or lost their data since; whether the communes with data are the same."""
    db, after = store.db, state.get("run") or 0
    found = {code for (code,) in db.execute("SELECT DISTINCT insee FROM changes WHERE run > ?", (after,))}
    found |= {code for (code,) in db.execute("SELECT DISTINCT insee FROM counts WHERE run > ?", (after,))}
    counted = {code for (code,) in db.execute("SELECT insee FROM kept_rows")}
    moved = counted ^ set(state.get("counted", []))
    return {code for code in found | moved if code is not None}, not moved


def _downloads(config: Config, folder: Path, read: dict[str, list[Camera]] | None = None) -> None:
    """The set's GeoPackages and uMap file (`DAILY`) into `folder`, from every published
    camera (read from the store and the published set by this process, or those of each
    commune `read` already); the uMap file with the area of the communes without data that
    the store keeps for the index's map."""
    from osmcams.outputs.umap import write_umap
    from osmcams.outputs.writers import outline_shapes, write_cameras, write_communes

    store = Store(config.history, read_only=True)
    try:
        rows = [json.loads(text) for text in _texts(store).values()]
        counted = [r["insee"] for r in rows]
        cameras = (_all_cameras(store, counted) if read is None
                   else {code: read.get(code, []) for code in counted})
        boundaries = Kept(store.db).outlines(counted)
        outside = _outside(store.db)
        area = (len(outside), no_data_geometry(_no_data_parts(store.db, outside))) if outside else None
    finally:
        store.close()
    places = [(r["insee"], r["name"]) for r in rows for _ in cameras[r["insee"]]]
    outlines = [{"code": r["insee"], "name": r["name"], "geometry": boundaries[r["insee"]]}
                for r in rows if r["insee"] in boundaries]
    write_cameras([c for code in counted for c in cameras[code]], folder / "cameras.gpkg", "gpkg",
                  boundaries=outlines, overwrite=True, communes=places)
    report = Report(_meta(config), rows, cameras=cameras, boundaries=boundaries)
    shapes = outline_shapes(report)  # drawn once for both
    write_communes(report, folder / "communes.gpkg", "gpkg", overwrite=True, shapes=shapes)
    write_umap(report, counted, folder / "osmcams.umap", overwrite=True, shapes=shapes, area=area)


def _shares(data: SiteData, codes: list[str]) -> list[list[str]]:
    """`codes` in one share, or in two of about the same work when there is much of it (a
    page costs about one camera, and each camera in its lists; the first share also writes
    the index, map.html and feed.atom, then frees the data read: about an eighth of all, so
    that it ends first, and the other processes write meanwhile)."""
    work = {code: 1 + len(data.seen.get(code, ())) + len(data.cameras.get(code, ())) for code in codes}
    total = sum(work.values())
    if total < PARALLEL:
        return [codes]
    shares: list[list[str]] = [[], []]
    loads = [total // 8, 0]
    for code in sorted(codes, key=work.__getitem__, reverse=True):
        lighter = loads.index(min(loads))
        shares[lighter].append(code)
        loads[lighter] += work[code]
    return shares


def build(config: Config, full: bool = False, log: Log | None = None) -> str:
    """Bring the site of `config` up to date with its store; what it did, in a line.

    Only the pages of the communes changed by the runs since the site's own are
    written, with the index, the maps and the feeds (the GeoPackages and the uMap file
    once a day of data), unless `full` or the site was built by another configuration
    or version. Only what these communes need is read from the store. The caller holds
    the store's lock (a store of an older schema is migrated first).
    """
    collecting = gc.isenabled()
    gc.disable()  # the build makes a million objects and few cycles; forked workers then leave
    try:          # the parent's pages unwritten (a collection touches every object)
        return _build(config, full, log)
    finally:  # after the build's objects are gone: the first collection would go through them
        if collecting:
            gc.enable()


def _build(config: Config, full: bool, log: Log | None) -> str:
    """`build`, with the garbage collector off."""
    from osmcams.analysis.compare import read_reported

    site = config.site
    if site is None:
        raise UsageError(f"{config.path} has no [site] section (dir, title, base_url)")
    # What a killed build left: a set whose publication had begun is finished before its
    # state is read (its site.json may be in place, some of its pages not), the rest removed.
    clean_leftovers(site.dir)
    # Read, never written (load_config refused a [site] dir that is the [output] one), once
    # migrated when an older osmcams wrote it: the caller holds the store's lock.
    store = read_store(config.history,
                       f"no history at {config.history} yet: run osmcams refresh --config {config.path}",
                       locked=True)
    early = ExitStack()
    folder: Path | None = None  # where the downloads are written, beside the rest
    made = not site.dir.exists()  # made by this build: removed again (when empty) if it fails
    staged = published = False  # every file of the new site written; the site published
    try:
        last = store.last_run()
        key = _state_key(config, store)
        state = _read_state(site.dir / SITE_STATE)
        whole = (full or state is None or state.get("key") != key or not isinstance(state.get("stems"), dict)
                 or not isinstance(state.get("downloads"), dict) or not isinstance(state.get("types"), dict)
                 or not isinstance(state.get("outside"), int))  # a site of before map-nodata.js
        gone_codes, gone = (set(), set()) if whole or state is None else _missing(site.dir, state)
        if (not whole and state is not None and last is not None and state.get("run") == last["id"]
                and not gone_codes and not gone):
            return f"site up to date in {site.dir}"
        rows = _read_state(site.dir / ROWS) or {}
        try:  # the rows without data, when those of the measured communes are there
            kept_rows = (site.dir / NO_DATA).read_text(encoding="utf-8") if rows else None
        except OSError:
            kept_rows = None
        if kept_rows is None:
            rows = {}
        stamp = _meta(config).get("data_timestamp") or "unknown date"

        def daily_for(whole: bool) -> bool:
            """Whether the downloads are written: in a whole build, or on a new day of data."""
            dated = {} if whole or state is None else state.get("downloads", {})
            return whole or any(str(dated.get(f"data/{n}", ""))[:10] != stamp[:10] or f"data/{n}" in gone
                                for n in DAILY)

        waits: list[Callable[[], None]] = []

        def start_downloads(cameras: dict[str, list[Camera]] | None = None) -> None:
            """The downloads, by a process of their own from now on (unless started already),
            from the store, with `cameras` when given: every published camera, which a whole
            build reads first (`_load`) and this process then shares, rather than reading them
            again."""
            nonlocal folder
            if folder is not None:
                return
            with uninterrupted():  # a Ctrl-C takes effect once the folder is known, to be removed
                folder = temp_folder(site.dir)
            shared = None if cameras is None else dict(cameras)  # unforked, they run after `release`
            waits.append(early.enter_context(beside(functools.partial(_downloads, config, folder, shared))))

        if not whole and daily_for(whole):  # a whole build starts them once it has the cameras
            start_downloads()
        data = None
        same = True  # the communes with data
        if not whole:
            assert state is not None
            loaded, same = _touched(store, state)
            loaded |= gone_codes  # their files deleted by hand: written again
            if rows.get("key") != key:  # the ranking's rows, again
                rows = {}
            tallies = {int(rid): tally for rid, tally in state.get("tallies", [])}
            totals = ({int(rid): int(change) for rid, change in state["totals"]}
                      if isinstance(state.get("totals"), list) else None)  # else those of every run
            data = _load(config, store, loaded, state["stems"], names=not rows, tallies=tallies,
                         after=state.get("run") or 0, totals=totals)
            whole = any(state["stems"].get(code) != stem for code, stem in data.stems.items())
        if whole or data is None:
            loaded = set()
            data = _load(config, store, None, {}, read=start_downloads)  # a whole build: downloads
        stems = data.stems
        counted = sorted(r["insee"] for r in data.rows)
        touched = set(stems) if whole else loaded & set(stems)
        old = {} if whole or state is None else state
        if rows and kept_rows is not None and not whole:
            assert state is not None
            no_data = kept_rows if same else patched_no_data_rows(data, kept_rows, set(state["counted"]))
        else:
            no_data = no_data_rows(data)
        area = None  # map-nodata.js, when the area of the communes without data is drawn again
        if data.outside and (whole or not same or NO_DATA_AREA in gone
                             or not (site.dir / NO_DATA_AREA).is_file()):
            area = no_data_script(_no_data_parts(store.db, data.outside), len(data.outside))
        ranked = {code: known for code, known in rows.get("ranked", {}).items()
                  if code in data.row} if rows and not whole else {}
        dated = dict(old.get("downloads", {}))
        daily = daily_for(whole)
        if daily:
            dated = {f"data/{n}": stamp for n in DAILY}
        mine = {code: types for code, types in old.get("types", {}).items()
                if code in data.row and code not in touched} if old else {}
        mine |= {code: data.types.get(code, {}) for code in data.row if whole or code in touched}
        types: dict[str, int] = {}
        for found in mine.values():
            for kind, n in found.items():
                types[kind] = types.get(kind, 0) + n
        remove: list[str] = []
        if whole and (site.dir / "communes").is_dir():
            kept = {f"communes/{stem}.html" for stem in stems.values()}
            kept |= {f"communes/{stems[code]}.atom" for code in stems if data.has_feed(code)}
            kept |= {f"communes/{stems[code]}.{end}" for code in data.row for end in ("map.html", "js")}
            remove = [f"communes/{p.name}" for p in (site.dir / "communes").iterdir()
                      if p.is_file() and f"communes/{p.name}" not in kept]
        elif state is not None:  # a commune that lost its data loses its map
            remove = [f"communes/{stems[c]}.{end}" for c in set(state.get("counted", [])) - set(counted)
                      for end in ("map.html", "js")
                      if c in stems and (site.dir / f"communes/{stems[c]}.{end}").exists()]
        if not data.outside and (site.dir / NO_DATA_AREA).exists():
            remove.append(NO_DATA_AREA)
        reported = read_reported()
        store.close()
        fresh = not (site.dir / "communes").is_dir()  # no page in place to compare with
        pages = [*(f"static/{n}" for n in (*MAP_CSS, *MAP_JS, *OWN)), "index.html", "map.html",
                 "feed.atom", SITE_STATE, ROWS, NO_DATA, *([NO_DATA_AREA] if area else [])]
        for code in sorted(touched):
            pages.append(f"communes/{stems[code]}.html")
            if data.has_feed(code):
                pages.append(f"communes/{stems[code]}.atom")
            if code in data.row:
                pages += [f"communes/{stems[code]}.map.html", f"communes/{stems[code]}.js"]
        downloads = [f"data/{n}" for n in (*SET_FILES, *(DAILY if daily else ()))]
        with publish(site.dir, {path: path for path in (*pages, *downloads)}, overwrite=True,
                     remove=remove, optional=True) as paths:
            def page(path: str, text: str) -> None:
                """Stage the page unless the one in place says the same (then it stays)."""
                content = text.encode()
                if not fresh:
                    try:
                        with open(os.path.join(site.dir, path), "rb") as f:
                            if f.read() == content:
                                return
                    except OSError:
                        pass
                _write(paths[path], content)

            def whole_site() -> None:
                for n in (*MAP_CSS, *MAP_JS, *OWN):
                    page(f"static/{n}", static_text(n))
                page("index.html", index_page(data, site, no_data, dated, ranked))
                page(ROWS, json.dumps({"key": key, "ranked": ranked}, ensure_ascii=False))
                if no_data is not kept_rows:  # else the file in place stays (`optional`)
                    page(NO_DATA, no_data)
                if area:
                    page(NO_DATA_AREA, area)
                page("map.html", _map_page(data, counted, "", types, views=False, outside=len(data.outside)))
                page("feed.atom", feed(site, data, site.title, "feed.atom", "index.html", "feed.atom",
                                       None))

            def communes(codes: list[str], first: bool) -> Callable[[], None]:
                def write() -> None:
                    if first:
                        whole_site()
                    for code in codes:
                        stem, name = stems[code], data.name(code)
                        page(f"communes/{stem}.html", commune_page(data, code, site, stem, reported))
                        if data.has_feed(code):
                            page(f"communes/{stem}.atom", feed(
                                site, data, f"{site.title}: {name}", f"communes/{stem}.atom",
                                f"communes/{stem}.html", f"commune/{code}", code))
                        if code in data.row:
                            page(f"communes/{stem}.js", _data_file(data, code))
                            page(f"communes/{stem}.map.html",
                                 _map_page(data, [code], "../", data.types.get(code, {}), views=True))
                return write

            former = {code for code in old.get("former", []) if code not in touched}
            former |= {code for code in touched if code not in data.row and data.has_feed(code)}
            page(SITE_STATE, json.dumps({"key": key, "run": data.runs[-1].id if data.runs else None,
                                    "counted": counted, "former": sorted(former), "stems": stems,
                                    "downloads": dated,
                                    "tallies": [[run.id, run.tally] for run in data.runs
                                                if run.tally][-FEED_ENTRIES:], "types": mine,
                                    "totals": list(data.totals.items()),
                                    "outside": len(data.outside)},
                               ensure_ascii=False))
            for n in SET_FILES:
                _copy(config.output_dir / n, paths[f"data/{n}"], site.dir / "data" / n)
            tasks = [communes(share, i == 0) for i, share in enumerate(_shares(data, sorted(touched)))]
            if len(tasks) > 1:
                import pyproj  # noqa: F401  (the to-do lists' projection: imported once, before forking)
            in_parallel(tasks, data.release)  # freed while the other processes write, not alone at the end
            for wait in waits:
                try:
                    wait()
                except OutputError as e:  # name the file as published
                    early_place, place = f"{folder}{os.sep}", f"{site.dir / 'data'}{os.sep}"
                    raise OutputError(str(e).replace(early_place, place)) from e
            if folder is not None:
                for n in DAILY:
                    os.replace(folder / n, paths[f"data/{n}"])
            staged = True
        made, published = False, True  # kept
        mtime = _communes_mtime(site.dir)
        if mtime is not None:
            with suppress(OSError):  # then the next build lists communes/ again
                _write(site.dir / CHECKED, mtime.encode())
    except KeyboardInterrupt as e:  # Ctrl-C: say where the site is
        left = ("the site was written" if published
                else "the site was being published: the next run finishes it" if staged
                else "the site is left as it was before: the next run writes it")
        raise Interrupted("while writing the site", left) from e
    finally:
        store.close()  # again: closing a closed store does nothing
        early.close()
        if folder is not None:
            remove_folder(folder)
        if made:  # the build failed
            with suppress(OSError):
                site.dir.rmdir()  # when empty
    what = "every commune" if whole else f"{len(touched):,} of {len(stems):,} communes"
    text = f"site written in {site.dir}: index, feeds and the pages of {what}"
    if gone_codes or gone:
        text += " (with the files deleted from it)"
    if log:
        log(text)
    return text
