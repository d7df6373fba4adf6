"""The cameras of an extract, kept current with replication diffs, in the history store.

The extract itself is never rewritten. The store keeps (tables ``kept_*``):

- every camera object: tags, timestamp, and its node members (ways and relations) or
  its location (nodes), with the position last computed;
- the node lists of camera ways and of the member ways of camera relations, and the
  locations of their nodes;
- every node location and way node list that a diff brought since the extract was read.

So a node that is known there is known as it is now, and a node that is not is as the
extract has it: when a way or relation becomes a camera while its nodes are not in the
diff, they are read from the extract, decoding only the blocks that hold them. The
store grows with the diffs applied, never with the extract.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

from osmcams.models import Camera, direction_warning, make_camera, unreadable_direction
from osmcams.sources.osm.blocks import Block, Layout, Unindexable, index
from osmcams.sources.osm.pbf import Extract, Scan, centre, placement_warnings, read_by_id, with_hugged
from osmcams.sources.replication import Batch
from osmcams.store.sql import batches, extract_order, keep_value, kept_value, rows_in

SAMPLES_FORMAT = 4  # 2: the estimate's points take in the camera nodes not sampled; 3: not on a way;
# 4: with the nodes of short ways (Extract.hugging)
# The columns a diff sets; a camera's commune is set afterwards (set_communes).
OBJECTS = "INTO kept_objects (key, tags, timestamp, nodes, ways, lon, lat, partial) VALUES"
KINDS = {"node": 0, "way": 1, "relation": 2}


def in_extract_order(cameras: Iterable[Camera]) -> list[Camera]:
    """`cameras` in the order of an extract: nodes, ways, relations, each by id."""
    return sorted(cameras, key=lambda c: (KINDS[c.osm_type], c.osm_id))


class Mirror:
    """The kept cameras in `db` (a history store's connection); `base` is the extract."""

    def __init__(self, db: sqlite3.Connection, base: Path, threads: int = 0) -> None:
        self.db = db
        self.base = base
        self.threads = threads
        self.old_places: dict[str, tuple[float, float] | None] = {}  # before this run's diffs
        self.old_kept: set[str] = set()  # of those, the camera objects kept then
        self.filled = False  # whether a fill remembered every camera kept before this run

    # Small named values (replication state, base file identity) ----------------------

    def get(self, name: str) -> Any:
        """A value stored with `put`, or None."""
        return kept_value(self.db, name)

    def put(self, name: str, value: Any) -> None:
        """Store a JSON value under `name`."""
        keep_value(self.db, name, value)

    def bbox(self) -> tuple[float, float, float, float] | None:
        """The extract's box as `Extract.bbox` kept it: its header's, unless its data lies
        outside it (`pbf.box_of_data`)."""
        bbox = self.get("bbox")
        return tuple(bbox) if bbox else None

    def keep_bbox(self, bbox: tuple[float, float, float, float] | None) -> None:
        """Keep the extract's box as `Extract.bbox` has it (`pbf.box_of_data`'s rule)."""
        self.put("bbox", bbox)
        self.db.execute("DELETE FROM kept_state WHERE name = 'box_unchecked'")

    def box_unchecked(self) -> bool:
        """Whether the box was kept by an osmcams before `pbf.box_of_data` (the store's
        migration to schema 14 says so): its header's, even where its data lies outside it."""
        return bool(self.get("box_unchecked"))

    def extent(self) -> tuple[Any, str | None]:
        """The polygon the extract was cut with and its file, when known; else (None, None)."""
        import shapely

        kept = self.get("extent")
        return (None, None) if kept is None else (shapely.from_wkb(kept["wkb"]), kept["source"])

    # Filling and updating ------------------------------------------------------------

    def fill(self, extract: Extract, scan: Scan) -> None:
        """Replace what is kept with the cameras of a fresh scan of the extract."""
        db = self.db
        if not self.filled:  # the cameras before this run: those kept, less what diffs did
            self._remember({key for (key,) in db.execute("SELECT key FROM kept_objects")})
            self.filled = True
        for table in ("kept_objects", "kept_locations", "kept_ways"):
            db.execute(f"DELETE FROM {table}")
        db.execute("DELETE FROM kept_state WHERE name = 'layout'")
        self._layout()  # while the file is in the page cache
        db.executemany(
            f"INSERT {OBJECTS} (?, ?, ?, '[]', '[]', ?, ?, 0)",
            [(c.key, json.dumps(c.tags), c.timestamp, c.lon, c.lat)
             for c in extract.cameras if c.osm_type == "node"],
        )
        rows: list[tuple[str, dict, str | None, list[int], list[int]]] = [
            (f"way/{i}", tags, stamp, refs, []) for i, (tags, stamp, refs) in scan.ways.items()]
        rows += [(f"relation/{r.osm_id}", r.tags, r.timestamp, r.nodes, [w for w, _ in r.ways])
                 for r in scan.relations]
        self._upsert(rows)
        ways = set(scan.ways) | {w for r in scan.relations for w, _ in r.ways}
        kept = {w: scan.way_refs[w] for w in ways if w in scan.way_refs}
        db.executemany("INSERT INTO kept_ways VALUES (?, ?)",
                       [(w, json.dumps(refs)) for w, refs in kept.items()])
        nodes = {n for refs in kept.values() for n in refs} | {n for r in scan.relations for n in r.nodes}
        db.executemany("INSERT INTO kept_locations VALUES (?, ?, ?)",
                       [row for row in scan.locations.items() if row[0] in nodes])
        self._place([key for key, *_ in rows])

    def apply(self, batch: Batch) -> set[str]:
        """Apply merged diffs; the keys of the camera objects they touched."""
        db = self.db
        db.executemany("INSERT OR REPLACE INTO kept_locations VALUES (?, ?, ?)",
                       [(i, *(p or (None, None))) for i, p in batch.nodes.items()])
        db.executemany("INSERT OR REPLACE INTO kept_ways VALUES (?, ?)",
                       [(i, None if r is None else json.dumps(r)) for i, r in batch.ways.items()])
        removed = [key for key in batch.others if self._has(key)]
        touched = self._touched(batch)
        self._remember(touched | set(removed) | set(batch.cameras))
        db.executemany("DELETE FROM kept_objects WHERE key = ?", [(k,) for k in removed])
        nodes = [(k, v) for k, v in batch.cameras.items() if k.startswith("node/")]
        db.executemany(
            f"INSERT OR REPLACE {OBJECTS} (?, ?, ?, '[]', '[]', ?, ?, 0)",
            [(k, json.dumps(v["tags"]), v["timestamp"], *v["location"]) for k, v in nodes],
        )
        self._upsert([
            (k, v["tags"], v["timestamp"], v.get("refs") or v.get("nodes") or [], v.get("ways", []))
            for k, v in batch.cameras.items() if not k.startswith("node/")
        ])
        self._place(touched | {k for k in batch.cameras if not k.startswith("node/")})
        return touched | set(removed) | set(batch.cameras)

    def _remember(self, keys: set[str]) -> None:
        """Keep where the cameras `keys` were before this run (None: not placed), and which
        were kept then; after a fill, all of that is known."""
        new = sorted(keys - self.old_places.keys())
        self.old_places.update(dict.fromkeys(new))
        if self.filled:
            return
        for key, lon, lat in rows_in(self.db, "SELECT key, lon, lat FROM kept_objects WHERE key IN ({marks})",
                                     new):
            self.old_kept.add(key)
            if lon is not None:
                self.old_places[key] = (lon, lat)

    def kept(self, keys: Iterable[str] | None = None) -> set[str]:
        """The camera objects kept now (in OSM, placed or not, in a commune or not) among
        `keys` (None: all)."""
        if keys is None:
            return {key for (key,) in self.db.execute("SELECT key FROM kept_objects")}
        query = "SELECT key FROM kept_objects WHERE key IN ({marks})"
        return {key for (key,) in rows_in(self.db, query, keys)}

    def kept_before(self, keys: set[str]) -> set[str]:
        """Those of `keys` that were camera objects kept before this run's diffs and fills."""
        found = keys & self.old_kept
        return found if self.filled else found | self.kept(keys - self.old_places.keys())

    def _has(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM kept_objects WHERE key = ?", (key,)).fetchone() is not None

    def _upsert(self, rows: Iterable[tuple[str, dict, str | None, list[int], list[int]]]) -> None:
        self.db.executemany(
            f"INSERT OR REPLACE {OBJECTS} (?, ?, ?, ?, ?, NULL, NULL, 0)",
            [(k, json.dumps(t), s, json.dumps(n), json.dumps(w)) for k, t, s, n, w in rows],
        )

    def _touched(self, batch: Batch) -> set[str]:
        """Camera ways and relations not in the diffs whose member ways or nodes are."""
        touched = set()
        members = self.db.execute(  # every key but node/…: two ranges of the primary key
            "SELECT key, nodes, ways FROM kept_objects WHERE key < 'node/' OR key >= 'node0'"
        ).fetchall()
        way_refs = self._way_refs({w for _, _, ways in members for w in json.loads(ways)})
        for key, nodes, ways in members:
            member_ways = json.loads(ways)
            refs = json.loads(nodes) + [n for w in member_ways for n in way_refs.get(w) or []]
            if any(w in batch.ways for w in member_ways) or any(n in batch.nodes for n in refs):
                touched.add(key)
        return touched

    def _way_refs(self, ways: set[int]) -> dict[int, list[int] | None]:
        """Node lists of `ways`, as kept or else as the extract has them (None: deleted)."""
        found = self._lookup("kept_ways", "refs", ways)
        refs = {w: None if r[0] is None else json.loads(r[0]) for w, r in found.items()}
        missing = ways - refs.keys()
        if missing:
            read = read_by_id(self.base, "way", missing, self.threads, self._layout())
            self.db.executemany(
                "INSERT INTO kept_ways VALUES (?, ?)",
                [(w, None if w not in read else json.dumps(read[w])) for w in missing],
            )
            refs.update({w: read.get(w) for w in missing})
        return refs

    def _locations(self, nodes: set[int]) -> dict[int, tuple[float, float] | None]:
        """Locations of `nodes`, as kept or else as the extract has them (None: absent)."""
        found = self._lookup("kept_locations", "lon, lat", nodes)
        places = {n: None if r[0] is None else (r[0], r[1]) for n, r in found.items()}
        missing = nodes - places.keys()
        if missing:
            read = read_by_id(self.base, "node", missing, self.threads, self._layout())
            self.db.executemany(
                "INSERT INTO kept_locations VALUES (?, ?, ?)",
                [(n, *(read.get(n) or (None, None))) for n in missing],
            )
            places.update({n: read.get(n) for n in missing})
        return places

    def _layout(self) -> Layout | None:
        """Where the blocks of the extract lie: indexed once (reading every block header
        of a large file takes seconds), then kept."""
        kept = self.get("layout")
        if kept is None:
            try:
                layout = index(self.base)
            except (Unindexable, OSError):
                return None
            kept = {"header": astuple(layout.header),
                    **{kind: [astuple(b) for b in blocks] for kind, blocks in layout.blocks.items()}}
            self.put("layout", kept)
        header = Block(*kept.pop("header"))
        return Layout(header, {kind: [Block(*b) for b in blocks] for kind, blocks in kept.items()})

    def _lookup(self, table: str, columns: str, ids: set[int]) -> dict[int, tuple]:
        query = f"SELECT id, {columns} FROM {table} WHERE id IN ({{marks}})"
        return {row[0]: row[1:] for row in rows_in(self.db, query, ids)}

    def _place(self, keys: Iterable[str]) -> None:
        """Compute the centre of camera ways and relations from their nodes' locations."""
        rows = rows_in(self.db, "SELECT key, nodes, ways FROM kept_objects WHERE key IN ({marks})", keys)
        objects = [(key, json.loads(nodes), json.loads(ways)) for key, nodes, ways in rows]
        way_refs = self._way_refs({w for _, _, ways in objects for w in ways})
        refs = {
            key: nodes + [n for w in ways for n in way_refs.get(w) or []]
            for key, nodes, ways in objects
        }
        places = self._locations({n for nodes in refs.values() for n in nodes})
        updates = []
        for key, nodes in refs.items():
            points = [p for p in (places.get(n) for n in nodes) if p is not None]
            where = centre(points) if points else (None, None)
            updates.append((*where, int(0 < len(points) < len(nodes)), key))
        self.db.executemany(
            "UPDATE kept_objects SET lon = ?, lat = ?, partial = ? WHERE key = ?", updates
        )

    # Reading -------------------------------------------------------------------------

    def extract(self, source: str, timestamp: str | None, timestamp_source: str,
                bbox: tuple[float, float, float, float] | None) -> Extract:
        """The kept cameras as an Extract, as a fresh read of the updated extract gives them."""
        cameras = in_extract_order(camera for camera, _ in self._cameras(""))
        bad = sum(map(unreadable_direction, cameras))
        return Extract(cameras, source, timestamp, timestamp_source, bbox, self.warnings(bad))

    def warnings(self, bad: int) -> list[str]:
        """What a read of the updated extract warns about its cameras, `bad` of which have
        a direction that cannot be read."""
        partial = [k for (k,) in self.db.execute(
            "SELECT key FROM kept_objects WHERE partial AND lon IS NOT NULL ORDER BY key")]
        unplaced = [k for (k,) in self.db.execute(
            "SELECT key FROM kept_objects WHERE lon IS NULL ORDER BY key")]
        return direction_warning(bad) + placement_warnings(partial, unplaced)

    def totals(self) -> tuple[int, int, int]:
        """The cameras placed, those of them outside every commune, and those whose
        direction cannot be read (as `set_communes` kept them)."""
        total, inside, bad = self.db.execute(  # each count from an index, not every row
            "SELECT (SELECT count(*) FROM kept_objects WHERE lon IS NOT NULL),"
            " (SELECT count(*) FROM kept_objects WHERE insee IS NOT NULL)"
            " - (SELECT count(*) FROM kept_objects WHERE insee IS NOT NULL AND lon IS NULL),"
            " (SELECT count(*) FROM kept_objects WHERE bad_direction AND lon IS NOT NULL)"
        ).fetchone()
        return total, total - inside, bad

    def keep_samples(self, samples: Any, standalone: tuple[Any, float] | None = None,
                     hugging: Any = None) -> None:
        """Keep the nodes sampled from the extract (`blocks.sampled`), and the points (its
        standalone nodes and the camera nodes not sampled, `Extract.standalone`; the nodes of
        its short ways, `Extract.hugging`) that its area was estimated from: the refresh
        draws the area `count` draws."""
        import numpy

        for name, points in (("samples", samples and samples.points),
                             ("standalone", standalone and standalone[0]), ("hugging", hugging)):
            value = None if points is None else numpy.asarray(points, "<f8").tobytes()
            self.db.execute("INSERT OR REPLACE INTO kept_state VALUES (?, ?)", (name, value))
        self.put("fraction", standalone[1] if standalone else samples and samples.fraction)
        self.put("samples_format", SAMPLES_FORMAT)

    def data_area(self) -> Any:
        """Where the updated extract has data, as `scan_members` finds it: from its standalone
        nodes and its camera nodes not sampled (`footprint`, the area `count` draws; the
        cameras the diffs bring are not among them), or else from
        the sampled nodes with the kept cameras as evidence (`blocks.spread_area`); None
        without samples."""
        from osmcams.geo.footprint import footprint
        from osmcams.sources.osm.blocks import spread_area

        standalone, samples = self._points("standalone"), self._points("samples")
        if standalone is not None:
            area = footprint(standalone, self.get("fraction"), samples)
            if area is not None:
                area = with_hugged(area, self._points("hugging"), self.get("fraction"))[0]
            return area
        if samples is None:
            return None
        places = self.db.execute("SELECT lon, lat FROM kept_objects WHERE lon IS NOT NULL").fetchall()
        return spread_area(samples, self.get("fraction"), places)

    def samples_outdated(self) -> bool:
        """Whether the samples were kept by an earlier osmcams (without the share of the node
        blocks they come from, or the estimate's points without the camera nodes not
        sampled): the extract must be read again."""
        return self._holds("samples") and (
            self.get("fraction") is None or self.get("samples_format") != SAMPLES_FORMAT)

    def estimated_from_standalone(self) -> bool:
        """Whether `data_area` is the footprint of standalone nodes (not a grid)."""
        return self._holds("standalone")

    def grid(self) -> list[Any] | None:
        """The grid of `data_area` (`blocks.grid_of`), which depends on the cameras only
        through their extent: read from the indexes, not from every camera."""
        from osmcams.sources.osm.blocks import grid_of

        samples = self._points("samples")
        corners = [self.db.execute(f"SELECT {f}({c}) FROM kept_objects").fetchone()[0]
                   for f in ("min", "max") for c in ("lon", "lat")]
        grid = grid_of(samples, None if None in corners else [corners[:2], corners[2:]])
        return None if grid is None else [[float(v) for v in grid[0]], *grid[1:]]

    def _holds(self, name: str) -> bool:
        """Whether points are kept under `name`, without reading their megabytes (SQLite
        reads a value for `IS NOT NULL`, not for `typeof`)."""
        row = self.db.execute("SELECT typeof(value) FROM kept_state WHERE name = ?", (name,)).fetchone()
        return row is not None and row[0] != "null"

    def _points(self, name: str) -> Any:
        import numpy

        row = self.db.execute("SELECT value FROM kept_state WHERE name = ?", (name,)).fetchone()
        return None if row is None or row[0] is None else numpy.frombuffer(row[0], "<f8").reshape(-1, 2)

    def holds_camera(self, west: float, south: float, east: float, north: float) -> bool:
        """Whether a placed camera lies strictly inside the box."""
        return self.db.execute(
            "SELECT 1 FROM kept_objects WHERE lon > ? AND lon < ? AND lat > ? AND lat < ? LIMIT 1",
            (west, east, south, north)).fetchone() is not None

    def cameras(self, keys: Iterable[str]) -> list[Camera]:
        """The placed cameras among `keys`, in the order of an extract."""
        return in_extract_order(c for marks, chunk in batches(keys)
                                for c, _ in self._cameras(f"AND key IN ({marks})", chunk))

    def features_in(self, codes: Iterable[str]) -> dict[str, list[tuple[str | None, str | None, str]]]:
        """The surveillance:type, surveillance and feature line (`set_communes`) of each
        camera of each commune of `codes`, in the order of an extract."""
        found: dict[str, list[tuple[str | None, str | None, str]]] = {code: [] for code in codes}
        for code, kind, scope, line in rows_in(
            self.db, "SELECT insee, surveillance_type, surveillance, feature FROM kept_objects"
            f" WHERE lon IS NOT NULL AND insee IN ({{marks}}) ORDER BY {extract_order()}", found,
        ):
            found[code].append((kind, scope, line))
        return found

    def _cameras(self, where: str, params: Iterable[Any] = ()) -> Iterator[tuple[Camera, str | None]]:
        # Tags read once per text: cameras with the same tags (most of a country's) share
        # their strings; each gets its own dict (`make_camera` copies it).
        parsed: dict[str, dict[str, str]] = {}
        for key, tags, stamp, lon, lat, code in self.db.execute(
            "SELECT key, tags, timestamp, lon, lat, insee FROM kept_objects"
            f" WHERE lon IS NOT NULL {where}", tuple(params),
        ):
            kind, osm_id = key.split("/")
            known = parsed.get(tags)
            if known is None:
                known = parsed[tags] = json.loads(tags)
            yield make_camera(kind, int(osm_id), lon, lat, known, stamp)[0], code

    def set_communes(self, cameras: list[Camera], codes: list[str | None],
                     features: Iterable[str | None]) -> None:
        """Keep the commune of each camera (None: outside every commune), its feature line
        in the outputs (None: in no published commune), the tags its commune's row
        tallies, and whether its direction could not be read."""
        self.db.executemany(
            "UPDATE kept_objects SET insee = ?, bad_direction = ?, surveillance_type = ?,"
            " surveillance = ?, feature = ? WHERE key = ?",
            ((code, unreadable_direction(c), c.surveillance_type, c.surveillance, feature, c.key)
             for c, code, feature in zip(cameras, codes, features)),
        )
