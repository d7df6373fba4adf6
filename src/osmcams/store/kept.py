"""What refresh keeps of its published set, so that a run changes only what its diffs touched.

In the history store:

- ``kept_communes`` and ``kept_boxes`` (an SQLite R*Tree of their bounding boxes): the
  outline of every loaded commune, so that a camera a diff created or moved is placed
  in its commune without loading the communes again;
- ``kept_rows``: each published density row, with what recomputing it needs (area,
  coverage, population), its place in the published order, and its JSON and CSV lines;
- ``kept_files``: each file of the published set, with its size and modification time as
  they were once it was published, to tell whether the set in place is still that one.

With each camera's feature line (``kept_objects.feature``), they are what a run writes
its set from: it never reads the published files back, but for the byte ranges of the
communes a patch leaves unchanged in cameras.geojson, copied from the file in place when
its size and time say it is the one published (``outputs.sets``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from osmcams.models import Camera
from osmcams.store.sql import extract_order, rows_in

MARGIN = 1e-4  # degrees around a point when asking the R*Tree (it stores 32-bit floats)


@dataclass
class KeptRow:
    """A published row as kept: enough to recompute it, rank it, and write it again."""

    insee: str
    position: int  # in the selection's order (the order of an unranked table)
    published: int  # in the published files
    name: str
    department: str | None
    population: int | None
    area: float  # km², unrounded
    coverage: float | None
    cameras: int
    cameras_per_km2: float | None
    json: str
    csv: str


class Kept:
    """The kept communes and rows in `db` (a history store's connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._shapes: dict[int, Any] = {}

    def store_communes(self, codes: Iterable[str], shapes: Iterable[Any]) -> None:
        """Replace the kept communes with these outlines (EPSG:4326)."""
        import shapely

        shapes = list(shapes)
        self.db.execute("DELETE FROM kept_communes")
        self.db.execute("DELETE FROM kept_boxes")
        self.db.executemany("INSERT INTO kept_communes VALUES (?, ?, ?)", (  # one WKB at a time
            (i, code, shapely.to_wkb(shape)) for i, (code, shape) in enumerate(zip(codes, shapes))))
        bounds = shapely.bounds(shapes).tolist() if shapes else []
        self.db.executemany("INSERT INTO kept_boxes VALUES (?, ?, ?, ?, ?)", [
            (i, x0, x1, y0, y1) for i, (x0, y0, x1, y1) in enumerate(bounds)])
        self._shapes = {}

    def owners(self, cameras: list[Camera]) -> list[str | None]:
        """The code of the kept commune holding each camera, as `join.assign` gives it:
        on a border, the lowest code; None outside every commune."""
        import shapely

        found: list[str | None] = []
        for camera in cameras:
            point = shapely.Point(camera.lon, camera.lat)
            codes = [code for i, code in self._near(camera.lon, camera.lat, camera.lon, camera.lat)
                     if shapely.intersects(self._shape(i), point)]
            found.append(min(codes) if codes else None)
        return found

    def _near(self, west: float, south: float, east: float, north: float) -> list[tuple[int, str]]:
        """The id and code of the kept communes whose box meets this one (with a MARGIN)."""
        return self.db.execute(
            "SELECT c.id, c.insee FROM kept_boxes b JOIN kept_communes c ON c.id = b.id"
            " WHERE b.min_lon <= ? AND b.max_lon >= ? AND b.min_lat <= ? AND b.max_lat >= ?",
            (east + MARGIN, west - MARGIN, north + MARGIN, south - MARGIN),
        ).fetchall()

    def meeting(self, shape: Any) -> list[str]:
        """The codes of the kept communes whose outline meets `shape`, part by part."""
        import shapely

        found = set()
        for part in shapely.get_parts(shape).tolist():
            found |= {code for i, code in self._near(*part.bounds)
                      if shapely.intersects(self._shape(i), part)}
        return sorted(found)

    def around(self, shape: Any) -> list[str]:
        """The codes of the kept communes whose box holds the box of `shape` (with a MARGIN):
        those that may hold all of it."""
        west, south, east, north = shape.bounds
        return sorted(code for _, code in self._near(east, north, west, south))  # its corners swapped

    def outlines(self, codes: Iterable[str]) -> dict[str, Any]:
        """The kept outlines of the communes of `codes`."""
        import shapely

        return {code: shapely.from_wkb(shape) for code, shape in rows_in(
            self.db, "SELECT insee, shape FROM kept_communes WHERE insee IN ({marks})", codes)}

    def _shape(self, i: int) -> Any:
        import shapely

        if i not in self._shapes:
            (blob,) = self.db.execute("SELECT shape FROM kept_communes WHERE id = ?", (i,)).fetchone()
            self._shapes[i] = shapely.from_wkb(blob)
        return self._shapes[i]

    def store_rows(self, rows: list[KeptRow]) -> None:
        """Replace the kept rows."""
        self.db.execute("DELETE FROM kept_rows")
        self.update_rows(rows)

    def update_rows(self, rows: list[KeptRow]) -> None:
        """Keep these rows in place of their namesakes."""
        self.db.executemany(
            "INSERT OR REPLACE INTO kept_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.insee, r.position, r.published, r.name, r.department, r.population, r.area,
              r.coverage, r.cameras, r.cameras_per_km2, r.json, r.csv) for r in rows],
        )

    def drop_rows(self, codes: Sequence[str]) -> None:
        """Forget the rows of these communes: they left the set."""
        self.db.executemany("DELETE FROM kept_rows WHERE insee = ?", [(code,) for code in codes])

    def reorder(self, published: dict[str, int]) -> None:
        """Keep the new published place of the rows whose place changed."""
        self.db.executemany("UPDATE kept_rows SET published = ? WHERE insee = ?",
                            [(place, code) for code, place in published.items()])

    def rows(self) -> list[KeptRow]:
        """The kept rows, in their published order."""
        return [KeptRow(*r) for r in self.db.execute("SELECT * FROM kept_rows ORDER BY published")]

    def features(self, codes: Collection[str] | None = None) -> Iterable[tuple[str, bytes]]:
        """The commune and feature line, in UTF-8, of every placed camera of the kept rows'
        communes (of `codes` only, when given): commune after commune in their published
        order, each commune's in the order of an extract. The rows come first (CROSS JOIN),
        by the index of their order: only each commune's cameras are sorted, not 90 MB of
        lines."""
        query = ("SELECT r.insee, CAST(o.feature AS BLOB) FROM kept_rows r CROSS JOIN kept_objects o"
                 " ON o.insee = r.insee WHERE o.lon IS NOT NULL{where}"
                 f" ORDER BY r.published, {extract_order('o.key')}")
        if codes is None:
            return self.db.execute(query.format(where=""))
        return rows_in(self.db, query.format(where=" AND r.insee IN ({marks})"), codes)

    def files(self) -> dict[str, tuple[int, int]]:
        """The size and modification time (ns) of each file of the published set, by its
        path relative to the output directory."""
        return {name: (size, mtime) for name, size, mtime in self.db.execute("SELECT * FROM kept_files")}

    def keep_files(self, files: dict[str, tuple[int, int]], whole: bool, gone: Sequence[str] = ()) -> None:
        """Keep these files of the published set; with `whole`, they are the whole set; the
        files `gone` left it."""
        self.db.executemany("DELETE FROM kept_files WHERE name = ?", [(name,) for name in gone])
        if whole:
            self.db.execute("DELETE FROM kept_files")
        self.db.executemany("INSERT OR REPLACE INTO kept_files VALUES (?, ?, ?)",
                            [(name, *identity) for name, identity in files.items()])
