"""YAML with line numbers: values as plain Python data, plus the line each key and item came from.

Validation errors must name the line an operator has to edit, and PyYAML only keeps marks on its
node graph, so we build the data from the nodes ourselves.
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def load_with_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse one YAML document. Returns (data, {path: 1-based line}); the root path is ()."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise YamlError(mark.line + 1 if mark else 0, str(exc.problem or exc)) from None
        lines: dict[Path, int] = {}
        if root is None:
            return None, {(): 1}
        return _build(loader, root, (), lines), lines
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise YamlError(key_node.start_mark.line + 1, "keys must be plain words")
            if key in out:
                raise YamlError(key_node.start_mark.line + 1, f"key {key!r} appears twice")
            out[key] = _build(loader, value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
