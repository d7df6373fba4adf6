"""The fault matrix: hostile input, end to end through the CLI, as one table of cases.

Each case names how to build its input (from the real data or a local server), the
command line, the exit code expected and the words the one error or warning line must
hold. A new fault is one new row in ``CASES``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
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
    closers: list[Callable[[], object]] = field(default_factory=list)  # run when the case ends

    @property
    def ign_06(self) -> Path:
        return self.data / "communes/ign-2018-simplified/departements/communes-06-alpes-maritimes.geojson"

    @property
    def population(self) -> Path:
        return self.data / "population/cog-2026/communes.json"

    @property
    def monaco(self) -> Path:
        return self.data / "osm/monaco-2025-02-07.osm.pbf"

    def squares(self, *codes_and_names: tuple[str, str]) -> Path:
        """A boundary file of 0.03° squares side by side over Monaco, one per (code, name)."""
        features = [
            {"type": "Feature", "properties": {"code": code, "nom": name}, "geometry": {
                "type": "Polygon", "coordinates": [[[x, 43.72], [x + 0.03, 43.72], [x + 0.03, 43.75],
                                                    [x, 43.75], [x, 43.72]]]}}
            for x, (code, name) in zip((7.37, 7.40, 7.43, 7.46), codes_and_names)
        ]
        return self.write("squares.geojson", json.dumps({"type": "FeatureCollection", "features": features}))

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

    # Local services (network faults) -------------------------------------------------

    def trickle(self, pause: float, drip: bytes = b" " * 100) -> str:
        """The URL of a server of its own that sends headers, then a byte every `pause` s."""
        from fake_services import Trickle, http_head

        server = Trickle(http_head(10_000), drip, pause).__enter__()
        self.closers.append(lambda: server.__exit__(None, None, None))
        return server.url + "/trickle"

    def services(self, elements: list[Any] | None = None, answer: Any = None,
                 overpass: Callable | None = None, geo: Callable | None = None,
                 overpass_url: str | None = None) -> list[str]:
        """geo.api.gouv.fr with the real communes of 06 and Overpass at /api: their URLs as flags.

        Overpass answers Nice's area and `elements`, or `answer`, or calls `overpass`;
        `geo` may rewrite geo.api.gouv.fr's JSON answers.
        """
        from fake_services import GeoApi, overpass_answer, status_page
        from werkzeug import Response

        server: Any = self.httpserver
        api = GeoApi(self.data, ("06",))

        def geo_api(request: Any) -> Response:
            answer = api(request)
            if geo is None:
                return answer
            return Response(json.dumps(geo(json.loads(answer.get_data()))),
                            content_type="application/json")

        server.expect_request("/geo/communes").respond_with_handler(geo_api)
        server.expect_request("/api/status").respond_with_data(status_page(2))
        interpreter = server.expect_request("/api/interpreter", method="POST")
        if overpass is not None:
            interpreter.respond_with_handler(overpass)
        else:
            area = {"type": "area", "id": 3_600_170_100}
            interpreter.respond_with_json(answer if answer is not None else overpass_answer(
                [area, *(elements or [])]))
        return ["--geo-api-url", server.url_for("/geo"),
                "--overpass-url", overpass_url or server.url_for("/api/interpreter")]

    def count_nice(self, **services: Any) -> list[str | Path]:
        """``count --commune Nice`` against the local services."""
        return ["count", "--commune", "Nice", *self.services(**services), "-q"]

    def catalogue(self, pbf_path: str = "europe/monaco-latest.osm.pbf",
                  length: int = 1000) -> list[str]:
        """A Geofabrik index with one region, Monaco, at `pbf_path`, `length` bytes long."""
        from werkzeug import Response

        server: Any = self.httpserver
        url = server.url_for(f"/geofabrik/{pbf_path}")
        index = {"type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": None,
            "properties": {"id": "monaco", "name": "Monaco", "parent": "europe",
                           "urls": {"pbf": url}},
        }]}
        server.expect_request("/geofabrik/index-v1.json").respond_with_json(index)
        server.expect_request(f"/geofabrik/{pbf_path}", method="HEAD").respond_with_response(
            Response(iter([]), headers={"Content-Length": str(length), "ETag": '"1"'},
                     direct_passthrough=True))
        server.expect_request(f"/geofabrik/{pbf_path}").respond_with_data(b"x" * min(length, 1000))
        return ["--download-url", server.url_for("/geofabrik")]

    def damaged_cache(self) -> Path:
        """A cache directory whose http.sqlite was overwritten."""
        cache = self.tmp / "cache"
        cache.mkdir()
        (cache / "http.sqlite").write_bytes(b"overwritten " * 1000)
        return cache

    def file(self) -> Path:
        return self.write("a-file", "not a directory")


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


GEO_BOWTIE = {"type": "Polygon", "coordinates": [[[7.20, 43.68], [7.28, 43.74], [7.28, 43.68],
                                                  [7.20, 43.74], [7.20, 43.68]]]}


def _far_contour(geometry: dict[str, Any]) -> dict[str, Any]:
    """A geo.api contour with its second vertex moved to longitude 500."""
    changed = copy.deepcopy(geometry)
    polygon = changed["coordinates"] if changed["type"] == "Polygon" else changed["coordinates"][0]
    polygon[0][1] = [500.0, polygon[0][1][1]]
    return changed


def _geo_features(answer: Any, geometry: Callable[[Any], Any] | None = None,
                  code: str | None = None) -> Any:
    """A geo.api.gouv.fr GeoJSON answer with each feature's geometry or code altered."""
    if not isinstance(answer, dict):  # the name lookup's plain list: as it is
        return answer
    features = []
    for feature in answer["features"]:
        properties = {**feature["properties"], **({"code": code} if code else {})}
        shape = geometry(feature["geometry"]) if geometry else feature["geometry"]
        features.append({**feature, "properties": properties, "geometry": shape})
    return {**answer, "features": features}


