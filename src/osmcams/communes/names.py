"""Finding communes by name or code, by department or region."""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from osmcams.communes.model import INSEE_CODE, NOTHING_SELECTED, Communes, Unusable, department_of, short_list
from osmcams.errors import AmbiguousCommune, CommuneNotFound, DataError, OsmcamsError, UsageError, quoted
from osmcams.models import listed


def _regions() -> list[dict]:
    from importlib.resources import files

    return json.loads(files("osmcams").joinpath("data/regions.json").read_text(encoding="utf-8"))


def region_departments(code: str) -> list[str] | None:
    """The departments of the COG region `code` ("93" -> 04, 05, 06, 13, 83, 84), or None."""
    return next((r["departments"] for r in _regions() if r["code"] == code), None)


def every_department() -> list[str]:
    """The codes of the 101 departments of the COG regions, in order."""
    return sorted(d for r in _regions() for d in r["departments"])


def is_region_code(value: str | None) -> bool:
    """Whether `value` is written like a COG region code (two or three digits)."""
    return bool(value and re.fullmatch(r"[0-9]{2,3}", value.strip()))


LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae"})


ARTICLE = re.compile(r"^(le|la|les|l) ")


SEPARATORS = re.compile(r"[\s\-'’`.]+")
SAINT = re.compile(r"^(st|ste)\b")


def normalise(name: str) -> str:
    """Lower case, no accents, no ligatures, no punctuation: "Œuf-en-Ternois" -> "oeuf en ternois"."""
    text = unicodedata.normalize("NFKD", name.translate(LIGATURES))
    if not text.isascii():  # an ASCII character is never a combining one
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = SEPARATORS.sub(" ", text.casefold()).strip()
    if not text.startswith("st"):
        return text
    return SAINT.sub(lambda m: "saint" if m.group(1) == "st" else "sainte", text)


def bare(name: str) -> str:
    """`normalise` without a leading article: "La Rochelle" and IGN's "Rochelle" -> "rochelle"."""
    return ARTICLE.sub("", normalise(name))


def department_hint(department: str | None) -> str:
    """What to give instead of a department that is Corsica's postal prefix or a name."""
    if department is None:
        return ""
    if department == "20":
        return ": Corsica's communes are in departments 2A (Corse-du-Sud) and 2B (Haute-Corse)"
    if not re.fullmatch(r"\d{2,3}|2[AB]", department):
        return ": --department takes a code, such as 06 or 2A"
    return ""


def department_code(text: str) -> str:
    """A department as INSEE writes it: "6" -> "06", "2a" -> "2A"."""
    text = text.strip().upper()
    return text.zfill(2) if text.isdigit() and len(text) == 1 else text


def match(
    query: str, candidates: Sequence[tuple[str, str, str | None]], department: str | None = None,
    settle: str | None = None, among: str = "",
) -> str:
    """The code of the one candidate (code, name, department) that `query` names.

    `query` is a code or a name, compared without case, accents or ligatures, and
    with or without its article (Le, La, Les, L'). Raises CommuneNotFound with the
    closest names and those holding it as whole words (`among` says among what), or
    AmbiguousCommune with the homonyms and how to `settle` it (by default, the INSEE code,
    or --department when none was given).
    """
    query = query.strip()
    if not query:
        raise UsageError("an empty commune name")
    department = department_code(department) if department else None
    pool = [c for c in candidates if department is None or c[2] == department]
    by_code = [c for c in pool if c[0].upper() == query.upper()]  # 2a004, r65918 as printed
    if by_code:
        return by_code[0][0]
    where = (f" in department {department}" if department else "") + among
    if re.fullmatch(r"\d{4}", query):
        padded = [c for c in pool if c[0] == "0" + query]
        if padded:
            raise CommuneNotFound(
                f"no commune {query!r}{where}: INSEE codes have 5 characters, and {query} looks "
                f"like 0{query} ({padded[0][1]}) without its leading zero, as a spreadsheet writes it"
            )
    wanted = normalise(query)
    found = [c for c in pool if normalise(c[1]) == wanted]
    if not found:
        found = [c for c in pool if bare(c[1]) == bare(query)]
    if len(found) == 1:
        return found[0][0]
    if len(found) > 1:
        listing = ", ".join(f"{n} ({code}, department {d or '?'})" for code, n, d in found)
        if settle is None:
            settle = "give the INSEE code" + (" or --department" if department is None else "")
        raise AmbiguousCommune(
            f"{quoted(query)} names {len(found)} communes{where}: {listing}; {settle}"
        )
    names = {normalise(c[1]): c for c in pool}
    close = difflib.get_close_matches(wanted, list(names), n=5, cutoff=0.75)
    # A name given without the words around it ("Graggenau" for "Bezirksteil Graggenau")
    close += [n for n in names if f" {wanted} " in f" {n} " and n not in close][:5 - len(close)]
    hint = (
        "; did you mean " + ", ".join(f"{names[n][1]} ({names[n][0]})" for n in close) + "?"
        if close
        else ""
    )
    raise CommuneNotFound(f"no commune {quoted(query)}{where}{hint}")


