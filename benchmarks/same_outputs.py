"""Every command's output on the real extracts, at two commits, compared byte for byte.

For a change that is meant to change no behaviour (a move, a rename, a new seam):

    python benchmarks/same_outputs.py BEFORE [AFTER]     # AFTER: the work tree

Each commit is checked out in a temporary worktree, its C extensions built there (as
`pip install` builds them: without them it would run the Python twins of its C readers),
and run with its own `src/` first on the path, with an empty cache, offline. The work
tree runs with the extensions built in it: build them again after changing their code.
The outputs (stdout and every file written) are compared after removing what is meant
to differ from one run to the next: the time a file was generated and the age of the
data in days. The data is `../shared/data`:
Monaco, the Riviera, München and London, a history file built from Monaco's and
London's with osmium-tool, and the real Saint-Barthélemy diff.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OSM, BIG = DATA / "osm", DATA / "osm" / "big"
IGN = DATA / "communes/ign-2018-simplified/departements"
IGN_06 = IGN / "communes-06-alpes-maritimes.geojson"
COG = DATA / "population/cog-2026/communes.json"
VOLATILE = [
    (re.compile(r'"generated": "[^"]*"'), '"generated": …'),
    (re.compile(r"\b\d[\d,]* days? old\b"), "… days old"),
    (re.compile(r'"data_age_days": \d+'), '"data_age_days": …'),
]


def commands(work: Path) -> dict[str, list[str]]:
    """Name -> arguments of `osmcams`; `{out}` is the run's own output directory."""
    monaco, riviera = OSM / "monaco-2025-02-07.osm.pbf", BIG / "osrm-monaco-fr-riviera-2016.osm.pbf"
    munchen, london = BIG / "valhalla-bench-munchen-2020.osm.pbf", BIG / "valhalla-bench-london-2020.osm.pbf"
    files = ["--boundaries", str(IGN_06), "--population", str(COG)]
    runs = {
        "monaco-own-relations": ["count", "--all", "--pbf", str(monaco), "-f", "json"],
        "monaco-06-json": ["count", "--department", "06", "--pbf", str(monaco), *files, "-f", "json"],
        "monaco-06-csv": ["count", "--department", "06", "--pbf", str(monaco), *files, "-f", "csv"],
        "monaco-06-markdown": ["count", "--department", "06", "--pbf", str(monaco), *files, "-f", "markdown"],
        "monaco-beausoleil-table": ["count", "--commune", "Beausoleil", "--pbf", str(monaco), *files],
        "monaco-export": ["export", "--department", "06", "--pbf", str(monaco), *files, "--fov",
                          "-o", "{out}/cameras.geojson"],
        "monaco-quality": ["quality", "--department", "06", "--pbf", str(monaco), *files, "-f", "json"],
        "monaco-compare": ["compare", "--department", "06", "--pbf", str(monaco), *files, "-f", "json"],
        "riviera-ign": ["count", "--all", "--pbf", str(riviera), *files, "-f", "json"],
        "riviera-own-relations": ["count", "--all", "--pbf", str(riviera), "-f", "json"],
        "munchen-level-10": ["count", "--all", "--pbf", str(munchen), "--admin-level", "10", "-f", "json"],
        "london-level-8": ["count", "--all", "--pbf", str(london), "-f", "json"],
        "monaco-history": ["timeline", "--pbf", str(work / "monaco.osh.pbf"), *files, "--commune", "06012",
                           "--commune", "06032", "--every", "month", "-f", "json"],
        "london-history": ["timeline", "--pbf", str(work / "london.osh.pbf"), "--all", "-f", "json"],
    }
    return runs


def histories(work: Path) -> None:
    """History files made from the snapshots with osmium-tool (one version of each object)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_history import as_history

    as_history(OSM / "monaco-2025-02-07.osm.pbf", work / "monaco.osh.pbf")
    as_history(BIG / "valhalla-bench-london-2020.osm.pbf", work / "london.osh.pbf")


def build_extensions(tree: Path, scratch: Path) -> None:
    """The C extensions of the commit checked out in `tree` built into its `src/`, with the
    compile flags of its pyproject.toml."""
    import tomllib

    settings = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    modules = [(m["name"], [str(tree / source) for source in m["sources"]], m.get("extra-compile-args", []))
               for m in settings.get("ext-modules", [])]
    if not modules:
        return
    script = ("import json, sys; from setuptools import Extension, setup; setup(name='built', ext_modules="
              "[Extension(n, s, extra_compile_args=a) for n, s, a in json.loads(sys.argv[3])], "
              "script_args=['build_ext', '--build-lib', sys.argv[1], '--build-temp', sys.argv[2]])")
    built = scratch / f"build-{tree.name}"
    built.mkdir()
    # Run outside the tree: setuptools would read its pyproject.toml too.
    subprocess.run([sys.executable, "-c", script, str(tree / "src"), str(built), json.dumps(modules)],
                   cwd=built, check=True, capture_output=True)


def run_all(tree: Path, work: Path, out: Path) -> dict[str, bytes]:
    """What each command printed and wrote, at the commit checked out in `tree`."""
    closed = "http://127.0.0.1:9/"  # no command may reach a network service
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OSMCAMS_CACHE_DIR": str(out / "cache"),
           "COLUMNS": "160", **{f"OSMCAMS_{name}_URL": closed for name in ("OVERPASS", "GEO_API", "DOWNLOAD",
                                                                            "OSMFR")}}
    results: dict[str, bytes] = {}
    for name, args in commands(work).items():
        target = out / name
        target.mkdir(parents=True)
        argv = [a.replace("{out}", str(target)) for a in args]
        done = subprocess.run([sys.executable, "-m", "osmcams", *argv], capture_output=True, env=env)
        results[f"{name}: exit"] = str(done.returncode).encode()
        results[f"{name}: stdout"] = done.stdout.replace(bytes(out), b"OUT")  # each run has its own
        results[f"{name}: stderr"] = done.stderr.replace(bytes(out), b"OUT")
        for path in sorted(target.rglob("*")):
            if path.is_file():
                results[f"{name}: {path.relative_to(target)}"] = path.read_bytes()
    return results


def _steady(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="a commit")
    parser.add_argument("after", nargs="?", help="a commit (default: the work tree)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="osmcams-same-") as scratch:
        work = Path(scratch)
        histories(work)
        trees = []
        for commit in (args.before, args.after):
            if commit is None:
                trees.append(ROOT)
                continue
            tree = work / f"tree-{commit}"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), commit],
                           check=True)
            trees.append(tree)
            build_extensions(tree, work)
        try:
            outputs = [run_all(tree, work, work / f"out-{i}") for i, tree in enumerate(trees)]
        finally:
            for tree in trees:
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])
        before, after = outputs
        differ = 0
        for key in sorted(set(before) | set(after)):
            old, new = _steady(before.get(key, b"<missing>")), _steady(after.get(key, b"<missing>"))
            if old != new:
                differ += 1
                print(f"DIFFERS {key}")
                sys.stdout.writelines(list(difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), "before", "after", n=1))[:40])
        print(f"{len(before | after) - differ} outputs the same, {differ} differ")
        shutil.rmtree(work / "out-0", ignore_errors=True)
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
