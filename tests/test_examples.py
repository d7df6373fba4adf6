"""The examples run as written: the sample configuration, the crontab line, the systemd
service and the old script's wrapper, against a local download and replication server."""

from __future__ import annotations

import configparser
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_osmium
from fake_replication import STAMP, Server, osc, read_objects
from fake_services import RangeFile
from test_download import geofabrik_index

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEQUENCE = 6462849  # Monaco 2025's
FRENCH = {"06012", "06032", "06104"}  # the communes of the 06 that the extract reaches


def _with_header(source: Path, target: Path, url: str, sequence: int, stamp: str) -> bytes:
    run_osmium("cat", source, "-o", target, "--overwrite",
               f"--output-header=osmosis_replication_base_url={url}",
               f"--output-header=osmosis_replication_sequence_number={sequence}",
               f"--output-header=osmosis_replication_timestamp={stamp}")
    return target.read_bytes()


@pytest.fixture
def site(httpserver, monaco_2025, communes_06, cog_population, tmp_path, net_env):
    """Geofabrik serving Monaco 2025 (with a header naming the local replication server),
    and the sample configuration pointed at it and at temporary directories."""
    replication = Server(httpserver, tmp_path / "replication")
    replication.set_latest(SEQUENCE, "2025-02-07T01:02:45Z")
    data = _with_header(monaco_2025, tmp_path / "served.osm.pbf", replication.url, SEQUENCE,
                        "2025-02-07T01:02:45Z")
    served = RangeFile(data)
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(served)

    def md5(request):
        from werkzeug import Response

        return Response(f"{hashlib.md5(served.data).hexdigest()}  monaco-latest.osm.pbf\n")

    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_handler(md5)
    text = (EXAMPLES / "osmcams.toml").read_text(encoding="utf-8")
    for old, new in {
        "/var/lib/osmcams/alpes-maritimes.osm.pbf": str(tmp_path / "data" / "monaco.osm.pbf"),
        "osmfr:alpes_maritimes": "geofabrik:monaco",
        "/srv/osmcams/communes/communes-06-alpes-maritimes.geojson": str(communes_06),
        "/srv/osmcams/communes.json": str(cog_population),
        "/var/www/cameras": str(tmp_path / "www"),
        "/var/lib/osmcams/history.sqlite": str(tmp_path / "lib" / "history.sqlite"),
    }.items():
        assert old in text
        text = text.replace(old, new)
    # Monaco 2025 declares no bounding box: name the communes it reaches, not all of the 06.
    text = text.replace('department = "06"', f"names = {json.dumps(sorted(FRENCH))}")
    config = tmp_path / "osmcams.toml"
    config.write_text(text, encoding="utf-8")
    (tmp_path / "lib").mkdir()
    return config, replication, served


VENV = "/opt/osmcams/.venv/bin/osmcams"  # where the examples expect the venv's osmcams


def _venv(tmp_path: Path) -> Path:
    """/opt/osmcams under `tmp_path`: examples/ beside a .venv whose bin/osmcams is a console
    script as pip writes it (the interpreter's absolute path, then osmcams's entry point)."""
    root = tmp_path / "opt" / "osmcams"
    (root / ".venv" / "bin").mkdir(parents=True)
    script = root / ".venv" / "bin" / "osmcams"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.path[:0] = {sys.path!r}\n"
                      "from osmcams.cli import run\nrun()\n")
    script.chmod(0o755)
    (root / "examples").mkdir()
    for example in EXAMPLES.iterdir():
        (root / "examples" / example.name).write_bytes(example.read_bytes())
    (root / "examples" / "osmcams-refresh.sh").chmod(0o755)
    return root


def _as_cron(line: str, config: Path, root: Path, **extra: str) -> subprocess.CompletedProcess:
    """`line` as cron runs it: /bin/sh, PATH=/usr/bin:/bin and nothing else of this shell
    (but the test services' endpoints, which a deployment would not need)."""
    line = line.replace("/etc/osmcams/osmcams.toml", str(config)).replace(
        "/opt/osmcams", str(root))
    services = {k: v for k, v in os.environ.items() if k.startswith("OSMCAMS_")}
    env = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={root}",
           *(f"{k}={v}" for k, v in {**services, **extra}.items())]
    return subprocess.run([*env, "/bin/sh", "-c", line], capture_output=True, text=True, timeout=300)


