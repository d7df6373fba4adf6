"""The classes and credits every map shares, checked against brute force."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from osmcams.outputs.figures import breaks, classify, credit_text, credits

pytestmark = pytest.mark.filterwarnings("ignore:Numba not installed")


def brute_quantiles(values: list[float], k: int) -> list[float]:
    """The i-th bound: the smallest value with at least i/k of the values at or below it."""
    bounds = []
    for i in range(1, k + 1):
        bounds.append(min(x for x in values if sum(v <= x for v in values) * k >= i * len(values)))
    return sorted(set(bounds))


def within_squares(values: list[float], bins: tuple[float, ...]) -> float:
    """Sum over classes of squared deviations from the class mean."""
    total = 0.0
    low = float("-inf")
    for bound in bins:
        members = [v for v in values if low < v <= bound]
        mean = sum(members) / len(members)
        total += sum((v - mean) ** 2 for v in members)
        low = bound
    return total


def best_split(values: list[float], k: int) -> float:
    """The least within-class sum of squares over every cut of the sorted values into k classes."""
    ordered = sorted(values)
    best = float("inf")
    for cuts in itertools.combinations(range(1, len(ordered)), k - 1):
        edges = [0, *cuts, len(ordered)]
        if any(ordered[a - 1] == ordered[a] for a in cuts):  # equal values stay together
            continue
        bins = tuple(ordered[b - 1] for b in edges[1:])
        best = min(best, within_squares(ordered, bins))
    return best


def check_classes(values: list[float], bins: tuple[float, ...], k: int) -> None:
    """No two classes alike, none empty, zero alone, each value its own class when few."""
    distinct = sorted(set(values))
    assert list(bins) == sorted(set(bins)), "bounds ascend, none repeated"
    assert len(bins) <= k
    assert bins[-1] == max(values)
    low = float("-inf")
    for bound in bins:
        assert any(low < v <= bound for v in values), f"class ({low}, {bound}] is empty"
        low = bound
    if 0 in values:
        assert bins[0] == 0, "zero is a class of its own"
    if len(distinct) <= k:
        assert list(bins) == distinct


def test_quantile_breaks_against_brute_force() -> None:
    generator = random.Random(23)
    for _ in range(300):
        k = generator.randint(2, 7)
        n = generator.randint(1, 40)
        values = [round(generator.choice([0, 0, generator.expovariate(1)]), generator.choice([0, 2]))
                  for _ in range(n)]
        bins = breaks(values, "quantiles", k)
        check_classes(values, bins, k)
        distinct = sorted(set(values))
        if len(distinct) <= k:
            continue
        positive = [v for v in values if v > 0]
        if 0 in values:
            rest = 0 if len(set(positive)) <= k - 1 else None
            expected = [0.0, *(sorted(set(positive)) if rest == 0 else brute_quantiles(positive, k - 1))]
        else:
            expected = brute_quantiles(values, k)
        assert list(bins) == expected, (values, k)


def test_fisher_jenks_breaks_are_optimal() -> None:
    """Fisher-Jenks classes reach the least within-class sum of squares an exhaustive search finds."""
    generator = random.Random(6)
    for _ in range(40):
        k = generator.randint(2, 4)
        values = [round(generator.uniform(0.1, 20), 2) for _ in range(generator.randint(k + 1, 11))]
        bins = breaks(values, "fisher_jenks", k)
        check_classes(values, bins, k)
        assert len(bins) == k
        assert within_squares(values, bins) == pytest.approx(best_split(values, k), rel=1e-9, abs=1e-9)


def test_the_cases_the_maps_met() -> None:
    # Monaco 2025 over the Alpes-Maritimes: five values, three of them 0.
    five = [0.4611, 0.361, 0.0, 0.0, 0.0]
    assert breaks(five) == (0.0, 0.361, 0.4611)
    classes = classify([*five, None])
    assert classes.counts == (3, 1, 1)
    assert classes.labels() == ["0", "0.36", "0.46"]
    assert len(set(classes.colours)) == 3
    # Every commune without data: no class at all, not a class "0".
    assert classify([None, None]).bins == ()
    assert classify([None]).labels() == []
    # Every commune at 0: one class.
    assert classify([0.0, 0.0, 0.0]).labels() == ["0"]


def umap_class(edges: list[float], value: float) -> int:
    """The class uMap's manual mode gives `value`: the first i >= 1 with value <= edges[i]."""
    return next(i - 1 for i in range(1, len(edges)) if value <= edges[i])


def test_umap_breaks_keep_every_value_in_its_class() -> None:
    """uMap reads "min,b1,…,bk" and saves them rounded to 2 decimals: the classes it makes are
    osmcams's, and bounds are written at 2 decimals whenever that moves no value."""
    generator = random.Random(7)
    saved_alike = 0
    for _ in range(200):
        values = [round(generator.expovariate(0.5), generator.choice([1, 3, 4]))
                  for _ in range(generator.randint(1, 30))]
        classes = classify(values)
        edges = [float(b) for b in classes.umap_breaks().split(",")]
        assert len(edges) == len(classes.bins) + 1
        assert [umap_class(edges, v) for v in values] == [classes.index(v) for v in values]
        if edges == [round(e, 2) for e in edges]:  # what uMap saves is what it read
            saved_alike += 1
    assert saved_alike > 150


