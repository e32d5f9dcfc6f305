"""What the bot says when it starts the conversation: the nudges and their answers.

Read on a phone at the end of a week: short, warm, no pressure, and always a way to
say not now or to stop.
"""

from __future__ import annotations

WEEKLY = (
    "Hello. It's time for your weekly look-back: five minutes on one moment from your "
    "week, whatever it was. Would you like to do it now?"
)
SNOOZED = "Here's the look-back you asked me to keep for today. Would you like to do it now?"
HOW_TO_CHANGE = "Type settings to change when I ask, pause these or stop them."

REFLECT_NOW = "Reflect now"
TOMORROW = "Remind me tomorrow"
SKIP_WEEK = "Skip this week"

DRAFT_REMINDER = (
    "You paused {title} yesterday. It's kept just as you left it, whenever you'd like to carry on."
)
CARRY_ON = "Carry on"

WILL_REMIND = "I'll ask again tomorrow at {when}."
SKIPPED = "That's fine. Nothing more from me this week; I'll ask again next week."
NOT_ON = "Weekly nudges aren't switched on for you. Type settings to see your options."
UNKNOWN = "I didn't understand that. Type settings to see what you can change."
