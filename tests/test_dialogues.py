"""Dialogue files: the loader's `file:line: message` problems, the `dialogues check`
command, and the promises the shipped reflective models make to workers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.dialogues import Dialogue, DialogueError, load_catalog, load_dialogue
from bot.dialogues.loader import dialogue_files

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = ROOT / "dialogues"
SHIPPED_FILES = dialogue_files([DIALOGUES])  # the models, not coach.yaml's rules

HEAD = """\
title: A test model
description: Two questions to check the loader.
minutes: 5
"""

GOOD = (
    HEAD
    + """\
steps:
  - id: first
    prompt: What happened?
  - id: second
    prompt: How did you feel?
"""
)


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, marker: str, occurrence: int = 1) -> int:
    """The 1-based line where `marker` appears for the `occurrence`-th time."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if marker in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{marker!r} not in {path}")


def problems_of(path: Path) -> list[str]:
    with pytest.raises(DialogueError) as caught:
        load_dialogue(path)
    lines = [str(problem) for problem in caught.value.problems]
    assert str(caught.value) == "\n".join(lines)
    return lines


def assert_one_problem(path: Path, line: int, fragment: str) -> None:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: "), problems[0]
    assert fragment in problems[0], problems[0]


# ---- a good file ---------------------------------------------------------------------


def test_a_good_file_loads_with_its_file_name_as_id(tmp_path: Path) -> None:
    dialogue = load_dialogue(write(tmp_path, GOOD, "after_a_visit.yaml"))
    assert dialogue.id == "after_a_visit"
    assert [step.id for step in dialogue.steps] == ["first", "second"]
    assert dialogue.listed


# ---- keys --------------------------------------------------------------------------


def test_an_unknown_top_level_key_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "closeing: Thank you.\n")
    assert_one_problem(path, line_of(path, "closeing:"), "unknown key 'closeing'")


def test_a_misspelt_key_in_a_step_is_reported_with_the_missing_prompt(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: What happened?
  - id: second
    promt: How did you feel?
""",
    )
    problems = problems_of(path)
    assert sorted(problems) == sorted(
        [
            f"{path}:{line_of(path, 'promt:')}: unknown key 'promt'",
            f"{path}:{line_of(path, 'id: second')}: 'prompt' is missing",
        ]
    )


def test_a_missing_prompt_is_reported_at_its_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: What happened?
  - id: second
    hint: Take your time.
""",
    )
    assert_one_problem(path, line_of(path, "id: second"), "'prompt' is missing")


def test_a_missing_top_level_key_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("minutes: 5\n", ""))
    assert_one_problem(path, 1, "'minutes' is missing")


def test_an_id_key_is_refused_because_the_file_name_is_the_id(tmp_path: Path) -> None:
    path = write(tmp_path, "id: other\n" + GOOD)
    assert_one_problem(path, 1, "unknown key 'id' (the file name is the id)")


def test_a_step_id_of_the_wrong_shape_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("id: second", "id: Second Step"))
    assert_one_problem(path, line_of(path, "id: Second Step"), "a step id uses lower-case")


def test_end_cannot_be_a_step_id(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("id: second", "id: end"))
    assert_one_problem(path, line_of(path, "id: end"), "'end' is reserved")


def test_minutes_that_are_not_a_number_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("minutes: 5", "minutes: a few"))
    assert_one_problem(path, line_of(path, "minutes:"), "minutes:")


# ---- how steps fit together ----------------------------------------------------------


def test_duplicate_step_ids_are_reported_at_the_second(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("id: second", "id: first"))
    assert_one_problem(path, line_of(path, "id: first", 2), "step id 'first' is used twice")


def test_next_to_a_missing_step_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    next: thrid\n")
    assert_one_problem(
        path, line_of(path, "next: thrid"), "'next' goes to a step that does not exist: 'thrid'"
    )


def test_a_choice_next_to_a_missing_step_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: Shall we go on?
    choices:
      - value: go
        label: Go on
      - value: stop_here
        label: Stop here
        next: the_end
  - id: second
    prompt: How did you feel?
