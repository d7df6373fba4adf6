"""quality on real extracts, against an independent loop over osmium-tool's OPL output."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import MARKED_NAME, assert_rows, markdown_tables, run_osmium, shown_cell
from pyproj import Geod

from osmcams.cli import cli

KEYS = ("surveillance", "surveillance:type", "camera:type", "camera:mount", "camera:direction",
        "surveillance:zone", "operator")
# The values the OSM wiki documents for man_made=surveillance, written out again here.
WIKI = {
    "surveillance": ("public", "outdoor", "indoor"),
    "surveillance:type": ("camera", "guard", "ALPR", "gunshot_detector"),
    "surveillance:zone": ("town", "parking", "traffic", "shop", "bank", "building", "entrance",
                          "nesting_site"),
    "camera:type": ("fixed", "panning", "dome"),
    "camera:mount": ("wall", "pole", "ceiling", "street_lamp"),
}
# The 16 points of the compass, and a bearing in degrees (negative ones turn anticlockwise).
POINTS = "N|NNE|NE|ENE|E|ESE|SE|SSE|S|SSW|SW|WSW|W|WNW|NW|NNW"
ANGLE = rf"(-?\d+(\.\d+)?°?|{POINTS})"


def invoke(*args: str | Path) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def readable_direction(value: str) -> bool:
    """Every part of a `;` list is a bearing or a range of two."""
    return all(re.fullmatch(rf"{ANGLE}(\s*-\s*{ANGLE})?", part.strip().upper())
               for part in value.split(";"))


def expected(cameras: list[Any]) -> dict[str, Any]:
    """The row quality should give, from the OPL tags alone."""
    missing = Counter()
    odd: dict[str, Counter] = {}
    notes = 0
    unreadable = []
    for camera in cameras:
        tags = camera.tags
        is_camera = tags.get("surveillance:type") not in ("guard", "gunshot_detector")
        direction = next((tags[k] for k in ("camera:direction", "direction", "surveillance:direction")
                          if tags.get(k)), None)
        for key in KEYS:
            if key in ("camera:type", "camera:mount") and not is_camera:
                continue
            if key == "camera:direction":
                if is_camera and tags.get("camera:type") not in ("dome", "panning") and not direction:
                    missing[key] += 1
            elif not tags.get(key):
                missing[key] += 1
        for key, values in WIKI.items():
            if key in tags and tags[key] not in values:
                odd.setdefault(key, Counter())[tags[key]] += 1
        if direction and not readable_direction(direction):
            odd.setdefault("camera:direction", Counter())[direction] += 1
            key = next(k for k in ("camera:direction", "direction", "surveillance:direction") if tags.get(k))
            unreadable.append({"@id": f"node/{camera.osm_id}", "key": key, "value": direction})
        notes += any(tags.get(k) for k in ("fixme", "FIXME", "note"))
    geod = Geod(ellps="WGS84")
    close = sum(
        geod.inv(a.lon, a.lat, b.lon, b.lat)[2] < 3.0 for a, b in itertools.combinations(cameras, 2)
    )
    return {
        "cameras": len(cameras),
        "missing": {key: missing[key] for key in KEYS},
        "fixme": notes,
        "odd_values": {key: dict(values) for key, values in odd.items()},
        "near_duplicates": close,
        "unreadable_directions": unreadable,
    }


def box_around(cameras: list[Any], write_text, name: str) -> Path:
    """A GeoJSON commune covering every camera with a margin."""
    lons, lats = [c.lon for c in cameras], [c.lat for c in cameras]
    w, s, e, n = min(lons) - 0.01, min(lats) - 0.01, max(lons) + 0.01, max(lats) + 0.01
    feature = {"type": "Feature", "properties": {"code": "X0001", "nom": name},
               "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}
    return write_text(f"{name}.geojson", json.dumps({"type": "FeatureCollection", "features": [feature]}))


@pytest.mark.parametrize("extract", ["helsinki-2019.osm.pbf", "big/valhalla-bench-munchen-2020.osm.pbf",
                                     "monaco-2025-02-07.osm.pbf"])
def test_quality_agrees_with_a_loop_over_osmium(
    extract: str, osm_dir: Path, osm_cameras, write_text, tmp_path: Path
) -> None:
    pbf = osm_dir / extract
    cameras = osm_cameras(pbf)
    assert cameras and all(c.kind == "n" for c in cameras)
    boundary = box_around(cameras, write_text, "Zone")
    todo = tmp_path / "todo"
    result = invoke("quality", "--commune", "X0001", "--pbf", pbf, "--boundaries", boundary,
                    "-q", "-f", "json", "--output-dir", todo)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["communes"][0]
    want = expected(cameras)
    assert {key: row[key] for key in want} == want
    features = json.loads((todo / "x0001-zone.geojson").read_text(encoding="utf-8"))["features"]
    assert len(features) == row["to_complete"]
    for feature in features:
        properties = feature["properties"]
        assert properties["@id"].startswith("node/")
        assert properties["osm_url"] == f"https://www.openstreetmap.org/{properties['@id']}"
        assert properties["description"] and properties["name"]


# An unreadable direction full of Markdown: a "|", a line break, emphasis, a link, "\\*".
MARKED_DIRECTION = "N|E\n*x* [a](b) \\*"


def with_direction(pbf: Path, value: str, tmp_path: Path) -> Path:
    """`pbf` with camera:direction=`value` on its first camera node without a direction (osmium
    cat through OPL)."""
    opl = tmp_path / "cameras.opl"
    run_osmium("cat", pbf, "-f", "opl", "-o", opl)
    escaped = "".join(c if c.isascii() and c.isalnum() else f"%{ord(c):x}%" for c in value)
    lines = opl.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if (line.startswith("n") and "man_made=surveillance" in line
                and not re.search(r"[ ,T](camera:|surveillance:)?direction=", line)):
            lines[i] = line.replace(" T", f" Tcamera%3a%direction={escaped},", 1)
            break
    opl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "cameras.osm.pbf"
    run_osmium("cat", opl, "-o", target)
    return target


@pytest.mark.parametrize("extract", ["monaco-2025-02-07.osm.pbf", "big/valhalla-bench-munchen-2020.osm.pbf"])
def test_markdown_agrees_with_json_and_a_loop_over_osmium(
    extract: str, osm_dir: Path, osm_cameras, tmp_path: Path
) -> None:
    """Markdown, on stdout and in FILE.md: the commune's row as JSON gives it, each count as
    the loop over osmium's cameras finds it (missing:<key> for each checked key, the odd
    values counted), "≥" before each since the box lies partly outside the data; then the
    odd values and the unreadable directions, a row each, as the loop finds them. The
    commune's name and a camera:direction full of Markdown stay one cell of text each."""
    pbf = osm_dir / extract
    if extract.startswith("monaco"):
        pbf = with_direction(pbf, MARKED_DIRECTION, tmp_path)
    cameras = osm_cameras(pbf)
    lons, lats = [c.lon for c in cameras], [c.lat for c in cameras]
    w, s, e, n = min(lons) - 0.01, min(lats) - 0.01, max(lons) + 0.01, max(lats) + 0.01
    boundary = tmp_path / "zone.geojson"
    boundary.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "X0001", "nom": MARKED_NAME},
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}]}))
    args = ("quality", "--commune", "X0001", "--pbf", pbf, "--boundaries", boundary, "-q")
    row = json.loads(invoke(*args, "-f", "json").stdout)["communes"][0]
    text = invoke(*args, "-f", "markdown").stdout
    assert invoke(*args, "-o", tmp_path / "t.md").exit_code == 0
    assert (tmp_path / "t.md").read_text(encoding="utf-8") == text
    want = expected(cameras)
    odd = [(key, value, count) for key, values in want["odd_values"].items()
           for value, count in values.items()]
    counts = {"cameras": want["cameras"], **{f"missing:{key}": want["missing"][key] for key in KEYS},
              "fixme": want["fixme"], "odd_values": sum(count for *_, count in odd),
              "near_duplicates": want["near_duplicates"]}
    assert {key: row[key] for key in want} == want
    assert row["partial"] and bool(want["unreadable_directions"]) == (pbf.name == "cameras.osm.pbf")
    main, *more = markdown_tables(text)
    bounds = (*counts, "to_complete")
    cells = assert_rows(main, [{**row, **counts}], bounds)["X0001"]
    assert {key: cells[key] for key in counts} == {key: f"≥{n}" for key, n in counts.items()}
    name = shown_cell(MARKED_NAME)
    assert cells["name"] == name == "Beau|so\\|leil *x* [a](b) <i>`c\\` C:\\* \\x1b_"
    assert len(more) == bool(odd) + bool(want["unreadable_directions"])
    if odd:
        shown = [("X0001", name, "True", key, shown_cell(value), f"≥{count}") for key, value, count in odd]
        assert sorted(map(tuple, more[0][1:])) == sorted(shown)
    if want["unreadable_directions"]:
        direction = shown_cell(MARKED_DIRECTION)
        assert more[1][1:] == [["X0001", name, bad["@id"], bad["key"], direction]
                               for bad in want["unreadable_directions"]]
        assert ("camera:direction", direction, "≥1") in {tuple(r[3:]) for r in more[0][1:]}


