"""The sieve's C reader (sources/osm/native.c) against its Python reference, block by
block, on every real extract and on every layout osmium-tool writes; and on damaged
blocks, which it must leave to the slower paths without crashing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest
from conftest import run_osmium
from test_sieve import LAYOUTS, TRICKY
from test_timeline import history as monaco_history  # noqa: F401 (Monaco 2025 and three diffs, a fixture)

from osmcams.sources.osm import blocks, sieve

REAL = [
    "big/graphhopper-rnv-rhein-neckar-2016.osm.pbf", "big/osrm-monaco-fr-riviera-2016.osm.pbf",
    "big/valhalla-bench-london-2020.osm.pbf", "big/valhalla-bench-munchen-2020.osm.pbf",
    "big/valhalla-docker-andorra-2021.osm.pbf", "big/valhalla-docker-liechtenstein-2021.osm.pbf",
    "helsinki-2019.osm.pbf", "monaco-2021-04-21.osm.pbf", "monaco-2025-02-07.osm.pbf",
    "saint-barthelemy/saint_barthelemy.osm.pbf",
]
WANTED = [sieve.Wanted(), sieve.Wanted(boundaries=True)]


def _blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """The offset and inflated bytes of every data block of `path`."""
    with open(path, "rb") as f:
        for offset, length, kind, size in blocks.framing(path):
            if kind == "OSMData":
                f.seek(offset + length - size)
                yield offset, blocks.inflate(f.read(size), offset)


def _node_ids(data: bytes) -> numpy.ndarray:
    """Every node id that the ways of a block refer to, by the Python reference."""
    return sieve.way_refs(data) if any(
        kind == blocks.GROUP_WAYS for kind, _ in blocks.primitive(data).groups) else numpy.empty(0, int)


def _reads_alike(path: Path) -> int:
    """Compare the readers on every block of `path`; how many cameras they found."""
    found = 0
    refs = numpy.unique(numpy.concatenate([_node_ids(data) for _, data in _blocks(path)]))
    # Candidates as the sampling gives them: runs of ids, some referred to and some not.
    candidates = sieve.Candidates(numpy.concatenate((refs[::7], refs[::7] + 1)))
    for offset, data in _blocks(path):
        for wanted in WANTED:
            fast = sieve.sift_block(data, wanted, offset)
            slow = sieve.read_block(data, wanted, offset) if fast != [] else []
            assert fast == slow, (path.name, offset, wanted)
            found += sum(len(cameras.ids) // 8 for cameras in fast or []
                         if isinstance(cameras, sieve.NodeCameras))
        assert numpy.array_equal(sieve.referenced(data, candidates),
                                 sieve.referenced_in_python(data, candidates))
    return found


def test_the_c_reader_is_built() -> None:
    """Without a compiler the package installs and reads every block in Python, slowly:
    CI must not pass that way."""
    assert sieve.native is not None



def _damaged(data: bytes, chosen: random.Random) -> bytes:
    """`data` cut short (three times in ten) or with one to seven bytes overwritten."""
    damaged = bytearray(data)
    if chosen.random() < 0.3:
        return bytes(damaged[: chosen.randrange(len(damaged))])
    for _ in range(chosen.randrange(1, 8)):
        damaged[chosen.randrange(len(damaged))] = chosen.randrange(256)
    return bytes(damaged)

@pytest.mark.real_data
@pytest.mark.parametrize("name", REAL)
def test_the_c_reader_reads_what_python_reads(osm_dir: Path, name: str) -> None:
    _reads_alike(osm_dir / name)


@pytest.mark.osmium
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_c_reader_reads_every_layout(tmp_path: Path, layout: str) -> None:
    opl = tmp_path / "tricky.opl"
    opl.write_text(TRICKY, encoding="utf-8")
    pbf = tmp_path / "tricky.osm.pbf"
    run_osmium("cat", opl, "-f", LAYOUTS[layout], "-o", pbf)
    assert _reads_alike(pbf) == (0 if layout == "plain nodes" else 4) * len(WANTED)


def _same_versions(fast: list[sieve.NodeVersions] | None, slow: list[sieve.NodeVersions] | None) -> None:
    assert (fast is None) == (slow is None)
    for a, b in zip(fast or [], slow or []):
        for name in sieve.COLUMNS:
            assert getattr(a, name).dtype == getattr(b, name).dtype, name
            assert numpy.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
        assert a.tags == b.tags
    assert len(fast or []) == len(slow or [])


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["monaco-2025-02-07.osm.pbf", "big/valhalla-bench-london-2020.osm.pbf"])
def test_the_c_reader_reads_node_versions_as_python_does(
    osm_dir: Path, name: str, monaco_history: Path, tmp_path: Path  # noqa: F811
) -> None:
    """History blocks: the Monaco history with its created, moved, retagged, untagged and
    deleted cameras, and a whole extract read as a history."""
    as_history = tmp_path / "as.osh.pbf"
    run_osmium("cat", osm_dir / name, "-o", as_history)  # .osh.pbf: a history header
    for path in (monaco_history, as_history):
        for offset, data in _blocks(path):
            for tags in (False, True):
                wanted = sieve.Wanted(history=True, tags=tags)
                fast = sieve.sift_block(data, wanted, offset)
                _same_versions(fast, sieve.read_block(data, wanted, offset) if fast != [] else [])


@pytest.mark.real_data
def test_unsorted_node_ids_are_refused_alike(osm_dir: Path, tmp_path: Path) -> None:
    """Two versions of a node in one block: both readers name the same pair of ids."""
    source = osm_dir / "monaco-2025-02-07.osm.pbf"
    camera = run_osmium("tags-filter", source, "n/man_made=surveillance", "-f", "opl",
                        "-o", "-").splitlines()[0]
    twice = camera.replace(" v", " v9", 1)
    opl = tmp_path / "twice.opl"
    opl.write_text(f"{camera}\n{twice}\n", encoding="utf-8")
    pbf = tmp_path / "twice.osm.pbf"
    run_osmium("cat", opl, "--no-progress", "-o", pbf)
    (offset, data), = list(_blocks(pbf))
    messages = []
    for read in (sieve.sift_block, sieve.read_block):
        with pytest.raises(blocks.Corrupt) as caught:
            read(data, sieve.Wanted(), offset)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert camera.split()[0][1:] in messages[0]


@pytest.mark.real_data
def test_damaged_blocks_never_crash_the_c_reader(osm_dir: Path) -> None:
    """Cut or flipped bytes: the C reader gives None (left to libosmium), a list, an id pair
    or the three arrays of `hugging`, never a crash; and where it reads a list, the Python
    reference agrees."""
    from google.protobuf.message import DecodeError

    chosen = random.Random(20)
    dense = [data for _, data in _blocks(osm_dir / "monaco-2025-02-07.osm.pbf")
             if sieve.sift_block(data, sieve.Wanted())]
    candidates = sieve.Candidates(numpy.arange(1, 10**10, 10**6, dtype=numpy.int64))
    sampled = sieve.Candidates(candidates.ids, numpy.column_stack((numpy.linspace(7, 8, len(candidates)),
                                                                   numpy.linspace(43, 44, len(candidates)))))
    for data in dense[:3]:
        for _ in range(300):
            damaged = _damaged(data, chosen)
            found = sieve.native.sift(damaged, sieve.CAMERA_STRINGS, sieve.BOUNDARY_STRINGS)
            assert found is None or isinstance(found, list | tuple)
            refs = sieve.native.referenced(damaged, candidates.bits, candidates.shift, candidates.ids)
            assert refs is None or isinstance(refs, bytes)
            hugs = sieve.native.hugging(damaged, sampled.bits, sampled.shift, sampled.ids,
                                        sampled.xy[0], sampled.xy[1], sieve.HUGGING_M)
            assert hugs is None or (isinstance(hugs, tuple) and len(hugs) == 3)
            if isinstance(found, list) and found:
                try:
                    slow = sieve.read_block(damaged, sieve.Wanted())
                except (DecodeError, ValueError, IndexError, blocks.Corrupt):
                    continue  # protobuf refuses what the C reader could read: it reads less
                if slow is not None:
                    assert [f[0] for f in found] == [f[0] for f in slow]


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["monaco-2025-02-07.osm.pbf", "big/valhalla-bench-munchen-2020.osm.pbf"])
def test_the_c_reader_finds_the_short_ways_pyosmium_finds(osm_dir: Path, name: str) -> None:
    """`sieve.hugging` of every block against pyosmium: the nodes of the ways whose nodes
    are all among the sampled ones (every other run of 1,000 node ids) and span at most
    HUGGING_M, with their way; and the ways that multipolygon relations have as members."""
    import math

    import osmium

    path = osm_dir / name
    places = {n.id: (n.location.lon, n.location.lat)
              for n in osmium.FileProcessor(str(path), osmium.osm.NODE) if n.location.valid()}
    ids = numpy.array(sorted(places))
    ids = ids[numpy.arange(len(ids)) // 1000 % 2 == 0]
    sampled = sieve.Candidates(ids, [places[i] for i in ids.tolist()])
    x, y = sampled.xy
    position = {node: at for at, node in enumerate(sampled.ids.tolist())}
    short, members = set(), set()
    for way in osmium.FileProcessor(str(path), osmium.osm.WAY):
        at = [position.get(n.ref) for n in way.nodes]
        if at and None not in at and math.hypot(numpy.ptp(x[at]), numpy.ptp(y[at])) <= sieve.HUGGING_M:
            short |= {(way.id, a) for a in at}
    for relation in osmium.FileProcessor(str(path), osmium.osm.RELATION):
        if relation.tags.get("type") == "multipolygon":
            members |= {m.ref for m in relation.members if m.type == "w"}
    found: set[tuple[int, int]] = set()
    noted: set[int] = set()
    for _, data in _blocks(path):
        hugs = sieve.hugging(data, sampled)
        assert hugs is not None
        found |= set(zip(hugs[1].tolist(), hugs[0].tolist()))
        noted |= set(hugs[2].tolist())
    assert short and members
    assert found == short and noted == members


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["monaco-2025-02-07.osm.pbf", "big/osrm-monaco-fr-riviera-2016.osm.pbf",
                                  "big/valhalla-bench-munchen-2020.osm.pbf"])
def test_python_finds_the_short_ways_the_c_reader_finds(osm_dir: Path, name: str) -> None:
    """`sieve.hugging_in_python` against the C reader, array for array, on every block: the
    sampled nodes are those of every other run of 1,000 node ids, as the dense blocks give
    them, so that some ways have all their nodes sampled and others not."""
    path = osm_dir / name
    groups = [group for _, data in _blocks(path) for group in blocks.node_samples(data)]
    ids = numpy.concatenate([group[0] for group in groups])
    places = numpy.concatenate([group[1] for group in groups])
    kept = numpy.arange(len(ids)) // 1000 % 2 == 0
    sampled = sieve.Candidates(ids[kept], places[kept])
    short = members = 0
    for offset, data in _blocks(path):
        fast = sieve.native.hugging(data, sampled.bits, sampled.shift, sampled.ids, sampled.xy[0],
                                    sampled.xy[1], sieve.HUGGING_M)
        slow = sieve.hugging_in_python(data, sampled)
        assert fast is not None and slow is not None, offset
        for c, python in zip(fast, slow):
            assert python.dtype == numpy.int64
            assert numpy.array_equal(numpy.frombuffer(c, numpy.int64), python), offset
        short, members = short + len(slow[0]), members + len(slow[2])
    assert short and members


@pytest.mark.real_data
def test_damaged_way_blocks_never_crash_the_python_short_ways(osm_dir: Path) -> None:
    """Cut or flipped bytes in Monaco's first way and relation blocks: `hugging_in_python`,
    which reads them when the C reader is not built, gives None or three arrays."""
    chosen = random.Random(18)
    kinds = (blocks.GROUP_WAYS, blocks.GROUP_RELATIONS)
    ways = [data for _, data in _blocks(osm_dir / "monaco-2025-02-07.osm.pbf")
            if any(kind in kinds for kind, _ in blocks.primitive(data).groups)]
    ids = numpy.arange(1, 10**10, 10**5, dtype=numpy.int64)
    sampled = sieve.Candidates(ids, numpy.column_stack((numpy.linspace(7, 8, len(ids)),
                                                        numpy.linspace(43, 44, len(ids)))))
    for data in (ways[0], ways[-1]):
        for _ in range(100):
            damaged = _damaged(data, chosen)
            hugs = sieve.hugging_in_python(damaged, sampled)
            assert hugs is None or (len(hugs) == 3 and all(part.dtype == numpy.int64 for part in hugs))


@pytest.mark.real_data
def test_counts_are_the_same_without_the_c_reader(osm_dir: Path, communes_06: Path,
                                                  cog_population: Path) -> None:
    """`osmcams count` on Monaco with OSMCAMS_NO_NATIVE set (every block read in Python, as
    an install without a compiler reads it) prints the same rows, coverage and notes, with
    the nodes of the short ways that the coverage is drawn from."""
    import os
    import re
    import subprocess
    import sys

    command = [sys.executable, "-m", "osmcams", "count", "--department", "06", "--pbf",
               str(osm_dir / "monaco-2025-02-07.osm.pbf"), "--boundaries", str(communes_06),
               "--population", str(cog_population), "-f", "json"]
    check = [sys.executable, "-c", "from osmcams.sources.osm import sieve; print(sieve.native is None)"]
    outputs = []
    for off in ("", "1"):
        env = {**os.environ, "OSMCAMS_NO_NATIVE": off}
        assert subprocess.run(check, env=env, capture_output=True, text=True).stdout == f"{bool(off)}\n"
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        outputs.append((re.sub(r'"generated": "[^"]*"', "", done.stdout), done.stderr))
    assert "and 33,641 nodes of its short ways" in outputs[0][1]
    assert "Cap-d'Ail (06032) 14%" in outputs[0][1]
    assert outputs[1] == outputs[0]
