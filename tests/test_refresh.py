"""refresh, history and changes, on real extracts, against a local replication server.

Expected values come from `osmium apply-changes` and a fresh count of its result,
never from the refresh code.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import shapely
from conftest import benchmark_script, on_small_disk, run_osmium, share_inside
from fake_replication import STAMP, Obj, Server, osc, read_objects
from test_backfill import _replayed

from osmcams.cli import main

MONACO_SEQUENCE = 6462849
FRENCH = ["Beausoleil", "06032", "06150", "06104"]  # Beausoleil, Cap-d'Ail, La Turbie, Roquebrune
WAY_A = 4230098  # a road wholly in Beausoleil: becomes a camera, loses it later
WAY_B = 24672706  # a road in Beausoleil: member of a camera relation
WAY_C = 4226610  # a road in Cap-d'Ail: becomes a camera
NEW_NODE = 20_000_000_001
NEW_RELATION = 30_000_000_001


@pytest.fixture
def replication(httpserver, tmp_path: Path) -> Server:
    return Server(httpserver, tmp_path / "server")


def write_config(tmp_path: Path, pbf: Path, url: str | None, **communes: object) -> Path:
    lines = ["[source]", f'pbf = "{pbf}"']
    if url:
        lines.append(f'replication_url = "{url}"')
    lines.append("[communes]")
    for key, value in communes.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines += ["[output]", 'dir = "www"']
    path = tmp_path / "osmcams.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _refuse(word: str) -> None:
    """A json parse_constant: NaN and Infinity are not JSON."""
    raise ValueError(f"not JSON: {word}")


def run(config: Path, *extra: str) -> int:
    return main(["refresh", "--config", str(config), *extra])


def fresh_count(pbf: Path, settings, **request):
    """The count of a file, as `osmcams count` makes it."""
    from osmcams.counting import Request, count_from_pbf

    return count_from_pbf(Request(pbf=pbf, **request), settings)


def apply_changes(base: Path, diffs: list[Path], target: Path) -> Path:
    run_osmium("apply-changes", base, *diffs, "-o", target, "--overwrite")
    return target


def published(out: Path) -> tuple[dict, dict[str, tuple[float, float]]]:
    report = json.loads((out / "communes.json").read_text(encoding="utf-8"))
    cameras = json.loads((out / "cameras.geojson").read_text(encoding="utf-8"))["features"]
    return report, {f["id"]: tuple(f["geometry"]["coordinates"]) for f in cameras}


def assert_same(out: Path, expected) -> None:
    """The published set says what a fresh count of the merged extract says."""
    report, positions = published(out)
    assert {r["insee"]: (r["cameras"], r["by_type"], r["by_scope"]) for r in report["communes"]} == {
        r["insee"]: (r["cameras"], r["by_type"], r["by_scope"]) for r in expected.rows
    }
    want = {c.key: (round(c.lon, 7), round(c.lat, 7)) for group in expected.cameras.values() for c in group}
    assert positions == want
    for key in ("cameras_total", "cameras_outside"):
        assert report["meta"][key] == expected.meta[key]
    for row in report["communes"]:
        files = list((out / "communes").glob(f"{row['insee']}-*.geojson"))
        assert len(files) == 1
        features = json.loads(files[0].read_text(encoding="utf-8"))["features"]
        assert {f["id"]: tuple(f["geometry"]["coordinates"]) for f in features} == {
            c.key: (round(c.lon, 7), round(c.lat, 7)) for c in expected.cameras[row["insee"]]
        }


def monaco_diffs(base: Path, inside) -> list[str]:
    """Three diffs over Monaco 2025 that cover every hard case of the issue."""
    nodes = read_objects(base, "node", {6482706094, 10147090782, 6459866647, 6471920429})
    ways = read_objects(base, "way", {WAY_A, WAY_B, WAY_C})
    moved, retagged = nodes[6482706094], nodes[10147090782]
    moved.version += 1
    moved.lat += 0.0001
    retagged.version += 1
    retagged.tags["camera:type"] = "dome"
    untagged = nodes[6459866647]
    untagged.version += 1
    untagged.tags = {"note": "was a camera"}
    deleted = nodes[6471920429]
    deleted.version += 1
    lon, lat = inside("06012")
    created = Obj("node", NEW_NODE, 1, {"man_made": "surveillance", "surveillance:type": "camera"}, lon, lat)
    way_a = ways[WAY_A]
    way_a.version += 1
    way_a.tags.update({"man_made": "surveillance", "surveillance:type": "camera"})
    relation = Obj("relation", NEW_RELATION, 1, {"type": "site", "man_made": "surveillance"},
                   members=[("w", WAY_B, "")])
    first = osc(create=[created, relation], modify=[moved, retagged, untagged, way_a],
                delete=[deleted])

    # 2: a node of camera way A moves, the way does not; relation's member way B shrinks;
    # the created camera loses its tags.
    node_of_a = read_objects(base, "node", {way_a.refs[0]})[way_a.refs[0]]
    node_of_a.version += 1
    node_of_a.lat += 0.0005
    way_b = ways[WAY_B]
    way_b.version += 1
    way_b.refs = way_b.refs[:-3]
    gone = Obj("node", NEW_NODE, 2, {}, lon, lat)
    second = osc(modify=[node_of_a, way_b, gone])

    # 3: way A is no camera any more, way C becomes one; a node of way B moves.
    way_a.version += 1
    del way_a.tags["man_made"]
    way_c = ways[WAY_C]
    way_c.version += 1
    way_c.tags["man_made"] = "surveillance"
    node_of_b = read_objects(base, "node", {way_b.refs[1]})[way_b.refs[1]]
    node_of_b.version += 1
    node_of_b.lon += 0.001
    third = osc(modify=[way_a, way_c, node_of_b])
    return [first, second, third]


@pytest.fixture
def inside(communes_06, ign_shapes):
    shapes = ign_shapes(communes_06)

    def point(code: str) -> tuple[float, float]:
        p = shapes[code].representative_point()
        return p.x, p.y

    return point


def test_a_name_with_a_line_break_stays_on_its_line_of_the_log(
        replication, monaco_2025, communes_06, split_population, tmp_path, capsys) -> None:
    """A first run on Monaco 2025 with Beausoleil named "Beau<CR><LF>soleil<ESC>" in the real COG
    table: its warning (partly inside the data) was split over two lines of the log, the ESC
    sent raw to the terminal; every log line now starts with its timestamp, the name shown
    as the warnings of count show it."""
    import re
    import shutil

    pbf = shutil.copy(monaco_2025, tmp_path / monaco_2025.name)
    config = write_config(tmp_path, pbf, replication.url, boundaries=[str(communes_06)],
                          population=str(split_population), population_year="2023", department="06")
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config) == 0
    lines = capsys.readouterr().err.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in lines), lines
    assert sum("Beau\\r\\nsoleil\\x1b (06012) 40%" in line for line in lines) == 1, lines
    assert not any("\x1b" in line for line in lines)


def test_diffs_give_what_osmium_apply_changes_gives(
    replication, monaco_2025, monaco_cut, communes_06, cog_population, inside, tmp_path, net_env,
    capsys, monkeypatch, ign_shapes,
):
    config = write_config(tmp_path, monaco_cut[0], replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), names=FRENCH)
    out = tmp_path / "www"
    diffs = monaco_diffs(monaco_2025, inside)
    files = []
    for i, text in enumerate(diffs, 1):
        files.append(tmp_path / f"d{i}.osc")
        files[-1].write_text(text)
    request = {"communes": tuple(FRENCH), "boundaries": (communes_06,), "population": cog_population,
               "extent": monaco_cut[1]}

    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config) == 0  # the first run reads the extract
    assert_same(out, fresh_count(monaco_2025, net_env, **request))
    assert "+2 −0 cameras in 2 communes" in capsys.readouterr().err

    replication.publish(MONACO_SEQUENCE + 1, diffs[0], STAMP.format(2, 0))
    assert run(config) == 0
    merged = apply_changes(monaco_2025, files[:1], tmp_path / "m1.osm.pbf")
    assert_same(out, fresh_count(merged, net_env, **request))
    err = capsys.readouterr().err
    assert "data of 2025-02-07T02:00Z: +3 −0 cameras (1 moved, 1 retagged) in 2 communes" in err

    replication.publish(MONACO_SEQUENCE + 2, diffs[1], STAMP.format(3, 0))
    replication.publish(MONACO_SEQUENCE + 3, diffs[2], STAMP.format(4, 0))
    assert run(config) == 0  # two diffs in one run
    merged = apply_changes(monaco_2025, files, tmp_path / "m3.osm.pbf")
    assert_same(out, fresh_count(merged, net_env, **request))

    with sqlite3.connect(out / "history.sqlite") as db:
        runs = db.execute("SELECT sequence, data_timestamp, diffs FROM runs ORDER BY id").fetchall()
        assert runs == [(MONACO_SEQUENCE, "2025-02-07T01:02:45Z", 0),
                        (MONACO_SEQUENCE + 1, "2025-02-07T02:00:00Z", 1),
                        (MONACO_SEQUENCE + 3, "2025-02-07T04:00:00Z", 2)]
        changes = set(db.execute("SELECT run, key, change FROM changes WHERE run > 1"))
    assert changes == {
        (2, f"node/{NEW_NODE}", "added"), (2, f"way/{WAY_A}", "added"),
        (2, f"relation/{NEW_RELATION}", "added"), (2, "node/6482706094", "moved"),
        (2, "node/10147090782", "retagged"),
        (3, f"node/{NEW_NODE}", "removed"), (3, f"way/{WAY_A}", "removed"),
        (3, f"way/{WAY_C}", "added"), (3, f"relation/{NEW_RELATION}", "moved"),
    }
    capsys.readouterr()

    assert main(["history", "--config", str(config), "--commune", "Beausoleil", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out, parse_constant=_refuse)
    assert data["commune"] == {"insee": "06012", "name": "Beausoleil"}
    assert [r["cameras"] for r in data["runs"]] == [1, 4, 2]
    assert [r["sequence"] for r in data["runs"]] == [MONACO_SEQUENCE + i for i in (0, 1, 3)]
    # Each count says it is a floor: the cut holds about half of Beausoleil (pyproj's share).
    share = share_inside(ign_shapes(communes_06)["06012"], monaco_cut[1])
    assert 0.3 < share < 0.7
    assert all(r["partial"] is True and abs(r["coverage"] - share) < 0.01 for r in data["runs"]), data
    # Where it comes from: the latest run's data date and source, each run's, the store.
    sources = [f"{monaco_cut[0].name} + replication diffs to sequence {MONACO_SEQUENCE + i}"
               for i in (0, 1, 3)]
    stamps = ["2025-02-07T01:02:45Z", "2025-02-07T02:00:00Z", "2025-02-07T04:00:00Z"]
    meta = data["meta"]
    assert (meta["data_timestamp"], meta["source"]) == (stamps[-1], sources[-1])
    assert [(r["data_timestamp"], r["source"]) for r in meta["runs"]] == list(zip(stamps, sources))
    assert meta["store"] == str(out / "history.sqlite") and meta["osmcams_version"]
    # Whose populations: the table of the configuration, each run's and the latest's.
    assert meta["population_source"].startswith(cog_population.name)
    assert {(r["population_source"], r["population_year"]) for r in meta["runs"]} == {
        (meta["population_source"], meta["population_year"])}
    assert [r["population"] for r in data["runs"]] == [
        c["population"] for c in json.loads(cog_population.read_text()) if c["code"] == "06012"
        and c["type"] == "commune-actuelle"] * 3

    assert main(["changes", "--config", str(config), "--since", "2025-02-07T03:00Z",
                 "-f", "geojson"]) == 0
    collection = json.loads(capsys.readouterr().out, parse_constant=_refuse)
    features = collection["features"]
    meta = collection["meta"]
    assert (meta["data_timestamp"], meta["source"]) == (stamps[-1], sources[-1])
    assert [r["data_timestamp"] for r in meta["runs"]] == stamps[-1:]  # the runs since 03:00
    assert meta["since"] == "2025-02-07T03:00:00Z" and meta["store"] == str(out / "history.sqlite")
    assert {(f["properties"]["@id"], f["properties"]["change"]) for f in features} == {
        (k, c) for run_id, k, c in changes if run_id == 3
    }
    assert {f["properties"]["data_timestamp"] for f in features} == {"2025-02-07T04:00:00Z"}
    assert {f["properties"]["commune"] for f in features} == {"Beausoleil", "Cap-d'Ail"}

    assert main(["history", "--config", str(config), "--commune", "06012"]) == 0
    assert "▁█▃" in capsys.readouterr().out  # 1, 4, 2 cameras
    assert main(["changes", "--config", str(config), "--since", "2025-02-07", "--commune",
                 "Beausoleil", "-f", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "data_timestamp,change,key,insee,commune,lon,lat"
    # The first run added Beausoleil's camera; the next two changed 7 things there.
    assert len(lines) == 1 + 1 + sum(k not in ("node/6482706094", f"way/{WAY_C}") for _, k, _ in changes)
    rows = [line.split(",") for line in lines[1:]]
    assert all(len(v.partition(".")[2]) <= 7 for row in rows for v in row[-2:])  # 1 cm, as in files
    kinds = {"node": 0, "way": 1, "relation": 2}
    for stamp in {row[0] for row in rows}:  # in each run, as an extract orders its objects
        keys = [row[2].split("/") for row in rows if row[0] == stamp]
        assert keys == sorted(keys, key=lambda k: (kinds[k[0]], int(k[1])))
    assert main(["changes", "--config", str(config), "--since", "yesterday"]) == 2
    capsys.readouterr()
    # A year under 1000 is every change (it was none: "999-01-01" sorted after "2025"); a
    # date before the first UTC one is a usage error (a traceback).
    assert main(["changes", "--config", str(config), "--since", "0999-01-01", "--commune",
                 "Beausoleil", "-f", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    # A year or a month is its start, as timeline reads it: every change was in February 2025.
    for since, expected in (("2025", lines), ("2025-02", lines), ("2025-03", lines[:1])):
        assert main(["changes", "--config", str(config), "--since", since, "--commune", "Beausoleil",
                     "-f", "csv"]) == 0
        assert capsys.readouterr().out.splitlines() == expected
    assert main(["changes", "--config", str(config), "--since", "0001-01-01T00:00:00+01:00"]) == 2
    assert "out of the range of dates" in capsys.readouterr().err

    # Names resolved as count resolves them: suggestions, exit 3 (issue 25).
    assert main(["history", "--config", str(config), "--commune", "Beausoliel"]) == 3
    assert "did you mean Beausoleil (06012)?" in capsys.readouterr().err
    assert main(["changes", "--config", str(config), "--since", "2025-02-07", "--commune",
                 "beausoliel"]) == 3
    assert "did you mean Beausoleil (06012)?" in capsys.readouterr().err
    assert main(["history", "--config", str(config), "--commune", "Nice"]) == 3
    assert "Nice (06088) is outside the data of these refreshes" in capsys.readouterr().err

    # The tables at 80, 100 and 160 columns: dates, ids, numbers whole (issue 25).
    from test_tables import assert_uncut

    since = ["changes", "--config", str(config), "--since", "2025-02-07T03:00Z"]
    for width in (80, 100, 160):
        monkeypatch.setenv("COLUMNS", str(width))
        assert main(["history", "--config", str(config), "--commune", "06012"]) == 0
        stamps = [r["data_timestamp"] for r in data["runs"]]
        assert_uncut(capsys.readouterr().out, width,
                     [*stamps, *(str(r["cameras"]) for r in data["runs"])], ["Beausoleil"])
        assert main(since) == 0
        assert_uncut(capsys.readouterr().out, width,
                     ["2025-02-07T04:00:00Z", *(k for run_id, k, _ in changes if run_id == 3)],
                     ["Cap-d'Ail"])


@pytest.fixture
def saint_barthelemy(osm_dir: Path, tmp_path: Path, replication: Server) -> Path:
    """The real Saint-Barthélemy extract with a replication header naming the local server,
    one sequence before its real diff, which the server has with its real state.txt."""
    source = osm_dir / "saint-barthelemy"
    state = (source / "saint_barthelemy.state.txt").read_text()
    sequence = int(state.split("sequenceNumber=")[1].split()[0])
    pbf = tmp_path / "sbh.osm.pbf"
    run_osmium(
        "cat", source / "saint_barthelemy.osm.pbf", "-o", pbf,
        f"--output-header=osmosis_replication_base_url={replication.url}",
        f"--output-header=osmosis_replication_sequence_number={sequence - 1}",
        "--output-header=osmosis_replication_timestamp=2014-01-15T19:05:08Z",
    )
    replication.publish(sequence, (source / "saint_barthelemy.osc.gz").read_bytes(), "2015-03-25T19:05:08Z")
    (replication.root / "state.txt").write_text(state)  # the real one
    return pbf


def test_the_real_saint_barthelemy_diff(saint_barthelemy, osm_dir, tmp_path, net_env, capsys):
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config) == 0
    real = osm_dir / "saint-barthelemy" / "saint_barthelemy.osc.gz"
    merged = apply_changes(saint_barthelemy, [real], tmp_path / "merged.osm.pbf")
    expected = fresh_count(merged, net_env, every=True, admin_level=3)
    assert_same(tmp_path / "www", expected)
    report, _ = published(tmp_path / "www")
    assert report["meta"]["data_timestamp"] == "2015-03-25T19:05:08Z"
    assert "data of 2015-03-25T19:05Z: +0 −0 cameras in 0 communes" in capsys.readouterr().err

    # Nothing new: exit 0, one line, nothing rewritten; and nothing at all with --quiet.
    def stamps() -> dict[Path, int]:  # the lock file names the last run: it is no output
        return {p: p.stat().st_mtime_ns for p in (tmp_path / "www").rglob("*") if p.suffix != ".lock"}

    before = stamps()
    assert run(config) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "nothing new" in lines[0]
    assert run(config, "--quiet") == 0
    assert capsys.readouterr() == ("", "")
    assert stamps() == before


def test_changes_with_none_to_show_say_so_and_date_the_data(saint_barthelemy, tmp_path, capsys):
    """`changes` on the real Saint-Barthélemy diff, which touches no camera: the table was
    empty, without a word nor a data date. Its caption names the source and the data date of
    the real state.txt, and says that nothing changed; so does it for a date after the last
    run's data."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    for since in ("2014", "2030"):
        assert main(["changes", "--config", str(config), "--since", since]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "sbh.osm.pbf + replication diffs to sequence" in out
        assert "data of 2015-03-25T19:05:08Z" in out
        assert f"no camera added, removed, moved or retagged since {since}-01-01T00:00:00Z" in out


def test_a_refresh_without_usable_relations_names_the_keys_of_its_configuration(
        saint_barthelemy, tmp_path, net_env, capsys):
    """Saint-Barthélemy is an admin_level=3 relation, and the extract's only admin_level=8
    one (Sint Eustatius) is cut at its edge: the one line of a refresh with the default level
    names what to set in its configuration ([communes] boundaries or admin_level), which has
    no --boundaries or --admin-level options."""
    from osmcams.errors import ExitCode

    config = write_config(tmp_path, saint_barthelemy, None, names=["Saint-Barthélemy"])
    assert run(config, "--quiet") == ExitCode.DATA
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "'Sint Eustatius' (r2324452)" in lines[0]
    assert "[communes] boundaries or admin_level" in lines[0]


def test_a_population_table_matching_no_relation_names_the_relations_codes(
        saint_barthelemy, cog_population, tmp_path, net_env, capsys):
    """The real Saint-Barthélemy relation of 2014 has ref:INSEE=97-7, not the COG's 97701:
    the one line says the relations' codes beside the table's, so that the owner sees why."""
    from osmcams.errors import ExitCode

    config = write_config(tmp_path, saint_barthelemy, None, names=["Saint-Barthélemy"], admin_level=3,
                          population=str(cog_population))
    assert run(config, "--quiet") == ExitCode.DATA
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no code of the table matches" in lines[0]
    assert "the communes have codes such as '97-7'" in lines[0]


def test_the_real_diff_sent_without_content_length_is_applied(
        saint_barthelemy, osm_dir, replication, tmp_path, net_env, capsys):
    """A server that streams its files (no Content-Length) has its real diff applied, as
    osmium apply-changes applies it: the bound on such a diff is max_answer_mb, not its size."""
    replication.chunked = True
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config) == 0, capsys.readouterr().err
    real = osm_dir / "saint-barthelemy" / "saint_barthelemy.osc.gz"
    merged = apply_changes(saint_barthelemy, [real], tmp_path / "merged.osm.pbf")
    assert_same(tmp_path / "www", fresh_count(merged, net_env, every=True, admin_level=3))
    assert any(path.endswith(".osc.gz") for path in replication.requests)


