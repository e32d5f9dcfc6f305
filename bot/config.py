"""Loading and validating configuration: a YAML file (optional) plus the environment.

With no file at all the bot runs on its embedded default: the terminal channel and a
SQLite database in the user's data folder. Every problem is reported as one line,
`file:line: key: what is wrong`, and the command line exits with code 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.nudges.schedule import WEEKDAYS, is_zone
from bot.yamlsource import Located, Problem, YamlError, load_file, validation_problems

CONFIG_ENV = "CRITICAL_FRIEND_CONFIG"
DATABASE_ENV = "CRITICAL_FRIEND_DATABASE_URL"
HOME_ENV = "CRITICAL_FRIEND_HOME"  # where the default database and key file live
PORT_ENV = "PORT"  # set by most hosting platforms for the process that takes web traffic
DEFAULT_PORT = 8080
PROJECT_DIALOGUES = Path(__file__).resolve().parent.parent / "dialogues"
# A URL path the web server serves: /, letters, digits, /, _ and -.
_PATH = r"^/[A-Za-z0-9/_-]*$"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class TelegramSettings(BaseModel):
    """The `telegram:` section. Present means enabled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(min_length=20)
    mode: Literal["polling", "webhook"] = "polling"
    # A self-hosted Bot API server (the tests point the real library at their fake).
    base_url: str | None = None
    allowed_user_ids: tuple[int, ...] = ()
    # Webhook mode: Telegram POSTs updates to webhook_url, which must reach the web
    # server (the `web:` section) at this path.
    webhook_url: str | None = None
    path: str = Field(default="/telegram", pattern=_PATH)
    secret_token: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{16,256}$")

    @model_validator(mode="after")
    def _webhook_needs(self) -> TelegramSettings:
        if self.mode == "webhook" and (not self.webhook_url or not self.secret_token):
            raise ValueError(
                "webhook mode needs webhook_url and secret_token (16 or more letters, digits, _ or -)"
            )
        return self

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        if not re.match(r"^\d+:[A-Za-z0-9_-]{20,}$", value):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @property
    def needs_web(self) -> bool:
        return self.mode == "webhook"

    def secrets(self) -> list[str]:
        """What must never appear in a message or a log."""
        return [s for s in (self.token, self.secret_token) if s]


