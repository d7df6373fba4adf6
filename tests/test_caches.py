"""Every cache gives back what it was given: None stays None, text stays text, codes keep
their leading zeros. Expected values are the first, uncached, reading."""

from __future__ import annotations

import json
import math
from pathlib import Path

from test_timeline import history  # noqa: F401

from osmcams.cli import main
from osmcams.communes.boundaries import load_communes


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
    grid = _grid(tmp_path / "grid.geojson", ["g01", "06032", "0001", "x"])
    first = load_communes([grid], cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "boundaries").is_dir()
    again = load_communes([grid], cache_dir=tmp_path / "cache")
    assert _records(again) == _records(first)
    for record in _records(again):
        assert isinstance(record["insee"], str) and isinstance(record["name"], str)
    departments = dict(zip(again.frame["insee"], again.frame["department"]))
    assert departments["g01"] is None and departments["06032"] == "06"
    assert list(again.frame["insee"]) == ["g01", "06032", "0001", "x"]
    areas = list(again.frame["area_km2"])
    assert all(isinstance(a, float) and math.isfinite(a) for a in areas)


def test_a_timeline_over_a_grid_runs_twice_with_the_same_output(
    history: Path, tmp_path: Path, capsys  # noqa: F811
) -> None:
    grid = _grid(tmp_path / "grid.geojson", ["g01", "g02", "g03"])
    args = ["timeline", "--pbf", str(history), "--boundaries", str(grid), "--all", "-f", "json"]
    outputs = []
    for _ in range(2):
        assert main(args) == 0
        output = json.loads(capsys.readouterr().out)
        del output["meta"]["generated"]  # the one value meant to differ
        outputs.append(output)
    assert outputs[0] == outputs[1]
    communes = outputs[1]["communes"]
    assert [c["department"] for c in communes] == [None] * len(communes)
