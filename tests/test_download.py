"""Extract catalogues and downloads against a local server serving a real PBF."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from fake_services import RangeFile, apache_listing

from osmcams.errors import DataError, LockedError, NetworkError, UsageError
from osmcams.files import exclusive_lock
from osmcams.sources import download
from osmcams.sources.http import Http

MONACO = "osm/monaco-2021-04-21.osm.pbf"


@pytest.fixture
def extracts(tmp_path):
    return tmp_path / "extracts"


@pytest.fixture(scope="module")
def pbf(shared_data) -> bytes:
    return (shared_data / MONACO).read_bytes()


def geofabrik_index(httpserver) -> dict:
    def feature(id_: str, name: str, parent: str | None, path: str) -> dict:
        urls = {"pbf": httpserver.url_for(f"/geofabrik/{path}-latest.osm.pbf"),
                "updates": httpserver.url_for(f"/geofabrik/{path}-updates")}
        props = {"id": id_, "name": name, "urls": urls, **({"parent": parent} if parent else {})}
        return {"type": "Feature", "properties": props,
                "geometry": {"type": "MultiPolygon", "coordinates": []}}

    return {"type": "FeatureCollection", "features": [
        feature("europe", "Europe", None, "europe"),
        feature("france", "France", "europe", "europe/france"),
        feature("pays-de-la-loire", "Pays de la Loire", "france", "europe/france/pays-de-la-loire"),
        feature("monaco", "Monaco", "europe", "europe/monaco"),
    ]}


@pytest.fixture
def catalogues(httpserver, pbf):
    """Geofabrik's index and openstreetmap.fr's listings; Monaco served with Range support."""
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/extracts/europe/france/").respond_with_data(
        apache_listing("/extracts/europe/france", ["provence_alpes_cote_d_azur/",
                                                   "provence_alpes_cote_d_azur-latest.osm.pbf"]),
        content_type="text/html")
    httpserver.expect_request("/extracts/europe/france/provence_alpes_cote_d_azur/").respond_with_data(
        apache_listing("/extracts/europe/france/provence_alpes_cote_d_azur",
                       ["alpes_maritimes-latest.osm.pbf", "alpes_maritimes.state.txt"]),
        content_type="text/html")
    served = RangeFile(pbf)
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(served)
    md5 = hashlib.md5(pbf).hexdigest()
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_data(
        f"{md5}  monaco-latest.osm.pbf\n")
    return served


def test_geofabrik_catalogue(net_settings, catalogues):
    regions = {r.id: r for r in download.geofabrik_regions(Http(net_settings))}
    assert regions["monaco"].parent == "europe"
    assert regions["monaco"].url.endswith("/geofabrik/europe/monaco-latest.osm.pbf")


def test_osmfr_catalogue_has_departments(net_settings, catalogues):
    regions = {r.id: r for r in download.osmfr_regions(Http(net_settings))}
    assert set(regions) == {"provence_alpes_cote_d_azur", "alpes_maritimes"}
    assert regions["alpes_maritimes"].parent == "provence_alpes_cote_d_azur"
    assert regions["alpes_maritimes"].url.endswith(
        "/extracts/europe/france/provence_alpes_cote_d_azur/alpes_maritimes-latest.osm.pbf"
    )


def test_find_region_by_name_id_or_catalogue(net_settings, catalogues):
    http = Http(net_settings)
    assert download.find_region(http, "pays de la loire").id == "pays-de-la-loire"
    assert download.find_region(http, "Alpes-Maritimes").key == "osmfr:alpes_maritimes"
    assert download.find_region(http, "osmfr:alpes_maritimes").catalogue == "osmfr"


def test_unknown_region_suggests(net_settings, catalogues):
    with pytest.raises(UsageError, match=r"no region 'monacco'.*did you mean geofabrik:monaco"):
        download.find_region(Http(net_settings), "monacco")


def test_download_verifies_and_skips_when_unchanged(net_settings, catalogues, pbf, extracts):
    http = Http(net_settings)
    seen: list[tuple[int, int | None]] = []
    plan = download.plan(http, download.find_region(http, "monaco"), extracts)
    assert plan.size == len(pbf) and not plan.up_to_date
    assert f"{len(pbf) / 1e6:,.1f} MB" in download.describe(plan)
    path = download.fetch(http, plan, lambda label, done, total: seen.append((done, total)))
    assert path == extracts / "monaco-latest.osm.pbf" and path.read_bytes() == pbf
    assert seen[-1] == (len(pbf), len(pbf))
    names = sorted(p.name for p in extracts.iterdir())
    assert names == [".monaco-latest.osm.pbf.lock", "monaco-latest.osm.pbf", "monaco-latest.osm.pbf.json"]
    again = download.plan(http, download.find_region(http, "monaco"), extracts)
    assert again.up_to_date and download.fetch(http, again) == path
    assert len(catalogues.ranges) == 1  # the file was fetched once


def test_interrupted_download_resumes(net_settings, catalogues, pbf, extracts):
    catalogues.cut_first_at = 300_000
    http = Http(net_settings)
    with pytest.raises(NetworkError, match=r"cut short|cannot reach"):
        download.extract_for(http, "monaco", extracts)
    part = extracts / "monaco-latest.osm.pbf.part"
    kept = part.stat().st_size
    assert 0 < kept <= 300_000 and not (extracts / "monaco-latest.osm.pbf").exists()
    path = download.extract_for(http, "monaco", extracts)
    assert path.read_bytes() == pbf and not part.exists()
    assert catalogues.ranges == [None, f"bytes={kept}-"]


def test_md5_mismatch_deletes_the_download(net_settings, catalogues, httpserver, extracts):
    httpserver.clear_all_handlers()
    catalogues.data = catalogues.data[:-1] + b"\x00"  # one corrupted byte
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(catalogues)
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_data(
        "0" * 32 + "  monaco-latest.osm.pbf\n")
    with pytest.raises(DataError, match=r"does not match the published 0{32}; the download was deleted"):
        download.extract_for(Http(net_settings), "monaco", extracts)
    assert [p.name for p in extracts.iterdir()] == [".monaco-latest.osm.pbf.lock"]


def test_not_enough_disk_space(net_settings, catalogues, extracts):
    http = Http(net_settings)
    plan = download.plan(http, download.find_region(http, "monaco"), extracts)
    huge = replace(plan, size=1 << 60)
    with pytest.raises(DataError, match="not enough disk space"):
        download.fetch(http, huge)


def test_offline_reuses_a_downloaded_extract(net_settings, catalogues, extracts, httpserver):
    path = download.extract_for(Http(net_settings), "monaco", extracts)
    httpserver.clear_log()
    offline = Http(replace(net_settings, offline=True))
    assert download.extract_for(offline, "monaco", extracts) == path
    assert httpserver.log == []
    with pytest.raises(NetworkError, match="has not been downloaded yet"):
        download.extract_for(offline, "monaco", extracts / "elsewhere")


def test_a_second_download_of_the_same_extract_is_refused(net_settings, catalogues, extracts):
    http = Http(net_settings)
    plan = download.plan(http, download.find_region(http, "monaco"), extracts)
    extracts.mkdir(parents=True)
    with exclusive_lock(plan.target, f"downloading {plan.target.name}"), pytest.raises(LockedError) as e:
        download.fetch(http, plan)
    assert e.value.exit_code == 6 and "another osmcams run is downloading" in str(e.value)
    assert not plan.target.exists()
    assert download.fetch(http, plan).read_bytes()  # free again once released


def test_a_full_disk_leaves_no_part(net_settings, catalogues, extracts):
    http = Http(net_settings)
    plan = download.plan(http, download.find_region(http, "monaco"), extracts)
    extracts.mkdir(parents=True)
    part = extracts / "monaco-latest.osm.pbf.part"
    part.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    with pytest.raises(DataError, match=r"is full: monaco-latest\.osm\.pbf\.part was deleted"):
        download.fetch(http, plan)
    assert not part.exists() and not part.is_symlink() and not plan.target.exists()


def test_names_from_the_catalogue_are_checked(net_settings):
    for url in ("http://h/europe/..", "http://h/europe/%2e%2e", "http://h/", "http://h/x/.hidden.osm.pbf",
                "http://h/x/a%2Fb.osm.pbf", "http://h/x/notes.txt"):
        region = download.Region("x", "X", url, "geofabrik")
        with pytest.raises(NetworkError, match="names a file that osmcams will not write"):
            download.file_name(region)
    assert download.file_name(download.Region("m", "M", "http://h/e/monaco-latest.osm.pbf",
                                              "osmfr")) == "monaco-latest.osm.pbf"


def test_a_listing_link_that_leaves_its_directory_is_ignored():
    parser = download._Links()
    parser.feed(apache_listing("/x", ["a/", "b-latest.osm.pbf", "c/../", "../d-latest.osm.pbf",
                                      "/e-latest.osm.pbf", "http://f/g-latest.osm.pbf"]))
    assert parser.links == ["a/", "b-latest.osm.pbf"]


def test_a_misspelt_region_is_named_when_a_catalogue_is_down(net_settings, httpserver):
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/extracts/europe/france/").respond_with_data("down", status=404)
    http = Http(net_settings)
    with pytest.raises(UsageError, match=r"did you mean geofabrik:monaco\? \(openstreetmap.fr was not "
                                         r"searched: .* answered 404"):
        download.find_region(http, "monacco")
    with pytest.raises(NetworkError, match="answered 404"):
        download.find_region(http, "saturn")  # nothing close: it may be in the catalogue that failed


MONACO_POLY = """monaco
1
   7.4090 43.7240
   7.4400 43.7240
   7.4400 43.7520
   7.4090 43.7520
   7.4090 43.7240
