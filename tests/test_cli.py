"""The command line: help, exit codes, one-line errors, outputs, on real data."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import click
import pyogrio
import pytest
from click.testing import CliRunner, Result
from conftest import BROKEN_VARIANTS, MARKED_NAME

from osmcams.cli import cli, main
from osmcams.errors import ExitCode

HEAVY = ("geopandas", "osmium", "pyproj", "requests", "shapely", "pandas", "pyogrio", "rich",
         "matplotlib", "mapclassify")
INCOMPLETE = ("Beausoleil", "Cap-d'Ail", "La Turbie", "Roquebrune-Cap-Martin")


def invoke(*args: str | Path) -> Result:
    """Run osmcams with `args` (progress bars off) and return the result."""
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(result: Result, code: ExitCode, text: str) -> None:
    """The exit code, and one clean `osmcams: error:` line naming `text` (after any warnings)."""
    assert result.exit_code == code, result.output
    *warnings, last = result.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in warnings), result.stderr
    assert last.startswith("osmcams: error: ")
    assert text in last
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.fixture(scope="module")
def ign_06(communes_06: Path, cog_population: Path) -> tuple[str, ...]:
    """Options for IGN 06 boundaries with the COG population."""
    return ("--boundaries", str(communes_06), "--population", str(cog_population), "-q")


# --- Help and imports -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name: str) -> None:
    command = cli.commands[name]
    assert command.help, f"{name} has no help text"
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output or "Examples:" in result.output
    assert f"osmcams {name} " in result.output


def test_group_help_lists_exit_codes() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Exit codes: 0 OK, 1 internal error, 2 usage error, 3 commune not found" in result.output


def test_help_imports_nothing_heavy() -> None:
    timing = subprocess.run([sys.executable, "-X", "importtime", "-c", "import osmcams.cli"],
                            capture_output=True, text=True, check=True).stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in timing.splitlines()[1:]}
    assert "click" in imported
    assert imported.isdisjoint(HEAVY), imported & set(HEAVY)
    code = ("import sys; from osmcams.cli import main; code = main(['count', '--help']); "
            f"print(code, *sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "0"  # the exit code, and no heavy module after it


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.startswith("osmcams, version ")


# --- Usage errors (exit 2) --------------------------------------------------------------


def test_no_command_is_the_help(capsys) -> None:
    """`osmcams` alone prints its help on stdout, not as an error (click 8.2 raises it as one)."""
    from osmcams.cli import main

    assert main([]) == ExitCode.USAGE
    out, err = capsys.readouterr()
    assert out.startswith("Usage: osmcams [OPTIONS] COMMAND") and "count" in out and err == ""


@pytest.mark.parametrize(("args", "message"), [
    (["count", "--foo"], "No such option '--foo'"),
    (["count", "--format", "nope"], "'nope' is not one of"),
    (["changes"], "Missing option '--config'. (see osmcams changes --help)"),
    (["nosuch"], "No such command 'nosuch'"),
])
def test_click_usage_errors_are_one_line_too(args: list[str], message: str, capsys) -> None:
    """What click refuses (an unknown option, a bad choice) reads as osmcams's own errors:
    one line, where to look, exit 2 (click printed its usage, a hint and the error)."""
    from osmcams.cli import main

    assert main(args) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("osmcams: error: ") and message in err, err


@pytest.mark.parametrize(("args", "message"), [
    (["count", "--all", "--commune", "Nice"], "--all excludes --commune and --department"),
    (["count", "--all", "--department", "06"], "--all excludes --commune and --department"),
    (["count", "--commune", "Nice", "--boundaries", "."],
     "--boundaries, --code-field, --name-field and --extent go with --pbf or --region"),
    (["count"], "name a commune with --commune, a --department, or use --all"),
    (["count", "--demo", "-o", "-"], "-o -: leave out -o to write to standard output"),
    (["export", "--demo", "--commune", "06012", "-o", "-"], "-o -: leave out -o"),
    (["export", "--commune", "Nice", "--pbf", "x.pbf", "-o", "a.geojson", "--output-dir", "d"],
     "give exactly one of --output and --output-dir"),
    (["export", "--commune", "Nice", "--pbf", "x.pbf"], "give exactly one of --output and --output-dir"),
    (["export", "--commune", "Nice", "--pbf", "x.pbf", "-f", "csv", "--sequence", "-o", "a"],
     "--sequence goes with GeoJSON only"),
])
def test_contradictory_options_are_usage_errors(args: list[str], message: str) -> None:
    assert_one_line_error(invoke(*args), ExitCode.USAGE, message)


@pytest.mark.parametrize("args", [["count", "--format", "xml"], ["count", "--admin-level", "99"],
                                  ["nosuchcommand"], ["count", "--bogus"]])
def test_click_usage_errors_exit_2(args: list[str]) -> None:
    assert main(args) == ExitCode.USAGE
    assert invoke(*args).exit_code == ExitCode.USAGE


# --- Counting from the PBF's own boundaries ---------------------------------------------


def test_an_incomplete_boundary_is_one_line_and_exit_4(monaco_2025: Path) -> None:
    result = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, "-q")
    assert_one_line_error(result, ExitCode.DATA, "cannot count 'Beausoleil' (06012): its boundary is")


def test_an_extract_without_any_whole_boundary_says_why_and_what_to_do(
    osm_dir: Path, osmium_opl, osmium_polygons
) -> None:
    """Monaco 2021 cuts every admin_level=8 relation it holds: osmium builds none. Asked for
    by name, a commune gets the reason of its own (its relation); --all names them all."""
    monaco_2021 = osm_dir / "monaco-2021-04-21.osm.pbf"
    assert osmium_polygons(monaco_2021, 8) == {}
    relations = [o for o in osmium_opl("tags-filter", "-R", monaco_2021, "r/admin_level=8")
                 if o.kind == "r" and o.tags.get("boundary") == "administrative"]
    beausoleil = next(o.osm_id for o in relations if o.tags.get("name") == "Beausoleil")
    named = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2021, "-q")
    assert_one_line_error(named, ExitCode.DATA, f"cannot count 'Beausoleil' (06012): its boundary is "
                          f"incomplete in monaco-2021-04-21.osm.pbf (relation {beausoleil}: ")
    every = invoke("count", "--all", "--pbf", monaco_2021, "-q")
    assert_one_line_error(every, ExitCode.DATA, f"(admin_level=8 relations): {len(relations)} left out")
    assert all(o.tags["name"] in every.stderr for o in relations)
    assert "--boundaries" in every.stderr and "--admin-level" in every.stderr


def test_all_lists_the_communes_left_out(monaco_2025: Path, osm_cameras, osmium_polygons) -> None:
    import shapely

    monaco = osmium_polygons(monaco_2025, 8)[2220322]  # the one admin_level 8 polygon osmium builds
    inside = [o for o in osm_cameras(monaco_2025) if monaco.intersects(shapely.Point(o.lon, o.lat))]
    # Monaco's outline takes in the sea, where no node lies: it is partly covered.
    result = invoke("count", "--all", "--pbf", monaco_2025, "-q", "-f", "json", "--include-partial")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [(r["name"], r["cameras"]) for r in data["communes"]] == [("Monaco", len(inside))]
    for name in INCOMPLETE:
        assert any(w.startswith(f"boundary of {name!r} (") for w in data["warnings"])
        assert f"warning: boundary of {name!r} (" in result.stderr


def test_saint_barthelemy_zero_cameras(osm_dir: Path) -> None:
    pbf = osm_dir / "saint-barthelemy/saint_barthelemy.osm.pbf"
    result = invoke("count", "--commune", "saint-barthelemy", "--pbf", pbf, "--admin-level", "3", "-q",
                    "-f", "csv")
    assert result.exit_code == 0, result.output
    _, row = result.stdout.splitlines()
    assert row.startswith("97-7,Saint-Barthélemy,,9035,")
    # The relation takes in the sea: under 1 % covered, a lower bound and no density; counted
    # all the same, as it holds all the data. Its share (0.007) reads "<1%", not "1%" or "0%".
    assert ",True,0,,,,{},{},\"partial data: <1% of the area, count incomplete\"" in row
    table = invoke("count", "--commune", "saint-barthelemy", "--pbf", pbf, "--admin-level", "3", "-q")
    # km² as the population, with thousands separators, and every area with 3 decimals
    assert re.search(r"97-7 +Saint-Barthélemy +9,035 +1,814\.333 +<1% +≥0 ", table.stdout), table.stdout


# --- Counting with IGN boundaries ---------------------------------------------------------


def test_count_json_with_ign_boundaries(
    monaco_2025: Path, ign_06: tuple[str, ...], cog_population: Path
) -> None:
    result = invoke("count", "--commune", "BEAUSOLEIL", "--commune", "cap d'ail", "--pbf", monaco_2025,
                    *ign_06, "--population-year", "2026", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    cog = {r["code"]: r.get("population") for r in json.loads(cog_population.read_text())}
    assert [(r["insee"], r["cameras"], r["population"]) for r in data["communes"]] == [
        ("06012", 1, cog["06012"]), ("06032", 1, cog["06032"])
    ]
    assert data["meta"]["data_timestamp"] == "2025-02-07T01:02:45Z"
    assert data["meta"]["population_year"] == "2026"
    assert not any("census year" in w for w in data["warnings"])


def test_a_census_year_without_its_table_is_refused(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """--population-year dates the table of --population: without one, the shipped table of
    2023 was used and the year given dropped without a word; it is a usage error, on the
    command line as in a refresh configuration."""
    from osmcams.errors import UsageError
    from osmcams.refresh.config import load_config

    result = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries", communes_06,
                    "--population-year", "2020", "-f", "json")
    assert_one_line_error(result, ExitCode.USAGE, "--population-year dates the table of --population, "
                          "not given")
    config = tmp_path / "osmcams.toml"
    config.write_text(f'[source]\npbf = "{monaco_2025}"\n[communes]\nboundaries = "{communes_06}"\n'
                      'department = "06"\npopulation_year = "2020"\n[output]\ndir = "out"\n')
    with pytest.raises(UsageError, match=r"\[communes\] population_year dates the table of population"):
        load_config(config)


def test_a_population_table_of_unknown_year_says_to_give_it(
    monaco_2025: Path, communes_06: Path, cog_population: Path
) -> None:
    """Etalab's communes.json states no census year, nor does its name: every output says
    "year unknown", and a warning says how to give it."""
    assert not re.search(r"(19|20)[0-9][0-9]", cog_population.name)
    assert not any(re.fullmatch(r"(P|PMUN)[0-9][0-9](_POP)?", key, re.I)
                   for row in json.loads(cog_population.read_text()) for key in row)
    result = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries", communes_06,
                    "--population", cog_population, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["meta"]["population_year"] is None
    said = [w for w in data["warnings"] if "census year" in w]
    assert said == ["the census year of the population of communes.json is unknown (neither its "
                    "columns nor its name say it): give --population-year (population_year in a "
                    "refresh configuration)"]
    assert f"warning: {said[0]}" in result.stderr


def test_a_name_with_a_line_break_stays_on_its_line_of_stderr(
        monaco_2025: Path, communes_06: Path, split_population: Path) -> None:
    """Beausoleil named "Beau<CR><LF>soleil<ESC>" in the real COG table: the warnings that
    name it (partly inside Monaco 2025, left out of the ranking) and the error that suggests
    it were split over two lines of stderr; each is one line, the break shown as \\r\\n."""
    shown = "Beau\\r\\nsoleil\\x1b (06012)"
    args = ("--pbf", monaco_2025, "--boundaries", communes_06, "--population", split_population)
    ranked = invoke("count", *args, "--department", "06", "--sort-by", "cameras")
    assert ranked.exit_code == 0, ranked.output
    lines = ranked.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in lines), ranked.stderr
    assert sum(shown in line for line in lines) == 2, ranked.stderr
    wrong = invoke("count", *args, "--commune", "Beausoleilx")
    assert_one_line_error(wrong, ExitCode.COMMUNE, f"did you mean {shown}?")


def test_the_line_naming_a_file_shows_its_commune_and_path_as_they_are(
        monaco_2025: Path, communes_06: Path, marked_population: Path, tmp_path: Path) -> None:
    """Beausoleil named with a line break, an ESC and "[a](b)" in the real COG table, exported
    with Cap-d'Ail to one file, and a map written to a folder named "[b]": the lines naming what
    was written split the name over two lines, sent the ESC raw and read "[a]" and "[b]" as
    rich markup, dropping them; each is now one line, the name and path as they are."""
    shown = MARKED_NAME.replace("\n", "\\n").replace("\x1b", "\\x1b")
    args = ("--pbf", monaco_2025, "--boundaries", communes_06, "--population", marked_population,
            "--population-year", "2023", "--commune", "06012", "--commune", "06032")
    out = tmp_path / "two.geojson"
    result = invoke("export", *args, "-o", out)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert lines == [f"{out}: 1 camera in {shown} (06012), a lower bound (coverage 40%)",
                     f"{out}: 1 camera in Cap-d'Ail (06032), a lower bound (coverage 14%)"]
    (tmp_path / "[b]").mkdir()
    page = tmp_path / "[b]" / "map.html"
    result = invoke("map", *args, "-o", page)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == f"{page}: 2 communes"


def match_paris_as(register: Path, shared_data: Path) -> Result:
    """match of the Paris police register copied to `register`, against a camera at its first
    site (a file beside it); it succeeded."""
    register.write_bytes((shared_data / "official/paris-police-2019/data.csv").read_bytes())
    cameras = register.with_name("one.geojson")
    cameras.write_text(json.dumps({"type": "FeatureCollection", "features": [  # the register's first site
        {"type": "Feature", "properties": {"@id": "node/1"},
         "geometry": {"type": "Point", "coordinates": [2.34750188, 48.85875016]}}]}), encoding="utf-8")
    result = invoke("match", "--official", register, "--cameras", cameras, "-q")
    assert result.exit_code == 0, result.output
    return result


def test_rich_markup_in_a_name_or_path_is_shown_in_tables(
        monaco_2025: Path, communes_06: Path, bracketed_population: Path, shared_data: Path,
        tmp_path: Path) -> None:
    """Beausoleil named "Beau[/x]soleil [b]" in the real COG table ended count's table in a
    traceback (rich read "[/x]" as a closing tag), and the Paris police register read from a
    folder "[/b]" ended match's summary so; the table shows the name, the summary the path,
    as they are."""
    result = invoke("count", "--pbf", monaco_2025, "--boundaries", communes_06, "--population",
                    bracketed_population, "--population-year", "2023", "--commune", "06012", "-q")
    assert result.exit_code == 0, result.output
    assert "06012  Beau[/x]soleil [b]  11,936" in result.stdout
    folder = tmp_path / "[" / "b]"
    folder.mkdir(parents=True)
    register = folder / "data.csv"
    result = match_paris_as(register, shared_data)
    assert re.search(rf"official_source +{re.escape(str(register))}", result.stdout), result.stdout


def test_a_control_character_in_a_path_reaches_no_terminal_in_match_s_summary(
        shared_data: Path, tmp_path: Path) -> None:
    """The Paris police register copied to a file named with an ESC sequence (clear the
    screen): match's summary table sent the ESC raw to the terminal, as its official_source;
    it shows it as \\x1b, as count's tables and the warnings do."""
    register = tmp_path / "sites\x1b[2J.csv"
    result = match_paris_as(register, shared_data)
    assert "\x1b" not in result.stdout
    shown = str(register).replace("\x1b", "\\x1b")  # by hand: the ESC as its four characters
    assert re.search(rf"official_source +{re.escape(shown)}", result.stdout), result.stdout


