"""Which language a flow run speaks: its own setting, else its CoursewareHub's, else the host's.

A hub's operators set ``language: ja`` once on the CoursewareHub block; every flow given that
block then writes its artifacts in Japanese without a ``language`` parameter on each
deployment. The order is: the flow's ``language`` parameter, else the block's ``language``
field, else ``CWH_LANGUAGE``, else English (:func:`cwh.messages.language_setting`).
"""

from __future__ import annotations

from blocks import CoursewareHub
from blocks.loading import load_block
from cwh.messages import Language, language_setting, parse_language


def flow_language(explicit: str | None, block: CoursewareHub | None) -> Language:
    """The language of a run given its ``language`` parameter and its loaded block (if any)."""
    if explicit is not None and explicit.strip():
        return parse_language(explicit)
    return language_setting(block.language if block is not None else None)


def named_block_language(explicit: str | None, block_name: str | None) -> Language:
    """:func:`flow_language` for a flow that only names its CoursewareHub block: the block is
    loaded only when no ``language`` is given and a block is named (no server call otherwise)."""
    if (explicit is not None and explicit.strip()) or not block_name:
        return flow_language(explicit, None)
    return flow_language(None, load_block(CoursewareHub, block_name))
