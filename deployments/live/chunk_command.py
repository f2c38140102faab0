"""``cwh enrich --chunk FILE``: deliver one fluentd buffer chunk, log it, count it."""

from __future__ import annotations

import argparse
import logging

from cwh.enrich import Enricher, add_delivery_stats
from deployments.live.delivery import EXIT_CONFIG, EXIT_DELIVERED, EXIT_RETRY, ChunkDelivery
from deployments.live.elasticsearch_http import BulkClient, ElasticsearchConfigError

_log = logging.getLogger("cwh.enrich")


def deliver_chunk(args: argparse.Namespace, enricher: Enricher) -> int:
    try:
        client = BulkClient(
            urls=args.es_urls,
            auth=args.es_auth,
            username=args.es_username,
            ca_file=args.es_ca_file,
            verify=not args.es_no_verify,
            timeout=args.es_timeout,
        )
    except ElasticsearchConfigError as exc:
        _log.error("cannot deliver chunk %s: %s", args.chunk, exc)
        return EXIT_CONFIG
    delivery = ChunkDelivery(
        enricher=enricher,
        client=client,
        index_prefix=args.index_prefix,
        undeliverable=args.undeliverable,
    )
    report = delivery.deliver(args.chunk)
    level = logging.INFO if report.problem is None else logging.WARNING
    _log.log(level, "chunk %s: %s", args.chunk.name, report.describe())
    if args.stats_file is not None:
        try:
            add_delivery_stats(args.stats_file, report.stats)
        except (OSError, ValueError) as exc:
            _log.warning("cannot update delivery stats %s: %s", args.stats_file, exc)
    return EXIT_DELIVERED if report.problem is None else EXIT_RETRY