END
END
"""


def test_download_keeps_the_poly_beside_the_extract(net_settings, catalogues, extracts, httpserver):
    httpserver.expect_request("/geofabrik/europe/monaco.poly").respond_with_data(MONACO_POLY)
    http = Http(net_settings)
    path = download.extract_for(http, "monaco", extracts)
    poly = extracts / "monaco-latest.poly"
    assert poly.read_text() == MONACO_POLY and not http.warnings
    from osmcams.sources.extent import extent_of

    polygon, source = extent_of(path)
    assert source == str(poly) and polygon.bounds == (7.409, 43.724, 7.44, 43.752)


def test_a_missing_or_bad_poly_is_a_warning(net_settings, catalogues, extracts, httpserver):
    http = Http(net_settings)
    path = download.extract_for(http, "monaco", extracts)  # no .poly served: a 404
    assert path.is_file() and not (extracts / "monaco-latest.poly").exists()
    (warning,) = http.warnings
    assert "no extent for monaco-latest.osm.pbf" in warning and "estimated from its data" in warning
    httpserver.expect_request("/geofabrik/europe/monaco.poly").respond_with_data("monaco\n1\n 7 43\n")
    http = Http(net_settings)
    assert download.extract_for(http, "monaco", extracts) == path  # up to date: only the poly tried
    assert "ends without END" in http.warnings[0] and not (extracts / "monaco-latest.poly").exists()


def test_poly_urls():
    assert download.poly_url("https://d.geofabrik.de/europe/monaco-latest.osm.pbf") == (
        "https://d.geofabrik.de/europe/monaco.poly")
    assert download.poly_url("http://h/extracts/europe/france/alpes_maritimes.osm.pbf") == (
        "http://h/extracts/europe/france/alpes_maritimes.poly")


def test_a_part_resumes_only_from_the_version_it_was_started_with(
    net_settings, catalogues, httpserver, pbf, extracts
):
    """Cut, then a new extract is published (another ETag, other bytes, another MD5): the
    resume sends the part's ETag as If-Range, so the server sends the new file whole. It
    sent today's, got the new file's tail appended to the old bytes, and deleted it all."""
    catalogues.cut_first_at = 300_000
    http = Http(net_settings)
    with pytest.raises(NetworkError, match=r"cut short|cannot reach"):
        download.extract_for(http, "monaco", extracts)
    newer = bytes(1000) + pbf[1000:]  # the next day's extract: other bytes from the start
    catalogues.data, catalogues.etag = newer, '"6a01-7c00"'
    httpserver.clear_all_handlers()
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(catalogues)
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_data(
        f"{hashlib.md5(newer).hexdigest()}  monaco-latest.osm.pbf\n")
    path = download.extract_for(http, "monaco", extracts)
    assert path.read_bytes() == newer
    assert sorted(p.name for p in extracts.iterdir()) == [
        ".monaco-latest.osm.pbf.lock", "monaco-latest.osm.pbf", "monaco-latest.osm.pbf.json"]


def test_a_body_past_its_announced_size_is_refused(net_settings, httpserver, extracts):
    """HEAD announces the extract's size, the GET sends without end: it filled the disk."""
    from werkzeug import Response

    def endless(request):
        if request.method == "HEAD":
            return Response(iter([]), headers={"Content-Length": "100000", "ETag": '"e"'},
                            direct_passthrough=True)
        return Response(iter([bytes(65536)] * 100), direct_passthrough=True)  # 6.5 MB, no length

    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(endless)
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_data("0" * 32)
    with pytest.raises(NetworkError, match=r"sent more than the 100,000 bytes it announced"):
        download.extract_for(Http(net_settings), "monaco", extracts)
    part = extracts / "monaco-latest.osm.pbf.part"
    assert not part.exists() or part.stat().st_size <= 100_000 + 65536