class SlackSettings(BaseModel):
    """The `slack:` section. Present means enabled.

    Socket Mode (the default) needs the app-level token and no public address; HTTP mode
    needs the signing secret, and Slack POSTs to the web server at `path`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_token: str
    mode: Literal["socket", "http"] = "socket"
    app_token: str | None = None
    signing_secret: str | None = None
    # Another Web API host (GovSlack; the tests' fake). The SDK appends the method name.
    api_base_url: str | None = None
    # Only these workspaces may use the bot; at least one is required.
    allowed_team_ids: tuple[str, ...]
    path: str = Field(default="/slack/events", pattern=_PATH)

    @field_validator("bot_token")
    @classmethod
    def _bot_token_shape(cls, value: str) -> str:
        if not re.match(r"^xoxb-[A-Za-z0-9-]+$", value):
            raise ValueError(
                "does not look like a bot token (xoxb-..., under OAuth & Permissions in the "
                "app's settings)"
            )
        return value

    @field_validator("app_token")
    @classmethod
    def _app_token_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^xapp-[A-Za-z0-9-]+$", value):
            raise ValueError(
                "does not look like an app-level token (xapp-..., under Basic Information, "
                "App-Level Tokens, with the connections:write scope)"
            )
        return value

    @field_validator("signing_secret")
    @classmethod
    def _signing_secret_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[0-9a-fA-F]{32}$", value):
            raise ValueError(
                "does not look like a signing secret (32 characters, 0-9 and a-f, under Basic "
                "Information, App Credentials)"
            )
        return value

    @field_validator("api_base_url")
    @classmethod
    def _api_base_url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be an http:// or https:// address")
        if not value.endswith("/"):
            raise ValueError(f"must end with / (the method name is added to it): {value}/")
        return value

    @field_validator("allowed_team_ids")
    @classmethod
    def _team_id_shape(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(
                "name at least one workspace ID (T..., in the workspace's About page or any "
                "slack.com/client/T.../ address); only these workspaces may use the bot"
            )
        for team in value:
            if not re.match(r"^T[A-Z0-9]{2,}$", team):
                raise ValueError(
                    f"{team!r} does not look like a workspace ID (T followed by capitals and digits)"
                )
        return value

    @model_validator(mode="after")
    def _mode_needs(self) -> SlackSettings:
        if self.mode == "socket" and not self.app_token:
            raise ValueError(
                "socket mode needs app_token (an app-level token, xapp-..., with "
                "connections:write); or set mode: http"
            )
        if self.mode == "http" and not self.signing_secret:
            raise ValueError("http mode needs signing_secret (Basic Information, App Credentials)")
        return self

    @property
    def needs_web(self) -> bool:
        return self.mode == "http"

    def secrets(self) -> list[str]:
        """What must never appear in a message or a log."""
        return [s for s in (self.bot_token, self.app_token, self.signing_secret) if s]


class WebSettings(BaseModel):
    """The `web:` section: the one web server for Telegram webhooks, Slack's HTTP mode
    and /healthz. It starts only when a channel needs it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "0.0.0.0"  # noqa: S104 - webhooks must be reachable from outside
    port: int | None = Field(default=None, ge=1, le=65535)  # default: $PORT, else 8080


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class NudgeConfig(BaseModel):
    """The `nudges:` section: the organisation's default weekly nudge. Each worker can
    change their own day, time and time zone, pause or stop them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    days: tuple[Weekday, ...] = Field(default=("friday",), min_length=1)
    time: str = "14:00"
    timezone: str = "Europe/London"  # for workers whose own time zone is not known
    working_days_only: bool = False
    # After downtime, a nudge that fell due this long ago is still sent; older ones are
    # skipped (and logged), since a Friday nudge on Saturday night helps nobody.
    grace_hours: float = Field(default=6, ge=0, le=72)
    tick_seconds: int = Field(default=30, ge=5, le=600)

    @field_validator("time", mode="before")
    @classmethod
    def _time_of_day(cls, value: object) -> str:
        # YAML 1.1 reads an unquoted 14:00 as the number 840 (base 60).
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value // 60:02d}:{value % 60:02d}"
        if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("must be a time of day on the 24-hour clock, such as 14:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_zone(value):
            raise ValueError("is not a time zone name such as Europe/London or America/New_York")
        return value

    @model_validator(mode="after")
    def _some_working_day(self) -> NudgeConfig:
        if self.working_days_only and all(WEEKDAYS.index(day) >= 5 for day in self.days):
            raise ValueError("working_days_only leaves none of these days: add a weekday")
        return self

    @property
    def weekday_numbers(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.days)


class CareConfig(BaseModel):
    """The `care:` section: the identifier guard, distress and safeguarding cues, and
    the words and contacts a worker is shown. Relative paths are read from the config
    file's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier_guard: bool = True
    identifier_patterns: Path | None = None  # an organisation's own patterns, added
    distress_cues: bool = True
    cues_file: Path | None = None  # a whole replacement for the cues shipped
    # Shown to a worker who may not be coping (their supervisor, the employee assistance
    # programme, crisis lines). Empty: UK defaults such as Samaritans 116 123.
    support: str | None = Field(default=None, min_length=1, max_length=2000)
    # A calm reminder of the organisation's safeguarding procedure, with its contacts.
    safeguarding: str | None = Field(default=None, min_length=1, max_length=2000)


class CpdConfig(BaseModel):
    """The `cpd:` section: the registration year and what it asks for (Social Work
    England: from 1 December, at least two records, one with peer reflection)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year_starts: str = "12-01"  # month-day
    records_a_year: int = Field(default=2, ge=1, le=50)
    with_peer: int = Field(default=1, ge=0, le=50)

    @field_validator("year_starts")
    @classmethod
    def _month_day(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{2})-(\d{2})", value)
        if match is None:
            raise ValueError("write the day a CPD year starts as MM-DD, such as 12-01")
        try:
            date(2001, int(match[1]), int(match[2]))
        except ValueError:
            raise ValueError(f"{value} is not a day that comes every year") from None
        return value

    @property
    def start(self) -> tuple[int, int]:
        month, day = self.year_starts.split("-")
        return int(month), int(day)


# Where a digest is posted: a Slack channel's id, or a Telegram group's chat id.
DESTINATION = re.compile(r"^(?:slack:[CG][A-Z0-9]{2,30}|telegram:-?\d{1,20})$")


def _destinations(value: tuple[str, ...]) -> tuple[str, ...]:
    for place in value:
        if not DESTINATION.match(place):
            raise ValueError(
                f"{place!r}: write a place as slack:CHANNEL_ID (such as slack:C0123ABCD) "
                "or telegram:CHAT_ID (a group's id, such as telegram:-1001234567890)"
            )
    if len(set(value)) < len(value):
        raise ValueError("a place is listed twice")
    return value


class LessonPlaces(BaseModel):
    """One organisation's own places for its digest, over `lessons.post_to`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    post_to: tuple[str, ...] = Field(default=(), max_length=10)

    _places = field_validator("post_to")(lambda cls, value: _destinations(value))


