"""Prefect Block types: the inventory of a CoursewareHub and its connections, secrets included."""

from blocks.coursewarehub import CoursewareHub
from blocks.elasticsearch import ElasticsearchConnection
from blocks.kibana import KibanaConnection
from blocks.loading import BlockNotFound, load_block
from blocks.vcp import VcpWorkerUnit

__all__ = [
    "BlockNotFound",
    "CoursewareHub",
    "ElasticsearchConnection",
    "KibanaConnection",
    "VcpWorkerUnit",
    "load_block",
]
