"""Boundaries from files and from the PBF, populations, and the name lookup."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from osmcams.communes.boundaries import load_communes
from osmcams.communes.from_osm import communes_from_boundaries
from osmcams.communes.model import COLUMNS, Communes, department_of
from osmcams.communes.names import match, normalise, region_departments, select
from osmcams.communes.population import read_population
from osmcams.errors import AmbiguousCommune, CommuneNotFound, DataError, ExitCode, UsageError
from osmcams.geo.areas import areas_km2
from osmcams.sources.osm.pbf import scan_file

TWO_SQUARES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"INSEE_COM": "99001", "NOM": "Ouest", "ref:INSEE": "x", "label": "W"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        },
        {
            "type": "Feature",
            "properties": {"INSEE_COM": "99002", "NOM": "Est", "ref:INSEE": "y", "label": "E"},
            "geometry": {"type": "Polygon", "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]]]},
        },
    ],
}


@pytest.fixture(scope="module")
def all_communes(ign_dir: Path, cog_population: Path) -> Communes:
    """All 101 IGN files with the COG 2026 population: loaded once."""
    return load_communes([ign_dir], population=cog_population)


@pytest.fixture(scope="module")
def homonym_files(ign_dir: Path) -> list[Path]:
    """Seine-Saint-Denis and La Réunion, which both have a Saint-Denis."""
    return [ign_dir / "communes-93-seine-saint-denis.geojson", ign_dir / "communes-974-la-reunion.geojson"]


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["features"]


# --- From files ----------------------------------------------------------------------------


def test_department_06_with_population(communes_06: Path, cog_population: Path) -> None:
    communes = load_communes([communes_06], population=cog_population)
    features = _features(communes_06)
    cog = {r["code"]: r.get("population") for r in json.loads(cog_population.read_text())
           if r["type"] == "commune-actuelle"}
    frame = communes.frame.set_index("insee")
    assert len(frame) == len(features) == 163
    assert list(communes.frame.columns) == ["insee", "name", "department", "population", "geometry"]
    assert set(frame["department"]) == {"06"}
    assert communes.population_source == "communes.json (Etalab COG)"
    assert communes.population_year is None  # "communes.json" says no year
    for code in ("06012", "06032", "06088"):
        assert frame.loc[code, "population"] == cog[code]
    assert frame.loc["06012", "name"] == "Beausoleil"
    assert str(frame.crs) == "EPSG:4326"


def test_all_ign_files_keep_every_commune_and_report_merged_codes(
    all_communes: Communes, ign_dir: Path, cog_population: Path
) -> None:
    ign_codes = {f["properties"]["code"] for path in ign_dir.glob("*.geojson") for f in _features(path)}
    cog = [r for r in json.loads(cog_population.read_text()) if r["type"] == "commune-actuelle"]
    current = {r["code"] for r in cog}
    # A commune that absorbed others since 2018, their outlines loaded apart: its population
    # is theirs too, and would be set on its 2018 outline alone.
    apart = {r["code"] for r in cog if r["code"] in ign_codes and set(r.get("anciensCodes", [])) & ign_codes}
    frame = all_communes.frame
    assert len(frame) == len(ign_codes) == 35357
    missing = set(frame.loc[frame["population"].isna(), "insee"])
    assert missing == (ign_codes - current) | apart
    assert (len(ign_codes - current), len(apart)) == (493, 316)
    assert set(all_communes.population_notes) == apart
    assert frame.loc[frame["insee"] == "75056", "population"].item() > 2_000_000


def test_detected_and_named_fields(write_text: Callable[[str, str], Path]) -> None:
    path = write_text("squares.geojson", json.dumps(TWO_SQUARES))
    assert list(load_communes([path]).frame["name"]) == ["Ouest", "Est"]
    named = load_communes([path], code_field="label", name_field="ref:INSEE").frame
    assert list(zip(named["insee"], named["name"])) == [("W", "x"), ("E", "y")]
    assert named["population"].isna().all()
    with pytest.raises(DataError, match=r"no field 'nope' \(--code-field\) among "):
        load_communes([path], code_field="nope")  # it said only that no code and name were found
    with pytest.raises(DataError, match=r"no field 'Nom' \(--name-field\) among "):
        load_communes([path], name_field="Nom")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.geojson", '{"type": "FeatureCollection", "features": []}', "no features"),
        ("broken.geojson", '{"type": "FeatureCollection", "features": [', "cannot read boundaries"),
        ("points.geojson", json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": "1", "nom": "P"},
             "geometry": {"type": "Point", "coordinates": [1, 2]}}]}), "no polygon"),
        ("nofields.geojson", json.dumps({"type": "FeatureCollection", "features": [
            {**TWO_SQUARES["features"][0], "properties": {"id": 1}}]}), "cannot find the code and name"),
    ],
)
def test_unusable_boundary_files(write_text, name: str, content: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        load_communes([write_text(name, content)])
    assert caught.value.exit_code == ExitCode.DATA


def test_a_directory_without_boundary_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DataError, match="no boundary files"):
        load_communes([tmp_path])
    with pytest.raises(DataError, match="no such file or directory"):
        load_communes([tmp_path / "missing"])


def test_insee_csv_population(write_text) -> None:
    path = write_text("pop.csv", "CODGEO;LIBGEO;P21_POP\n06012;Beausoleil;13 702\n06032;Cap-d'Ail;4 661,0\n")
    population = read_population(path)
    assert population.values == {"06012": 13702, "06032": 4661}
    assert population.year == "2021"
    assert population.source == "pop.csv (INSEE)"
    with pytest.raises(DataError, match="no code and population columns"):
        read_population(write_text("bad.csv", "a;b\n1;2\n"))


@pytest.mark.parametrize(("code", "department"), [
    ("06012", "06"), ("2A004", "2A"), ("97411", "974"), ("97-7", None), ("r123", None), (None, None),
])
def test_department_of(code: str | None, department: str | None) -> None:
    assert department_of(code) == department


# --- From the PBF ------------------------------------------------------------------------


def test_incomplete_boundaries_are_left_out_with_a_warning(monaco_scan) -> None:
    _, boundaries = monaco_scan
    communes = communes_from_boundaries(boundaries, "monaco-2025-02-07.osm.pbf", 8)
    assert list(communes.frame["name"]) == ["Monaco"]
    for name in ("Beausoleil", "Cap-d'Ail", "La Turbie", "Roquebrune-Cap-Martin"):
        assert name in [u.name for u in communes.unusable]
        assert any(w.startswith(f"boundary of {name!r} (") for w in communes.warnings)
    with pytest.raises(DataError, match=r"cannot count 'Beausoleil' \(06012\): its boundary") as caught:
        select(communes, ["beausoleil"])
    assert caught.value.exit_code == ExitCode.DATA
    with pytest.raises(DataError, match="Cap-d'Ail"):
        select(communes, ["06032"])


def test_riviera_communes_carry_codes_and_osm_population(riviera_scan) -> None:
    _, boundaries = riviera_scan
    communes = communes_from_boundaries(boundaries, "riviera.osm.pbf", 8)
    frame = communes.frame.set_index("name")
    assert frame.loc["Beausoleil", "insee"] == "06012"
    assert frame.loc["Beausoleil", "department"] == "06"
    assert frame.loc["Monaco", "insee"] == "r2220322"  # no ref:INSEE, so the relation id
    # The code as osmcams prints it names the commune, in any case ("r65918" was not found).
    assert select(communes, ["r2220322"]) == select(communes, ["R2220322"]) == ["r2220322"]
    tagged = {b.tags["name"]: int(b.tags["population"]) for b in boundaries
              if b.geometry is not None and "population" in b.tags}
    assert {n: frame.loc[n, "population"] for n in tagged} == tagged
    assert communes.population_source == "OSM population tag"


# --- Name lookup ----------------------------------------------------------------------------

CANDIDATES = [("06012", "Beausoleil", "06"), ("06032", "Cap-d'Ail", "06"), ("30189", "Nîmes", "30"),
              ("42218", "Saint-Étienne", "42")]


@pytest.mark.parametrize(("query", "code"), [
    ("BEAUSOLEIL", "06012"), ("cap d'ail", "06032"), ("Cap-d’Ail", "06032"), ("nimes", "30189"),
    ("NÎMES", "30189"), ("st etienne", "42218"), ("06032", "06032"), (" 30189 ", "30189"),
])
def test_names_match_without_case_or_accents(query: str, code: str) -> None:
    assert match(query, CANDIDATES) == code


def test_normalise() -> None:
    assert normalise("Œuf-en-Ternois") == normalise("oeuf en ternois") == "oeuf en ternois"
    assert normalise("Saint-Étienne") == "saint etienne"
    assert normalise("Ste-Maxime") == "sainte maxime"
    assert normalise("L'Haÿ-les-Roses") == "l hay les roses"


def test_homonyms_list_candidates_unless_the_department_settles_it(homonym_files: list[Path]) -> None:
    communes = load_communes(homonym_files)
    with pytest.raises(AmbiguousCommune) as caught:
        select(communes, ["saint-denis"])
    assert str(caught.value) == (
        "'saint-denis' names 2 communes: Saint-Denis (93066, department 93), "
        "Saint-Denis (97411, department 974); give the INSEE code or --department"
    )
    assert caught.value.exit_code == ExitCode.COMMUNE
    assert select(communes, ["Saint-Denis"], department="974") == ["97411"]
    assert select(communes, ["97411", "93066", "97411"]) == ["97411", "93066"]


def test_homonyms_within_the_department_asked_are_settled_by_the_code_only(ign_dir: Path) -> None:
    """IGN 2018 names two communes of the Doubs 'Longeville': --department, already given,
    cannot settle it, so the message does not ask for it."""
    path = ign_dir / "communes-25-doubs.geojson"
    homonyms = sorted(f["properties"]["code"] for f in _features(path)
                      if f["properties"]["nom"] == "Longeville")
    assert homonyms == ["25346", "25347"]
    with pytest.raises(AmbiguousCommune) as caught:
        select(load_communes([path]), ["longeville"], department="25")
    message = str(caught.value)
    assert message.startswith("'longeville' names 2 communes in department 25: ")
    assert all(f"Longeville ({code}, department 25)" in message for code in homonyms)
    assert message.endswith("; give the INSEE code")
    assert select(load_communes([path]), ["25347"], department="25") == ["25347"]


def test_unknown_names_suggest_the_closest(homonym_files: list[Path]) -> None:
    communes = load_communes(homonym_files)
    suggestion = r"no commune 'Saint-Deniss'; did you mean Saint-Denis \(9"
    with pytest.raises(CommuneNotFound, match=suggestion) as e:
        select(communes, ["Saint-Deniss"])
    assert e.value.exit_code == ExitCode.COMMUNE
    with pytest.raises(CommuneNotFound, match=r"no commune 'Saint-Denis' in department 06$"):
        select(communes, ["Saint-Denis"], department="06")


def test_selection_by_department_and_all(homonym_files: list[Path]) -> None:
    communes = load_communes(homonym_files)
    expected_974 = [f["properties"]["code"] for f in _features(homonym_files[1])]
    assert sorted(select(communes, department="974")) == sorted(expected_974)
    assert len(select(communes, every=True)) == len(communes.frame)
    with pytest.raises(CommuneNotFound):
        select(communes, department="06")
    with pytest.raises(UsageError):
        select(communes)
    with pytest.raises(UsageError):
        match("  ", CANDIDATES)


def test_the_boundary_cache_gives_back_what_the_files_hold(
    communes_06: Path, cog_population: Path, tmp_path: Path
) -> None:
    source = tmp_path / "communes-06.geojson"
    source.write_bytes(communes_06.read_bytes())
    cache = tmp_path / "cache"
    fresh = load_communes([source], population=cog_population)
    first = load_communes([source], population=cog_population, cache_dir=cache)
    (stored,) = (cache / "boundaries").iterdir()
    second = load_communes([source], population=cog_population, cache_dir=cache)
    for loaded in (first, second):
        assert loaded.frame[COLUMNS].drop(columns="geometry").equals(fresh.frame.drop(columns="geometry"))
        assert all(a.equals(b) for a, b in zip(loaded.frame.geometry, fresh.frame.geometry))
    assert second.frame["area_km2"].tolist() == pytest.approx(areas_km2(fresh.frame.geometry.values).tolist())

    stored.write_bytes(b"not a cache")  # a damaged cache is rebuilt, never trusted
    assert load_communes([source], cache_dir=cache).frame["insee"].tolist() == fresh.frame["insee"].tolist()
    assert stored.read_bytes() != b"not a cache"

    source.write_text(json.dumps({"type": "FeatureCollection", "features": _features(communes_06)[:3]}))
    assert len(load_communes([source], cache_dir=cache).frame) == 3  # a changed file is read again


def test_a_commune_in_several_features_or_files_is_one_row(write_text) -> None:
    square = "[[[{0},0],[{1},0],[{1},1],[{0},1],[{0},0]]]"
    features = [
        {"type": "Feature", "properties": {"code": "99001", "nom": "Split"},
         "geometry": {"type": "Polygon", "coordinates": json.loads(square.format(a, a + 1))}}
        for a in (0, 2)
    ]
    path = write_text("split.geojson", json.dumps({"type": "FeatureCollection", "features": features}))
    communes = load_communes([path, path.parent, path])
    assert communes.frame["insee"].tolist() == ["99001"]
    assert communes.frame.geometry.iloc[0].area == pytest.approx(2.0)
    assert select(communes, ["Split"]) == ["99001"]


def test_an_extract_without_relations_at_the_level_says_what_to_do(osm_dir: Path) -> None:
    """The München 2020 extract holds admin_level 2, 4, 5, 6, 9 and 10 relations, none at 8
    (osmium tags-filter r/admin_level); the Rhein-Neckar 2016 one no relation at all (osmium
    fileinfo). The error said no more than "no usable commune boundary", where an extract
    with incomplete relations at the level gets what to do."""
    for name in ("valhalla-bench-munchen-2020", "graphhopper-rnv-rhein-neckar-2016"):
        _, found = scan_file(osm_dir / f"big/{name}.osm.pbf", admin_level=8)
        communes = communes_from_boundaries(found, name, 8)
        with pytest.raises(DataError, match=rf"^no usable commune boundary in {name} \(admin_level=8 "
                                            r"relations\): it holds none; give --boundaries or another "
                                            r"--admin-level$"):
            select(communes, every=True)


def test_a_name_without_its_prefix_suggests_the_relations_that_hold_it(osm_dir: Path) -> None:
    """München's admin_level=10 relations are named "Bezirksteil Graggenau" and the like
    (osmium tags-filter r/admin_level=10: relation 65918): "Graggenau" alone is too far from
    that for difflib, and the error suggested nothing, as though there were no such place."""
    _, found = scan_file(osm_dir / "big/valhalla-bench-munchen-2020.osm.pbf", admin_level=10)
    communes = communes_from_boundaries(found, "munchen", 10)
    with pytest.raises(CommuneNotFound, match=r"^no commune 'Graggenau'; did you mean "
                                              r"Bezirksteil Graggenau \(r65918\)\?$"):
        select(communes, ["Graggenau"])


def test_a_name_without_its_prefix_names_the_incomplete_relation_that_holds_it(osm_dir: Path) -> None:
    """"Glockenbach" is the place of relation 65791, "Bezirksteil Glockenbach", whose
    boundary misses 6 of its 10 member ways in the München 2020 extract (osmium getid -r
    finds 4): "no commune" alone said the place was not there, not why it cannot be counted."""
    _, found = scan_file(osm_dir / "big/valhalla-bench-munchen-2020.osm.pbf", admin_level=10)
    communes = communes_from_boundaries(found, "munchen", 10)
    with pytest.raises(CommuneNotFound, match=r"^no commune 'Glockenbach'; 'Bezirksteil Glockenbach' "
                                              r"\(r65791\): its boundary is incomplete in munchen "
                                              r"\(relation 65791: 6 of 10 member ways missing"):
        select(communes, ["Glockenbach"])


def test_an_incomplete_relation_asked_by_its_printed_code_says_why(osm_dir: Path) -> None:
    """The warnings print relation 65791 (6 of its 10 member ways absent from the München
    2020 extract, as osmium getid finds) as r65791; asked so, or as R65791, it was "no
    commune" (exit 3), where its name gets why it cannot be counted (exit 4)."""
    _, found = scan_file(osm_dir / "big/valhalla-bench-munchen-2020.osm.pbf", admin_level=10)
    communes = communes_from_boundaries(found, "munchen", 10)
    for code in ("r65791", "R65791"):
        with pytest.raises(DataError, match=r"^cannot count 'Bezirksteil Glockenbach' \(r65791\): its "
                                            r"boundary is incomplete") as e:
            select(communes, [code])
        assert e.value.exit_code == ExitCode.DATA


