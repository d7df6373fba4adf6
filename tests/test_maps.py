"""osmcams map: PNG colours and size, and the HTML page loaded in headless Chromium."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy
import pyproj
import pytest
import shapely
from click.testing import CliRunner
from conftest import read_umap, run_osmium
from conftest import renamed as renamed_population
from PIL import Image

from osmcams.cli import cli
from osmcams.join import Report
from osmcams.models import make_camera
from osmcams.outputs.figures import NO_DATA, UNCLASSED, classify
from osmcams.outputs.maps import TYPE_COLOURS, draw_static

pytestmark = pytest.mark.filterwarnings("ignore:Numba not installed")
CHROMIUM = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--virtual-time-budget=5000")


def run_map(*args: str | Path) -> str:
    result = CliRunner().invoke(cli, ["map", "-q", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stderr


def colours(path: Path) -> dict[str, int]:
    """Pixel counts by colour, as #rrggbb."""
    image = Image.open(path).convert("RGB")
    return {f"#{r:02x}{g:02x}{b:02x}": n for n, (r, g, b) in image.getcolors(1 << 24)}


def chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed (apt-get install chromium)")
    return subprocess.run([binary, *CHROMIUM, *args], capture_output=True, text=True, timeout=120,
                          check=True)


def test_no_data_is_not_the_lowest_class(tmp_path: Path) -> None:
    """Three equal squares: 0 cameras, no data, 5 cameras per km². The no-data square is grey."""
    squares = {code: shapely.box(7.0 + i * 0.01, 43.7, 7.009 + i * 0.01, 43.709)
               for i, code in enumerate(("A", "B", "C"))}
    rows = [
        {"insee": "A", "name": "Zero", "department": None, "cameras": 0, "cameras_per_km2": 0.0},
        {"insee": "B", "name": "Unknown", "department": None, "cameras": None, "cameras_per_km2": None},
        {"insee": "C", "name": "Five", "department": None, "cameras": 5, "cameras_per_km2": 5.0},
    ]
    camera = make_camera("node", 1, 7.025, 43.705, {"surveillance:type": "camera"})[0]
    meta = {"data_timestamp": "2025-02-07T01:02:45Z", "boundaries": "test squares", "osmcams_version": "0"}
    report = Report(meta, rows, cameras={"C": [camera]}, boundaries=squares)
    out = tmp_path / "squares.png"
    draw_static(report, out)
    counts = colours(out)
    lowest, highest = classify([0.0, 5.0]).colours
    hatched = counts.get(NO_DATA, 0) + counts.get("#969696", 0)
    assert counts[lowest] > 10_000 and counts[highest] > 10_000
    assert hatched > 0.5 * counts[lowest]  # the no-data square is grey, hatched
    assert counts[lowest] < 1.5 * counts[highest]  # and not painted as a second zero
    assert counts.get(TYPE_COLOURS["camera"], 0) > 20


