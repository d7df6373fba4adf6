"""Shared fixtures: the real data beside the checkout, and small helpers."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`: skipped when absent, a failure when OSMCAMS_REQUIRE_REAL_DATA=1."""
    if not (SHARED_DATA / "osm").is_dir():
        reason = f"real data not found at {SHARED_DATA} (clone ../shared beside the checkout)"
        if os.environ.get("OSMCAMS_REQUIRE_REAL_DATA") == "1":
            pytest.fail(reason + "; OSMCAMS_REQUIRE_REAL_DATA=1 requires it")
        pytest.skip(reason)
    return SHARED_DATA


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point every endpoint at a closed local port, so no test can reach the internet."""
    for var in ("OSMCAMS_OVERPASS_URL", "OSMCAMS_GEO_API_URL", "OSMCAMS_DOWNLOAD_URL",
                "OSMCAMS_OSMFR_URL", "OSMCAMS_OHSOME_URL"):
        monkeypatch.setenv(var, "http://127.0.0.1:9/")
    monkeypatch.setenv("OSMCAMS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("OSMCAMS_MAX_TRIES", "1")
    monkeypatch.setenv("OSMCAMS_CONNECT_TIMEOUT", "1")


@pytest.fixture(scope="session")
def communes_06(ign_dir: Path) -> Path:
    """IGN 2018 communes of the Alpes-Maritimes."""
    return ign_dir / "communes-06-alpes-maritimes.geojson"


@pytest.fixture(scope="session")
def cog_population(shared_data: Path) -> Path:
    """Etalab COG 2026 communes with population."""
    return shared_data / "population/cog-2026/communes.json"


def renamed(cog_population: Path, folder: Path, name: str, code: str = "06012") -> Path:
    """The real COG table with the commune `code` (Beausoleil) named `name`."""
    rows = json.loads(cog_population.read_text(encoding="utf-8"))
    for row in rows:
        if row["code"] == code:
            row["nom"] = name
    population = folder / "renamed-communes.json"
    population.write_text(json.dumps(rows), encoding="utf-8")
    return population


@pytest.fixture
def controlled_population(cog_population: Path, tmp_path: Path) -> Path:
    """The real COG table with Beausoleil (06012) named "Beau<ESC>soleil<BEL><NEL>": control
    characters a terminal obeys and HTML refuses, which pages show as \\xNN."""
    return renamed(cog_population, tmp_path, "Beau\x1bsoleil\x07\x85")


@pytest.fixture
def split_population(cog_population: Path, tmp_path: Path) -> Path:
    """The real COG table with Beausoleil (06012) named "Beau<CR><LF>soleil<ESC>": a line
    break that would split a line on the terminal."""
    return renamed(cog_population, tmp_path, "Beau\r\nsoleil\x1b")


@pytest.fixture
def bracketed_population(cog_population: Path, tmp_path: Path) -> Path:
    """The real COG table with Beausoleil (06012) named "Beau[/x]soleil [b]": rich markup, a
    closing tag that opens nothing and a style."""
    return renamed(cog_population, tmp_path, "Beau[/x]soleil [b]")


# Markdown in a name: a cell's "|" (escaped or not), a line break, emphasis, a link, HTML,
# code, a backslash before punctuation, an ESC.
MARKED_NAME = "Beau|so\\|leil\n*x* [a](b) <i>`c\\` C:\\* \x1b_"


@pytest.fixture
def marked_population(cog_population: Path, tmp_path: Path) -> Path:
    """The real COG table with Beausoleil (06012) named MARKED_NAME."""
    return renamed(cog_population, tmp_path, MARKED_NAME)


def markdown_tables(text: str) -> list[list[list[str]]]:
    """The tables of a Markdown text as GitHub-flavoured Markdown reads them (markdown-it-py):
    each a list of rows, the header first, each cell as the text a reader sees. A cell that
    holds anything but text (emphasis, a link, HTML, code) fails."""
    from markdown_it import MarkdownIt

    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
            tables[-1].append(row)
        elif token.type == "tr_close":
            row = None
        elif token.type == "inline" and row is not None:
            children = token.children or []
            assert {child.type for child in children} <= {"text"}, (token.content, children)
            row.append("".join(child.content for child in children))
    return tables


def read_umap(path: Path) -> dict[str, Any]:
    """A .umap file as uMap imports it: JSON without NaN, a map ("type": "umap", centred on a
    point) of FeatureCollections, each with its options and a popup of its feature's name
    and description."""
    def refuse(name: str) -> float:
        raise AssertionError(f"{name} in {path}")

    document = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert document["type"] == "umap" and document["geometry"]["type"] == "Point"
    for layer in document["layers"]:
        assert layer["type"] == "FeatureCollection"
        template = layer["_umap_options"]["popupContentTemplate"]
        assert "{name}" in template and "{description}" in template
    return document


def shown_cell(value: Any, floor: bool = False) -> str:
    """How a Markdown table shows a value of the JSON: "–" for none, "≥" before a lower
    bound, a line break as a space, an ESC as \\x1b."""
    if value is None:
        return "–"
    if isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "–"
    elif isinstance(value, list):
        value = "; ".join(map(str, value)) or "–"
    text = " ".join(str(value).replace("\x1b", "\\x1b").splitlines())
    return ("≥" if floor else "") + text


def assert_rows(table: list[list[str]], rows: list[dict[str, Any]],
                bounds: tuple[str, ...] = ("cameras", "mapped_then")) -> dict[str, dict[str, str]]:
    """Each row of a Markdown `table` (`markdown_tables`, header first) shows the JSON row of
    the same place, cell by cell (`shown_cell`: the `bounds` of a partial row after "≥");
    the table's rows by their first cell, as {header: cell}."""
    header, *body = table
    assert len(body) == len(rows)
    for cells, row in zip(body, rows):
        assert cells == [shown_cell(row[key], row.get("partial") and key in bounds) for key in header]
    return {cells[0]: dict(zip(header, cells)) for cells in body}


