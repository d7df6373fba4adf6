"""The coverage estimate against the truth, on cuts of complete extracts made by osmium-tool.

Each extract of ../shared/data/osm/big is complete inside its header box, but for two.
The Andorra and Liechtenstein files are polygon extracts of their country (Geofabrik's,
by their replication URL), whose header box is the country's box; ../shared/data/osm/big/
README.md calls them bounding-box extracts, which they are not. Beyond the border they hold
only the ways that cross it: a box of 1.70,42.45,1.78,42.50 (Spain and France, inside
Andorra's header box) has 583 nodes and no POI, one of 1.52,42.50,1.57,42.55 in Andorra
23,815 nodes and 367 POIs. Their data lies within the country's admin_level=2 relation,
which each file holds whole (assembled by `osmium export`), grown by a margin (COUNTRIES)
within which every standalone node of the file (tagged, no way refers to it) lies.

Polygons of our own (a pentagon, star-shaped ones with concave sides, one notched, a box)
are cut from each extract with `osmium extract -p`/`-b` and each strategy (simple,
complete_ways, smart), and the cut is read without its extent, as a user's file without
`.poly`. The true share of each commune (IGN communes where there are French ones, else
squares standing for communes) inside the cut, and inside the country for those two, is
computed with shapely and pyproj; the estimate is `join.coverage_of`. (osmium-tool 1.15's
`simple` strategy keeps a way only when its first node is inside: the nodes inside of the
others look standalone.)

Printed per cut: the largest overstatement, the share of communes within 0.1 of the
truth, those fully inside that get no count, those outside that get one; with -v, every
commune. Run with your checkout first on PYTHONPATH.

With --tiled, the file of the speed benchmark instead (München tiled over France by
make_tiled_pbf.py): the truth is the union of its tiles, each the box of München's
standalone nodes (a box extract holds some past its header box), over every IGN commune.

Usage:
  python benchmarks/coverage.py [-v] [--strategy S ...] [--source NAME ...]
  python benchmarks/coverage.py --tiled france-991.osm.pbf [--spread 0.32,0.29]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tempfile
import time
from pathlib import Path

import numpy
import shapely
from pyproj import Geod

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/data"
IGN = DATA / "communes/ign-2018-simplified/departements"
STRATEGIES = ("simple", "complete_ways", "smart")
# Extracts complete inside their header box, and the IGN communes that lie there; on the
# coast, the squares are cut to the communes (the sea holds no data).
SOURCES = {
    "riviera": ("osm/big/osrm-monaco-fr-riviera-2016.osm.pbf", ["communes-06-alpes-maritimes.geojson"]),
    "andorra": ("osm/big/valhalla-docker-andorra-2021.osm.pbf",
                ["communes-09-ariege.geojson", "communes-66-pyrenees-orientales.geojson"]),
    "liechtenstein": ("osm/big/valhalla-docker-liechtenstein-2021.osm.pbf", []),
    "munchen": ("osm/big/valhalla-bench-munchen-2020.osm.pbf", []),
    "rhein-neckar": ("osm/big/graphhopper-rnv-rhein-neckar-2016.osm.pbf", []),
    "london": ("osm/big/valhalla-bench-london-2020.osm.pbf", []),
}
COASTAL = {"riviera"}
# A routing extract (saved by JOSM): its 37,344 ways all carry highway=*, and only 11,651 of
# its 164,598 nodes have tags, none standalone. It holds the roads of its box, not its data:
# the cut overstates where it has any, so its figures are printed apart.
ROUTING = {"rhein-neckar"}
# Polygon extracts of a country (ISO3166-1 code), and how far beyond its border their
# standalone nodes reach: Andorra 51 of 2,331 outside it, all within 286 m; Liechtenstein
# 54 of 13,678, within 73 m (the cut followed the border grown a little, or simplified).
COUNTRIES = {"andorra": ("AD", 300.0), "liechtenstein": ("LI", 100.0)}
SQUARES = 6  # squares along the longer side of a cut, standing for communes
GEOD = Geod(ellps="WGS84")


def header_box(pbf: Path) -> tuple[float, float, float, float]:
    text = subprocess.run(["osmium", "fileinfo", "-g", "header.boxes", str(pbf)],
                          capture_output=True, text=True, check=True).stdout
    return tuple(float(v) for v in text.strip().strip("()").split(","))  # type: ignore[return-value]


def country(pbf: Path, code: str, margin_m: float, tmp: Path) -> shapely.Geometry:
    """The outline of the admin_level=2 relation with ISO3166-1=`code` in `pbf`, assembled by
    osmium-tool, grown by `margin_m` metres."""
    from shapely.geometry import shape

    relation, exported = tmp / "country.osm.pbf", tmp / "country.geojson"
    subprocess.run(["osmium", "tags-filter", str(pbf), f"r/ISO3166-1={code}", "-o", str(relation), "-O",
                    "--no-progress"], check=True, capture_output=True)
    subprocess.run(["osmium", "export", str(relation), "-o", str(exported), "-O", "--no-progress",
                    "--geometry-types=polygon"], check=True, capture_output=True)
    (outline,) = [shape(f["geometry"]) for f in json.loads(exported.read_text())["features"]
                  if f["properties"].get("ISO3166-1") == code]
    # Metres in a plane tangent at its middle: enough for a margin of a few hundred metres.
    scale = numpy.array([math.cos(math.radians(outline.centroid.y)), 1.0]) * 111_195.0
    grown = shapely.buffer(shapely.transform(outline, lambda xy: xy * scale), margin_m)
    return shapely.transform(grown, lambda xy: xy / scale)


def polygons(box: tuple[float, float, float, float], seed: int) -> dict[str, shapely.Geometry]:
    """Cuts of our own inside `box`: a pentagon, two star-shaped polygons, one notched from
    the north, and a box."""
    west, south, east, north = box
    width, height = east - west, north - south
    at = lambda u, v: (west + u * width, south + v * height)  # noqa: E731
    found = {"pentagon": shapely.Polygon([at(0.15, 0.2), at(0.8, 0.12), at(0.9, 0.6), at(0.5, 0.9),
                                          at(0.12, 0.7)])}
    rng = numpy.random.default_rng(seed)
    for n in (1, 2):
        corners = int(rng.integers(7, 12))
        angles = numpy.sort(rng.uniform(0, 2 * math.pi, corners))
        radii = rng.uniform(0.2, 0.42, corners)
        cx, cy = rng.uniform(0.42, 0.58, 2)
        found[f"star{n}"] = shapely.Polygon(
            [at(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii)])
    found["notched"] = shapely.Polygon([at(0.08, 0.08), at(0.92, 0.08), at(0.92, 0.92), at(0.68, 0.92),
                                        at(0.54, 0.42), at(0.40, 0.92), at(0.08, 0.92)])
    found["box"] = shapely.box(*at(0.2, 0.25), *at(0.75, 0.8))
    return found


def km2(geometries) -> numpy.ndarray:
    return numpy.array([abs(GEOD.geometry_area_perimeter(g)[0]) / 1e6 if not g.is_empty else 0.0
                        for g in geometries])


def communes_near(cut: shapely.Geometry, files: list[str], coast: bool) -> dict[str, shapely.Geometry]:
    """IGN communes that meet `cut` grown by two squares, and squares over it; on the
    `coast`, the squares are cut to the communes: the sea holds no data."""
    from shapely.geometry import shape

    west, south, east, north = cut.bounds
    side = max(east - west, north - south) / SQUARES
    grown = shapely.box(west - 2 * side, south - 2 * side, east + 2 * side, north + 2 * side)
    found = {}
    for name in files:
        for feature in json.loads((IGN / name).read_text(encoding="utf-8"))["features"]:
            geometry = shape(feature["geometry"])
            if geometry.intersects(grown):
                found[f"{feature['properties']['code']} {feature['properties']['nom']}"] = geometry
    land = shapely.union_all(list(found.values())) if coast else None
    for i, x in enumerate(numpy.arange(grown.bounds[0], grown.bounds[2], side)):
        for j, y in enumerate(numpy.arange(grown.bounds[1], grown.bounds[3], side)):
            square = shapely.box(x, y, x + side, y + side)
            square = square if land is None else shapely.intersection(square, land)
            if square.area > 0.05 * side * side:
                found[f"square {i},{j}"] = square
    return found


def estimate(pbf: Path, shapes: dict[str, shapely.Geometry]) -> tuple[numpy.ndarray, float]:
    """`coverage_of` each shape, from the cut read without its extent; and the scan's time."""
    import geopandas

    from osmcams.join import coverage_of
    from osmcams.sources.osm.pbf import scan_file

    start = time.process_time()
    extract, _ = scan_file(pbf, threads=1)
    took = time.process_time() - start
    frame = geopandas.GeoDataFrame(geometry=list(shapes.values()), crs="EPSG:4326")
    shares, how = coverage_of(extract, frame)
    assert how, f"{pbf}: no coverage"
    return numpy.asarray(shares, float), took


