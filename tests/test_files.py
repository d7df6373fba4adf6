"""Atomic outputs: single files, sets published all or nothing, leftovers of killed runs."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from osmcams.errors import OutputError, UsageError
from osmcams.files import COMMIT, atomic_open, clean_leftovers, publish, temp_folder

SRC = Path(__file__).resolve().parents[1] / "src"


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def files(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): p.read_text()
        for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_publish_writes_the_set_and_leaves_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    names = {"a": "a.txt", "b": "sub/b.txt"}
    with publish(out, names) as paths:
        for label, path in paths.items():
            path.write_text(label)
    assert files(out) == {"a.txt": "a", "sub/b.txt": "b"}
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "sub"]


def test_publish_keeps_unchanged_files_and_removes_what_it_is_told(tmp_path: Path) -> None:
    (tmp_path / "same.txt").write_text("same")
    (tmp_path / "old.txt").write_text("old")
    (tmp_path / "other.txt").write_text("not ours")
    before = (tmp_path / "same.txt").stat().st_ino
    with publish(tmp_path, {"s": "same.txt", "n": "new.txt"}, overwrite=True, remove=["old.txt"]) as p:
        p["s"].write_text("same")
        p["n"].write_text("new")
    assert files(tmp_path) == {"new.txt": "new", "other.txt": "not ours", "same.txt": "same"}
    assert (tmp_path / "same.txt").stat().st_ino == before  # not rewritten


def test_publish_leaves_optional_files_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").write_text("old b")
    with publish(tmp_path, {"a": "a.txt", "b": "b.txt", "c": "c.txt"}, overwrite=True,
                 optional=True) as paths:
        paths["b"].write_text("new b")
    assert [(p.name, p.read_text()) for p in sorted(tmp_path.iterdir())] == [
        ("a.txt", "old a"), ("b.txt", "new b")]
    with pytest.raises(ValueError, match="was not written"), publish(  # without optional
            tmp_path, {"a": "a.txt"}, overwrite=True):
        pass


def test_publish_changes_nothing_when_the_block_fails(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), publish(tmp_path, {"a": "a.txt", "b": "b.txt"}, True) as paths:
        paths["a"].write_text("new")
        raise RuntimeError("cut short")
    assert files(tmp_path) == {"a.txt": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    with pytest.raises(RuntimeError), publish(tmp_path / "fresh", {"a": "a.txt"}) as paths:
        raise RuntimeError("cut short")
    assert not (tmp_path / "fresh").exists()  # a directory it made is taken back


@pytest.mark.parametrize(("names", "words"), [
    ({"X4": "x4.geojson", "Ｘ４": "ｘ４.geojson"}, "X4 and Ｘ４ would both be written"),
    ({"upper": "A.txt", "lower": "a.txt"}, "would both be written"),
    ({"dot": "../a.txt"}, "not a file name inside"),
    ({"dot": "."}, "not a file name inside"),
    ({"abs": "/etc/passwd"}, "not a file name inside"),
    ({"ours": ".osmcams-tmp-1-x"}, "not a file name inside"),
])
def test_publish_refuses_bad_sets_before_writing(tmp_path: Path, names, words: str) -> None:
    with pytest.raises(UsageError, match=words), publish(tmp_path / "out", names):
        pytest.fail("the block must not run")
    assert list(tmp_path.iterdir()) == []


def test_publish_refuses_existing_files_without_overwrite(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("kept")
    with pytest.raises(UsageError, match=r"b\.txt exists"), publish(tmp_path, {"a": "a.txt", "b": "b.txt"}):
        pytest.fail("the block must not run")
    assert files(tmp_path) == {"b.txt": "kept"}


def test_leftovers_of_dead_runs_are_removed_or_finished(tmp_path: Path) -> None:
    dead = dead_pid()
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").write_text("old b")
    # A run killed halfway through its commit: a.txt moved already, b.txt not yet.
    committed = tmp_path / f".osmcams-tmp-{dead}-c0ffee"
    committed.mkdir()
    (committed / "b.txt").write_text("new b")
    (committed / COMMIT).write_text(json.dumps({"move": ["a.txt", "b.txt"], "remove": []}))
    (tmp_path / "a.txt").write_text("new a")
    # A run killed before its commit, a temporary file and a GeoPackage journal.
    uncommitted = tmp_path / f".osmcams-tmp-{dead}-beef"
    uncommitted.mkdir()
    (uncommitted / "a.txt").write_text("newer a")
    (tmp_path / f".osmcams-tmp-{dead}-x.abc.tmp.gpkg").write_text("half")
    (tmp_path / f".osmcams-tmp-{dead}-x.abc.tmp.gpkg-journal").write_text("half")
    # Entries of a live run, and names that are not ours, stay.
    mine = tmp_path / f".osmcams-tmp-{os.getpid()}-live"
    mine.mkdir()
    (tmp_path / ".osmcams-tmp-notapid").write_text("not ours")
    clean_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".osmcams-tmp-notapid", mine.name, "a.txt", "b.txt"]
    )
    assert (tmp_path / "a.txt").read_text() == "new a"
    assert (tmp_path / "b.txt").read_text() == "new b"


def test_a_folder_written_before_the_set_goes_with_its_run(tmp_path: Path) -> None:
    """`temp_folder` (the site's downloads, written beside the pages): made in the set's
    directory, kept while its run lives, removed by the next publish once it died."""
    out = tmp_path / "out"
    code = ("import sys; from osmcams.files import temp_folder; folder = temp_folder(sys.argv[1]);"
            " (folder / 'cameras.gpkg').write_text('half'); print(folder)")
    dead = Path(subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True,
                               check=True).stdout.strip())
    mine = temp_folder(out)
    assert dead.parent == out == mine.parent and (dead / "cameras.gpkg").is_file()
    with publish(out, {"a.txt": "a.txt"}) as paths:
        paths["a.txt"].write_text("a")
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.txt", mine.name])
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError):
        temp_folder(tmp_path / "file")


def test_a_new_folder_of_the_set_moves_whole(tmp_path: Path) -> None:
    """A folder not in place yet arrives in one rename (its inode is the staged one); a
    folder in place gets its files one by one; a run killed after the folder's rename is
    finished by the next."""
    out = tmp_path / "out"
    (out / "kept").mkdir(parents=True)
    (out / "kept" / "x.html").write_text("old x")
    names = {n: n for n in ("kept/x.html", "new/a.html", "new/b.html", "top.txt")}
    with publish(out, names, overwrite=True) as paths:
        for name, path in paths.items():
            path.write_text(f"new {name}")
        staged = os.stat(paths["new/a.html"].parent).st_ino
    assert files(out) == {n: f"new {n}" for n in names}
    assert os.stat(out / "new").st_ino == staged
    dead = dead_pid()  # killed after the folder's rename, before top.txt moved
    committed = out / f".osmcams-tmp-{dead}-c0ffee"
    (committed / "other").mkdir(parents=True)
    (committed / "other" / "c.html").write_text("c")
    (committed / "top.txt").write_text("newer top")
    (committed / COMMIT).write_text(json.dumps({"move": ["other/c.html", "other/d.html", "top.txt"],
                                                "remove": []}))
    clean_leftovers(out)  # other/ is not in place: it moves whole (d.html left before the kill)
    assert (out / "other" / "c.html").read_text() == "c" and not (out / "other" / "d.html").exists()
    assert (out / "top.txt").read_text() == "newer top" and not committed.exists()


def test_the_files_of_a_large_set_move_in_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files of a large set replace theirs in several threads (where the file system
    discards freed blocks as it goes, a rename over a file can wait milliseconds: the waits
    overlap), every one of them, and the files to remove go; a run killed halfway through
    its moves is finished by the next the same way."""
    import threading

    out = tmp_path / "out"
    names = {name: name for name in (f"{i % 3}/{i:03}.txt" for i in range(60))}
    for name in names:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(f"old {name}")
    (out / "gone.txt").write_text("old")
    threads: set[int] = set()
    replace = os.replace

    def watched(source: Any, target: Any) -> None:
        threads.add(threading.get_ident())
        replace(source, target)

    monkeypatch.setattr(os, "replace", watched)
    with publish(out, names, overwrite=True, remove=["gone.txt"]) as paths:
        for name, path in paths.items():
            path.write_text(f"new {name}")
    assert files(out) == {name: f"new {name}" for name in names}
    assert len(threads) > 2  # the commit list's rename, and the moves' threads
    dead = dead_pid()  # killed once half of the files had moved
    committed = out / f".osmcams-tmp-{dead}-c0ffee"
    for i, name in enumerate(names):
        place = out / name if i % 2 else committed / name
        place.parent.mkdir(parents=True, exist_ok=True)
        place.write_text(f"newer {name}")
    (committed / COMMIT).write_text(json.dumps({"move": list(names), "remove": []}))
    threads.clear()
    clean_leftovers(out)
    assert files(out) == {name: f"newer {name}" for name in names} and not committed.exists()
    assert len(threads) > 1


def test_a_single_file_is_one_line_when_the_disk_refuses(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*x\.txt"), atomic_open(tmp_path / "x.txt") as out:
        out.write("a")
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


# --- Kills at random moments ---------------------------------------------------------------

PUBLISHER = """
import sys
from osmcams.files import publish
out, generation = sys.argv[1], sys.argv[2]
names = {str(i): f"{i // 50}/{i:03}.txt" for i in range(200)}
with publish(out, names, overwrite=True) as paths:
    for label, path in paths.items():
        path.write_text(f"{generation}\\n" * 200)
"""


def run_and_kill(argv: list[str], after: float) -> bool:
    """Run `argv`, SIGKILL it after `after` seconds; whether it finished first."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child.wait(after)
        return True
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
        return False


def consistent(out: Path, phases: dict[str, int]) -> set[str]:
    """The generations the files of `out` hold, after the cleaning the next run does first."""
    staging = [p for p in out.iterdir() if p.name.startswith(".osmcams-tmp-")]
    phase = "committing" if any((p / COMMIT).exists() for p in staging) else (
        "writing" if staging else "before or after")
    phases[phase] = phases.get(phase, 0) + 1
    clean_leftovers(out)
    assert not [p for p in out.iterdir() if p.name.startswith(".osmcams-tmp-")]
    contents = files(out)
    return {text.split("\n", 1)[0] for text in contents.values()} if contents else set()


def test_a_killed_publish_leaves_the_old_set_or_the_new(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [sys.executable, "-c", PUBLISHER, str(out)]
    start = time.monotonic()
    assert run_and_kill([*argv, "0"], 60)
    full = time.monotonic() - start
    rng = random.Random(7)
    current, phases = "0", {}
    for generation in map(str, range(1, 21)):  # 20 runs, killed at random moments
        run_and_kill([*argv, generation], rng.uniform(0.2, 1.1) * full)
        found = consistent(out, phases)
        assert found in ({current}, {generation}), found
        assert len(files(out)) == 200
        current = found.pop()
    print("kills by phase:", phases)  # where the kills fell depends on the machine: printed only


CTRL_C_AT_COMMIT = """
import signal, sys
from osmcams.files import COMMIT, publish
def hook(event, args):  # Ctrl-C the moment the commit list is renamed into place
    if event == "os.rename" and str(args[1]).endswith(COMMIT):
        signal.raise_signal(signal.SIGINT)
sys.addaudithook(hook)
try:
    with publish(sys.argv[1], {"a.txt": "a.txt", "b.txt": "sub/b.txt"}, overwrite=True) as paths:
        for path in paths.values():
            path.write_text(sys.argv[2])
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("text", ["old", "new"], ids=["same files", "new files"])
def test_ctrl_c_once_a_set_is_committed_waits_for_the_set_to_be_in_place(tmp_path: Path, text: str) -> None:
    """A Ctrl-C just after the commit list was in place dropped the decided set (a moment
    later, it left the set to the next run: a staging folder holding only the list when no
    file had changed, as CI once found): the run told to stop now puts the set in place,
    then stops."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "a.txt").write_text("old")
    (out / "sub" / "b.txt").write_text("old")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", CTRL_C_AT_COMMIT, str(out), text], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "sub"]
    assert files(out) == {"a.txt": text, "sub/b.txt": text}


def test_a_killed_export_leaves_whole_files_of_one_run(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "osmcams", "export", "--department", "06", "-q", "--overwrite",
            "--pbf", str(shared_data / "osm/monaco-2025-02-07.osm.pbf"), "--output-dir", str(out),
            "--boundaries", str(shared_data / "communes/ign-2018-simplified/departements"
                                "/communes-06-alpes-maritimes.geojson")]
    start = time.monotonic()
    assert run_and_kill(argv, 120)
    full = time.monotonic() - start
    names = sorted(files(out))
    rng = random.Random(8)
    phases: dict[str, int] = {}
    for run in range(8):  # 8 runs, killed at random moments, alternately with outlines or not
        with_boundary = run % 2 == 0
        run_and_kill(argv + ["--with-boundary"] * with_boundary, rng.uniform(0.4, 1.1) * full)
        consistent(out, phases)
        kinds = {
            tuple(f["geometry"]["type"] == "Point" for f in json.loads(text)["features"][:1])
            for text in files(out).values()
        }
        assert sorted(files(out)) == names
        assert kinds <= {(True,), ()} or kinds <= {(False,)}, kinds  # all outlined, or none
    print("export kills by phase:", phases)


def limited_file_size() -> None:
    """In the child: files stop growing at 1,000 bytes, as on a full disk (EFBIG, not a signal)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))


