"""The sieve reads camera nodes from PBF blocks itself: checked against osmium-tool on real
extracts, in worker processes, and on every block layout osmium-tool can write."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import OplObject, run_osmium

from osmcams.models import Camera, make_camera
from osmcams.sources.osm import sieve
from osmcams.sources.osm.pbf import read_cameras, scan_file

REAL = [
    "big/valhalla-bench-munchen-2020.osm.pbf",  # 209 camera nodes
    "big/graphhopper-rnv-rhein-neckar-2016.osm.pbf",  # camera ways, read by libosmium
    "helsinki-2019.osm.pbf",
]

# Camera nodes among look-alikes: the strings in other places, another key, reversed,
# a camera with many tags and a long value, one without metadata, far south and west.
TRICKY = """\
n1 t2015-01-02T03:04:05Z Tman_made=surveillance,camera:direction=90 x2.3522219 y48.856614
n2 t2015-01-02T03:04:05Z Tsurveillance=man_made x2.35 y48.85
n3 t2016-01-02T03:04:05Z Tman_made=tower,surveillance=yes x2.36 y48.86
n4 t2017-01-02T03:04:05Z Tname=surveillance,note=man_made x2.37 y48.87
n5 t2018-06-30T23:59:59Z Tsurveillance=public,man_made=surveillance,note={long},direction=up \
x-61.234567 y-17.5
n6 t2019-01-01T00:00:00Z Tman_made=surveillance x-0.0000001 y0.0000001
n7 t2019-01-01T00:00:00Z T x2.38 y48.88
n8 t2019-01-01T00:00:00Z Tman_made=surveillance,name=Caméra%20%du%20%pont x179.9999999 y-89.9999999
w10 t2020-02-02T02:02:02Z Tman_made=surveillance Nn2,n3,n4
w11 t2020-02-02T02:02:02Z Tsurveillance=yes,man_made=mast Nn3,n4
r20 t2021-03-03T03:03:03Z Tman_made=surveillance,type=site Mn7@,w11@
r21 t2021-03-03T03:03:03Z Tboundary=administrative,admin_level=8,type=boundary Mw11@outer
""".replace("{long}", "x" * 300)

LAYOUTS = {
    "dense": "pbf",
    "plain nodes": "pbf,pbf_dense_nodes=false",
    "uncompressed": "pbf,pbf_compression=none",
    "no metadata": "pbf,add_metadata=false",
}


def _same(cameras: list[Camera], expected: list[OplObject]) -> None:
    """The cameras are osmium's, kind by kind; nodes with the same place, tags and date."""
    assert sorted((c.osm_type[0], c.osm_id) for c in cameras) == sorted(
        (o.kind, o.osm_id) for o in expected)
    ours = {c.osm_id: c for c in cameras if c.osm_type == "node"}
    for obj in (o for o in expected if o.kind == "n"):
        camera = ours[obj.osm_id]
        assert (camera.lon, camera.lat) == (obj.lon, obj.lat)
        assert camera.tags == obj.tags
        assert camera.timestamp == (obj.timestamp or None)  # OPL writes no date as "t"


@pytest.fixture(scope="module")
def tricky_opl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sieve") / "tricky.opl"
    path.write_text(TRICKY, encoding="utf-8")
    return path


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_block_layout_gives_osmiums_cameras(
    tricky_opl: Path, tmp_path: Path, layout: str, osm_cameras: Callable[[Path], list[OplObject]]
) -> None:
    pbf = tmp_path / "tricky.osm.pbf"
    run_osmium("cat", tricky_opl, "-f", LAYOUTS[layout], "-o", pbf)
    expected = osm_cameras(pbf)
    assert {(o.kind, o.osm_id) for o in expected} == {
        ("n", 1), ("n", 5), ("n", 6), ("n", 8), ("w", 10), ("r", 20)}
    extract = read_cameras(pbf)
    _same(extract.cameras, expected)
    assert "1 camera has a direction that cannot be read; set to null" in extract.warnings