# --- Network fixtures (issue 3): local fake services and settings pointing at them ----------


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver listens on 127.0.0.1 only."""
    return ("127.0.0.1", 0)


@pytest.fixture
def net_settings(httpserver, tmp_path: Path):
    """Settings whose every endpoint is the local test server, with fast retries."""
    from osmcams.settings import Settings

    return Settings(
        overpass_url=httpserver.url_for("/api/interpreter"),
        geo_api_url=httpserver.url_for("/geo"),
        download_url=httpserver.url_for("/geofabrik"),
        osmfr_url=httpserver.url_for("/extracts"),
        ohsome_url=httpserver.url_for("/ohsome/v1"),
        cache_dir=tmp_path / "cache",
        min_retry_wait=0.01,
        max_tries=3,
        connect_timeout=2.0,
        read_timeout=2.0,
    )


@pytest.fixture
def net_env(net_settings, monkeypatch):
    """The same settings through the environment, for CLI tests."""
    for name, var in {
        "overpass_url": "OSMCAMS_OVERPASS_URL", "geo_api_url": "OSMCAMS_GEO_API_URL",
        "download_url": "OSMCAMS_DOWNLOAD_URL", "osmfr_url": "OSMCAMS_OSMFR_URL",
        "ohsome_url": "OSMCAMS_OHSOME_URL",
        "cache_dir": "OSMCAMS_CACHE_DIR", "min_retry_wait": "OSMCAMS_MIN_RETRY_WAIT",
        "max_tries": "OSMCAMS_MAX_TRIES", "read_timeout": "OSMCAMS_READ_TIMEOUT",
    }.items():
        monkeypatch.setenv(var, str(getattr(net_settings, name)))
    return net_settings


@pytest.fixture
def geo_api(httpserver, shared_data: Path):
    """geo.api.gouv.fr at /geo, serving the real communes of a few departments."""
    from fake_services import GeoApi

    api = GeoApi(shared_data, ("06", "11", "30", "44", "75", "93", "974"))
    httpserver.expect_request("/geo/communes").respond_with_handler(api)
    return api


# --- Real extracts, scanned once per session -------------------------------------------


@pytest.fixture(scope="session")
def osm_dir(shared_data: Path) -> Path:
    """`../shared/data/osm`, the real OpenStreetMap extracts."""
    return shared_data / "osm"


@pytest.fixture(scope="session")
def ign_dir(shared_data: Path) -> Path:
    """The 101 IGN 2018 commune files, one per department."""
    return shared_data / "communes/ign-2018-simplified/departements"


@pytest.fixture(scope="session")
def monaco_2025(osm_dir: Path) -> Path:
    """Monaco 2025: 16 cameras, French border communes with incomplete boundaries."""
    return osm_dir / "monaco-2025-02-07.osm.pbf"


@pytest.fixture(scope="session")
def riviera(osm_dir: Path) -> Path:
    """The Riviera 2016 extract, whose Beausoleil, Cap-d'Ail, La Turbie and Monaco are complete."""
    return osm_dir / "big/osrm-monaco-fr-riviera-2016.osm.pbf"