""",
    )
    assert_one_problem(
        path, line_of(path, "next: the_end"), "choice goes to a step that does not exist: 'the_end'"
    )


def test_an_unreachable_step_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: What happened?
    next: last
  - id: lonely
    prompt: Nobody asks me.
  - id: last
    prompt: How did you feel?
""",
    )
    assert_one_problem(path, line_of(path, "id: lonely"), "step 'lonely' can never be reached")


def test_a_step_reached_only_through_a_choice_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: Which way?
    choices:
      - value: a
        label: Way A
        next: way_a
      - value: b
        label: Way B
        next: end
    next: end
  - id: way_a
    prompt: Tell me about way A.
""",
    )
    assert [step.id for step in load_dialogue(path).steps] == ["first", "way_a"]


def test_a_choice_without_a_value_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: Shall we go on?
    choices:
      - value: go
        label: Go on
      - label: Stop here
""",
    )
    assert_one_problem(path, line_of(path, "- label: Stop here"), "'value' is missing")


def test_a_choice_value_used_twice_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: Shall we go on?
    choices:
      - value: go
        label: Go on
      - value: go
        label: Go on anyway
""",
    )
    assert_one_problem(path, line_of(path, "value: go", 2), "choice value 'go' is used twice")


def test_a_stage_that_is_not_listed_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("steps:", "stages:\n  what: What happened\nsteps:").replace(
            "prompt: How did you feel?", "prompt: How did you feel?\n    stage: feelings"
        ),
    )
    assert_one_problem(
        path, line_of(path, "stage: feelings"), "stage 'feelings' is not listed under 'stages'"
    )


def test_a_follow_up_on_a_choice_step_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: Shall we go on?
    follow_up:
      prompt: Could you say more?
    choices:
      - value: go
        label: Go on
""",
    )
    assert_one_problem(
        path, line_of(path, "follow_up:"), "a follow-up only makes sense on a free-text question"
    )


# ---- placeholders ----------------------------------------------------------------------


def test_a_placeholder_naming_a_missing_step_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("How did you feel?", "You wrote {frist}. How did you feel?")
    )
    assert_one_problem(path, line_of(path, "{frist}"), "'{frist}' does not name a step")


def test_a_placeholder_in_the_summary_naming_a_missing_step_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "summary: |\n  What happened\n  {what_happend}\n")
    assert_one_problem(path, line_of(path, "summary:"), "'{what_happend}' does not name a step")


def test_a_placeholder_in_the_intro_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "intro: Hello {first}.\n")
    assert_one_problem(path, line_of(path, "intro:"), "the intro is shown before any answer")


# ---- check-ins -----------------------------------------------------------------------


CHECK_IN = (
    HEAD
    + """\
steps:
  - id: plan
    prompt: What will you do?
  - id: check_in
    prompt: Shall I check in with you?
    action: check_in
    choices:
      - value: 7
        label: In a week
      - value: {value}
        label: Later
      - value: none
        label: No thanks
"""
)


@pytest.mark.parametrize("value", ["soon", "0", "367", "-3", "1.5", "²", "'7 days'"])
def test_a_check_in_value_that_is_not_a_number_of_days_is_reported(
    tmp_path: Path, value: str
) -> None:
    path = write(tmp_path, CHECK_IN.replace("{value}", value))
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line_of(path, f'value: {value}')}: ")
    assert "a check-in choice value is a number of days (1-366) or 'none'" in problems[0]


@pytest.mark.parametrize("value", ["1", "14", "366"])
def test_a_check_in_value_of_days_is_accepted(tmp_path: Path, value: str) -> None:
    dialogue = load_dialogue(write(tmp_path, CHECK_IN.replace("{value}", value)))
    assert [c.value for c in dialogue.step("check_in").choices] == ["7", value, "none"]


def test_a_check_in_on_a_free_text_question_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("prompt: How did you feel?", "prompt: When?\n    action: check_in")
    )
    assert_one_problem(path, line_of(path, "action: check_in"), "'check_in' needs choices")


# ---- YAML itself ---------------------------------------------------------------------


def test_a_key_written_twice_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: What happened?
    prompt: What else happened?