def measure(cut: str, keys: list[str], truth: numpy.ndarray, shares: numpy.ndarray, took: float) -> dict:
    """The figures of one cut, over the communes that meet the cut or the estimate; printed."""
    from osmcams.join import NO_DATA

    met = (truth > 0) | (shares > 0)
    over = shares - truth
    result = {
        "cut": cut, "communes": int(met.sum()), "max_over": float(over[met].max(initial=0)),
        "within": float((abs(over[met]) <= 0.1).mean()), "mean_error": float(abs(over[met]).mean()),
        "ign": [(k, float(t), float(e)) for k, t, e in zip(keys, truth, shares)
                if not k.startswith("square") and (t > 0 or e > 0)],
        "inside_left_out": [k for k, t, e in zip(keys, truth, shares) if t == 1 and e < NO_DATA],
        "outside_counted": [k for k, t, e in zip(keys, truth, shares) if t == 0 and e >= NO_DATA],
    }
    print(f"{cut:<36} {result['communes']:>3} communes  max over {result['max_over']:+.3f}"
          f"  within 0.1 {result['within']:.0%}  mean |error| {result['mean_error']:.3f}"
          f"  inside left out {len(result['inside_left_out'])}"
          f"  outside counted {len(result['outside_counted'])}  scan {took:.2f} s CPU", flush=True)
    return result


