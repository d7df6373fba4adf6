"""compare: mapped counts beside the reported figures, on real boundaries and figures."""

from __future__ import annotations

import calendar
import csv
import io
import json
import re
import sqlite3
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import shapely
from click.testing import CliRunner, Result
from conftest import parse_opl, run_osmium
from fake_replication import osc
from shapely.geometry import Point
from test_refresh import (
    MONACO_SEQUENCE,
    replication,  # noqa: F401 (the local replication server, a fixture)
    write_config,
)
from test_refresh import run as refresh
from test_timeline import _snapshot
from test_timeline import history as osh  # noqa: F401 (its history file, a fixture)
from test_timeline import shapes as shapes_06  # noqa: F401 (the IGN communes of the 06, a fixture)

from osmcams.analysis.compare import commune_scope, end_of, partial, read_reported
from osmcams.analysis.dated import figures_over_time
from osmcams.cli import cli
from osmcams.errors import DataError, ExitCode
from osmcams.sources.osm.osh import read_history

# Cameras placed in communes of the Gard (30): Nîmes 3, Alès 2, Bagnols-sur-Cèze 0.
PLACED = {"30189": 3, "30007": 2}
DATE = "2025-03-01T00:00:00Z"


def invoke(*args: str | Path) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args], catch_exceptions=False)


SERIES_COLUMNS = ["insee", "name", "department", "reported_cameras", "qualifier", "scope", "status",
                  "as_of", "source", "published"]


@pytest.fixture(scope="module")
def series_rows(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "reported/reported_series.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def shipped_rows(name: str) -> list[dict[str, str]]:
    text = files("osmcams.analysis").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def span(as_of: str) -> tuple[date, date]:
    """The first and last day of a date as precise as its source, by the calendar."""
    parts = [int(p) for p in as_of.split("-")]
    if len(parts) == 3:
        return date(*parts), date(*parts)
    if len(parts) == 2:
        return date(parts[0], parts[1], 1), date(parts[0], parts[1], calendar.monthrange(*parts)[1])
    return date(parts[0], 1, 1), date(parts[0], 12, 31)


def shown_ratio(share: float) -> float:
    """A completeness as compare writes it: 3 decimals, 2 significant digits under 1 %."""
    return round(share, 3) if share >= 0.01 or not share else float(f"{share:.2g}")


def nearest(rows: list[dict[str, str]], day: date) -> dict[str, str]:
    """The row whose period is the fewest days from `day`; the later one of two as near."""
    def key(row: dict[str, str]) -> tuple[int, int]:
        first, last = span(row["as_of"])
        return (0 if first <= day <= last else min(abs((first - day).days), abs((day - last).days)),
                -last.toordinal())
    return min((r for r in rows if r["as_of"]), key=key)


@pytest.fixture(scope="module")
def gard(ign_dir: Path) -> Path:
    return ign_dir / "communes-30-gard.geojson"


@pytest.fixture(scope="module")
def gard_pbf(gard: Path, ign_shapes, camera_pbf) -> Path:
    """Cameras inside Nîmes and Alès, in an extract whose header box covers the Gard."""
    shapes = ign_shapes(gard)
    nodes = {}
    for code, n in PLACED.items():
        point = shapes[code].representative_point()
        for k in range(n):
            nodes[len(nodes) + 1] = (point.x + k * 1e-4, point.y, {"man_made": "surveillance"})
    for code, count in PLACED.items():
        assert sum(shapes[code].covers(Point(lon, lat)) for lon, lat, _ in nodes.values()) == count
    w, s, e, n = shapely.total_bounds(list(shapes.values())).tolist()
    return camera_pbf(nodes, (w - 0.1, s - 0.1, e + 0.1, n + 0.1), DATE)


def test_the_shipped_series_is_the_shared_one_row_by_row(series_rows: list[dict[str, str]]) -> None:
    shipped = shipped_rows("reported_series.csv")
    assert len(shipped) == len(series_rows) == 47
    for mine, theirs in zip(shipped, series_rows):
        assert list(mine) == SERIES_COLUMNS
        assert mine == theirs
    read = read_reported()
    assert sum(map(len, read.communes.values())) == 47 and len(read.communes) == 30
    for figures in read.communes.values():
        for figure in figures:
            assert not re.search(r"\d{3}_[0-9a-f]{16}\.txt", figure["source"])  # an outlet, not a seed file
    nice = [f["reported_cameras"] for f in read.communes["06088"]]
    assert nice == [2510, 2600, 3200, 3800, 3000, 4000, 4113]
    assert [f["reported_cameras"] for f in read.communes["56165"]] == [21]  # Ploërmel is not 0
    assert "77034" not in read.communes  # Blandy's 46 was derived, never reported
    paris = {f["reported_cameras"]: f for f in read.communes["75056"]}
    assert not paris[33479]["commune_scope"] and paris[4055]["commune_scope"]


def test_the_department_figures_name_their_outlet() -> None:
    for row in shipped_rows("reported_departments.csv"):
        assert row["source"].startswith("L'Empaillé") and ".txt" not in row["source"]


def test_department_of_the_gard(
    gard_pbf: Path, gard: Path, series_rows: list[dict[str, str]], cog_population: Path
) -> None:
    result = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard,
                    "--population", cog_population, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {r["insee"]: r for r in data["communes"]}
    gard_rows = [r for r in series_rows if r["department"] == "30"]
    assert set(rows) == {r["insee"] for r in gard_rows}
    for code, row in rows.items():
        figure = nearest([r for r in gard_rows if r["insee"] == code], date(2025, 3, 1))
        mapped = PLACED.get(code, 0)
        reported = int(figure["reported_cameras"])
        assert row["cameras"] == mapped
        assert row["reported_cameras"] == reported
        assert (row["as_of"], row["published"]) == (figure["as_of"], figure["published"])
        assert (row["status"], row["qualifier"]) == (figure["status"], figure["qualifier"])
        assert row["reported_source"] == figure["source"]
        assert row["completeness"] == shown_ratio(mapped / reported)
        assert row["completeness_qualifier"] == figure["qualifier"]  # exact or about here
        assert len(row["series"]) == sum(r["insee"] == code for r in gard_rows)
        assert {"population", "cameras_per_km2", "by_type"} <= set(row)
    nimes = rows["30189"]
    assert (nimes["reported_cameras"], nimes["as_of"]) == (1300, "2023-11")
    assert nimes["reported_source"] == "Le Monde"
    assert [p["reported_cameras"] for p in nimes["series"]] == [411, 1300]
    for point in nimes["series"]:
        assert point["mapped_then"] is None and point["reason"] == "no history of the OSM data"
    assert any("more than 2 years before the OSM data" in f for f in rows["30007"]["flags"])  # 2019-09
    department = data["departments"][0]
    assert department["department"] == "30"
    assert department["communes_with_mapped_cameras"] == len(PLACED)
    assert department["mapped_cameras"] == sum(PLACED.values())
    assert (department["reported_cameras_min"], department["reported_cameras_max"]) == (1450, 1450)
    assert department["communes_with_cameras_reported"] == 70
    assert department["communes"] == len(json.loads(gard.read_text(encoding="utf-8"))["features"])


def test_no_data_is_null_with_a_reason_never_zero(communes_06: Path, camera_pbf) -> None:
    """An extract around Beausoleil only: Nice, reported at 3,800, gets no mapped count."""
    pbf = camera_pbf({1: (7.4230, 43.7430, {"man_made": "surveillance"})}, (7.40, 43.73, 7.45, 43.76), DATE)
    result = invoke("compare", "--department", "06", "--pbf", pbf, "--boundaries", communes_06, "-q",
                    "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    nice = {r["insee"]: r for r in data["communes"]}["06088"]
    assert nice["cameras"] is None and nice["completeness"] is None
    assert nice["reason"]
    assert (nice["reported_cameras"], nice["as_of"]) == (4113, "2023-04")  # the closest to 2025-03
    assert nice["reported_source"] == "20 Minutes"


def test_partial_and_no_data_communes_as_count_has_them(
    monaco_2025: Path, communes_06: Path, cog_population: Path
) -> None:
    """Monaco's extract holds part of three communes and none of Peille: the first keep count's
    rows, their Mapped a lower bound (≥, as count's table); Peille its population and area."""
    from pyproj import Geod
    from shapely.geometry import shape

    source = ["--pbf", monaco_2025, "--boundaries", communes_06, "--population", cog_population, "-q"]
    names = ["--commune", "06012", "--commune", "06032", "--commune", "06104"]
    count = json.loads(invoke("count", *source, *names, "-f", "json").stdout)
    counted = {r["insee"]: r for r in count["communes"]}
    assert [r["partial"] for r in counted.values()] == [True, True, True]
    result = invoke("compare", *source, *names, "--commune", "Peille", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in json.loads(result.stdout)["communes"]}
    for code, row in counted.items():
        assert {key: rows[code][key] for key in row} == row
    peille = next(c for c in json.loads(cog_population.read_text()) if c["code"] == "06091")
    outline = next(f for f in json.loads(communes_06.read_text())["features"]
                   if f["properties"]["code"] == "06091")
    area = abs(Geod(ellps="WGS84").geometry_area_perimeter(shape(outline["geometry"]))[0]) / 1e6
    nodata = rows["06091"]
    assert (nodata["name"], nodata["population"], nodata["partial"], nodata["cameras"]) == (
        "Peille", peille["population"], False, None)
    assert nodata["area_km2"] == pytest.approx(area, abs=0.002)
    assert (nodata["by_type"], nodata["by_scope"]) == (None, None)  # no count by type: not {}
    text = invoke("compare", *source, *names, "--commune", "Peille", "-f", "csv").stdout
    peille_csv = next(r for r in csv.DictReader(io.StringIO(text)) if r["insee"] == "06091")
    assert (peille_csv["cameras"], peille_csv["by_type"], peille_csv["by_scope"]) == ("", "", "")
    table = invoke("compare", *source, *names, "--commune", "Peille").stdout
    lines = {line.split()[0]: line for line in table.splitlines() if line.strip()[:5] in rows}
    for code, row in counted.items():  # "06012  Beausoleil  ≥1  –  …"
        assert re.search(rf"\s≥{row['cameras']}\s", lines[code]), lines[code]
    assert "≥" not in lines["06091"]
    assert "≥ a commune only partly inside the data" in table


def test_planned_figures_and_any_csv_of_the_same_shape(
    gard_pbf: Path, gard: Path, write_text
) -> None:
    mine = write_text("mine.csv", "insee,name,department,reported_cameras,status,as_of,source,note\n"
                                  "30189,Nîmes,30,6,planned,2025-01,council minutes,\n")
    result = invoke("compare", "--commune", "Nîmes", "--commune", "Uzès", "--pbf", gard_pbf,
                    "--boundaries", gard, "--reported", mine, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in json.loads(result.stdout)["communes"]}
    assert rows["30189"]["completeness"] == 0.5
    assert rows["30189"]["flags"] == ["planned: a target, not cameras in place"]
    assert rows["30189"]["qualifier"] == "exact" and rows["30189"]["scope"] is None
    assert rows["30334"]["reported_cameras"] is None  # named, without a figure: a row all the same
    assert rows["30334"]["reason"] == "no reported figure"


@pytest.mark.parametrize("fmt", ["csv", "markdown", "table"])
def test_every_count_format(gard_pbf: Path, gard: Path, fmt: str) -> None:
    result = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard, "-q", "-f", fmt)
    assert result.exit_code == 0, result.output
    assert "Nîmes" in result.stdout and "Le Monde" in result.stdout  # the figure and its outlet
    assert ("~1,300" if fmt == "table" else "1300") in result.stdout
    if fmt == "csv":
        header = result.stdout.splitlines()[0].split(",")
        assert header[:2] == ["insee", "name"] and header[-11:] == [
            "reported_cameras", "qualifier", "scope", "status", "as_of", "published", "reported_source",
            "completeness", "completeness_qualifier", "flags", "reason"]
    if fmt != "csv":
        assert "Gard" in result.stdout  # the department summary


def test_bad_reported_files(write_text, gard_pbf: Path, gard: Path) -> None:
    bad = write_text("bad.csv", "insee,name,department,reported_cameras,status,as_of,source\n"
                                "30189,Nîmes,30,many,installed,2022,x\n")
    result = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard,
                    "--reported", bad)
    assert result.exit_code == ExitCode.DATA
    assert "bad.csv, line 2: reported_cameras must be a whole number" in result.stderr
    assert "Traceback" not in result.output


