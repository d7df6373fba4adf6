"""The block structure of a PBF file, to read only the blocks a pass needs.

A PBF file is a sequence of blobs, each a zlib-compressed block of one kind of
object: nodes, then ways, then relations, each in id order. Inflating only the
head of each block gives its kind and first id, hence the id range of every
block, at a small fraction of the cost of decoding the file. The blocks that
hold wanted ids are then copied, verbatim, into a smaller PBF for libosmium.
"""

from __future__ import annotations

import bisect
import errno
import functools
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from osmcams.arrays import unique
from osmcams.errors import DataError
from osmcams.files import cannot_write

# Protocol buffer field numbers (osmformat.proto, fileformat.proto).
BLOB_RAW, BLOB_RAW_SIZE, BLOB_ZLIB, BLOB_LZ4, BLOB_ZSTD = 1, 2, 3, 6, 7
MAX_HEADER = 64 * 1024  # the PBF format's limit on a block header
MAX_BLOB = 32 << 20  # its limit on a blob, compressed or inflated (as libosmium enforces it)
GROUP_NODES, GROUP_DENSE, GROUP_WAYS, GROUP_RELATIONS = 1, 2, 3, 4
KIND = {GROUP_NODES: "node", GROUP_DENSE: "node", GROUP_WAYS: "way", GROUP_RELATIONS: "relation"}


class Unindexable(Exception):
    """The file uses a feature this index does not read (compression, layout)."""


class Truncated(Unindexable):
    """The file ends inside a block: cut short."""


class Corrupt(Unindexable):
    """The file is a PBF that is damaged: a block that breaks the format (its message
    names the byte offset), which must be refused rather than read around."""


@dataclass(frozen=True)
class Block:
    """One file block: where it lies, and the first id it holds."""

    offset: int
    length: int
    first_id: int = 0


