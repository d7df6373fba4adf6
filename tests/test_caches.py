"""Every cache gives back what it was given: None stays None, text stays text, codes keep
their leading zeros. Expected values are the first, uncached, reading."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
from conftest import run_osmium
from test_timeline import history  # noqa: F401

from osmcams.cli import main
from osmcams.communes.boundaries import load_communes
from osmcams.errors import DataError


def _grid(path: Path, codes: list[str]) -> Path:
    """Square communes over Monaco, with codes that are no INSEE codes (no department)."""
    features = []
    for i, code in enumerate(codes):
        x = 7.40 + 0.01 * i
        ring = [[x, 43.72], [x + 0.01, 43.72], [x + 0.01, 43.75], [x, 43.75], [x, 43.72]]
        features.append({"type": "Feature", "properties": {"code": code, "nom": f"Carré {code}"},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _records(communes) -> list[dict]:
    frame = communes.frame
    return [
        {"insee": code, "name": name, "department": department,
         "population": None if population is None or population is frame["population"].dtype.na_value
         else int(population)}
        for code, name, department, population in zip(
            frame["insee"], frame["name"], frame["department"], frame["population"].astype(object))
    ]


def test_the_boundary_cache_gives_back_none_text_and_leading_zeros(tmp_path: Path) -> None:
    grid = _grid(tmp_path / "grid.geojson", ["g01", "06032", "00012", "x"])
    first = load_communes([grid], cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "boundaries").is_dir()
    again = load_communes([grid], cache_dir=tmp_path / "cache")
    assert _records(again) == _records(first)
    for record in _records(again):
        assert isinstance(record["insee"], str) and isinstance(record["name"], str)
    departments = dict(zip(again.frame["insee"], again.frame["department"]))
    assert departments["g01"] is None and departments["06032"] == "06"
    assert list(again.frame["insee"]) == ["g01", "06032", "00012", "x"]
    areas = list(again.frame["area_km2"])
    assert all(isinstance(a, float) and math.isfinite(a) for a in areas)


def test_a_damaged_boundary_cache_is_read_around(tmp_path: Path) -> None:
    """An emptied, cut or overwritten cache file is parsed again from the boundaries (an empty
    one made every run end as "interrupted", exit 130)."""
    grid = _grid(tmp_path / "grid.geojson", ["g01", "06032", "00012", "x"])
    first = _records(load_communes([grid], cache_dir=tmp_path / "cache"))
    (kept,) = (tmp_path / "cache" / "boundaries").glob("*.npz")
    whole = kept.read_bytes()
    for damaged in (b"", whole[: len(whole) // 2], b"PK\x03\x04" + bytes(100)):
        kept.write_bytes(damaged)
        assert _records(load_communes([grid], cache_dir=tmp_path / "cache")) == first


def _london_grid(path: Path) -> Path:
    """Squares over central London: boundaries of no country, without departments."""
    features = []
    for i in range(3):
        x = -0.16 + 0.04 * i
        ring = [[x, 51.49], [x + 0.04, 51.49], [x + 0.04, 51.53], [x, 51.53], [x, 51.49]]
        features.append({"type": "Feature", "properties": {"code": f"L{i}", "nom": f"Square {i}"},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def london_history(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The London extract as a history file (one version of each object), made by osmium."""
    target = tmp_path_factory.mktemp("london") / "london.osh.pbf"
    run_osmium("cat", shared_data / "osm/big/valhalla-bench-london-2020.osm.pbf", "-o", target,
               "--output-header=osmosis_replication_timestamp=2020-07-01T00:00:00Z")
    return target


@pytest.mark.parametrize("which", ["monaco", "london"])
def test_a_timeline_over_a_grid_runs_twice_with_the_same_output(
    which: str, history: Path, london_history: Path, tmp_path: Path, capsys  # noqa: F811
) -> None:
    if which == "london":
        pbf, grid = london_history, _london_grid(tmp_path / "grid.geojson")
    else:
        pbf, grid = history, _grid(tmp_path / "grid.geojson", ["g01", "g02", "g03"])
    args = ["timeline", "--pbf", str(pbf), "--boundaries", str(grid), "--all", "-f", "json"]
    outputs = []
    for _ in range(2):
        assert main(args) == 0
        output = json.loads(capsys.readouterr().out)
        del output["meta"]["generated"]  # the one value meant to differ
        outputs.append(output)
    assert outputs[0] == outputs[1]
    communes = outputs[1]["communes"]
    assert [c["department"] for c in communes] == [None] * len(communes)


