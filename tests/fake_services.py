"""Answers in the formats of Overpass, geo.api.gouv.fr, Geofabrik and openstreetmap.fr,
built from the real data in ../shared/data, for pytest-httpserver handlers."""

from __future__ import annotations

import csv
import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from werkzeug import Request, Response

from osmcams.communes.names import normalise

OSM_BASE = "2025-02-07T10:00:00Z"
OVERPASS_GENERATOR = "Overpass API 0.7.62.5 1bd436f1"
COPYRIGHT = (
    "The data included in this document is from www.openstreetmap.org. "
    "The data is made available under ODbL."
)
PARIS_AREA = 3_600_007_444  # area of relation 7444, Paris


def overpass_answer(elements: list[dict[str, Any]], remark: str | None = None) -> dict[str, Any]:
    """A JSON answer of the Overpass API."""
    answer: dict[str, Any] = {
        "version": 0.6,
        "generator": OVERPASS_GENERATOR,
        "osm3s": {"timestamp_osm_base": OSM_BASE, "timestamp_areas_base": OSM_BASE,
                  "copyright": COPYRIGHT},
        "elements": elements,
    }
    if remark:
        answer["remark"] = remark
    return answer


def status_page(slots_free: int, wait_seconds: int = 0) -> str:
    """An Overpass /api/status page."""
    lines = [
        "Connected as: 2130706433",
        "Current time: 2025-02-07T10:00:00Z",
        "Announced endpoint: none",
        "Rate limit: 2",
    ]
    if slots_free:
        lines.append(f"{slots_free} slots available now.")
    else:
        when = f"2025-02-07T10:00:{wait_seconds:02d}Z"
        lines += [f"Slot available after: {when}, in {wait_seconds} seconds."] * 2
    lines.append("Currently running queries (pid, space limit, time limit, start time):")
    return "\n".join(lines) + "\n"


def paris_elements(shared: Path) -> list[dict[str, Any]]:
    """The 707 cameras of the Paris police register as Overpass nodes (``out center tags``)."""
    path = shared / "official/paris-police-2019/data.csv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    return [
        {
            "type": "node", "id": 9_000_000_000 + i, "lat": float(r["lat"]), "lon": float(r["lon"]),
            "tags": {"man_made": "surveillance", "surveillance": "public",
                     "surveillance:type": "camera", "operator": "Préfecture de Police"},
        }
        for i, r in enumerate(rows)
    ]


def pbf_elements(path: Path) -> list[dict[str, Any]]:
    """The man_made=surveillance nodes of a real extract, as Overpass nodes."""
    import osmium

    processor = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(
        osmium.filter.TagFilter(("man_made", "surveillance"))
    )
    return [
        {"type": "node", "id": n.id, "lat": n.location.lat, "lon": n.location.lon,
         "tags": dict(n.tags)}
        for n in processor
    ]


def boundary_element(path: Path, insee: str) -> dict[str, Any]:
    """The admin relation with `insee` in a real extract, as printed by ``out geom``."""
    import osmium

    relation_id, tags, members = next(
        (r.id, dict(r.tags), [(m.type, m.ref, m.role) for m in r.members])
        for r in osmium.FileProcessor(str(path), osmium.osm.RELATION)
        if r.tags.get("ref:INSEE") == insee and r.tags.get("boundary") == "administrative"
    )
    wanted = {ref for kind, ref, _ in members if kind == "w"}
    lines = {
        w.id: [{"lat": n.location.lat, "lon": n.location.lon} for n in w.nodes]
        for w in osmium.FileProcessor(str(path), osmium.osm.WAY | osmium.osm.NODE).with_locations()
        if w.is_way() and w.id in wanted
    }
    return {
        "type": "relation", "id": relation_id,
        "members": [
            {"type": "way", "ref": ref, "role": role, "geometry": lines[ref]}
            for kind, ref, role in members if kind == "w"
        ],
        "tags": tags,
    }


class GeoApi:
    """geo.api.gouv.fr ``/communes`` over IGN contours and COG 2026 populations."""

    def __init__(self, shared: Path, departments: tuple[str, ...]) -> None:
        self.communes = _communes(shared, departments)

    def __call__(self, request: Request) -> Response:
        args = request.args
        found = list(self.communes.values())
        if "code" in args:
            found = [c for c in found if c["code"] == args["code"]]
        if "codeDepartement" in args:
            found = [c for c in found if c["codeDepartement"] == args["codeDepartement"]]
        if "nom" in args:
            found = _search(found, args["nom"], args.get("boost") == "population")
            found = found[: int(args.get("limit", 10))]
        fields = args.get("fields", "nom,code,codeDepartement,population").split(",")
        if args.get("format") == "geojson":
            body: Any = {"type": "FeatureCollection", "features": [
                {"type": "Feature",
                 "properties": {k: c[k] for k in fields if k in c and k != "contour"},
                 "geometry": c["contour"]}
                for c in found
            ]}
        else:
            body = [{k: c[k] for k in [*fields, "_score"] if k in c} for c in found]
        return Response(json.dumps(body), content_type="application/json; charset=utf-8")


