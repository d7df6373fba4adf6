"""Population tables (Etalab COG JSON, INSEE CSV), with their source and year."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from osmcams.communes.model import MAX_POPULATION, Communes, Population, error_reason, short_list
from osmcams.errors import DataError, quoted
from osmcams.files import read_limited
from osmcams.models import gc_paused, parse_nested

NOT_TEXT = re.compile("[\ud800-\udfff]")  # a lone surrogate: no UTF-8 file, page or cache can hold it
MAX_TABLE_BYTES = 128 << 20  # the COG's communes.json is 9 MB, INSEE's widest tables some 50


def year_in(text: str) -> str | None:
    found = re.search(r"(?<!\d)(19|20)\d{2}(?!\d)", text)
    return found.group(0) if found else None


def _entry(
    raw_code: object, raw_value: object, where: Callable[[int], str], at: int
) -> tuple[str, int]:
    """A (code, population) row of a table, or DataError naming `where(at)` and the code.

    Only non-negative finite numbers pass. Text may group digits with spaces and use a
    decimal comma; decimals (INSEE's weighted estimates) are rounded.
    """
    usable = isinstance(raw_code, (str, int)) and not isinstance(raw_code, bool)
    code = str(raw_code).strip() if usable else ""
    if not code:
        raise DataError(f"{where(at)}: no commune code")
    if re.fullmatch(r"\d{4}", code):
        raise DataError(
            f"{where(at)}: code {code!r} lost its leading zero (0{code}?): "
            "a spreadsheet read it as a number; keep INSEE codes as text"
        )
    value: float | None = None
    if isinstance(raw_value, str):
        text = re.sub(r"[\s\u202f\u00a0]", "", raw_value).replace(",", ".")
        if re.fullmatch(r"\d{1,12}(\.\d+)?", text):
            value = float(text)
    elif isinstance(raw_value, (int, float)) and not isinstance(raw_value, bool):
        value = float(raw_value)
    if value is None or not 0 <= value <= MAX_POPULATION:  # NaN fails this test too
        raise DataError(
            f"{where(at)}, code {code}: population {raw_value!r} is not a non-negative whole number"
        )
    return code, round(value)


def read_population(
    path: str | os.PathLike[str], year: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
) -> Population:
    """Population per commune from a COG JSON list or an INSEE CSV table.

    The year comes from the data where it says so (a `P21_POP` column), else from
    the file's name, else `year`, else it is unknown. Raises DataError naming the
    file, the line and the code of any value that is not a population. With
    `cache_dir`, a table read once is kept there, keyed by its path, size,
    modification time and `year`, and read back at once (a quarter of a second less
    for the 35,000 communes of the COG); `refresh` reads it again.
    """
    from osmcams.communes import cache

    path = Path(path)
    try:
        kept = None if cache_dir is None else cache.population_path(Path(cache_dir), path, year)
    except OSError:  # no such table: its reading says so
        kept = None
    population = None if kept is None or refresh else cache.read_population(kept)
    if population is None:
        population = _read_population(path, year)
        if kept is not None:
            with contextlib.suppress(OSError):  # no cache: slower, the same figures
                cache.write_population(population, kept)
    return population


def _read_population(path: Path, year: str | None) -> Population:
    """`read_population`, parsed."""
    if path.is_dir():
        tables = sorted(p.name for p in path.iterdir()
                        if p.suffix.lower() in (".json", ".csv") and p.is_file())
        where = f": give one of its files, {short_list(tables)}" if tables else ""
        raise DataError(f"{path}: a directory, not a population table{where}")
    try:
        text = _read_text(path)
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a population table (not UTF-8 text)") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read population table: {error_reason(e)}") from e
    except ValueError as e:  # read_limited's
        raise DataError(f"{path}: {e}: not a population table") from e
    if text.lstrip()[:1] in ("[", "{"):
        population = _population_json(path, text)
    else:
        population = _population_csv(path, text)
    if not population.values:
        raise DataError(f"{path}: no population in the table")
    found = population.year or year_in(path.name) or year
    return dataclasses.replace(population, year=found)




def _read_text(path: Path) -> str:
    """The text of a table, gzip-compressed (``.gz``) or not, bounded in size."""
    import gzip
    import zlib

    if not path.name.lower().endswith(".gz"):
        return read_limited(path, MAX_TABLE_BYTES).decode("utf-8-sig")
    try:
        with gzip.open(path, "rb") as stream:
            data = stream.read(MAX_TABLE_BYTES + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a gzip file, or a damaged one ({error_reason(e)})") from e
    if len(data) > MAX_TABLE_BYTES:
        raise DataError(f"{path}: inflates past {MAX_TABLE_BYTES // 2**20} MB: not a population table")
    return data.decode("utf-8-sig")


# The population table that ships with osmcams: the communes of COG 2026 (Etalab
# "découpage administratif", Licence Ouverte), code, name, department, population and the
# codes of the communes merged into each (its `anciensCodes`, in MERGED_COLUMN).
OFFICIAL_TABLE = "data/communes-cog-2026.csv.gz"
MERGED_COLUMN = "anciens_codes"  # codes apart by spaces
OFFICIAL_SOURCE = ("INSEE legal population 2023 (in force in 2026; Etalab découpage administratif, "
                   "COG 2026, shipped with osmcams)")
# The year of the figures: INSEE's legal populations of year N come into force on 1 January
# N+3, in the COG of that year (Etalab's 2023 package cites INSEE's "populations légales 2020").
OFFICIAL_YEAR = "2023"


def official_table() -> Path:
    """The path of the population table that ships with osmcams."""
    from importlib.resources import files

    return Path(str(files("osmcams").joinpath(OFFICIAL_TABLE)))


def apply_official_population(
    communes: Communes, cache_dir: str | os.PathLike[str] | None = None, refresh: bool = False
) -> Communes:
    """The shipped COG population and official names, for communes with French INSEE codes;
    others (a foreign extract's relations) are left as they are. `cache_dir`, `refresh`: as
    in `read_population`."""
    population = read_population(official_table(), OFFICIAL_YEAR, cache_dir, refresh)
    if not any(code in population.values for code in communes.frame["insee"].tolist()):
        return communes
    # Its name says the COG edition, 2026, which read_population would take for the year.
    _apply(communes, dataclasses.replace(population, source=OFFICIAL_SOURCE, year=OFFICIAL_YEAR))
    return communes


@gc_paused()  # tens of thousands of records, made and dropped meanwhile
def _population_json(path: Path, text: str) -> Population:
    try:
        rows = parse_nested(json.loads, text)
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e
    if isinstance(rows, dict) and "features" in rows:
        raise DataError(
            f"{path}: a GeoJSON, not a population table; boundaries go to --boundaries, "
            "--population takes the COG communes.json or an INSEE CSV"
        )
    if not isinstance(rows, list):
        raise DataError(f"{path}: not a population table (a JSON list of communes)")
    values: dict[str, int] = {}
    names: dict[str, str] = {}
    merged: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    def where(index: int) -> str:  # the line is looked for only when there is an error
        return f"{path}, line {_json_line(text, index)}"

    for number, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{where(number)}: not a commune record")
        if row.get("type", "commune-actuelle") != "commune-actuelle" or row.get("population") is None:
            continue
        code, value = _entry(row.get("code"), row["population"], where, number)
        _add(values, lines, code, value, number, where)
        if isinstance(row.get("nom"), str):
            if not row["nom"].isascii() and NOT_TEXT.search(row["nom"]):  # JSON's \ud800 escapes
                raise DataError(f"{where(number)}, code {code}: the name holds half of a UTF-16 "
                                "surrogate pair (a \\ud800 to \\udfff escape alone): not text")
            names[code] = row["nom"]
        former = row.get("anciensCodes")
        if isinstance(former, list) and former:
            merged[code] = [str(c) for c in former if isinstance(c, (str, int))]
    return Population(values, f"{path.name} (Etalab COG)", None, names, merged)


def _json_line(text: str, index: int) -> int:
    """The line on which record `index` of the JSON list `text` starts."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    for _ in range(index + 1):
        while text[pos] in " \t\r\n,":
            pos += 1
        start = pos
        _, pos = decoder.raw_decode(text, pos)
    return text.count("\n", 0, start) + 1


def _add(
    values: dict[str, int], lines: dict[str, int], code: str, value: int, line: int,
    where: Callable[[int], str],
) -> None:
    """Record one value; a code seen before must have the same value."""
    if code in values and values[code] != value:
        raise DataError(
            f"{where(line)}: code {code} appears twice with different populations "
            f"({values[code]} at {where(lines[code])}, {value} here)"
        )
    values[code] = value
    lines.setdefault(code, line)


def _population_csv(path: Path, text: str) -> Population:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        raise DataError(f"{path}: not a population table (no columns separated by , ; or tab)") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)  # (not splitlines: U+2028)
    try:
        columns = reader.fieldnames or []
    except csv.Error as e:  # a field over csv's limit of 128 KiB
        raise DataError(f"{path}, line {reader.line_num + 1}: {e}") from None
    code = next((c for c in columns if c.upper() in ("CODGEO", "COM", "CODE", "INSEE", "DEPCOM")), None)
    pop = next(
        (c for c in columns if re.fullmatch(r"(PMUN|PTOT|POPULATION|P\d\d_POP)\d*", c.upper())), None
    )
    label = next((c for c in columns if c.upper() in ("LIBGEO", "NOM", "LIBELLE", "NCC")), None)
    former = next((c for c in columns if c.upper() == MERGED_COLUMN.upper()), None)
    if not code or not pop:
        raise DataError(
            f"{path}: no code and population columns among {short_list(columns)} "
            "(expected CODGEO or COM, and PMUN, PTOT or P21_POP)"
        )
    # The year the column's INSEE name states: P21_POP, PMUN21, PMUN2021 or PTOT1936.
    stated = re.fullmatch(r"P(\d\d)_POP|PMUN(\d\d)|(?:PMUN|PTOT)((?:19|20)\d\d)", pop.upper())
    digits = stated.group(stated.lastindex or 0) if stated else None
    year = "20" + digits if digits and len(digits) == 2 else digits
    values: dict[str, int] = {}
    names: dict[str, str] = {}
    merged: dict[str, list[str]] = {}
    lines: dict[str, int] = {}

    def where(line: int) -> str:
        return f"{path}, line {line}"

    try:
        for row in reader:
            line = reader.line_num
            if not (row.get(pop) or "").strip():
                continue
            key, value = _entry(row.get(code), row[pop], where, line)
            _add(values, lines, key, value, line, where)
            if label and row.get(label):
                names[key] = row[label]
            if former and (row.get(former) or "").split():
                merged[key] = (row[former] or "").split()
    except csv.Error as e:
        raise DataError(f"{where(reader.line_num + 1)}: {e}") from None
    return Population(values, f"{path.name} (INSEE)", year, names, merged)


def apply_population(
    communes: Communes, path: str | os.PathLike[str], year: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None, refresh: bool = False,
) -> Communes:
    """Replace the populations of `communes` with those of a table, and the names with its own.

    The table's names are the official ones (IGN's simplified files drop the articles:
    "Rochelle" for La Rochelle). Raises DataError when no code of the table matches.
    `cache_dir`, `refresh`: as in `read_population`.
    """
    population = read_population(path, year, cache_dir, refresh)
    codes = communes.frame["insee"].tolist()
    if codes and not any(code in population.values for code in codes):
        sample = ", ".join(sorted(population.values)[:3])
        theirs = ", ".join(quoted(str(code)) for code in sorted(set(codes), key=str)[:3])
        raise DataError(
            f"{path}: no code of the table matches a commune of {communes.source} "
            f"(the table has codes such as {sample}; the communes have codes such as {theirs})"
        )
    _apply(communes, population)
    if population.year is None:
        communes.notes.append(f"the census year of the population of {Path(path).name} is unknown "
                              "(neither its columns nor its name say it): give --population-year "
                              "(population_year in a refresh configuration)")
    return communes


def _apply(communes: Communes, population: Population) -> None:
    """The populations and names of `population` on `communes`; none for a commune whose
    population counts communes merged into it since that are loaded with outlines of
    their own (IGN 2018 outlines, COG 2026 populations): it would be set on the old outline."""
    import pandas

    frame = communes.frame
    codes = frame["insee"].tolist()
    loaded = set(codes)
    for code in codes:
        apart = [old for old in population.merged.get(code, []) if old in loaded and old != code]
        if apart and code in population.values:
            communes.population_notes[code] = (
                f"{population.names.get(code, code)} ({code}): its population in {population.source} "
                f"counts the communes merged into it since, loaded here with outlines of their own "
                f"({short_list(apart)}), so it has none here, nor a density per inhabitant")
    values = [None if code in communes.population_notes else population.values.get(code) for code in codes]
    frame["population"] = pandas.array(values, dtype="Int64")
    if population.names:
        names = population.names
        frame["name"] = [names.get(code, name) for code, name in zip(codes, frame["name"].tolist())]
    communes.population_source = population.source
    communes.population_year = population.year

