"""Read every version of the cameras of an OSM history file (.osh.pbf) with pyosmium.

A version is valid from its timestamp, inclusive, to the next version's, exclusive;
a deleted version ends the object. Filters run in C++, in passes: the ids of the
objects that ever carried man_made=surveillance; then every version of those
objects, of the member ways of camera relations, and of the nodes that any version
of those ways refers to. No other object reaches Python.
"""

from __future__ import annotations

import bisect
import functools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from osmcams.arrays import isin, unique
from osmcams.errors import DataError
from osmcams.models import Progress, gc_paused
from osmcams.sources.osm.pbf import (
    BOUNDARY_TAG,
    CAMERA_TAG,
    Boundary,
    Extract,
    box_of_data,
    centre,
    estimate_area,
    header_bbox,
    left_to_libosmium,
    objects_by_id,
    osm_file,
    read_header,
    read_objects,
    refuse_empty,
)
from osmcams.sources.osm.sieve import COLUMNS, NodeVersions, Sifted, Tags

HISTORY_SOURCES = (
    "a full-history file (.osh.pbf): Geofabrik's extracts for OSM users "
    "(osm-internal.download.geofabrik.de), the planet's full history "
    "(planet.openstreetmap.org/pbf/full-history/), or `osmium extract --with-history` on either"
)


class Version(NamedTuple):
    """One version of an object: when it starts, and what it is from then on."""

    start: int  # seconds since the Unix epoch, UTC
    visible: bool
    camera: bool  # carries man_made=surveillance
    location: tuple[float, float] | None = None  # nodes
    refs: tuple[int, ...] = ()  # ways: node ids; relations: node members
    ways: tuple[int, ...] = ()  # relations: way members
    tags: tuple[tuple[str, str], ...] = ()  # cameras only


@dataclass
class Track:
    """Where one camera was: position (or None, not a camera) and tags from each change on."""

    key: str  # node/123
    starts: list[int]
    positions: list[tuple[float, float] | None]
    tags: list[dict[str, str]] = field(default_factory=list)  # {} while not a camera
    edited: int = 0  # the timestamp of the object's last version (its nodes' apart)

    def at(self, instant: int) -> tuple[float, float] | None:
        """The position at `instant` (seconds), None when it was no camera then."""
        i = bisect.bisect_right(self.starts, instant) - 1
        return self.positions[i] if i >= 0 else None


KINDS = ("node", "way", "relation")