def test_a_population_table_given_as_boundaries_is_named_so(cog_population: Path, write_text) -> None:
    """Etalab's communes.json, a JSON list, given where boundaries go: GDAL's 'not recognized
    as being in a supported file format.; It might help to specify the correct driver…'
    becomes what the file is and where it goes; other unreadable files keep GDAL's reason,
    without its advice on drivers."""
    assert isinstance(json.loads(cog_population.read_text(encoding="utf-8")), list)
    with pytest.raises(DataError) as caught:
        load_communes([cog_population])
    assert str(caught.value) == (f"{cog_population}: cannot read boundaries: a JSON list, not GeoJSON "
                                 "(a population table goes to --population)")
    junk = write_text("junk.geojson", "hello\n")
    with pytest.raises(DataError, match="not recognized as being in a supported file format") as caught:
        load_communes([junk])
    assert "It might help" not in str(caught.value)


def test_geoparquet_boundaries(communes_06: Path, tmp_path: Path) -> None:
    import geopandas

    parquet = tmp_path / "communes-06.parquet"
    geopandas.read_file(communes_06).to_parquet(parquet)
    from_parquet = load_communes([parquet])
    from_geojson = load_communes([communes_06])
    assert from_parquet.frame["insee"].tolist() == from_geojson.frame["insee"].tolist()
    assert from_parquet.frame.geometry.geom_equals(from_geojson.frame.geometry).all()


