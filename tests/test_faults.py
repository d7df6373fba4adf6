"""The fault matrix: hostile input, end to end through the CLI, as one table of cases.

Each case names how to build its input (from the real data or a local server), the
command line, the exit code expected and the words the one error or warning line must
hold. A new fault is one new row in ``CASES``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from osmcams.cli import cli
from osmcams.errors import ExitCode


@dataclass
class Env:
    """What a case may use to build its command line."""

    tmp: Path
    data: Path  # ../shared/data
    httpserver: object  # a pytest-httpserver on 127.0.0.1, for the service cases

    @property
    def ign_06(self) -> Path:
        return self.data / "communes/ign-2018-simplified/departements/communes-06-alpes-maritimes.geojson"

    @property
    def population(self) -> Path:
        return self.data / "population/cog-2026/communes.json"

    @property
    def monaco(self) -> Path:
        return self.data / "osm/monaco-2025-02-07.osm.pbf"

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def border(self, edit: Callable[[dict[str, dict[str, Any]]], object] = lambda f: None) -> Path:
        """The IGN outlines of the four French communes around Monaco, after `edit` ({code: feature})."""
        features = json.loads(self.ign_06.read_text(encoding="utf-8"))["features"]
        chosen = {f["properties"]["code"]: f for f in features if f["properties"]["code"] in BORDER}
        edit(chosen)
        collection = {"type": "FeatureCollection", "features": list(chosen.values())}
        return self.write("border.geojson", json.dumps(collection))

    def shapefile(self, crs: str) -> Path:
        """The border communes as a Shapefile in `crs`, without its .prj."""
        import geopandas

        features = json.loads(self.border().read_text(encoding="utf-8"))["features"]
        frame = geopandas.GeoDataFrame.from_features(features, crs="EPSG:4326").to_crs(crs)
        frame.to_file(self.tmp / "border.shp")
        (self.tmp / "border.prj").unlink()
        return self.tmp / "border.shp"

    def two_layers(self) -> Path:
        """The border communes in a GeoPackage with a second layer, which GDAL remarks on."""
        import geopandas

        features = json.loads(self.border().read_text(encoding="utf-8"))["features"]
        frame = geopandas.GeoDataFrame.from_features(features, crs="EPSG:4326")
        path = self.tmp / "border.gpkg"
        frame.to_file(path, layer="communes")
        frame.head(1).to_file(path, layer="other")
        return path

    def cut_pbf(self, extra: int) -> Path:
        """Monaco 2021 cut `extra` bytes past the end of its second-to-last block."""
        data = self.monaco_2021.read_bytes()
        end = 0
        ends = []
        while end < len(data):
            size = int.from_bytes(data[end : end + 4], "big")
            header = data[end + 4 : end + 4 + size]
            at = header.index(b"\x18") + 1  # BlobHeader field 3, the blob's size (a varint)
            blob, shift = 0, 0
            for byte in header[at:]:
                blob |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            end += 4 + size + blob
            ends.append(end)
        path = self.tmp / f"cut-{extra}.osm.pbf"
        path.write_bytes(data[: ends[-2] + extra])
        return path

    @property
    def monaco_2021(self) -> Path:
        return self.data / "osm/monaco-2021-04-21.osm.pbf"

    def count(self, *args: str | Path, boundaries: Path | None = None) -> list[str | Path]:
        """`count` on Monaco 2025 with the border communes, quietly."""
        return ["count", *args, "--pbf", self.monaco, "--boundaries", boundaries or self.border(), "-q"]


BORDER = ("06012", "06032", "06104", "06150")


def _ring(features: dict[str, dict[str, Any]], code: str) -> list[list[float]]:
    return features[code]["geometry"]["coordinates"][0]


def _bowtie(features: dict[str, dict[str, Any]]) -> None:
    west, south, east, north = 7.418, 43.735, 7.436, 43.750  # around Beausoleil
    features["06012"]["geometry"]["coordinates"] = [
        [[west, south], [east, north], [east, south], [west, north], [west, south]]
    ]


def _swap(features: dict[str, dict[str, Any]]) -> None:
    ring = _ring(features, "06012")
    ring[3], ring[6] = ring[6], ring[3]


def _far_vertex(features: dict[str, dict[str, Any]]) -> None:
    _ring(features, "06032")[2] = [500.0, 43.7]


def _no_geometry(features: dict[str, dict[str, Any]]) -> None:
    features["06032"]["geometry"] = None


def _point(features: dict[str, dict[str, Any]]) -> None:
    features["06032"]["geometry"] = {"type": "Point", "coordinates": [7.40, 43.72]}


def _no_code(features: dict[str, dict[str, Any]]) -> None:
    del features["06104"]["properties"]["code"]


def _cog(population: str, code: str = "06012") -> str:
    """A COG table of one commune, its population written as the JSON text `population`."""
    record = f'"code": "{code}", "nom": "Beausoleil", "type": "commune-actuelle"'
    return f"[{{{record}, \"population\": {population}}}]"



@dataclass(frozen=True)
class Case:
    """One fault: the arguments built from an Env, the exit code, the words expected."""

    name: str
    argv: Callable[[Env], list[str | Path]]
    code: ExitCode
    words: str  # in the last stderr line (the error), or in a warning when code is OK
    absent: str = ""  # text that must not appear on stderr


CASES: list[Case] = [
    Case("unknown commune",
         lambda e: ["count", "--commune", "Nowhere-sur-Mer", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "-q"],
         ExitCode.COMMUNE, "Nowhere-sur-Mer"),
    # Issue 8 §1: input accepted silently that must not be.
    *[Case(f"pbf cut {n} bytes into a block's length prefix",
           lambda e, n=n: ["count", "--all", "--pbf", e.cut_pbf(n), "-q"],
           ExitCode.DATA, "cut short") for n in (1, 2, 3)],
    Case("pbf cut inside a block header",
         lambda e: ["count", "--all", "--pbf", e.cut_pbf(9), "-q"], ExitCode.DATA, "cut short"),
    Case("bowtie commune repaired with a warning",
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.border(_bowtie)),
         ExitCode.OK, "outline of 'Beausoleil' (06012) is invalid"),
    Case("swapped vertices repaired with a warning",
         lambda e: e.count("--commune", "06012", boundaries=e.border(_swap)),
         ExitCode.OK, "km² as drawn"),
    Case("vertex at longitude 500",
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.border(_far_vertex)),
         ExitCode.DATA, "beyond longitude ±180 or latitude ±90 in the outline of \"Cap-d'Ail\""),
    Case("null geometry asked for by name",
         lambda e: e.count("--commune", "Cap-d'Ail", boundaries=e.border(_no_geometry)),
         ExitCode.DATA, "has no geometry, not a polygon"),
    Case("point geometry asked for by code",
         lambda e: e.count("--commune", "06032", boundaries=e.border(_point)),
         ExitCode.DATA, "has a Point geometry"),
    Case("null geometry in a ranking",
         lambda e: e.count("--department", "06", boundaries=e.border(_no_geometry)),
         ExitCode.OK, "1 features without a polygon left out: \"Cap-d'Ail\" (06032)"),
    Case("shapefile without .prj in lon/lat",
         lambda e: e.count("--department", "06", boundaries=e.shapefile("EPSG:4326")),
         ExitCode.OK, "taken as WGS84"),
    Case("shapefile without .prj in Lambert-93",
         lambda e: e.count("--department", "06", boundaries=e.shapefile("EPSG:2154")),
         ExitCode.DATA, "add the CRS"),
    Case("population inf",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("pop.csv", "CODGEO;P21_POP\n06032;4661\n06012;inf\n")],
         ExitCode.DATA, "pop.csv, line 3, code 06012: population 'inf'"),
    Case("population 1e400",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.write("p.json", _cog("1e400"))],
         ExitCode.DATA, "p.json, line 1, code 06012: population inf"),
    Case("population NaN",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("p.json", _cog("NaN"))],
         ExitCode.DATA, "population nan"),
    Case("population negative",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("p.csv", "CODGEO;PMUN\n06012;-13702\n")],
         ExitCode.DATA, "line 2, code 06012: population '-13702' is not a non-negative whole number"),
    Case("population true",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.write("p.json", _cog("true"))],
         ExitCode.DATA, "population True"),
    Case("population duplicates that disagree",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("p.csv", "CODGEO;PMUN\n06012;13702\n06032;4661\n06012;13703\n")],
         ExitCode.DATA, "code 06012 appears twice with different populations"),
    Case("population duplicates that agree",
         lambda e: [*e.count("--commune", "Beausoleil", "--commune", "Cap-d'Ail"), "--population",
                    e.write("p.csv", "CODGEO;PMUN\n06012;13702\n06012;13702\n")],
         ExitCode.OK, "1 commune has no population"),
    Case("population table with the wrong keys",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("p.json", '[{"insee": "06012", "population": 13702}]')],
         ExitCode.DATA, "line 1: no commune code"),
    Case("population table empty",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.write("p.json", "[]")],
         ExitCode.DATA, "no population in the table"),
    Case("population codes without their leading zero",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("p.csv", "CODGEO,PMUN\n6012,13702\n6032,4661\n")],
         ExitCode.DATA, "code '6012' lost its leading zero"),
    Case("population table matching no code",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("p.json", _cog("2133111", "75056"))],
         ExitCode.DATA, "no code of the table matches"),
    # Issue 8 §4: names in messages.
    Case("newline in a commune name",
         lambda e: e.count("--commune", "Beau\nsoleil"), ExitCode.COMMUNE, "'Beau\\nsoleil'"),
    Case("right-to-left override in a commune name",
         lambda e: e.count("--commune", "Beau\u202esoleil"), ExitCode.COMMUNE, "'Beau\\u202esoleil'"),
    # Issue 7 §4: errors that are one clear line.
    Case("boundary features without a code",
         lambda e: e.count("--department", "06", boundaries=e.border(_no_code)),
         ExitCode.OK, "1 features without a 'code' value left out: 'Roquebrune-Cap-Martin'"),
    Case("GDAL's remarks as warnings",
         lambda e: e.count("--department", "06", boundaries=e.two_layers()),
         ExitCode.OK, "border.gpkg: More than one layer found"),
    Case("output is a directory",
         lambda e: [*e.count("--commune", "Beausoleil"), "-o", e.tmp], ExitCode.USAGE, "is a directory"),
    Case("pbf is a directory",
         lambda e: ["count", "--all", "--pbf", e.tmp, "-q"], ExitCode.DATA, "a directory, not an OSM file"),
    Case("population file missing",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.tmp / "nope.json"],
         ExitCode.DATA, "no such file", absent="Errno"),
    Case("GeoJSON given as population",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.ign_06],
         ExitCode.DATA, "a GeoJSON, not a population table", absent="FeatureCollection"),
    # Issue 7 §2: names as people write them.
    Case("INSEE code without its leading zero",
         lambda e: e.count("--commune", "6012"), ExitCode.COMMUNE,
         "06012 (Beausoleil) without its leading zero"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, shared_data: Path, tmp_path: Path, httpserver) -> None:
    env = Env(tmp_path, shared_data, httpserver)
    argv = [str(a) for a in case.argv(env)]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == case.code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    if case.absent:
        assert case.absent not in result.stderr
    if case.code == ExitCode.OK:
        assert any(case.words in line for line in lines if line.startswith("warning: ")), result.stderr
    else:
        assert lines and lines[-1].startswith(("osmcams: error: ", "Error: ")), result.stderr
        assert case.words in lines[-1], result.stderr
