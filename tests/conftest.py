"""Shared fixtures: the real data beside the checkout, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.fixture(scope="session")
def communes_06(shared_data: Path) -> Path:
    """IGN 2018 communes of the Alpes-Maritimes."""
    return shared_data / "communes/ign-2018-simplified/departements/communes-06-alpes-maritimes.geojson"


@pytest.fixture(scope="session")
def cog_population(shared_data: Path) -> Path:
    """Etalab COG 2026 communes with population."""
    return shared_data / "population/cog-2026/communes.json"
