"""What a reflective model looks like once loaded: plain, immutable, validated.

The YAML format is documented for practitioners in `dialogues/README.md`. Unknown
keys are errors so a typo ("promt:") never silently drops a question.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

END = "end"  # `next: end` finishes the reflection
STEP_ID = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def fill_placeholders(
    template: str,
    answers: Mapping[str, str],
    missing: str = "(skipped)",
    limit: int | None = None,
) -> str:
    """Put answers into `{step_id}` places. Answer text is inserted as is, never re-parsed.

    With `limit`, a long answer is shortened to about that many characters (for a
    summary; the journal keeps every word).
    """

    def answer(match: re.Match[str]) -> str:
        text = answers.get(match.group(1)) or missing
        if limit is not None and len(text) > limit:
            text = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.") + " …"
        return text

    return PLACEHOLDER.sub(answer, template)


# A `collect: until_done` step keeps its first message under the step id and each later
# one under its own key, `<step id>_part_2`, `_part_3` ...: a message is saved once, as it
# arrives, and never rewritten (one stored answer each, no growing copies).
PART = "_part_"


def part_key(step_id: str, number: int) -> str:
    """Where the `number`-th message (counting from 1) of a free-writing step is kept."""
    return step_id if number == 1 else f"{step_id}{PART}{number}"


def parts(answers: Mapping[str, str], step_id: str) -> list[str]:
    """The messages written at a free-writing step, in order."""
    found: list[str] = []
    while (text := answers.get(part_key(step_id, len(found) + 1))) is not None:
        found.append(text)
    return found


def joined(answers: Mapping[str, str], dialogue: Dialogue) -> dict[str, str]:
    """`answers` with each free-writing step's messages as one text, under its step id."""
    result = dict(answers)
    for step in dialogue.steps:
        if step.collect is not None and step.id in answers:
            written = parts(answers, step.id)
            for number in range(2, len(written) + 1):
                result.pop(part_key(step.id, number), None)
            result[step.id] = "\n\n".join(written)
    return result


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class DialogueChoice(_Strict):
    value: str = Field(min_length=1)
    label: str = Field(min_length=1)
    next: str | None = None  # branch to this step (or `end`) when chosen

    @field_validator("value", mode="before")
    @classmethod
    def _value_as_text(cls, value: object) -> object:
        # `value: 7` is natural to write; keep it as the text "7".
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


class FollowUp(_Strict):
    """One gentle probe when an answer is short or vague. Asked at most once per step."""

    prompt: str = Field(min_length=1)
    min_words: int = Field(default=6, ge=1, le=200)  # fewer words than this -> probe
    when_vague: bool = True  # also probe "not sure", "fine", "n/a" ...


class Step(_Strict):
    id: str
    prompt: str = Field(min_length=1)
    stage: str | None = None
    hint: str | None = None
    follow_up: FollowUp | None = None
    choices: tuple[DialogueChoice, ...] = ()
    next: str | None = None
    # Something the bot does with the answer besides keeping it.
    # `check_in`: the choice values are days until a follow-up check-in ("none" for no).
    action: Literal["check_in"] | None = None
    # A check on a free-text answer before it is kept.
    # `blame`: an answer with blame language ("you should have", "your fault") gets a
    # gentle invitation to rephrase it; the worker may still keep it as written.
    guard: Literal["blame"] | None = None
    # How the answer is taken. `until_done`: free writing, as many messages as the worker
    # likes, each kept as it arrives (see `part_key`), until they type `done`.
    collect: Literal["until_done"] | None = None
    # What the question asks about ("feelings", "analysis"), for the coaching rules in
    # dialogues/coach.yaml, which may also name a question by its stage or its id.
    topics: tuple[str, ...] = ()

    @field_validator("topics")
    @classmethod
    def _topic_shape(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for topic in value:
            if not STEP_ID.match(topic):
                raise ValueError(
                    f"topic '{topic}': use lower-case letters, digits and underscores, "
                    "starting with a letter"
                )
        return value

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError(
                "a step id uses lower-case letters, digits and underscores, starting with a letter"
            )
        if value == END:
            raise ValueError("'end' is reserved for `next: end`")
        return value

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)


class Dialogue(_Strict):
    id: str  # the file name without .yaml; set by the loader
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    minutes: int = Field(ge=1, le=240)
    stages: dict[str, str] = Field(default_factory=dict)  # stage id -> label shown to the worker
    intro: str | None = None
    closing: str | None = None
    summary: str | None = None  # `{step_id}` is replaced by that answer
    listed: bool = True  # false: not offered in the menu (started by the scheduler or a friend)
    menu_order: int = Field(default=100, ge=0, le=10_000)  # lower comes first in the menu
    steps: tuple[Step, ...] = Field(min_length=1)

    @cached_property
    def _index(self) -> dict[str, int]:
        # First occurrence wins; duplicate ids are reported by the checks anyway.
        index: dict[str, int] = {}
        for position, step in enumerate(self.steps):
            index.setdefault(step.id, position)
        return index

    def step(self, step_id: str) -> Step:
        return self.steps[self._index[step_id]]

    def has_step(self, step_id: str) -> bool:
        return step_id in self._index

    def position(self, step: Step) -> int:
        return self._index[step.id]

    @property
    def first_step(self) -> Step:
        return self.steps[0]

    def next_step_id(self, step: Step, choice: DialogueChoice | None = None) -> str:
        """Where to go after `step`: a choice's branch, the step's `next`, or the following step."""
        if choice is not None and choice.next:
            return choice.next
        if step.next:
            return step.next
        index = self.position(step)
        return self.steps[index + 1].id if index + 1 < len(self.steps) else END

    def stage_label(self, step: Step) -> str | None:
        if step.stage is None:
            return None
        return self.stages.get(step.stage, step.stage)

    def stage_position(self, step: Step) -> tuple[int, int] | None:
        """(1-based position, count) of the step's stage, for "Stage 3 of 6"."""
        if step.stage is None or step.stage not in self.stages:
            return None
        order = list(self.stages)
        return order.index(step.stage) + 1, len(order)
