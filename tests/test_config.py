"""Configuration: optional, validated, `${VAR}` for secrets, one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.chat_process import run_cli

ROOT = Path(__file__).resolve().parent.parent


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