def test_end_of_a_reported_date() -> None:
    assert str(end_of("2019")) == "2019-12-31"
    assert str(end_of("2024-02")) == "2024-02-29"
    assert str(end_of("2022-05-03")) == "2022-05-03"


def test_a_partly_covered_count_is_flagged() -> None:
    assert partial({"cameras": 3, "coverage": 0.4}) == [
        "the OSM data covers 40% of the commune: the mapped count is incomplete"]
    assert partial({"cameras": 3, "coverage": 1.0}) == partial({"cameras": 3}) == []
    assert partial({"cameras": None, "coverage": 0.0}) == []  # no count: the reason says why


SERIES_HEADER = ",".join(SERIES_COLUMNS) + "\n"


def test_every_qualifier_and_scope(gard_pbf: Path, gard: Path, write_text) -> None:
    """Nîmes 3 mapped, Alès 2, Bagnols-sur-Cèze 0, data of 2025-03-01."""
    mine = write_text("series.csv", SERIES_HEADER + (
        "30189,Nîmes,30,6,about,municipal network,installed,2024-11,Midi Libre,2024-11-20\n"
        "30189,Nîmes,30,60,exact,Nîmes Métropole network,installed,2025-02,Objectif Gard,2025-02-10\n"
        "30189,Nîmes,30,5,exact,municipal network,installed,2019,La Gazette,2019-06\n"
        "30007,Alès,30,4,at_least,municipal network,installed,2025,Alès city site,\n"
        "30007,Alès,30,8,exact,municipal network,planned,2027-12,Alès city site,2024-01\n"
        '30028,Bagnols-sur-Cèze,30,9,exact,"Gard urban area, all operators",installed,2025-03-01,'
        "Comparitech,\n"
        "30028,Bagnols-sur-Cèze,30,0,exact,municipal network,annulled,2023,Objectif Gard,2023-05\n"))
    result = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard,
                    "--reported", mine, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in json.loads(result.stdout)["communes"]}
    nimes, ales, bagnols = rows["30189"], rows["30007"], rows["30028"]
    # Nîmes: the metropolis' 60 of 2025-02 is the closest: shown, flagged, no ratio.
    assert (nimes["reported_cameras"], nimes["as_of"]) == (60, "2025-02")
    assert nimes["reported_source"] == "Objectif Gard"
    assert nimes["completeness"] is None and "scope: Nîmes Métropole network" in nimes["flags"]
    assert nimes["reason"] == "the figure's scope is not the commune: no ratio"
    assert [p["reported_cameras"] for p in nimes["series"]] == [5, 6, 60]
    # Alès: at least 4 in 2025 (the data date falls within it) gives at most 2/4.
    assert (ales["reported_cameras"], ales["qualifier"]) == (4, "at_least")
    assert (ales["completeness"], ales["completeness_qualifier"]) == (0.5, "at_most")
    assert [p["status"] for p in ales["series"]] == ["installed", "planned"]
    # Bagnols: the urban area's figure of the data date, never a ratio.
    assert bagnols["reported_cameras"] == 9 and bagnols["completeness"] is None
    result = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard,
                    "--reported", mine, "-q", "-f", "table")
    assert "~6" not in result.stdout and "≥4" in result.stdout and "≤50%" in result.stdout
    assert "Alès city site" in result.stdout and "Comparitech" in result.stdout


