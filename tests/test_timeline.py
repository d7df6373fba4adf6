"""Cameras through time from history files built with `osmium apply-changes -H` on real extracts.

Expected counts come from `osmium time-filter FILE DATE` at each date, read as OPL,
ways placed at the centre of their nodes' bounding box and put in the IGN communes
with shapely: never from osmcams.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import MARKED_NAME, assert_rows, markdown_tables, parse_opl, run_osmium
from shapely.geometry import Point

from osmcams.cli import main
from osmcams.errors import ExitCode
from osmcams.sources.osm import sieve

COMMUNES = ("06012", "06032", "06104", "06150")  # Beausoleil, Cap-d'Ail, Roquebrune, La Turbie
HEADER_DATE = "2025-09-01T00:00:00Z"  # after the last change
# The share of each commune inside the Monaco 2025 extract, as the issue measured it by two
# methods: none is wholly inside.
TRUTH = {"06012": 0.50, "06032": 0.23, "06104": 0.05, "06150": 0.05}


def _node(osm_id: int, version: int, when: str, lon: float, lat: float, camera: bool = True,
          **tags: str) -> str:
    tags = {"man_made": "surveillance", **tags} if camera else tags
    body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    return (f'<node id="{osm_id}" version="{version}" timestamp="{when}" uid="1" user="t" '
            f'changeset="{version}" lat="{lat}" lon="{lon}">{body}</node>')


def _way(osm_id: int, version: int, when: str, refs: list[int], camera: bool = True) -> str:
    nds = "".join(f'<nd ref="{r}"/>' for r in refs)
    tag = '<tag k="man_made" v="surveillance"/>' if camera else ""
    return (f'<way id="{osm_id}" version="{version}" timestamp="{when}" uid="1" user="t" '
            f'changeset="{version}">{nds}{tag}</way>')


def _change(**blocks: list[str]) -> str:
    parts = "".join(f"<{kind}>{''.join(items)}</{kind}>" for kind, items in blocks.items())
    return f'<osmChange version="0.6" generator="osmcams tests">{parts}</osmChange>'


SQUARE = [(7.4238, 43.7478), (7.4242, 43.7478), (7.4242, 43.7482), (7.4238, 43.7482)]
WAY_NODES = [90000000010, 90000000011, 90000000012, 90000000013]
DIFFS = [
    _change(create=[  # a camera in Beausoleil, a camera way there, an untagged node in Cap-d'Ail
        _node(90000000001, 1, "2024-06-15T10:00:00Z", 7.4232, 43.7473),
        *(_node(n, 1, "2024-06-15T10:30:00Z", *p, camera=False) for n, p in zip(WAY_NODES, SQUARE)),
        _node(90000000002, 1, "2024-06-15T11:00:00Z", 7.4027, 43.7257, camera=False),
        _way(90000000100, 1, "2024-06-15T10:30:00Z", [*WAY_NODES, WAY_NODES[0]]),
    ]),
    _change(modify=[
        _node(90000000001, 2, "2025-03-03T09:00:00Z", 7.4027, 43.7250),  # moved to Cap-d'Ail
        _node(90000000002, 2, "2025-03-03T09:15:00Z", 7.4027, 43.7257),  # tagged
        # A node of the camera way moves to La Turbie: the way's centre follows it.
        _node(WAY_NODES[0], 2, "2025-03-03T10:00:00Z", 7.3968, 43.7456, camera=False),
        _node(10147090782, 2, "2025-03-03T11:00:00Z", 7.4185443, 43.7388758,  # retagged
              **{"surveillance:type": "ALPR"}),
        _node(6482706094, 2, "2025-03-03T12:00:00Z", 7.4103494, 43.730977,  # untagged
              camera=False, highway="street_lamp"),
    ]),
    _change(
        create=[_node(90000000003, 1, "2025-06-01T01:00:00Z", 7.4170, 43.7314)],  # in Monaco
        modify=[_node(6482706094, 3, "2025-06-01T04:00:00Z", 7.4240, 43.7470)],  # back, moved
        delete=[
            '<node id="90000000001" version="3" timestamp="2025-06-01T02:00:00Z" uid="1" '
            'user="t" changeset="3"/>',
            '<way id="90000000100" version="2" timestamp="2025-06-01T03:00:00Z" uid="1" '
            'user="t" changeset="3"/>',
        ],
    ),
]


@pytest.fixture(scope="session")
def history(monaco_2025: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Monaco 2025 and three diffs that create, move, retag, untag and delete cameras."""
    folder = tmp_path_factory.mktemp("history")
    diffs = []
    for i, text in enumerate(DIFFS):
        diffs.append(folder / f"{i}.osc")
        diffs[-1].write_text(text, encoding="utf-8")
    target = folder / "monaco.osh.pbf"
    run_osmium("apply-changes", "-H", monaco_2025, *diffs, "-o", target,
               f"--output-header=osmosis_replication_timestamp={HEADER_DATE}")
    return target


@pytest.fixture(scope="session")
def shapes(ign_dir: Path, ign_shapes: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    return ign_shapes(ign_dir / "communes-06-alpes-maritimes.geojson")


def _cameras_only(path: Path) -> Path:
    """Every version of the objects that were ever cameras and of their ways' nodes.

    Cut with `osmium getid --with-history`, so that time-filter reads a small file.
    """
    # Kept beside the tests' other files, never beside the real data in ../shared.
    key = hashlib.sha1(f"{path.resolve()} {path.stat().st_mtime_ns}".encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "osmcams-tests" / key
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.stem}-cameras.osh.pbf"
    if not target.exists():
        tagged = parse_opl(run_osmium("tags-filter", "-R", path, "man_made=surveillance",
                                      "-f", "opl", "-o", "-"))
        ids = {f"{o.kind}{o.osm_id}" for o in tagged}
        ids |= {ref for o in tagged if o.kind == "w" for ref in o.refs}  # n123
        listing = folder / f"{path.stem}-ids.txt"
        listing.write_text("\n".join(sorted(ids)) + "\n", encoding="utf-8")
        run_osmium("getid", "--with-history", path, "-i", listing, "-o", target)
    return target


def placed(path: Path, date: str, shapes: dict[str, Any]) -> list[tuple[Any, tuple, str]]:
    """(object, where, code) of each camera that `osmium time-filter` holds at `date`, in
    the commune of `shapes` with the lowest code; ways at the centre of their nodes' box."""
    objects = parse_opl(run_osmium("time-filter", _cameras_only(path), date, "-f", "opl", "-o", "-"))
    nodes = {o.osm_id: (o.lon, o.lat) for o in objects if o.kind == "n"}
    found = []
    for obj in objects:
        if obj.tags.get("man_made") != "surveillance":
            continue
        if obj.kind == "n":
            where = (obj.lon, obj.lat)
        else:
            points = [nodes[int(r[1:])] for r in obj.refs if int(r[1:]) in nodes]  # n123
            lons, lats = [p[0] for p in points], [p[1] for p in points]
            where = ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2)
        inside = sorted(code for code, shape in shapes.items() if shape.intersects(Point(where)))
        if inside:
            found.append((obj, where, inside[0]))
    return found


def _snapshot(path: Path, date: str, shapes: dict[str, Any]) -> dict[str, set[str]]:
    """{code: camera keys} of what `osmium time-filter` holds at `date`."""
    found: dict[str, set[str]] = {code: set() for code in shapes}
    for obj, _, code in placed(path, date, shapes):
        found[code].add(f"{obj.kind}{obj.osm_id}")
    return found


def _run(*args: str | Path) -> tuple[int, str]:
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["timeline", *map(str, args)])
    return code, out.getvalue()


def _timeline(history: Path, ign_dir: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    target = tmp_path / "timeline.json"
    options = [a for code in COMMUNES for a in ("--commune", code)]
    code, _ = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   *options, *args, "-o", target, "-q")
    assert code == ExitCode.OK
    return json.loads(target.read_text(encoding="utf-8"))


def _check(result: dict[str, Any], history: Path, shapes: dict[str, Any]) -> None:
    """Counts, added and removed at each date, against osmium time-filter."""
    snapshots = [_snapshot(history, date, shapes) for date in result["dates"]]
    rows = {row["insee"]: row for row in result["communes"]}
    assert list(rows) == list(COMMUNES)
    for code, row in rows.items():
        assert row["cameras"] == [len(s[code]) for s in snapshots], code
        assert row["added"] == [None] + [
            len(now[code] - before[code]) for before, now in pairwise(snapshots)
        ], code
        assert row["removed"] == [None] + [
            len(before[code] - now[code]) for before, now in pairwise(snapshots)
        ], code


def test_every_year_from_the_first_camera_to_the_data_date(
    history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path
) -> None:
    result = _timeline(history, ign_dir, tmp_path)
    # The first camera of these communes was mapped in May 2019: the first date is before it.
    assert result["dates"] == [f"{y}-01-01T00:00:00Z" for y in range(2019, 2026)] + [HEADER_DATE]
    assert result["meta"]["data_timestamp"] == HEADER_DATE
    assert "today" in result["meta"]["boundaries_date"]
    _check(result, history, shapes)
    rows = {row["insee"]: row for row in result["communes"]}
    assert rows["06032"]["cameras"][0] == 0
    assert rows["06012"]["first_camera"] == "2022-11-01T11:44:14Z"
    # The shipped populations are INSEE's of 2023 (in force in 2026, in the COG 2026 that
    # names the shipped table): the year beside per_10k is the one the source names.
    assert result["meta"]["population_year"] == "2023"
    assert result["meta"]["population_source"].startswith("INSEE legal population 2023 ")


def test_until_before_the_first_camera_counts_that_year(
    history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path
) -> None:
    """No --since, and no camera by --until: the dates start on January 1st of its year."""
    result = _timeline(history, ign_dir, tmp_path, "--until", "2018-06")
    assert result["dates"] == ["2018-01-01T00:00:00Z", "2018-06-01T00:00:00Z"]
    _check(result, history, shapes)