def test_count_csv_to_a_file_and_overwrite(
    monaco_2025: Path, ign_06: tuple[str, ...], tmp_path: Path
) -> None:
    out = tmp_path / "b.csv"
    args = ("count", "--commune", "06012", "--pbf", monaco_2025, *ign_06, "-f", "csv", "-o", out)
    assert invoke(*args).exit_code == 0
    header, row = out.read_text().splitlines()
    assert header == ("insee,name,department,population,area_km2,coverage,partial,cameras,cameras_per_km2,"
                      "cameras_per_10k,inhabitants_per_camera,by_type,by_scope,note")
    assert row.startswith("06012,Beausoleil,06,")
    assert_one_line_error(invoke(*args), ExitCode.USAGE, "exists; add --overwrite to replace it")
    assert invoke(*args, "--overwrite").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "b.csvt", "b.meta.json"]  # no leftover
    new = tmp_path / "new"
    missing = ("count", "--commune", "06012", "--pbf", monaco_2025, *ign_06, "-o", new / "b.csv")
    assert_one_line_error(invoke(*missing), ExitCode.USAGE, f"{new} does not exist: create it first")
    assert not new.exists()


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_table_formats(monaco_2025: Path, ign_06: tuple[str, ...], fmt: str) -> None:
    result = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, *ign_06, "-f", fmt)
    assert result.exit_code == 0
    assert "Beausoleil" in result.stdout
    assert "06012" in result.stdout


