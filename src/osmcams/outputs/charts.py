"""The spread over time, drawn: cameras per commune at each date, as small multiples
(PNG, SVG) or one HTML page that opens from disk with no network.

matplotlib is read only here, when a chart is drawn.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from osmcams.communes.model import code_label
from osmcams.files import atomic_open, atomic_path
from osmcams.join import is_outside
from osmcams.models import cameras_text
from osmcams.outputs.figures import (
    NO_DATA,
    NO_DATA_EDGE,
    NO_DATA_LABEL,
    PARTIAL_EDGE,
    covered_text,
    credits,
    drawn_text,
    html_text,
    partial_share,
)

PANELS = 12  # communes drawn; beyond, those with the most cameras at the last date
COLUMNS = 4
LINE, FILL = "#bd0026", "#fecc5c"  # the dark and a light end of the maps' yellow-red ramp
REPORTED = "#08519c"  # the reported figures: blue, apart from the counts' yellow-red
SUBTITLE_POINTS = 11
NO_DATA_TEXT = NO_DATA_LABEL.replace("\n", " ")  # as count's note and map's legend say it


@dataclass(frozen=True)
class ReportedPoint:
    """A figure reported by a town or the press, as a dated point on a commune's panel."""

    when: datetime  # the instant it is set against OSM (the end of the period it describes)
    cameras: int
    text: str  # "~4,000": the count with its qualifier
    as_of: str
    source: str
    comparable: bool  # installed, of the commune's own network: a filled mark; else hollow


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def shown_rows(timeline: Any) -> list[dict[str, Any]]:
    """The communes a chart draws: all up to PANELS, else the PANELS with the most cameras at
    the last date (ties by code), in that order."""
    rows = list(timeline.rows)
    if len(rows) <= PANELS:
        return rows
    return sorted(rows, key=lambda r: (-(r["cameras"][-1] or 0), r["insee"]))[:PANELS]


def _titles(timeline: Any, rows: list[dict[str, Any]], reported: bool = False) -> tuple[str, str]:
    """The title and subtitle of the chart of `rows`; the subtitle says what the marks of
    `reported` figures are, when there are some."""
    meta, dates = timeline.meta, timeline.dates
    title = f"Cameras mapped in OpenStreetMap, {dates[0][:10]} to {dates[-1][:10]}"
    which = (f"the {len(rows)} communes with the most cameras on {dates[-1][:10]}, of "
             f"{len(timeline.rows):,}" if len(rows) < len(timeline.rows)
             else f"{len(rows):,} commune" + ("s" if len(rows) != 1 else ""))
    data = (meta.get("data_timestamp") or "unknown date")[:10]
    subtitle = f"{which}; counted every {meta['every']}; data of {data}; each panel on its own scale"
    if reported:
        subtitle += ("; ◆ reported by the town or the press (◇ planned, or counted over a wider "
                     "area), at the end of the period it describes")
    return title, subtitle