@pytest.mark.parametrize("table", ["cog", "shipped"])
def test_the_population_cache_gives_back_the_table_and_follows_its_changes(
    cog_population: Path, tmp_path: Path, table: str
) -> None:
    """A kept population table equals its parse (values, source, year, names), a table that
    changes is read again, and a damaged cache file is read around."""
    from osmcams.communes import cache
    from osmcams.communes.population import official_table, read_population

    path = cog_population if table == "cog" else official_table()
    expected = read_population(path, "2026")
    assert read_population(path, "2026", tmp_path) == expected  # read, then kept
    (kept,) = (tmp_path / "population").iterdir()
    assert cache.read_population(kept) == expected
    assert read_population(path, "2026", tmp_path) == expected  # from the cache
    assert read_population(path, "2025", tmp_path).year == read_population(path, "2025").year
    for damaged in (b'{"values": {"75056": "many"}, "source": "x", "year": null, "names": {}}',
                    b'{"values": {"75056": 1}, "source": "x", "year": null, "names": {"75056": [1]}}',
                    b'{"values": [], "source": "x", "year": 2026, "names": {}}'):
        kept.write_bytes(damaged)
        assert read_population(path, "2026", tmp_path) == expected  # damaged: parsed again
    kept.write_bytes(b"\x00garbage")
    assert read_population(path, "2026", tmp_path, refresh=True) == expected
    copy = tmp_path / "communes.json"
    rows = [{"code": "75056", "type": "commune-actuelle", "nom": "Paris", "population": 2_000_000}]
    copy.write_text(json.dumps(rows), encoding="utf-8")
    assert read_population(copy, None, tmp_path).values == {"75056": 2_000_000}
    rows[0]["population"] = 2_100_000
    copy.write_text(json.dumps(rows) + " ", encoding="utf-8")  # another size, another time
    assert read_population(copy, None, tmp_path).values == {"75056": 2_100_000}
    with pytest.raises(DataError, match="cannot read population table"):
        read_population(tmp_path / "missing.json", None, tmp_path)


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="forks on Linux")
def test_a_cold_cache_is_filled_by_a_process_beside_the_reading(
    monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path
) -> None:
    """With an empty cache, a forked process parses the boundary files into it while the
    extract is read; the report is the one of a warm cache and of the parse in the reading
    process (--refresh), and the next run reads the cache."""
    import subprocess

    def run(name: str, *extra: str) -> tuple[dict, str]:
        out = tmp_path / f"{name}.json"
        done = subprocess.run(
            [sys.executable, "-m", "osmcams", "-v", "count", "--all", "--pbf", monaco_2025, "--boundaries",
             communes_06, "--population", cog_population, "--include-partial", "-f", "json", "-o", out, "-q",
             *extra],
            env={**os.environ, "OSMCAMS_CACHE_DIR": str(tmp_path / "cache")}, capture_output=True,
            text=True, check=True, timeout=300)
        report = json.loads(out.read_text(encoding="utf-8"))
        report["meta"].pop("generated")
        return report, done.stderr

    said = "parsed into the cache by a process beside the reading"
    cold, log = run("cold")
    assert said in log and list((tmp_path / "cache" / "boundaries").glob("*.npz"))
    warm, log = run("warm")
    assert said not in log
    again, log = run("again", "--refresh")
    assert said not in log
    assert cold == warm == again and [r["insee"] for r in cold["communes"]] == ["06012", "06032", "06104"]


def test_an_unexpected_end_of_file_is_no_interruption(monaco_2025: Path, communes_06: Path,
                                                       tmp_path: Path, monkeypatch) -> None:
    """click calls an EOFError an interruption (Abort, exit 130): one from the work is a bug,
    shown with its traceback and exit 1, never as Ctrl-C."""
    from click.testing import CliRunner

    import osmcams.communes.boundaries
    from osmcams.cli import cli

    def ends(*_: object) -> None:
        raise EOFError("No data left in file")

    load_communes([communes_06], cache_dir=tmp_path / "cache")  # a cache to read
    monkeypatch.setattr(osmcams.communes.boundaries, "read_cache", ends)
    result = CliRunner().invoke(cli, ["count", "--commune", "06012", "--pbf", str(monaco_2025),
                                      "--boundaries", str(communes_06), "--cache-dir",
                                      str(tmp_path / "cache"), "-q"])
    assert result.exit_code == 1 and "EOFError: No data left in file" in str(result.exception)