def test_an_about_figure_gives_an_about_ratio(gard_pbf: Path, gard: Path, write_text) -> None:
    mine = write_text("about.csv", SERIES_HEADER +
                      "30189,Nîmes,30,6,about,municipal network,installed,2025-01,Midi Libre,2025-01-20\n")
    result = invoke("compare", "--commune", "Nîmes", "--pbf", gard_pbf, "--boundaries", gard,
                    "--reported", mine, "-q", "-f", "json")
    row = json.loads(result.stdout)["communes"][0]
    assert (row["completeness"], row["completeness_qualifier"]) == (0.5, "about")
    table = invoke("compare", "--commune", "Nîmes", "--pbf", gard_pbf, "--boundaries", gard,
                   "--reported", mine, "-q").stdout
    assert "~6" in table and "~50%" in table and "Midi Libre" in table


@pytest.mark.parametrize(("line", "message"), [
    ("30189,Nîmes,30,-5,exact,municipal network,installed,2022,x,2022",
     "reported_cameras must be a whole number from 0 to 1,000,000, not '-5'"),
    ("30189,Nîmes,30,99999999999999999999999999999,exact,municipal network,installed,2022,x,2022",
     "reported_cameras must be a whole number from 0 to 1,000,000, not '99999999999999999999999999999'"),
    ("30189,Nîmes,30,12,exact,municipal network,installed,2099-01,x,",
     "as_of 2099-01 is in the future"),
    ("30189,Nîmes,30,12,exact,municipal network,planned,2099-01,x,2099-02",
     "published 2099-02 is in the future"),
    ("30189,Nîmes,30,12,exact,municipal network,installed,2022-02-30,x,",
     "as_of '2022-02-30' is not a date"),
    ("30189,Nîmes,30,12,exact,municipal network,installed,2022-13,x,",
     "as_of '2022-13' is not a date"),
    ("30189,Nîmes,30,12,roughly,municipal network,installed,2022,x,",
     "qualifier must be exact, about or at_least, not 'roughly'"),
    ("30189,Nîmes,30,12,exact,municipal network,removed,2022,x,",
     "status must be installed, planned or annulled, not 'removed'"),
    ("30189,Nîmes,12,12,exact,municipal network,installed,2022,x,",
     "department 12 is not that of the commune 30189"),
    ("3018,Nîmes,30,12,exact,municipal network,installed,2022,x,", "'3018' is not an INSEE commune code"),
    ("30189,Nîmes,30,12,exact,municipal network,installed,2022,,", "needs the commune's name and its source"),
    ("30189,Nîmes,30,12,exact,municipal network,installed,2022", "as many fields as the header"),
])
def test_impossible_rows_are_refused(write_text, gard_pbf: Path, gard: Path, line: str, message: str) -> None:
    bad = write_text("bad.csv", SERIES_HEADER + "30007,Alès,30,4,exact,municipal network,installed,2020,x,\n"
                     + line + "\n")
    result = invoke("compare", "--commune", "Nîmes", "--pbf", gard_pbf, "--boundaries", gard,
                    "--reported", bad)
    assert result.exit_code == ExitCode.DATA
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "bad.csv, line 3: " in result.stderr and message in result.stderr


def test_a_figure_given_twice_is_refused(write_text) -> None:
    row = "30007,Alès,30,4,exact,municipal network,installed,2020,x,\n"
    with pytest.raises(DataError, match=r"twice.csv, line 3: the same figure as line 2"):
        read_reported((write_text("twice.csv", SERIES_HEADER + row + row),))


def test_completeness_over_time_from_a_history_file(
    osh: Path, communes_06: Path, shapes_06: dict[str, Any], write_text  # noqa: F811
) -> None:
    """Each dated figure beside what `osmium time-filter` holds at the end of its period."""
    mine = write_text("riviera.csv", SERIES_HEADER + (
        "06012,Beausoleil,06,10,exact,municipal network,installed,2019,Nice-Matin,2019-05\n"
        "06012,Beausoleil,06,2,about,municipal network,installed,2024-07,Nice-Matin,2024-07-02\n"
        "06012,Beausoleil,06,5,at_least,municipal network,installed,2025-04,Monaco-Matin,2025-04-30\n"
        "06012,Beausoleil,06,30,exact,municipal network,planned,2025-12,city council,2025-06-01\n"
        "06032,Cap-d'Ail,06,4,exact,municipal network,installed,2025-03-03,city site,2025-03-03\n"
        "06032,Cap-d'Ail,06,90,exact,Monaco urban area,installed,2025-06,Comparitech,\n"))
    target = write_text("out.json", "")
    result = invoke("compare", "--pbf", osh, "--boundaries", communes_06, "--commune", "Beausoleil",
                    "--commune", "Cap-d'Ail", "--reported", mine, "-q", "-f", "json", "-o", target,
                    "--overwrite")
    assert result.exit_code == 0, result.output
    data = json.loads(target.read_text(encoding="utf-8"))
    moments = {"2019": "2020-01-01T00:00:00Z", "2024-07": "2024-08-01T00:00:00Z",
               "2025-04": "2025-05-01T00:00:00Z", "2025-03-03": "2025-03-04T00:00:00Z",
               "2025-06": "2025-07-01T00:00:00Z"}
    points = data["over_time"]
    assert [(p["insee"], p["as_of"]) for p in points] == [
        ("06012", "2019"), ("06012", "2024-07"), ("06012", "2025-04"), ("06012", "2025-12"),
        ("06032", "2025-03-03"), ("06032", "2025-06")]
    for point in points:
        if point["as_of"] == "2025-12":  # after the data of 2025-09-01
            assert point["mapped_then"] is None and point["reason"] == "after the data date"
            continue
        assert point["moment"] == moments[point["as_of"]]
        held = _snapshot(osh, point["moment"], shapes_06)[point["insee"]]
        assert point["mapped_then"] == len(held), point
        row = next(r for r in data["communes"] if r["insee"] == point["insee"])
        if point["scope"] == "Monaco urban area":
            assert point["completeness"] is None
        elif row["partial"] and row["coverage"] < 0.95:  # too little of it in the data for a ratio
            assert point["completeness"] is None and point["reason"].startswith("the OSM data covers ")
        else:
            assert point["completeness"] == shown_ratio(len(held) / point["reported_cameras"])
            assert point["completeness_qualifier"] == {"exact": "exact", "about": "about",
                                                       "at_least": "at_most"}[point["qualifier"]]
    rows = {r["insee"]: r for r in data["communes"]}
    assert rows["06012"]["series"] == points[:4]
    # The count itself is the file's last state (osmium time-filter at its data date), not
    # every version it holds.
    now = _snapshot(osh, data["meta"]["data_timestamp"], shapes_06)
    assert {code: row["cameras"] for code, row in rows.items()} == {c: len(now[c]) for c in rows}
    held = parse_opl(run_osmium("time-filter", osh, data["meta"]["data_timestamp"], "-f", "opl", "-o", "-"))
    assert data["meta"]["cameras_total"] == sum(o.tags.get("man_made") == "surveillance" for o in held)
    assert {p["mapped_then"] for p in points[:3]} != {points[0]["mapped_then"]}  # the map moved
    table = invoke("compare", "--pbf", osh, "--boundaries", communes_06, "--commune", "Beausoleil",
                   "--reported", mine, "-q").stdout
    assert "Every reported figure beside the cameras mapped at its date" in table
    assert "Monaco-Matin" in table and "≥5" in table
    # The same points, coverage, bounds and ratios included, from the plain function for a
    # chart of the figures and the cameras mapped then.
    chart = figures_over_time(read_history(osh), {c: shapes_06[c] for c in ("06012", "06032")},
                              read_reported((mine,)))
    assert chart == points


