"""Camera nodes read straight from the dense node blocks of a PBF; the rest left to libosmium.

Every data block is inflated as far as its string table first. A block whose
string table lacks the wanted strings cannot hold a wanted object: it is dropped
unread, and when its one group fills the rest of it (and nothing else is asked of
it) that rest is not even inflated. The others are read by a C reader (native.c)
that walks the protobuf fields once: the string table, the tags of every object
and the dense node columns, building only the camera nodes (or, of a history
file, the node versions). Without the C reader (no compiler at install) the
Python path reads the block with protobuf's parser and numpy (`read_block`), the
reference that the tests hold the C reader to. A block that neither can read, or
that holds a camera way or relation (or a boundary relation, when boundaries are
wanted), is left to libosmium's filters.

Large files are sifted by worker processes, one per core.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import itertools
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from osmcams.arrays import first_of_each, isin, unique
from osmcams.errors import DataError
from osmcams.geo.footprint import HUGGING_M, METRES_PER_DEGREE
from osmcams.models import CAMERA_FIELDS, Camera, Progress, gc_paused, make_camera
from osmcams.sources.osm import blocks

try:
    if os.environ.get("OSMCAMS_NO_NATIVE"):  # read as an install without a compiler would
        raise ImportError("OSMCAMS_NO_NATIVE is set")
    from osmcams.sources.osm import native  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: every block is read in Python
    native = None

log = logging.getLogger(__name__)

CAMERA_STRINGS = (b"man_made", b"surveillance")
BOUNDARY_STRINGS = (b"boundary", b"administrative")
NANODEGREES_PER_UNIT = 100  # libosmium keeps coordinates in units of 1e-7 degree
CHUNK = 32  # blocks a worker sifts between two reports
FROM_TAGS = attrgetter(*CAMERA_FIELDS[4:-2])  # surveillance to direction: from the tags
DATED = 365 * 86400  # 1971-01-01: earlier timestamps are PBF's "no date" (as in iso_timestamp)
IN_PROCESS_BYTES = 64 << 20  # smaller files are sifted without worker processes
# Workers yield to their parent, whose thread loading the boundaries meanwhile is the
# longer path when both share the cores: it starts the join as soon as the scan ends.
WORKER_NICENESS = 10

# The parts of OSM's osmformat.proto that the sieve reads, with their field numbers
# there. Node, Way and Relation groups are read as one Tagged message each: protobuf
# merges repeated occurrences of a singular message field, concatenating their arrays.
MESSAGES = """
name: "osmcams_sieve.proto" package: "osmcams"
message_type { name: "StringTable"
  field { name: "s" number: 1 label: LABEL_REPEATED type: TYPE_BYTES } }
message_type { name: "DenseInfo"
  field { name: "timestamp" number: 2 label: LABEL_REPEATED type: TYPE_SINT64 }
  field { name: "visible" number: 6 label: LABEL_REPEATED type: TYPE_BOOL } }
message_type { name: "DenseNodes"
  field { name: "id" number: 1 label: LABEL_REPEATED type: TYPE_SINT64 }
  field { name: "denseinfo" number: 5 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".osmcams.DenseInfo" }
  field { name: "lat" number: 8 label: LABEL_REPEATED type: TYPE_SINT64 }
  field { name: "lon" number: 9 label: LABEL_REPEATED type: TYPE_SINT64 }
  field { name: "keys_vals" number: 10 label: LABEL_REPEATED type: TYPE_INT32 } }
message_type { name: "Tagged"
  field { name: "keys" number: 2 label: LABEL_REPEATED type: TYPE_UINT32 }
  field { name: "vals" number: 3 label: LABEL_REPEATED type: TYPE_UINT32 } }
message_type { name: "PrimitiveGroup"
  field { name: "nodes" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".osmcams.Tagged" }
  field { name: "dense" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".osmcams.DenseNodes" }
  field { name: "ways" number: 3 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".osmcams.Tagged" }
  field { name: "relations" number: 4 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".osmcams.Tagged" } }
message_type { name: "PrimitiveBlock"
  field { name: "stringtable" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".osmcams.StringTable" }
  field { name: "primitivegroup" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".osmcams.PrimitiveGroup" }
  field { name: "granularity" number: 17 label: LABEL_OPTIONAL type: TYPE_INT32
          default_value: "100" }
  field { name: "date_granularity" number: 18 label: LABEL_OPTIONAL type: TYPE_INT32
          default_value: "1000" }
  field { name: "lat_offset" number: 19 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "lon_offset" number: 20 label: LABEL_OPTIONAL type: TYPE_INT64 } }
"""

# The ways (id, node ids) and relations of a block, one message each, for the Python
# readings of `referenced` and `hugging`.
WAYS_MESSAGES = """
name: "osmcams_ways.proto" package: "osmcams_ways"
message_type { name: "StringTable"
  field { name: "s" number: 1 label: LABEL_REPEATED type: TYPE_BYTES } }
message_type { name: "Way"
  field { name: "id" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "refs" number: 8 label: LABEL_REPEATED type: TYPE_SINT64 } }
message_type { name: "Relation"
  field { name: "keys" number: 2 label: LABEL_REPEATED type: TYPE_UINT32 }
  field { name: "vals" number: 3 label: LABEL_REPEATED type: TYPE_UINT32 }
  field { name: "memids" number: 9 label: LABEL_REPEATED type: TYPE_SINT64 }
  field { name: "types" number: 10 label: LABEL_REPEATED type: TYPE_INT32 } }
message_type { name: "PrimitiveGroup"
  field { name: "ways" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".osmcams_ways.Way" }
  field { name: "relations" number: 4 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".osmcams_ways.Relation" } }