def select(
    communes: Communes,
    queries: str | Sequence[str] = (),
    department: str | None = None,
    every: bool = False,
    region: str | None = None,
) -> list[str]:
    """Codes of the communes asked for: by names or codes (one alone, or several), a
    department, a region, or all."""
    frame = communes.frame
    department = department_code(department) if department else None
    if frame.empty:
        for query in listed(queries):  # a commune asked for by name: why it has no outline
            _refuse_unusable(communes, query, department)
        raise DataError(f"no usable commune boundary in {communes.source}{_left_out(communes)}")
    if every:
        return frame["insee"].tolist()  # type: ignore[no-any-return]
    if region is not None:
        frame = _region_frame(communes, region)
    if not queries:
        if department is None and region is None:
            raise UsageError(NOTHING_SELECTED)
        codes = list(frame["insee"] if department is None else
                     frame.loc[frame["department"] == department, "insee"])
        if not codes:
            raise CommuneNotFound(f"no commune of department {department} in {communes.source}"
                                  f"{department_hint(department)}")
        return codes
    candidates = list(zip(frame["insee"], frame["name"], frame["department"]))
    codes = []
    for query in listed(queries):
        try:
            code = match(query, candidates, department)
        except CommuneNotFound as e:
            _refuse_unusable(communes, query, department)
            held = _unusable_holding(communes, query, department)
            if held:
                raise CommuneNotFound(f"{e}{held}") from None
            city = arrondissement_of(query)
            if city is not None:
                raise CommuneNotFound(f"{e}: {city}") from None
            found = french_commune(query, department)
            if found is None:
                if all(INSEE_CODE.fullmatch(code) for code in frame["insee"]):  # French communes only
                    raise abroad(e, query, communes.source) from None
                raise
            raise CommuneNotFound(f"{e}; {found[1]} ({found[0]}) is a French commune, but "
                                  f"{communes.source} does not hold it") from None
        if code not in codes:
            codes.append(code)
    return codes


# The municipal arrondissements of Paris, Lyon and Marseille: the city, its commune code,
# the start of their codes and how many there are (75101 to 75120: Paris's 1st to 20th).
ARRONDISSEMENTS = (("Paris", "75056", "751", 20), ("Lyon", "69123", "6938", 9),
                   ("Marseille", "13055", "132", 16))


def _ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def arrondissement_of(query: str) -> str | None:
    """What the code of a municipal arrondissement of Paris, Lyon or Marseille is, and the
    commune code to give instead; None for any other query."""
    query = query.strip()
    for city, commune, prefix, count in ARRONDISSEMENTS:
        rest = query[len(prefix):]
        if len(query) == 5 and query.startswith(prefix) and rest.isdigit() and rest.isascii() \
                and 1 <= int(rest) <= count:
            return (f"it is the {_ordinal(int(rest))} municipal arrondissement of {city}, not a "
                    f"commune; give {city}'s commune code, {commune}")
    return None


