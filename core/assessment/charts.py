"""Bar charts drawn on the server as inline SVG (the assessment dashboard): no JavaScript, no
chart library. Each chart is an `<svg role="img">` named by its `<title>` and `<desc>`; the page
puts the same figures in a table right after it, for screen readers and for copying.

`columns` draws vertical (optionally stacked) columns, `bars` horizontal bars with long labels.
Every text is escaped; labels too long for the drawing are shortened there, the full text stays
in the bar's own `<title>` and in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

FONT = 13
COLOURS = ("#1f5f99", "#c8d6e5")  # first and second series: dark blue, light blue-grey
TEXT = "#222"
AXIS = "#777"


@dataclass(frozen=True)
class Column:
    label: str
    values: tuple[float, ...]  # one per series, stacked bottom-up
    caption: str = ""  # shown above the column (e.g. the total or a rate)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    caption: str  # shown after the bar (the value as read)
    tooltip: str = ""  # the full label, when shortened


def _shorten(text: str, limit: int) -> str:
    """At most `limit` display cells (a CJK character is two)."""
    cells, out = 0, []
    for char in text:
        cells += 2 if ord(char) > 0x2E7F else 1
        if cells > limit:
            return "".join(out).rstrip() + "…"
        out.append(char)
    return text


def _open(chart_id: str, title: str, description: str, width: int, height: int) -> list[Markup]:
    return [
        Markup('<svg xmlns="http://www.w3.org/2000/svg" id="{id}" class="chart" role="img" '
               'viewBox="0 0 {w} {h}" width="100%" style="max-width:{w}px" '
               'aria-labelledby="{id}-title {id}-desc" font-family="sans-serif" font-size="{font}">'
               ).format(id=chart_id, w=width, h=height, font=FONT),
        Markup('<title id="{}-title">{}</title>').format(chart_id, title),
        Markup('<desc id="{}-desc">{}</desc>').format(chart_id, description),
    ]


def _text(x: float, y: float, text: str, *, anchor: str = "start", colour: str = TEXT) -> Markup:
    return Markup('<text x="{:.1f}" y="{:.1f}" text-anchor="{}" fill="{}">{}</text>').format(
        x, y, anchor, colour, text)


def _rect(x: float, y: float, w: float, h: float, colour: str) -> Markup:
    return Markup('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"/>').format(
        x, y, w, h, colour)


def _line(x1: float, y1: float, x2: float, y2: float) -> Markup:
    return Markup('<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}"/>').format(
        x1, y1, x2, y2, AXIS)


def legend(series: Sequence[str], x: int, y: int) -> list[Markup]:
    parts = []
    for i, name in enumerate(series):
        parts += [_rect(x, y + i * 18, 12, 12, COLOURS[i]), _text(x + 18, y + i * 18 + 11, name)]
    return parts


def columns(chart_id: str, title: str, description: str, data: Sequence[Column], *,
            series: Sequence[str] = ()) -> Markup:
    """Vertical columns, one per entry, each the stack of its `values` (bottom-up)."""
    width, height, left, top, bottom = 640, 280, 40, 28 + 18 * len(series), 40
    plot_h = height - top - bottom
    base = top + plot_h
    top_value = max((sum(c.values) for c in data), default=0) or 1
    slot = (width - left - 10) / max(len(data), 1)
    parts = _open(chart_id, title, description, width, height)
    parts += [_line(left, base, width - 10, base),
              _text(left - 6, top + 4, f"{top_value:g}", anchor="end", colour=AXIS),
              _text(left - 6, base, "0", anchor="end", colour=AXIS)]
    parts += legend(series, left, 6)
    for i, column in enumerate(data):
        w = min(slot * 0.7, 80.0)  # a lone year stays a column, not a wall
        x, y = left + i * slot + (slot - w) / 2, float(base)
        for k, value in enumerate(column.values):
            h = plot_h * value / top_value
            y -= h
            if h > 0:
                parts.append(_rect(x, y, w, h, COLOURS[k % len(COLOURS)]))
        if column.caption:
            parts.append(_text(x + w / 2, y - 4, column.caption, anchor="middle"))
        parts.append(_text(x + w / 2, base + 18, _shorten(column.label, int(slot / 7)),
                           anchor="middle"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def bars(chart_id: str, title: str, description: str, data: Sequence[Bar], *,
         max_value: float | None = None) -> Markup:
    """Horizontal bars, one row per entry, the label on the left and the caption at the end."""
    width, label_w, row, top = 640, 250, 26, 8
    height = top + row * max(len(data), 1) + 8
    top_value = max_value or max((b.value for b in data), default=0) or 1
    plot_w = width - label_w - 120  # room for the caption after the longest bar
    parts = _open(chart_id, title, description, width, height)
    for i, bar in enumerate(data):
        y = top + i * row
        w = max(plot_w * bar.value / top_value, 0)
        parts.append(Markup("<g>"))
        if bar.tooltip:
            parts.append(Markup("<title>{}</title>").format(bar.tooltip))
        parts += [_text(label_w - 8, y + row / 2 + 4, _shorten(bar.label, 34), anchor="end"),
                  _rect(label_w, y + 4, w, row - 8, COLOURS[0]),
                  _text(label_w + w + 6, y + row / 2 + 4, bar.caption), Markup("</g>")]
    parts += [_line(label_w, top, label_w, height - 8), Markup("</svg>")]
    return Markup("").join(parts)