message_type { name: "PrimitiveBlock"
  field { name: "stringtable" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".osmcams_ways.StringTable" }
  field { name: "primitivegroup" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".osmcams_ways.PrimitiveGroup" } }
"""
MEMBER_WAY = 1  # a relation member's type, in osmformat.proto


class NodeCameras(NamedTuple):
    """The camera nodes of one dense group, in file order, as columns: ids (int64), lon and
    lat (float64) and which of `tags` each carries (int32), as packed values; `stamps`,
    their timestamps' text joined by commas (an empty one for no date); `tags`, each
    distinct set of tags of the group once (the same string indices in the same order),
    in order of first use."""

    ids: bytes
    lon: bytes
    lat: bytes
    stamps: str
    sets: bytes
    tags: list[dict[str, str]]


Tags = tuple[tuple[str, str], ...]


@dataclass
class NodeVersions:
    """Versions of the nodes of a history file, as columns in file order: id, start
    (seconds), visible, whether it carries man_made=surveillance, location (NaN when
    deleted or invalid), and, when asked for, the tags of those that carry it (else ())."""

    ids: Any
    starts: Any
    visible: Any
    tagged: Any
    lon: Any
    lat: Any
    tags: list[Tags] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, chosen: Any) -> NodeVersions:
        """The versions at the positions `chosen`, in that order."""
        tags = None if self.tags is None else [self.tags[i] for i in chosen.tolist()]
        return NodeVersions(self.ids[chosen], self.starts[chosen], self.visible[chosen],
                            self.tagged[chosen], self.lon[chosen], self.lat[chosen], tags)

    @classmethod
    def joined(cls, parts: list[NodeVersions], tags: bool) -> NodeVersions:
        """The versions of `parts`, one after the other."""
        import numpy

        columns = {name: numpy.concatenate([getattr(p, name) for p in parts] or [numpy.empty(0, kind)])
                   for name, kind in zip(COLUMNS, (numpy.int64, numpy.int64, bool, bool, float, float))}
        return cls(**columns, tags=[t for p in parts for t in p.tags or ()] if tags else None)


COLUMNS = ("ids", "starts", "visible", "tagged", "lon", "lat")


@dataclass
class Sifted:
    """The camera nodes of the dense blocks, and the blocks left to libosmium."""

    cameras: list[Camera] = field(default_factory=list)
    bad_directions: int = 0
    # History files: every version of the nodes that carry the tag in some version, in
    # file order, and of the first and last node of each dense block (whose versions may
    # go on in the next block or come from the one before).
    versions: NodeVersions | None = None
    newest: str | None = None
    others: list[blocks.Frame] = field(default_factory=list)
    # With `sift(sample=True)`: the nodes of the sampled node blocks (None when the file
    # cannot be sampled), and which of their tagged ones, and of the camera nodes, ways
    # refer to (None when a block could not be read, so that some references may be unknown).
    samples: blocks.Samples | None = None
    referenced: Any = None
    # (lon, lat) of the sampled nodes of the short ways (`hugging`) that no multipolygon has as
    # a member; None when unknown (a block could not be read here, or a history file).
    hugging: Any = None


@functools.cache
def _messages(schema: str, *names: str) -> tuple[Any, ...]:
    """The classes of the messages `names` of `schema` (made once a process)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    pool = descriptor_pool.DescriptorPool()
    pool.Add(text_format.Parse(schema, descriptor_pb2.FileDescriptorProto()))
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(n)) for n in names)


def _block_message() -> Any:
    """The class of a PrimitiveBlock as MESSAGES reads it."""
    return _messages(MESSAGES, "osmcams.PrimitiveBlock")[0]


def way_refs(data: bytes) -> Any:
    """The node ids that the ways of an inflated block refer to, as one array."""
    (message,) = _messages(WAYS_MESSAGES, "osmcams_ways.PrimitiveBlock")
    return _way_nodes([way for group in message.FromString(data).primitivegroup for way in group.ways])[0]


def _way_nodes(ways: list[Any]) -> tuple[Any, Any]:
    """The node ids of `ways` (messages of WAYS_MESSAGES) as one array, and how many each
    way has. Each way's ids are delta-coded from 0: the running sum of all, less its sum
    before the way."""
    import numpy

    counts = numpy.fromiter((len(way.refs) for way in ways), numpy.int64, len(ways))
    sums = numpy.cumsum(numpy.fromiter(itertools.chain.from_iterable(way.refs for way in ways), numpy.int64,
                                       int(counts.sum())))
    starts = numpy.cumsum(counts) - counts
    return sums - numpy.repeat(numpy.concatenate(([0], sums))[starts], counts), counts


HUGGING_FROM = 0.25  # the least share of node blocks sampled for short ways to be sought
MOST_BITS = 1 << 26  # the bitmap of candidates: 8 MB at most, a bit for 2**shift ids
_mapped: dict[str, Candidates] = {}  # in a worker: the candidates of the file last mapped


