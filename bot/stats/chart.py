"""The participation chart: reflections finished each week as bars, the workers who wrote
that week as a line with dots, on one scale, under the period's dates.

Drawn with `raster.Canvas`, the standard library only (zlib and struct). Measured here
on Python 3.11 before choosing:

- matplotlib 3.11: 35 MB installed, 174 MB with what it brings (numpy, Pillow,
  fonttools, contourpy, kiwisolver, ...), and 0.6 to 1 s to import pyplot with Agg.
  Far too much for a dozen bars.
- Pillow 13: a 7.1 MB wheel, 22 MB installed, about 15 ms to import Image and
  ImageDraw. It would draw this well; the chart needs only rectangles, lines and digits.
- The standard library: nothing to install, nothing to import worth measuring, the
  same Stats give the same bytes every time, and the font cannot draw a word. The cost
  is `raster` (a 5x7 digit font and a PNG writer, about 130 lines).

Pillow may be installed anyway if the CPD export's PDF library needs it; the chart does
not depend on that choice.

The labels are week dates (MM-DD under each bar, or every second or third bar when they
would collide; the period with years above) and the scale's numbers; the font has
digits, '-' and space only, so no word can be drawn. The caption that says which colour
is which (`CAPTION`) goes beside the picture as text.
"""

from __future__ import annotations

import itertools
import math

from bot.stats.figures import Stats
from bot.stats.raster import GLYPH_HEIGHT, Canvas

WIDTH, HEIGHT = 960, 480
CAPTION = (
    "Bars: reflections finished each week. Line: workers who wrote that week. "
    "Weeks begin on Monday; the last one is still going."
)
MEDIA_TYPE = "image/png"

BACKGROUND, INK, GRID, BAR, LINE, LABEL = range(6)
PALETTE = (
    (255, 255, 255),
    (51, 51, 51),
    (226, 226, 226),
    (76, 120, 168),  # blue bars
    (228, 107, 34),  # orange line: apart from the blue for most kinds of colour blindness
    (102, 102, 102),
)
LEFT, RIGHT, TOP, BOTTOM = 72, 32, 56, 56
SCALE = 2  # the font's pixels, drawn 2 by 2
LINE_WIDTH, DOT_RADIUS = 3, 5


def chart_png(stats: Stats) -> bytes:
    """A WIDTH x HEIGHT PNG of the weeks in `stats`."""
    canvas = Canvas(WIDTH, HEIGHT, PALETTE)
    weeks = stats.weeks
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h  # the y of zero
    top, step = _scale(
        max((max(w.reflections_finished, w.workers_writing) for w in weeks), default=0)
    )

    def y_of(value: int) -> int:
        return base - round(value * plot_h / top)

    text_h = GLYPH_HEIGHT * SCALE
    for value in range(0, top + 1, step):
        y = y_of(value)
        canvas.rect(LEFT, y, LEFT + plot_w, y + 1, GRID if value else INK)
        label = str(value)
        canvas.text(
            LEFT - 10 - Canvas.text_width(label, SCALE), y - text_h // 2, label, LABEL, SCALE
        )

    period = f"{stats.period_start.isoformat()} - {stats.period_end.isoformat()}"
    canvas.text(LEFT, (TOP - text_h) // 2, period, INK, SCALE)

    slot = plot_w / max(len(weeks), 1)
    label_w = Canvas.text_width("00-00", SCALE)
    every = max(1, math.ceil((label_w + 10) / slot))
    centres = [round(LEFT + slot * (i + 0.5)) for i in range(len(weeks))]
    bar_half = max(1, round(slot * 0.3))
    for i, (week, centre) in enumerate(zip(weeks, centres, strict=True)):
        if week.reflections_finished:
            canvas.rect(
                centre - bar_half, y_of(week.reflections_finished), centre + bar_half, base, BAR
            )
        # Labelled from the newest week back, so the current week always has its date.
        if (len(weeks) - 1 - i) % every == 0:
            label = week.week_start.strftime("%m-%d")
            canvas.text(centre - label_w // 2, base + 12, label, LABEL, SCALE)

    points = [(c, y_of(w.workers_writing)) for c, w in zip(centres, weeks, strict=True)]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        canvas.line(x0, y0, x1, y1, LINE, LINE_WIDTH)
    for x, y in points:
        canvas.disc(x, y, DOT_RADIUS, LINE)
    return canvas.png()


def _scale(highest: int) -> tuple[int, int]:
    """The top of the axis and the step between its lines: 1, 2 or 5 times a power of
    ten, at most 5 steps, and at least 0 to 5 so a quiet chart is not all bar."""
    highest = max(highest, 5)
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if math.ceil(highest / step) <= 5:
                return step * math.ceil(highest / step), step
        magnitude *= 10
