"""YAML that remembers where things were written.

Dialogue authors and operators edit YAML by hand, so every problem we report
names `file:line`. PyYAML's composer gives us nodes with positions; we turn them
into plain Python data plus a table from each key path to its line. Duplicate
keys, which PyYAML would silently let the last one win, are reported too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class YamlError(Exception):
    """The file could not be read as YAML at all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


@dataclass(slots=True)
class Located:
    """Plain data from a YAML file and the line of every key and item in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[Problem] = field(default_factory=list)

    def line_of(self, path: Sequence[str | int]) -> int:
        """The line of the deepest part of `path` we know, or 1."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), 1)


def load_text(text: str, file: str) -> Located:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = error.problem or error.context or "not valid YAML"
        raise YamlError([Problem(file, line, f"not valid YAML: {reason}")]) from None
    except yaml.YAMLError as error:
        raise YamlError([Problem(file, 1, f"not valid YAML: {error}")]) from None
    located = Located(file=file, data=None)
    if root is None:
        return located
    located.lines[()] = root.start_mark.line + 1
    located.data = _convert(root, (), located)
    return located


def load_file(path: Path) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise YamlError([Problem(str(path), 1, "not UTF-8 text")]) from None
    except OSError as error:
        raise YamlError([Problem(str(path), 1, f"cannot read: {error.strerror}")]) from None
    return load_text(text, str(path))


def _convert(node: yaml.Node, path: Path_, located: Located) -> Any:
    located.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            key_path = (*path, str(key))
            line = key_node.start_mark.line + 1
            if key in result:
                located.duplicates.append(
                    Problem(located.file, line, f"'{key}' is written twice here")
                )
                continue
            located.lines[key_path] = line
            result[key] = _convert(value_node, key_path, located)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            item_path = (*path, index)
            located.lines[item_path] = item.start_mark.line + 1
            items.append(_convert(item, item_path, located))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        # A list or mapping used as a key; keep a readable stand-in so validation can report it.
        kind = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
        return f"<a {kind} at line {node.start_mark.line + 1}>"
    if node.tag == "tag:yaml.org,2002:bool":
        # Keep `no`, `yes`, `off` as written: a label "No" must stay text, and where a
        # true/false is wanted the validator reads these words as booleans anyway.
        return node.value
    constructor = yaml.SafeLoader(" ")
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value
    finally:
        constructor.dispose()


def validation_problems(error: Any, located: Located) -> list[Problem]:
    """Turn a pydantic ValidationError into `file:line: message` problems."""
    problems = []
    errors = error.errors()
    deeper = {tuple(item["loc"][:-1]) for item in errors if len(item["loc"]) > 1}
    for item in errors:
        if item["type"] == "too_short" and any(
            loc[: len(item["loc"])] == tuple(item["loc"]) for loc in deeper
        ):
            continue  # pydantic's echo of an invalid item inside this list; already reported
        loc = tuple(part for part in item["loc"] if not isinstance(part, str) or part != "__root__")
        where = ".".join(str(part) for part in loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'" if loc else "unknown key"
            line = located.line_of(loc)
        elif kind == "missing":
            message = f"'{loc[-1]}' is missing" if loc else "a required key is missing"
            line = located.line_of(loc[:-1])
        else:
            reason = str(item["msg"]).removeprefix("Value error, ")
            message = f"{where}: {reason}" if where else reason
            line = located.line_of(loc)
        problems.append(Problem(located.file, line, message))
    return problems
