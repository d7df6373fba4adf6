"""Time osmcams against one osmium-tool pass over the same PBF, in the same run.

Every task runs in a child process; its wall time and peak RSS come from
os.wait4. Ratios are given against two floors run in the same round: `osmium
tags-filter -R` with OSMIUM_POOL_THREADS set to every core (one decode of the
file), and the inflate floor (floor.py: every blob inflated once on every core,
nothing parsed), the least any reader of the file must do. Each keeps its best run.

Usage:
  python benchmarks/run.py --size-mb 500            # build a tiled PBF, then time
  python benchmarks/run.py --size-mb 991 --spread 0.32,0.29   # over all mainland France
  python benchmarks/run.py --pbf FILE --json out.json
  python benchmarks/run.py --smoke                  # ~8 MB, correctness only
  python benchmarks/run.py --size-mb 100 --timeline  # timeline on two history files
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_history
import make_tiled_pbf

DATA = Path(__file__).resolve().parents[2] / "shared/data"
BOUNDARIES = DATA / "communes/ign-2018-simplified/departements"
POPULATION = DATA / "population/cog-2026/communes.json"
CAMERA_FILTER = "nwr/man_made=surveillance"
NOTHING_FILTER = "nwr/osmcams_benchmark=matches_nothing"
INFLATE_FLOOR = Path(__file__).resolve().parent / "floor.py"
INFLATE_TASK = "inflate floor (floor.py)"
LAZY_MODULES = ("geopandas", "osmium", "pyproj", "pandas", "shapely", "requests")
SMOKE_MB = 8.0
# The package's own entry point: needs no `osmcams` script on PATH.
OSMCAMS = (sys.executable, "-m", "osmcams")
HELP_REPEATS = 5

# Child that extracts the cameras and prints one id per line (n123, w45, r6).
EXTRACT = (
    "import sys\n"
    "from osmcams.sources.osm.pbf import read_cameras\n"
    "extract = read_cameras(sys.argv[1], int(sys.argv[2]))\n"
    "sys.stdout.write(''.join(f'{c.osm_type[0]}{c.osm_id}\\n' for c in extract.cameras))\n"
)

# Child that reads a history file and prints how many cameras its last version holds.
TIMELINE = (
    "import sys\n"
    "import numpy\n"
    "from osmcams.sources.osm.osh import read_history\n"
    "history = read_history(sys.argv[1], int(sys.argv[2]))\n"
    "print(int((~numpy.isnan(history.columns.lon[history.columns.ends - 1])).sum()))\n"
)


# Runs a command and writes [wall s, CPU s, peak RSS kB, exit code] to the descriptor it is
# given. Linux counts the RSS of the process that forks in its child's peak (all of it after
# a vfork, as subprocess does), so commands are started from this small process rather than
# from the benchmark, which holds hundreds of MB once it has built a file.
LAUNCH = (
    "import json, os, sys, time\n"
    "start = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if not pid:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "done = [time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,\n"
    "        os.waitstatus_to_exitcode(status)]\n"
    "os.write(int(sys.argv[1]), json.dumps(done).encode())\n"
)


@dataclass
class Timing:
    """One task: its wall and CPU (user + system) time, peak RSS and what it found."""

    task: str
    wall_s: float
    rss_mb: float
    found: int | None = None
    cpu_s: float = 0.0


def cached(path: Path) -> None:
    """Read `path` through, into the page cache. libosmium drops the pages of a file it has
    read (posix_fadvise DONTNEED): a task timed after osmium would otherwise read the file
    from disk, and the inflate floor, timed just after it, took 2.76 s instead of 2.2."""
    buffer = bytearray(16 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass


def compile_package() -> None:
    """Write the bytecode of osmcams's modules first, as `pip install` does. An editable
    install run with PYTHONDONTWRITEBYTECODE set (as on this machine and in CI) would
    otherwise compile every module it imports in every task, the sieve's workers too: 0.1 –
    0.4 s of a task's time, more for the refresh than for a count."""
    import compileall

    import osmcams

    compileall.compile_dir(Path(osmcams.__file__).parent, quiet=1)


