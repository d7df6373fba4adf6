"""A London site kept by refresh, step by step, as a reviewer checks it: the real London 2020
extract with a replication header naming the local server, seven real-format diffs published
one at a time, and after each refresh the index, the pages and the feeds read here (with
html.parser and feedparser) and compared with `osmcams count` of the extract with the same
diffs applied by `osmium apply-changes`, and with `osmcams changes` and `osmcams history`.

London's own boundary relations give one area: of its admin boundaries, only the Inner and
Middle Temples (admin_level 9) close into a polygon (the five boroughs at 8 are cut by the
extract's box, and there is none at 10). The areas are that polygon, as osmium builds it,
and four squares around it, the south-western one with the Temples cut out: so a camera can
move across the border of two areas, and out of every area.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar
from xml.etree import ElementTree

import pytest
from conftest import run_osmium
from fake_replication import Obj, osc, read_objects, sequence_path
from test_refresh import apply_changes, replication  # noqa: F401  (fixture)
from test_site import BASE, HOSTILE, built_into, entries, refresh, write_config

from osmcams.cli import main

SEQUENCE = 4_100_000  # the extract's, as its header gets it here
START = "2020-07-20T10:31:02Z"  # the extract's data date
TEMPLES = 2730005  # Inner and Middle Temples, admin_level 9
SQUARES = {"LSW": (0, 0), "LSE": (1, 0), "LNW": (0, 1), "LNE": (1, 1)}  # (column, row)
WEST, SOUTH, SIDE = -0.1135, 51.5110, 0.007  # inside the extract's box; its east part in none
HOSTILE_NODE, CREATED_NODE = 20_000_000_101, 20_000_000_102
MOVED_INSIDE = 4658088527  # in the south-eastern square, stays there
ACROSS = 2294007759  # in the south-western square, moved into the Temples
RETAGGED = 3210786446  # in the north-western square: camera:type panning, no direction
DELETED = 4943203589  # in the north-eastern square
LEAVES = 7617755276  # in the south-eastern square, moved out of every area
JOHNSON = 43706245  # Dr Johnson's House, a building in the south-western square: becomes a camera
BUILDING = 52037112  # a building in the south-western square: a node of it moves, no camera


def stamp(step: int) -> str:
    return f"2020-07-20T{11 + step:02d}:00:00Z"


@dataclass
class Node:
    """An element of a page read by `Tree`."""

    tag: str
    attrs: dict[str, str | None]
    children: list[Any] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self, tag: str, **attrs: str) -> list[Node]:
        """The elements `tag` under this one with these attribute values (class_ for class)."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and all(child.attrs.get(k.rstrip("_")) == v for k, v in attrs.items()):
                    found.append(child)
                found += child.all(tag, **attrs)
        return found

    def one(self, tag: str, **attrs: str) -> Node:
        (found,) = self.all(tag, **attrs)
        return found


class Tree(HTMLParser):
    """An HTML page as a tree of `Node`s."""

    VOID: ClassVar[set[str]] = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("document", {})
        self.open = [self.root]
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.open[-1].children.append(node)
        if tag not in self.VOID:
            self.open.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, 0, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def read_page(path: Path) -> Node:
    return Tree(path.read_text(encoding="utf-8")).root


