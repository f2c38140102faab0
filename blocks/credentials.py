"""Rules shared by the blocks that log in to a service with a password or an API key."""

from __future__ import annotations

from pydantic import SecretStr


def check_credentials(
    username: str | None, password: SecretStr | None, api_key: SecretStr | None
) -> None:
    """Either an API key, or a username and password together, or nothing at all."""
    if api_key is not None and (username or password):
        raise ValueError("give either an API key or username and password, not both")
    if bool(username) != (password is not None):
        raise ValueError("username and password must be given together")
