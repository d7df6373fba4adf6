"""Time `osmcams refresh` applying replication diffs against `osmcams count` on the same file.

The PBF (the tiled file of run.py, or one built here) gets a replication header naming a
local server (`osmium cat --output-header`), which then serves:

- one "hourly" diff: 3,000 nodes moved, 300 ways retagged, 20 ways that become cameras
  (their nodes are not in the diff), 20 cameras moved, 10 deleted, 50 created;
- then --minutely small diffs (50 nodes moved and one camera created each), applied in one
  run: the catch-up rate in diffs per second.

Every task runs in a child process (wall time and peak RSS from os.wait4, see run.py);
the ratio is that of the hourly refresh to `count --all` against the IGN communes.

Usage:
  python benchmarks/refresh.py --size-mb 100
  python benchmarks/refresh.py --pbf tiled.osm.pbf --workdir /tmp/bench --json refresh.json
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from xml.sax.saxutils import quoteattr

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_tiled_pbf
from run import BOUNDARIES, POPULATION, compile_package, count_ign, measure, work_directory

SEQUENCE = 1_000
START = "2026-01-01T00:00:00Z"


def _path(sequence: int) -> str:
    text = f"{sequence:09d}"
    return f"{text[0:3]}/{text[3:6]}/{text[6:9]}"


class Replication:
    """A directory served over HTTP on 127.0.0.1 by `python -m http.server`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def publish(self, sequence: int, osc: str, stamp: str) -> None:
        target = self.root / f"{_path(sequence)}.osc.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(osc.encode()))
        state = f"sequenceNumber={sequence}\ntimestamp={stamp.replace(':', chr(92) + ':')}\n"
        target.with_name(target.name.replace(".osc.gz", ".state.txt")).write_text(state)
        (self.root / "state.txt").write_text(state)

    def close(self) -> None:
        self.server.kill()
        self.server.wait()





ATTRIBUTES = f'timestamp="{START}" changeset="1" uid="1" user="bench"'


def _tags(tags: dict[str, str]) -> str:
    return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())


def _node(i: int, version: int, lon: float, lat: float, tags: dict[str, str]) -> str:
    position = f'lat="{lat:.7f}" lon="{lon:.7f}"'
    return f'<node id="{i}" version="{version}" {ATTRIBUTES} {position}>{_tags(tags)}</node>'


def _way(i: int, version: int, refs: list[int], tags: dict[str, str]) -> str:
    body = "".join(f'<nd ref="{r}"/>' for r in refs) + _tags(tags)
    return f'<way id="{i}" version="{version}" {ATTRIBUTES}>{body}</way>'


def _osc(modify: list[str], create: Sequence[str] = (), delete: Sequence[str] = ()) -> str:
    parts = ['<osmChange version="0.6" generator="osmcams benchmark">']
    for action, items in (("create", create), ("modify", modify), ("delete", delete)):
        if items:
            parts.append(f"<{action}>{''.join(items)}</{action}>")
    return "\n".join([*parts, "</osmChange>"]) + "\n"


