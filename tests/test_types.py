"""Types that survive the trip: codes stay text, counts integers, nulls keep their type, in
the files GDAL (QGIS's reader), pandas and DuckDB open."""

from __future__ import annotations

import json
from pathlib import Path

import pandas
import pyogrio
import pytest
from click.testing import CliRunner

from osmcams.cli import cli
from osmcams.models import make_camera
from osmcams.outputs.writers import write_cameras

pytestmark = pytest.mark.filterwarnings("ignore:Numba not installed")


def run(*args: str | Path) -> None:
    result = CliRunner().invoke(cli, [*map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def department(monaco_2025: Path, communes_06: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """count and export of department 06 from Monaco 2025, without population (a null column)."""
    out = tmp_path_factory.mktemp("types")
    source = ("--department", "06", "--pbf", monaco_2025, "--boundaries", communes_06, "-q")
    for name in ("counts.csv", "counts.gpkg", "counts.geojson"):  # Cap-d'Ail (06032) is partial
        run("count", *source, "--include-partial", "-o", out / name)
    for name in ("cameras.csv", "cameras.gpkg", "cameras.parquet", "cameras.geojson"):
        run("export", *source, "-o", out / name)
    return out


def test_csv_round_trip_through_gdal_keeps_the_codes(department: Path) -> None:
    """GDAL reads the .csvt beside the CSV: 06032 stays 06032, counts stay integers."""
    csvt = (department / "counts.csvt").read_text()
    assert csvt.startswith('"String","String","String","Integer"')
    frame = pyogrio.read_dataframe(department / "counts.csv")
    assert "06032" in frame["insee"].tolist() and set(frame["department"]) == {"06"}
    assert str(frame["cameras"].dtype).startswith("int")
    info = pyogrio.read_info(department / "cameras.csv")
    fields = dict(zip(info["fields"], info["dtypes"]))
    assert fields["insee"] == "object" and fields["@timestamp"].startswith("datetime64")
    cameras = pyogrio.read_dataframe(department / "cameras.csv")
    assert set(cameras["insee"]) == {"06012", "06032"}


def test_the_readme_recipe_for_pandas(department: Path) -> None:
    frame = pandas.read_csv(department / "counts.csv", dtype={"insee": str, "department": str})
    assert "06032" in frame["insee"].tolist()
    first = frame["insee"].tolist()[0]
    assert pandas.read_csv(department / "counts.csv")["insee"].tolist()[0] == int(first)  # without it


def test_geopackage_counts_are_integers_and_null_columns_keep_their_type(department: Path) -> None:
    info = pyogrio.read_info(department / "counts.gpkg", layer="communes")
    fields = dict(zip(info["fields"], info["dtypes"]))
    assert fields["cameras"] == "int64" and fields["by_type:camera"] == "int64"
    assert fields["population"] == "int64"  # every value null: still an integer column
    assert fields["insee"] == "object" and fields["cameras_per_km2"] == "float64"
    layer = pyogrio.read_info(department / "cameras.gpkg", layer="cameras")
    assert dict(zip(layer["fields"], layer["dtypes"]))["@timestamp"].startswith("datetime64")


def test_by_counts_are_zero_not_null(department: Path) -> None:
    features = json.loads((department / "counts.geojson").read_text())["features"]
    props = [f["properties"] for f in features]
    keys = {k for p in props for k in p if k.startswith("by_")}
    assert keys and all(p[k] == 0 or p[k] >= 1 for p in props for k in keys)
    assert all(isinstance(p[k], int) for p in props for k in keys)
    frame = pyogrio.read_dataframe(department / "counts.gpkg", layer="communes")
    assert not frame[sorted(keys)].isna().any().any()


def test_timestamps_are_typed_alike(department: Path) -> None:
    geojson = pyogrio.read_info(department / "cameras.geojson")
    assert dict(zip(geojson["fields"], geojson["dtypes"]))["@timestamp"].startswith("datetime64")
    parquet = pandas.read_parquet(department / "cameras.parquet")
    assert str(parquet["@timestamp"].dtype).startswith("datetime64")


def test_a_column_of_nulls_keeps_its_type(tmp_path: Path) -> None:
    """No camera tells its direction: @direction is still a number column."""
    cameras = [make_camera("node", i, 7.42, 43.73, {"man_made": "surveillance"}, timestamp=None)[0]
               for i in (1, 2)]
    write_cameras(cameras, tmp_path / "c.gpkg", "gpkg")
    fields = dict(zip(*(pyogrio.read_info(tmp_path / "c.gpkg", layer="cameras")[k]
                        for k in ("fields", "dtypes"))))
    assert fields["@direction"] == "float64" and fields["@timestamp"].startswith("datetime64")


def test_one_csv_per_commune_each_with_its_types(
    monaco_2025: Path, communes_06: Path, tmp_path: Path
) -> None:
    out = tmp_path / "per-commune"
    run("export", "--commune", "06012", "--commune", "06032", "--pbf", monaco_2025, "--boundaries",
        communes_06, "-q", "--output-dir", out, "-f", "csv")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["06012-beausoleil.csv", "06012-beausoleil.csvt", "06012-beausoleil.meta.json",
                     "06032-cap-d-ail.csv", "06032-cap-d-ail.csvt", "06032-cap-d-ail.meta.json"]
    assert pyogrio.read_dataframe(out / "06032-cap-d-ail.csv")["insee"].tolist() == ["06032"]
