"""The static site, built by refresh from a real store (Monaco 2025 and the IGN communes of
the Alpes-Maritimes, diffs from a local replication server), checked against the store,
with feedparser, and in Chromium from disk and from a local server under a sub-path."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import pytest
from conftest import read_umap
from devtools import Browser
from fake_replication import STAMP, Obj, osc, read_objects
from test_refresh import (  # noqa: F401  (fixtures)
    MONACO_SEQUENCE,
    inside,
    monaco_diffs,
    replication,
    saint_barthelemy,
)

from osmcams.cli import main
from osmcams.files import clean_leftovers

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "https://example.org/cams/"
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_NODE = 20_000_000_077
NEW_CAMERA = 20_000_000_078
SHOTS = Path("/tmp/osmcams-site-shots")


def write_config(tmp_path: Path, pbf: Path, url: str, boundaries: Path, population: Path | None,
                 title: str = "Cameras of the Alpes-Maritimes", selection: str = 'department = "06"') -> Path:
    path = tmp_path / "osmcams.toml"
    table = "" if population is None else f'population = "{population}"\n'
    path.write_text(
        f'[source]\npbf = "{pbf}"\nreplication_url = "{url}"\n'
        f'[communes]\nboundaries = "{boundaries}"\n{table}{selection}\n'
        '[output]\ndir = "www"\n'
        f'[site]\ndir = "site"\ntitle = {json.dumps(title)}\nbase_url = "{BASE}"\n'
        'credit = "Test <group> & co"\n', encoding="utf-8")
    return path


def store_runs(tmp_path: Path) -> list[tuple[int, str, dict[str, set[str]]]]:
    """Each run's id, data date and the keys it changed in each commune, from the store."""
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        runs = db.execute("SELECT id, data_timestamp FROM runs ORDER BY id").fetchall()
        changes = db.execute("SELECT run, insee, key FROM changes").fetchall()
    found = []
    for rid, stamp in runs:
        by_code: dict[str, set[str]] = {}
        for run, insee, key in changes:
            if run == rid:
                by_code.setdefault(insee, set()).add(key)
        found.append((rid, stamp, by_code))
    return found


def entries(path: Path) -> list[dict]:
    """The feed's entries, read by feedparser, with the required elements of RFC 4287 checked
    in the XML itself."""
    text = path.read_text(encoding="utf-8")
    parsed = feedparser.parse(text)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    root = ElementTree.fromstring(text.encode())
    for tag in ("id", "title", "updated", "author"):
        assert root.find(ATOM + tag) is not None, tag
    assert root.find(f"{ATOM}link[@rel='self']").get("href").startswith(BASE)
    for entry in root.findall(ATOM + "entry"):
        for tag in ("id", "title", "updated"):
            assert entry.find(ATOM + tag) is not None, tag
        assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", entry.find(ATOM + "id").text)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.find(ATOM + "updated").text)
    for entry in parsed.entries:  # to a page of the site, at an anchor it has
        assert entry.link.startswith(BASE)
        page, _, anchor = entry.link[len(BASE):].partition("#")
        assert f'id="{anchor}"' in (path.parent.parent if path.parent.name == "communes" else path.parent
                                    ).joinpath(page).read_text(encoding="utf-8"), entry.link
    return parsed.entries


def check_agrees(tmp_path: Path) -> dict[str, str]:
    """The feeds and pages say what the store says; the entry ids of the site feed."""
    site = tmp_path / "site"
    runs = [(rid, stamp, by_code) for rid, stamp, by_code in store_runs(tmp_path) if by_code]
    feed = entries(site / "feed.atom")
    assert len(feed) == len(runs)  # a run that changed nothing has no entry
    for entry, (_, stamp, by_code) in zip(feed, reversed(runs)):
        assert entry.updated == stamp
        listed = set(re.findall(r"https://www\.openstreetmap\.org/((?:node|way|relation)/\d+)",
                                entry.content[0].value))
        assert listed == set().union(*by_code.values())
    state = json.loads((site / "site.json").read_text(encoding="utf-8"))
    for code, stem in state["stems"].items():
        mine = [(stamp, by_code[code]) for _, stamp, by_code in runs if code in by_code]
        if code not in state["counted"] and not mine:  # never in the data: no feed
            assert not (site / "communes" / f"{stem}.atom").exists()
            continue
        commune = entries(site / "communes" / f"{stem}.atom")
        assert [(e.updated, set(re.findall(r"org/((?:node|way|relation)/\d+)", e.content[0].value)))
                for e in commune] == list(reversed(mine))
        page = (site / "communes" / f"{stem}.html").read_text(encoding="utf-8")
        for stamp, keys in mine:
            assert f"Data of {stamp}" in page
            assert all(f"https://www.openstreetmap.org/{key}" in page for key in keys)
    return {e.id: e.updated for e in feed}


def refresh(config: Path) -> None:
    assert main(["refresh", "--config", str(config)]) == 0


@pytest.fixture
def built(replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env,  # noqa: F811
          capsys):
    """A site kept by four refresh runs: the first, a diff of every hard case, a hostile
    camera, and a diff that changes no camera."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    site = tmp_path / "site"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    assert "pages of every commune" in capsys.readouterr().err
    ids = check_agrees(tmp_path)
    state = json.loads((site / "site.json").read_text(encoding="utf-8"))
    published = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    assert len(state["stems"]) == 163
    assert state["counted"] == sorted(r["insee"] for r in published["communes"])

    stems = state["stems"]
    untouched = site / "communes" / f"{stems['06150']}.html"  # La Turbie: no change below
    before = untouched.stat().st_ino, untouched.stat().st_mtime_ns
    area = (site / "map-nodata.js").stat().st_mtime_ns  # the same communes without data below
    daily = {name: (site / "data" / name).stat().st_mtime_ns for name in ("cameras.gpkg", "osmcams.umap")}
    beausoleil = site / "communes" / f"{stems['06012']}.html"
    old_page = beausoleil.read_text(encoding="utf-8")
    replication.publish(MONACO_SEQUENCE + 1, monaco_diffs(monaco_2025, inside)[0], STAMP.format(2, 0))
    refresh(config)
    err = capsys.readouterr().err
    touched = {code for code, keys in store_runs(tmp_path)[-1][2].items()}
    assert touched == {"06012", "06032"}
    assert f"pages of {len(touched)} of 163 communes" in err
    assert (untouched.stat().st_ino, untouched.stat().st_mtime_ns) == before
    assert (site / "map-nodata.js").stat().st_mtime_ns == area
    assert {name: (site / "data" / name).stat().st_mtime_ns for name in daily} == daily  # the same day
    assert "data of 2025-02-07T01:02:45Z, written once a day" in (site / "index.html").read_text(
        encoding="utf-8")
    assert beausoleil.read_text(encoding="utf-8") != old_page
    later = check_agrees(tmp_path)
    assert ids.items() <= later.items()  # stable ids: an entry keeps its id and date

    lon, lat = inside("06012")
    hostile = Obj("node", HOSTILE_NODE, 1, {
        "man_made": "surveillance", "surveillance:type": "camera", "name": HOSTILE,
        "description": '"><script>alert(2)</script>', "camera:direction": "90",
        "operator": "]]></content><x>&amp;",
        "surveillance": "<!--<script>"}, lon + 1e-4, lat)  # would keep a map's inline script open
    replication.publish(MONACO_SEQUENCE + 2, osc(create=[hostile]), STAMP.format(3, 0))
    refresh(config)
    assert "pages of 1 of 163 communes" in capsys.readouterr().err
    ids = check_agrees(tmp_path)

    node = read_objects(monaco_2025, "node", {6459866647})[6459866647]  # an untagged node
    node.version += 1
    node.tags = {"note": "not a camera"}
    node.lon += 0.001
    replication.publish(MONACO_SEQUENCE + 3, osc(modify=[node]), STAMP.format(4, 0))
    feed_before = (site / "feed.atom").read_text(encoding="utf-8")
    refresh(config)
    assert "pages of 0 of 163 communes" in capsys.readouterr().err
    assert len(store_runs(tmp_path)) == 4
    assert check_agrees(tmp_path) == ids  # no entry for a run that changed nothing
    assert (site / "feed.atom").read_text(encoding="utf-8") == feed_before
    stamp = (site / "site.json").stat().st_mtime_ns
    refresh(config)  # nothing new: the site is as it was
    assert "site written" not in capsys.readouterr().err
    assert (site / "site.json").stat().st_mtime_ns == stamp
    return config


def no_data_area(site: Path):
    """The area of the communes without data that map-nodata.js gives the index's map."""
    import shapely.geometry

    text = (site / "map-nodata.js").read_text(encoding="utf-8")
    return shapely.geometry.shape(json.loads(text.removeprefix("osmcamsNoData(").removesuffix(");\n"))
                                  ["geometry"])


