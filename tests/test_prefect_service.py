"""The session's Prefect server: its event client leaves the global ``random`` alone."""

import asyncio
import random

import pytest
from prefect.events import Event
from prefect.events.clients import PrefectEventsClient


@pytest.mark.prefect
def test_event_client_pings_do_not_move_the_global_random_state(prefect_api: str) -> None:
    """Pings from a background event client must not disturb Hypothesis' generation."""

    async def connect_emit_and_close() -> None:
        async with PrefectEventsClient(api_url=prefect_api, checkpoint_every=1) as client:
            await client.emit(
                Event(event="cwh.test.ping", resource={"prefect.resource.id": "cwh.test"})
            )

    before = random.getstate()
    asyncio.run(connect_emit_and_close())
    assert random.getstate() == before