class Candidates:
    """Node ids (`ids`, sorted) whose references by ways are sought, and a bitmap of them
    that turns most references away at once: bit `id >> shift` of `bits` is set for each
    id of at least 0; with `places` ((lon, lat) of each id), their places in metres
    (`xy`, float64, x then y), for `hugging`. For the sieve's workers they are written once
    to a file (`shared`) that each maps: pickled, they are that file's name, not their
    megabytes again for every chunk."""

    def __init__(self, ids: Any, places: Any = None) -> None:
        import numpy

        ids = numpy.asarray(ids, numpy.int64)
        if places is None:
            self.ids, self.xy = unique(ids), None
        else:  # the place of the first of each id, in the order of the ids
            first = first_of_each(ids)
            self.ids, self.xy = ids[first], _plane(numpy.asarray(places, float)[first])
        top = int(self.ids[-1]) if len(self.ids) and self.ids[-1] > 0 else 0
        self.shift = max(0, top.bit_length() - MOST_BITS.bit_length() + 1)
        self.bits = numpy.zeros((top >> self.shift >> 3) + 1, numpy.uint8)
        at = self.ids[self.ids >= 0] >> self.shift
        numpy.bitwise_or.at(self.bits, at >> 3, numpy.left_shift(1, at & 7).astype(numpy.uint8))
        self.path: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Pickled as the name of a file that holds them, while in the block; whole, when
        no temporary file can be written. The file's folder is one that the next run
        removes if this one is killed."""
        from osmcams.files import temporary_folder

        with contextlib.ExitStack() as stack:
            try:
                path = stack.enter_context(temporary_folder()) / "candidates"
                with open(path, "wb") as f:
                    f.write(self.ids.tobytes())
                    if self.xy is not None:
                        f.write(self.xy.tobytes())
                    f.write(self.bits.tobytes())
                self.path = str(path)
            except OSError as e:  # OutputError among them
                log.info("the ids sought go whole with each chunk: %s", e)
            try:
                yield
            finally:
                self.path = None

    def __getstate__(self) -> dict[str, Any]:
        if self.path is None:
            return self.__dict__
        return {"path": self.path, "shift": self.shift, "count": len(self.ids), "xy": self.xy is not None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import numpy

        if "ids" in state:
            self.__dict__.update(state)
            return
        known = _mapped.get(state["path"])
        if known is None:
            words = numpy.memmap(state["path"], numpy.uint8, "r")
            known = Candidates.__new__(Candidates)
            count = state["count"]
            known.ids = words[: 8 * count].view(numpy.int64)
            end = 8 * count * (3 if state["xy"] else 1)
            known.xy = words[8 * count : end].view(numpy.float64).reshape(2, -1) if state["xy"] else None
            known.bits, known.shift, known.path = words[end:], state["shift"], None
            if len(_mapped) > 1:
                _mapped.clear()  # the files of an earlier sift are gone
            _mapped[state["path"]] = known
        self.__dict__.update(known.__dict__)


def referenced(data: bytes, candidates: Candidates) -> Any:
    """Which of `candidates` the ways of an inflated block refer to."""
    import numpy

    if not len(candidates) or not any(kind == blocks.GROUP_WAYS
                                      for kind, _ in blocks.primitive(data).groups):
        return numpy.empty(0, numpy.int64)
    if native is not None:
        found = native.referenced(data, candidates.bits, candidates.shift, candidates.ids)
        if found is not None:
            return unique(numpy.frombuffer(found, numpy.int64))
    return referenced_in_python(data, candidates)


def referenced_in_python(data: bytes, candidates: Candidates) -> Any:
    """`referenced` with protobuf's parser and numpy: the reference for the C reader."""
    refs = way_refs(data)
    return unique(refs[isin(refs, candidates.ids)])


def _plane(places: Any) -> Any:
    """(lon, lat) in metres in a plane tangent at their middle latitude, as x and y rows."""
    import numpy

    if not len(places):
        return numpy.zeros((2, 0))
    scale = numpy.array([numpy.cos(numpy.radians(places[:, 1].mean())), 1.0]) * METRES_PER_DEGREE
    return numpy.ascontiguousarray((places * scale).T)


def hugging(data: bytes, sampled: Candidates) -> tuple[Any, Any, Any] | None:
    """Of the ways of an inflated block whose nodes are all among `sampled` (with places)
    and span at most HUGGING_M: the positions of their nodes in `sampled.ids` and, for each,
    the way's id; and the ids of the ways its multipolygon relations have as members (a
    smart extract keeps those whole, wherever they lie). None when `sampled` has no places,
    or the block cannot be read: then they are unknown."""
    import numpy

    xy = sampled.xy
    if native is not None and xy is not None:
        found = native.hugging(data, sampled.bits, sampled.shift, sampled.ids, xy[0], xy[1], HUGGING_M)
        if found is not None:
            nodes, ways, members = (numpy.frombuffer(part, numpy.int64) for part in found)
            return nodes, ways, members
    return hugging_in_python(data, sampled)