def test_a_diff_just_over_the_answer_cap_is_applied_under_its_own_bound(
        saint_barthelemy, osm_dir, replication, tmp_path, net_env, capsys, monkeypatch):
    """A planet daily diff is over 100 MB gzipped, the cap on service answers, which refused
    it on every run: a diff of 100,007,9xx bytes (a camera in Gustavia, then 100 MB of line
    ends, stored) is applied as osmium apply-changes applies it; OSMCAMS_MAX_DIFF_MB bounds
    diffs, one line, exit 5, nothing changed."""
    import gzip
    from urllib.parse import urlparse

    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0  # the real diff
    camera = Obj("node", NEW_NODE, 1, {"man_made": "surveillance", "surveillance:type": "camera"},
                 -62.8500, 17.8970)
    text = osc(create=[camera]).replace("</osmChange>", "\n" * 100_000_000 + "</osmChange>")
    big = tmp_path / "big.osc.gz"
    big.write_bytes(gzip.compress(text.encode(), compresslevel=0))
    del text
    assert 100_000_000 < big.stat().st_size < 101_000_000
    state = (osm_dir / "saint-barthelemy" / "saint_barthelemy.state.txt").read_text()
    sequence = int(state.split("sequenceNumber=")[1].split()[0])
    replication.publish(sequence + 1, big.read_bytes(), "2015-03-26T19:05:08Z")
    history = tmp_path / "www" / "history.sqlite"
    before = history.read_bytes()
    monkeypatch.setenv("OSMCAMS_MAX_DIFF_MB", "100")
    assert run(config, "--quiet") == 5
    assert capsys.readouterr().err.splitlines() == [
        f"osmcams: error: the answer from {urlparse(replication.url).netloc} is "
        "larger than 100 MB, the limit set by OSMCAMS_MAX_DIFF_MB: refused"]
    assert history.read_bytes() == before
    monkeypatch.delenv("OSMCAMS_MAX_DIFF_MB")
    assert run(config, "--quiet") == 0, capsys.readouterr().err
    real = osm_dir / "saint-barthelemy" / "saint_barthelemy.osc.gz"
    merged = apply_changes(saint_barthelemy, [real, big], tmp_path / "merged.osm.pbf")
    assert_same(tmp_path / "www", fresh_count(merged, net_env, every=True, admin_level=3))
    assert published(tmp_path / "www")[1][f"node/{NEW_NODE}"] == (-62.85, 17.897)


