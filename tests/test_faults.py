"""The fault matrix: hostile input, end to end through the CLI, as one table of cases.

Each case names how to build its input (from the real data or a local server), the
command line, the exit code expected and the words the one error or warning line must
hold. A new fault is one new row in ``CASES``.
"""

from __future__ import annotations

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
                    "-o", e.tmp / "x.kml"],
         ExitCode.USAGE, "osmcams cannot write x.kml"),
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