# --- Names as people write them (issue 7 §2), on the real IGN and COG files ---------------

ARTICLES = {"La Rochelle": "17300", "Le Mans": "72181", "Le Havre": "76351", "La Turbie": "06150",
            "oeuf en ternois": "62633", "L'Abergement-Clémenciat": "01001"}


@pytest.fixture(scope="module")
def article_files(ign_dir: Path) -> list[Path]:
    return [next(ign_dir.glob(f"communes-{d}-*.geojson")) for d in ("01", "06", "17", "62", "70", "72", "76")]


def _cog_codes(cog_population: Path, name: str) -> list[str]:
    """Codes of the current communes that the COG names `name` exactly, read with json alone."""
    rows = json.loads(cog_population.read_text(encoding="utf-8"))
    return [r["code"] for r in rows if r["type"] == "commune-actuelle" and r["nom"] == name]


@pytest.mark.parametrize("with_cog", [True, False], ids=["cog", "ign-only"])
def test_names_with_their_article(
    article_files: list[Path], cog_population: Path, with_cog: bool
) -> None:
    communes = load_communes(article_files, population=cog_population if with_cog else None)
    frame = communes.frame.set_index("insee")
    assert frame.loc["17300", "name"] == ("La Rochelle" if with_cog else "Rochelle")  # IGN drops it
    # There are two La Rochelle, in Charente-Maritime and in Haute-Saône: both are named.
    assert sorted(_cog_codes(cog_population, "La Rochelle")) == ["17300", "70450"]
    with pytest.raises(AmbiguousCommune, match=r"17300.*70450"):
        select(communes, ["La Rochelle"])
    for name, code in ARTICLES.items():
        department = code[:2]
        assert select(communes, [name], department=department) == [code], name
        assert select(communes, [name.upper()], department=department.lstrip("0")) == [code], name
    assert select(communes, ["Le Mans"]) == _cog_codes(cog_population, "Le Mans")