def test_a_diff_larger_than_the_free_disk_is_one_line(saint_barthelemy, osm_dir, replication, tmp_path,
                                                      net_env):
    """The diff bound may exceed the free disk: a diff of 100 MB downloaded beside a history
    on a real tmpfs of 40 MB (mounted in a namespace of the test's own) is one line, exit 2,
    its temporary folder removed, no history kept, nothing published."""
    import gzip

    text = osc().replace("</osmChange>", "\n" * 100_000_000 + "</osmChange>")
    state = (osm_dir / "saint-barthelemy" / "saint_barthelemy.state.txt").read_text()
    sequence = int(state.split("sequenceNumber=")[1].split()[0])
    replication.publish(sequence + 1, gzip.compress(text.encode(), compresslevel=0), "2015-03-26T19:05:08Z")
    del text
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    (tmp_path / "www").mkdir()
    done = on_small_disk("40m", tmp_path / "www", sys.executable, "-m", "osmcams", "refresh", "--config",
                         config, "-q", timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("osmcams: error: cannot write ") and done.stderr.count("\n") == 1
    assert done.stderr.endswith(": No space left on device\n")
    assert done.stdout.split() == [".history.sqlite.lock"]  # the lock stays, as it always does


def test_a_state_txt_starting_with_a_byte_order_mark_is_read(
        saint_barthelemy, osm_dir, replication, tmp_path, capsys):
    """The real state.txt saved with a UTF-8 BOM before its first key was 'not a replication
    state file'; osmosis and pyosmium read past the mark, and so does refresh now."""
    real = (osm_dir / "saint-barthelemy" / "saint_barthelemy.state.txt").read_text()
    keys = "".join(line + "\n" for line in real.splitlines() if not line.startswith("#"))
    (replication.root / "state.txt").write_bytes(b"\xef\xbb\xbf" + keys.encode())
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config) == 0, capsys.readouterr().err
    report, _ = published(tmp_path / "www")
    assert report["meta"]["data_timestamp"] == "2015-03-25T19:05:08Z"


def test_an_area_from_all_sampled_nodes_follows_the_cameras(
    saint_barthelemy, osm_dir, replication, tmp_path, net_env, capsys
):
    """Saint-Barthélemy is estimated from all its sampled nodes (`spread_area`), whose area
    takes in the cells of its cameras: after each diff the published counts equal a fresh
    count of the merged file, and its coverage follows the cameras as a fresh count's does,
    by a patch whose set and store are those that the whole path writes from the same state."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:  # no standalone nodes
        standalone = db.execute("SELECT value FROM kept_state WHERE name = 'standalone'").fetchone()
    assert standalone in (None, (None,))
    state = (osm_dir / "saint-barthelemy" / "saint_barthelemy.state.txt").read_text()
    sequence = int(state.split("sequenceNumber=")[1].split()[0])
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    land = Obj("node", NEW_NODE, 1, camera, -62.8500, 17.8970)  # Gustavia
    sea = Obj("node", NEW_NODE + 1, 1, camera, -62.7500, 17.8700)  # in the boundary, off the data
    ashore = Obj("node", NEW_NODE + 1, 2, camera, -62.8480, 17.8960)
    steps = [osc(create=[land]), osc(create=[sea]), osc(modify=[ashore]),
             osc(delete=[Obj("node", NEW_NODE, 2, {}, -62.8500, 17.8970),
                         Obj("node", NEW_NODE + 1, 3, {}, -62.8480, 17.8960)])]
    files = [osm_dir / "saint-barthelemy" / "saint_barthelemy.osc.gz"]
    coverages = []
    for i, text in enumerate(steps, 1):
        files.append(tmp_path / f"d{i}.osc")
        files[-1].write_text(text)
        replication.publish(sequence + i, text, f"2015-03-26T0{i}:00:00Z")
        twin = _twin(tmp_path, config, f"whole{i}")
        capsys.readouterr()
        assert run(config) == 0
        err = capsys.readouterr().err
        assert "counting these again" in err and "whole set" not in err
        changed = "the area the data covers changed: the coverage of 1 commune" in err
        _assert_whole(tmp_path, twin, capsys)
        expected = fresh_count(apply_changes(saint_barthelemy, files, tmp_path / f"m{i}.osm.pbf"),
                               net_env, every=True, admin_level=3)
        assert_same(tmp_path / "www", expected)
        (row,) = published(tmp_path / "www")[0]["communes"]
        # The kept sample is the base file's: it lacks the nodes of the real diff, which a
        # fresh sample of the merged file holds; so within 0.0015 (0.007 at the start).
        assert row["coverage"] == pytest.approx(expected.rows[0]["coverage"], abs=0.0015)
        assert changed  # each diff widens or narrows it
        coverages.append(row["coverage"])
    assert coverages[1] > coverages[0] == coverages[2] > coverages[3]


def test_a_commune_holding_all_the_data_keeps_its_row_without_cameras(
    saint_barthelemy, osm_dir, replication, tmp_path, net_env
):
    """Saint-Barthélemy cut by a box of 33 km² (its `.poly`) around Gustavia: under 2 % of
    its boundary, which takes in the sea, but all of the data. A camera comes and goes: the
    patch keeps the island's row, as a whole count does."""
    west, south, east, north = -62.87, 17.88, -62.80, 17.92
    saint_barthelemy.with_suffix("").with_suffix(".poly").write_text(
        "box\n1\n" + "".join(f"   {x} {y}\n" for x, y in [(west, south), (east, south), (east, north),
                                                         (west, north), (west, south)])
        + "END\nEND\n")
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    state = (osm_dir / "saint-barthelemy" / "saint_barthelemy.state.txt").read_text()
    sequence = int(state.split("sequenceNumber=")[1].split()[0])
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    steps = [osc(create=[Obj("node", NEW_NODE, 1, camera, -62.8500, 17.8970)]),
             osc(delete=[Obj("node", NEW_NODE, 2, {}, -62.8500, 17.8970)])]
    files = [osm_dir / "saint-barthelemy" / "saint_barthelemy.osc.gz"]
    for i, text in enumerate(steps, 1):
        files.append(tmp_path / f"d{i}.osc")
        files[-1].write_text(text)
        replication.publish(sequence + i, text, f"2015-03-26T0{i}:00:00Z")
        assert run(config, "--quiet") == 0
        merged = apply_changes(saint_barthelemy, files, tmp_path / f"m{i}.osm.pbf")
        merged.with_suffix("").with_suffix(".poly").write_text(
            saint_barthelemy.with_suffix("").with_suffix(".poly").read_text())
        expected = fresh_count(merged, net_env, every=True, admin_level=3)
        assert [(r["insee"], r["coverage"]) for r in expected.rows] == [("97-7", 0.018)]
        assert_same(tmp_path / "www", expected)
        rows = published(tmp_path / "www")[0]["communes"]
        assert [(r["insee"], r["cameras"], r["coverage"]) for r in rows] == [("97-7", 2 - i, 0.018)]


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix != ".lock"}


def test_a_diff_announced_before_it_is_published_waits_for_the_next_run(
    saint_barthelemy, replication, tmp_path, capsys
):
    """A mirror whose state.txt is a step ahead of its diffs: the newest diff is 404. The run
    applies those before it and leaves the newest to the next run; it did call every diff
    gone (exit 7), and with [source] region it would have downloaded the extract again."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    out = tmp_path / "www"
    before = _snapshot(out)
    sequence = 1588
    replication.set_latest(sequence + 1, "2015-03-25T20:00:00Z")  # announced, not published
    capsys.readouterr()
    assert run(config) == 0
    assert "sequence 1589 is announced but its diff is not published yet" in capsys.readouterr().err
    assert _snapshot(out) == before
    replication.publish(sequence + 1, osc(), "2015-03-25T20:00:00Z")
    replication.set_latest(sequence + 2, "2015-03-25T21:00:00Z")
    assert run(config) == 0
    assert json.loads((out / "communes.json").read_text())["meta"]["replication_sequence"] == 1589
    replication.publish(sequence + 2, osc(), "2015-03-25T21:00:00Z")
    assert run(config) == 0
    assert json.loads((out / "communes.json").read_text())["meta"]["replication_sequence"] == 1590


def test_gaps_backwards_unreachable_and_corrupt_change_nothing(
    saint_barthelemy, replication, tmp_path, capsys
):
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    out = tmp_path / "www"
    before = _snapshot(out)
    capsys.readouterr()
    sequence = 1588

    # A gap: the server is at +3, but +1 is gone.
    replication.publish(sequence + 2, osc(), "2015-03-25T21:00:00Z")
    replication.publish(sequence + 3, osc(), "2015-03-25T22:00:00Z")
    assert run(config) == 7
    err = capsys.readouterr().err
    assert "no longer has sequence 1589" in err and "[source] region" in err
    assert _snapshot(out) == before

    # Backwards: the server went back in time.
    replication.set_latest(sequence - 5, "2015-03-25T10:00:00Z")
    assert run(config) == 7
    assert "went backwards" in capsys.readouterr().err
    assert _snapshot(out) == before

    # A corrupt diff: exit 5.
    replication.publish(sequence + 1, b"\x1f\x8b\x08not gzip at all", "2015-03-25T20:00:00Z", latest=False)
    replication.set_latest(sequence + 3, "2015-03-25T22:00:00Z")
    assert run(config) == 5
    assert "corrupt" in capsys.readouterr().err
    assert _snapshot(out) == before

    # Unreachable: exit 5.
    text = config.read_text() + ""
    config.write_text(text.replace("[communes]", '[communes]').replace(
        "[source]", '[source]\nreplication_url = "http://127.0.0.1:9/replication/"'))
    assert run(config) == 5
    assert "cannot reach 127.0.0.1:9" in capsys.readouterr().err
    assert _snapshot(out) == before


def test_a_diff_with_a_value_longer_than_osm_allows_is_corrupt(saint_barthelemy, replication, tmp_path,
                                                              capsys):
    """OSM's API takes 255 characters a value; libosmium refuses more than 1,024 bytes (its
    ValueError was a traceback, exit 1)."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    out = tmp_path / "www"
    before = _snapshot(out)
    camera = Obj("node", 20_000_000_001, 1, {"man_made": "surveillance", "note": "A" * 1025},
                 -62.85, 17.9)
    replication.publish(1589, osc(create=[camera]), "2015-03-25T20:00:00Z")
    assert run(config) == 5
    err = capsys.readouterr().err
    assert err.splitlines()[1:] == ["osmcams: error: 1589.osc.gz: a corrupt replication diff: "
                                    "OSM tag value is too long"]
    assert _snapshot(out) == before


def test_a_second_run_is_refused_while_one_holds_the_lock(saint_barthelemy, tmp_path, capsys):
    import fcntl

    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    (tmp_path / "www").mkdir()
    lock = tmp_path / "www" / ".history.sqlite.lock"
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242 2026-11-23T02:00:00Z\n")
        held.flush()
        assert run(config) == 6
    err = capsys.readouterr().err
    assert "pid 4242" in err and "2026-11-23T02:00:00Z" in err
    assert run(config, "--quiet") == 0  # released: the next run goes ahead


def test_a_run_refused_by_the_lock_names_what_holds_it(saint_barthelemy, tmp_path, capsys):
    """A refresh refused while osmcams site builds said 'another osmcams run is refreshing'."""
    from osmcams.files import exclusive_lock

    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    with exclusive_lock(tmp_path / "www" / "history.sqlite", f"building the site of {config}"):
        assert run(config) == 6
    err = capsys.readouterr().err
    assert f"another osmcams run is building the site of {config} (pid {os.getpid()}, started " in err


KILLED_WRITER = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size = 1")  # changed pages go to the file at once: the journal is hot
db.execute("BEGIN IMMEDIATE")
for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
    if not table.startswith("sqlite_"):
        db.execute(f'DELETE FROM "{table}"')
