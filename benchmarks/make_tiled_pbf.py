"""Build a large benchmark PBF by tiling a real OSM extract over mainland France.

Each tile is a copy of the source extract. Its coordinates are shifted to one
cell of a grid spread evenly over a rectangle that lies wholly inside mainland
France. Its ids (of nodes, ways, relations and every reference) are renumbered
1, 2, 3... per type in source order (ids referenced but missing from the
extract follow), then increased by ``tile * step``, where step is the first
power of ten above the largest new id. The output holds the nodes of all
tiles, then their ways, then their relations, so it is sorted by type then id
and referentially as whole as the source (dangling relation members of an
extract stay dangling, once per tile).

Renumbering keeps the id range as dense as in real data. With ``--keep-ids``
the source ids are kept and only offset (step above the largest source id,
10**10 for the default source): tools that index by id with bitsets or arrays
(osmium check-refs -r, tags-filter with references) then need tens of GB for a
50 MB file.

Speed: the source PBF blocks are parsed once into templates in which only the
varints that differ between tiles are left open (object ids and the first
element of each delta-coded id, ref or coordinate array). Rendering a tile
fills them in; zlib compression (level 6, like osmium) runs in a thread pool,
as zlib releases the GIL.

With many tiles the grid cells become smaller than one tile's extent, so tiles
overlap in space; their ids never do. With ``--spread DX,DY`` the tiles sit
instead on a regular grid DX by DY degrees apart over the bounding box of
mainland France, the cells nearest its centre first (1,200 München tiles
0.32 by 0.29 degrees apart cover it; the tiles in the sea or abroad then hold
cameras outside every commune, as a France extract does). Beyond the cells
of the box, tiles start again from the centre, on top of the first ones.

Usage: python benchmarks/make_tiled_pbf.py --size-mb 50 -o /tmp/bench.osm.pbf
       python benchmarks/make_tiled_pbf.py --size-mb 991 --spread 0.32,0.29 -o FILE
"""

from __future__ import annotations

import argparse
import math
import os
import random
import struct
import time
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import osmium

DEFAULT_SOURCE = (
    Path(__file__).resolve().parents[2] / "shared/data/osm/big/valhalla-bench-munchen-2020.osm.pbf"
)

# Tiles are placed inside this rectangle (lon/lat, degrees). It avoids the
# coasts, Switzerland, Italy, Germany and Belgium, so every shifted point lies
# in a real French commune.
FRANCE_AREA = (-0.5, 43.6, 5.9, 49.0)
# The bounding box of mainland France and its centre, for --spread.
MAINLAND_BOX = (-5.2, 42.3, 8.3, 51.1)
MAINLAND_CENTRE = (2.5, 46.6)

ZLIB_LEVEL = 6
SORT_FEATURE = b"Sort.Type_then_ID"
WRITING_PROGRAM = b"osmcams make_tiled_pbf"

# How a changing field is stored, and what it holds. Member ids take their
# type from the relation's types field; its values are the first three axes.
VARINT, ZIGZAG, PACKED = range(3)
NODE_ID, WAY_ID, RELATION_ID, MEMBER_ID, LAT, LON = range(6)
MEMBER_TYPES_FIELD = 10

Schema = dict[int, "tuple[int, int] | Schema"]

NODE: Schema = {1: (ZIGZAG, NODE_ID), 8: (ZIGZAG, LAT), 9: (ZIGZAG, LON)}
DENSE_NODES: Schema = {1: (PACKED, NODE_ID), 8: (PACKED, LAT), 9: (PACKED, LON)}
WAY: Schema = {1: (VARINT, WAY_ID), 8: (PACKED, NODE_ID), 9: (PACKED, LAT), 10: (PACKED, LON)}
RELATION: Schema = {1: (VARINT, RELATION_ID), 9: (PACKED, MEMBER_ID)}
PRIMITIVE_GROUP: Schema = {1: NODE, 2: DENSE_NODES, 3: WAY, 4: RELATION}
GROUP_TYPE = {1: 0, 2: 0, 3: 1, 4: 2}  # group field -> node, way, relation


class Scalar(NamedTuple):
    """A varint field whose value is shifted per tile."""

    key: bytes
    signed: bool  # sint64 (zigzag) rather than int64
    axis: int
    value: int


