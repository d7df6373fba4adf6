"""refresh --backfill, and boundaries read from history files, on real extracts.

Expected values come from `osmium time-filter` on the history file at each instant,
with cameras put in the IGN communes by shapely, and from `osmium export` of the
boundaries of a time-filtered snapshot: never from osmcams.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import parse_opl, run_osmium
from fake_replication import Server, osc
from shapely.geometry import Point
from test_timeline import COMMUNES, HEADER_DATE, _cameras_only, history, placed, shapes  # noqa: F401

from osmcams.cli import main
from osmcams.errors import ExitCode

MONACO_SEQUENCE = 6462849
MONACO_DATE = "2025-02-07T01:02:45Z"
KEYS = {"n": "node", "w": "way", "r": "relation"}


def _config(tmp_path: Path, ign_dir: Path, pbf: Path, url: str | None = None, **communes: Any) -> Path:
    communes = communes or {"boundaries": [str(ign_dir / "communes-06-alpes-maritimes.geojson")],
                            "names": list(COMMUNES)}
    lines = ["[source]", f'pbf = "{pbf}"'] + ([f'replication_url = "{url}"'] if url else [])
    lines += ["[communes]"] + [f"{k} = {json.dumps(v)}" for k, v in communes.items()]
    path = tmp_path / "osmcams.toml"
    path.write_text("\n".join([*lines, "[output]", 'dir = "www"']) + "\n", encoding="utf-8")
    return path


def _cli(*args: str | Path) -> tuple[int, str]:
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*map(str, args)])
    return code, out.getvalue()


def _state(path: Path, instant: str, communes: dict[str, Any]) -> dict[str, tuple]:
    """{key: (commune, (lon, lat), tags)} of the cameras in COMMUNES that `osmium time-filter`
    holds at `instant`."""
    chosen = {code: communes[code] for code in COMMUNES}
    return {f"{KEYS[obj.kind]}/{obj.osm_id}": (code, where, obj.tags)
            for obj, where, code in placed(path, instant, chosen)}


def _in_osm(path: Path, instant: str) -> set[str]:
    """The keys of every camera that `osmium time-filter` holds at `instant`, in a commune or
    not."""
    objects = parse_opl(run_osmium("time-filter", _cameras_only(path), instant, "-f", "opl", "-o", "-"))
    return {f"{KEYS[o.kind]}/{o.osm_id}" for o in objects if o.tags.get("man_made") == "surveillance"}


def _expected_changes(states: list[dict[str, tuple]], dates: list[str],
                      in_osm: list[set[str]]) -> set[tuple[str, str, str]]:
    """(date, key, change) between consecutive states, the first date adding all it holds: a
    camera that left every commune moved out when it is still a camera in OSM (`in_osm`, at
    each date), else it was removed; one that came in moved in when it was one before."""
    expected = {(dates[0], key, "added") for key in states[0]}
    for i, (date, (before, now)) in enumerate(zip(dates[1:], pairwise(states)), 1):
        expected |= {(date, key, "moved out" if key in in_osm[i] else "removed")
                     for key in before.keys() - now.keys()}
        expected |= {(date, key, "moved in" if key in in_osm[i - 1] else "added")
                     for key in now.keys() - before.keys()}
        for key in before.keys() & now.keys():
            (code0, (x0, y0), tags0), (code1, (x1, y1), tags1) = before[key], now[key]
            if code0 != code1:
                expected |= {(date, key, "moved out"), (date, key, "moved in")}
            elif abs(x0 - x1) >= 1e-7 or abs(y0 - y1) >= 1e-7:
                expected.add((date, key, "moved"))
            if tags0 != tags1:
                expected.add((date, key, "retagged"))
    return expected


def _appearances(path: Path, until: str, communes: dict[str, Any]) -> dict[str, tuple]:
    """{key: (first seen, last seen, there at `until`)} to the second, from time-filter at
    every instant a version starts: the last second there, or `until`."""
    from datetime import datetime, timedelta

    instants = sorted({o.timestamp for o in parse_opl(run_osmium(
        "cat", _cameras_only(path), "-f", "opl", "-o", "-")) if o.timestamp <= until} | {until})
    seen = [(instant, _state(path, instant, communes)) for instant in instants]
    found = {}
    for key in {key for _, state in seen for key in state}:
        there = [i for i, (_, state) in enumerate(seen) if key in state]
        if there[-1] == len(seen) - 1:
            found[key] = (seen[there[0]][0], until, 1)
        else:
            gone = datetime.fromisoformat(seen[there[-1] + 1][0].replace("Z", "+00:00"))
            found[key] = (seen[there[0]][0], f"{gone - timedelta(seconds=1):%Y-%m-%dT%H:%M:%SZ}", 0)
    return found


def _months(first: int, last: str) -> list[str]:
    year, month = map(int, last[:7].split("-"))
    return [f"{y}-{m:02d}-01T00:00:00Z" for y in range(first, year + 1) for m in range(1, 13)
            if (y, m) <= (year, month)]


def _tables(db_path: Path) -> dict[str, list]:
    with sqlite3.connect(db_path) as db:
        return {
            "runs": db.execute("SELECT id, data_timestamp, sequence, source FROM runs ORDER BY id")
            .fetchall(),
            "counts": db.execute("SELECT * FROM counts ORDER BY run, insee").fetchall(),
            "changes": db.execute("SELECT * FROM changes ORDER BY run, key, change").fetchall(),
            "cameras": db.execute("SELECT * FROM cameras ORDER BY key").fetchall(),
        }


def test_backfill_seeds_counts_changes_and_cameras(
    history: Path, ign_dir: Path, shapes: dict[str, Any], monaco_2025: Path, tmp_path: Path  # noqa: F811
) -> None:
    config = _config(tmp_path, ign_dir, monaco_2025)
    assert _cli("refresh", "--config", config, "--backfill", history, "--every", "month", "-q")[0] == 0

    # The first camera of these communes was mapped in 2019: one run a month from then on.
    dates = _months(2019, HEADER_DATE)
    database = tmp_path / "www" / "history.sqlite"
    tables = _tables(database)
    assert [(d, s, src) for _, d, s, src in tables["runs"]] == [(d, None, str(history)) for d in dates]
    states = [_state(history, date, shapes) for date in dates]

    for code in COMMUNES:
        status, text = _cli("history", "--config", config, "--commune", code, "-f", "json")
        assert status == 0
        runs = json.loads(text)["runs"]
        assert [r["data_timestamp"] for r in runs] == dates
        assert [r["cameras"] for r in runs] == [sum(v[0] == code for v in s.values()) for s in states]

    status, text = _cli("changes", "--config", config, "--since", "2019-01-01", "-f", "csv")
    assert status == 0
    got = {(r["data_timestamp"], r["key"], r["change"]) for r in csv.DictReader(io.StringIO(text))}
    assert got == _expected_changes(states, dates, [_in_osm(history, date) for date in dates])
    assert {"moved in", "moved out", "retagged"} <= {change for *_, change in got}

    cameras = {key: (first, last, present) for key, first, last, present, *_ in tables["cameras"]}
    assert cameras == _appearances(history, HEADER_DATE, shapes)

    # A second backfill replaces the first: the same runs, counts, changes and cameras.
    assert _cli("refresh", "--config", config, "--backfill", history, "--every", "month", "-q")[0] == 0
    assert _tables(database) == tables


def test_backfill_goes_before_the_refresh_runs_and_leaves_them_alone(
    history: Path, ign_dir: Path, shapes: dict[str, Any], monaco_cut: tuple[Path, Path],  # noqa: F811
    tmp_path: Path, httpserver, net_env,
) -> None:
    replication = Server(httpserver, tmp_path / "server")
    replication.set_latest(MONACO_SEQUENCE, MONACO_DATE)
    config = _config(tmp_path, ign_dir, monaco_cut[0], replication.url)  # La Turbie 3 % inside
    assert _cli("refresh", "--config", config, "-q")[0] == 0
    database = tmp_path / "www" / "history.sqlite"
    before = _tables(database)

    assert _cli("refresh", "--config", config, "--backfill", history, "--every", "year", "-q")[0] == 0
    after = _tables(database)
    dates = [f"{y}-01-01T00:00:00Z" for y in range(2019, 2026)]  # before the refresh run
    assert [(d, s) for _, d, s, _ in after["runs"]] == [(d, None) for d in dates] + [
        (MONACO_DATE, MONACO_SEQUENCE)]
    assert after["runs"][-1] == before["runs"][0]
    assert [c for c in after["counts"] if c[0] == before["runs"][0][0]] == before["counts"]
    old = {c[0]: c for c in before["cameras"]}
    seen = _appearances(history, dates[-1], shapes)
    assert {c[0] for c in after["cameras"]} == set(old) | set(seen)
    for key, first, *rest in after["cameras"]:
        if key in old:  # the refresh run's cameras: as they were, seen earlier or not
            assert list(rest) == list(old[key][2:])
            assert first == min(old[key][1], seen.get(key, [old[key][1]])[0])
        else:  # gone before the refresh run
            assert (first, *rest[:2]) == (seen[key][0], seen[key][1], 0)
    _, text = _cli("history", "--config", config, "--commune", "06012", "-f", "json")
    runs = json.loads(text)["runs"]
    assert [r["data_timestamp"] for r in runs] == [*dates, MONACO_DATE]
    assert [r["cameras"] for r in runs[:-1]] == [
        sum(v[0] == "06012" for v in _state(history, d, shapes).values()) for d in dates]
    assert runs[-1]["cameras"] == 1

    assert _cli("refresh", "--config", config, "--backfill", history, "--every", "year", "-q")[0] == 0
    assert _tables(database) == after

    # The next refresh run comes after every backfill run.
    replication.publish(MONACO_SEQUENCE + 1, osc(), "2025-02-07T02:00:00Z")
    assert _cli("refresh", "--config", config, "-q")[0] == 0
    _, text = _cli("history", "--config", config, "--commune", "06012", "-f", "json")
    assert [r["sequence"] for r in json.loads(text)["runs"]][-2:] == [MONACO_SEQUENCE, MONACO_SEQUENCE + 1]


def test_the_site_charts_the_backfilled_runs(
    history: Path, ign_dir: Path, monaco_cut: tuple[Path, Path],  # noqa: F811
    tmp_path: Path, httpserver, net_env,
) -> None:
    """A backfill's runs come before the first refresh run, with ids of 0 and below: the
    site's chart of the total (site.json's changes of it, run by run) holds them too."""
    replication = Server(httpserver, tmp_path / "server")
    replication.set_latest(MONACO_SEQUENCE, MONACO_DATE)
    config = _config(tmp_path, ign_dir, monaco_cut[0], replication.url)
    assert _cli("refresh", "--config", config, "-q")[0] == 0
    assert _cli("refresh", "--config", config, "--backfill", history, "--every", "year", "-q")[0] == 0
    with config.open("a", encoding="utf-8") as f:
        f.write('[site]\ndir = "site"\ntitle = "Monaco"\nbase_url = "https://example.org/"\n')
    assert _cli("site", "--config", config, "-q")[0] == 0
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:  # each commune's latest count, summed
        runs = [rid for (rid,) in db.execute("SELECT id FROM runs ORDER BY id")]
        totals = [db.execute("SELECT coalesce(sum(cameras), 0) FROM counts c WHERE run = (SELECT max(run)"
                             " FROM counts WHERE insee = c.insee AND run <= ?)", (rid,)).fetchone()[0]
                  for rid in runs]
    db.close()
    assert min(runs) <= 0 and len({*totals}) > 1
    changes = dict(json.loads((tmp_path / "site" / "site.json").read_text(encoding="utf-8"))["totals"])
    assert list(accumulate(changes.get(rid, 0) for rid in runs)) == totals


def test_backfill_refuses_a_snapshot(monaco_2025: Path, ign_dir: Path, tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, ign_dir, monaco_2025)
    assert _cli("refresh", "--config", config, "--backfill", monaco_2025, "-q")[0] == ExitCode.DATA
    assert "not a history file" in capsys.readouterr().err
    assert not (tmp_path / "www" / "history.sqlite").exists()  # no history: none was made


def test_every_needs_backfill(monaco_2025: Path, ign_dir: Path, tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, ign_dir, monaco_2025)
    assert _cli("refresh", "--config", config, "--every", "year")[0] == ExitCode.USAGE
    assert "--every goes with --backfill" in capsys.readouterr().err


# Boundaries of a history file as they are at its end ----------------------------------

BOUNDARY_HISTORY = """\
n1 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x0 y0
n1 v2 dV c2 t2022-01-01T00:00:00Z i1 ut T x-0.2 y-0.1
n2 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x1 y0
n3 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x1 y1
n3 v2 dD c2 t2021-01-01T00:00:00Z i1 ut T x y
n4 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x0 y1
n5 v1 dV c2 t2021-01-01T00:00:00Z i1 ut T x1.5 y1.5
n6 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x3 y0
n7 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x4 y0
n8 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x4 y1
n9 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T x3 y1
n20 v1 dV c1 t2020-06-01T00:00:00Z i1 ut Tman_made=surveillance x0.5 y0.5
n21 v1 dV c1 t2020-06-01T00:00:00Z i1 ut Tman_made=surveillance x3.5 y0.5
n21 v2 dV c3 t2023-06-01T00:00:00Z i1 ut Tman_made=surveillance x1.2 y1.0
w1 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T Nn1,n2,n3,n4,n1
w1 v2 dV c2 t2021-01-01T00:00:00Z i1 ut T Nn1,n2,n5,n4,n1
w2 v1 dV c1 t2020-01-01T00:00:00Z i1 ut T Nn6,n7,n8,n9,n6
"""
ADMIN = "Ttype=boundary,boundary=administrative,admin_level={level},ref:INSEE=0000{id} Mw{way}@"
BOUNDARY_HISTORY += "".join(  # deleted; no longer level 8; level 8 since 2021
    f"r{id} v{v} d{'V' if level else 'D'} c{v} t{when}T00:00:00Z i1 ut "
    + (ADMIN.format(level=level, id=id, way=way) if level else "T M") + "\n"
    for id, v, when, level, way in [
        (1, 1, "2020-01-01", 8, 1), (2, 1, "2020-01-01", 8, 2), (2, 2, "2021-01-01", None, 0),
        (3, 1, "2020-01-01", 8, 2), (3, 2, "2021-01-01", 9, 2), (4, 1, "2020-01-01", 9, 2),
        (4, 2, "2021-01-01", 8, 2),
    ]
)


@pytest.fixture
def boundary_history(tmp_path: Path) -> Path:
    """Boundaries that move, lose a node, are deleted, change level, over four years."""
    opl = tmp_path / "boundaries.osh.opl"
    opl.write_text(BOUNDARY_HISTORY, encoding="utf-8")
    target = tmp_path / "boundaries.osh.pbf"
    run_osmium("cat", opl, "-o", target, "--output-header=osmosis_replication_timestamp=2024-01-01T00:00:00Z")
    return target


def test_boundaries_of_a_history_file_are_those_of_its_end(
    boundary_history: Path, osmium_polygons, tmp_path: Path
) -> None:
    from osmcams.sources.osm.osh import read_boundaries

    snapshot = tmp_path / "end.osm.pbf"
    run_osmium("time-filter", boundary_history, "-o", snapshot)
    expected = osmium_polygons(snapshot, 8)
    found = {b.relation_id: b for b in read_boundaries(boundary_history, 8, threads=1)}
    assert set(found) == set(expected) == {1, 4}
    for relation_id, shape in expected.items():
        assert found[relation_id].problem is None
        assert found[relation_id].geometry.symmetric_difference(shape).area < 1e-12


def test_timeline_without_boundaries_reads_them_from_the_file(
    boundary_history: Path, osmium_polygons, tmp_path: Path
) -> None:
    """Camera 21 sat in Quatre, then moved into Un: each counted in the communes of the end."""
    target = tmp_path / "t.json"
    status, _ = _cli("timeline", "--pbf", boundary_history, "--all", "--since", "2020", "-o", target, "-q")
    assert status == 0
    result = json.loads(target.read_text(encoding="utf-8"))
    assert "2024-01-01T00:00:00Z" in result["meta"]["boundaries_date"]
    assert result["dates"] == [f"{y}-01-01T00:00:00Z" for y in range(2020, 2025)]
    end = tmp_path / "end.osm.pbf"
    run_osmium("time-filter", boundary_history, "-o", end)
    polygons = {f"0000{i}": shape for i, shape in osmium_polygons(end, 8).items()}
    rows = {row["insee"]: row["cameras"] for row in result["communes"]}
    assert set(rows) == set(polygons) == {"00001", "00004"}
    for k, date in enumerate(result["dates"]):
        cameras = [o for o in parse_opl(run_osmium("time-filter", boundary_history, date, "-f", "opl",
                                                   "-o", "-"))
                   if o.tags.get("man_made") == "surveillance"]
        for code, shape in polygons.items():
            assert rows[code][k] == sum(shape.contains(Point(o.lon, o.lat)) for o in cameras), (code, date)
    assert rows["00004"] != [0] * 5 and rows["00001"][-1] == 2


def test_refresh_and_backfill_honour_the_population_year(
    history: Path, ign_dir: Path, monaco_2025: Path, cog_population: Path, tmp_path: Path,  # noqa: F811
    httpserver, net_env,
) -> None:
    """Neither the COG table's data nor its file name states a year: the configuration's is used."""
    from osmcams.counting import communes_for
    from osmcams.refresh.config import load_config

    assert not any(ch.isdigit() for ch in cog_population.name)
    replication = Server(httpserver, tmp_path / "server")
    replication.set_latest(MONACO_SEQUENCE, MONACO_DATE)
    config = _config(tmp_path, ign_dir, monaco_2025, replication.url,
                     boundaries=[str(ign_dir / "communes-06-alpes-maritimes.geojson")],
                     names=list(COMMUNES), population=str(cog_population), population_year="2023")
    assert _cli("refresh", "--config", config, "-q")[0] == 0
    meta = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))["meta"]
    assert meta["population_year"] == "2023"
    assert _cli("refresh", "--config", config, "--backfill", history, "--every", "year", "-q")[0] == 0
    # The backfill's communes come from the same function, given the configuration's request.
    assert communes_for(load_config(config).request, net_env).population_year == "2023"


def _replayed(config: Path, code: str) -> tuple[list[int], list[int]]:
    """The commune's cameras at each run, from `history`, and from its `changes` summed up."""
    runs = json.loads(_cli("history", "--config", config, "--commune", code, "-f", "json")[1])["runs"]
    _, text = _cli("changes", "--config", config, "--since", "2000-01-01", "--commune", code, "-f", "csv")
    step = {"added": 1, "moved in": 1, "removed": -1, "moved out": -1}
    net: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(text)):
        assert row["insee"] == code
        net[row["data_timestamp"]] = net.get(row["data_timestamp"], 0) + step.get(row["change"], 0)
    total, summed = 0, []
    for run in runs:
        total += net.get(run["data_timestamp"], 0)
        summed.append(total)
    return [r["cameras"] for r in runs], summed


