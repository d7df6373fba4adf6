"""Cameras, data dates and admin boundaries read from real extracts, checked against osmium-tool."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from conftest import BROKEN_VARIANTS, OplObject, run_osmium

from osmcams.errors import DataError
from osmcams.sources.osm.pbf import Extract, read_cameras, scan_file

EXTRACTS = {
    "helsinki": "helsinki-2019.osm.pbf",
    "monaco-2025": "monaco-2025-02-07.osm.pbf",
    "munchen": "big/valhalla-bench-munchen-2020.osm.pbf",
    "london": "big/valhalla-bench-london-2020.osm.pbf",
    "rhein-neckar": "big/graphhopper-rnv-rhein-neckar-2016.osm.pbf",
    "saint-barthelemy": "saint-barthelemy/saint_barthelemy.osm.pbf",
}


@cache
def _read(path: Path) -> Extract:
    return read_cameras(path, threads=1)


@pytest.fixture(params=list(EXTRACTS))
def extract_pair(
    request: pytest.FixtureRequest, osm_dir: Path, osm_cameras: Callable[[Path], list[OplObject]]
) -> tuple[Path, Extract, list[OplObject]]:
    """(path, what osmcams reads, what osmium tags-filter finds) for each real extract."""
    path = osm_dir / EXTRACTS[request.param]
    return path, _read(path), osm_cameras(path)


def _fileinfo(path: Path) -> dict:
    return json.loads(run_osmium("fileinfo", "-e", "-j", path))


def _node_ids(camera_objects: list[OplObject]) -> dict[str, set[int]]:
    kinds = {"n": "node", "w": "way", "r": "relation"}
    found: dict[str, set[int]] = {"node": set(), "way": set(), "relation": set()}
    for obj in camera_objects:
        found[kinds[obj.kind]].add(obj.osm_id)
    return found


def test_every_surveillance_object_is_a_camera(extract_pair) -> None:
    _, extract, expected = extract_pair
    ours: dict[str, set[int]] = {"node": set(), "way": set(), "relation": set()}
    for camera in extract.cameras:
        ours[camera.osm_type].add(camera.osm_id)
    assert ours == _node_ids(expected)
    assert len(extract.cameras) == len(expected)


def test_node_cameras_sit_where_osmium_puts_them(extract_pair) -> None:
    _, extract, expected = extract_pair
    ours = {c.osm_id: c for c in extract.cameras if c.osm_type == "node"}
    for obj in (o for o in expected if o.kind == "n"):
        assert ours[obj.osm_id].lon == pytest.approx(obj.lon, abs=1e-7)
        assert ours[obj.osm_id].lat == pytest.approx(obj.lat, abs=1e-7)
        assert ours[obj.osm_id].tags == obj.tags
        assert ours[obj.osm_id].timestamp == obj.timestamp


def test_numeric_directions_are_read_and_none_is_junk(extract_pair) -> None:
    _, extract, expected = extract_pair
    tags = {(o.kind, o.osm_id): o.tags for o in expected}
    for camera in extract.cameras:
        raw = tags[(camera.osm_type[0], camera.osm_id)]
        value = raw.get("camera:direction") or raw.get("direction") or raw.get("surveillance:direction")
        assert camera.direction == (None if value is None else int(value) % 360)
    assert not any("direction" in w for w in extract.warnings)


@pytest.mark.parametrize(("name", "nodes", "ways"), [
    ("helsinki", 221, 0), ("munchen", 209, 0), ("london", 22, 1), ("rhein-neckar", 18, 3),
    ("monaco-2025", 16, 0), ("saint-barthelemy", 0, 0),
])
def test_camera_counts_from_the_data_readme(osm_dir: Path, name: str, nodes: int, ways: int) -> None:
    kinds = Counter(c.osm_type for c in _read(osm_dir / EXTRACTS[name]).cameras)
    assert (kinds["node"], kinds["way"], kinds["relation"]) == (nodes, ways, 0)


def test_munchen_type_and_scope_distributions(osm_dir: Path, osm_cameras) -> None:
    path = osm_dir / EXTRACTS["munchen"]
    expected = osm_cameras(path)
    cameras = _read(path).cameras
    assert Counter(c.surveillance_type for c in cameras) == Counter(
        o.tags.get("surveillance:type") for o in expected
    )
    assert Counter(c.surveillance for c in cameras) == Counter(o.tags.get("surveillance") for o in expected)
    # big/README.md says 194; osmium-tool and osmcams both find 200 (the other 9 have no type).
    assert sum(c.surveillance_type == "camera" for c in cameras) == 200
    assert {"indoor", "outdoor", "public"} <= {c.surveillance for c in cameras}


@pytest.mark.parametrize("name", ["london", "rhein-neckar"])
def test_camera_ways_sit_at_the_centre_of_their_bounding_box(osm_dir: Path, osmium_opl, name: str) -> None:
    path = osm_dir / EXTRACTS[name]
    ways = [c for c in _read(path).cameras if c.osm_type == "way"]
    assert ways
    for camera in ways:
        nodes = [o for o in osmium_opl("getid", "-r", path, f"w{camera.osm_id}") if o.kind == "n"]
        lons, lats = [n.lon for n in nodes], [n.lat for n in nodes]
        assert camera.lon == pytest.approx((min(lons) + max(lons)) / 2, abs=1e-7)
        assert camera.lat == pytest.approx((min(lats) + max(lats)) / 2, abs=1e-7)


def _outside_the_header_box(path: Path) -> tuple[tuple[float, ...], list[float], list[float]]:
    """The box of the header of `path` (osmium-tool), and how far outside it, in metres on the
    ellipsoid (pyproj), lie its tagged nodes that no way refers to and its cameras (a way at
    the centre of the bounding box of its nodes): a loop over every object with pyosmium."""
    import osmium
    from pyproj import Geod

    text = run_osmium("fileinfo", "-g", "header.boxes", path)
    west, south, east, north = box = tuple(float(v) for v in text.strip().strip("()").split(","))
    referred: set[int] = set()
    tagged, cameras = {}, []
    for obj in osmium.FileProcessor(str(path)).with_locations():
        camera = obj.tags.get("man_made") == "surveillance"
        if obj.is_node() and len(obj.tags):
            tagged[obj.id] = (obj.location.lon, obj.location.lat)
            if camera:
                cameras.append(tagged[obj.id])
        elif obj.is_way():
            referred.update(node.ref for node in obj.nodes)
            if camera:
                lons, lats = [n.lon for n in obj.nodes], [n.lat for n in obj.nodes]
                cameras.append(((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2))
    geod = Geod(ellps="WGS84")

    def metres(lon: float, lat: float) -> float:
        return geod.inv(lon, lat, min(max(lon, west), east), min(max(lat, south), north))[2]

    alone = [metres(*place) for osm_id, place in tagged.items() if osm_id not in referred]
    return box, alone, [metres(*place) for place in cameras]


@pytest.mark.parametrize("name", [
    "helsinki-2019.osm.pbf", "monaco-2021-04-21.osm.pbf", "saint-barthelemy/saint_barthelemy.osm.pbf",
    "big/osrm-monaco-fr-riviera-2016.osm.pbf", "big/graphhopper-rnv-rhein-neckar-2016.osm.pbf",
    "big/valhalla-docker-andorra-2021.osm.pbf", "big/valhalla-docker-liechtenstein-2021.osm.pbf",
    "big/valhalla-bench-munchen-2020.osm.pbf", "big/valhalla-bench-london-2020.osm.pbf",
])
def test_a_header_box_that_does_not_hold_the_data_is_not_taken_for_its_cut(osm_dir: Path, name: str) -> None:
    """An extract cut to a box keeps no standalone node (tagged, no way refers to it) outside
    it. München 2020 keeps 574 of its 4,700 further than 10 m outside its header's box (up to
    143 m), and 22 of its 209 cameras; London 2020 310 of 3,110 (up to 107 m): not the box
    they were cut with. They are read as files without a box, with a warning that says so;
    the other real extracts, none outside their box, keep it."""
    path = osm_dir / name
    box, alone, cameras = _outside_the_header_box(path)
    extract = _read(path)
    stray = sum(metres > 10 for metres in alone)
    said = [w for w in extract.warnings if "bounding box of its header" in w]
    assert bool(stray) == ("valhalla-bench" in name)
    if not stray:
        assert extract.bbox == pytest.approx(box) and not said
        return
    assert extract.bbox is None
    assert said == [
        f"{path.name}: {stray:,} of its {len(alone):,} standalone nodes and "
        f"{sum(metres > 10 for metres in cameras)} of its {len(cameras)} cameras lie outside the "
        f"bounding box of its header {tuple(round(v, 5) for v in box)}, up to {max(alone):,.0f} m: "
        "not the box it was cut with, so it does not bound where the file has data"
    ]


def test_data_date_from_the_replication_header(monaco_2025: Path) -> None:
    header = _fileinfo(monaco_2025)["header"]["option"]
    extract = _read(monaco_2025)
    assert extract.timestamp == header["osmosis_replication_timestamp"] == "2025-02-07T01:02:45Z"
    assert extract.timestamp_source == "file header (osmosis_replication_timestamp)"


def test_data_date_from_the_newest_camera(osm_dir: Path, osm_cameras) -> None:
    path = osm_dir / EXTRACTS["helsinki"]
    info = _fileinfo(path)
    assert "osmosis_replication_timestamp" not in info["header"]["option"]
    extract = _read(path)
    newest_camera = max(o.timestamp for o in osm_cameras(path))
    assert extract.timestamp == newest_camera == "2018-12-31T21:26:55Z"
    assert extract.timestamp_source == "newest camera or boundary"
    # The file's newest object is months younger, and the warning says the data may be newer.
    assert info["data"]["timestamp"]["last"] == "2019-04-21T09:50:14Z"
    assert extract.warnings == [
        "helsinki-2019.osm.pbf has no date in its header: its data date 2018-12-31T21:26:55Z is that "
        "of its newest camera or boundary, so the data may be newer"
    ]
    assert extract.bbox == pytest.approx(tuple(info["header"]["boxes"][0]))


def test_a_header_date_in_the_future_is_not_the_data_date(osm_dir: Path, osm_cameras, tmp_path: Path) -> None:
    """Monaco 2025 with a header saying 2030: counted as data of 2030 (its age -1,121 days),
    without a word. Its newest camera, as osmium reads it, is the data date, with a warning."""
    path = tmp_path / "future.osm.pbf"
    run_osmium("cat", osm_dir / EXTRACTS["monaco-2025"], "-o", path,
               "--output-header=osmosis_replication_timestamp=2030-01-01T00:00:00Z")
    extract = _read(path)
    assert extract.timestamp == max(o.timestamp for o in osm_cameras(path)) < "2026"
    assert extract.timestamp_source == "newest camera or boundary"
    assert any(w.startswith("future.osm.pbf: its header says 2030-01-01T00:00:00Z, in the future: its "
                            f"data date {extract.timestamp} is that of its newest camera")
               for w in extract.warnings), extract.warnings


# --- Synthetic OPL ----------------------------------------------------------------------

SYNTHETIC = """\
n1 v1 t2020-01-01T00:00:00Z Tman_made=surveillance,surveillance:type=camera,direction=forward x1.0 y2.0
n2 v1 t2021-06-01T00:00:00Z Tman_made=surveillance,camera:direction=NE,surveillance=public x1.5 y2.5
n3 v1 t2020-01-01T00:00:00Z Tman_made=surveillance,direction=north x1.0 y2.0
n10 v1 t2020-01-01T00:00:00Z T x0.0 y0.0
n11 v1 t2020-01-01T00:00:00Z T x0.2 y0.1
n12 v1 t2020-01-01T00:00:00Z T x0.1 y0.4
n13 v1 t2022-03-04T05:06:07Z T x5.0 y5.0
w20 v1 t2020-01-01T00:00:00Z Tman_made=surveillance,building=hut Nn10,n11,n12,n10
w21 v1 t2020-01-01T00:00:00Z Tman_made=surveillance Nn13,n99
w22 v1 t2020-01-01T00:00:00Z Tman_made=surveillance Nn98,n99
w23 v1 t2020-01-01T00:00:00Z T Nn11,n13
r30 v1 t2020-01-01T00:00:00Z Ttype=site,man_made=surveillance Mn1@,w23@
"""


def test_synthetic_ways_relations_and_warnings(write_text) -> None:
    extract = read_cameras(write_text("cams.opl", SYNTHETIC), threads=1)
    placed = {c.key: (c.lon, c.lat) for c in extract.cameras}
    assert placed == {
        "node/1": (1.0, 2.0),
        "node/2": (1.5, 2.5),
        "node/3": (1.0, 2.0),
        "way/20": (pytest.approx(0.1), pytest.approx(0.2)),
        "way/21": (5.0, 5.0),  # only n13 is in the file
        "relation/30": (pytest.approx(2.6), pytest.approx(2.55)),  # bbox of n1, n11 and n13
    }
    assert [c.direction for c in extract.cameras[:3]] == [None, 45.0, None]
    assert extract.warnings == [
        "2 cameras have a direction that cannot be read; set to null",
        "1 camera ways or relations have nodes missing from the extract; "
        "placed at the centre of what is present: way/21",
        "1 camera ways or relations have no node in the extract and are left out: way/22",
        "cams.opl has no date in its header: its data date 2021-06-01T00:00:00Z is that of its "
        "newest camera or boundary, so the data may be newer",
        # Sampled as the same data as a PBF is: too few nodes to say where it has data.
        "cams.opl: where it has data is unknown, as its nodes cannot be sampled: it holds too few nodes",
    ]
    assert extract.timestamp == "2021-06-01T00:00:00Z"  # n2, not the untagged n13 of 2022


def test_an_unsorted_opl_is_read_as_it_is_and_the_same_pbf_refused(write_text, tmp_path: Path) -> None:
    """Not sorted by id (as Overpass's "out qt" writes, or an editor): an OPL or XML file is
    read whole as it is, its nodes unsampled, and says so; the same data as a PBF, which
    the sieve reads by blocks, is refused, the error naming the user's file."""
    opl = write_text("unsorted.opl", SYNTHETIC.replace("n2 v1", "n200 v1"))  # n200 before n3
    pbf = tmp_path / "unsorted.osm.pbf"
    run_osmium("cat", opl, "-o", pbf)
    with pytest.raises(DataError) as caught:
        read_cameras(pbf, threads=1)
    assert str(caught.value).startswith(f"{pbf}: node/3 follows node/200 in the block at byte ")
    assert str(caught.value).endswith("or is not sorted by id")
    expected = {f"{line[0].replace('n', 'node').replace('w', 'way').replace('r', 'relation')}/"
                f"{line.split()[0][1:]}" for line in run_osmium(
                    "tags-filter", opl, "man_made=surveillance", "-R", "-f", "opl", "-o", "-").splitlines()}
    extract = read_cameras(opl, threads=1)
    assert {c.key for c in extract.cameras} == expected - {"way/22"}  # w22: none of its nodes here
    assert {c.key: (c.lon, c.lat) for c in extract.cameras}["node/200"] == (1.5, 2.5)
    assert extract.data_area is None
    assert ("unsorted.opl is not sorted by id (node/3 follows node/200): read as it is, its nodes "
            "unsampled") in extract.warnings
    assert ("unsorted.opl: where it has data is unknown, as its nodes cannot be sampled: it is not "
            "sorted by id") in extract.warnings


def test_synthetic_boundary_assembly(write_text) -> None:
    opl = """\
n1 v1 x0 y0
n2 v1 x1 y0
n3 v1 x1 y1
n4 v1 x0 y1
w1 v1 Nn1,n2,n3
w2 v1 Nn1,n4,n3
r1 v1 Tboundary=administrative,admin_level=8,name=Carré,ref:INSEE=99001 Mw1@outer,w2@outer
r2 v1 Tboundary=administrative,admin_level=8,name=Troué Mw1@outer,w9@outer
r3 v1 Tboundary=administrative,admin_level=6,name=Autre Mw1@outer,w2@outer
"""
    _, boundaries = scan_file(write_text("b.opl", opl), admin_level=8, threads=1)
    assert [b.relation_id for b in boundaries] == [1, 2]
    assert boundaries[0].geometry.area == pytest.approx(1.0)
    assert boundaries[0].problem is None
    assert boundaries[1].geometry is None
    assert boundaries[1].problem == "1 of 2 member ways missing from the extract"


# --- Boundaries from the real extracts ---------------------------------------------------

INCOMPLETE_IN_MONACO = {"06012": "Beausoleil", "06032": "Cap-d'Ail", "06150": "La Turbie",
                        "06104": "Roquebrune-Cap-Martin"}


def test_monaco_2025_french_boundaries_are_incomplete(monaco_scan) -> None:
    _, boundaries = monaco_scan
    french = {b.tags["ref:INSEE"]: b for b in boundaries if "ref:INSEE" in b.tags}
    assert {code: b.tags["name"] for code, b in french.items()} == INCOMPLETE_IN_MONACO
    for boundary in french.values():
        assert boundary.geometry is None
        assert "missing from the extract" in boundary.problem
    assert [b.tags["name"] for b in boundaries if b.geometry is not None] == ["Monaco"]


def test_saint_barthelemy_is_an_admin_level_3_relation(osm_dir: Path) -> None:
    extract, boundaries = scan_file(osm_dir / EXTRACTS["saint-barthelemy"], admin_level=3, threads=1)
    (relation,) = [b for b in boundaries if b.relation_id == 537967]
    # The collectivity carries ref:INSEE=97-7, not its commune code 97701.
    assert relation.tags["admin_level"] == "3"
    assert relation.tags["ref:INSEE"] == "97-7"
    assert relation.tags["population"] == "9035"
    assert relation.geometry is not None and relation.geometry.is_valid
    assert extract.cameras == []
    assert extract.timestamp == _fileinfo(osm_dir / EXTRACTS["saint-barthelemy"])["data"]["timestamp"]["last"]


# --- Broken files -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", BROKEN_VARIANTS)
def test_broken_files_raise_data_error(broken_pbfs: dict[str, Path], variant: str) -> None:
    path = broken_pbfs[variant]
    with pytest.raises(DataError, match=path.name):
        scan_file(path, admin_level=8, threads=1)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_cameras(tmp_path / "nowhere.osm.pbf")