def measure(task: str, command: Sequence[str | os.PathLike[str]], env: dict[str, str] | None = None,
            reads: Path | None = None) -> tuple[Timing, str]:
    """Run `command` to the end, through LAUNCH: its timing and its standard output. The
    files that earlier tasks wrote are on disk first, so that it does not wait for them, and
    the file it `reads` is in the page cache, as it is for every task."""
    os.sync()
    if reads is not None:
        cached(reads)
    report, writer = os.pipe()
    with tempfile.TemporaryFile("w+") as out, open(report, "rb") as reader:
        child = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(writer), *map(str, command)], stdout=out,
            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, pass_fds=(writer,),
        )
        os.close(writer)
        stderr = child.stderr.read()  # type: ignore[union-attr]
        child.wait()
        wall, cpu, rss_kb, code = json.loads(reader.read() or b"[0, 0, 0, -1]")
        if code or child.returncode:
            raise RuntimeError(f"{task} failed ({code}): {stderr[-2000:]}")
        out.seek(0)
        return Timing(task, wall, rss_kb / 1024, cpu_s=cpu), out.read()


def osmium_objects(pbf: Path) -> dict[str, int]:
    """Nodes, ways and relations of a file, as `osmium fileinfo -e` counts them."""
    done = subprocess.run(["osmium", "fileinfo", "-e", "-j", str(pbf)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["data"]["count"]


def osmium_ids(pbf: Path) -> set[str]:
    """The ids (n123, w45, r6) of the objects of a file, from osmium's OPL."""
    done = subprocess.run(["osmium", "cat", str(pbf), "-f", "opl", "-o", "-"],
                          capture_output=True, text=True, check=True)
    return {line.split(" ", 1)[0] for line in done.stdout.splitlines()}


def floor(pbf: Path, out: Path, threads: int, expression: str = CAMERA_FILTER) -> Timing:
    """One osmium tags-filter pass over `pbf` on `threads` threads, into `out`."""
    timing, _ = measure(
        f"osmium tags-filter ({threads} thr)" + ("" if expression == CAMERA_FILTER else ", no match"),
        ["osmium", "tags-filter", "-R", pbf, expression, "-o", out, "-O"],
        {"OSMIUM_POOL_THREADS": str(threads)}, reads=pbf,
    )
    return timing


def inflate_floor(pbf: Path) -> Timing:
    """floor.py on `pbf`: every blob inflated once, on every core."""
    return measure(INFLATE_TASK, [sys.executable, INFLATE_FLOOR, pbf], reads=pbf)[0]


def extract(pbf: Path, threads: int) -> tuple[Timing, set[str]]:
    """osmcams.sources.osm.pbf.read_cameras in a child; threads=0 is the default (every core)."""
    label = "osmcams extraction " + (f"({threads} thr)" if threads else "(default)")
    timing, out = measure(label, [sys.executable, "-c", EXTRACT, pbf, str(threads)], reads=pbf)
    ids = set(out.split())
    timing.found = len(ids)
    return timing, ids


def count_all(pbf: Path, out: Path, label: str, *options: str | os.PathLike[str],
              cache: Path | None = None) -> tuple[Timing, dict]:
    """`osmcams count --all` written as JSON to `out`, and its JSON."""
    timing, _ = measure(label, [*OSMCAMS, "count", "--all", "--pbf", pbf, *options,
                                "-f", "json", "-o", out, "--overwrite", "-q"],
                        {"OSMCAMS_CACHE_DIR": str(cache)} if cache else None, reads=pbf)
    report = json.loads(out.read_text())
    timing.found = report["meta"]["cameras_total"]
    return timing, report


def count_ign(pbf: Path, out: Path, cache: Path, label: str = "") -> tuple[Timing, dict]:
    """count --all against the 35,357 IGN communes with the COG population; partly covered
    communes included, so that every camera inside a commune is in a row (`in_communes`)."""
    return count_all(pbf, out, f"count --all (IGN communes{label})", "--boundaries", BOUNDARIES,
                     "--population", POPULATION, "--include-partial", cache=cache)


def best(runs: list[Timing]) -> Timing:
    """The fastest of several runs of one task, with the highest peak RSS seen."""
    fastest = min(runs, key=lambda t: t.wall_s)
    fastest.rss_mb = max(t.rss_mb for t in runs)
    if len(runs) > 1:
        fastest.task += f", best of {len(runs)}"
    return fastest


def best_wall(command: Sequence[str]) -> float:
    """The best wall time of HELP_REPEATS runs of `command`."""
    return min(measure(" ".join(command), command)[0].wall_s for _ in range(HELP_REPEATS))


def help_times() -> dict[str, float]:
    """Best-of-5 wall times of --help and of an empty interpreter."""
    return {
        "python -c pass": best_wall([sys.executable, "-c", "pass"]),
        "python -m osmcams --help": best_wall([*OSMCAMS, "--help"]),
        "python -m osmcams count --help": best_wall([*OSMCAMS, "count", "--help"]),
    }


def lazy_imports() -> list[str]:
    """Heavy modules imported by `osmcams count --help` (should be none)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "osmcams", "count", "--help"],
                          capture_output=True, text=True, check=True)
    imported = set(re.findall(r"^import time:.*\|\s*(\S+)$", done.stderr, re.MULTILINE))
    return sorted(m for m in imported if m.split(".")[0] in LAZY_MODULES)


def check(timing: Timing, expected: int, what: str) -> None:
    """Fail loudly when a task found other than `expected` objects."""
    if timing.found != expected:
        raise AssertionError(f"{what}: {timing.task} found {timing.found}, osmium {expected}")


def in_communes(report: dict, total: int) -> int:
    """The cameras counted in communes; fails unless with those outside every commune they
    make osmium's `total` (a commune left out of the rows would lose its cameras)."""
    counted = sum(row["cameras"] for row in report["communes"])
    outside = report["meta"]["cameras_outside"]
    if counted + outside != total:
        raise AssertionError(f"count --all: {counted} in communes + {outside} outside != {total}")
    return counted


def smoke(source: Path, workdir: Path) -> dict[str, int]:
    """Build a small tiled PBF and check osmcams against osmium; no timing is judged."""
    pbf = workdir / "smoke.osm.pbf"
    make_tiled_pbf.build(source, SMOKE_MB, pbf)
    matched = workdir / "osmium.osm.pbf"
    floor(pbf, matched, os.cpu_count() or 1)
    expected = osmium_ids(matched)
    _, ids = extract(pbf, 0)
    if ids != expected:
        raise AssertionError(f"camera ids differ: {len(ids - expected)} only in osmcams, "
                             f"{len(expected - ids)} only in osmium")
    _, report = count_ign(pbf, workdir / "count.json", workdir / "cache")
    counted = in_communes(report, len(ids))
    return {"cameras": len(ids), "ways": sum(i[0] == "w" for i in ids), "in_communes": counted}


def benchmark(pbf: Path, objects: int, workdir: Path, admin_level: int | None,
              repeat: int = 1, main_only: bool = False) -> dict:
    """Time every task on `pbf`, checking counts against osmium as it goes.

    The main tasks run `repeat` times, interleaved, and keep their best time;
    each round's first `count` starts from an empty cache, its second reuses it.
    `main_only` leaves out the rows at 1 and 2 threads and the PBF boundaries.
    """
    cores = os.cpu_count() or 1
    matched = workdir / "osmium.osm.pbf"
    load = [os.getloadavg()[0]]
    rounds: dict[str, list[Timing]] = {}
    for round_ in range(repeat):
        cache = workdir / f"cache-{round_}"
        shutil.rmtree(cache, ignore_errors=True)
        for timing in (
            floor(pbf, matched, cores),
            inflate_floor(pbf),
            extract(pbf, 0)[0],
            count_ign(pbf, workdir / "ign.json", cache, ", empty cache")[0],
            count_ign(pbf, workdir / "ign.json", cache, ", warm cache")[0],
        ):
            rounds.setdefault(timing.task, []).append(timing)
    main = [best(runs) for runs in rounds.values()]
    expected = sum(osmium_objects(matched).values())
    for timing in main[2:]:
        check(timing, expected, timing.task)
    report = json.loads((workdir / "ign.json").read_text())
    in_communes(report, expected)
    timings = main[:2]
    if not main_only:
        timings += [floor(pbf, workdir / "nothing.osm.pbf", cores, NOTHING_FILTER),
                    floor(pbf, matched, 1)]
    timings.append(main[2])
    if not main_only:
        for threads in (1, 2):
            timings.append(extract(pbf, threads)[0])
            check(timings[-1], expected, "extraction")
    timings += main[3:]
    if admin_level is not None and not main_only:
        timing, report = count_all(pbf, workdir / "admin.json",
                                   f"count --all (PBF admin_level={admin_level})",
                                   "--admin-level", str(admin_level))
        timing.task += f", {len(report['communes'])} boundaries"
        timings.append(timing)
    load.append(os.getloadavg()[0])
    return {
        "pbf": str(pbf),
        "bytes": pbf.stat().st_size,
        "objects": objects,
        "cameras": expected,
        "cores": cores,
        "cpu": cpu_model(),
        "load_before_after": load,
        "timings": [asdict(t) for t in timings],
        "help_s": help_times(),
        "heavy_imports_on_help": lazy_imports(),
    }


def latest_cameras(history: Path, workdir: Path) -> int:
    """Cameras in the last snapshot of a history file: osmium time-filter, then tags-filter."""
    snapshot = workdir / "latest.osm.pbf"
    subprocess.run(["osmium", "time-filter", str(history), "-o", str(snapshot), "-O"],
                   capture_output=True, check=True)
    matched = workdir / "latest-cameras.osm.pbf"
    floor(snapshot, matched, os.cpu_count() or 1)
    return sum(osmium_objects(matched).values())


def timeline_read(history: Path) -> Timing:
    """osmcams.sources.osm.osh.read_history in a child, on every core."""
    timing, out = measure("osmcams timeline reading", [sys.executable, "-c", TIMELINE, history, "0"],
                          reads=history)
    timing.found = int(out)
    return timing


def timeline_all(history: Path, out: Path, cache: Path) -> Timing:
    """`osmcams timeline --all` against the IGN communes, yearly, as JSON."""
    timing, _ = measure("timeline --all (IGN communes, yearly)",
                        [sys.executable, "-m", "osmcams", "timeline", "--all", "--pbf", history,
                         "--boundaries", BOUNDARIES,
                         "--population", POPULATION, "-f", "json", "-o", out, "--overwrite", "-q"],
                        {"OSMCAMS_CACHE_DIR": str(cache)}, reads=history)
    timing.found = json.loads(out.read_text())["meta"]["cameras_at_last_date"]
    return timing


def timeline_case(pbf: Path, workdir: Path, repeat: int = 1) -> list[dict]:
    """The timeline on `pbf` read as history and on `pbf` with diffs applied, against osmium."""
    cores = os.cpu_count() or 1
    files = {
        "snapshot as history": make_history.as_history(pbf, workdir / "as-history.osh.pbf"),
        "apply-changes -H": make_history.with_diffs(pbf, workdir / "with-diffs.osh.pbf"),
    }
    warm = ("import sys; from osmcams.communes.boundaries import load_communes; "
            "load_communes([sys.argv[1]], sys.argv[2], cache_dir=sys.argv[3])")
    measure("boundary cache", [sys.executable, "-c", warm, BOUNDARIES, POPULATION, workdir / "cache"])
    results = []
    for name, history in files.items():
        expected = latest_cameras(history, workdir)
        load = [os.getloadavg()[0]]
        rounds: dict[str, list[Timing]] = {}
        for _ in range(repeat):
            for timing in (floor(history, workdir / "osmium.osh.pbf", cores), inflate_floor(history),
                           timeline_read(history),
                           timeline_all(history, workdir / "timeline.json", workdir / "cache")):
                rounds.setdefault(timing.task, []).append(timing)
        timings = [best(runs) for runs in rounds.values()]
        load.append(os.getloadavg()[0])
        for timing in timings[2:]:
            check(timing, expected, name)
        results.append({
            "pbf": f"{history} ({name})", "bytes": history.stat().st_size,
            "objects": sum(osmium_objects(history).values()), "cameras": expected, "cores": cores,
            "cpu": cpu_model(), "load_before_after": load, "timings": [asdict(t) for t in timings],
        })
    return results


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, where Linux gives it."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1) if found else "unknown"


def show(results: dict) -> None:
    """Print the results as a table, with throughput and the ratios to both floors."""
    from rich.console import Console
    from rich.table import Table

    size_mb, objects = results["bytes"] / 1e6, results["objects"]
    osmium, inflate = results["timings"][0], results["timings"][1]
    table = Table(title=f"{results['pbf']}: {size_mb:,.0f} MB, {objects:,} objects, "
                        f"{results['cameras']:,} cameras; {results['cores']} cores, {results['cpu']}")
    for name in ("task", "wall s", "peak RSS MB", "× osmium", "× inflate", "CPU s",
                 "CPU × osmium", "CPU × inflate", "MB/s", "objects/s", "found"):
        table.add_column(name, justify="left" if name == "task" else "right")
    for t in results["timings"]:
        wall, cpu = t["wall_s"], t["cpu_s"]
        table.add_row(t["task"], f"{wall:.2f}", f"{t['rss_mb']:,.0f}",
                      f"{wall / osmium['wall_s']:.2f}", f"{wall / inflate['wall_s']:.2f}",
                      f"{cpu:.2f}", f"{cpu / osmium['cpu_s']:.2f}", f"{cpu / inflate['cpu_s']:.2f}",
                      f"{size_mb / wall:,.0f}", f"{objects / wall:,.0f}",
                      "" if t["found"] is None else f"{t['found']:,}")
    Console(width=200).print(table)
    if "load_before_after" in results:
        before, after = results["load_before_after"]
        print(f"1-minute load average: {before:.2f} before, {after:.2f} after")
    if "help_s" not in results:
        return
    baseline = results["help_s"]["python -c pass"]
    for name, wall in results["help_s"].items():
        extra = "" if name.startswith("python") else f" ({wall - baseline:.3f} s over python -c pass)"
        print(f"{name}: best of {HELP_REPEATS} {wall:.3f} s{extra}")
    heavy = results["heavy_imports_on_help"]
    print("heavy modules imported by `osmcams count --help`: " + (", ".join(heavy) or "none"))


def work_directory(stack: contextlib.ExitStack, path: Path | None) -> Path:
    """``path``, made if needed, or a temporary directory removed when ``stack`` closes."""
    if path is None:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="osmcams-bench-")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--size-mb", type=float, help="build a tiled PBF of this size, MB")
    what.add_argument("--pbf", type=Path, help="time this PBF instead")
    what.add_argument("--smoke", action="store_true", help="~8 MB, check correctness only")
    parser.add_argument("--source", type=Path, default=make_tiled_pbf.DEFAULT_SOURCE,
                        help="extract to tile (default: München 2020)")
    parser.add_argument("--spread", type=make_tiled_pbf.spacing, metavar="DX,DY",
                        help="with --size-mb: tiles this many degrees apart over mainland France")
    parser.add_argument("--admin-level", type=int, default=10,
                        help="admin_level of boundaries read from the PBF (München has only "
                             "10 complete, no 8)")
    parser.add_argument("--no-pbf-boundaries", action="store_true",
                        help="skip count --all with boundaries from the PBF")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the main tasks, the best kept (default 3)")
    parser.add_argument("--main-only", action="store_true",
                        help="only the floor, the extraction and count (no 1/2-thread rows)")
    parser.add_argument("--workdir", type=Path,
                        help="where to build and keep files (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--timeline", action="store_true",
                        help="time `timeline` on the file read as history and with diffs applied")
    args = parser.parse_args(argv)
    compile_package()
    with contextlib.ExitStack() as stack:
        workdir = work_directory(stack, args.workdir)
        if args.smoke:
            results = smoke(args.source, workdir)
            print(f"smoke: osmcams and osmium agree: {results}")
        else:
            if args.pbf:
                pbf, objects = args.pbf, 0 if args.timeline else sum(osmium_objects(args.pbf).values())
            else:
                pbf = workdir / "tiled.osm.pbf"
                built = make_tiled_pbf.build(args.source, args.size_mb, pbf, spread=args.spread)
                objects = built["nodes"] + built["ways"] + built["relations"]
            if args.timeline:
                results = timeline_case(pbf, workdir, args.repeat)
                for result in results:
                    show(result)
            else:
                level = None if args.no_pbf_boundaries else args.admin_level
                results = benchmark(pbf, objects, workdir, level, args.repeat, args.main_only)
                show(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