@dataclass(frozen=True)
class Layout:
    """The header block, then the node blocks and the way blocks, in file order."""

    header: Block
    blocks: dict[str, list[Block]]


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise Unindexable("truncated varint")
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes | memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) of a protobuf message: ints for varints, bytes for the rest."""
    data = memoryview(data)
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, kind = key >> 3, key & 7
        if not number:
            raise Unindexable("field number 0: not a protocol buffer")
        if kind == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif kind == 2:
            size, pos = _varint(data, pos)
            yield number, data[pos : pos + size]
            pos += size
        elif kind == 1:
            pos += 8
        elif kind == 5:
            pos += 4
        else:
            raise Unindexable(f"unknown wire type {kind}")


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _inflate_head(f: BinaryIO, size: int) -> bytes:
    """Enough of the start of the block at the file position to read its first group.

    Reads and inflates the compressed data only as far as needed.
    """
    end = f.tell() + size
    start = f.read(min(size, 32))
    pos = 0
    inflater = None
    while pos < len(start):
        key, pos = _varint(start, pos)
        if key & 7 == 0:
            _, pos = _varint(start, pos)
            continue
        if key & 7 == 2 and key >> 3 in (BLOB_LZ4, BLOB_ZSTD):  # inflated whole
            f.seek(end - size)
            data = inflate(f.read(size))
            f.seek(end)
            return data
        if key & 7 != 2 or key >> 3 not in (BLOB_RAW, BLOB_ZLIB):
            raise Unindexable("a blob compressed other than with zlib, lz4 or zstd")
        _, pos = _varint(start, pos)
        inflater = zlib.decompressobj() if key >> 3 == BLOB_ZLIB else None
        break
    f.seek(end - size + pos)

    def more(wanted: int, have: bytes) -> bytes:
        if inflater is None:
            return have + f.read(max(0, min(wanted - len(have), end - f.tell())))
        while len(have) < wanted and not inflater.eof:
            pending = inflater.unconsumed_tail or f.read(min(4096, end - f.tell()))
            if not pending:
                break
            try:
                have += inflater.decompress(pending, wanted - len(have))
            except zlib.error as e:  # libosmium reads it, and says what is wrong, as in `inflate`
                raise Unindexable(f"a damaged block: {e}") from e
        return have

    head = more(HEAD_START, b"")
    head = more(head_size(head), head)
    f.seek(end)
    return head


def _first_object(head: bytes) -> tuple[str, int]:
    """The kind ("node", "way", "relation") and first id of a PrimitiveBlock head."""
    try:
        for count, (number, value) in enumerate(_fields(head)):
            if count > MAX_PARTS:
                break  # not a PrimitiveBlock
            if number != 2:  # primitivegroup
                continue
            for group, content in _fields(value):  # type: ignore[arg-type]
                first = dict(_fields(content))[1]  # type: ignore[arg-type]
                if group == GROUP_DENSE:
                    return "node", _zigzag(_varint(first, 0)[0])  # type: ignore[arg-type]
                if group == GROUP_NODES:
                    return "node", _zigzag(first)  # type: ignore[arg-type]
                if group in (GROUP_WAYS, GROUP_RELATIONS):
                    return KIND[group], first  # type: ignore[return-value]
                break
    except (Unindexable, KeyError, IndexError):
        pass  # the head was cut inside the group: it is bigger than we inflated
    raise Unindexable("cannot read the first id of a block")


Frame = tuple[int, int, str, int]  # offset, length (prefix included), type, blob size
_FRAMINGS: dict[tuple[str, int, int], list[Frame]] = {}
_INDEXES: dict[tuple[str, int, int], Layout | Unindexable] = {}


MAPPED = 64 << 20  # bytes of a file mapped at a time by `_reader`


def _reader(fd: int) -> Callable[[int, int], bytes]:
    """A reader of `size` bytes at `offset` of the file `fd`: through a memory map, which
    keeps the GIL (a pread per block lets a busy thread hold the reader up at each of
    them, by its switch interval), else by pread (a file that cannot be mapped). The map
    covers MAPPED bytes at a time, so that the pages it brings in stay few."""
    size_of_file = os.fstat(fd).st_size
    window: list[Any] = [None, 0, 0]  # the map, and the offsets it covers

    def read(offset: int, size: int) -> bytes:
        view, start, end = window
        if not start <= offset or offset + size > end:
            if view is not None:
                view.close()
            start = offset - offset % mmap.ALLOCATIONGRANULARITY
            length = min(max(MAPPED, offset + size - start), size_of_file - start)
            view = mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=start)
            window[:] = view, start, start + length
        return view[offset - start : offset - start + size]  # type: ignore[no-any-return]

    try:
        read(0, 1)
    except (OSError, ValueError):
        return lambda offset, size: os.pread(fd, size, offset)
    return read


def _walk(fd: int, most: int | None = None) -> list[Frame]:
    """(offset, length, type, blob size) of each block (of the first `most`), its head
    read through `_reader`.

    Raises Truncated when the file ends inside a block, its length prefix included.
    A file cut exactly between two blocks cannot be told apart: PBF has no end marker.
    """
    size_of_file = os.fstat(fd).st_size
    cut: type[Unindexable] = Unindexable  # until the first block shows that this is a PBF
    bad: type[Unindexable] = Unindexable  # likewise
    frames: list[Frame] = []
    offset = 0
    read = _reader(fd)
    while offset < size_of_file and (most is None or len(frames) < most):
        head = read(offset, 64)
        if len(head) < 4:
            raise cut(f"it ends {len(head)} byte(s) into the length of a block, at byte {offset:,}")
        (size,) = struct.unpack(">I", head[:4])
        if size > MAX_HEADER:
            raise bad(f"a block header of {size:,} bytes at byte {offset:,}: not a PBF block")
        if size == 0:  # libosmium takes it for the end of the file, and skips the rest
            raise Corrupt(f"a block header of length 0 at byte {offset:,}, "
                          f"{size_of_file - offset - 4:,} bytes before the end of the file")
        raw = head[4 : 4 + size] if len(head) >= 4 + size else read(offset + 4, size)
        if len(raw) < size:
            raise cut(f"it ends inside the header of the block at byte {offset:,}")
        try:
            header = dict(_fields(raw))
        except Unindexable as e:
            raise bad(f"a damaged block header at byte {offset:,}: {e}") from e
        kind = bytes(header.get(1, b"")).decode("ascii", "replace")  # type: ignore[arg-type]
        data_size = header.get(3)
        if not isinstance(data_size, int):
            raise bad(f"a block header without a size at byte {offset:,}")
        end = offset + 4 + size + data_size
        if cut is Unindexable and kind != "OSMHeader":
            raise Unindexable("not a PBF file: it does not start with a header block")
        if cut is Truncated and kind != "OSMData":
            raise Corrupt(f"a block of type {kind!r} at byte {offset:,}, where OSMData must be")
        if data_size > MAX_BLOB:
            raise bad(f"a block of {data_size:,} bytes at byte {offset:,}, "
                      f"beyond the {MAX_BLOB >> 20} MiB the format allows")
        if end > size_of_file:
            raise cut(
                f"the block at byte {offset:,} needs {end - size_of_file:,} bytes more than the file holds"
            )
        cut, bad = Truncated, Corrupt
        frames.append((offset, 4 + size + data_size, kind, data_size))
        offset = end
    return frames


def _key(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """A file and its version (its size and mtime)."""
    stat = os.stat(path)
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns


def _remembered(cache: dict[tuple[str, int, int], Any], path: str | os.PathLike[str],
                compute: Callable[[], Any]) -> Any:
    """`compute()` for `path`, once per version of the file (its size and mtime)."""
    key = _key(path)
    if key not in cache:
        if len(cache) >= 8:
            cache.clear()
        cache[key] = compute()
    return cache[key]


def framing(path: str | os.PathLike[str]) -> list[Frame]:
    """The blocks of a PBF file, walked once per version of the file and then remembered."""

    def walk() -> list[Frame]:
        fd = os.open(path, os.O_RDONLY)
        try:
            return _walk(fd)
        finally:
            os.close(fd)

    return _remembered(_FRAMINGS, path, walk)  # type: ignore[no-any-return]


def index(path: str | os.PathLike[str]) -> Layout:
    """Where the header, node and way blocks of a PBF file lie, and their first ids
    (found once per version of the file, then remembered)."""
    found = _remembered(_INDEXES, path, lambda: _indexed(path, _heads(path)))
    if isinstance(found, Unindexable):
        raise found
    return found  # type: ignore[no-any-return]


def remember_index(path: str | os.PathLike[str], firsts: list[tuple[str, int] | None]) -> None:
    """Keep the index of `path` from the kind and first id of each of its data blocks
    (None: unreadable), as read by a caller that inflated them all: `index` then need
    not read them again."""
    _remembered(_INDEXES, path, lambda: _indexed(path, iter(firsts)))


def first_object(data: bytes) -> tuple[str, int] | None:
    """The kind and first id of an inflated PrimitiveBlock; None when it cannot be read."""
    try:
        return _first_object(data)
    except Unindexable:
        return None


def _heads(path: str | os.PathLike[str]) -> Iterator[tuple[str, int] | None]:
    """The kind and first id of each data block, read from as little of it as can be."""
    with open(path, "rb") as f:
        for offset, length, kind, blob_size in framing(path):
            if kind != "OSMHeader":
                f.seek(offset + length - blob_size)
                yield _first_object(_inflate_head(f, blob_size))


def _indexed(path: str | os.PathLike[str], firsts: Iterator[tuple[str, int] | None]
             ) -> Layout | Unindexable:
    try:
        return _index_of(path, firsts)
    except Unindexable as e:
        return e


def _index_of(path: str | os.PathLike[str], firsts: Iterator[tuple[str, int] | None]) -> Layout:
    header: Block | None = None
    found: dict[str, list[Block]] = {"node": [], "way": []}
    order = ("node", "way", "relation")
    last_kind = "node"
    for offset, length, kind, _ in framing(path):
        if kind == "OSMHeader":
            header = Block(offset, length)
            continue
        head = next(firsts)
        if head is None:
            raise Unindexable("cannot read the first id of a block")
        kind, first = head
        if order.index(kind) < order.index(last_kind):
            raise Unindexable(f"a {kind} block after a {last_kind} block: the file is not sorted")
        last_kind = kind
        if kind == "relation":
            continue
        previous = found[kind]
        if previous and first <= previous[-1].first_id:
            raise Unindexable(f"{kind} blocks are not sorted by id")
        previous.append(Block(offset, length, first))
    if header is None:
        raise Unindexable("no header block")
    if found["node"]:
        # The last node block may end with the first ways: it is a candidate for any
        # way id lower than the first id of the first block that starts with ways.
        last = found["node"][-1]
        found["way"].insert(0, Block(last.offset, last.length, -1))
    return Layout(header, found)


def write_subset(
    path: str | os.PathLike[str], layout: Layout, kind: str, wanted: Iterable[int], target: Path
) -> None:
    """Copy to `target` the header and the `kind` blocks that may hold `wanted` ids.

    In a history file the versions of one id may straddle blocks: a block that starts
    with a wanted id brings the block before it too.
    """
    blocks = layout.blocks[kind]
    starts = [b.first_id for b in blocks]
    chosen = {
        j
        for i in wanted
        for j in range(max(bisect.bisect_left(starts, i) - 1, 0), bisect.bisect_right(starts, i))
    }
    copy(path, [layout.header] + [blocks[i] for i in sorted(chosen)], target)


def copy(path: str | os.PathLike[str], chosen: Iterable[Block], target: Path) -> None:
    """Write the `chosen` blocks of `path`, in order, to `target`: verbatim, but for zstd
    blobs, which libosmium cannot read: those are written uncompressed. A full disk is one
    OutputError line; a zstd blob that cannot be inflated, a DataError that names it."""
    try:
        with open(path, "rb") as src, open(target, "wb") as out:
            for block in chosen:
                src.seek(block.offset)
                try:
                    out.write(_readable(src.read(block.length), block.offset))
                except Unindexable as e:
                    raise DataError(f"{path}: " + (damage(e) or f"cannot read OSM data: the block at "
                                                   f"byte {block.offset:,} is {e}")) from e
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise cannot_write(target, e) from e


def zstd_header(path: str | os.PathLike[str]) -> Block | None:
    """The header block of a PBF when it is compressed with zstd, which libosmium cannot
    read (`copy` writes it so that it can); None otherwise, or when `path` is no PBF."""
    try:
        with open(path, "rb") as f:
            offset, length, _, size = _walk(f.fileno(), 1)[0]  # the header alone: no walk of the file
            f.seek(offset + length - size)
            return Block(offset, length) if BLOB_ZSTD in dict(_fields(f.read(size))) else None
    except (Unindexable, OSError, IndexError):
        return None


def _readable(block: bytes, offset: int) -> bytes:
    """A file block (length, BlobHeader, Blob), that at byte `offset`, as libosmium can read it."""
    (size,) = struct.unpack(">I", block[:4])
    blob = block[4 + size :]
    if BLOB_ZSTD not in dict(_fields(blob)):
        return block
    data = inflate(blob, offset)
    raw = _field(BLOB_RAW, data) + encode_varint(BLOB_RAW_SIZE << 3) + encode_varint(len(data))
    kind = bytes(dict(_fields(block[4 : 4 + size]))[1])  # type: ignore[arg-type]
    header = _field(1, kind) + encode_varint(3 << 3) + encode_varint(len(raw))  # type, datasize
    return struct.pack(">I", len(header)) + header + raw


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def encode_varint(value: int) -> bytes:
    """`value` as a protobuf varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def damage(error: Unindexable) -> str | None:
    """How a fault of the framing reads in an error; None when the file is no PBF at all."""
    if isinstance(error, Truncated):
        return f"cut short, {error}; download it again"
    if isinstance(error, Corrupt):
        return f"damaged, {error}; download it again"
    return None