def test_credits_name_the_sources_never_a_path() -> None:
    meta = {"boundaries": "/home/ana/data/communes/ign-2018-simplified/departements (101 files)",
            "population_source": "communes.json (Etalab COG)"}
    lines = credits(meta)
    assert lines[0] == ("© OpenStreetMap contributors, ODbL", "https://www.openstreetmap.org/copyright")
    text = credit_text(meta)
    assert "IGN ADMIN EXPRESS" in text and "Licence Ouverte" in text and "INSEE" in text
    assert "/home" not in text and "departements" not in text
    mine = {"boundaries": "/home/ana/secret/quartiers.gpkg", "population_source": "/home/ana/pop.csv (INSEE)"}
    assert credit_text(mine) == ("© OpenStreetMap contributors, ODbL · Boundaries: quartiers.gpkg"
                                 " · Population: pop.csv (INSEE), year unknown")
    assert credit_text(mine, "Ville de Nantes, 2024") == (
        "© OpenStreetMap contributors, ODbL · Ville de Nantes, 2024")
    elsewhere = {"boundaries": "/home/ana/projet-2024/communes-06-alpes-maritimes.geojson"}
    assert credit_text(elsewhere) == (  # a year of a folder that is not IGN's is not theirs
        "© OpenStreetMap contributors, ODbL · Boundaries: IGN ADMIN EXPRESS, Licence Ouverte")
    osm = {"boundaries": "monaco.osm.pbf (admin_level=8 relations)",
           "population_source": "OSM population tag"}
    assert credit_text(osm) == "© OpenStreetMap contributors, ODbL"


def test_counted_communes_without_a_density_have_their_own_legend_line() -> None:
    """No population, per 10,000: counted, but no class; named in the legend, never as 0."""
    import shapely

    from osmcams.join import Report
    from osmcams.outputs.figures import UNCLASSED, drawn, legend_entries

    rows = [{"insee": c, "name": c, "cameras": n, "coverage": 1.0, "cameras_per_10k": None}
            for c, n in (("A", 0), ("B", 3))]
    boxes = {c: shapely.box(i, 0, i + 1, 1) for i, c in enumerate("AB")}
    figure = drawn(Report({}, rows, boundaries=boxes), "per_10k", "quantiles")
    assert figure.classes.bins == () and figure.colours == [UNCLASSED, UNCLASSED]
    assert legend_entries(figure) == [(UNCLASSED, "counted, density unknown (2)")]


def test_legend_bounds_hold_every_value_of_their_class() -> None:
    """Each class's label, read back as numbers, holds every value the class holds: its
    bounds rounded outward (0.0254 read "0.03 – …", above it)."""
    import random

    from osmcams.outputs.figures import classify

    generator = random.Random(5)
    for _ in range(200):
        values = [round(generator.lognormvariate(-1, 1.5), generator.choice((2, 3, 4)))
                  for _ in range(generator.randint(8, 60))]
        classes = classify(values, generator.choice(("quantiles", "fisher_jenks")))
        for label, lo, hi in zip(classes.labels(), classes.lows, classes.bins):
            shown = [float(v.replace(",", "")) for v in label.split(" – ")]
            held = [v for v in values if lo <= v <= hi]
            if lo == hi:  # one value, as `number` writes it
                assert shown == [pytest.approx(lo, abs=0.005)], (label, held)
            else:
                assert min(shown) <= min(held) and max(held) <= max(shown), (label, held)
        read = [[float(v.replace(",", "")) for v in label.split(" – ")] for label in classes.labels()]
        for before, after in itertools.pairwise(read):  # no number read in two classes
            assert max(before) < min(after), classes.labels()


def test_legend_labels_keep_close_classes_apart() -> None:
    """The densities of two London squares, 11.8092 and 11.8109 per km², end one class and
    make the next: at 2 decimals both labels read 11.81."""
    from osmcams.outputs.figures import classify

    classes = classify([0.0, 2.9523, 11.8092, 11.8109, 17.7163, 23.6185])
    assert classes.labels() == ["0", "2.95 – 11.8092", "11.8109", "17.72", "23.62"]


def test_drawn_text_obeys_no_bidirectional_override() -> None:
    """matplotlib obeys Unicode's bidirectional controls: a grid square named "Zone\\u202eRTL"
    was drawn "Zone(80M) LTR", its code M08 reversed. No character of those classes (as
    unicodedata classes them) reaches a figure; each is shown as its code."""
    import unicodedata

    from osmcams.outputs.figures import drawn_text

    classes = ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")
    controls = [chr(c) for c in range(0x110000) if unicodedata.bidirectional(chr(c)) in classes]
    assert len(controls) == 9
    for control in controls:
        shown = drawn_text(f"Zone{control}RTL (M08)")
        assert not any(unicodedata.bidirectional(c) in classes for c in shown), shown
        assert shown == f"Zone\\u{ord(control):04x}RTL (M08)"


def test_a_folder_of_department_files_is_credited_to_their_publisher(ign_dir: Path, tmp_path: Path) -> None:
    """Two IGN department files in a folder named "two": the credit read "Boundaries: two
    (2 files)", the folder's name, not IGN ADMIN EXPRESS and its licence."""
    import osmcams

    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("communes-06-alpes-maritimes.geojson", "communes-974-la-reunion.geojson"):
        (folder / name).symlink_to(ign_dir / name)
    communes = osmcams.load_communes([folder])
    text = credit_text({"boundaries": communes.source})
    assert "Boundaries: IGN ADMIN EXPRESS, Licence Ouverte" in text and "two" not in text
