"""SIGKILL a refresh at random moments: the set stays whole and consistent, the history
database sound, and the next run ends where an unkilled one would."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fake_replication import Obj, osc
from test_refresh import (  # noqa: F401  (fixtures)
    apply_changes,
    assert_same,
    fresh_count,
    replication,
    saint_barthelemy,
    write_config,
)

from osmcams.cli import main
from osmcams.files import clean_leftovers

KILLS = 32  # runs killed at a random moment (one that ends first is simply a whole run)
SEQUENCE = 1588  # the real diff's


def _diff(i: int) -> str:
    """Camera i appears in Gustavia; camera i - 1 moves; camera i - 2 loses its tags."""
    def camera(j: int, version: int, tags: dict[str, str] | None = None) -> Obj:
        tags = {"man_made": "surveillance", "surveillance:type": "camera"} if tags is None else tags
        return Obj("node", 40_000_000_000 + j, version, tags, -62.85 + j * 1e-4, 17.90 + version * 1e-4)

    create = [camera(i, 1)]
    modify = [camera(i - 1, 2)] if i >= 1 else []
    modify += [camera(i - 2, 3, {"note": "removed"})] if i >= 2 else []
    return osc(create=create, modify=modify)


def _check_published(out: Path) -> int | None:
    """Every file whole and the set consistent; the sequence it shows."""
    if not (out / "communes.json").exists():
        assert not (out / "cameras.geojson").exists()
        return None
    report = json.loads((out / "communes.json").read_text(encoding="utf-8"))
    with open(out / "communes.csv", encoding="utf-8") as f:
        table = {r["insee"]: int(r["cameras"]) for r in csv.DictReader(f)}
    counts = {r["insee"]: r["cameras"] for r in report["communes"]}
    assert table == counts
    features = json.loads((out / "cameras.geojson").read_text(encoding="utf-8"))["features"]
    for code, n in counts.items():
        assert sum(f["properties"]["insee"] == code for f in features) == n
        (commune,) = (out / "communes").glob(f"{code}-*.geojson")
        assert len(json.loads(commune.read_text(encoding="utf-8"))["features"]) == n
    assert not [p for p in out.rglob("*") if ".osmcams-tmp" in p.name]
    return report["meta"]["replication_sequence"]


def _check_database(path: Path) -> int | None:
    if not path.exists():
        return None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if "runs" not in tables:
            return None
        return db.execute("SELECT max(sequence) FROM runs").fetchone()[0]


def _start(config: Path) -> int:
    """A refresh in a forked child (the imports are done already: each run is short)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child)
        code = 1
        try:
            code = main(["refresh", "--config", str(config), "--quiet"])
        finally:
            os._exit(code)
    return pid


def _finish(config: Path) -> float:
    started = time.monotonic()
    _, status = os.waitpid(_start(config), 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return time.monotonic() - started


def test_random_kills_leave_whole_files_and_a_sound_history(
    saint_barthelemy, replication, osm_dir, tmp_path, net_env, monkeypatch  # noqa: F811
):
    config = write_config(tmp_path, saint_barthelemy, None, all=True, admin_level=3)
    out = tmp_path / "www"
    diffs = [osm_dir / "saint-barthelemy" / "saint_barthelemy.osc.gz"]
    sequence = SEQUENCE

    def publish() -> None:
        nonlocal sequence
        sequence += 1
        text = _diff(sequence - SEQUENCE)
        diffs.append(tmp_path / f"{sequence}.osc")
        diffs[-1].write_text(text)
        when = datetime(2015, 3, 26, tzinfo=timezone.utc) + timedelta(hours=sequence - SEQUENCE)
        replication.publish(sequence, text, f"{when:%Y-%m-%dT%H:%M:%SZ}")  # later each time

    # The first run reads the extract, in this process: its imports then serve every child.
    assert main(["refresh", "--config", str(config), "--quiet"]) == 0
    publish()
    duration = _finish(config)  # a run that applies one diff

    scratch = tmp_path / "tmp"  # the children's temporary folder: nothing is left in it
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    rng = random.Random(9)
    kills = 0
    for _ in range(KILLS):
        publish()
        pid = _start(config)
        time.sleep(rng.uniform(0.0, 0.9) * duration)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        kills += os.waitstatus_to_exitcode(status) == -signal.SIGKILL
        clean_leftovers(out)  # what the next run does first
        shown = _check_published(out)
        stored = _check_database(out / "history.sqlite")
        if stored is not None:  # the set is published before the run is committed
            assert shown is not None and shown >= stored
    print(f"{kills} of {KILLS} runs killed before they ended")  # the machine's speed decides

    _finish(config)
    assert _check_published(out) == sequence == _check_database(out / "history.sqlite")
    assert not list(scratch.iterdir())
    merged = apply_changes(saint_barthelemy, diffs, tmp_path / "merged.osm.pbf")
    assert_same(out, fresh_count(merged, net_env, every=True, admin_level=3))