RIVIERA_FIGURES = SERIES_HEADER + (
    "06012,Beausoleil,06,10,exact,municipal network,installed,2023-06,Nice-Matin,2023-06-20\n"
    "06150,La Turbie,06,5,exact,municipal network,installed,2024-06,Var-Matin,2024-06-10\n")


def test_a_commune_outside_the_history_gets_no_count_through_time(
    osh: Path, communes_06: Path, shapes_06: dict[str, Any], write_text  # noqa: F811
) -> None:
    """La Turbie, outside the Monaco extract the history grew from: its figure of 2024-06
    has no cameras mapped then and no ratio, for the reason its row gives, in every format."""
    mine = write_text("riviera.csv", RIVIERA_FIGURES)
    common = ("compare", "--pbf", osh, "--boundaries", communes_06, "--commune", "Beausoleil",
              "--commune", "La Turbie", "--reported", mine, "-q")
    data = json.loads(invoke(*common, "-f", "json").stdout)
    row = next(r for r in data["communes"] if r["insee"] == "06150")
    assert row["cameras"] is None and row["reason"] == "no data: outside the OSM data"
    point = next(p for p in data["over_time"] if p["insee"] == "06150")
    assert (point["mapped_then"], point["completeness"], point["reason"]) == (None, None, row["reason"])
    table = invoke(*common).stdout
    over_time = table[table.index("Every reported figure"):]
    turbie = over_time[over_time.index("La Turbie"):].split("\n")[0].split()
    assert turbie[:5] == ["La", "Turbie", "5", "2024-06", "installed"] and "0" not in turbie
    assert "0.0%" not in table
    markdown = invoke(*common, "-f", "markdown").stdout
    line = next(x for x in markdown.splitlines() if x.startswith("| 06150 | La Turbie | 5 |"))
    assert "| 0 |" not in line and "| 0.0 |" not in line
    # The plain function for a chart said the same of La Turbie, not mapped_then 0 and
    # completeness 0.0; and of Beausoleil, 40 % inside, no ratio.
    chart = figures_over_time(read_history(osh), {c: shapes_06[c] for c in ("06012", "06150")},
                              read_reported((mine,)))
    turbie = next(p for p in chart if p["insee"] == "06150")
    assert (turbie["mapped_then"], turbie["completeness"], turbie["reason"]) == (None, None, row["reason"])
    beausoleil = next(p for p in chart if p["insee"] == "06012")
    held = _snapshot(osh, beausoleil["moment"], shapes_06)["06012"]
    assert beausoleil["mapped_then"] == len(held) and beausoleil["partial"] is True
    assert beausoleil["completeness"] is None and beausoleil["coverage"] < 0.95


def test_a_partial_commune_s_counts_through_time_are_lower_bounds(
    osh: Path, communes_06: Path, shapes_06: dict[str, Any], write_text  # noqa: F811
) -> None:
    """Beausoleil, 40% inside the Monaco extract: the cameras mapped at its figure's date are
    a lower bound, "≥N", in the table and in Markdown; its JSON point says partial and coverage."""
    mine = write_text("riviera.csv", RIVIERA_FIGURES)
    common = ("compare", "--pbf", osh, "--boundaries", communes_06, "--commune", "Beausoleil",
              "--reported", mine, "-q")
    data = json.loads(invoke(*common, "-f", "json").stdout)
    (row,), (point,) = data["communes"], data["over_time"]
    assert row["partial"] and 0.3 < row["coverage"] < 0.5
    held = len(_snapshot(osh, "2023-07-01T00:00:00Z", shapes_06)["06012"])
    assert (point["mapped_then"], point["partial"], point["coverage"]) == (held, True, row["coverage"])
    table = invoke(*common).stdout
    line = next(x for x in table[table.index("Every reported figure"):].splitlines()
                if x.startswith(" Beausoleil"))
    assert f" ≥{held} " in line
    markdown = invoke(*common, "-f", "markdown").stdout
    line = next(x for x in markdown.splitlines() if x.startswith("| 06012 | Beausoleil | 10 |"))
    assert f"| ≥{held} |" in line