def _sample(pbf: Path, workdir: Path) -> tuple[list, list]:
    """Nodes of a few node blocks and ways of one way block, read block by block."""
    import osmium

    from osmcams.sources.osm import blocks

    layout = blocks.index(pbf)
    node_blocks, way_blocks = layout.blocks["node"], layout.blocks["way"]
    subset = workdir / "sample.osm.pbf"
    picks = {b.first_id for b in node_blocks[len(node_blocks) // 3 :: max(1, len(node_blocks) // 6)]}
    blocks.write_subset(pbf, layout, "node", picks, subset)
    nodes = [(n.id, n.version, n.location.lon, n.location.lat, dict(n.tags))
             for n in osmium.FileProcessor(str(subset), osmium.osm.NODE) if n.location.valid()]
    blocks.write_subset(pbf, layout, "way", {way_blocks[len(way_blocks) // 2].first_id}, subset)
    ways = [(w.id, w.version, [n.ref for n in w.nodes], dict(w.tags))
            for w in osmium.FileProcessor(str(subset), osmium.osm.WAY)]
    return nodes, ways


def hourly_diff(nodes: list, ways: list, cameras: list, rng: random.Random) -> str:
    """The hourly diff described in the module docstring."""
    moved = [_node(i, v + 1, lon + 1e-5, lat + 1e-5, tags)
             for i, v, lon, lat, tags in rng.sample(nodes, 3000)]
    chosen = rng.sample(ways, 320)
    retagged = [_way(i, v + 1, refs, {**tags, "note": "benchmark"})
                for i, v, refs, tags in chosen[:300]]
    became = [_way(i, v + 1, refs, {**tags, "man_made": "surveillance"})
              for i, v, refs, tags in chosen[300:]]
    picked = rng.sample(cameras, 30)
    camera_moves = [_node(i, 2, lon + 1e-4, lat, json.loads(tags))
                    for i, lon, lat, tags in picked[:20]]
    deleted = [_node(i, 2, lon, lat, {}) for i, lon, lat, _ in picked[20:]]
    created = [_node(9_000_000_000 + k, 1, lon + 1e-4 * (k + 1), lat, {"man_made": "surveillance"})
               for k, (_, lon, lat, _) in enumerate(rng.choices(cameras, k=50))]
    return _osc(moved + retagged + became + camera_moves, created, deleted)


def _size(folder: Path) -> dict[str, float]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {"files": len(files), "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1)}


def benchmark(pbf: Path, workdir: Path, minutely: int, site: bool = False) -> dict:
    replicated = workdir / "replicated.osm.pbf"
    server = Replication(workdir / "replication")
    try:
        subprocess.run(["osmium", "cat", pbf, "-o", replicated, "--overwrite",
                        f"--output-header=osmosis_replication_base_url={server.url}",
                        f"--output-header=osmosis_replication_sequence_number={SEQUENCE}",
                        f"--output-header=osmosis_replication_timestamp={START}"], check=True)
        (workdir / "replication" / "state.txt").write_text(
            f"sequenceNumber={SEQUENCE}\ntimestamp={START.replace(':', chr(92) + ':')}\n")
        out = workdir / "www"
        shutil.rmtree(out, ignore_errors=True)
        config = workdir / "osmcams.toml"
        config.write_text(
            f'[source]\npbf = "{replicated}"\n[communes]\nboundaries = ["{BOUNDARIES}"]\n'
            f'population = "{POPULATION}"\nall = true\n[output]\ndir = "{out}"\n'
            + (f'[site]\ndir = "{workdir / "site"}"\ntitle = "Benchmark"\n'
               'base_url = "https://example.org/"\n' if site else ""))
        shutil.rmtree(workdir / "site", ignore_errors=True)
        cache = workdir / "cache"
        env = {"OSMCAMS_CACHE_DIR": str(cache)}
        count_ign(replicated, workdir / "count.json", cache, ", cold cache")  # fills the cache
        count = min((count_ign(replicated, workdir / "count.json", cache)[0] for _ in range(2)),
                    key=lambda t: t.wall_s)
        refresh = [sys.executable, "-m", "osmcams", "refresh", "--config", str(config), "--quiet"]
        first, _ = measure("refresh, first run (reads the extract)", refresh, env)
        built = []
        if site:
            command = [sys.executable, "-m", "osmcams", "site", "--config", str(config), "--quiet"]
            # Written into an empty folder: the first run's site is moved aside and removed at the
            # end, as removing its 40,000 files just before would slow the creation of the new
            # ones on ext4 without a journal (it skips recently freed inodes, one by one).
            shutil.rmtree(workdir / "site-before", ignore_errors=True)
            (workdir / "site").rename(workdir / "site-before")
            built = [measure("site, written whole from the history", command, env)[0]]

        rng = random.Random(1)
        nodes, ways = _sample(replicated, workdir)
        with sqlite3.connect(out / "history.sqlite") as db:
            cameras = [(int(k.split("/")[1]), lon, lat, tags) for k, lon, lat, tags in db.execute(
                "SELECT key, lon, lat, tags FROM kept_objects WHERE key LIKE 'node/%'")]
        server.publish(SEQUENCE + 1, hourly_diff(nodes, ways, cameras, rng), "2026-01-01T01:00:00Z")
        hourly, _ = measure("refresh, one hourly diff", refresh, env)

        for k in range(minutely):
            moved = [_node(i, v + 2, lon - 1e-5, lat, tags)
                     for i, v, lon, lat, tags in rng.sample(nodes, 50)]
            lon, lat = cameras[k % len(cameras)][1:3]
            new = [_node(9_100_000_000 + k, 1, lon, lat + 1e-4, {"man_made": "surveillance"})]
            server.publish(SEQUENCE + 2 + k, _osc(moved, new), f"2026-01-01T01:{k % 60:02d}:00Z")
        catch_up, _ = measure(f"refresh, catching up {minutely} minutely diffs", refresh, env)
        nothing, _ = measure("refresh, nothing new", refresh, env)
        table = json.loads((out / "communes.json").read_text(encoding="utf-8"))
    finally:
        server.close()
        shutil.rmtree(workdir / "site-before", ignore_errors=True)
    return {
        "published": {
            "communes": len(table["communes"]),
            "cameras": sum(r["cameras"] for r in table["communes"]),
            "cameras_total": table["meta"]["cameras_total"],
            "cameras_geojson_mb": round((out / "cameras.geojson").stat().st_size / 1e6, 1),
        },
        "pbf": str(pbf),
        "pbf_mb": round(pbf.stat().st_size / 1e6, 1),
        "timings": [asdict(t) for t in (count, first, *built, hourly, catch_up, nothing)],
        **({"site": _size(workdir / "site"), "site_over_count": round(built[0].wall_s / count.wall_s, 3)}
           if site else {}),
        "hourly_over_count": round(hourly.wall_s / count.wall_s, 3),
        "diffs_per_second": round(minutely / catch_up.wall_s, 1),
        "peak_rss_mb": round(max(t.rss_mb for t in (first, hourly, catch_up)), 1),
    }


def show(results: dict) -> None:
    print(f"{results['pbf']} ({results['pbf_mb']} MB)")
    size = results["published"]
    print(f"  published: {size['cameras']:,} of {size['cameras_total']:,} cameras in "
          f"{size['communes']:,} communes; cameras.geojson {size['cameras_geojson_mb']} MB")
    for t in results["timings"]:
        print(f"  {t['task']:<48} {t['wall_s']:8.2f} s  {t['rss_mb']:8.1f} MB")
    print(f"  hourly refresh / count: {results['hourly_over_count']:.3f} (goal: at most 0.1)")
    print(f"  catch-up: {results['diffs_per_second']} diffs/s; peak RSS {results['peak_rss_mb']} MB")
    if "site" in results:
        print(f"  site: {results['site']['files']:,} files, {results['site']['mb']} MB; whole build / "
              f"count: {results['site_over_count']:.3f} (goal: at most 1)")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--size-mb", type=float, help="build a tiled PBF of this size, MB")
    what.add_argument("--pbf", type=Path, help="use this PBF (such as run.py's tiled file)")
    parser.add_argument("--minutely", type=int, default=120, help="minutely diffs to catch up")
    parser.add_argument("--workdir", type=Path, help="where to keep files (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--site", action="store_true", help="with a [site]: time osmcams site too")
    parser.add_argument("--spread", help="DX,DY: tiles spread over France (make_tiled_pbf.py)")
    args = parser.parse_args(argv)
    compile_package()
    with contextlib.ExitStack() as stack:
        workdir = work_directory(stack, args.workdir)
        pbf = args.pbf
        if pbf is None:
            pbf = workdir / "tiled.osm.pbf"
            spread = tuple(float(v) for v in args.spread.split(",")) if args.spread else None
            make_tiled_pbf.build(make_tiled_pbf.DEFAULT_SOURCE, args.size_mb, pbf, spread=spread)
        results = benchmark(pbf, workdir, args.minutely, args.site)
    show(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