def has_data(path: str | os.PathLike[str]) -> bool:
    """Whether a PBF file holds any block of objects (False for a header alone).

    Walks the framing of the whole file: raises Truncated when it is cut inside a block.
    """
    return any(kind == "OSMData" for _, _, kind, _ in framing(path))


# --- Where the file has data: a grid of node locations sampled from the node blocks ------

MAX_CELLS = 2048  # a side of the grid of data_area, so that far evidence cannot blow it up
CROSSING_CELLS = 1  # cells off the grid of sampled nodes, where ways crossing a cut reach past it
SAMPLED_BLOCKS = 128  # at most: all of them in a smaller file


def _packed_varints(data: bytes | memoryview) -> Any:
    """The values of a packed repeated varint field, as a numpy array of uint64."""
    import numpy

    raw = numpy.frombuffer(data, dtype=numpy.uint8)
    ends = numpy.flatnonzero(raw < 0x80)
    if not len(ends):
        return numpy.empty(0, numpy.uint64)
    raw = raw[: ends[-1] + 1]
    starts = numpy.concatenate(([0], ends[:-1] + 1))
    shift = 7 * (numpy.arange(len(raw)) - numpy.repeat(starts, ends - starts + 1))
    return numpy.add.reduceat((raw & 0x7F).astype(numpy.uint64) << shift.astype(numpy.uint64), starts)