@pytest.mark.parametrize("args", [
    ["export", "--department", "06", "--output-dir", "out", "--with-boundary"],
    ["export", "--commune", "06012", "-o", "x.gpkg", "--with-boundary"],
    ["export", "--commune", "06012", "-o", "x.parquet"],
    ["count", "--department", "06", "-o", "x.json"],
])
def test_a_full_disk_is_one_line_and_leaves_nothing(
    shared_data: Path, tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "06012-beausoleil.geojson").write_text("old")
    argv = [sys.executable, "-m", "osmcams", *args, "-q", "--overwrite",
            "--pbf", str(shared_data / "osm/monaco-2025-02-07.osm.pbf"),
            "--boundaries", str(shared_data / "communes/ign-2018-simplified/departements"
                                "/communes-06-alpes-maritimes.geojson")]
    result = subprocess.run(argv, cwd=tmp_path, preexec_fn=limited_file_size, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.returncode == 2, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("osmcams: error: cannot write ") and "Traceback" not in result.stderr
    assert ".osmcams-tmp" not in last
    assert files(tmp_path) == {"out/06012-beausoleil.geojson": "old"}
    assert not [p for p in tmp_path.rglob(".*")]


@pytest.mark.parametrize("fmt", ["csv", "gpkg"])
def test_o_dev_stdout_writes_through_the_shells_redirection(tmp_path: Path, fmt: str) -> None:
    """`-o /dev/stdout > file` (the way the error for `-o -` suggests) and `>> file`: written
    through the descriptor, after what was there; the link stays a link, nothing beside it.
    A link of the test's own to /proc/self/fd/1 stands for /dev/stdout (a link to it), which
    was refused as an existing file, and with --overwrite replaced by a regular file."""
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    out = tmp_path / f"out.{fmt}"
    command = [sys.executable, "-m", "osmcams", "count", "--demo", "-f", fmt, "-o", str(link), "-q"]
    for mode in ("wb", "ab") if fmt == "csv" else ("wb",):  # a GeoPackage is one file from its start
        with open(out, mode) as f:
            if fmt == "csv":
                f.write(b"before\n")
                f.flush()
            subprocess.run(command, stdout=f, check=True, timeout=120)
        assert link.is_symlink() and {p.name for p in tmp_path.iterdir()} == {link.name, out.name}
    if fmt == "csv":
        text = out.read_text(encoding="utf-8")
        first, _, second = text.partition("before\ninsee,")[2].partition("before\ninsee,")
        assert text.startswith("before\ninsee,") and first and second and first == second
    else:
        import pyogrio

        layer = pyogrio.read_dataframe(out)  # the demo's five communes, whole
        assert layer.loc[layer["cameras"].isna(), "insee"].tolist() == ["06091", "06150"]  # outside