def _figure(
    timeline: Any, credit: str | None, reported: dict[str, list[ReportedPoint]], headed: bool = True
) -> Any:
    """The matplotlib figure of the small multiples, with the reported figures as points;
    `headed`, with its title, subtitle and credits (a page that shows them as text: without)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = shown_rows(timeline)
    dates = [_when(d) for d in timeline.dates]
    n = max(len(rows), 1)
    columns = min(COLUMNS, n)
    lines = -(-n // columns)
    # At least 9 inches wide: the title, subtitle and credits on one line each, whatever the panels.
    fig, axes = plt.subplots(lines, columns, figsize=(max(4 * columns + 1, 9), 2.8 * lines + 2.2),
                             sharex=True, squeeze=False, dpi=100)
    points = {r["insee"]: reported.get(r["insee"], []) for r in rows}
    labels: list[list[Any]] = []  # per panel, the labels of its values, the most wanted first
    for ax, row in zip(axes.flat, rows):
        name = wrapped(drawn_text(f"{row['name']} ({row['insee']})"), 11,  # not over the next panel's
                       ax.get_position().width * fig.get_figwidth(), fig.dpi)
        mine = points[row["insee"]]
        if row["cameras"][-1] is None:  # outside the data, or not counted: said, no count, not a 0
            away = is_outside(row)
            ax.set_title(f"{name}\n{NO_DATA_TEXT if away else 'not counted'}", fontsize=11, loc="left")
            if away:  # grey and hatched, as the maps draw a commune without data
                ax.patch.set(facecolor=NO_DATA, edgecolor=NO_DATA_EDGE, hatch="///", linewidth=0)
            ax.spines[["top", "right"]].set_visible(False)
            if not mine:  # nothing to measure: no scale
                ax.set_yticks([])
                continue
            # Its reported figures stand without OSM: on a scale that holds them all.
            top = 1.15 * max(p.cameras for p in mine)
            ax.set_ylim(0, top)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            labels.append(_reported_marks(ax, mine, top))
            continue
        # Its own scale, set by its counts and the figures comparable with them; a figure of a
        # wider area or a plan above it sits on the top edge, its value said, "↑".
        top = 1.15 * max([c for c in row["cameras"] if c is not None]
                         + [p.cameras for p in mine if p.comparable] + [1])
        ax.set_ylim(0, top)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # cameras are whole
        figures = _reported_marks(ax, mine, top)
        share = partial_share(row)
        dashed = share is not None
        ax.fill_between(dates, row["cameras"], step="post", color=FILL, alpha=0.6, linewidth=0)
        ax.step(dates, row["cameras"], where="post", color=PARTIAL_EDGE if dashed else LINE,
                linewidth=2, linestyle="--" if dashed else "-",
                marker="o" if len(dates) == 1 else None)  # one date: a step of no length, a point
        ax.set_title(name + (f"\n{covered_text(share)}: counts incomplete" if share is not None else ""),
                     fontsize=11, loc="left")
        labels.append([ax.annotate(f"{row['cameras'][-1]:,}", (dates[-1], row["cameras"][-1]), xytext=(3, 3),
                                   textcoords="offset points", fontsize=10, color="#252525"), *figures])
        ax.grid(axis="y", color="#e0e0e0", linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_axis_off()
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    for i, ax in enumerate(axes.flat[:len(rows)]):
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        if i + columns >= len(rows):  # no panel below: its dates are shown
            ax.xaxis.set_tick_params(labelbottom=True)
    if headed:
        _head(fig, timeline, rows, credit, any(points.values()))
    else:
        fig.set_figheight(fig.get_figheight() - 1.3)  # the room the head and credits took
        fig.tight_layout()
    for panel in labels:  # of labels that would overprint one another, the first kept
        kept: list[Any] = []
        for label in panel:
            box = label.get_window_extent()  # where the laid out figure draws it
            if any(box.overlaps(other) for other in kept):
                label.remove()
            else:
                kept.append(box)
    return fig


def _reported_marks(ax: Any, points: list[ReportedPoint], top: float) -> list[Any]:
    """The reported `points` on `ax`, the latest first, each a ◆ (◇ when not comparable) and
    its value; one above `top` sits on the top edge, "↑" after its value. Their labels."""
    figures = []
    for point in sorted(points, key=lambda p: p.when, reverse=True):
        above, y = point.cameras > top, min(point.cameras, top)
        ax.plot([point.when], [y], marker="D", markersize=7, linestyle="", color=REPORTED,
                markerfacecolor=REPORTED if point.comparable else "white", clip_on=False)
        figures.append(ax.annotate(point.text + (" ↑" if above else ""), (point.when, y), xytext=(4, -10),
                                   textcoords="offset points", fontsize=9, color=REPORTED,
                                   annotation_clip=False))
    return figures


def _head(fig: Any, timeline: Any, rows: list[dict[str, Any]], credit: str | None, reported: bool) -> None:
    """The title and subtitle above the panels of `fig`, the credits below, and the panels
    laid out between them."""
    title, subtitle = _titles(timeline, rows, reported)
    subtitle = wrapped(subtitle, SUBTITLE_POINTS, fig.get_figwidth() * 0.98, fig.dpi)
    below = subtitle.count("\n") * SUBTITLE_POINTS * 1.2 / 72  # inches its further lines take
    fig.set_figheight(fig.get_figheight() + below)
    fig.suptitle(title, x=0.01, ha="left", fontsize=16, weight="bold")
    fig.text(0.01, 1 - 0.55 / fig.get_figheight(), subtitle, fontsize=SUBTITLE_POINTS, color="#404040",
             va="top")
    credit_line = drawn_text(" · ".join(text for text, _ in credits(timeline.meta, credit)))
    fig.text(0.01, 0.01, f"{credit_line} · osmcams {timeline.meta['osmcams_version']}",
             fontsize=9, color="#404040", wrap=True)  # on two lines where it must
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 1 - (0.8 + below) / fig.get_figheight()))


def wrapped(text: str, points: float, inches: float, dpi: float) -> str:
    """`text` broken after its spaces and hyphens into lines each at most `inches` wide, drawn
    at `points` (a word wider than that stays whole)."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer, font = RendererAgg(1, 1, dpi), FontProperties(size=points)
    lines: list[str] = []
    for word in re.split(r"(?<=[ -])", text):
        longer = lines[-1] + word if lines else word
        width = renderer.get_text_width_height_descent(longer.rstrip(), font, ismath=False)[0]
        if lines and width <= inches * dpi:
            lines[-1] = longer
        else:
            lines.append(word)
    return "\n".join(line.rstrip() for line in lines)


