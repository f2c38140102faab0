"""Send records to fluentd's ``in_forward`` as lc_wrapper does, optionally with acks.

lc_wrapper's kernels send with fluent-logger-python's ``FluentSender`` (message mode
``[tag, time, record]``, no acknowledgement, unsent records kept in memory for the next emit).
:class:`ForwardSender` uses that very class when ``require_ack_response`` is off, so tests see
exactly the kernel's traffic. With ``require_ack_response=True`` (fluent-logger has no such
option) it speaks the same forward protocol itself and adds the ``chunk`` option to every
message; in_forward answers ``{"ack": <chunk>}`` once the record is in fluentd's buffer, so a
test knows fluentd accepted it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgpack
from fluent.sender import EventTime, FluentSender

DEFAULT_TIMEOUT_S = 10.0


class ForwardAckError(RuntimeError):
    """fluentd did not acknowledge a message (connection refused or closed, wrong or no ack)."""


def _event_time(timestamp: float | EventTime | None) -> int | EventTime:
    """Whole seconds as fluent-logger sends by default (now when None); a float becomes an
    EventTime (seconds and nanoseconds, both below 2**32)."""
    if timestamp is None:
        return int(time.time())
    if isinstance(timestamp, EventTime):
        return timestamp
    if isinstance(timestamp, float):
        return EventTime(timestamp)
    return int(timestamp)


class ForwardSender:
    """Records to ``tag`` at ``127.0.0.1:port`` (or ``host``) over one TCP connection.

    ``send`` and ``send_burst`` return True when the record(s) went out (with acks: were
    acknowledged) and False otherwise, with the cause in ``last_error``, as
    ``FluentSender.emit`` does.
    """

    def __init__(
        self,
        port: int,
        tag: str,
        *,
        host: str = "127.0.0.1",
        require_ack_response: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.tag = tag
        self.require_ack_response = require_ack_response
        self.timeout_s = timeout_s
        self.last_error: Exception | None = None
        self._logger: FluentSender | None = None
        self._socket: socket.socket | None = None
        self._unpacker = msgpack.Unpacker(raw=False)
        if not require_ack_response:
            self._logger = FluentSender(tag, host=host, port=port, timeout=timeout_s)

    def __enter__(self) -> ForwardSender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, record: Any, *, timestamp: float | EventTime | None = None) -> bool:
        """One record, one message (``timestamp`` defaults to now, in whole seconds)."""
        return self.send_burst([record], timestamps=None if timestamp is None else [timestamp])

    def send_burst(
        self,
        records: Iterable[Any],
        *,
        timestamps: Sequence[float | EventTime] | None = None,
        one_message: bool = False,
    ) -> bool:
        """Many records back to back, one message each (as a busy kernel sends them).

        With acks, all messages are written before the acks are read (pipelined); with
        ``one_message`` they travel as a single forward-mode message with one ack.
        """
        items = list(records)
        if timestamps is None:
            times = [_event_time(None)] * len(items)
        elif len(timestamps) == len(items):
            times = [_event_time(stamp) for stamp in timestamps]
        else:
            raise ValueError(f"{len(timestamps)} timestamps for {len(items)} records")
        self.last_error = None
        if self._logger is not None:
            return self._send_unacked(items, times)
        try:
            self._send_acked(items, times, one_message=one_message)
        except (OSError, ForwardAckError, ValueError) as exc:
            self.last_error = exc
            self._drop_connection()
            return False
        return True

    def _send_unacked(self, items: list[Any], times: list[int | EventTime]) -> bool:
        assert self._logger is not None
        for record, stamp in zip(items, times, strict=True):
            if not self._logger.emit_with_time(None, stamp, record):
                self.last_error = self._logger.last_error
                self._logger.clear_last_error()
                return False
        return True

    def _send_acked(
        self, items: list[Any], times: list[int | EventTime], *, one_message: bool
    ) -> None:
        sock = self._connect()
        chunks: list[str] = []
        payload = bytearray()
        if one_message:
            chunk = _chunk_id()
            entries = [[stamp, record] for stamp, record in zip(times, items, strict=True)]
            payload += msgpack.packb([self.tag, entries, {"chunk": chunk}])
            chunks.append(chunk)
        else:
            for stamp, record in zip(times, items, strict=True):
                chunk = _chunk_id()
                payload += msgpack.packb([self.tag, stamp, record, {"chunk": chunk}])
                chunks.append(chunk)
        sock.sendall(payload)
        for chunk in chunks:
            answer = self._read_answer(sock)
            if not isinstance(answer, dict) or answer.get("ack") != chunk:
                raise ForwardAckError(f"expected ack {chunk!r}, fluentd answered {answer!r}")

    def _read_answer(self, sock: socket.socket) -> Any:
        deadline = time.monotonic() + self.timeout_s
        while True:
            for answer in self._unpacker:
                return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ForwardAckError(f"no ack from fluentd within {self.timeout_s:.0f} s")
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                raise ForwardAckError(
                    f"no ack from fluentd within {self.timeout_s:.0f} s"
                ) from None
            if not data:
                raise ForwardAckError("fluentd closed the connection before acknowledging")
            self._unpacker.feed(data)

    def _connect(self) -> socket.socket:
        if self._socket is None:
            self._socket = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._unpacker = msgpack.Unpacker(raw=False)
        return self._socket

    def _drop_connection(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None

    def close(self) -> None:
        if self._logger is not None:
            self._logger.close()
        self._drop_connection()


def _chunk_id() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")