@pytest.fixture(scope="session")
def monaco_scan(monaco_2025: Path):
    """Cameras and admin_level=8 boundaries of Monaco 2025."""
    from osmcams.sources.osm.pbf import scan_file

    return scan_file(monaco_2025, admin_level=8, threads=1)


@pytest.fixture(scope="session")
def riviera_scan(riviera: Path):
    """Cameras (none) and admin_level=8 boundaries of the Riviera 2016 extract."""
    from osmcams.sources.osm.pbf import scan_file

    return scan_file(riviera, admin_level=8, threads=1)


# --- osmium-tool: the independent reader that expected numbers come from ---------------


@dataclass(frozen=True)
class OplObject:
    """One object of osmium-tool's OPL output."""

    kind: str  # "n", "w" or "r"
    osm_id: int
    tags: dict[str, str]
    lon: float | None = None
    lat: float | None = None
    refs: tuple[str, ...] = ()
    timestamp: str | None = None


def _unescape(text: str) -> str:
    return re.sub(r"%([0-9a-fA-F]+)%", lambda m: chr(int(m.group(1), 16)), text)


def parse_opl(text: str) -> list[OplObject]:
    """OPL lines as objects (tags unescaped, node refs and members as their raw ids)."""
    objects = []
    for line in text.splitlines():
        fields = {f[0]: f[1:] for f in line.split(" ")[1:] if f}
        tags = dict(
            tuple(_unescape(part) for part in pair.split("=", 1))
            for pair in fields.get("T", "").split(",")
            if pair
        )
        refs = tuple(r.split("@")[0] for r in (fields.get("N") or fields.get("M") or "").split(",") if r)
        objects.append(OplObject(
            kind=line[0],
            osm_id=int(line.split(" ")[0][1:]),
            tags=tags,
            lon=float(fields["x"]) if fields.get("x") else None,
            lat=float(fields["y"]) if fields.get("y") else None,
            refs=refs,
            timestamp=fields.get("t"),
        ))
    return objects


def benchmark_script(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The script benchmarks/`name`.py as a module, registered in sys.modules for the test
    (its dataclasses look their module up there)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def run_osmium(*args: str | os.PathLike[str]) -> str:
    """osmium-tool's standard output."""
    osmium = shutil.which("osmium")
    if osmium is None:
        pytest.fail("osmium-tool is not installed (apt-get install osmium-tool)")
    done = subprocess.run([osmium, *map(str, args)], capture_output=True, text=True, check=True)
    return done.stdout


def on_small_disk(size: str, mount: Path, *command: str | os.PathLike[str],
                  timeout: float) -> subprocess.CompletedProcess[str]:
    """`command` run with a real tmpfs of `size` ("64k", "40m") mounted at `mount`, in a user
    and mount namespace of its own; its stdout then `ls -A` of the mount, its exit code.
    Skipped where no such namespace can be made."""
    script = ('mount -t tmpfs -o size="$1" tmpfs "$2" || exit 99\nmount="$2"\nshift 2\n'
              '"$@"\ncode=$?\nls -A "$mount"\nexit $code\n')
    try:
        done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
                               size, str(mount), *map(str, command)],
                              capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        pytest.skip("no unshare (util-linux) to mount a small file system")
    if done.returncode == 99 or "unshare:" in done.stderr:
        pytest.skip(f"no user namespace to mount a small file system in: {done.stderr.strip()}")
    return done


@pytest.fixture(scope="session")
def osmium_opl() -> Callable[..., list[OplObject]]:
    """Run an osmium-tool command (without -f/-o) and parse its OPL output."""

    def run(*args: str | os.PathLike[str]) -> list[OplObject]:
        return parse_opl(run_osmium(*args, "-f", "opl", "-o", "-"))

    return run


@pytest.fixture(scope="session")
def osm_cameras(osmium_opl: Callable[..., list[OplObject]]) -> Callable[[Path], list[OplObject]]:
    """The man_made=surveillance objects of a file, as osmium tags-filter finds them."""

    def cameras(path: Path) -> list[OplObject]:
        return osmium_opl("tags-filter", "-R", path, "man_made=surveillance")

    return cameras