os.kill(os.getpid(), signal.SIGKILL)
"""


def dump(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def test_a_store_left_by_a_killed_transaction_reads_as_last_committed(saint_barthelemy, tmp_path, capsys):
    """A run killed while writing the store leaves a hot journal, which SQLite's mode=ro cannot
    roll back: history, changes and site said 'not a usable osmcams history database: attempt
    to write a readonly database' (exit 4) until the next refresh."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    store = tmp_path / "www" / "history.sqlite"
    committed = dump(store)
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(store)])
    assert killed.returncode == -signal.SIGKILL
    assert (store.parent / "history.sqlite-journal").stat().st_size > 0
    capsys.readouterr()
    assert main(["changes", "--config", str(config), "--since", "2000", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("data_timestamp,change,key,insee,commune,lon,lat\n")
    assert not (store.parent / "history.sqlite-journal").exists()
    assert dump(store) == committed


@pytest.mark.parametrize("held", ["nothing", "another table"])
def test_history_and_changes_write_nothing_into_a_store(saint_barthelemy, tmp_path, capsys, held):
    """They open the store read-only: an empty file, or one without osmcams's tables, has no
    history yet (exit 2), and stays as it was, without a journal beside it."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    (tmp_path / "www").mkdir()
    store = tmp_path / "www" / "history.sqlite"
    store.touch()
    if held != "nothing":
        db = sqlite3.connect(store)
        db.executescript("CREATE TABLE notes (x)")
        db.close()
    before = store.read_bytes()
    for argv in (["history", "--commune", "Saint-Barthélemy"], ["changes", "--since", "2020-01-01"],
                 ["changes", "--since", "2020"]):
        assert main([argv[0], "--config", str(config), *argv[1:]]) == 2
        err = capsys.readouterr().err
        assert "no history at" in err
        assert store.read_bytes() == before
        assert [p.name for p in store.parent.iterdir()] == ["history.sqlite"]


def _set_back(store: Path, version: int) -> None:
    """The store as an osmcams of schema `version` (10 or 11) left it: what the later
    migrations add taken away, checked against the schema MIGRATIONS[:version] makes."""
    from osmcams.store.history import MIGRATIONS

    with sqlite3.connect(store) as db:
        db.execute("DROP INDEX changes_key")  # schema 15's
        db.execute("DROP INDEX changes_removed")  # schema 13's
        db.execute("ALTER TABLE runs DROP COLUMN population_source")  # schema 12's
        db.execute("ALTER TABLE runs DROP COLUMN population_year")
        if version < 11:
            db.execute("ALTER TABLE counts DROP COLUMN coverage")  # schema 11's
            db.execute("ALTER TABLE counts DROP COLUMN partial")
        db.execute(f"PRAGMA user_version = {version}")
    old = sqlite3.connect(":memory:")
    for number, migration in enumerate(MIGRATIONS[:version], 1):
        old.executescript(migration.sql + f";PRAGMA user_version = {number}")
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    with sqlite3.connect(store) as db:
        assert db.execute(schema).fetchall() == old.execute(schema).fetchall()


def test_history_and_changes_read_a_store_of_schema_13_without_migrating_it(
        saint_barthelemy, tmp_path, capsys):
    """Schema 14 only marks the kept box for the next refresh to check, which no reader needs:
    `history` and `changes` on a store of schema 13 that they may not migrate (another run
    holds its lock, or its place is read-only) were refused (exit 6, or 2), where the osmcams
    before read it; they read it as it is, and say what they said before."""
    from osmcams.files import exclusive_lock

    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    commands = [["changes", "--config", str(config), "--since", "2000", "-f", "csv"],
                ["history", "--config", str(config), "--commune", "Saint-Barthélemy", "-f", "json"]]
    capsys.readouterr()
    said = []
    for argv in commands:
        assert main(argv) == 0
        said.append(capsys.readouterr().out)
    store = tmp_path / "www" / "history.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA user_version = 13")  # the schema before the box was marked
    before = store.read_bytes()
    with exclusive_lock(store, "refreshing elsewhere"):
        for argv, out in zip(commands, said):
            assert main(argv) == 0, capsys.readouterr().err
            assert capsys.readouterr().out == out
    assert store.read_bytes() == before


@pytest.mark.parametrize("version", [10, 11])
def test_history_changes_and_site_migrate_a_store_of_the_previous_schema(
    replication, monaco_2025, communes_06, cog_population, tmp_path, net_env, capsys, version
):
    """After an upgrade, `history`, `changes` and `site` run first on a store of the schema
    before: they migrate it, under the store's lock, as refresh would, and say what they
    said on the store before it was set back (the columns the older schema lacked: null).
    A store whose lock another run holds is left as it is (exit 6)."""
    import shutil

    from osmcams.files import exclusive_lock
    from osmcams.store.history import SCHEMA_VERSION

    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), names=FRENCH)
    config.write_text(config.read_text() + '[site]\ndir = "site"\ntitle = "T"\n'
                      'base_url = "https://example.org/cams/"\n')
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    store = tmp_path / "www" / "history.sqlite"
    pristine = tmp_path / "pristine.sqlite"
    shutil.copyfile(store, pristine)
    commands = {"history": ["history", "--config", str(config), "--commune", "Beausoleil", "-f", "json"],
                "changes": ["changes", "--config", str(config), "--since", "2000", "-f", "csv"],
                "site": ["site", "--config", str(config), "--quiet"]}
    capsys.readouterr()
    said = {}
    for name, argv in commands.items():
        assert main(argv) == 0
        said[name] = capsys.readouterr().out
    site_json = json.loads((tmp_path / "site" / "site.json").read_text(encoding="utf-8"))
    dropped = ["population_source", "population_year"] + (["coverage", "partial"] if version < 11 else [])
    for name, argv in commands.items():
        shutil.copyfile(pristine, store)
        _set_back(store, version)
        before = store.read_bytes()
        with exclusive_lock(store, "refreshing elsewhere"):
            assert main(argv) == 6
            assert "another osmcams run is refreshing elsewhere" in capsys.readouterr().err
        assert store.read_bytes() == before
        assert main(argv) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        with sqlite3.connect(store) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        if name == "history":
            now, then = json.loads(out), json.loads(said[name])
            for row in then["runs"] + then["meta"]["runs"] + [then["meta"]]:
                row.update({key: None for key in dropped if key in row})
            del now["meta"]["osmcams_version"], then["meta"]["osmcams_version"]
            assert now == then
            assert [r["cameras"] for r in now["runs"]] == [
                r["cameras"] for r in published(tmp_path / "www")[0]["communes"] if r["insee"] == "06012"]
        elif name == "changes":
            assert out == said[name]
        else:
            assert json.loads((tmp_path / "site" / "site.json").read_text(encoding="utf-8")) == site_json


def test_a_first_run_that_fails_leaves_no_history(saint_barthelemy, tmp_path, capsys):
    """`history` then says that no refresh ran, not that the commune is outside their data;
    a later run's failure keeps the history it had."""
    bad = write_config(tmp_path, saint_barthelemy, None, names=["Nowhere"], admin_level=3)
    assert run(bad) == 3
    assert not (tmp_path / "www" / "history.sqlite").exists()
    assert main(["history", "--config", str(bad), "--commune", "Saint-Barthélemy"]) == 2
    assert "no history at" in capsys.readouterr().err
    assert run(write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3), "--quiet") == 0
    assert run(write_config(tmp_path, saint_barthelemy, None, names=["Nowhere"], admin_level=3)) == 3
    assert main(["history", "--config", str(bad), "--commune", "Saint-Barthélemy"]) == 0


@pytest.mark.parametrize(("text", "message"), [
    ('[source]\npbf = "x.pbf"\n[output]\ndri = "www"\n', "unknown key [output] dri"),
    ('[source]\npbf = 3\n[output]\ndir = "www"\n', "[source] pbf must be a path"),
    ('[output]\ndir = "www"\n[communes]\nall = true\n', "[source] pbf is required"),
    ('[source]\npbf = "x"\n[output]\ndir = "w"\n[communes]\nadmin_level = 40\nall = true\n',
     "[communes] admin_level must be a whole number from 1 to 12"),
    ('[source]\npbf = "x"\n[output]\ndir = "w"\n', "[communes] name a commune"),
    ('[source]\npbf = "x"\n[output]\ndir = "w"\n[communes]\nall = true\nnames = ["Nice"]\n',
     "all = true excludes"),
    ("[source\n", "not valid TOML"),
])
def test_a_bad_configuration_names_the_key_and_the_file(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert run(config) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.toml" in err
    assert not (tmp_path / "w").exists() and not (tmp_path / "www").exists()


def test_a_set_published_before_communes_csvt_is_refreshed(saint_barthelemy, replication, tmp_path, capsys):
    """An osmcams before communes.csvt published communes.csv, communes.json, cameras.geojson
    and communes/ beside the history store: its [output] dir was refused as a folder of the
    user's (no communes.csvt), exit 2, and never refreshed again. It is refreshed, and gets
    its communes.csvt."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    out = tmp_path / "www"
    (out / "communes.csvt").unlink()  # the set as the osmcams before it left it
    replication.publish(1589, osc(), "2015-03-25T20:00:00Z")
    capsys.readouterr()
    assert run(config) == 0, capsys.readouterr().err
    assert (out / "communes.csvt").is_file()
    assert json.loads((out / "communes.json").read_text())["meta"]["replication_sequence"] == 1589


def test_a_first_refresh_publishes_beside_its_history_in_a_subfolder(saint_barthelemy, tmp_path, capsys):
    """[history] path in a folder of the [output] dir, which the store needs made before the
    first run (its folder must exist): that folder made the [output] dir one of the user's,
    refused (exit 2) before anything was published. It is the store's: the run publishes."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    config.write_text(config.read_text() + '[history]\npath = "www/state/history.sqlite"\n')
    (tmp_path / "www/state").mkdir(parents=True)
    assert run(config, "--quiet") == 0, capsys.readouterr().err
    assert (tmp_path / "www/communes.csvt").is_file() and (tmp_path / "www/state/history.sqlite").is_file()


def test_a_first_publish_killed_while_moving_its_files_is_finished_by_the_next_run(
        saint_barthelemy, tmp_path, capsys):
    """A first run killed while it moved its files in place, its commit list written (the
    next publish finishes it, files.publish says), left the [output] dir with communes/ and
    no communes.csv(t) yet, the [site] dir with its pages and no site.json: the next runs
    were refused (exit 2, the folders said to be the user's) for ever. The next run finishes
    both sets, no staging folder left."""
    from osmcams.files import COMMIT
    from osmcams.outputs.sets import FIXED

    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    config.write_text(config.read_text() + '[site]\ndir = "site"\ntitle = "T"\n'
                      'base_url = "https://example.org/"\n')
    assert run(config, "--quiet") == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = {tmp_path / "www": list(FIXED.values()), tmp_path / "site": ["index.html", "site.json"]}
    published = {folder / name: (folder / name).read_bytes()
                 for folder, names in left.items() for name in names}
    for folder, names in left.items():  # as the kill left them: these not moved in yet
        staging = folder / f".osmcams-tmp-{dead.pid}-cafe"
        staging.mkdir()
        for name in names:
            os.replace(folder / name, staging / name)
        (staging / COMMIT).write_text(json.dumps({"move": names, "remove": []}))
    capsys.readouterr()
    assert run(config) == 0, capsys.readouterr().err
    assert {path: path.read_bytes() for path in published} == published
    assert not [p for folder in left for p in folder.iterdir() if p.name.startswith(".osmcams-tmp-")]


def test_a_subfolder_of_the_output_that_is_a_symbolic_link_is_refused(saint_barthelemy, tmp_path, capsys):
    """[output] dir's communes/ made a link to a folder elsewhere: the run would write the
    communes' files there; it is refused in one line (exit 2), nothing written through it;
    with the link gone, the next run publishes. (A first run into a folder holding only the
    link is refused before, as a folder that is no published set.)"""
    import shutil

    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    out, elsewhere = tmp_path / "www", tmp_path / "elsewhere"
    assert run(config, "--quiet") == 0
    published = (out / "communes.json").read_bytes()
    shutil.rmtree(out / "communes")
    elsewhere.mkdir()
    (out / "communes").symlink_to(elsewhere, target_is_directory=True)
    assert run(config) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"osmcams: error: {out / 'communes'} is a symbolic link: the files in it would "
                        f"be written outside {out}; osmcams will not follow it\n"), err
    assert list(elsewhere.iterdir()) == [] and (out / "communes.json").read_bytes() == published
    (out / "communes").unlink()
    assert run(config, "--quiet") == 0
    assert [p.suffix for p in (out / "communes").iterdir()] == [".geojson"]


def test_relative_paths_are_relative_to_the_configuration(tmp_path):
    from osmcams.refresh.config import load_config

    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "osmcams.toml"
    config.write_text('[source]\npbf = "data/x.pbf"\n[communes]\nall = true\n'
                      'boundaries = "communes"\n[output]\ndir = "../www"\n')
    loaded = load_config(config)
    assert loaded.pbf == tmp_path / "etc" / "data" / "x.pbf"
    assert loaded.request.boundaries == (tmp_path / "etc" / "communes",)
    assert loaded.history == tmp_path / "www" / "history.sqlite"
    assert os.path.isabs(loaded.output_dir)


def test_the_history_schema_migrates_forward_and_refuses_a_newer_one(tmp_path):
    from osmcams.errors import DataError
    from osmcams.store.history import SCHEMA_VERSION, Store

    path = tmp_path / "history.sqlite"
    sqlite3.connect(path).close()  # an empty database: version 0
    store = Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "counts", "cameras", "changes"} <= tables
    plan = store.db.execute("EXPLAIN QUERY PLAN SELECT insee, shape FROM kept_communes WHERE insee IN (?, ?)",
                            ("06088", "06004")).fetchall()
    assert "INDEX kept_communes_insee" in str(plan)  # an outline read alone, not all 35,000
    store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store.close()
    with pytest.raises(DataError, match="newer than this osmcams knows"):
        Store(path)