def test_a_commune_the_data_may_not_cover_is_not_said_to_lie_outside_it(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """Monaco 2025's camera in Beausoleil (node 10147090782) alone, taken out by osmium getid:
    a file with no bounding box and one node, which says nothing of Nice. Nice's figure gets
    no ratio, for the reason count's note gives (the data does not say whether it covers
    Nice), in JSON and in the table, never that the data does not cover it."""
    one = tmp_path / "one.osm.pbf"
    run_osmium("getid", monaco_2025, "n10147090782", "-o", one)
    info = json.loads(run_osmium("fileinfo", "-j", "-e", one))
    assert info["header"]["boxes"] == [] and info["data"]["count"]["nodes"] == 1
    common = ("compare", "--pbf", one, "--boundaries", communes_06, "--commune", "Beausoleil",
              "--commune", "Nice", "-q")
    rows = {r["insee"]: r for r in json.loads(invoke(*common, "-f", "json").stdout)["communes"]}
    nice = rows["06088"]
    assert nice["cameras"] is None and nice["reported_cameras"] and nice["completeness"] is None
    assert nice["reason"] == nice["note"] == (
        "no count: the OSM data does not say whether it covers this commune")
    assert rows["06012"]["cameras"] == 1
    table = " ".join(invoke(*common).stdout.split())
    assert "does not say whether it covers" in table and "does not cover" not in table


def test_compare_notes_say_each_thing_once(osh: Path, communes_06: Path, write_text) -> None:  # noqa: F811
    """La Turbie, outside the data, without a figure: its note says both; Beausoleil, 40%
    inside it: that its count is incomplete and that there is no ratio, in one note."""
    bare = json.loads(invoke("compare", "--demo", "--commune", "La Turbie", "--commune", "Beausoleil",
                             "-f", "json").stdout)
    turbie = next(r for r in bare["communes"] if r["insee"] == "06150")
    assert turbie["cameras"] is None and turbie["reported_cameras"] is None
    assert turbie["reason"] == "no data: outside the OSM data; no reported figure"
    mine = write_text("riviera.csv", RIVIERA_FIGURES)
    data = json.loads(invoke("compare", "--pbf", osh, "--boundaries", communes_06, "--commune", "Beausoleil",
                             "-q", "--reported", mine, "-f", "json").stdout)
    (row,) = data["communes"]
    notes = [note for note in [*row["flags"], row["reason"]] if "covers" in note]
    assert notes == ["the OSM data covers 40% of the commune: the mapped count is incomplete, no ratio"]
    table = " ".join(invoke("compare", "--pbf", osh, "--boundaries", communes_06, "--commune", "Beausoleil",
                            "-q", "--reported", mine).stdout.split())
    assert table.count("covers 40% of the commune") == 2  # the commune's row, then its figure's


def test_completeness_over_time_from_the_refresh_store(
    gard_pbf: Path, gard: Path, write_text, tmp_path: Path
) -> None:
    """Nîmes counted 1, 2 then 3 cameras by three runs: each figure meets the last run before it.
    The first run's count has no coverage (kept by an osmcams that did not keep it): no ratio."""
    from osmcams.store.history import Run, Store

    store = Store(tmp_path / "history.sqlite")
    runs = (("2023-01-01T00:00:00Z", 1), ("2024-06-01T00:00:00Z", 2), ("2025-03-01T00:00:00Z", 3))
    for stamp, cameras in runs:
        row = {"insee": "30189", "name": "Nîmes", "cameras": cameras, "population": None,
               "cameras_per_km2": None, "cameras_per_10k": None}
        if cameras > 1:  # wholly covered
            row.update(coverage=1.0, partial=False)
        with store.transaction():
            store.record_run(Run(stamp, None, "test", stamp, stamp), [row], {}, None, (), ())
    store.close()
    mine = write_text("nimes.csv", SERIES_HEADER + (
        "30189,Nîmes,30,4,exact,municipal network,installed,2019,La Gazette,2019-06\n"
        "30189,Nîmes,30,4,exact,municipal network,installed,2023-06,Midi Libre,2023-07-01\n"
        "30189,Nîmes,30,8,about,municipal network,installed,2024-11,Midi Libre,2024-12-01\n"
        "30189,Nîmes,30,6,at_least,municipal network,installed,2025-02,Objectif Gard,2025-02-10\n"))
    result = invoke("compare", "--commune", "Nîmes", "--pbf", gard_pbf, "--boundaries", gard,
                    "--reported", mine, "--store", tmp_path / "history.sqlite", "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    points = json.loads(result.stdout)["over_time"]
    found = [(p["as_of"], p["mapped_then"], p["completeness"], p["completeness_qualifier"]) for p in points]
    assert found == [
        ("2019", None, None, None), ("2023-06", 1, None, None), ("2024-11", 2, 0.25, "about"),
        ("2025-02", 3, 0.5, "at_most")]  # 2025-02 ends at 2025-03-01T00:00Z, the third run's date
    assert points[0]["reason"] == "before the first count in the store (2023-01-01T00:00:00Z)"
    assert points[1]["reason"] == "the osmcams that counted did not keep its coverage: no ratio"
    missing = invoke("compare", "--commune", "Nîmes", "--pbf", gard_pbf, "--boundaries", gard,
                     "--store", tmp_path / "none.sqlite", "-q")
    assert missing.exit_code == ExitCode.USAGE and "no such history store" in missing.stderr
    empty = tmp_path / "empty.sqlite"  # read, never written: no schema made in it
    empty.touch()
    nothing = invoke("compare", "--commune", "Nîmes", "--pbf", gard_pbf, "--boundaries", gard,
                     "--store", empty, "-q")
    assert nothing.exit_code == ExitCode.USAGE and "no such history store" in nothing.stderr
    assert empty.read_bytes() == b""


@pytest.mark.parametrize(("scope", "own"), [
    ("municipal network", True), ("Préfecture de police network (on 1,475 sites)", True),
    ("national police network", True), ("cameras linked to the urban supervision centre", True),
    ("municipal network, besides 350 TaM transit cameras connected to the same centre", True),
    ("", True), ("Paris urban area, all operators (Comparitech ranking)", False),
    ("Nîmes Métropole network", False), ("metropolis", False), ("Communauté d'agglomération", False),
    ("intercommunal network", False), ("department of the Gard", False), ("aire urbaine de Lyon", False),
])
def test_which_scopes_are_the_communes(scope: str, own: bool) -> None:
    assert commune_scope(scope) is own


def test_department_ranges_and_empty_tables(write_text) -> None:
    header = "department,name,communes_total_stated,communes_with_cameras,reported_cameras_min," \
             "reported_cameras_max,as_of,source\n"
    with pytest.raises(DataError, match=r"dep.csv, line 2: reported_cameras_min 650 is above .* 450"):
        read_reported((write_text("dep.csv", header + "11,Aude,433,73,650,450,2022-05,L'Empaillé\n"),))
    empty = read_reported((write_text("empty.csv", SERIES_HEADER),))
    assert empty.communes == {} and empty.sources[0].endswith("empty.csv")


def test_no_completeness_where_the_data_covers_little(monaco_2025: Path, communes_06: Path,
                                                       tmp_path: Path) -> None:
    """Beausoleil, Cap-d'Ail and Roquebrune-Cap-Martin, 40 %, 12 % and 3 % inside the Monaco
    extract: a count that says too little for a ratio (Roquebrune read 0.0 exact). And a small
    ratio keeps two significant digits: 1 camera of 4,055 is 0.00025, not 0.0."""
    from osmcams.analysis.compare import ratio

    table = tmp_path / "figures.csv"
    table.write_text("insee,name,department,reported_cameras,qualifier,scope,status,as_of,source,"
                     "published\n" + "".join(
                         f"{code},{code},06,10,exact,municipal network,installed,2024,A,2024\n"
                         for code in ("06012", "06032", "06104")), encoding="utf-8")
    result = invoke("compare", "--pbf", monaco_2025, "--boundaries", communes_06, "--department", "06",
                    "--reported", table, "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in json.loads(result.stdout)["communes"]}
    counted = {r["insee"]: r for r in json.loads(invoke(
        "count", "--pbf", monaco_2025, "--boundaries", communes_06, "--department", "06",
        "--include-partial", "-f", "json", "-q").stdout)["communes"]}
    for code in ("06012", "06032", "06104"):
        assert counted[code]["coverage"] < 0.95 and rows[code]["completeness"] is None
        assert rows[code]["reason"].startswith("the OSM data covers ")
    figure = {"commune_scope": True, "status": "installed", "reported_cameras": 4055, "qualifier": "exact"}
    assert ratio(1, figure)[0] == 0.00025 and ratio(2028, figure)[0] == 0.5


def test_a_ratio_from_a_count_that_is_a_floor_is_one_too(monaco_2025: Path, communes_06: Path,
                                                          tmp_path: Path) -> None:
    """Counted at a minimum coverage of 0.1, Beausoleil (40 % inside the Monaco extract) gets
    a ratio: its count is a lower bound, so is the ratio (it read "exact"); against a minimum
    ("at least 10"), Cap-d'Ail's lower bound says nothing (it read "at most")."""
    import osmcams
    from osmcams.analysis.compare import compare, read_reported

    table = tmp_path / "figures.csv"
    table.write_text("insee,name,department,reported_cameras,qualifier,scope,status,as_of,source,"
                     "published\n06012,Beausoleil,06,10,exact,municipal network,installed,2024,A,2024\n"
                     "06032,Cap-d'Ail,06,10,at_least,municipal network,installed,2024,A,2024\n",
                     encoding="utf-8")
    communes = osmcams.load_communes([communes_06])
    report = osmcams.count(osmcams.read_cameras(monaco_2025), communes,
                           osmcams.select_communes(communes, ["06012", "06032"]))
    report.meta["min_coverage"] = 0.1
    rows = {r["insee"]: r for r in compare(report, read_reported((table,)), True).rows}
    beausoleil, cap = rows["06012"], rows["06032"]
    assert 0.1 <= beausoleil["coverage"] < 1 and 0.1 <= cap["coverage"] < 1
    assert beausoleil["completeness"] == beausoleil["cameras"] / 10
    assert beausoleil["completeness_qualifier"] == "at_least"
    assert cap["completeness"] is None and cap["reason"].endswith("the figure a minimum: no ratio")

def test_a_floor_against_an_approximate_figure_keeps_both_qualifiers(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """Beausoleil, 40 % inside the Monaco extract, holds 1 camera there (by hand: the README's
    2 cameras in French communes, one each in Beausoleil and Cap-d'Ail). Against "about 20"
    its ratio is at least about 5 %: it read "at_least", the "about" lost."""
    from rich.console import Console

    import osmcams
    from osmcams.analysis.compare import compare, read_reported
    from osmcams.cli.evidence import compare_table

    table = tmp_path / "figures.csv"
    table.write_text("insee,name,department,reported_cameras,qualifier,scope,status,as_of,source,"
                     "published\n06012,Beausoleil,06,20,about,municipal network,installed,2024,A,2024\n",
                     encoding="utf-8")
    communes = osmcams.load_communes([communes_06])
    report = osmcams.count(osmcams.read_cameras(monaco_2025), communes,
                           osmcams.select_communes(communes, ["06012"]))
    report.meta["min_coverage"] = 0.1
    compared = compare(report, read_reported((table,)), True)
    [row] = compared.rows
    assert row["partial"] and 0.1 <= row["coverage"] < 1 and row["cameras"] == 1
    assert (row["completeness"], row["completeness_qualifier"]) == (0.05, "at_least_about")
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(compare_table(compared))
    assert re.search(r"Beausoleil +≥1 +~20 +2024 +A +≥~5.0% ", console.export_text())


def test_a_figure_given_twice_is_refused_at_its_line(tmp_path: Path) -> None:
    """In one file, or in two (the same file given twice), with the lines a reader counts:
    blank lines and a line break inside a quoted field count (they were off by those)."""
    head = "insee,name,department,reported_cameras,qualifier,scope,status,as_of,source,published\n"
    row = "75056,Paris,75,2000,exact,municipal network,installed,2023-01,A,2023-02\n"
    spaced = tmp_path / "spaced.csv"
    spaced.write_text(head + "\n" + row + '75056,"Paris\nintra muros",75,5,exact,municipal network,'
                      "installed,2020,B,2020\n" + "\n" + row, encoding="utf-8")
    with pytest.raises(DataError, match=r"spaced.csv, line 7: the same figure as line 3$"):
        read_reported((spaced,))
    once = tmp_path / "once.csv"
    once.write_text(head + row, encoding="utf-8")
    other = tmp_path / "other.csv"
    other.write_text(head + row, encoding="utf-8")
    with pytest.raises(DataError, match=r"other.csv, line 2: the same figure as .*once.csv, line 2$"):
        read_reported((once, other))
    with pytest.raises(DataError, match="the file is given twice"):
        read_reported((once, once))


def test_a_csv_file_has_its_types_and_meta_beside_it(
    monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path
) -> None:
    """compare -o x.csv, as count -o x.csv: x.csvt and x.meta.json beside it, the data date the
    one `osmium fileinfo` reads in the extract's header; an existing one is not replaced."""
    stamp = run_osmium("fileinfo", "-g", "header.option.osmosis_replication_timestamp", monaco_2025).strip()
    out = tmp_path / "x.csv"
    args = ("compare", "--commune", "06012", "--commune", "06032", "--pbf", monaco_2025, "--boundaries",
            communes_06, "--population", cog_population, "-q", "-o", out)
    (tmp_path / "x.meta.json").write_text("mine")
    result = invoke(*args)
    assert result.exit_code == 2 and "x.meta.json exists" in result.stderr
    assert (tmp_path / "x.meta.json").read_text() == "mine" and not out.exists()
    assert invoke(*args, "--overwrite").exit_code == 0

    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows[1:]] == ["06012", "06032"]
    types = next(csv.reader(io.StringIO((tmp_path / "x.csvt").read_text(encoding="utf-8"))))
    assert len(types) == len(rows[0])
    assert dict(zip(rows[0], types))["insee"] == "String"
    assert dict(zip(rows[0], types))["reported_cameras"] == "Integer"

    def refuse(word: str) -> None:
        raise ValueError(f"not JSON: {word}")

    about = json.loads((tmp_path / "x.meta.json").read_text(encoding="utf-8"), parse_constant=refuse)
    assert about["csv"] == "x.csv"
    assert about["meta"]["data_timestamp"] == stamp == "2025-02-07T01:02:45Z"
    assert about["meta"]["source"] == str(monaco_2025)


@pytest.mark.parametrize(("low", "high", "shown"), [
    ("1450", "1450", "1,450"), ("1200", "2500", "1,200–2,500"), ("1450", "", "≥1,450"),
    ("", "2500", "≤2,500")])
def test_a_department_s_reported_range_has_thousands_separators(
    gard_pbf: Path, gard: Path, write_text, low: str, high: str, shown: str
) -> None:
    """The department table wrote "1450" beside "~1,300": its range is written as every number."""
    figures = write_text("dep.csv", "department,name,communes_total_stated,communes_with_cameras,"
                         "reported_cameras_min,reported_cameras_max,as_of,source\n"
                         f"30,Gard,351,80,{low},{high},2024-05,Midi Libre\n")
    table = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard, "-q",
                   "--reported", figures).stdout
    line = next(x for x in table[table.index("Departments"):].splitlines() if x.startswith(" 30 "))
    assert f" {shown} " in line and "None" not in line


def test_the_markdown_heading_of_the_figures_through_time(
    osh: Path, communes_06: Path, write_text  # noqa: F811
) -> None:
    """Markdown titled the table of figures through time "Over_time", its key in JSON."""
    mine = write_text("riviera.csv", RIVIERA_FIGURES)
    markdown = invoke("compare", "--pbf", osh, "--boundaries", communes_06, "--commune", "Beausoleil",
                      "--reported", mine, "-q", "-f", "markdown").stdout
    assert "\n**Every reported figure beside the cameras mapped at its date**\n" in markdown
    assert "Over_time" not in markdown and "over_time" not in markdown


def test_one_reported_file_alone_is_not_read_letter_by_letter(write_text) -> None:
    """read_reported("/…/riviera.csv") read each character as a file ("/: cannot read
    reported figures: Is a directory")."""
    mine = write_text("riviera.csv", RIVIERA_FIGURES)
    reported = read_reported(str(mine))
    figures = {code: [f["reported_cameras"] for f in found] for code, found in reported.communes.items()}
    assert figures == {"06012": [10], "06150": [5]}
    assert reported.communes == read_reported((mine,)).communes


def test_a_table_saved_by_a_french_spreadsheet_is_read_as_it_is(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    """The shipped series (the shared one, row by row) and department tables saved with ';'
    (a spreadsheet set to French) or tabs between fields: the same figures as the comma
    tables, where their columns were refused as not those of a table of figures."""
    def strip(reported: Any) -> tuple[Any, Any]:
        communes = {code: [{k: v for k, v in f.items() if k != "file"} for f in figures]
                    for code, figures in reported.communes.items()}
        departments = {code: {k: v for k, v in f.items() if k != "file"}
                       for code, f in reported.departments.items()}
        return communes, departments

    originals = [Path(str(files("osmcams.analysis").joinpath(f"data/{name}")))
                 for name in ("reported_series.csv", "reported_departments.csv")]
    for delimiter in (";", "\t"):
        saved = []
        for original in originals:
            with original.open(encoding="utf-8", newline="") as f:
                rows = list(csv.reader(f))
            copy = tmp_path / f"{delimiter == ';'}-{original.name}"
            with copy.open("w", encoding="utf-8-sig", newline="") as f:  # with Excel's BOM
                csv.writer(f, delimiter=delimiter).writerows(rows)
            saved.append(copy)
        assert strip(read_reported(saved)) == strip(read_reported(originals)) == strip(read_reported())
        assert sum(map(len, read_reported(saved).communes.values())) == 47
    figure = tmp_path / "beausoleil.csv"
    figure.write_text(";".join(SERIES_COLUMNS) + "\n06012;Beausoleil;06;20;exact;municipal network;"
                      "installed;2024-05;Nice-Matin;2024-06-01\n", encoding="utf-8")
    result = invoke("compare", "--commune", "Beausoleil", "--pbf", monaco_2025, "--boundaries", communes_06,
                    "--reported", figure, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["communes"][0]
    assert (row["reported_cameras"], row["reported_source"], row["as_of"]) == (20, "Nice-Matin", "2024-05")


def test_a_store_that_is_none_is_said_before_the_count(communes_06: Path, write_text) -> None:
    """--store naming a file that no refresh wrote (a CSV, a missing file) was said only once
    the extract had been read and counted: here a file that is no PBF, whose error came first."""
    broken = write_text("broken.osm.pbf", "not a PBF\n")
    figures = write_text("figures.csv", SERIES_HEADER)
    stores = {figures: (ExitCode.DATA, "not a usable osmcams history database"),
              broken.parent / "missing.sqlite": (ExitCode.USAGE, "no such history store")}
    for store, (code, said) in stores.items():
        result = invoke("compare", "--commune", "Beausoleil", "--pbf", broken, "--boundaries", communes_06,
                        "--store", store, "-q")
        assert result.exit_code == code, result.output
        assert result.stderr.startswith(f"osmcams: error: {store}: {said}"), result.stderr


def test_a_table_without_a_figure_says_why(monaco_2025: Path, communes_06: Path, write_text) -> None:
    """--department 06 against figures of Nantes alone: the table was empty, with nothing on
    stderr to say why (the warning reached only the JSON)."""
    nantes = write_text("nantes.csv", SERIES_HEADER + "44109,Nantes,44,20,exact,municipal network,"
                                                      "installed,2024-05,Ouest-France,2024-06-01\n")
    result = invoke("compare", "--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06,
                    "--reported", nantes, "-q")
    assert result.exit_code == 0, result.output
    assert "Nice" not in result.stdout and "06088" not in result.stdout
    assert "warning: no commune of the selection has a reported figure\n" in result.stderr


def test_a_history_without_a_figure_prints_no_empty_table(
    osh: Path, communes_06: Path, write_text  # noqa: F811
) -> None:
    """With a history file, Beausoleil named against figures of Nantes alone: the table of
    figures through time was printed empty, with nothing to say why. It is left out, one line
    on stderr says why (once: --department 06 already had its warning), and the JSON keeps
    its empty `over_time` and its warnings."""
    nantes = write_text("nantes.csv", SERIES_HEADER + "44109,Nantes,44,20,exact,municipal network,"
                                                      "installed,2024-05,Ouest-France,2024-06-01\n")
    common = ("compare", "--pbf", osh, "--boundaries", communes_06, "--reported", nantes, "-q")
    title = "Every reported figure beside the cameras mapped at its date"
    said = "warning: no commune of the selection has a reported figure"
    for selection, line in ((("--commune", "Beausoleil"), f"{said}: none to set beside the cameras mapped "
                                                          "through time\n"),
                            (("--department", "06"), f"{said}\n")):
        result = invoke(*common, *selection)
        assert result.exit_code == 0, result.output
        assert title not in result.stdout
        assert line in result.stderr and result.stderr.count(said) == 1, result.stderr
    data = json.loads(invoke(*common, "--commune", "Beausoleil", "-f", "json").stdout)
    assert [row["insee"] for row in data["communes"]] == ["06012"] and data["over_time"] == []
    assert not any("no commune of the selection" in warning for warning in data["warnings"])


def test_the_demo_s_five_communes_each_get_a_row() -> None:
    """compare --demo, which names its five communes as count --demo does, showed an empty
    table (none has a reported figure); each now has its row, those outside the data (Peille,
    La Turbie) without a count, none with a ratio."""
    demo = json.loads((files("osmcams") / "data/demo/communes-ign-2018.geojson").read_text(encoding="utf-8"))
    codes = [f["properties"]["code"] for f in demo["features"]]
    assert len(codes) == 5
    result = invoke("compare", "--demo", "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = {r["insee"]: r for r in json.loads(result.stdout)["communes"]}
    assert set(rows) == set(codes)
    assert rows["06091"]["cameras"] is None and rows["06150"]["cameras"] is None
    assert all(r["completeness"] is None and r["reason"] for r in rows.values())
    assert rows["06012"]["cameras"] is not None


def test_a_table_saved_in_windows_1252(tmp_path: Path) -> None:
    """The shipped series saved as a spreadsheet in French saves a CSV on Windows, in
    Windows-1252 with ';' (Béziers, Nîmes, Ploërmel, L'Empaillé): refused as "'utf-8' codec
    can't decode byte 0xe9"; the same 47 figures now, accents and all."""
    shipped = Path(str(files("osmcams.analysis").joinpath("data/reported_series.csv")))
    with shipped.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    saved = tmp_path / "series.csv"
    with saved.open("w", encoding="cp1252", newline="") as f:
        csv.writer(f, delimiter=";").writerows(rows)
    assert b"B\xe9ziers" in saved.read_bytes()
    mine = read_reported(saved)
    theirs = read_reported(shipped)
    assert {code: [{k: v for k, v in f.items() if k != "file"} for f in found]
            for code, found in mine.communes.items()} == {
        code: [{k: v for k, v in f.items() if k != "file"} for f in found]
        for code, found in theirs.communes.items()}
    assert mine.communes["34032"][0]["name"] == "Béziers"
    broken = tmp_path / "broken.csv"
    broken.write_bytes(SERIES_HEADER.encode() + b"06012,Beausoleil\x81,06,1,exact,,installed,2024,x,\n")
    with pytest.raises(DataError, match=r"broken.csv: cannot read the reported figures: neither UTF-8 nor "
                                        r"Windows-1252 text \(byte 0x81 at "):
        read_reported(broken)


@pytest.mark.parametrize("driver", ["XLSX", "ODS"])
def test_a_spreadsheet_is_asked_as_csv(driver: str, tmp_path: Path) -> None:
    """The shipped series kept as a spreadsheet: "neither UTF-8 nor Windows-1252 text (byte
    0x8d at 15)" said nothing of what to do; it is now named a spreadsheet, to save as CSV."""
    import pandas
    import pyogrio

    shipped = Path(str(files("osmcams.analysis").joinpath("data/reported_series.csv")))
    sheet = tmp_path / f"series.{driver.lower()}"
    pyogrio.write_dataframe(pandas.read_csv(shipped, dtype=str), sheet, driver=driver)
    with pytest.raises(DataError) as error:
        read_reported(sheet)
    assert str(error.value) == f"{sheet}: a spreadsheet, not a CSV table: save it as CSV"


def test_a_department_figure_keeps_its_note(shared_data: Path, ign_dir: Path, ign_shapes, camera_pbf) -> None:
    """L'Empaillé's Lozère: "16 communes sur 152 vont être équipées", communes about to be
    equipped, not equipped (the seed, read by hand). The shipped table's note said so, but
    compare showed 16 beside the communes with a mapped camera as if equipped, the note
    dropped; it is now among the department's flags, as Gard's "figure given by the
    prefecture"."""
    seed = (shared_data.parent / "seeds/002_6684cdf2f2f5f292.txt").read_text(encoding="utf-8")
    assert "En Lozère, 16 communes sur 152 vont être équipées" in seed
    lozere = ign_dir / "communes-48-lozere.geojson"
    shapes = ign_shapes(lozere)
    point = shapes["48095"].representative_point()  # Mende
    w, s, e, n = shapely.total_bounds(list(shapes.values())).tolist()
    box = (w - 0.1, s - 0.1, e + 0.1, n + 0.1)
    pbf = camera_pbf({1: (point.x, point.y, {"man_made": "surveillance"})}, box, DATE)
    result = invoke("compare", "--department", "48", "--pbf", pbf, "--boundaries", lozere, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    (department,) = json.loads(result.stdout)["departments"]
    assert (department["department"], department["communes_with_cameras_reported"]) == ("48", 16)
    assert department["communes_with_mapped_cameras"] == 1
    assert "communes about to be equipped" in department["flags"]
    table = invoke("compare", "--department", "48", "--pbf", pbf, "--boundaries", lozere, "-q").stdout
    assert "about to be equipped" in " ".join(table.split())


def test_a_stored_count_is_judged_by_the_coverage_it_was_kept_with(
    replication, monaco_2025: Path, riviera: Path, communes_06: Path, ign_shapes,  # noqa: F811
    write_text, tmp_path: Path, net_env, capsys
) -> None:
    """A real refresh on Monaco 2025 keeps the counts of Beausoleil and Cap-d'Ail with their
    coverage there (40 %, 14 %); compare --store, the count now from the Riviera 2016 extract
    (83 %, 98.8 %), judged each stored count by today's coverage: Cap-d'Ail's 1 camera of 10
    read "at least 10 %", Beausoleil's reason "covers 83 %". Each point now carries the
    coverage and partial flag the store kept, and says too little for a ratio under 95 %."""
    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          names=["06012", "06032"])
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert refresh(config) == 0
    replication.publish(MONACO_SEQUENCE + 1, osc(), "2025-02-09T00:00:00Z")  # a later run
    assert refresh(config) == 0
    capsys.readouterr()
    store = tmp_path / "www" / "history.sqlite"
    with sqlite3.connect(store) as db:
        kept = {code: (cameras, coverage, bool(flag)) for code, cameras, coverage, flag in db.execute(
            "SELECT insee, cameras, coverage, partial FROM counts WHERE run = (SELECT min(id) FROM runs)")}
    shapes = ign_shapes(communes_06)
    tagged = parse_opl(run_osmium("tags-filter", monaco_2025, "n/man_made=surveillance", "-f", "opl",
                                  "-o", "-"))
    for code in ("06012", "06032"):  # each holds 1 camera of the extract (osmium, shapely)
        assert kept[code][0] == sum(shapes[code].covers(Point(n.lon, n.lat)) for n in tagged) == 1
        assert kept[code][2] and 0.1 < kept[code][1] < 0.5
    figures = write_text("figures.csv", SERIES_HEADER + "".join(
        f"{code},{name},06,10,exact,municipal network,installed,2025-02-07,A,2025-02-08\n"
        for code, name in (("06012", "Beausoleil"), ("06032", "Cap-d'Ail"))))
    result = invoke("compare", "--commune", "06012", "--commune", "06032", "--pbf", riviera,
                    "--boundaries", communes_06, "--reported", figures, "--store", store, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    now = {row["insee"]: row for row in json.loads(result.stdout)["communes"]}
    assert now["06012"]["coverage"] == 0.832 and now["06032"]["coverage"] == 0.988  # the Riviera's
    for point in json.loads(result.stdout)["over_time"]:
        cameras, coverage, flag = kept[point["insee"]]
        assert (point["mapped_then"], point["coverage"], point["partial"]) == (cameras, coverage, flag)
        assert (point["completeness"], point["completeness_qualifier"]) == (None, None)
        assert point["reason"] == (f"the OSM data covers {round(coverage * 100)}% of the commune: the "
                                   "mapped count is incomplete, no ratio")


def test_compare_gives_count_s_note_for_a_commune_outside_the_data(
    monaco_2025: Path, communes_06: Path, ign_shapes, tmp_path: Path
) -> None:
    """Nice (no node of Monaco 2025 inside its IGN outline, by osmium and shapely), Peille and
    La Turbie lie outside the data of the Monaco 2025 extract, as count notes them ("no data:
    outside the OSM data"). compare said it in its own words ("the OSM data does not cover
    this commune"); it gives count's note, in JSON, CSV, Markdown and the table."""
    shapes = ign_shapes(communes_06)
    nodes = run_osmium("cat", "-t", "node", monaco_2025, "-f", "opl")
    places = [tuple(map(float, xy)) for xy in re.findall(r" x(-?[\d.]+) y(-?[\d.]+)", nodes)]
    assert places and not any(shapes["06088"].contains(Point(xy)) for xy in places)
    codes = ("06088", "06091", "06150")
    asked = ("--pbf", monaco_2025, "--boundaries", communes_06, "--commune", "Beausoleil",
             *(a for code in codes for a in ("--commune", code)), "-q")
    counted = {r["insee"]: r for r in json.loads(invoke("count", *asked, "-f", "json").stdout)["communes"]}
    note = "no data: outside the OSM data"
    assert [counted[code]["note"] for code in codes] == [note] * 3
    reasons = {"06088": note, "06091": f"{note}; no reported figure", "06150": f"{note}; no reported figure"}
    rows = {r["insee"]: r for r in json.loads(invoke("compare", *asked, "-f", "json").stdout)["communes"]}
    assert rows["06088"]["reported_cameras"] and rows["06088"]["completeness"] is None
    assert {code: rows[code]["reason"] for code in codes} == reasons
    assert rows["06012"]["cameras"] == 1
    out = tmp_path / "compare.csv"
    invoke("compare", *asked, "-o", out)
    with out.open(encoding="utf-8", newline="") as table:
        written = {r["insee"]: r for r in csv.DictReader(table)}
    assert {code: written[code]["reason"] for code in codes} == reasons
    markdown = invoke("compare", *asked, "-f", "markdown").stdout
    for code in codes:
        line = next(x for x in markdown.splitlines() if x.startswith(f"| {code} |"))
        assert line.rstrip().endswith(f"| {reasons[code]} |")
    table = " ".join(invoke("compare", *asked).stdout.split())
    assert table.count(note) == 3
    everything = json.dumps(rows) + markdown + table + out.read_text(encoding="utf-8")
    assert "does not cover" not in everything
