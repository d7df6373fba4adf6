"""Keep published counts current from OSM replication diffs, and remember every change.

A refresh, under a lock beside the history database:

1. finishes or removes what a killed run left in the output directory;
2. reads the extract once, when it is new to the store (the first run, or a new file);
3. fetches the server's state, then the diffs since the stored sequence, in batches,
   and applies them to the kept cameras (mirror.py), not to the extract;
4. counts, writes the outputs from the store into a staging directory and publishes them
   as a set (it never reads them back: the store keeps what it published);
5. records the run, its counts and its changes, and commits: one transaction.

Nothing new: nothing is written. Diffs the server no longer has, or a sequence that
goes backwards: with a region, the extract is downloaded afresh; without, StaleError.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osmcams.errors import DataError, Interrupted, OutputError, StaleError
from osmcams.files import cannot_write, clean_leftovers, exclusive_lock, temporary_folder
from osmcams.join import share_text
from osmcams.models import Camera, Progress, cameras_text
from osmcams.refresh.config import Config
from osmcams.settings import Settings, public_url
from osmcams.store.history import ALONE, Change, Run, Store, one_move_each, run_kinds

if TYPE_CHECKING:
    from osmcams.outputs.sets import SetRow
    from osmcams.sources.osm.pbf import Extract
    from osmcams.store.kept import KeptRow

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


def now() -> str:
    """The current UTC time, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_date(stamp: str, stored: str | None, what: str) -> None:
    """NetworkError when a replication state's date `stamp` is before the `stored` data's,
    or in the future: a server that cannot be believed."""
    from datetime import timedelta

    from osmcams.errors import NetworkError

    if stored and stamp < stored:
        raise NetworkError(f"{what}, before the stored data of {stored}: refused")
    if stamp > (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"):
        raise NetworkError(f"{what}, in the future: refused")


def _header_url(pbf: Path) -> str | None:
    """The replication server the extract's header names, with the user name and password
    it may hold (the store keeps it without them); None when the extract cannot say."""
    from osmcams.sources.replication import ReplicationState

    try:
        state = ReplicationState.from_header(pbf)
    except (OSError, DataError):
        return None
    return None if state is None else state.url


def _short(stamp: str | None) -> str:
    return (stamp or "unknown date")[:16] + ("Z" if stamp and len(stamp) > 16 else "")


def summary(data_timestamp: str | None, changes: list[Change]) -> str:
    """``data of 2026-11-23T02:00Z: +3 −1 cameras in 2 communes`` (and moves, retags)."""
    kinds = one_move_each(run_kinds((c.change, c.key) for c in changes))
    communes = {c.insee for c in changes if c.insee}
    text = (f"data of {_short(data_timestamp)}: +{kinds.get('added', 0):,} −{kinds.get('removed', 0):,}"
            " cameras")
    extra = [f"{kinds[k]:,} {k}" for k in ("moved", *ALONE.values(), "retagged") if kinds.get(k)]
    text += f" ({', '.join(extra)})" if extra else ""
    return text + f" in {len(communes):,} commune{'s' * (len(communes) != 1)}"


# What SQLite says when the place of the history refuses writes: the run is rolled back.
SQLITE_CANNOT_WRITE = ("database or disk is full", "disk I/O error", "unable to open database file",
                       "attempt to write a readonly database")


@contextmanager
def run_lock(config: Config) -> Iterator[None]:
    """Hold the lock of `config`'s history while the block runs. A place that cannot be
    written (a full disk, a read-only or virtual file system, a name too long) is one
    OutputError line; SQLite has rolled the history back."""
    import sqlite3

    from osmcams.errors import OsmcamsError, OutputError

    try:
        config.history.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(config.history, f"refreshing {config.path}"):
            yield
    except OsmcamsError:
        raise
    except OSError as e:
        raise cannot_write(e.filename or config.output_dir, e) from e
    except sqlite3.OperationalError as e:
        if str(e) not in SQLITE_CANNOT_WRITE:
            raise
        raise OutputError(f"cannot write {config.history}: {e}") from e


@contextmanager
def gone_if_failed(history: Path) -> Iterator[None]:
    """Remove the history that the block makes if the block fails: `history` and `changes`
    would take it for runs without data."""
    first = not history.exists()
    try:
        yield
    except BaseException:
        if first:
            history.unlink(missing_ok=True)
        raise


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
        # What killed runs left: a set half published, diffs half applied (beside the store).
        for folder in {self.config.output_dir, self.config.history.parent}:
            clean_leftovers(folder)
        try:
            with self.store.transaction():
                return self._run()
        finally:
            self.store.close()

    def _run(self) -> Outcome:
        from osmcams.errors import NetworkError
        from osmcams.sources.replication import DiffsGone

        mirror = self.mirror
        fresh = (not self.config.pbf.is_file() or mirror.get("base") != _identity(self.config.pbf)
                 or mirror.samples_outdated())
        self.start_sequence = mirror.get("sequence")
        if fresh:
            if self.config.request.boundaries:
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
        # After the diffs: a run that fails on them (a server down) has not read the extract
        # for its box, which its rollback would have it read again.
        reboxed = mirror.box_unchecked() and self._box_changed()
        if reboxed:
            self.touched = None  # every row's coverage may change
        same = mirror.get("communes") == self._communes_key()
        if not (fresh or applied or reboxed) and self._in_place(mirror.get("sequence")) and same:
            stamp = mirror.get("timestamp")
            return Outcome(f"nothing new: data of {_short(stamp)} (sequence "
                           f"{mirror.get('sequence')}) is the newest", mirror.get("sequence"))
        if not same and not fresh:
            self.log(f"the communes of {self.config.path} or their files changed: "
                     "counting every commune again")
        return self._publish(record=bool(fresh or applied))

    # Reading the extract ------------------------------------------------------------

    def _read_extract(self, download: bool) -> None:

        from osmcams.sources.osm.blocks import sampled
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
        level = None if config.request.boundaries else config.request.admin_level
        extract, boundaries, scan = scan_members(config.pbf, level, self.settings.threads, self.progress)
        mirror = self.mirror
        mirror.fill(extract, scan)
        mirror.put("base", _identity(config.pbf))
        mirror.keep_bbox(extract.bbox)
        mirror.put("sequence", state.sequence)
        mirror.put("timestamp", state.timestamp)
        mirror.put("url", None if state.url is None else public_url(state.url))  # the store is no secret
        # The sieve's sample when it took one (no block read twice), else one taken apart.
        mirror.keep_samples(sampled(config.pbf) if scan.samples is None else scan.samples,
                            extract.standalone, extract.hugging)
        mirror.put("area_from", extract.data_area_from)
        mirror.put("extent", None if extract.extent is None else
                   {"wkb": _wkb(extract.extent), "source": extract.extent_source})
        if not config.request.boundaries:
            mirror.put("boundaries", [_boundary_record(b) for b in boundaries])

    def _box_changed(self) -> bool:
        """Whether the extract's box, read again (its cameras are not: those kept are
        current), is not the one kept, which an earlier osmcams took from its header
        (`Mirror.box_unchecked`); it is kept from now on."""
        from osmcams.sources.osm.pbf import scan_members

        mirror = self.mirror
        box = scan_members(self.config.pbf, None, self.settings.threads, self.progress)[0].bbox
        changed = box != mirror.bbox()
        if changed:
            self.log(f"{self.config.pbf.name}: the box of its header, kept as its cut by an earlier "
                     "osmcams, is not its cut (its data lies outside it): every commune is counted again")
        mirror.keep_bbox(box)
        return changed

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
        """Apply the diffs from the stored sequence to the server's newest; how many. The
        newest, when its state is announced before its diff is there (a mirror a step behind
        its state.txt), is left to the next run."""
        from osmcams.sources.replication import DiffsGone, Server, read_diffs

        mirror = self.mirror
        url = self.config.replication_url or _header_url(self.config.pbf) or mirror.get("url")
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
                f"{public_url(server.url)} is at sequence {latest.sequence}, before the stored {current} "
                "(the sequence went backwards)"
            )
        total = latest.sequence - current
        if not total:
            return 0
        _check_date(latest.timestamp, mirror.get("timestamp"), f"{public_url(server.url)} says "
                    f"sequence {latest.sequence} holds data of {latest.timestamp}")
        self.log(f"{total} diff{'s' * (total != 1)} to apply from {public_url(server.url)} "
                 f"(sequence {current + 1} to {latest.sequence})")
        done = 0
        with temporary_folder(self.config.history.parent) as tmp:  # the next run removes it after a kill
            while done < total:
                paths: list[Path] = []
                size = 0
                while done + len(paths) < total and len(paths) < BATCH_DIFFS and size < BATCH_BYTES:
                    sequence = current + done + len(paths) + 1
                    try:
                        path = server.fetch_diff(sequence, tmp)
                    except DiffsGone:
                        if sequence != latest.sequence:
                            raise  # purged, or never made: the extract must be read again
                        self.log(f"sequence {sequence} is announced but its diff is not published "
                                 "yet: the next run applies it")
                        total -= 1
                        latest = server.state(sequence - 1) if total else latest
                        break
                    paths.append(path)
                    size += path.stat().st_size
                if not paths:
                    break
                touched = mirror.apply(read_diffs(paths))
                if self.touched is not None:
                    self.touched |= touched
                for path in paths:
                    path.unlink()
                done += len(paths)
                if self.progress:
                    self.progress("Diffs", done, total)
        if not total:
            return 0
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
        mirror = self.mirror
        key = self._communes_key()
        changes: list[Change] | None = None
        if (record and self.touched is not None and mirror.get("communes") == key
                and self._in_place(self.start_sequence)):
            try:
                changes = self._patch()
            except Whole as e:
                self.log(f"{e}: counting every commune and writing the whole set again")
        if changes is None:
            changes = self._rebuild(record, key)
        stamp = mirror.get("timestamp")
        text = summary(stamp, changes) if record else f"outputs restored: data of {_short(stamp)}"
        return Outcome(text, mirror.get("sequence"))

    def _communes(self) -> tuple[Any, list[str]]:
        """The communes (from files, or as the extract had them) and the codes selected."""
        from osmcams.counting import communes_for, selected

        request = self.config.request
        if self._selection is None:
            stored = [] if request.boundaries else self.mirror.get("boundaries") or []
            relations = [boundary_from_record(r) for r in stored]
            communes = communes_for(request, self.settings, relations, self.config.pbf.name, self.progress)
            self._selection = communes, selected(request, communes)
        return self._selection

    def _in_place(self, sequence: int | None) -> bool:
        """Whether the set in the output directory is the one the store published, at
        `sequence`: every file of it there, none edited since (by its size and time)."""
        from osmcams.outputs.sets import identities
        from osmcams.store.kept import Kept

        if sequence is None or self.mirror.get("published") != sequence:
            return False
        files = Kept(self.store.db).files()
        return bool(files) and identities(self.config.output_dir, files) == files

    def _write_set(self, meta: dict[str, Any], warnings: list[str], rows: list[SetRow],
                   features: dict[str, list[str]], whole: bool, gone: Sequence[str] = ()) -> None:
        """Publish the set of `rows`, cameras.geojson from the kept feature lines (a patch
        copies the other communes' from the file in place when the store knows where they
        lie in it), less the commune files `gone`, and keep what was published (`write_set`)."""
        from osmcams.outputs.sets import FIXED, write_set
        from osmcams.store.kept import Kept

        kept, name = Kept(self.store.db), FIXED["cameras"]
        known = self.mirror.get("camera_ranges")  # those of the cameras.geojson of that identity
        ranges = None
        if not whole and known and known["identity"] == list(kept.files().get(name, ())):
            ranges = {code: (offset, size) for code, (offset, size) in known["ranges"].items()}
        files, written = write_set(self.config.output_dir, meta, warnings, rows, features, kept.features,
                                   whole, gone, ranges)
        kept.keep_files(files, whole, gone)
        self.mirror.put("camera_ranges", {"identity": list(files[name]), "ranges": written})
        self.mirror.put("published", meta["replication_sequence"])

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

        request = self.config.request
        files = boundary_files(request.boundaries) if request.boundaries else []
        population = request.population
        return json.dumps([
            __version__, [[str(f), *_identity(f)] for f in files],
            str(population), _identity(population) if population and population.is_file() else None,
            request.communes, request.department, request.every, request.admin_level, request.code_field,
            request.name_field, request.population_year, self.mirror.get("base"),
        ])

    def _run_record(self) -> Run:
        mirror = self.mirror
        state = mirror.get("report")  # the population of the counts, as kept with them
        return Run(mirror.get("timestamp"), mirror.get("sequence"), self._extract_names()[0],
                   self.started, now(), self.diffs, state["population_source"], state["population_year"])

    def _rebuild(self, record: bool, key: str) -> list[Change]:
        """Count every commune from every kept camera, and write the whole set."""
        from osmcams.join import assign, count
        from osmcams.outputs.sets import SetRow
        from osmcams.outputs.writers import camera_feature, feature_line, row_lines
        from osmcams.store.kept import Kept, KeptRow

        config, mirror = self.config, self.mirror
        extract = mirror.extract(self._extract_names()[0], mirror.get("timestamp"),
                                 self._extract_names()[1], mirror.bbox())
        extract.data_area = self._keep_area()
        extract.data_area_from = mirror.get("area_from") or extract.data_area_from
        extract.extent, extract.extent_source = mirror.extent()
        communes, codes = self._communes()
        owners = assign(extract.cameras, communes)
        rank = config.request.every or not config.request.communes
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
        self._keep_no_data_area()
        chosen = set(codes)  # the names of the communes without data, for the site's pages
        mirror.put("names", {code: name for code, name in zip(communes.frame["insee"].tolist(),
                                                               communes.frame["name"].tolist())
                             if code in chosen})
        # What a row needs of the communes beside its count, for those a patch gives one; by
        # code, whichever have rows.
        mirror.put("attributes", dict(sorted((r["insee"], [r["department"], r["population"],
                                                           report.areas[r["insee"]]])
                                             for r in (*report.rows, *report.outside))))
        kept_notes = report.notes[: len(report.notes) - report.coverage_notes]  # the rest: `_coverage_notes`
        mirror.put("report", {
            "notes": [n.replace(extract.source, SOURCE) for n in kept_notes], "rank": rank,
            "where": None if report.where is None else report.where.replace(extract.source, SOURCE),
            "boundaries": communes.source,
            "population_source": communes.population_source,
            "population_year": communes.population_year,
            "coverage_from": report.meta["coverage_from"],
            "areas_kept": "area_km2" in communes.frame,  # the coverage is cut against them (`coverage_in`)
            # Why communes have no population, which `join.finish` does not warn of again.
            "population_notes": {code: note for code, note in communes.population_notes.items()
                                 if code in chosen},
        })
        cameras = {code: report.cameras[code] for code in names}
        self._write_set(report.meta, report.warnings,
                        [SetRow(r["insee"], r["name"], *text) for r, text in zip(report.rows, texts)],
                        {code: [lines[c.key] for c in group] for code, group in cameras.items()}, True)
        del lines, texts  # a first run holds every camera's feature: not while recording
        return self._record(report.rows, cameras) if record else []

    def _keep_no_data_area(self, changed: Sequence[str] = ()) -> None:
        """With a site, the area of the communes without data that its map draws, kept (the
        communes `changed` gained or lost their data since the area kept: `keep_no_data_area`)."""
        if self.config.site is not None:
            from osmcams.refresh.site import keep_no_data_area

            keep_no_data_area(self.store, changed)

    def _keep_area(self) -> Any:
        """Where the updated extract has data (`Mirror.data_area`), kept with its grid."""
        area = self.mirror.data_area()
        self.mirror.put("area", {"wkb": _wkb(area), "grid": self.mirror.grid()})
        return area

    def _coverage_notes(self, where: str, rows: list[KeptRow]) -> list[str]:
        """The whole count's warnings on partly covered and left-out communes, for the rows
        as a patch leaves them (`join.coverage_warnings`), in the order asked."""
        from osmcams.join import coverage_warnings

        names = self.mirror.get("names")
        held = {r.insee: r for r in rows}
        partial = [f"{r.name} ({r.insee}) {share_text(r.coverage)}"
                   for r in sorted(rows, key=lambda r: r.position)
                   if r.coverage is not None and r.coverage < 1]
        outside = [f"{names.get(code, code)} ({code})" for code in self.mirror.get("selected")
                   if code not in held]
        return coverage_warnings(where, partial, outside)

    def _data(self, area: Any = None) -> Extract:
        """An extract without cameras that says where the data lies: its box, its extent and
        `area`, else the kept area."""
        import shapely

        from osmcams.sources.osm.pbf import Extract

        mirror = self.mirror
        if area is None:
            kept = mirror.get("area")
            area = kept and kept["wkb"] and shapely.from_wkb(kept["wkb"])
        return Extract([], "", None, "", mirror.bbox(), data_area=area, extent=mirror.extent()[0])

    def _outlines(self, codes: list[str]) -> Any:
        """The kept outlines of the communes `codes`, as an array in their order."""
        import numpy

        from osmcams.store.kept import Kept

        outlines = Kept(self.store.db).outlines(codes)
        return numpy.array([outlines[code] for code in codes], object)

    def _outside(self, codes: list[str]) -> list[str]:
        """Of `codes`, the communes that `join.covered` leaves out once they hold no camera:
        not those that hold all of the data (the kept area)."""
        from osmcams.join import holds_the_data

        if not codes:
            return codes
        holds = holds_the_data(self._data(), self._outlines(codes))
        return [code for code, held in zip(codes, holds) if not held]

    def _coverage(self, codes: list[str], about: dict[str, list[Any]],
                  areas_kept: bool) -> list[float | None]:
        """The coverage of the communes `codes` of the data now, as a whole count cuts it
        (`join.shares_of`, with their areas `about` when it took its communes' own)."""
        from osmcams.join import shares_of

        areas = [about[code][2] for code in codes] if areas_kept else None
        shares = shares_of(self._data(), self._outlines(codes), areas)
        return [None] * len(codes) if shares is None else [float(share) for share in shares]

    def _new_rows(self, coverage: dict[str, float | None], about: dict[str, list[Any]]) -> list[KeptRow]:
        """The rows, not counted yet, of the communes of `coverage`, which had none: their name,
        and their department, population and area `about` (kept_state 'attributes'); their
        `coverage`."""
        from osmcams.store.kept import KeptRow

        mirror = self.mirror
        names = mirror.get("names")
        position = {code: i for i, code in enumerate(mirror.get("selected"))}
        return [KeptRow(code, position[code], -1, names[code], about[code][0], about[code][1], about[code][2],
                        share, 0, None, "", "")
                for code, share in coverage.items()]

    def _area_change(self, cameras: list[Camera]) -> tuple[Any, Any] | None:
        """Whether the diffs changed where the extract has data, `cameras` being where the
        touched cameras are now: the area kept and the area now (kept in its place); None
        when it is the same. `blocks.spread_area` depends on the
        cameras through the grid, and the cells that hold one: unchanged when the grid is,
        the cell of every camera is now inside the area, and every cell a camera left holds
        another; else the area is computed again and compared. Whole when there was no area
        or is none now: every commune's coverage changes."""
        import shapely

        mirror, kept = self.mirror, self.mirror.get("area")
        if mirror.get("extent") is not None or mirror.estimated_from_standalone():
            return None  # the extent, not the area, says what is covered; or no camera changes it
        if kept["grid"] is None:  # no samples: no area, whatever the cameras
            return None
        area = None if kept["wkb"] is None else shapely.from_wkb(kept["wkb"])
        if (area is not None and mirror.grid() == kept["grid"]
                and all(_cell_inside(area, (c.lon, c.lat), kept["grid"]) for c in cameras)
                and all(_cell_holds(mirror, p, kept["grid"]) for p in mirror.old_places.values()
                        if p is not None)):
            return None
        now = self._keep_area()
        if _wkb(now) == kept["wkb"]:
            return None
        if area is None or now is None:
            raise Whole("the data now has an area where it had none, or none where it had one")
        return area, now

    def _patch(self) -> list[Change]:
        """Count again only the communes whose cameras the diffs touched (a commune outside
        the data that now holds one gets its row, one that holds none any more loses it) and
        those whose coverage a change of the data's area changes or that held or now hold all
        of the data, and write their files; the others' rows and features are kept. Whole when
        no row would be left: the whole count refuses such a table."""
        import shapely

        from osmcams.communes.model import Communes
        from osmcams.join import NO_DATA, data_region, finish, rank_order, row_of
        from osmcams.outputs.sets import SetRow, commune_path
        from osmcams.outputs.writers import camera_feature, feature_line, row_lines
        from osmcams.sources.osm.pbf import Extract
        from osmcams.store.kept import Kept

        mirror, kept = self.mirror, Kept(self.store.db)
        state = mirror.get("report")
        # Kept with the communes' attributes and whether their areas were their own: without the
        # notes, the warnings would name communes the whole count does not.
        if "population_notes" not in state:
            raise Whole("the store does not keep what a patch needs (an older osmcams wrote it)")
        touched = self.touched or set()
        moved = mirror.cameras(touched)
        owners = kept.owners(moved)
        rows = kept.rows()
        had = len(rows)
        entering = sorted({code for code in owners if code} & set(mirror.get("selected"))
                          - {r.insee for r in rows})
        about: dict[str, list[Any]] = {}  # what the rows of communes coming in need, read once asked
        if entering:  # a commune outside the data now holds a camera: it gets a row
            about = mirror.get("attributes")
            rows += self._new_rows(dict(zip(entering, self._coverage(entering, about, state["areas_kept"]))),
                                   about)
            self.log(f"{', '.join(entering)}, outside the data, now hold cameras: their rows come")
        by_code = {r.insee: r for r in rows}
        mirror.set_communes(moved, owners, (
            feature_line(camera_feature(c, code, by_code[code].name)) if code in by_code else None
            for c, code in zip(moved, owners)))
        dirty = {code for code in (*self.store.communes_of(touched).values(), *owners)
                 if code in by_code}
        areas = self._area_change(moved)  # the cameras widened or narrowed it
        if areas is not None:  # the communes the change meets: their coverage, and rows for those
            # now in; and those that may hold all of the data before or after, which it need not meet
            holding = {code for area in areas for code in kept.around(data_region(self._data(area)))}
            changed = shapely.symmetric_difference(*areas)
            met = sorted((set(kept.meeting(changed)) | holding) & set(mirror.get("selected")))
            about = about or mirror.get("attributes")
            shares = dict(zip(met, self._coverage(met, about, state["areas_kept"])))
            for code in set(met) & by_code.keys():
                by_code[code].coverage = shares.pop(code)
            rows += self._new_rows(shares, about)
            by_code = {r.insee: r for r in rows}
            dirty |= set(met)
            self.log(f"the area the data covers changed: the coverage of {len(met):,} "
                     f"commune{'s' * (len(met) != 1)} cut again")
        self.log(f"{cameras_text(len(touched))} touched, in {len(dirty):,} of the {had:,} communes: "
                 "counting these again")
        kept_features = mirror.features_in(dirty)
        # A commune outside the data that holds no camera has no row (any more).
        coverage = {code: by_code[code].coverage for code in dirty}
        left = self._outside(sorted(code for code, share in coverage.items()
                                    if not kept_features[code] and share is not None and share < NO_DATA))
        gone = [code for code in left if by_code[code].published >= 0]  # not the rows just made
        dirty -= set(left)
        added = [code for code in dirty if by_code[code].published < 0]
        fresh = {}
        for code in sorted(dirty):  # in the same order whatever the hash seed
            r = by_code[code]
            fresh[code] = row_of(code, r.name, r.department, r.population, r.area, r.coverage,
                                 [(kind, scope) for kind, scope, _ in kept_features[code]])
            r.json, r.csv = row_lines(fresh[code])
            r.cameras, r.cameras_per_km2 = fresh[code]["cameras"], fresh[code]["cameras_per_km2"]
        if gone:
            self.log(f"{', '.join(gone)}, outside the data, no longer hold a camera: their rows go")
        rows = [r for r in rows if r.insee not in left]
        if not rows:  # the whole count refuses a table that would read as no cameras
            raise Whole("no commune has data any more")
        if state["rank"]:
            order = sorted(rows, key=lambda r: rank_order(
                {"cameras": r.cameras, "cameras_per_km2": r.cameras_per_km2, "insee": r.insee}))
        else:
            order = sorted(rows, key=lambda r: r.position)
        source, timestamp_source = self._extract_names()
        total, outside, bad = mirror.totals()
        extract = Extract([], source, mirror.get("timestamp"), timestamp_source, mirror.bbox(),
                          mirror.warnings(bad))
        communes = Communes(None, state["boundaries"], state["population_source"],
                            state["population_year"], population_notes=state["population_notes"])
        notes = [n.replace(SOURCE, source) for n in state["notes"]]
        if state.get("where"):
            notes += self._coverage_notes(state["where"].replace(SOURCE, source), order)
        named = [{"insee": r.insee, "name": r.name, "population": r.population} for r in order]
        meta, warnings = finish(extract, communes, named, notes, total, outside)
        meta["coverage_from"] = state.get("coverage_from")  # as the whole count found it
        meta["replication_sequence"] = mirror.get("sequence")
        for warning in warnings:
            self.log(f"warning: {warning}")
        kept.update_rows([by_code[code] for code in dirty])
        kept.drop_rows(gone)
        if gone or added:
            self._keep_no_data_area([*gone, *added])
        kept.reorder({r.insee: i for i, r in enumerate(order) if r.published != i})
        self._write_set(meta, warnings, [SetRow(r.insee, r.name, r.json, r.csv) for r in order],
                        {code: [line for *_, line in kept_features[code]] for code in dirty}, False,
                        [commune_path(code, by_code[code].name) for code in gone])
        # The counts and changes in the order of the whole count's: the communes in the
        # published order, each one's cameras in the order of an extract (`moved`'s).
        now: dict[str, list[Camera]] = {r.insee: [] for r in order if r.insee in dirty}
        for camera, owner in zip(moved, owners):
            if owner in now:
                now[owner].append(camera)
        return self._record([fresh[code] for code in now], now)

    def _record(self, rows: list[dict[str, Any]], cameras: dict[str, list[Camera]]) -> list[Change]:
        """Record the run with its counts and the changes of the cameras it touched: a camera
        kept (in OSM) now that left every commune moved out, one kept before this run that
        came into a commune moved in (not removed or added)."""
        in_osm = self.mirror.kept(self.touched)
        return self.store.record_run(self._run_record(), rows, cameras, self.touched, in_osm,
                                     self.mirror.kept_before(in_osm))