def test_a_camera_s_changes_are_found_through_an_index_from_schema_15(tmp_path):
    """The site followed each camera that moved or came back through its changes by reading
    every change of the store (SCAN changes: 169,000 rows on the benchmark after five runs,
    more with each run); schema 15 indexes them by camera. A store of schema 14 is read as
    it is (the index is no reader's need) and gets it when opened to be written, in the
    migration's one transaction."""
    from osmcams.refresh.site import JOURNEYS
    from osmcams.store.history import SCHEMA_VERSION, Store

    path = tmp_path / "history.sqlite"
    Store(path).close()

    def plan() -> str:
        with closing(sqlite3.connect(path)) as db:
            return str(db.execute("EXPLAIN QUERY PLAN " + JOURNEYS.format(marks="?,?"), ("node/1", "way/2"))
                       .fetchall())

    assert "SEARCH changes USING INDEX changes_key (key=?)" in plan() and "TEMP B-TREE" not in plan()
    with closing(sqlite3.connect(path)) as db:  # as osmcams of schema 14 left it
        db.execute("DROP INDEX changes_key")
        db.execute("PRAGMA user_version = 14")
    assert "SCAN changes" in plan()
    store = Store(path, read_only=True)
    assert store.db.execute("PRAGMA user_version").fetchone() == (14,)
    store.close()
    Store(path).close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert "SEARCH changes USING INDEX changes_key (key=?)" in plan()


def test_the_store_reads_since_as_a_date(tmp_path):
    """Store.runs and Store.changes compared `since` as text: 2025-02-07T02:00+01:00 (01:00
    UTC, before data of 01:02:45Z) gave no run, and 'yesterday' none, without a word."""
    from osmcams.errors import UsageError
    from osmcams.models import make_camera
    from osmcams.store.history import Run, Store

    store = Store(tmp_path / "history.sqlite")
    camera, _ = make_camera("node", 1, 7.42, 43.74, {"man_made": "surveillance"})
    for stamp, cameras in (("2025-02-06T00:00:00Z", []), ("2025-02-07T01:02:45Z", [camera])):
        row = {"insee": "06012", "name": "Beausoleil", "cameras": len(cameras), "population": None,
               "cameras_per_km2": None, "cameras_per_10k": None}
        with store.transaction():
            store.record_run(Run(stamp, None, "test", stamp, stamp), [row], {"06012": cameras}, None, (), ())
    for since in ("2025-02-07T02:00+01:00", "2025-02-07", "2025-02-07T01:02:45Z"):
        assert [r["data_timestamp"] for r in store.runs(since)] == ["2025-02-07T01:02:45Z"], since
        assert [(c["change"], c["key"]) for c in store.changes(since)] == [("added", "node/1")], since
    assert len(store.runs("2025")) == 2 and store.changes("2025-02-07T02:03+01:00") == []
    for call in (store.runs, store.changes):
        with pytest.raises(UsageError, match="cannot read the date 'yesterday'"):
            call("yesterday")
    store.close()


def test_migration_6_splits_a_stored_move_between_communes(tmp_path):
    """A history of schema 5 whose "moved" rows hide a change of commune: after opening,
    the move is "moved out" of the one, where it was, and "moved in" to the other."""
    from osmcams.store.history import MIGRATIONS, Store

    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as db:
        for version, script in enumerate(MIGRATIONS[:5], 1):
            db.executescript(script.sql + f";PRAGMA user_version = {version}")
        db.executemany("INSERT INTO runs VALUES (?, ?, ?, 'x', '0', 's', 'e', 0)",
                       [(1, "2025-01-01T00:00:00Z", 1), (2, "2025-01-02T00:00:00Z", 2),
                        (3, "2025-01-03T00:00:00Z", 3)])
        db.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?)", [
            (1, "node/1", "added", "06032", 7.41, 43.73, '{"a": "1"}'),
            (1, "node/2", "added", "06012", 7.42, 43.74, "{}"),
            (2, "node/1", "moved", "06150", 7.39, 43.74, '{"a": "1"}'),  # to another commune
            (2, "node/1", "retagged", "06150", 7.39, 43.74, '{"a": "2"}'),
            (3, "node/2", "moved", "06012", 7.43, 43.74, "{}"),  # within its commune
        ])
    store = Store(path)
    rows = store.db.execute("SELECT run, key, change, insee, lon, lat, tags FROM changes"
                            " ORDER BY run, rowid").fetchall()
    store.close()
    assert rows == [
        (1, "node/1", "added", "06032", 7.41, 43.73, '{"a": "1"}'),
        (1, "node/2", "added", "06012", 7.42, 43.74, "{}"),
        (2, "node/1", "moved out", "06032", 7.41, 43.73, '{"a": "1"}'),
        (2, "node/1", "moved in", "06150", 7.39, 43.74, '{"a": "1"}'),
        (2, "node/1", "retagged", "06150", 7.39, 43.74, '{"a": "2"}'),
        (3, "node/2", "moved", "06012", 7.43, 43.74, "{}"),
    ]


def _set_files(out: Path) -> dict[str, object]:
    """Every file of a published set: communes.json parsed, without its generation time."""
    files: dict[str, object] = {}
    for path in sorted(out.rglob("*")):
        name = str(path.relative_to(out))
        if not path.is_file() or path.suffix in (".lock", ".sqlite"):
            continue
        files[name] = path.read_bytes()
        if name == "communes.json":
            report = json.loads(path.read_text(encoding="utf-8"))
            del report["meta"]["generated"]
            files[name] = report
    return files


def _rebuilt(tmp_path: Path, config: Path, name: str) -> dict[str, object]:
    """The set a whole recount of the same kept data writes: the history copied, an empty
    output directory."""
    import shutil

    target = tmp_path / name
    target.mkdir()
    shutil.copy(tmp_path / "www" / "history.sqlite", target / "history.sqlite")
    copy = tmp_path / f"{name}.toml"
    copy.write_text(config.read_text().replace('dir = "www"', f'dir = "{name}"'))
    assert run(copy, "--quiet") == 0
    return _set_files(target)


def _twin(tmp_path: Path, config: Path, name: str) -> Path:
    """A copy of the store and the set in place whose next run counts every commune again
    (its communes' key changed, as when their files change): the whole path from the same
    state. Its configuration."""
    import shutil

    shutil.copytree(tmp_path / "www", tmp_path / name)
    with sqlite3.connect(tmp_path / name / "history.sqlite") as db:
        db.execute("UPDATE kept_state SET value = '\"changed\"' WHERE name = 'communes'")
    copy = tmp_path / f"{name}.toml"
    copy.write_text(config.read_text().replace('dir = "www"', f'dir = "{name}"')
                    .replace('dir = "site"', f'dir = "{name}-site"'))
    return copy


def _store(out: Path) -> dict[str, list]:
    """What the store in `out` keeps, but for the times of the runs and of the files."""
    with sqlite3.connect(out / "history.sqlite") as db:
        found = {table: db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall() for table, order in [
            ("kept_rows", "insee"), ("counts", "run, insee"), ("changes", "rowid"), ("cameras", "key"),
            ("kept_objects", "key"), ("kept_communes", "id")]}
        found["runs"] = db.execute("SELECT id, data_timestamp, sequence, source, diffs, population_source,"
                                   " population_year FROM runs ORDER BY id").fetchall()
        found["kept_files"] = db.execute("SELECT name, size FROM kept_files ORDER BY name").fetchall()
        # Of the area, its shape: its grid is of use to a patch where the cameras draw the area
        # (`Refresh._area_changed`), not where the standalone nodes do; of the ranges, not the
        # file's time.
        part = {"camera_ranges": "ranges", "area": "wkb"}
        found["kept_state"] = [(name, json.loads(value)[part[name]] if name in part else value)
                               for name, value in db.execute("SELECT * FROM kept_state ORDER BY name")]
    return found


def _assert_whole(tmp_path: Path, twin: Path, capsys) -> None:
    """The set and the store in place equal those that the whole path, `twin` (`_twin`),
    writes from the same state with the same diffs."""
    assert run(twin) == 0
    assert "counting every commune again" in capsys.readouterr().err
    name = twin.stem
    assert _set_files(tmp_path / "www") == _set_files(tmp_path / name)
    assert _store(tmp_path / "www") == _store(tmp_path / name)


def _assert_ranges(out: Path) -> None:
    """The store says where each commune's lines lie in the cameras.geojson in place, and
    which file that is (its size and time)."""
    import sqlite3

    with sqlite3.connect(out / "history.sqlite") as db:
        (text,) = db.execute("SELECT value FROM kept_state WHERE name = 'camera_ranges'").fetchone()
    known, path = json.loads(text), out / "cameras.geojson"
    assert known["identity"] == [path.stat().st_size, path.stat().st_mtime_ns]
    data, features = path.read_bytes(), {}
    for code, (offset, size) in known["ranges"].items():
        features[code] = json.loads(b"[" + data[offset:offset + size] + b"]")
        assert {f["properties"]["insee"] for f in features[code]} <= {code}
    assert [f for found in features.values() for f in found] == json.loads(data)["features"]


