"""History files for the timeline benchmark, made from a snapshot PBF with osmium-tool.

- `as_history`: the snapshot rewritten by `osmium cat` with a history header (a
  snapshot is a valid history holding one version of each object).
- `with_diffs`: the snapshot and three osmChange diffs applied with
  `osmium apply-changes -H`. The diffs move, delete and untag cameras, add new
  ones, and move one node in every NODE_STRIDE of the file, so that most blocks
  hold several versions of some node.
"""

from __future__ import annotations

import json
import random
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

NODE_STRIDE = 500
CAMERA_FILTER = "nwr/man_made=surveillance"


def _osmium(*args: str | Path) -> str:
    done = subprocess.run(["osmium", *map(str, args)], capture_output=True, text=True, check=True)
    return done.stdout


def _fresh(target: Path, source: Path) -> bool:
    """`target` was made from `source` already (it exists and is newer)."""
    return target.is_file() and target.stat().st_mtime > source.stat().st_mtime


def as_history(pbf: Path, target: Path) -> Path:
    """`pbf` with a header that declares a history file (kept when already made)."""
    if not _fresh(target, pbf):
        _osmium("cat", pbf, "-o", target, "-O")
    return target


def _camera_nodes(pbf: Path) -> list[tuple[int, int, float, float]]:
    """(id, version, lon, lat) of the camera nodes of `pbf`."""
    nodes = []
    for line in _osmium("tags-filter", "-R", pbf, CAMERA_FILTER, "-f", "opl", "-o", "-").splitlines():
        fields = {f[0]: f[1:] for f in line.split(" ")}
        if line.startswith("n") and fields.get("x"):
            nodes.append((int(line.split(" ")[0][1:]), int(fields["v"]), float(fields["x"]),
                          float(fields["y"])))
    return nodes


def _node(osm_id: int, version: int, when: datetime, lon: float, lat: float, camera: bool) -> str:
    tag = '<tag k="man_made" v="surveillance"/>' if camera else ""
    return (f'<node id="{osm_id}" version="{version}" timestamp="{when:%Y-%m-%dT%H:%M:%SZ}" '
            f'uid="1" user="bench" changeset="1" lat="{lat:.7f}" lon="{lon:.7f}">{tag}</node>')


def _write(path: Path, sections: dict[str, list[str]]) -> Path:
    body = "".join(f"<{kind}>\n" + "\n".join(items) + f"\n</{kind}>\n"
                   for kind, items in sections.items() if items)
    path.write_text(f'<osmChange version="0.6" generator="osmcams benchmark">\n{body}</osmChange>\n',
                    encoding="utf-8")
    return path


def with_diffs(pbf: Path, target: Path, seed: int = 1) -> Path:
    """`pbf` with three diffs of camera changes and scattered node moves, as a history file
    (kept when already made)."""
    if _fresh(target, pbf):
        return target
    info = json.loads(_osmium("fileinfo", "-e", "-j", pbf))["data"]
    west, south, east, north = info["bbox"]
    start = datetime.fromisoformat(info["timestamp"]["last"].replace("Z", "+00:00"))
    start = start.astimezone(timezone.utc) + timedelta(days=1)
    rng = random.Random(seed)
    cameras = _camera_nodes(pbf)
    first_new = info["maxid"]["nodes"] + 1
    low, high = info["minid"]["nodes"], info["maxid"]["nodes"]
    diffs = []
    for step in range(3):
        when = start + timedelta(days=30 * step)
        modify = [
            _node(osm_id, version + step + 1, when, lon + 0.0005 * (step + 1), lat, step != 2)
            for i, (osm_id, version, lon, lat) in enumerate(cameras) if i % 3 == step % 3
        ]
        modify += [  # scattered moves of ordinary nodes (missing ids make new nodes)
            _node(osm_id, 1000 + step, when, rng.uniform(west, east), rng.uniform(south, north), False)
            for osm_id in range(low + step, high, NODE_STRIDE)
        ]
        create = [
            _node(first_new + step * 100 + i, 1, when, rng.uniform(west, east),
                  rng.uniform(south, north), True)
            for i in range(20)
        ]
        delete = [
            f'<node id="{osm_id}" version="{version + 10}" '
            f'timestamp="{when + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}" uid="1" user="bench" '
            'changeset="1"/>'
            for i, (osm_id, version, _, _) in enumerate(cameras) if step == 1 and i % 5 == 0
        ]
        diffs.append(_write(target.with_name(f"{target.stem}-{step}.osc"),
                            {"create": create, "modify": modify, "delete": delete}))
    end = start + timedelta(days=61)
    _osmium("apply-changes", "-H", pbf, *diffs, "-o", target, "-O",
            f"--output-header=osmosis_replication_timestamp={end:%Y-%m-%dT%H:%M:%SZ}")
    return target
