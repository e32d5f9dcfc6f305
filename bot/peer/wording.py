"""What the bot says about critical friends.

Read by someone who may be tired, may be anxious about showing their practice to a
colleague, and may be being asked for their time: warm, brief, plain, never pushy,
and always a way to say no or to stop. Nobody is ever told who said no.
"""

from __future__ import annotations

NOT_ON = "Critical friends aren't switched on for your organisation."
NOT_AVAILABLE = "That isn't available. It may have been taken back, or the pairing may have ended."
UNKNOWN = (
    "I didn't understand that. Type friend to ask for a critical friend or to see your "
    "pairing, or friend help for everything you can do."
)
HELP = (
    "A critical friend is a colleague who reads a reflection you choose to share and "
    "offers a fresh view: what went well, one question, one suggestion.\n\n"
    "  friend - ask for a critical friend, or see your pairing\n"
    "  friend share - share a reflection with your critical friend\n"
    "  friend end - end your pairing\n"
    "  friend join - offer to be a critical friend for colleagues\n"
    "  friend leave - stop being asked\n"
    "  friend rounds on - also be paired in the regular rounds (off to stop)\n"
    "  friend max 2 - be a critical friend to up to 2 colleagues at once (1 to 5)"
)
WHAT_A_FRIEND_DOES = (
    "A critical friend reads one reflection their colleague chooses to share and offers "
    "a fresh view: what went well, one question, one suggestion. Reading it and "
    "answering takes about 10 minutes, and nobody is told if you say no."
)

# ---- asking ---------------------------------------------------------------------------

ASKED = (
    "I've asked a colleague from your organisation's pool to be your critical friend. "
    "I'll tell you when someone says yes. You won't be told if anyone says no."
)
STILL_LOOKING = (
    "I'm still looking for a critical friend for you, and I'll tell you when someone says yes."
)
NOBODY_FREE = (
    "Nobody in your organisation's pool is free just now. I'll keep your request and ask "
    "as soon as someone is."
)
LOOKING_AGAIN = (
    "The colleague I asked can't be your critical friend just now, so I've asked someone "
    "else. I'll tell you when someone says yes."
)
SOMEONE_FREE_NOW = (
    "Someone in your organisation's pool is free now, so I've asked them to be your "
    "critical friend. I'll tell you when someone says yes."
)
WAITING_FOR_SOMEONE = (
    "The colleague I asked can't be your critical friend just now, and nobody else in the "
    "pool is free yet. I'll ask as soon as someone is."
)
STOP_LOOKING = "Stop looking"
STOPPED_LOOKING = "I've stopped looking. Type friend whenever you'd like to ask again."
NOTHING_TO_STOP = "You haven't asked for a critical friend, so there's nothing to stop."

INVITED = "{name} would like a critical friend, and I thought of you.\n\n" + WHAT_A_FRIEND_DOES
ACCEPT = "Yes, I'll do it"
DECLINE = "Not this time"
INVITATION_CLOSED = "That invitation has closed. Thank you all the same."
DECLINED = "Thank you for letting me know. Nobody is told you said no."
AT_YOUR_LIMIT = (
    "Thank you. You're already a critical friend to as many colleagues at once as you "
    "chose, so I'll ask someone else this time, and nobody is told. To change how many, "
    "type friend max and a number, for example friend max 2."
)

PAIRED_FRIEND = (
    "Thank you. You're {name}'s critical friend for the next {weeks} weeks. When they "
    "share a reflection, I'll bring it to you."
)
PAIRED_REQUESTER = (
    "{name} has said yes: they're your critical friend for the next {weeks} weeks. "
    "Share a reflection with them whenever you're ready; they will see only what you share."
)
ROUND_PAIRED = (
    "This round's critical-friend pairing: you and {names}, for the next {weeks} weeks. "
    "Share a reflection with each other whenever you're ready; each of you sees only "
    "what the other shares."
)
ROUND_DEFERRED = (
    "I couldn't find a good critical-friend pairing for you this round. You're still in "
    "the rounds, so I'll try again next time. If you'd like a critical friend sooner, "
    "you can ask for one now."
)
STOP_ROUNDS = "Stop the rounds"

OFFER_FRIEND = (
    "If a colleague's view would help, a critical friend could read this reflection "
    "and offer theirs. Only if you choose to share it."
)
ASK_A_FRIEND = "Ask for a critical friend"
YOUR_FRIEND = "Your critical friend"
HOME_TITLE = "Critical friend"
OFFER_SHARE = "Your critical friend could read this one and offer a fresh view, if you'd like."
SHARE_THIS = "Share it with them"

# ---- the pairing ------------------------------------------------------------------------