@pytest.fixture(scope="session")
def ign_shapes() -> Callable[[Path], dict[str, Any]]:
    """IGN communes of a GeoJSON file as {code: shapely geometry}, read with json alone."""
    from shapely.geometry import shape

    def read(path: Path) -> dict[str, Any]:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
        return {f["properties"]["code"]: shape(f["geometry"]) for f in features}

    return read


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a small synthetic file (OPL, GeoJSON, CSV) into tmp_path and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


# --- Broken extracts, cut from a real one -------------------------------------------------

BROKEN_VARIANTS = ("first-half", "noise-in-the-middle", "header-only", "empty", "text")


def _header_length(data: bytes) -> int:
    """Bytes up to the end of the first PBF blob (the header), read from its BlobHeader."""
    size = int.from_bytes(data[:4], "big")
    blob_header = data[4 : 4 + size]
    index = blob_header.index(b"\x18")  # field 3, varint: datasize
    datasize, shift = 0, 0
    for byte in blob_header[index + 1 :]:
        datasize |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return 4 + size + datasize


def _broken_copies(source: Path, tmp_path: Path) -> dict[str, Path]:
    data = source.read_bytes()
    middle = bytearray(data)
    noise = random.Random(2).randbytes(4096)
    middle[len(data) // 2 : len(data) // 2 + len(noise)] = noise
    variants = dict(zip(BROKEN_VARIANTS, (
        data[: len(data) // 2],
        bytes(middle),
        data[: _header_length(data)],
        b"",
        b"this is not an OSM file\n",
    )))
    paths = {}
    for name, content in variants.items():
        paths[name] = tmp_path / f"{name}.osm.pbf"
        paths[name].write_bytes(content)
    return paths


@pytest.fixture
def broken_pbfs(osm_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """Copies of the Helsinki extract cut or damaged in several ways."""
    return _broken_copies(osm_dir / "helsinki-2019.osm.pbf", tmp_path)


@pytest.fixture(scope="session")
def osmium_polygons(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path, int], dict[int, Any]]:
    """Admin boundary relations that `osmium export` builds as polygons: {relation id: geometry}."""
    from shapely.geometry import shape

    def export(path: Path, admin_level: int) -> dict[int, Any]:
        filtered = tmp_path_factory.mktemp("osmium") / "boundaries.osm.pbf"
        run_osmium("tags-filter", path, "r/boundary=administrative", "-o", filtered)
        text = run_osmium("export", filtered, "--geometry-types=polygon", "-f", "geojsonseq",
                          "-a", "type,id", "-o", "-")
        features = [json.loads(line.strip("\x1e")) for line in text.splitlines() if line.strip("\x1e")]
        return {
            int(f["properties"]["@id"]): shape(f["geometry"])
            for f in features
            if f["properties"]["@type"] == "relation"
            and f["properties"].get("admin_level") == str(admin_level)
        }

    return export


@pytest.fixture(scope="session")
def camera_pbf(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Write camera nodes {id: (lon, lat, tags)} as a PBF whose header declares `bounds`."""
    from xml.sax.saxutils import quoteattr

    def write(nodes: dict[int, tuple[float, float, dict[str, str]]],
              bounds: tuple[float, float, float, float], timestamp: str = "2025-03-01T00:00:00Z") -> Path:
        w, s, e, n = bounds
        lines = ['<osm version="0.6" generator="test">',
                 f'<bounds minlon="{w}" minlat="{s}" maxlon="{e}" maxlat="{n}"/>']
        for node, (lon, lat, tags) in sorted(nodes.items()):
            lines.append(f'<node id="{node}" version="1" timestamp="{timestamp}" lon="{lon:.7f}" '
                         f'lat="{lat:.7f}">')
            lines += [f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
            lines.append("</node>")
        folder = tmp_path_factory.mktemp("pbf")
        (folder / "cameras.osm").write_text("\n".join([*lines, "</osm>"]) + "\n", encoding="utf-8")
        run_osmium("cat", folder / "cameras.osm", "-o", folder / "cameras.osm.pbf")
        return folder / "cameras.osm.pbf"

    return write


@pytest.fixture
def monaco_cut(monaco_2025, riviera, osmium_polygons, tmp_path) -> tuple[Path, Path]:
    """Monaco 2025 with the polygon it was cut with beside it, as openstreetmap.fr has it:
    Monaco's boundary (Riviera 2016) 0.005° wider, which gives the French communes the
    shares that an audit of the file found (Beausoleil 0.51, Cap-d'Ail 0.24, La Turbie
    0.03, Roquebrune 0.05)."""
    import shapely

    folder = tmp_path / "extract"
    folder.mkdir()
    pbf = folder / "monaco.osm.pbf"
    pbf.symlink_to(monaco_2025)
    lines = ["monaco"]
    for i, part in enumerate(shapely.get_parts(osmium_polygons(riviera, 8)[2220322].buffer(0.005)), 1):
        lines += [str(i), *(f"  {x} {y}" for x, y in part.exterior.coords), "END"]
    (folder / "monaco.poly").write_text("\n".join([*lines, "END"]) + "\n")
    return pbf, folder / "monaco.poly"


def share_inside(shape: Any, poly: Path) -> float:
    """The geodesic share of `shape` inside the Osmosis polygon file `poly` (pyproj)."""
    import pyproj
    import shapely

    rings, ring = [], []
    for line in poly.read_text().splitlines()[1:]:
        if line.strip() == "END":
            rings, ring = [*rings, ring] if ring else rings, []
        elif line.startswith(" "):
            ring.append(tuple(map(float, line.split())))
    cut = shapely.union_all([shapely.Polygon(r) for r in rings])
    geod = pyproj.Geod(ellps="WGS84")

    def area(g: Any) -> float:
        return abs(geod.geometry_area_perimeter(g)[0])

    return area(shape.intersection(cut)) / area(shape)


# --- Markers: `pytest -m "not slow"` is the developers' quick loop --------------------------

# Tests that took over 0.3 s on a quiet 2-core machine (`pytest --durations=0`, 2026-12-06).
SLOW = {
    "test_backfill.py::test_a_backfill_and_the_refreshes_after_it_add_each_camera_once",
    "test_backfill.py::test_backfill_goes_before_the_refresh_runs_and_leaves_them_alone",
    "test_backfill.py::test_backfill_seeds_counts_changes_and_cameras",
    "test_backfill.py::test_refresh_and_backfill_honour_the_population_year",
    "test_backfill.py::test_the_site_charts_the_backfilled_runs",
    "test_benchmarks.py::test_smoke_agrees_with_osmium",
    "test_blocks.py::test_a_subset_holds_every_wanted_object",
    "test_blocks.py::test_an_unsorted_file_is_still_counted_right",
    "test_blocks.py::test_first_ids_are_real_and_increasing",
    "test_blocks.py::test_the_cells_of_points_are_those_numpy_unique_finds",
    "test_caches.py::test_a_timeline_over_a_grid_runs_twice_with_the_same_output",
    "test_caches.py::test_the_population_cache_gives_back_the_table_and_follows_its_changes",
    "test_cli.py::test_all_lists_the_communes_left_out",
    "test_cli.py::test_an_incomplete_boundary_is_one_line_and_exit_4",
    "test_cli.py::test_boundaries_from_another_osm_file",
    "test_cli.py::test_broken_pbf_exit_4_and_no_output",
    "test_cli.py::test_count_csv_to_a_file_and_overwrite",
    "test_cli.py::test_count_format_follows_the_output_suffix",
    "test_cli.py::test_count_json_with_ign_boundaries",
    "test_cli.py::test_export_one_file_per_commune",
    "test_cli.py::test_export_to_a_directory_is_all_or_nothing",
    "test_cli.py::test_homonyms_and_unknown_names_exit_3",
    "test_cli.py::test_main_returns_exit_codes",
    "test_cli.py::test_partly_covered_communes_are_lower_bounds_in_every_format",
    "test_cli.py::test_region_ranking_per_inhabitant",
    "test_cli.py::test_table_formats",
    "test_cli.py::test_top_rows_and_the_table_limit",
    "test_cli.py::test_verbose_logs_the_decisions_on_stderr",
    "test_communes.py::test_all_ign_files_keep_every_commune_and_report_merged_codes",
    "test_communes.py::test_department_06_with_population",
    "test_communes.py::test_names_with_their_article",
    "test_communes.py::test_the_boundary_cache_gives_back_what_the_files_hold",
    "test_compare.py::test_an_about_figure_gives_an_about_ratio",
    "test_compare.py::test_completeness_over_time_from_a_history_file",
    "test_compare.py::test_completeness_over_time_from_the_refresh_store",
    "test_compare.py::test_department_of_the_gard",
    "test_compare.py::test_every_count_format",
    "test_compare.py::test_every_qualifier_and_scope",
    "test_coverage.py::test_a_bad_geojson_extent_is_one_line_and_exit_4",
    "test_coverage.py::test_a_bad_poly_is_one_line_and_exit_4",
    "test_coverage.py::test_a_camera_on_a_way_is_no_evidence_where_the_sampling_missed_it",
    "test_coverage.py::test_a_file_of_pieces_counts_the_pieces_it_did_not_sample",
    "test_coverage.py::test_an_extract_of_ways_alone_errs_toward_no_data",
    "test_coverage.py::test_extent_given_as_geojson_and_box_as_an_upper_bound",
    "test_coverage.py::test_no_count_where_the_extract_has_no_data",
    "test_coverage.py::test_only_triangles_among_the_sampled_nodes_are_judged_hollow",
    "test_coverage.py::test_the_estimate_against_the_true_share_of_communes",
    "test_coverage.py::test_the_estimate_does_not_bridge_a_notch_of_the_cut",
    "test_coverage.py::test_the_estimate_errs_toward_no_data",
    "test_coverage.py::test_the_header_box_is_an_upper_bound",
    "test_coverage.py::test_the_poly_beside_an_extract_gives_the_true_share",
    "test_coverage.py::test_the_tiled_benchmark_is_measured_against_its_tiles",
    "test_examples.py::test_crontab_service_and_wrapper",
    "test_examples.py::test_diffs_gone_with_a_region_downloads_afresh",
    "test_exports.py::test_beausoleil_cameras_have_flat_true_properties",
    "test_exports.py::test_gdal_formats_hold_every_camera",
    "test_faults.py::test_a_changed_selection_is_published_at_once",
    "test_faults.py::test_a_full_temporary_disk_under_the_pbf_copy_of_xml_is_one_line",
    "test_faults.py::test_an_xml_extract_with_a_coordinate_that_is_no_number_is_one_line",
    "test_faults.py::test_ctrl_c_ends_a_count_within_2_s",
    "test_faults.py::test_fault",
    "test_faults.py::test_refresh_on_a_full_disk_is_one_line_and_changes_nothing",
    "test_figures.py::test_fisher_jenks_breaks_are_optimal",
    "test_files.py::test_a_full_disk_is_one_line_and_leaves_nothing",
    "test_files.py::test_a_killed_export_leaves_whole_files_of_one_run",
    "test_files.py::test_a_killed_publish_leaves_the_old_set_or_the_new",
    "test_fov.py::test_export_fov_on_a_real_extract",
    "test_geoapi.py::test_contour_and_population_in_one_request",
    "test_geoapi.py::test_resolve_by_name_without_accents_or_case",
    "test_geojson.py::test_every_ign_file_reads_as_gdal_reads_it",
    "test_geometry.py::test_areas_within_1e_6_of_geodesic_on_every_ign_commune",
    "test_geometry.py::test_our_rings_are_osmiums_on_every_real_admin_boundary",
    "test_geometry.py::test_shapely_polygonize_agrees_on_every_real_admin_boundary",
    "test_http.py::test_429_waits_at_least_the_minimum",
    "test_http.py::test_429_with_retry_after_then_success",
    "test_http.py::test_a_stall_in_the_middle_of_the_body_says_so",
    "test_http.py::test_a_trickling_server_meets_the_deadline",
    "test_http.py::test_slow_answer_times_out",
    "test_interrupts.py::test_a_refresh_stopped_twice_leaves_a_sound_store_and_whole_sets",
    "test_interrupts.py::test_a_site_killed_while_it_is_published_is_finished_by_the_next_run",
    "test_interrupts.py::test_ctrl_c_as_a_site_build_imports_its_libraries_is_one_line",
    "test_interrupts.py::test_ctrl_c_as_a_temporary_file_is_made_leaves_nothing",
    "test_interrupts.py::test_ctrl_c_twice_in_a_count_leaves_its_geopackage_whole_or_none",
    "test_interrupts.py::test_ctrl_c_twice_in_a_site_build_leaves_the_old_site_or_the_new",
    "test_interrupts.py::test_ctrl_c_twice_in_an_export_leaves_one_whole_set",
    "test_interrupts.py::test_what_a_killed_read_leaves_in_the_temporary_folder_the_next_run_removes",
    "test_layers.py::test_folders_import_only_from_folders_below",
    "test_layers.py::test_third_party_libraries_stay_in_their_module",
    "test_maps.py::test_a_commune_the_data_may_not_cover_is_not_said_to_lie_outside_it_on_a_map",
    "test_maps.py::test_a_popup_opens_clear_of_the_title_box",
    "test_maps.py::test_department_map_html_shows_what_it_does_not_know",
    "test_maps.py::test_department_png_marks_partial_and_missing",
    "test_maps.py::test_html_map_in_chromium",
    "test_maps.py::test_no_data_is_not_the_lowest_class",
    "test_maps.py::test_osm_values_are_escaped_in_the_page",
    "test_maps.py::test_static_map_of_a_department",
    "test_maps.py::test_vector_maps",
    "test_match.py::test_a_register_with_a_count_per_site",
    "test_match.py::test_an_export_s_own_columns_are_not_read_as_tags",
    "test_match.py::test_cameras_from_every_export_format",
    "test_match.py::test_osm_side_from_a_pbf_and_geopackage_layers",
    "test_match.py::test_paris_register_is_read_as_sites_and_matches_a_brute_force_count",
    "test_models.py::test_first_of_each_on_the_squares_of_real_nodes",
    "test_native.py::test_the_c_reader_reads_what_python_reads",
    "test_ohsome.py::test_429_waits_then_goes_on",
    "test_ohsome.py::test_a_batch_that_times_out_is_split",
    "test_ohsome.py::test_a_camera_relation_is_placed_as_the_file_places_it",
    "test_ohsome.py::test_a_refused_commune_is_named_and_null",
    "test_ohsome.py::test_answers_that_cannot_be_trusted_count_nothing",
    "test_ohsome.py::test_backfill_from_ohsome_gives_the_counts_per_date",
    "test_ohsome.py::test_department_06_monthly_since_2010_costs_a_few_requests",
    "test_ohsome.py::test_every_year_starts_before_the_first_camera_and_a_second_run_is_free",
    "test_ohsome.py::test_monthly_counts_agree_with_the_file_and_with_osmium",
    "test_ohsome.py::test_ohsome_is_asked_to_stop_before_osmcams_gives_up",
    "test_ohsome.py::test_ohsome_own_count_of_ways_differs_so_osmcams_asks_per_type",
    "test_ohsome.py::test_saint_barthelemy_real_diff",
    "test_ohsome.py::test_the_table",
    "test_online.py::test_credentials_never_reach_the_outputs",
    "test_online.py::test_osm_boundary_source",
    "test_overpass.py::test_boundary_from_real_relation",
    "test_overpass.py::test_open_ring_is_a_clear_error",
    "test_pbf.py::test_every_surveillance_object_is_a_camera",
    "test_pbf.py::test_node_cameras_sit_where_osmium_puts_them",
    "test_quality.py::test_quality_agrees_with_a_loop_over_osmium",
    "test_quickstart.py::test_a_selection_the_data_does_not_cover_is_an_error",
    "test_quickstart.py::test_an_extract_is_counted_in_the_official_communes_kept_for_offline_runs",
    "test_quickstart.py::test_download_communes_fills_the_cache_ahead_of_an_offline_run",
    "test_quickstart.py::test_the_demo_counts_offline_in_a_bare_directory",
    "test_quickstart.py::test_the_demo_takes_a_commune_by_name_and_refuses_other_data",
    "test_quickstart.py::test_without_kept_communes_or_network_the_extracts_relations_are_used_and_said",
    "test_refresh.py::test_a_commune_holding_all_the_data_keeps_its_row_without_cameras",
    "test_refresh.py::test_a_commune_outside_the_data_that_loses_its_camera_leaves_a_patched_set",
    "test_refresh.py::test_a_file_edited_or_deleted_by_hand_is_written_again",
    "test_refresh.py::test_a_first_run_covers_what_count_covers_on_a_sampled_file",
    "test_refresh.py::test_a_history_of_schema_6_counts_every_commune_again",
    "test_refresh.py::test_a_store_of_schema_7_writes_the_whole_set_once_then_patches",
    "test_refresh.py::test_an_area_from_all_sampled_nodes_follows_the_cameras",
    "test_refresh.py::test_diffs_give_what_osmium_apply_changes_gives",
    "test_refresh.py::test_patched_sets_equal_a_whole_recount_after_each_diff",
    "test_refresh.py::test_the_real_saint_barthelemy_diff",
    "test_refresh_kills.py::test_random_kills_leave_whole_files_and_a_sound_history",
    "test_sieve.py::test_boundaries_are_left_to_libosmium_with_their_blocks",
    "test_sieve.py::test_lz4_blocks_are_sifted_as_zlib_ones",
    "test_sieve.py::test_the_sieve_leaves_the_block_index_behind",
    "test_sieve.py::test_worker_processes_read_what_osmium_reads",
    "test_sieve.py::test_zstd_blocks_are_sifted_as_zlib_ones",
    "test_site.py::test_a_full_disk_is_one_line_naming_the_site_and_changes_nothing",
    "test_site.py::test_a_killed_build_leaves_no_worker_holding_its_lock",
    "test_site.py::test_a_killed_build_leaves_the_old_site_or_the_new",
    "test_site.py::test_a_killed_refresh_leaves_a_whole_site_that_the_next_run_brings_up_to_date",
    "test_site.py::test_downloads_from_the_cameras_a_whole_build_read_equal_those_read_anew",
    "test_site.py::test_site_command_and_its_errors",
    "test_site.py::test_site_kept_by_refresh",
    "test_site.py::test_whole_builds_write_the_same_state_under_any_hash_seed",
    "test_site_london.py::test_a_london_site_agrees_with_count_changes_and_history_after_each_diff",
    "test_tables.py::test_compare_gives_a_commune_outside_the_data_its_reason",
    "test_tables.py::test_count",
    "test_tables.py::test_quality",
    "test_timeline.py::test_a_chart_honours_the_suffix",
    "test_timeline.py::test_a_history_cut_by_osmium_extract_gives_coverage",
    "test_timeline.py::test_a_history_is_covered_where_count_covers_its_last_snapshot",
    "test_timeline.py::test_a_map_at_a_date_counts_what_osmium_time_filter_holds",
    "test_timeline.py::test_beyond_twelve_communes_the_chart_draws_the_top_twelve",
    "test_timeline.py::test_counts_match_a_loop_over_each_track_at_each_date",
    "test_timeline.py::test_every_hour_across_a_day_of_changes",
    "test_timeline.py::test_every_month_with_moves_retags_and_deletions",
    "test_timeline.py::test_every_year_from_the_first_camera_to_the_data_date",
    "test_timeline.py::test_impossible_spans_are_usage_errors",
    "test_timeline.py::test_reported_figures_are_dated_points_on_the_chart",
    "test_timeline.py::test_saint_barthelemy_real_diff",
    "test_timeline.py::test_the_table_has_a_sparkline",
    "test_types.py::test_csv_round_trip_through_gdal_keeps_the_codes",
    "test_types.py::test_the_readme_recipe_for_pandas",
    "test_umap.py::test_every_camera_is_there_with_flat_properties",
    "test_umap.py::test_the_file_is_a_umap_map",
    "test_writers.py::test_count_files_say_where_their_numbers_come_from",
    "test_writers.py::test_count_writes_the_communes_as_a_density_layer",
}


def _source(function: Callable[..., Any]) -> str:
    import inspect

    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _sources(item: pytest.Item) -> str:
    """The text of a test and of every fixture it uses."""
    texts = [_source(getattr(item, "function", None))]
    for definitions in item._fixtureinfo.name2fixturedefs.values():
        texts += [_source(d.func) for d in definitions]
    return "\n".join(texts)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs: slow, chromium, osmium (osmium-tool), real_data."""
    for item in items:
        text = _sources(item)
        chromium = "chromium(" in text
        if chromium:
            item.add_marker(pytest.mark.chromium)
        if "run_osmium(" in text or "osmium_opl" in text:
            item.add_marker(pytest.mark.osmium)
        if "shared_data" in item.fixturenames:
            item.add_marker(pytest.mark.real_data)
        if chromium or f"{item.path.name}::{getattr(item, 'originalname', item.name)}" in SLOW:
            item.add_marker(pytest.mark.slow)
