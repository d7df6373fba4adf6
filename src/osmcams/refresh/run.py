"""Keep published counts current from OSM replication diffs, and remember every change.

A refresh, under a lock beside the history database:

1. finishes or removes what a killed run left in the output directory;
2. reads the extract once, when it is new to the store (the first run, or a new file);
3. fetches the server's state, then the diffs since the stored sequence, in batches,
   and applies them to the kept cameras (mirror.py), not to the extract;
4. counts, writes the outputs into a staging directory and publishes them as a set;
5. records the run, its counts and its changes, and commits: one transaction.

Nothing new: nothing is written. Diffs the server no longer has, or a sequence that
goes backwards: with a region, the extract is downloaded afresh; without, StaleError.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from osmcams.errors import DataError, StaleError
from osmcams.models import Camera, Progress
from osmcams.refresh.config import Config
from osmcams.settings import Settings
from osmcams.store.history import CHANGES, Change, Run, Store

Log = Callable[[str], None]
BATCH_DIFFS = 60  # diffs merged and applied at once: memory stays bounded when catching up
BATCH_BYTES = 16 << 20
EDGE = 1e-6  # of a cell: a place nearer its edge than this may be binned on either side
SOURCE = "\x00"  # where the source, named with its sequence, goes in the kept notes


class Whole(Exception):
    """A patch would not give what counting every commune gives."""


@dataclass
class Outcome:
    """What a refresh did, for its summary line."""

    summary: str
    sequence: int | None
    changes: list[Change] = field(default_factory=list)
    wrote: bool = False


def now() -> str:
    """The current UTC time, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(stamp: str | None) -> str:
    return (stamp or "unknown date")[:16] + ("Z" if stamp and len(stamp) > 16 else "")


def summary(data_timestamp: str | None, changes: list[Change]) -> str:
    """``data of 2026-11-23T02:00Z: +3 −1 cameras in 2 communes`` (and moves, retags)."""
    kinds = {kind: sum(c.change == kind for c in changes) for kind in CHANGES}
    communes = {c.insee for c in changes if c.insee}
    text = f"data of {_short(data_timestamp)}: +{kinds['added']} −{kinds['removed']} cameras"
    extra = [f"{kinds[k]} {k}" for k in ("moved", "retagged") if kinds[k]]
    text += f" ({', '.join(extra)})" if extra else ""
    return text + f" in {len(communes)} commune{'s' * (len(communes) != 1)}"


@contextmanager
def _run_lock(config: Config) -> Iterator[None]:
    from osmcams.files import exclusive_lock

    config.history.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(config.history, f"refreshing {config.path}"):
        yield