def draw_timeline(
    timeline: Any, target: Path, overwrite: bool = False, credit: str | None = None,
    reported: dict[str, list[ReportedPoint]] | None = None,
) -> None:
    """Cameras over time per commune to `target`: .png, .svg or .html (from the suffix);
    `reported`: the figures reported for each commune (by INSEE code), drawn as points."""
    import matplotlib.pyplot as plt

    kind = target.suffix.lower().lstrip(".")
    fig = _figure(timeline, credit, reported or {}, headed=kind != "html")  # a page heads it as text
    try:
        if kind == "html":
            page = timeline_page(timeline, fig, credit, reported or {})
            with atomic_open(target, overwrite) as out:
                out.write(page)
            return
        with atomic_path(target, overwrite) as temp:
            rights = {"png": "Copyright", "svg": "Rights"}[kind]
            fig.savefig(temp, format=kind, dpi=100, metadata={
                "Title": _titles(timeline, shown_rows(timeline))[0], rights: credits(timeline.meta)[0][0]})
    finally:
        plt.close(fig)


def lower(row: dict[str, Any]) -> str:
    """"≥" before the counts of a commune only partly inside the data, as count's table has."""
    return "≥" if row.get("partial") else ""


def timeline_page(
    timeline: Any, fig: Any, credit: str | None = None,
    reported: dict[str, list[ReportedPoint]] | None = None,
) -> str:
    """One HTML page: its title, subtitle and credits as text around the chart (`fig`, drawn
    without them), as inline SVG (its text escaped by matplotlib), the counts and the
    reported figures as tables; nothing fetched."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # without the XML declaration and doctype
    rows, reported = shown_rows(timeline), reported or {}
    title, subtitle = _titles(timeline, rows, any(reported.get(r["insee"]) for r in rows))
    head = "".join(f"<th>{html_text(d[:10])}</th>" for d in timeline.dates)
    body = "".join(
        f"<tr><td>{html_text(r['insee'])}</td><td><bdi>{html_text(r['name'])}</bdi>"
        + (f" ({NO_DATA_TEXT})" if is_outside(r)
           else f" ({html_text(covered_text(s))})" if (s := partial_share(r)) is not None else "")
        + "</td>" + "".join(f"<td>{'–' if c is None else f'{lower(r)}{c:,}'}</td>" for c in r["cameras"])
        + "</tr>" for r in timeline.rows
    )
    floors = ("<p>≥ a commune only partly inside the data: its counts are lower bounds.</p>"
              if any(r.get("partial") for r in timeline.rows) else "")
    floors += ("<p>– a commune outside the data, with no count.</p>"
               if any(is_outside(r) for r in timeline.rows) else "")
    names = {r["insee"]: r["name"] for r in timeline.rows}
    label = code_label(names)
    figures = "".join(
        f"<tr><td>{html_text(code)}</td><td>{html_text(names[code])}</td>"
        f"<td>{html_text(p.as_of)}</td><td>{html_text(p.text)}</td>"
        f"<td>{'yes' if p.comparable else 'no'}</td><td>{html_text(p.source)}</td></tr>"
        for code, ps in reported.items() if code in names for p in ps
    )
    said = (f'<h2>Reported figures</h2><div class="counts"><table><thead><tr><th>{label}</th>'
            f"<th>Commune</th><th>As of</th><th>Reported</th><th>Comparable</th><th>Source</th>"
            f"</tr></thead><tbody>{figures}</tbody></table></div>" if figures else "")
    links = " · ".join(
        f'<a href="{html.escape(url)}">{html_text(text)}</a>' if url else html_text(text)
        for text, url in credits(timeline.meta, credit)
    )
    total = cameras_text(sum(r["cameras"][-1] or 0 for r in timeline.rows),  # of those counted
                         any(r.get("partial") and r["cameras"][-1] is not None for r in timeline.rows))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html_text(title)}</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #252525; }}
svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 12px; }}
.counts {{ overflow-x: auto; }}
td, th {{ border-top: 1px solid #ddd; padding: 2px 8px; text-align: right; }}
td:nth-child(-n+2) {{ text-align: left; }}
.credit {{ color: #404040; font-size: 12px; }}
</style>
</head>
<body>
<h1>{html_text(title)}</h1>
<p>{html_text(subtitle)}; {html_text(total)} at the last date.</p>
<figure>{svg}</figure>
<div class="counts"><table><thead><tr><th>{label}</th><th>Commune</th>{head}</tr></thead>
<tbody>{body}</tbody></table></div>
{floors}{said}
<p class="credit">{links} · osmcams {html_text(str(timeline.meta['osmcams_version']))}</p>
</body>
</html>
"""
