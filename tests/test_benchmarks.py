"""The benchmark runner's smoke mode: osmcams finds what osmium finds on a tiled PBF."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import benchmark_script


def test_smoke_agrees_with_osmium(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rhein-Neckar tiles hold camera nodes and ways: ids and commune totals match osmium."""
    runner = benchmark_script("run", monkeypatch)
    source = shared_data / "osm/big/graphhopper-rnv-rhein-neckar-2016.osm.pbf"
    result = runner.smoke(source, tmp_path)

    assert result["cameras"] == 3 * 21  # 3 tiles of 18 nodes and 3 ways
    assert result["ways"] == 3 * 3
    assert result["in_communes"] == result["cameras"]  # every tile lies in mainland France