class Packed(NamedTuple):
    """A packed delta-coded sint64 field: only its first element shifts."""

    key: bytes
    axis: int
    first: int
    rest: bytes


class Nested(NamedTuple):
    """A length-delimited sub-message holding changing fields."""

    key: bytes
    items: list


class BlockTemplate(NamedTuple):
    """One output block: a source block with a single primitive group."""

    kind: int  # 0 nodes, 1 ways, 2 relations
    granularity: int
    items: list


class Source(NamedTuple):
    """What the tiler needs to know about the source file."""

    counts: dict[str, int]
    id_step: int
    bbox: tuple[int, int, int, int]  # min x, min y, max x, max y in 1e-7 degrees
    header: list[tuple[int, bytes]]  # (field number, encoded field)
    blocks: list[BlockTemplate]


# Varints of all 14-bit values, and of the same as non-final 2-byte groups.
SHORT_VARINTS = [bytes((v,) if v < 0x80 else (v & 0x7F | 0x80, v >> 7)) for v in range(1 << 14)]
GROUP_VARINTS = [bytes((v & 0x7F | 0x80, v >> 7 | 0x80)) for v in range(1 << 14)]


def encode_varint(value: int) -> bytes:
    """Encode a non-negative int as a protobuf varint."""
    if value < 1 << 14:
        return SHORT_VARINTS[value]
    parts = []
    while value >= 1 << 14:
        parts.append(GROUP_VARINTS[value & 0x3FFF])
        value >>= 14
    parts.append(SHORT_VARINTS[value])
    return b"".join(parts)


def zigzag(value: int) -> int:
    """Map a signed int to its protobuf sint64 encoding."""
    return (value << 1) ^ (value >> 63)


def unzigzag(value: int) -> int:
    """Inverse of zigzag()."""
    return (value >> 1) ^ -(value & 1)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode the varint at pos; return it and the position after it."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes, bytes]]:
    """Yield (field number, wire type, value, raw field bytes) of a message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = read_varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, wire, value, buf[start:pos]


def decode_packed(buf: bytes) -> list[int]:
    """Decode a packed repeated varint field."""
    values = []
    pos = 0
    while pos < len(buf):
        value, pos = read_varint(buf, pos)
        values.append(value)
    return values


def renumber_packed(buf: bytes, types: list[int], ids: list[dict[int, int]]) -> tuple[int, bytes]:
    """Map a packed delta-coded id array; return its first id and the other deltas."""
    old = new = 0
    deltas = []
    for delta, kind in zip(decode_packed(buf), types):
        old += unzigzag(delta)
        deltas.append(ids[kind][old] - new)
        new = ids[kind][old]
    return deltas[0], b"".join(encode_varint(zigzag(delta)) for delta in deltas[1:])


def make_template(buf: bytes, schema: Schema, ids: list[dict[int, int]]) -> list:
    """Split a message into static byte runs and the fields named in schema.

    Id fields are renumbered through ids (one old -> new table per type).
    """
    items: list = []
    static = bytearray()
    for number, wire, value, raw in iter_fields(buf):
        spec = schema.get(number)
        key = raw[: len(encode_varint(number << 3 | wire))]
        if spec is None or (wire == 2 and not value):
            static += raw
            continue
        if static:
            items.append(bytes(static))
            static.clear()
        if isinstance(spec, dict):
            items.append(Nested(key, make_template(value, spec, ids)))
            continue
        kind, axis = spec
        if kind == PACKED and wire == 2 and axis in (LAT, LON):
            first, pos = read_varint(value, 0)
            items.append(Packed(key, axis, unzigzag(first), value[pos:]))
        elif kind == PACKED and wire == 2:
            types = [axis] * len(value)
            if axis == MEMBER_ID:
                fields = (v for n, _, v, _ in iter_fields(buf) if n == MEMBER_TYPES_FIELD)
                types = decode_packed(next(fields, b""))
            items.append(Packed(key, axis, *renumber_packed(value, types, ids)))
        elif kind != PACKED and wire == 0:
            signed = kind == ZIGZAG
            value = unzigzag(value) if signed else value
            items.append(Scalar(key, signed, axis, ids[axis][value] if axis < LAT else value))
        else:
            raise ValueError(f"field {number} has an unexpected wire type {wire}")
    if static:
        items.append(bytes(static))
    return items


def render(items: list, shifts: tuple[int, ...]) -> bytes:
    """Serialise a template, adding shifts[axis] to each changing field."""
    parts: list[bytes] = []
    add = parts.append
    for item in items:
        kind = type(item)
        if kind is bytes:
            add(item)
        elif kind is Nested:
            key, nested = item
            body = render(nested, shifts)
            add(key)
            add(encode_varint(len(body)))
            add(body)
        elif kind is Packed:
            key, axis, first, rest = item
            head = encode_varint(zigzag(first + shifts[axis]))
            add(key)
            add(encode_varint(len(head) + len(rest)))
            add(head)
            add(rest)
        else:
            key, signed, axis, value = item
            value += shifts[axis]
            add(key)
            add(encode_varint(zigzag(value) if signed else value))
    return b"".join(parts)


def iter_blobs(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield (blob type, uncompressed content) for each block of a PBF file."""
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from(">I", data, pos)
        pos += 4
        header = {n: v for n, _, v, _ in iter_fields(data[pos : pos + size])}
        pos += size
        blob = {n: v for n, _, v, _ in iter_fields(data[pos : pos + header[3]])}
        pos += header[3]
        if 1 in blob:
            yield header[1], blob[1]
        elif 3 in blob:
            yield header[1], zlib.decompress(blob[3])
        else:
            raise ValueError("only raw and zlib PBF blobs are supported")