def _cell(place: tuple[float, float], grid: list[Any]) -> tuple[float, float, float, float] | None:
    """The cell of `grid` (`blocks.grid_of`) that holds `place`: (west, south, east, north);
    None when `place` is too near an edge to tell its cell, or off the grid."""
    import math

    (west, south), size, columns, rows = grid
    x, y = (place[0] - west) / size, (place[1] - south) / size
    i, j = math.floor(x), math.floor(y)
    if min(x - i, i + 1 - x, y - j, j + 1 - y) < EDGE or not (0 <= i < columns and 0 <= j < rows):
        return None
    return west + i * size, south + j * size, west + (i + 1) * size, south + (j + 1) * size


def _cell_inside(area: Any, place: tuple[float, float], grid: list[Any]) -> bool:
    """Whether the cell of `grid` that holds `place` lies inside `area`."""
    import shapely

    cell = _cell(place, grid)
    return cell is not None and bool(shapely.covers(area, shapely.box(*cell)))


def _cell_holds(mirror: Any, place: tuple[float, float], grid: list[Any]) -> bool:
    """Whether the cell of `grid` that holds `place` holds a placed camera; False when
    `place` is too near an edge to tell its cell."""
    cell = _cell(place, grid)
    if cell is None:
        return False
    west, south, east, north = cell
    inset = EDGE * grid[1]
    return mirror.holds_camera(west + inset, south + inset, east - inset, north - inset)


