"""Time ring assembly both ways: ours (geo/rings.py) and shapely's node + build_area.

The relations and the shapely reading are those of tests/test_geometry.py, which checks
that both give the same areas. Every complete admin relation of each extract is assembled;
the figure is the median (and min) of `--repeat` runs in this process, reading excluded.

Usage:
  python benchmarks/rings.py [--repeat 21] [EXTRACT ...]   # paths under ../shared/data/osm
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_geometry import EXTRACTS, _admin_relations, _ours, _polygonized  # noqa: E402


def _assemble_all(assemble: Callable, relations: list) -> None:
    for label, lines in relations:
        assemble(lines, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("extracts", nargs="*", default=EXTRACTS)
    args = parser.parse_args()
    osm = ROOT.parent / "shared/data/osm"
    for name in args.extracts:
        relations = [(label, lines) for label, complete, lines in _admin_relations(osm / name) if complete]
        points = sum(len(line) for _, lines in relations for line in lines)
        figures = []
        for way, assemble in (("ours", _ours), ("shapely", lambda lines, _: _polygonized(lines))):
            runs = timeit.repeat(partial(_assemble_all, assemble, relations), number=1, repeat=args.repeat)
            figures.append(f"{way} {statistics.median(runs) * 1e3:.1f} ms (min {min(runs) * 1e3:.1f})")
        print(f"{name}: {len(relations)} relations, {points} points: " + ", ".join(figures))


if __name__ == "__main__":
    main()