def _identity(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


class Refresh:
    """One refresh run of `config`."""

    def __init__(self, config: Config, settings: Settings, log: Log, progress: Progress | None):
        from osmcams.refresh.mirror import Mirror
        from osmcams.sources.http import Http

        self.config = config
        self.settings = settings
        self.log = log
        self.progress = progress
        self.http = Http(settings)
        self.store = Store(config.history)
        self.mirror = Mirror(self.store.db, config.pbf, settings.threads)
        self.started = now()
        self.diffs = 0
        self.touched: set[str] | None = set()  # camera keys changed by diffs; None: all
        self.start_sequence: int | None = None
        self._selection: tuple[Any, list[str]] | None = None

    def run(self) -> Outcome:
        from osmcams.files import clean_leftovers

        clean_leftovers(self.config.output_dir)
        try:
            with self.store.transaction():
                return self._run()
        finally:
            self.store.close()

    def _run(self) -> Outcome:
        from osmcams.errors import NetworkError
        from osmcams.sources.replication import DiffsGone

        mirror = self.mirror
        fresh = not self.config.pbf.is_file() or mirror.get("base") != _identity(self.config.pbf)
        self.start_sequence = mirror.get("sequence")
        if fresh:
            if self.config.boundaries:
                self._communes()  # a commune that does not exist stops the run before any work
            self._read_extract(download=not self.config.pbf.is_file())
            self.touched = None
        try:
            applied = self._catch_up()
        except (DiffsGone, StaleError) as e:
            if not self.config.region:
                raise StaleError(
                    f"{e}: the stored data (sequence {mirror.get('sequence')}) cannot be brought "
                    f"up to date. Download a newer extract to {self.config.pbf}, or set "
                    f"[source] region in {self.config.path} to let refresh do it, and run again"
                ) from e
            self.log(f"{e}; downloading {self.config.region} afresh")
            self._read_extract(download=True)
            self.touched = None
            try:
                applied = self._catch_up()
            except DiffsGone as again:
                raise NetworkError(f"{again} even after downloading a new extract") from again
        if not (fresh or applied) and self._published() == mirror.get("sequence"):
            stamp = mirror.get("timestamp")
            return Outcome(f"nothing new: data of {_short(stamp)} (sequence "
                           f"{mirror.get('sequence')}) is the newest", mirror.get("sequence"))
        return self._publish(record=bool(fresh or applied))

    # Reading the extract ------------------------------------------------------------

    def _read_extract(self, download: bool) -> None:

        from osmcams.sources.osm.blocks import sampled_nodes
        from osmcams.sources.osm.pbf import scan_members
        from osmcams.sources.replication import ReplicationState

        config = self.config
        if download:
            self._download()
        state = ReplicationState.from_header(config.pbf)
        if state is None:
            raise DataError(
                f"{config.pbf}: its header has no replication sequence and timestamp "
                "(osmosis_replication_*); use an extract from openstreetmap.fr or Geofabrik, or "
                "add them with osmium cat --output-header"
            )
        self.log(f"reading {config.pbf} (sequence {state.sequence}, data of {_short(state.timestamp)})")
        level = None if config.boundaries else config.admin_level
        extract, boundaries, scan = scan_members(config.pbf, level, self.settings.threads, self.progress)
        mirror = self.mirror
        mirror.fill(extract, scan)
        mirror.put("base", _identity(config.pbf))
        mirror.put("bbox", extract.bbox)
        mirror.put("sequence", state.sequence)
        mirror.put("timestamp", state.timestamp)
        mirror.put("url", state.url)
        mirror.keep_samples(sampled_nodes(config.pbf))
        if not config.boundaries:
            mirror.put("boundaries", [_boundary_record(b) for b in boundaries])

    def _download(self) -> None:
        from osmcams.sources.download import extract_for

        config = self.config
        if not config.region:
            raise DataError(f"{config.pbf}: no such file (set [source] region to download it)")
        config.pbf.parent.mkdir(parents=True, exist_ok=True)
        self.log(f"downloading {config.region}")
        path = extract_for(self.http, config.region, config.pbf.parent, self.progress)
        if path != config.pbf:
            os.replace(path, config.pbf)

    # Diffs --------------------------------------------------------------------------

    def _catch_up(self) -> int:
        """Apply the diffs from the stored sequence to the server's newest; how many."""
        from osmcams.sources.replication import Server, read_diffs

        mirror = self.mirror
        url = self.config.replication_url or mirror.get("url")
        if not url:
            raise DataError(
                f"{self.config.pbf} names no replication server; set [source] replication_url "
                f"in {self.config.path}"
            )
        server = Server(self.http, url)
        current = mirror.get("sequence")
        latest = server.latest()
        if latest.sequence < current:
            raise StaleError(
                f"{server.url} is at sequence {latest.sequence}, before the stored {current} "
                "(the sequence went backwards)"
            )
        total = latest.sequence - current
        if not total:
            return 0
        self.log(f"{total} diff{'s' * (total != 1)} to apply from {server.url} "
                 f"(sequence {current + 1} to {latest.sequence})")
        done = 0
        with tempfile.TemporaryDirectory(prefix="osmcams-diffs-") as tmp:
            while done < total:
                paths: list[Path] = []
                size = 0
                while done + len(paths) < total and len(paths) < BATCH_DIFFS and size < BATCH_BYTES:
                    path = server.fetch_diff(current + done + len(paths) + 1, Path(tmp))
                    paths.append(path)
                    size += path.stat().st_size
                touched = mirror.apply(read_diffs(paths))
                if self.touched is not None:
                    self.touched |= touched
                for path in paths:
                    path.unlink()
                done += len(paths)
                if self.progress:
                    self.progress("Diffs", done, total)
        mirror.put("sequence", latest.sequence)
        mirror.put("timestamp", latest.timestamp)
        self.diffs += total
        return total

    # Counting and publishing --------------------------------------------------------

    def _publish(self, record: bool) -> Outcome:
        """Publish the set, and record the run when it brought new data.

        When the set in place is the stored one and the communes did not change, only
        the communes whose cameras the diffs touched are counted and written again (a
        patch); else every commune is.
        """
        from osmcams.outputs.sets import StaleSet

        mirror = self.mirror
        key = self._communes_key()
        changes: list[Change] | None = None
        if (record and self.touched is not None and mirror.get("communes") == key
                and self._published() == self.start_sequence):
            try:
                changes = self._patch()
            except (StaleSet, Whole) as e:
                self.log(f"{e}: counting every commune and writing the whole set again")
        if changes is None:
            changes = self._rebuild(record, key)
        stamp = mirror.get("timestamp")
        text = summary(stamp, changes) if record else f"outputs restored: data of {_short(stamp)}"
        return Outcome(text, mirror.get("sequence"), changes, wrote=True)

    def _communes(self) -> tuple[Any, list[str]]:
        """The communes (from files, or as the extract had them) and the codes selected."""
        from osmcams.communes.boundaries import load_communes
        from osmcams.communes.from_osm import communes_from_boundaries
        from osmcams.communes.names import select
        from osmcams.communes.population import apply_population

        config = self.config
        if self._selection is None:
            if config.boundaries:
                communes = load_communes(
                    config.boundaries, config.population, config.code_field, config.name_field,
                    cache_dir=self.settings.cache_dir, progress=self.progress,
                )
            else:
                boundaries = [_boundary(r) for r in self.mirror.get("boundaries") or []]
                communes = communes_from_boundaries(boundaries, config.pbf.name, config.admin_level)
                if config.population:
                    apply_population(communes, config.population)
            self._selection = communes, select(communes, config.names, config.department, config.every)
        return self._selection

    def _published(self) -> int | None:
        """The replication sequence of the published set, None when there is none."""
        import json

        try:
            with open(self.config.output_dir / "communes.json", encoding="utf-8") as f:
                return json.load(f)["meta"].get("replication_sequence")
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _extract_names(self) -> tuple[str, str]:
        """The source and the timestamp source that the outputs name."""
        sequence = self.mirror.get("sequence")
        return (f"{self.config.pbf.name} + replication diffs to sequence {sequence}",
                f"replication state (sequence {sequence})")

    def _communes_key(self) -> str:
        """What the kept communes and rows depend on: when it changes, all is counted again."""
        import json

        from osmcams import __version__
        from osmcams.communes.boundaries import boundary_files

        config = self.config
        files = boundary_files(config.boundaries) if config.boundaries else []
        population = config.population
        return json.dumps([
            __version__, [[str(f), *_identity(f)] for f in files],
            str(population), _identity(population) if population and population.is_file() else None,
            config.names, config.department, config.every, config.admin_level, config.code_field,
            config.name_field, self.mirror.get("base"),
        ])

    def _run_record(self) -> Run:
        mirror = self.mirror
        return Run(mirror.get("timestamp"), mirror.get("sequence"), self._extract_names()[0],
                   self.started, now(), self.diffs)

    def _rebuild(self, record: bool, key: str) -> list[Change]:
        """Count every commune from every kept camera, and write the whole set."""

        from osmcams.join import assign, count
        from osmcams.outputs.sets import SetRow, write_set
        from osmcams.outputs.writers import camera_feature, feature_line, row_lines
        from osmcams.store.kept import Kept, KeptRow

        config, mirror = self.config, self.mirror
        bbox = mirror.get("bbox")
        extract = mirror.extract(self._extract_names()[0], mirror.get("timestamp"),
                                 self._extract_names()[1], tuple(bbox) if bbox else None)
        extract.data_area = self._keep_area()
        communes, codes = self._communes()
        owners = assign(extract.cameras, communes)
        rank = config.every or not config.names
        report = count(extract, communes, codes, rank=rank, owners=owners)
        report.meta["replication_sequence"] = mirror.get("sequence")
        for warning in report.warnings:
            self.log(f"warning: {warning}")
        kept = Kept(self.store.db)
        names = {r["insee"]: r["name"] for r in report.rows}
        lines = {c.key: feature_line(camera_feature(c, code, names[code]))
                 for code in names for c in report.cameras[code]}
        mirror.set_communes(extract.cameras, owners, (lines.get(c.key) for c in extract.cameras))
        if mirror.get("communes") != key:
            kept.store_communes(communes.frame["insee"], communes.frame.geometry.values)
        texts = [row_lines(r) for r in report.rows]
        position = {code: i for i, code in enumerate(codes)}
        kept.store_rows([
            KeptRow(r["insee"], position[r["insee"]], i, r["name"], r["department"],
                    r["population"], report.areas[r["insee"]], r["coverage"], r["cameras"],
                    r["cameras_per_km2"], *text)
            for i, (r, text) in enumerate(zip(report.rows, texts))
        ])
        mirror.put("communes", key)
        mirror.put("selected", codes)
        chosen = set(codes)  # the names of the communes without data, for the site's pages
        mirror.put("names", {code: name for code, name in zip(communes.frame["insee"].tolist(),
                                                               communes.frame["name"].tolist())
                             if code in chosen})
        mirror.put("report", {
            "notes": [n.replace(extract.source, SOURCE) for n in report.notes], "rank": rank,
            "boundaries": communes.source,
            "population_source": communes.population_source,
            "population_year": communes.population_year,
        })
        cameras = {code: report.cameras[code] for code in names}
        write_set(config.output_dir, report.meta, report.warnings,
                  [SetRow(r["insee"], r["name"], *text) for r, text in zip(report.rows, texts)],
                  {code: [lines[c.key] for c in group] for code, group in cameras.items()})
        del lines, texts  # a first run holds every camera's feature: not while recording
        return (self.store.record_run(self._run_record(), report.rows, cameras, self.touched)
                if record else [])

    def _keep_area(self) -> Any:
        """Where the updated extract has data (`Mirror.data_area`), kept with its grid."""
        area = self.mirror.data_area()
        self.mirror.put("area", {"wkb": _wkb(area), "grid": self.mirror.grid()})
        return area

    def _area_changed(self, cameras: list[Camera]) -> bool:
        """Whether the diffs changed where the extract has data, `cameras` being where the
        touched cameras are now. `blocks.area_of` depends on the cameras through the
        grid, and the cells that hold one: unchanged when the grid is, every camera is
        now inside the area, and every cell a camera left holds another; else the area
        is computed again and compared."""
        import shapely

        mirror, kept = self.mirror, self.mirror.get("area")
        if kept["grid"] is None:  # no samples: no area, whatever the cameras
            return False
        area = None if kept["wkb"] is None else shapely.from_wkb(kept["wkb"])
        if (area is not None and mirror.grid() == kept["grid"]
                and all(shapely.contains_xy(area, c.lon, c.lat) for c in cameras)
                and all(_cell_holds(mirror, p, kept["grid"]) for p in mirror.old_places.values()
                        if p is not None)):
            return False
        return _wkb(self._keep_area()) != kept["wkb"]

    def _patch(self) -> list[Change]:
        """Count again only the communes whose cameras the diffs touched, and write their
        files; the others' rows and features are kept."""
        from osmcams.communes.model import Communes
        from osmcams.join import NO_DATA, finish, rank_order, row_of
        from osmcams.outputs.sets import SetRow, write_set
        from osmcams.outputs.writers import camera_feature, feature_line, row_lines
        from osmcams.sources.osm.pbf import Extract
        from osmcams.store.kept import Kept

        mirror, kept = self.mirror, Kept(self.store.db)
        touched = self.touched or set()
        moved = mirror.cameras(touched)
        owners = kept.owners(moved)
        rows = kept.rows()
        before = [(r.insee, r.cameras) for r in rows]  # the blocks of cameras.geojson in place
        by_code = {r.insee: r for r in rows}
        mirror.set_communes(moved, owners, (
            feature_line(camera_feature(c, code, by_code[code].name)) if code in by_code else None
            for c, code in zip(moved, owners)))
        dirty = {code for code in (*self.store.communes_of(touched).values(), *owners)
                 if code in by_code}
        selected = set(mirror.get("selected"))
        entering = sorted({code for code in owners if code and code in selected and code not in by_code})
        if entering:  # a commune outside the data now holds a camera: it gets a row
            raise Whole(f"{', '.join(entering)} now hold cameras")
        self.log(f"{len(touched)} cameras touched, in {len(dirty)} of the {len(rows)} communes: "
                 "counting these again")
        kept_features = mirror.features_in(dirty)
        fresh = {}
        for code in dirty:
            r = by_code[code]
            fresh[code] = row_of(code, r.name, r.department, r.population, r.area, r.coverage,
                                 [(kind, scope) for kind, scope, _ in kept_features[code]])
            r.json, r.csv = row_lines(fresh[code])
            r.cameras, r.cameras_per_km2 = fresh[code]["cameras"], fresh[code]["cameras_per_km2"]
            if not r.cameras and r.coverage is not None and r.coverage < NO_DATA:
                raise Whole(f"{code}, outside the data, no longer holds a camera")  # its row goes
        if self._area_changed(moved):  # the cameras widen or narrow it
            raise Whole("the area the data covers changed")
        state = mirror.get("report")
        if state["rank"]:
            order = sorted(rows, key=lambda r: rank_order(
                {"cameras": r.cameras, "cameras_per_km2": r.cameras_per_km2, "insee": r.insee}))
        else:
            order = sorted(rows, key=lambda r: r.position)
        source, timestamp_source = self._extract_names()
        bbox = mirror.get("bbox")
        total, outside, bad = mirror.totals()
        extract = Extract([], source, mirror.get("timestamp"), timestamp_source,
                          tuple(bbox) if bbox else None, mirror.warnings(bad))
        communes = Communes(None, state["boundaries"], state["population_source"],
                            state["population_year"])
        notes = [n.replace(SOURCE, source) for n in state["notes"]]
        named = [{"insee": r.insee, "name": r.name, "population": r.population} for r in order]
        meta, warnings = finish(extract, communes, named, notes, total, outside)
        meta["replication_sequence"] = mirror.get("sequence")
        for warning in warnings:
            self.log(f"warning: {warning}")
        write_set(self.config.output_dir, meta, warnings,
                  [SetRow(r.insee, r.name, r.json, r.csv) for r in order],
                  {code: [line for *_, line in kept_features[code]] for code in dirty}, before)
        now: dict[str, list[Camera]] = {code: [] for code in dirty}
        for camera, owner in zip(moved, owners):
            if owner in now:
                now[owner].append(camera)
        changes = self.store.record_run(self._run_record(), list(fresh.values()), now, touched)
        kept.update_rows([by_code[code] for code in dirty])
        kept.reorder({r.insee: i for i, r in enumerate(order) if r.published != i})
        return changes


def _cell_holds(mirror: Any, place: tuple[float, float], grid: list[Any]) -> bool:
    """Whether the cell of `grid` (`blocks.grid_of`) that holds `place` holds a placed
    camera; False when `place` is too near an edge to tell its cell."""
    import math

    (west, south), size, columns, rows = grid
    x, y = (place[0] - west) / size, (place[1] - south) / size
    i, j = math.floor(x), math.floor(y)
    if min(x - i, i + 1 - x, y - j, j + 1 - y) < EDGE or not (0 <= i < columns and 0 <= j < rows):
        return False
    return mirror.holds_camera(west + (i + EDGE) * size, south + (j + EDGE) * size,
                               west + (i + 1 - EDGE) * size, south + (j + 1 - EDGE) * size)


def _wkb(shape: Any) -> str | None:
    import shapely

    return None if shape is None else shapely.to_wkb(shape, hex=True)


def _boundary_record(boundary: Any) -> list[Any]:
    import shapely

    shape = None if boundary.geometry is None else shapely.to_wkb(boundary.geometry, hex=True)
    return [boundary.relation_id, boundary.tags, shape, boundary.problem]


def _boundary(record: list[Any]) -> Any:
    import shapely

    from osmcams.sources.osm.pbf import Boundary

    relation_id, tags, shape, problem = record
    return Boundary(relation_id, tags, None if shape is None else shapely.from_wkb(shape), problem)


def refresh(config: Config, settings: Settings, log: Log, progress: Progress | None = None) -> Outcome:
    """Run one refresh of `config`, under its lock."""
    with _run_lock(config):
        outcome = Refresh(config, settings, log, progress).run()
        if config.site is not None:  # also after "nothing new": a killed run left it behind
            from osmcams.outputs.site import build

            build(config, log=log)
        return outcome
