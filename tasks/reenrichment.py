"""Re-enrichment tasks: read the new textbook index, bring the store in line with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import task

from cwh.enrich import MemeIndex
from cwh.messages import Language, text
from tasks.common import retrying
from tasks.store import StoreConfig
from tasks.stores import open_store


class IndexUnusable(RuntimeError):
    """The index file is missing or incomplete; nothing was changed."""


@task(name="load-meme-index", **retrying(retries=3, delay=2))
def load_meme_index(index: str) -> MemeIndex:
    path = Path(index)
    try:
        return MemeIndex.from_csv_text(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexUnusable(f"MEME index {path} does not exist") from None
    except ValueError as exc:
        raise IndexUnusable(f"MEME index {path} is not usable: {exc}") from exc


@dataclass(frozen=True)
class Reenriched:
    """What a re-enrichment changed, and where."""

    changed: int
    store: str


@task(name="reenrich-store", **retrying(retries=2, delay=10))
def reenrich_store(config: StoreConfig, index: MemeIndex) -> Reenriched:
    """Re-enrich the configured store; retried, since a repeat only redoes what is left."""
    store = open_store(config)
    try:
        return Reenriched(store.reenrich(index), store.describe())
    finally:
        store.close()


def summary_markdown(
    index: str, meme_index: MemeIndex, done: Reenriched, language: Language
) -> str:
    """The run's summary artifact, in ``language`` (``backfill.reenrich.*`` messages)."""
    source = text(
        "backfill.reenrich.index",
        language,
        index=index,
        questions=len(meme_index),
        notebooks=meme_index.notebook_count,
    )
    return (
        f"## {text('backfill.reenrich.title', language)}\n\n"
        f"- {source}\n"
        f"- {text('backfill.reenrich.store', language, store=done.store)}\n"
        f"- {text('backfill.reenrich.changed', language, changed=done.changed)}\n"
    )