def test_crontab_service_and_wrapper(site, monaco_2025, tmp_path):
    config, replication, _ = site
    cron = [line for line in (EXAMPLES / "crontab").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert len(cron) == 1
    fields = cron[0].split(None, 5)
    assert fields[:5] == ["17", "*", "*", "*", "*"]

    # The first run downloads the extract (region) and prints nothing: --quiet.
    assert VENV in fields[5]
    root = _venv(tmp_path)
    done = _as_cron(fields[5], config, root)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    www = tmp_path / "www"
    with open(www / "communes.csv", encoding="utf-8") as f:
        assert {r["insee"] for r in csv.DictReader(f)} == FRENCH
    assert len(list((www / "communes").glob("06*.geojson"))) == len(FRENCH)
    assert (tmp_path / "lib" / "history.sqlite").is_file()

    # The systemd service applies the next diff and logs it, with a summary line.
    service = configparser.ConfigParser(interpolation=None, strict=False)
    service.read(EXAMPLES / "osmcams-refresh.service")
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"].startswith(VENV)
    timer = configparser.ConfigParser(interpolation=None)
    timer.read(EXAMPLES / "osmcams-refresh.timer")
    assert timer["Timer"]["OnCalendar"] == "hourly"
    node = read_objects(monaco_2025, "node", {10147090782})[10147090782]  # Beausoleil's camera
    node.version += 1
    node.tags.pop("man_made")
    replication.publish(SEQUENCE + 1, osc(modify=[node]), STAMP.format(2, 0))
    done = _as_cron(service["Service"]["ExecStart"], config, root)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].endswith("data of 2025-02-07T02:00Z: +0 −1 cameras in 1 commune")
    assert all(line[:4] == "2026" or line[:2] == "20" for line in lines)  # timestamps

    # The old script is a thin wrapper now, found by its path in the checkout: nothing new,
    # nothing printed.
    wrapper = "/opt/osmcams/examples/osmcams-refresh.sh"
    assert f"17 * * * * {wrapper}" in (EXAMPLES / "osmcams-refresh.sh").read_text()
    done = _as_cron(wrapper, config, root, OSMCAMS_CONFIG=str(config))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_diffs_gone_with_a_region_downloads_afresh(site, monaco_2025, tmp_path, capsys):
    from osmcams.cli import main

    config, replication, served = site
    assert main(["refresh", "--config", str(config), "--quiet"]) == 0
    node = read_objects(monaco_2025, "node", {10147090782})[10147090782]
    node.version += 1
    node.tags.pop("man_made")
    diffs = [osc(modify=[node]), osc(), osc()]
    for i, text in enumerate(diffs, 1):
        replication.publish(SEQUENCE + i, text, STAMP.format(2 + i, 0))
    replication.remove(SEQUENCE + 1)  # purged: the stored sequence cannot be caught up
    # The catalogue now has an extract at sequence + 2, as osmium apply-changes makes it.
    (tmp_path / "d.osc").write_text(diffs[0])
    merged = tmp_path / "merged.osm.pbf"
    run_osmium("apply-changes", monaco_2025, tmp_path / "d.osc", "-o", merged)
    served.data = _with_header(merged, tmp_path / "new.osm.pbf", replication.url, SEQUENCE + 2,
                               STAMP.format(4, 0))
    served.etag = '"new"'
    capsys.readouterr()
    assert main(["refresh", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert f"no longer has sequence {SEQUENCE + 1}" in err and "downloading geofabrik:monaco afresh" in err
    assert "data of 2025-02-07T05:00Z: +0 −1 cameras in 1 commune" in err
    report = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    assert report["meta"]["replication_sequence"] == SEQUENCE + 3
    assert {r["insee"]: r["cameras"] for r in report["communes"]}["06012"] == 0


def test_the_sample_configuration_as_shipped_names_the_file_it_lacks(capsys) -> None:
    """Run as the README shows it, before its paths are set: one line naming the key and the
    file (the first of the boundaries, read from the TOML), exit 4, nothing written."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    from osmcams.cli import main
    from osmcams.errors import ExitCode

    config = EXAMPLES / "osmcams.toml"
    boundaries = tomllib.loads(config.read_text(encoding="utf-8"))["communes"]["boundaries"][0]
    assert not Path(boundaries).exists()
    assert main(["refresh", "--config", str(config), "--quiet"]) == ExitCode.DATA
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"osmcams: error: {config}: [communes] boundaries {boundaries}: no such file or directory"]


def test_the_sample_configuration_dates_its_population(site, tmp_path, capsys) -> None:
    """The sample's population is the COG's communes.json, whose census year nothing in it
    states: every published file had a population of no year, and each run warned. The
    sample gives the year of that table, 2023, the one the COG 2026 holds."""
    from osmcams.cli import main

    config, _, _ = site
    assert main(["refresh", "--config", str(config), "--quiet"]) == 0
    report = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    assert report["meta"]["population_year"] == "2023"
    assert report["meta"]["population_source"].startswith("communes.json")
    assert not [w for w in report["warnings"] if "census year" in w]