def test_the_table_gives_every_area_with_three_decimals(
    monaco_2025: Path, ign_06: tuple[str, ...], communes_06: Path
) -> None:
    """Beausoleil's 2.770 km² read "2.77" beside Cap-d'Ail's "2.169": one column, one form
    (the areas from pyproj's geodesic area of the IGN outlines)."""
    from pyproj import Geod
    from shapely.geometry import shape

    outlines = {f["properties"]["code"]: shape(f["geometry"])
                for f in json.loads(communes_06.read_text(encoding="utf-8"))["features"]}
    result = invoke("count", "--commune", "06012", "--commune", "06032", "--pbf", monaco_2025, *ign_06)
    assert result.exit_code == 0, result.output
    for code in ("06012", "06032"):
        km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(outlines[code])[0]) / 1e6
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(code))
        assert f" {km2:.3f} " in line, line
    assert " 2.770 " in result.stdout


def test_homonyms_and_unknown_names_exit_3(monaco_2025: Path, ign_dir: Path) -> None:
    files = ("--boundaries", ign_dir / "communes-93-seine-saint-denis.geojson",
             "--boundaries", ign_dir / "communes-974-la-reunion.geojson", "-q")
    result = invoke("count", "--commune", "Saint-Denis", "--pbf", monaco_2025, *files)
    assert_one_line_error(result, ExitCode.COMMUNE,
                          "Saint-Denis (93066, department 93), Saint-Denis (97411, department 974)")
    result = invoke("count", "--commune", "Saint-Denis", "--department", "974", "--pbf", monaco_2025, *files,
                    "-f", "csv")  # found, and far from the data of Monaco
    assert_one_line_error(result, ExitCode.DATA, "Saint-Denis (97411): outside the data of")
    result = invoke("count", "--commune", "Saint-Deni", "--pbf", monaco_2025, *files)
    assert_one_line_error(result, ExitCode.COMMUNE, "did you mean Saint-Denis (9")