class LessonsConfig(BaseModel):
    """The `lessons:` section: anonymous lessons a worker offers the team at the end of a
    reflection, and the digest that shares them (weekly or monthly, with no names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offer: bool = True  # offer a lesson at the end of a reflection
    digest: Literal["weekly", "monthly", "off"] = "weekly"
    day: Weekday = "monday"  # weekly: the day it goes out (monthly: the 1st)
    time: str = "09:00"
    timezone: str | None = None  # empty: nudges.timezone
    post_to: tuple[str, ...] = Field(default=(), max_length=10)
    organisations: dict[str, LessonPlaces] = Field(default_factory=dict)
    chart: bool = False  # attach the participation chart of the last 12 weeks
    themes_file: Path | None = None  # a whole replacement for the themes shipped

    _time = field_validator("time", mode="before")(
        lambda cls, value: NudgeConfig._time_of_day(value)
    )
    _places = field_validator("post_to")(lambda cls, value: _destinations(value))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and not is_zone(value):
            raise ValueError("is not a time zone name such as Europe/London or America/New_York")
        return value

    def places_for(self, organisation_slug: str) -> tuple[str, ...]:
        own = self.organisations.get(organisation_slug)
        return own.post_to if own is not None and own.post_to else self.post_to


class RetentionConfig(BaseModel):
    """The `retention:` section: how long finished reflections are kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Deleted this many months after they were finished, a week after the worker is told
    # (with a button for a copy). Empty: kept until the worker deletes them.
    reflections_months: int | None = Field(default=None, ge=1, le=240)


class FriendRounds(BaseModel):
    """One organisation's periodic rounds, over the defaults in `friends:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds_every_weeks: int = Field(ge=0, le=52)


class FriendConfig(BaseModel):
    """The `friends:` section: critical friends, asked for or paired in rounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    pairing_weeks: int = Field(default=6, ge=1, le=52)  # a pairing ends after this
    repeat_weeks: int = Field(default=12, ge=0, le=104)  # no pairing again within this
    invitation_hours: int = Field(default=48, ge=1, le=336)  # then the next candidate
    talk_check_days: int = Field(default=7, ge=1, le=60)  # "did you get to talk?"
    # Donut-style rounds: every N weeks, on Monday morning, everyone in the pool who
    # opted into rounds is paired. 0: no rounds, only friends asked for.
    rounds_every_weeks: int = Field(default=0, ge=0, le=52)
    # Per organisation (its slug, as in `critical-friend invite create`).
    organisations: dict[str, FriendRounds] = Field(default_factory=dict)

    def rounds_for(self, organisation_slug: str) -> int:
        own = self.organisations.get(organisation_slug)
        return own.rounds_every_weeks if own is not None else self.rounds_every_weeks


class Settings(BaseModel):
    """Everything `config.example.yaml` documents. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str | None = None
    dialogues_dir: Path | None = None
    organisation_name: str = Field(default="Default organisation", min_length=1, max_length=200)
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    max_answer_chars: int = Field(default=20_000, ge=500, le=100_000)
    telegram: TelegramSettings | None = None
    slack: SlackSettings | None = None
    web: WebSettings = WebSettings()
    nudges: NudgeConfig = NudgeConfig()
    friends: FriendConfig = FriendConfig()
    retention: RetentionConfig = RetentionConfig()
    care: CareConfig = CareConfig()
    cpd: CpdConfig = CpdConfig()
    lessons: LessonsConfig = LessonsConfig()
    # Who may see the organisation's figures in chat (`/stats`): how the bot knows them,
    # as in `people import` ("telegram:12345", "slack:T0123:U0456", "terminal:alex").
    admins: tuple[str, ...] = ()

    @field_validator("admins")
    @classmethod
    def _admin_shape(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for admin in value:
            channel, _, external_id = admin.partition(":")
            if channel not in {"telegram", "slack", "terminal"} or not external_id:
                raise ValueError(
                    f"{admin!r}: write an admin as telegram:ID, slack:TEAM:USER or terminal:NAME"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @model_validator(mode="after")
    def _paths_differ(self) -> Settings:
        served = [self.telegram, self.slack]
        paths = [section.path for section in served if section is not None and section.needs_web]
        if "/healthz" in paths:
            raise ValueError("/healthz is the health check; give the webhook another path")
        if len(set(paths)) < len(paths):
            raise ValueError(
                "telegram.path and slack.path are the same; the shared web server needs a "
                "different path for each"
            )
        return self

    @property
    def needs_web(self) -> bool:
        """True when some enabled channel takes requests on the web server."""
        return any(s is not None and s.needs_web for s in (self.telegram, self.slack))


@dataclass(frozen=True, slots=True)
class Config:
    settings: Settings
    database_url: str
    dialogues_dir: Path
    web_port: int = DEFAULT_PORT  # web.port, else $PORT, else 8080


def default_home(environ: Mapping[str, str]) -> Path:
    if environ.get(HOME_ENV):
        return Path(environ[HOME_ENV]).expanduser()
    return Path(platformdirs.user_data_dir("critical-friend", appauthor=False))


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'critical-friend.db'}"


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    database_url: str | None = None,
) -> Config:
    """Read the config file (if any), apply the environment and the command line."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    settings = Settings() if path is None else _read_settings(path, env)
    port = _web_port(settings, env, path)
    from_file = settings.database_url
    if path is not None and from_file is not None:
        from_file = _relative_to(from_file, path.parent)
    url = (
        database_url
        or env.get(DATABASE_ENV)
        or from_file
        or default_database_url(default_home(env))
    )
    dialogues = settings.dialogues_dir or default_dialogues()
    if path is not None and not dialogues.is_absolute():
        dialogues = path.parent / dialogues
    if path is not None:
        settings = _care_files_from(settings, path.parent)
    return Config(settings=settings, database_url=url, dialogues_dir=dialogues, web_port=port)


