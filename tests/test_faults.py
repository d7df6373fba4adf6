"""The fault matrix: hostile input, end to end through the CLI, as one table of cases.

Each case names how to build its input (from the real data or a local server), the
command line, the exit code expected and the words the one error or warning line must
hold. A new fault is one new row in ``CASES``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from osmcams.cli import cli
from osmcams.errors import ExitCode


@dataclass
class Env:
    """What a case may use to build its command line."""

    tmp: Path
    data: Path  # ../shared/data
    httpserver: object  # a pytest-httpserver on 127.0.0.1, for the service cases

    @property
    def ign_06(self) -> Path:
        return self.data / "communes/ign-2018-simplified/departements/communes-06-alpes-maritimes.geojson"

    @property
    def population(self) -> Path:
        return self.data / "population/cog-2026/communes.json"

    @property
    def monaco(self) -> Path:
        return self.data / "osm/monaco-2025-02-07.osm.pbf"

    def squares(self, *codes_and_names: tuple[str, str]) -> Path:
        """A boundary file of 0.03° squares side by side over Monaco, one per (code, name)."""
        features = [
            {"type": "Feature", "properties": {"code": code, "nom": name}, "geometry": {
                "type": "Polygon", "coordinates": [[[x, 43.72], [x + 0.03, 43.72], [x + 0.03, 43.75],
                                                    [x, 43.75], [x, 43.72]]]}}
            for x, (code, name) in zip((7.37, 7.40, 7.43, 7.46), codes_and_names)
        ]
        return self.write("squares.geojson", json.dumps({"type": "FeatureCollection", "features": features}))

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path


@dataclass(frozen=True)
class Case:
    """One fault: the arguments built from an Env, the exit code, the words expected."""

    name: str
    argv: Callable[[Env], list[str | Path]]
    code: ExitCode
    words: str  # in the last stderr line (the error), or in a warning when code is OK


CASES: list[Case] = [
    Case("unknown commune",
         lambda e: ["count", "--commune", "Nowhere-sur-Mer", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "-q"],
         ExitCode.COMMUNE, "Nowhere-sur-Mer"),
    # issue 8 §3: names that slug alike are refused before anything is written
    Case("codes that slug alike",
         lambda e: ["export", "--all", "--pbf", e.monaco, "--boundaries",
                    e.squares(("X4", "Twin"), ("Ｘ４", "Twin")), "--output-dir", e.tmp / "out", "-q"],
         ExitCode.USAGE, "would both be written to x4-twin.geojson"),
    Case("codes . and ..",
         lambda e: ["export", "--all", "--pbf", e.monaco, "--boundaries",
                    e.squares((".", "Dot"), ("..", "Dot")), "--output-dir", e.tmp / "out", "-q",
                    "--overwrite"],
         ExitCode.USAGE, "would both be written to commune-dot.geojson"),
    # issue 8 §2: a destination the system refuses (/sys takes no new directory, even for root)
    Case("read-only --output-dir",
         lambda e: ["export", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "--output-dir", "/sys/osmcams-test/out", "-q"],
         ExitCode.USAGE, "cannot write /sys/osmcams-test/out"),
    Case("read-only -o",
         lambda e: ["count", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "-o", "/sys/osmcams-test.csv", "-q"],
         ExitCode.USAGE, "cannot write /sys/osmcams-test.csv"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, shared_data: Path, tmp_path: Path, httpserver) -> None:
    env = Env(tmp_path, shared_data, httpserver)
    argv = [str(a) for a in case.argv(env)]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == case.code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    if case.code == ExitCode.OK:
        assert any(case.words in line for line in lines if line.startswith("warning: ")), result.stderr
    else:
        assert lines and lines[-1].startswith(("osmcams: error: ", "Error: ")), result.stderr
        assert case.words in lines[-1], result.stderr