def test_a_backfill_and_the_refreshes_after_it_add_each_camera_once(
    history: Path, ign_dir: Path, shapes: dict[str, Any], monaco_2025: Path, tmp_path: Path,  # noqa: F811
    httpserver, net_env,
) -> None:
    """Refresh, backfill before it, then a diff that moves the Cap-d'Ail camera into La Turbie:
    the changes are those between osmium's states, each once, and every commune's changes
    add up to its history."""
    from fake_replication import read_objects

    replication = Server(httpserver, tmp_path / "server")
    replication.set_latest(MONACO_SEQUENCE, MONACO_DATE)
    config = _config(tmp_path, ign_dir, monaco_2025, replication.url)
    assert _cli("refresh", "--config", config, "-q")[0] == 0
    assert _cli("refresh", "--config", config, "--backfill", history, "--every", "year", "-q")[0] == 0
    camera = read_objects(monaco_2025, "node", {6482706094})[6482706094]
    assert shapes["06032"].intersects(Point(camera.lon, camera.lat))
    camera.version += 1
    where = shapes["06150"].representative_point()
    camera.lon, camera.lat = where.x, where.y
    move = tmp_path / "move.osc"
    move.write_text(osc(modify=[camera]), encoding="utf-8")
    replication.publish(MONACO_SEQUENCE + 1, move.read_text(), "2025-02-07T02:00:00Z")
    assert _cli("refresh", "--config", config, "-q")[0] == 0

    merged = tmp_path / "merged.osm.pbf"
    run_osmium("apply-changes", monaco_2025, move, "-o", merged)
    dates = [f"{y}-01-01T00:00:00Z" for y in range(2019, 2026)]
    states = [_state(history, d, shapes) for d in dates]
    states += [_state(monaco_2025, MONACO_DATE, shapes), _state(merged, "2030-01-01T00:00:00Z", shapes)]
    dates += [MONACO_DATE, "2025-02-07T02:00:00Z"]
    _, text = _cli("changes", "--config", config, "--since", "2000-01-01", "-f", "csv")
    got = [(r["data_timestamp"], r["key"], r["change"]) for r in csv.DictReader(io.StringIO(text))]
    assert len(got) == len(set(got))
    in_osm = [_in_osm(history, d) for d in dates[:-2]] + [_in_osm(monaco_2025, MONACO_DATE),
                                                         _in_osm(merged, "2030-01-01T00:00:00Z")]
    assert set(got) == _expected_changes(states, dates, in_osm)
    added = [key for _, key, change in got if change == "added"]
    assert len(added) == len({key for state in states for key in state})  # each camera once
    assert {c for d, k, c in got if d == dates[-1]} == {"moved out", "moved in"}
    for code in COMMUNES:
        counts, summed = _replayed(config, code)
        assert counts == summed, code


