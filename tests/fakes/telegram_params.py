"""Reading a Bot API request's parameters the way Telegram does, and checking them against
the vendored method list.

Telegram takes parameters from the query string, a JSON body, a urlencoded form or a
multipart form; in a form every value is a string and objects and arrays arrive as JSON text.
python-telegram-bot sends a urlencoded form (multipart when it uploads a file) in which every
value that is not already a string is JSON-encoded: chat_id=42, disable_notification=false,
reply_markup={"inline_keyboard": ...}. So values are coerced to the spec's types here.

The fake is stricter than Telegram on purpose: Telegram silently ignores a parameter it does
not know, the fake answers 400 "Bad Request: unknown parameter NAME", so a misspelt or
outdated parameter fails a test instead of being dropped in production without a trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.telegram_spec import Field


class BotApiError(Exception):
    """An error answer of the Bot API: HTTP status, description, optional parameters."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {reason}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request, as the fake records it."""

    filename: str
    content_type: str
    content: bytes


async def read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.text())
        except ValueError as error:
            raise bad_request("can't parse JSON object") from error
        if not isinstance(body, dict):
            raise bad_request("JSON object expected")
        params.update(body)
        return params
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            params[name] = UploadedFile(value.filename, value.content_type, value.file.read())
        else:
            params[name] = value
    return params


_ATTACH = re.compile(r"attach://([A-Za-z0-9_-]+)")
# Telegram's wording where it has its own; the rest say "NAME is empty".
_MISSING = {"text": "message text is empty", "message_id": "message identifier is not specified"}
_EMPTY_ALLOWED = {("setWebhook", "url")}  # setWebhook with url="" removes the webhook


def validate_params(method: str, fields: list[Field], raw: dict[str, Any]) -> dict[str, Any]:
    """The parameters coerced to their spec types, or BotApiError 400."""
    known = {field["name"]: field for field in fields}
    attachments = {name for value in raw.values() for name in _attachments(value)}
    for name in raw:
        if name not in known and name not in attachments:
            raise bad_request(f"unknown parameter {name}")
    params: dict[str, Any] = {
        name: value for name, value in raw.items() if name in attachments and name not in known
    }
    for field in fields:
        name = field["name"]
        value = raw.get(name)
        if value is None or (value == "" and (method, name) not in _EMPTY_ALLOWED):
            if field["required"]:
                raise bad_request(_MISSING.get(name, f"{name} is empty"))
            if value is None:
                continue
        params[name] = coerce(name, value, field["types"])
    return params


def _attachments(value: Any) -> list[str]:
    return _ATTACH.findall(value) if isinstance(value, str) else []


class _Mismatch(Exception):
    pass


def coerce(name: str, value: Any, types: list[str]) -> Any:
    for kind in types:
        try:
            return _coerce(value, kind)
        except _Mismatch:
            continue
    raise bad_request(f'can\'t parse parameter "{name}": expected {" or ".join(types)}')


_SCALARS = {"Integer", "Float", "String", "Boolean"}
_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def _coerce(value: Any, kind: str) -> Any:
    if kind == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            return int(value)
        raise _Mismatch
    if kind == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if kind == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Mismatch
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise _Mismatch
    if kind == "InputFile":
        if isinstance(value, UploadedFile | str):
            return value
        raise _Mismatch
    if kind.startswith("Array of "):
        items = _json(value)
        if not isinstance(items, list):
            raise _Mismatch
        element = kind.removeprefix("Array of ")
        return [_coerce(item, element) for item in items]
    # Any other name is an object type such as InlineKeyboardMarkup or BotCommandScope.
    found = _json(value)
    if not isinstance(found, dict) or kind in _SCALARS:
        raise _Mismatch
    return found


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _Mismatch from None
    return value


# --- reply markup ---------------------------------------------------------------------

_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_BUTTON_FIELDS = {"text", "icon_custom_emoji_id", "style", *_BUTTON_ACTIONS}


def check_reply_markup(markup: dict[str, Any], *, inline_only: bool) -> dict[str, Any] | None:
    """The inline keyboard to keep on the message, None for other markups; 400 if invalid."""
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "inline_keyboard" must be an Array of Arrays')
        for row in rows:
            for button in row:
                _check_inline_button(button)
        return {"inline_keyboard": rows} if any(rows) else None
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "keyboard" must be an Array of Arrays')
        for row in rows:
            for button in row:
                text = button if isinstance(button, str) else button.get("text")
                if not isinstance(text, str) or not text:
                    raise bad_request("keyboard button text is empty")
        return None
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return None
    raise bad_request("can't parse reply keyboard markup JSON object")


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    text = button.get("text")
    if not isinstance(text, str) or not text:
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    unknown = sorted(set(button) - _BUTTON_FIELDS)
    if unknown:
        # Telegram ignores unknown fields; the fake refuses them, like unknown parameters.
        raise bad_request(f"unknown inline keyboard button field {unknown[0]}")
    actions = [name for name in _BUTTON_ACTIONS if name in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(f"can't parse inline keyboard button: {actions[1]} is unexpected")
    data = button.get("callback_data")
    if "callback_data" in button and (
        not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64
    ):
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if "url" in button and not (
        isinstance(url, str) and re.match(r"(https?|tg)://[^\s]+$", url, re.IGNORECASE)
    ):
        raise bad_request("BUTTON_URL_INVALID")