def hugging_in_python(data: bytes, sampled: Candidates) -> tuple[Any, Any, Any] | None:
    """`hugging` with protobuf's parser and numpy: the reference for the C reader. None when
    `sampled` has no places, the block does not parse, a relation's tags cannot be read (keys
    and values apart, a string index past the table: libosmium refuses them), or its members
    lack their types."""
    import numpy
    from google.protobuf.message import DecodeError

    xy = sampled.xy
    if xy is None:
        return None
    (message,) = _messages(WAYS_MESSAGES, "osmcams_ways.PrimitiveBlock")
    try:
        block = message.FromString(data)
    except DecodeError:
        return None
    ways = [way for group in block.primitivegroup for way in group.ways]
    relations = [relation for group in block.primitivegroup for relation in group.relations]
    refs, counts = _way_nodes(ways)
    starts = numpy.cumsum(counts) - counts
    way_of = numpy.repeat(numpy.arange(len(ways)), counts)
    at = numpy.searchsorted(sampled.ids, refs)  # the first of equal ids, as the C reader's search
    known = at < len(sampled.ids)
    known[known] = sampled.ids[at[known]] == refs[known]
    hugs = (counts > 0) & (numpy.bincount(way_of[~known], minlength=len(ways)) == 0)
    if hugs.any():  # the box of each way with nodes (reduceat's spans), of each whole one kept
        filled = numpy.flatnonzero(counts)
        x, y = xy[:, numpy.where(known, at, 0)]  # a way with an unknown node is not kept
        first = starts[filled]
        wide = numpy.maximum.reduceat(x, first) - numpy.minimum.reduceat(x, first)
        high = numpy.maximum.reduceat(y, first) - numpy.minimum.reduceat(y, first)
        hugs[filled] &= wide * wide + high * high <= HUGGING_M * HUGGING_M
    chosen = hugs[way_of]
    way_ids = numpy.fromiter((way.id for way in ways), numpy.int64, len(ways))
    members = [numpy.empty(0, numpy.int64)]
    if relations:
        strings = list(block.stringtable.s)
        if not strings or strings[0]:
            return None  # no string table, or not one that libosmium reads
        key, value = _index(strings, b"type"), _index(strings, b"multipolygon")
        for relation in relations:
            try:
                multipolygon = _has_pair(relation, len(strings), key, value)
            except ValueError:
                return None
            if not multipolygon:
                continue
            if len(relation.types) < len(relation.memids):
                return None
            ids = numpy.cumsum(numpy.array(relation.memids, numpy.int64))
            members.append(ids[numpy.array(relation.types[: len(ids)], numpy.int64) == MEMBER_WAY])
    return at[chosen], way_ids[way_of[chosen]], numpy.concatenate(members)


def _entry(text: bytes) -> bytes:
    """How `text` is written as an entry of a string table (field 1, a one-byte length)."""
    return b"\x0a" + bytes([len(text)]) + text


def _index(strings: list[bytes], text: bytes) -> int:
    """The index of `text` in a string table; 0 (the empty string) when absent."""
    try:
        return strings.index(text)
    except ValueError:
        return 0


def _has_pair(tagged: Any, strings: int, key: int, value: int) -> bool:
    """Whether any object of a merged group carries the tag (key, value), by index.

    Raises ValueError when the keys and values do not pair up, or an index lies past the
    table of `strings` strings (libosmium refuses it).
    """
    import numpy

    keys = numpy.array(tagged.keys, numpy.int64)
    values = numpy.array(tagged.vals, numpy.int64)
    if len(keys) != len(values):
        raise ValueError("keys and values of different lengths")
    if len(keys) and max(keys.max(), values.max()) >= strings:
        raise ValueError("a string index past the table")
    return bool(key and value and numpy.any((keys == key) & (values == value)))