def test_a_header_date_in_the_future_is_not_the_data_date(
    history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path, capsys
) -> None:
    """A header claiming 2090: the data date is the newest version (osmium fileinfo's last
    timestamp), and no count is dated after it."""
    target = tmp_path / "future.osh.pbf"
    run_osmium("cat", history, "-o", target,
               "--output-header=osmosis_replication_timestamp=2090-01-01T00:00:00Z")
    newest = json.loads(run_osmium("fileinfo", "-e", "-j", target))["data"]["timestamp"]["last"]
    result = _timeline(target, ign_dir, tmp_path, "--since", "2025")
    assert result["meta"]["data_timestamp"] == result["dates"][-1] == newest
    assert result["dates"] == ["2025-01-01T00:00:00Z", newest]
    assert any("2090-01-01T00:00:00Z, in the future" in w for w in result["warnings"])
    _check(result, target, shapes)


@pytest.mark.parametrize("sifted_in", ["this process", "worker processes"])
def test_every_month_with_moves_retags_and_deletions(
    history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path, sifted_in: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sifted_in == "worker processes":
        monkeypatch.setattr(sieve, "IN_PROCESS_BYTES", 0)
        monkeypatch.setattr(sieve, "CHUNK", 1)
    result = _timeline(history, ign_dir, tmp_path, "--every", "month", "--since", "2024-05")
    assert result["dates"][:2] == ["2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z"]
    assert len(result["dates"]) == 17  # 2024-05 to 2025-08, then the data date, a month's start
    assert result["dates"][-1] == HEADER_DATE
    _check(result, history, shapes)
    turbie = {row["insee"]: row for row in result["communes"]}["06150"]
    assert max(turbie["cameras"]) == 1  # the camera way, while its moved node pulled it there


def test_every_hour_across_a_day_of_changes(
    history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path
) -> None:
    result = _timeline(history, ign_dir, tmp_path, "--every", "hour",
                       "--since", "2025-05-31T23:00Z", "--until", "2025-06-01T05:30:00Z")
    assert result["dates"][0] == "2025-05-31T23:00:00Z"
    assert result["dates"][-2:] == ["2025-06-01T05:00:00Z", "2025-06-01T05:30:00Z"]
    _check(result, history, shapes)


def test_at_the_instant_of_a_change_the_new_version_counts(
    history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path
) -> None:
    result = _timeline(history, ign_dir, tmp_path, "--every", "day",
                       "--since", "2025-03-03T08:59:59Z", "--until", "2025-03-03T09:00:00Z")
    assert result["dates"] == ["2025-03-03T08:59:59Z", "2025-03-03T09:00:00Z"]
    _check(result, history, shapes)


def test_csv_is_a_long_table(history: Path, ign_dir: Path, tmp_path: Path) -> None:
    code, text = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                      "--commune", "Beausoleil", "--since", "2024", "-f", "csv", "-q")
    assert code == ExitCode.OK
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["insee", "name", "coverage", "partial", "date", "cameras", "added", "removed",
                             "note"]
    assert [r["date"] for r in rows] == ["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", HEADER_DATE]
    assert rows[0]["added"] == "" and rows[1]["added"] != ""
    # Beausoleil is at most half inside the extract (TRUTH): its counts are lower bounds, as count's.
    assert {(r["partial"], float(r["coverage"]) <= TRUTH["06012"]) for r in rows} == {("True", True)}


def test_markdown_has_a_column_per_date(
    history: Path, ign_dir: Path, shapes: dict[str, Any], marked_population: Path, tmp_path: Path
) -> None:
    """Markdown, on stdout and in FILE.md: a row per commune as in JSON, a column per date
    (the day at midnight UTC, else the date in full), each count as osmium time-filter holds it,
    "≥" before those of the four communes partly inside the data, "–" at every date for
    Peille (outside it, never 0), and a line that says so; Beausoleil, named with "|", a line
    break and markup, is one cell of text; the data date and population source below."""
    args = ["--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
            "--population", marked_population, *(a for code in COMMUNES for a in ("--commune", code)),
            "--commune", "Peille", "--since", "2024", "-q"]
    code, data = _run(*args, "-f", "json")
    assert code == ExitCode.OK
    found = json.loads(data)
    code, text = _run(*args, "-f", "markdown")
    assert code == ExitCode.OK
    assert _run(*args, "-o", tmp_path / "t.md")[0] == ExitCode.OK
    assert (tmp_path / "t.md").read_text(encoding="utf-8") == text
    dates = found["dates"]
    assert dates == ["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", HEADER_DATE]  # midnight too
    table, = markdown_tables(text)
    assert table[0] == ["insee", "name", "department", "population", "coverage", "partial", "2024-01-01",
                        "2025-01-01", HEADER_DATE[:10], "per_10k", "first_camera", "note"]
    rows = [{**row, **dict(zip(table[0][6:9], row["cameras"]))} for row in found["communes"]]
    cells = assert_rows(table, rows, tuple(table[0][6:9]))
    snapshots = [_snapshot(history, date, shapes) for date in dates]
    for code in COMMUNES:
        assert [cells[code][day] for day in table[0][6:9]] == [f"≥{len(s[code])}" for s in snapshots], code
    assert [cells["06091"][day] for day in table[0][6:9]] == ["–"] * 3
    assert cells["06091"]["note"] == "no data: outside the OSM data"
    assert cells["06012"]["name"] == " ".join(MARKED_NAME.replace("\x1b", "\\x1b").splitlines())
    assert "\n≥: only partly inside the data (4 of 5 communes): its counts are lower bounds" in text
    assert "\n– no count: a commune outside the data" in text
    assert f"data of {HEADER_DATE}. " in text and "Population: renamed-communes.json (Etalab COG)" in text
    code, text = _run(*args, "--until", "2025-06-01T05:30Z", "-f", "markdown")
    assert code == ExitCode.OK
    assert markdown_tables(text)[0][0][6:9] == ["2024-01-01", "2025-01-01", "2025-06-01T05:30:00Z"]


def test_the_table_marks_partial_counts_as_lower_bounds(history: Path, ign_dir: Path, monkeypatch) -> None:
    """Every commune of the fixture is partly inside the data (TRUTH): ≥ before its first
    and last counts, and a line in the caption that says why, as in count's table."""
    monkeypatch.setenv("COLUMNS", "160")
    args = ["--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
            *(a for code in COMMUNES for a in ("--commune", code)), "-q"]
    code, text = _run(*args)
    assert code == ExitCode.OK
    _, data = _run(*args, "-f", "json")
    rows = json.loads(data)["communes"]
    assert [r["partial"] for r in rows] == [True] * len(COMMUNES)
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()[:5] in COMMUNES}
    for row in rows:
        first, last = row["cameras"][0], row["cameras"][-1]
        assert re.search(rf"\s≥{first:,}\s.*\s≥{last:,}\s", lines[row["insee"]]), lines[row["insee"]]
    assert "≥ a commune only partly inside the data: its counts are lower bounds" in text
    # The /10k column says whose population, as count's table does.
    assert ("population: INSEE legal population 2023 (in force in 2026; Etalab découpage administratif,"
            " COG 2026, shipped with osmcams)") in " ".join(text.split())


@pytest.mark.parametrize("width", [80, 100, 160])
def test_the_table_has_a_sparkline(history: Path, ign_dir: Path, monkeypatch, width: int) -> None:
    """At 160 columns; narrower, dates and counts stay whole and the trend may go first."""
    from test_tables import assert_uncut

    monkeypatch.setenv("COLUMNS", str(width))
    args = ["--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
            "--commune", "Beausoleil", "--commune", "Cap-d'Ail", "-q"]
    code, text = _run(*args)
    assert code == ExitCode.OK
    if width == 160:
        assert "▁" in text and "█" in text
    code, data = _run(*args, "-f", "json")
    rows = json.loads(data)["communes"]
    assert_uncut(text, width, [f"{c:,}" for r in rows for c in (r["cameras"][0], r["cameras"][-1])],
                 [r["name"] for r in rows])



