"""The cron example runs as written, against local copies of the services."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

from test_download import catalogues, extracts, pbf  # noqa: F401  (fixtures)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "osmcams-refresh.sh"


def test_nightly_refresh_script(net_env, catalogues, communes_06, cog_population, tmp_path):  # noqa: F811
    out = tmp_path / "www"
    env = {
        **os.environ,
        "REGION": "geofabrik:monaco",
        "DEPARTMENT": "06",
        "COMMUNES": str(communes_06),
        "POPULATION": str(cog_population),
        "DATA": str(tmp_path / "data"),
        "OUT": str(out),
    }
    for _ in range(2):  # the second night finds the extract unchanged and rewrites the outputs
        done = subprocess.run(["bash", str(EXAMPLE)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    with open(out / "communes.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # The Monaco extract's box reaches 4 of the 163 communes of the Alpes-Maritimes.
    assert {r["insee"] for r in rows} == {"06012", "06032", "06104", "06150"}
    report = json.loads((out / "communes.json").read_text(encoding="utf-8"))
    assert report["meta"]["data_timestamp"] == "2021-04-21T20:21:46Z"
    assert "159 communes lie wholly outside" in " ".join(report["warnings"])
    assert len(list((out / "geojson").glob("06*.geojson"))) == 4
    assert not list(out.rglob("*.tmp*"))