def test_only_blocks_with_camera_ways_or_relations_are_left_to_libosmium(
    tricky_opl: Path, tmp_path: Path
) -> None:
    pbf = tmp_path / "tricky.osm.pbf"
    run_osmium("cat", tricky_opl, "-o", pbf)
    frames = [f for f in sieve.blocks.framing(pbf) if f[2] == "OSMData"]
    assert len(frames) == 3  # osmium-tool writes one block per kind here
    sifted = sieve.sift(pbf, boundaries=False)
    assert [c.osm_id for c in sifted.cameras] == [1, 5, 6, 8]
    assert sifted.others == frames[1:]  # way 10 and relation 20
    # Without camera ways and relations, and boundaries asked for: the relation block only.
    plain = tmp_path / "plain.osm.pbf"
    run_osmium("tags-filter", "-R", pbf, "n/man_made", "r/boundary", "-o", plain)
    frames = [f for f in sieve.blocks.framing(plain) if f[2] == "OSMData"]
    assert sieve.sift(plain, boundaries=False).others == []
    assert sieve.sift(plain, boundaries=True).others == frames[-1:]


@pytest.mark.parametrize("name", REAL)
def test_worker_processes_read_what_osmium_reads(
    osm_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch,
    osm_cameras: Callable[[Path], list[OplObject]],
) -> None:
    monkeypatch.setattr(sieve, "IN_PROCESS_BYTES", 0)
    monkeypatch.setattr(sieve, "CHUNK", 1)  # blocks dealt out one by one, in turn
    path = osm_dir / name
    _same(read_cameras(path, threads=2).cameras, osm_cameras(path))


@pytest.mark.parametrize("name", ["big/valhalla-bench-munchen-2020.osm.pbf", "helsinki-2019.osm.pbf",
                                  "monaco-2025-02-07.osm.pbf"])
def test_cameras_made_once_per_set_of_tags_are_the_cameras_made_one_by_one(
    osm_dir: Path, name: str, osm_cameras: Callable[[Path], list[OplObject]]
) -> None:
    """The sieve does the work of a block's set of tags once for all its cameras, which
    share its dict: each record is what `make_camera` makes of osmium's node, the
    unreadable directions are counted camera by camera, the newest date is osmium's."""
    path = osm_dir / name
    sifted = sieve.sift(path, boundaries=False)
    assert sifted is not None
    nodes = {o.osm_id: o for o in osm_cameras(path) if o.kind == "n"}
    made = [make_camera("node", c.osm_id, nodes[c.osm_id].lon, nodes[c.osm_id].lat, nodes[c.osm_id].tags,
                        nodes[c.osm_id].timestamp or None) for c in sifted.cameras]
    assert sifted.cameras == [camera for camera, _ in made]
    assert sifted.bad_directions == sum(bad for _, bad in made)
    assert sifted.newest == max(nodes[c.osm_id].timestamp for c in sifted.cameras)
    assert len({id(c.tags) for c in sifted.cameras}) < len(sifted.cameras)