def test_an_export_of_a_history_file_dates_each_camera_by_its_last_version(
    monaco_2025: Path, tmp_path: Path, write_text
) -> None:
    """@timestamp as `osmium time-filter` gives it: the camera way's own last version, not
    the later move of one of its nodes, nor the earlier state a version left unchanged; a
    node's version that changed nothing still dates it."""
    nodes = [90000000020, 90000000021, 90000000022, 90000000023]
    middle = 90000000024
    diffs = [
        _change(create=[
            *(_node(n, 1, "2024-06-15T10:30:00Z", *p, camera=False) for n, p in zip(nodes, SQUARE)),
            _node(middle, 1, "2024-06-15T10:30:00Z", 7.4240, 43.7480, camera=False),
            _way(90000000200, 1, "2024-06-15T10:30:00Z", [*nodes, nodes[0]])]),
        _change(modify=[_node(nodes[0], 2, "2025-03-03T10:00:00Z", 7.4237, 43.7477, camera=False)]),
        _change(modify=[  # the same camera again; the way with one more node, its box the same
            _node(6459866647, 2, "2025-04-01T08:00:00Z", 7.4155145, 43.7332957, **{
                "camera:mount": "pole", "camera:type": "fixed", "direction": "240",
                "source": "survey 2019", "surveillance": "outdoor", "surveillance:type": "camera"}),
            _way(90000000200, 2, "2025-05-01T09:00:00Z", [nodes[0], nodes[1], middle, *nodes[2:], nodes[0]]),
        ]),
    ]
    paths = [write_text(f"{i}.osc", text) for i, text in enumerate(diffs)]
    history = tmp_path / "edited.osh.pbf"
    run_osmium("apply-changes", "-H", monaco_2025, *paths, "-o", history,
               f"--output-header=osmosis_replication_timestamp={HEADER_DATE}")
    held = parse_opl(run_osmium("time-filter", history, HEADER_DATE, "-f", "opl", "-o", "-"))
    expected = {f"{ {'n': 'node', 'w': 'way'}[o.kind] }/{o.osm_id}": o.timestamp
                for o in held if o.tags.get("man_made") == "surveillance"}
    assert expected["way/90000000200"] == "2025-05-01T09:00:00Z"
    assert expected["node/6459866647"] == "2025-04-01T08:00:00Z"
    ring = [[7.39, 43.72], [7.44, 43.72], [7.44, 43.76], [7.39, 43.76], [7.39, 43.72]]
    square = write_text("square.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "99001", "nom": "Square"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))  # Monaco and around
    target = tmp_path / "cameras.geojson"
    assert main(["export", "--pbf", str(history), "--all", "--boundaries", str(square), "-o", str(target),
                 "-q"]) == ExitCode.OK
    found = {f["properties"]["@id"]: f["properties"]["@timestamp"]
             for f in json.loads(target.read_text(encoding="utf-8"))["features"]}
    assert found == {key: expected[key] for key in found}
    assert {"way/90000000200", "node/6459866647"} <= set(found)


def test_a_snapshot_is_refused_with_where_to_get_history(monaco_2025: Path, ign_dir: Path, capsys) -> None:
    code, text = _run("--pbf", monaco_2025, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                      "--commune", "Beausoleil")
    assert code == ExitCode.DATA
    message = capsys.readouterr().err
    assert "not a history file" in message and "osmium extract --with-history" in message
    assert text == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--until", "2026-01-01"], "after the data date"),
    (["--since", "2025-05", "--until", "2025-01"], "is after --until"),
    (["--since", "2026"], f"--since 2026 is after the data date {HEADER_DATE}"),
    (["--since", "last spring"], "cannot read the date"),
    (["--every", "hour", "--since", "2000"], "dates"),
])
def test_impossible_spans_are_usage_errors(
    history: Path, ign_dir: Path, args: list[str], message: str, capsys
) -> None:
    code, _ = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   "--commune", "Beausoleil", *args, "-q")
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert message in err
    assert "--until" in args or "after --until" not in err  # not an option the user did not give


def saint_barthelemy_history(osm_dir: Path, tmp_path: Path, write_text) -> tuple[Path, Path, list[int]]:
    """The real Saint-Barthélemy extract and diff, then a camera mapped a month later, as a
    history file; the island as a boundary file; the cameras osmium holds at each month."""
    folder = osm_dir / "saint-barthelemy"
    camera = write_text("camera.osc", _change(create=[
        _node(90000000001, 1, "2014-02-10T12:00:00Z", -62.8500, 17.8970)]))
    target = tmp_path / "sb.osh.pbf"
    run_osmium("apply-changes", "-H", folder / "saint_barthelemy.osm.pbf",
               folder / "saint_barthelemy.osc.gz", camera, "-o", target,
               "--output-header=osmosis_replication_timestamp=2014-03-01T00:00:00Z")
    island = write_text("sb.geojson", json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "97701", "nom": "Saint-Barthélemy"},
        "geometry": {"type": "Polygon", "coordinates": [[[-62.96, 17.86], [-62.77, 17.86],
                                                          [-62.77, 17.97], [-62.96, 17.97],
                                                          [-62.96, 17.86]]]}}]}))
    expected = []
    for date in ("2014-01-01T00:00:00Z", "2014-02-01T00:00:00Z", "2014-03-01T00:00:00Z"):
        objects = parse_opl(run_osmium("time-filter", target, date, "-f", "opl", "-o", "-"))
        expected.append(sum(o.tags.get("man_made") == "surveillance" for o in objects))
    return target, island, expected


def test_saint_barthelemy_real_diff(osm_dir: Path, tmp_path: Path, write_text) -> None:
    """A real replication diff, then a camera mapped a month later: 0, then 1, never null."""
    target, island, expected = saint_barthelemy_history(osm_dir, tmp_path, write_text)
    out = tmp_path / "sb.json"
    code, _ = _run("--pbf", target, "--boundaries", island, "--all", "--every", "month",
                   "--since", "2014-01", "-o", out, "-q")
    assert code == ExitCode.OK
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["communes"][0]["cameras"] == expected == [0, 0, 1]


def _osh(target: Path, lines: list[str]) -> Path:
    """The history file `target`, written by osmium-tool from these OPL lines."""
    opl = target.with_suffix(".opl")
    opl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_osmium("cat", opl, "-o", target)
    return target


def test_versions_that_straddle_two_blocks_are_all_read(tmp_path: Path) -> None:
    """osmium writes 8,000 objects a block: the versions of node 7991 begin in one, end in the next."""
    from osmcams.sources.osm.osh import iso, read_history

    lines = [f"n{i} v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x1.0 y1.0" for i in range(1, 7991)]
    lines += [  # a camera in its first version only; then moved and untagged, 19 times
        f"n7991 v{v} dV c1 t2020-02-01T{v:02d}:00:00Z i1 ut "
        f"T{'man_made=surveillance' if v == 1 else ''} x{1 + v / 1000} y1.0"
        for v in range(1, 21)
    ]
    target = _osh(tmp_path / "straddle.osh.pbf", lines)
    from osmcams.sources.osm import blocks

    assert [b.first_id for b in blocks.index(target).blocks["node"]] == [1, 7991]

    (track,) = read_history(target, threads=1).tracks
    assert track.key == "node/7991"
    assert [iso(s) for s in track.starts] == ["2020-02-01T01:00:00Z", "2020-02-01T02:00:00Z"]
    assert track.positions == [(1.001, 1.0), None]