# --- Broken inputs (exit 4) --------------------------------------------------------------


@pytest.mark.parametrize("variant", BROKEN_VARIANTS)
def test_broken_pbf_exit_4_and_no_output(
    broken_pbfs: dict[str, Path], ign_06: tuple[str, ...], tmp_path: Path, variant: str
) -> None:
    out = tmp_path / "out" / "r.json"
    out.parent.mkdir()
    result = invoke("count", "--commune", "Beausoleil", "--pbf", broken_pbfs[variant], *ign_06,
                    "-f", "json", "-o", out)
    assert_one_line_error(result, ExitCode.DATA, broken_pbfs[variant].name)
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(("content", "message"), [
    ("", "b.geojson: empty, not a file of boundaries"),  # GDAL: "not recognized as … a format"
    ('{"type": "FeatureCollection", "features": []}', "no features"),
    ("{not json", "cannot read boundaries"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "1", '
     '"nom": "P"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}]}', "no polygon"),
])
def test_broken_boundaries_exit_4(monaco_2025: Path, write_text, content: str, message: str) -> None:
    path = write_text("b.geojson", content)
    result = invoke("count", "--all", "--pbf", monaco_2025, "--boundaries", path, "-q")
    assert_one_line_error(result, ExitCode.DATA, message)


def test_boundary_directory_without_files_exit_4(monaco_2025: Path, tmp_path: Path) -> None:
    result = invoke("count", "--all", "--pbf", monaco_2025, "--boundaries", tmp_path, "-q")
    assert_one_line_error(result, ExitCode.DATA, "no boundary files")


