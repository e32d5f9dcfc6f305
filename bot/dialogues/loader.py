"""Reading dialogue files, and checking them the way an author needs.

Every problem is reported as `file:line: what is wrong`. One broken file never
takes the others down: the catalog keeps the good ones and lists the problems.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.dialogues.model import END, PART, PLACEHOLDER, STEP_ID, Dialogue
from bot.yamlsource import Located, Problem, YamlError, load_file, validation_problems

if TYPE_CHECKING:
    from bot.engine.coach import Coach

# The coaching rules (bot/engine/coach.py) live beside the dialogues, in a file of their own.
COACH_FILE = "coach.yaml"


class DialogueError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_dialogue(path: Path) -> Dialogue:
    """Load and check one file; raise DialogueError listing every problem found."""
    try:
        located = load_file(path)
    except YamlError as error:
        raise DialogueError(error.problems) from None
    problems = list(located.duplicates)
    if not STEP_ID.match(path.stem):
        problems.append(
            Problem(
                located.file,
                1,
                f"the file name is the dialogue's id, so it must use lower-case letters, digits "
                f"and underscores (for example my_model.yaml), not '{path.stem}'",
            )
        )
    if not isinstance(located.data, dict):
        problems.append(Problem(located.file, 1, "a dialogue file must be a mapping of keys"))
        raise DialogueError(problems)
    data: dict[str, Any] = dict(located.data)
    if "id" in data:
        problems.append(
            Problem(
                located.file, located.line_of(("id",)), "unknown key 'id' (the file name is the id)"
            )
        )
        data.pop("id")
    try:
        dialogue = Dialogue.model_validate({**data, "id": path.stem})
    except ValidationError as error:
        problems.extend(validation_problems(error, located))
        raise DialogueError(problems) from None
    problems.extend(check_dialogue(dialogue, located))
    if problems:
        raise DialogueError(problems)
    return dialogue


def check_dialogue(dialogue: Dialogue, located: Located) -> list[Problem]:
    """The checks a schema cannot express: ids, branches, reachability, placeholders."""
    problems: list[Problem] = []

    def report(path: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(located.file, located.line_of(path), message))

    seen: set[str] = set()
    for index, step in enumerate(dialogue.steps):
        where = ("steps", index)
        if step.id in seen:
            report((*where, "id"), f"step id '{step.id}' is used twice")
        seen.add(step.id)
        if step.stage is not None and dialogue.stages and step.stage not in dialogue.stages:
            report((*where, "stage"), f"stage '{step.stage}' is not listed under 'stages'")
        if step.next is not None and step.next != END and not dialogue.has_step(step.next):
            report((*where, "next"), f"'next' goes to a step that does not exist: '{step.next}'")
        values: set[str] = set()
        for c_index, choice in enumerate(step.choices):
            c_where = (*where, "choices", c_index)
            if choice.value in values:
                report((*c_where, "value"), f"choice value '{choice.value}' is used twice")
            values.add(choice.value)
            if (
                choice.next is not None
                and choice.next != END
                and not dialogue.has_step(choice.next)
            ):
                report(
                    (*c_where, "next"),
                    f"choice goes to a step that does not exist: '{choice.next}'",
                )
        if step.follow_up is not None and step.is_choice:
            report((*where, "follow_up"), "a follow-up only makes sense on a free-text question")
        if step.guard is not None and step.is_choice:
            report((*where, "guard"), "a guard only makes sense on a free-text question")
        if step.collect is not None:
            for key, what in (
                ("choices", step.is_choice),
                ("follow_up", step.follow_up is not None),
                ("guard", step.guard is not None),
            ):
                if what:
                    report(
                        (*where, key),
                        f"free writing (collect: {step.collect}) takes typed messages, so it "
                        f"cannot have '{key}'",
                    )
            clash = next((s.id for s in dialogue.steps if s.id.startswith(step.id + PART)), None)
            if clash is not None:
                report(
                    (*where, "id"),
                    f"step id '{clash}' is where this step keeps its later messages: "
                    "please name it differently",
                )
        if step.action == "check_in":
            if not step.is_choice:
                report(
                    (*where, "action"), "'check_in' needs choices whose values are days or 'none'"
                )
            for c_index, choice in enumerate(step.choices):
                if choice.value != "none" and not (
                    choice.value.isdecimal() and 0 < int(choice.value) <= 366
                ):
                    report(
                        (*where, "choices", c_index, "value"),
                        f"a check-in choice value is a number of days (1-366) or 'none', not '{choice.value}'",
                    )
        for key in ("prompt", "hint"):
            _check_placeholders(getattr(step, key), dialogue, (*where, key), report)
        if step.follow_up is not None:
            _check_placeholders(step.follow_up.prompt, dialogue, (*where, "follow_up"), report)
    for key in ("summary", "closing"):
        _check_placeholders(getattr(dialogue, key), dialogue, (key,), report)
    if dialogue.intro and PLACEHOLDER.search(dialogue.intro):
        report(("intro",), "the intro is shown before any answer, so it cannot use {placeholders}")

    reachable = _reachable(dialogue)
    for index, step in enumerate(dialogue.steps):
        if step.id not in reachable and step.id in seen:
            report(("steps", index, "id"), f"step '{step.id}' can never be reached")
    return problems


def _check_placeholders(
    text: str | None, dialogue: Dialogue, path: tuple[str | int, ...], report: Any
) -> None:
    if not text:
        return
    for name in PLACEHOLDER.findall(text):
        if not dialogue.has_step(name):
            report(path, f"'{{{name}}}' does not name a step")


def _reachable(dialogue: Dialogue) -> set[str]:
    reachable: set[str] = set()
    pending = [dialogue.first_step.id]
    while pending:
        step_id = pending.pop()
        if step_id in reachable or step_id == END or not dialogue.has_step(step_id):
            continue
        reachable.add(step_id)
        step = dialogue.step(step_id)
        pending.append(dialogue.next_step_id(step))
        pending.extend(dialogue.next_step_id(step, choice) for choice in step.choices)
    return reachable


@dataclass(slots=True)
class Catalog:
    """The dialogues that loaded, and the problems of those that did not."""

    dialogues: dict[str, Dialogue] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # The coaching follow-ups (dialogues/coach.yaml); None: no coaching.
    coach: Coach | None = None

    def get(self, dialogue_id: str) -> Dialogue | None:
        return self.dialogues.get(dialogue_id)

    @property
    def listed(self) -> list[Dialogue]:
        shown = [d for d in self.dialogues.values() if d.listed]
        return sorted(shown, key=lambda d: (d.menu_order, d.title))

    @classmethod
    def of(cls, dialogues: Iterable[Dialogue], coach: Coach | None = None) -> Catalog:
        return cls(dialogues={d.id: d for d in dialogues}, coach=coach)


def _is_coach(path: Path) -> bool:
    return path.name in {COACH_FILE, "coach.yml"}


def dialogue_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and not _is_coach(p)
                )
            )
        elif not _is_coach(path):
            files.append(path)
    return files


def coach_files(paths: Iterable[Path]) -> list[Path]:
    """The coach files among `paths` (a folder's `coach.yaml`, or one named directly)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.iterdir()) if _is_coach(p))
        elif _is_coach(path):
            found.append(path)
    return found


def coach_problems(path: Path) -> list[Problem]:
    """What is wrong with a coach file, as `file:line: what is wrong`; [] if nothing."""
    from bot.engine.coach import CoachError, load_coach  # the engine imports this package

    try:
        load_coach(path)
    except CoachError as error:
        return error.problems
    return []


def load_catalog(paths: Iterable[Path]) -> Catalog:
    from bot.engine.coach import CoachError, load_coach  # the engine imports this package

    paths = list(paths)
    catalog = Catalog()
    for file in dialogue_files(paths):
        try:
            dialogue = load_dialogue(file)
        except DialogueError as error:
            catalog.problems.extend(error.problems)
            continue
        catalog.dialogues[dialogue.id] = dialogue
    for file in coach_files(paths)[:1]:
        try:
            catalog.coach = load_coach(file)
        except CoachError as error:
            # Without its rules the bot asks no coaching follow-ups; the dialogues still run.
            catalog.problems.extend(error.problems)
    return catalog
