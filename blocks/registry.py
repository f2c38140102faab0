"""Every block type of the project, registered with a Prefect server in one call.

The Blocks catalog of the Prefect UI only offers types the server knows, so ``cwh blocks
register`` (and ``cwh demo``) register them all; registering again updates their schemas
in place. :func:`save_demo_blocks` saves one document of each, named ``demo``, whose values
are plainly fictitious (documentation addresses, ``demo-...`` tokens): the demo shows what
an operator fills in without ever holding a real secret.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import SecretStr

from blocks.coursewarehub import CoursewareHub
from blocks.elasticsearch import ElasticsearchConnection
from blocks.kibana import KibanaConnection
from blocks.vcp import VcpWorkerUnit

BLOCK_TYPES: tuple[type[Block], ...] = (
    CoursewareHub,
    ElasticsearchConnection,
    KibanaConnection,
    VcpWorkerUnit,
)
DEMO_BLOCK_NAME = "demo"


def register_block_types() -> list[str]:
    """Register (or update) every block type of :data:`BLOCK_TYPES`; their slugs."""
    for block_type in BLOCK_TYPES:
        block_type.register_type_and_schema()
    return [block_type.get_block_type_slug() for block_type in BLOCK_TYPES]


def demo_blocks(language: str = "en") -> list[Block]:
    """One fictitious document per block type (no real host, no real secret)."""
    return [
        CoursewareHub(manager_address="192.0.2.10", language=language),
        ElasticsearchConnection(urls=["http://127.0.0.1:9200"]),
        KibanaConnection(url="http://127.0.0.1:5601"),
        VcpWorkerUnit(
            ugroup="demo-unit-group",
            unit="worker",
            vcc_access_token=SecretStr("demo-token-not-a-secret"),
            supports_power=True,
        ),
    ]


def save_demo_blocks(language: str = "en", name: str = DEMO_BLOCK_NAME) -> list[str]:
    """Save :func:`demo_blocks` as ``name`` (overwriting earlier demo documents)."""
    saved = []
    for block in demo_blocks(language):
        block.save(name, overwrite=True)
        saved.append(f"{block.get_block_type_slug()}/{name}")
    return saved
