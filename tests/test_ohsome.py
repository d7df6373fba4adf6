"""`osmcams timeline` without --pbf: the ohsome API, played by a stand-in on 127.0.0.1 that
answers from the same real history file as the file-based timeline (tests/fake_ohsome.py).

Expected counts come from `osmium time-filter` (test_timeline._snapshot) and from the
file path; faults are each one line on stderr and an exit code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_rows, markdown_tables
from fake_ohsome import TIMEOUT_MESSAGE, Ohsome, error
from test_timeline import COMMUNES, HEADER_DATE, _run, _snapshot, _timeline, history, shapes  # noqa: F401
from werkzeug import Request, Response

from osmcams.errors import ExitCode


@pytest.fixture
def ohsome(httpserver, net_env, history: Path, tmp_path_factory: pytest.TempPathFactory,  # noqa: F811
           monkeypatch: pytest.MonkeyPatch) -> Ohsome:
    """The stand-in, given time: it runs osmium time-filter once for each date it is asked."""
    monkeypatch.setenv("OSMCAMS_READ_TIMEOUT", "120")
    stand_in = Ohsome(history, tmp_path_factory.mktemp("fake-ohsome"), end=HEADER_DATE)
    stand_in.register(httpserver)
    return stand_in


def _ohsome_timeline(ign_dir: Path, tmp_path: Path, *args: str, code: int = ExitCode.OK) -> Any:
    target = tmp_path / "ohsome.json"
    options = [a for c in COMMUNES for a in ("--commune", c)]
    got, _ = _run("--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson", *options,
                  *args, "-o", target, "-q", "--overwrite")
    assert got == code
    return json.loads(target.read_text(encoding="utf-8")) if code == ExitCode.OK else None


def _by_code(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["insee"]: row for row in result["communes"]}


def test_monthly_counts_agree_with_the_file_and_with_osmium(
    ohsome: Ohsome, history: Path, ign_dir: Path, shapes: dict[str, Any], tmp_path: Path,  # noqa: F811
) -> None:
    args = ("--every", "month", "--since", "2024-05")
    online = _ohsome_timeline(ign_dir, tmp_path, *args)
    local = _timeline(history, ign_dir, tmp_path, *args)
    assert online["dates"] == local["dates"]
    snapshots = [_snapshot(history, date, shapes) for date in online["dates"]]
    for code, row in _by_code(online).items():
        assert row["cameras"] == _by_code(local)[code]["cameras"], code
        assert row["cameras"] == [len(s[code]) for s in snapshots], code
        assert row["added"] == row["removed"] == [None] * len(online["dates"])
    # The camera way, pulled into La Turbie by its moved node, is counted at its centre only.
    assert max(_by_code(online)["06150"]["cameras"]) == 1
    meta = online["meta"]
    assert meta["source"].startswith("ohsome API (127.0.0.1:")
    assert meta["data_timestamp"] == HEADER_DATE
    assert "simplified" in meta["polygons"]
    assert any("ohsome's data ends 2025-09-01" in w for w in online["warnings"])


def test_every_year_starts_before_the_first_camera_and_a_second_run_is_free(
    ohsome: Ohsome, history: Path, ign_dir: Path, tmp_path: Path,  # noqa: F811
) -> None:
    online = _ohsome_timeline(ign_dir, tmp_path)
    local = _timeline(history, ign_dir, tmp_path)
    assert online["dates"][-1] == HEADER_DATE
    assert all(v == 0 for row in online["communes"] for v in row["cameras"][:1])
    common = [d for d in online["dates"] if d in local["dates"]]
    assert common == online["dates"]
    for code, row in _by_code(online).items():
        expected = dict(zip(local["dates"], _by_code(local)[code]["cameras"]))
        assert row["cameras"] == [expected[d] for d in online["dates"]], code
    asked = len(ohsome.log)
    assert asked == 3  # /metadata, then nodes and boxes for one batch of four communes
    assert _ohsome_timeline(ign_dir, tmp_path) ["communes"] == online["communes"]
    assert len(ohsome.log) == asked  # every answer from the cache


def test_communes_from_geo_api_and_the_csv(ohsome: Ohsome, geo_api, tmp_path: Path) -> None:
    code, text = _run("--commune", "Beausoleil", "--since", "2024", "-f", "csv", "-q")
    assert code == ExitCode.OK
    lines = text.splitlines()
    assert lines[0] == "insee,name,coverage,partial,date,cameras,added,removed,note"
    rows = [line.split(",") for line in lines[1:]]
    assert [row[4] for row in rows] == ["2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", HEADER_DATE]
    assert {(row[2], row[3]) for row in rows} == {("1.0", "False")}  # ohsome holds the whole planet


def test_the_table(ohsome: Ohsome, ign_dir: Path) -> None:
    code, text = _run("--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                      "--commune", "Beausoleil", "-q")
    assert code == ExitCode.OK
    assert "Beausoleil" in text and "ohsome API" in text


def _refuse(code: str, status: int, message: str) -> Callable[[Request], Response | None]:
    def before(request: Request) -> Response | None:
        if request.path.endswith("/boundary") and f'"id":"{code}"' in request.form["bpolys"]:
            return error(status, message)
        return None
    return before


@pytest.mark.parametrize(("status", "message"), [
    (400, "The provided bpolys parameter is not a valid GeoJSON polygon."),
    (500, "Internal server error"),  # what ohsome answers for a self-intersecting polygon
])
def test_a_refused_commune_is_named_and_null(
    ohsome: Ohsome, ign_dir: Path, tmp_path: Path, capsys, status: int, message: str,
) -> None:
    ohsome.before = _refuse("06150", status, message)
    online = _ohsome_timeline(ign_dir, tmp_path, "--since", "2024")
    rows = _by_code(online)
    assert list(rows) == list(COMMUNES)  # never dropped
    assert rows["06150"]["cameras"] == [None] * len(online["dates"])
    assert rows["06150"]["coverage"] is None
    assert all(None not in rows[c]["cameras"] for c in COMMUNES if c != "06150")
    err = capsys.readouterr().err
    assert "ohsome could not count La Turbie (06150)" in err and str(status) in err
    # In Markdown too: "–" at every date, never 0, with the line that says why.
    code, text = _run("--boundaries", ign_dir / "communes-06-alpes-maritimes.geojson",
                      *(a for c in COMMUNES for a in ("--commune", c)), "--since", "2024", "-q",
                      "-f", "markdown")
    assert code == ExitCode.OK
    table, = markdown_tables(text)
    dates = table[0][6:-3]  # between partial and per_10k, first_camera, note
    assert len(dates) == len(online["dates"])
    wide = [{**row, **dict(zip(dates, row["cameras"]))} for row in online["communes"]]
    turbie = assert_rows(table, wide, tuple(dates))["06150"]
    assert [turbie[date] for date in dates] == ["–"] * len(dates)
    assert turbie["note"] == "no count: ohsome could not count it (see the warnings)"
    assert "\n– no count: a commune outside the data, or one the source could not count" in text


def test_every_commune_refused_is_an_error(ohsome: Ohsome, ign_dir: Path, tmp_path: Path, capsys) -> None:
    ohsome.before = lambda r: error(400, "bad") if r.path.endswith("/boundary") else None
    _ohsome_timeline(ign_dir, tmp_path, code=ExitCode.NETWORK)
    err = capsys.readouterr().err
    assert "ohsome counted none of the communes" in err and "Traceback" not in err


def test_an_error_answer_nested_deep_is_an_error(ohsome: Ohsome, ign_dir: Path, tmp_path: Path,
                                                capsys) -> None:
    """An error body of 4,096 "[" (as deep as osmcams keeps of it) was a RecursionError, exit 1."""
    ohsome.before = lambda r: Response("[" * 5000, status=400) if r.path.endswith("/boundary") else None
    _ohsome_timeline(ign_dir, tmp_path, code=ExitCode.NETWORK)
    err = capsys.readouterr().err
    assert "ohsome counted none of the communes" in err and "Traceback" not in err


def _split(ohsome: Ohsome, osh: Path, ign_dir: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """The timeline of the four communes since 2024 through ohsome, checked against the
    history file's; and the count requests ohsome got."""
    online = _ohsome_timeline(ign_dir, tmp_path, "--since", "2024")
    local = _timeline(osh, ign_dir, tmp_path, "--since", "2024")
    assert [r["cameras"] for r in online["communes"]] == [r["cameras"] for r in local["communes"]]
    return online, [path for path, _ in ohsome.log if path.endswith("/boundary")]