def split_block(block: bytes, ids: list[dict[int, int]]) -> list[BlockTemplate]:
    """Make one template per primitive group of a PrimitiveBlock."""
    fields = list(iter_fields(block))
    granularity = next((v for n, _, v, _ in fields if n == 17), 100)
    templates = []
    for index, (number, _, group, _) in enumerate(fields):
        if number != 2:
            continue
        kinds = {GROUP_TYPE.get(n) for n, _, _, _ in iter_fields(group)}
        if len(kinds) != 1 or None in kinds:
            raise ValueError("unsupported primitive group (changesets or mixed types)")
        items: list = []
        for other, (n, _, _, raw) in enumerate(fields):
            if n != 2:
                items.append(raw)
            elif other == index:
                items.append(Nested(raw[:1], make_template(group, PRIMITIVE_GROUP, ids)))
        templates.append(BlockTemplate(kinds.pop(), granularity, items))
    return templates


def scan_source(
    path: Path, compact_ids: bool
) -> tuple[dict[str, int], list[dict[int, int]], tuple[int, int, int, int]]:
    """Count objects, make the id tables and find the node bbox; check the order.

    The id tables map each id present or referenced to itself, or with
    compact_ids to 1, 2, 3... (present ids in order, then missing ones).
    """
    counts = {"nodes": 0, "ways": 0, "relations": 0, "surveillance": 0}
    names = {"n": "nodes", "w": "ways", "r": "relations"}
    present: list[list[int]] = [[], [], []]
    referenced: list[set[int]] = [set(), set(), set()]
    last = (-1, 0)
    xs: list[int] = []
    ys: list[int] = []
    for obj in osmium.FileProcessor(str(path)):
        kind = obj.type_str()
        key = ("nwr".index(kind), obj.id)
        if obj.id <= 0 or key <= last:
            raise ValueError("source must be sorted by type then id, with positive ids")
        last = key
        present[key[0]].append(obj.id)
        counts[names[kind]] += 1
        counts["surveillance"] += obj.tags.get("man_made") == "surveillance"
        if kind == "n":
            xs.append(obj.location.x)
            ys.append(obj.location.y)
        elif kind == "w":
            referenced[0].update(node.ref for node in obj.nodes)
        else:
            for member in obj.members:
                referenced["nwr".index(member.type)].add(member.ref)
    if not xs:
        raise ValueError("source has no nodes")
    tables = []
    for ids, refs in zip(present, referenced):
        ids += sorted(refs.difference(ids))
        tables.append({old: new + 1 if compact_ids else old for new, old in enumerate(ids)})
    return counts, tables, (min(xs), min(ys), max(xs), max(ys))


