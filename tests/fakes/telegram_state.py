"""What the fake Telegram remembers, and the Bot API methods it implements, without HTTP.

Each method takes parameters already checked against the spec (see telegram_params) and
returns the `result` Telegram would send, or raises BotApiError with Telegram's error text.
Long polling and webhook delivery need waiting and I/O, so they live in telegram.py.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.telegram_formatting import PARSERS, EntityError
from tests.fakes.telegram_params import BotApiError, UploadedFile, bad_request, check_reply_markup

Json = dict[str, Any]

MAX_TEXT = 4096  # characters (code points) after entity parsing
MAX_CAPTION = 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # what a bot may upload through the Bot API
UPDATE_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "guest_message",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "managed_bot",
)
# What a bot gets when it never said which updates it wants.
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
_MESSAGE_KINDS = {"message", "channel_post", "business_message", "guest_message"}
_EDITED_KINDS = {"edited_message", "edited_channel_post", "edited_business_message"}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_SCOPES = {
    "default",
    "all_private_chats",
    "all_group_chats",
    "all_chat_administrators",
    "chat",
    "chat_administrators",
    "chat_member",
}
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


def now() -> int:
    return int(time.time())


class TelegramState:
    def __init__(self, *, bot_id: int, bot_username: str, bot_name: str, first_update_id: int):
        self.bot: Json = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.users: dict[int, Json] = {}
        self.chats: dict[int, Json] = {}
        self.blocked: set[int] = set()
        self.messages: dict[tuple[int, int], Json] = {}
        self._last_message_id: dict[int, int] = {}
        self.updates: list[Json] = []
        self.dropped_updates: list[Json] = []
        self._next_update_id = first_update_id
        self.allowed_updates: list[str] = []
        self.webhook: Json = {}
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.callback_queries: dict[str, Json | None] = {}
        self._query_ids = itertools.count(4_382_000_000_000_000_001)
        self.files: dict[str, UploadedFile] = {}  # file_id -> what was uploaded
        self._file_numbers = itertools.count(1)
        self.methods: dict[str, Callable[[Json], Any]] = {
            "getMe": lambda _params: copy.deepcopy(self.bot),
            "sendMessage": self.send_message,
            "sendDocument": self.send_document,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "answerCallbackQuery": self.answer_callback_query,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "sendChatAction": self.send_chat_action,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
        }

    # --- people and chats ---------------------------------------------------------------

    def user(self, user_id: int, **details: Any) -> Json:
        user = self.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        )
        user.update({key: value for key, value in details.items() if value is not None})
        return user

    def chat(self, chat_id: int, chat_type: str = "private", **details: Any) -> Json:
        if chat_id not in self.chats:
            chat: Json = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                person = self.users.get(chat_id, {"first_name": f"User {chat_id}"})
                chat.update(
                    {k: person[k] for k in ("first_name", "last_name", "username") if k in person}
                )
            else:
                chat["title"] = f"Chat {chat_id}"
            self.chats[chat_id] = chat
        self.chats[chat_id].update(
            {key: value for key, value in details.items() if value is not None}
        )
        return self.chats[chat_id]

    def next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by the bot's and the people's messages."""
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def resolve_chat(self, chat_id: int | str) -> Json:
        if isinstance(chat_id, str):
            wanted = chat_id.removeprefix("@").lower()
            found = [c for c in self.chats.values() if str(c.get("username", "")).lower() == wanted]
            chat = found[0] if found and chat_id.startswith("@") else None
        else:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat["type"] == "private" and chat["id"] in self.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    # --- updates ------------------------------------------------------------------------

    def enqueue(self, update: Json) -> Json:
        """Learn the chats, people, messages and queries in an update a user caused, then
        queue it unless the bot asked not to get updates of its kind."""
        update = copy.deepcopy(update)
        kinds = [key for key in update if key != "update_id"]
        if len(kinds) != 1 or kinds[0] not in UPDATE_KINDS:
            raise ValueError(f"an update has exactly one of {UPDATE_KINDS}, not {kinds}")
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._learn(kinds[0], update[kinds[0]])
        if not self.wants(kinds[0]):
            self.dropped_updates.append(update)
            return update
        self.updates.append(update)
        return update

    def requeue(self, update: Json) -> None:
        self.updates.append(copy.deepcopy(update))

    def wants(self, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _NOT_BY_DEFAULT

    def _learn(self, kind: str, payload: Json) -> None:
        sender = payload.get("from")
        if isinstance(sender, dict) and "id" in sender:
            self.users.setdefault(sender["id"], copy.deepcopy(sender))
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            self.chats.setdefault(chat["id"], copy.deepcopy(chat))
        if kind in _MESSAGE_KINDS | _EDITED_KINDS and "message_id" in payload:
            chat_id, message_id = payload["chat"]["id"], payload["message_id"]
            self.messages[(chat_id, message_id)] = copy.deepcopy(payload)
            last = self._last_message_id.get(chat_id, 0)
            self._last_message_id[chat_id] = max(last, message_id)
        if kind == "callback_query":
            self.callback_queries[payload["id"]] = None

    def new_query_id(self) -> str:
        return str(next(self._query_ids))

    def confirm(self, offset: int) -> None:
        """getUpdates' offset: forget what came before it; a negative one keeps the last
        -offset updates."""
        if offset < 0:
            del self.updates[: max(0, len(self.updates) + offset)]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def set_allowed_updates(self, allowed: list[str] | None) -> None:
        if allowed is None:
            return
        unknown = [kind for kind in allowed if kind not in UPDATE_KINDS]
        if unknown:
            raise bad_request(f"unknown update type {unknown[0]} in allowed_updates")
        self.allowed_updates = list(allowed)

    # --- messages -----------------------------------------------------------------------

    def send_message(self, params: Json) -> Json:
        chat = self.resolve_chat(params["chat_id"])
        text, entities = self._formatted(params)
        message: Json = {
            "message_id": self.next_message_id(chat["id"]),
            "from": copy.deepcopy(self.bot),
            "chat": copy.deepcopy(chat),
            "date": now(),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        if "reply_markup" in params:
            inline = check_reply_markup(params["reply_markup"], inline_only=False)
            if inline is not None:
                message["reply_markup"] = inline
        reply = params.get("reply_parameters")
        if reply is not None:
            target = self.messages.get((chat["id"], reply.get("message_id")))
            if target is not None:
                message["reply_to_message"] = copy.deepcopy(target)
            elif not reply.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
        self.messages[(chat["id"], message["message_id"])] = message
        return copy.deepcopy(message)

    def send_document(self, params: Json) -> Json:
        """A document: an uploaded file, an attach:// name for one, or the file_id of one
        sent before. The fake fetches no URLs, so any other string is refused."""
        chat = self.resolve_chat(params["chat_id"])
        upload, file_id = self._document(params)
        message: Json = {
            "message_id": self.next_message_id(chat["id"]),
            "from": copy.deepcopy(self.bot),
            "chat": copy.deepcopy(chat),
            "date": now(),
            "document": {
                "file_name": upload.filename,
                "mime_type": upload.content_type,
                "file_id": file_id,
                "file_unique_id": f"AgAD{file_id[-8:]}",
                "file_size": len(upload.content),
            },
        }
        if str(params.get("caption") or "").strip():
            caption, entities = self._formatted(
                params, field="caption", entities_field="caption_entities", limit=MAX_CAPTION
            )
            message["caption"] = caption
            if entities:
                message["caption_entities"] = entities
        if "reply_markup" in params:
            inline = check_reply_markup(params["reply_markup"], inline_only=False)
            if inline is not None:
                message["reply_markup"] = inline
        self.messages[(chat["id"], message["message_id"])] = message
        return copy.deepcopy(message)

    def _document(self, params: Json) -> tuple[UploadedFile, str]:
        document = params["document"]
        if isinstance(document, str) and document.startswith("attach://"):
            document = params.get(document.removeprefix("attach://"))
            if not isinstance(document, UploadedFile):
                raise bad_request("wrong remote file identifier specified: can't find attachment")
        if isinstance(document, str):
            if document in self.files:
                return self.files[document], document
            raise bad_request("wrong file identifier/HTTP URL specified")
        if not isinstance(document, UploadedFile):
            raise bad_request("can't parse document")
        if not document.content:
            raise bad_request("file must be non-empty")
        if len(document.content) > MAX_UPLOAD_BYTES:
            raise BotApiError(413, "Request Entity Too Large")
        file_id = f"BQACAgQAAxkDAAI{next(self._file_numbers):08d}"
        self.files[file_id] = document
        return document, file_id

    def _formatted(
        self,
        params: Json,
        *,
        field: str = "text",
        entities_field: str = "entities",
        limit: int = MAX_TEXT,
    ) -> tuple[str, list[Json]]:
        """A text or a caption with its entities, from parse_mode or given ones."""
        text = params.get(field)
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        if params.get(entities_field):
            entities = params[entities_field]
            if not all(
                isinstance(e, dict) and {"type", "offset", "length"} <= e.keys() for e in entities
            ):
                raise bad_request("can't parse entities: each entity needs type, offset and length")
        elif params.get("parse_mode"):
            parser = PARSERS.get(str(params["parse_mode"]).lower())
            if parser is None:
                raise bad_request("unsupported parse_mode")
            try:
                text, entities = parser(text)
            except EntityError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        else:
            entities = []
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > limit:
            raise bad_request(
                "message caption is too long" if field == "caption" else "message is too long"
            )
        return text, entities

    def _message_to_edit(self, params: Json) -> Json:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID (the fake has no inline messages)")
        if "chat_id" not in params:
            raise bad_request("chat_id is empty")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self.resolve_chat(params["chat_id"])
        message = self.messages.get((chat["id"], params["message_id"]))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot["id"]:
            raise bad_request("message can't be edited")
        return message

    def _edited(self, message: Json, changes: Json) -> Json:
        """Apply an edit; a key set to None is removed, as Telegram drops an inline keyboard
        that an edit does not repeat."""
        after = {**message, **changes}
        after = {key: value for key, value in after.items() if value is not None}
        keys = ("text", "entities", "reply_markup")
        if all(after.get(key) == message.get(key) for key in keys):
            raise bad_request(NOT_MODIFIED)
        after["edit_date"] = now()
        self.messages[(message["chat"]["id"], message["message_id"])] = after
        return copy.deepcopy(after)

    def edit_message_text(self, params: Json) -> Json:
        message = self._message_to_edit(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(params)
        markup = params.get("reply_markup")
        inline = check_reply_markup(markup, inline_only=True) if markup is not None else None
        return self._edited(
            message, {"text": text, "entities": entities or None, "reply_markup": inline}
        )

    def edit_message_reply_markup(self, params: Json) -> Json:
        message = self._message_to_edit(params)
        markup = params.get("reply_markup")
        inline = check_reply_markup(markup, inline_only=True) if markup is not None else None
        return self._edited(message, {"reply_markup": inline})

    def answer_callback_query(self, params: Json) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in self.callback_queries or self.callback_queries[query_id] is not None:
            raise bad_request(QUERY_INVALID)
        if len(params.get("text", "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self.callback_queries[query_id] = dict(params)
        return True

    def send_chat_action(self, params: Json) -> bool:
        self.resolve_chat(params["chat_id"])
        if params["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    # --- commands -----------------------------------------------------------------------

    def _command_key(self, params: Json) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") not in _SCOPES:
            raise bad_request("can't parse BotCommandScope: unknown type")
        language = params.get("language_code", "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return json.dumps(scope, sort_keys=True), language

    def set_my_commands(self, params: Json) -> bool:
        key = self._command_key(params)
        commands = params["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands: at most 100 can be set")
        for command in commands:
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request("command description must be 1-256 characters long")
        self.commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def get_my_commands(self, params: Json) -> list[Json]:
        return copy.deepcopy(self.commands.get(self._command_key(params), []))

    def delete_my_commands(self, params: Json) -> bool:
        self.commands.pop(self._command_key(params), None)
        return True

    # --- webhook ------------------------------------------------------------------------

    def set_webhook(self, params: Json) -> bool:
        url = params["url"]
        if not url:
            return self.delete_webhook(params)
        # Telegram only calls https:// on ports 443, 80, 88 or 8443; a test's receiver
        # listens on http://127.0.0.1 and a random port, so the fake accepts any http(s) URL.
        if not re.match(r"https?://[^\s/]+", url):
            raise bad_request("bad webhook: invalid webhook URL specified")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        if not 1 <= params.get("max_connections", 40) <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        self.set_allowed_updates(params.get("allowed_updates"))
        if params.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections", 40),
            "has_custom_certificate": "certificate" in params,
            "ip_address": params.get("ip_address"),
        }
        return True

    def delete_webhook(self, params: Json) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def get_webhook_info(self, _params: Json) -> Json:
        info: Json = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": self.webhook.get("has_custom_certificate", False),
            "pending_update_count": len(self.updates),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            for key in ("ip_address", "last_error_date", "last_error_message"):
                if self.webhook.get(key) is not None:
                    info[key] = self.webhook[key]
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
        return info

    def webhook_failed(self, reason: str) -> None:
        if self.webhook:
            self.webhook["last_error_date"] = now()
            self.webhook["last_error_message"] = reason