@pytest.mark.parametrize(("status", "message"), [(504, "Gateway Time-out"), (413, TIMEOUT_MESSAGE)])
def test_a_batch_that_times_out_is_split(
    ohsome: Ohsome, history: Path, ign_dir: Path, tmp_path: Path, status: int, message: str,  # noqa: F811
) -> None:
    def before(request: Request) -> Response | None:
        if request.path.endswith("/boundary") and request.form["bpolys"].count('"Feature"') > 1:
            return error(status, message)
        return None

    ohsome.before = before
    online, counts = _split(ohsome, history, ign_dir, tmp_path)
    assert len(counts) == 1 + 2 + 4  # four communes, then two halves, then one by one
    asked = len(ohsome.log)
    again = _ohsome_timeline(ign_dir, tmp_path, "--since", "2024")
    assert again["communes"] == online["communes"]
    assert len(ohsome.log) == asked  # the parts' answers are cached: the whole is not asked again


def test_a_batch_whose_answer_is_too_large_is_split(
    ohsome: Ohsome, history: Path, ign_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    """ohsome's answer grows with the communes and dates asked (the four communes daily
    since 2009 pass 1 MB): beyond the answer cap, the batch is split, not the run given up."""
    monkeypatch.setenv("OSMCAMS_MAX_ANSWER_MB", "1")

    def after(request: Request, answer: Any) -> Any:
        if request.path.endswith("/boundary"):  # 400 KB per commune
            answer["padding"] = " " * (400_000 * len(answer["groupByResult"]))
        return answer

    ohsome.after = after
    _, counts = _split(ohsome, history, ign_dir, tmp_path)
    assert len(counts) == 1 + 2  # four communes (1.6 MB), then two halves (800 KB each)


def test_429_waits_then_goes_on(ohsome: Ohsome, ign_dir: Path, tmp_path: Path) -> None:
    refused: list[str] = []

    def before(request: Request) -> Response | None:
        if request.path.endswith("/boundary") and not refused:
            refused.append(request.path)
            return Response("Too Many Requests", status=429, headers={"Retry-After": "0"})
        return None

    ohsome.before = before
    online = _ohsome_timeline(ign_dir, tmp_path, "--since", "2024")
    assert refused and all(None not in r["cameras"] for r in online["communes"])


def _no_extent(request: Request, answer: Any) -> Any:
    if request.path.endswith("/metadata"):
        del answer["extractRegion"]["temporalExtent"]
    return answer


def _extent(start: str, end: str) -> Callable[[Request, Any], Any]:
    """A /metadata whose data spans `start` to `end`."""
    def after(request: Request, answer: Any) -> Any:
        if request.path.endswith("/metadata"):
            answer["extractRegion"]["temporalExtent"] = {"fromTimestamp": start, "toTimestamp": end}
        return answer
    return after


NEXT_YEAR = f"{datetime.now(timezone.utc).year + 1}-01-01T00:00:00Z"


def _stranger(request: Request, answer: Any) -> Any:
    if request.path.endswith("/boundary"):
        answer["groupByResult"][0]["groupByObject"] = "75056"
    return answer


def _count_of(value: Any) -> Callable[[Request, Any], Any]:
    """An answer whose last count is `value`."""
    def after(request: Request, answer: Any) -> Any:
        if request.path.endswith("/boundary"):
            answer["groupByResult"][0]["result"][-1]["value"] = value
        return answer
    return after


NOT_A_COUNT = "not a whole number from 0 to 9,007,199,254,740,992: "


@pytest.mark.parametrize(("after", "message"), [
    (_no_extent, "no temporal extent"),
    (_extent("2007-10-08T00:00:00Z", NEXT_YEAR), f"to {NEXT_YEAR}, which ends in the future"),
    (_extent("2025-09-02T00:00:00Z", HEADER_DATE), "starts after it ends"),
    (_stranger, "'75056', which was not asked for"),
    (_count_of(2.5), NOT_A_COUNT + "2.5"),
    (_count_of(1e300), NOT_A_COUNT + "1e+300"),  # whole, but no count of cameras
    (_count_of(10**400), NOT_A_COUNT + "1" + "0" * 39 + "…"),  # JSON allows it; no float holds it
])
def test_answers_that_cannot_be_trusted_count_nothing(
    ohsome: Ohsome, ign_dir: Path, tmp_path: Path, capsys, after: Any, message: str,
) -> None:
    ohsome.after = after
    _ohsome_timeline(ign_dir, tmp_path, code=ExitCode.NETWORK)
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_truncated_answer_counts_nothing(ohsome: Ohsome, ign_dir: Path, tmp_path: Path, capsys) -> None:
    def before(request: Request) -> Response | None:
        if request.path.endswith("/boundary"):
            return Response('{"attribution": {}, "groupByResult": [{"groupByObj',
                            content_type="application/json")
        return None

    ohsome.before = before
    _ohsome_timeline(ign_dir, tmp_path, code=ExitCode.NETWORK)
    assert "not valid JSON (cut short?)" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--until", "--since"])
def test_a_date_after_the_data_date_is_refused(
    ohsome: Ohsome, ign_dir: Path, tmp_path: Path, capsys, option: str,
) -> None:
    _ohsome_timeline(ign_dir, tmp_path, option, "2026-01-01", code=ExitCode.USAGE)
    assert f"{option} 2026-01-01 is after the data date 2025-09-01" in capsys.readouterr().err


def test_a_self_intersecting_polygon_is_made_valid_before_it_is_sent(
    ohsome: Ohsome, tmp_path: Path, write_text,
) -> None:
    from shapely.geometry import shape

    bowtie = [[7.40, 43.72], [7.43, 43.76], [7.43, 43.72], [7.40, 43.76], [7.40, 43.72]]
    path = write_text("bowtie.geojson", json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "06012", "nom": "Beausoleil"},
        "geometry": {"type": "Polygon", "coordinates": [bowtie]}}]}))

    def before(request: Request) -> Response | None:
        if request.path.endswith("/boundary"):
            for feature in json.loads(request.form["bpolys"])["features"]:
                if not shape(feature["geometry"]).is_valid:
                    return error(500, "Internal server error")
        return None

    ohsome.before = before
    code, _ = _run("--boundaries", path, "--all", "--since", "2025", "-f", "json", "-q")
    assert code == ExitCode.OK