""",
    )
    assert_one_problem(path, line_of(path, "prompt:", 2), "'prompt' is written twice here")


def test_invalid_yaml_is_the_only_problem_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: Think about this: why?
    promt: never looked at
""",
    )
    assert_one_problem(
        path,
        line_of(path, "Think about this"),
        "not valid YAML: mapping values are not allowed here",
    )


def test_an_unclosed_quote_is_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("prompt: What happened?", 'prompt: "What happened?'))
    problems = problems_of(path)
    assert len(problems) == 1
    assert "not valid YAML" in problems[0]


def test_a_list_instead_of_a_mapping_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "- one\n- two\n")
    assert_one_problem(path, 1, "a dialogue file must be a mapping of keys")


def test_an_empty_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert_one_problem(path, 1, "a dialogue file must be a mapping of keys")


def test_a_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(GOOD.replace("What happened?", "Qu'est-ce qui s'est passé?").encode("latin-1"))
    assert_one_problem(path, 1, "not UTF-8 text")


def test_yes_and_no_stay_text_in_values_and_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: Did it go to plan?
    choices:
      - value: yes
        label: Yes
      - value: no
        label: No
      - value: off
        label: off
""",
    )
    step = load_dialogue(path).step("first")
    assert [(c.value, c.label) for c in step.choices] == [
        ("yes", "Yes"),
        ("no", "No"),
        ("off", "off"),
    ]


def test_true_and_false_still_work_where_a_flag_is_wanted(tmp_path: Path) -> None:
    hidden = load_dialogue(write(tmp_path, GOOD + "listed: no\n", "hidden.yaml"))
    shown = load_dialogue(write(tmp_path, GOOD + "listed: true\n", "shown.yaml"))
    assert hidden.listed is False
    assert shown.listed is True


def test_every_problem_in_a_file_is_listed_not_just_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
steps:
  - id: first
    prompt: You said {nothing}.
    next: nowhere
  - id: first
    prompt: How did you feel?
""",
    )
    problems = problems_of(path)
    assert any("'{nothing}' does not name a step" in p for p in problems)
    assert any("'next' goes to a step that does not exist: 'nowhere'" in p for p in problems)
    assert any("step id 'first' is used twice" in p for p in problems)


# ---- the catalog ------------------------------------------------------------------------


def test_one_broken_file_does_not_take_the_good_one_down(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "good.yaml")
    broken = write(tmp_path, GOOD.replace("prompt: How", "promt: How"), "broken.yaml")
    (tmp_path / "notes.txt").write_text("not a dialogue", encoding="utf-8")
    catalog = load_catalog([tmp_path])
    assert list(catalog.dialogues) == ["good"]
    assert sorted(str(p) for p in catalog.problems) == [
        f"{broken}:{line_of(broken, 'id: second')}: 'prompt' is missing",
        f"{broken}:{line_of(broken, 'promt:')}: unknown key 'promt'",
    ]
    assert catalog.get("broken") is None


def test_a_yml_file_and_a_single_file_path_are_read_too(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    write(folder, GOOD, "short.yml")
    single = write(tmp_path, GOOD, "single.yaml")
    catalog = load_catalog([folder, single])
    assert sorted(catalog.dialogues) == ["short", "single"]
    assert not catalog.problems


# ---- `critical-friend dialogues check` --------------------------------------------------


def run_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "dialogues", "check", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_check_command_prints_file_line_problems_and_exits_1(tmp_path: Path) -> None:
    broken = write(tmp_path, GOOD.replace("prompt: How", "promt: How"), "broken.yaml")
    write(tmp_path, GOOD, "good.yaml")
    result = run_check(tmp_path)
    assert result.returncode == 1, result
    assert sorted(result.stdout.splitlines()) == sorted(
        [
            f"{broken}:{line_of(broken, 'promt:')}: unknown key 'promt'",
            f"{broken}:{line_of(broken, 'id: second')}: 'prompt' is missing",
        ]
    )
    assert "Traceback" not in result.stderr


def test_the_check_command_on_one_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("id: second", "id: first"))
    result = run_check(path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{path}:{line_of(path, 'id: first', 2)}: step id 'first' is used twice"
    ]


