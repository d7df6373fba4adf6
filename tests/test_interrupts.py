"""Ctrl-C, twice, on real commands with real data, and SIGTERM (cron, systemd, kill): a run
stopped while it writes its outputs ends in one line, by the signal (exit status 130, 143 for
SIGTERM), and leaves nothing behind: no temporary file or folder, no half set, no journal beside its store."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest
from fake_replication import STAMP, Obj, osc
from test_refresh import MONACO_SEQUENCE, inside, replication  # noqa: F401  (fixtures)
from test_site import refresh, write_config

from osmcams.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
DELAYS = [0.0, 0.002, 0.01, 0.05]  # after a run starts writing an output
WRITING = re.compile(r"\.osmcams-tmp-\d+-(?!early-)")
EARLY = re.compile(r"\.osmcams-tmp-\d+-early-")  # a site's downloads, made as its build starts


def stopped(command: list[str], watch: Path, tmp: Path, delay: float, signum: int = signal.SIGINT,
            start: re.Pattern[str] = WRITING) -> tuple[int, str]:
    """Run `command` in a process group of its own, as a shell runs a job; `delay` seconds
    after it starts writing an output in `watch` (a temporary file or a staging folder
    appears there; not a folder of downloads or diffs, made earlier), send `signum` to the
    group (as Ctrl-C does), then again every millisecond until the run ends: a second Ctrl-C
    in its clean-up, and more. `start` names the entries to wait for. Its exit code and
    stderr."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(tmp)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (watch.is_dir() and any(start.match(n) for n in os.listdir(watch))):
            assert process.poll() is None, f"ended before writing: {process.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        time.sleep(delay)
        while process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signum)
            time.sleep(0.001)
        return process.returncode, process.stderr.read()  # type: ignore[union-attr]
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def left(*folders: Path) -> list[Path]:
    """What osmcams runs left in `folders`: temporary entries, SQLite journals."""
    return [p for folder in folders for p in folder.rglob("*")
            if p.name.startswith(".osmcams-") or p.name.endswith(("-journal", "-wal"))]


def told(code: int, err: str, word: str = "interrupted") -> None:
    """An interrupted run says so in one line, without a traceback, and ends by the signal
    (or, stuck past its grace, with the shell's code for it: 130, 143); a run that ended
    first says nothing of it (the signal may then come as Python ends, and end it)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("osmcams: ")]
    if not lines:
        assert code in (0, -signal.SIGINT, -signal.SIGTERM), err
        return
    signum = {"interrupted": signal.SIGINT, "terminated": signal.SIGTERM}[word]
    assert code in (-signum, 128 + signum), err
    assert len(lines) == 1 and lines[0].startswith(f"osmcams: {word}"), err


@pytest.fixture
def temp(tmp_path: Path) -> Path:
    """The runs' TMPDIR: it must stay empty."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("delay", DELAYS)
def test_ctrl_c_twice_in_a_count_leaves_its_geopackage_whole_or_none(
        shared_data: Path, communes_06: Path, tmp_path: Path, temp: Path, delay: float) -> None:
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "osmcams", "count", "--all", "--include-partial", "-q", "--boundaries",
               str(communes_06), "--pbf", str(shared_data / "osm/monaco-2025-02-07.osm.pbf"),
               "-o", str(out / "ranking.gpkg")]
    code, err = stopped(command, out, temp, delay)
    told(code, err)
    assert not left(out, temp), err
    found = [p.name for p in out.iterdir()]
    assert found in ([], ["ranking.gpkg"])  # a Ctrl-C once it was in place: it stays
    if found:
        with sqlite3.connect(out / "ranking.gpkg") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            # Beausoleil, Cap-d'Ail and Roquebrune-Cap-Martin: the communes partly in the data
            assert db.execute("SELECT count(*) FROM communes").fetchone()[0] == 3


@pytest.mark.parametrize("delay", DELAYS)
def test_ctrl_c_twice_in_an_export_leaves_one_whole_set(
        shared_data: Path, communes_06: Path, tmp_path: Path, temp: Path, delay: float) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "osmcams", "export", "--department", "06", "-q", "--overwrite",
               "--pbf", str(shared_data / "osm/monaco-2025-02-07.osm.pbf"), "--boundaries",
               str(communes_06), "--output-dir", str(out)]
    assert subprocess.run(command, env={**os.environ, "PYTHONPATH": str(SRC)}).returncode == 0
    names = sorted(p.name for p in out.iterdir())
    code, err = stopped([*command, "--with-boundary"], out, temp, delay)
    told(code, err)
    assert not left(out, temp), err
    assert sorted(p.name for p in out.iterdir()) == names
    kinds = {json.loads(p.read_text(encoding="utf-8"))["features"][0]["geometry"]["type"] == "Point"
             for p in out.iterdir() if json.loads(p.read_text(encoding="utf-8"))["features"]}
    assert len(kinds) == 1, kinds  # every file with its outline, or none


