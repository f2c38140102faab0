"""The live path as fluentd runs it: one buffer chunk in, every record stored or retried.

:mod:`deployments.live.delivery` enriches a chunk and stores it with bulk ``create``;
:mod:`deployments.live.elasticsearch_http` is the small standard-library client it uses, so
that a process started per chunk starts in milliseconds.
"""