def test_a_camera_relation_follows_the_nodes_of_its_member_ways(tmp_path: Path) -> None:
    """A relation sits at the centre of its member ways' nodes as they were, until deleted."""
    from osmcams.sources.osm.osh import iso, read_history

    target = _osh(tmp_path / "relation.osh.pbf", [
        "n1 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x1.0 y1.0",
        "n1 v2 dV c2 t2021-01-01T00:00:00Z i1 ut T x3.0 y1.0",
        "n2 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x2.0 y2.0",
        "w10 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T Nn1,n2",
        "r20 v1 dV c3 t2020-06-01T00:00:00Z i1 ut Tman_made=surveillance Mw10@",
        "r20 v2 dD c4 t2022-01-01T00:00:00Z i1 ut T M",
    ])

    (track,) = read_history(target, threads=1).tracks
    assert track.key == "relation/20"
    expected = []
    for start in track.starts:  # what osmium time-filter holds at each change
        objects = parse_opl(run_osmium("time-filter", target, iso(start), "-f", "opl", "-o", "-"))
        nodes = {o.osm_id: (o.lon, o.lat) for o in objects if o.kind == "n"}
        ways = {o.osm_id: o.refs for o in objects if o.kind == "w"}
        points = [nodes[int(n[1:])] for o in objects if o.kind == "r"
                  for w in o.refs for n in ways[int(w[1:])]]
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        expected.append(((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2) if points else None)
    assert [iso(s) for s in track.starts] == [
        "2020-01-01T00:00:00Z", "2020-06-01T00:00:00Z", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z"]
    assert track.positions == expected == [None, (1.5, 1.5), (2.5, 1.5), None]


CUT = (7.40, 43.72, 7.445, 43.765)  # all of Beausoleil, parts of its three neighbours; not Nice


@pytest.fixture(scope="session")
def cut_histories(history: Path) -> dict[str, Path]:
    """The history fixture cut by `osmium extract --with-history`, with and without the box in
    its header. History cuts keep whole ways: some nodes lie beyond the box."""
    cuts = {}
    for name, extra in (("no header bbox", []), ("header bbox", ["--set-bounds"])):
        cuts[name] = history.with_name(f"cut-{len(extra)}.osh.pbf")
        run_osmium("extract", "--with-history", *extra, "-b", ",".join(map(str, CUT)), history,
                   "-o", cuts[name])
    return cuts


@pytest.mark.parametrize("header", ["no header bbox", "header bbox"])
def test_a_history_cut_by_osmium_extract_gives_coverage(
    cut_histories: dict[str, Path], header: str, ign_dir: Path, shapes: dict[str, Any],
    tmp_path: Path, capsys,
) -> None:
    """Coverage from the header's box and the file's sampled nodes (deleted versions among
    them), never more than the share of each commune inside the cut box (shapely); no count
    where there is no data."""
    from shapely.geometry import box

    cut_history = cut_histories[header]
    assert bool(json.loads(run_osmium("fileinfo", "-j", cut_history))["header"]["boxes"]) == (
        header == "header bbox")
    target = tmp_path / "cut.json"
    code, _ = _run("--pbf", cut_history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   "--department", "06", "-o", target, "-q")
    assert code == ExitCode.OK
    result = json.loads(target.read_text(encoding="utf-8"))
    rows = {row["insee"]: row for row in result["communes"]}
    cut = box(*CUT)
    shares = {code: shape.intersection(cut).area / shape.area for code, shape in shapes.items()}
    assert "06088" not in rows  # Nice: no data, no count
    assert any("outside" in w and "Nice (06088)" in w for w in result["warnings"])
    # The Monaco extract never held all of the box: its share bounds the truth. With or
    # without the box in the header, the nodes of the whole ways beyond it are no data.
    assert shares["06012"] == pytest.approx(1.0)
    for code in ("06012", "06032", "06104", "06150"):
        share, coverage = shares[code], rows[code]["coverage"]
        assert 0 < coverage < 1 and coverage <= share + 0.01
    assert any("partly inside" in w for w in result["warnings"])

    code, _ = _run("--pbf", cut_history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   "--commune", "Nice", "-q")
    assert code == ExitCode.DATA
    assert "Nice (06088): outside" in capsys.readouterr().err


def test_deleted_versions_do_not_spoil_the_sampled_area(tmp_path: Path) -> None:
    """A deleted node has no location; libosmium writes it at 214.75°: it is no sample."""
    from osmcams.sources.osm.blocks import sample_nodes

    target = _osh(tmp_path / "deleted.osh.pbf", ["n1 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x1.0 y1.0",
                                                 "n1 v2 dD c2 t2021-01-01T00:00:00Z i1 ut T x y",
                                                 "n2 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x2.0 y2.0"])
    assert sample_nodes(target).tolist() == [[1.0, 1.0], [2.0, 2.0]]



@pytest.mark.parametrize("changes", ["all", "some"])
def test_counts_match_a_loop_over_each_track_at_each_date(
    history: Path, ign_dir: Path, shapes: dict[str, Any], changes: str
) -> None:
    """The counts of every commune of the department against each track's state at each
    date (`Track.at`, placed with shapely). The dates: years, and the instants of all the
    changes and the seconds before them; or of a third of them, up to before the last
    change, so that versions pass unseen between two dates or after the last."""
    from osmcams.analysis.timeline import OUTSIDE, _count, segments_of
    from osmcams.communes.boundaries import load_communes
    from osmcams.sources.osm.osh import read_history

    read = read_history(history, tags=True)  # a retag is a version in the same place
    tracks = read.tracks
    communes = load_communes([ign_dir / "communes-06-alpes-maritimes.geojson"])
    starts = sorted({start for track in tracks for start in track.starts})
    years = set(range(1_200_000_000, 1_800_000_000, 31_536_000))
    if changes == "all":
        dates = sorted(years | set(starts) | {s - 1 for s in starts})
    else:
        dates = [d for d in sorted(years | set(starts[::3])) if d < starts[-1]]
    # La Turbie and most others left uncounted: a camera moving there leaves the counts.
    codes = sorted({*COMMUNES[:3], *sorted(shapes)[::5]}, reverse=True)

    def where(position: tuple[float, float] | None) -> str | None:
        if position is None:
            return None
        inside = [code for code, shape in sorted(shapes.items()) if shape.intersects(Point(position))]
        return inside[0] if inside else OUTSIDE

    states = [{track.key: where(track.at(date)) for track in tracks} for date in dates]
    column = communes.frame["insee"].map({code: k for k, code in enumerate(codes)})
    counts = _count(segments_of(read.columns, communes), dates, column.fillna(-1).to_numpy(int))
    moves = list(pairwise(states))
    for k, code in enumerate(codes):
        assert counts.cameras[k].tolist() == [list(s.values()).count(code) for s in states], code
        assert counts.added[k, 1:].tolist() == [
            sum(b[key] != code == a[key] for key in a) for b, a in moves], code
        assert counts.removed[k, 1:].tolist() == [
            sum(b[key] == code != a[key] for key in a) for b, a in moves], code
    assert counts.present == sum(s is not None for s in states[-1].values())
    assert counts.outside == list(states[-1].values()).count(OUTSIDE)
    assert counts.cameras[:, -1].sum() > 0 and counts.added.sum() > 0 and counts.removed.sum() > 0


# --- The spread over time, drawn (issue 23) -------------------------------------------------


def test_the_page_s_total_over_partly_covered_communes_is_a_lower_bound(
        history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path) -> None:
    """Beausoleil, Cap-d'Ail, Roquebrune-Cap-Martin and La Turbie, none wholly inside the
    Monaco extract: the page's line "N cameras at the last date" summed partial counts as if
    whole. It reads "≥N", N the cameras osmium time-filter holds in their outlines then."""
    import re

    dates = _timeline(history, ign_dir, tmp_path, "--every", "quarter", "--since", "2024")["dates"]
    held = sum(map(len, _snapshot(history, dates[-1], shapes).values()))
    page = tmp_path / "spread.html"
    code, _ = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   *[a for c in COMMUNES for a in ("--commune", c)], "--every", "quarter",
                   "--since", "2024", "-o", page, "-q")
    assert code == ExitCode.OK
    line = re.search(r"; ([^;<]*) at the last date\.</p>", page.read_text(encoding="utf-8"))
    assert line and line.group(1) == f"≥{held} camera{'s' * (held != 1)}"


@pytest.mark.parametrize("suffix", [".png", ".svg", ".html"])
def test_a_chart_honours_the_suffix(history: Path, ign_dir: Path, tmp_path: Path, suffix: str) -> None:
    """`-o spread.png` draws the counts (not a text table), with the data date and the credit."""
    import re
    import shutil
    import subprocess

    from PIL import Image

    target = tmp_path / f"spread{suffix}"
    json_out = _timeline(history, ign_dir, tmp_path, "--every", "quarter", "--since", "2024")
    code, _ = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   *[a for c in COMMUNES for a in ("--commune", c)], "--every", "quarter",
                   "--since", "2024", "-o", target, "-q")
    assert code == ExitCode.OK
    data = target.read_bytes()
    if suffix == ".png":
        image = Image.open(target)
        assert image.format == "PNG" and image.width >= 800
        assert image.info["Copyright"] == f"© OpenStreetMap contributors (data of {HEADER_DATE[:10]}), ODbL"
        return
    text = data.decode("utf-8")
    assert str(ign_dir) not in text and str(history) not in text  # no local path
    if suffix == ".svg":
        assert text.lstrip().startswith("<?xml") and "<svg" in text[:2000]
        return
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(?!data:)", text)  # nothing fetched
    dom = subprocess.run([shutil.which("chromium") or "chromium", "--headless", "--no-sandbox",
                          "--disable-gpu", "--dump-dom", target.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert dom.count("<svg") == 1 and "2025-09-01" in dom  # the chart and the data date
    assert "IGN ADMIN EXPRESS" in dom and "OpenStreetMap contributors" in dom
    cells = re.findall(r"<tr><td>(\d{5})</td><td><bdi>[^<]*</bdi>[^<]*</td>((?:<td>≥?[\d,]+</td>)+)</tr>",
                       dom)
    counts = {code: [int(c) for c in re.findall(r"<td>≥?([\d,]+)</td>", tds)] for code, tds in cells}
    assert counts == {r["insee"]: r["cameras"] for r in json_out["communes"]}


def test_beyond_twelve_communes_the_chart_draws_the_top_twelve(tmp_path: Path) -> None:
    """Twenty communes: the twelve with most cameras at the last date, ties by code; names escaped."""
    import random

    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import draw_timeline, shown_rows

    generator = random.Random(12)
    rows = [{"insee": f"06{i:03d}", "name": f"<b>Commune {i}</b> & co", "coverage": 1.0,
             "cameras": sorted(generator.randint(0, 9) for _ in range(3))} for i in range(20)]
    meta = {"every": "year", "data_timestamp": "2025-09-01T00:00:00Z", "osmcams_version": "0",
            "boundaries": "/home/x/communes-06-alpes-maritimes.geojson", "population_source": None}
    timeline = Timeline(meta, ["2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "2025-09-01T00:00:00Z"],
                        rows)
    expected = sorted(rows, key=lambda r: (-r["cameras"][-1], r["insee"]))[:12]
    assert [r["insee"] for r in shown_rows(timeline)] == [r["insee"] for r in expected]
    page = tmp_path / "top.html"
    draw_timeline(timeline, page)
    text = page.read_text(encoding="utf-8")
    assert "<b>Commune" not in text and "&lt;b&gt;Commune 0&lt;/b&gt; &amp; co" in text
    assert "the 12 communes with the most cameras on 2025-09-01, of 20" in text
    assert "/home/x" not in text


def test_a_commune_the_source_could_not_count_is_said_on_the_chart(tmp_path: Path) -> None:
    """A commune ohsome refused (null counts): its panel says "not counted", the table "–";
    the others are drawn (a null made every chart fail). A "$" and a control character in a
    name are drawn as written, and the SVG stays well formed."""
    import xml.dom.minidom

    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import draw_timeline

    rows = [{"insee": "06088", "name": "Nice $x$ \x1b[31m", "coverage": 1.0, "cameras": [1, 2, 3]},
            {"insee": "06029", "name": "Cannes", "coverage": None, "cameras": [None, None, None]}]
    meta = {"every": "year", "data_timestamp": "2025-09-01T00:00:00Z", "osmcams_version": "0",
            "boundaries": "b.geojson", "population_source": None}
    timeline = Timeline(meta, ["2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "2025-09-01T00:00:00Z"],
                        rows)
    for suffix in ("png", "svg", "html"):
        draw_timeline(timeline, tmp_path / f"refused.{suffix}")
    svg = (tmp_path / "refused.svg").read_text(encoding="utf-8")
    xml.dom.minidom.parseString(svg)
    assert "Cannes (06029)" in svg and "not counted" in svg and "Nice $x$ \\x1b[31m" in svg
    assert "<td>–</td>" in (tmp_path / "refused.html").read_text(encoding="utf-8")


def test_the_files_own_boundaries_left_out_are_named_as_count_names_them(
    monaco_2025: Path, tmp_path: Path
) -> None:
    """With no --boundaries, the history file's own relations: the incomplete ones left out
    are named in warnings, one each, as `count` names them (the timeline said nothing)."""
    from click.testing import CliRunner
    from conftest import run_osmium

    from osmcams.cli import cli

    history = tmp_path / "monaco.osh.pbf"
    run_osmium("cat", monaco_2025, "-o", history)
    result = CliRunner().invoke(cli, ["timeline", "--pbf", str(history), "--all", "-f", "json"])
    assert result.exit_code == 0, result.output
    counted = CliRunner().invoke(cli, ["count", "--pbf", str(monaco_2025), "--all", "-f", "json",
                                       "--offline"])
    named = [line for line in counted.stderr.splitlines() if "is incomplete, left out" in line]
    assert len(named) >= 4 and all(line in result.stderr for line in named)


def test_a_chart_of_one_date_draws_a_point(tmp_path: Path) -> None:
    """`--since` equal to `--until`: each count is a point (a step of no length drew nothing)."""
    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import draw_timeline

    meta = {"every": "year", "data_timestamp": "2025-09-01T00:00:00Z", "osmcams_version": "0",
            "boundaries": "b.geojson", "population_source": None}
    timeline = Timeline(meta, ["2025-09-01T00:00:00Z"],
                        [{"insee": "06088", "name": "Nice", "coverage": 1.0, "cameras": [3]}])
    from PIL import Image

    from osmcams.outputs.charts import LINE

    draw_timeline(timeline, tmp_path / "one.png")
    image = Image.open(tmp_path / "one.png").convert("RGB")
    red = tuple(int(LINE[i:i + 2], 16) for i in (1, 3, 5))
    assert sum(n for n, colour in image.getcolors(1 << 24) if colour == red) > 20  # the point


def test_per_10k_is_null_where_the_data_covers_little_as_in_count(
    monaco_2025: Path, ign_dir: Path, tmp_path: Path
) -> None:
    """Beausoleil and Cap-d'Ail, 40 % and 12 % inside the Monaco extract: no density in the
    timeline, as none in count (it gave 0.838 and 2.231 per 10,000)."""
    from click.testing import CliRunner
    from conftest import run_osmium

    from osmcams.cli import cli

    history = tmp_path / "monaco.osh.pbf"
    run_osmium("cat", monaco_2025, "-o", history)
    args = ["--commune", "06012", "--commune", "06032", "--boundaries",
            str(ign_dir / "communes-06-alpes-maritimes.geojson"), "-f", "json", "-q"]
    counted = {r["insee"]: r for r in json.loads(
        CliRunner().invoke(cli, ["count", "--pbf", str(monaco_2025), *args]).stdout)["communes"]}
    result = CliRunner().invoke(cli, ["timeline", "--pbf", str(history), *args])
    assert result.exit_code == 0, result.output
    for row in json.loads(result.stdout)["communes"]:
        assert row["coverage"] < 0.95 and counted[row["insee"]]["cameras_per_10k"] is None
        assert row["per_10k"] is None


@pytest.mark.parametrize("at", ["2025-03-03T09:00:00Z", "2025-04-01", "2025-06-01T03:30:00Z"])
def test_a_map_at_a_date_counts_what_osmium_time_filter_holds(
    history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path, at: str
) -> None:
    """`map --at DATE --pbf HISTORY`: each commune's cameras then, as osmium time-filter has them."""
    from osmcams.analysis.timeline import parse_date, report_at
    from osmcams.counting import Request
    from osmcams.settings import Settings

    request = Request(communes=COMMUNES, pbf=history,
                      boundaries=(ign_dir / "communes-06-alpes-maritimes.geojson",))
    report = report_at(request, Settings.from_env(), at)
    instant = parse_date(at).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = _snapshot(history, instant, shapes)
    # La Turbie lies outside the data of the Monaco extract, as `count` finds: it has a row
    # only while a camera stands there.
    kept = [c for c in COMMUNES if c != "06150" or expected[c]]
    assert {r["insee"]: r["cameras"] for r in report.rows} == {c: len(expected[c]) for c in kept}
    assert {r["insee"]: {c.key for c in report.cameras[r["insee"]]} for r in report.rows} == {
        c: {k.replace("n", "node/", 1).replace("w", "way/", 1) for k in expected[c]} for c in kept}
    assert report.meta["data_timestamp"] == instant
    # How old the data is, is the history's age, not that of the date asked: at a date in
    # 2019 the map warned "the OSM data is 2,000 days old (2019-…)".
    age = (datetime.now(timezone.utc) - datetime.fromisoformat(HEADER_DATE.replace("Z", "+00:00"))).days
    stale = [w for w in report.warnings if "days old" in w]
    assert stale == [f"the OSM data is {age:,} days old ({HEADER_DATE}): cameras mapped since are missing"]
    out = tmp_path / "at.png"
    code, _ = _run_map("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                       *[a for c in COMMUNES for a in ("--commune", c)], "--at", at, "-o", out, "-q")
    assert code == ExitCode.OK and out.stat().st_size > 10_000


def _run_map(*args: str | Path) -> tuple[int, str]:
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["map", *map(str, args)])
    return code, out.getvalue()


def test_a_map_after_the_data_is_refused(history: Path, ign_dir: Path, tmp_path: Path) -> None:
    code, _ = _run_map("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                       "--commune", "06012", "--at", "2030", "-o", tmp_path / "x.png", "-q")
    assert code == ExitCode.USAGE


def test_reported_figures_are_dated_points_on_the_chart(history: Path, ign_dir: Path, tmp_path: Path) -> None:
    """--reported FILE: each commune's figures on its panel and in the page's table, escaped."""
    import re

    table = tmp_path / "said.csv"
    table.write_text(
        "insee,name,department,reported_cameras,qualifier,scope,status,as_of,source,published\n"
        "06012,Beausoleil,06,3,exact,municipal network,installed,2024-06,<b>Nice-Matin</b>,\n"
        "06012,Beausoleil,06,12,about,,planned,2026,Conseil municipal,\n"
        "06032,Cap-d'Ail,06,2,at_least,,annulled,2023,Tribunal,\n", encoding="utf-8")
    page = tmp_path / "said.html"
    code, _ = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   *[a for c in COMMUNES for a in ("--commune", c)], "--since", "2024",
                   "--reported", table, "-o", page, "-q")
    assert code == ExitCode.OK
    text = page.read_text(encoding="utf-8")
    rows = re.findall(r"<tr><td>(\d{5})</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td>(yes|no)</td><td>([^<]*)</td></tr>", text)
    assert rows == [("06012", "2024-06", "3", "yes", "&lt;b&gt;Nice-Matin&lt;/b&gt;"),
                    ("06012", "2026", "~12", "no", "Conseil municipal")]  # the annulled one left out
    assert "◆ reported by the town or the press" in text
    code, _ = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   "--commune", "06012", "--reported", table, "-f", "csv", "-q")
    assert code == ExitCode.USAGE  # figures go on a chart


def test_a_history_is_covered_where_count_covers_its_last_snapshot(
    history: Path, ign_dir: Path, tmp_path: Path
) -> None:
    """The timeline estimates where a history has data as `count` does a snapshot: from its
    sampled standalone nodes, which no version of a way refers to. Its last snapshot
    (osmium time-filter) gets the same coverage, within 0.02; none is over the truth the
    issue measured by two methods (Beausoleil 0.50, Cap-d'Ail 0.23, Roquebrune-Cap-Martin
    0.05, La Turbie 0.05): the nodes of the ways that cross the extract's cut are no data
    (the footprint of all the sampled nodes gave 0.77, 0.71, 0.10 and 0.38)."""
    from click.testing import CliRunner

    from osmcams.cli import cli

    snapshot = tmp_path / "last.osm.pbf"
    run_osmium("time-filter", history, "-o", snapshot)
    communes = ign_dir / "communes-06-alpes-maritimes.geojson"
    counted = CliRunner().invoke(cli, ["count", "--pbf", str(snapshot), "--boundaries", str(communes),
                                       "--department", "06", "--include-partial", "-f", "json", "-q"])
    assert counted.exit_code == 0, counted.output
    expected = {r["insee"]: r["coverage"] for r in json.loads(counted.stdout)["communes"]}
    target = tmp_path / "timeline.json"
    code, _ = _run("--pbf", history, "--boundaries", communes, "--department", "06", "-o", target, "-q")
    assert code == ExitCode.OK
    found = {r["insee"]: r["coverage"] for r in json.loads(target.read_text(encoding="utf-8"))["communes"]}
    assert set(TRUTH) <= set(found) and {"06012", "06032", "06104"} <= set(expected)
    for insee, share in TRUTH.items():
        assert found[insee] <= share
        if insee in expected:
            assert found[insee] == pytest.approx(expected[insee], abs=0.02)


def test_the_estimate_takes_the_camera_nodes_libosmium_read_from_their_tracks() -> None:
    """Camera nodes that the sieve did not read (libosmium found them in blocks it left)
    are evidence at every place their track had; those it read, at every placed version
    that carries the tag (a deleted one has no place)."""
    import numpy

    from osmcams.sources.osm.osh import Track, Tracks, _camera_places
    from osmcams.sources.osm.sieve import NodeVersions

    nan = float("nan")
    versions = NodeVersions(numpy.array([5, 5, 6]), numpy.array([1, 2, 1]), numpy.array([True, False, True]),
                            numpy.array([True, True, False]), numpy.array([1.0, nan, 3.0]),
                            numpy.array([2.0, nan, 4.0]))
    tracks = Tracks.of([Track("node/5", [1], [(1.0, 2.0)]),
                        Track("node/9", [1, 2, 3], [(7.0, 8.0), None, (7.5, 8.5)]),
                        Track("way/9", [1], [(0.0, 0.0)])], tags=False)
    ids, places = _camera_places(versions, {9}, tracks)
    assert ids.tolist() == [5, 9, 9] and places.tolist() == [[1.0, 2.0], [7.0, 8.0], [7.5, 8.5]]
    ids, places = _camera_places(versions, set(), tracks)
    assert ids.tolist() == [5] and places.tolist() == [[1.0, 2.0]]


def test_the_timeline_makes_no_track(history: Path, ign_dir: Path) -> None:
    """The timeline counts from the tracks' columns (`History.columns`): one `Track` per
    camera, made and placed one by one, took 0.6 – 1.1 s of France's timeline (288,838
    tracks). Its data area (drawn from the standalone nodes) and its counts make none; the
    tracks are made when asked, from the columns, and are the same."""
    from osmcams.analysis.timeline import build
    from osmcams.communes.boundaries import load_communes
    from osmcams.sources.osm.osh import read_history

    read = read_history(history)
    communes = load_communes([ign_dir / "communes-06-alpes-maritimes.geojson"])
    area, source = read.data_area()
    found = build(read, communes, list(COMMUNES))
    assert "standalone nodes" in source and area is not None
    assert "tracks" not in vars(read)  # the cached property was never asked
    assert found.meta["cameras_at_last_date"] == sum(t.positions[-1] is not None for t in read.tracks) > 0


@pytest.mark.parametrize("case", ["Monaco", "a camera way on a camera node"])
def test_the_sieve_s_tracks_are_libosmium_s(history: Path, tmp_path: Path, case: str) -> None:
    """The tracks of the camera nodes the sieve reads, made as columns (`_sifted_tracks`) and
    joined to those of the ways that libosmium reads, are the tracks that libosmium's
    versions give when it reads every node: the same history with its nodes written
    without dense blocks, which the sieve leaves to libosmium. A way's nodes that are
    cameras have their versions from the sieve."""
    from osmcams.sources.osm.osh import Track, Tracks, read_history

    if case != "Monaco":
        history = _osh(tmp_path / "on-a-camera.osh.pbf", [
            "n1 v1 dV c1 t2020-01-01T00:00:00Z i1 ut Tman_made=surveillance x1.0 y1.0",
            "n1 v2 dV c2 t2021-01-01T00:00:00Z i1 ut Tman_made=surveillance,camera:type=dome x3.0 y1.0",
            "n2 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x2.0 y2.0",
            "n3 v1 dV c1 t2020-03-01T00:00:00Z i1 ut Tman_made=surveillance x5.0 y5.0",
            "n3 v2 dD c3 t2022-01-01T00:00:00Z i1 ut T",
            "w10 v1 dV c1 t2020-06-01T00:00:00Z i1 ut Tman_made=surveillance Nn1,n2",
        ])
    sparse = tmp_path / "sparse.osh.pbf"
    run_osmium("cat", history, "-o", sparse, "-f", "osh.pbf,pbf_dense_nodes=false")
    for tags in (False, True):
        dense, alone = read_history(history, tags=tags), read_history(sparse, tags=tags)
        assert dense.tracks == alone.tracks, tags
        assert {t.key.split("/")[0] for t in dense.tracks} == {"node", "way"}
        assert dense.positions().tolist() == alone.positions().tolist()
        for name in ("kinds", "ids", "edited", "ends", "starts", "lon", "lat", "tags"):
            assert str(getattr(dense.columns, name)) == str(getattr(alone.columns, name)), name
    # Nodes read by both, their ids interleaved: in order of kind, then id.
    one, two, three = (Track("node/1", [5], [(1.0, 1.0)], [{"a": "b"}], 5),
                       Track("node/2", [6, 7], [None, (2.0, 2.0)], [{}, {}], 7),
                       Track("way/1", [8], [(3.0, 3.0)], [{}], 8))
    joined = Tracks.of([three, one], tags=True).joined(Tracks.of([two], tags=True))
    assert joined.objects() == [one, two, three]


def test_the_tracks_are_kept_out_of_later_collections(history: Path) -> None:
    """The tracks live as long as the history: made with the collector paused, they are moved
    out of its reach (`gc.freeze`), as count's cameras are. Else the first collection after
    the pause walked them all (0.12 – 0.18 s on France's 288,838, between the reading and the
    placing), and later ones again."""
    import gc

    from osmcams.sources.osm.osh import read_history

    tracks = read_history(history).tracks
    watched = {id(o) for o in gc.get_objects()}  # the frozen generation is not listed
    assert tracks and not {id(tracks[0]), id(tracks[-1]), id(tracks[-1].positions)} & watched


@pytest.mark.parametrize("panels", [1, 3])
def test_the_chart_subtitle_is_wrapped_inside_the_image(tmp_path: Path, panels: int) -> None:
    """With reported figures, the subtitle is longer than a chart of 1 or 3 panels is wide: it
    runs on more lines, all inside the image and above the panels (it was cut at the edge)."""
    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import ReportedPoint, _figure, draw_timeline

    meta = {"every": "year", "data_timestamp": "2025-09-01T00:00:00Z", "osmcams_version": "0",
            "boundaries": "b.geojson", "population_source": None}
    rows = [{"insee": f"0601{i}", "name": f"Commune {i}", "coverage": 1.0, "cameras": [1, 2]}
            for i in range(panels)]
    timeline = Timeline(meta, ["2024-01-01T00:00:00Z", "2025-09-01T00:00:00Z"], rows)
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    reported = {"06010": [ReportedPoint(when, 5, "5", "2024", "Nice-Matin", True)]}
    fig = _figure(timeline, None, reported)
    renderer = fig.canvas.get_renderer()
    (subtitle,) = [t for t in fig.texts if "reported by the town" in t.get_text()]
    words = " ".join(subtitle.get_text().split())
    assert words.endswith("◆ reported by the town or the press (◇ planned, or counted over a wider area), "
                          "at the end of the period it describes")
    box = subtitle.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert all(box.y0 > ax.get_tightbbox(renderer).y1 for ax in fig.axes if ax.get_visible())
    draw_timeline(timeline, tmp_path / "wrapped.html", reported=reported)
    page = (tmp_path / "wrapped.html").read_text(encoding="utf-8")
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "describes" not in svg and page.count("at the end of the period it describes") == 1  # as text


def test_the_html_page_shows_its_title_subtitle_and_credits_once(tmp_path: Path) -> None:
    """The page heads its chart with its title, subtitle and credits as text: the chart drawn
    inside it no longer repeats them (Chromium's DOM: each text once, the title in <h1>, none
    inside the SVG), while the PNG keeps its own."""
    from devtools import Browser

    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import ReportedPoint, _figure, draw_timeline

    meta = {"every": "year", "data_timestamp": "2025-09-01T00:00:00Z", "osmcams_version": "0",
            "boundaries": "b.geojson", "population_source": None}
    rows = [{"insee": f"0601{i}", "name": f"Commune {i}", "coverage": 1.0, "cameras": [1, 2]}
            for i in range(3)]
    timeline = Timeline(meta, ["2024-01-01T00:00:00Z", "2025-09-01T00:00:00Z"], rows)
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    reported = {"06010": [ReportedPoint(when, 5, "5", "2024", "Nice-Matin", True)]}
    title = "Cameras mapped in OpenStreetMap, 2024-01-01 to 2025-09-01"
    subtitle = "3 communes; counted every year; data of 2025-09-01; each panel on its own scale"
    page = tmp_path / "spread.html"
    draw_timeline(timeline, page, reported=reported)
    browser = Browser()
    try:
        tab = browser.open(page.as_uri(), settle=0.5)
        found = tab.evaluate("JSON.stringify({title: document.title, h1: [...document.querySelectorAll('h1')]"
                             ".map(e => e.textContent), svg: [...document.querySelectorAll('svg text')]"
                             ".map(e => e.textContent), text: document.body.innerText})")
    finally:
        browser.close()
    shown = json.loads(found)
    assert shown["title"] == title and shown["h1"] == [title]
    legend = "◆ reported by the town or the press"
    for text in (title, subtitle, "© OpenStreetMap contributors (data of 2025-09-01), ODbL", legend):
        assert shown["text"].count(text) == 1, text
        assert not any(text in piece for piece in shown["svg"]), text
    assert {"Commune 0 (06010)", "Commune 2 (06012)"} <= set(shown["svg"])  # the panels are there
    drawn = _figure(timeline, None, reported)  # a PNG or SVG: headed in the image itself
    assert title in [drawn.get_suptitle()] and any("OpenStreetMap" in t.get_text() for t in drawn.texts)


def test_each_panel_has_its_own_scale_and_labels_never_overprint() -> None:
    """A wider area's 33,479 beside a commune's 2 to 5 cameras: it no longer sets every
    panel's scale (the small counts were flat lines at 0); each panel reaches the most of its
    own counts and comparable figures, the 33,479 shown on the top edge with its value. Of
    nine figures a month apart, the labels that would overprint one another are left out,
    the latest kept."""
    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import ReportedPoint, _figure

    meta = {"every": "year", "data_timestamp": "2025-09-01T00:00:00Z", "osmcams_version": "0",
            "boundaries": "b.geojson", "population_source": None}
    rows = [{"insee": "75056", "name": "Paris", "coverage": 1.0, "cameras": [2, 3]},
            {"insee": "06029", "name": "Cannes", "coverage": 1.0, "cameras": [7, 9]},
            {"insee": "06088", "name": "Nice", "coverage": 1.0, "cameras": [250, 256]}]
    timeline = Timeline(meta, ["2018-01-01T00:00:00Z", "2025-09-01T00:00:00Z"], rows)

    def at(year: int, month: int) -> datetime:
        return datetime(year, month, 1, tzinfo=timezone.utc)

    nice = [(2500 + 200 * i, at(2022, 1 + i)) for i in range(9)]
    reported = {
        "75056": [ReportedPoint(at(2020, 1), 33479, "33,479", "2019", "Comparitech", False),
                  ReportedPoint(at(2021, 1), 5, "5", "2020", "Le Parisien", True)],
        "06088": [ReportedPoint(when, n, f"{n:,}", f"{when:%Y-%m}", "Nice-Matin", True) for n, when in nice],
    }
    fig = _figure(timeline, None, reported)
    paris, cannes, nice_panel = fig.axes[:3]
    assert 5 <= paris.get_ylim()[1] < 10 and 9 <= cannes.get_ylim()[1] < 20
    assert 4100 <= nice_panel.get_ylim()[1] < 5000
    (wide,) = [t for t in paris.texts if "33,479" in t.get_text()]
    assert wide.xy[1] == paris.get_ylim()[1]  # on the top edge
    shown = [t for t in nice_panel.texts if t.get_visible()]
    boxes = [t.get_window_extent() for t in shown]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert "4,100" in [t.get_text() for t in shown] and len(shown) < len(nice) + 1


def test_the_html_table_marks_partial_counts_as_lower_bounds(history: Path, ign_dir: Path,
                                                              tmp_path: Path) -> None:
    """The page's table gave Beausoleil's counts as plain numbers ("0", "1") where the
    terminal's table reads ≥0, ≥1: every commune of the fixture is partly inside the data (TRUTH)."""
    page = tmp_path / "spread.html"
    done, _ = _run("--pbf", history, "--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                   *(a for code in COMMUNES for a in ("--commune", code)), "-q", "-o", page)
    assert done == ExitCode.OK
    text = page.read_text(encoding="utf-8")
    table = text[text.index("<tbody>"):text.index("</tbody>")]
    for insee in COMMUNES:
        (row,) = re.findall(rf"<tr><td>{insee}</td>.*?</tr>", table)
        cells = re.findall(r"<td>([^<]*)</td>", row)[2:]
        assert cells and all(c.startswith("≥") for c in cells), row
    assert "≥ a commune only partly inside the data: its counts are lower bounds." in text


def test_a_long_name_over_a_panel_leaves_the_next_panel_s_title_clear() -> None:
    """München's 'Obergiesing-Fasangarten-…-der-Gemeinde (M06)' ran over the next panel's
    title, 'Île-de-Dürnstein (M09)': each title is broken at its hyphens and spaces within its
    panel, and no two titles overlap."""
    from matplotlib.text import Text

    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import _figure

    meta = {"every": "year", "data_timestamp": "2020-07-20T00:00:00Z", "osmcams_version": "0",
            "boundaries": "grid.geojson", "population_source": None}
    names = ["Sendling", "Obergiesing-Fasangarten-und-noch-viel-längerer-Name-der-Gemeinde",
             "Île-de-Dürnstein", "Ä"]
    rows = [{"insee": f"M0{i}", "name": name, "coverage": 1.0, "cameras": [1, 2]}
            for i, name in enumerate(names)]
    fig = _figure(Timeline(meta, ["2019-01-01T00:00:00Z", "2020-07-20T00:00:00Z"], rows), None, {})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    titles = [next(t for t in ax.get_children() if isinstance(t, Text) and "(M0" in t.get_text())
              for ax in fig.axes[:4]]  # each panel's title, on its left
    boxes = [t.get_window_extent(renderer) for t in titles]
    assert [" ".join(t.get_text().split()).replace("- ", "-") for t in titles] == [
        f"{name} (M0{i})" for i, name in enumerate(names)]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    assert all(box.x1 <= ax.get_window_extent(renderer).x1 + 20 for box, ax in zip(boxes, fig.axes))


def test_a_name_s_bidirectional_override_stays_in_the_name(tmp_path: Path) -> None:
    """A name that holds U+202E (RIGHT-TO-LEFT OVERRIDE) reversed the rest of its table cell:
    Chromium drew "Zone\\u202eRTL (28% covered)" as "Zone(derevoc %82) LTR". The name is now
    isolated (<bdi>): the coverage after it reads as written."""
    import shutil
    import subprocess

    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import draw_timeline

    meta = {"every": "year", "data_timestamp": "2020-07-20T00:00:00Z", "osmcams_version": "0",
            "boundaries": "grid.geojson", "population_source": None}
    rows = [{"insee": "M08", "name": "Zone\u202eRTL", "coverage": 0.28, "partial": True, "cameras": [0, 2]}]
    page = tmp_path / "zone.html"
    draw_timeline(Timeline(meta, ["2019-01-01T00:00:00Z", "2020-07-20T00:00:00Z"], rows), page)
    probe = tmp_path / "probe.html"  # where Chromium draws the "%" and the "c" of "covered"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", (
        "<script>function at(ch) { var w = document.createTreeWalker(document.querySelector('tbody'),"
        " NodeFilter.SHOW_TEXT), n; while ((n = w.nextNode())) { var i = n.data.indexOf(ch);"
        " if (i >= 0) { var r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);"
        " return r.getBoundingClientRect().left; } } }"
        "document.body.insertAdjacentHTML('beforeend', '<p id=probe>' + (at('%') < at('c')) + '</p>');"
        "</script></body>")), encoding="utf-8")
    dom = subprocess.run([shutil.which("chromium") or "chromium", "--headless", "--no-sandbox",
                          "--disable-gpu", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert '<p id="probe">true</p>' in dom  # "(28% covered)" after the name, left to right


def test_timeline_and_compare_agree_with_osmium_on_the_two_monaco_extracts(
    osm_dir: Path, monaco_2025: Path, riviera: Path, osmium_polygons, tmp_path: Path, capsys
) -> None:
    """The Monaco extracts of 2021 and 2025 made one history (osmium derive-changes, then
    apply-changes -H), the communes those of the Riviera 2016 extract given as --boundaries
    (La Turbie's outline is complete there, not in the extracts). timeline counts at each
    date what osmium time-filter and tags-filter hold inside each outline (shapely), and
    compare on each extract what it holds; La Turbie, barely reached, has no count in
    either. timeline read the history's own incomplete La Turbie: exit 4."""
    from click.testing import CliRunner

    from osmcams.cli import cli

    old = osm_dir / "monaco-2021-04-21.osm.pbf"
    changes, history = tmp_path / "2021-2025.osc.gz", tmp_path / "monaco.osh.pbf"
    run_osmium("derive-changes", old, monaco_2025, "-o", changes)
    run_osmium("apply-changes", "-H", old, changes, "-o", history,
               "--output-header=osmosis_replication_timestamp=2025-02-07T01:02:45Z")
    outlines = osmium_polygons(riviera, 8)
    shapes = {"06012": outlines[174562], "06150": outlines[174958], "r2220322": outlines[2220322]}
    asked = ("--commune", "Beausoleil", "--commune", "La Turbie", "--commune", "r2220322",
             "--boundaries", riviera, "-q")
    code, _ = _run("--pbf", history, *asked, "--since", "2021-04-21T20:21:46Z", "-o", tmp_path / "t.json")
    assert code == ExitCode.OK, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "it has no count: La Turbie (06150)" in err
    assert "1 commune has no population" in err and "communes have" not in err  # Monaco's
    found = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    rows = {row["insee"]: row["cameras"] for row in found["communes"]}
    assert list(rows) == ["06012", "06150", "r2220322"]  # La Turbie: a row, with no count
    assert set(rows.pop("06150")) == {None}
    held = [_snapshot(history, date, shapes) for date in found["dates"]]
    assert rows == {code: [len(at[code]) for at in held] for code in rows}
    assert rows["r2220322"][0] != rows["r2220322"][-1]  # the map changed between the two

    def compared(extract: Path) -> dict[str, int | None]:
        result = CliRunner().invoke(cli, ["compare", "--pbf", str(extract), *map(str, asked), "-f", "json"])
        assert result.exit_code == 0, result.output
        return {r["insee"]: r["cameras"] for r in json.loads(result.stdout)["communes"]}

    for extract, column, date in ((old, 0, "2021-04-21T20:21:46Z"),
                                  (monaco_2025, -1, "2025-02-07T01:02:45Z")):
        snapshot = _snapshot(extract, date, shapes)
        counts = compared(extract)
        assert counts == {"06012": len(snapshot["06012"]), "06150": None,
                          "r2220322": len(snapshot["r2220322"])}
        assert {code: rows[code][column] for code in rows} == {code: counts[code] for code in rows}


def test_timeline_takes_the_extent_beside_a_history_as_compare_does(
    monaco_cut: tuple[Path, Path], communes_06: Path, ign_shapes, tmp_path: Path, capsys
) -> None:
    """Monaco 2025 as a history, beside the polygon it was cut with (NAME.poly): compare took
    La Turbie's share inside it (3 %) and counted its cameras, a lower bound, while timeline
    ignored the polygon and left La Turbie out as outside its sampled data. Both now give
    each commune its geodesic share inside the polygon (pyproj) and the count that osmium
    tags-filter and shapely give; --extent without --pbf (ohsome) is one line, exit 2."""
    from click.testing import CliRunner
    from conftest import share_inside

    from osmcams.cli import cli

    pbf, poly = monaco_cut
    history = pbf.with_name("monaco.osh.pbf")  # monaco.poly beside it
    run_osmium("cat", pbf, "-o", history)
    shapes = ign_shapes(communes_06)
    asked = ("--commune", "La Turbie", "--commune", "Beausoleil", "--boundaries", communes_06, "-q")
    code, _ = _run("--pbf", history, *asked, "--since", "2025", "-o", tmp_path / "t.json")
    assert code == ExitCode.OK, capsys.readouterr().err
    found = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    compared = CliRunner().invoke(cli, ["compare", "--pbf", str(history), *map(str, asked), "-f", "json"])
    assert compared.exit_code == 0, compared.output
    counted = {r["insee"]: r for r in json.loads(compared.stdout)["communes"]}
    held = _snapshot(pbf, found["dates"][-1], {code: shapes[code] for code in ("06150", "06012")})
    assert [row["insee"] for row in found["communes"]] == list(counted) == ["06150", "06012"]
    for row in found["communes"]:
        code = row["insee"]
        assert row["coverage"] == counted[code]["coverage"] == pytest.approx(
            share_inside(shapes[code], poly), abs=0.01)
        assert row["partial"] and counted[code]["partial"]
        assert row["cameras"][-1] == counted[code]["cameras"] == len(held[code])
    assert found["communes"][0]["coverage"] < 0.05  # La Turbie: barely, but inside the polygon
    capsys.readouterr()
    code, _ = _run("--commune", "La Turbie", "--boundaries", communes_06, "--extent", poly)
    assert code == ExitCode.USAGE
    assert capsys.readouterr().err.strip() == (
        "osmcams: error: --extent goes with --pbf: ohsome holds the whole planet")


def test_a_commune_named_outside_the_data_keeps_a_row_without_counts(
    monaco_cut: tuple[Path, Path], communes_06: Path, ign_shapes, tmp_path: Path, capsys
) -> None:
    """Peille, named beside Beausoleil, lies outside Monaco 2025's polygon: as in count, it
    keeps its row, in the order asked, its counts and coverage null at every date (never 0,
    nor the little share of it inside the polygon, under 2 % by pyproj), its note saying why;
    the table shows "–" and says why.
    Its panel and the page's table say what count's note says, grey as the maps draw it,
    neither "not counted" nor "<1% covered"."""
    from conftest import share_inside

    from osmcams.outputs.figures import NO_DATA

    pbf, poly = monaco_cut
    history = pbf.with_name("monaco.osh.pbf")  # monaco.poly beside it
    run_osmium("cat", pbf, "-o", history)
    shapes = ign_shapes(communes_06)
    asked = ("--pbf", history, "--commune", "Peille", "--commune", "Beausoleil", "--boundaries",
             communes_06, "--since", "2024", "-q")
    code, _ = _run(*asked, "-o", tmp_path / "t.json")
    assert code == ExitCode.OK
    assert "it has no count: Peille (06091)" in capsys.readouterr().err
    found = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    peille, beausoleil = found["communes"]
    assert (peille["insee"], beausoleil["insee"]) == ("06091", "06012")
    assert peille["cameras"] == peille["added"] == peille["removed"] == [None] * len(found["dates"])
    assert peille["partial"] is False and peille["per_10k"] is None
    assert share_inside(shapes["06091"], poly) < 0.02  # outside the data, by pyproj: no coverage shown
    assert peille["coverage"] is None and peille["note"] == "no data: outside the OSM data"
    assert beausoleil["note"] is None and beausoleil["coverage"] > 0.02
    assert beausoleil["cameras"][-1] == 1  # its one camera, as osmium tags-filter and shapely place it
    # Its note, as JSON's, in the CSV at every date and in the Markdown's row.
    assert _run(*asked, "-o", tmp_path / "t.csv")[0] == ExitCode.OK
    with open(tmp_path / "t.csv", encoding="utf-8", newline="") as file:
        long = list(csv.DictReader(file))
    assert [(r["date"], r["coverage"], r["cameras"], r["note"]) for r in long if r["insee"] == "06091"] == [
        (date, "", "", "no data: outside the OSM data") for date in found["dates"]]
    assert {r["note"] for r in long if r["insee"] == "06012"} == {""}
    code, text = _run(*asked, "-f", "markdown")
    assert code == ExitCode.OK
    cells = {row[0]: dict(zip(markdown_tables(text)[0][0], row)) for row in markdown_tables(text)[0][1:]}
    assert (cells["06091"]["coverage"], cells["06091"]["note"]) == ("–", "no data: outside the OSM data")
    assert cells["06012"]["note"] == "–"
    code, table = _run(*asked)
    assert code == ExitCode.OK
    assert re.search(r"06091 +Peille +– +– ", table), table
    assert "– no count: a commune outside the data" in " ".join(table.split())

    # The chart and its page say what count says of Peille, never "not counted" nor a coverage.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["count", "--pbf", str(history), "--commune", "Peille", "--commune", "Beausoleil",
                     "--boundaries", str(communes_06), "-q", "-f", "json"]) == ExitCode.OK
    note = {r["insee"]: r["note"] for r in json.loads(out.getvalue())["communes"]}["06091"]
    assert note == "no data: outside the OSM data"
    for suffix in ("svg", "html"):  # the panel's title, its lines as text (html) or comments (svg)
        assert _run(*asked, "-o", tmp_path / f"t.{suffix}")[0] == ExitCode.OK
        text = (tmp_path / f"t.{suffix}").read_text(encoding="utf-8")
        drawn = [a or b for a, b in re.findall(r"<!-- (.*?) -->|<text[^>]*>([^<]*)</text>",
                                               text[text.index("<svg"):text.index("</svg>")])]
        assert drawn[drawn.index("Peille (06091)") + 1] == note, suffix
        assert "not counted" not in text and "<1% covered" not in text, suffix
        assert f'fill="{NO_DATA}"' in text  # its panel hatched in the maps' grey
    page = (tmp_path / "t.html").read_text(encoding="utf-8")
    (peille_row,) = re.findall(r"<tr><td>06091</td>.*?</tr>", page)
    assert "covered" not in peille_row and f"({note})" in peille_row
    assert peille_row.count("<td>–</td>") == len(found["dates"])
    assert "– a commune outside the data, with no count." in page


def test_control_characters_of_a_name_show_as_on_the_map(
        history: Path, monaco_2025: Path, ign_dir: Path, controlled_population: Path,
        tmp_path: Path) -> None:
    """Beausoleil named "Beau<ESC>soleil<BEL><NEL>" in the real COG table: the timeline page holds
    none of the three raw (a terminal obeys them, HTML refuses them) and writes the name as
    the map page does, each as \\xNN."""
    population = controlled_population
    boundaries = ign_dir / "communes-06-alpes-maritimes.geojson"
    chart, page = tmp_path / "spread.html", tmp_path / "map.html"
    code, _ = _run("--pbf", history, "--boundaries", boundaries, "--population", population,
                   "--commune", "06012", "--commune", "06032", "--since", "2024", "-o", chart, "-q")
    assert code == ExitCode.OK
    assert main(["map", "--pbf", str(monaco_2025), "--boundaries", str(boundaries), "--population",
                 str(population), "--commune", "06012", "--commune", "06032", "-q", "-o", str(page)]) == 0
    shown = r"Beau\x1bsoleil\x07\x85"
    text, drawn = chart.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")
    assert not set("\x1b\x07\x85") & set(text)
    assert f"<bdi>{shown}</bdi>" in text  # the table of counts
    assert f"<title>Video surveillance mapped in OpenStreetMap: {shown}, Cap-d&#x27;Ail</title>" in drawn


def test_a_commune_outside_the_data_keeps_its_reported_figures(
        history: Path, ign_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    """Nice, which the Monaco extract does not reach, beside Beausoleil: Nice's panel said
    "no data: outside the OSM data" and dropped the seven figures reported_series.csv gives
    it (2,510 in 2019 to 4,113 in 2023), the subtitle explaining ◆ all the same. Each is now a ◆
    at the end of the period it describes (by hand: the day, month or year after), at its
    value, on a scale from 0 that holds them all, with no count: no fill, no line, no 0. The
    PNG of the CLI holds their blue, which it had none of (Beausoleil has no figure)."""
    import matplotlib.dates as mdates
    from PIL import Image

    from osmcams.analysis.timeline import Timeline
    from osmcams.outputs.charts import REPORTED, ReportedPoint, _figure

    series = shared_data / "reported" / "reported_series.csv"
    with series.open(encoding="utf-8") as f:
        said = [r for r in csv.DictReader(f) if r["insee"] == "06088"]
    assert len(said) == 7 and {r["status"] for r in said} == {"installed"}

    def after(as_of: str) -> datetime:  # the instant after the period `as_of` names
        y, m, d = [*map(int, as_of.split("-")), 0, 0][:3]
        if d:
            return datetime(y, m, d, tzinfo=timezone.utc) + timedelta(days=1)
        return datetime(y + (m in (0, 12)), m % 12 + 1 if m else 1, 1, tzinfo=timezone.utc)

    marks = {(after(r["as_of"]), int(r["reported_cameras"])) for r in said}
    boundaries = ign_dir / "communes-06-alpes-maritimes.geojson"
    asked = ("--pbf", history, "--boundaries", boundaries, "--commune", "Nice", "--commune", "Beausoleil",
             "--since", "2019")
    code, _ = _run(*asked, "-o", tmp_path / "nice.json", "-q")
    assert code == ExitCode.OK
    result = json.loads((tmp_path / "nice.json").read_text(encoding="utf-8"))
    nice = next(r for r in result["communes"] if r["insee"] == "06088")
    assert nice["note"] == "no data: outside the OSM data" and set(nice["cameras"]) == {None}
    png = tmp_path / "nice.png"
    code, _ = _run(*asked, "--reported", series, "-o", png, "-q")
    assert code == ExitCode.OK
    blue = tuple(int(REPORTED[i:i + 2], 16) for i in (1, 3, 5))
    assert sum(n for n, c in Image.open(png).convert("RGB").getcolors(1 << 24) if c == blue) > 7 * 20

    timeline = Timeline(result["meta"], result["dates"], result["communes"])
    points = {"06088": [ReportedPoint(after(r["as_of"]), int(r["reported_cameras"]), r["reported_cameras"],
                                      r["as_of"], r["source"], True) for r in said]}
    fig = _figure(timeline, None, points)
    (ax,) = [a for a in fig.axes if a.get_title(loc="left").startswith("Nice (06088)")]
    assert "no data: outside the OSM data" in ax.get_title(loc="left")
    drawn = {(mdates.num2date(line.get_xdata(orig=False)[0]), line.get_ydata()[0]) for line in ax.get_lines()}
    assert drawn == marks and all(line.get_marker() == "D" for line in ax.get_lines())
    low, high = ax.get_ylim()
    assert low == 0 and high >= max(n for _, n in marks) and len(ax.get_yticks()) > 1
    assert not ax.collections  # no fill under a count
    assert {t.get_text() for t in ax.texts} <= {r["reported_cameras"] for r in said}  # no count label
    assert ax.texts  # the figures' labels, those that do not overprint
