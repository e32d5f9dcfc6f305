"""The Telegram Bot API methods the fake accepts, vendored from the official description.

`telegram_methods.json` next to this module is the output of `extract()` run on
`telegram-bot-api.json` (Bot API 10.1, June 2026) from PaulSonOfLars/telegram-bot-api-spec,
MIT licensed, which is scraped from https://core.telegram.org/bots/api. Only method names and
their parameters' names, types and required flags are kept, so the tests need nothing outside
the repository. A test checks that the extract still matches the shared copy of the spec.

To refresh it after updating the shared spec:

    python -m tests.fakes.telegram_spec ../shared/specs/telegram-bot-api.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypedDict

VENDORED = Path(__file__).with_name("telegram_methods.json")


class Field(TypedDict):
    name: str
    types: list[str]
    required: bool


Methods = dict[str, list[Field]]


def extract(spec_path: Path | str) -> Methods:
    """Method name -> its parameters, in the order the official page lists them."""
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    return {
        name: [
            Field(name=field["name"], types=list(field["types"]), required=bool(field["required"]))
            for field in method.get("fields", [])
        ]
        for name, method in sorted(spec["methods"].items())
    }


def dumps(methods: Methods) -> str:
    """Sorted keys and one parameter per line: small diffs when Telegram adds a parameter."""
    lines = ["{"]
    for index, (name, fields) in enumerate(sorted(methods.items())):
        comma = "," if index < len(methods) - 1 else ""
        if not fields:
            lines.append(f"  {json.dumps(name)}: []{comma}")
            continue
        lines.append(f"  {json.dumps(name)}: [")
        for position, field in enumerate(fields):
            inner = "," if position < len(fields) - 1 else ""
            lines.append(f"    {json.dumps(field, sort_keys=True, ensure_ascii=False)}{inner}")
        lines.append(f"  ]{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def load_methods(path: Path = VENDORED) -> Methods:
    """The vendored extract the fake validates requests against."""
    methods: Methods = json.loads(path.read_text(encoding="utf-8"))
    return methods


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.fakes.telegram_spec PATH/telegram-bot-api.json")
        return 2
    VENDORED.write_text(dumps(extract(argv[0])), encoding="utf-8")
    print(f"wrote {VENDORED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
