"""PyYAML, quicker at what mockllm loads in bulk (scenario files, cassettes), with the same
results to the last value.

Two costs of PyYAML's loaders grow with every value of a large file: the implicit-tag
lookup that its C composer calls back for each scalar (`resolve`), and the Python
constructor's bookkeeping for each node (state generators, memo, path hooks). `loader()`
gives a loader class whose `resolve` looks tags up in a table made once, and `load()`
builds plain data (strings, lists, mappings) straight from the composed nodes, handing
every other node (numbers, booleans, timestamps, binary, custom tags) to the loader's own
constructor. A document with merge keys, or one the direct build cannot make (an
unhashable key), is built by PyYAML's constructor as before, so that it gives the same
value or the same error.
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

STR_TAG = "tag:yaml.org,2002:str"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
_ODD_KEY_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def loader(base: Any) -> Any:
    """A subclass of the loader class `base` whose tag resolution is a table lookup.

    The same tags as `BaseResolver.resolve` for a loader with no path resolvers (PyYAML's
    safe loaders have none): the implicit resolvers for a plain scalar's first character,
    then the wildcard ones, in the order they were added; else the default tag of the kind.
    """
    table = base.yaml_implicit_resolvers
    wildcard = tuple(table.get(None, ()))
    first = {ch: tuple(found) + wildcard for ch, found in table.items() if ch is not None}
    default_scalar = base.DEFAULT_SCALAR_TAG
    if base.yaml_path_resolvers:  # pragma: no cover - mockllm's loaders have none
        raise ValueError("path resolvers are not looked up by the quick resolver")

    def resolve(self: Any, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                for tag, regexp in first.get(value[:1], wildcard):
                    if regexp.match(value):
                        return tag  # type: ignore[no-any-return]
            return default_scalar  # type: ignore[no-any-return]
        return base.DEFAULT_SEQUENCE_TAG if kind is SequenceNode else base.DEFAULT_MAPPING_TAG  # type: ignore[no-any-return]

    return type(base.__name__, (base,), {"resolve": resolve, "__module__": __name__})


class _Standard(Exception):
    """The document needs PyYAML's own constructor."""


def load(text: str, loader_class: Any) -> Any:
    """`yaml.load(text, Loader=loader_class)`, built directly where the data is plain."""
    reader = loader_class(text)
    try:
        node = reader.get_single_node()
        if node is None:
            return None
        try:
            return _Builder(reader).build(node)
        except (_Standard, TypeError):
            return reader.construct_document(node)
    finally:
        reader.dispose()


class _Builder:
    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.made: dict[Node, Any] = {}  # collections by node: aliases give the same object

    def build(self, node: Node) -> Any:
        cls = node.__class__
        if cls is ScalarNode:
            if node.tag == STR_TAG:
                return node.value
            return self.reader.construct_object(node, deep=True)
        made = self.made.get(node)
        if made is not None:
            return made
        if cls is SequenceNode and node.tag == SEQ_TAG:
            items: list[Any] = []
            self.made[node] = items
            items.extend([self.build(item) for item in node.value])
            return items
        if cls is MappingNode and node.tag == MAP_TAG:
            mapping: dict[Any, Any] = {}
            self.made[node] = mapping
            for key_node, value_node in node.value:
                if key_node.tag in _ODD_KEY_TAGS:
                    raise _Standard
                key = self.build(key_node)
                mapping[key] = self.build(value_node)  # TypeError: unhashable, PyYAML says so
            return mapping
        raise _Standard
