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

FOLLOW_UP = "When you last reflected, you planned:\n\n{plan}\n\nHow did it go?"
FOLLOW_UP_NO_PLAN = (
    "You asked me to check in about the plan from your last reflection. How did it go?"
)
LOOK_BACK_NOW = "Tell me how it went"
NO_SUCH_FOLLOW_UP = "I can't find that check-in any more, so there's nothing to follow up."

# ---- settings: when the weekly nudge comes, pausing and stopping it ----------------------

SETTINGS_TITLE = "Weekly nudges"
SETTINGS_NOT_ON = (
    "Weekly nudges aren't switched on for your organisation, so there's nothing to set here."
)

ASKS = "I'll ask {days} at {time} ({zone} time)."
PAUSED_UNTIL = "Paused until {date}. Then I'll ask {days} at {time} ({zone} time) again."
ALL_OFF = "Weekly nudges are off."
NEXT_ONE = "The next one is {when}."
WEEKENDS_LEFT_OUT = "Weekends are left out while working days only is on."

HOW_TO_SET = (
    "To change this, type:\n"
    "  settings day friday - the day (or days: settings day monday thursday)\n"
    "  settings time 9:30 - the time\n"
    "  settings zone Europe/London - your time zone\n"
    "  settings workdays on - never at weekends (off to allow them)\n"
    "  settings pause 2 - pause for 2 weeks (1 to 8), for a holiday\n"
    "  settings off - stop weekly nudges"
)
HOW_TO_RESUME = "  settings resume - start again now"
HOW_TO_START = (
    "Type settings on to start them again. You can set the day and time first "
    "(settings day friday, settings time 9:30)."
)
SEE_ALL = "Type settings to see everything you can change."

DONE = "Done."
PAUSED_DONE = "Paused until {date}. I'll ask again from then; take care in the meantime."
OFF_DONE = (
    "Weekly nudges are off; I won't ask again unless you type settings on. "
    "Your reflections are still here whenever you want them."
)
ON_DONE = "Weekly nudges are on."
RESUMED = "Nudges are back on."
NOT_PAUSED = "Nudges aren't paused."
NOTHING_TO_PAUSE = (
    "Weekly nudges are off, so there's nothing to pause. Type settings on to start them again."
)

ASK_DAY = (
    "Which day would you like me to ask? Pick one, or type settings day and the day, for "
    "example settings day friday. For several days: settings day monday thursday."
)
ASK_TIME = (
    "What time suits you? Pick one, or type settings time and any time you like, for "
    "example settings time 9:30 or settings time 4pm."
)
ASK_ZONE = (
    "I use the {zone} time zone for you. To change it, type settings zone and its name, "
    "for example settings zone Europe/Dublin or settings zone America/New_York."
)
ASK_WORKDAYS = (
    "Working days only is {state}. Type settings workdays on to never be asked at a "
    "weekend, or settings workdays off to allow weekends."
)

NOT_A_DAY = (
    "I didn't recognise {word} as a day. Type the day's name, for example settings day "
    "friday, or several: settings day monday thursday."
)
NOT_A_TIME = (
    "I couldn't read {text} as a time. Type it like settings time 9:30, settings time 14:00 "
    "or settings time 2pm."
)
NOT_A_ZONE = (
    "I don't know the time zone {name}. Time zones are written as region/city, for "
    "example Europe/London or America/New_York."
)
ZONE_IS_ONE_OF = "There's more than one {name}: type settings zone and one of {options}."
PAUSE_WEEKS = (
    "I can pause for 1 to 8 weeks. Type settings pause and the number of weeks, for "
    "example settings pause 2."
)
ON_OR_OFF = "Type settings workdays on or settings workdays off."
ONLY_WEEKENDS = (
    "Working days only is on, so I can't ask only at the weekend. Pick a weekday, or type "
    "settings workdays off first."
)
NEEDS_A_WEEKDAY = (
    "You're only asked at the weekend, so working days only would leave no day at all. "
    "Pick a weekday first, for example settings day friday."
)
NOT_UNDERSTOOD = "I didn't understand settings {text}."

PAUSE_A_WEEK = "Pause for a week"
PAUSE_TWO_WEEKS = "Pause for two weeks"
RESUME = "Resume"
STOP = "Stop weekly nudges"
START = "Start weekly nudges"
CHANGE_DAY = "Change day"
CHANGE_TIME = "Change time"
WORKDAYS_ON = "Working days only"
WORKDAYS_OFF = "Allow weekends"
WEEKLY_WAITING = (
    "Your weekly look-back is waiting: five minutes on one moment from your week. "
    "Type reflect weekly to start it, or carry on with whatever you came for."
)
TYPE_FOLLOW_UP = "Type followup {number} to tell me."


def weekly(cpd_line: str | None = None) -> str:
    """The weekly nudge, with what is still missing from the worker's CPD year when its
    end is near (`bot.cpd.reminder`)."""
    return f"{WEEKLY}\n\n{cpd_line}" if cpd_line else WEEKLY
