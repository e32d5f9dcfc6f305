"""Configuration: optional, validated, `${VAR}` for secrets, one clear line per problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.chat_process import run_cli

ROOT = Path(__file__).resolve().parent.parent
BOT_TOKEN = "xoxb-1000000001-2000000002-fakeBotTokenForTests01"
APP_TOKEN = "xapp-1-A0FAKEAPP1-3000000003-fakeapptokenfortests0123456789"
SIGNING_SECRET = "0123456789abcdef" * 2
TG_TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
EXAMPLE_ENV = {
    "TELEGRAM_BOT_TOKEN": TG_TOKEN,
    "TELEGRAM_WEBHOOK_SECRET": "a-webhook-secret-0123456789",
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
}


def slack_yaml(*lines: str, team: str = "[T0FAKETEAM]") -> str:
    """A slack: section with a good bot token and team, and these lines added."""
    body = "".join(f"  {line}\n" for line in lines)
    return f"slack:\n  bot_token: {BOT_TOKEN}\n  allowed_team_ids: {team}\n{body}"


def test_no_config_at_all_gives_the_embedded_default(tmp_path: Path) -> None:
    config = load_config(None, environ={"CRITICAL_FRIEND_HOME": str(tmp_path)})
    assert config.database_url == f"sqlite:///{tmp_path / 'critical-friend.db'}"
    assert config.dialogues_dir == ROOT / "dialogues"


def test_the_example_config_loads_cleanly_and_keeps_the_default_database(tmp_path: Path) -> None:
    config = load_config(
        ROOT / "config.example.yaml", environ={"CRITICAL_FRIEND_HOME": str(tmp_path)}
    )
    assert config.settings.max_answer_chars == 20_000
    assert config.database_url == f"sqlite:///{tmp_path / 'critical-friend.db'}"


def test_a_relative_sqlite_path_in_a_config_file_is_beside_the_file(tmp_path: Path) -> None:
    file = tmp_path / "conf" / "c.yaml"
    file.parent.mkdir()
    file.write_text("database_url: sqlite:///data/cf.db\n")
    assert (
        load_config(file, environ={}).database_url == f"sqlite:///{file.parent / 'data' / 'cf.db'}"
    )
    file.write_text("database_url: sqlite:////abs/cf.db\n")
    assert load_config(file, environ={}).database_url == "sqlite:////abs/cf.db"


def test_database_url_precedence_is_flag_then_environment_then_file(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("database_url: sqlite:///from-file.db\n")
    env = {"CRITICAL_FRIEND_DATABASE_URL": "sqlite:///from-env.db"}
    assert load_config(file, environ={}).database_url == f"sqlite:///{tmp_path / 'from-file.db'}"
    assert load_config(file, environ=env).database_url == "sqlite:///from-env.db"
    assert (
        load_config(file, environ=env, database_url="sqlite:///flag.db").database_url
        == "sqlite:///flag.db"
    )


def test_variables_are_interpolated_from_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("database_url: ${DB}\norganisation_name: ${ORG:-Riverside Council}\n")
    config = load_config(file, environ={"DB": "postgresql://u@h/db"})
    assert config.database_url == "postgresql://u@h/db"
    assert config.settings.organisation_name == "Riverside Council"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("log_level: info\ndatabse_url: x\n", 2, "unknown key 'databse_url'"),
        ("log_level: loud\n", 1, "log_level: Input should be"),
        (
            "database_url: mysql://x\n",
            1,
            "database_url: must start with sqlite:/// or postgresql://",
        ),
        (
            "max_answer_chars: 5\n",
            1,
            "max_answer_chars: Input should be greater than or equal to 500",
        ),
        (
            "database_url: ${NOT_SET_ANYWHERE}\n",
            1,
            "the environment variable NOT_SET_ANYWHERE is not set",
        ),
        ("log_level: info\nlog_level: debug\n", 2, "'log_level' is written twice"),
        ("log_level: [unclosed\n", 2, "not valid YAML"),
        ("- a list\n", 1, "must be a mapping"),
        (
            "telegram:\n  token: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ'\n  mode: webhook\n",
            1,
            "webhook mode needs webhook_url and secret_token",
        ),
        ("telegram:\n  token: nope\n", 2, "telegram.token:"),
        # listen and port live in web: now, shared by every channel
        (f"telegram:\n  token: '{TG_TOKEN}'\n  port: 8443\n", 3, "unknown key 'port'"),
        ("web:\n  port: 0\n", 2, "web.port: Input should be greater than or equal to 1"),
        ("web:\n  host: x\n", 2, "unknown key 'host'"),
        (slack_yaml(), 1, "slack: socket mode needs app_token"),
        (slack_yaml("mode: http"), 1, "slack: http mode needs signing_secret"),
        (
            slack_yaml(f"app_token: {BOT_TOKEN}"),
            4,
            "slack.app_token: does not look like an app-level token (xapp-",
        ),
        (
            slack_yaml("mode: http", "signing_secret: not-the-secret"),
            5,
            "slack.signing_secret: does not look like a signing secret",
        ),
        (
            f"slack:\n  bot_token: {APP_TOKEN}\n  app_token: {APP_TOKEN}\n"
            "  allowed_team_ids: [T1]\n",
            2,
            "slack.bot_token: does not look like a bot token (xoxb-",
        ),
        (
            slack_yaml(f"app_token: {APP_TOKEN}", team="[]"),
            3,
            "slack.allowed_team_ids: name at least one workspace ID",
        ),
        (
            slack_yaml(f"app_token: {APP_TOKEN}", team="[acme]"),
            3,
            "'acme' does not look like a workspace ID",
        ),
        (
            f"slack:\n  bot_token: {BOT_TOKEN}\n  app_token: {APP_TOKEN}\n",
            1,
            "'allowed_team_ids' is missing",
        ),
        (
            slack_yaml(f"app_token: {APP_TOKEN}", "api_base_url: https://slack-gov.com/api"),
            5,
            "slack.api_base_url: must end with /",
        ),
        (
            slack_yaml(f"app_token: {APP_TOKEN}", "mode: sockets"),
            5,
            "slack.mode: Input should be 'socket' or 'http'",
        ),
        (
            f"telegram:\n  token: '{TG_TOKEN}'\n  mode: webhook\n"
            "  webhook_url: https://x.example/hook\n  secret_token: a-webhook-secret-0123456789\n"
            "  path: /hook\n"
            + slack_yaml("mode: http", f"signing_secret: {SIGNING_SECRET}", "path: /hook"),
            1,
            "telegram.path and slack.path are the same",
        ),
    ],
)
def test_a_config_problem_is_reported_as_file_line_reason(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    file = tmp_path / "config.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={})
    message = str(caught.value.problems[0])
    assert message.startswith(f"{file}:{line}: ")
    assert fragment in message


def test_a_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("database_url: 42x\n")
    result = run_cli(tmp_path, "--config", str(file), "chat")
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        f"{file}:1: database_url: must start with sqlite:/// or postgresql://"
    )


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--config", str(tmp_path / "nope.yaml"), "journal")
    assert result.returncode == 2
    assert b"the config file does not exist" in result.stderr


def test_postgres_without_keys_in_the_environment_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--db", "postgresql://nobody@127.0.0.1:1/none", "keys", "rotate")
    assert result.returncode == 2
    assert b"Traceback" not in result.stderr


def test_malformed_keys_in_the_environment_are_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "journal", CRITICAL_FRIEND_SECRET_KEYS="not-a-key")
    assert result.returncode == 2
    assert b"CRITICAL_FRIEND_SECRET_KEYS" in result.stderr


def example_section(name: str, *, alternative: bool = False) -> str:
    """A commented section of config.example.yaml, uncommented as its comment says: the
    first `# ` of each line removed. With `alternative`, the lines it says to use
    "instead" are uncommented too, replacing the lines of the same keys."""
    lines = (ROOT / "config.example.yaml").read_text().splitlines()
    start = lines.index(f"# {name}:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(line.removeprefix("# "))
    if not alternative:
        return "\n".join(block) + "\n"
    marker = next(i for i, line in enumerate(block) if "instead" in line)
    extra = [line.replace("# ", "", 1) for line in block[marker:] if line.startswith("  # ")]
    extra = [line for line in extra if re.match(r"^  [a-z_]+: \S", line)]
    keys = {line.split(":")[0].strip() for line in extra}
    kept = [line for line in block[:marker] if line.split(":")[0].strip() not in keys]
    return "\n".join(kept + extra) + "\n"


@pytest.mark.parametrize(
    ("sections", "alternative"),
    [(["telegram"], False), (["telegram"], True), (["slack", "web"], False), (["slack"], True)],
)
def test_the_example_sections_load_cleanly_once_uncommented(
    tmp_path: Path, sections: list[str], alternative: bool
) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("".join(example_section(name, alternative=alternative) for name in sections))
    settings = load_config(file, environ=EXAMPLE_ENV).settings
    if "web" in sections:
        assert settings.web.listen == "0.0.0.0"  # noqa: S104 - the documented default
        assert settings.web.port == 8080
    if settings.telegram is not None:
        assert settings.telegram.mode == ("webhook" if alternative else "polling")
        assert settings.telegram.token == TG_TOKEN
    if settings.slack is not None:
        assert settings.slack.mode == ("http" if alternative else "socket")
        assert settings.slack.bot_token == BOT_TOKEN
        assert settings.slack.path == "/slack/events"
        if alternative:
            assert settings.slack.signing_secret == SIGNING_SECRET
            assert settings.slack.api_base_url == "https://slack.com/api/"
        else:
            assert settings.slack.app_token == APP_TOKEN


def test_the_web_port_comes_from_web_port_then_the_port_variable_then_8080(
    tmp_path: Path,
) -> None:
    file = tmp_path / "config.yaml"
    file.write_text(slack_yaml("mode: http", f"signing_secret: {SIGNING_SECRET}"))
    assert load_config(file, environ={}).web_port == 8080
    assert load_config(file, environ={"PORT": "5001"}).web_port == 5001
    file.write_text(file.read_text() + "web:\n  port: 9000\n")
    assert load_config(file, environ={"PORT": "5001"}).web_port == 9000


def test_a_port_variable_that_is_not_a_port_is_reported_when_a_web_server_is_needed(
    tmp_path: Path,
) -> None:
    file = tmp_path / "config.yaml"
    file.write_text(slack_yaml(f"app_token: {APP_TOKEN}"))
    # Socket Mode starts no web server, so a strange $PORT is no concern of the bot's.
    assert load_config(file, environ={"PORT": "web"}).web_port == 8080
    file.write_text(slack_yaml("mode: http", f"signing_secret: {SIGNING_SECRET}"))
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ={"PORT": "web"})
    assert str(caught.value) == (
        f"{file}:1: web.port: the environment variable PORT is 'web', not a port number "
        "(1 to 65535); set web.port or fix PORT"
    )


def test_a_bad_slack_section_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text(slack_yaml("mode: http"))
    result = run_cli(tmp_path, "--config", str(file), "run")
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        f"{file}:1: slack: http mode needs signing_secret (Basic Information, App Credentials)"
    )


def test_a_secret_from_the_environment_is_checked_like_one_in_the_file(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text(example_section("slack"))
    env = {**EXAMPLE_ENV, "SLACK_APP_TOKEN": BOT_TOKEN}  # the wrong token in the wrong place
    with pytest.raises(ConfigError) as caught:
        load_config(file, environ=env)
    message = str(caught.value)
    assert "slack.app_token: does not look like an app-level token" in message
    assert BOT_TOKEN not in message


def test_the_nudge_defaults_are_checked_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "nudges:\n  days: [friday, funday]\n  time: 25:00\n  timezone: Mars/Base\n"
        "  grace_hours: -1\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config, environ={})
    lines = [str(problem) for problem in raised.value.problems]
    assert any(line.startswith(f"{config}:2: nudges.days") for line in lines)
    assert (
        f"{config}:3: nudges.time: must be a time of day on the 24-hour clock, such as 14:00"
        in lines
    )
    assert any(
        line.startswith(f"{config}:4: nudges.timezone: is not a time zone") for line in lines
    )
    assert any(line.startswith(f"{config}:5: nudges.grace_hours") for line in lines)


def test_an_unquoted_nudge_time_is_read_as_a_time_of_day(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("nudges:\n  days: [monday, friday]\n  time: 09:30\n")
    nudges = load_config(config, environ={}).settings.nudges
    assert nudges.time == "09:30"
    assert nudges.weekday_numbers == frozenset({0, 4})


def test_default_nudge_days_that_working_days_only_rules_out_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("nudges:\n  days: [saturday, sunday]\n  working_days_only: true\n")
    with pytest.raises(ConfigError) as raised:
        load_config(config, environ={})
    (problem,) = raised.value.problems
    assert "working_days_only leaves none of these days" in str(problem)
    assert str(problem).startswith(f"{config}:")


def test_an_admin_written_wrongly_and_a_missing_cues_file_exit_2_with_file_and_line(
    tmp_path: Path,
) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("admins:\n  - boss\n")
    result = run_cli(tmp_path, "--config", str(file), "journal")
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"{file}:1: admins: 'boss': write an admin as")
    file.write_text("care:\n  cues_file: our-cues.yaml\n")
    result = run_cli(tmp_path, "--config", str(file), "journal")
    assert result.returncode == 2
    assert "our-cues.yaml" in result.stderr.decode()
    assert b"Traceback" not in result.stderr