def index_of(site: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The index's totals as written ("≥19": a lower bound) and its ranking's rows: code, name,
    cameras, whether starred as partial, the values of the per km² and coverage cells, and the
    page linked."""
    page = read_page(site / "index.html")
    totals = [li.one("b").text().replace(",", "") for li in page.one("ul", class_="totals").all("li")]
    rows = []
    for tr in page.one("table", id="ranking").one("tbody").all("tr"):
        cells = tr.all("td")
        rows.append({"insee": tr.attrs["data-code"], "name": cells[0].text(),
                     "cameras": int(str(cells[2].attrs["data-v"])),
                     "partial": bool(cells[2].all("abbr", class_="partial")),
                     "cameras_per_km2": cells[3].attrs["data-v"], "coverage": cells[5].attrs["data-v"],
                     "page": str(cells[0].one("a").attrs["href"])})
    return totals, rows


def chart_points(page: Node) -> list[tuple[str, int]]:
    """The points of a page's chart: (data date to the minute, cameras), from their tooltips."""
    points = []
    for circle in page.one("svg").all("circle"):
        when, _, count = circle.one("title").text().partition(": ")
        points.append((when, int(count.lstrip("≥").replace(",", ""))))
    return points


@dataclass
class CommunePage:
    """What a commune page says."""

    row: dict[str, str]  # its table's cells, by heading
    changes: set[tuple[str, ...]]  # `listed_changes`
    seen: dict[str, tuple[str, str]]  # each camera's first and last seen, by OSM key
    chart: list[tuple[str, int]]  # the points of its chart: (data date to the minute, cameras)


def commune_of(path: Path) -> CommunePage:
    """What the commune page at `path` says."""
    page = read_page(path)
    (table,) = page.all("table", class_="row")
    row = {tr.one("th").text(): tr.one("td").text() for tr in table.all("tr")}
    chart = chart_points(page)
    seen = {}
    timeline = [t for t in page.all("table", class_="list") if "First seen" in t.text()]
    for tr in timeline[0].all("tr")[1:] if timeline else []:
        cells = [td.text() for td in tr.all("td")]
        seen[cells[0]] = (cells[2], cells[3])
    return CommunePage(row, listed_changes(page.one("main"), "Changes, run by run"), seen, chart)


def listed_changes(part: Node, title: str) -> set[tuple[str, str, str, str, str]]:
    """The changes a page lists under its heading `title` (h2), run by run: (data date, kind,
    OSM key, label, the commune linked, if any)."""
    found: set[tuple[str, str, str, str, str]] = set()
    when, inside = None, False
    for block in (c for c in part.children if isinstance(c, Node)):
        if block.tag == "h2":
            inside, when = block.text() == title, None
        elif inside and block.tag == "h3" and str(block.attrs.get("id", "")).startswith("run-"):
            when = block.text().removeprefix("Data of ").split(": ")[0]
        elif inside and block.tag == "ul" and when is not None:
            for li in block.all("li"):
                links = li.all("a")
                label = li.text().split("“", 1)[1].rsplit("”", 1)[0]
                found.add((when, li.one("b").text(), links[0].text(), label,
                           links[1].text() if len(links) > 1 else ""))
    return found


def write_areas(path: Path, temples: Any) -> dict[str, Any]:
    """The areas as a GeoJSON file (code, nom): the Temples and four squares around them."""
    import shapely
    from shapely.geometry import box, mapping

    shapes = {"LTM": temples}
    for code, (column, row) in SQUARES.items():
        west, south = WEST + column * SIDE, SOUTH + row * SIDE
        shapes[code] = box(west, south, west + SIDE, south + SIDE)
    assert shapes["LSW"].contains(temples)
    shapes["LSW"] = shapely.difference(shapes["LSW"], temples)
    names = {"LTM": "Inner and Middle Temples", "LSW": "South-west square", "LSE": "South-east square",
             "LNW": "North-west square", "LNE": "North-east square"}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "nom": names[code]}, "geometry": mapping(shape)}
        for code, shape in shapes.items()]}), encoding="utf-8")
    return shapes


def point_in(shape: Any) -> tuple[float, float]:
    p = shape.representative_point()
    return p.x, p.y