def _degrees(raw: Any, granularity: int, offset: int) -> Any:
    """Packed coordinates as libosmium reads them: nanodegrees truncated to 1e-7, as floats."""
    import numpy

    nano = raw * granularity + offset
    return numpy.sign(nano) * (numpy.abs(nano) // NANODEGREES_PER_UNIT) / 1e7


def _stamps(seconds: Any) -> list[str | None]:
    """ISO 8601 UTC text of timestamps in seconds; None for the epoch (no date)."""
    import numpy

    text = numpy.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [f"{t}Z" if s >= DATED else None for t, s in zip(text.tolist(), seconds.tolist())]


class _Tagged:
    """The nodes of one DenseNodes message that carry the tag (key, value), by position;
    `readable`: False when libosmium would refuse its tags (a string index past the table)
    or read them otherwise (the last node's tags unended: libosmium reads them, not we; a
    value 0, the empty string to libosmium, a node's end to us)."""

    def __init__(self, block: Any, dense: Any, strings: list[bytes], key: int, value: int):
        import numpy

        self.block, self.dense, self.strings = block, dense, strings
        self.pairs = pairs = numpy.array(dense.keys_vals, numpy.int64)
        self.readable = not len(pairs) or bool(pairs[-1] == 0 and pairs.min() >= 0
                                               and pairs.max() < len(strings))
        self.ends = numpy.flatnonzero(pairs == 0)  # each node's tags end with a 0
        self.starts = numpy.concatenate(([0], self.ends[:-1] + 1))
        self.readable &= not numpy.any((self.ends - self.starts) % 2)  # a key, then a value 0
        hits = numpy.empty(0, numpy.int64)
        if key and value and self.readable:  # then every pair lies before the last end
            hits = numpy.flatnonzero((pairs[:-1] == key) & (pairs[1:] == value))
        node = numpy.searchsorted(self.ends, hits)  # the node whose tags hold each hit
        self.nodes = unique(node[(hits - self.starts[node]) % 2 == 0])  # a key, then its value
        self._text: dict[int, str] = {}

    @staticmethod
    def at(values: Any, positions: Any) -> Any:
        """Delta-coded values, at `positions`."""
        import numpy

        return numpy.cumsum(numpy.array(values, numpy.int64))[positions]

    def locations(self, positions: Any) -> tuple[Any, Any]:
        """The longitudes and latitudes of the nodes at `positions`, as arrays."""
        block = self.block
        lat = _degrees(self.at(self.dense.lat, positions), block.granularity, block.lat_offset)
        lon = _degrees(self.at(self.dense.lon, positions), block.granularity, block.lon_offset)
        return lon, lat

    def seconds(self, positions: Any) -> Any:
        """The timestamps of the nodes at `positions`, in seconds (0 without metadata)."""
        import numpy

        stamps = self.dense.denseinfo.timestamp
        if not stamps:
            return numpy.zeros(len(positions), numpy.int64)
        return self.at(stamps, positions) * self.block.date_granularity // 1000

    def tags(self, n: int) -> list[tuple[str, str]]:
        """The tags of the node at position `n`, in order."""
        tagged = self.pairs[self.starts[n] : self.ends[n]].tolist()
        return [(self._decoded(k), self._decoded(v)) for k, v in zip(tagged[::2], tagged[1::2])]

    def _decoded(self, i: int) -> str:
        if i not in self._text:
            self._text[i] = self.strings[i].decode("utf-8", "replace")
        return self._text[i]


def _dense_cameras(tagged: _Tagged) -> NodeCameras | None:
    """The camera nodes of one DenseNodes message; None when it holds none."""
    import numpy

    lon, lat = tagged.locations(tagged.nodes)
    valid = (numpy.abs(lon) <= 180) & (numpy.abs(lat) <= 90)  # libosmium gives others no geometry
    nodes = tagged.nodes[valid]
    if not len(nodes):
        return None
    distinct: dict[tuple[int, ...], int] = {}  # each set of string indices: its place in `tags`
    tags: list[dict[str, str]] = []
    sets = []
    for n in nodes.tolist():
        indices = tuple(tagged.pairs[tagged.starts[n] : tagged.ends[n]].tolist())
        if indices not in distinct:
            distinct[indices] = len(tags)
            tags.append(dict(tagged.tags(n)))
        sets.append(distinct[indices])
    stamps = ",".join(stamp or "" for stamp in _stamps(tagged.seconds(nodes)))
    return NodeCameras(tagged.at(tagged.dense.id, nodes).tobytes(), lon[valid].tobytes(),
                       lat[valid].tobytes(), stamps, numpy.array(sets, numpy.int32).tobytes(), tags)


def _dense_versions(tagged: _Tagged, tags: bool) -> NodeVersions:
    """Every version of the nodes of a history block that carry the tag in some version,
    and of its first and last node; with `tags`, the tags of those that carry it."""
    import numpy

    ids = numpy.cumsum(numpy.array(tagged.dense.id, numpy.int64))
    wanted = numpy.concatenate((ids[tagged.nodes], ids[:1], ids[-1:]))
    chosen = numpy.flatnonzero(isin(ids, wanted))
    visible = numpy.ones(len(chosen), bool)
    if tagged.dense.denseinfo.visible:
        visible = numpy.array(tagged.dense.denseinfo.visible, bool)[chosen]
    lon, lat = tagged.locations(chosen)
    invalid = ~visible | (numpy.abs(lon) > 180) | (numpy.abs(lat) > 90)
    lon[invalid] = lat[invalid] = numpy.nan
    carries = isin(chosen, tagged.nodes)
    found = None
    if tags:
        found = [tuple(tagged.tags(n)) if camera else ()
                 for n, camera in zip(chosen.tolist(), carries.tolist())]
    return NodeVersions(ids[chosen], tagged.seconds(chosen), visible, carries, lon, lat, found)


@dataclass(frozen=True)
class Wanted:
    """What a sift reads: boundary relations are left to libosmium too (`boundaries`);
    node versions of a history file (`history`), with their tags (`tags`); the nodes of
    the blocks at the offsets `sampled` (`blocks.node_samples`); which of `candidates`
    ways refer to, or only that a block has no ways (`no_ways`)."""

    boundaries: bool = False
    history: bool = False
    tags: bool = False
    sampled: frozenset[int] = field(default=frozenset(), compare=False)
    no_ways: bool = False
    candidates: Candidates | None = field(default=None, compare=False)  # which do ways refer to?
    sampled_nodes: Candidates | None = field(default=None, compare=False)  # with places: `hugging`


def sift_block(data: bytes, wanted: Wanted, offset: int = 0) -> list[NodeCameras] | list[NodeVersions] | None:
    """The camera nodes of one inflated block (the block at byte `offset`), or its node
    versions (see `Wanted`); None when libosmium must read it. A snapshot's block whose
    node ids do not increase is `blocks.Corrupt`: versions of a history, or not sorted.

    Read by the C reader (`native`) when it is built, else by `read_block`."""
    if not _holds_wanted(data, wanted) and not (
        wanted.history and any(kind == blocks.GROUP_DENSE for kind, _ in blocks.primitive(data).groups)
    ):
        return []
    if native is None:
        return read_block(data, wanted, offset)
    found = native.sift(data, CAMERA_STRINGS, BOUNDARY_STRINGS if wanted.boundaries else None,
                        wanted.history, wanted.tags)
    if isinstance(found, tuple):
        before, after = found
        raise _unsorted(before, after, offset)
    if found is None:
        return None
    if wanted.history:
        return [_versions(*columns) for columns in found]
    return [NodeCameras(*columns) for columns in found]


def _versions(ids: bytearray, seconds: bytearray, visible: bytearray, carries: bytearray,
              lon: bytearray, lat: bytearray, tags: list[Tags] | None) -> NodeVersions:
    """NodeVersions from the columns of the C reader."""
    import numpy

    return NodeVersions(numpy.frombuffer(ids, numpy.int64), numpy.frombuffer(seconds, numpy.int64),
                        numpy.frombuffer(visible, bool), numpy.frombuffer(carries, bool),
                        numpy.frombuffer(lon, float), numpy.frombuffer(lat, float), tags)


class Unsorted(blocks.Corrupt):
    """A block whose node ids do not increase."""


class UnsortedData(DataError):
    """A file with a block whose node ids do not increase (`sift`)."""


def _unsorted(before: int, after: int, offset: int) -> Unsorted:
    return Unsorted(
        f"node/{after} follows node/{before} in the block at byte {offset:,}: the file holds "
        "several versions of a node (a history file, whatever its header says) or is not sorted by id"
    )


def read_block(data: bytes, wanted: Wanted, offset: int = 0) -> list[NodeCameras] | list[NodeVersions] | None:
    """`sift_block` in Python, with protobuf's parser: the reference for the C reader."""
    import numpy

    block = _block_message().FromString(data)
    strings = list(block.stringtable.s)
    if not strings or strings[0]:
        return None  # entry 0 must be the empty string, which ends each dense node's tags
    camera, boundary = ([_index(strings, text) for text in pair]
                        for pair in (CAMERA_STRINGS, BOUNDARY_STRINGS))
    found: list[Any] = []
    for group in block.primitivegroup:
        checks = [(group.nodes, camera), (group.ways, camera), (group.relations, camera)]
        if wanted.boundaries:
            checks.append((group.relations, boundary))
        try:
            if any(_has_pair(tagged, len(strings), *pair) for tagged, pair in checks):
                return None
        except ValueError:
            return None
        if group.HasField("dense"):
            tagged = _Tagged(block, group.dense, strings, *camera)
            if not tagged.readable:
                return None
            if wanted.history:
                found.append(_dense_versions(tagged, wanted.tags))
                continue
            ids = tagged.at(group.dense.id, slice(None))
            back = numpy.flatnonzero(ids[1:] <= ids[:-1])
            if len(back):
                raise _unsorted(ids[back[0]], ids[back[0] + 1], offset)
            cameras = _dense_cameras(tagged)
            if cameras is not None:
                found.append(cameras)
    return found


Result = tuple[Any, "tuple[str, int] | None", Any, Any, "blocks.Groups | None"]


def _sift_frames(f: BinaryIO, frames: list[blocks.Frame], wanted: Wanted) -> list[Result]:
    """`sift_block` of each frame (None also for a blob compressed otherwise than with
    zlib, or damaged; the `blocks.Corrupt` error for one that breaks the format), the kind
    and first id of its block (`blocks.first_object`), the `referenced` of
    `wanted.candidates` (None when not asked for, or unreadable), the `hugging` of
    `wanted.sampled_nodes` (empty when not asked for, None when unreadable), and its
    `blocks.node_samples` when it is among `wanted.sampled`."""
    import numpy
    from google.protobuf.message import DecodeError

    results: list[Result] = []
    for offset, length, _, size in frames:
        f.seek(offset + length - size)
        try:
            inflating = blocks.Inflating(f.read(size), offset)
            unread = _unread(inflating, wanted)
            if unread is not None:
                results.append(unread)
                continue
            data = inflating.whole()
            first = blocks.first_object(data)
            if first is None:  # not a block this reads: refused when it holds nothing at all
                _refuse_empty_block(data, offset)
            refs = None
            if wanted.candidates is not None:
                refs = referenced(data, wanted.candidates)
            elif wanted.no_ways and not any(kind == blocks.GROUP_WAYS
                                            for kind, _ in blocks.primitive(data).groups):
                refs = numpy.empty(0, numpy.int64)
            hugs = () if wanted.sampled_nodes is None else hugging(data, wanted.sampled_nodes)
            sample = blocks.node_samples(data) if offset in wanted.sampled else None
            results.append((None if first is None else sift_block(data, wanted, offset), first, refs,
                            hugs, sample))
        except blocks.Corrupt as e:
            results.append((e, None, None, None, None))  # pickled back from a worker: raised by `_sift`
        except (blocks.Unindexable, DecodeError):
            results.append((None, None, None, None, None))  # libosmium reads it, and says what is wrong
    return results


def _unread(inflating: blocks.Inflating, wanted: Wanted) -> Result | None:
    """The result of `_sift_frames` for a block whose head shows that nothing asked of it
    can be in the rest, which is then left compressed: its string table lacks the wanted
    strings, its one group is not of the dense nodes of a history nor of ways whose
    references are sought, and it is not sampled. None when the rest must be read."""
    import numpy

    if inflating.stated is None or inflating.offset in wanted.sampled or wanted.sampled_nodes is not None:
        return None
    head = inflating.head()
    layout = blocks.lone_group(head, inflating.stated)
    first = blocks.first_object(head)
    if layout is None or first is None:
        return None
    table, kind = layout
    if (_holds_wanted(table, wanted) or (wanted.history and kind == blocks.GROUP_DENSE)
            or (kind == blocks.GROUP_WAYS and wanted.candidates is not None)):
        return None
    asked = wanted.candidates is not None or wanted.no_ways
    return [], first, numpy.empty(0, numpy.int64) if asked and kind != blocks.GROUP_WAYS else None, (), None


def _holds_wanted(data: bytes, wanted: Wanted) -> bool:
    """Whether `data` (a block, or its string table) holds the entries of the camera tag,
    or of the boundary tag when boundaries are wanted."""
    pairs = [CAMERA_STRINGS] + ([BOUNDARY_STRINGS] if wanted.boundaries else [])
    return any(all(_entry(text) in data for text in pair) for pair in pairs)


def _refuse_empty_block(data: bytes, offset: int) -> None:
    """`blocks.Corrupt` for a data block that is no PrimitiveBlock, or one without a
    group of objects: libosmium would read nothing from it, and say nothing."""
    try:
        groups = blocks.primitive(data).groups
    except blocks.Unindexable as e:
        raise blocks.Corrupt(f"the block at byte {offset:,} is not a block of OSM objects ({e})") from e
    if not groups:
        raise blocks.Corrupt(f"the block at byte {offset:,} holds no OSM objects")


def _start_worker() -> None:
    """A worker's set-up: a short life without reference cycles, below the reader's priority,
    Ctrl-C left to the reader, which stops the pool; and the imports, done before the first
    chunk comes. A worker multiplies no matrix: without OpenBLAS's pool, whose threads spin
    for about 0.13 s of CPU after numpy's import."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy  # noqa: F401

    gc.disable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    if native is None:
        _block_message()


def _sift_chunk(path: str, frames: list[blocks.Frame], wanted: Wanted) -> list[Any]:
    """`_sift_frames` in a worker process."""
    with open(path, "rb") as f:
        return _sift_frames(f, frames, wanted)


@contextlib.contextmanager
def _workers(count: int) -> Iterator[Any]:
    """A pool of `count` worker processes, started at once: they start up while the
    reader walks the framing.

    Spawned, not forked: a fork would copy the reader's threads and locks (the boundary
    load runs meanwhile). Measured on the 991 MB benchmark file against the pool of
    `python -c` workers it replaces, in two runs of five A/B pairs of the extraction:
    median CPU time ratios 0.98 and 1.06, wall 1.09 and 1.02, within the noise of a
    shared machine; so the library's pool, with no PYTHONPATH to set up. A script that
    reads files of IN_PROCESS_BYTES or more must run its work under
    `if __name__ == "__main__":`, since spawned workers import the main module."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(count, mp_context=context, initializer=_start_worker)
    pool.submit(int)  # the pool starts its workers on the first task
    try:
        yield pool
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _in_workers(pool: Any, path: Path, frames: list[blocks.Frame], wanted: Wanted
                ) -> Iterator[list[Result]]:
    """The results of each chunk of frames, in order, sifted by the processes of `pool`."""
    from concurrent.futures.process import BrokenProcessPool

    chunks = [frames[start : start + CHUNK] for start in range(0, len(frames), CHUNK)]
    with contextlib.ExitStack() as stack:
        for shared in (wanted.candidates, wanted.sampled_nodes):
            if shared is not None:
                stack.enter_context(shared.shared())
        try:
            yield from pool.map(_sift_chunk, [str(path)] * len(chunks), chunks, [wanted] * len(chunks))
        except BrokenProcessPool as e:
            raise blocks.Unindexable("a sieve worker stopped") from e


