"""What the Slack channel itself says (the conversation's words live in the engine)."""

OUTSIDERS = (
    "Hello. This app is for the organisations it has been set up for, and your workspace "
    "isn't one of them. I haven't kept anything about you."
)
TRY_AGAIN = "I can't check your details with Slack just now. Please try again in a moment."
MOVED_TO_DM = (
    "Reflections are private, so I've opened this one in our direct messages. "
    "Nothing was posted here."
)
HOME_WELCOME = (
    "A quiet space to think back on your work: after a hard visit, or when something went "
    "wrong. What you write is private and encrypted, and never shared without asking you "
    "first. You can pause at any point."
)
HOME_START = "Start a reflection"
HOME_RESUME = "Carry on: {title}"
HOME_RECENT = "Your recent reflections"
HOME_NONE_YET = "Finished reflections will appear here."
HOME_OPEN_HINT = "Press one to read it again in our messages."
HOME_FOR_OUTSIDERS = (
    "This app is for the organisations it has been set up for, and your workspace isn't "
    "one of them."
)
