"""Terminal tables at 80, 100 and 160 columns: numbers, codes, dates and ids never cut,
names wrapped at word boundaries, columns left out (and named) rather than cut."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from rich.cells import cell_len

from osmcams.cli import main

WIDTHS = (80, 100, 160)
DEMO_PBF = Path(__file__).resolve().parents[1] / "src/osmcams/data/demo/monaco-2025-02-07.osm.pbf"


def assert_uncut(text: str, width: int, values: Iterable[str], names: Iterable[str]) -> None:
    """Every line fits `width`; each value appears whole on one line; each name's words
    appear whole; nothing ends in an ellipsis."""
    lines = text.splitlines()
    assert lines and max(cell_len(line) for line in lines) <= width, text
    assert "…" not in text
    for value in values:
        assert any(value in line for line in lines), f"{value!r} cut or missing at {width}:\n{text}"
    tokens = {token for line in lines for token in line.split()}
    for name in names:
        for word in name.split():
            assert word in tokens, f"{word!r} of {name!r} split at {width}:\n{text}"


def _run(capsys, monkeypatch, width: int, args: list[str]) -> tuple[str, dict]:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main([*args, "-q"]) == 0
    table = capsys.readouterr().out
    assert main([*args, "-q", "-f", "json"]) == 0
    return table, json.loads(capsys.readouterr().out)


def _left_out(text: str) -> list[str]:
    found = re.search(r"left out for want of width: (.*?) \(widen", " ".join(text.split()))
    return found.group(1).split(", ") if found else []


@pytest.mark.parametrize("width", WIDTHS)
def test_count(capsys, monkeypatch, width):
    table, report = _run(capsys, monkeypatch, width, ["count", "--demo"])
    rows = report["communes"]
    values = [report["meta"]["data_timestamp"]]
    for r in rows:  # a commune outside the data: no count nor coverage, "–"; under 1%, "<1%"
        share = r["coverage"]
        values += [r["insee"], "–" if r["cameras"] is None else str(r["cameras"]),
                   "–" if share is None else "<1%" if share < 0.01 else f"{share:.0%}"]
    left_out = _left_out(table)
    if "Pop." not in left_out:
        values += [f"{r['population']:,}" for r in rows]
    if "km²" not in left_out:
        values += [str(r["area_km2"]) for r in rows]
    assert_uncut(table, width, values, [r["name"] for r in rows])
    assert (left_out == []) == (width >= 100)
    assert left_out[:1] == (["Types"] if width == 80 else [])  # the least useful first


@pytest.mark.parametrize("width", WIDTHS)
def test_quality(capsys, monkeypatch, width):
    table, report = _run(capsys, monkeypatch, width, ["quality", "--demo"])
    rows = report["communes"]
    assert_uncut(table, width, [r["insee"] for r in rows], [r["name"] for r in rows])
    header = next(line for line in table.splitlines() if "INSEE" in line).split()
    assert len(header) == len(set(header))  # no two columns headed alike ("type", "type")
    assert "camera:type" in header


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_gives_a_commune_outside_the_data_its_reason(
    capsys, monkeypatch, width, communes_06
):
    table, report = _run(capsys, monkeypatch, width, [
        "compare", "--pbf", str(DEMO_PBF), "--boundaries", str(communes_06), "--department", "06"])
    (nice,) = [r for r in report["communes"] if r["insee"] == "06088"]
    assert_uncut(table, width, ["06088", f"{nice['reported_cameras']:,}", nice["as_of"]],
                 ["Nice", nice["reason"]])


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_of_the_demo_wraps_its_notes_whole(capsys, monkeypatch, width):
    """`compare --demo` at 80 columns: rich shared the cut between Commune and Notes, then
    widened Commune back to Roquebrune-Cap-Martin, so the table ran 4 columns past the
    terminal and lost the ends of its title, notes and caption ("reported fig")."""
    table, report = _run(capsys, monkeypatch, width, ["compare", "--demo"])
    rows = report["communes"]
    assert_uncut(table, width, [r["insee"] for r in rows],
                 [*(r["name"] for r in rows), *(r["reason"] for r in rows),
                  "against the reported figure closest to that date"])


def test_a_table_too_wide_for_any_dropping_still_shows_every_value_whole() -> None:
    """Fitted on its own: at 30 columns, what can go goes; the rest is whole."""
    import io

    from rich.console import Console

    from osmcams.cli.render import Fitted

    table = Fitted([("INSEE", "left"), ("Commune", "text"), ("Cams", "right"), ("Types", "text")],
                   [["06104", "Roquebrune-Cap-Martin", "12,037", "camera 1, dome 2"]],
                   ["Types"], title="t")
    out = io.StringIO()
    Console(file=out, width=40).print(table)
    assert_uncut(out.getvalue(), 40, ["06104", "12,037"], ["Roquebrune-Cap-Martin"])
    assert _left_out(out.getvalue()) == ["Types"]


def test_compare_of_named_communes_gives_the_uncovered_one_a_row(capsys, communes_06):
    """`compare --commune Nice --commune Beausoleil` on the Monaco extract: Nice, outside
    the data, has a row with its reason; Beausoleil its count."""
    assert main(["compare", "--pbf", str(DEMO_PBF), "--boundaries", str(communes_06), "-q",
                 "--commune", "Nice", "--commune", "Beausoleil", "-f", "json"]) == 0
    rows = {r["insee"]: r for r in json.loads(capsys.readouterr().out)["communes"]}
    assert rows["06088"]["cameras"] is None
    assert rows["06088"]["reason"] == "no data: outside the OSM data"
    assert rows["06012"]["cameras"] == 1


def test_codes_headed_insee_only_when_they_are_french(capsys, monkeypatch, osm_dir: Path) -> None:
    """Liechtenstein's Gemeinden, from its own relations, are coded by relation (r1155956):
    their column reads "Code"; Monaco's French communes keep "INSEE"."""
    monkeypatch.setenv("COLUMNS", "120")
    liechtenstein = ["--pbf", str(osm_dir / "big/valhalla-docker-liechtenstein-2021.osm.pbf"), "--all"]
    for source, heading in ((liechtenstein, "Code"), (["--demo"], "INSEE")):
        for command in (["count", "--include-partial"], ["quality"]):
            assert main([*command, *source, "-q"]) == 0
            head = next(line for line in capsys.readouterr().out.splitlines() if "Commune" in line)
            assert head.split()[0] == heading, head
    from osmcams.communes.model import code_label

    assert code_label(["06088", "2A004", "97411"]) == "INSEE"
    assert code_label(["06088", "L02"]) == code_label(["r1155956"]) == "Code"