def test_patched_sets_equal_a_whole_recount_after_each_diff(
    replication, monaco_2025, monaco_cut, communes_06, cog_population, inside, tmp_path, net_env,
    capsys,
):
    """Ranked (department = "06"): each run patches the set; it equals, file for file, the
    set that a whole recount writes, and what a fresh count of the merged extract says."""
    config = write_config(tmp_path, monaco_cut[0], replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), department="06")
    out = tmp_path / "www"
    request = {"department": "06", "boundaries": (communes_06,), "population": cog_population,
               "extent": monaco_cut[1]}
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config) == 0
    first = {r["insee"]: r["cameras"] for r in published(out)[0]["communes"]}
    assert first["06150"] == 0  # La Turbie: no camera yet
    # The 159 communes outside the cut (all but the four the polygon reaches): 5 named in the
    # log, as count names them; all published.
    (left_out,) = [line for line in capsys.readouterr().err.splitlines() if "have no count: " in line]
    assert left_out.endswith(" and 154 more (the published communes.json lists them all)")
    assert any(w.count("(06") == 159 for w in published(out)[0]["warnings"])

    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    here = Obj("node", NEW_NODE + 1, 1, {**camera, "direction": "skywards"}, *inside("06150"))
    there = Obj("node", NEW_NODE + 1, 2, camera, *inside("06032"))
    diffs = monaco_diffs(monaco_2025, inside)
    diffs.insert(2, osc(create=[here]))
    diffs.append(osc(modify=[there]))  # La Turbie's one camera goes to Cap-d'Ail
    nice = Obj("node", NEW_NODE + 2, 1, camera, *inside("06088"))
    diffs.append(osc(create=[nice]))  # Nice, outside the data: its row appears
    diffs.append(osc(delete=[Obj("node", NEW_NODE + 2, 2, {}, *inside("06088"))]))  # and goes
    files = []
    untouched = out / "communes" / next(p.name for p in (out / "communes").glob("06104-*"))
    stamp = untouched.stat().st_mtime_ns
    for i, text in enumerate(diffs, 1):
        files.append(tmp_path / f"d{i}.osc")
        files[-1].write_text(text)
        replication.publish(MONACO_SEQUENCE + i, text, STAMP.format(1 + i, 0))
        assert run(config) == 0
        err = capsys.readouterr().err
        assert "communes: counting these again" in err and "whole set" not in err
        assert ("06088, outside the data, now hold cameras: their rows come" in err) == (i == 6)
        expected = fresh_count(apply_changes(monaco_2025, files, tmp_path / f"m{i}.osm.pbf"),
                               net_env, **request)
        assert_same(out, expected)
        assert [r["insee"] for r in published(out)[0]["communes"]] == [r["insee"] for r in expected.rows]
        assert _set_files(out) == _rebuilt(tmp_path, config, f"whole{i}")
        _assert_ranges(out)  # where the next patch copies the unchanged communes' lines from
        unreadable = "1 camera has a direction that cannot be read; set to null"
        assert (unreadable in published(out)[0]["warnings"]) == (i in (3, 4))
        assert ("06088" in {r["insee"] for r in published(out)[0]["communes"]}) == (i == 6)
    counts = [{r["insee"]: r["cameras"] for r in fresh_count(
        apply_changes(monaco_2025, files[:i], tmp_path / "m.osm.pbf"), net_env, **request).rows}
        for i in (3, 5)]
    assert (counts[0]["06150"], counts[1]["06150"]) == (1, 0)
    assert untouched.stat().st_mtime_ns == stamp  # Roquebrune's file: never rewritten
    capsys.readouterr()
    assert main(["history", "--config", str(config), "--commune", "06150", "-f", "json"]) == 0
    assert [r["cameras"] for r in json.loads(capsys.readouterr().out)["runs"]] == [0, 0, 0, 1, 1, 0, 0, 0]
    # The move from La Turbie to Cap-d'Ail is a change of both; each commune's changes add
    # up to its history at every run.
    assert main(["changes", "--config", str(config), "--since", "2025-02-07T06:00Z", "-f", "csv"]) == 0
    moves = [line.split(",")[:4] for line in capsys.readouterr().out.splitlines()[1:]]
    key, stamp = f"node/{NEW_NODE + 1}", STAMP.format(6, 0)
    assert [m for m in moves if m[0] == stamp] == [  # it also lost its unreadable direction
        [stamp, "moved out", key, "06150"], [stamp, "moved in", key, "06032"],
        [stamp, "retagged", key, "06032"]]
    for code in ("06012", "06032", "06104", "06150", "06088"):
        counts, summed = _replayed(config, code)
        assert counts == summed, code


def test_a_history_of_schema_6_counts_every_commune_again(
    replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys
):
    """Rows kept before `partial` existed are not patched: migration 7 makes the next run
    count every commune, and its rows say which communes are partial."""
    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), names=FRENCH)
    out = tmp_path / "www"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    with sqlite3.connect(out / "history.sqlite") as db:  # as an older osmcams left it
        db.execute("UPDATE kept_rows SET json = replace(json, '\"partial\": false, ', '')")
        db.execute("PRAGMA user_version = 6")
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    replication.publish(MONACO_SEQUENCE + 1, osc(create=[Obj("node", NEW_NODE, 1, camera,
                                                            *inside("06012"))]), STAMP.format(2, 0))
    capsys.readouterr()
    assert run(config) == 0
    assert "counting these again" not in capsys.readouterr().err
    rows = {r["insee"]: r for r in published(out)[0]["communes"]}
    assert rows["06012"]["cameras"] == 2 and "partial" in rows["06012"]
    assert all(r["partial"] == (r["coverage"] < 1) for r in rows.values())
    assert _set_files(out) == _rebuilt(tmp_path, config, "whole")


def test_a_file_edited_or_deleted_by_hand_is_written_again(
    replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys
):
    """The store knows the set it published by each file's size and time, and never reads
    it back: a file edited or deleted by hand is written again, by a run with nothing new
    or by one with a diff (which then counts every commune); the set is then the one a
    whole recount writes."""
    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), department="06")
    out = tmp_path / "www"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    whole = _set_files(out)
    capsys.readouterr()
    assert run(config) == 0
    assert "nothing new" in capsys.readouterr().err

    cameras = out / "cameras.geojson"
    text = cameras.read_bytes()
    edited = text.replace(b'"insee": "06012"', b'"insee": "06013"', 1)  # the same size
    assert edited != text and len(edited) == len(text)
    cameras.write_bytes(edited)
    assert run(config) == 0
    assert "outputs restored" in capsys.readouterr().err
    assert _set_files(out) == whole and cameras.read_bytes() == text
    (out / "communes.json").unlink()
    assert run(config) == 0
    assert "outputs restored" in capsys.readouterr().err
    assert _set_files(out) == whole

    roquebrune = next((out / "communes").glob("06104-*"))
    roquebrune.unlink()
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    for i, code in enumerate(("06012", "06032"), 1):  # a diff in Beausoleil, then Cap-d'Ail
        created = Obj("node", NEW_NODE + i, 1, camera, *inside(code))
        replication.publish(MONACO_SEQUENCE + i, osc(create=[created]), STAMP.format(1 + i, 0))
        assert run(config) == 0
        assert ("counting these again" in capsys.readouterr().err) == (i == 2)
        assert _set_files(out) == _rebuilt(tmp_path, config, f"whole{i}")
    assert roquebrune.is_file()


def test_a_store_of_schema_7_writes_the_whole_set_once_then_patches(
    replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys
):
    """A store that an older osmcams left (schema 7: the published set known only from its
    files) is migrated; its next run writes the whole set, the one after patches it."""
    from osmcams.store.history import MIGRATIONS, SCHEMA_VERSION

    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), names=FRENCH)
    out = tmp_path / "www"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    with sqlite3.connect(out / "history.sqlite") as db:  # as osmcams of schema 7 left it
        db.execute("DROP TABLE kept_files")
        db.execute("DROP INDEX kept_rows_published")
        db.execute("DROP INDEX changes_insee")  # schema 9's
        db.execute("DROP INDEX cameras_insee")
        db.execute("DROP INDEX kept_communes_insee")  # schema 10's
        db.execute("ALTER TABLE counts DROP COLUMN coverage")  # schema 11's
        db.execute("ALTER TABLE counts DROP COLUMN partial")
        db.execute("DROP INDEX changes_removed")  # schema 13's
        db.execute("DROP INDEX changes_key")  # schema 15's
        db.execute("ALTER TABLE runs DROP COLUMN population_source")  # schema 12's
        db.execute("ALTER TABLE runs DROP COLUMN population_year")
        db.execute("DELETE FROM kept_state WHERE name = 'published'")
        db.execute("PRAGMA user_version = 7")
    old = sqlite3.connect(":memory:")
    for version, migration in enumerate(MIGRATIONS[:7], 1):
        old.executescript(migration.sql + f";PRAGMA user_version = {version}")
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    with sqlite3.connect(out / "history.sqlite") as db:
        assert db.execute(schema).fetchall() == old.execute(schema).fetchall()

    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    capsys.readouterr()
    for i, code in enumerate(("06012", "06032"), 1):
        created = Obj("node", NEW_NODE + i, 1, camera, *inside(code))
        replication.publish(MONACO_SEQUENCE + i, osc(create=[created]), STAMP.format(1 + i, 0))
        assert run(config) == 0
        assert ("counting these again" in capsys.readouterr().err) == (i == 2)
        with sqlite3.connect(out / "history.sqlite") as db:
            assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert _set_files(out) == _rebuilt(tmp_path, config, f"whole{i}")


def test_a_commune_outside_the_data_that_loses_its_camera_leaves_a_patched_set(
    replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys
):
    """La Turbie lies outside Monaco 2025's data: a camera mapped there gives it a row, and
    its deletion takes the row and the commune's file out of the set, by a patch that
    equals a whole recount."""
    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), names=FRENCH)
    out = tmp_path / "www"
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    assert "06150" not in {r["insee"] for r in published(out)[0]["communes"]}
    camera = Obj("node", NEW_NODE, 1, {"man_made": "surveillance", "surveillance:type": "camera"},
                 *inside("06150"))
    replication.publish(MONACO_SEQUENCE + 1, osc(create=[camera]), STAMP.format(2, 0))
    assert run(config, "--quiet") == 0
    assert {r["insee"]: r["cameras"] for r in published(out)[0]["communes"]}["06150"] == 1
    gone = Obj("node", NEW_NODE, 2, {}, *inside("06150"))
    replication.publish(MONACO_SEQUENCE + 2, osc(modify=[gone]), STAMP.format(3, 0))
    capsys.readouterr()
    assert run(config) == 0
    assert "06150, outside the data, no longer hold a camera: their rows go" in capsys.readouterr().err
    assert "06150" not in {r["insee"] for r in published(out)[0]["communes"]}
    assert not list((out / "communes").glob("06150-*"))
    whole = _rebuilt(tmp_path, config, "whole")
    patched = _set_files(out)
    assert {k: v for k, v in patched.items() if k != "communes.json"} == {
        k: v for k, v in whole.items() if k != "communes.json"}
    assert patched["communes.json"] == whole["communes.json"]


@pytest.mark.parametrize("communes", [{"department": "06"}, {"names": [*FRENCH, "06091", "06088"]}])
def test_a_camera_in_a_commune_outside_the_data_gives_it_its_row_by_a_patch(
    replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys, communes
):
    """Peille (06091) and Nice (06088) lie outside Monaco 2025's data, without rows: a camera
    mapped in Peille gives it its row by a patch (its name, department, population and area
    as the whole count kept them, its coverage), then one in Nice while Peille's goes; each
    time the set, the store and the run's counts and changes are those that the whole path
    writes from the same state, ranked or in the order asked, with the area of the communes
    without data that the site's map draws."""
    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), **communes)
    config.write_text(config.read_text() + '[site]\ndir = "site"\ntitle = "Test"\nbase_url = "https://example.org/"\n')
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    assert not {"06091", "06088"} & {r["insee"] for r in published(tmp_path / "www")[0]["communes"]}
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    steps = [osc(create=[Obj("node", NEW_NODE, 1, camera, *inside("06091")),
                         Obj("node", NEW_NODE + 1, 1, camera, *inside("06012"))]),
             osc(create=[Obj("node", NEW_NODE + 2, 1, camera, *inside("06088"))],
                 delete=[Obj("node", NEW_NODE, 2, {}, *inside("06091"))])]
    for i, (text, coming) in enumerate(zip(steps, ["06091", "06088"]), 1):
        replication.publish(MONACO_SEQUENCE + i, text, STAMP.format(1 + i, 0))
        twin = _twin(tmp_path, config, f"whole{i}")
        capsys.readouterr()
        assert run(config) == 0
        err = capsys.readouterr().err
        assert f"{coming}, outside the data, now hold cameras: their rows come" in err
        assert "counting these again" in err and "whole set" not in err
        assert ("06091, outside the data, no longer hold a camera: their rows go" in err) == (i == 2)
        rows = {r["insee"]: r for r in published(tmp_path / "www")[0]["communes"]}
        assert rows[coming]["cameras"] == 1 and ("06091" in rows) == (i == 1)
        _assert_whole(tmp_path, twin, capsys)


