"""compare: mapped counts beside the reported figures, on real boundaries and figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner, Result
from shapely.geometry import Point

from osmcams.analysis.compare import end_of, partial, read_reported
from osmcams.cli import cli
from osmcams.errors import ExitCode

# Cameras placed in communes of the Gard (30): Nîmes 3, Alès 2, Bagnols-sur-Cèze 0.
PLACED = {"30189": 3, "30007": 2}
DATE = "2025-03-01T00:00:00Z"


def invoke(*args: str | Path) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def reported_rows(shared_data: Path) -> dict[str, dict[str, str]]:
    with (shared_data / "reported/reported_counts.csv").open(encoding="utf-8") as f:
        return {row["insee"]: row for row in csv.DictReader(f)}


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


def test_shipped_figures_are_the_shared_ones(reported_rows: dict[str, dict[str, str]]) -> None:
    shipped = read_reported()
    assert set(shipped.communes) == set(reported_rows)
    for code, row in reported_rows.items():
        assert shipped.communes[code]["reported_cameras"] == int(row["reported_cameras"])
        assert shipped.communes[code]["as_of"] == row["as_of"]
    assert set(shipped.departments) == {"12", "09", "46", "48", "11", "30", "65"}


def test_department_of_the_gard(gard_pbf: Path, gard: Path, reported_rows, cog_population: Path) -> None:
    result = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard,
                    "--population", cog_population, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {r["insee"]: r for r in data["communes"]}
    assert set(rows) == {code for code, r in reported_rows.items() if r["department"] == "30"}
    for code, row in rows.items():
        mapped = PLACED.get(code, 0)
        reported = int(reported_rows[code]["reported_cameras"])
        assert row["cameras"] == mapped
        assert row["reported_cameras"] == reported
        assert row["as_of"] == reported_rows[code]["as_of"]
        assert row["status"] == reported_rows[code]["status"]
        assert row["reported_source"] == reported_rows[code]["source"]
        assert row["completeness"] == round(mapped / reported, 3)
        assert any("more than 2 years before the OSM data" in f for f in row["flags"])  # 2022-05 vs 2025-03
        assert {"population", "cameras_per_km2", "by_type"} <= set(row)
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
    assert nice["reported_cameras"] == 3800


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
    assert rows["30334"]["reported_cameras"] is None  # named, without a figure: a row all the same
    assert rows["30334"]["reason"] == "no reported figure"


@pytest.mark.parametrize("fmt", ["csv", "markdown", "table"])
def test_every_count_format(gard_pbf: Path, gard: Path, fmt: str) -> None:
    result = invoke("compare", "--department", "30", "--pbf", gard_pbf, "--boundaries", gard, "-q", "-f", fmt)
    assert result.exit_code == 0, result.output
    assert "Nîmes" in result.stdout and "411" in result.stdout
    if fmt == "csv":
        header = result.stdout.splitlines()[0].split(",")
        assert header[:2] == ["insee", "name"] and header[-7:-2] == [
            "reported_cameras", "as_of", "status", "reported_source", "completeness"]
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