def test_markup_in_names_and_sources_is_shown_as_written(capsys, monkeypatch, tmp_path: Path,
                                                        communes_06: Path) -> None:
    """A commune named "[red]Zone[/red] [link=…]B[/link]" in a boundary file, and a reported
    source so written, were read as rich markup: "Zone B" in red, a hidden link. Every
    table (count, quality, compare, match's summary) now shows them as they are written."""
    name = "[red]Zone[/red] [link=http://example.org]B[/link]"
    square = [[[7.40, 43.72], [7.45, 43.72], [7.45, 43.76], [7.40, 43.76], [7.40, 43.72]]]
    zone = tmp_path / "[bold]zone.geojson"
    zone.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "X0001", "nom": name},
         "geometry": {"type": "Polygon", "coordinates": square}}]}), encoding="utf-8")
    monkeypatch.setenv("COLUMNS", "250")
    source = ["--pbf", str(DEMO_PBF), "--boundaries", str(zone), "--commune", "X0001", "-q"]
    for command in ("count", "quality", "compare"):
        assert main([command, *source]) == 0
        assert name in capsys.readouterr().out, command
    figures = tmp_path / "[i]figures.csv"
    outlet = "[red]Nice-Matin[/red]"
    figures.write_text("insee,name,department,reported_cameras,qualifier,scope,status,as_of,source,published\n"
                       f"06012,Beausoleil,06,20,exact,municipal network,installed,2024-05,{outlet},\n",
                       encoding="utf-8")
    assert main(["compare", "--pbf", str(DEMO_PBF), "--boundaries", str(communes_06), "--commune", "06012",
                 "--reported", str(figures), "-q"]) == 0
    out = capsys.readouterr().out
    assert outlet in out and f"reported:{figures}" in "".join(out.split())
    register = tmp_path / "[i]sites.csv"
    register.write_text("ref;lon;lat\n1;7.4229;43.7371\n", encoding="utf-8")
    assert main(["match", "--official", str(register), *source]) == 0
    assert str(register) in "".join(capsys.readouterr().out.split())


def test_the_lines_naming_files_written_show_names_as_written(capsys, tmp_path: Path) -> None:
    """export's line for each commune of a file, and quality's and match's for the files they
    wrote, read markup in a commune's name or a folder's ("[red]…[/red]": red, the brackets
    gone) and sent its control characters to the terminal; both are now shown as written."""
    name = "[red]Zone[/red] \x1b[2J"
    halves = {"X0001": (7.40, 7.425), "X0002": (7.425, 7.45)}  # both in the Monaco extract
    zone = tmp_path / "zone.geojson"
    zone.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "nom": f"{name} {code}"},
         "geometry": {"type": "Polygon", "coordinates": [[[w, 43.72], [e, 43.72], [e, 43.76], [w, 43.76],
                                                          [w, 43.72]]]}}
        for code, (w, e) in halves.items()]}), encoding="utf-8")
    source = ["--pbf", str(DEMO_PBF), "--boundaries", str(zone), "--commune", "X0001", "--commune", "X0002",
              "-q"]
    folder = tmp_path / "[b]out"
    folder.mkdir()
    assert main(["export", *source, "-o", str(folder / "cameras.geojson")]) == 0
    said = capsys.readouterr().err
    assert "in [red]Zone[/red] \\x1b[2J X0001 (X0001)" in said and "\x1b" not in said
    assert main(["quality", *source, "--output-dir", str(folder / "todo")]) == 0
    assert f"{folder}/todo/x0001-" in capsys.readouterr().err