def test_department_06_monthly_since_2010_costs_a_few_requests(
    ohsome: Ohsome, geo_api, tmp_path: Path,
) -> None:
    target = tmp_path / "06.json"
    code, _ = _run("--department", "06", "--every", "month", "--since", "2010", "-o", target, "-q")
    assert code == ExitCode.OK
    result = json.loads(target.read_text(encoding="utf-8"))
    assert len(result["communes"]) == 163 and len(result["dates"]) == 189
    sent = sum(size for _, size in ohsome.log)
    print(f"department 06 monthly since 2010: {len(ohsome.log)} requests, {sent:,} bytes sent")
    assert len(ohsome.log) <= 9


def test_ohsome_own_count_of_ways_differs_so_osmcams_asks_per_type(
    ohsome: Ohsome, history: Path, ign_dir: Path, ign_shapes, tmp_path: Path,  # noqa: F811
) -> None:
    """ohsome's count of every type counts a way in each commune its line touches; the file
    path, at the centre of its box. On the test history, the camera way stretched from
    Beausoleil to La Turbie by its moved node is the whole difference."""
    import requests
    from shapely.geometry import mapping

    from osmcams.sources.ohsome import time_list

    local = _timeline(history, ign_dir, tmp_path, "--every", "month", "--since", "2024-05")
    polygons = ign_shapes(ign_dir / "communes-06-alpes-maritimes.geojson")
    bpolys = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": c, "properties": {}, "geometry": mapping(polygons[c])}
        for c in COMMUNES]}
    answer = requests.post(_count_url(), data={
        "bpolys": json.dumps(bpolys), "time": time_list(local["dates"]), "format": "json",
        "filter": "man_made=surveillance and (type:node or type:way or type:relation)"},
        timeout=30).json()
    own = {g["groupByObject"]: [int(r["value"]) for r in g["result"]] for g in answer["groupByResult"]}
    differ = {(code, date): own[code][i] - row["cameras"][i]
              for code, row in _by_code(local).items()
              for i, date in enumerate(local["dates"]) if own[code][i] != row["cameras"][i]}
    cells = len(COMMUNES) * len(local["dates"])
    print(f"ohsome's own count differs in {len(differ)} of {cells} commune-months: {differ}")
    assert set(differ.values()) == {1}  # one more, never fewer: the way, counted twice
    assert {code for code, _ in differ} == {"06012"}  # where its line still reaches