def _in_process(path: Path, frames: list[blocks.Frame], wanted: Wanted
                ) -> Iterator[list[Result]]:
    with open(path, "rb") as f:
        for start in range(0, len(frames), CHUNK):
            yield _sift_frames(f, frames[start : start + CHUNK], wanted)


def sift(path: str | os.PathLike[str], boundaries: bool, workers: int = 0,
         progress: Progress | None = None, history: bool = False, tags: bool = False,
         sample: bool = False, name: Path | None = None) -> Sifted | None:
    """The camera nodes of a PBF's dense blocks (for a history file, with `history`, the
    node versions of `Sifted.versions`, with their tags if `tags`), and the blocks that
    libosmium must read: those that hold camera ways or relations (and boundary
    relations, if `boundaries`); with `sample`, the nodes of the node blocks that
    `blocks.sample` would take (`Sifted.samples`), and which of their tagged ones and of
    the camera nodes ways refer to (`Sifted.referenced`), from the blocks as they are
    sifted: none is inflated twice.

    None when the file is not a PBF this can walk, or a worker stopped: libosmium then
    reads all of it. DataError when a block breaks the format (`blocks.Corrupt`; UnsortedData
    when its node ids do not increase), naming `name` when `path` is its copy.
    """
    try:
        sifted = _sift(Path(path), Wanted(boundaries, history, tags), workers, progress, sample, name)
    except blocks.Corrupt as e:
        error = UnsortedData if isinstance(e, Unsorted) else DataError
        raise error(f"{name or path}: {e}") from e
    except (blocks.Unindexable, OSError) as e:
        log.info("%s: read whole by libosmium (%s)", path, e)
        return None
    log.info("%s: %d camera nodes sifted, %d blocks left to libosmium", path, len(sifted.cameras),
             len(sifted.others))
    return sifted


