"""Telegram's text formatting, as the fake checks it: HTML, MarkdownV2 and legacy Markdown
parsed into plain text plus `MessageEntity` dicts, with offsets in UTF-16 code units.

Error texts follow Telegram's ("Can't find end tag corresponding to start tag "b"", "Character
'.' is reserved and must be escaped with the preceding '\\'"). The fake is stricter than
Telegram in one place on purpose: a bare "&" or ">" in HTML is refused (Telegram lets some
through), because the bot must escape user text and a test should catch it when it doesn't.
Telegram's rules on which entity kinds may contain which are not enforced; Telegram itself
quietly drops such entities instead of refusing the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]


class EntityError(ValueError):
    """The text cannot be parsed; the message is Telegram's reason after "can't parse
    entities: "."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Builder:
    """Plain text being built, with entity offsets counted in UTF-16 code units."""

    parts: list[str] = field(default_factory=list)
    offset: int = 0
    entities: list[Entity] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.offset += utf16_len(text)

    def entity(self, start: int, kind: str, **extra: Any) -> None:
        if self.offset > start:
            self.entities.append({"type": kind, "offset": start, "length": self.offset - start})
            self.entities[-1].update(extra)

    def result(self) -> tuple[str, list[Entity]]:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ordered


# --- HTML -------------------------------------------------------------------------------

_HTML_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_ATTRIBUTE = re.compile(r"([A-Za-z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")
_HTML_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot);|#([0-9]{1,7});|#[xX]([0-9a-fA-F]{1,6});)")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass
class _Open:
    tag: str
    start: int
    byte_offset: int
    extra: dict[str, Any]


def _html_attributes(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw):
        value = next((v for v in match.group(2, 3, 4) if v is not None), "")
        found[match.group(1).lower()] = _unescape_attribute(value)
    return found


def _unescape_attribute(value: str) -> str:
    return _HTML_ENTITY.sub(lambda m: _decode_html_entity(m), value)


def _decode_html_entity(match: re.Match[str]) -> str:
    if match.group(1):
        return _NAMED[match.group(1)]
    code = int(match.group(2)) if match.group(2) else int(match.group(3), 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _html_open_extra(tag: str, attributes: dict[str, str], where: int) -> dict[str, Any]:
    if tag == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {where}')
    if tag == "a":
        if not attributes.get("href"):
            raise EntityError(f'Tag "a" must have attribute "href" at byte offset {where}')
        return {"url": attributes["href"]}
    if tag == "tg-emoji":
        if not attributes.get("emoji-id"):
            raise EntityError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {where}'
            )
        return {"custom_emoji_id": attributes["emoji-id"]}
    if tag == "code" and attributes.get("class", "").startswith("language-"):
        return {"language": attributes["class"].removeprefix("language-")}
    if tag == "blockquote" and "expandable" in attributes:
        return {"expandable": True}
    return {}


def parse_html(source: str) -> tuple[str, list[Entity]]:
    out = _Builder()
    stack: list[_Open] = []
    index = 0
    while index < len(source):
        char = source[index]
        where = _byte_offset(source, index)
        if char == "<":
            match = _TAG.match(source, index)
            if match is None:
                if source.find(">", index) < 0:
                    raise EntityError(f"Unclosed start tag at byte offset {where}")
                raise EntityError(f"Unsupported start tag at byte offset {where}")
            closing, tag = match.group(1) == "/", match.group(2).lower()
            if tag not in _HTML_KINDS:
                kind = "end" if closing else "start"
                raise EntityError(f'Unsupported {kind} tag "{tag}" at byte offset {where}')
            if closing:
                if not stack:
                    raise EntityError(f"Unexpected end tag at byte offset {where}")
                opened = stack.pop()
                if opened.tag != tag:
                    raise EntityError(
                        f'Unmatched end tag at byte offset {where}, expected "</{opened.tag}>", '
                        f'found "</{tag}>"'
                    )
                _close_html(out, opened, stack)
            else:
                extra = _html_open_extra(tag, _html_attributes(match.group(3)), where)
                stack.append(_Open(tag, out.offset, where, extra))
            index = match.end()
        elif char == "&":
            match = _HTML_ENTITY.match(source, index)
            if match is None:
                raise EntityError(
                    f'Character "&" must be escaped as "&amp;" at byte offset {where} '
                    "(the fake is stricter than Telegram here)"
                )
            out.add(_decode_html_entity(match))
            index = match.end()
        elif char == ">":
            raise EntityError(
                f'Character ">" must be escaped as "&gt;" at byte offset {where} '
                "(the fake is stricter than Telegram here)"
            )
        else:
            out.add(char)
            index += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return out.result()


