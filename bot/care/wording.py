"""What the bot says about a worker's own data: their copy of it, and forgetting them."""

from __future__ import annotations

EXPORT_JSON = (
    "Here is everything I keep about you, for a program to read (JSON). "
    "It includes what you wrote, so keep it somewhere safe."
)
EXPORT_MARKDOWN = "And the same, to read (Markdown)."

FORGET_ASK = (
    "This deletes everything I keep about you, for good: your reflections and drafts, "
    "your settings, your critical-friend pairings, what you shared and the feedback you "
    "gave. Colleagues you were paired with will see it is no longer available. It can't "
    "be undone. If you'd like a copy first, type export.\n\n"
    "Delete everything?"
)
FORGET_YES = "Yes, delete everything"
FORGET_NO = "No, keep it"
FORGET_EXPIRED = (
    "That confirmation was for another day, so nothing was deleted. Type forget to start again."
)
FORGOTTEN = (
    "Done. Everything I kept about you has been deleted. If you write again, I'll start "
    "afresh, as if we had never met. Take care."
)
KEPT = "Nothing was deleted."
