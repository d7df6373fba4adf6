"""The benchmark runner's smoke mode: osmcams finds what osmium finds on a tiled PBF."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def test_smoke_agrees_with_osmium(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rhein-Neckar tiles hold camera nodes and ways: ids and commune totals match osmium."""
    spec = importlib.util.spec_from_file_location("benchmark_run", RUNNER)
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, runner)  # dataclasses look their module up
    spec.loader.exec_module(runner)

    source = shared_data / "osm/big/graphhopper-rnv-rhein-neckar-2016.osm.pbf"
    result = runner.smoke(source, tmp_path)

    assert result["cameras"] == 3 * 21  # 3 tiles of 18 nodes and 3 ways
    assert result["ways"] == 3 * 3
    assert result["in_communes"] == result["cameras"]  # every tile lies in mainland France