def test_a_file_of_departments_read_as_communes_is_said(monaco_2025: Path, ign_dir: Path) -> None:
    """The IGN folder holds the departments' outlines beside the folder of the communes': given
    whole, its one file of departments was read as communes, Alpes-Maritimes (06) ranked as
    one, without a word."""
    folder = ign_dir.parent
    departments = json.loads((folder / "departements-version-simplifiee.geojson").read_text())
    codes = [f["properties"]["code"] for f in departments["features"]]
    assert all(len(code) == 2 for code in codes)  # 01 … 95, 2A, 2B: no commune's
    result = invoke("count", "--all", "--pbf", monaco_2025, "--boundaries", folder, "-q")
    assert result.exit_code == 0, result.output
    assert (f"warning: departements-version-simplifiee.geojson: its {len(codes)} codes are French "
            "departments'") in result.stderr
    plain = invoke("count", "--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries", ign_dir, "-q")
    assert "departments'" not in plain.stderr


# --- Export --------------------------------------------------------------------------------


def test_export_one_file_per_commune(monaco_2025: Path, ign_06: tuple[str, ...], tmp_path: Path) -> None:
    out = tmp_path / "maps"
    args = ("export", "--commune", "Beausoleil", "--commune", "Cap-d'Ail", "--pbf", monaco_2025, *ign_06,
            "--output-dir", out, "--with-boundary")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["06012-beausoleil.geojson", "06032-cap-d-ail.geojson"]
    data = json.loads((out / "06032-cap-d-ail.geojson").read_text())
    kinds = [f["geometry"]["type"] for f in data["features"]]
    assert kinds == ["Polygon", "Point"]
    # The extract cuts through Beausoleil: its one camera is a floor, not the commune's count.
    said = re.search(rf"{re.escape(str(out / '06012-beausoleil.geojson'))}: (.*)\n", result.stderr)
    assert said and re.fullmatch(r"1 camera, a lower bound \(coverage [1-9][0-9]?%\)", said[1]), said
    assert invoke(*args).exit_code == ExitCode.USAGE  # the files exist
    assert invoke(*args, "--overwrite").exit_code == 0


def test_main_returns_exit_codes(monaco_2025: Path) -> None:
    assert main(["count", "--commune", "Beausoleil", "--pbf", str(monaco_2025), "-q"]) == ExitCode.DATA
    assert main(["--help"]) == ExitCode.OK
    assert isinstance(cli, click.Group)


@pytest.mark.parametrize(("name", "first"), [
    ("t.csv", "insee,name,"), ("t.json", '{"meta": {'), ("t.md", "| insee | name |"),
    ("t.markdown", "| insee | name |"),
])
def test_count_format_follows_the_output_suffix(
    monaco_2025: Path, ign_06: tuple[str, ...], tmp_path: Path, name: str, first: str
) -> None:
    out = tmp_path / name
    assert invoke("count", "--commune", "06012", "--pbf", monaco_2025, *ign_06, "-o", out).exit_code == 0
    assert out.read_text().startswith(first)


def test_export_format_follows_the_output_suffix(
    monaco_2025: Path, ign_06: tuple[str, ...], tmp_path: Path
) -> None:
    out = tmp_path / "b.gpkg"
    assert invoke("export", "--commune", "06012", "--pbf", monaco_2025, *ign_06, "-o", out).exit_code == 0
    assert pyogrio.list_layers(out)[0][0] == "cameras"
    assert len(pyogrio.read_dataframe(out)) == 1


def test_a_table_written_to_a_file_is_not_printed(
    monaco_2025: Path, ign_06: tuple[str, ...], tmp_path: Path
) -> None:
    out = tmp_path / "t.txt"
    result = invoke("count", "--commune", "06012", "--pbf", monaco_2025, *ign_06, "-o", out)
    assert result.exit_code == 0 and result.stdout == ""
    assert "Beausoleil" in out.read_text()


