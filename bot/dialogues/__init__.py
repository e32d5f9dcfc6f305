"""Reflective models as data: the model, the YAML loader and its checks."""

from bot.dialogues.loader import Catalog, DialogueError, load_catalog, load_dialogue
from bot.dialogues.model import END, Dialogue, DialogueChoice, FollowUp, Step

__all__ = [
    "END",
    "Catalog",
    "Dialogue",
    "DialogueChoice",
    "DialogueError",
    "FollowUp",
    "Step",
    "load_catalog",
    "load_dialogue",
]
