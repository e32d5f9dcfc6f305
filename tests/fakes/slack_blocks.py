"""Block Kit checks: what Slack enforces on `blocks`, for the block types the bot uses.

Slack answers a message (or a view) whose blocks break a rule with `invalid_blocks` and
one line per problem in `response_metadata.messages`, such as

    [ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]

`problems()` returns those lines; an empty list means the blocks are accepted.

Checked: the number of blocks (50 in a message, 100 in a view), the known block types
(section, actions, context, header, divider, input, rich_text), the properties each may
have, text objects (mrkdwn or plain_text, not empty, at most 3000 characters; a header is
plain_text of at most 150), section fields (at most 10 of at most 2000 characters),
context elements (1 to 10), buttons (plain_text of at most 75 characters, action_id of at
most 255 and unique within the blocks, value of at most 2000, style primary or danger),
at most 25 elements in an actions block, block_id of at most 255 and unique.

Where this differs from Slack on purpose: other block types (image, video, file, markdown,
...) and interactive elements other than buttons are refused as unsupported by the fake,
so a test cannot pass with blocks nobody checked; input blocks' elements and rich_text
contents are only checked for being objects.
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100

_BLOCK_PROPERTIES: dict[str, set[str]] = {
    "section": {"type", "block_id", "text", "fields", "accessory", "expand"},
    "actions": {"type", "block_id", "elements"},
    "context": {"type", "block_id", "elements"},
    "header": {"type", "block_id", "text"},
    "divider": {"type", "block_id"},
    "input": {"type", "block_id", "label", "element", "dispatch_action", "hint", "optional"},
    "rich_text": {"type", "block_id", "elements"},
}
_TEXT_PROPERTIES = {
    "plain_text": {"type", "text", "emoji"},
    "mrkdwn": {"type", "text", "verbatim"},
}
_BUTTON_PROPERTIES = {
    "type",
    "text",
    "action_id",
    "url",
    "value",
    "style",
    "confirm",
    "accessibility_label",
}
_IMAGE_PROPERTIES = {"type", "image_url", "alt_text", "slack_file"}


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.block_ids: set[str] = set()
        self.action_ids: set[str] = set()

    def error(self, pointer: str, message: str) -> None:
        self.problems.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def properties(self, pointer: str, value: dict[str, Any], allowed: set[str]) -> None:
        for name in value:
            if name not in allowed:
                self.error(f"{pointer}/{name}", "invalid additional property: " + name)

    def string(self, pointer: str, value: Any, limit: int, *, empty: bool = False) -> bool:
        if not isinstance(value, str):
            self.error(pointer, "must provide a string")
            return False
        if len(value) > limit:
            self.error(pointer, f"must be less than {limit + 1} characters")
            return False
        if not value and not empty:
            self.error(pointer, "must be more than 0 characters")
            return False
        return True

    def text(
        self,
        pointer: str,
        value: Any,
        limit: int,
        types: tuple[str, ...] = ("plain_text", "mrkdwn"),
    ) -> None:
        if not isinstance(value, dict):
            self.error(pointer, "must provide an object")
            return
        kind = value.get("type")
        if kind not in types:
            self.error(f"{pointer}/type", f"must be one of: {', '.join(types)}")
            return
        self.properties(pointer, value, _TEXT_PROPERTIES[kind])
        self.string(f"{pointer}/text", value.get("text"), limit)

    def unique(self, pointer: str, value: Any, seen: set[str], what: str) -> None:
        if self.string(pointer, value, 255):
            if value in seen:
                self.error(pointer, f"{what} already exists: {value}")
            seen.add(value)

    def button(self, pointer: str, element: dict[str, Any]) -> None:
        self.properties(pointer, element, _BUTTON_PROPERTIES)
        self.text(f"{pointer}/text", element.get("text"), 75, ("plain_text",))
        if "action_id" in element:
            self.unique(f"{pointer}/action_id", element["action_id"], self.action_ids, "action_id")
        if "value" in element:
            self.string(f"{pointer}/value", element["value"], 2000)
        if "url" in element:
            self.string(f"{pointer}/url", element["url"], 3000)
        if "style" in element and element["style"] not in ("primary", "danger"):
            self.error(f"{pointer}/style", "must be one of: primary, danger")

    def element(self, pointer: str, element: Any) -> None:
        if not isinstance(element, dict):
            self.error(pointer, "must provide an object")
        elif element.get("type") == "button":
            self.button(pointer, element)
        else:
            self.error(f"{pointer}/type", f"unsupported by the fake: {element.get('type')!r}")

    def elements(self, pointer: str, value: Any, limit: int) -> list[Any]:
        if not isinstance(value, list):
            self.error(pointer, "must provide an array")
            return []
        if not value:
            self.error(pointer, "must provide at least 1 items")
        if len(value) > limit:
            self.error(pointer, f"no more than {limit} items allowed")
        return value

    def block(self, pointer: str, block: Any) -> None:
        if not isinstance(block, dict):
            self.error(pointer, "must provide an object")
            return
        kind = block.get("type")
        if kind not in _BLOCK_PROPERTIES:
            self.error(f"{pointer}/type", f"unsupported type: {kind}")
            return
        self.properties(pointer, block, _BLOCK_PROPERTIES[kind])
        if "block_id" in block:
            self.unique(f"{pointer}/block_id", block["block_id"], self.block_ids, "block_id")
        if kind == "section":
            self.section(pointer, block)
        elif kind == "header":
            self.text(f"{pointer}/text", block.get("text"), 150, ("plain_text",))
        elif kind == "context":
            for index, item in enumerate(
                self.elements(f"{pointer}/elements", block.get("elements"), 10)
            ):
                here = f"{pointer}/elements/{index}"
                if isinstance(item, dict) and item.get("type") == "image":
                    self.properties(here, item, _IMAGE_PROPERTIES)
                else:
                    self.text(here, item, 3000)
        elif kind == "actions":
            for index, item in enumerate(
                self.elements(f"{pointer}/elements", block.get("elements"), 25)
            ):
                self.element(f"{pointer}/elements/{index}", item)
        elif kind == "input":
            self.text(f"{pointer}/label", block.get("label"), 2000, ("plain_text",))
            if not isinstance(block.get("element"), dict):
                self.error(f"{pointer}/element", "must provide an object")
        elif kind == "rich_text":
            for index, item in enumerate(
                self.elements(f"{pointer}/elements", block.get("elements"), 1000)
            ):
                if not isinstance(item, dict):
                    self.error(f"{pointer}/elements/{index}", "must provide an object")

    def section(self, pointer: str, block: dict[str, Any]) -> None:
        if "text" not in block and "fields" not in block:
            self.error(pointer, "must contain either text or fields")
        if "text" in block:
            self.text(f"{pointer}/text", block["text"], 3000)
        if "fields" in block:
            for index, item in enumerate(self.elements(f"{pointer}/fields", block["fields"], 10)):
                self.text(f"{pointer}/fields/{index}", item, 2000)
        if "accessory" in block:
            self.element(f"{pointer}/accessory", block["accessory"])


def problems(blocks: Any, *, limit: int = MESSAGE_BLOCKS, pointer: str = "/blocks") -> list[str]:
    """Slack's `response_metadata.messages` lines for these blocks; [] when they are fine."""
    checker = _Checker()
    if not isinstance(blocks, list):
        checker.error(pointer, "must provide an array")
        return checker.problems
    if len(blocks) > limit:
        checker.error(pointer, f"no more than {limit} items allowed")
    for index, block in enumerate(blocks):
        checker.block(f"{pointer}/{index}", block)
    return checker.problems