def test_the_download_line_keeps_its_bracketed_state(net_env, catalogues, extracts, capsys):
    """"[up to date, not downloaded again]" was read as rich markup, and vanished."""
    from osmcams.cli import main

    for _ in range(2):
        assert main(["download", "monaco", "--dest", str(extracts), "-q"]) == 0
    assert "[up to date, not downloaded again]" in capsys.readouterr().err


def test_a_region_name_from_the_catalogue_stays_on_its_line(
        net_env, catalogues, httpserver, extracts, capsys) -> None:
    """A catalogue naming Monaco "Mona<LF>co<ESC>[2J": the download line split it over two
    lines and sent the ESC (clear the screen) raw; it is one line, shown as \\n and \\x1b."""
    from osmcams.cli import main

    index = geofabrik_index(httpserver)
    index["features"][3]["properties"]["name"] = "Mona\nco\x1b[2J"
    httpserver.expect_oneshot_request("/geofabrik/index-v1.json").respond_with_json(index)
    assert main(["download", "monaco", "--dest", str(extracts), "-q"]) == 0
    line, *warnings = capsys.readouterr().err.splitlines()
    assert line.startswith("Mona\\nco\\x1b[2J (geofabrik:monaco): ")
    assert all(w.startswith("warning: ") for w in warnings)


