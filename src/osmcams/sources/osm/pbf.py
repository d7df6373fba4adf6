"""Read cameras and admin boundaries from an OSM file with pyosmium.

Filters run in C++: only matching objects reach Python. A file is read in at most
three passes: tagged objects; then only the member ways that relations need; then
only the nodes that those ways and the camera ways need. No location index of
the whole file is ever built.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from osmcams.arrays import isin
from osmcams.errors import DataError
from osmcams.files import check_inflation, temporary_folder
from osmcams.geo.rings import Point
from osmcams.models import Camera, Progress, direction_warning, iso_timestamp, make_camera

if TYPE_CHECKING:
    from osmcams.sources.osm.sieve import Sifted

CAMERA_TAG = ("man_made", "surveillance")
BOUNDARY_TAG = ("boundary", "administrative")
ID_RANGE_BITS = 25
RANGES_PER_PASS = 16
PROGRESS_EVERY = 0.1  # seconds between two reports of how far a pass has read
FEWEST_STANDALONE = 100  # sampled standalone nodes for an estimate of where data lies
# libosmium's words when it cannot open, write or close a file it writes: the system's reason
WRITE_FAILED = re.compile(r"(?:Open|Write|Close) failed(?: for '.*')?: (.+)")
# A header's box is not the cut of a file when STRAY_SHARE of its standalone nodes lie
# further than BOX_TOLERANCE_M outside it: more than its rounding.
BOX_TOLERANCE_M = 10.0
STRAY_SHARE = 0.01


@dataclass
class Extract:
    """Cameras read from one source, with the date of its data."""

    cameras: list[Camera]
    source: str
    timestamp: str | None
    timestamp_source: str
    # Its header's box, unless its data lies outside it (`box_of_data`).
    bbox: tuple[float, float, float, float] | None = None
    warnings: list[str] = field(default_factory=list)
    data_area: Any = None  # where a file has data, from its sampled nodes (estimate_area)
    data_area_from: str = "its sampled nodes"  # what `data_area` was estimated from
    # (lon, lat) of the points that `data_area` was estimated from (the standalone nodes,
    # and the camera nodes not sampled), and the share of node blocks they were sampled
    # from; None otherwise. A refresh keeps them, to draw the same area again.
    standalone: tuple[Any, float] | None = None
    # (lon, lat) of the sampled nodes of short ways (`footprint.hugged`) that `data_area`
    # takes in with `standalone`'s; None otherwise.
    hugging: Any = None
    extent: Any = None  # the polygon it was cut with, when known (sources.extent)
    extent_source: str | None = None  # the file of that polygon
    # The date of a history file's data when the cameras are as they were at an earlier
    # `timestamp` (map --at): how old the data is, is its age.
    read_at: str | None = None


@dataclass
class Boundary:
    """An admin boundary relation, with its geometry or the reason it has none."""

    relation_id: int
    tags: dict[str, str]
    geometry: Any = None
    problem: str | None = None


@dataclass
class Relation:
    """A relation as read: its tags, and its node and way members."""

    osm_id: int
    tags: dict[str, str]
    timestamp: str | None
    nodes: list[int]
    ways: list[tuple[int, str]]


class Locations:
    """Node locations in compact arrays (24 bytes a node), looked up by id."""

    def __init__(self) -> None:
        self._ids = array("q")
        self._coords = array("d")
        self._index: Any = None

    def add(self, osm_id: int, lon: float, lat: float) -> None:
        """Record one node; call before the first lookup."""
        self._ids.append(osm_id)
        self._coords.extend((lon, lat))

    def lookup(self, refs: Sequence[int]) -> list[tuple[float, float] | None]:
        """The (lon, lat) of each id in `refs`, None for ids that were not recorded."""
        import numpy

        if self._index is None:
            ids = numpy.frombuffer(self._ids, dtype=numpy.int64)
            order = numpy.argsort(ids, kind="stable")
            coords = numpy.frombuffer(self._coords, dtype=numpy.float64).reshape(-1, 2)
            self._index = (ids[order], coords[order])
        ids, coords = self._index
        if not len(ids):
            return [None] * len(refs)
        wanted = numpy.asarray(refs, dtype=numpy.int64)
        at = numpy.minimum(numpy.searchsorted(ids, wanted), len(ids) - 1)
        found = ids[at] == wanted
        return [
            (lon, lat) if ok else None
            for ok, (lon, lat) in zip(found.tolist(), coords[at].tolist())
        ]

    def items(self) -> Iterator[tuple[int, float, float]]:
        """Every recorded (id, lon, lat)."""
        coords = iter(self._coords)
        for osm_id in self._ids:
            yield osm_id, next(coords), next(coords)


@dataclass
class Scan:
    """What the passes over a file found: camera nodes, ways and relations with their members."""

    cameras: list[Camera] = field(default_factory=list)  # the nodes, made in the first pass
    bad_directions: int = 0
    ways: dict[int, tuple[dict[str, str], str | None, list[int]]] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    boundaries: list[Relation] = field(default_factory=list)
    way_refs: dict[int, list[int]] = field(default_factory=dict)
    locations: Locations = field(default_factory=Locations)
    newest: str | None = None
    samples: Any = None  # the sampled nodes of the first pass (blocks.Samples)
    referenced: Any = None  # of their tagged ones, and of the camera nodes, those ways refer to
    hugging: Any = None  # the places of the sampled nodes of short ways (sieve.Sifted.hugging)


def _file_position(path: Path) -> Callable[[], int] | None:
    """A function giving how far libosmium has read `path`, where Linux tells it."""
    target = os.path.realpath(path)
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != target:
                continue
        except OSError:
            continue

        def position(fd: str = fd) -> int:
            try:
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])
            except (OSError, ValueError, IndexError):
                return 0

        return position
    return None


def read_objects(
    path: Path,
    entities: Any,
    filters: Iterable[Any],
    pool: Any,
    label: str,
    progress: Progress | None,
    name: Path | None = None,
) -> Iterator[Any]:
    """Objects of `path` that pass `filters`, reporting progress as bytes read.

    Errors name `name`, the user's file, when `path` holds blocks copied from it.
    """
    import osmium

    size = path.stat().st_size
    processor = osmium.FileProcessor(
        str(path), entities, thread_pool=pool
    )
    for f in filters:
        processor.with_filter(f)
    position = None
    tick = 0
    next_report = 0.0
    try:
        for obj in processor:
            yield obj
            tick += 1
            if progress and tick % 256 == 0 and time.monotonic() >= next_report:
                next_report = time.monotonic() + PROGRESS_EVERY
                position = position or _file_position(path)
                if position:
                    progress(label, min(position(), size), size)
    except RuntimeError as e:
        raise DataError(f"{name or path}: cannot read OSM data: {e}") from e
    if progress:
        progress(label, size, size)


def read_header(path: Path, pool: Any) -> tuple[Any, str | None, str]:
    import osmium

    from osmcams.sources.osm import blocks

    with temporary_folder() as tmp:
        source, zstd = path, blocks.zstd_header(path)
        if zstd is not None:
            source = tmp / "header.osm.pbf"
            blocks.copy(path, [zstd], source)
        try:
            reader = osmium.io.Reader(str(source), osmium.osm.NOTHING, pool)
            header = reader.header()
            reader.close()
        except (RuntimeError, osmium.InvalidLocationError) as e:  # the latter: a coordinate no number
            raise DataError(f"{path}: not a readable OSM file: {e}") from e
    for key in ("osmosis_replication_timestamp", "timestamp"):
        value = header.get(key)
        if value:
            return header, value, f"file header ({key})"
    return header, None, "newest camera or boundary"


def header_bbox(header: Any) -> tuple[float, float, float, float] | None:
    box = header.box()
    if not box.valid():
        return None
    bl, tr = box.bottom_left, box.top_right
    return (bl.lon, bl.lat, tr.lon, tr.lat)


def _first_pass(
    path: Path, admin_level: int | None, pool: Any, progress: Progress | None, workers: int,
    sample: bool = False, name: Path | None = None,
) -> Scan:
    """Cameras, camera ways and relations, and boundary relations if `admin_level` is given;
    with `sample`, the nodes of some node blocks and which of their tagged ones ways refer
    to, when the sieve read every block. Errors name `name`, when `path` is its copy.

    A PBF snapshot is sifted (`sieve`): libosmium reads only the blocks that may hold
    camera ways or relations, or boundaries. A PBF it cannot walk is read whole by libosmium.
    """
    from osmcams.sources.osm import sieve

    scan = Scan()
    sifted = sieve.sift(path, admin_level is not None, workers, progress, sample=sample, name=name)
    if sifted is not None:
        scan.cameras, scan.bad_directions = sifted.cameras, sifted.bad_directions
        scan.samples, scan.referenced, scan.hugging = sifted.samples, sifted.referenced, sifted.hugging
    label = "Scanning" if sifted is None else "Ways and relations"
    with left_to_libosmium(path, sifted) as source:
        if source is not None:
            _read_tagged(source, admin_level, pool, progress, label, scan, name or path)
    if sifted is not None:
        scan.newest = max(filter(None, (scan.newest, sifted.newest)), default=None)
    return scan


@contextlib.contextmanager
def as_pbf(path: Path, header: Any, pool: Any, progress: Progress | None) -> Iterator[Path]:
    """`path` when it is a PBF; else (OSM XML, OPL, O5M: libosmium reads them whole) a copy
    of it as an uncompressed PBF with its `header`, object for object in its order (removed
    afterwards), written in the one pass that reads it. The passes then read the copy as
    they read a PBF, its node blocks are sampled as a PBF's, so the same data gives the same
    estimate of where it has data whatever its format (its header's box alone said too much).

    pyosmium's MergeInputReader, given no change, copies it in C++ (every version: none is
    dropped) into an osmium.io.Writer, which a failed write leaves safe to destroy: a
    SimpleWriter raises from its destructor then, which aborts the process. A full disk is
    one OutputError line."""
    import osmium

    from osmcams.errors import OutputError

    if path.name.endswith(".pbf"):
        yield path
        return
    label, size = "Copying as PBF", path.stat().st_size
    with temporary_folder() as tmp:
        copy = tmp / "copy.osm.pbf"
        if progress:  # libosmium copies it in one call: no report until it has done
            progress(label, 0, size)
        try:
            writer = osmium.io.Writer(osmium.io.File(str(copy), "pbf,pbf_compression=none"), header,
                                      thread_pool=pool)
            reader = osmium.io.Reader(str(path), osmium.osm.ALL, pool)
            try:
                osmium.MergeInputReader().apply_to_reader(reader, writer, with_history=True)  # verbatim
            finally:
                reader.close()
                writer.close()
        except (RuntimeError, osmium.InvalidLocationError) as e:  # the latter: a coordinate no number
            failed = WRITE_FAILED.fullmatch(str(e))
            if failed:
                raise OutputError(f"{path}: cannot copy it as a PBF to {copy}: {failed.group(1)}") from e
            raise DataError(f"{path}: cannot read OSM data: {e}") from e
        if progress:
            progress(label, size, size)
        yield copy


@contextlib.contextmanager
def left_to_libosmium(path: Path, sifted: Sifted | None) -> Iterator[Path | None]:
    """What libosmium must read after `sieve.sift`: all of `path` when it was not sifted
    (`sifted` None), a copy of the blocks the sieve left (removed afterwards), or None
    when it left none."""
    from osmcams.sources.osm import blocks

    if sifted is None or not sifted.others:
        yield None if sifted else path
        return
    header = blocks.framing(path)[0]
    with temporary_folder() as tmp:
        target = tmp / "blocks.osm.pbf"
        chosen = [header, *sifted.others]
        blocks.copy(path, [blocks.Block(offset, length) for offset, length, _, _ in chosen], target)
        yield target


def _read_tagged(path: Path, admin_level: int | None, pool: Any, progress: Progress | None,
                 label: str, scan: Scan, name: Path | None = None) -> None:
    """Add to `scan` the cameras and boundary relations of `path`, read by libosmium
    (blocks of `name`, when given)."""
    import osmium

    wanted = [CAMERA_TAG] + ([BOUNDARY_TAG] if admin_level is not None else [])
    level = str(admin_level)
    # Boundary nodes and ways are read later, by id, only when a relation needs them.
    cameras_only = osmium.filter.TagFilter(CAMERA_TAG)
    cameras_only.enable_for(osmium.osm.NODE | osmium.osm.WAY)
    filters = [
        osmium.filter.KeyFilter(*(key for key, _ in wanted)),  # the cheapest test first
        osmium.filter.TagFilter(*wanted),
        cameras_only,
        # Builds the tag dict of each node in C++ (ways and relations get none).
        osmium.filter.GeoInterfaceFilter(drop_invalid_geometries=False),
    ]
    newest = None
    for obj in read_objects(path, osmium.osm.ALL, filters, pool, label, progress, name):
        stamp = iso_timestamp(obj.timestamp)
        if stamp and (newest is None or stamp > newest):
            newest = stamp
        feature = getattr(obj, "__geo_interface__", None)
        if feature is not None:  # a camera node
            if feature["geometry"]:
                lon, lat = feature["geometry"]["coordinates"]
                camera, bad = make_camera("node", obj.id, lon, lat, feature["properties"], stamp)
                scan.cameras.append(camera)
                scan.bad_directions += bad
            continue
        tags = dict(obj.tags)
        if obj.is_way():
            scan.ways[obj.id] = (tags, stamp, [n.ref for n in obj.nodes])
        elif obj.is_relation():
            members = [(m.type, m.ref, m.role) for m in obj.members]
            relation = Relation(
                obj.id,
                tags,
                stamp,
                [ref for kind, ref, _ in members if kind == "n"],
                [(ref, role) for kind, ref, role in members if kind == "w"],
            )
            if tags.get("man_made") == "surveillance":
                scan.relations.append(relation)
            if tags.get("boundary") == "administrative" and tags.get("admin_level") == level:
                scan.boundaries.append(relation)
    scan.newest = newest


def _fetch_references(path: Path, scan: Scan, pool: Any, progress: Progress | None,
                      name: Path | None = None) -> None:
    """Read the member ways and then the nodes that the first pass left unresolved (errors
    name `name`, when `path` is its copy)."""
    way_ids = {ref for rel in scan.relations + scan.boundaries for ref, _ in rel.ways}
    way_ids -= scan.ways.keys()
    scan.way_refs = {way_id: refs for way_id, (_, _, refs) in scan.ways.items()}
    node_ids = {ref for rel in scan.relations for ref in rel.nodes}
    if not (way_ids or scan.ways or node_ids):
        return
    for way in objects_by_id(path, "way", way_ids, pool, progress, name=name):
        scan.way_refs[way.id] = [n.ref for n in way.nodes]
    node_ids.update(ref for refs in scan.way_refs.values() for ref in refs)
    for node in objects_by_id(path, "node", node_ids, pool, progress, name=name):
        if node.location.valid():
            scan.locations.add(node.id, node.location.lon, node.location.lat)


def _layout(path: Path) -> Any:
    from osmcams.sources.osm import blocks

    try:
        return blocks.index(path)
    except (blocks.Unindexable, OSError):
        return None  # not a PBF we can index: passes read every block of their kind


def _batches(ids: set[int]) -> Iterator[set[int]]:
    """`ids` in batches of nearby ids, so that each IdFilter stays small in memory.

    libosmium's id set takes 4 MB for every 2**25 id range that holds an id.
    """
    ranges: dict[int, set[int]] = {}
    for i in ids:
        ranges.setdefault(i >> ID_RANGE_BITS, set()).add(i)
    keys = sorted(ranges)
    for start in range(0, len(keys), RANGES_PER_PASS):
        yield set().union(*(ranges[k] for k in keys[start : start + RANGES_PER_PASS]))


def objects_by_id(
    path: Path, kind: str, ids: set[int], pool: Any, progress: Progress | None, layout: Any = None,
    name: Path | None = None,
) -> Iterator[Any]:
    """The `kind` objects with `ids`, decoding only the blocks that can hold them
    (`layout`: the file's `blocks.index`, found when not given); errors name `name`, when
    `path` is its copy."""
    import osmium

    from osmcams.sources.osm import blocks

    if not ids:
        return
    layout = layout or _layout(path)
    entities = osmium.osm.NODE if kind == "node" else osmium.osm.WAY
    label = "Way nodes" if kind == "node" else "Member ways"
    with temporary_folder() as tmp:
        for batch in _batches(ids):
            source = path
            if layout is not None:
                source = tmp / f"{kind}s.osm.pbf"
                blocks.write_subset(path, layout, kind, batch, source)
            yield from read_objects(
                source, entities, [osmium.filter.IdFilter(batch)], pool, label, progress, name or path
            )


def centre(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The centre of the bounding box of `points`, where ways and relations are placed."""
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return (min(lons) + max(lons)) / 2.0, (min(lats) + max(lats)) / 2.0


def _cameras(scan: Scan) -> tuple[list[Camera], list[str]]:
    """The camera nodes, then the ways and relations placed at their centres."""
    cameras = scan.cameras
    warnings: list[str] = []
    bad_direction = scan.bad_directions
    partial: list[str] = []
    unplaced: list[str] = []

    def place(kind: str, osm_id: int, refs: Iterable[int], tags: dict, stamp: str | None):
        nonlocal bad_direction
        refs = list(refs)
        points = [p for p in scan.locations.lookup(refs) if p is not None]
        if not points:
            unplaced.append(f"{kind}/{osm_id}")
            return
        if len(points) < len(refs):
            partial.append(f"{kind}/{osm_id}")
        camera, bad = make_camera(kind, osm_id, *centre(points), tags, stamp)
        cameras.append(camera)
        bad_direction += bad

    for osm_id, (tags, stamp, refs) in scan.ways.items():
        place("way", osm_id, refs, tags, stamp)
    for rel in scan.relations:
        refs = rel.nodes + [n for ref, _ in rel.ways for n in scan.way_refs.get(ref, [])]
        place("relation", rel.osm_id, refs, rel.tags, rel.timestamp)

    warnings += direction_warning(bad_direction) + placement_warnings(partial, unplaced)
    return cameras, warnings


def placement_warnings(partial: list[str], unplaced: list[str]) -> list[str]:
    """Warnings for camera ways and relations with some or all of their nodes missing."""
    warnings = []
    if partial:
        warnings.append(
            f"{len(partial)} camera ways or relations have nodes missing from the extract; "
            f"placed at the centre of what is present: {', '.join(partial)}"
        )
    if unplaced:
        warnings.append(
            f"{len(unplaced)} camera ways or relations have no node in the extract and are "
            f"left out: {', '.join(unplaced)}"
        )
    return warnings


def boundaries_of(scan: Scan) -> list[Boundary]:
    from osmcams.geo.rings import build_rings, rings_to_multipolygon

    result = []
    for rel in scan.boundaries:
        boundary = Boundary(rel.osm_id, rel.tags)
        label = f"relation {rel.osm_id} ({rel.tags.get('name', 'unnamed')})"
        missing_ways = [ref for ref, _ in rel.ways if ref not in scan.way_refs]
        lines = [
            scan.locations.lookup(scan.way_refs[ref]) for ref, _ in rel.ways if ref in scan.way_refs
        ]
        missing_nodes = sum(p is None for line in lines for p in line)
        if not rel.ways:
            boundary.problem = "it has no member ways"
        elif missing_ways or missing_nodes:
            missing = [f"{len(missing_ways)} of {len(rel.ways)} member ways"] if missing_ways else []
            missing += [f"{missing_nodes} nodes of its ways"] if missing_nodes else []
            boundary.problem = " and ".join(missing) + " missing from the extract"
        else:
            try:
                rings = build_rings(cast(list[list[Point]], lines), label)
                boundary.geometry = rings_to_multipolygon(rings)
            except DataError as e:
                boundary.problem = str(e)
        result.append(boundary)
    return result


def _refuse_twice(path: Path, cameras: list[Camera]) -> None:
    """DataError for a file that holds a camera twice, as a snapshot never does."""
    import numpy

    kinds = ("node", "way", "relation")
    codes = numpy.fromiter((c.osm_id * 4 + kinds.index(c.osm_type) for c in cameras), numpy.int64,
                           len(cameras))
    codes.sort()
    again = numpy.unique(codes[1:][codes[1:] == codes[:-1]]).tolist()
    twice = [f"{kinds[code % 4]}/{code // 4}" for code in again]
    if twice:
        raise DataError(
            f"{path}: {len(twice)} cameras appear more than once ({', '.join(twice[:3])}"
            f"{', …' if len(twice) > 3 else ''}): the file holds several versions of them (a "
            "history file, whatever its header says: `osmium time-filter` makes a snapshot) or "
            "files joined with `osmium cat` (`osmium merge` joins them once each)"
        )


def refuse_empty(path: Path, name: Path | None = None) -> None:
    """DataError for a PBF with no data block, or one cut short inside a block (naming
    `name`, when `path` is its copy)."""
    from osmcams.sources.osm import blocks

    try:
        empty = not blocks.has_data(path)
    except blocks.Unindexable as e:
        if blocks.damage(e):
            raise DataError(f"{name or path}: {blocks.damage(e)}") from e
        return  # not a PBF: libosmium says what is wrong
    if empty:
        raise DataError(f"{name or path}: holds no OSM data (an empty or cut-short file)")


def scan_file(
    path: str | os.PathLike[str],
    admin_level: int | None = None,
    threads: int = 0,
    progress: Progress | None = None,
    extent: str | os.PathLike[str] | None = None,
) -> tuple[Extract, list[Boundary]]:
    """Cameras and, when `admin_level` is given, admin boundaries of one OSM file; its
    extent from the file `extent`, else from the `.poly` beside it, when there is one."""
    extract, boundaries, _ = scan_members(path, admin_level, threads, progress, extent)
    return extract, boundaries


def scan_members(
    path: str | os.PathLike[str],
    admin_level: int | None = None,
    threads: int = 0,
    progress: Progress | None = None,
    extent: str | os.PathLike[str] | None = None,
) -> tuple[Extract, list[Boundary], Scan]:
    """As `scan_file`, with the members of the camera ways and relations, and their nodes."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy
    import osmium

    from osmcams.sources.extent import extent_of
    from osmcams.sources.osm.blocks import estimate_imports, sampled, unsampled
    from osmcams.sources.osm.sieve import UnsortedData

    path = osm_file(path)
    polygon, polygon_source = extent_of(path, extent)
    # One pool of decoding threads for every pass: every core unless told otherwise.
    pool = osmium.io.ThreadPool(threads or os.cpu_count() or 1, 0)
    header, stamp, stamp_source = read_header(path, pool)
    if header.has_multiple_object_versions:
        raise DataError(
            f"{path}: a full-history file (its header says so), whose old and deleted versions "
            "would be counted; count its cameras through time with `osmcams timeline`, or today's "
            "with a snapshot (`osmium time-filter FILE -o snapshot.osm.pbf`)"
        )
    # A known extent needs no estimate; else the first pass samples nodes and tells which
    # of them stand alone; a file it cannot sift is sampled apart. They tell too whether the
    # header's box is the cut (`box_of_data`), which bounds an extent that reaches past it.
    box = header_bbox(header)
    sample = polygon is None or reaches_past(polygon, box)
    unsorted = ""
    with (ThreadPoolExecutor(1, thread_name_prefix="osmcams-imports") as background,
          as_pbf(path, header, pool, progress) as source):
        background.submit(estimate_imports)  # meanwhile, as the passes free the GIL
        try:
            scan = _first_pass(source, admin_level, pool, progress, threads, sample=sample, name=path)
        except UnsortedData as e:
            if source == path:
                raise
            # Not sorted by id (Overpass's "out qt", an editor's file): libosmium reads it
            # whole as it is, its nodes unsampled, as the copy cannot be sifted.
            unsorted = str(e).removeprefix(f"{path}: ").split(" in the block")[0]  # of the copy
            source = path
            scan = _first_pass(path, admin_level, pool, progress, threads)
        refuse_empty(source, path)  # the framing is walked by the sieve, while its workers start
        _fetch_references(source, scan, pool, progress, path)
        samples = scan.samples
        if samples is None and polygon is None:
            samples = sampled(source)
        why = unsampled(source) if polygon is None and box is None else None
    cameras, warnings = _cameras(scan)
    if unsorted:
        why = "it is not sorted by id"
        boxed = polygon is None and box is not None
        warnings.append(f"{path.name} is not sorted by id ({unsorted}): read as it is, its nodes "
                        "unsampled" + (": where it has data is taken from its header's box" if boxed else ""))
    _refuse_twice(path, cameras)
    tomorrow = str(iso_timestamp(datetime.fromtimestamp(time.time() + 86_400, timezone.utc)))  # clock drift
    said = (f"{path.name}: its header says {stamp}, in the future" if stamp and stamp > tomorrow
            else f"{path.name} has no date in its header" if stamp is None else "")
    if said:
        stamp = scan.newest
        if stamp is None:
            stamp_source = "unknown"
            warnings.append(f"{said}: the age of its data is unknown")
        else:
            stamp_source = "newest camera or boundary"
            warnings.append(f"{said}: its data date {stamp} is that of its newest camera or boundary, "
                            "so the data may be newer")
    count = len(cameras)
    places = numpy.column_stack((numpy.fromiter((c.lon for c in cameras), float, count),
                                 numpy.fromiter((c.lat for c in cameras), float, count)))
    nodes = numpy.fromiter((c.osm_type == "node" for c in cameras), bool, count)
    ids = numpy.fromiter((c.osm_id for c in cameras), numpy.int64, count)
    area, area_from, standalone, hugging = estimate_area(samples if polygon is None else None,
                                                         scan.referenced, lambda: places, ids[nodes],
                                                         places[nodes], scan.hugging)
    box, said = box_of_data(box, samples, scan.referenced, ids[nodes], places[nodes], lambda: places,
                            path.name)
    warnings += [said] if said else []
    unknown = area is None and polygon is None and box is None
    if unknown and why:
        warnings.append(f"{path.name}: where it has data is unknown, as its nodes cannot be "
                        f"sampled: {why}")
    extract = Extract(cameras, str(path), stamp, stamp_source, box, warnings, area,
                      area_from, standalone, hugging, polygon, polygon_source)
    return extract, boundaries_of(scan), scan


def osm_file(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path, when it is an OSM file osmcams can read: a DataError for a folder,
    a device or a FIFO (read from disk only), nothing there, or a change file (libosmium
    reads an .osc as several versions of objects, with neither extent nor deletions), or a
    compressed one that is a decompression bomb (files.check_inflation)."""
    path = Path(path)
    if re.search(r"\.osc(\.(gz|bz2|xz|zst))?$", path.name, re.IGNORECASE):
        raise DataError(f"{path}: a change file (osmChange, a replication diff), not an extract: "
                        "apply it to its extract (osmium apply-changes), or let osmcams refresh do it")
    if path.is_dir():
        raise DataError(f"{path}: a directory, not an OSM file")
    if not path.is_file():
        raise DataError(f"{path}: " + ("not a regular file: osmcams reads OSM files from disk"
                                       if path.exists() else "no such file"))
    if not path.stat().st_size:  # libosmium: "blob contains no data or unknown compression"
        raise DataError(f"{path}: empty, not an OSM file (a download that failed?)")
    check_inflation(path, "a corrupt OSM file")
    return path


def estimate_area(samples: Any, referenced: Any, places: Callable[[], Any], node_ids: Any,
                  node_places: Any, hugging: Any = None) -> tuple[Any, str, tuple[Any, float] | None, Any]:
    """Where a file has data (`Extract.data_area`) and what says so: the `footprint` of its
    sampled standalone nodes (tagged, no way refers to them) and of its camera nodes (ids
    `node_ids` at `node_places`) not sampled that no way refers to, with the area `hugged`
    by the sampled nodes of its short ways (`hugging`, when known); failing
    FEWEST_STANDALONE of the former, or when which nodes ways refer to is unknown, all its
    sampled nodes (`spread_area`, with `places()`, every camera's, asked only then, as
    evidence); and `Extract.standalone` and `Extract.hugging`."""
    import numpy

    from osmcams.geo.footprint import footprint
    from osmcams.sources.osm.blocks import spread_area

    if samples is None:
        return None, "", None, None
    if referenced is None:
        return (spread_area(samples.points, samples.fraction, places()),
                "its sampled nodes, all of them, less a margin at its edge", None, None)
    alone, cameras = standalone_nodes(samples, referenced, node_ids, node_places)
    if len(alone) >= FEWEST_STANDALONE:
        points = numpy.concatenate((alone, cameras))
        area = footprint(points, samples.fraction, samples.points)
        if area is not None:
            area, hugs = with_hugged(area, hugging, samples.fraction)
            return area, (f"{len(alone):,} standalone nodes in {samples.fraction:.0%} of its "
                          "node blocks, and its cameras") + (
                f", and {len(hugging):,} nodes of its short ways" if hugs else ""), (
                points, samples.fraction), hugging if hugs else None
    return spread_area(samples.points, samples.fraction, places()), (
        f"all its sampled nodes less a margin at its edge, having too few standalone nodes "
        f"({len(alone)})"), None, None


def standalone_nodes(samples: Any, referenced: Any, node_ids: Any, node_places: Any) -> tuple[Any, Any]:
    """The (lon, lat) of the sampled tagged nodes that no way refers to (`referenced`), and of
    the camera nodes (ids `node_ids` at `node_places`) not sampled that none refers to."""
    import numpy

    alone = samples.tagged_points[~isin(samples.tagged_ids, referenced)]
    # The camera nodes sampled are among those, if they stand alone; the others may lie in
    # pieces of a file that the sampling missed (tiles whose ids do not mix), and count when
    # no way refers to them: a camera on a way that crosses the cut lies beyond it.
    unsampled = ~isin(node_ids, samples.tagged_ids) & ~isin(node_ids, referenced)
    return alone, numpy.asarray(node_places, float).reshape(-1, 2)[unsampled]


def metres_outside(box: tuple[float, float, float, float], points: Any) -> Any:
    """How far each of `points` ((lon, lat) rows) lies outside `box` in metres, 0 inside."""
    import numpy

    from osmcams.geo.footprint import METRES_PER_DEGREE

    lon, lat = numpy.asarray(points, float).reshape(-1, 2).T
    west, south, east, north = box
    east_west = numpy.maximum(numpy.maximum(west - lon, lon - east), 0) * numpy.cos(numpy.radians(lat))
    north_south = numpy.maximum(numpy.maximum(south - lat, lat - north), 0)
    return numpy.hypot(east_west, north_south) * METRES_PER_DEGREE


def reaches_past(polygon: Any, box: tuple[float, float, float, float] | None) -> bool:
    """Whether `polygon` reaches further than BOX_TOLERANCE_M (its rounding) outside `box`
    (None: no box), so that whether `box` is the cut (`box_of_data`) changes what it bounds.
    A point of an edge lies no further outside a box than one of its ends."""
    import shapely

    return box is not None and bool((metres_outside(box, shapely.get_coordinates(polygon))
                                     > BOX_TOLERANCE_M).any())


def box_of_data(box: tuple[float, float, float, float] | None, samples: Any, referenced: Any,
                node_ids: Any, node_places: Any, places: Callable[[], Any], name: str,
                ) -> tuple[tuple[float, float, float, float] | None, str]:
    """The header's `box` of file `name`, and "", unless its standalone nodes
    (`standalone_nodes`, when at least FEWEST_STANDALONE were sampled, from which
    `estimate_area` draws where it has data) lie clearly outside it (STRAY_SHARE of them over
    BOX_TOLERANCE_M): an extract cut to a box keeps none outside it, so this box is not its
    cut. Then None, as for a file without a box (where it has data is its extent alone, or
    estimated from its nodes alone), and the warning that says so, with how many of its cameras (`places()`,
    asked only then) lie outside it too."""
    import numpy

    if box is None or samples is None or referenced is None:
        return box, ""
    alone, cameras = standalone_nodes(samples, referenced, node_ids, node_places)
    if len(alone) < FEWEST_STANDALONE:
        return box, ""
    points = numpy.concatenate((alone, cameras))
    far = metres_outside(box, points)
    stray = int((far > BOX_TOLERANCE_M).sum())
    if not stray or stray < STRAY_SHARE * len(points):
        return box, ""
    cameras_at = places()
    out = int((metres_outside(box, cameras_at) > BOX_TOLERANCE_M).sum())
    sampled = "" if samples.fraction >= 1 else f" (in {samples.fraction:.0%} of its node blocks)"
    return None, (
        f"{name}: {stray:,} of its {len(points):,} standalone nodes{sampled} and {out:,} of its "
        f"{len(cameras_at):,} cameras lie outside the bounding box of its header "
        f"{tuple(round(v, 5) for v in box)}, up to {far.max():,.0f} m: not the box it was cut "
        "with, so it does not bound where the file has data")


def with_hugged(area: Any, hugging: Any, fraction: float) -> tuple[Any, bool]:
    """`area` with the area `hugged` by the nodes of short ways `hugging` (None: unknown),
    and whether they added any."""
    import shapely

    from osmcams.geo.footprint import hugged

    extra = None if hugging is None else hugged(hugging, fraction)
    return (area, False) if extra is None else (shapely.union(area, extra), True)


def read_by_id(
    path: str | os.PathLike[str], kind: str, ids: set[int], threads: int = 0, layout: Any = None
) -> dict[int, Any]:
    """Node locations (lon, lat) or way node lists of the `kind` objects with `ids`.

    Only the blocks that can hold them are decoded, when the file can be indexed
    (`layout`: its `blocks.index`, when known).
    """
    import osmium

    if not ids:
        return {}
    path = osm_file(path)
    pool = osmium.io.ThreadPool(threads or os.cpu_count() or 1, 0)
    found: dict[int, Any] = {}
    for obj in objects_by_id(path, kind, ids, pool, None, layout):
        if kind == "way":
            found[obj.id] = [n.ref for n in obj.nodes]
        elif obj.location.valid():
            found[obj.id] = (obj.location.lon, obj.location.lat)
    return found


def read_cameras(
    path: str | os.PathLike[str], threads: int = 0, progress: Progress | None = None
) -> Extract:
    """Every man_made=surveillance node, way and relation of an OSM file.

    A PBF of 64 MB or more is read by worker processes that import the main module, as
    multiprocessing's spawn does: a script calls this under `if __name__ == "__main__":`.
    """
    return scan_file(path, None, threads, progress)[0]