def built_into(config: Path, name: str, text: str | None = None, seed: str | None = None) -> None:
    """`osmcams site` of the store of `config` (or of the config `text`) as a whole build into
    the folder `name` beside it, through a config NAME.toml of its own; with `seed`, in a
    process of its own whose strings hash with that seed (PYTHONHASHSEED)."""
    other = config.with_name(f"{name}.toml")
    text = config.read_text(encoding="utf-8") if text is None else text
    other.write_text(text.replace('[site]\ndir = "site"', f'[site]\ndir = "{name}"'), encoding="utf-8")
    command = ["site", "--config", str(other), "--quiet"]
    if seed is None:
        assert main(command) == 0
    else:
        subprocess.run([sys.executable, "-m", "osmcams", *command], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})


def test_whole_builds_write_the_same_state_under_any_hash_seed(built):
    """Python hashes strings with a seed of its own in each process: two whole builds of one
    store write the same site.json, byte for byte (its communes without data were listed in
    the order of a set of their codes)."""
    for seed in ("1", "2"):
        built_into(built, f"seed{seed}", seed=seed)
    first, second = ((built.parent / f"seed{seed}" / "site.json").read_bytes() for seed in ("1", "2"))
    assert first == second


def links(page: Path) -> list[str]:
    """The relative links and sources of an HTML page, without query or fragment."""
    found = re.findall(r'(?:href|src)="([^"]*)"', page.read_text(encoding="utf-8"))
    return [re.split(r"[?#]", link)[0] for link in found if not re.match(r"^[a-z]+:", link)]


@pytest.fixture
def served(tmp_path):
    """A static server on 127.0.0.1 serving tmp_path: the site is at the sub-path /site/."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *_: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/site/"
    server.shutdown()


def test_site_kept_by_refresh(built, tmp_path, served, communes_06, ign_shapes):
    import shapely

    site = tmp_path / "site"
    pages = sorted(site.rglob("*.html"))
    published = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    measured = len(published["communes"])
    assert len(pages) == 2 + 163 + measured  # index, map; a page per commune; a map per measured one
    for page in pages:  # the crawl: every relative link resolves, inside the site
        for link in links(page):
            target = (page.parent / link).resolve()
            assert target.is_file(), (page, link)
            assert target.is_relative_to(site.resolve())
    text = (site / "index.html").read_text(encoding="utf-8")
    assert not re.search(r'(?:src|href)="(?:https?:)?//', text.replace(
        'href="https://www.openstreetmap.org/', ""))  # no CDN
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr[^>]*data-code="(\w+)".*?</tr>', text)}
    assert len(rows) == 163
    for row in published["communes"]:  # a partial count is starred, a whole one is not
        assert ('class="partial"' in rows[row["insee"]]) == (row["coverage"] < 1)
    for path in ("data/communes.csv", "data/cameras.gpkg", "data/communes.gpkg", "data/osmcams.umap",
                 "feed.atom", "communes/06012-beausoleil.atom"):
        with urllib.request.urlopen(served + path) as response:
            assert response.status == 200

    state = json.loads((site / "site.json").read_text(encoding="utf-8"))
    total = sum(r["cameras"] for r in published["communes"])
    beausoleil = f"communes/{state['stems']['06012']}"
    no_data = f"communes/{state['stems']['06088']}"  # Nice: outside the Monaco extract
    assert "No data" in (site / f"{no_data}.html").read_text(encoding="utf-8")
    bare = (site / f"communes/{state['stems']['06104']}.html").read_text(encoding="utf-8")
    assert {r["insee"]: r["cameras"] for r in published["communes"]}["06104"] == 0  # Roquebrune-Cap-Martin
    assert "No camera is mapped here" in bare and "<th>First seen</th>" not in bare  # no empty table
    counted = {r["insee"]: r for r in published["communes"]}["06012"]
    assert 0 < counted["coverage"] < 1  # Beausoleil: its chart's counts are lower bounds, and say so
    chart = (site / f"{beausoleil}.html").read_text(encoding="utf-8").split("Cameras over time")[1]
    assert re.search(r"<title>[^<]*: ≥\d", chart) and "each count is a lower bound" in chart
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        (here,) = db.execute("SELECT count(*) FROM cameras WHERE present AND insee = '06012'").fetchone()
        placed = db.execute("SELECT key, lon, lat, tags FROM kept_objects WHERE insee = '06012'"
                            " AND feature IS NOT NULL").fetchall()
    from osmcams.models import make_camera
    from osmcams.outputs.fov import FovSettings, fields_of_view

    cameras = [make_camera(key.split("/")[0], int(key.split("/")[1]), lon, lat, json.loads(tags))[0]
               for key, lon, lat, tags in placed]
    views = {f"{view.camera.key}/fov": view for view in fields_of_view(cameras, FovSettings())[0]}
    assert f"node/{HOSTILE_NODE}/fov" in views  # it looks east
    # The communes without data as one area on the index's map: their outlines merged by
    # shapely from the boundary file, within the map's simplification.
    outlines = ign_shapes(communes_06)
    outside = sorted(set(state["stems"]) - {r["insee"] for r in published["communes"]})
    assert len(outside) == 163 - measured and "06088" in outside
    merged = shapely.union_all([outlines[code] for code in outside])
    area = no_data_area(site)
    assert shapely.symmetric_difference(area, merged).area < 0.002 * merged.area
    assert shapely.intersection(area, outlines["06012"]).area < 1e-4 * merged.area
    browser = Browser()
    try:
        for root in (site.as_uri() + "/", served):
            index = browser.open(root + "index.html")
            assert index.evaluate("document.querySelectorAll('#ranking tbody tr').length") == 163
            rows = "document.querySelectorAll('#ranking tbody tr:not(.nodata)').length"
            assert index.evaluate(rows) == measured
            index.evaluate("var s = document.getElementById('search'); s.value = 'beausoléil';"
                           "s.dispatchEvent(new Event('input'))")
            assert index.evaluate("[...document.querySelectorAll('#ranking tbody tr')]"
                                  ".filter(r => !r.hidden).map(r => r.dataset.code)") == ["06012"]
            index.evaluate("var s = document.getElementById('search'); s.value = 'Turbie';"
                           "s.dispatchEvent(new Event('input'))")  # "La Turbie" without its article
            assert index.evaluate("[...document.querySelectorAll('#ranking tbody tr')]"
                                  ".filter(r => !r.hidden).map(r => r.dataset.code)") == ["06150"]
            index.evaluate("document.querySelectorAll('#ranking th button')[2].click()")
            assert index.evaluate("document.querySelector('#ranking tbody tr').dataset.code") in (
                "06012", "06032")  # most cameras first
            whole = browser.open(root + "map.html?cluster=0")
            assert whole.evaluate("document.querySelectorAll('.leaflet-marker-icon.osmcams-camera')"
                                  ".length") == total
            assert whole.evaluate("document.querySelectorAll('path.osmcams-nodata').length") == 1
            assert whole.evaluate("document.querySelectorAll('path.osmcams-commune').length") == measured + 1
            legend = whole.evaluate("document.body.innerText")
            assert f"no data: outside the OSM data ({len(outside)})" in legend
            box = "(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
            frame = whole.evaluate(f"{box}(document.getElementById('map'))")
            around = whole.evaluate(f"{box}(document.querySelector('path.osmcams-nodata'))")
            for shape in whole.evaluate(f"[...document.querySelectorAll('path.osmcams-commune')].map({box})"):
                if shape != around:  # the measured communes framed, the area around them beyond
                    assert frame[0] <= shape[0] and shape[2] <= frame[2]
                    assert frame[1] <= shape[1] and shape[3] <= frame[3]
            (x0, y0, x1, y1), (f0, g0, f1, g1) = around, frame
            assert x0 < f0 or y0 < g0 or f1 < x1 or g1 < y1
            page = browser.open(root + beausoleil + ".html")
            assert page.evaluate("document.querySelectorAll('img, script:not([src])').length") == 0
            assert HOSTILE in page.evaluate("document.body.innerText")
            commune_map = browser.open(root + beausoleil + ".map.html?cluster=0")
            markers = "document.querySelectorAll('.leaflet-marker-icon.osmcams-camera')"
            assert commune_map.evaluate(markers + ".length") == here
            drawn = commune_map.evaluate(  # the views site-map.js drew, again, from the data file
                "osmcamsMap({communes: {features: [{properties: {insee: '06012'}}]}, typeColours: []},"
                " true).views.features.map(f => [f.id, f.geometry.coordinates])")
            assert {key: len(coordinates) for key, coordinates in drawn} == {
                key: len(getattr(view.polygon, "geoms", [view.polygon])) for key, view in views.items()}
            for key, coordinates in drawn:  # one cone or a disc: the ring pyproj's geodesics give
                if views[key].kind != "cones":
                    ring = views[key].polygon.exterior.coords
                    assert len(coordinates[0]) == len(ring)
                    assert [v for xy in coordinates[0] for v in xy] == pytest.approx(
                        [v for xy in ring for v in xy], abs=1e-7)
            commune_map.evaluate(markers + ".forEach(m => m.click())")  # popups open, last stays
            commune_map.evaluate("document.querySelectorAll('path.leaflet-interactive')"
                                 ".forEach(p => p.dispatchEvent(new MouseEvent('click', {bubbles: true})))")
            browser.wait(1.0)
            empty = browser.open(root + no_data + ".html")
            assert "This is not a count of zero" in empty.evaluate("document.body.innerText")
            for opened in (index, whole, page, commune_map, empty):
                assert opened.dialogs == []
                assert opened.failed == []
                assert all(url.startswith(root) for url in opened.requests), opened.requests
            if root == served:
                SHOTS.mkdir(exist_ok=True)
                index.screenshot(str(SHOTS / "index.png"))
                page.screenshot(str(SHOTS / "beausoleil.png"))
    finally:
        browser.close()


def stay(page: Path, key: str) -> tuple[str, str]:
    """First and last seen of the camera `key` in a commune page's table."""
    (found,) = re.findall(rf'<tr><td><a href="[^"]*/{key}">{key}</a></td><td>[^<]*</td>'
                          r"<td>([^<]*)</td><td>([^<]*)</td></tr>", page.read_text(encoding="utf-8"))
    return found