def _packed_sint64(data: bytes | memoryview) -> Any:
    """The values of a packed repeated sint64 field, as a numpy array."""
    import numpy

    values = _packed_varints(data)
    return (values >> numpy.uint64(1)).astype(numpy.int64) ^ -(values & numpy.uint64(1)).astype(
        numpy.int64
    )


def inflate(blob: bytes | memoryview, offset: int = 0) -> bytes:
    """The content of a Blob message (that of the block at byte `offset`): see `Inflating`."""
    return Inflating(blob, offset).whole()


class Inflating:
    """The content of a Blob message (that of the block at byte `offset`): raw, or inflated
    from zlib, lz4 or zstd. A zlib blob is inflated from its start only as far as asked:
    `head` first, then `whole` goes on from where it stopped, so that no byte is inflated
    twice; the others are inflated whole at once.

    Unindexable when the blob is compressed otherwise, or damaged; Corrupt when it would
    inflate beyond its stated `raw_size` or the format's MAX_BLOB (a decompression bomb is
    stopped there, never inflated whole)."""

    def __init__(self, blob: bytes | memoryview, offset: int = 0) -> None:
        parts: dict[int, Any] = dict(_fields(blob))
        self.offset = offset
        self.stated: int | None = parts.get(BLOB_RAW_SIZE)
        self.data = b""  # inflated so far
        self._stream: Any = None  # a zlib blob's inflater, and its input not yet inflated
        self._pending = b""
        if BLOB_RAW in parts:
            self.data = bytes(parts[BLOB_RAW])
            return
        if self.stated is not None and not 0 <= self.stated <= MAX_BLOB:
            raise Corrupt(f"the block at byte {offset:,} states {self.stated:,} bytes, beyond the "
                          f"{MAX_BLOB >> 20} MiB the format allows")
        self.limit = MAX_BLOB if self.stated is None else self.stated
        if BLOB_ZLIB in parts:
            from isal import isal_zlib  # inflates in half the time of zlib

            self._stream, self._pending = isal_zlib.decompressobj(), parts[BLOB_ZLIB]
            self._error: type[Exception] = isal_zlib.error  # type: ignore[assignment]
        elif BLOB_ZSTD in parts:
            import zstandard

            self.data = self._checked(zstandard.ZstdError, functools.partial(self._unzstd, parts[BLOB_ZSTD]))
        elif BLOB_LZ4 in parts:
            import lz4.block

            self.data = self._checked(lz4.block.LZ4BlockError, functools.partial(
                lz4.block.decompress, parts[BLOB_LZ4], uncompressed_size=self.limit))
        else:
            raise Unindexable("a blob compressed other than with zlib, lz4 or zstd")

    def head(self) -> bytes:
        """The start of the content: of a PrimitiveBlock, at least its string table and
        what `_first_object` reads after it."""
        self._inflate(HEAD_START)
        self._inflate(head_size(self.data))
        return self.data

    def whole(self) -> bytes:
        """The whole content."""
        if self._stream is not None:
            self._inflate(self.limit + 1)
            self._stream = None
            self._check(self.data)
        return self.data

    def _inflate(self, size: int) -> None:
        """Inflate on until `size` bytes are out, or the blob's end."""
        if self._stream is None or len(self.data) >= size:
            return
        try:
            more = self._stream.decompress(self._pending, size - len(self.data))
        except self._error as e:
            raise Unindexable(f"a damaged block: {e}") from e
        self._pending = self._stream.unconsumed_tail
        self.data = self.data + more if self.data else more

    def _checked(self, error: type[Exception], inflater: Callable[[], bytes]) -> bytes:
        try:
            data = inflater()
        except error as e:
            raise Unindexable(f"a damaged block: {e}") from e
        self._check(data)
        return data

    def _unzstd(self, packed: bytes) -> bytes:
        """The zstd frame `packed` inflated: Corrupt, before any allocation, when its header
        claims more than the limit (`decompress` allocates what it claims, up to terabytes)."""
        import zstandard

        if zstandard.frame_content_size(packed) > self.limit:
            raise self._beyond()
        return zstandard.ZstdDecompressor().decompress(packed, max_output_size=self.limit + 1)

    def _beyond(self) -> Corrupt:
        return Corrupt(f"the block at byte {self.offset:,} inflates beyond "
                       + (f"the {self.stated:,} bytes it states" if self.limit == self.stated
                          else f"the {MAX_BLOB >> 20} MiB the format allows"))

    def _check(self, data: bytes) -> None:
        if len(data) > self.limit:
            raise self._beyond()
        if self.stated is not None and len(data) != self.stated:
            raise Unindexable(f"a damaged block: {len(data):,} bytes where it says {self.stated:,}")