def test_a_department_without_its_leading_zero(communes_06: Path) -> None:
    communes = load_communes([communes_06])
    codes = [f["properties"]["code"] for f in _features(communes_06)]
    assert sorted(select(communes, department="6")) == sorted(codes)


def test_a_code_that_lost_its_leading_zero_is_named(communes_06: Path) -> None:
    communes = load_communes([communes_06])
    with pytest.raises(CommuneNotFound, match=r"looks like 06012 \(Beausoleil\) without its leading zero"):
        select(communes, ["6012"])


# --- Metadata (issue 7 §3) ---------------------------------------------------------------


@pytest.mark.parametrize(("path", "flag", "year"), [
    ("projet-2019/cog-2026/communes.json", None, None),
    ("projet-2019/cog-2026/communes.json", "2023", "2023"),
    ("projet-2019/communes-2021.json", "2023", "2021"),
    ("2019/pop.csv", None, None),
])
def test_population_year_from_the_data_or_the_file_name_only(
    tmp_path: Path, path: str, flag: str | None, year: str | None
) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    if target.suffix == ".json":
        target.write_text('[{"code": "06012", "type": "commune-actuelle", "population": 13702}]')
    else:
        target.write_text("CODGEO;PMUN\n06012;13702\n")
    assert read_population(target, flag).year == year
    columns = tmp_path / "base.csv"
    columns.write_text("CODGEO;P21_POP\n06012;13702\n")
    assert read_population(columns, "2018").year == "2021"  # the data says so


