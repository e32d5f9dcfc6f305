"""Admin stats: participation in counts and dates, never what anyone wrote, as a table,
as JSON and as a PNG chart of the last weeks."""

from bot.stats.chart import CAPTION, HEIGHT, MEDIA_TYPE, WIDTH, chart_png
from bot.stats.figures import ACTED_ON_DAYS, ACTIVE_DAYS, MAX_WEEKS, Stats, WeekCount, collect
from bot.stats.report import render_json, render_text

__all__ = [
    "ACTED_ON_DAYS",
    "ACTIVE_DAYS",
    "CAPTION",
    "HEIGHT",
    "MAX_WEEKS",
    "MEDIA_TYPE",
    "WIDTH",
    "Stats",
    "WeekCount",
    "chart_png",
    "collect",
    "render_json",
    "render_text",
]