YOUR_PAIRINGS = "Your critical friends:"
PAIRING_LINE = "  {names}, until {until}"
NO_PAIRING = "You don't have a critical friend just now. Type friend to ask for one."
SHARE_A_REFLECTION = "Share a reflection"
END_PAIRING = "End the pairing"
END_WHICH = "Which pairing would you like to end?"
END_WITH = "End with {names}"
ENDED_BY_YOU = "Done: your pairing with {names} has ended. Thank you for taking part."
ENDED_BY_OTHER = (
    "{name} has ended your critical-friend pairing. Thank you for the time you gave to it."
)
ENDED_EARLY = (
    "Your critical-friend pairing with {names} has been ended. Thank you for the time "
    "you gave to it."
)
ENDED_IN_TIME = (
    "Your critical-friend pairing with {names} has come to an end. Thank you both. "
    "Type friend whenever you'd like another."
)

TALK_CHECK = "It's a week since you and {names} were paired. Did you get to talk?"
TALKED_YES = "Yes, we talked"
TALKED_NO = "Not yet"
GLAD = "Good to hear. I hope it helped."
NOT_YET = (
    "That's fine; weeks fill up. You could send {names} a message to find 20 minutes, "
    "or end the pairing if now isn't the right time."
)

# ---- sharing ----------------------------------------------------------------------------

CHOOSE_TO_SHARE = "Which reflection would you like to share? Only the one you choose is shown."
NOTHING_TO_SHARE = "You have no finished reflections to share yet."
CONFIRM_SHARE = (
    "Share {title} ({date}) with {names}? They will see all your answers in it, and "
    "nothing else. You can take it back at any time."
)
SHARE_WITH = "Yes, share with {names}"
NOT_NOW = "Not now"
SHARED = "Shared with {names}. You can take it back at any time."
TAKE_BACK = "Take it back"
TAKEN_BACK = "Taken back. Nobody but you can open it now."
SHARED_WITH_YOU = "{name} has shared a reflection with you: {title} ({date})."
OPEN_IT = "Read it"
GIVE_FEEDBACK = "Give feedback"
FEEDBACK_SENT_ALREADY = "You sent your feedback on this reflection on {date}. Thank you."

# ---- feedback ---------------------------------------------------------------------------

FEEDBACK_ON_YOURS = "{name} has read your reflection ({title}, {date}) and sent feedback."
WELL = "What you did well"
QUESTION = "A question to think about"
SUGGESTION = "A suggestion"
ANSWER_FEEDBACK = "Write what I take from this"
FEEDBACK_DELIVERED = "I've sent your feedback to {name}. Thank you for being a critical friend."
FEEDBACK_NOT_DELIVERED = (
    "{name} has taken that reflection back, or your pairing has ended, so your feedback "
    "was not sent. It stays in your own journal."
)
REPLY_BEGINS = "What you write goes back to {name} and is kept with your reflection."
REPLIED_ALREADY = "You've answered this feedback already. It's kept with your reflection."
REPLY_ON_YOURS = "{name} read your feedback and wrote what they take from it:\n\n{text}"
REPLY_KEPT = "Thank you. Your answer is with your reflection, and I've sent it to {name}."

# ---- the pool ---------------------------------------------------------------------------

JOINED = (
    "Thank you: you're in the critical-friend pool. When a colleague asks for a critical "
    "friend, I may ask you, and you can always say no. Type friend leave to stop."
)
JOINED_ALREADY = "You're in the critical-friend pool already."
LEFT = "You've left the critical-friend pool. Nobody new will be asked to pair with you."
NOT_IN_POOL = "You're not in the critical-friend pool. Type friend join to offer."
ROUNDS_ON = "You'll also be paired in the regular rounds."
ROUNDS_OFF = "You won't be paired in the regular rounds."
ROUNDS_NOT_HELD = "Your organisation doesn't hold regular rounds at the moment."
MAX_SET = "You'll be a critical friend to up to {count} colleague{s} at once."
MAX_RANGE = "Choose a number from 1 to 5, for example: friend max 2"

SETTINGS_OUT = (
    "Critical friend: you're not in the pool. Type friend join to offer to be a "
    "colleague's critical friend now and then."
)
SETTINGS_IN = (
    "Critical friend: you're in the pool, for up to {count} colleague{s} at a time, and "
    "{rounds}. To change this: friend max 2, friend rounds on or off, friend leave."
)
IN_ROUNDS = "in the regular rounds"
NOT_IN_ROUNDS = "not in the regular rounds"
JOIN_POOL = "Join the pool"
LEAVE_POOL = "Leave the pool"

A_COLLEAGUE = "a colleague"


def names(people: list[str]) -> str:
    """ "Sam", "Sam and Kim", "Sam, Kim and Jo"."""
    if len(people) <= 1:
        return people[0] if people else A_COLLEAGUE
    return ", ".join(people[:-1]) + " and " + people[-1]