@dataclass(frozen=True)
class Case:
    """One fault: the arguments built from an Env, the exit code, the words expected."""

    name: str
    argv: Callable[[Env], list[str | Path]]
    code: ExitCode
    words: str  # in the last stderr line (the error), or in a warning when code is OK
    env: dict[str, str] = field(default_factory=dict)  # environment of the run
    absent: str = ""  # words that must appear nowhere in the output


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
    # issue 7 §1: a commune where the extract has no data has no count
    Case("commune outside the data",
         lambda e: ["count", "--commune", "Nice", "--pbf", e.monaco, "--boundaries", e.ign_06, "-q"],
         ExitCode.DATA, "Nice (06088): outside the data of"),
    Case("export of a commune outside the data",
         lambda e: ["export", "--commune", "Nice", "--pbf", e.monaco, "--boundaries", e.ign_06, "-q",
                    "-o", e.tmp / "nice.geojson"],
         ExitCode.DATA, "Nice (06088): outside the data of"),
    # issue 7 §5: the output's suffix and the format agree
    Case("table suffix against --format",
         lambda e: ["count", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06, "-q",
                    "-o", e.tmp / "new.csv", "-f", "json"],
         ExitCode.USAGE, "new.csv names csv, not --format json"),
    Case("table suffix osmcams cannot write",
         lambda e: ["count", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06, "-q",
                    "-o", e.tmp / "x.xlsx"],
         ExitCode.USAGE, "osmcams cannot write x.xlsx"),
    Case("camera suffix osmcams cannot write",
         lambda e: ["export", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06, "-q",
                    "-o", e.tmp / "x.dxf"],
         ExitCode.USAGE, "osmcams cannot write x.dxf"),
    Case("camera suffix against --format",
         lambda e: ["export", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06, "-q",
                    "-o", e.tmp / "x.gpkg", "-f", "geojson"],
         ExitCode.USAGE, "x.gpkg names gpkg, not --format geojson"),
    # issue 8 §3: names that slug alike are refused before anything is written
    Case("codes that slug alike",
         lambda e: ["export", "--all", "--pbf", e.monaco, "--boundaries",
                    e.squares(("X4", "Twin"), ("Ｘ４", "Twin")), "--output-dir", e.tmp / "out", "-q"],
         ExitCode.USAGE, "would both be written to x4-twin.geojson"),
    Case("codes . and ..",
         lambda e: ["export", "--all", "--pbf", e.monaco, "--boundaries",
                    e.squares((".", "Dot"), ("..", "Dot")), "--output-dir", e.tmp / "out", "-q",
                    "--overwrite"],
         ExitCode.USAGE, "would both be written to commune-dot.geojson"),
    # issue 8 §2: a destination the system refuses (/sys takes no new directory, even for root)
    Case("read-only --output-dir",
         lambda e: ["export", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "--output-dir", "/sys/osmcams-test/out", "-q"],
         ExitCode.USAGE, "cannot write /sys/osmcams-test/out"),
    Case("read-only -o",
         lambda e: ["count", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "-o", "/sys/osmcams-test.csv", "-q"],
         ExitCode.USAGE, "cannot write /sys/osmcams-test.csv"),
    # --- Network and services (issue 8 §1-4, issue 7 §7) ----------------------------------
    *[Case(f"{var} {value}", lambda e: e.count_nice(), ExitCode.USAGE, var, env={var: value})
      for var, values in (("OSMCAMS_READ_TIMEOUT", ("0", "-1", "nan", "inf")),
                          ("OSMCAMS_CONNECT_TIMEOUT", ("0",)), ("OSMCAMS_MAX_TRIES", ("0",)),
                          ("OSMCAMS_DEADLINE", ("-inf",)), ("OSMCAMS_MAX_ANSWER_MB", ("0",)),
                          ("OSMCAMS_CACHE_TTL", ("-5",)))
      for value in values],
    Case("port out of range", lambda e: ["count", "--commune", "Nice", "--overpass-url",
                                         "http://127.0.0.1:99999/api/interpreter"],
         ExitCode.USAGE, "--overpass-url"),
    Case("unclosed IPv6 address", lambda e: ["count", "--commune", "Nice", "--geo-api-url",
                                             "http://[::1/api"],
         ExitCode.USAGE, "--geo-api-url"),
    Case("bad URL from the environment keeps its password", lambda e: ["count", "--commune", "Nice"],
         ExitCode.USAGE, "OSMCAMS_OVERPASS_URL", env={"OSMCAMS_OVERPASS_URL": "ftp://me:secret@host/"},
         absent="secret"),
    Case("Overpass node without lon",
         lambda e: e.count_nice(elements=[{"type": "node", "id": 1, "lat": 43.7, "tags": {}}]),
         ExitCode.NETWORK, "the service answered something unexpected: Overpass element 2"),
    Case("Overpass lat abc",
         lambda e: e.count_nice(elements=[{"type": "node", "id": 1, "lat": "abc", "lon": 7.2}]),
         ExitCode.NETWORK, "node/1 has no valid 'lat' and 'lon'"),
    Case("Overpass tags x",
         lambda e: e.count_nice(elements=[{"type": "node", "id": 1, "lat": 43.7, "lon": 7.2,
                                           "tags": "x"}]),
         ExitCode.NETWORK, "node/1 has tags that are not text"),
    Case("Overpass way centre missing its lat",
         lambda e: e.count_nice(elements=[{"type": "way", "id": 1, "center": {"lon": 7.2}}]),
         ExitCode.NETWORK, "way/1 has no valid centre"),
    Case("Overpass elements 1 2 3", lambda e: e.count_nice(answer={"elements": [1, 2, 3]}),
         ExitCode.NETWORK, "element 1: is int, not an object"),
    Case("Overpass elements not a list", lambda e: e.count_nice(answer={"elements": {"a": 1}}),
         ExitCode.NETWORK, "the service answered something unexpected: Overpass sent no 'elements'"),
    Case("geo.api commune without code",
         lambda e: e.count_nice(geo=lambda a: [{k: v for k, v in c.items() if k != "code"} for c in a]
                                if isinstance(a, list) else a),
         ExitCode.NETWORK, "geo.api.gouv.fr sent a commune without a valid INSEE code"),
    Case("geo.api population beaucoup",
         lambda e: e.count_nice(geo=lambda a: {**a, "features": [
             {**f, "properties": {**f["properties"], "population": "beaucoup"}} for f in a["features"]]}
             if isinstance(a, dict) else a),
         ExitCode.NETWORK, "population for 06088 that is not a whole number: 'beaucoup'"),
    Case("geo.api contour that is a Point",
         lambda e: e.count_nice(geo=lambda a: {**a, "features": [
             {**f, "geometry": {"type": "Point", "coordinates": [7.2, 43.7]}} for f in a["features"]]}
             if isinstance(a, dict) else a),
         ExitCode.NETWORK, "contour for 06088 that is a Point, not a polygon"),
    # Issue 21 §8: geo.api.gouv.fr contours get the checks of a boundary file.
    Case("geo.api contour with a vertex at longitude 500",
         lambda e: e.count_nice(geo=lambda a: _geo_features(a, geometry=_far_contour)),
         ExitCode.DATA, "beyond longitude ±180 or latitude ±90 in the outline of 'Nice' (06088)"),
    Case("geo.api bowtie contour repaired with a warning",
         lambda e: e.count_nice(geo=lambda a: _geo_features(a, geometry=lambda g: GEO_BOWTIE)),
         ExitCode.OK, "the outline of 'Nice' (06088) is invalid"),
    Case("geo.api contour of another commune than asked",
         lambda e: e.count_nice(geo=lambda a: _geo_features(a, code="06012")),
         ExitCode.NETWORK, "answered with commune 06012 when asked for 06088"),
    Case("connection refused", lambda e: ["count", "--commune", "Nice", "-q"],
         ExitCode.NETWORK, "the connection was refused; count from a file with --pbf, or from "
                           "cached answers with --offline"),
    Case("name that does not resolve",
         lambda e: ["count", "--commune", "Nice", "--geo-api-url", "http://osmcams-test.invalid"],
         ExitCode.NETWORK, "cannot reach osmcams-test.invalid: its name does not resolve"),
    Case("429 on every try",
         lambda e: e.count_nice(overpass=lambda r: _plain("busy", 429)),
         ExitCode.NETWORK, "answered 429 TOO MANY REQUESTS after 2 tries",
         env={"OSMCAMS_MAX_TRIES": "2", "OSMCAMS_MIN_RETRY_WAIT": "0.01"}),
    Case("one byte every 0.25 s", lambda e: e.count_nice(overpass_url=e.trickle(0.25)),
         ExitCode.NETWORK, "did not send its whole answer within 3 s",
         env={"OSMCAMS_READ_TIMEOUT": "2", "OSMCAMS_DEADLINE": "3"}),
    Case("stall in the middle of the body",
         lambda e: e.count_nice(overpass_url=e.trickle(0, b'{"elements": [')),
         ExitCode.NETWORK, "stopped sending in the middle of its answer (nothing for 1.5 s)",
         env={"OSMCAMS_READ_TIMEOUT": "1.5"}, absent="cannot reach"),
    Case("answer over the size limit", lambda e: e.count_nice(overpass=_huge),
         ExitCode.NETWORK, "larger than 1 MB, the limit set by OSMCAMS_MAX_ANSWER_MB",
         env={"OSMCAMS_MAX_ANSWER_MB": "1"}),
    Case("302 on the Overpass POST",
         lambda e: e.count_nice(overpass=lambda r: _plain("", 302, Location="/api/interpreter")),
         ExitCode.NETWORK, "which would turn the POST into a GET: refused"),
    Case("307 to another host",
         lambda e: e.count_nice(overpass=lambda r: _plain("", 307, Location="http://localhost:9/x")),
         ExitCode.NETWORK, "redirected the request to http://localhost:9/x (307), which leaves"),
    Case("credentials in a failing URL",
         lambda e: [*e.count_nice(geo=lambda a: 1 / 0)[:-5], "--geo-api-url",
                    e.services()[1].replace("//", "//user:secret@"), "-q"],
         ExitCode.NETWORK, "answered 500", absent="secret"),
    Case("damaged HTTP cache", lambda e: [*e.count_nice(), "--cache-dir", e.damaged_cache()],
         ExitCode.OK, "was damaged: moved aside"),
    Case("damaged HTTP cache, offline",
         lambda e: ["count", "--commune", "Nice", "--offline", "--cache-dir", e.damaged_cache()],
         ExitCode.NETWORK, "offline: no cached answer"),
    Case("cache directory that is a file", lambda e: e.count_nice(), ExitCode.USAGE,
         "is a file, not a directory", env={"OSMCAMS_CACHE_DIR": "/etc/hostname"}),
    Case("cache directory under a file", lambda e: e.count_nice(), ExitCode.USAGE,
         "cannot create the cache directory", env={"OSMCAMS_CACHE_DIR": "/etc/hostname/cache"}),
    Case("catalogue entry ending in /..",
         lambda e: ["download", "monaco", *e.catalogue("europe/.."), "--dest", e.tmp / "x"],
         ExitCode.NETWORK, "the Geofabrik catalogue names a file that osmcams will not write, '..'"),
    Case("download onto a full disk",
         lambda e: ["download", "monaco", *e.catalogue(), "--dest", _full_disk(e.tmp / "x")],
         ExitCode.DATA, "is full: monaco-latest.osm.pbf.part was deleted"),
    Case("download into a directory that cannot be made",
         lambda e: ["download", "monaco", *e.catalogue(), "--dest", e.file() / "x"],
         ExitCode.USAGE, "cannot write in"),
    Case("download larger than the free disk",
         lambda e: ["download", "monaco", *e.catalogue(length=10**15), "--dest", e.tmp],
         ExitCode.DATA, "MB needed plus 67.1 MB kept spare"),
    Case("misspelt region, second catalogue unreachable",
         lambda e: ["download", "monacco", *e.catalogue()],
         ExitCode.USAGE, "did you mean geofabrik:monaco? (openstreetmap.fr was not searched"),
    Case("unknown region, second catalogue unreachable",
         lambda e: ["download", "saturn", *e.catalogue()],
         ExitCode.NETWORK, "the connection was refused"),
]


