"""What the service needs from `lessons:` in the config, loaded once at start-up: a
broken themes file stops the bot with `file:line` problems, like the config."""

from __future__ import annotations

from bot.care.identifiers import Patterns, default_patterns
from bot.config import ConfigError, LessonsConfig
from bot.dialogues import Catalog
from bot.lessons.chat import Lessons
from bot.lessons.themes import ThemeError, Themes, default_themes, load_themes


def themes_from(config: LessonsConfig) -> Themes:
    try:
        return load_themes(config.themes_file) if config.themes_file else default_themes()
    except ThemeError as error:
        raise ConfigError(error.problems) from error


def lessons_from(config: LessonsConfig, catalog: Catalog, identifiers: Patterns | None) -> Lessons:
    # A lesson goes to the whole team: the identifier guard applies to it even where an
    # organisation turned it off for answers that stay private.
    return Lessons(
        catalog,
        themes_from(config),
        identifiers if identifiers is not None else default_patterns(),
        offer_after_reflection=config.offer,
        digest_to=lambda slug: config.digest != "off" and bool(config.places_for(slug)),
    )
