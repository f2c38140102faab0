"""Prefect Block types: the inventory of a CoursewareHub and its connections, secrets included."""

from blocks.coursewarehub import CoursewareHub
from blocks.elasticsearch import ElasticsearchConnection
from blocks.kibana import KibanaConnection
from blocks.vcp import VcpWorkerUnit

__all__ = ["CoursewareHub", "ElasticsearchConnection", "KibanaConnection", "VcpWorkerUnit"]