def site_titles(site: Path) -> set[str]:
    """The titles of the site's pages (but its maps')."""
    return {re.search(r"<title>(?:.* — )?(.*?)</title>", p.read_text(encoding="utf-8")).group(1)
            for p in site.rglob("*.html") if not p.name.endswith("map.html")}


def sound(store: Path) -> None:
    """The store opens, passes SQLite's integrity check and has no journal beside it."""
    assert not store.with_name(f"{store.name}-journal").exists()
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] >= 1


@pytest.fixture
def kept(replication, monaco_2025, communes_06, cog_population, tmp_path, net_env) -> Path:  # noqa: F811
    """The configuration of a store and a site of the Alpes-Maritimes, after a first refresh."""
    config = write_config(tmp_path, monaco_2025, replication.url, communes_06, cog_population)
    replication.set_latest(MONACO_SEQUENCE, "2025-02-07T01:02:45Z")
    refresh(config)
    return config


def test_ctrl_c_twice_in_a_site_build_leaves_the_old_site_or_the_new(
        kept: Path, tmp_path: Path, temp: Path) -> None:
    site = tmp_path / "site"
    for i, delay in enumerate(DELAYS):
        kept.write_text(re.sub(r'title = ".*"', f'title = "Edition {i}"', kept.read_text(encoding="utf-8")),
                        encoding="utf-8")
        code, err = stopped([sys.executable, "-m", "osmcams", "site", "-q", "--config", str(kept)],
                            site, temp, delay)
        told(code, err)
        assert not left(tmp_path), err
        assert len(site_titles(site)) == 1


def test_ctrl_c_as_a_site_build_imports_its_libraries_is_one_line(
        kept: Path, tmp_path: Path, temp: Path) -> None:
    """The folder of a site's downloads is made as its build starts, before it imports numpy,
    shapely and orjson: Ctrl-C then, again and again, is one line and exit 130 (raised in the
    initialisation of a C extension, it made numpy's import fail, a traceback, and crashed
    orjson's: the process died of a segmentation fault, leaving its folders)."""
    for i in range(20):  # the first Ctrl-C from 0 to 190 ms after the folder appears
        code, err = stopped([sys.executable, "-m", "osmcams", "site", "-q", "--config", str(kept)],
                            tmp_path / "site", temp, i * 0.01, start=EARLY)
        told(code, err)
        assert not left(tmp_path), err


@pytest.mark.parametrize(("signum", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")],
                         ids=["ctrl-c", "sigterm"])
def test_a_refresh_stopped_twice_leaves_a_sound_store_and_whole_sets(
        kept: Path, replication, inside, tmp_path: Path, temp: Path, signum: int, word: str) -> None:  # noqa: F811
    """Ctrl-C, or SIGTERM as systemd sends it to stop the service (to the whole group),
    in the publication of the outputs, then of the site; the next run brings all up to date."""
    site, www = tmp_path / "site", tmp_path / "www"
    for i, delay in enumerate(DELAYS * 2):
        camera = Obj("node", 20_000_000_100 + i, 1, {"man_made": "surveillance"}, *inside("06012"))
        replication.publish(MONACO_SEQUENCE + 1 + i, osc(create=[camera]), STAMP.format(2 + i, 0))
        kept.write_text(re.sub(r'title = ".*"', f'title = "Edition {i}"', kept.read_text(encoding="utf-8")),
                        encoding="utf-8")
        watch = site if i >= len(DELAYS) else www  # in its site phase, or from its first diff
        code, err = stopped([sys.executable, "-m", "osmcams", "refresh", "-q", "--config", str(kept)],
                            watch, temp, delay, signum)
        told(code, err, word)
        assert not left(tmp_path), err
        sound(www / "history.sqlite")
        assert len(site_titles(site)) == 1
    refresh(kept)  # and the next run brings all up to date
    assert site_titles(site) == {f"Edition {len(DELAYS) * 2 - 1}"}
    sound(www / "history.sqlite")


def test_a_shell_script_stops_with_the_run_it_was_running(
        shared_data: Path, communes_06: Path, tmp_path: Path, temp: Path) -> None:
    """Ctrl-C in a script that counts town after town stops the script, not only the town's
    count: bash goes on with its next command when the child it waited for exits 130, and
    stops when the child ends by the signal, as osmcams now does once it has cleaned up.
    SIGTERM likewise ends it by the signal: systemd takes a run it stops for stopped, not
    failed (an exit status of 143 is a failure to it)."""
    out = tmp_path / "out"
    out.mkdir()
    count = [sys.executable, "-m", "osmcams", "count", "--all", "--include-partial", "-q", "--boundaries",
             str(communes_06), "--pbf", str(shared_data / "osm/monaco-2025-02-07.osm.pbf"),
             "-o", str(out / "ranking.gpkg"), "--overwrite"]
    script = f"{' '.join(count)}; echo the script went on, status $? >&2"
    code, err = stopped(["bash", "-c", script], out, temp, 0.0)
    assert "the script went on" not in err and code == -signal.SIGINT, err  # bash stopped in turn
    assert [line for line in err.splitlines() if line.startswith("osmcams: ")] == ["osmcams: interrupted"]
    code, err = stopped(count, out, temp, 0.0, signal.SIGTERM)
    assert code == -signal.SIGTERM, err
    assert [line for line in err.splitlines() if line.startswith("osmcams: ")] == ["osmcams: terminated"]
    assert not left(out, temp), err


def test_what_a_killed_read_leaves_in_the_temporary_folder_the_next_run_removes(
        monaco_2025: Path, tmp_path: Path, temp: Path) -> None:
    """SIGKILL (the OOM killer, a crash) a count that reads its boundaries from the PBF, each
    time as soon as it has made a folder in TMPDIR (its copies of PBF blocks, hundreds of MB
    on a large extract): the next run removes them, so that they never pile up."""
    command = [sys.executable, "-m", "osmcams", "count", "--commune", "Monaco", "--admin-level", "2",
               "-q", "--pbf", str(monaco_2025)]
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(temp),
           "OSMCAMS_CACHE_DIR": str(tmp_path / "cache")}

    def ours() -> set[str]:
        """What osmcams made in TMPDIR (not the file by which Python first tries the folder)."""
        return {name for name in os.listdir(temp) if "osmcams" in name}

    for _ in range(3):
        before = ours()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not ours() - before and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        process.kill()
        assert process.wait() == -signal.SIGKILL, "ended before it made a temporary folder"
    assert ours()  # what the killed runs left
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert ours() == set()