def french_commune(query: str, department: str | None = None) -> tuple[str, str] | None:
    """The (code, name) of the one current French commune (COG, shipped) that `query`
    names, or None."""
    from osmcams.communes.population import official_table, read_population

    try:
        names = read_population(official_table()).names
        code = match(query, [(c, n, department_of(c)) for c, n in names.items()], department)
    except OsmcamsError:  # not one French commune, or no table to say
        return None
    return code, names[code]


def abroad(error: CommuneNotFound, query: str, source: str) -> CommuneNotFound:
    """`error`, saying what to do when `query` is no French commune's name or code, as it
    is not found among the French communes of `source`."""
    from osmcams.communes.population import official_table, read_population

    try:
        names = read_population(official_table()).names
    except OsmcamsError:  # no table to say
        return error
    wanted, plain, code = normalise(query), bare(query), query.strip().upper()
    if code in names or any(normalise(n) == wanted or bare(n) == plain for n in names.values()):
        return error
    if re.fullmatch(r"\d{4}", code) and "0" + code in names:  # `match` named the code it lost a zero of
        return error
    said = (f"no French commune is named {quoted(query)}, and {source} holds French communes "
            "only: for a place outside France, count in the OSM data's own boundaries (--pbf "
            "FILE without --boundaries, or --boundary-source osm)")
    text = str(error)
    return CommuneNotFound(f"{text} {said[0].upper()}{said[1:]}" if text.endswith("?") else f"{text}: {said}")


def _region_frame(communes: Communes, region: str) -> Any:
    """The communes of `communes` that lie in the departments of COG region `region`."""
    departments = region_departments(region.strip())
    if departments is None:
        raise CommuneNotFound(f"no region {region!r} in the COG (codes such as 11, 76, 93)")
    frame = communes.frame
    chosen = frame[frame["department"].isin(departments)]
    if chosen.empty:
        raise CommuneNotFound(f"no commune of region {region} in {communes.source}")
    return chosen


def _left_out(communes: Communes) -> str:
    """The communes of an empty source that it names without a usable outline, and what to
    do, for its error ("" when it names none and is no OSM file's relations)."""
    if not communes.unusable:
        return ("" if communes.admin_level is None
                else ": it holds none; give --boundaries or another --admin-level")
    named = [f"{quoted(u.name)}" + (f" ({u.code})" if u.code else "") for u in communes.unusable]
    return (f": {len(named)} left out, {short_list(named)}; use an extract that holds them "
            "whole, --boundaries, or another --admin-level (in a refresh configuration, "
            "[communes] boundaries or admin_level)")


def _unusable_in(communes: Communes, department: str | None) -> list[Unusable]:
    """The communes the source names without a usable outline, in `department` when given."""
    return [u for u in communes.unusable
            if department is None or not u.code or department_of(u.code) in (None, department)]


def _named(u: Unusable) -> str:
    """How an error names an unusable commune: its name, and its code when it has one."""
    return quoted(u.name) + (f" ({u.code})" if u.code else "")


def _refuse_unusable(communes: Communes, query: str, department: str | None) -> None:
    """DataError for a commune the source names but has no usable outline for."""
    wanted = normalise(query)
    for u in _unusable_in(communes, department):
        if (u.code or "").upper() == query.strip().upper() or normalise(u.name) == wanted:
            raise DataError(f"cannot count {_named(u)}: {u.reason}")


def _unusable_holding(communes: Communes, query: str, department: str | None) -> str:
    """For the error on an unknown `query`: the communes without a usable outline whose
    names hold it as whole words ("Glockenbach" in "Bezirksteil Glockenbach"), and why."""
    wanted = f" {normalise(query)} "
    held = [u for u in _unusable_in(communes, department) if wanted in f" {normalise(u.name)} "]
    return "".join(f"; {_named(u)}: {u.reason}" for u in held[:3])

