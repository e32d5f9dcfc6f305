"""`Stats` as a small aligned table for people, and as JSON for programs."""

from __future__ import annotations

import json

from bot.stats.figures import ACTED_ON_DAYS, ACTIVE_DAYS, Stats


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def render_text(stats: Stats) -> str:
    scope = (
        "every organisation"
        if stats.organisation_id is None
        else f"organisation {stats.organisation_id}"
    )
    heading = (
        f"Critical Friend in numbers, {stats.period_start:%Y-%m-%d} to {stats.period_end:%Y-%m-%d}"
        f" ({len(stats.weeks)} weeks from Monday, {stats.zone}; {scope})"
    )
    rows = [
        ("Workers who have used the bot", str(stats.workers), ""),
        (f"Active workers (wrote in the last {ACTIVE_DAYS} days)", str(stats.active_workers), ""),
        ("Reflections finished", str(stats.reflections_finished), ""),
        (
            "Completion rate of reflections started",
            _percent(stats.completion_rate),
            f"{stats.started_then_finished} of {stats.reflections_started} finished",
        ),
        ("Weekly nudges sent", str(stats.nudges_sent), ""),
        (
            f"  acted on (a reflection within {ACTED_ON_DAYS} days)",
            str(stats.nudges_acted_on),
            _percent(stats.nudge_rate),
        ),
        ("Critical-friend pairings made", str(stats.pairings_made), ""),
        ("Feedback given", str(stats.feedback_given), ""),
        (
            "CPD records made",
            str(stats.cpd_records),
            f"{stats.cpd_records_with_peer} with peer reflection",
        ),
    ]
    label_w = max(len(label) for label, _, _ in rows)
    value_w = max(len(value) for _, value, _ in rows)
    lines = [heading, ""]
    for label, value, note in rows:
        lines.append(f"{label:<{label_w}}  {value:>{value_w}}  {note}".rstrip())
    lines += ["", f"{'Week':<8}  {'From':<10}  {'Finished':>8}  {'Wrote':>5}"]
    for week in stats.weeks:
        lines.append(
            f"{week.iso_week:<8}  {week.week_start:%Y-%m-%d}  "
            f"{week.reflections_finished:>8}  {week.workers_writing:>5}"
        )
    lines += [
        "",
        "Finished: reflections finished that week. Wrote: workers who saved an answer that week.",
    ]
    return "\n".join(lines)


def render_json(stats: Stats) -> str:
    return json.dumps(stats.as_dict(), indent=2)