def load_source(path: Path, compact_ids: bool = True) -> Source:
    """Read the source once into block templates and summary facts."""
    counts, ids, bbox = scan_source(path, compact_ids)
    id_step = 10 ** len(str(max(max(table.values(), default=0) for table in ids)))
    header: list[tuple[int, bytes]] = []
    blocks: list[BlockTemplate] = []
    for kind, content in iter_blobs(path.read_bytes()):
        if kind == b"OSMHeader":
            header = [(n, raw) for n, _, _, raw in iter_fields(content)]
        elif kind == b"OSMData":
            blocks += split_block(content, ids)
    blocks.sort(key=lambda block: block.kind)  # stable: keeps order within a type
    return Source(counts, id_step, bbox, header, blocks)


def tile_origins(tiles: int, width: int, height: int, seed: int) -> list[tuple[int, int]]:
    """Lower-left corners (1e-7 degrees) of tiles of the given extent.

    The grid is spread evenly over FRANCE_AREA, filled row by row from the
    south-west; each origin is jittered inside its cell by a seeded RNG.
    """
    west, south, east, north = (round(v * 1e7) for v in FRANCE_AREA)
    free_x, free_y = east - west - width, north - south - height
    if free_x <= 0 or free_y <= 0:
        raise ValueError("source extent does not fit into the France area")
    cols = math.ceil(math.sqrt(tiles * free_x / free_y))
    rows = math.ceil(tiles / cols)
    cell_x, cell_y = free_x / cols, free_y / rows
    rng = random.Random(seed)
    return [
        (
            west + int((tile % cols + rng.random()) * cell_x),
            south + int((tile // cols + rng.random()) * cell_y),
        )
        for tile in range(tiles)
    ]


def spread_origins(
    tiles: int, width: int, height: int, spacing: tuple[float, float]
) -> list[tuple[int, int]]:
    """Lower-left corners (1e-7 degrees) of tiles on a grid `spacing` degrees apart.

    The grid covers MAINLAND_BOX; the cells whose tile centre lies nearest
    MAINLAND_CENTRE come first, and the list starts over when tiles outnumber them.
    """
    west, south, east, north = (round(v * 1e7) for v in MAINLAND_BOX)
    step_x, step_y = (round(v * 1e7) for v in spacing)
    if step_x <= 0 or step_y <= 0:
        raise ValueError("the spacing must be positive")
    centre_x, centre_y = (v * 1e7 for v in MAINLAND_CENTRE)
    squeeze = math.cos(math.radians(MAINLAND_CENTRE[1]))  # a degree of longitude is shorter
    cells = [
        (x, y)
        for x in range(west, max(west, east - width) + 1, step_x)
        for y in range(south, max(south, north - height) + 1, step_y)
    ]
    cells.sort(key=lambda c: math.hypot((c[0] + width / 2 - centre_x) * squeeze,
                                        c[1] + height / 2 - centre_y))
    return [cells[tile % len(cells)] for tile in range(tiles)]


def header_block(source: Source, bbox: tuple[int, int, int, int]) -> bytes:
    """The output HeaderBlock: the source's, with a new bbox, sort flag and program."""
    min_x, min_y, max_x, max_y = (v * 100 for v in bbox)  # nanodegrees
    box = b"".join(
        bytes([n << 3]) + encode_varint(zigzag(v))
        for n, v in ((1, min_x), (2, max_x), (3, max_y), (4, min_y))
    )
    fields = [
        (n, raw) for n, raw in source.header if n not in (1, 16) and not (n == 5 and SORT_FEATURE in raw)
    ]
    fields += [
        (1, b"\x0a" + encode_varint(len(box)) + box),
        (5, b"\x2a" + encode_varint(len(SORT_FEATURE)) + SORT_FEATURE),
        (16, b"\x82\x01" + encode_varint(len(WRITING_PROGRAM)) + WRITING_PROGRAM),
    ]
    fields.sort(key=lambda field: field[0])
    return b"".join(raw for _, raw in fields)


def file_block(kind: bytes, content: bytes) -> bytes:
    """Compress content into a PBF fileblock (BlobHeader length, BlobHeader, Blob)."""
    data = zlib.compress(content, ZLIB_LEVEL)
    blob = b"\x10" + encode_varint(len(content)) + b"\x1a" + encode_varint(len(data)) + data
    head = b"\x0a" + encode_varint(len(kind)) + kind + b"\x18" + encode_varint(len(blob))
    return struct.pack(">I", len(head)) + head + blob


def render_tile(source: Source, block: BlockTemplate, tile: int, origin: tuple[int, int]) -> bytes:
    """Render one block of the tile with the given number and lower-left corner."""
    lat, lat_rest = divmod((origin[1] - source.bbox[1]) * 100, block.granularity)
    lon, lon_rest = divmod((origin[0] - source.bbox[0]) * 100, block.granularity)
    if lat_rest or lon_rest:
        raise ValueError("shift is not a multiple of the block granularity")
    step = tile * source.id_step
    return render(block.items, (step, step, step, step, lat, lon))


def render_blocks(source: Source, origins: list[tuple[int, int]]) -> Iterator[bytes]:
    """Yield the raw output blocks: all tiles' nodes, then ways, then relations."""
    for kind in range(3):
        blocks = [block for block in source.blocks if block.kind == kind]
        for tile, origin in enumerate(origins):
            for block in blocks:
                yield render_tile(source, block, tile, origin)


def build(
    source: Path | str,
    target_mb: float,
    output: Path | str,
    seed: int = 1,
    compact_ids: bool = True,
    spread: tuple[float, float] | None = None,
) -> dict[str, int]:
    """Write a tiled PBF of about target_mb MB (10**6 bytes) to output.

    With `spread` (degrees of longitude, latitude) the tiles sit on a grid that
    far apart over mainland France (`spread_origins`), else in FRANCE_AREA.

    Returns the tile count, the output size in bytes and the object counts the
    output holds: nodes, ways, relations and man_made=surveillance objects.
    """
    output = Path(output)
    src = load_source(Path(source), compact_ids)
    sample = (render_tile(src, block, 1, src.bbox[:2]) for block in src.blocks)
    tile_size = sum(len(file_block(b"OSMData", content)) for content in sample)
    tiles = max(1, math.ceil(target_mb * 1e6 / tile_size))
    min_x, min_y, max_x, max_y = src.bbox
    if spread:
        origins = spread_origins(tiles, max_x - min_x, max_y - min_y, spread)
    else:
        origins = tile_origins(tiles, max_x - min_x, max_y - min_y, seed)
    bbox = (
        min(x for x, _ in origins),
        min(y for _, y in origins),
        max(x for x, _ in origins) + max_x - min_x,
        max(y for _, y in origins) + max_y - min_y,
    )
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(workers) as pool, output.open("wb") as out:
        out.write(file_block(b"OSMHeader", header_block(src, bbox)))
        pending: deque = deque()
        for content in render_blocks(src, origins):
            pending.append(pool.submit(file_block, b"OSMData", content))
            if len(pending) > 4 * workers:
                out.write(pending.popleft().result())
        while pending:
            out.write(pending.popleft().result())
    result = {"tiles": tiles, "bytes": output.stat().st_size}
    result.update({name: tiles * count for name, count in src.counts.items()})
    return result


def spacing(text: str) -> tuple[float, float]:
    """Parse "DX,DY" (degrees of longitude and latitude) for --spread."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not DX,DY in degrees") from None
    if x <= 0 or y <= 0:
        raise argparse.ArgumentTypeError("the spacing must be positive")
    return x, y


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, required=True, help="target size, MB")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--seed", type=int, default=1, help="jitter of tile positions")
    parser.add_argument(
        "--keep-ids", action="store_true", help="offset the source ids instead of renumbering"
    )
    parser.add_argument("--spread", type=spacing, metavar="DX,DY",
                        help="tiles on a grid this many degrees apart over mainland France")
    args = parser.parse_args()
    if args.size_mb <= 0:
        parser.error("--size-mb must be positive")
    start = time.perf_counter()
    result = build(args.source, args.size_mb, args.output, args.seed, not args.keep_ids,
                   args.spread)
    seconds = time.perf_counter() - start
    print(f"wrote {args.output}: {result['bytes'] / 1e6:.1f} MB in {seconds:.1f} s")
    for name, value in result.items():
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