def test_export_to_a_directory_is_all_or_nothing(
    monaco_2025: Path, ign_06: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "06032-cap-d-ail.geojson").write_text("kept")
    args = ("export", "--commune", "06012", "--commune", "06032", "--pbf", monaco_2025, *ign_06,
            "--output-dir", tmp_path)
    assert_one_line_error(invoke(*args), ExitCode.USAGE, "06032-cap-d-ail.geojson exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["06032-cap-d-ail.geojson"]
    assert invoke(*args, "--overwrite").exit_code == 0
    assert len(list(tmp_path.glob("*.geojson"))) == 2


def test_top_rows_and_the_table_limit(
    monaco_2025: Path, ign_06: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("count", "--department", "06", "--pbf", monaco_2025, *ign_06, "--include-partial")
    csv_rows = invoke(*args, "--top", "2", "-f", "csv").stdout.splitlines()
    # 1 camera each, both partly covered (so no density): the lower code first
    assert [line.split(",")[0] for line in csv_rows] == ["insee", "06012", "06032"]
    csv_rows = invoke(*args[:-1], "--top", "2", "-f", "csv").stdout.splitlines()
    assert [line.split(",")[0] for line in csv_rows] == ["insee"]  # both partial: left out
    table = " ".join(invoke(*args[:-1]).stdout.split())  # no row: still its title, date and source
    assert "data of 2025-02-07" in table and "INSEE Commune" in table and monaco_2025.name in table
    assert "no commune to show: the warnings above say why" in table
    monkeypatch.setattr(sys.modules["osmcams.cli.count"], "TABLE_ROWS", 2)
    table = invoke(*args).stdout
    assert re.search(r"the first 2 of \d rows", " ".join(table.split()))
    assert "the first" not in invoke(*args, "--top", "5").stdout
    assert invoke(*args, "-o", tmp_path / "t.txt").exit_code == 0  # a file takes every row
    text = (tmp_path / "t.txt").read_text()
    assert "the first" not in text and "06104" in text and "936.0" not in text


def test_boundaries_from_another_osm_file(
    monaco_2025: Path, riviera: Path, osm_cameras, osmium_polygons
) -> None:
    """Issue 7 §8: cameras of Monaco 2025 in the whole communes of the Riviera 2016 file."""
    import shapely

    result = invoke("count", "--all", "--pbf", monaco_2025, "--boundaries", riviera, "-q", "-f", "json",
                    "--include-partial")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    points = [shapely.Point(o.lon, o.lat) for o in osm_cameras(monaco_2025)]
    polygons = osmium_polygons(riviera, 8).values()
    expected = [n for n in (sum(g.intersects(p) for p in points) for g in polygons) if n]
    counted = {r["name"]: r["cameras"] for r in data["communes"] if r["cameras"]}
    assert sorted(counted.values()) == sorted(expected) == [1, 2, 13]
    assert counted == {"Monaco": 13, "Cap-d'Ail": 2, "Beausoleil": 1}
    assert data["meta"]["boundaries"] == f"{riviera.name} (admin_level=8 relations)"
    assert any(w.startswith("boundary of 'Menton' (06083, relation") for w in data["warnings"])
    result = invoke("count", "--commune", "Menton", "--pbf", monaco_2025, "--boundaries", riviera, "-q")
    assert_one_line_error(result, ExitCode.DATA, "cannot count 'Menton' (06083): its boundary is incomplete")


# --- Rankings -----------------------------------------------------------------------------


def test_region_ranking_per_inhabitant(
    monaco_2025: Path, ign_06: tuple[str, ...], communes_06: Path, cog_population: Path,
    osm_cameras, ign_shapes,
) -> None:
    from shapely.geometry import Point

    shapes = ign_shapes(communes_06)
    cog = json.loads(cog_population.read_text(encoding="utf-8"))
    population = {c["code"]: c.get("population", 0) for c in cog if c["type"] == "commune-actuelle"}
    cameras = dict.fromkeys(shapes, 0)
    for camera in osm_cameras(monaco_2025):
        for code, shape in shapes.items():
            if shape.covers(Point(camera.lon, camera.lat)):
                cameras[code] += 1
                break
    kept = [code for code in shapes if population.get(code, 0) >= 5000]
    args = ("count", "--region", "93", "--pbf", monaco_2025, *ign_06, "--sort-by", "per_10k",
            "--min-population", "5000", "-f", "json")
    result = invoke(*args, "--include-partial")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["communes"]
    covered = {r["insee"] for r in rows}  # the communes the data reaches (tested in test_coverage)
    kept = [code for code in kept if code in covered]
    expected = sorted(kept, key=lambda c: (-cameras[c] * 10_000 / population[c], -cameras[c], c))
    assert [r["insee"] for r in rows if r["cameras_per_10k"] is not None] == [
        code for code in expected if next(r for r in rows if r["insee"] == code)["coverage"] >= 0.95]
    assert {r["insee"] for r in rows} == set(kept)
    assert rows[0]["insee"] == "06012" and rows[0]["cameras"] == 1
    assert re.search(r"\d communes? (are|is) below 5,000 inhabitants", result.stderr)
    # Without --include-partial, the partly covered ones (Roquebrune-Cap-Martin) are left out.
    result = invoke(*args)
    rows = json.loads(result.stdout)["communes"]
    assert not any(r["partial"] for r in rows) and "06104" not in {r["insee"] for r in rows}
    assert re.search(r"\d communes are only partly inside the data, .*left out of the ranking "
                     r"\(--include-partial keeps them\): .*Roquebrune-Cap-Martin \(06104\)",
                     " ".join(result.stderr.split()))


def test_ranking_by_density_keeps_unknown_values_last(monaco_2025: Path, communes_06: Path) -> None:
    result = invoke("count", "--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06,
                    "--sort-by", "per_10k", "-q", "-f", "csv", "--include-partial")  # no per_10k known
    assert result.exit_code == 0, result.output
    codes = [line.split(",")[0] for line in result.stdout.splitlines()[1:]]
    assert codes[0] in ("06012", "06032") and codes[1] in ("06012", "06032")
    assert codes[2:] == sorted(codes[2:])


def test_a_region_without_communes_in_the_boundaries(monaco_2025: Path, ign_06: tuple[str, ...]) -> None:
    result = invoke("count", "--region", "11", "--pbf", monaco_2025, *ign_06)
    assert_one_line_error(result, ExitCode.COMMUNE, "no commune of region 11")


def test_verbose_logs_the_decisions_on_stderr(monaco_2025: Path, communes_06: Path) -> None:
    import subprocess
    import sys

    args = ["count", "--commune", "Beausoleil", "--pbf", str(monaco_2025), "--boundaries", str(communes_06),
            "-q", "-f", "json"]
    quiet = subprocess.run([sys.executable, "-m", "osmcams", *args], capture_output=True, text=True)
    loud = subprocess.run([sys.executable, "-m", "osmcams", "-v", *args], capture_output=True, text=True)
    assert quiet.returncode == loud.returncode == 0
    assert json.loads(quiet.stdout)["communes"] == json.loads(loud.stdout)["communes"]
    assert "osmcams.counting: communes from" not in quiet.stderr
    assert "osmcams.counting: communes from" in loud.stderr
    assert "osmcams.sources.osm.sieve:" in loud.stderr and "camera nodes sifted" in loud.stderr


# --- Partly covered communes --------------------------------------------------------------


def _geodesic_km2(shape) -> float:
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(shape)[0]) / 1e6


def test_partly_covered_communes_are_lower_bounds_in_every_format(
    monaco_2025: Path, ign_06: tuple[str, ...], communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """The French communes that Monaco 2025 cuts through: `partial` with their coverage in
    JSON, CSV and GeoJSON, "≥" in the table and Markdown, densities null under
    --min-coverage (pyproj's geodesic areas for those above it)."""
    import csv
    import io

    shapes = ign_shapes(communes_06)
    args = ("count", "--commune", "06012", "--commune", "06032", "--commune", "06104",
            "--commune", "06150", "--pbf", monaco_2025, *ign_06)
    for threshold in ("0.95", "0.2", "0"):
        result = invoke(*args, "--min-coverage", threshold, "-f", "json")
        rows = json.loads(result.stdout)["communes"]
        # La Turbie, barely reached by the extract, has no count: named, it is a row without one.
        assert [r["insee"] for r in rows] == ["06012", "06032", "06104", "06150"]
        assert "La Turbie (06150)" in result.stderr
        turbie = rows.pop()
        assert turbie["cameras"] is turbie["cameras_per_km2"] is None and not turbie["partial"]
        for row in rows:
            assert row["partial"] == (row["coverage"] < 1)
            if row["coverage"] < float(threshold):
                assert row["cameras_per_km2"] is row["cameras_per_10k"] is None
            else:
                km2 = _geodesic_km2(shapes[row["insee"]])
                assert row["cameras_per_km2"] == pytest.approx(row["cameras"] / km2, rel=0.01, abs=1e-4)
    partial = {r["insee"]: r for r in rows if r["partial"]}
    assert "06104" in partial  # Roquebrune-Cap-Martin: mostly outside the extract

    text = invoke(*args, "-f", "csv").stdout
    assert {r["insee"]: r["partial"] for r in csv.DictReader(io.StringIO(text))} == {
        r["insee"]: str(r["partial"]) for r in [*rows, turbie]}
    markdown = invoke(*args, "-f", "markdown").stdout
    for code, row in partial.items():
        line = next(line for line in markdown.splitlines() if line.startswith(f"| {code} |"))
        assert f"| ≥{row['cameras']} |" in line
    assert "≥: only partly inside the data" in markdown
    table = invoke(*args).stdout
    assert "≥0" in table and "lower bound" in " ".join(table.split())
    assert invoke(*args, "-o", tmp_path / "c.geojson").exit_code == 0
    features = json.loads((tmp_path / "c.geojson").read_text(encoding="utf-8"))["features"]
    assert {f["properties"]["insee"]: (f["properties"]["partial"], f["properties"]["coverage"])
            for f in features} == {r["insee"]: (r["partial"], r["coverage"]) for r in [*rows, turbie]}


def test_a_commune_named_outside_the_data_is_a_row_without_a_count_in_every_format(
    monaco_cut: tuple[Path, Path], ign_06: tuple[str, ...], communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """Peille, named beside Beausoleil, lies outside Monaco 2025 (cut by its polygon; the
    share of its outline inside it by shapely and pyproj): it keeps its row, in the order
    asked, with no count, no density (never 0) and no coverage (its little share inside the
    data read "<1%" in the table, 0.0 in the files, as for a commune with data), null or
    "–" in the table, CSV, JSON, Markdown, GeoJSON and GeoPackage, its note saying why;
    Beausoleil keeps its coverage, that share; the warning says Peille has no count."""
    import csv
    import io

    import pyogrio
    from conftest import share_inside

    pbf, poly = monaco_cut
    shapes = ign_shapes(communes_06)
    share = {code: share_inside(shapes[code], poly) for code in ("06091", "06012")}
    assert share["06091"] < 0.02 < share["06012"] < 0.98  # outside, and partial
    args = ("count", "--commune", "Peille", "--commune", "Beausoleil", "--pbf", pbf, *ign_06)
    result = invoke(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    assert "lies outside the data of" in result.stderr and "Peille (06091)" in result.stderr
    rows = json.loads(result.stdout)["communes"]
    assert [r["insee"] for r in rows] == ["06091", "06012"]
    peille, beausoleil = rows
    assert peille["coverage"] is None and peille["note"] == "no data: outside the OSM data"
    assert beausoleil["coverage"] == pytest.approx(share["06012"], abs=0.002)
    assert peille["cameras"] is None and not peille["partial"]
    assert peille["cameras_per_km2"] is peille["cameras_per_10k"] is peille["inhabitants_per_camera"] is None
    assert beausoleil["cameras"] >= 1 and beausoleil["partial"]

    table = invoke(*args).stdout
    line = next(line for line in table.splitlines() if "Peille" in line)
    assert re.search(r"06091 +Peille +2,123 +42\.758 +– +– +– +– +– +–", line), table
    assert "outside the data, with no count" in " ".join(table.split())
    lines = list(csv.DictReader(io.StringIO(invoke(*args, "-f", "csv").stdout)))
    assert [(r["insee"], r["cameras"], r["coverage"]) for r in lines] == [
        ("06091", "", ""), ("06012", str(beausoleil["cameras"]), str(beausoleil["coverage"]))]
    markdown = invoke(*args, "-f", "markdown").stdout
    cells = next(line for line in markdown.splitlines() if line.startswith("| 06091 |")).split(" | ")
    assert cells[5:8] == ["–", "False", "–"]  # coverage, partial, cameras
    for name in ("c.geojson", "c.gpkg"):
        assert invoke(*args, "-o", tmp_path / name).exit_code == 0
        layer = pyogrio.read_dataframe(tmp_path / name)
        assert layer["insee"].tolist() == ["06091", "06012"]
        assert layer["coverage"].isna().tolist() == layer["cameras"].isna().tolist() == [True, False]
        assert layer["coverage"][1] == beausoleil["coverage"]


def test_a_commune_the_data_may_not_cover_is_not_said_to_lie_outside_it(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """Monaco 2025's camera in Beausoleil (node 10147090782) alone, taken out by osmium getid:
    a file with no bounding box and too few nodes to sample, which says nothing of Cap-d'Ail.
    Cap-d'Ail gets no count, its note that the data does not say whether it covers it; the
    table's line on its "–" says that too, never that it lies outside the data."""
    from conftest import run_osmium

    one = tmp_path / "one.osm.pbf"
    run_osmium("getid", monaco_2025, "n10147090782", "-o", one)
    info = json.loads(run_osmium("fileinfo", "-j", "-e", one))
    assert info["header"]["boxes"] == [] and info["data"]["count"]["nodes"] == 1
    args = ("count", "--pbf", one, "--boundaries", communes_06, "--commune", "06012", "--commune", "06032",
            "-q")
    rows = json.loads(invoke(*args, "-f", "json").stdout)["communes"]
    assert [(r["insee"], r["cameras"], r["note"]) for r in rows] == [
        ("06012", 1, "coverage unknown"),
        ("06032", None, "no count: the OSM data does not say whether it covers this commune")]
    table = " ".join(invoke(*args).stdout.split())
    assert re.search(r"06032 Cap-d'Ail [\d,]+ [\d.]+ – – – – – –", table), table
    assert "– cover and cameras: a commune the data may not cover, with no count" in table
    assert "outside the data" not in table


def test_a_map_of_one_commune_says_one_commune(tmp_path: Path) -> None:
    result = invoke("map", "--demo", "--commune", "06012", "-o", tmp_path / "one.html", "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().splitlines()[-1] == f"{tmp_path / 'one.html'}: 1 commune"


def test_the_console_script_ends_at_once_on_ctrl_c_while_the_cli_loads() -> None:
    """The module of the `osmcams` script sets a handler of Ctrl-C before it imports the
    CLI: one then ends it by the signal (exit status 130 to the shell) without a
    KeyboardInterrupt traceback."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="osmcams")
    module = script.value.partition(":")[0]
    code = f"import os, signal, time; import {module}; os.kill(os.getpid(), signal.SIGINT); time.sleep(9)"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (child.returncode, child.stderr) == (-signal.SIGINT, "")


@pytest.mark.parametrize(("code", "city", "commune"), [
    ("75101", "1st municipal arrondissement of Paris", "75056"),
    ("75120", "20th municipal arrondissement of Paris", "75056"),
    ("69383", "3rd municipal arrondissement of Lyon", "69123"),
    ("13212", "12th municipal arrondissement of Marseille", "13055"),
])
def test_a_municipal_arrondissement_names_its_city_and_the_code_to_give(
    code: str, city: str, commune: str, monaco_2025: Path, ign_dir: Path
) -> None:
    """The IGN communes hold Paris, Lyon and Marseille whole: an arrondissement's code is one
    line saying what it is and the commune code to give, exit 3; that code is counted."""
    result = invoke("count", "--commune", code, "--pbf", monaco_2025, "--boundaries", ign_dir, "-q")
    assert_one_line_error(result, ExitCode.COMMUNE,
                          f"no commune '{code}': it is the {city}, not a commune; give ")
    assert result.stderr.rstrip().endswith(f"commune code, {commune}")
    assert f"no commune '{commune}'" not in invoke(
        "count", "--commune", commune, "--pbf", monaco_2025, "--boundaries", ign_dir, "-q").stderr


def test_an_arrondissement_the_boundaries_hold_is_counted(camera_pbf, write_text) -> None:
    """Boundaries that hold the arrondissements (here a square named 75101) count it: two of
    the three cameras lie inside it."""
    square = [[[2.33, 48.86], [2.35, 48.86], [2.35, 48.87], [2.33, 48.87], [2.33, 48.86]]]
    boundaries = write_text("arrondissements.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "75101", "nom": "Paris 1er Arrondissement"},
         "geometry": {"type": "Polygon", "coordinates": square}}]}))
    camera = {"man_made": "surveillance"}
    pbf = camera_pbf({1: (2.335, 48.865, camera), 2: (2.345, 48.862, camera), 3: (2.36, 48.865, camera)},
                     (2.32, 48.85, 2.37, 48.88))
    result = invoke("count", "--commune", "75101", "--pbf", pbf, "--boundaries", boundaries, "-q",
                    "-f", "json")
    assert result.exit_code == 0, result.output
    assert [(r["insee"], r["cameras"]) for r in json.loads(result.stdout)["communes"]] == [("75101", 2)]