def _plain(text: str, status: int, **headers: str) -> Any:
    from werkzeug import Response

    return Response(text, status=status, headers=headers)


def _huge(request: Any) -> Any:
    """A 3 MB Overpass answer, sent in chunks with no Content-Length."""
    from fake_services import overpass_answer
    from werkzeug import Response

    text = json.dumps(overpass_answer([{"type": "node", "id": i, "lat": 43.7, "lon": 7.2}
                                       for i in range(60_000)]))
    return Response((text[i:i + 65536] for i in range(0, len(text), 65536)),
                    content_type="application/json")


def _full_disk(directory: Path) -> Path:
    """A destination whose download part is a link to /dev/full: every write fails, ENOSPC."""
    directory.mkdir()
    (directory / "monaco-latest.osm.pbf.part").symlink_to("/dev/full")
    return directory


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, shared_data: Path, tmp_path: Path, httpserver) -> None:
    env = Env(tmp_path, shared_data, httpserver)
    try:
        argv = [str(a) for a in case.argv(env)]
        result = CliRunner(env={"COLUMNS": "200", **case.env}).invoke(cli, argv, catch_exceptions=False)
    finally:
        for close in env.closers:
            close()
    assert result.exit_code == case.code, result.output
    assert "Traceback" not in result.output
    assert not case.absent or case.absent not in result.output
    lines = result.stderr.splitlines()
    if case.code == ExitCode.OK:
        assert any(case.words in line for line in lines if line.startswith("warning: ")), result.stderr
    else:
        assert lines and lines[-1].startswith(("osmcams: error: ", "Error: ")), result.stderr
        assert case.words in lines[-1], result.stderr