def diffs(london: Path, shapes: dict[str, Any]) -> list[str]:
    """The seven steps: created (one hostile), moved inside and across, retagged and deleted, a
    way that becomes a camera, no camera at all, moved out of every area, and back into
    another one."""
    import shapely

    nodes = read_objects(london, "node", {MOVED_INSIDE, ACROSS, RETAGGED, DELETED, LEAVES})
    ways = read_objects(london, "way", {JOHNSON, BUILDING})
    where = {key: next(code for code, shape in shapes.items() if shape.contains(shapely.Point(n.lon, n.lat)))
             for key, n in nodes.items()}
    assert where == {MOVED_INSIDE: "LSE", ACROSS: "LSW", RETAGGED: "LNW", DELETED: "LNE", LEAVES: "LSE"}
    hostile = Obj("node", HOSTILE_NODE, 1, {"man_made": "surveillance", "surveillance:type": "camera",
                                            "name": HOSTILE}, *point_in(shapes["LNE"]))
    created = Obj("node", CREATED_NODE, 1, {"man_made": "surveillance", "surveillance:type": "camera",
                                            "camera:type": "fixed"}, *point_in(shapes["LSE"]))
    moved, across = nodes[MOVED_INSIDE], nodes[ACROSS]
    moved.lat += 0.0003
    across.lon, across.lat = point_in(shapes["LTM"])
    retagged, deleted, leaves = nodes[RETAGGED], nodes[DELETED], nodes[LEAVES]
    retagged.tags.update({"camera:type": "dome", "camera:direction": "135"})
    johnson, building = ways[JOHNSON], ways[BUILDING]
    johnson.tags.update({"man_made": "surveillance", "surveillance:type": "camera"})
    corner = read_objects(london, "node", {building.refs[0]})[building.refs[0]]
    corner.lon += 0.00002
    building.tags["note"] = "no camera here"
    leaves.lon = WEST + 2 * SIDE + 0.002  # east of every square, inside the extract's box
    for obj in (moved, across, retagged, deleted, johnson, corner, building, leaves):
        obj.version += 1
    steps = [osc(create=[hostile, created]), osc(modify=[moved, across]),
             osc(modify=[retagged], delete=[deleted]), osc(modify=[johnson]),
             osc(modify=[corner, building]), osc(modify=[leaves])]
    leaves.version += 1
    leaves.lon, leaves.lat = point_in(shapes["LNE"])
    leaves.lon += 0.0005  # beside the hostile camera
    return [*steps, osc(modify=[leaves])]


def label(description: str) -> str:
    """What a page names a camera by, from the tags `changes` describes ("k=v, k=v"): its
    name, else its surveillance:type, else "surveillance"."""
    tags = dict(pair.split("=", 1) for pair in re.split(r", (?=[\w:]+=)", description) if pair)
    return tags.get("name") or tags.get("surveillance:type") or "surveillance"