HEAD_START = 64  # bytes inflated first: enough for the field key and length of a string table
HEAD_AFTER_TABLE = 256  # bytes after a string table for `_first_object` to read a group's first id


def head_size(start: bytes) -> int:
    """How much of a PrimitiveBlock that starts with `start` (HEAD_START bytes or more)
    `_first_object` reads: its string table (field 1, written first) and the start of its
    first group."""
    if start[:1] != b"\x0a":
        return HEAD_START
    table, after = _varint(start, 1)
    return min(after + table + HEAD_AFTER_TABLE, MAX_BLOB)  # a string table may claim any length


def lone_group(head: bytes, size: int) -> tuple[bytes, int] | None:
    """Of a PrimitiveBlock of `size` bytes that starts with `head`: its string table, and
    the kind of its one group (GROUP_*), when the table comes first and one group runs
    from it to the block's end; else None."""
    try:
        if head[:1] != b"\x0a":
            return None
        length, pos = _varint(head, 1)
        table = head[pos : pos + length]
        pos += length
        if len(table) < length or head[pos : pos + 1] != b"\x12":
            return None
        length, pos = _varint(head, pos + 1)
        if pos + length != size:
            return None
        return table, _varint(head, pos)[0] >> 3
    except Unindexable:  # the head ends inside a varint
        return None