def _sift(path: Path, wanted: Wanted, workers: int, progress: Progress | None, sample: bool,
          name: Path | None = None) -> Sifted:
    total = path.stat().st_size
    workers = workers or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        pool = None
        if workers > 1 and total >= IN_PROCESS_BYTES and sys.executable:
            pool = stack.enter_context(_workers(workers))
        frames = [frame for frame in _framing(path, name) if frame[2] == "OSMData"]
        run = functools.partial(_in_process, path) if pool is None else functools.partial(
            _in_workers, pool, path)
        sifted = Sifted()
        chunks = _sampled_first(run, frames, wanted, path, sifted) if sample else run(frames, wanted)
        return _gathered(path, frames, chunks, wanted, progress, sifted)


def _framing(path: Path, name: Path | None = None) -> list[blocks.Frame]:
    """`blocks.framing`; DataError when it shows the file damaged or cut short (naming
    `name`, when `path` is its copy)."""
    try:
        return blocks.framing(path)
    except blocks.Unindexable as e:
        if blocks.damage(e):
            raise DataError(f"{name or path}: {blocks.damage(e)}") from e
        raise


Run = Callable[[list[blocks.Frame], Wanted], Iterator[list[Result]]]


def _sampled_first(run: Run, frames: list[blocks.Frame], wanted: Wanted, path: Path, sifted: Sifted
                   ) -> Iterator[list[Result]]:
    """The results of the node blocks of `frames`, some sampled as `blocks.sample` would
    (into `sifted.samples`); then of the other blocks, with which of the sampled tagged
    nodes and of the camera nodes their ways refer to, and their `hugging` ways."""
    import numpy

    try:
        nodes = blocks.node_blocks(path)
    except blocks.Unindexable:
        nodes = []
    chosen = blocks.chosen_samples(nodes)
    groups: list[Any] = []
    cameras: list[Any] = []
    first = dataclasses.replace(wanted, sampled=frozenset(b.offset for b in chosen), no_ways=True)
    for results in run(frames[: len(nodes)], first):
        groups += [group for *_, sample in results for group in sample or ()]
        cameras += [_camera_node_ids(block) for block, *_ in results if isinstance(block, list)]
        yield results
    if chosen and len(groups) >= len(chosen):  # else a block without nodes among them: not sorted
        sifted.samples = blocks.samples_of(groups, len(chosen), len(nodes))
        # Short ways are sought where they can widen the estimate: not in a history, nor
        # in a large file whose sample leaves them too sparse to draw any area (a second of
        # work on the benchmark's France for nothing).
        hug = not wanted.history and sifted.samples.fraction >= HUGGING_FROM
        wanted = dataclasses.replace(wanted, candidates=Candidates(numpy.concatenate(
            (sifted.samples.tagged_ids, *cameras))), sampled_nodes=Candidates(
            sifted.samples.ids, sifted.samples.points) if hug else None)
    yield from run(frames[len(nodes):], wanted)