def test_site_follows_moves_and_communes_that_lose_their_data(
        replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env,  # noqa: F811
        monkeypatch):
    """A camera moved from Beausoleil to Cap-d'Ail: one move in the run's tally, "moved out" of
    the one and "moved in" to the other, and each page dates its stay there. Nice, measured
    for one run, keeps its changes. Every feed entry links to an anchor that exists, those
    of the runs that the index no longer details too. The area of the communes without
    data on the index's map follows Nice out of it and back."""
    import shapely

    import osmcams.refresh.site

    monkeypatch.setattr(osmcams.refresh.site, "LATEST_RUNS", 2)
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    site = tmp_path / "site"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    key = 10147090782  # a camera of Beausoleil
    camera = read_objects(monaco_2025, "node", {key})[key]
    camera.version += 1
    camera.lon, camera.lat = inside("06032")
    replication.publish(MONACO_SEQUENCE + 1, osc(modify=[camera]), STAMP.format(2, 0))
    refresh(config)
    check_agrees(tmp_path)
    stems = json.loads((site / "site.json").read_text(encoding="utf-8"))["stems"]
    left, joined = (site / "communes" / f"{stems[code]}.html" for code in ("06012", "06032"))
    moved = "Data of 2025-02-07T02:00:00Z: +0 −0 cameras, 1 "
    assert moved + "moved<" in (site / "index.html").read_text(encoding="utf-8")
    assert moved + "moved out<" in left.read_text(encoding="utf-8")
    assert moved + "moved in<" in joined.read_text(encoding="utf-8")
    assert entries(site / "feed.atom")[0].title == moved + "moved"
    assert stay(left, f"node/{key}") == ("2025-02-07T01:02:45Z", "2025-02-07T01:02:45Z")
    assert stay(joined, f"node/{key}") == ("2025-02-07T02:00:00Z", "still there")

    lon, lat = inside("06088")  # Nice, outside the data: measured while it holds a camera
    nice = Obj("node", NEW_CAMERA, 1, {"man_made": "surveillance"}, lon, lat)
    assert no_data_area(site).contains(shapely.Point(lon, lat))
    replication.publish(MONACO_SEQUENCE + 2, osc(create=[nice]), STAMP.format(3, 0))
    refresh(config)
    assert not no_data_area(site).contains(shapely.Point(lon, lat))  # measured: out of the area
    replication.publish(MONACO_SEQUENCE + 3, osc(delete=[Obj("node", NEW_CAMERA, 2, {}, lon, lat)]),
                        STAMP.format(4, 0))
    refresh(config)
    check_agrees(tmp_path)
    assert no_data_area(site).contains(shapely.Point(lon, lat))  # without data again
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:  # as the refresh keeps it
        parts = [json.loads(value)[1] for (value,) in db.execute(
            "SELECT value FROM kept_state WHERE name LIKE 'no_data_square:%' ORDER BY name")]
    db.close()
    assert '"coordinates": [' + ",".join(parts) + "]}" in (site / "map-nodata.js").read_text(encoding="utf-8")
    page = (site / "communes" / f"{stems['06088']}.html").read_text(encoding="utf-8")
    assert "No data." in page and "Data of 2025-02-07T03:00:00Z" in page
    assert stay(site / "communes" / f"{stems['06088']}.html", f"node/{NEW_CAMERA}") == (
        "2025-02-07T03:00:00Z", "2025-02-07T03:00:00Z")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Earlier runs" in index and 'id="run-6462850"' in index  # the first move's run


