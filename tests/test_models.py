"""Camera records: direction parsing and tag normalisation."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from osmcams.models import CAMERA_FIELDS, Camera, direction_tag, iso_timestamp, make_camera, parse_direction


@pytest.mark.parametrize(
    ("raw", "degrees"),
    [
        ("90", 90.0),
        ("0", 0.0),
        ("360", 0.0),
        ("12.5", 12.5),
        ("-90", 270.0),
        ("450", 90.0),
        ("90°", 90.0),
        (" 180 ", 180.0),
        ("N", 0.0),
        ("NE", 45.0),
        ("nne", 22.5),
        ("WNW", 292.5),
        ("45-135", 90.0),
        ("300-60", 0.0),  # a range across north, read clockwise
        ("SW-NW", 270.0),
        ("E - S", 135.0),
        ("90;270", 90.0),  # a list: its first value
        ("NE;SW", 45.0),
    ],
)
def test_parse_direction_reads_numbers_compass_points_ranges_and_lists(raw: str, degrees: float) -> None:
    assert parse_direction(raw) == pytest.approx(degrees)


@pytest.mark.parametrize("raw", [None, "", " ", ";90", "forward", "backward", "north", "NE-", "12a", "N-x"])
def test_parse_direction_gives_null_for_junk(raw: str | None) -> None:
    assert parse_direction(raw) is None


def test_direction_keys_by_precedence() -> None:
    tags = {"surveillance:direction": "270", "direction": "180", "camera:direction": "90"}
    assert direction_tag(tags) == "90"
    del tags["camera:direction"]
    assert direction_tag(tags) == "180"
    del tags["direction"]
    assert direction_tag(tags) == "270"
    assert direction_tag({"direction": ""}) is None


def test_make_camera_normalises_tags() -> None:
    tags = {
        "man_made": "surveillance",
        "surveillance": "public",
        "surveillance:type": "ALPR",
        "camera:type": "fixed",
        "camera:mount": "pole",
        "surveillance:zone": "traffic",
        "operator": "Ville de Nice",
        "camera:direction": "SE",
    }
    camera, bad = make_camera("node", 42, 7.25, 43.7, tags, "2024-01-02T03:04:05Z")
    assert not bad
    assert camera == Camera(
        "node", 42, 7.25, 43.7, "public", "ALPR", "fixed", "pole", "traffic", "Ville de Nice",
        135.0, "2024-01-02T03:04:05Z", tags,
    )
    assert camera.key == "node/42"
    assert camera.tags is not tags  # a copy, so later edits of the source do not leak in
    assert list(camera.properties()) == [f for f in CAMERA_FIELDS if f not in ("lon", "lat")]


def test_make_camera_flags_an_unreadable_direction_only_when_present() -> None:
    _, bad = make_camera("node", 1, 0.0, 0.0, {"direction": "towards the bakery"})
    assert bad
    camera, bad = make_camera("way", 2, 0.0, 0.0, {"man_made": "surveillance"})
    assert not bad
    assert camera.direction is None
    assert camera.surveillance_type is None


def test_iso_timestamp() -> None:
    assert iso_timestamp(datetime(2019, 4, 21, 9, 50, 14, tzinfo=timezone.utc)) == "2019-04-21T09:50:14Z"
    assert iso_timestamp(datetime(1970, 1, 1, tzinfo=timezone.utc)) is None  # PBF without metadata
    assert iso_timestamp(None) is None


@pytest.mark.parametrize("values", [[], [7], [3, 3], [5, -2, 5, 9, -2, 0, 2**40], list(range(50, 0, -3)) * 2,
                                    [2**62, -2**62, 0, 2**62, 0]])
def test_array_sets_agree_with_numpy(values: list[int]) -> None:
    """The sort-based `unique`, `first_of_each` and `isin` give what numpy gives."""
    import numpy

    from osmcams.arrays import first_of_each, isin, unique

    array = numpy.array(values, numpy.int64)
    assert numpy.array_equal(unique(array), numpy.unique(array))
    assert numpy.array_equal(first_of_each(array), numpy.unique(array, return_index=True)[1])
    for known in ([], [5], [-2, 0, 7, 2**40, 50, 3], values[::2]):
        assert numpy.array_equal(isin(array, numpy.array(known, numpy.int64)), numpy.isin(array, known))


def test_first_of_each_on_the_squares_of_real_nodes(monaco_2025: Path) -> None:
    """The squares of 50 m (`footprint`'s thinning) of Monaco 2025's nodes and their ids:
    `first_of_each` packs each value with its position into one integer and sorts those, and
    gives what numpy's unique gives; ids spread over more than the packing holds, or unsigned,
    are sorted as they are, with the same result."""
    import numpy
    import osmium

    from osmcams.arrays import first_of_each

    nodes = [(n.id, n.location.lon, n.location.lat)
             for n in osmium.FileProcessor(str(monaco_2025), osmium.osm.NODE)]
    ids = numpy.array([n[0] for n in nodes], numpy.int64)
    metres = numpy.array([n[1:] for n in nodes]) * (111_195 * 0.72, 111_195)
    cells = numpy.floor(metres / 50).astype(numpy.int64)
    squares = cells[:, 0] * 1_000_003 + cells[:, 1]
    assert len(nodes) > 10_000 and len(numpy.unique(squares)) < len(nodes) / 3
    spread = numpy.concatenate((ids, [2**62, -2**62]))
    for values in (squares, numpy.concatenate((ids, ids[::-7])), ids.astype(numpy.uint64), spread):
        assert numpy.array_equal(first_of_each(values), numpy.unique(values, return_index=True)[1])