def _wkb(shape: Any) -> str | None:
    import shapely

    return None if shape is None else shapely.to_wkb(shape, hex=True)


def _boundary_record(boundary: Any) -> list[Any]:
    import shapely

    shape = None if boundary.geometry is None else shapely.to_wkb(boundary.geometry, hex=True)
    return [boundary.relation_id, boundary.tags, shape, boundary.problem]


def boundary_from_record(record: list[Any]) -> Any:
    import shapely

    from osmcams.sources.osm.pbf import Boundary

    relation_id, tags, shape, problem = record
    return Boundary(relation_id, tags, None if shape is None else shapely.from_wkb(shape), problem)


def refresh(config: Config, settings: Settings, log: Log, progress: Progress | None = None) -> Outcome:
    """Run one refresh of `config`, under its lock."""
    with run_lock(config):
        with gone_if_failed(config.history):
            outcome = Refresh(config, settings, log, progress).run()
        if config.site is not None:  # also after "nothing new": a killed run left it behind
            from osmcams.refresh.site import build

            try:
                build(config, log=log)
            except OutputError as e:  # say that the run itself is kept: cron shows this line alone
                raise OutputError(f"{e}; the counts and the history are up to date "
                                  f"({outcome.summary}): the next run writes the site") from e
            except Interrupted as e:  # Ctrl-C: the same
                raise Interrupted(f"while writing the site, once the run was committed ({outcome.summary}; "
                                  "the counts and the history are up to date)", e.left) from e
        return outcome
