"""The Slack Web API methods the fake accepts, vendored from the official description.

`slack_methods.json` next to this module is the output of `extract()` run on
`slack_web_openapi_v2_without_examples.json` (OpenAPI 2, version 1.7.0, 2021) from
slackapi/slack-api-specs, MIT licensed. Only each method's HTTP verb and its parameters'
names and required flags are kept, so the tests need nothing outside the repository. A test
checks that the extract still matches the shared copy of the spec.

The spec is from 2021. Methods and parameters that the real slack-sdk uses but the spec
lacks are added by hand in ADDITIONS below, each with the reason, so the vendored file says
plainly which part is official and which is ours.

A method needs a token exactly when the spec lists a "token" parameter. Slack takes the
token from the Authorization header ("Bearer xoxb-...") or from a "token" parameter, so the
fake checks the token apart from the other parameters and ignores its "required" flag.

To refresh it after updating the shared spec:

    python -m tests.fakes.slack_spec ../shared/specs/slack-web-api-openapi-v2.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypedDict

VENDORED = Path(__file__).with_name("slack_methods.json")


class Param(TypedDict):
    name: str
    required: bool


class Method(TypedDict):
    http_method: str  # the verb the spec documents; Slack itself takes GET or POST for all
    params: list[Param]


Methods = dict[str, Method]

# Methods and parameters missing from the 2021 spec that the bot's SDK really sends.
# Each entry: method -> (verb, [(parameter, required)]). A method already in the spec gets
# the parameters appended; a new method is added whole.
ADDITIONS: dict[str, tuple[str, list[tuple[str, bool]]]] = {
    # Socket Mode: slack-sdk's SocketModeClient asks for a WebSocket URL with an app-level
    # token (xapp-...). Documented at https://api.slack.com/methods/apps.connections.open;
    # it has no parameters besides the token.
    "apps.connections.open": ("post", [("token", True)]),
    # chat.postMessage and chat.postEphemeral gained `markdown_text` (2025) and
    # chat.postMessage `metadata` (2022); slack-sdk sends them only when the caller does.
    "chat.postMessage": ("post", [("markdown_text", False), ("metadata", False)]),
    "chat.postEphemeral": ("post", [("markdown_text", False)]),
    # chat.update gained `metadata`, `file_ids` and `reply_broadcast` after 2021.
    "chat.update": ("post", [("metadata", False), ("file_ids", False), ("reply_broadcast", False)]),
    # Uploads since files.upload was retired (2024-25): slack-sdk's files_upload_v2 asks for
    # an upload URL, POSTs the bytes there, then completes the upload. Documented at
    # https://docs.slack.dev/reference/methods/files.getUploadURLExternal and
    # https://docs.slack.dev/reference/methods/files.completeUploadExternal
    "files.getUploadURLExternal": (
        "post",
        [
            ("token", True),
            ("filename", True),
            ("length", True),
            ("alt_txt", False),
            ("snippet_type", False),
        ],
    ),
    "files.completeUploadExternal": (
        "post",
        [
            ("token", True),
            ("files", True),
            ("channel_id", False),
            ("channels", False),
            ("initial_comment", False),
            ("thread_ts", False),
            ("blocks", False),
        ],
    ),
}


def extract(spec_path: Path | str) -> Methods:
    """Method name -> its verb and parameters (in the spec's order), plus ADDITIONS."""
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    methods: Methods = {}
    for path, operations in spec["paths"].items():
        for verb, operation in operations.items():
            methods[path.lstrip("/")] = Method(
                http_method=verb,
                params=[
                    Param(name=param["name"], required=bool(param.get("required", False)))
                    for param in operation.get("parameters", [])
                ],
            )
    for name, (verb, extra) in ADDITIONS.items():
        method = methods.setdefault(name, Method(http_method=verb, params=[]))
        known = {param["name"] for param in method["params"]}
        method["params"].extend(
            Param(name=param, required=required) for param, required in extra if param not in known
        )
    return dict(sorted(methods.items()))


def dumps(methods: Methods) -> str:
    """Sorted keys and one parameter per line: small diffs when Slack adds a parameter."""
    lines = ["{"]
    for index, (name, method) in enumerate(sorted(methods.items())):
        comma = "," if index < len(methods) - 1 else ""
        lines.append(f"  {json.dumps(name)}: {{")
        lines.append(f'    "http_method": {json.dumps(method["http_method"])},')
        params = method["params"]
        if not params:
            lines.append('    "params": []')
        else:
            lines.append('    "params": [')
            for position, param in enumerate(params):
                inner = "," if position < len(params) - 1 else ""
                lines.append(f"      {json.dumps(param, sort_keys=True)}{inner}")
            lines.append("    ]")
        lines.append(f"  }}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def load_methods(path: Path = VENDORED) -> Methods:
    """The vendored extract the fake validates requests against."""
    methods: Methods = json.loads(path.read_text(encoding="utf-8"))
    return methods


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.fakes.slack_spec PATH/slack-web-api-openapi-v2.json")
        return 2
    VENDORED.write_text(dumps(extract(argv[0])), encoding="utf-8")
    print(f"wrote {VENDORED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