def _camera_node_ids(found: list[NodeCameras] | list[NodeVersions]) -> Any:
    """The ids of the camera nodes (of a history file, of the node versions that carry
    the tag) that the sift of a block found."""
    import numpy

    return numpy.concatenate([numpy.empty(0, numpy.int64)] + [
        item.ids[item.tagged] if isinstance(item, NodeVersions) else numpy.frombuffer(item.ids, numpy.int64)
        for item in found])


def _hugging_places(hugs: list[Any], samples: blocks.Samples) -> Any:
    """(lon, lat) of the nodes of the `hugging` ways of every block that no multipolygon
    has as a member; None when none was sought or found."""
    import numpy

    if not hugs:
        return None

    empty = numpy.empty(0, numpy.int64)
    nodes, ways, members = (numpy.concatenate([hug[i] for hug in hugs] or [empty]) for i in range(3))
    first = first_of_each(samples.ids)  # as `Candidates` orders them
    return samples.points[first][unique(nodes[~isin(ways, members)])]


def _made(found: NodeCameras, sifted: Sifted) -> str:
    """The cameras of `found` made into records in `sifted`, the work their tags ask for done
    once per set (the cameras of a set share its dict); their newest timestamp ("" when
    none is dated)."""
    made = [make_camera("node", 0, 0.0, 0.0, tags) for tags in found.tags]
    records = [(*FROM_TAGS(camera), camera.tags) for camera, _ in made]
    sets = memoryview(found.sets).cast("i").tolist()
    if any(bad for _, bad in made):
        sifted.bad_directions += sum(made[k][1] for k in sets)
    stamps = found.stamps.split(",")
    ids = memoryview(found.ids).cast("q").tolist()
    lons, lats = memoryview(found.lon).cast("d").tolist(), memoryview(found.lat).cast("d").tolist()
    sifted.cameras += [
        Camera("node", osm_id, lon, lat, surveillance, surveillance_type, camera_type, camera_mount, zone,
               operator, direction, stamp or None, tags)
        for osm_id, lon, lat, stamp, (surveillance, surveillance_type, camera_type, camera_mount, zone,
                                      operator, direction, tags)
        in zip(ids, lons, lats, stamps, map(records.__getitem__, sets))
    ]
    return max(stamps)


def _gathered(path: Path, frames: list[blocks.Frame], chunks: Iterator[list[Result]], wanted: Wanted,
              progress: Progress | None, sifted: Sifted) -> Sifted:
    """The results of every chunk of `frames`, made into cameras (or node versions) in `sifted`."""
    import numpy

    total = path.stat().st_size
    versions: list[NodeVersions] = []
    firsts: list[tuple[str, int] | None] = []
    newest = ""
    referred: list[Any] | None = []
    hugs: list[Any] | None = []
    done = 0
    with gc_paused(keep=True):  # hundreds of thousands of cameras, made at once, kept
        for results in chunks:
            for frame, (found, first, refs, hug, _) in zip(frames[done : done + len(results)], results):
                firsts.append(first)
                if hug is None:
                    hugs = None  # unreadable here: which ways are short, or members, is unknown
                elif hugs is not None and hug:
                    hugs.append(hug)
                if isinstance(found, blocks.Corrupt):
                    raise found
                if refs is None:
                    referred = None  # not asked, or unreadable: what ways refer to is unknown
                elif referred is not None:
                    referred.append(refs)
                if found is None:
                    sifted.others.append(frame)
                elif wanted.history:
                    versions += found
                else:
                    for cameras in found:
                        newest = max(newest, _made(cameras, sifted))
            done += len(results)
            if progress and done:
                end = frames[done - 1]
                progress("Scanning", end[0] + end[1], total)
    sifted.newest = newest or None
    if referred is not None and sifted.samples is not None:
        sifted.referenced = unique(numpy.concatenate(referred or [numpy.empty(0, numpy.int64)]))
    if hugs is not None and sifted.samples is not None and not wanted.history:
        sifted.hugging = _hugging_places(hugs, sifted.samples)
    blocks.remember_index(path, firsts)  # for the passes that read objects by id
    if wanted.history:
        sifted.versions = NodeVersions.joined(versions, wanted.tags)
    return sifted
