"""The quick start on a fresh clone: the data that ships with osmcams, counted offline."""

from __future__ import annotations

import csv
import fnmatch
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import osmium
import pytest
from shapely.geometry import Point, shape

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "osmcams"
DEMO = PACKAGE / "data" / "demo"
DEAD = "http://127.0.0.1:9/"  # a closed port: any network use fails at once


def _offline_env(home: Path) -> dict[str, str]:
    """A bare environment: the checkout's source, a new home and cache, no network."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
        "PYTHONPATH": str(ROOT / "src"), "OSMCAMS_CACHE_DIR": str(home / "cache"),
        "HTTP_PROXY": DEAD, "HTTPS_PROXY": DEAD, "http_proxy": DEAD, "https_proxy": DEAD,
    }
    for var in ("OSMCAMS_OVERPASS_URL", "OSMCAMS_GEO_API_URL", "OSMCAMS_DOWNLOAD_URL",
                "OSMCAMS_OSMFR_URL"):
        env[var] = DEAD
    return env


def _cameras_per_commune() -> dict[str, int]:
    """Brute force: every surveillance node of the shipped extract, in the shipped outlines."""
    outlines = json.loads((DEMO / "communes-ign-2018.geojson").read_text(encoding="utf-8"))
    shapes = {f["properties"]["code"]: shape(f["geometry"]) for f in outlines["features"]}
    found = {code: 0 for code in shapes}
    for obj in osmium.FileProcessor(str(DEMO / "monaco-2025-02-07.osm.pbf"), osmium.osm.NODE):
        if obj.tags.get("man_made") == "surveillance":
            point = Point(obj.location.lon, obj.location.lat)
            for code, outline in shapes.items():
                found[code] += outline.covers(point)
    return found


def _shipped_population() -> dict[str, int]:
    with gzip.open(PACKAGE / "data" / "communes-cog-2026.csv.gz", "rt", encoding="utf-8") as f:
        return {row["code"]: int(row["population"]) for row in csv.DictReader(f) if row["population"]}


def test_the_demo_counts_offline_in_a_bare_directory(tmp_path: Path) -> None:
    """`osmcams count --demo` from an empty directory, without ../shared or a network."""
    done = subprocess.run(
        [sys.executable, "-m", "osmcams", "count", "--demo", "-f", "json"],
        cwd=tmp_path, env=_offline_env(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["meta"]["data_timestamp"] == "2025-02-07T01:02:45Z"
    assert report["meta"]["population_source"].startswith("INSEE legal population 2023 (in force in 2026")
    rows = {row["insee"]: row for row in report["communes"]}
    expected = _cameras_per_commune()
    # Of the five French communes it reaches, La Turbie and Peille are barely in the data
    # (no .poly ships with it, so the estimate errs toward no data): their rows have no
    # count, and that is said.
    assert set(rows) == set(expected)
    outside = {code for code, row in rows.items() if row["cameras"] is None}
    assert outside == {"06091", "06150"}
    assert all(f"({code})" in done.stderr for code in outside)
    assert {code: row["cameras"] for code, row in rows.items() if code not in outside} == {
        c: expected[c] for c in rows if c not in outside}
    assert sum(expected.values()) == 2 == report["meta"]["cameras_total"] - 14  # 14 in Monaco
    population = _shipped_population()
    assert {code: row["population"] for code, row in rows.items()} == {c: population[c] for c in rows}
    assert "ODbL" in done.stderr and "Licence Ouverte" in done.stderr


def test_the_demo_takes_a_commune_by_name_and_refuses_other_data(
    tmp_path: Path, cog_population: Path
) -> None:
    env = _offline_env(tmp_path)
    run = [sys.executable, "-m", "osmcams", "count", "--demo"]
    one = subprocess.run([*run, "--commune", "beausoleil", "-f", "csv"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    rows = list(csv.DictReader(one.stdout.splitlines()))
    assert [(r["insee"], r["name"], r["cameras"]) for r in rows] == [("06012", "Beausoleil", "1")]
    mixed = subprocess.run([*run, "--pbf", "x.osm.pbf"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert mixed.returncode == 2
    assert "--demo brings its own data: drop --pbf" in mixed.stderr
    elsewhere = subprocess.run([*run, "--region", "11"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
    assert elsewhere.returncode == 3  # Île-de-France: none of its communes ships with the demo
    assert "no commune of region 11 in" in elsewhere.stderr
    # Nice is no typo: a French commune that the demo's five outlines leave out, and said so.
    nice = [c["code"] for c in json.loads(cog_population.read_text())
            if c["nom"] == "Nice" and c["type"] == "commune-actuelle"]
    other = subprocess.run([*run, "--commune", "Nice"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 3
    assert f"no commune 'Nice'; Nice ({nice[0]}) is a French commune, but " in other.stderr


def test_a_place_outside_france_says_so_and_what_to_do(
    tmp_path: Path, cog_population: Path, osm_cameras, osmium_polygons
) -> None:
    """Monaco, with the demo's French outlines: one line saying that no French commune has
    the name, what the boundaries in use are, and what to do; done, it counts Monaco's
    cameras in the extract's own boundaries, those osmium finds in its relation."""
    assert not [c for c in json.loads(cog_population.read_text()) if c["nom"] == "Monaco"]
    env = _offline_env(tmp_path)
    asked = subprocess.run([sys.executable, "-m", "osmcams", "count", "--demo", "--commune", "Monaco"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert asked.returncode == 3 and asked.stdout == ""
    *_, line = asked.stderr.splitlines()
    assert line == (f"osmcams: error: no commune 'Monaco': no French commune is named 'Monaco', and "
                    f"{DEMO / 'communes-ign-2018.geojson'} holds French communes only: for a place "
                    "outside France, count in the OSM data's own boundaries (--pbf FILE without "
                    "--boundaries, or --boundary-source osm)")
    pbf = DEMO / "monaco-2025-02-07.osm.pbf"
    done = subprocess.run([sys.executable, "-m", "osmcams", "count", "--commune", "Monaco", "--pbf", str(pbf),
                           "-f", "json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    monaco = osmium_polygons(pbf, 8)[2220322]
    inside = [o for o in osm_cameras(pbf) if monaco.intersects(Point(o.lon, o.lat))]
    assert [(r["insee"], r["cameras"]) for r in json.loads(done.stdout)["communes"]] == [
        ("r2220322", len(inside))]


def test_the_demo_ranks_all_its_communes(tmp_path: Path) -> None:
    """`count --demo --all` ranks the demo's communes as `--department 06` does: the three
    partly covered ones with --include-partial, none without (said in a warning)."""
    env = _offline_env(tmp_path)
    run = [sys.executable, "-m", "osmcams", "count", "--demo", "--all", "-f", "json"]
    ranked = subprocess.run([*run, "--include-partial"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert ranked.returncode == 0, ranked.stderr
    rows = json.loads(ranked.stdout)["communes"]
    expected = _cameras_per_commune()
    assert {r["insee"]: r["cameras"] for r in rows} == {c: expected[c] for c in ("06012", "06032", "06104")}
    assert all(r["partial"] for r in rows)
    strict = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert strict.returncode == 0, strict.stderr
    assert json.loads(strict.stdout)["communes"] == []
    assert "left out of the ranking (--include-partial keeps them)" in strict.stderr


def test_the_shipped_data_is_declared_as_package_data() -> None:
    """Each file under src/osmcams/data reaches a wheel (pyproject's package-data)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["osmcams"]
    shipped = [p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "data").rglob("*") if p.is_file()]
    assert {"data/demo/monaco-2025-02-07.osm.pbf", "data/communes-cog-2026.csv.gz"} <= set(shipped)
    for name in shipped:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


def test_the_shipped_data_is_the_published_data_unchanged(shared_data: Path) -> None:
    """The extract byte for byte, the outlines feature for feature, the population row for row."""
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest(DEMO / "monaco-2025-02-07.osm.pbf") == digest(
        shared_data / "osm/monaco-2025-02-07.osm.pbf")
    ign = json.loads((shared_data / "communes/ign-2018-simplified/departements/"
                      "communes-06-alpes-maritimes.geojson").read_text(encoding="utf-8"))
    shipped = json.loads((DEMO / "communes-ign-2018.geojson").read_text(encoding="utf-8"))["features"]
    by_code = {f["properties"]["code"]: f for f in ign["features"]}
    assert [f["properties"]["code"] for f in shipped] == ["06012", "06032", "06091", "06104", "06150"]
    assert all(f == by_code[f["properties"]["code"]] for f in shipped)
    cog = json.loads((shared_data / "population/cog-2026/communes.json").read_text(encoding="utf-8"))
    official = {r["code"]: r["population"] for r in cog
                if r["type"] == "commune-actuelle" and r.get("population") is not None}
    assert _shipped_population() == official
    with gzip.open(PACKAGE / "data" / "communes-cog-2026.csv.gz", "rt", encoding="utf-8") as f:
        merged = {row["code"]: row["anciens_codes"].split() for row in csv.DictReader(f)
                  if row["anciens_codes"]}
    assert merged == {r["code"]: r["anciensCodes"] for r in cog
                      if r["type"] == "commune-actuelle" and r.get("anciensCodes")}


@pytest.mark.parametrize("selection", [["--region", "11"], ["--department", "2A"]])
def test_a_selection_the_data_does_not_cover_is_an_error(selection: list[str], shared_data: Path) -> None:
    """Not an empty table with exit 0: exit 4, as for one commune named outside the data."""
    from osmcams.cli import main

    code = main(["count", "--pbf", str(DEMO / "monaco-2025-02-07.osm.pbf"), "-q", "--boundaries",
                 str(shared_data / "communes/ign-2018-simplified/departements"), *selection])
    assert code == 4


# --- Official communes for counts on an extract: geo.api.gouv.fr, kept per department -------


def _count_json(capsys, *args: str) -> tuple[int, dict | None, str]:
    from osmcams.cli import main

    code = main(["count", "--pbf", str(DEMO / "monaco-2025-02-07.osm.pbf"), "-q", "-f", "json", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def _brute_force(shared_data: Path, codes: set[str]) -> dict[str, int]:
    """Surveillance nodes of the extract in the IGN outlines the fake geo.api serves."""
    ign = json.loads((shared_data / "communes/ign-2018-simplified/departements/"
                      "communes-06-alpes-maritimes.geojson").read_text(encoding="utf-8"))
    shapes = {f["properties"]["code"]: shape(f["geometry"]) for f in ign["features"]
              if f["properties"]["code"] in codes}
    points = [Point(n.location.lon, n.location.lat) for n in osmium.FileProcessor(
        str(DEMO / "monaco-2025-02-07.osm.pbf"), osmium.osm.NODE) if n.tags.get("man_made") == "surveillance"]
    return {code: sum(outline.covers(p) for p in points) for code, outline in shapes.items()}


def test_an_extract_is_counted_in_the_official_communes_kept_for_offline_runs(
    capsys, geo_api, httpserver, shared_data
):
    """Beausoleil's relation is incomplete in the extract: the official outline counts it.
    The department is fetched once; the next run, offline, uses what was kept."""
    url = httpserver.url_for("/geo")
    code, report, err = _count_json(capsys, "--commune", "Beausoleil", "--geo-api-url", url)
    assert code == 0, err
    (row,) = report["communes"]
    assert (row["insee"], row["cameras"]) == ("06012", _brute_force(shared_data, {"06012"})["06012"])
    assert row["population"] == geo_api.communes["06012"]["population"]
    assert report["meta"]["boundaries"].startswith("geo.api.gouv.fr contours of department 06")
    asked = len(httpserver.log)
    assert [r.args["codeDepartement"] for r, _ in httpserver.log] == ["06"]
    again, second, err = _count_json(capsys, "--commune", "Beausoleil", "--offline",
                                     "--geo-api-url", "http://127.0.0.1:9/")
    assert again == 0, err
    assert second["communes"] == report["communes"] and len(httpserver.log) == asked


def test_a_commune_named_outside_the_extract_gets_its_departments_outlines(
    capsys, geo_api, httpserver, tmp_path
):
    """Nantes named on the Monaco extract: only department 06 (the extract's relations) was
    fetched, so the answer was "no commune 'Nantes'; Nantes (44109) is a French commune, but
    ... department 06 ... does not hold it" (exit 3), and offline the advice to keep
    department 06, which would not help. The named commune's department is fetched too,
    as the docs say ("and of the selection"): Nantes lies outside the data (exit 4, as with
    --boundaries); offline, the advice names both departments."""
    url = httpserver.url_for("/geo")
    cache = str(tmp_path / "cache")
    code, _, err = _count_json(capsys, "--commune", "nantes", "--geo-api-url", url, "--cache-dir", cache)
    assert code == 4, err
    assert err.strip().endswith("nothing there can be counted")
    assert "osmcams: error: Nantes (44109): outside the data of " in err
    assert sorted(r.args["codeDepartement"] for r, _ in httpserver.log) == ["06", "44"]
    code, _, err = _count_json(capsys, "--commune", "Nantes", "--cache-dir", str(tmp_path / "empty"))
    assert code == 3  # geo.api: a closed port
    assert "'osmcams download communes --department 06 --department 44' keeps them" in err


def test_download_communes_fills_the_cache_ahead_of_an_offline_run(
    capsys, geo_api, httpserver, shared_data, tmp_path
):
    from osmcams.cli import main

    cache = tmp_path / "kept"
    url = httpserver.url_for("/geo")
    assert main(["download", "communes", "--department", "6", "--geo-api-url", url,
                 "--cache-dir", str(cache), "-q"]) == 0
    err = capsys.readouterr().err
    official = {c for c, v in geo_api.communes.items() if v["codeDepartement"] == "06"}
    assert f"department 06: {len(official)} communes kept" in err
    kept = json.loads((cache / "communes/geoapi-06.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["code"] for f in kept["features"]} == official
    code, report, err = _count_json(capsys, "--department", "06", "--offline", "--include-partial",
                                    "--cache-dir", str(cache))
    assert code == 0, err
    counted = {row["insee"]: row["cameras"] for row in report["communes"]}
    expected = _brute_force(shared_data, set(counted))
    assert counted == expected and sum(expected.values()) == 2


def test_without_kept_communes_or_network_the_extracts_relations_are_used_and_said(capsys):
    code, _, err = _count_json(capsys, "--commune", "Beausoleil")  # geo.api: a closed port
    assert code == 4
    assert "its boundary is incomplete in monaco-2025-02-07.osm.pbf" in err
    assert "the official communes of department 06 are not kept and cannot be fetched" in err
    assert "'osmcams download communes --department 06' keeps them" in err


def test_download_communes_takes_departments_or_all(capsys):
    from osmcams.cli import main

    assert main(["download", "communes"]) == 2
    assert "give --department CODE (repeatable) or --all" in capsys.readouterr().err
    assert main(["download", "alpes_maritimes", "--department", "06"]) == 2
    assert "--department and --all go with 'osmcams download communes'" in capsys.readouterr().err


def test_the_readmes_library_example_dates_its_population(
    monaco_2025: Path, communes_06: Path, cog_population: Path, osm_cameras
) -> None:
    """The README's Python example, its file names pointed at the real files, as a reader
    runs it: it passed the COG's communes.json, whose census year nothing in it states, so
    its report had a population with no year (and a warning asking for one); it now gives
    the year, as a caller must."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (code,) = [block.split("```", 1)[0] for block in readme.split("```python\n")[1:]]
    for name, path in (("monaco-2025-02-07.osm.pbf", monaco_2025),
                       ("communes-06-alpes-maritimes.geojson", communes_06),
                       ("communes.json", cog_population)):
        code = code.replace(f'"{name}"', repr(str(path)))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    report = scope["report"]
    assert report.meta["population_year"] == "2023"
    assert "communes.json" in report.meta["population_source"]
    assert not [w for w in report.warnings if "census year" in w]
    features = json.loads(communes_06.read_text(encoding="utf-8"))["features"]
    outline = shape(next(f["geometry"] for f in features if f["properties"]["code"] == "06012"))
    cog = json.loads(cog_population.read_text(encoding="utf-8"))
    population = {c["code"]: c.get("population") for c in cog if c["type"] == "commune-actuelle"}
    (row,) = report.rows
    assert (row["insee"], row["population"]) == ("06012", population["06012"])
    assert row["cameras"] == sum(outline.covers(Point(o.lon, o.lat)) for o in osm_cameras(monaco_2025))


def test_the_readmes_commands_run_in_the_venv_it_makes(tmp_path: Path) -> None:
    """The quick start makes a venv and runs `.venv/bin/osmcams`, then went on with bare
    `osmcams ...` commands, which a fresh shell does not find ("command not found"). Each
    `sh` block of the README, run in order by bash where only the venv holds an `osmcams`
    (a stand-in that notes its calls), finds it for every command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in readme.split("```sh\n")[1:]]
    bin_dir = tmp_path / ".venv/bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    stand_in = f'#!/bin/sh\necho "$0 $*" >> {calls}\n'
    for name in ("osmcams", "pip", "python"):
        (bin_dir / name).write_text(stand_in)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "activate").write_text(f'PATH="{bin_dir}:$PATH"; export PATH\n')
    script = "\n".join(
        line.split("#", 1)[0].replace("python3 -m venv .venv && ", "")
        for block in blocks for line in block.splitlines() if line.split("#", 1)[0].strip()
    )
    osmcams_lines = [line for line in script.splitlines() if line.split()[0].endswith("osmcams")]
    done = subprocess.run(["bash", "-c", f"set -e\n{script}"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(calls.read_text().splitlines()) >= len(osmcams_lines) > 5