def cameras_by_area(pbf: Path, shapes: dict[str, Any], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The cameras of each area, by brute force: the man_made=surveillance objects osmium
    finds and exports, a node at its place, a way at its centroid, in the area that covers
    it (the lowest code on a border); {area: {OSM key: (lon, lat) of a node, None of a way}}."""
    import shapely
    from shapely.geometry import shape

    filtered = tmp_path / "cameras.osm.pbf"
    run_osmium("tags-filter", pbf, "man_made=surveillance", "-o", filtered, "--overwrite")
    text = run_osmium("export", filtered, "-f", "geojsonseq", "-a", "type,id", "-o", "-")
    found: dict[str, dict[str, Any]] = {code: {} for code in shapes}
    for line in filter(None, (line.strip("\x1e\n") for line in text.splitlines())):
        feature = json.loads(line)
        kind, number = feature["properties"]["@type"], feature["properties"]["@id"]
        if feature["properties"].get("man_made") != "surveillance":
            continue
        geometry = shape(feature["geometry"])
        where = [code for code in sorted(shapes) if shapes[code].covers(shapely.centroid(geometry))]
        if where:
            found[where[0]][f"{kind}/{number}"] = geometry.coords[0] if kind == "node" else None
    return found


def data_file(path: Path) -> dict[str, Any]:
    """communes/<stem>.js, the data a commune's map draws: {OSM key: feature}."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text[text.index(", ") + 2:].removesuffix(");\n"))
    return {feature["id"]: feature for feature in data["cameras"]}


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def london(osm_dir: Path, tmp_path: Path, replication) -> Path:  # noqa: F811
    """The London extract with a replication header naming the local server."""
    source = osm_dir / "big/valhalla-bench-london-2020.osm.pbf"
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    pbf = tmp_path / "london.osm.pbf"
    run_osmium("cat", source, "-o", pbf, f"--output-header=osmosis_replication_base_url={replication.url}",
               f"--output-header=osmosis_replication_sequence_number={SEQUENCE}",
               f"--output-header=osmosis_replication_timestamp={START}")
    return pbf


def surveillance_objects(pbf: Path) -> set[str]:
    """The OSM keys of the man_made=surveillance objects in `pbf`, as osmium-tool finds them."""
    kinds = {"n": "node", "w": "way", "r": "relation"}
    text = run_osmium("tags-filter", "-R", pbf, "man_made=surveillance", "-f", "opl", "-o", "-")
    return {f"{kinds[line[0]]}/{line.split(' ', 1)[0][1:]}" for line in text.splitlines() if line}


def expected_changes(step: int, in_osm: set[str], was_in_osm: set[str]) -> set[tuple[str, str, str]]:
    """What the scenario's step changes: (kind, OSM key, area). A camera that is in no area
    any more ("gone") moved out of its area when it is still in the data (`in_osm`, the
    surveillance objects after the step), else it was removed; one that came into an area
    ("new") moved in when it was in the data before the step (`was_in_osm`), else it was
    added."""
    changes = [set(), {("new", f"node/{HOSTILE_NODE}", "LNE"), ("new", f"node/{CREATED_NODE}", "LSE")},
               {("moved", f"node/{MOVED_INSIDE}", "LSE"), ("moved out", f"node/{ACROSS}", "LSW"),
                ("moved in", f"node/{ACROSS}", "LTM")},
               {("retagged", f"node/{RETAGGED}", "LNW"), ("gone", f"node/{DELETED}", "LNE")},
               {("new", f"way/{JOHNSON}", "LSW")}, set(),
               {("gone", f"node/{LEAVES}", "LSE")},  # out of every area, still in OSM
               {("new", f"node/{LEAVES}", "LNE")}][step]
    named = {"gone": lambda key: "moved out" if key in in_osm else "removed",
             "new": lambda key: "moved in" if key in was_in_osm else "added"}
    return {(named[kind](key) if kind in named else kind, key, area) for kind, key, area in changes}


def whole_run(changes: set[tuple[str, str, str]]) -> str:
    """How the index and the site's feed tally a run's `changes`: a move between two areas
    is one move, a move out or in without the other half is named so."""
    halves = {kind: {key for k, key, _ in changes if k == kind} for kind in ("moved out", "moved in")}
    both = halves["moved out"] & halves["moved in"]
    counts = {"moved": sum(kind == "moved" for kind, *_ in changes) + len(both),
              "moved out of the communes": len(halves["moved out"] - both),
              "moved in from outside": len(halves["moved in"] - both),
              "retagged": sum(kind == "retagged" for kind, *_ in changes)}
    added, removed = (sum(kind == name for kind, *_ in changes) for name in ("added", "removed"))
    return f"+{added} −{removed} cameras" + "".join(f", {n} {kind}" for kind, n in counts.items() if n)


def expected_stays(step: int) -> dict[tuple[str, str], tuple[str, str]]:
    """Where the cameras the steps change were, as the pages list them after `step`: (area,
    key): (first seen, last seen), a stay ending with the data of the run before the one
    that took the camera away."""
    def stay(first: int, last: int | None = None) -> tuple[str, str]:
        return (START if first == 0 else stamp(first),
                "still there" if last is None or step < last else stamp(last - 1))

    stays = {("LSE", f"node/{MOVED_INSIDE}"): stay(0), ("LSW", f"node/{ACROSS}"): stay(0, 2),
             ("LNW", f"node/{RETAGGED}"): stay(0), ("LNE", f"node/{DELETED}"): stay(0, 3),
             ("LSE", f"node/{LEAVES}"): stay(0, 6)}
    if step >= 7:  # back, in another area: there since then
        stays["LNE", f"node/{LEAVES}"] = stay(7)
    for first, area, key in ((1, "LNE", f"node/{HOSTILE_NODE}"), (1, "LSE", f"node/{CREATED_NODE}"),
                             (2, "LTM", f"node/{ACROSS}"), (4, "LSW", f"way/{JOHNSON}")):
        if step >= first:
            stays[area, key] = stay(first)
    return stays


def test_a_london_site_agrees_with_count_changes_and_history_after_each_diff(
        london, replication, osmium_polygons, tmp_path, net_env, capsys):  # noqa: F811
    """Seven diffs over London, published one at a time: after each refresh, the index's totals
    and ranking are those of `count` on the extract with the diffs applied by osmium; each
    area's page shows that count, the changes `changes` gives it and the stays of its moved
    cameras; the feeds gain one entry for a run that changed something (the others keep
    their ids), with absolute links; `history` gives the counts of every run; the page and
    feed of an area the run did not touch stay byte for byte."""
    complete = {level: osmium_polygons(london, level) for level in (8, 9, 10)}
    assert {level: list(found) for level, found in complete.items()} == {8: [], 9: [TEMPLES], 10: []}
    areas = tmp_path / "areas.geojson"
    shapes = write_areas(areas, complete[9][TEMPLES])
    config = write_config(tmp_path, london, replication.url, areas, None, title="Cameras of central London",
                          selection="all = true")
    site = tmp_path / "site"
    replication.set_latest(SEQUENCE, START)
    refresh(config)
    steps = diffs(london, shapes)
    kept: dict[str, bytes] = {}  # each area's page and feed as the run before left them
    feeds: dict[str, list[tuple[str, str]]] = {}  # each feed's (id, updated), newest first
    counts: dict[str, list[int]] = {code: [] for code in shapes}  # count's, after each run
    in_osm: dict[int, set[str]] = {}  # the surveillance objects after each step
    coverage: dict[int, dict[str, float]] = {}  # the published set's, after each run
    for step in range(len(steps) + 1):
        when = START if step == 0 else stamp(step)
        if step:
            replication.publish(SEQUENCE + step, steps[step - 1], when)
            capsys.readouterr()
            refresh(config)
            said = capsys.readouterr().err.rstrip()
            moves = {6: "1 moved out of the communes", 7: "1 moved in from outside"}
            if step in moves:  # refresh's summary of the run
                assert said.endswith(f"{when[:16]}Z: +0 −0 cameras ({moves[step]}) in 1 commune"), said
        published = [replication.root / f"{sequence_path(SEQUENCE + n)}.osc.gz" for n in range(1, step + 1)]
        merged = apply_changes(london, published, tmp_path / "merged.osm.pbf") if step else london
        in_osm[step] = surveillance_objects(merged)
        counted = cli_json(capsys, "count", "--pbf", str(merged), "--boundaries", str(areas), "--all",
                           "--include-partial", "--format", "json")["communes"]
        cameras = cameras_by_area(merged, shapes, tmp_path)
        changed = [f["properties"] for f in cli_json(capsys, "changes", "--config", str(config), "--since",
                                                     "2020", "--format", "geojson")["features"]]
        now = [p for p in changed if p["data_timestamp"] == when]
        if step:
            expected = expected_changes(step, in_osm[step], in_osm[step - 1])
            assert {(p["change"], p["@id"], p["insee"]) for p in now} == expected
            # The camera that leaves every area is still in OSM: it moved out, and later in,
            # where the deleted one was removed.
            leaves = [kind for kind, key, _ in expected if key == f"node/{LEAVES}"]
            assert leaves == {6: ["moved out"], 7: ["moved in"]}.get(step, [])
            assert ("removed", f"node/{DELETED}", "LNE") in expected or step != 3

        # The index: its totals and ranking are count's, its latest changes those of changes.
        totals, rows = index_of(site)
        floor = "≥" * any(r["partial"] for r in counted)  # a sum over a partly covered borough
        assert totals == [f"{floor}{sum(r['cameras'] for r in counted)}", str(len(counted)),
                          str(len(shapes) - len(counted))]
        assert [(r["insee"], r["name"], r["cameras"], r["partial"]) for r in rows] == [
            (r["insee"], r["name"], r["cameras"], r["partial"]) for r in counted]
        # Its densities and coverage are the published set's, whose coverage is the first
        # run's: from standalone nodes, the area is not moved by diffs (docs/refresh.md).
        kept_rows = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))["communes"]
        assert [(r["cameras_per_km2"], r["coverage"]) for r in rows] == [
            tuple("" if v is None else str(v) for v in (r["cameras_per_km2"], r["coverage"]))
            for r in kept_rows]
        coverage.setdefault(step, {r["insee"]: r["coverage"] for r in kept_rows})
        assert coverage[step] == coverage[0]
        stems = {r["insee"]: r["page"].removeprefix("communes/").removesuffix(".html") for r in rows}
        names = {r["insee"]: r["name"] for r in rows}
        assert set(stems) == set(shapes)
        index = (site / "index.html").read_text(encoding="utf-8")
        assert listed_changes(Tree(index).root.one("main"), "Latest changes") == {
            (p["data_timestamp"], p["change"], p["@id"], label(p["description"]), names[p["insee"]])
            for p in changed}
        assert HOSTILE not in index and (step == 0 or HOSTILE in Tree(index).root.text())
        if step and now:  # the run's tally on the index, and in the title of the site feed's entry
            assert f"Data of {when}: {whole_run(expected)}" in {
                h3.text() for h3 in Tree(index).root.one("main").all("h3")}

        # The site's feed: one entry more for a run that changed something, the others kept.
        fed = entries(site / "feed.atom")  # every link to the site, at an anchor its page has
        if now:
            assert [(e.id, e.updated) for e in fed[1:]] == feeds.get("", [])
            assert fed[0].updated == when and fed[0].link == f"{BASE}index.html#run-{SEQUENCE + step}"
            assert step == 0 or fed[0].title == f"Data of {when}: {whole_run(expected)}"
            assert set(re.findall(r'"https://www\.openstreetmap\.org/((?:node|way)/\d+)"',
                                  fed[0].content[0].value)) == {p["@id"] for p in now}
        else:
            assert [(e.id, e.updated) for e in fed] == feeds.get("", [])
        for entry in fed:  # absolute links, to OSM or to the site
            assert all(link.startswith(("https://www.openstreetmap.org/", BASE))
                       for link in re.findall(r'href="([^"]*)"', entry.content[0].value))
        feeds[""] = [(e.id, e.updated) for e in fed]

        for code in shapes:
            page, feed = site / "communes" / f"{stems[code]}.html", site / "communes" / f"{stems[code]}.atom"
            mine = [p for p in now if p["insee"] == code]
            if step and not mine:  # untouched: as it was
                assert page.read_bytes() + feed.read_bytes() == kept[code], (step, code)
            kept[code] = page.read_bytes() + feed.read_bytes()
            shown = commune_of(page)
            counts[code].append(next(r["cameras"] for r in counted if r["insee"] == code))
            # Its map's cameras are those osmium and shapely find there, where they are now.
            mapped = data_file(page.with_name(f"{stems[code]}.js"))
            assert len(cameras[code]) == counts[code][-1]
            assert {key: place and tuple(round(v, 7) for v in place)
                    for key, place in cameras[code].items()} == {
                key: tuple(f["geometry"]["coordinates"]) if key.startswith("node/") else None
                for key, f in mapped.items()}
            if code == "LNW":  # with its tags as retagged
                assert mapped[f"node/{RETAGGED}"]["properties"].get("camera:direction") == (
                    "135" if step >= 3 else None)
            floor = "≥" * next(bool(r["partial"]) for r in counted if r["insee"] == code)
            assert shown.row["Cameras mapped"] == f"{floor}{counts[code][-1]:,}"  # partly in: a floor
            assert shown.changes == {(p["data_timestamp"], p["change"], p["@id"], label(p["description"]), "")
                                     for p in changed if p["insee"] == code}
            assert {key: stay for (area, key), stay in expected_stays(step).items() if area == code} == {
                key: shown.seen[key] for area, key in expected_stays(step) if area == code}

            fed = entries(feed)
            if mine:
                assert [(e.id, e.updated) for e in fed[1:]] == feeds.get(code, [])
                assert fed[0].updated == when
                assert fed[0].link == f"{BASE}communes/{stems[code]}.html#run-{SEQUENCE + step}"
                assert set(re.findall(r'"https://www\.openstreetmap\.org/((?:node|way)/\d+)"',
                                      fed[0].content[0].value)) == {p["@id"] for p in mine}
            else:
                assert [(e.id, e.updated) for e in fed] == feeds.get(code, [])
            feeds[code] = [(e.id, e.updated) for e in fed]

            # history: count's count after each run, each the one before with the run's changes.
            history = cli_json(capsys, "history", "--config", str(config), "--commune", code, "--format",
                               "json")["runs"]
            assert [(r["data_timestamp"], r["cameras"]) for r in history] == list(zip(
                [START, *map(stamp, range(1, step + 1))], counts[code]))
            ups = {p["data_timestamp"]: 0 for p in changed}
            for p in changed:
                if p["insee"] == code:
                    ups[p["data_timestamp"]] += {"added": 1, "moved in": 1, "removed": -1, "moved out": -1
                                                 }.get(p["change"], 0)
            assert [b["cameras"] - a["cameras"] for a, b in itertools.pairwise(history)] == [
                ups.get(r["data_timestamp"], 0) for r in history[1:]]
            # The page's chart: a point at each run whose count changed, with history's count.
            at = {r["data_timestamp"][:16]: r["cameras"] for r in history}
            assert all(at[date] == n for date, n in shown.chart)
            changes_at = {r["data_timestamp"][:16] for before, r in zip([None, *history], history)
                          if before is None or before["cameras"] != r["cameras"]}
            assert changes_at <= {date for date, _ in shown.chart}
        # The index's chart: count's total at each of its points, the last one this run's.
        total = {(START if n == 0 else stamp(n))[:16]: sum(c[n] for c in counts.values())
                 for n in range(step + 1)}
        chart = chart_points(Tree(index).root)
        assert all(total[date] == n for date, n in chart) and chart[-1][0] == when[:16]
        dates = list(total)
        moved_total = {b for a, b in itertools.pairwise(dates) if total[a] != total[b]} | {dates[0]}
        assert moved_total <= {date for date, _ in chart}
        for path in [*site.glob("*.*"), *(site / "communes").iterdir()]:  # a data file has it in JSON
            if path.suffix in (".html", ".atom"):
                assert HOSTILE not in path.read_text(encoding="utf-8"), path
            if path.suffix == ".atom":  # the HTML of an entry holds it as text
                assert all(HOSTILE not in (content.text or "") for content in ElementTree.parse(path).iter(
                    "{http://www.w3.org/2005/Atom}content"))
    # `osmcams site`, written whole from the store, has the same files and feeds.
    built_into(config, "whole")
    whole = tmp_path / "whole"
    files = sorted(p.relative_to(site) for p in site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(whole) for p in whole.rglob("*") if p.is_file())
    for name in files:
        if name.suffix == ".atom":
            assert (site / name).read_bytes() == (whole / name).read_bytes(), name
    for code, stem in stems.items():  # and the same stays in each area
        assert commune_of(whole / "communes" / f"{stem}.html").seen == commune_of(
            site / "communes" / f"{stem}.html").seen, code


