"""Short guides: the loader's `file:line` problems, `critical-friend guides check`, the
promises every shipped guide keeps (length, limits of each chat app, an offer that works),
and `guide` in chat through the real service on a SQLite file, beside a reflection."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import guides
from bot.channels import slack_blocks
from bot.channels.telegram import COMMANDS, keyboard, split_message
from bot.dialogues import Catalog
from bot.engine import wording
from bot.guides import Guide, GuideBook, GuideError, load_guide, load_guides
from bot.messages import COMMAND_WORDS, Command, Outgoing, parse_command
from bot.service import ConversationService
from bot.store.crypto import Cipher, generate_key
from bot.store.db import open_engine, upgrade
from bot.store.repository import Store
from tests.conftest import Clock
from tests.worker import Worker, only_reflection, text_of

ROOT = Path(__file__).resolve().parent.parent
GUIDES = ROOT / "guides"
SHIPPED = sorted(p for p in GUIDES.glob("*.md") if p.name != "README.md")
TELEGRAM_CHARS = 4096
TELEGRAM_CALLBACK_BYTES = 64

GOOD = """\
---
title: A test guide
summary: One line about it
order: 3
offers:
  - label: Try the quick Gibbs
    command: reflect gibbs_quick
---
The first paragraph, written
over two lines.

Some things that help:
- one thing
- another thing