def _care_files_from(settings: Settings, folder: Path) -> Settings:
    care = settings.care
    found = {
        name: folder / value
        for name, value in (
            ("identifier_patterns", care.identifier_patterns),
            ("cues_file", care.cues_file),
        )
        if value is not None and not value.is_absolute()
    }
    lessons = settings.lessons
    if lessons.themes_file is not None and not lessons.themes_file.is_absolute():
        themes = lessons.model_copy(update={"themes_file": folder / lessons.themes_file})
        settings = settings.model_copy(update={"lessons": themes})
    if not found:
        return settings
    return settings.model_copy(update={"care": care.model_copy(update=found)})


def _web_port(settings: Settings, env: Mapping[str, str], path: Path | None) -> int:
    if settings.web.port is not None:
        return settings.web.port
    given = env.get(PORT_ENV, "").strip()
    if not given:
        return DEFAULT_PORT
    if given.isdecimal() and 1 <= int(given) <= 65535:
        return int(given)
    if not settings.needs_web:
        return DEFAULT_PORT  # nothing listens, so a strange $PORT does no harm
    raise ConfigError(
        [
            Problem(
                str(path) if path is not None else PORT_ENV,
                1,
                f"web.port: the environment variable {PORT_ENV} is {given!r}, not a port "
                "number (1 to 65535); set web.port or fix PORT",
            )
        ]
    )


def default_dialogues() -> Path:
    """The dialogues shipped beside the code, or `./dialogues` for an installed copy."""
    return PROJECT_DIALOGUES if PROJECT_DIALOGUES.is_dir() else Path.cwd() / "dialogues"


def _relative_to(url: str, folder: Path) -> str:
    """A relative SQLite path in a config file means: beside the config file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        relative = url.removeprefix(prefix)
        if relative and relative != ":memory:":
            return prefix + str(folder / relative)
    return url


def _read_settings(path: Path, env: Mapping[str, str]) -> Settings:
    if not path.exists():
        raise ConfigError([Problem(str(path), 1, "the config file does not exist")])
    try:
        located = load_file(path)
    except YamlError as error:
        raise ConfigError(error.problems) from None
    problems = list(located.duplicates)
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), 1, "the config file must be a mapping of keys")])
    data = _interpolate(data, (), located, env, problems)
    if problems:
        raise ConfigError(problems)
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(validation_problems(error, located)) from None


def _interpolate(
    value: Any,
    path: tuple[str | int, ...],
    located: Located,
    env: Mapping[str, str],
    problems: list[Problem],
) -> Any:
    """Replace `${VAR}` (or `${VAR:-default}`) in every string with the environment's value."""
    if isinstance(value, dict):
        return {
            k: _interpolate(v, (*path, str(k)), located, env, problems) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), located, env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        key = ".".join(str(p) for p in path)
        problems.append(
            Problem(
                located.file,
                located.line_of(path),
                f"{key}: the environment variable {name} is not set",
            )
        )
        return ""

    return _VARIABLE.sub(substitute, value)