@pytest.mark.parametrize(("column", "year"), [
    ("PMUN2021", "2021"),  # INSEE's historical series of populations: PMUN2021, PMUN2020, …
    ("PTOT1936", "1936"),  # … back to PTOT1876
    ("PMUN21", "2021"),
    ("P21_POP", "2021"),  # INSEE's base-cc-serie-historique
    ("PMUN", None),  # INSEE's legal populations: the year is in the file's title only
])
def test_population_year_from_an_insee_column_name(
    cog_population: Path, tmp_path: Path, column: str, year: str | None
) -> None:
    """The real COG table's communes as an INSEE CSV whose population column is `column`:
    PMUN2021 was taken as the population, its year left unknown ("year unknown", and a
    warning asking for --population-year); the year its name states is read, over
    --population-year, as P21_POP's was. Etalab's communes.json itself states no year (no
    key holds one, nor does any value but the codes and populations): it has none, the
    directory's "cog-2026" read as no year either."""
    rows = [r for r in json.loads(cog_population.read_text(encoding="utf-8"))
            if r["type"] == "commune-actuelle" and r.get("population") is not None]
    table = tmp_path / "base.csv"
    table.write_text(f"CODGEO;LIBGEO;{column}\n" + "".join(
        f"{r['code']};{r['nom']};{r['population']}\n" for r in rows), encoding="utf-8")
    population = read_population(table, "2023")
    assert population.year == (year or "2023")
    assert population.values["06012"] == next(r["population"] for r in rows if r["code"] == "06012")
    assert read_population(table).year == year
    assert not any(re.search(r"ann[ée]e|mill[ée]sime|year|date|(19|20)\d\d", key, re.IGNORECASE)
                   for row in rows for key in row)
    assert read_population(cog_population).year is None