MAX_PARTS = 10_000  # a PrimitiveBlock holds a string table, a few groups and its settings
SETTINGS = {17: "granularity", 18: "date_granularity", 19: "lat_offset", 20: "lon_offset"}


@dataclass
class Primitive:
    """A PrimitiveBlock: its string table and the first field of each group, still
    encoded, and the settings that scale its coordinates and dates."""

    table: memoryview
    groups: list[tuple[int, Any]]  # (GROUP_*, its first object or DenseNodes message)
    granularity: int = 100
    lat_offset: int = 0
    lon_offset: int = 0
    date_granularity: int = 1000


def primitive(data: bytes | memoryview) -> Primitive:
    """The parts of an inflated PrimitiveBlock."""
    block = Primitive(memoryview(b""), [])
    for count, (number, value) in enumerate(_fields(data)):
        if count > MAX_PARTS:
            raise Unindexable(f"more than {MAX_PARTS:,} parts in one block: not a PrimitiveBlock")
        if number == 1:
            block.table = value  # type: ignore[assignment]
        elif number == 2:
            block.groups.append(next(_fields(value), (0, b"")))  # type: ignore[arg-type]
        elif number in SETTINGS:
            setattr(block, SETTINGS[number], value)
    return block


@dataclass
class Samples:
    """The nodes of the sampled node blocks: every location (`points`, (lon, lat)); the
    ids and locations of those with tags (`tagged_ids`, `tagged_points`); the share
    of the node blocks sampled (`fraction`); and the ids of `points` (`ids`), when known."""

    points: Any
    tagged_ids: Any
    tagged_points: Any
    fraction: float
    ids: Any = None


Groups = list[tuple[Any, Any, Any]]  # of a block's dense groups: node ids, (lon, lat), tagged


def node_samples(data: bytes) -> Groups:
    """The ids, (lon, lat) and whether tagged, of the dense nodes of one inflated block, by group.
    Unindexable (libosmium reads the block, and says what is wrong) when its columns do not
    give as many of each as there are ids."""
    import numpy

    parts = primitive(data)
    found = []
    for kind, content in parts.groups:
        if kind != GROUP_DENSE:
            continue
        dense: dict[int, Any] = {n: v for n, v in _fields(content) if n in (1, 8, 9, 10)}
        ids = numpy.cumsum(_packed_sint64(dense.get(1, b"")))
        lat = numpy.cumsum(_packed_sint64(dense.get(8, b"")))
        lon = numpy.cumsum(_packed_sint64(dense.get(9, b"")))
        tagged = numpy.zeros(len(ids), bool)
        if 10 in dense:  # each node's key and value indices, then 0
            ends = numpy.flatnonzero(_packed_varints(dense[10]) == 0)
            tagged = numpy.diff(ends, prepend=-1) > 1
        if not len(ids) == len(lat) == len(lon) == len(tagged):
            raise Unindexable(f"dense nodes of {len(ids):,} ids, {len(lat):,} latitudes, {len(lon):,} "
                              f"longitudes and {len(tagged):,} lists of tags")
        points = numpy.column_stack((
            (lon * parts.granularity + parts.lon_offset) * 1e-9,
            (lat * parts.granularity + parts.lat_offset) * 1e-9,
        ))
        found.append((ids, points, tagged))
    return found


def node_blocks(path: str | os.PathLike[str]) -> list[Block]:
    """The node blocks of a sorted PBF, found by walking the framing and inflating the
    heads of a few blocks only (a binary search for the first block without nodes)."""
    data = [(offset, length, size) for offset, length, kind, size in framing(path) if kind == "OSMData"]
    with open(path, "rb") as f:

        def holds_nodes(i: int) -> bool:
            offset, length, size = data[i]
            f.seek(offset + length - size)
            try:
                return _first_object(_inflate_head(f, size))[0] == "node"
            except Unindexable:
                return False

        low, high = 0, len(data)  # blocks before `low` hold nodes; from `high` on, none
        while low < high:
            middle = (low + high) // 2
            if holds_nodes(middle):
                low = middle + 1
            else:
                high = middle
    return [Block(offset, length) for offset, length, _ in data[:low]]