def run(name: str, strategies: list[str], verbose: bool) -> list[dict]:
    file, ign = SOURCES[name]
    source = DATA / file
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        extent = country(source, *COUNTRIES[name], Path(tmp)) if name in COUNTRIES else None
        for label, cut in polygons(header_box(source), seed=len(name)).items():
            shapes = communes_near(cut, ign, name in COASTAL)
            whole = km2(shapes.values())
            data = cut if extent is None else shapely.intersection(cut, extent)
            truth = km2(shapely.intersection(list(shapes.values()), data)) / whole
            truth = numpy.where(truth >= 0.995, 1.0, truth)
            for strategy in strategies:
                pbf = Path(tmp) / f"{label}-{strategy}.osm.pbf"
                if label == "box":
                    how = ["-b", ",".join(f"{v:.7f}" for v in cut.bounds)]
                else:
                    geojson = Path(tmp) / f"{label}.geojson"
                    geojson.write_text(json.dumps({"type": "Feature", "properties": {},
                                                   "geometry": shapely.geometry.mapping(cut)}))
                    how = ["-p", str(geojson)]
                subprocess.run(["osmium", "extract", *how, "-s", strategy, str(source), "-o", str(pbf),
                                "-O", "--no-progress"], check=True, capture_output=True)
                shares, took = estimate(pbf, shapes)
                results.append(measure(f"{name} {label} {strategy}", list(shapes), truth, shares, took))
                if verbose:
                    for key, t, e in zip(shapes, truth, shares):
                        if t > 0 or e > 0:
                            flag = " OVER" if e > t + 0.01 else (" LOW" if e < t - 0.1 else "")
                            print(f"    {key:<40} estimate {e:.3f}  truth {t:.3f}{flag}")
    return results


def standalone_box(source: Path) -> tuple[float, float, float, float]:
    """The box of the tagged nodes of `source` that no way refers to (read with pyosmium):
    a box extract's data reaches that far, past its header box."""
    import osmium

    tagged: dict[int, tuple[float, float]] = {}
    referred: set[int] = set()
    for o in osmium.FileProcessor(str(source)):
        if o.is_node() and len(o.tags):
            tagged[o.id] = (o.location.lon, o.location.lat)
        elif o.is_way():
            referred.update(n.ref for n in o.nodes)
    xy = numpy.array([at for i, at in tagged.items() if i not in referred])
    return (*xy.min(axis=0), *xy.max(axis=0))