@dataclass
class Tracks:
    """The camera tracks as columns, in the order of `History.tracks` (nodes, ways, then
    relations, each by id). Per track: its kind (a KINDS index), id, last edit (`Track.edited`)
    and where its segments end; per segment: its start, its place (NaN while it is no camera)
    and, when the tags were read, its tags ({} while no camera)."""

    kinds: Any
    ids: Any
    edited: Any
    ends: Any
    starts: Any
    lon: Any
    lat: Any
    tags: list[dict[str, str]] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def sizes(self) -> Any:
        """How many segments each track has."""
        import numpy

        return numpy.diff(self.ends, prepend=0)

    def last_places(self) -> Any:
        """The last (lon, lat) of each track that was ever a camera, as rows."""
        import numpy

        placed = numpy.flatnonzero(~numpy.isnan(self.lon))
        track = numpy.searchsorted(self.ends, placed, "right")
        last = placed[numpy.append(track[1:] != track[:-1], True)[:len(placed)]]
        return numpy.column_stack((self.lon[last], self.lat[last]))

    def objects(self) -> list[Track]:
        """One `Track` each."""
        positions = [None if x != x else (x, y) for x, y in zip(self.lon.tolist(), self.lat.tolist())]
        tags = self.tags if self.tags is not None else [{} for _ in positions]
        starts, ends = self.starts.tolist(), self.ends.tolist()
        return [Track(f"{KINDS[kind]}/{osm_id}", starts[a:b], positions[a:b], tags[a:b], edited)
                for kind, osm_id, edited, a, b in zip(self.kinds.tolist(), self.ids.tolist(),
                                                     self.edited.tolist(), [0, *ends], ends)]

    @classmethod
    def of(cls, tracks: list[Track], tags: bool) -> Tracks:
        """The columns of `tracks`."""
        import numpy

        keys = [track.key.split("/") for track in tracks]
        places = [p or (numpy.nan, numpy.nan) for track in tracks for p in track.positions]
        lon, lat = numpy.array(places, float).reshape(-1, 2).T
        return cls(numpy.array([KINDS.index(kind) for kind, _ in keys], numpy.int64),
                   numpy.array([int(osm_id) for _, osm_id in keys], numpy.int64),
                   numpy.array([track.edited for track in tracks], numpy.int64),
                   numpy.cumsum([len(track.starts) for track in tracks], dtype=numpy.int64),
                   numpy.array([s for track in tracks for s in track.starts], numpy.int64),
                   lon.copy(), lat.copy(), [t for track in tracks for t in track.tags] if tags else None)

    def joined(self, other: Tracks) -> Tracks:
        """The tracks of both, in order of kind and id."""
        import numpy

        kinds, ids = numpy.concatenate((self.kinds, other.kinds)), numpy.concatenate((self.ids, other.ids))
        order = numpy.lexsort((ids, kinds))
        sizes = numpy.concatenate((self.sizes(), other.sizes()))
        first = numpy.concatenate((self.ends, other.ends + (self.ends[-1] if len(self) else 0))) - sizes
        sizes = sizes[order]
        ends = numpy.cumsum(sizes)
        taken = numpy.repeat(first[order] - (ends - sizes), sizes) + numpy.arange(int(sizes.sum()))
        segments = {name: numpy.concatenate((getattr(self, name), getattr(other, name)))[taken]
                    for name in ("starts", "lon", "lat")}
        both = None if self.tags is None or other.tags is None else self.tags + other.tags
        return Tracks(kinds[order], ids[order], numpy.concatenate((self.edited, other.edited))[order],
                      ends, **segments, tags=None if both is None else [both[i] for i in taken.tolist()])


@dataclass
class History:
    """The camera tracks of a history file, with the date of its data."""

    columns: Tracks
    source: str
    timestamp: str | None
    timestamp_source: str
    bbox: tuple[float, float, float, float] | None = None  # as `Extract.bbox`
    warnings: list[str] = field(default_factory=list)
    # What `data_area` is drawn from: `pbf.estimate_area`'s samples, references and camera
    # nodes (ids, places), the places of every camera to come from the tracks.
    evidence: tuple[Any, Any, Any, Any] | None = None
    extent: Any = None  # the polygon it was cut with, when known (sources.extent)
    extent_source: str | None = None  # the file of that polygon
    _area: tuple[Any, str] | None = field(default=None, init=False, repr=False)

    def data_area(self) -> tuple[Any, str]:
        """Where the file has data, and what says so (`pbf.estimate_area` of `evidence`):
        drawn when first asked, so that a caller can draw it beside other work."""
        if self._area is None:
            if self.evidence is None:
                self._area = None, "its sampled nodes"
            else:
                samples, referenced, node_ids, node_places = self.evidence
                area, source, *_ = estimate_area(samples, referenced, self.positions, node_ids, node_places)
                self._area = area, source
        return self._area

    @functools.cached_property
    def tracks(self) -> list[Track]:
        """One `Track` per camera, made when first asked (the timeline counts from the
        columns) and kept out of the collector's reach."""
        with gc_paused(keep=True):
            return self.columns.objects()

    def positions(self) -> Any:
        """Every place a camera was, as (lon, lat) rows: where the file has data, whatever
        its nodes sampled say."""
        import numpy

        placed = ~numpy.isnan(self.columns.lon)
        return numpy.column_stack((self.columns.lon[placed], self.columns.lat[placed]))

    def dated(self) -> Extract:
        """The file's source, date, data area and extent with no camera: what coverage asks
        of it."""
        area, source = self.data_area()
        return Extract([], self.source, self.timestamp, self.timestamp_source, self.bbox,
                       data_area=area, data_area_from=source, extent=self.extent,
                       extent_source=self.extent_source)


