"""Block ``CoursewareHub Kibana``: the Kibana that shows teachers the progress dashboards."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from blocks.credentials import check_credentials
from cwh.setup import redact_url

DEFAULT_SPACE = "default"
_SPACE_RE = re.compile(r"^[a-z0-9_-]+$")


class KibanaConnection(Block):
    """Kibana URL, credentials (secret), space and the data view name setup creates."""

    # Validation errors must not echo field values: some of them are secrets.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "CoursewareHub Kibana"
    _block_type_slug = "cwh-kibana"
    _description = (
        "Kibana for CoursewareHub dashboards: URL, credentials (secret), space and data view name."
    )

    url: str = Field(
        default="http://127.0.0.1:5601",
        title="URL",
        description="Kibana base URL (with its base path, if any), e.g. https://kibana.example.org.",
    )
    username: str | None = Field(default=None, description="Basic-auth user name.")
    password: SecretStr | None = Field(default=None, description="Basic-auth password.")
    api_key: SecretStr | None = Field(
        default=None, title="API key", description="Encoded API key (instead of a password)."
    )
    space: str = Field(
        default=DEFAULT_SPACE, description="Kibana space for the data view and the dashboard."
    )
    data_view_name: str = Field(
        default="CoursewareHub LC_wrapper log", description="Display name of the data view."
    )
    verify_certs: bool = Field(default=True, description="Verify Kibana's TLS certificate.")
    ca_certs: str | None = Field(
        default=None, title="CA certificates", description="PEM bundle of CAs to trust."
    )
    request_timeout: float = Field(default=30.0, gt=0, description="Seconds per request.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        shown = redact_url(url)
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as exc:
            raise ValueError(f"Kibana URL {shown!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Kibana URL {shown!r} must be http(s)://host[:port][/base-path]")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("Kibana URL must not carry credentials, a query or a fragment")
        return url.strip().rstrip("/")

    @field_validator("space")
    @classmethod
    def _check_space(cls, space: str) -> str:
        if not _SPACE_RE.match(space):
            raise ValueError(f"space id {space!r} may hold only a-z, 0-9, '_' and '-'")
        return space

    @model_validator(mode="after")
    def _check_credentials(self) -> KibanaConnection:
        check_credentials(self.username, self.password, self.api_key)
        return self

    @property
    def space_url(self) -> str:
        """Base URL of the configured space (no prefix for the default space)."""
        if self.space == DEFAULT_SPACE:
            return self.url
        return f"{self.url}/s/{self.space}"

    def authorization(self) -> str | None:
        """The ``Authorization`` header value, or None for an open Kibana."""
        import base64

        if self.api_key is not None:
            return f"ApiKey {self.api_key.get_secret_value()}"
        if self.username and self.password is not None:
            pair = f"{self.username}:{self.password.get_secret_value()}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None