def tiled(pbf: Path, spread: tuple[float, float], verbose: bool) -> dict:
    """The estimate on a file of benchmarks/make_tiled_pbf.py --spread (the speed benchmark's),
    against the union of its tiles: each the box of München's standalone nodes, moved as
    the tiling moves it; over every IGN commune. The figures, printed and returned."""
    import sys

    from shapely.geometry import shape

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import make_tiled_pbf

    from osmcams.sources.osm import blocks

    source = make_tiled_pbf.load_source(make_tiled_pbf.DEFAULT_SOURCE)
    tiles = sum(kind == "OSMData" for *_, kind, _ in blocks.framing(pbf)) // len(source.blocks)
    west, south, east, north = standalone_box(make_tiled_pbf.DEFAULT_SOURCE)
    x0, y0, x1, y1 = source.bbox
    origins = make_tiled_pbf.spread_origins(tiles, x1 - x0, y1 - y0, spread)
    moves = [((x - x0) / 1e7, (y - y0) / 1e7) for x, y in origins]
    data = shapely.union_all([shapely.box(west + dx, south + dy, east + dx, north + dy) for dx, dy in moves])
    shapes = {feature["properties"]["code"]: shape(feature["geometry"]).buffer(0)
              for f in sorted(IGN.glob("*.geojson"))
              for feature in json.loads(f.read_text(encoding="utf-8"))["features"]}
    truth = numpy.zeros(len(shapes))
    outlines = list(shapes.values())
    met = shapely.STRtree(outlines).query(data, predicate="intersects")
    truth[met] = km2(shapely.intersection([outlines[i] for i in met], data)) / km2([outlines[i] for i in met])
    truth = numpy.where(truth >= 0.995, 1.0, truth)
    shares, took = estimate(pbf, shapes)
    result = measure(f"{pbf.name} ({tiles} tiles)", list(shapes), truth, shares, took)
    if verbose:
        for key, t, e in zip(shapes, truth, shares):
            if e > t + 0.01 or e < t - 0.1:
                print(f"    {key:<40} estimate {e:.3f}  truth {t:.3f}{' OVER' if e > t else ' LOW'}")
    return result


def summary(results: list[dict], what: str) -> None:
    """One line of figures over the cuts `results`."""
    overs = [r["max_over"] for r in results]
    within, error = (numpy.mean([r[key] for r in results]) for key in ("within", "mean_error"))
    print(f"{len(results)} {what}: max overstatement {max(overs):+.3f}; within 0.1 of the truth: "
          f"{within:.1%} (mean over cuts); mean |error| {error:.3f}; "
          f"fully inside left out {sum(len(r['inside_left_out']) for r in results)}; "
          f"outside counted {sum(len(r['outside_counted']) for r in results)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--strategy", action="append", choices=STRATEGIES)
    parser.add_argument("--source", action="append", choices=list(SOURCES))
    parser.add_argument("--tiled", type=Path, metavar="PBF",
                        help="measure this file of make_tiled_pbf.py --spread instead of the cuts")
    parser.add_argument("--spread", default="0.32,0.29", help="its --spread (default: 0.32,0.29)")
    args = parser.parse_args()
    if args.tiled:
        west_east, south_north = (float(v) for v in args.spread.split(","))
        tiled(args.tiled, (west_east, south_north), args.verbose)
        return
    strategies = args.strategy or list(STRATEGIES)
    results = [r for name in args.source or SOURCES for r in run(name, strategies, args.verbose)]
    summary(results, "cuts")
    complete = [r for r in results if r["cut"].split()[0] not in ROUTING]
    if len(complete) < len(results):
        summary(complete, f"cuts of complete extracts (without {', '.join(sorted(ROUTING))})")
    ign = [(t, e) for r in results for _, t, e in r["ign"]]
    if ign:
        errors = numpy.array([e - t for t, e in ign])
        print(f"IGN communes ({len(ign)} commune-cuts): max overstatement {errors.max():+.3f}; "
              f"within 0.1 of the truth: {(abs(errors) <= 0.1).mean():.1%}; "
              f"mean |error| {abs(errors).mean():.3f}")


if __name__ == "__main__":
    main()
