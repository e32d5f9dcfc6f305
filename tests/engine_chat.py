"""A worker talking straight to the pure engine, for the engine's tests: each message goes
through `step`, and the state between them through JSON, as the service stores it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bot.engine import Context, RunState, SessionState, Turn, step
from bot.engine.effects import Effect
from bot.messages import Incoming, IncomingKind, UserRef


@dataclass
class EngineChat:
    ctx: Context
    user: UserRef
    dialogue: str  # what `start()` starts
    state: SessionState = field(default_factory=SessionState)
    turns: list[Turn] = field(default_factory=list)

    def send(self, kind: IncomingKind, text: str = "", token: str | None = None) -> Turn:
        incoming = Incoming(
            event_id=f"e{len(self.turns)}", user=self.user, kind=kind, text=text, in_reply_to=token
        )
        turn = step(self.state, incoming, self.ctx)
        self.state = SessionState.from_json(json.loads(json.dumps(turn.state.to_json())))
        self.turns.append(turn)
        return turn

    def start(self, dialogue: str | None = None) -> Turn:
        return self.send(IncomingKind.START, dialogue or self.dialogue)

    def says(self, text: str) -> Turn:
        return self.send(IncomingKind.TEXT, text, self.state.reply_token)

    def presses(self, value: str, token: str | None = None) -> Turn:
        return self.send(IncomingKind.CHOICE, value, token or self.state.reply_token)

    @property
    def run(self) -> RunState:
        assert self.state.run is not None
        return self.state.run

    @property
    def effects(self) -> list[Effect]:
        return [effect for turn in self.turns for effect in turn.effects]
