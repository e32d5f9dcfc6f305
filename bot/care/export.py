"""A worker's copy of their data: one JSON file for programs, one Markdown file to read.

Both are made from `bot.store.subject_access.collect`, so they hold the same things:
the profile, nudge settings and scheduled messages, every reflection with its answers,
earlier versions, follow-ups and peer reflection, drafts, critical-friend pairings,
shares and feedback given, and the audit lines about them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot import journal
from bot.dialogues import Catalog
from bot.dialogues.model import PART, joined
from bot.messages import Attachment

JSON_TYPE = "application/json"
MARKDOWN_TYPE = "text/markdown"
FORMAT_VERSION = 1


def attachments(data: dict[str, Any], catalog: Catalog, now: datetime) -> list[Attachment]:
    stem = f"critical-friend-export-{now:%Y-%m-%d}"
    document = {
        "format": "critical-friend-export",
        "version": FORMAT_VERSION,
        "exported_at": now.isoformat(),
        **data,
    }
    return [
        Attachment(
            f"{stem}.json", json.dumps(document, ensure_ascii=False, indent=2).encode(), JSON_TYPE
        ),
        Attachment(f"{stem}.md", markdown(data, catalog, now).encode(), MARKDOWN_TYPE),
    ]


def _day(text: str | None) -> str:
    return text[:10] if text else "-"


def markdown(data: dict[str, Any], catalog: Catalog, now: datetime) -> str:
    profile = data["profile"]
    lines = [
        "# Everything Critical Friend keeps about you",
        "",
        f"Exported {now:%d %B %Y at %H:%M} UTC.",
        "",
        "## You",
        "",
        f"- Name: {profile['display_name'] or '(none given)'}",
        f"- Organisation: {profile['organisation']}",
        f"- Time zone: {profile['time_zone'] or '(the organisation default)'}",
        f"- Team: {profile['team'] or '(not known)'}",
        f"- Line manager: {profile['line_manager'] or '(not known)'}",
        f"- Joined: {_day(profile['joined_at'])}",
    ]
    lines += [f"- On {way['channel']}: {way['id']}" for way in profile["chat_apps"]]
    settings = data["nudge_settings"]
    lines += ["", "## Weekly nudges", ""]
    if settings is None:
        lines.append("Your organisation's defaults; you have not changed them.")
    else:
        lines += [
            f"- {key.replace('_', ' ').capitalize()}: {value}" for key, value in settings.items()
        ]
    lines += ["", "## Reflections", ""]
    if not data["reflections"]:
        lines.append("None finished.")
    for item in data["reflections"]:
        lines += [
            f"### {journal.title(catalog, item['dialogue'])}, {_day(item['finished_at'])}",
            "",
        ]
        dialogue = catalog.get(item["dialogue"])
        answers = joined(item["answers"], dialogue) if dialogue else item["answers"]
        for step, text in answers.items():  # free writing's messages as one text
            shown = journal.with_follow_up(text, "markdown")  # with a coaching follow-up
            lines += [f"**{_label(catalog, item['dialogue'], step)}**", "", shown, ""]
            # Earlier versions as they were, the coaching exchange in them shown as one
            # (free writing's are under each message's own key).
            for key, versions in item["revisions"].items():
                if key == step or (key.startswith(f"{step}{PART}") and key not in answers):
                    for earlier in versions:
                        shown = journal.with_follow_up(earlier, "markdown")
                        lines += [f"*An earlier version:* {shown}", ""]
        for follow_up in item["follow_ups"]:
            lines += [f"#### Follow-up, {_day(follow_up['finished_at'])}", ""]
            lines += [
                f"{journal.with_follow_up(t, 'markdown')}\n" for t in follow_up["answers"].values()
            ]
        for peer in item["peer_reflection"]:
            lines += [
                f"#### Feedback from {peer['friend'] or 'a colleague'}, {_day(peer['sent_at'])}",
                "",
            ]
            lines += [f"{text}\n" for text in peer["feedback"].values()]
            lines += [f"*What I take from this:* {text}\n" for text in peer["answer"].values()]
    if data["drafts"]:
        lines += ["## Unfinished reflections", ""]
        for draft in data["drafts"]:
            lines += [
                f"### {journal.title(catalog, draft['dialogue'])}, last touched {_day(draft['updated_at'])}",
                "",
            ]
            lines += [
                f"{journal.with_follow_up(t, 'markdown')}\n" for t in draft["answers"].values()
            ]
            lines += [f"*Not yet saved:* {text}\n" for text in draft["unsaved"]]
    friends = data["critical_friends"]
    lines += [
        "## Critical friends",
        "",
        f"- In the pool: {'yes' if friends['in_pool'] else 'no'}; in rounds: {'yes' if friends['in_rounds'] else 'no'}",
    ]
    lines += [
        f"- Paired with {', '.join(p['with']) or 'a colleague'} from {_day(p['started_at'])}"
        f" to {_day(p['ended_at'] or p['ends_at'])}"
        for p in friends["pairings"]
    ]
    lines += [
        f"- Shared reflection {s['reflection_id']} with {', '.join(s['with']) or 'a colleague'}"
        f" on {_day(s['shared_at'])}"
        + (f", taken back {_day(s['taken_back_at'])}" if s["taken_back_at"] else "")
        for s in friends["shared"]
    ]
    for given in friends["feedback_given"]:
        lines += [
            "",
            f"### Feedback you gave {given['to'] or 'a colleague'}, {_day(given['sent_at'])}",
            "",
        ]
        lines += [f"{text}\n" for text in given["answers"].values()]
    if data.get("cpd_records"):
        lines += ["", "## CPD records", ""]
        for record in data["cpd_records"]:
            lines += [f"### {record['title']}, {record['activity_date']}", ""]
            lines += [
                f"**{key.replace('_', ' ').capitalize()}:** {value}"
                for key, value in record.items()
                if key not in {"id", "reflection_id", "title", "activity_date"} and value
            ]
            lines.append("")
    if data.get("cpd_drafts"):
        lines += ["", "## CPD drafts, not saved", ""]
    for draft in data.get("cpd_drafts", []):
        lines += [f"### {draft.get('title') or 'A draft'}", ""]
        lines += [
            f"**{key.replace('_', ' ').capitalize()}:** {value}"
            for key, value in draft.items()
            if key not in {"id", "reflection_id", "title"} and value
        ]
        lines.append("")
    if data.get("lessons_for_the_team"):
        lines += ["", "## Lessons offered to the team", ""]
        for lesson in data["lessons_for_the_team"]:
            if lesson["digest_sent_at"]:
                state = f"in the team digest of {_day(lesson['digest_sent_at'])}"
            else:
                state = "shared, for the next digest" if lesson["shared"] else "a draft, not shared"
            lines += [f"- {lesson['text']} ({lesson['theme']}; {state})"]
    lines += ["", "## Record of actions", ""]
    lines += [f"- {_day(e['at'])}: {e['action']} ({e['subject']})" for e in data["audit"]] or [
        "None."
    ]
    return "\n".join(lines).rstrip() + "\n"


def _label(catalog: Catalog, dialogue_id: str, step_id: str) -> str:
    dialogue = catalog.get(dialogue_id)
    if dialogue is not None and dialogue.has_step(step_id):
        return dialogue.step(step_id).prompt.strip().splitlines()[0]
    return step_id.replace("_", " ").capitalize()