def seconds(moment: datetime) -> int:
    """Whole seconds since the Unix epoch."""
    return int(moment.timestamp())


def iso(instant: int) -> str:
    """ISO 8601 UTC text of an instant in seconds."""
    return datetime.fromtimestamp(instant, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Versions(dict):
    """Object id -> its versions in order; with `tags`, the tags of camera versions too."""

    def __init__(self, tags: bool = False) -> None:
        super().__init__()
        self.tags = tags

    def add(self, obj: Any, **shape: Any) -> None:
        visible = obj.visible
        camera = visible and obj.tags.get(CAMERA_TAG[0]) == CAMERA_TAG[1]
        if camera and self.tags:
            shape["tags"] = tuple((tag.k, tag.v) for tag in obj.tags)
        self.setdefault(obj.id, []).append(
            Version(seconds(obj.timestamp), visible, camera, **(shape if visible else {}))
        )

    def add_sifted(self, versions: NodeVersions) -> None:
        """Node versions as the sieve reads them, in file order."""
        tags = versions.tags or [()] * len(versions)
        for osm_id, start, visible, tagged, lon, lat, kept in zip(
            *(getattr(versions, name).tolist() for name in COLUMNS), tags
        ):
            camera = visible and tagged
            location = None if lon != lon else (lon, lat)  # NaN: deleted or invalid
            self.setdefault(osm_id, []).append(
                Version(start, visible, camera, location, tags=kept if camera and self.tags else ())
            )

    def at(self, osm_id: int, instant: int) -> Version | None:
        """The version valid at `instant`, None before the first or when unknown."""
        versions = self.get(osm_id, ())
        found = None
        for version in versions:  # few versions each: a scan beats bisect's key building
            if version.start > instant:
                break
            found = version
        return found


@dataclass
class _Scan:
    ids: dict[str, set[int]]
    tags: bool = False
    nodes: _Versions = field(default_factory=_Versions)
    ways: _Versions = field(default_factory=_Versions)
    relations: _Versions = field(default_factory=_Versions)
    sifted: NodeVersions | None = None  # every version of the camera nodes the sieve read

    def __post_init__(self) -> None:
        self.ways, self.relations = _Versions(self.tags), _Versions(self.tags)
        self.nodes = _Versions(self.tags)


def _camera_ids(path: Path, pool: Any, workers: int, tags: bool, progress: Progress | None
                ) -> tuple[dict[str, set[int]], Sifted | None]:
    """The ids of the objects of which any version carries man_made=surveillance that
    libosmium found, and what the sieve read: the nodes it samples, and every version of
    the other camera nodes, in `Sifted.versions`.

    The sieve reads the nodes of the dense blocks; libosmium the other blocks that may
    hold cameras, or the whole file when it is not a PBF the sieve can walk.
    """
    import numpy
    import osmium

    from osmcams.sources.osm import sieve

    ids: dict[str, set[int]] = {"n": set(), "w": set(), "r": set()}
    sifted = sieve.sift(path, False, workers, progress, history=True, tags=tags, sample=True)
    label = "Scanning" if sifted is None else "Ways and relations"
    filters = [osmium.filter.KeyFilter(CAMERA_TAG[0]), osmium.filter.TagFilter(CAMERA_TAG)]
    with left_to_libosmium(path, sifted) as source:
        if source is not None:
            for obj in read_objects(source, osmium.osm.ALL, filters, pool, label, progress, path):
                ids[obj.type_str()].add(obj.id)
    if sifted is None or sifted.versions is None:
        return ids, sifted
    versions = sifted.versions
    # A node libosmium found too has versions in its blocks: it reads them all, by id.
    cameras = unique(versions.ids[versions.tagged])
    cameras = cameras[~isin(cameras, numpy.fromiter(ids["n"], numpy.int64))]
    sifted.versions = versions.take(numpy.flatnonzero(isin(versions.ids, cameras)))
    return ids, sifted


def _read_versions(path: Path, scan: _Scan, pool: Any, progress: Progress | None) -> None:
    """Every version of the cameras, of the member ways of camera relations, and of their nodes."""
    import numpy
    import osmium

    if scan.ids["r"]:  # relation blocks are not indexed: one pass over the file's relations
        relations = osmium.filter.IdFilter(scan.ids["r"])
        for rel in read_objects(path, osmium.osm.RELATION, [relations], pool, "Relations", progress):
            members = [(m.type, m.ref) for m in rel.members]
            scan.relations.add(
                rel,
                refs=tuple(ref for kind, ref in members if kind == "n"),
                ways=tuple(ref for kind, ref in members if kind == "w"),
            )
    way_ids = scan.ids["w"] | {
        ref for versions in scan.relations.values() for v in versions for ref in v.ways
    }
    for way in objects_by_id(path, "way", way_ids, pool, progress):
        scan.ways.add(way, refs=tuple(n.ref for n in way.nodes))
    refs = {
        ref
        for table in (scan.ways, scan.relations)
        for versions in table.values()
        for v in versions
        for ref in v.refs
    }
    node_ids = scan.ids["n"] | refs
    if scan.sifted is not None:  # every version of the camera nodes among these was read by the sieve
        sifted, wanted = scan.sifted, numpy.fromiter(refs, numpy.int64, len(refs))
        read = wanted[isin(wanted, sifted.ids)]
        scan.nodes.add_sifted(sifted.take(numpy.flatnonzero(isin(sifted.ids, read))))
        node_ids -= set(read.tolist())
    for node in objects_by_id(path, "node", node_ids, pool, progress):
        location = node.location
        scan.nodes.add(node, location=(location.lon, location.lat) if location.valid() else None)


def _points(scan: _Scan, refs: Iterable[int], instant: int) -> list[tuple[float, float]]:
    points = []
    for ref in refs:
        node = scan.nodes.at(ref, instant)
        if node is not None and node.visible and node.location is not None:
            points.append(node.location)
    return points


def _way_points(scan: _Scan, way_id: int, instant: int) -> list[tuple[float, float]]:
    way = scan.ways.at(way_id, instant)
    if way is None or not way.visible:
        return []
    return _points(scan, way.refs, instant)


def _starts(scan: _Scan, kind: str, osm_id: int) -> set[int]:
    """The instants at which the object, or anything it is placed by, changed."""
    table = {"n": scan.nodes, "w": scan.ways, "r": scan.relations}[kind]
    versions = table.get(osm_id, [])
    starts = {v.start for v in versions}
    if kind == "n":
        return starts
    ways = {ref for v in versions for ref in v.ways}
    nodes = {ref for v in versions for ref in v.refs}
    nodes |= {ref for w in ways for v in scan.ways.get(w, []) for ref in v.refs}
    starts |= {v.start for w in ways for v in scan.ways.get(w, [])}
    starts |= {v.start for n in nodes for v in scan.nodes.get(n, [])}
    return starts


def _position(scan: _Scan, kind: str, osm_id: int, instant: int) -> tuple[float, float] | None:
    """Where the object was at `instant`: a node's location, else the bbox centre of its nodes."""
    table = {"n": scan.nodes, "w": scan.ways, "r": scan.relations}[kind]
    version = table.at(osm_id, instant)
    if version is None or not version.camera:
        return None
    if kind == "n":
        return version.location
    points = _points(scan, version.refs, instant)
    for way_id in version.ways:
        points += _way_points(scan, way_id, instant)
    return centre(points) if points else None


def _sifted_tracks(versions: NodeVersions) -> tuple[Tracks, set[str]]:
    """The tracks of the camera nodes the sieve read, as `_tracks` makes them, all at once;
    and the keys of those that were, for a time, a camera without a valid location."""
    import numpy

    order = numpy.argsort(versions.ids, kind="stable")
    ids, starts = versions.ids[order], versions.starts[order]
    ends = numpy.flatnonzero(numpy.append(ids[1:] != ids[:-1], True)[:len(ids)])  # each one's last
    edited = starts[ends]
    camera = versions.visible[order] & versions.tagged[order]
    lon, lat = versions.lon[order], versions.lat[order]
    placed = camera & ~numpy.isnan(lon)
    unplaced = {f"node/{i}" for i in unique(ids[camera & ~placed]).tolist()}
    texts: dict[Tags, int] = {}
    tag_keys = numpy.array([texts.setdefault(versions.tags[i], len(texts)) for i in order.tolist()]
                           if versions.tags is not None else numpy.zeros(len(ids), numpy.int64))
    # Of versions of one instant, the last; then only those that change what the node is.
    last = numpy.ones(len(ids), bool)
    last[:-1] = (ids[1:] != ids[:-1]) | (starts[1:] != starts[:-1])
    kept = numpy.flatnonzero(last)
    ids, starts, placed, lon, lat, tag_keys = (
        column[kept] for column in (ids, starts, placed, lon, lat, tag_keys))
    same = numpy.zeros(len(ids), bool)
    same[1:] = (ids[1:] == ids[:-1]) & (placed[1:] == placed[:-1]) & (~placed[1:] | (
        (lon[1:] == lon[:-1]) & (lat[1:] == lat[:-1]) & (tag_keys[1:] == tag_keys[:-1])))
    changes = numpy.flatnonzero(~same)
    ids, placed = ids[changes], placed[changes]
    described = None if versions.tags is None else [
        dict(versions.tags[i]) if here else {}
        for i, here in zip(order[kept[changes]].tolist(), placed.tolist())]
    bounds = numpy.flatnonzero(numpy.append(ids[1:] != ids[:-1], True)[:len(ids)]) + 1  # each one's end
    return Tracks(numpy.zeros(len(edited), numpy.int64), ids[bounds - 1], edited, bounds, starts[changes],
                  numpy.where(placed, lon[changes], numpy.nan), numpy.where(placed, lat[changes], numpy.nan),
                  described), unplaced


def _tracks(scan: _Scan) -> tuple[Tracks, list[str]]:
    names = {"n": "node", "w": "way", "r": "relation"}
    tracks: list[Track] = []
    sifted, unplaced = (_sifted_tracks(scan.sifted) if scan.sifted is not None
                        else (Tracks.of([], scan.tags), set()))
    for kind in ("n", "w", "r"):  # the camera nodes libosmium found, the ways and the relations
        table = {"n": scan.nodes, "w": scan.ways, "r": scan.relations}[kind]
        for osm_id in sorted(scan.ids[kind]):
            key = f"{names[kind]}/{osm_id}"
            track = Track(key, [], [], edited=max((v.start for v in table.get(osm_id, ())), default=0))
            if kind == "n":  # a node is where its version puts it
                segments: Any = ((v.start, v, v.location if v.camera else None)
                                 for v in table.get(osm_id, ()))
            else:
                segments = ((start, table.at(osm_id, start), _position(scan, kind, osm_id, start))
                            for start in sorted(_starts(scan, kind, osm_id)))
            for start, version, position in segments:
                if position is None and version is not None and version.camera:
                    unplaced.add(key)
                tags = dict(version.tags) if position is not None and version else {}
                if track.starts and track.starts[-1] == start:  # versions of one instant: the last
                    del track.starts[-1], track.positions[-1], track.tags[-1]
                if not track.positions or (track.positions[-1], track.tags[-1]) != (position, tags):
                    track.starts.append(start)
                    track.positions.append(position)
                    track.tags.append(tags)
            tracks.append(track)
    warnings = []
    if unplaced:
        warnings.append(
            f"{len(unplaced)} camera ways or relations had, for a time, no node in the file; "
            f"not counted then: {', '.join(sorted(unplaced))}"
        )
    return sifted.joined(Tracks.of(tracks, scan.tags)) if tracks else sifted, warnings


def _data_date(
    path: Path, stamp: str | None, stamp_source: str, scan: _Scan
) -> tuple[str | None, str, list[str]]:
    """The data date: the header's, unless versions read are newer, or it has none, or it
    lies in the future (more than a day of clock difference)."""
    newest = max(
        (v.start for table in (scan.nodes, scan.ways, scan.relations)
         for versions in table.values() for v in versions),
        default=None,
    )
    if scan.sifted is not None and len(scan.sifted):
        newest = max(newest or 0, int(scan.sifted.starts.max()))
    newest_iso = None if newest is None else iso(newest)
    future = stamp is not None and stamp > iso(int(datetime.now(timezone.utc).timestamp()) + 86_400)
    if stamp is not None and not future and (newest_iso is None or newest_iso <= stamp):
        return stamp, stamp_source, []
    if newest_iso is None:
        return None, "unknown", [f"{path.name} carries no date: the age of its data is unknown"]
    why = (f"its header says {stamp}, in the future:" if future
           else f"its header says {stamp}, older than" if stamp else "it has no date in its header:")
    return newest_iso, "newest version read", [
        f"{path.name}: {why} the newest version read, {newest_iso}, taken as the data date; "
        "the data may be newer"
    ]


def is_history(path: str | os.PathLike[str]) -> bool:
    """Whether the file's header says it holds several versions of each object."""
    import osmium

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            return bool(reader.header().has_multiple_object_versions)
        finally:
            reader.close()
    except (RuntimeError, osmium.InvalidLocationError):  # the latter: a coordinate no number
        return False  # not a readable OSM file: the snapshot reader says why


def read_history(
    path: str | os.PathLike[str], threads: int = 0, progress: Progress | None = None,
    tags: bool = False,
) -> History:
    """The tracks of every object that ever carried man_made=surveillance in a history file;
    with `tags`, a track also changes when the tags do, and says what they were.

    A file whose header says it holds one version of each object is refused: it
    cannot tell when a camera appeared. Where it has data (`History.data_area`) is
    estimated as `count` does a snapshot's (`pbf.estimate_area`): from the nodes the
    sieve sampled that stand alone (no version of a way refers to them), and every
    place of the camera nodes that no way refers to.
    """
    path = osm_file(path)
    import osmium

    pool = osmium.io.ThreadPool(threads or os.cpu_count() or 1, 0)
    header, stamp, stamp_source = read_header(path, pool)
    if not header.has_multiple_object_versions:
        raise DataError(
            f"{path}: a snapshot, not a history file (its header says so), so it cannot tell "
            f"when cameras appeared; use {HISTORY_SOURCES}"
        )
    refuse_empty(path)
    ids, sifted = _camera_ids(path, pool, threads, tags, progress)
    scan = _Scan(ids, tags, sifted=None if sifted is None else sifted.versions)
    _read_versions(path, scan, pool, progress)
    with gc_paused(keep=True):  # with `tags`, hundreds of thousands of dicts, made at once, kept
        tracks, warnings = _tracks(scan)
    timestamp, timestamp_source, dated = _data_date(path, stamp, stamp_source, scan)
    evidence = None if sifted is None else (
        sifted.samples, sifted.referenced, *_camera_places(sifted.versions, ids["n"], tracks))
    box, said = header_bbox(header), ""
    if evidence is not None:
        box, said = box_of_data(box, *evidence, tracks.last_places, path.name)
    return History(tracks, str(path), timestamp, timestamp_source, box,
                   dated + warnings + ([said] if said else []), evidence)


def _camera_places(versions: NodeVersions | None, nodes: set[int], tracks: Tracks) -> tuple[Any, Any]:
    """The ids and (lon, lat) of the camera nodes the sieve read, at each place they were
    a camera (`versions`), and of those libosmium read (`nodes`), from their `tracks`."""
    import numpy

    ids, places = [numpy.empty(0, numpy.int64)], [numpy.empty((0, 2))]
    if versions is not None:
        placed = versions.tagged & ~numpy.isnan(versions.lon)
        ids.append(versions.ids[placed])
        places.append(numpy.column_stack((versions.lon[placed], versions.lat[placed])))
    if nodes:
        sizes = tracks.sizes()
        track = (tracks.kinds == 0) & isin(tracks.ids, numpy.fromiter(nodes, numpy.int64))
        taken = numpy.repeat(track, sizes) & ~numpy.isnan(tracks.lon)
        ids.append(numpy.repeat(tracks.ids, sizes)[taken])
        places.append(numpy.column_stack((tracks.lon[taken], tracks.lat[taken])))
    return numpy.concatenate(ids), numpy.concatenate(places)


def snapshot(path: str | os.PathLike[str], threads: int = 0, progress: Progress | None = None) -> Extract:
    """The cameras of a history file as they are at its data date, as a snapshot's Extract:
    the last version of each object, unless deleted or no longer a camera (what
    `osmium time-filter FILE` keeps), with its tags and where it stands."""
    from osmcams.models import direction_warning, make_camera

    history = read_history(path, threads, progress, tags=True)
    cameras, unreadable = [], 0
    for track in history.tracks:
        if track.positions[-1] is None:
            continue
        kind, osm_id = track.key.split("/")
        camera, bad = make_camera(kind, int(osm_id), *track.positions[-1], track.tags[-1],
                                  iso(track.edited))
        cameras.append(camera)
        unreadable += bad
    return Extract(cameras, history.source, history.timestamp, history.timestamp_source, history.bbox,
                   history.warnings + direction_warning(unreadable), *history.data_area())


def _latest(versions: Iterable[tuple[int, bool, Any]]) -> Iterator[tuple[int, Any]]:
    """(id, what) of the last version of each object, unless deleted, from (id, visible,
    what) of every version in order."""
    last: tuple[int, bool, Any] | None = None
    for version in versions:
        if last is not None and last[0] != version[0] and last[1]:
            yield last[0], last[2]
        last = version
    if last is not None and last[1]:
        yield last[0], last[2]


def read_boundaries(
    path: str | os.PathLike[str], admin_level: int, threads: int = 0,
    progress: Progress | None = None,
) -> list[Boundary]:
    """The admin boundaries of `admin_level` of a history file as they are at its end: the
    last version of each relation, of its member ways and of their nodes."""
    import osmium

    from osmcams.sources.osm.pbf import Relation, Scan, boundaries_of

    path = Path(path)
    pool = osmium.io.ThreadPool(threads or os.cpu_count() or 1, 0)
    filters = [osmium.filter.KeyFilter(BOUNDARY_TAG[0]), osmium.filter.TagFilter(BOUNDARY_TAG)]
    ids = {rel.id for rel in read_objects(path, osmium.osm.RELATION, filters, pool, "Boundaries",
                                      progress)}
    if not ids:
        return []
    scan = Scan()
    relations = read_objects(path, osmium.osm.RELATION, [osmium.filter.IdFilter(ids)], pool,
                         "Boundaries", progress)
    level = str(admin_level)
    for osm_id, (tags, members) in _latest(
        (r.id, r.visible, (dict(r.tags), [(m.type, m.ref, m.role) for m in r.members]))
        for r in relations
    ):
        if tags.get(BOUNDARY_TAG[0]) == BOUNDARY_TAG[1] and tags.get("admin_level") == level:
            scan.boundaries.append(Relation(
                osm_id, tags, None, [ref for kind, ref, _ in members if kind == "n"],
                [(ref, role) for kind, ref, role in members if kind == "w"]))
    way_ids = {ref for rel in scan.boundaries for ref, _ in rel.ways}
    ways = objects_by_id(path, "way", way_ids, pool, progress)
    scan.way_refs = dict(_latest((w.id, w.visible, [n.ref for n in w.nodes]) for w in ways))
    node_ids = {ref for refs in scan.way_refs.values() for ref in refs}
    nodes = objects_by_id(path, "node", node_ids, pool, progress)
    for osm_id, location in _latest(
        (n.id, ok, (n.location.lon, n.location.lat) if ok else None)
        for n in nodes for ok in (n.visible and n.location.valid(),)
    ):
        scan.locations.add(osm_id, *location)
    return boundaries_of(scan)