def test_the_check_command_passes_the_shipped_dialogues() -> None:
    result = run_check(DIALOGUES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert (
        f"{len(SHIPPED_FILES)} dialogue file(s) and the coaching rules checked: all good."
        in result.stderr
    )


def test_the_check_command_defaults_to_the_shipped_dialogues() -> None:
    result = run_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all good" in result.stderr


# ---- the shipped models keep their promises -----------------------------------------------


def shipped(name: str) -> Dialogue:
    return load_dialogue(DIALOGUES / f"{name}.yaml")


def all_text(dialogue: Dialogue) -> str:
    parts = [dialogue.title, dialogue.description, dialogue.intro or "", dialogue.closing or ""]
    for step in dialogue.steps:
        parts += [step.prompt, step.hint or "", step.follow_up.prompt if step.follow_up else ""]
        parts += [choice.label for choice in step.choices]
    return "\n".join(parts)


def step_text(dialogue: Dialogue, step_id: str) -> str:
    step = dialogue.step(step_id)
    follow_up = step.follow_up.prompt if step.follow_up else ""
    return " ".join([step.prompt, step.hint or "", follow_up]).lower()


GIBBS_STAGES = ["description", "feelings", "evaluation", "analysis", "conclusion", "action_plan"]


def test_gibbs_has_all_six_stages_in_order() -> None:
    gibbs = shipped("gibbs")
    assert list(gibbs.stages) == GIBBS_STAGES
    asked = [step.stage for step in gibbs.steps]
    assert [stage for i, stage in enumerate(asked) if stage not in asked[:i]] == GIBBS_STAGES
    # No step is listed without a stage, and none jumps around the cycle.
    assert all(not step.next for step in gibbs.steps)


def test_gibbs_evaluation_starts_with_what_went_well() -> None:
    gibbs = shipped("gibbs")
    first_evaluation = next(step for step in gibbs.steps if step.stage == "evaluation")
    assert "went well" in first_evaluation.prompt.lower()
    assert "less well" not in first_evaluation.prompt.lower()


def test_gibbs_analysis_looks_at_the_whole_picture() -> None:
    gibbs = shipped("gibbs")
    analysis = " ".join(step_text(gibbs, s.id) for s in gibbs.steps if s.stage == "analysis")
    assert any(word in analysis for word in ("workload", "resources", "information"))


@pytest.mark.parametrize("name", ["gibbs", "gibbs_quick", "driscoll"])
def test_the_last_step_offers_a_check_in_in_a_week_two_weeks_or_not(name: str) -> None:
    last = shipped(name).steps[-1]
    assert last.action == "check_in"
    assert [choice.value for choice in last.choices] == ["7", "14", "none"]


def test_the_quick_gibbs_is_quick() -> None:
    quick = shipped("gibbs_quick")
    assert len(quick.steps) <= 6
    assert quick.minutes <= 10
    assert quick.minutes < shipped("gibbs").minutes


def test_driscoll_asks_what_so_what_now_what() -> None:
    driscoll = shipped("driscoll")
    assert list(driscoll.stages.values()) == ["What?", "So what?", "Now what?"]
    asked = [driscoll.stage_label(step) for step in driscoll.steps]
    assert asked == sorted(asked, key=list(driscoll.stages.values()).index)


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.stem)
def test_every_dialogue_reminds_workers_to_leave_out_identifying_details(path: Path) -> None:
    text = all_text(load_dialogue(path)).lower()
    assert "identif" in text or "names" in text


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.stem)
def test_every_dialogue_is_kind_in_tone(path: Path) -> None:
    dialogue = load_dialogue(path)
    text = all_text(dialogue).lower()
    assert "!" not in text
    assert "you should have" not in text
    assert "your fault" not in text
    assert dialogue.closing is not None
    assert "thank" in dialogue.closing.lower()
    assert "journal" in dialogue.closing.lower()


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.stem)
def test_every_dialogue_asks_what_went_well_before_what_went_less_well(path: Path) -> None:
    dialogue = load_dialogue(path)
    prompts = [f"{step.prompt} {step.hint or ''}".lower() for step in dialogue.steps]
    well = next(i for i, text in enumerate(prompts) if "went well" in text)
    harder = [
        i for i, text in enumerate(prompts) if "less well" in text or "made things harder" in text
    ]
    assert all(well <= i for i in harder)