def _close_html(out: _Builder, opened: _Open, stack: list[_Open]) -> None:
    kind = _HTML_KINDS[opened.tag]
    extra = dict(opened.extra)
    if kind == "code" and stack and stack[-1].tag == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        if "language" in extra:
            stack[-1].extra["language"] = extra["language"]
        return
    if kind == "code":
        extra.pop("language", None)  # a language only counts inside <pre>
    if kind == "blockquote" and extra.pop("expandable", False):
        kind = "expandable_blockquote"
    out.entity(opened.start, kind, **extra)


# --- MarkdownV2 -------------------------------------------------------------------------

_RESERVED_V2 = set("_*[]()~`>#+-=|{}.!")
_V2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_V2_MARKERS = (
    ("__", "underline"),
    ("||", "spoiler"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
)


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    out = _Builder()
    stack: list[_Open] = []
    quote: _Open | None = None
    index = 0
    while index < len(source):
        where = _byte_offset(source, index)
        if index == 0 or source[index - 1] == "\n":
            quote, index = _v2_line_start(source, index, out, quote)
            if index >= len(source):
                break
        char = source[index]
        if char == "\\":
            if index + 1 < len(source) and 0 < ord(source[index + 1]) < 127:
                out.add(source[index + 1])
                index += 2
                continue
            raise EntityError(
                "Character '\\' is reserved and must be escaped with the preceding '\\'"
            )
        if char == "`":
            index = _v2_code(source, index, out)
            continue
        if (
            quote is not None
            and quote.tag == "expandable_blockquote"
            and source.startswith("||", index)
            and source[index + 2 : index + 3] in ("", "\n")
        ):
            out.entity(quote.start, quote.tag)
            quote = None
            index += 2
            continue
        marker = next(((m, k) for m, k in _V2_MARKERS if source.startswith(m, index)), None)
        if marker is not None:
            _v2_toggle(stack, marker[1], out, where)
            index += len(marker[0])
        elif char == "[" or (char == "!" and source.startswith("![", index)):
            kind = "custom_emoji" if char == "!" else "text_link"
            stack.append(_Open(kind, out.offset, where, {}))
            index += 2 if char == "!" else 1
        elif char == "]" and stack and stack[-1].tag in ("text_link", "custom_emoji"):
            index = _v2_link_end(source, index, out, stack.pop())
        elif char in _RESERVED_V2:
            raise EntityError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            out.add(char)
            index += 1
    if stack:
        opened = stack[-1]
        raise EntityError(
            f"Can't find end of {_V2_NAMES[opened.tag]} entity at byte offset {opened.byte_offset}"
        )
    if quote is not None:
        out.entity(quote.start, quote.tag)
    return out.result()


def _v2_line_start(
    source: str, index: int, out: _Builder, quote: _Open | None
) -> tuple[_Open | None, int]:
    """Lines starting with ">" form a block quotation; "**>" starts an expandable one."""
    expandable = source.startswith("**>", index)
    if expandable or source.startswith(">", index):
        if quote is None:
            kind = "expandable_blockquote" if expandable else "blockquote"
            quote = _Open(kind, out.offset, _byte_offset(source, index), {})
        return quote, index + (3 if expandable else 1)
    if quote is not None:
        # The quotation ends with the previous line, not with its line break.
        out.offset -= 1
        out.entity(quote.start, quote.tag)
        out.offset += 1
    return None, index


def _v2_toggle(stack: list[_Open], kind: str, out: _Builder, where: int) -> None:
    if stack and stack[-1].tag == kind:
        opened = stack.pop()
        out.entity(opened.start, kind)
    elif any(opened.tag == kind for opened in stack):
        inner = stack[-1]
        raise EntityError(
            f"Can't find end of {_V2_NAMES[inner.tag]} entity at byte offset {inner.byte_offset}"
        )
    else:
        stack.append(_Open(kind, out.offset, where, {}))


def _v2_code(source: str, index: int, out: _Builder) -> int:
    """`code` or ```language\\npre```; inside, only "`" and "\\" are escaped."""
    pre = source.startswith("```", index)
    where = _byte_offset(source, index)
    fence = "```" if pre else "`"
    position = index + len(fence)
    language = ""
    if pre:
        line_end = source.find("\n", position)
        first_line = source[position:line_end] if line_end >= 0 else ""
        if line_end >= 0 and first_line and not any(c in first_line for c in "`\\ "):
            language, position = first_line, line_end + 1
    start = out.offset
    while position < len(source):
        if source.startswith(fence, position) or (not pre and source[position] == "`"):
            extra = {"language": language} if language else {}
            out.entity(start, "pre" if pre else "code", **extra)
            return position + len(fence)
        if source[position] == "\\" and source[position + 1 : position + 2] in ("`", "\\"):
            position += 1
        out.add(source[position])
        position += 1
    raise EntityError(f"Can't find end of {'Pre' if pre else 'Code'} entity at byte offset {where}")


def _v2_link_end(source: str, index: int, out: _Builder, opened: _Open) -> int:
    """After "]": "(url)" with ")" and "\\" escaped inside; a bare [text] links to its text."""
    position = index + 1
    if not source.startswith("(", position):
        encoded = "".join(out.parts).encode("utf-16-le")
        out.entity(opened.start, opened.tag, url=encoded[opened.start * 2 :].decode("utf-16-le"))
        return position
    url: list[str] = []
    position += 1
    while position < len(source) and source[position] != ")":
        if source[position] == "\\" and position + 1 < len(source):
            position += 1
        url.append(source[position])
        position += 1
    if position >= len(source):
        raise EntityError(f"Can't find end of a URL at byte offset {_byte_offset(source, index)}")
    target = "".join(url)
    if opened.tag == "custom_emoji":
        emoji_id = target.removeprefix("tg://emoji?id=")
        out.entity(opened.start, "custom_emoji", custom_emoji_id=emoji_id)
    else:
        out.entity(opened.start, "text_link", url=target)
    return position + 1


# --- legacy Markdown --------------------------------------------------------------------

_LEGACY = {"*": "bold", "_": "italic"}


def parse_markdown(source: str) -> tuple[str, list[Entity]]:
    """Telegram's old Markdown: no nesting; "\\" escapes only _ * ` [ outside entities."""
    out = _Builder()
    index = 0
    while index < len(source):
        char = source[index]
        where = _byte_offset(source, index)
        if char == "\\" and source[index + 1 : index + 2] in ("_", "*", "`", "["):
            out.add(source[index + 1])
            index += 2
            continue
        fence = "```" if source.startswith("```", index) else char
        if char in ("*", "_", "`", "["):
            closer = "]" if char == "[" else fence
            end = source.find(closer, index + len(fence))
            if end < 0:
                raise EntityError(f"Can't find end of the entity starting at byte offset {where}")
            start = out.offset
            out.add(source[index + len(fence) : end])
            index = end + len(closer)
            if char == "[":
                url_end = source.find(")", index) if source.startswith("(", index) else -1
                if url_end < 0:
                    raise EntityError(
                        f"Can't find end of the entity starting at byte offset {where}"
                    )
                out.entity(start, "text_link", url=source[index + 1 : url_end])
                index = url_end + 1
            else:
                kind = _LEGACY.get(char, "pre" if fence == "```" else "code")
                out.entity(start, kind)
            continue
        out.add(char)
        index += 1
    return out.result()


PARSERS = {"html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown}

_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def command_entities(text: str) -> list[Entity]:
    """The bot_command entities Telegram adds to a user's text; PTB's CommandHandler needs
    them, so a fake update without them would never reach a command handler."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group()),
        }
        for m in _COMMAND.finditer(text)
    ]