def test_a_backfill_says_a_camera_that_left_every_commune_moved_out(
    ign_dir: Path, shapes: dict[str, Any], monaco_2025: Path, tmp_path: Path  # noqa: F811
) -> None:
    """The extract's two real cameras in the communes: one moved into Monaco (in none of
    them), later into La Turbie, the other deleted: the backfill says the first moved out,
    then in (not removed, then added), and the second removed, as osmium's states and
    whether osmium still finds each camera at each date say."""
    from fake_replication import read_objects

    chosen = {code: shapes[code] for code in COMMUNES}
    ids = sorted(obj.osm_id for obj, _, _ in placed(monaco_2025, MONACO_DATE, chosen) if obj.kind == "n")
    assert len(ids) == 2
    objects = read_objects(monaco_2025, "node", set(ids))
    leaves, deleted = objects[ids[0]], objects[ids[1]]
    diffs = []
    for when, action, obj, (lon, lat) in (
            ("2025-04-10T00:00:00Z", "modify", leaves, (7.4170, 43.7314)),  # in Monaco
            ("2025-04-10T00:00:00Z", "delete", deleted, (deleted.lon, deleted.lat)),
            ("2025-06-10T00:00:00Z", "modify", leaves, (7.3968, 43.7456))):  # in La Turbie
        obj.version += 1
        obj.lon, obj.lat = lon, lat
        diffs.append(tmp_path / f"{len(diffs)}.osc")
        diffs[-1].write_text(f'<osmChange version="0.6"><{action}>{obj.xml(when)}</{action}></osmChange>',
                             encoding="utf-8")
    assert not [code for code in COMMUNES if shapes[code].intersects(Point(7.4170, 43.7314))]
    assert shapes["06150"].intersects(Point(7.3968, 43.7456))
    osh = tmp_path / "moves.osh.pbf"
    run_osmium("apply-changes", "-H", monaco_2025, *diffs, "-o", osh,
               f"--output-header=osmosis_replication_timestamp={HEADER_DATE}")
    config = _config(tmp_path, ign_dir, monaco_2025)
    assert _cli("refresh", "--config", config, "--backfill", osh, "--every", "month", "-q")[0] == 0

    dates = _months(2019, HEADER_DATE)
    _, text = _cli("changes", "--config", config, "--since", "2019-01-01", "-f", "csv")
    got = {(r["data_timestamp"], r["key"], r["change"]) for r in csv.DictReader(io.StringIO(text))}
    assert got == _expected_changes([_state(osh, date, shapes) for date in dates], dates,
                                    [_in_osm(osh, date) for date in dates])
    kinds = {key: [change for _, k, change in sorted(got) if k == key]
             for key in (f"node/{leaves.osm_id}", f"node/{deleted.osm_id}")}
    assert kinds == {f"node/{leaves.osm_id}": ["added", "moved out", "moved in"],
                     f"node/{deleted.osm_id}": ["added", "removed"]}
    for code in COMMUNES:  # the counts move with the changes: the camera left its commune
        counts, summed = _replayed(config, code)
        assert counts == summed, code