def test_a_run_stores_and_shows_its_changes_in_the_same_order_whatever_the_hash_seed(
        london, replication, osmium_polygons, tmp_path, net_env):  # noqa: F811
    """Python hashes strings with a seed of its own in each process: a refresh whose diff moves
    cameras in three areas (one inside its area, one across the Temples' border) stores its
    changes, and writes the pages and feeds that list them, the same under any seed."""
    import shutil
    import sqlite3
    import subprocess
    import sys

    areas = tmp_path / "areas.geojson"
    shapes = write_areas(areas, osmium_polygons(london, 9)[TEMPLES])
    first = tmp_path / "first"
    first.mkdir()
    config = write_config(first, london, replication.url, areas, None, selection="all = true")
    replication.set_latest(SEQUENCE, START)
    refresh(config)
    replication.publish(SEQUENCE + 1, diffs(london, shapes)[1], stamp(1))
    found = {}
    for seed in ("1", "2", "3", "4", "5"):
        work = tmp_path / f"seed{seed}"
        shutil.copytree(first, work)
        subprocess.run([sys.executable, "-m", "osmcams", "refresh", "--config", str(work / "osmcams.toml"),
                        "--quiet"], check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        with sqlite3.connect(work / "www" / "history.sqlite") as db:
            stored = db.execute("SELECT change, key, insee FROM changes WHERE run = 2 ORDER BY rowid")
            stored = stored.fetchall()
        assert {insee for *_, insee in stored} == {"LSE", "LSW", "LTM"}
        pages = {path.relative_to(work): path.read_bytes() for path in sorted((work / "site").rglob("*"))
                 if path.suffix in (".html", ".atom")}
        found[seed] = stored, pages
    for seed, (stored, pages) in found.items():
        assert stored == found["1"][0], seed
        assert pages.keys() == found["1"][1].keys() and all(
            pages[name] == found["1"][1][name] for name in pages), seed
