"""Block ``CoursewareHub Elasticsearch``: where enriched executions are indexed, and how to log in.

The password and API key are Secret fields an operator fills in the Prefect UI; they are
masked in the UI, in ``repr`` and in logs, and only :meth:`ElasticsearchConnection.get_client`
and the fluentd environment file ever see their values. Every Elasticsearch client of the
project is built here.
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from blocks.credentials import check_credentials
from cwh.defaults import DEFAULT_INDEX_PREFIX, validate_index_prefix
from cwh.setup import EsAuth, normalise_es_url, redact_url


class ElasticsearchConnection(Block):
    """Connection to the Elasticsearch cluster that stores lc_wrapper executions."""

    # Validation errors must not echo field values: some of them are secrets.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "CoursewareHub Elasticsearch"
    _block_type_slug = "cwh-elasticsearch"
    _description = (
        "Elasticsearch cluster for CoursewareHub execution logs: URLs, credentials (secret), "
        "TLS verification and the index prefix."
    )

    urls: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:9200"],
        min_length=1,
        title="URLs",
        description="One or more node URLs, e.g. https://es.example.org:9200.",
    )
    username: str | None = Field(default=None, description="Basic-auth user name.")
    password: SecretStr | None = Field(default=None, description="Basic-auth password.")
    api_key: SecretStr | None = Field(
        default=None,
        title="API key",
        description="Encoded API key (instead of username and password).",
    )
    verify_certs: bool = Field(default=True, description="Verify the server's TLS certificate.")
    ca_certs: str | None = Field(
        default=None,
        title="CA certificates",
        description="Path of a PEM bundle of CAs to trust, on the host that runs the flows.",
    )
    index_prefix: str = Field(
        default=DEFAULT_INDEX_PREFIX,
        description="Executions go to <prefix>-YYYY.MM.DD, dead letters to "
        "<prefix>-deadletter-YYYY.MM.DD.",
    )
    request_timeout: float = Field(default=30.0, gt=0, description="Seconds per request.")

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        return [normalise_es_url(url) for url in urls]

    @field_validator("index_prefix")
    @classmethod
    def _check_prefix(cls, prefix: str) -> str:
        return validate_index_prefix(prefix)

    @model_validator(mode="after")
    def _check_credentials(self) -> ElasticsearchConnection:
        check_credentials(self.username, self.password, self.api_key)
        return self

    @property
    def auth(self) -> EsAuth:
        if self.api_key is not None:
            return EsAuth.API_KEY
        if self.username:
            return EsAuth.BASIC
        return EsAuth.NONE

    @property
    def endpoint(self) -> str:
        """How errors and reports name the cluster (URLs only, never credentials)."""
        return ", ".join(redact_url(url) for url in self.urls)

    def client_options(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments of ``elasticsearch.Elasticsearch`` for this cluster; ``overrides``
        (serializers, timeouts, retries...) replace or add options."""
        options: dict[str, Any] = {
            "hosts": list(self.urls),
            "verify_certs": self.verify_certs,
            "request_timeout": self.request_timeout,
            "retry_on_timeout": False,
            "max_retries": 0,
        }
        if self.ca_certs:
            options["ca_certs"] = self.ca_certs
        if not self.verify_certs:
            options["ssl_show_warn"] = False
        if self.api_key is not None:
            options["api_key"] = self.api_key.get_secret_value()
        elif self.username and self.password is not None:
            options["basic_auth"] = (self.username, self.password.get_secret_value())
        options.update(overrides)
        return options

    def get_client(self, **overrides: Any) -> Any:
        """An official ``elasticsearch.Elasticsearch`` client (the caller closes it).

        By default retries are left to the Prefect tasks so a failure reaches them at once,
        with its cause, instead of after the client's own silent retries; ``overrides`` are
        :meth:`client_options`'.
        """
        from elasticsearch import Elasticsearch

        return Elasticsearch(**self.client_options(**overrides))