def chosen_samples(nodes: list[Block]) -> list[Block]:
    """Up to SAMPLED_BLOCKS of the node blocks `nodes`, spread evenly through them."""
    count = min(len(nodes), SAMPLED_BLOCKS)
    return [nodes[i * len(nodes) // count] for i in range(count)] if count else []


def samples_of(groups: Groups, count: int, nodes: int) -> Samples:
    """The `Samples` of the `node_samples` groups of `count` blocks out of `nodes`."""
    import numpy

    ids = numpy.concatenate([g[0] for g in groups] or [numpy.empty(0, numpy.int64)])
    points = numpy.concatenate([g[1] for g in groups] or [numpy.empty((0, 2))])
    tagged = numpy.concatenate([g[2] for g in groups] or [numpy.empty(0, bool)])
    # Deleted versions in a history file have no location: libosmium writes 214.75°.
    valid = (numpy.abs(points[:, 0]) <= 180) & (numpy.abs(points[:, 1]) <= 90)
    tagged &= valid
    return Samples(points[valid], ids[tagged], points[tagged], count / nodes if nodes else 1.0, ids[valid])


def sample(path: str | os.PathLike[str], layout: Layout | None = None) -> Samples:
    """The nodes of up to SAMPLED_BLOCKS node blocks spread through the file.

    Nodes are stored by id, not by place, so every block samples the whole extract.
    """
    nodes = layout.blocks["node"] if layout else node_blocks(path)
    chosen = chosen_samples(nodes)
    arrays = []
    with open(path, "rb") as f:
        for block in chosen:
            f.seek(block.offset)
            (size,) = struct.unpack(">I", f.read(4))
            f.seek(block.offset + 4 + size)
            arrays.append(node_samples(inflate(f.read(block.length - 4 - size), block.offset)))
    if layout is None and not all(arrays):  # a block without nodes among them: not sorted
        raise Unindexable("the node blocks are not all at the start of the file")
    return samples_of([group for groups in arrays for group in groups], len(chosen), len(nodes))


def sample_nodes(path: str | os.PathLike[str], layout: Layout | None = None) -> Any:
    """The locations of the nodes of `sample`, as (lon, lat)."""
    return sample(path, layout).points


def sampled(path: str | os.PathLike[str]) -> Samples | None:
    """`sample`, or None when the file cannot be sampled this way."""
    try:
        return sample(path)
    except (Unindexable, OSError, zlib.error, KeyError, IndexError):
        return None


def estimate_imports() -> None:
    """Import what `spread_area` and `footprint` need (half a second): done ahead, while
    the file is read."""
    import scipy.ndimage
    import scipy.spatial  # noqa: F401


def unsampled(path: str | os.PathLike[str]) -> str | None:
    """Why `sample_nodes` finds too few nodes in the PBF `path`: words for a warning; None
    when `path` is not a PBF file."""
    try:
        data = [frame for frame in framing(path) if frame[2] == "OSMData"]
    except (Unindexable, OSError):
        return None
    try:
        if not data:
            return "it holds no data block"
        offset, length, _, size = data[0]
        with open(path, "rb") as f:
            f.seek(offset + length - size)
            kind = _first_object(_inflate_head(f, size))[0]
            if kind != "node":
                return f"its first block holds {kind}s, not nodes: it is not sorted (osmium sort)"
            f.seek(offset + length - size)
            groups = primitive(inflate(f.read(size), offset)).groups
        if all(group != GROUP_DENSE for group, _ in groups):
            return "its nodes are not stored as dense nodes (pbf_dense_nodes=false)"
    except (Unindexable, OSError) as e:
        return str(e)  # a blob compressed other than with zlib (LZ4, zstd)…
    return "it holds too few nodes"


def spread_area(points: Any, fraction: float, evidence: Any = None, spread: Any = None) -> Any:
    """Where a file has data, from all its sampled nodes (`points`, a `fraction` of its node
    blocks): their grid (`area_of`, with the cells of the `evidence`, its cameras) less
    CROSSING_CELLS cells at its edge, within their `footprint` (`spread`, when computed
    already) or the cells of the evidence. Ways that cross the cut of an extract reach past
    it, and their nodes are no evidence: so it errs toward "no data". It depends on the
    evidence only through its cells. None when there are too few samples."""
    import shapely

    from osmcams.geo.footprint import footprint

    evidence = _evidence(evidence)
    frame = grid_of(points, evidence)
    grid = None if frame is None else area_of(points, evidence, frame, shrink=CROSSING_CELLS)
    if frame is None or grid is None:
        return None
    spread = footprint(points, fraction, points) if spread is None else spread
    if spread is None:
        return grid
    if len(evidence):
        low, size, _, _ = frame
        cells = _cells(evidence, low, size) * size + low
        boxes = shapely.box(*cells.T, *(cells + size).T)  # apart: their union is a coverage's
        spread = shapely.union(spread, shapely.coverage_union_all(boxes))
    return shapely.intersection(grid, spread)


def _cells(points: Any, low: Any, size: float) -> Any:
    """The cells of a grid (corner `low`, side `size`) that hold `points`, once each, as
    (column, row) sorted by column then row: `numpy.unique(..., axis=0)`, by one integer
    key per cell (in a tenth of its time)."""
    import numpy

    cells = numpy.floor((points - low) / size).astype(numpy.int64)
    first = cells.min(axis=0)
    cells -= first
    rows = int(cells[:, 1].max()) + 1
    keys = unique(cells[:, 0] * rows + cells[:, 1])
    return numpy.column_stack((keys // rows, keys % rows)) + first


def _evidence(evidence: Any) -> Any:
    import numpy

    return numpy.empty((0, 2)) if evidence is None else numpy.asarray(evidence, float).reshape(-1, 2)


def grid_of(points: Any, evidence: Any = None) -> tuple[Any, float, int, int] | None:
    """The grid of `area_of`: its lower corner (lon, lat), its cell size and its cells
    along each axis; None when there are too few samples."""
    import numpy

    if points is None or len(points) < 16:
        return None
    low = numpy.quantile(points, 0.0005, axis=0)  # far outliers: nodes of cut relations
    high = numpy.quantile(points, 0.9995, axis=0)
    evidence = _evidence(evidence)
    cells = int(numpy.clip(numpy.sqrt(len(points) / 8), 16, 256))
    size = float(max(high - low)) / cells or 1e-4
    if len(evidence):  # the grid grows to take the evidence in, its cells do not
        wide = numpy.minimum(low, evidence.min(axis=0)), numpy.maximum(high, evidence.max(axis=0))
        if max(wide[1] - wide[0]) <= MAX_CELLS * size:
            low, high = wide
    low, high = low - 2 * size, high + 2 * size
    nx, ny = numpy.ceil((high - low) / size).astype(int)
    return low, size, int(nx), int(ny)


def area_of(points: Any, evidence: Any, grid: tuple[Any, float, int, int], shrink: int = 0) -> Any:
    """Where a file has data: a (multi)polygon from a grid of its sampled node locations.

    Cells holding sampled nodes (and a neighbour that does) are closed over one-cell
    gaps, opened to drop the thin lines that ways reaching past a cut leave, and small
    holes are filled. Gaps of more than 16 cells stay out: too little data is said,
    never too much. A cell holding a point of `evidence` has data, however alone:
    an object read from the file is where the file has data (files made of pieces,
    whose node ids do not mix, are sampled in only some of their pieces); the grid
    grows to hold it, up to MAX_CELLS a side (`grid`: its `grid_of`). `shrink`: cells
    taken off its edge first, where the ways that cross the cut of an extract reach. None
    when no cell is left.
    """
    import numpy
    import shapely
    from scipy import ndimage

    low, size, nx, ny = grid
    evidence = _evidence(evidence)
    bounds = ((low[0], low[0] + nx * size), (low[1], low[1] + ny * size))
    counts, _, _ = numpy.histogram2d(points[:, 0], points[:, 1], bins=(nx, ny), range=bounds)
    full = counts > 0
    square = numpy.ones((3, 3), bool)
    full &= ndimage.convolve(full.astype(int), square.astype(int), mode="constant") > 1
    full = ndimage.binary_closing(full, square, border_value=0)
    full = ndimage.binary_opening(full, square, border_value=0)
    if shrink:
        full = ndimage.binary_erosion(full, square, iterations=shrink, border_value=0)
    if len(evidence):
        seen, _, _ = numpy.histogram2d(evidence[:, 0], evidence[:, 1], bins=(nx, ny), range=bounds)
        full |= seen > 0
    holes, _ = ndimage.label(ndimage.binary_fill_holes(full) & ~full)
    full |= (numpy.bincount(holes.ravel()) <= 16)[holes] & (holes > 0)
    ix, iy = numpy.nonzero(full)
    if not len(ix):
        return None
    x, y = low[0] + ix * size, low[1] + iy * size
    return shapely.coverage_union_all(shapely.box(x, y, x + size, y + size))
