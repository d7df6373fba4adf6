"""The PBF block index: first ids checked against osmium-tool, subsets that hold what is asked."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import run_osmium

from osmcams.sources.osm import blocks
from osmcams.sources.osm.pbf import scan_file

FILES = (
    "helsinki-2019.osm.pbf",
    "monaco-2025-02-07.osm.pbf",
    "big/graphhopper-rnv-rhein-neckar-2016.osm.pbf",
    "saint-barthelemy/saint_barthelemy.osm.pbf",
)


def _ids(path: Path, kind: str) -> list[int]:
    """Every id of one kind in `path`, in file order, as osmium-tool reads them."""
    prefix = kind[0]
    text = run_osmium("cat", path, "-f", "opl", "-t", kind)
    return [int(line.split(" ", 1)[0][1:]) for line in text.splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize("name", FILES)
def test_first_ids_are_real_and_increasing(osm_dir: Path, name: str) -> None:
    path = osm_dir / name
    layout = blocks.index(path)
    node_ids = _ids(path, "node")
    firsts = [b.first_id for b in layout.blocks["node"]]
    assert firsts[0] == node_ids[0]
    assert firsts == sorted(firsts) and set(firsts) <= set(node_ids)
    way_firsts = [b.first_id for b in layout.blocks["way"][1:]]
    assert set(way_firsts) <= set(_ids(path, "way"))


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("kind", ["node", "way"])
def test_a_subset_holds_every_wanted_object(osm_dir: Path, tmp_path: Path, name: str, kind: str) -> None:
    path = osm_dir / name
    every = _ids(path, kind)
    wanted = random.Random(7).sample(every, min(40, len(every)))
    subset = tmp_path / "subset.osm.pbf"
    blocks.write_subset(path, blocks.index(path), kind, wanted, subset)
    assert set(wanted) <= set(_ids(subset, kind))
    assert subset.stat().st_size <= path.stat().st_size


def test_a_header_alone_has_no_data(osm_dir: Path, tmp_path: Path) -> None:
    path = osm_dir / "helsinki-2019.osm.pbf"
    header = blocks.index(path).header
    cut = tmp_path / "header.osm.pbf"
    cut.write_bytes(path.read_bytes()[: header.offset + header.length])
    assert blocks.has_data(path)
    assert not blocks.has_data(cut)


def test_garbage_is_not_indexable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"\x00\x00\x00\x05hello, not a PBF")
    with pytest.raises(blocks.Unindexable):
        blocks.index(junk)


def test_an_unsorted_file_is_not_indexable(osm_dir: Path, tmp_path: Path) -> None:
    joined = tmp_path / "joined.osm.pbf"  # two files one after the other: ways before nodes
    run_osmium("cat", osm_dir / "helsinki-2019.osm.pbf", osm_dir / "monaco-2025-02-07.osm.pbf",
               "-o", joined)
    with pytest.raises(blocks.Unindexable, match="not sorted"):
        blocks.index(joined)


def test_an_unsorted_file_is_still_counted_right(osm_dir: Path, tmp_path: Path, osm_cameras) -> None:
    joined = tmp_path / "joined.osm.pbf"
    parts = [osm_dir / "monaco-2025-02-07.osm.pbf", osm_dir / "helsinki-2019.osm.pbf"]
    run_osmium("cat", *parts, "-o", joined)
    extract, found = scan_file(joined, admin_level=8)
    assert len(extract.cameras) == sum(len(osm_cameras(part)) for part in parts)
    assert [b.geometry is not None for b in found if b.tags.get("name") == "Monaco"] == [True]


@pytest.mark.parametrize("name", FILES)
def test_the_cells_of_points_are_those_numpy_unique_finds(osm_dir: Path, name: str) -> None:
    """`_cells`, the fast path of `spread_area`, against numpy.unique over rows, on the
    sampled nodes of real extracts, with grids of several sizes and corners beyond them."""
    import numpy

    points = blocks.sample(osm_dir / name).points
    for size in (1e-4, 3e-3, 0.05):
        for low in (points.min(axis=0), points.min(axis=0) + 0.01, points.max(axis=0)):
            expected = numpy.unique(numpy.floor((points - low) / size), axis=0)
            assert numpy.array_equal(blocks._cells(points, low, size), expected)