Try this: something small.
"""


def write(tmp_path: Path, text: str, name: str = "my_guide.md") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, marker: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


def problems_of(path: Path) -> list[str]:
    with pytest.raises(GuideError) as caught:
        load_guide(path)
    return [str(problem) for problem in caught.value.problems]


def assert_one_problem(path: Path, line: int, fragment: str) -> None:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}: "), problems[0]
    assert fragment in problems[0], problems[0]


# ---- the loader ------------------------------------------------------------------------


def test_a_good_guide_loads_with_its_paragraphs_joined_and_its_list_kept(tmp_path: Path) -> None:
    guide = load_guide(write(tmp_path, GOOD))
    assert guide.name == "my_guide"
    assert (guide.title, guide.summary, guide.order) == ("A test guide", "One line about it", 3)
    assert guide.text == (
        "The first paragraph, written over two lines.\n\n"
        "Some things that help:\n- one thing\n- another thing\n\n"
        "Try this: something small."
    )
    (offer,) = guide.offers
    assert (offer.label, offer.command, offer.model) == (
        "Try the quick Gibbs",
        "reflect gibbs_quick",
        "gibbs_quick",
    )


def test_a_file_without_front_matter_is_reported_at_line_1(tmp_path: Path) -> None:
    path = write(tmp_path, "Just some text.\n")
    assert_one_problem(path, 1, "starts with a line '---'")


def test_front_matter_never_closed_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("---\nThe first", "The first"))
    assert_one_problem(path, 1, "never closed")


def test_a_misspelt_key_is_reported_at_its_line_with_the_missing_one(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("summary:", "sumary:"))
    problems = problems_of(path)
    assert f"{path}:{line_of(path, 'sumary:')}: unknown key 'sumary'" in problems
    assert f"{path}:2: 'summary' is missing" in problems


def test_invalid_yaml_in_the_front_matter_is_reported_at_the_files_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("title: A test guide", "title: A test: guide"))
    assert_one_problem(path, line_of(path, "title:"), "not valid YAML")


def test_a_key_written_twice_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("order: 3", "order: 3\ntitle: Again"))
    assert_one_problem(path, line_of(path, "title: Again"), "'title' is written twice")


def test_a_command_the_bot_does_not_know_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("command: reflect gibbs_quick", "command: reflcet gibbs"))
    assert_one_problem(path, line_of(path, "reflcet"), "'reflcet gibbs' is not a command")


def test_a_guide_must_offer_something_to_try(tmp_path: Path) -> None:
    text = GOOD.replace(
        "offers:\n  - label: Try the quick Gibbs\n    command: reflect gibbs_quick\n",
        "offers: []\n",
    )
    path = write(tmp_path, text)
    assert_one_problem(path, line_of(path, "offers:"), "offers")


def test_a_label_too_long_for_a_button_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("Try the quick Gibbs", "Try " + "the quick Gibbs " * 5))
    assert_one_problem(path, line_of(path, "label:"), "at most 40 characters")


def test_markdown_a_chat_app_would_show_as_written_is_reported_at_its_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, GOOD.replace("- one thing", "- one **bold** thing"))
    assert_one_problem(path, line_of(path, "**bold**"), "plain text")


def test_a_guide_with_no_text_is_reported(tmp_path: Path) -> None:
    front = GOOD.split("The first paragraph")[0]
    path = write(tmp_path, front + "\n\n")
    assert_one_problem(path, line_of(path, "command:") + 1, "no text")


def test_a_guide_too_long_for_one_chat_message_is_reported(tmp_path: Path) -> None:
    long = "A sentence about reflecting on practice, written plainly. " * 60
    path = write(tmp_path, GOOD.replace("Try this: something small.", long))
    assert_one_problem(path, line_of(path, "The first paragraph"), "at most 3,000")


def test_a_file_name_that_cannot_be_typed_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "My Guide.md")
    assert_one_problem(path, 1, "lower-case letters")


def test_one_broken_guide_does_not_take_the_others_down(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "good.md")
    broken = write(tmp_path, GOOD.replace("title:", "titel:"), "broken.md")
    write(tmp_path, "# For authors\n", "README.md")  # not a guide
    book = load_guides([tmp_path])
    assert [g.name for g in book.guides] == ["good"]
    assert {p.file for p in book.problems} == {str(broken)}


# ---- critical-friend guides check -------------------------------------------------------


def run_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "guides", "check", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_check_command_prints_file_line_problems_and_exits_2(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "good.md")
    broken = write(tmp_path, GOOD.replace("title:", "titel:"), "broken.md")
    no_model = write(tmp_path, GOOD.replace("gibbs_quick", "schon"), "no_model.md")
    result = run_check(tmp_path)
    assert result.returncode == 2, result
    assert sorted(result.stdout.splitlines()) == sorted(
        [
            f"{broken}:{line_of(broken, 'titel:')}: unknown key 'titel'",
            f"{broken}:2: 'title' is missing",
            f"{no_model}:{line_of(no_model, 'command:')}: offers.0.command: there is no "
            "reflective model called 'schon' in the dialogues",
        ]
    )
    assert "3 problem(s) in 3 guide file(s)." in result.stderr
    assert "Traceback" not in result.stderr


def test_the_check_command_passes_the_shipped_guides_by_default() -> None:
    result = run_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert f"{len(SHIPPED)} guide file(s) checked: all good." in result.stderr


def test_the_check_command_on_a_folder_with_no_guides_says_so(tmp_path: Path) -> None:
    result = run_check(tmp_path)
    assert result.returncode == 2
    assert "No guide files" in result.stdout


# ---- the shipped guides ------------------------------------------------------------------


def test_the_four_guides_the_issue_asks_for_are_shipped() -> None:
    assert [p.stem for p in SHIPPED] == ["critical_friend", "feedback", "levels", "models"]


def outside_quotes(text: str) -> str:
    return re.sub(r"\"[^\"]*\"|'[^']*'", "", text)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_each_guide_is_a_two_minute_read_that_fits_one_message_everywhere(
    path: Path, catalog: Catalog
) -> None:
    guide = load_guide(path)
    assert 250 <= len(guide.text.split()) <= 400
    message = guides.render(guide, catalog)
    assert len(message.text) <= guides.MAX_CHARS < TELEGRAM_CHARS
    assert split_message(message.text) == [message.text]
    (slack,) = slack_blocks.render(message)  # one Slack message, its buttons under it
    assert all(len(b["text"]["text"]) <= 3000 for b in slack.blocks if b["type"] == "section")
    markup = keyboard(message)
    assert markup is not None
    for (button,) in markup["inline_keyboard"]:
        assert len(button["callback_data"].encode()) <= TELEGRAM_CALLBACK_BYTES
        assert len(button["text"]) <= slack_blocks.LABEL_CHARS


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_each_guide_is_kind_plain_and_ends_with_something_to_try(path: Path) -> None:
    guide = load_guide(path)
    assert "!" not in guide.text
    # Blame is named only in quotation marks, as an example of what to avoid.
    for phrase in ("you should have", "your fault", "careless"):
        assert phrase not in outside_quotes(guide.text).lower()
    last = guide.text.split("\n\n")[-1]
    assert last.startswith("Try this: ")
    for american in ("behavior", "organization", "recognize", "practicing", "judgment"):
        assert american not in guide.text.lower()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_each_guide_offers_a_command_that_works(path: Path, catalog: Catalog) -> None:
    guide = load_guide(path)
    assert guide.offers
    for offer in guide.offers:
        parsed = parse_command(offer.command)  # as the button types it, without a slash
        assert isinstance(parsed, Command), offer.command
        assert parsed.name in COMMAND_WORDS
        if parsed.name == "reflect":
            assert catalog.get(parsed.argument) is not None, offer.command
    shown = guides.render(guide, catalog)
    assert [c.value for c in shown.shortcuts] == [o.command for o in guide.offers] + ["guide"]
    for offer in guide.offers:  # where there are no buttons, the text says what to type
        assert f"  {offer.command} - {offer.label}" in shown.text


def test_the_models_guide_names_every_model_on_the_menu() -> None:
    text = load_guide(GUIDES / "models.md").text
    models = ("Quick Gibbs", "Gibbs' reflective cycle", "Driscoll", "mistake", "Kolb", "Rolfe")
    for name in (*models, "Free writing"):
        assert name in text


def test_an_offer_of_a_model_that_is_not_there_is_left_out(tmp_path: Path) -> None:
    guide = load_guide(write(tmp_path, GOOD.replace("gibbs_quick", "schon")))
    shown = guides.render(guide, Catalog())
    assert [c.value for c in shown.shortcuts] == ["guide"]
    assert "reflect schon" not in shown.text
    assert guides.TRY_NOW not in shown.text


# ---- guide in chat -------------------------------------------------------------------------


@pytest.fixture
def sqlite_service(tmp_path: Path, catalog: Catalog) -> Iterator[tuple[ConversationService, Store]]:
    engine = open_engine(f"sqlite:///{tmp_path / 'critical-friend.db'}")
    upgrade(engine)
    store = Store(engine, Cipher([generate_key()]))
    service = ConversationService(store, catalog, clock=Clock())
    yield service, store
    service.close()
    store.dispose()


ANSWER = "We met at the family home and talked the plan through together for an hour."


def shipped_titles() -> list[str]:
    return [g.title for g in guides.shipped().guides]


def test_guide_lists_the_guides_with_a_button_for_each(
    sqlite_service: tuple[ConversationService, Store],
) -> None:
    service, _ = sqlite_service
    worker = Worker(service)
    reply = worker.says("guide")
    assert not reply.waiting  # nothing was open, and nothing is now
    (listing,) = reply.messages
    titles = shipped_titles()
    assert len(titles) == len(SHIPPED)
    for number, title in enumerate(titles, start=1):
        assert f"{number}. {title}" in listing.text
    assert [c.value for c in listing.shortcuts] == [f"guide {n}" for n in range(1, len(titles) + 1)]
    # A button types its value: it opens that guide.
    second = worker.says(listing.shortcuts[1].value)
    assert second.messages[0].text.startswith(titles[1])


def test_a_guide_read_mid_reflection_leaves_the_reflection_where_it_was(
    sqlite_service: tuple[ConversationService, Store],
) -> None:
    service, store = sqlite_service
    worker = Worker(service)
    worker.start("gibbs_quick")
    worker.says(ANSWER)
    open_question = worker.question
    reply = worker.says("/guide feedback")
    assert reply.waiting
    assert reply.messages[0].text.startswith("Giving and receiving feedback")
    last = reply.messages[-1]
    assert (last.text, last.reply_token) == (open_question.text, open_question.reply_token)
    # Typed without a slash, "guide 2" is the command too; a sentence starting with
    # "guide" stays an answer.
    again = worker.says("guide 2")
    assert again.messages[0].text.startswith(shipped_titles()[1])
    assert worker.question.reply_token == open_question.reply_token
    worker.says("guide me through it, that was the hard part for everyone")
    assert worker.question.reply_token != open_question.reply_token
    while worker.question.choices == ():
        worker.says(ANSWER)
    worker.says("1")
    record = only_reflection(store, worker.user)
    answers = list(record.answers.values())
    assert answers[0] == ANSWER
    assert answers[1].startswith("guide me through it, that was the hard part for everyone")
    assert not any("Giving and receiving feedback" in text for text in answers)


def test_the_offer_at_the_end_of_a_guide_starts_it(
    sqlite_service: tuple[ConversationService, Store], catalog: Catalog
) -> None:
    service, _ = sqlite_service
    worker = Worker(service)
    shown = worker.says("/guide models")
    kolb = next(c for c in shown.messages[0].shortcuts if c.value == "reflect kolb")
    worker.says(kolb.value)
    dialogue = catalog.get("kolb")
    assert dialogue is not None
    assert " ".join(dialogue.steps[0].prompt.split()) in worker.question.text


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("/guide nothing_like_it", "I can't find a guide called 'nothing_like_it'."),
        ("/guide 99", "There isn't a guide 99."),
        ("/guide 0", "There isn't a guide 0."),
    ],
)
def test_an_unknown_guide_gets_a_clear_sentence_and_the_question_back(
    typed: str, expected: str, sqlite_service: tuple[ConversationService, Store]
) -> None:
    service, _ = sqlite_service
    worker = Worker(service)
    worker.start("gibbs_quick")
    open_question = worker.question
    reply = worker.says(typed)
    assert not reply.failed
    said = text_of(reply)
    assert expected in said
    assert "Traceback" not in said
    assert "guide" in reply.messages[0].shortcuts[0].value
    assert reply.messages[-1].reply_token == open_question.reply_token


def test_a_very_long_unknown_name_is_not_echoed_in_full() -> None:
    said = guides.answer("/x" + "a" * 500, Catalog(), guides.shipped())
    assert len(said[0].text) < 200


def test_with_no_guides_it_says_so() -> None:
    (said,) = guides.answer("", Catalog(), GuideBook())
    assert said.text == guides.NONE_YET


def test_a_guide_is_found_by_number_name_or_the_start_of_a_name() -> None:
    book = guides.shipped()
    by_name = book.find("critical_friend")
    assert isinstance(by_name, Guide)
    assert book.find("Critical-Friend") == by_name
    assert book.find("crit") == by_name
    assert book.find(str(book.guides.index(by_name) + 1)) == by_name
    assert book.find("zzz") is None


# ---- the command word ----------------------------------------------------------------------


def test_guide_is_a_command_with_or_without_a_slash_and_an_answer_stays_an_answer() -> None:
    assert parse_command("guide") == Command("guide")
    assert parse_command("/guide") == Command("guide")
    assert parse_command("guide 2") == Command("guide", "2")
    assert parse_command("/guide feedback") == Command("guide", "feedback")
    assert parse_command("guide them through the plan") is None
    assert parse_command("guide feedback") is None


def test_guide_is_in_the_help_and_telegrams_command_menu() -> None:
    assert "guide" in wording.HELP
    assert "guide" in dict(COMMANDS)


def test_a_guide_message_is_plain_outgoing_text() -> None:
    guide = guides.shipped().guides[0]
    message = guides.render(guide)
    assert isinstance(message, Outgoing)
    assert message.reply_token is None  # it asks nothing: the open question stays open
    assert guides.OTHER_GUIDES in message.text
