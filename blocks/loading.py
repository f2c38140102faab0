"""Loading a saved block by name, with an error that says which block is missing."""

from __future__ import annotations

from typing import TypeVar

from prefect.blocks.core import Block

B = TypeVar("B", bound=Block)


class BlockNotFound(ValueError):
    """A block named as a parameter does not exist (or cannot be read)."""


def load_block(block_type: type[B], name: str) -> B:
    """``Block.load`` with an error that says which block is missing."""
    type_name = block_type.get_block_type_name()
    try:
        block = block_type.load(name)
    except ValueError as exc:
        raise BlockNotFound(f"{type_name} block {name!r} cannot be loaded: {exc}") from None
    if not isinstance(block, block_type):
        raise BlockNotFound(f"block {name!r} is not a {type_name} block")
    return block
