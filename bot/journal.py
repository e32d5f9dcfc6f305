"""Showing a worker's journal: as plain text, Markdown or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from bot.dialogues import Catalog
from bot.dialogues.model import joined
from bot.engine import coach
from bot.messages import Choice
from bot.store.repository import JournalEntry, ReflectionRecord

Format = Literal["text", "markdown", "json"]
FIRST_LINE_WIDTH = 60
NEWEST_AS_BUTTONS = 8  # a phone screen of buttons; older entries are opened by number


def title(catalog: Catalog, dialogue_id: str) -> str:
    dialogue = catalog.get(dialogue_id)
    return dialogue.title if dialogue else dialogue_id


def short(text: str, width: int = FIRST_LINE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def render_list(entries: Sequence[JournalEntry], catalog: Catalog, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(
            [
                {
                    "id": e.id,
                    "dialogue": e.dialogue_id,
                    "title": title(catalog, e.dialogue_id),
                    "started_at": e.started_at.isoformat(),
                    "finished_at": e.finished_at.isoformat(),
                    "first_line": e.first_line,
                    "tags": list(e.tags),
                }
                for e in entries
            ],
            ensure_ascii=False,
            indent=2,
        )
    if not entries:
        return "Your journal is empty for now. Finished reflections will appear here."
    if fmt == "markdown":
        lines = ["| id | date | model | first line |", "| --- | --- | --- | --- |"]
        for e in entries:
            first = short(e.first_line).replace("|", "\\|")
            lines.append(
                f"| {e.id} | {e.finished_at:%Y-%m-%d} | {title(catalog, e.dialogue_id)} | {first} |"
            )
        return "\n".join(lines)
    return "\n".join(
        f"{e.id:>4}  {e.finished_at:%Y-%m-%d}  {title(catalog, e.dialogue_id)}  {short(e.first_line)}"
        + (f"  [{', '.join(e.tags)}]" if e.tags else "")
        for e in entries
    )


def shortcuts(entries: Sequence[JournalEntry], catalog: Catalog) -> tuple[Choice, ...]:
    """Buttons that open the newest entries, newest first (the list itself is oldest first)."""
    newest = list(entries)[-NEWEST_AS_BUTTONS:][::-1]
    return tuple(
        Choice(
            value=f"journal {e.id}",
            label=f"{e.finished_at:%d %b %Y} · {title(catalog, e.dialogue_id)}",
        )
        for e in newest
    )


def _labelled(answers: dict[str, str], dialogue_id: str, catalog: Catalog) -> list[tuple[str, str]]:
    """Each answer under its question's first line (and stage), in the order answered."""
    dialogue = catalog.get(dialogue_id)
    if dialogue is not None:
        answers = joined(answers, dialogue)  # free writing: its messages as one text
    sections = []
    for step_id, text in answers.items():
        label = step_id.replace("_", " ").capitalize()
        if dialogue is not None and dialogue.has_step(step_id):
            step = dialogue.step(step_id)
            label = step.prompt.strip().splitlines()[0]
            stage = dialogue.stage_label(step)
            if stage:
                label = f"{stage}: {label}"
        sections.append((label, text))
    return sections


def with_follow_up(text: str, fmt: Format = "text") -> str:
    """An answer with the coaching follow-up kept in it (bot.engine.coach) shown as the
    exchange it was: the answer, the question asked, and the reply."""
    found = coach.parse(text)
    if found is None:
        return text
    asked = (
        f"*Critical Friend asked:* {found.question}"
        if fmt == "markdown"
        else f"Critical Friend asked: {found.question}"
    )
    reply = found.reply or "(You moved on without answering.)"
    return "\n\n".join(part for part in (found.answer, asked, reply) if part)


def _coaching(answers: dict[str, str]) -> dict[str, dict[str, str]]:
    """The coaching follow-ups kept in these answers, by step, for the JSON view."""
    found = {step: coach.parse(text) for step, text in answers.items()}
    return {
        step: {"rule": e.rule, "question": e.question, "answer": e.answer, "reply": e.reply}
        for step, e in found.items()
        if e is not None
    }


def render_shared(record: ReflectionRecord, catalog: Catalog) -> str:
    """A reflection as its author's critical friend sees it: the answers, nothing else
    (no earlier versions, no follow-ups, no feedback from others)."""
    heading = f"{title(catalog, record.dialogue_id)}, {record.finished_at:%A %d %B %Y}"
    sections = _labelled(coach.shown(record.answers), record.dialogue_id, catalog)
    return "\n\n".join([heading, *(f"{label}\n{text}" for label, text in sections)])


def render_one(record: ReflectionRecord, catalog: Catalog, fmt: Format) -> str:
    """One reflection in full, with any follow-ups of its plan after it."""
    if fmt == "json":
        return json.dumps(
            {
                "id": record.id,
                "dialogue": record.dialogue_id,
                "title": title(catalog, record.dialogue_id),
                "started_at": record.started_at.isoformat(),
                "finished_at": record.finished_at.isoformat(),
                # What the worker wrote; the coaching follow-ups asked, by step, beside it.
                "answers": coach.shown(record.answers),
                "coaching": _coaching(record.answers),
                "revisions": record.revisions,
                "summary": record.summary,
                "follow_ups": [
                    {"finished_at": f.finished_at.isoformat(), "answers": f.answers}
                    for f in record.follow_ups
                ],
                "peer_reflection": [
                    {
                        "friend": p.friend,
                        "sent_at": p.sent_at.isoformat(),
                        "feedback": p.feedback,
                        "answer": p.answer,
                        "answered_at": p.answered_at.isoformat() if p.answered_at else None,
                    }
                    for p in record.peer
                ],
            },
            ensure_ascii=False,
            indent=2,
        )
    heading = f"{title(catalog, record.dialogue_id)}, {record.finished_at:%A %d %B %Y}"
    sections = _labelled(record.answers, record.dialogue_id, catalog)
    later = [
        (f"Follow-up, {f.finished_at:%A %d %B %Y}", _labelled(f.answers, f.dialogue_id, catalog))
        for f in record.follow_ups
    ] + [
        (
            f"Peer reflection with {p.friend or 'a colleague'}, {p.sent_at:%A %d %B %Y}",
            _labelled(p.feedback, p.dialogue_id, catalog)
            + [("What I take from this", text) for text in p.answer.values()],
        )
        for p in record.peer
    ]
    if fmt == "markdown":
        parts = [f"# {heading}"]
        parts.extend(f"## {label}\n\n{with_follow_up(text, fmt)}" for label, text in sections)
        for subheading, answers in later:
            parts.append(f"## {subheading}")
            parts.extend(f"### {label}\n\n{with_follow_up(text, fmt)}" for label, text in answers)
        return "\n\n".join(parts)
    parts = [f"{heading}\n{'=' * min(len(heading), 72)}"]
    parts.extend(f"{label}\n{with_follow_up(text)}" for label, text in sections)
    for subheading, answers in later:
        parts.append(f"{subheading}\n{'-' * len(subheading)}")
        parts.extend(f"{label}\n{with_follow_up(text)}" for label, text in answers)
    return "\n\n".join(parts)