@pytest.mark.parametrize("communes", [{"department": "06"}, {"names": [*FRENCH, "06091"]}])
def test_cameras_that_change_the_area_of_the_data_patch_the_set(
    replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys, communes
):
    """Monaco 2025's roads, cameras and boundaries alone (osmium tags-filter) have 27
    standalone nodes, too few: their area is drawn from all their sampled nodes and their
    cameras (`spread_area`). Cameras mapped in La Turbie, then in Peille (beyond the grid,
    which moves), then deleted, change that area: each run patches the set, the coverage
    of the communes that the change meets cut again, rows coming and going; the set, the
    store and the run's counts and changes equal those that the whole path writes from
    the same state."""
    pbf = tmp_path / "roads.osm.pbf"
    run_osmium("tags-filter", monaco_2025, "w/highway", "n/man_made=surveillance",
               "r/boundary=administrative", "-o", pbf)
    config = write_config(tmp_path, pbf, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), **communes)
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    turbie, peille = inside("06150"), inside("06091")
    steps = [osc(create=[Obj("node", NEW_NODE, 1, camera, *turbie)]),
             osc(create=[Obj("node", NEW_NODE + 1, 1, camera, *peille)]),
             osc(delete=[Obj("node", NEW_NODE, 2, {}, *turbie)]),
             osc(delete=[Obj("node", NEW_NODE + 1, 2, {}, *peille)])]
    coverage = [{r["insee"]: r["coverage"] for r in published(tmp_path / "www")[0]["communes"]}]
    for i, text in enumerate(steps, 1):
        replication.publish(MONACO_SEQUENCE + i, text, STAMP.format(1 + i, 0))
        twin = _twin(tmp_path, config, f"whole{i}")
        capsys.readouterr()
        assert run(config) == 0
        err = capsys.readouterr().err
        assert "the area the data covers changed: the coverage of " in err
        assert "counting these again" in err and "whole set" not in err
        code = ["06150", "06091"][(i - 1) % 2]
        assert (f"{code}, outside the data, now hold cameras: their rows come" in err) == (i < 3)
        assert (f"{code}, outside the data, no longer hold a camera: their rows go" in err) == (i > 2)
        _assert_whole(tmp_path, twin, capsys)
        coverage.append({r["insee"]: r["coverage"] for r in published(tmp_path / "www")[0]["communes"]})
    assert coverage[0] == coverage[4] == {"06012": 0.324, "06032": 0.07}
    assert [coverage[i].get("06150") for i in range(5)] == [None, 0.103, 0.103, None, None]
    assert [coverage[i].get("06091") for i in range(5)] == [None, None, 0.015, 0.015, None]


def test_a_camera_that_takes_the_data_out_of_the_commune_holding_it_is_counted_whole(
    saint_barthelemy, osm_dir, replication, tmp_path, net_env, capsys
):
    """Saint-Barthélemy's relation takes in the sea: under 2 % of it lies inside the data,
    whose area is drawn from all its sampled nodes and its cameras, but it holds all of the
    data, so it has a row. A camera mapped west of it, in the extract's box but outside the
    relation, takes the data's area out of it far from its outline: the whole count then
    covers no commune and refuses (exit 4), and so does the run, instead of a patch that
    kept the row (0 cameras) or left an empty table; the set in place stays."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    assert [(r["insee"], r["coverage"]) for r in published(tmp_path / "www")[0]["communes"]] == [
        ("97-7", 0.007)]
    before = _set_files(tmp_path / "www")
    state = (osm_dir / "saint-barthelemy" / "saint_barthelemy.state.txt").read_text()
    sequence = int(state.split("sequenceNumber=")[1].split()[0])
    west = Obj("node", NEW_NODE, 1, {"man_made": "surveillance", "surveillance:type": "camera"},
               -63.0403, 17.901)
    replication.publish(sequence + 1, osc(create=[west]), "2015-03-26T01:00:00Z")
    twin = _twin(tmp_path, config, "whole")
    refused = "none of the 1 selected communes is covered by the data of"
    for path in (twin, config):
        capsys.readouterr()
        assert run(path) == 4
        assert refused in capsys.readouterr().err
    assert _set_files(tmp_path / "www") == before
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        (shape,) = db.execute("SELECT shape FROM kept_communes WHERE insee = '97-7'").fetchone()
    assert not shapely.from_wkb(shape).intersects(shapely.Point(-63.0403, 17.901))  # off the relation


def _lamballe(replication, monaco_2025, communes_06, ign_dir, ign_shapes, cog_population,
              tmp_path) -> tuple[Path, Obj]:
    """A refreshed store of the Monaco extract, the 06 communes and Lamballe-Armor (22093),
    whose population a note of the communes explains (`test_a_patched_set_names_…`), and a
    camera at a point of Lamballe-Armor, to be mapped."""
    communes_22 = ign_dir / "communes-22-cotes-d-armor.geojson"
    config = write_config(tmp_path, monaco_2025, replication.url,
                          boundaries=[str(communes_06), str(communes_22)], population=str(cog_population),
                          names=[*FRENCH, "22093"])
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    point = ign_shapes(communes_22)["22093"].representative_point()
    return config, Obj("node", NEW_NODE, 1, {"man_made": "surveillance"}, point.x, point.y)


def test_a_patched_set_names_as_without_population_only_those_a_whole_count_names(
    replication, monaco_2025, communes_06, ign_dir, ign_shapes, cog_population, tmp_path, net_env, capsys
):
    """Lamballe-Armor (22093) took in Meslin, Morieux and others after 2018: the COG 2026
    gives its population for them all, the IGN 2018 outlines give each its own, so it has
    none here, which a note of the communes says (not the warning that names the communes
    without population, as for a code unknown to the table). A camera mapped there gives it
    a row by a patch, whose warnings are those of the whole path."""
    config, camera = _lamballe(replication, monaco_2025, communes_06, ign_dir, ign_shapes, cog_population,
                               tmp_path)
    replication.publish(MONACO_SEQUENCE + 1, osc(create=[camera]), STAMP.format(2, 0))
    twin = _twin(tmp_path, config, "whole")
    capsys.readouterr()
    assert run(config) == 0
    assert "22093, outside the data, now hold cameras: their rows come" in capsys.readouterr().err
    report = published(tmp_path / "www")[0]
    assert [r["population"] for r in report["communes"] if r["insee"] == "22093"] == [None]
    assert any("Lamballe-Armor (22093): its population in" in w for w in report["warnings"])
    assert not any("no population" in w for w in report["warnings"])
    _assert_whole(tmp_path, twin, capsys)


def test_a_store_without_the_notes_on_population_is_counted_whole_once(
    replication, monaco_2025, communes_06, ign_dir, ign_shapes, cog_population, inside, tmp_path, net_env,
    capsys
):
    """A store that an older osmcams wrote keeps no notes on population (nor what a new row
    needs): Lamballe-Armor (22093), whose population a note explains, has a row there. A
    camera mapped in Beausoleil then does not give a patch that names Lamballe-Armor as
    without population, which the whole path does not: that run counts every commune, and
    keeps the notes; the next one patches. Each set and store equal the whole path's."""
    config, lamballe = _lamballe(replication, monaco_2025, communes_06, ign_dir, ign_shapes, cog_population,
                               tmp_path)
    replication.publish(MONACO_SEQUENCE + 1, osc(create=[lamballe]), STAMP.format(2, 0))
    assert run(config, "--quiet") == 0
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:  # as an older osmcams wrote it
        (text,) = db.execute("SELECT value FROM kept_state WHERE name = 'report'").fetchone()
        state = json.loads(text)
        del state["population_notes"], state["areas_kept"]
        db.execute("UPDATE kept_state SET value = ? WHERE name = 'report'", (json.dumps(state),))
        db.execute("DELETE FROM kept_state WHERE name = 'attributes'")
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    for i in (2, 3):
        created = Obj("node", NEW_NODE + i, 1, camera, *inside("06012"))
        replication.publish(MONACO_SEQUENCE + i, osc(create=[created]), STAMP.format(1 + i, 0))
        twin = _twin(tmp_path, config, f"whole{i}")
        capsys.readouterr()
        assert run(config) == 0
        assert ("counting these again" in capsys.readouterr().err) == (i == 3)
        assert not any("no population" in w for w in published(tmp_path / "www")[0]["warnings"])
        _assert_whole(tmp_path, twin, capsys)


def test_a_patch_records_the_counts_and_changes_in_the_order_of_a_whole_count(
    replication, monaco_2025, communes_06, cog_population, inside, tmp_path, net_env, capsys
):
    """Communes named out of the order of their codes, and cameras of one commune whose keys
    sort as text otherwise than as an extract (node/20000000001 before node/9000000001): a
    patch records the run's counts and changes in the order that the whole path records
    them (the communes in the published order, the cameras in the extract's), which the
    site lists."""
    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          population=str(cog_population), names=["06104", "06032", "06012"])
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    camera = {"man_made": "surveillance", "surveillance:type": "camera"}
    created = [Obj("node", node, 1, camera, *inside(code)) for node, code in [
        (NEW_NODE, "06012"), (9_000_000_001, "06012"), (NEW_NODE + 1, "06032"), (9_000_000_002, "06032")]]
    replication.publish(MONACO_SEQUENCE + 1, osc(create=created), STAMP.format(2, 0))
    twin = _twin(tmp_path, config, "whole")
    capsys.readouterr()
    assert run(config) == 0
    assert "counting these again" in capsys.readouterr().err
    with sqlite3.connect(tmp_path / "www" / "history.sqlite") as db:
        assert db.execute("SELECT key, insee FROM changes WHERE run = 2 ORDER BY rowid").fetchall() == [
            ("node/9000000002", "06032"), (f"node/{NEW_NODE + 1}", "06032"),
            ("node/9000000001", "06012"), (f"node/{NEW_NODE}", "06012")]
    _assert_whole(tmp_path, twin, capsys)