def test_a_server_that_compresses_for_the_way_gets_asked_for_the_file_itself(
    net_settings, httpserver, pbf, extracts
):
    """A server that gzips what a client accepts gzipped (as Apache's mod_deflate, or
    overpass-api.de its .osc.gz, drolbr/Overpass-API#70) announced the compressed length;
    osmcams accepted gzip, decoded, and refused the extract as longer than announced."""
    import gzip

    from werkzeug import Response

    def deflating(request):
        body, headers = pbf, {"ETag": '"e"'}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body, headers["Content-Encoding"] = gzip.compress(pbf), "gzip"
        headers["Content-Length"] = str(len(body))
        return Response(iter([] if request.method == "HEAD" else [body]), headers=headers,
                        direct_passthrough=True)

    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(deflating)
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_data(
        f"{hashlib.md5(pbf).hexdigest()}  monaco-latest.osm.pbf\n")
    path = download.extract_for(Http(net_settings), "monaco", extracts)
    assert path.read_bytes() == pbf


def test_a_diff_labelled_gzip_encoded_is_kept_as_sent(net_settings, httpserver, shared_data, tmp_path):
    """A server that labels its .osc.gz files Content-Encoding: gzip (Apache's AddEncoding)
    sends the file's own bytes; osmcams decoded them, and refused the diff as longer than
    its Content-Length."""
    from werkzeug import Response

    from osmcams.sources.replication import Server, read_diffs

    osc = (shared_data / "osm/saint-barthelemy/saint_barthelemy.osc.gz").read_bytes()
    httpserver.expect_request("/replication/000/000/001.osc.gz").respond_with_response(
        Response(osc, headers={"Content-Type": "application/x-gzip", "Content-Encoding": "gzip"}))
    path = Server(Http(net_settings), httpserver.url_for("/replication")).fetch_diff(1, tmp_path)
    assert path.read_bytes() == osc
    assert read_diffs([path]).nodes