def test_incomplete_relations_are_keyed_by_relation_id(write_text) -> None:
    opl = """\
n1 v1 x0 y0
n2 v1 x1 y0
n3 v1 x1 y1
w1 v1 Nn1,n2
w2 v1 Nn1,n2,n3,n1
r4 v1 Tboundary=administrative,admin_level=8,name=Carré,ref:INSEE=99001 Mw2@outer
r1 v1 Tboundary=administrative,admin_level=8,name=Sainte-Marie,ref:INSEE=97418 Mw1@outer,w8@outer
r2 v1 Tboundary=administrative,admin_level=8,name=Sainte-Marie,ref:INSEE=97209 Mw1@outer,w9@outer
r3 v1 Tboundary=administrative,admin_level=8,name=Sainte-Marie,ref:INSEE=97418 Mw1@outer,w7@outer
"""
    _, boundaries = scan_file(write_text("homonyms.opl", opl), admin_level=8, threads=1)
    communes = communes_from_boundaries(boundaries, "homonyms.opl", 8)
    assert [(u.code, u.name) for u in communes.unusable] == [
        ("97418", "Sainte-Marie"), ("97209", "Sainte-Marie"), ("97418", "Sainte-Marie")]
    assert len(communes.warnings) == 3
    assert all(f"relation {i}" in w for i, w in zip((1, 2, 3), communes.warnings))
    with pytest.raises(DataError, match="relation 2"):
        select(communes, ["97209"])