def test_boundaries_are_left_to_libosmium_with_their_blocks(
    riviera: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every admin_level=8 relation osmium finds is read, whatever the sieve decides."""
    expected = {int(line.split()[0][1:]) for line in run_osmium(
        "tags-filter", "-R", riviera, "r/admin_level=8", "-f", "opl", "-o", "-").splitlines()
        if "boundary=administrative" in line}
    monkeypatch.setattr(sieve, "IN_PROCESS_BYTES", 0)
    _, boundaries = scan_file(riviera, admin_level=8, threads=2)
    assert {b.relation_id for b in boundaries} == expected
    assert len(expected) > 5


@pytest.mark.parametrize("name", REAL)
def test_the_sieve_leaves_the_block_index_behind(
    osm_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index the sieve leaves is the one read from the heads of the blocks (which
    test_blocks checks against osmium-tool), and passes that read by id need no other."""
    path = osm_dir / name
    monkeypatch.setattr(sieve.blocks, "_INDEXES", {})
    expected = sieve.blocks.index(path)
    monkeypatch.setattr(sieve.blocks, "_INDEXES", {})
    monkeypatch.setattr(sieve, "IN_PROCESS_BYTES", 0)
    assert sieve.sift(path, boundaries=False, workers=2) is not None

    def read_again(path: Path) -> None:
        pytest.fail("the index was read again")

    monkeypatch.setattr(sieve.blocks, "_heads", read_again)
    assert sieve.blocks.index(path) == expected
    assert len(expected.blocks["node"]) > 1


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _zstd_copy(source: Path, target: Path) -> None:
    """`source` with every blob compressed with zstd, as libosmium cannot write it: each
    Blob holds raw_size (field 2) and zstd_data (field 7), per fileformat.proto."""
    import struct
    import zlib

    import zstandard

    with open(source, "rb") as f, open(target, "wb") as out:
        for offset, length, kind, size in sieve.blocks.framing(source):
            f.seek(offset + length - size)
            blob = dict(sieve.blocks._fields(f.read(size)))
            data = zlib.decompress(blob[3])  # the standard library's zlib, not the sieve's
            packed = _varint(2 << 3) + _varint(len(data)) + _bytes_field(
                7, zstandard.ZstdCompressor().compress(data))
            header = _bytes_field(1, kind.encode()) + _varint(3 << 3) + _varint(len(packed))
            out.write(struct.pack(">I", len(header)) + header + packed)


@pytest.mark.parametrize("name", REAL)
def test_lz4_blocks_are_sifted_as_zlib_ones(
    osm_dir: Path, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    osm_cameras: Callable[[Path], list[OplObject]],
) -> None:
    """A file osmium-tool wrote with lz4 is sifted, in worker processes, to osmium's cameras."""
    path = tmp_path / "lz4.osm.pbf"
    run_osmium("cat", osm_dir / name, "-f", "pbf,pbf_compression=lz4", "-o", path)
    monkeypatch.setattr(sieve, "IN_PROCESS_BYTES", 0)
    sifted = sieve.sift(path, boundaries=False, workers=2)
    assert sifted is not None and sifted.cameras
    assert len(sifted.others) == len(sieve.sift(osm_dir / name, boundaries=False).others)
    _same(read_cameras(path, threads=2).cameras, osm_cameras(osm_dir / name))
    whole = sieve.blocks.index(path)  # as the sieve left it, from whole blocks
    monkeypatch.setattr(sieve.blocks, "_INDEXES", {})
    assert sieve.blocks.index(path) == whole  # from the heads of the blocks


@pytest.mark.parametrize("name", REAL)
def test_zstd_blocks_are_sifted_as_zlib_ones(
    osm_dir: Path, name: str, tmp_path: Path, osm_cameras: Callable[[Path], list[OplObject]]
) -> None:
    """The sieve finds the same camera nodes and leaves the same blocks in a zstd copy,
    which libosmium, that reads no zstd, then gets uncompressed: the extract is the same."""
    path = tmp_path / "zstd.osm.pbf"
    _zstd_copy(osm_dir / name, path)
    extract = read_cameras(path, threads=2)
    _same(extract.cameras, osm_cameras(osm_dir / name))
    original = read_cameras(osm_dir / name, threads=2)
    assert (extract.timestamp, extract.data_area.wkb) == (original.timestamp, original.data_area.wkb)
    zlib_sifted, zstd_sifted = (sieve.sift(p, boundaries=True) for p in (osm_dir / name, path))
    assert zlib_sifted is not None and zstd_sifted is not None
    assert zstd_sifted.cameras == zlib_sifted.cameras and zlib_sifted.cameras
    assert [f[0] for f in zstd_sifted.others] == [
        f[0] for f, g in zip(sieve.blocks.framing(path), sieve.blocks.framing(osm_dir / name))
        if g in zlib_sifted.others]


def _comparable(results: list[sieve.Result]) -> list[Any]:
    """`_sift_frames` results with their arrays as lists, to compare with ==."""
    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if isinstance(value, sieve.NodeVersions):
            return plain(dataclasses.astuple(value))
        return value.tolist() if hasattr(value, "tolist") else value
    return plain(results)


@pytest.mark.parametrize("name", [*REAL, "big/osrm-monaco-fr-riviera-2016.osm.pbf"])
def test_blocks_left_compressed_past_their_string_table_give_what_whole_ones_give(
    osm_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block whose head shows that it holds nothing asked is left compressed past its
    string table: every block of the real extracts gives the same result as when each is
    inflated whole, for each thing a sift asks, and some are left so where the layout allows."""
    path = osm_dir / name
    frames = [frame for frame in sieve.blocks.framing(path) if frame[2] == "OSMData"]
    with open(path, "rb") as f:
        nodes = [node for node in sieve._sift_frames(f, frames, sieve.Wanted()) if node[1][0] == "node"]
    camera_nodes = [i for found, *_ in nodes for i in sieve._camera_node_ids(found or []).tolist()]
    asked = {
        "cameras": sieve.Wanted(),
        "node blocks without ways": sieve.Wanted(no_ways=True),
        "what ways refer to": sieve.Wanted(candidates=sieve.Candidates([*camera_nodes, 1, 2, 3])),
        "boundaries": sieve.Wanted(boundaries=True),
        "node versions": sieve.Wanted(history=True, tags=True),
    }
    left = 0
    for what, wanted in asked.items():
        with open(path, "rb") as f:
            with monkeypatch.context() as patched:
                patched.setattr(sieve, "_unread", lambda inflating, wanted: None)
                whole_only = sieve._sift_frames(f, frames, wanted)
            assert _comparable(sieve._sift_frames(f, frames, wanted)) == _comparable(whole_only), what
            left += sum(sieve._unread(sieve.blocks.Inflating(_blob(f, frame), frame[0]), wanted) is not None
                        for frame in frames)
    # Blocks written by osmosis carry their settings after their groups: their head
    # cannot show that one group fills them, so they are read whole.
    with open(path, "rb") as f:
        settled = any([n for n, _ in sieve.blocks._fields(sieve.blocks.inflate(_blob(f, frame)))] == [1, 2]
                      for frame in frames)
    assert (left > 0) == settled


def _blob(f: Any, frame: sieve.blocks.Frame) -> bytes:
    offset, length, _, size = frame
    f.seek(offset + length - size)
    return f.read(size)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", REAL)
def test_a_blob_inflated_head_first_is_the_blob_inflated_whole(osm_dir: Path, name: str) -> None:
    """Inflated head first then whole, every blob of the real extracts is what the standard
    library's zlib gives; `lone_group` tells what a full parse of the block tells."""
    import zlib

    path = osm_dir / name
    with open(path, "rb") as f:
        for frame in sieve.blocks.framing(path):
            blob = _blob(f, frame)
            expected = zlib.decompress(bytes(dict(sieve.blocks._fields(blob))[3]))
            inflating = sieve.blocks.Inflating(blob, frame[0])
            head = inflating.head()
            assert expected.startswith(head)
            assert inflating.whole() == expected
            if frame[2] != "OSMData":
                continue
            assert len(head) < len(expected)
            groups = sieve.blocks.primitive(expected).groups
            lone = sieve.blocks.lone_group(head, len(expected))
            fields = [number for number, _ in sieve.blocks._fields(expected)]
            if fields == [1, 2]:
                assert lone == (bytes(sieve.blocks.primitive(expected).table), groups[0][0])
            else:
                assert lone is None


def test_a_blob_damaged_past_its_head_is_refused_when_inflated_whole(monaco_2025: Path) -> None:
    import zlib

    frame = sieve.blocks.framing(monaco_2025)[1]
    with open(monaco_2025, "rb") as f:
        data = sieve.blocks.inflate(_blob(f, frame))
    packed = zlib.compress(data)
    damaged = packed[: len(packed) // 2] + bytes(b ^ 0xFF for b in packed[len(packed) // 2 :])
    inflating = sieve.blocks.Inflating(_varint(2 << 3) + _varint(len(data)) + _bytes_field(3, damaged))
    assert data.startswith(inflating.head())
    with pytest.raises(sieve.blocks.Unindexable, match="damaged"):
        inflating.whole()


def test_a_damaged_or_oversized_blob_is_refused() -> None:
    import zstandard

    data = b"\x0a\x02\x00\x00" * 100
    zstd = _bytes_field(7, zstandard.ZstdCompressor().compress(data))
    assert sieve.blocks.inflate(_varint(2 << 3) + _varint(len(data)) + zstd) == data
    with pytest.raises(sieve.blocks.Corrupt, match="inflates beyond the 399 bytes it states"):
        sieve.blocks.inflate(_varint(2 << 3) + _varint(len(data) - 1) + zstd)
    with pytest.raises(sieve.blocks.Unindexable, match="damaged"):
        sieve.blocks.inflate(_bytes_field(7, b"not zstd at all"))
    with pytest.raises(sieve.blocks.Corrupt, match="beyond the 32 MiB the format allows"):
        sieve.blocks.inflate(_varint(2 << 3) + _varint(sieve.blocks.MAX_BLOB + 1) + zstd)


def test_a_zstd_frame_claiming_a_petabyte_is_refused_unallocated() -> None:
    """A zstd frame whose header claims 2**50 bytes (its content size, 8 bytes after a frame
    header descriptor of 0xe0, RFC 8878 §3.1.1.1) is a bomb: refused, nothing allocated
    (`decompress` allocated the claim: a MemoryError, a traceback)."""
    import zstandard

    frame = zstandard.ZstdCompressor().compress(bytes(1 << 20))
    assert frame[4] == 0xA0  # single segment, a content size of 4 bytes, at 5..9
    claiming = frame[:4] + b"\xe0" + (1 << 50).to_bytes(8, "little") + frame[9:]
    assert zstandard.frame_content_size(claiming) == 1 << 50
    for stated, words in ((b"", "beyond the 32 MiB the format allows"),
                          (_varint(2 << 3) + _varint(1 << 20), "beyond the 1,048,576 bytes it states")):
        with pytest.raises(sieve.blocks.Corrupt, match=words):
            sieve.blocks.inflate(stated + _bytes_field(7, claiming))


def _sint64s(values: list[int]) -> bytes:
    """Packed sint64 values (zigzag varints)."""
    return b"".join(_varint((v << 1) ^ (v >> 63)) for v in values)


def _dense_file(path: Path, header_of: Path, lats: int, keys_vals: list[int], group: bytes = b"") -> Path:
    """`path`: the header block of `header_of`, then one block of the dense nodes 1, 2, 3 at
    7.42, 43.74, the first tagged man_made=surveillance, written with `lats` latitudes and
    the `keys_vals` given (fileformat.proto's DenseNodes: 1 id, 8 lat, 9 lon, 10 keys_vals),
    and the PrimitiveGroup `group` after them, if any."""
    strings = b"".join(_bytes_field(1, text) for text in (b"", b"man_made", b"surveillance"))
    dense = (_bytes_field(1, _sint64s([1, 1, 1]))
             + _bytes_field(8, _sint64s([437_400_000] + [0] * (lats - 1)))
             + _bytes_field(9, _sint64s([74_200_000, 0, 0]))
             + _bytes_field(10, b"".join(_varint(v) for v in keys_vals)))
    raw = _bytes_field(1, strings) + _bytes_field(2, _bytes_field(2, dense)) + (
        _bytes_field(2, group) if group else b"")
    offset, length, _, _ = sieve.blocks.framing(header_of)[0]
    with open(header_of, "rb") as f:
        f.seek(offset)
        path.write_bytes(f.read(length) + _data_frame(raw))
    return path


def _data_frame(raw: bytes) -> bytes:
    """The PrimitiveBlock `raw` as a file block: its length, its BlobHeader, its zlib Blob."""
    import struct
    import zlib

    blob = _varint(2 << 3) + _varint(len(raw)) + _bytes_field(3, zlib.compress(raw))
    header = _bytes_field(1, b"OSMData") + _varint(3 << 3) + _varint(len(blob))
    return struct.pack(">I", len(header)) + header + blob


@pytest.mark.parametrize("keys_vals", [[1, 2, 0, 0], [1, 2, 0, 0, 0, 0]],
                         ids=["one end short", "one end over"])
def test_dense_nodes_whose_tags_miscount_them_are_read_as_libosmium_reads_them(
    monaco_2025: Path, tmp_path: Path, osm_cameras: Callable[[Path], list[Any]], keys_vals: list[int],
) -> None:
    """Tags that end for one node fewer or more than the block holds: the node sample's
    arrays disagreed (a numpy ValueError or IndexError, a traceback); the block is left to
    libosmium, whose camera it is."""
    path = _dense_file(tmp_path / "dense.osm.pbf", monaco_2025, 3, keys_vals)
    expected = osm_cameras(path)
    assert [(o.kind, o.osm_id) for o in expected] == [("n", 1)]
    _same(read_cameras(path).cameras, expected)


def test_dense_nodes_short_of_latitudes_are_refused_as_libosmium_refuses_them(
    monaco_2025: Path, tmp_path: Path,
) -> None:
    """Three ids and one latitude: osmium refuses the file; so does osmcams, in one DataError
    (was a numpy IndexError out of the node sample)."""
    import subprocess

    from osmcams.errors import DataError

    path = _dense_file(tmp_path / "dense.osm.pbf", monaco_2025, 1, [1, 2, 0, 0, 0])
    with pytest.raises(subprocess.CalledProcessError):
        run_osmium("cat", path, "-f", "opl")
    with pytest.raises(DataError, match=r"dense\.osm\.pbf: cannot read OSM data: PBF error: PBF format"):
        read_cameras(path)


def _rewritten(message: bytes, path: tuple[int, ...], edit: Callable[[bytes], bytes]) -> bytes:
    """`message` with the payload of the first length-delimited field along `path` (a field
    number for each level of nesting) passed through `edit`; every other field as it was."""
    out, pos, done = bytearray(), 0, False
    while pos < len(message):
        start = pos
        key, pos = sieve.blocks._varint(message, pos)
        assert key & 7 in (0, 2)  # a PrimitiveBlock, its groups and DenseNodes hold no other
        if key & 7 == 0:
            _, pos = sieve.blocks._varint(message, pos)
        else:
            size, at = sieve.blocks._varint(message, pos)
            pos = at + size
            if key >> 3 == path[0] and not done:
                payload = message[at:pos]
                out += _bytes_field(path[0], edit(payload) if len(path) == 1 else
                                    _rewritten(payload, path[1:], edit))
                done = True
                continue
        out += message[start:pos]
    assert done
    return bytes(out)


MONACO_POLY = "monaco\n1\n7.40 43.72\n7.45 43.72\n7.45 43.76\n7.40 43.76\n7.40 43.72\nEND\nEND\n"
KeysVals = Callable[[list[int], list[bytes]], list[int]]


def _edited_tags(source: Path, target: Path, edit: KeysVals) -> Path:
    """`source` with the keys_vals of the first dense block that holds the camera strings
    passed through `edit` (with the block's string table), and a .poly beside, as extracts
    come: the sieve then samples none of its blocks."""
    data = source.read_bytes()
    for offset, length, kind, size in sieve.blocks.framing(source):
        raw = sieve.blocks.inflate(data[offset + length - size : offset + length])
        table = [bytes(text) for _, text in sieve.blocks._fields(sieve.blocks.primitive(raw).table)]
        if kind == "OSMData" and all(text in table for text in sieve.CAMERA_STRINGS):
            break

    def keys_vals(packed: bytes) -> bytes:
        values, pos = [], 0
        while pos < len(packed):
            value, pos = sieve.blocks._varint(packed, pos)
            values.append(value)
        return b"".join(_varint(v) for v in edit(values, table))

    raw = _rewritten(raw, (2, 2, 10), keys_vals)  # PrimitiveBlock.primitivegroup.dense.keys_vals
    target.write_bytes(data[:offset] + _data_frame(raw) + data[offset + length :])
    target.with_name(target.name.removesuffix(".osm.pbf") + ".poly").write_text(MONACO_POLY)
    return target


def _camera_runs(values: list[int], table: list[bytes]) -> list[tuple[int, int]]:
    """Where the tags of each man_made=surveillance node start and end (at its 0) in
    keys_vals `values`, found by a plain walk of them."""
    key, value = (table.index(text) for text in sieve.CAMERA_STRINGS)
    found, start = [], 0
    for at, index in enumerate(values):
        if index == 0:
            pairs = values[start:at]
            if (key, value) in zip(pairs[::2], pairs[1::2]):
                found.append((start, at))
            start = at + 1
    return found


def _replaced(values: list[int], at: int, value: int) -> list[int]:
    return [*values[:at], value, *values[at + 1 :]]


def _camera_value(values: list[int], table: list[bytes]) -> int:
    """The position in keys_vals of the value "surveillance" of the first camera's man_made."""
    start, end = _camera_runs(values, table)[0]
    key = table.index(sieve.CAMERA_STRINGS[0])
    return next(at + 1 for at in range(start, end, 2) if values[at] == key)


# Edits of the keys_vals of Monaco 2025's first camera block (11 of its 16 camera nodes), and
# what osmium-tool makes of the file then: None, it refuses it; else how many cameras it finds.
TAG_EDITS: dict[str, tuple[KeysVals, int | None]] = {
    "a key past the string table": (
        lambda values, table: _replaced(values, next(at for at, v in enumerate(values) if v), len(table)),
        None),
    "a camera's value past the string table": (
        lambda values, table: _replaced(values, _camera_value(values, table), len(table) + 100), None),
    "the column cut after the last camera's tags, unended": (
        lambda values, table: values[: _camera_runs(values, table)[-1][1]], 16),
    "the column only the first camera's tags, unended: the first node's": (
        lambda values, table: values[slice(*_camera_runs(values, table)[0])], 6),
    "a value 0 (to libosmium the empty string, no end) in the first camera's tags": (
        lambda values, table: _replaced(values, _camera_runs(values, table)[0][0] + 1, 0), 16),
}


@pytest.mark.parametrize("reader", ["C", "Python"])
@pytest.mark.parametrize("edit", list(TAG_EDITS))
def test_dense_tags_libosmium_refuses_or_reads_otherwise_are_left_to_it(
    monaco_2025: Path, tmp_path: Path, osm_cameras: Callable[[Path], list[OplObject]],
    monkeypatch: pytest.MonkeyPatch, edit: str, reader: str,
) -> None:
    """Dense tags that libosmium refuses, or splits between nodes otherwise than the sieve
    did, in a block it does not sample: the block is left to libosmium, and read_cameras
    gives osmium-tool's cameras, or its refusal as a DataError in its words (the C reader
    and its Python twin had read the block, silently losing or misplacing cameras)."""
    if reader == "Python":
        monkeypatch.setattr(sieve, "native", None)
    change, cameras = TAG_EDITS[edit]
    path = _edited_tags(monaco_2025, tmp_path / "edited.osm.pbf", change)
    if cameras is None:
        assert _refused_as_osmium_refuses(path, osm_cameras).startswith("PBF error")
        return
    expected = osm_cameras(path)
    assert len(expected) == cameras
    _same(read_cameras(path).cameras, expected)


# A node, a way and a relation tagged man_made=<the string 9, past the table of 3>, each as
# its PrimitiveGroup holds it (osmformat.proto: 1 nodes, 3 ways, 4 relations; in each, 1 id,
# 2 keys, 3 vals; a node's 8 lat and 9 lon, a way's 8 refs).
_PAST_THE_TABLE = _bytes_field(2, _varint(1)) + _bytes_field(3, _varint(9))
OBJECTS_PAST_THE_TABLE = {
    "node": _bytes_field(1, _varint(1 << 3) + _varint(8) + _PAST_THE_TABLE + _varint(8 << 3)
                         + _varint(2 * 437_400_000) + _varint(9 << 3) + _varint(2 * 74_200_000)),
    "way": _bytes_field(3, _varint(1 << 3) + _varint(10) + _PAST_THE_TABLE
                        + _bytes_field(8, _sint64s([1, 1]))),
    "relation": _bytes_field(4, _varint(1 << 3) + _varint(20) + _PAST_THE_TABLE),
}


@pytest.mark.parametrize("reader", ["C", "Python"])
@pytest.mark.parametrize("kind", list(OBJECTS_PAST_THE_TABLE))
def test_objects_tagged_past_the_string_table_are_refused_as_libosmium_refuses_them(
    monaco_2025: Path, tmp_path: Path, osm_cameras: Callable[[Path], list[OplObject]],
    monkeypatch: pytest.MonkeyPatch, kind: str, reader: str,
) -> None:
    """A block of a camera node and a node, way or relation whose tag's value index lies past
    the string table: osmium refuses the file; so does read_cameras, in its words (the C
    reader and its Python twin took the object for no camera and gave the camera node)."""
    if reader == "Python":
        monkeypatch.setattr(sieve, "native", None)
    path = _dense_file(tmp_path / "past.osm.pbf", monaco_2025, 3, [1, 2, 0, 0, 0],
                       OBJECTS_PAST_THE_TABLE[kind])
    assert _refused_as_osmium_refuses(path, osm_cameras) == "PBF error: string id out of range"


def _refused_as_osmium_refuses(path: Path, osm_cameras: Callable[[Path], list[OplObject]]) -> str:
    """osmium-tool's refusal of `path`, in its words, which read_cameras gives as a DataError."""
    import re
    import subprocess

    from osmcams.errors import DataError

    with pytest.raises(subprocess.CalledProcessError) as refused:
        osm_cameras(path)
    words = refused.value.stderr.strip()
    with pytest.raises(DataError, match=f"{re.escape(path.name)}: cannot read OSM data: {re.escape(words)}$"):
        read_cameras(path)
    return str(words)


@pytest.mark.parametrize("set_by_user", [None, "2"])
def test_workers_start_no_blas_threads_unless_asked(
    monkeypatch: pytest.MonkeyPatch, set_by_user: str | None
) -> None:
    """The sieve's workers multiply no matrix: they import numpy with a single OpenBLAS
    thread (its pool spins for a tenth of a second of CPU each), unless the user set it."""
    if set_by_user is None:
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", set_by_user)
    with sieve._workers(1) as pool:
        assert pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result(timeout=60) == (set_by_user or "1")


def test_candidates_reach_the_workers_as_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ids whose references are sought go to the workers with every chunk: pickled,
    they are the name of the file that holds them, mapped once by each worker, and read
    back the same. Each id of at least 0 has its bit (`id >> shift`) set."""
    import pickle

    import numpy

    ids = [17, -3, 5, 2**40 + 1, 5, 0]
    candidates = sieve.Candidates(ids)
    assert candidates.ids.tolist() == [-3, 0, 5, 17, 2**40 + 1]
    assert len(candidates.bits) * 8 <= 2 * sieve.MOST_BITS
    assert all(candidates.bits[(i >> candidates.shift) // 8] >> ((i >> candidates.shift) % 8) & 1
               for i in ids if i >= 0)
    alone = pickle.loads(pickle.dumps(candidates))
    assert numpy.array_equal(alone.ids, candidates.ids)
    with candidates.shared():
        sent = pickle.dumps(candidates)
        assert len(sent) < 300
        back = pickle.loads(sent)
        again = pickle.loads(sent)
    assert numpy.array_equal(back.ids, candidates.ids) and numpy.array_equal(back.bits, candidates.bits)
    assert back.shift == candidates.shift and again.ids is back.ids
    assert candidates.path is None and len(pickle.dumps(candidates)) > 300
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "file" / "tmp"))  # no file can be written
    (tmp_path / "file").touch()
    with candidates.shared():
        assert numpy.array_equal(pickle.loads(pickle.dumps(candidates)).ids, candidates.ids)


def test_the_candidates_file_of_a_killed_run_is_removed_by_the_next(tmp_path: Path) -> None:
    """The file lives in a temporary folder: gone after the block, and after a SIGKILL in
    the block, gone when the next run shares its candidates."""
    import subprocess

    killed = ("import os, signal, sys, tempfile\n"
              "tempfile.tempdir = sys.argv[1]\n"
              "from osmcams.sources.osm import sieve\n"
              "with sieve.Candidates([1, 2, 3]).shared():\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", killed, str(tmp_path)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert [p.name for p in tmp_path.rglob("*")][-1:] == ["candidates"]
    code = ("import sys, tempfile\n"
            "tempfile.tempdir = sys.argv[1]\n"
            "from osmcams.sources.osm import sieve\n"
            "candidates = sieve.Candidates([1, 2, 3])\n"
            "with candidates.shared():\n"
            "    assert candidates.path.startswith(sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert not list(tmp_path.iterdir())
