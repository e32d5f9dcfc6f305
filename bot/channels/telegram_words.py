"""What the Telegram channel itself says (the conversation's words live in the engine)."""

MEMBERS_ONLY = (
    "Hello. This bot is for members of a social work organisation, who join with an "
    "invitation link from their organisation. If you have one, please open it again. "
    "I haven't kept anything about you."
)
TRY_LATER = "I can't check who you are just now. Please try again in a few minutes."
NOT_IN_GROUPS = (
    "Reflections are private, so I only run them in a one-to-one chat. "
    "Open a private chat with me to begin."
)
OPEN_PRIVATE_CHAT = "Open a private chat"
EDITS_NOT_APPLIED = (
    "I saw you edited a message. Edits don't change what I've saved. To change your last "
    "answer, type /back and send it again."
)