def _count_url() -> str:
    import os

    return os.environ["OSMCAMS_OHSOME_URL"] + "/elements/count/groupBy/boundary"


def test_saint_barthelemy_real_diff(ohsome: Ohsome, osm_dir: Path, tmp_path: Path, write_text) -> None:
    """A real replication diff, then a camera mapped a month later: 0, then 1, as osmium says."""
    from test_timeline import saint_barthelemy_history

    target, island, expected = saint_barthelemy_history(osm_dir, tmp_path, write_text)
    ohsome.history, ohsome.end = target, "2014-03-01T00:00:00Z"
    out = tmp_path / "sb.json"
    code, _ = _run("--boundaries", island, "--all", "--every", "month", "--since", "2014-01",
                   "-o", out, "-q")
    assert code == ExitCode.OK
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["communes"][0]["cameras"] == expected == [0, 0, 1]


def test_backfill_from_ohsome_gives_the_counts_per_date(
    ohsome: Ohsome, history: Path, ign_dir: Path, shapes: dict[str, Any],  # noqa: F811
    monaco_2025: Path, tmp_path: Path,
) -> None:
    """`refresh --backfill ohsome`: one run a month, counts as osmium time-filter says, the
    runs' source naming ohsome, no cameras and no changes (ohsome says how many, not which)."""
    import sqlite3

    from test_backfill import _cli, _config

    config = _config(tmp_path, ign_dir, monaco_2025)
    code, _ = _cli("refresh", "--config", config, "--backfill", "ohsome", "--every", "month", "-q")
    assert code == ExitCode.OK
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        runs = db.execute("SELECT data_timestamp, sequence, source FROM runs ORDER BY id").fetchall()
        assert db.execute("SELECT count(*) FROM changes").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM cameras").fetchone() == (0,)
    dates = [date for date, _, _ in runs]
    assert dates[-1] == HEADER_DATE and all(d.endswith("-01T00:00:00Z") for d in dates)
    assert {(sequence, source.split(" (")[0]) for _, sequence, source in runs} == {(None, "ohsome API")}
    snapshots = [_snapshot(history, date, shapes) for date in dates]
    assert not any(snapshots[0][c] for c in COMMUNES)  # the last month before the first camera
    for commune in COMMUNES:
        status, text = _cli("history", "--config", config, "--commune", commune, "-f", "json")
        assert status == 0
        got = json.loads(text)["runs"]
        assert [r["data_timestamp"] for r in got] == dates
        assert [r["cameras"] for r in got] == [len(s[commune]) for s in snapshots], commune