def test_a_first_run_covers_what_count_covers_on_a_sampled_file(
    shared_data, ign_dir, replication, tmp_path, net_env, monkeypatch
):
    """München tiled 37 times over France (benchmarks/make_tiled_pbf.py): 185 node blocks,
    of which 128 are sampled. The cameras of the tiles the sampling missed are points of
    the estimate; the refresh keeps them with the standalone nodes, and draws the area that
    count draws: every commune's coverage is a fresh count's (it was 0.0 for communes
    holding a missed tile's cameras, that count covered)."""
    tiled = benchmark_script("make_tiled_pbf", monkeypatch)
    tiled.build(shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf", 26, tmp_path / "tiled.osm.pbf")
    pbf = tmp_path / "replicated.osm.pbf"
    run_osmium("cat", tmp_path / "tiled.osm.pbf", "-o", pbf, "--overwrite",
               f"--output-header=osmosis_replication_base_url={replication.url}",
               "--output-header=osmosis_replication_sequence_number=1000",
               "--output-header=osmosis_replication_timestamp=2026-01-01T00:00:00Z")
    replication.set_latest(1000, "2026-01-01T00:00:00Z")
    from osmcams.refresh.mirror import SAMPLES_FORMAT
    from osmcams.sources.osm.blocks import sampled

    assert 0.5 < sampled(pbf).fraction < 1
    config = write_config(tmp_path, pbf, replication.url, boundaries=[str(ign_dir)], all=True)
    assert run(config, "--quiet") == 0
    expected = fresh_count(pbf, net_env, every=True, boundaries=(ign_dir,))
    rows = {r["insee"]: r["coverage"] for r in published(tmp_path / "www")[0]["communes"]}
    assert rows == {r["insee"]: r["coverage"] for r in expected.rows}
    # A store whose estimate's points an earlier osmcams kept (without those cameras): the
    # next run reads the extract again, and keeps them.
    store = tmp_path / "www" / "history.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM kept_state WHERE name = 'samples_format'")
    assert run(config, "--quiet") == 0
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT value FROM kept_state WHERE name = 'samples_format'").fetchone() == (
            str(SAMPLES_FORMAT),)
    assert {r["insee"]: r["coverage"] for r in published(tmp_path / "www")[0]["communes"]} == rows


def test_a_store_that_kept_a_header_box_which_is_not_the_cut_reads_its_box_again(
    shared_data, replication, tmp_path, net_env, capsys
):
    """München 2020, whose header's box holds only part of its data (test_pbf), refreshed
    from a store an osmcams before `box_of_data` built: it kept that box as the cut (written
    here by SQL, and the rows counted again with it: Bezirksteil Gärtnerplatz 54 % covered,
    the box's share by shapely and pyproj). Once migrated, the next run, with no diff to
    apply, reads the extract for its box again: every row's coverage is a fresh count's,
    Gärtnerplatz's 0.15 past the box's; the run after that has nothing new."""
    from test_coverage import bezirksteile, true_shares

    source = shared_data / "osm/big/valhalla-bench-munchen-2020.osm.pbf"
    pbf = tmp_path / "munchen.osm.pbf"
    run_osmium("cat", source, "-o", pbf, f"--output-header=osmosis_replication_base_url={replication.url}",
               "--output-header=osmosis_replication_sequence_number=1000",
               "--output-header=osmosis_replication_timestamp=2020-07-20T12:44:03Z")
    box = [float(v) for v in run_osmium("fileinfo", "-g", "header.boxes", pbf).strip("()\n").split(",")]
    boxed = true_shares(bezirksteile(source, tmp_path), shapely.box(*box))
    replication.set_latest(1000, "2020-07-20T12:44:03Z")
    config = write_config(tmp_path, pbf, replication.url, all=True, admin_level=10)
    assert run(config, "--quiet") == 0

    def coverages() -> dict[str, float]:
        return {r["insee"]: r["coverage"] for r in published(tmp_path / "www")[0]["communes"]}

    expected = {r["insee"]: r["coverage"] for r in fresh_count(pbf, net_env, every=True, admin_level=10).rows}
    assert coverages() == expected and expected["r67030"] >= boxed["r67030"] + 0.15
    store = tmp_path / "www" / "history.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("UPDATE kept_state SET value = ? WHERE name = 'bbox'", (json.dumps(box),))
        db.execute("DELETE FROM kept_state WHERE name = 'communes'")  # its rows counted with it
    assert run(config, "--quiet") == 0
    assert coverages()["r67030"] == pytest.approx(boxed["r67030"], abs=0.001)
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA user_version = 13")  # the schema before the box was checked again
    capsys.readouterr()
    assert run(config) == 0
    assert "munchen.osm.pbf: the box of its header, kept as its cut by an earlier osmcams, is not its " \
           "cut" in capsys.readouterr().err
    assert coverages() == expected
    assert run(config) == 0
    assert "nothing new" in capsys.readouterr().err


def test_a_store_whose_box_is_unchecked_reads_it_once_even_when_a_run_fails_on_its_diffs(
    saint_barthelemy, tmp_path, capsys
):
    """A store migrated from schema 13 reads its extract for its box once. A run that failed
    on the replication server (down: exit 5, nothing kept) read it first, for nothing, and
    the next one again: each failing hourly run read the whole extract. The box is read once
    the diffs are in, and kept: the header's, as osmium fileinfo gives it."""
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    assert run(config, "--quiet") == 0
    store = tmp_path / "www" / "history.sqlite"
    with sqlite3.connect(store) as db:  # a box an earlier osmcams kept, not the one of the data
        db.execute("UPDATE kept_state SET value = ? WHERE name = 'bbox'",
                   (json.dumps([-62.9, 17.8, -62.8, 17.9]),))
        db.execute("PRAGMA user_version = 13")
    text = config.read_text()
    config.write_text(text.replace("[source]", '[source]\nreplication_url = "http://127.0.0.1:9/replication/"'))
    said = "sbh.osm.pbf: the box of its header, kept as its cut by an earlier osmcams, is not its cut"
    capsys.readouterr()
    for _ in range(2):
        assert run(config) == 5
        err = capsys.readouterr().err
        assert "cannot reach 127.0.0.1:9" in err and said not in err
    config.write_text(text)
    assert run(config) == 0
    assert said in capsys.readouterr().err
    assert run(config) == 0
    assert said not in capsys.readouterr().err
    header = run_osmium("fileinfo", "-g", "header.boxes", saint_barthelemy).strip("()\n").split(",")
    with sqlite3.connect(store) as db:
        kept = dict(db.execute("SELECT name, value FROM kept_state WHERE name IN ('bbox', 'box_unchecked')"))
    assert kept == {"bbox": json.dumps([float(v) for v in header])}


def test_the_store_gives_a_commune_s_counts_by_its_name(
    replication, monaco_2025, communes_06, inside, ign_shapes, tmp_path, net_env, capsys
) -> None:
    """Store.counts takes the commune's name, as `history --commune` does, not only its code:
    the runs of a real refresh (Monaco 2025, then a diff adding a camera in Beausoleil), its
    cameras at each run those osmium's tags-filter holds inside its IGN outline (shapely),
    then one more; a misspelt name is CommuneNotFound with the closest name, never []."""
    from conftest import parse_opl
    from shapely.geometry import Point

    from osmcams.errors import CommuneNotFound
    from osmcams.store.history import Store

    config = write_config(tmp_path, monaco_2025, replication.url, boundaries=[str(communes_06)],
                          names=["Beausoleil", "06032"])
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config) == 0
    added = Obj("node", NEW_NODE, 1, {"man_made": "surveillance"}, *inside("06012"))
    replication.publish(MONACO_SEQUENCE + 1, osc(create=[added]), STAMP.format(2, 0))
    assert run(config) == 0
    outline = ign_shapes(communes_06)["06012"]
    tagged = parse_opl(run_osmium("tags-filter", monaco_2025, "n/man_made=surveillance", "-f", "opl",
                                  "-o", "-"))
    before = sum(outline.covers(Point(node.lon, node.lat)) for node in tagged)
    assert before == 1
    store = Store(tmp_path / "www" / "history.sqlite", read_only=True)
    try:
        by_code = store.counts("06012")
        assert [run["cameras"] for run in by_code] == [before, before + 1]
        for name in ("Beausoleil", "beausoleil", " BEAUSOLEIL "):
            assert store.counts(name) == by_code
        with pytest.raises(CommuneNotFound, match=r"did you mean Beausoleil \(06012\)\?"):
            store.counts("Beausoliel")
    finally:
        store.close()


def test_a_new_extract_read_whole_tells_a_move_out_of_every_commune_from_a_deletion(
    replication, monaco_2025, communes_06, ign_shapes, tmp_path, net_env, capsys,
):
    """Two new extracts read whole (not diffs applied): in the first, the Cap-d'Ail camera moved
    into Monaco (in none of the communes) and the Beausoleil one is deleted; in the second,
    the first is in La Turbie. The first camera moved out, then in, the second was removed,
    as osmium finds each object in each extract, and the counts follow."""
    from shapely.geometry import Point

    shapes = ign_shapes(communes_06)
    monaco, turbie = (7.4170, 43.7314), (7.3968, 43.7456)
    assert not [code for code in ("06012", "06032", "06104", "06150") if shapes[code].covers(Point(monaco))]
    assert shapes["06150"].covers(Point(turbie))
    pbf = tmp_path / "extract.osm.pbf"
    run_osmium("cat", monaco_2025, "-o", pbf)
    config = write_config(tmp_path, pbf, replication.url, boundaries=[str(communes_06)], names=FRENCH)
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    assert run(config, "--quiet") == 0
    nodes = read_objects(monaco_2025, "node", {6482706094, 10147090782})
    leaves, deleted = nodes[6482706094], nodes[10147090782]
    assert shapes["06032"].covers(Point(leaves.lon, leaves.lat))
    assert shapes["06012"].covers(Point(deleted.lon, deleted.lat))
    found = [_surveillance_objects(pbf)]  # in each extract, as osmium finds them
    summaries = ["+0 −1 cameras (1 moved out of the communes) in 2 communes",
                 "+0 −0 cameras (1 moved in from outside) in 1 commune"]
    for step, place in enumerate((monaco, turbie), 1):
        leaves.version += 1
        leaves.lon, leaves.lat = place
        diff = tmp_path / f"{step}.osc"
        diff.write_text(osc(modify=[leaves], delete=[deleted] if step == 1 else []))
        stamp = STAMP.format(1 + step, 0)
        run_osmium("apply-changes", pbf, diff, "-o", tmp_path / "new.osm.pbf", "--overwrite")
        run_osmium("cat", tmp_path / "new.osm.pbf", "-o", pbf, "--overwrite",
                   f"--output-header=osmosis_replication_base_url={replication.url}",
                   f"--output-header=osmosis_replication_sequence_number={MONACO_SEQUENCE + step}",
                   f"--output-header=osmosis_replication_timestamp={stamp}")
        found.append(_surveillance_objects(pbf))
        replication.set_latest(MONACO_SEQUENCE + step, stamp)
        assert run(config) == 0
        assert summaries[step - 1] in capsys.readouterr().err
    assert main(["changes", "--config", str(config), "--since", "2025-02-07T02:00Z", "-f", "csv"]) == 0
    rows = {(r["data_timestamp"], r["key"], r["change"], r["insee"])
            for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    # Gone from every commune: moved out when osmium still finds it, else removed; come into
    # one: moved in when osmium found it in the extract before.
    gone = {key: "moved out" if key in found[1] else "removed"
            for key in ("node/6482706094", "node/10147090782")}
    assert gone == {"node/6482706094": "moved out", "node/10147090782": "removed"}
    came = "moved in" if "node/6482706094" in found[1] else "added"
    assert rows == {("2025-02-07T02:00:00Z", "node/6482706094", gone["node/6482706094"], "06032"),
                    ("2025-02-07T02:00:00Z", "node/10147090782", gone["node/10147090782"], "06012"),
                    ("2025-02-07T03:00:00Z", "node/6482706094", came, "06150")}
    for code in ("06012", "06032", "06150"):  # each commune's changes add up to its counts
        counts, summed = _replayed(config, code)
        assert counts == summed, code


def _surveillance_objects(pbf: Path) -> set[str]:
    """The OSM keys of the man_made=surveillance objects in `pbf`, as osmium-tool finds them."""
    kinds = {"n": "node", "w": "way", "r": "relation"}
    text = run_osmium("tags-filter", "-R", pbf, "man_made=surveillance", "-f", "opl", "-o", "-")
    return {f"{kinds[line[0]]}/{line.split(' ', 1)[0][1:]}" for line in text.splitlines() if line}