@pytest.fixture(scope="module")
def department_png(monaco_2025: Path, communes_06: Path, cog_population: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("maps") / "06.png"
    run_map("--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06,
            "--population", cog_population, "--by", "per_10k", "-o", out)
    return out


def test_static_map_of_a_department(department_png: Path, monaco_2025: Path) -> None:
    """Monaco 2025 over the IGN communes of the Alpes-Maritimes, per 10,000 inhabitants."""
    image = Image.open(department_png)
    assert image.format == "PNG"
    assert image.width == 1600 and 900 <= image.height <= 1600
    counts = colours(department_png)
    assert counts.get("#ffffff", 0) > 0.2 * image.width * image.height  # margins and legend
    assert counts.get(TYPE_COLOURS["camera"], 0) > 20  # the two French cameras, in their colour
    shades = [c for c in counts if c not in ("#ffffff", "#000000") and counts[c] > 40]
    assert len(shades) >= 3  # the lowest class over most communes, the top one, and more
    stamp = run_osmium("fileinfo", "-g", "header.option.osmosis_replication_timestamp", monaco_2025)
    assert image.info.get("Copyright") == f"© OpenStreetMap contributors (data of {stamp[:10]}), ODbL"


def test_the_credits_date_the_osm_data_and_the_ign_boundaries(
        monaco_2025: Path, communes_06: Path, ign_dir: Path, tmp_path: Path) -> None:
    """The HTML map of the Alpes-Maritimes on IGN's 2018 files: its credits give the data date
    of the extract's header (osmium) and the year that IGN's SOURCE.txt gives its edition."""
    page = tmp_path / "06.html"
    run_map("--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06, "-o", page)
    stamp = run_osmium("fileinfo", "-g", "header.option.osmosis_replication_timestamp", monaco_2025)
    (year,) = re.findall(r"IGN ADMIN EXPRESS COG (\d{4})", (ign_dir.parent / "SOURCE.txt").read_text())
    dom = chromium("--dump-dom", page.as_uri()).stdout
    credit = re.search(r'<div class="leaflet-control-attribution[^>]*>(.*?)</div>', dom, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", credit)
    assert f"© OpenStreetMap contributors (data of {stamp[:10]}), ODbL" in text
    assert f"Boundaries: IGN ADMIN EXPRESS {year}, Licence Ouverte" in text


@pytest.mark.parametrize("suffix", [".svg", ".pdf"])
def test_vector_maps(monaco_2025: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"monaco{suffix}"
    run_map("--commune", "Monaco", "--pbf", monaco_2025, "--scheme", "fisher_jenks", "-o", out)
    head = out.read_bytes()[:200]
    assert head.startswith(b"%PDF") if suffix == ".pdf" else b"<svg" in out.read_bytes()[:2000]
    text = out.read_bytes()
    assert b"OpenStreetMap contributors" in text or suffix == ".pdf"  # PDF text is compressed


def test_map_refuses_unknown_suffixes(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["map", "--commune", "Monaco", "--pbf", "x.pbf", "-o",
                                      str(tmp_path / "m.jpg")])
    assert result.exit_code == 2
    assert "the suffix must be one of .png, .svg, .pdf, .html" in result.stderr


def test_html_map_in_chromium(monaco_2025: Path, osm_cameras, osmium_polygons, tmp_path: Path) -> None:
    """Opened from disk with no network: one marker per camera that osmium finds in Monaco."""
    monaco = osmium_polygons(monaco_2025, 8)[2220322]
    expected = [o for o in osm_cameras(monaco_2025) if monaco.intersects(shapely.Point(o.lon, o.lat))]
    page = tmp_path / "monaco.html"
    run_map("--commune", "Monaco", "--pbf", monaco_2025, "--fov", "-o", page)
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(?!data:)", text)  # everything inline
    assert "unpkg" not in text and "cdnjs" not in text and "jsdelivr" not in text
    dom = chromium("--dump-dom", page.as_uri() + "?cluster=0").stdout
    markers = re.findall(r'class="leaflet-marker-icon osmcams-camera', dom)
    assert len(markers) == len(expected) == 13
    assert dom.count('leaflet-interactive"') >= 1 + 13  # the commune and the 13 views
    area_km2 = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(monaco)[0]) / 1e6
    legend = f"{len(expected) / area_km2:.2f}"  # Monaco's density, the top of the legend
    assert legend in dom and "OpenStreetMap contributors" in dom  # the legend and the credit
    shot = tmp_path / "monaco-screenshot.png"
    chromium("--window-size=1400,900", f"--screenshot={shot}", page.as_uri())
    counts = colours(shot)
    assert Image.open(shot).size == (1400, 900)
    assert counts.get(TYPE_COLOURS["camera"], 0) > 50  # markers drawn (single or clustered)


def test_partly_covered_communes_are_marked_not_shown_as_plain_counts() -> None:
    from osmcams.outputs.figures import partial_share

    assert partial_share({"cameras": 0, "coverage": 0.1}) == 0.1  # dashed, "10% covered"
    assert partial_share({"cameras": 3, "coverage": 1.0}) is None
    assert partial_share({"cameras": None, "coverage": None}) is None  # no data: grey instead


@pytest.fixture(scope="module")
def department_rows(monaco_2025: Path, communes_06: Path, cog_population: Path) -> dict:
    """The 06 communes the IGN file holds, and the rows `count` measures from Monaco 2025."""
    import json

    result = CliRunner().invoke(cli, ["count", "-q", "--department", "06", "--pbf", str(monaco_2025),
                                      "--boundaries", str(communes_06), "--population",
                                      str(cog_population), "-f", "json", "--include-partial"],
                            catch_exceptions=False)
    rows = json.loads(result.stdout)["communes"]
    ign = json.loads(communes_06.read_text(encoding="utf-8"))["features"]
    every = {f["properties"]["code"]: f["properties"]["nom"] for f in ign}
    return {"every": every, "measured": {r["insee"] for r in rows},
            "partial": {r["insee"] for r in rows if r["coverage"] < 1},
            "per_km2": {r["insee"]: r["cameras_per_km2"] for r in rows}}


def test_department_map_html_shows_what_it_does_not_know(
    monaco_2025: Path, communes_06: Path, cog_population: Path, department_rows: dict, tmp_path: Path
) -> None:
    """Every commune of the department is drawn: measured, partly covered (dashed), or no data."""
    every, measured, partial = (department_rows[k] for k in ("every", "measured", "partial"))
    # From Monaco 2025 without its .poly, the French communes it reaches are all partly covered.
    assert len(every) == 163 and measured and partial <= measured
    page = tmp_path / "06.html"
    run_map("--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06,
            "--population", cog_population, "-o", page)
    text = page.read_text(encoding="utf-8")
    assert str(communes_06.parent) not in text and str(monaco_2025) not in text  # no local path
    dom = chromium("--dump-dom", page.as_uri()).stdout
    paths = re.findall(r'<path class="osmcams-commune osmcams-(\w+) leaflet-interactive"', dom)
    assert paths.count("nodata") == len(every) - len(measured)
    assert paths.count("partial") == len(partial)
    assert paths.count("full") == len(measured - partial)
    assert dom.count('stroke-dasharray="6 4"') == len(partial)  # the dashed outlines
    tips = re.findall(r'osmcams-covered[^>]*>(\d+)% covered<', dom)
    assert len(tips) == len(partial)
    # At the department's zoom the "NN% covered" labels of Beausoleil, Cap-d'Ail and
    # Roquebrune-Cap-Martin would lie on each other: those shown overlap no other. A script
    # of the test's own, added to a copy of the page, measures them once the map is drawn.
    measured_page = tmp_path / "06-measured.html"
    measured_page.write_text(text.replace("</body>", """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var shown = [].slice.call(document.querySelectorAll(".leaflet-tooltip.osmcams-covered"))
    .filter(function (e) { return e.style.visibility !== "hidden"; })
    .map(function (e) { return e.getBoundingClientRect(); });
  var overlaps = 0;
  shown.forEach(function (a, i) { shown.slice(i + 1).forEach(function (b) {
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) { overlaps++; }
  }); });
  document.body.setAttribute("data-labels", shown.length + " shown, " + overlaps + " overlaps");
}, 500); });
</script></body>"""), encoding="utf-8")
    drawn = chromium("--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom",
                     measured_page.as_uri()).stdout
    labels = re.search(r'data-labels="(\d+) shown, (\d+) overlaps"', drawn)
    assert labels and int(labels[1]) >= 1 and labels[2] == "0"
    assert f"no data: outside the OSM data ({len(every) - len(measured)})" in dom
    assert f"count incomplete ({len(partial)})" in dom
    assert "IGN ADMIN EXPRESS" in dom and "Licence Ouverte" in dom
    assert "www.openstreetmap.org/copyright" in dom
    boxes = re.findall(r'<div class="osmcams-box leaflet-control">(.*?)</div>', dom)
    assert any("<b>Cameras by surveillance:type</b><br>" in box for box in boxes)
    shot = tmp_path / "06-screenshot.png"
    chromium("--window-size=1200,900", f"--screenshot={shot}", page.as_uri())
    greys = sum(n for c, n in colours(shot).items() if c[1:3] == c[3:5] == c[5:7] and "d0" <= c[1:3] <= "ee")
    assert greys > 100_000  # the communes without data, grey over the white page


@pytest.mark.parametrize("where", [("--department", "06"), ("--commune", "Beausoleil")])
def test_the_first_view_keeps_the_communes_clear_of_the_title_the_legend_and_the_credits(
    monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path, where: tuple[str, str]
) -> None:
    """The map opens with every commune inside it and none under its title box, its legend
    (the Riviera lay under it) or its credits (Beausoleil's south lay under them in the
    site's frame), in Chromium at three window shapes."""
    from devtools import Browser

    page = tmp_path / "map.html"
    run_map(*where, "--pbf", monaco_2025, "--boundaries", communes_06, "--population", cog_population,
            "-o", page)
    box = "(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
    drawn = ("(() => { const r = [...document.querySelectorAll('path.osmcams-commune')]"
             ".map(p => p.getBoundingClientRect()); return [Math.min(...r.map(b => b.left)), "
             "Math.min(...r.map(b => b.top)), Math.max(...r.map(b => b.right)), "
             "Math.max(...r.map(b => b.bottom))]; })()")
    boxes = (".leaflet-top.leaflet-left .osmcams-box", ".leaflet-bottom.leaflet-right .osmcams-box",
             ".leaflet-control-attribution")
    browser = Browser()
    try:
        for width, height in ((1200, 800), (700, 900), (1100, 520)):  # the last, the site's frame
            tab = browser.open("about:blank", settle=0)
            browser.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                         "deviceScaleFactor": 1, "mobile": False}, tab.session)
            browser.call("Page.navigate", {"url": page.as_uri()}, tab.session)
            browser.wait(3.0)
            assert tab.evaluate("[window.innerWidth, document.readyState]") == [width, "complete"]
            frame, communes = tab.evaluate(f"{box}(document.getElementById('map'))"), tab.evaluate(drawn)
            for other in (tab.evaluate(f"{box}(document.querySelector('{c}'))") for c in boxes):
                assert (communes[2] <= other[0] or other[2] <= communes[0] or communes[3] <= other[1]
                        or other[3] <= communes[1]), (width, height, communes, other)
            assert frame[0] <= communes[0] and communes[2] <= frame[2]
            assert frame[1] <= communes[1] and communes[3] <= frame[3]
    finally:
        browser.close()


def test_the_legend_has_no_camera_heading_over_no_camera(
    riviera: Path, communes_06: Path, osm_cameras, ign_shapes, tmp_path: Path
) -> None:
    """The 2016 Riviera extract holds no camera node in the communes of the 06 (osmium and
    shapely): the HTML map's legend then has no "Cameras by surveillance:type" heading, as
    the static map has none."""
    communes = shapely.union_all(list(ign_shapes(communes_06).values()))
    inside = [o for o in osm_cameras(riviera) if o.kind == "n" and o.lon is not None
              and communes.intersects(shapely.Point(o.lon, o.lat))]
    assert not [o for o in osm_cameras(riviera) if o.kind != "n"] and not inside
    page = tmp_path / "06-2016.html"
    run_map("--department", "06", "--pbf", riviera, "--boundaries", communes_06, "-o", page)
    dom = chromium("--dump-dom", page.as_uri()).stdout
    boxes = re.findall(r'<div class="osmcams-box leaflet-control">(.*?)</div>', dom)
    legend = [box for box in boxes if "partly in the OSM data" in box]
    assert len(legend) == 1 and "surveillance:type" not in legend[0]


def test_department_png_marks_partial_and_missing(department_png: Path) -> None:
    counts = colours(department_png)
    assert counts.get(NO_DATA, 0) + counts.get("#969696", 0) > 100_000  # 158 grey communes
    assert counts.get("#252525", 0) > 200  # the dashed outlines and labels of the partial ones
    image = Image.open(department_png)
    assert "departements" not in str(image.info) and "/" not in image.info.get("Copyright", "/x")


def test_department_umap_agrees_with_the_maps(
    monaco_2025: Path, communes_06: Path, cog_population: Path, department_rows: dict, tmp_path: Path
) -> None:
    import json

    out = tmp_path / "06.umap"
    result = CliRunner().invoke(cli, ["export", "-q", "--department", "06", "--pbf", str(monaco_2025),
                                      "--boundaries", str(communes_06), "--population",
                                      str(cog_population), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert str(communes_06.parent) not in text and "departements" not in text
    document = json.loads(text)
    layers = {layer["_umap_options"]["name"]: layer for layer in document["layers"]}
    missing = layers["Communes without data"]["features"]
    outside = set(department_rows["every"]) - department_rows["measured"]
    assert {f["properties"]["insee"] for f in missing} == outside
    assert all(f["properties"]["_umap_options"]["fillColor"] == NO_DATA for f in missing)
    assert all("cameras" not in f["properties"] for f in missing)  # never 0, never "null"
    classed = layers["Communes: cameras per km²"]
    densities = department_rows["per_km2"]  # as count has them: null for some partial ones
    classes = classify(list(densities.values()))
    options = classed["_umap_options"]["choropleth"]
    assert options.get("breaks", "") == classes.umap_breaks()  # none when no density is known
    assert options.get("mode") == ("manual" if classes.umap_breaks() else None)
    counted = [f for layer in document["layers"] if layer["_umap_options"]["name"].startswith("Communes")
               and layer is not layers["Communes without data"] for f in layer["features"]]
    assert {f["properties"]["insee"] for f in classed["features"]} == {
        code for code, value in densities.items() if value is not None}
    dashed = {f["properties"]["insee"] for f in counted if f["properties"]["_umap_options"].get("dashArray")}
    assert dashed == department_rows["partial"]
    fills = {f["properties"]["insee"]: f["properties"]["_umap_options"]["fillColor"] for f in counted}
    assert fills == {code: UNCLASSED if value is None else classes.colour(value)
                     for code, value in densities.items()}
    assert document["properties"]["licence"] == {
        "name": "ODbL 1.0", "url": "https://opendatacommons.org/licenses/odbl/1-0/"}
    assert "IGN ADMIN EXPRESS" in document["properties"]["longCredit"]


def test_osm_values_are_escaped_in_the_page(tmp_path: Path) -> None:
    """A commune name and camera tags holding markup show as text, in popups, tooltips, legend."""
    from osmcams.outputs.maps import write_html

    evil = '<img src=x onerror="document.title=1">'
    square = shapely.box(7.0, 43.7, 7.01, 43.71)
    rows = [{"insee": "A", "name": evil, "department": None, "cameras": 1, "coverage": 0.5,
             "cameras_per_km2": 1.0}]
    camera = make_camera("node", 1, 7.005, 43.705, {"man_made": "surveillance", "name": evil,
                                                     "surveillance:type": evil})[0]
    meta = {"data_timestamp": "2025-02-07T01:02:45Z", "boundaries": evil, "osmcams_version": "0"}
    page = tmp_path / "evil.html"
    write_html(Report(meta, rows, cameras={"A": [camera]}, boundaries={"A": square}), page,
               cluster=False)
    dom = re.sub(r"<script>.*?</script>", "", chromium("--dump-dom", page.as_uri()).stdout, flags=re.S)
    assert "<img src" not in dom and "&lt;img src=x" in dom  # shown, not run
    assert "<title>Video surveillance" in dom
    assert "osmcams-partial" in dom and "50% covered" in dom


def test_a_value_that_opens_a_script_comment_leaves_the_map_drawn(tmp_path: Path) -> None:
    """"<!--<script>" in a tag would keep the page's inline data script open to the end of
    the page, and nothing would be drawn: the map draws, the value shows as text."""
    from osmcams.outputs.maps import write_html

    odd = "<!--<script>"
    square = shapely.box(7.0, 43.7, 7.01, 43.71)
    rows = [{"insee": "A", "name": odd, "department": None, "cameras": 1, "coverage": 1.0,
             "cameras_per_km2": 1.0}]
    camera = make_camera("node", 1, 7.005, 43.705, {"man_made": "surveillance", "surveillance": odd,
                                                     "surveillance:type": odd})[0]
    meta = {"data_timestamp": "2025-02-07T01:02:45Z", "boundaries": "b", "osmcams_version": "0"}
    page = tmp_path / "odd.html"
    write_html(Report(meta, rows, cameras={"A": [camera]}, boundaries={"A": square}), page, cluster=False)
    assert odd not in page.read_text(encoding="utf-8")  # the site's maps broke on an odd count of them
    dom = re.sub(r"<script>.*?</script>", "", chromium("--dump-dom", page.as_uri()).stdout, flags=re.S)
    assert "leaflet-container" in dom and "leaflet-marker-icon" in dom  # drawn
    assert "&lt;!--&lt;script&gt;" in dom  # the value, as text in the legend


def test_script_json_escapes_as_a_character_by_character_loop(osm_dir: Path, osm_cameras,
                                                                communes_06: Path) -> None:
    """script_json, which finds the characters an inline script must not hold with a regular
    expression, gives what escaping each character of json.dumps in turn gives: on every
    code point, the tags of München's cameras and the names of the Alpes-Maritimes' communes."""
    from osmcams.outputs.maps import script_json

    unsafe = {"<", ">", "&", "\u2028", "\u2029", *map(chr, range(0x7F, 0xA0))}

    def by_loop(value: object) -> str:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        return "".join(f"\\u{ord(c):04x}" if c in unsafe else c for c in text)

    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    tags = [o.tags for o in osm_cameras(osm_dir / "big" / "valhalla-bench-munchen-2020.osm.pbf")]
    names = [f["properties"] for f in json.loads(communes_06.read_text(encoding="utf-8"))["features"]]
    assert len(tags) > 100 and len(names) > 100
    for value in (every, {"tags": tags, "names": names, "odd": "<!--<script></script>&\x85"}):
        escaped = script_json(value)
        assert escaped == by_loop(value)
        assert json.loads(escaped) == value and not unsafe & set(escaped)


def test_popup_words() -> None:
    from osmcams.outputs.umap import umap_document

    camera = make_camera("node", 1, 7.005, 43.705, {"man_made": "surveillance", "surveillance:type": "camera",
                                                     "camera:type": "camera", "surveillance": "public"})[0]
    assert camera.flat_properties()["name"] == "Camera, public"
    rows = [{"insee": "A", "name": "One", "department": None, "population": None, "cameras": 1,
             "coverage": 1.0, "cameras_per_km2": 2.5, "cameras_per_10k": None}]
    meta = {"data_timestamp": None, "boundaries": "b.geojson", "population_source": None,
            "osmcams_version": "0"}
    document = umap_document(Report(meta, rows, cameras={"A": [camera]},
                                    boundaries={"A": shapely.box(7.0, 43.7, 7.01, 43.71)}), ["A"])
    props = document["layers"][0]["features"][0]["properties"]
    assert props["description"] == "1 camera; 2.5 cameras per km²"
    assert None not in props.values()  # uMap's table would print "null"


def test_every_commune_without_data_draws_no_class_and_no_warning(tmp_path: Path) -> None:
    """Three communes outside the data: grey, "no data (3)", no class "0", no geopandas warning."""
    import warnings

    squares = {c: shapely.box(7.0 + i * 0.01, 43.7, 7.009 + i * 0.01, 43.709) for i, c in enumerate("ABC")}
    rows = [{"insee": c, "name": c, "cameras": None, "coverage": None, "cameras_per_km2": None}
            for c in "ABC"]
    meta = {"data_timestamp": "2025-02-07T01:02:45Z", "boundaries": "b", "osmcams_version": "0"}
    out = tmp_path / "none.svg"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="Numba")
        draw_static(Report(meta, [], outside=rows, boundaries=squares), out)
    text = out.read_text(encoding="utf-8")
    assert "no data: outside" in text and "(3)" in text
    assert "0 (" not in text  # no class of zeros that no commune has


def test_a_popup_opens_clear_of_the_title_box(monaco_2025: Path, communes_06: Path, tmp_path: Path) -> None:
    """The northernmost commune's popup, under the title box at first, is panned below it.

    The probe turns Leaflet's pan animation off, so that the pan is done when it measures."""
    page = tmp_path / "06.html"
    run_map("--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06, "-o", page)
    anchor = "popupOptions.autoPanPaddingTopLeft.y = head.bottom - frame.top + 12;"  # once padded
    probe = anchor + '''
  var panBy = map.panBy;
  map.panBy = function (offset) { return panBy.call(map, offset, {animate: false}); };
  var best = null, north = -90;
  communes.eachLayer(function (l) {
    var n = l.getBounds().getNorth(); if (n > north) { north = n; best = l; } });
  best.openPopup();
  var box = heading.getContainer().getBoundingClientRect();
  var popup = document.querySelector(".leaflet-popup-content-wrapper").getBoundingClientRect();
  document.body.setAttribute("data-probe", [box.bottom, popup.top].join(","));'''
    text = page.read_text(encoding="utf-8")
    assert text.count(anchor) == 1
    probed = tmp_path / "probe.html"
    probed.write_text(text.replace(anchor, probe), encoding="utf-8")
    dom = chromium("--window-size=1200,900", "--dump-dom", probed.as_uri()).stdout
    bottom, top = map(float, re.search(r'data-probe="([^"]+)"', dom)[1].split(","))
    assert bottom > 100 and top >= bottom  # the popup starts below the title box


def test_names_and_tags_are_drawn_as_written(tmp_path: Path) -> None:
    """A "$" in a name or a tag is no mathematics for matplotlib (half a formula made the map
    fail, a whole one was typeset), and a control character does not make the SVG invalid."""
    import xml.dom.minidom

    odd = "Beau $\\frac{a}{$ soleil \x1b[31m"
    square = shapely.box(7.0, 43.7, 7.01, 43.71)
    rows = [{"insee": "A", "name": odd, "department": None, "cameras": 1, "coverage": 0.5,
             "cameras_per_km2": None, "population": None}]
    camera = make_camera("node", 1, 7.005, 43.705,
                         {"man_made": "surveillance", "surveillance:type": "$x^2$"})[0]
    meta = {"data_timestamp": "2025-02-07T01:02:45Z", "boundaries": "b", "osmcams_version": "0"}
    report = Report(meta, rows, cameras={"A": [camera]}, boundaries={"A": square})
    for suffix in ("png", "svg"):
        draw_static(report, tmp_path / f"odd.{suffix}", credit="Data $\\sqrt{x}$")
    svg = (tmp_path / "odd.svg").read_text(encoding="utf-8")
    xml.dom.minidom.parseString(svg)  # well formed: no raw ESC
    assert "Beau $\\frac{a}{$ soleil \\x1b[31m" in svg and "$x^2$ (≥1)" in svg  # half covered: a floor


def test_names_on_a_crowded_map_overlap_no_other(communes_06, ign_shapes, monaco_2025, osm_cameras):
    """Six partly covered communes around Monaco named in a small frame, as in the inset of
    the Riviera 2016 map, where "La Turbie" and "Beausoleil" were drawn over each other:
    each name lies inside the frame, on no other and on none of Monaco 2025's camera
    nodes (osmium's), which one hid."""
    import geopandas
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from osmcams.outputs.maps import place_names

    shapes = ign_shapes(communes_06)
    codes = ["06059", "06149", "06012", "06032", "06104", "06150"]
    named = geopandas.GeoDataFrame(
        {"name": ["Èze", "La Trinité", "Beausoleil", "Cap-d'Ail", "Roquebrune-Cap-Martin", "La Turbie"],
         "share": [0.70, 0.09, 0.72, 0.99, 0.48, 0.80], "kind": ["partial"] * 6, "mark": [""] * 6},
        geometry=[shapes[code] for code in codes], crs="EPSG:4326").to_crs("EPSG:32632")
    fig = plt.figure(figsize=(16, 13.8), dpi=100)
    try:
        ax = fig.add_axes((0.72, 0.08, 0.27, 0.17))
        named.plot(ax=ax, facecolor="none", edgecolor="black")
        x0, y0, x1, y1 = named.total_bounds
        ax.set_xlim(x0 - 800, x1 + 800)
        ax.set_ylim(y0 - 800, y1 + 800)
        nodes = [shapely.Point(o.lon, o.lat) for o in osm_cameras(monaco_2025) if o.kind == "n"]
        points = geopandas.GeoDataFrame(geometry=nodes, crs="EPSG:4326").to_crs("EPSG:32632")
        place_names(ax, named, points)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [Text.get_window_extent(text, renderer) for text in ax.texts
                 if not text.get_path_effects()]  # the names, not their white outlines
        frame = ax.get_window_extent(renderer)
        dots = ax.transData.transform([(p.x, p.y) for p in points.geometry])
    finally:
        plt.close(fig)
    assert len(boxes) == 6
    assert all(frame.contains(*box.min) and frame.contains(*box.max) for box in boxes)
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    assert not [(box, dot) for box in boxes for dot in dots if box.contains(*dot)]


def test_the_title_names_a_department_only_when_every_commune_lies_in_it(
    riviera: Path, osmium_polygons, tmp_path: Path
) -> None:
    """The Riviera 2016 extract closes four admin_level=8 polygons (osmium), Monaco's among
    them, which lies in no French department: the title said "4 communes of department 06"."""
    closed = osmium_polygons(riviera, 8)
    assert 2220322 in closed  # Monaco
    out = tmp_path / "riviera.svg"
    run_map("--all", "--pbf", riviera, "-o", out)
    title = f"Video surveillance mapped in OpenStreetMap: {len(closed)} communes"
    assert re.findall(r"<!-- (Video surveillance mapped in .*?) -->", out.read_text()) == [title]
    page = tmp_path / "riviera.html"
    run_map("--all", "--pbf", riviera, "-o", page)
    assert f"<title>{title}</title>" in page.read_text()


def test_the_credits_give_the_population_and_its_year(
    monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path
) -> None:
    """A map per 10,000 inhabitants says whose population, of which year: with --population
    communes.json --population-year 2023 it said "Population: INSEE, Code officiel
    géographique (Etalab), Licence Ouverte", no year; with the shipped table and --credit for
    one's own work, the population went unnamed."""
    def credit_line(*args: str | Path) -> str:
        out = tmp_path / "06.svg"
        run_map("--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06, "--by", "per_10k",
                *args, "-o", out, "--overwrite")
        return " ".join(re.findall(r"<!-- (.*?) -->", out.read_text(), flags=re.S))  # its texts

    assert ("Population: INSEE, Code officiel géographique (Etalab), 2023, Licence Ouverte"
            in credit_line("--population", cog_population, "--population-year", "2023"))
    assert ("Population: INSEE, Code officiel géographique (Etalab), year unknown, Licence Ouverte"
            in credit_line("--population", cog_population))
    shipped = credit_line("--credit", "Carte : Technopolice 06")
    assert "Population: INSEE legal population 2023" in shipped and "Carte : Technopolice 06" in shipped


def test_the_html_map_has_a_true_scale_bar(monaco_2025: Path, osmium_polygons, tmp_path: Path) -> None:
    """The HTML map had no scale at all, where the static one has a bar. Its bar, in metres,
    is as long as the same distance on Monaco's outline, measured by pyproj (within 3 %)."""
    monaco = osmium_polygons(monaco_2025, 8)[2220322]
    page = tmp_path / "monaco.html"
    run_map("--commune", "Monaco", "--pbf", monaco_2025, "-o", page)
    dom = chromium("--window-size=1200,900", "--dump-dom", page.as_uri()).stdout
    (width, length, unit) = re.findall(
        r'class="leaflet-control-scale-line" style="width: (\d+)px;">(\d+) (k?m)</div>', dom)[0]
    (outline,) = re.findall(r'<path class="osmcams-commune[^"]*" [^>]*d="([^"]+)"', dom)
    xs = [float(x) for x, _ in re.findall(r"(-?[\d.]+) (-?[\d.]+)", outline.replace(",", " "))]
    west, south, east, north = monaco.bounds
    metres = pyproj.Geod(ellps="WGS84").inv(west, (south + north) / 2, east, (south + north) / 2)[2]
    drawn = int(length) * (1000 if unit == "km" else 1) / int(width)  # metres per pixel
    assert drawn == pytest.approx(metres / (max(xs) - min(xs)), rel=0.03)


@pytest.mark.parametrize(("department", "colour", "opacity"), [
    (False, classify([1.0]).colours[0], 0.7),  # Monaco's one class
    (True, NO_DATA, 0.6),  # the communes of the 06 without data
])
def test_the_legend_shows_the_colours_the_map_draws(
    monaco_2025: Path, communes_06: Path, tmp_path: Path, department: bool, colour: str, opacity: float
) -> None:
    """The HTML map fills its communes see-through (over white, #feb24c is drawn #fec982);
    the legend's swatches were filled opaque, another colour than the map's."""
    page = tmp_path / "map.html"
    place = ("--department", "06", "--boundaries", communes_06) if department else ("--commune", "Monaco")
    run_map(*place, "--pbf", monaco_2025, "-o", page)
    shot = tmp_path / "map.png"
    chromium("--window-size=1200,900", f"--screenshot={shot}", page.as_uri())
    pixels = numpy.asarray(Image.open(shot).convert("RGB"), dtype=int)
    rgb = numpy.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    seen = numpy.round(opacity * rgb + (1 - opacity) * 255)  # over the white page
    assert (numpy.abs(pixels - seen).max(axis=2) <= 2).sum() > 1000
    # No swatch of the opaque colour: no 8 × 8 block of it (a stray pixel of a border may be).
    block = numpy.pad((pixels == rgb).all(axis=2), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    assert (block[8:, 8:] - block[:-8, 8:] - block[8:, :-8] + block[:-8, :-8]).max() < 64


def test_a_title_over_two_departments_says_departments(
    monaco_2025: Path, ign_dir: Path, tmp_path: Path
) -> None:
    """The communes of the 06 and the 83 were titled "… communes of department 06, 83"."""
    folder = tmp_path / "boundaries"
    folder.mkdir()
    files = [next(ign_dir.glob(f"communes-{code}-*.geojson")) for code in ("06", "83")]
    for path in files:
        (folder / path.name).symlink_to(path)
    communes = sum(len(json.loads(path.read_text(encoding="utf-8"))["features"]) for path in files)
    page = tmp_path / "two.html"
    run_map("--all", "--pbf", monaco_2025, "--boundaries", folder, "-o", page)
    assert (f"<title>Video surveillance mapped in OpenStreetMap: {communes:,} communes of departments 06, 83"
            "</title>") in page.read_text(encoding="utf-8")


def test_the_scale_bar_lies_clear_of_the_communes(tmp_path: Path) -> None:
    """Four squares fill the map to its corners: the bar and its length were drawn on the
    bottom-left square, over its colour (in München's grid, "500 m" on a commune's outline).
    The bar, its length beside it, lies in a white strip below every commune."""
    squares = {f"S{i}{j}": shapely.box(11.56 + i * 0.01, 48.13 + j * 0.01, 11.57 + i * 0.01, 48.14 + j * 0.01)
               for i in range(2) for j in range(2)}
    rows = [{"insee": code, "name": code, "department": None, "cameras": n, "cameras_per_km2": float(n)}
            for n, code in enumerate(squares, 1)]
    meta = {"data_timestamp": "2025-02-07T01:02:45Z", "boundaries": "test squares", "osmcams_version": "0"}
    out = tmp_path / "squares.png"
    draw_static(Report(meta, rows, boundaries=squares), out)
    pixels = numpy.asarray(Image.open(out).convert("RGB"), dtype=int)
    dark = (pixels == (0x25, 0x25, 0x25)).all(axis=2)
    runs = [(max(len(r) for r in "".join("1" if d else "0" for d in line).split("0")), y)
            for y, line in enumerate(dark) if line.any()]
    length, y = max(runs)  # the bar: the longest dark line across the image, bottom left
    assert length > 50
    band = pixels[y - 25:y + 25, :pixels.shape[1] // 2]
    fills = [[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in classify([1.0, 2.0, 3.0, 4.0]).colours]
    assert not any((band == fill).all(axis=2).any() for fill in fills)


def test_a_long_name_stays_over_its_commune() -> None:
    """A 68-letter name ran on one line over the next square and past the map's edge (London's
    grid); it is broken on several lines, within its square's width, as the short ones are."""
    import geopandas
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from osmcams.outputs.maps import place_names

    names = ["City of London — Guildhall & Barbican (a very long ward name indeed)", "Farringdon Without",
             "Cheap", "Obergiesing-Fasangarten-und-noch-viel-längerer-Name-der-Gemeinde"]
    squares = [shapely.box(-0.114 + i * 0.0105, 51.511 + j * 0.0063, -0.1035 + i * 0.0105,
                           51.5173 + j * 0.0063) for i in range(2) for j in range(2)]
    named = geopandas.GeoDataFrame({"name": names, "share": [None] * 4, "kind": ["full"] * 4,
                                    "mark": [""] * 4},
                                   geometry=squares, crs="EPSG:4326").to_crs("EPSG:32630")
    fig = plt.figure(figsize=(16, 9), dpi=100)
    try:
        ax = fig.add_axes((0.01, 0.07, 0.70, 0.83))
        named.plot(ax=ax, facecolor="none", edgecolor="black")
        place_names(ax, named, geopandas.GeoDataFrame(geometry=[], crs="EPSG:32630"))
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = {" ".join(t.get_text().split()): Text.get_window_extent(t, renderer) for t in ax.texts}
        outlines = [ax.transData.transform(numpy.array(g.exterior.coords)) for g in named.geometry]
    finally:
        plt.close(fig)
    for name, outline in zip(names, outlines):
        box = next(b for text, b in boxes.items() if text.replace("- ", "-") == name)
        assert outline[:, 0].min() < box.x0 and box.x1 < outline[:, 0].max(), name


def test_a_name_s_override_reverses_no_other_name_in_the_page_title(
    osm_dir: Path, tmp_path: Path
) -> None:
    """Two squares over München 2020, one named "Zone\\u202eRTL" (RIGHT-TO-LEFT OVERRIDE): the
    HTML map's title read "…: ZonemiaL ,LTR", the other square's name "Laim" reversed. The
    override is shown as its code, as on the static map, and nothing after it is reversed."""
    import unicodedata

    squares = [(11.560, 11.576, "M08", "Zone\u202eRTL"), (11.576, 11.592, "M09", "Laim")]
    grid = tmp_path / "grid.geojson"
    grid.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ref": ref, "name": name},
         "geometry": shapely.geometry.mapping(shapely.box(west, 48.128, east, 48.147))}
        for west, east, ref, name in squares]}), encoding="utf-8")
    page = tmp_path / "zone.html"
    run_map("--all", "--pbf", osm_dir / "big/valhalla-bench-munchen-2020.osm.pbf", "--boundaries", grid,
            "--code-field", "ref", "--name-field", "name", "-o", page)
    text = page.read_text(encoding="utf-8")
    data = json.loads(re.search(r"var data = (\{.*?\});\n", text).group(1))
    title, controls = data["title"], ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")
    shown = title + "".join(label for _, label in data["types"])
    assert not [c for c in shown if unicodedata.bidirectional(c) in controls]
    assert title.endswith(": Zone\\u202eRTL, Laim")


@pytest.mark.parametrize("renamed", [None, "Roquebrune-Cap-Martin-" * 8 + "sur-Mer"])
def test_a_title_of_long_names_stays_inside_the_figure(
        monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path,
        renamed: str | None) -> None:
    """Three long names of the Alpes-Maritimes (and one renamed 183 characters long in the real
    COG table): the title ran past the right edge, cut after "Châteauneuf-Villev". Its dark
    pixels now end inside the figure's right margin (x = 0.99), as its left one (0.01)."""
    population = renamed_population(cog_population, tmp_path, renamed, "06104") if renamed else cog_population
    out = tmp_path / "long.png"
    run_map("--commune", "06104", "--commune", "06039", "--commune", "06121", "--pbf", monaco_2025,
            "--boundaries", communes_06, "--population", population, "-o", out)
    pixels = numpy.asarray(Image.open(out).convert("L"))
    height, width = pixels.shape
    title = pixels[: int(0.07 * height)] < 128  # the band above the subtitle (y = 0.925)
    columns = numpy.flatnonzero(title.any(axis=0))
    assert len(columns) > 0.5 * width  # a title, across most of the width
    assert columns[0] >= 0.01 * width - 2 and columns[-1] <= 0.99 * width


def test_a_popup_shows_control_characters_of_a_name_as_the_title_does(
        monaco_2025: Path, communes_06: Path, controlled_population: Path, tmp_path: Path) -> None:
    """Beausoleil named "Beau<ESC>soleil<BEL><NEL>" in the real COG table: the page's title
    showed \\xNN, its popup the raw characters. Clicked in Chromium, the popup now shows the
    name as the title does."""
    from devtools import Browser

    population = controlled_population
    page = tmp_path / "map.html"
    run_map("--commune", "06012", "--pbf", monaco_2025, "--boundaries", communes_06, "--population",
            population, "-o", page)
    shown = r"Beau\x1bsoleil\x07\x85"
    browser = Browser()
    try:
        tab = browser.open(page.as_uri())
        assert tab.evaluate("document.title") == f"Video surveillance mapped in OpenStreetMap: {shown}"
        tab.evaluate("document.querySelector('path.osmcams-commune')"
                     ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        browser.wait(0.5)
        assert tab.evaluate("document.querySelector('.leaflet-popup-content h3').textContent") == shown
    finally:
        browser.close()


def test_a_few_communes_without_data_are_named_as_such(
        monaco_2025: Path, communes_06: Path, ign_shapes, osm_cameras, tmp_path: Path) -> None:
    """Beausoleil, Cap-d'Ail and Roquebrune-Cap-Martin with Menton and Èze, which hold no node
    of Monaco 2025 (osmium): the two hatched communes bore no name, so no reader could tell
    which lay outside the data. Each now holds dark text (its name and "no data"), found by
    placing its outline on the PNG through the two camera dots (pyproj's UTM 32N)."""
    shapes = ign_shapes(communes_06)
    nodes = run_osmium("cat", "-t", "node", monaco_2025, "-f", "opl")
    lon, lat = numpy.array(re.findall(r" x(-?[\d.]+) y(-?[\d.]+)", nodes), dtype=float).T
    assert not any(shapely.contains_xy(shapes[code], lon, lat).any() for code in ("06083", "06059"))
    out = tmp_path / "border.png"
    run_map(*[a for code in ("06012", "06032", "06104", "06083", "06059") for a in ("--commune", code)],
            "--pbf", monaco_2025, "--boundaries", communes_06, "-o", out)
    utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    cameras = sorted(utm.transform(o.lon, o.lat) for o in osm_cameras(monaco_2025)
                     if o.kind == "n" and any(shapes[c].contains(shapely.Point(o.lon, o.lat))
                                              for c in ("06012", "06032")))
    pixels = numpy.asarray(Image.open(out).convert("RGB")).astype(int)
    colour = [int(TYPE_COLOURS["camera"][i:i + 2], 16) for i in (1, 3, 5)]
    blue = numpy.abs(pixels - colour).sum(axis=2) < 30
    blue[:, int(0.7 * blue.shape[1]):] = False  # the map, not the legend
    from scipy import ndimage

    labels, n = ndimage.label(blue)
    dots = sorted((x, y) for y, x in ndimage.center_of_mass(blue, labels, range(1, n + 1)))
    assert len(cameras) == len(dots) == 2
    (x0, y0), (x1, y1) = cameras
    scale = math.dist(*dots) / math.dist((x0, y0), (x1, y1))  # pixels per metre
    light = pixels.sum(axis=2) / 3
    rows, columns = numpy.mgrid[0:light.shape[0], 0:light.shape[1]]
    east = x0 + (columns - dots[0][0]) / scale  # each pixel's UTM coordinates
    north = y0 - (rows - dots[0][1]) / scale
    for code in ("06083", "06059"):
        inner = shapely.transform(shapes[code], lambda xy: numpy.column_stack(utm.transform(*xy.T)))
        inner = inner.buffer(-4 / scale)
        inside = shapely.contains_xy(inner, east, north)
        assert inside.sum() > 2000
        assert (light[inside] < 80).sum() > 40, code  # the hatch (#969696) and fill are lighter


def test_a_total_over_partly_covered_communes_is_a_lower_bound(
        monaco_2025: Path, communes_06: Path, ign_shapes, osm_cameras, tmp_path: Path) -> None:
    """Roquebrune-Cap-Martin alone (3 % inside Monaco 2025), then with Beausoleil and Cap-d'Ail:
    all partly covered, so the total of every caption is a floor. The HTML said "0 cameras",
    the PNG's subtitle and the uMap caption too, the legends "camera (2)". The totals are those
    of the cameras osmium tags-filter finds inside their IGN outlines by shapely: 0, then 2."""
    shapes = ign_shapes(communes_06)
    border = ("06104", "06012", "06032")
    inside = {code: sum(shapes[code].contains(shapely.Point(o.lon, o.lat)) for o in osm_cameras(monaco_2025))
              for code in border}
    for codes in (border[:1], border):
        total = sum(inside[c] for c in codes)
        asked = [a for code in codes for a in ("--commune", code)]
        page, svg, umap = (tmp_path / f"{len(codes)}{suffix}" for suffix in (".html", ".svg", ".umap"))
        run_map(*asked, "--pbf", monaco_2025, "--boundaries", communes_06, "-o", page)
        run_map(*asked, "--pbf", monaco_2025, "--boundaries", communes_06, "-o", svg)
        dom = chromium("--dump-dom", page.as_uri()).stdout
        box = re.search(r"</h1>([^<]*)</div>", dom)
        assert box and box.group(1) == f"≥{total} cameras; data of 2025-02-07"
        drawn = svg.read_text(encoding="utf-8")
        assert f"Cameras per km², ≥{total} cameras; data of 2025-02-07" in drawn
        result = CliRunner().invoke(cli, ["export", "-q", *asked, "--pbf", str(monaco_2025),
                                          "--boundaries", str(communes_06), "-o", str(umap)])
        assert result.exit_code == 0, result.output
        caption = json.loads(umap.read_text(encoding="utf-8"))["properties"]["description"]
        assert f": ≥{total} cameras in {len(codes)} commune" in caption
        if total:  # the legend of the cameras by type, in both
            assert f"camera (≥{total})" in dom and f"camera (≥{total})" in drawn
    assert inside == {"06104": 0, "06012": 1, "06032": 1}


def test_a_commune_the_data_may_not_cover_is_not_said_to_lie_outside_it_on_a_map(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """Monaco 2025's camera in Beausoleil (node 10147090782) alone, taken out by osmium getid:
    a file with no bounding box and too few nodes to sample, which says nothing of Cap-d'Ail,
    whose note in count is that the data does not say whether it covers it. The HTML map's
    legend and popup, the PNG's legend and the uMap file's layer and popup said it lies
    outside the data; they say what its note says."""
    import matplotlib
    from devtools import Browser

    from osmcams.join import NO_COUNT_NOTE

    one = tmp_path / "one.osm.pbf"
    run_osmium("getid", monaco_2025, "n10147090782", "-o", one)
    info = json.loads(run_osmium("fileinfo", "-j", "-e", one))
    assert info["header"]["boxes"] == [] and info["data"]["count"]["nodes"] == 1
    source = ("--pbf", one, "--boundaries", communes_06, "--commune", "06012", "--commune", "06032")
    page = tmp_path / "one.html"
    run_map(*source, "-o", page)
    data = json.loads(re.search(r"var data = (\{.*?\});\n", page.read_text(encoding="utf-8")).group(1))
    assert data["noData"] == "no count: the OSM data does not say whether it covers (1)"
    features = {f["properties"]["insee"]: f["properties"] for f in data["communes"]["features"]}
    assert features["06032"]["note"] == NO_COUNT_NOTE and features["06032"]["_unknown"] is True
    assert "_unknown" not in features["06012"]
    assert "outside" not in json.dumps(data)
    browser = Browser()
    try:  # Cap-d'Ail's popup, clicked in Chromium
        tab = browser.open(page.as_uri())
        popups = []
        for i in range(tab.evaluate("document.querySelectorAll('path.osmcams-commune').length")):
            tab.evaluate(f"document.querySelectorAll('path.osmcams-commune')[{i}]"
                         ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
            browser.wait(0.5)
            popups.append(tab.evaluate("document.querySelector('.leaflet-popup-content').textContent"))
    finally:
        browser.close()
    (popup,) = [text for text in popups if text.startswith("Cap-d'Ail")]
    assert ("No count: the OpenStreetMap data of this map does not say whether it covers this commune, "
            "so its cameras were not counted (not zero).") in popup
    out = tmp_path / "one.umap"
    result = CliRunner().invoke(cli, ["export", *map(str, source), "-f", "umap", "-o", str(out), "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    layers = {layer["_umap_options"]["name"]: layer for layer in read_umap(out)["layers"]}
    nodata = layers["Communes without data"]
    assert nodata["_umap_options"]["description"] == (
        "No count: the OSM data does not say whether it covers (1): not counted, not zero.")
    assert [f["properties"]["description"] for f in nodata["features"]] == [
        "No count: the OSM data does not say whether it covers this commune, so its cameras were "
        "not counted."]
    text = out.read_text(encoding="utf-8")
    assert "outside" not in text and "does not cover" not in text
    # The static map's legend, its text kept as text in an SVG
    svg = tmp_path / "one.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        run_map(*source, "-o", svg)
    text = svg.read_text(encoding="utf-8")
    assert "no count: the OSM data does" in text and "not say whether it covers (1)" in text
    assert "outside" not in text


def svg_labels(path: Path) -> list[str]:
    """The texts of an SVG drawn with svg.fonttype "none", one a text artist (its lines
    joined by newlines), read from the XML."""
    import xml.etree.ElementTree as ElementTree

    svg = "{http://www.w3.org/2000/svg}"
    groups = [g for g in ElementTree.parse(path).iter(f"{svg}g") if g.get("id", "").startswith("text_")]
    return ["\n".join("".join(t.itertext()) for t in g.iter(f"{svg}text")) for g in groups]


def test_a_static_map_names_a_commune_the_data_may_not_cover_as_count_notes_it(
    monaco_2025: Path, communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """Monaco 2025's camera in Beausoleil (node 10147090782) alone, taken out by osmium getid:
    a file with no bounding box and one node (osmium fileinfo) says nothing of Cap-d'Ail, which
    count notes as a commune the data may not cover. The SVG's legend said so, but the name on
    the map read "Cap-d'Ail / no data"; it says "no count: may not be covered". Menton and Èze,
    which hold none of the nodes of the whole Monaco 2025 (osmium), lie outside the data: their
    names still read "no data". The names are read as text from the SVG's XML."""
    import matplotlib

    one = tmp_path / "one.osm.pbf"
    run_osmium("getid", monaco_2025, "n10147090782", "-o", one)
    info = json.loads(run_osmium("fileinfo", "-j", "-e", one))
    assert info["header"]["boxes"] == [] and info["data"]["count"]["nodes"] == 1
    shapes = ign_shapes(communes_06)
    nodes = run_osmium("cat", "-t", "node", monaco_2025, "-f", "opl")
    lon, lat = numpy.array(re.findall(r" x(-?[\d.]+) y(-?[\d.]+)", nodes), dtype=float).T
    assert not any(shapely.contains_xy(shapes[code], lon, lat).any() for code in ("06083", "06059"))
    cases = {"one": (one, ("06012", "06032")),
             "whole": (monaco_2025, ("06012", "06032", "06104", "06083", "06059"))}
    labels = {}
    for name, (pbf, codes) in cases.items():
        out = tmp_path / f"{name}.svg"
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            run_map(*[a for code in codes for a in ("--commune", code)], "--pbf", pbf,
                    "--boundaries", communes_06, "-o", out)
        labels[name] = svg_labels(out)
    assert "Cap-d'Ail\nno count: may\nnot be covered" in labels["one"]
    assert not [text for text in labels["one"] if "no data" in text]
    assert "Beausoleil" in labels["one"]
    assert "Menton\nno data" in labels["whole"] and "Èze\nno data" in labels["whole"]
    assert not [text for text in labels["whole"] if "may not" in text]
