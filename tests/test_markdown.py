"""Markdown tables of every command that prints one, read back as GitHub reads them and set
against the command's own JSON and an independent count, on the real data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import MARKED_NAME, assert_rows, markdown_tables
from shapely.geometry import Point

from osmcams.cli import cli


def invoke(*args: str | Path) -> Result:
    """Run osmcams with `args` and check that it succeeded."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def cameras_in(code: str, pbf: Path, boundaries: Path, osm_cameras: Callable, ign_shapes: Callable) -> int:
    """The camera nodes of `pbf` (osmium tags-filter) inside the IGN outline of `code` (shapely)."""
    shape = ign_shapes(boundaries)[code]
    return sum(shape.intersects(Point(o.lon, o.lat)) for o in osm_cameras(pbf) if o.kind == "n")


@pytest.mark.parametrize("command", ["count", "compare"])
def test_a_marked_name_stays_one_cell_of_text(
    command: str, monaco_2025: Path, communes_06: Path, marked_population: Path, osm_cameras: Callable,
    ign_shapes: Callable, tmp_path: Path,
) -> None:
    """Beausoleil named with "|", "\\|", a line break, emphasis, a link, HTML, code, "C:\\*"
    and an ESC: each row of the Markdown, on stdout and in FILE.md, reads as the JSON's row,
    the name one cell of text as the JSON gives it; Beausoleil's count a lower bound "≥1"
    (osmium and shapely: 1 camera in its outline), Nice's (outside the data) "–", not 0."""
    from osmcams.join import ROW_KEYS

    args = [command, "--pbf", monaco_2025, "--boundaries", communes_06, "--population", marked_population,
            "--commune", "06012", "--commune", "06032", "--commune", "06088", "-q"]
    rows = json.loads(invoke(*args, "-f", "json").stdout)["communes"]
    shown = invoke(*args, "-f", "markdown").stdout
    invoke(*args, "-o", tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text(encoding="utf-8") == shown
    table, *_ = markdown_tables(shown)
    assert tuple(table[0][:len(ROW_KEYS)]) == ROW_KEYS
    cells = assert_rows(table, rows)
    assert cells["06012"]["name"] == " ".join(MARKED_NAME.replace("\x1b", "\\x1b").splitlines())
    brute = cameras_in("06012", monaco_2025, communes_06, osm_cameras, ign_shapes)
    assert brute == 1 and cells["06012"]["cameras"] == f"≥{brute}"
    assert cells["06088"]["cameras"] == "–" and cells["06088"]["cameras_per_km2"] == "–"
    assert "Population: renamed-communes.json (Etalab COG), year unknown." in shown
    assert "data of 2025-02-07T01:02:45Z" in shown
