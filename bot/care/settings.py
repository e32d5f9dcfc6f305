"""What the engine needs from `care:` in the config: the detectors, loaded once at
start-up (a broken file stops the bot with `file:line` problems, like the config), and
the words shown to a worker who may need support or a safeguarding reminder."""

from __future__ import annotations

from dataclasses import dataclass

from bot.care.cues import CueError, CueSet, default_cues, load_cues
from bot.care.identifiers import PatternError, Patterns, load_patterns
from bot.config import CareConfig, ConfigError


@dataclass(frozen=True, slots=True)
class Care:
    identifiers: Patterns | None  # None: the guard is off
    cues: CueSet | None  # None: cues are off
    support: str | None  # None: the engine's UK defaults
    safeguarding: str | None


def care_from(config: CareConfig) -> Care:
    try:
        identifiers = load_patterns(config.identifier_patterns) if config.identifier_guard else None
        cues = None
        if config.distress_cues:
            cues = load_cues(config.cues_file) if config.cues_file else default_cues()
    except (PatternError, CueError) as error:
        raise ConfigError(error.problems) from error
    return Care(identifiers, cues, config.support, config.safeguarding)