def test_a_part_restarted_for_a_new_version_resumes_from_that_one(
    net_settings, catalogues, httpserver, pbf, extracts
):
    """Cut, a new extract published, cut again: the part now holds the new extract's start,
    but its record kept the old ETag, so every later resume sent that one as If-Range and
    got the whole file again: on a line that breaks, a large extract never arrived."""
    catalogues.cut_first_at = 100_000
    http = Http(net_settings)
    with pytest.raises(NetworkError, match=r"cut short|cannot reach"):
        download.extract_for(http, "monaco", extracts)
    newer = bytes(1000) + pbf[1000:]
    catalogues.data, catalogues.etag, catalogues.cut_first_at = newer, '"6a01-7c00"', 200_000
    httpserver.clear_all_handlers()
    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(catalogues)
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_data(
        f"{hashlib.md5(newer).hexdigest()}  monaco-latest.osm.pbf\n")
    with pytest.raises(NetworkError, match=r"cut short|cannot reach"):
        download.extract_for(http, "monaco", extracts)
    kept = (extracts / "monaco-latest.osm.pbf.part").stat().st_size
    assert 0 < kept <= 200_000
    path = download.extract_for(http, "monaco", extracts)
    assert path.read_bytes() == newer
    assert catalogues.ranges[-1] == f"bytes={kept}-" and catalogues.last_status == 206


def test_a_password_in_a_service_url_is_written_in_no_file(
    net_settings, catalogues, httpserver, geo_api, pbf, extracts
):
    """The extract's sidecar kept its URL with the mirror's password, and the kept
    communes of a department the geo.api.gouv.fr URL with its own."""
    from osmcams.sources import geoapi

    folder = "/extracts/europe/france/provence_alpes_cote_d_azur/alpes_maritimes-latest.osm.pbf"
    httpserver.expect_request(folder).respond_with_handler(catalogues)
    httpserver.expect_request(folder + ".md5").respond_with_data(f"{hashlib.md5(pbf).hexdigest()}  x\n")
    secret = replace(net_settings, osmfr_url=net_settings.osmfr_url.replace("//", "//user:s3cret@"),
                     geo_api_url=net_settings.geo_api_url.replace("//", "//user:s3cret@"))
    http = Http(secret)
    path = download.extract_for(http, "osmfr:alpes_maritimes", extracts)
    assert path.read_bytes() == pbf
    kept, _ = geoapi.keep_department(http, "06")
    written = [*extracts.iterdir(), kept]
    assert [p.name for p in written if b"s3cret" in p.read_bytes()] == []
    again = download.plan(http, download.find_region(http, "osmfr:alpes_maritimes"), extracts)
    assert again.up_to_date


def test_an_extract_published_during_the_download_does_not_fail_it(
    net_settings, httpserver, pbf, extracts
):
    """Geofabrik replaces an extract and its .md5 (by rename) while a download of the old
    one goes on, from the file it opened: the .md5 was read after the download, so the
    new extract's sum failed a whole, sound download of the old one, and deleted it."""
    from werkzeug import Response

    newer = bytes(1000) + pbf[1000:]
    sums = {"now": hashlib.md5(pbf).hexdigest()}

    def serve(request):
        headers = {"ETag": '"e"', "Content-Length": str(len(pbf))}
        if request.method == "HEAD":
            return Response(iter([]), headers=headers, direct_passthrough=True)
        sums["now"] = hashlib.md5(newer).hexdigest()  # published while the old one is sent
        return Response(iter([pbf]), headers=headers, direct_passthrough=True)

    httpserver.expect_request("/geofabrik/index-v1.json").respond_with_json(geofabrik_index(httpserver))
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf").respond_with_handler(serve)
    httpserver.expect_request("/geofabrik/europe/monaco-latest.osm.pbf.md5").respond_with_handler(
        lambda request: Response(f"{sums['now']}  monaco-latest.osm.pbf\n"))
    path = download.extract_for(Http(net_settings), "monaco", extracts)
    assert path.read_bytes() == pbf


def test_an_extract_cut_short_here_is_not_up_to_date(net_settings, catalogues, pbf, extracts):
    """An extract truncated on disk (a full disk, a copy stopped) beside its sidecar was
    "up to date, not downloaded again", at 1,000 bytes of 445,315."""
    http = Http(net_settings)
    path = download.extract_for(http, "monaco", extracts)
    with path.open("r+b") as f:
        f.truncate(1000)
    again = download.plan(http, download.find_region(http, "monaco"), extracts)
    assert not again.up_to_date
    assert download.fetch(http, again).read_bytes() == pbf