def _search(communes: list[dict[str, Any]], name: str, boost: bool) -> list[dict[str, Any]]:
    wanted = normalise(name)
    scored = []
    for c in communes:
        have = normalise(c["nom"])
        score = 1.0 if have == wanted else difflib.SequenceMatcher(None, wanted, have).ratio()
        if wanted in have:
            score = max(score, 0.8)
        if score >= 0.6:
            scored.append({**c, "_score": round(score, 4)})
    scored.sort(key=lambda c: (-c["_score"], -(c.get("population") or 0) if boost else 0))
    return scored


@lru_cache(maxsize=4)
def _communes(shared: Path, departments: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    folder = shared / "communes/ign-2018-simplified/departements"
    population = {
        r["code"]: r
        for r in json.loads((shared / "population/cog-2026/communes.json").read_text("utf-8"))
        if r["type"] == "commune-actuelle"
    }
    communes = {}
    for department in departments:
        (path,) = folder.glob(f"communes-{department}-*.geojson")
        for feature in json.loads(path.read_text("utf-8"))["features"]:
            code = feature["properties"]["code"]
            cog = population.get(code)
            if cog is None:  # merged since 2018: the live API no longer lists it
                continue
            communes[code] = {
                "nom": cog["nom"], "code": code, "codeDepartement": cog["departement"],
                "population": cog.get("population"), "surface": 0.0,
                "contour": feature["geometry"],
            }
    return communes


def apache_listing(path: str, names: list[str]) -> str:
    """An Apache ``mod_autoindex`` page listing `names` (directories end with a slash)."""
    rows = "\n".join(
        f'<tr><td valign="top"><img src="/icons/{"folder" if n.endswith("/") else "unknown"}.gif" '
        f'alt="[   ]"></td><td><a href="{n}">{n}</a></td>'
        f'<td align="right">2025-02-07 03:12  </td><td align="right">  - </td></tr>'
        for n in names
    )
    return (
        f"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html><head>"
        f"<title>Index of {path}</title></head><body><h1>Index of {path}</h1><table>\n"
        '<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>'
        '<th><a href="?C=S;O=A">Size</a></th></tr>\n'
        '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
        '<td><a href="/extracts/europe/">Parent Directory</a></td><td>&nbsp;</td></tr>\n'
        f"{rows}\n</table></body></html>\n"
    )


class RangeFile:
    """Serve bytes with ETag, Last-Modified and Range support, optionally cut short once."""

    def __init__(self, data: bytes, etag: str = '"5f2a-62d1"', cut_first_at: int | None = None):
        self.data, self.etag, self.cut_first_at = data, etag, cut_first_at
        self.ranges: list[str | None] = []
        self.last_status: int | None = None

    def __call__(self, request: Request) -> Response:
        headers = {"ETag": self.etag, "Last-Modified": "Fri, 07 Feb 2025 03:12:00 GMT",
                   "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(self.data))
            return Response(iter([]), headers=headers, direct_passthrough=True)
        wanted = request.headers.get("Range")
        self.ranges.append(wanted)
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        start = int(match.group(1)) if match and request.headers.get("If-Range") == self.etag else 0
        body = self.data[start:]
        status = self.last_status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(self.data) - 1}/{len(self.data)}"
        headers["Content-Length"] = str(len(body))
        if self.cut_first_at is not None:
            body, self.cut_first_at = body[: self.cut_first_at], None
        return Response(iter([body]), status=status, headers=headers, direct_passthrough=True)


class Trickle:
    """A raw HTTP server on 127.0.0.1 that sends `head` at once, then `drip` one byte at a
    time every `pause` seconds; it stops after `limit` seconds, whatever the client does."""

    def __init__(self, head: bytes, drip: bytes = b"", pause: float = 0.3, limit: float = 8.0):
        import socket

        self.head, self.drip, self.pause, self.limit = head, drip, pause, limit
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(limit)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def __enter__(self) -> Trickle:
        import threading

        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(self.limit)

    def _serve(self) -> None:
        import threading

        timer = threading.Timer(self.limit, self.stop.set)
        timer.daemon = True
        timer.start()
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        with client:
            try:
                client.recv(65536)
                client.sendall(self.head)
                for byte in self.drip:
                    if self.stop.wait(self.pause):
                        return
                    client.sendall(bytes([byte]))
                self.stop.wait()  # then silence, until the test ends
            except OSError:
                return


def http_head(length: int, content_type: str = "application/json") -> bytes:
    """The status line and headers of a 200 answer of `length` bytes."""
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n").encode()