def test_population_from_osm_carries_its_source(write_text) -> None:
    tags = "boundary=administrative,admin_level=8,name=Carré,ref:INSEE=99001,population=120"
    opl = f"""\
n1 v1 x0 y0
n2 v1 x1 y0
n3 v1 x1 y1
w1 v1 Nn1,n2,n3,n1
r1 v1 T{tags},source:population=INSEE%20%2014 Mw1@outer
"""
    _, boundaries = scan_file(write_text("pop.opl", opl), admin_level=8, threads=1)
    communes = communes_from_boundaries(boundaries, "pop.opl", 8)
    assert communes.population_source == "OSM population tag (INSEE 2014)"
    assert communes.population_year == "2014"
    assert communes.frame["population"].tolist() == [120]


def test_region_departments_follow_the_cog(shared_data: Path) -> None:
    cog = json.loads((shared_data / "population/cog-2026/departements.json").read_text(encoding="utf-8"))
    regions = {d["region"] for d in cog}
    for region in regions:
        assert region_departments(region) == sorted(d["code"] for d in cog if d["region"] == region)
    assert region_departments("93") == ["04", "05", "06", "13", "83", "84"]
    assert region_departments("99") is None


def test_the_one_invalid_ign_outline_is_repaired_and_named(ign_dir: Path) -> None:
    """IGN 2018 holds one self-intersecting commune, Condé-en-Normandie (14174)."""
    import shapely
    from pyproj import Geod
    from shapely.geometry import shape

    path = next(ign_dir.glob("communes-14-*.geojson"))
    (feature,) = [f for f in _features(path) if f["properties"]["code"] == "14174"]
    drawn = shape(feature["geometry"])
    assert not drawn.is_valid
    expected = abs(Geod(ellps="WGS84").geometry_area_perimeter(shapely.make_valid(drawn))[0]) / 1e6
    communes = load_communes([path])
    assert list(communes.repairs) == ["14174"]
    assert "'Condé-en-Normandie' (14174) is invalid (Ring Self-intersection" in communes.repairs["14174"]
    stated = re.search(r"([\d.,]+) km² once valid", communes.repairs["14174"])
    assert stated and float(stated.group(1).replace(",", "")) == pytest.approx(expected, abs=1e-3)
    repaired = communes.frame.set_index("insee").loc["14174", "geometry"]
    assert repaired.is_valid
    assert areas_km2([repaired])[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("table", ["cog", "shipped"])
def test_a_population_that_counts_communes_loaded_apart_is_not_set_on_one_outline(
    ign_dir: Path, cog_population: Path, table: str
) -> None:
    """IGN 2018 outlines of the Manche with COG 2026 populations: Gouville-sur-Mer (50215)
    has since absorbed Anneville-sur-Mer (50014) and three more, whose 2018 outlines are
    loaded too. Its 3,274 inhabitants were set on its old 18.6 km² alone. Every commune of
    the COG whose former codes (anciensCodes) are loaded apart has none, with a note; the
    others have the COG's."""
    from osmcams.communes.population import official_table

    manche = ign_dir / "communes-50-manche.geojson"
    communes = load_communes([manche], population=cog_population if table == "cog" else official_table())
    cog = [r for r in json.loads(cog_population.read_text(encoding="utf-8"))
           if r["type"] == "commune-actuelle"]
    loaded = {f["properties"]["code"] for f in json.loads(manche.read_text(encoding="utf-8"))["features"]}
    apart = {r["code"] for r in cog
             if r["code"] in loaded and (set(r.get("anciensCodes", [])) - {r["code"]}) & loaded}
    population = {r["code"]: r.get("population") for r in cog}
    got = dict(zip(communes.frame["insee"], communes.frame["population"]))
    assert "50215" in apart and str(got["50215"]) == "<NA>"
    assert set(communes.population_notes) == apart
    assert all(str(got[code]) == "<NA>" for code in apart)
    assert {code: int(v) for code, v in got.items() if str(v) != "<NA>"} == {
        code: population[code] for code in loaded - apart if population.get(code) is not None}
    assert "counts the communes merged into it since" in communes.population_notes["50215"]


def test_a_long_list_counts_the_rest_with_separators() -> None:
    """A warning naming 10 of 1,234 communes counts the rest as "1,224 more", as every other
    count of the messages is written (it read "1224 more")."""
    from osmcams.communes.model import short_list

    names = [f"Commune {i}" for i in range(1234)]
    assert short_list(names).endswith(", Commune 9 and 1,224 more")
    assert short_list(names[:3]) == "Commune 0, Commune 1, Commune 2"


def test_a_name_holding_a_lone_surrogate_is_one_line_naming_its_record(
        monaco_2025: Path, communes_06: Path, cog_population: Path, tmp_path: Path, capsys) -> None:
    """The real COG table with Beausoleil's name escaped "Beau\\ud800soleil" (JSON reads it,
    UTF-8 cannot hold it): count, map and export ended in a traceback from the population cache
    ("surrogates not allowed"). It is now exit 4, one line naming the record's line and code."""
    from osmcams.cli import main

    rows = json.loads(cog_population.read_text(encoding="utf-8"))
    (at,) = [i for i, row in enumerate(rows) if row["code"] == "06012"]
    rows[at]["nom"] = "Beau\ud800soleil"
    table = tmp_path / "communes.json"
    table.write_text("[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n", encoding="ascii")
    for command in (["count"], ["map", "-o", str(tmp_path / "m.png")]):
        code = main([*command, "--commune", "06012", "--pbf", str(monaco_2025), "--boundaries",
                     str(communes_06), "--population", str(table), "-q"])
        err = capsys.readouterr().err
        assert code == ExitCode.DATA
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"{table}, line {at + 2}, code 06012: the name holds half of a UTF-16 surrogate" in err