def test_backfill_from_ohsome_needs_boundaries(ohsome: Ohsome, monaco_2025: Path, tmp_path: Path,
                                               capsys) -> None:
    from test_backfill import _cli, _config

    config = _config(tmp_path, Path("."), monaco_2025, names=["Beausoleil"])
    code, _ = _cli("refresh", "--config", config, "--backfill", "ohsome")
    assert code == ExitCode.USAGE
    assert "--backfill ohsome needs the communes' boundaries" in capsys.readouterr().err


def test_the_flag_wins_over_the_environment(
    ohsome: Ohsome, ign_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    url = os.environ["OSMCAMS_OHSOME_URL"]
    monkeypatch.setenv("OSMCAMS_OHSOME_URL", "http://127.0.0.1:9/v1")
    result = _ohsome_timeline(ign_dir, tmp_path, "--since", "2025", "--ohsome-url", url)
    assert result["meta"]["source"].startswith("ohsome API (127.0.0.1:")


def test_since_before_ohsome_data_is_refused(ohsome: Ohsome, ign_dir: Path, tmp_path: Path,
                                             capsys) -> None:
    _ohsome_timeline(ign_dir, tmp_path, "--since", "2005", code=ExitCode.USAGE)
    assert "before the start of ohsome's data (2007-10-08" in capsys.readouterr().err


def test_ohsome_is_asked_to_stop_before_osmcams_gives_up(
    ohsome: Ohsome, ign_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The `timeout` sent is 80 % of the read timeout, within ohsome's own limit from
    /metadata, so that ohsome answers its timeout message (and the batch is split) first."""
    sent: list[str] = []

    def before(request: Request) -> Response | None:
        if request.method == "POST":
            sent.append(request.form["timeout"])
        return None

    ohsome.before = before
    _ohsome_timeline(ign_dir, tmp_path, "--since", "2025")
    assert set(sent) == {"96"}  # the fixture's read timeout, 120 s
    monkeypatch.setenv("OSMCAMS_READ_TIMEOUT", "1000")
    sent.clear()
    _ohsome_timeline(ign_dir, tmp_path, "--since", "2025")
    assert set(sent) == {"600"}  # ohsome's limit


def test_a_camera_relation_is_placed_as_the_file_places_it(
    ohsome: Ohsome, monaco_2025: Path, ign_dir: Path, tmp_path: Path, write_text,
) -> None:
    """A relation tagged man_made=surveillance, with node and way members spread over two
    communes, and a member node moved later: both paths put it at the centre of its members'
    box at each date."""
    from conftest import run_osmium
    from test_timeline import _change, _node, _way

    nodes = {90000000201: (7.4190, 43.7420), 90000000202: (7.4200, 43.7430),
             90000000203: (7.4020, 43.7260), 90000000204: (7.4030, 43.7270)}
    relation = ('<relation id="90000000300" version="1" timestamp="2024-03-01T12:00:00Z" uid="1" '
                'user="t" changeset="1"><member type="node" ref="90000000201" role=""/>'
                '<member type="way" ref="90000000250" role=""/>'
                '<tag k="man_made" v="surveillance"/><tag k="type" v="site"/></relation>')
    created = write_text("r.osc", _change(create=[
        *(_node(n, 1, "2024-03-01T12:00:00Z", *p, camera=False) for n, p in nodes.items()),
        _way(90000000250, 1, "2024-03-01T12:00:00Z", [90000000203, 90000000204], camera=False),
        relation]))
    moved = write_text("m.osc", _change(modify=[  # the node member goes far east: the centre follows
        _node(90000000201, 2, "2024-09-01T12:00:00Z", 7.4400, 43.7700, camera=False)]))
    target = tmp_path / "relation.osh.pbf"
    run_osmium("apply-changes", "-H", monaco_2025, created, moved, "-o", target,
               "--output-header=osmosis_replication_timestamp=2025-01-01T00:00:00Z")
    ohsome.history, ohsome.end = target, "2025-01-01T00:00:00Z"
    args = ("--every", "month", "--since", "2024-01")
    online = _ohsome_timeline(ign_dir, tmp_path, *args)
    local = _timeline(target, ign_dir, tmp_path, *args)
    assert online["dates"] == local["dates"]
    for code, row in _by_code(online).items():
        assert row["cameras"] == _by_code(local)[code]["cameras"], code
    # Its members' box spans Beausoleil and Cap-d'Ail, and its centre falls in La Turbie;
    # once its node member moved, the centre is in Beausoleil.
    assert _by_code(online)["06150"]["cameras"] == [0, 0, 0] + [1] * 6 + [0] * 4
    beausoleil = _by_code(online)["06012"]["cameras"]
    assert beausoleil[9] == beausoleil[8] + 1


def test_every_hour_without_since_says_why_and_what_to_give(
    ohsome: Ohsome, ign_dir: Path, tmp_path: Path, capsys
) -> None:
    """--every hour without --since, ohsome's whole span (2008-01-01 to 2025-09-01: 154,873
    dates) is more than 100,000: one line, exit 2, that says so, gives ohsome's own limits
    (its data's start, its processing time) and a --since to give, before any count is
    asked for; the generic line named --since without saying the span came from ohsome."""
    from datetime import datetime

    assert (datetime(2025, 9, 1) - datetime(2008, 1, 1)).total_seconds() / 3600 + 1 == 154_873
    _ohsome_timeline(ign_dir, tmp_path, "--every", "hour", code=ExitCode.USAGE)
    (line,) = capsys.readouterr().err.splitlines()
    assert line == ("osmcams: error: --every hour without --since asks ohsome for more than 100,000 "
                    "dates, one every hour from 2008-01-01 (its data starts 2007-10-08) to 2025-09-01: "
                    "give --since, e.g. --since 2025-08-25 for the last week (ohsome's data follows "
                    "OSM's hourly diffs, and it stops a request after 600 s)")
    assert {path for path, _ in ohsome.log} == {"/ohsome/v1/metadata"}