def test_the_squares_of_communes_that_gain_or_lose_their_data_alone_are_merged_again(built, tmp_path):
    """The area of the communes without data is kept by square degree. When a patch says which
    communes gained or lost their data, only their squares are looked at again (a square
    whose kept part was set wrong here stays so), and every part is the one that merging
    each square from scratch gives, on the real IGN outlines: Nice (06088) in and out."""
    from osmcams.refresh.site import AREA_KEY, AREA_PART, keep_no_data_area
    from osmcams.store.history import Store

    def parts(db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT name, value FROM kept_state WHERE name LIKE ?", (AREA_PART + "%",)))

    def from_scratch(history: Path) -> dict[str, str]:
        copy = tmp_path / "copy.sqlite"
        shutil.copyfile(history, copy)
        scratch = Store(copy)
        scratch.db.execute("DELETE FROM kept_state WHERE name LIKE ? OR name = ?",
                           (AREA_PART + "%", AREA_KEY))
        keep_no_data_area(scratch)
        found = parts(scratch.db)
        scratch.close()
        return found

    history = tmp_path / "www" / "history.sqlite"
    store = Store(history)
    db = store.db
    kept = parts(db)
    nice = AREA_PART + "7:43"
    other = next(name for name in sorted(kept) if name != nice)
    wrong = json.dumps(["not what its communes give", json.loads(kept[other])[1]])
    db.execute("UPDATE kept_state SET value = ? WHERE name = ?", (wrong, other))
    row = list(db.execute("SELECT * FROM kept_rows LIMIT 1").fetchone())
    db.execute(f"INSERT INTO kept_rows VALUES ({','.join('?' * len(row))})", ["06088", *row[1:]])
    keep_no_data_area(store, ["06088"])
    gained = parts(db)
    assert gained[nice] != kept[nice] and gained[other] == wrong
    db.execute("UPDATE kept_state SET value = ? WHERE name = ?", (kept[other], other))
    assert parts(db) == from_scratch(history)
    db.execute("DELETE FROM kept_rows WHERE insee = '06088'")
    keep_no_data_area(store, ["06088"])
    assert parts(db) == from_scratch(history) == kept
    store.close()


def test_site_command_and_its_errors(built, tmp_path, capsys):
    site = tmp_path / "site"
    feed = (site / "feed.atom").read_text(encoding="utf-8")
    daily = re.compile(r" \(data of [^)]*, written once a day\)")  # a whole build writes them anew
    index = daily.sub("", (site / "index.html").read_text(encoding="utf-8"))
    area = (site / "map-nodata.js").read_text(encoding="utf-8")
    grey = umap_layers(site / "data" / "osmcams.umap")[1]["Communes without data"]
    (site / "communes" / "99999-stale.html").write_text("old")
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:  # as an older refresh left it
        db.execute("DELETE FROM kept_state WHERE name LIKE 'no_data_square%'")
    db.close()
    assert main(["site", "--config", str(built)]) == 0
    assert "pages of every commune" in capsys.readouterr().err
    assert (site / "feed.atom").read_text(encoding="utf-8") == feed  # the same ids and dates
    assert daily.sub("", (site / "index.html").read_text(encoding="utf-8")) == index  # as kept
    assert not (site / "communes" / "99999-stale.html").exists()
    assert (site / "map-nodata.js").read_text(encoding="utf-8") == area  # merged by the build itself
    assert umap_layers(site / "data" / "osmcams.umap")[1]["Communes without data"] == grey  # and its process
    text = built.read_text(encoding="utf-8")
    for wrong, message in ((text.replace(f'base_url = "{BASE}"', 'base_url = "example.org"'),
                            "[site] base_url must be an absolute http(s) URL"),
                           (text.replace(f'base_url = "{BASE}"\n', ""), "[site] base_url is required")):
        built.write_text(wrong, encoding="utf-8")
        assert main(["site", "--config", str(built)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_other_boundaries_of_the_same_communes_draw_their_own_area(
        replication, monaco_2025, communes_06, cog_population, tmp_path, net_env, ign_shapes):  # noqa: F811
    """Another boundary file of the same communes (Nice drawn as its bounding box, over the
    Baie des Anges): the refresh that counts them all again draws the area of the communes
    without data from the new outlines, not the one kept from the old."""
    import shapely
    import shapely.geometry

    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    site = tmp_path / "site"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    old = ign_shapes(communes_06)
    collection = json.loads(communes_06.read_text(encoding="utf-8"))
    for feature in collection["features"]:
        if feature["properties"]["code"] == "06088":
            feature["geometry"] = shapely.geometry.mapping(old["06088"].envelope)
    other = tmp_path / "communes-06-boxed.geojson"
    other.write_text(json.dumps(collection), encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8").replace(str(communes_06), str(other)),
                      encoding="utf-8")
    refresh(config)
    new = ign_shapes(other)
    sea = shapely.Point(7.25, 43.66)  # in Nice's box, in no commune of the IGN file
    assert new["06088"].contains(sea) and not any(shape.contains(sea) for shape in old.values())
    state = json.loads((site / "site.json").read_text(encoding="utf-8"))
    published = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    outside = sorted(set(state["stems"]) - {r["insee"] for r in published["communes"]})
    assert "06088" in outside
    merged = shapely.union_all([new[code] for code in outside])
    area = no_data_area(site)
    assert area.contains(sea)
    assert shapely.symmetric_difference(area, merged).area < 0.002 * merged.area


def test_a_site_of_the_previous_version_gets_its_area_from_a_refresh_with_nothing_new(
        replication, monaco_2025, communes_06, cog_population, tmp_path, net_env, capsys):  # noqa: F811
    """A site written before the area of the communes without data (site.json without
    "outside", no map-nodata.js, map.html without its script): the next refresh, finding
    nothing new, writes the site as a whole build writes it."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    site = tmp_path / "site"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    state = json.loads((site / "site.json").read_text(encoding="utf-8"))
    del state["outside"]
    (site / "site.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    (site / "map-nodata.js").unlink()
    tag = '<script src="map-nodata.js"></script>'
    page = (site / "map.html").read_text(encoding="utf-8")
    assert tag in page
    (site / "map.html").write_text(page.replace(tag, ""), encoding="utf-8")
    capsys.readouterr()
    refresh(config)
    assert "nothing new" in capsys.readouterr().err
    built_into(config, "fresh")
    for name in ("map.html", "map-nodata.js"):
        assert (site / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert json.loads((site / "site.json").read_text(encoding="utf-8"))["outside"] == json.loads(
        (tmp_path / "fresh" / "site.json").read_text(encoding="utf-8"))["outside"] > 0


def test_outlines_that_overlap_give_an_area_and_no_traceback(replication, osm_dir, tmp_path, net_env,  # noqa: F811
                                                            capsys):
    """Liechtenstein's communes exported by osmium as a user makes a boundary file: the
    relations and the closed ways of their exclaves, each a commune. With Schaan and the way
    of its exclave (inside it) without data, GEOS refuses their coverage union ("overlapping
    inputs"): the refresh still publishes, and the area is their union."""
    import shapely
    from conftest import run_osmium
    from shapely.geometry import shape

    whole = osm_dir / "big/valhalla-docker-liechtenstein-2021.osm.pbf"
    if not whole.is_file():
        pytest.skip(f"{whole} is absent")
    filtered = tmp_path / "admin.osm.pbf"
    run_osmium("tags-filter", whole, "admin_level=8", "-o", filtered)
    text = run_osmium("export", filtered, "--geometry-types=polygon", "-f", "geojsonseq", "-a", "type,id",
                      "-o", "-")
    features = []
    for line in filter(None, (line.strip("\x1e") for line in text.splitlines())):
        feature = json.loads(line)
        tags = feature["properties"]
        if tags.get("admin_level") == "8" and tags.get("boundary") == "administrative":
            code = tags["@type"][0] + str(tags["@id"])
            features.append({"type": "Feature", "geometry": feature["geometry"],
                             "properties": {"code": code, "nom": tags.get("name") or code}})
    boundaries = tmp_path / "gemeinden.geojson"
    boundaries.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    outlines = {f["properties"]["code"]: shape(f["geometry"]) for f in features}
    schaan, exclave = outlines["r1155952"], outlines["w75393812"]
    assert shapely.intersection(schaan, exclave).area == pytest.approx(exclave.area)  # one of its parts
    cut = tmp_path / "north.osm.pbf"  # Liechtenstein north of Schaan, as an extract cut by a box
    run_osmium("extract", "-b", "9.40,47.205,9.70,47.30", whole, "-o", tmp_path / "box.osm.pbf",
               "--set-bounds")
    run_osmium("cat", tmp_path / "box.osm.pbf", "-o", cut,
               f"--output-header=osmosis_replication_base_url={replication.url}",
               "--output-header=osmosis_replication_sequence_number=4000000",
               "--output-header=osmosis_replication_timestamp=2021-10-01T00:00:00Z")
    replication.set_latest(4000000, "2021-10-01T00:00:00Z")
    config = tmp_path / "osmcams.toml"
    config.write_text(
        f'[source]\npbf = "{cut}"\n[communes]\nboundaries = ["{boundaries}"]\n'
        'names = ["Ruggell", "r1155952", "w75393812"]\n[output]\ndir = "www"\n'
        f'[site]\ndir = "site"\ntitle = "Liechtenstein"\nbase_url = "{BASE}"\n', encoding="utf-8")
    refresh(config)
    site = tmp_path / "site"
    published = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    assert [r["insee"] for r in published["communes"]] == ["r1155950"]  # Ruggell
    assert json.loads((site / "site.json").read_text(encoding="utf-8"))["outside"] == 2
    merged = shapely.union_all([schaan, exclave])  # within the map's 50 m of simplification
    assert shapely.hausdorff_distance(no_data_area(site), merged) < 0.0006
    assert '"noData": "no data: outside the OSM data (2)"' in (site / "map.html").read_text(encoding="utf-8")


def test_one_commune_without_data_is_one_in_the_popup_of_its_area(
        replication, monaco_2025, communes_06, cog_population, tmp_path, net_env):  # noqa: F811
    """Beausoleil and Nice, which Monaco 2025 does not reach: the area of the communes
    without data is Nice alone, and its popup and the index's totals say so in the singular."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    config.write_text(config.read_text(encoding="utf-8").replace('department = "06"',
                                                                 'names = ["Beausoleil", "Nice"]'),
                      encoding="utf-8")
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    browser = Browser()
    try:
        page = browser.open((tmp_path / "site").as_uri() + "/map.html")
        page.evaluate("document.querySelector('path.osmcams-nodata')"
                      ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        browser.wait(0.5)
        popup = page.evaluate("document.querySelector('.leaflet-popup-content').innerText")
        assert " ".join(popup.split()) == (
            "1 commune without data No data: this commune lies outside the OpenStreetMap data of this map,"
            " so its cameras were not counted (not zero).")
        assert "no data: outside the OSM data (1)" in page.evaluate("document.body.innerText")
        index = browser.open((tmp_path / "site").as_uri() + "/index.html")
        totals = index.evaluate("document.querySelector('.totals').innerText")
        # Beausoleil is partly inside the data: its camera is a floor of the total.
        assert " ".join(totals.split()) == "≥1 camera 1 commune measured 1 commune without data"
    finally:
        browser.close()


def test_a_partly_covered_commune_page_gives_its_count_as_a_lower_bound(
        replication, monaco_2025, communes_06, cog_population, osm_cameras, ign_shapes, tmp_path,  # noqa: F811
        net_env):
    """Beausoleil, Cap-d'Ail and Roquebrune-Cap-Martin, which Monaco 2025 cuts through: each
    page's "Cameras mapped" gives the cameras osmium tags-filter finds in its IGN outline
    (shapely) with "≥" before them, as its chart and every other output do, never a bare 0."""
    import shapely

    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    names = 'names = ["Beausoleil", "Cap-d\'Ail", "Roquebrune-Cap-Martin"]'
    config.write_text(config.read_text(encoding="utf-8").replace('department = "06"', names),
                      encoding="utf-8")
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    nodes = [o for o in osm_cameras(monaco_2025) if o.kind == "n"]
    shapes = ign_shapes(communes_06)
    stems = json.loads((tmp_path / "site" / "site.json").read_text(encoding="utf-8"))["stems"]
    for code, expected in (("06012", 1), ("06032", 1), ("06104", 0)):
        held = shapely.contains_xy(shapes[code], [o.lon for o in nodes], [o.lat for o in nodes]).sum()
        assert held == expected, code
        page = (tmp_path / "site" / "communes" / f"{stems[code]}.html").read_text(encoding="utf-8")
        assert f"<tr><th>Cameras mapped</th><td>≥{held}</td></tr>" in page, code
        assert "each count is a lower bound" in page
    # The index's total and the map's subtitle sum them: a lower bound too (they said "2 cameras").
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert '<ul class="totals"><li><b>≥2</b> cameras</li>' in index
    assert re.search(r"<title>[^<]*: ≥2</title>", index)  # the total's chart, as a commune's
    assert '"subtitle": "≥2 cameras; data of 2025-02-07"' in (tmp_path / "site" / "map.html").read_text(
        encoding="utf-8")


def umap_layers(path: Path) -> tuple[dict, dict[str, dict]]:
    """A .umap file as uMap imports it (`read_umap`), and its layers by name."""
    document = read_umap(path)
    return document, {layer["_umap_options"]["name"]: layer for layer in document["layers"]}


def test_the_umap_download_shows_the_communes_without_data_as_export_does(
        replication, monaco_2025, communes_06, cog_population, tmp_path, net_env, ign_shapes,  # noqa: F811
        capsys):
    """The site's osmcams.umap held the measured communes alone: it now has export's grey
    layer "Communes without data", with the area the store keeps as one feature (the union of
    their IGN outlines, by shapely), the same style, legend and count as `export -f umap`
    of the same communes; a refresh that changes no commune's coverage writes it again byte
    for byte, from the area kept."""
    import shapely
    import shapely.geometry

    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    site = tmp_path / "site"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    published = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    measured = {r["insee"] for r in published["communes"]}
    outlines = ign_shapes(communes_06)
    outside = sorted(set(outlines) - measured)
    assert len(outlines) == 163 and len(outside) == 163 - len(measured) and "06088" in outside
    document, layers = umap_layers(site / "data" / "osmcams.umap")
    (area,) = layers["Communes without data"]["features"]
    parts = shapely.get_parts(shapely.geometry.shape(area["geometry"]))  # by square degree: they touch
    shape = shapely.union_all(parts)
    assert sum(part.area for part in parts) == pytest.approx(shape.area, rel=1e-9)  # none overlaps
    merged = shapely.union_all([outlines[code] for code in outside])
    assert shapely.symmetric_difference(shape, merged).area < 1e-4 * merged.area
    assert shapely.hausdorff_distance(shape, merged) < 2e-5  # at 1e-5°
    for code in measured:
        assert shapely.intersection(shape, outlines[code]).area < 0.01 * outlines[code].area
    assert area["properties"]["name"] == f"{len(outside)} communes without data"
    assert area["properties"]["description"].startswith("No data")
    assert f"; {len(outside)} communes without data." in document["properties"]["description"]

    export = tmp_path / "06.umap"  # the same communes, the same data, as export draws them
    assert main(["export", "-q", "--department", "06", "--pbf", str(monaco_2025), "--boundaries",
                 str(communes_06), "--population", str(cog_population), "-o", str(export)]) == 0
    exported, by_name = umap_layers(export)
    assert [layer["_umap_options"]["name"] for layer in document["layers"]] == [
        layer["_umap_options"]["name"] for layer in exported["layers"]]
    grey = by_name["Communes without data"]
    assert sorted(f["properties"]["insee"] for f in grey["features"]) == outside
    assert layers["Communes without data"]["_umap_options"] == grey["_umap_options"]
    assert f"({len(outside)})" in grey["_umap_options"]["description"]  # the legend's count
    assert {json.dumps(f["properties"]["_umap_options"]) for f in grey["features"]} == {
        json.dumps(area["properties"]["_umap_options"])}
    assert f"; {len(outside)} communes without data." in exported["properties"]["description"]

    before = (site / "data" / "osmcams.umap").read_bytes()
    squares = "SELECT name, value FROM kept_state WHERE name LIKE 'no_data%' ORDER BY name"  # the area kept
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        kept = db.execute(squares).fetchall()
    db.close()
    (site / "data" / "osmcams.umap").unlink()  # written again by the next refresh
    node = read_objects(monaco_2025, "node", {6459866647})[6459866647]  # an untagged node
    node.version += 1
    node.tags = {"note": "not a camera"}
    replication.publish(MONACO_SEQUENCE + 1, osc(modify=[node]), STAMP.format(2, 0))
    capsys.readouterr()
    refresh(config)
    assert "pages of 0 of 163 communes (with the files deleted from it)" in capsys.readouterr().err
    assert (site / "data" / "osmcams.umap").read_bytes() == before
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        assert db.execute(squares).fetchall() == kept  # not merged again
    db.close()


@pytest.mark.parametrize("forks", [True, False])
def test_downloads_from_the_cameras_a_whole_build_read_equal_those_read_anew(
        replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, monkeypatch,  # noqa: F811
        forks):
    """A whole build hands the cameras it read to the process of the downloads, which reads
    them itself otherwise (a partial build on a new day of data): the same GeoPackages,
    layer by layer, and the same uMap file, byte for byte (the real Monaco 2025 extract, and
    cameras mapped since in two communes, their ids out of order). Without forks (one core,
    or not Linux), the downloads are written in the build's process once its pages are."""
    import pyogrio

    import osmcams.forks
    from osmcams.refresh.config import load_config
    from osmcams.refresh.site import _downloads

    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    added = []
    for i, (code, number) in enumerate([("06012", 93), ("06032", 91), ("06012", 92), ("06012", 90)]):
        lon, lat = inside(code)
        added.append(Obj("node", HOSTILE_NODE + number, 1, {"man_made": "surveillance", "name": f"n{i}",
                                                           "camera:direction": str(i * 40)},
                         lon + i * 1e-4, lat))
    replication.publish(MONACO_SEQUENCE + 1, osc(create=added), STAMP.format(2, 0))
    refresh(config)
    if not forks:
        monkeypatch.setattr(osmcams.forks, "forking", lambda: False)
    built_into(config, "whole")  # a whole build, into a folder of its own
    own = tmp_path / "own"
    own.mkdir()
    _downloads(load_config(config), own)  # every camera read from the store by this process
    shared = tmp_path / "whole" / "data"
    assert (own / "osmcams.umap").read_bytes() == (shared / "osmcams.umap").read_bytes()
    for name in ("cameras.gpkg", "communes.gpkg"):
        layers = pyogrio.list_layers(own / name)
        assert layers.tolist() == pyogrio.list_layers(shared / name).tolist()
        for layer, _ in layers:
            frame = pyogrio.read_dataframe(own / name, layer=layer)
            assert len(frame) and frame.equals(pyogrio.read_dataframe(shared / name, layer=layer))
    assert len(pyogrio.read_dataframe(own / "cameras.gpkg", layer="cameras")) == 6


def test_the_search_box_of_a_site_outside_france_asks_for_a_code(
        replication, monaco_2025, tmp_path, net_env):  # noqa: F811
    """Monaco 2025 in its own boundary (r2220322): the ranking's column is "Code", and the
    search box asks for a "name or code", not a "name or Code code"."""
    config = tmp_path / "osmcams.toml"
    config.write_text(
        f'[source]\npbf = "{monaco_2025}"\nreplication_url = "{replication.url}"\n[communes]\nall = true\n'
        f'[output]\ndir = "www"\n[site]\ndir = "site"\ntitle = "Monaco"\nbase_url = "{BASE}"\n',
        encoding="utf-8")
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'data-code="r2220322"' in index and '<th data-sort="1">Code</th>' in index
    assert 'placeholder="name or code"' in index


def test_files_deleted_by_hand_are_written_again_by_a_refresh_with_nothing_new(
        replication, monaco_2025, communes_06, cog_population, tmp_path, net_env, capsys):  # noqa: F811
    """A commune page, a commune feed, the site feed, a download and a script deleted from the
    site: the next refresh, finding nothing new, writes them again as a whole build writes
    them; the one after, with nothing missing, writes nothing."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    site = tmp_path / "site"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    stems = json.loads((site / "site.json").read_text(encoding="utf-8"))["stems"]
    deleted = [f"communes/{stems['06012']}.html", f"communes/{stems['06032']}.atom", "feed.atom",
               "data/osmcams.umap", "static/site.js"]
    for name in deleted:
        (site / name).unlink()
    capsys.readouterr()
    refresh(config)
    err = capsys.readouterr().err
    assert "nothing new" in err and "with the files deleted from it" in err
    built_into(config, "fresh")
    for name in deleted:
        assert (site / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    assert json.loads((site / "site.json").read_text(encoding="utf-8")) == json.loads(
        (tmp_path / "fresh" / "site.json").read_text(encoding="utf-8"))  # the same, maybe in another order
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == sorted(
        p.relative_to(tmp_path / "fresh") for p in (tmp_path / "fresh").rglob("*"))
    state = (site / "site.json").stat().st_mtime_ns
    refresh(config)
    assert "site written" not in capsys.readouterr().err
    assert (site / "site.json").stat().st_mtime_ns == state


@pytest.mark.parametrize("url", ["https://", "https:///cams/", "https://example.org/cams?x=1",
                                 "https://example.org/cams#top", "http://exa mple.org/",
                                 "https://example.org:99999/", "ftp://example.org/"])
def test_a_base_url_that_is_no_place_to_serve_the_site_is_one_line(monaco_2025, communes_06,
                                                                   cog_population, tmp_path, capsys, url):
    """No host, a query or fragment (the feeds' links would be base_url + "communes/…"), a
    space, a port out of range: exit 2, one line naming the key and the file."""
    config = write_config(tmp_path, monaco_2025, "http://127.0.0.1:9/", communes_06, cog_population)
    config.write_text(config.read_text(encoding="utf-8").replace(BASE, url), encoding="utf-8")
    assert main(["site", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "[site] base_url must be an absolute http(s) URL with a host and no query or fragment" in err
    assert str(config) in err
    assert not (tmp_path / "site").exists()


def test_a_base_url_without_its_last_slash_gives_the_same_feeds(
        replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env):  # noqa: F811
    """https://example.org/cams is read as https://example.org/cams/: the feeds' links are
    those of a site whose base_url has the slash (not https://example.org/camscommunes/…)."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(BASE, BASE.rstrip("/")), encoding="utf-8")
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    camera = Obj("node", NEW_CAMERA, 1, {"man_made": "surveillance"}, *inside("06012"))
    replication.publish(MONACO_SEQUENCE + 1, osc(create=[camera]), STAMP.format(2, 0))
    refresh(config)
    check_agrees(tmp_path)  # every link starts with BASE, and leads to a page of the site
    built_into(config, "slashed", text)
    feeds = sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("*.atom"))
    assert len(feeds) == 4  # the site's, and those of the communes with data
    for feed in feeds:  # the same links and ids
        said = [re.findall(r'href="[^"]*"|<id>[^<]*</id>', (tmp_path / where / feed).read_text("utf-8"))
                for where in ("site", "slashed")]
        assert said[0] == said[1] and said[0], feed
    links = re.findall(r'<link [^>]*href="([^"]*)"', (tmp_path / "site" / "feed.atom").read_text("utf-8"))
    assert links and all(link.startswith(BASE) for link in links)
    page = re.findall(r'in &lt;a href="([^"]*)"', (tmp_path / "site" / "feed.atom").read_text("utf-8"))
    assert page and all(link.startswith(f"{BASE}communes/") for link in page)  # each commune's page


def test_a_partial_build_writes_the_feeds_a_whole_build_writes(
        replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys):  # noqa: F811
    """A feed's date is that of its latest entry, or the store's first run without one: the
    feeds a refresh leaves in place or writes (Roquebrune's, without entries, written by the
    first run only) are byte for byte those a whole build of the same store writes."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    for n, code in enumerate(("06012", "06032"), start=1):
        camera = Obj("node", NEW_CAMERA + n, 1, {"man_made": "surveillance"}, *inside(code))
        replication.publish(MONACO_SEQUENCE + n, osc(create=[camera]), STAMP.format(n + 1, 0))
        refresh(config)
        assert "pages of 1 of 163 communes" in capsys.readouterr().err
    built_into(config, "whole")
    feeds = sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("*.atom"))
    assert feeds == sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*.atom"))
    assert len(feeds) == 4  # the site's, Beausoleil's, Cap-d'Ail's and Roquebrune-Cap-Martin's
    for feed in feeds:
        assert (tmp_path / "site" / feed).read_bytes() == (tmp_path / "whole" / feed).read_bytes(), feed
    first = "<updated>2025-02-07T01:02:45Z</updated>"  # the first run's, the one without changes
    stems = json.loads((tmp_path / "site" / "site.json").read_text(encoding="utf-8"))["stems"]
    assert first in (tmp_path / "site" / "communes" / f"{stems['06104']}.atom").read_text(encoding="utf-8")


def test_a_partial_build_sums_the_total_over_time_from_the_runs_since_its_own(
        replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys,  # noqa: F811
        monkeypatch):
    """The index's chart of the total summed the counts of every commune at every run, read
    whole by each build (a year of hourly runs of 40 communes each: 350,000 rows, half a
    second); a build that follows the site's own keeps the changes of the total (site.json)
    and reads the counts of the runs since and of the communes it writes: no statement reads
    the others. The index is byte for byte a whole build's, its chart the store's totals."""
    import osmcams.refresh.site

    statements: list[str] = []

    def traced(*args, **kwargs):
        store = read_store(*args, **kwargs)
        store.db.set_trace_callback(statements.append)
        return store

    read_store = osmcams.refresh.site.read_store
    monkeypatch.setattr(osmcams.refresh.site, "read_store", traced)
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    for n, code in enumerate(("06012", "06032", "06012"), start=1):
        shown = json.loads((tmp_path / "site" / "site.json").read_text(encoding="utf-8"))["run"]
        camera = Obj("node", NEW_CAMERA + n, 1, {"man_made": "surveillance"}, *inside(code))
        replication.publish(MONACO_SEQUENCE + n, osc(create=[camera]), STAMP.format(n + 1, 0))
        statements.clear()
        refresh(config)
        assert "pages of 1 of 163 communes" in capsys.readouterr().err
        counts = [text for text in statements if "FROM counts" in text]
        since = re.compile(rf"WHERE run > {shown}\b")  # the runs after the site's own
        assert counts and all("insee IN (" in text or since.search(text) for text in counts)
    built_into(config, "whole")
    kept, whole = ((tmp_path / name / "index.html").read_text(encoding="utf-8")
                   .split('<h2 id="downloads">')[0] for name in ("site", "whole"))
    assert kept == whole  # but the dates of the downloads, written once a day (the whole build's today)
    kept, whole = (json.loads((tmp_path / name / "site.json").read_text(encoding="utf-8"))["totals"]
                   for name in ("site", "whole"))
    assert len(kept) == 4 and kept == whole
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:  # each commune's latest count, summed
        runs = [rid for (rid,) in db.execute("SELECT id FROM runs ORDER BY id")]
        totals = [db.execute("SELECT sum(cameras) FROM counts c WHERE run = (SELECT max(run) FROM counts"
                             " WHERE insee = c.insee AND run <= ?)", (rid,)).fetchone()[0] for rid in runs]
    db.close()
    assert totals[1:] == [totals[0] + 1, totals[0] + 2, totals[0] + 3]
    chart = (tmp_path / "site" / "index.html").read_text(encoding="utf-8").split('<h2 id="total">')[1]
    assert [int(v.replace(",", "")) for v in re.findall(r"<title>[\d-]+T[\d:]+: ≥?([\d,]+)</title>", chart)
            ] == totals


def test_the_site_writes_nothing_into_an_empty_history(monaco_2025, communes_06, cog_population,
                                                      tmp_path, capsys):
    """The site reads the store only: an empty file has no history yet (exit 2), and stays empty."""
    config = write_config(tmp_path, monaco_2025, "http://127.0.0.1:9/", communes_06, cog_population)
    (tmp_path / "www").mkdir()
    store = tmp_path / "www" / "history.sqlite"
    store.touch()
    assert main(["site", "--config", str(config)]) == 2
    assert "no history at" in capsys.readouterr().err
    assert store.read_bytes() == b""  # beside it, the refresh's lock only: no journal
    assert sorted(p.name for p in store.parent.iterdir()) == [".history.sqlite.lock", "history.sqlite"]


def test_commune_names_stay_inside_the_site() -> None:
    from osmcams.refresh.site import SiteData

    data = SiteData({}, [{"insee": "../../x", "name": "../../../etc/passwd"}], {"/abs": "..\\..\\a"},
                    2, [], {}, {}, {}, {}, {}, {})
    for stem in data.stems.values():
        assert re.fullmatch(r"[a-z0-9-]+", stem)


def test_the_chart_of_cameras_starts_at_zero() -> None:
    """A camera more is a small step, as on the timeline's charts: the axis runs from 0 to
    the most cameras, and a series that never changes is drawn at its height."""
    from osmcams.refresh.site import chart

    svg = chart([("2026-01-01T00:00:00Z", 418), ("2026-01-02T00:00:00Z", 419)], "Cameras")
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    labels = re.findall(r'text-anchor="end">([\d,]+)</text>', svg)
    assert labels == ["419", "0"] and 0 < ys[0] - ys[1] < 1
    flat = chart([("2026-01-01T00:00:00Z", 418)], "Cameras")
    assert float(re.search(r'cy="([\d.]+)"', flat).group(1)) == 10.0  # at the top: 418 of 418
    assert flat.count("2026-01-01 00:00") == 1  # one date, said once
    none = chart([("2026-01-01T00:00:00Z", 0)], "Cameras")
    assert re.findall(r'text-anchor="end">([\d,]+)</text>', none) == ["0"]


def test_rows_without_data_patched_equal_those_written_anew(cog_population: Path) -> None:
    """When communes gain or lose their data, the kept rows without data are patched: the
    same text as rows written anew, for real commune names (accents, apostrophes) and a
    hostile one."""
    from osmcams.refresh.site import SiteData, no_data_rows, patched_no_data_rows

    names = {r["code"]: r["nom"] for r in json.loads(cog_population.read_text(encoding="utf-8"))[:300]}
    assert len(names) > 250 and "L'Abergement-Clémenciat" in names.values()
    names["06999"] = "<img src=x onerror=alert(1)> & \"Co\""
    codes = sorted(names)

    def data(counted: list[str]) -> SiteData:
        rows = [{"insee": code, "name": names[code]} for code in counted]
        return SiteData({}, rows, {c: names[c] for c in codes if c not in counted}, len(codes), [], {}, {},
                        {}, {}, {}, {})

    before = [*codes[::7], "06999"]
    after = [c for c in codes[::5] if c not in codes[::35]]  # some gain their data, some lose it
    patched = patched_no_data_rows(data(after), no_data_rows(data(before)), set(before))
    assert patched == no_data_rows(data(after))
    assert "<img" not in patched and patched.count('<tr class="nodata"') == len(codes) - len(after)


def test_a_killed_build_leaves_the_old_site_or_the_new(built, tmp_path):
    """SIGKILL `osmcams site` at moments spread over a build: once the next run (or
    clean_leftovers) has finished or dropped the staging folder, every page has the old
    title or every page has the new one."""
    site = tmp_path / "site"
    old, new = "Cameras of the Alpes-Maritimes", "Cameras, second edition"
    built.write_text(built.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    command = [sys.executable, "-m", "osmcams", "site", "-q", "--config", str(built)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    start = time.monotonic()
    subprocess.run(command, env=env, check=True)
    length = time.monotonic() - start
    titles = []
    for i in range(12):
        title = f"Edition {i}"
        built.write_text(re.sub(r'title = ".*"', f'title = "{title}"', built.read_text(encoding="utf-8")),
                         encoding="utf-8")
        process = subprocess.Popen(command, env=env)
        time.sleep(length * (0.3 + 0.7 * i / 11))
        process.send_signal(signal.SIGKILL)
        process.wait()
        clean_leftovers(site)
        seen = {re.search(r"<title>(?:.* — )?(.*?)</title>", p.read_text(encoding="utf-8")).group(1)
                for p in site.rglob("*.html") if not p.name.endswith("map.html")}
        assert len(seen) == 1, seen
        titles.append(seen.pop())
        entries(site / "feed.atom")
        assert not [p for p in site.rglob("*") if ".osmcams-" in p.name]
    assert new in titles or any(t.startswith("Edition") for t in titles)
    shutil.rmtree(site / "communes")
    assert main(["site", "--config", str(built)]) == 0  # and a whole build mends a damaged site


KILLED_PARENT = """
import os, signal, sys, time
from pathlib import Path
from osmcams.files import exclusive_lock
from osmcams.forks import in_parallel

here = Path(sys.argv[1])

def parent():
    while not (here / "worker").exists():
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)

def worker():
    (here / "worker.part").write_text(str(os.getpid()))
    os.replace(here / "worker.part", here / "worker")  # whole when the parent sees it
    time.sleep(120)

with exclusive_lock(here / "target", "testing"):
    in_parallel([parent, worker])
"""


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="forks on Linux")
def test_a_killed_build_leaves_no_worker_holding_its_lock(tmp_path):
    """The forked workers of a build die with it: none keeps writing, nor holds the lock
    it inherited, which would refuse every later run."""
    from osmcams.errors import LockedError
    from osmcams.files import exclusive_lock

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", KILLED_PARENT, str(tmp_path)], env=env, timeout=60)
    assert done.returncode == -signal.SIGKILL
    worker = int((tmp_path / "worker").read_text())
    for _ in range(500):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its parent")
    try:
        with exclusive_lock(tmp_path / "target", "testing"):
            pass
    except LockedError as e:
        pytest.fail(str(e))


def test_a_worker_whose_parent_died_before_it_started_ends():
    """The parent may be killed between the fork and the worker's prctl: the worker then
    sees another parent and ends at once."""
    from osmcams.forks import _die_with_parent

    pid = os.fork()
    if pid == 0:  # the child: its parent is this test's process, not pid 1
        try:
            _die_with_parent(1)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1


def test_a_killed_refresh_leaves_a_whole_site_that_the_next_run_brings_up_to_date(
        built, replication, tmp_path):  # noqa: F811
    """SIGKILL refresh runs with a site at moments spread over a run: after each, every page
    and feed is whole; a site showing the store's last run agrees with it; and the next
    run (finding nothing new or not) brings the site up to the store."""
    site = tmp_path / "site"
    command = [sys.executable, "-m", "osmcams", "refresh", "-q", "--config", str(built)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        lon, lat = db.execute("SELECT lon, lat FROM cameras WHERE key = ?",
                              (f"node/{HOSTILE_NODE}",)).fetchone()  # in Beausoleil
    length = None
    for i in range(8):
        camera = Obj("node", 20_000_000_100 + i, 1, {"man_made": "surveillance", "name": f"cam {i}"},
                     lon + (i + 1) * 2e-5, lat)
        replication.publish(MONACO_SEQUENCE + 4 + i, osc(create=[camera]), STAMP.format(5 + i, 0))
        start = time.monotonic()
        process = subprocess.Popen(command, env=env)
        if length is None:  # the first run is timed, not killed
            process.wait()
            length = time.monotonic() - start
            continue
        time.sleep(length * (0.4 + 0.6 * i / 7))
        process.send_signal(signal.SIGKILL)
        process.wait()
        clean_leftovers(site)
        assert not [p for p in site.rglob("*") if ".osmcams-" in p.name]
        for feed in site.rglob("*.atom"):
            entries(feed)
        state = json.loads((site / "site.json").read_text(encoding="utf-8"))
        with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
            (last,) = db.execute("SELECT max(id) FROM runs").fetchone()
        assert state["run"] <= last
        if state["run"] == last:
            check_agrees(tmp_path)
    refresh(built)
    check_agrees(tmp_path)
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        (last,) = db.execute("SELECT max(id) FROM runs").fetchone()
    assert json.loads((site / "site.json").read_text(encoding="utf-8"))["run"] == last


def test_ctrl_c_in_the_site_phase_of_a_refresh_says_what_was_kept(
        replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env):  # noqa: F811
    """SIGINT sent to a refresh once its site phase has begun (its first folder in the site,
    a new title making it write every page): it ends by the signal, in a line saying that the run is
    committed and the site left as it was; the store holds the run, the site is byte for
    byte the one before, and the next run writes it."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    site = tmp_path / "site"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    camera = Obj("node", NEW_CAMERA, 1, {"man_made": "surveillance"}, *inside("06012"))
    replication.publish(MONACO_SEQUENCE + 1, osc(create=[camera]), STAMP.format(2, 0))
    config.write_text(config.read_text(encoding="utf-8").replace("Cameras of", "Cams of"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    process = subprocess.Popen([sys.executable, "-m", "osmcams", "refresh", "--config", str(config)],
                               env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(name.startswith(".osmcams-tmp-") for name in os.listdir(site)):
        assert process.poll() is None and time.monotonic() < deadline, "no site phase seen"
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == -signal.SIGINT, err
    last = err.splitlines()[-1]
    assert last == ("osmcams: interrupted while writing the site, once the run was committed (data of "
                    "2025-02-07T02:00Z: +1 −0 cameras in 1 commune; the counts and the history are up "
                    "to date): the site is left as it was before: the next run writes it"), err
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        assert db.execute("SELECT max(sequence), count(*) FROM runs").fetchone() == (MONACO_SEQUENCE + 1, 2)
    clean_leftovers(site)  # what the next run does first
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    refresh(config)
    assert "Cams of" in (site / "index.html").read_text(encoding="utf-8")
    assert json.loads((site / "site.json").read_text(encoding="utf-8"))["run"] == 2


def test_a_full_disk_is_one_line_naming_the_site_and_changes_nothing(built, tmp_path):
    """No file may grow past 64 kB (RLIMIT_FSIZE, as a full disk) while the downloads are
    written by their own process: exit 2 in one line naming the file in the site, not the
    folder it was written in first; the site as it was, nothing of the run left in it (nor
    the folder of a new site)."""
    import resource

    site = tmp_path / "site"
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}

    def full() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-m", "osmcams", "site", "-q", "--config", str(built)],
                          capture_output=True, text=True, preexec_fn=full, timeout=300, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"osmcams: error: cannot write {site}") and done.stderr.count("\n") == 1
    assert ".osmcams-" not in done.stderr, done.stderr
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    fresh = tmp_path / "fresh"  # a new site's folder, as failed: not left empty
    config = tmp_path / "fresh.toml"
    text = built.read_text(encoding="utf-8")
    config.write_text(text.replace('[site]\ndir = "site"', '[site]\ndir = "fresh"'), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "osmcams", "site", "-q", "--config", str(config)],
                          capture_output=True, text=True, preexec_fn=full, timeout=300, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"osmcams: error: cannot write {fresh}"), done.stderr
    assert not fresh.exists()


def test_a_commune_page_gives_each_figure_and_ratio_its_qualifier(
    monaco_2025: Path, communes_06: Path, osm_cameras, ign_shapes, write_text
) -> None:
    """A figure reported as about 40 reads "40 (about)", not 40; the completeness of
    Beausoleil, 40 % inside Monaco 2025 (counted at a --min-coverage of 0.3), reads as a lower
    bound of an approximation ("at least about"); Cap-d'Ail, 14 % inside, gets none. The
    camera it holds is counted with osmium and shapely."""
    from types import SimpleNamespace

    from shapely.geometry import Point

    import osmcams
    from osmcams.analysis.compare import read_reported
    from osmcams.refresh.site import _reported

    shapes = ign_shapes(communes_06)
    held = sum(shapes["06012"].intersects(Point(c.lon, c.lat)) for c in osm_cameras(monaco_2025))
    figures = read_reported((write_text("figures.csv", (
        "insee,name,department,reported_cameras,qualifier,scope,status,as_of,source,published\n"
        "06012,Beausoleil,06,40,about,municipal network,installed,2024-12,Nice-Matin,2025-01-10\n"
        "06032,Cap-d'Ail,06,8,at_least,municipal network,installed,2024-12,city site,2025-01-10\n")),))
    communes = osmcams.load_communes([communes_06])
    report = osmcams.count(osmcams.read_cameras(monaco_2025), communes,
                           osmcams.select_communes(communes, ["06012", "06032"]))
    report.meta["min_coverage"] = 0.3
    rows = {row["insee"]: row for row in report.rows}
    data = SimpleNamespace(meta=report.meta, cameras=report.cameras)
    beausoleil = _reported(data, rows["06012"], figures)
    assert "<td>40 (about)</td>" in beausoleil
    assert f"<td>{held / 40:.0%} (at least about)</td>" in beausoleil  # both qualifiers
    cap = _reported(data, rows["06032"], figures)
    assert "<td>8 (at least)</td>" in cap and "<td>–</td>" in cap


@pytest.fixture
def saint_barthelemy_site(saint_barthelemy, tmp_path, net_env, capsys) -> Path:  # noqa: F811
    """The site of a first refresh of the real Saint-Barthélemy extract and its real diff, in
    its own relation (admin_level=3, coverage under 1%), as a small site's owner sets it up."""
    config = tmp_path / "osmcams.toml"
    config.write_text(
        f'[source]\npbf = "{saint_barthelemy}"\n[communes]\nnames = ["Saint-Barthélemy"]\n'
        'admin_level = 3\n[output]\ndir = "www"\n'
        f'[site]\ndir = "site"\ntitle = "Saint-Barthélemy"\nbase_url = "{BASE}"\n', encoding="utf-8")
    refresh(config)
    return tmp_path / "site"


def test_a_coverage_under_one_percent_is_escaped_in_the_pages(saint_barthelemy_site: Path) -> None:
    """"<1%" is text: the ranking's cell and the commune page's row say it as &lt;1%, with no
    "<" that opens no tag, as the notes beside them already did."""
    for page in (saint_barthelemy_site / "index.html",
                 *(saint_barthelemy_site / "communes").glob("*[0-9a-z].html")):
        text = page.read_text(encoding="utf-8")
        if page.name.endswith(".map.html"):
            continue
        assert re.search(r"<[^a-zA-Z/!?]", text) is None, page.name
        assert ">&lt;1%</td>" in text, page.name


def test_the_date_of_a_chart_of_one_run_is_under_its_point(saint_barthelemy_site: Path) -> None:
    """A first site has one run: its point is in the middle of the axis, and its date is
    written centred under it, not at the left end of an axis that has no other date."""
    for page in (saint_barthelemy_site / "index.html",
                 *(saint_barthelemy_site / "communes").glob("*[0-9a-z].html")):
        if page.name.endswith(".map.html"):
            continue
        svg = re.search(r"<svg class=\"chart\".*?</svg>", page.read_text(encoding="utf-8")).group(0)
        dots = re.findall(r'<circle cx="([\d.]+)"', svg)
        dates = re.findall(r'<text x="([\d.]+)"([^>]*)>2015-03-25 19:05</text>', svg)
        assert len(dots) == 1 and len(dates) == 1, page.name
        assert float(dates[0][0]) == float(dots[0]) and 'text-anchor="middle"' in dates[0][1]