def test_a_todo_file_states_its_data_date(monaco_2025: Path, osm_cameras, write_text, tmp_path: Path) -> None:
    """The to-do GeoJSON carries count's `meta` as a foreign member of its FeatureCollection:
    the data date `osmium fileinfo` reads in the extract's header, and the source."""
    from conftest import run_osmium

    stamp = run_osmium("fileinfo", "-g", "header.option.osmosis_replication_timestamp", monaco_2025).strip()
    boundary = box_around(osm_cameras(monaco_2025), write_text, "Zone")
    todo = tmp_path / "todo"
    result = invoke("quality", "--commune", "X0001", "--pbf", monaco_2025, "--boundaries", boundary, "-q",
                    "-f", "json", "--output-dir", todo)
    assert result.exit_code == 0, result.output

    def refuse(word: str) -> None:
        raise ValueError(f"not JSON: {word}")

    collection = json.loads((todo / "x0001-zone.geojson").read_text(encoding="utf-8"), parse_constant=refuse)
    assert collection["type"] == "FeatureCollection" and collection["features"]
    assert collection["meta"]["data_timestamp"] == stamp == "2025-02-07T01:02:45Z"
    assert collection["meta"]["source"] == str(monaco_2025)
    assert isinstance(collection["warnings"], list)


def test_a_todo_file_of_a_partly_covered_commune_is_said_a_lower_bound(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """The Monaco extract holds part of Beausoleil, Cap-d'Ail and Roquebrune-Cap-Martin: the
    line naming each to-do file says its number is a lower bound, as export's lines do (a
    "0 cameras to complete" of a commune 3 % covered would read as nothing left to do)."""
    todo = tmp_path / "todo"
    result = invoke("quality", "--commune", "06012", "--commune", "06032", "--commune", "06104",
                    "--pbf", monaco_2025, "--boundaries", communes_06, "-q", "-f", "json",
                    "--output-dir", todo)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["communes"]
    assert [r["partial"] for r in rows] == [True, True, True]
    for row in rows:
        path = next(todo.glob(f"{row['insee']}-*.geojson"))
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
        number = f"{len(features)} camera{'' if len(features) == 1 else 's'}"
        line = f"{path}: {number} to complete, a lower bound (coverage {row['coverage']:.0%})"
        assert line in result.stderr.splitlines()


def test_plain_words_on_a_synthetic_camera(tmp_path: Path, write_text) -> None:
    from conftest import run_osmium

    opl = write_text("c.opl", "\n".join([
        "n1 v1 dV c1 t2024-01-01T00:00:00Z i1 uu Tman_made=surveillance,surveillance:type=ALPR;camera,"
        "fixme=check x2.35 y48.86",
        "n2 v1 dV c1 t2024-01-01T00:00:00Z i1 uu Tman_made=surveillance,surveillance=public,"
        "surveillance:type=camera,camera:type=dome,camera:mount=pole,surveillance:zone=town,"
        "operator=Ville x2.3500100 y48.86",
        "n3 v1 dV c1 t2024-01-01T00:00:00Z i1 uu Tman_made=surveillance,surveillance:type=guard,"
        "surveillance=public,surveillance:zone=town,operator=X x2.36 y48.87",
    ]) + "\n")
    pbf = tmp_path / "c.osm.pbf"
    run_osmium("cat", opl, "-o", pbf)
    boundary = box_around([type("P", (), {"lon": 2.35, "lat": 48.86})(),
                           type("P", (), {"lon": 2.36, "lat": 48.87})()], write_text, "Ville")
    todo = tmp_path / "todo"
    result = invoke("quality", "--commune", "Ville", "--pbf", pbf, "--boundaries", boundary, "-q",
                    "-f", "json", "--output-dir", todo)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["communes"][0]
    assert row["odd_values"] == {"surveillance:type": {"ALPR;camera": 1}}
    assert row["near_duplicates"] == 1  # n1 and n2 lie 0.7 m apart
    features = {f["properties"]["@id"]: f["properties"]
                for f in json.loads((todo / "x0001-ville.geojson").read_text(encoding="utf-8"))["features"]}
    assert set(features) == {"node/1", "node/2"}  # the guard lacks nothing
    assert features["node/1"]["description"] == (
        "no surveillance (public, outdoor or indoor); no camera:type; no mount; no direction; no zone; "
        "no operator; odd surveillance:type=ALPR;camera; fixme: check; near duplicate, 0.7 m from node/2"
    )
    assert features["node/2"]["description"] == "near duplicate, 0.7 m from node/1"


def test_every_direction_form_and_the_unreadable_ones(tmp_path: Path, write_text) -> None:
    from conftest import run_osmium

    forms = {  # node: (key, value, readable)
        1: ("camera:direction", "90", True), 2: ("camera:direction", "NNE", True),
        3: ("camera:direction", "90-270", True), 4: ("camera:direction", "90;270", True),
        5: ("direction", "SW-NW", True), 6: ("surveillance:direction", "-45", True),
        7: ("camera:direction", "N;120-200", True), 8: ("camera:direction", "up", False),
        9: ("direction", "towards the bakery", False), 10: ("surveillance:direction", "90;", False),
        11: ("camera:direction", "NE-", False), 12: ("camera:direction", "NSN", False),
    }
    lines = [f"n{node} v1 dV c1 t2024-01-01T00:00:00Z i1 uu Tman_made=surveillance,"
             f"{key}={value.replace(' ', '%20%').replace(';', '%3b%')} x{2.35 + node * 0.001} y48.86"
             for node, (key, value, _) in forms.items()]
    pbf = tmp_path / "d.osm.pbf"
    run_osmium("cat", write_text("d.opl", "\n".join(lines) + "\n"), "-o", pbf)
    boundary = box_around([type("P", (), {"lon": 2.35, "lat": 48.86})(),
                           type("P", (), {"lon": 2.37, "lat": 48.86})()], write_text, "Ville")
    result = invoke("quality", "--commune", "Ville", "--pbf", pbf, "--boundaries", boundary, "-q",
                    "-f", "json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["communes"][0]
    assert row["unreadable_directions"] == [
        {"@id": f"node/{node}", "key": key, "value": value}
        for node, (key, value, readable) in forms.items() if not readable]
    assert all(readable_direction(value) == readable for key, value, readable in forms.values())
    assert row["missing"]["camera:direction"] == 0
    # Each odd value under the key it is tagged with: direction=towards… was filed under
    # camera:direction, where a mapper looking for it would not find it.
    unread = Counter((key, value) for key, value, readable in forms.values() if not readable)
    assert {(k, v): n for k, values in row["odd_values"].items() for v, n in values.items()
            if k.endswith("direction")} == dict(unread)
    table = invoke("quality", "--commune", "Ville", "--pbf", pbf, "--boundaries", boundary, "-q").stdout
    assert "Directions osmcams cannot read" in table and "towards the bakery" in table


@pytest.mark.parametrize("metres", [3.0, 40.0])
def test_near_duplicates_are_the_pairs_a_loop_over_every_pair_finds(
    metres: float, osm_dir: Path, osm_cameras
) -> None:
    """The grid finds every pair closer than `metres` on the ellipsoid, and only those."""
    from osmcams.analysis.quality import near_duplicates
    from osmcams.models import make_camera

    found = osm_cameras(osm_dir / "helsinki-2019.osm.pbf")
    cameras = [make_camera("node", c.osm_id, c.lon, c.lat, c.tags)[0] for c in found]
    geod = Geod(ellps="WGS84")
    want = {(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(cameras), 2)
            if geod.inv(a.lon, a.lat, b.lon, b.lat)[2] < metres}
    pairs = near_duplicates(cameras, metres)
    assert {(i, j) for i, j, _ in pairs} == want
    assert want  # some pairs to find
    for i, j, d in pairs:
        assert d == pytest.approx(geod.inv(cameras[i].lon, cameras[i].lat, cameras[j].lon, cameras[j].lat)[2])


def test_a_partly_covered_commune_is_marked_as_in_count(monaco_2025: Path, communes_06: Path) -> None:
    """Roquebrune-Cap-Martin, a few percent inside the Monaco extract: its 0 is a floor, as in
    `count`, with the same coverage; the communes outside the data have no numbers."""
    args = ("--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06, "-q", "-f", "json")
    counted = json.loads(invoke("count", *args).stdout)["communes"]
    result = invoke("quality", *args)
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in json.loads(result.stdout)["communes"]}
    for row in counted:
        mine = rows[row["insee"]]
        assert (mine["partial"], mine["coverage"]) == (row["partial"], row["coverage"])
    assert rows["06104"]["partial"] and rows["06104"]["cameras"] == 0
    table = invoke("quality", *args[:-2], "--format", "table").stdout
    assert "≥0" in table and "only partly inside the data" in table


def test_a_commune_named_outside_the_data_keeps_its_row_without_numbers(
    monaco_2025: Path, communes_06: Path, ign_shapes, osmium_opl
) -> None:
    """Nice, named before Beausoleil, holds no node of the Monaco extract (osmium cat and
    shapely): as in count, it keeps its row, in the order asked, with no numbers and count's
    note as the reason ("no data: outside the OSM data"), in JSON, in the table and in
    Markdown ("–", never 0); it was left out. The table at 80 columns, whose Note column
    goes for want of width, says under it what its "–" means."""
    import shapely

    nodes = [o for o in osmium_opl("cat", monaco_2025) if o.kind == "n"]
    nice = ign_shapes(communes_06)["06088"]
    assert not shapely.contains_xy(nice, [o.lon for o in nodes], [o.lat for o in nodes]).any()
    args = ("quality", "--commune", "06088", "--commune", "06012", "--pbf", monaco_2025,
            "--boundaries", communes_06, "-q")
    rows = json.loads(invoke(*args, "-f", "json").stdout)["communes"]
    assert [r["insee"] for r in rows] == ["06088", "06012"]
    numbers = ("cameras", "missing", "fixme", "odd_values", "near_duplicates", "to_complete")
    assert all(rows[0][key] is None for key in numbers)
    assert rows[0]["reason"] == "no data: outside the OSM data"
    counted = json.loads(invoke("count", *args[1:], "-f", "json").stdout)["communes"]
    assert counted[0]["note"] == rows[0]["reason"]
    assert rows[1]["cameras"] == 1
    table = CliRunner(env={"COLUMNS": "80"}).invoke(cli, [*map(str, args), "-f", "table"]).stdout
    assert re.search(r"06088 +Nice +– +– ", table)
    assert "left out for want of width: Note" in " ".join(table.split())
    assert "– no data: outside the OSM data" in " ".join(table.split())
    main, = markdown_tables(invoke(*args, "-f", "markdown").stdout)
    flat = [{**r, **{f"missing:{key}": (r["missing"] or {}).get(key) for key in KEYS},
             "odd_values": None if r["odd_values"] is None
             else sum(n for values in r["odd_values"].values() for n in values.values())} for r in rows]
    counts = tuple(main[0][4:-1])  # between partial and reason
    cells = assert_rows(main, flat, counts)
    assert {cells["06088"][key] for key in counts} == {"–"} and cells["06012"]["cameras"] == "≥1"
    assert cells["06088"]["reason"] == "no data: outside the OSM data"


def test_control_characters_of_tags_reach_no_terminal(tmp_path: Path, write_text) -> None:
    """An ESC sequence in a tag (a colour, a screen wipe, a window title) is shown as \\x1b in
    the table and the warnings, never sent to the terminal as it is."""
    from conftest import run_osmium

    opl = write_text("e.opl", "n1 v1 dV c1 t2024-01-01T00:00:00Z i1 uu Tman_made=surveillance,"
                              "camera:direction=%1b%[31mNE,operator=Evil%1b%[2JCorp,name=%1b%]0;PWNED%07% "
                              "x2.35 y48.86\n")
    pbf = tmp_path / "e.osm.pbf"
    run_osmium("cat", opl, "-o", pbf)
    boundary = box_around([type("P", (), {"lon": 2.35, "lat": 48.86})()], write_text, "Ville")
    result = invoke("quality", "--commune", "Ville", "--pbf", pbf, "--boundaries", boundary)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b[31mNE" in result.stdout  # the direction osmcams cannot read, as it was written


def test_one_camera_to_complete_and_thousands_outside_are_said_as_written(
    camera_pbf, write_text, tmp_path: Path
) -> None:
    """One camera lacking every tag in the commune, 1,000 outside it: "1 camera to complete"
    (not "1 cameras"), "1,000 of 1,001 cameras lie outside" (not "1000 of 1001"); and a
    commune page's to-do says "1 of 1 camera"."""
    from osmcams.models import make_camera
    from osmcams.refresh.site import _todo

    nodes = {1: (2.35, 48.86, {"man_made": "surveillance"})}
    nodes.update({2 + k: (3.0 + k * 1e-4, 49.5, {"man_made": "surveillance"}) for k in range(1000)})
    pbf = camera_pbf(nodes, (2.3, 48.8, 3.2, 49.6))
    boundary = box_around([type("P", (), {"lon": 2.35, "lat": 48.86})()], write_text, "Ville")
    todo = tmp_path / "todo"
    result = invoke("quality", "--commune", "Ville", "--pbf", pbf, "--boundaries", boundary, "-q",
                    "-f", "json", "--output-dir", todo)
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert f"{todo / 'x0001-ville.geojson'}: 1 camera to complete" in said
    assert "1,000 of 1,001 cameras lie outside every loaded commune" in said
    camera = make_camera("node", 1, 2.35, 48.86, {"man_made": "surveillance"})[0]
    assert "1 of 1 camera to complete." in _todo([camera])