def test_ctrl_c_as_a_temporary_file_is_made_leaves_nothing(
        shared_data: Path, communes_06: Path, tmp_path: Path, temp: Path) -> None:
    """Ctrl-C the moment the temporary file of an output appears, again and again: the file
    is never left behind (it was when the signal came before osmcams knew its name)."""
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "osmcams", "count", "--all", "--include-partial", "-q", "--boundaries",
               str(communes_06), "--pbf", str(shared_data / "osm/monaco-2025-02-07.osm.pbf"),
               "-o", str(out / "ranking.gpkg"), "--overwrite"]
    for _ in range(12):
        code, err = stopped(command, out, temp, 0.0)
        told(code, err)
        assert not left(out, temp), err


def test_a_site_killed_while_it_is_published_is_finished_by_the_next_run(
        kept: Path, replication, inside, tmp_path: Path) -> None:  # noqa: F811
    """SIGKILL a refresh once its site's set is committed and its site.json, among the first
    files moved into place, is the new one, while the pages are being moved: the next run,
    finding nothing new, finishes that set, rather than take the site for up to date with
    pages of both."""
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "osmcams", "refresh", "-q", "--config", str(kept)]
    caught = 0
    for i in range(3):
        camera = Obj("node", 20_000_000_200 + i, 1, {"man_made": "surveillance"}, *inside("06012"))
        replication.publish(MONACO_SEQUENCE + 1 + i, osc(create=[camera]), STAMP.format(2 + i, 0))
        kept.write_text(re.sub(r'title = ".*"', f'title = "Edition {i}"', kept.read_text(encoding="utf-8")),
                        encoding="utf-8")
        before = (site / "site.json").stat().st_ino
        process = subprocess.Popen(command, env=env)
        deadline = time.monotonic() + 120
        while (site / "site.json").stat().st_ino == before:  # replaced: the set is being moved
            assert process.poll() is None and time.monotonic() < deadline, "no publication seen"
            time.sleep(0.0001)
        process.kill()
        process.wait()
        if not list(site.glob(".osmcams-tmp-*/.osmcams-commit.json")):  # all moved first
            continue
        caught += 1
        assert len(site_titles(site)) == 2  # the pages of both
        assert main(["refresh", "-q", "--config", str(kept)]) == 0
        assert not left(site)
        assert site_titles(site) == {f"Edition {i}"}
    assert caught


# A Ctrl-C that another thread takes while the main thread runs a fork's handlers (logging's
# lock released in the parent), as a terminal sends it to the process while a site forks.
FORK_SCRIPT = """
import os, signal, threading, time
from osmcams import cli, forks
signal.signal(signal.SIGINT, cli._on_interrupt)
asked = threading.Event()
def send():
    asked.wait()
    os.kill(os.getpid(), signal.SIGINT)  # to the process: this thread, which does not hold it, takes it
sender = threading.Thread(target=send, daemon=True)
sender.start()
def in_parent():
    if not asked.is_set():
        asked.set()
        sender.join()
        for _ in range(100_000):  # Python code, where the handler runs
            pass
os.register_at_fork(after_in_parent=in_parent)
try:
    pid = forks.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    time.sleep(1)
except KeyboardInterrupt:
    print("raised after the fork")
"""


def test_ctrl_c_in_the_handlers_of_a_fork_is_raised_after_it() -> None:
    """A signal sent to the process is taken by any thread that does not hold it: one that
    came while the main thread ran a fork's handlers was raised there, where Python ignores
    an exception and prints its traceback, and the run went on. It is raised once the fork
    has returned."""
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert (done.returncode, done.stdout, done.stderr) == (0, "raised after the fork\n", "")
