"""Lessons for the team: drafted from a reflection, approved word for word by their
author, and shared without names in a weekly or monthly digest."""

from bot.lessons.chat import Lessons
from bot.lessons.themes import ThemeError, Themes, default_themes, load_themes

__all__ = ["Lessons", "ThemeError", "Themes", "default_themes", "load_themes"]
