"""Generate the hostile-file corpus for textbooks and timetables into a directory.

Nothing of it is committed: FIFOs, sockets, symbolic links, sparse giants and odd bytes are
made here, on the spot. Run ``python -m tests.hostile.make_corpus DIR`` to look at it, or call
:func:`make_corpus` (as ``tests/hostile/test_hostile_files.py`` does).

Layout under ``DIR``:

``outside/secret.yaml``
    A file outside the textbook holding :data:`OUTSIDE_SECRET`; links point at it and no
    output may ever show that text.
``textbook/``
    One textbook directory: good notebooks beside every hostile notebook
    (:data:`TEXTBOOK_CASES` says what each must be reported as).
``timetables/``
    One file per timetable case (:func:`timetable_cases` says how each must end).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTSIDE_SECRET = "OUTSIDE-SECRET-5b1e"
CONTROL_NAME = "\x1b[2J\x1b[31mred\x07.ipynb"
"""A notebook name that clears the screen, turns the text red and rings the bell if printed."""
NOTEBOOK_LIMIT = 32 << 20
TIMETABLE_LIMIT = 1 << 20
GOOD_MEMES = {
    "course/good-01.ipynb": ("00000001-e67b-11f1-8ade-02fc00000001", 2),
    "course/good-02.ipynb": ("00000002-e67b-11f1-8ade-02fc00000001", 1),
    f"course/{CONTROL_NAME}": ("00000003-e67b-11f1-8ade-02fc00000001", 1),
}
"""Good notebooks: path -> (notebook MEME, number of questions); all must be indexed."""

TEXTBOOK_CASES: dict[str, str] = {
    "course/deep-100k.ipynb": "is JSON nested deeper than 64 levels",
    "course/deep-metadata-900.ipynb": "is JSON nested deeper than 64 levels",
    "course/fifo.ipynb": "is a FIFO (named pipe), not a regular file",
    "course/socket.ipynb": "is a socket, not a regular file",
    "course/dev-zero.ipynb": "leading outside the textbook directory (to /dev/zero)",
    "course/etc-shadow.ipynb": "leading outside the textbook directory (to /etc/shadow)",
    "course/secret.ipynb": "leading outside the textbook directory",
    "course/dangling.ipynb": "is a symbolic link to nothing",
    "course/latin1.ipynb": "is not UTF-8 text (invalid byte at offset 40)",
    "course/huge.ipynb": "is larger than the limit of 32 MiB",
    "course/wide.ipynb": "holds more than 1,000,000 JSON values",
    "course/lone-surrogate.ipynb": "not part of a surrogate pair",
    "course/huge-number.ipynb": "is not valid JSON: Exceeds the limit (4300 digits)",
    "course/empty.ipynb": "the file is empty",
    "course/broken.ipynb": "is not valid JSON: Expecting ',' delimiter",
}
"""Hostile notebooks: path -> the reason the scan must give for skipping it."""


@dataclass(frozen=True)
class TimetableCase:
    """One timetable file and how every ``cwh schedule`` command must end with it."""

    name: str
    path: Path
    status: int
    messages: tuple[str, ...]
    plan_at: str | None = None
    preview_from: str | None = None
    preview_messages: tuple[str, ...] = ()
    plan_messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Corpus:
    root: Path
    textbook: Path
    outside_secret: Path
    timetables: tuple[TimetableCase, ...]


def make_corpus(directory: Path) -> Corpus:
    """Write the whole corpus under ``directory`` (created if needed) and describe it."""
    directory = Path(directory)
    outside = directory / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.yaml"
    secret.write_text(f"db_password: {OUTSIDE_SECRET}\n", encoding="utf-8")
    textbook = directory / "textbook"
    _textbook(textbook, secret)
    timetables = make_timetables(directory / "timetables", secret)
    return Corpus(directory, textbook, secret, timetables)


def _notebook(notebook_meme: str, questions: int, metadata: Any = None) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    for number in range(questions):
        cells.append({"cell_type": "markdown", "metadata": {}, "source": f"問1-{number + 1}"})
        cells.append(
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {
                    "lc_cell_meme": {"current": f"{notebook_meme[:8]}-{number:04x}-11f1-8ade-0"}
                },
                "outputs": [],
                "source": f"print({number})",
            }
        )
    notebook_metadata: dict[str, Any] = {"lc_notebook_meme": {"current": notebook_meme}}
    if metadata is not None:
        notebook_metadata["extension"] = metadata
    return {"cells": cells, "metadata": notebook_metadata, "nbformat": 4, "nbformat_minor": 4}


def _textbook(root: Path, secret: Path) -> None:
    course = root / "course"
    course.mkdir(parents=True, exist_ok=True)
    for relative, (notebook_meme, questions) in GOOD_MEMES.items():
        (root / relative).write_text(json.dumps(_notebook(notebook_meme, questions)), "utf-8")
    (course / "deep-100k.ipynb").write_text("[" * 100_000 + "]" * 100_000, "utf-8")
    nested: Any = "bottom"
    for _ in range(900):
        nested = {"level": nested}
    deep_metadata = _notebook("00000009-e67b-11f1-8ade-02fc00000001", 1, nested)
    (course / "deep-metadata-900.ipynb").write_text(json.dumps(deep_metadata), "utf-8")
    _fresh(course / "fifo.ipynb")
    os.mkfifo(course / "fifo.ipynb")
    _socket(course / "socket.ipynb")
    _link(course / "dev-zero.ipynb", "/dev/zero")
    _link(course / "etc-shadow.ipynb", "/etc/shadow")
    _link(course / "secret.ipynb", os.path.relpath(secret, course))
    _link(course / "dangling.ipynb", "no-such-notebook.ipynb")
    latin1 = '{"cells": [], "metadata": {"title": "caf\xe9 cr\xe8me"}, "nbformat": 4}'
    (course / "latin1.ipynb").write_bytes(latin1.encode("latin-1"))
    with (course / "huge.ipynb").open("wb") as handle:
        handle.truncate(NOTEBOOK_LIMIT + 1)
    wide = _notebook("0000000a-e67b-11f1-8ade-02fc00000001", 1, [0] * 1_200_000)
    (course / "wide.ipynb").write_text(json.dumps(wide, separators=(",", ":")), "utf-8")
    surrogate = json.dumps(_notebook("0000000b-e67b-11f1-8ade-02fc00000001", 1))
    surrogate = surrogate.replace("print(0)", "print('\\ud800')")
    (course / "lone-surrogate.ipynb").write_text(surrogate, "utf-8")
    huge_number = '{"nbformat": ' + "9" * 5000 + ', "cells": []}'
    (course / "huge-number.ipynb").write_text(huge_number, "utf-8")
    (course / "empty.ipynb").write_bytes(b"")
    (course / "broken.ipynb").write_text('{"cells": [] "metadata": {}}', "utf-8")


def _timetable(phases: str, *, addresses: str = "[10.1.0.1, 10.1.0.2]", zone: str = "") -> str:
    lines = [f"ip_addresses: {addresses}", "class_days: [mon]", "phases:", phases]
    if zone:
        lines.insert(0, f"timezone: {zone}")
    return "\n".join(lines) + "\n"


_PHASES = (
    "  - {name: on, start: '8:30', active: 2, pause: 0, drain: 0}\n"
    "  - {name: off, start: '13:00', active: 1, pause: 0, drain: 1}"
)


def _laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def make_timetables(directory: Path, secret: Path) -> tuple[TimetableCase, ...]:
    """Write the timetable cases into ``directory``; ``secret`` is the outside file a link
    points at (it need not exist to list the cases)."""
    directory.mkdir(parents=True, exist_ok=True)
    cases: list[TimetableCase] = []

    def refused(name: str, *messages: str) -> None:
        cases.append(TimetableCase(name, directory / name, 1, messages))

    def text(name: str, content: str, *messages: str) -> None:
        (directory / name).write_text(content, "utf-8")
        refused(name, *messages)

    expansion = "values once its aliases are expanded"
    text("laughs-8.yaml", _laughs(8), expansion)
    text("laughs-9.yaml", _laughs(9), expansion)
    text("recursive-alias.yaml", "a: &a [1, *a]\n", "an alias refers to a node that contains it")
    (directory / "latin1.yaml").write_bytes("timezone: Europe/Zürich\n".encode("latin-1"))
    refused("latin1.yaml", "is not UTF-8 text (invalid byte at offset 18)")
    text("deep.yaml", "[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels")
    text("deep.json", "[" * 100_000 + "]" * 100_000, "is JSON nested deeper than 32 levels")
    text("deep-block.yaml", "".join(f"{' ' * i}k:\n" for i in range(40)), "nested deeper")
    _fresh(directory / "fifo.yaml")
    os.mkfifo(directory / "fifo.yaml")
    refused("fifo.yaml", "is a FIFO (named pipe), not a regular file")
    _link(directory / "dev-zero.yaml", "/dev/zero")
    refused("dev-zero.yaml", "is a character device, not a regular file")
    _link(directory / "dev-random.json", "/dev/urandom")
    refused("dev-random.json", "is a character device, not a regular file")
    _link(directory / "secret.yaml", os.path.relpath(secret, directory))
    refused("secret.yaml", "db_password: unknown key")
    with (directory / "huge.yaml").open("wb") as handle:
        handle.truncate(TIMETABLE_LIMIT + 1)
    refused("huge.yaml", "is larger than the limit of 1 MiB")
    text("nul.yaml", "ip_addresses: [10.1.0.1]\x00\n", "unacceptable character #x0000")
    text("big-number.yaml", "default: " + "9" * 5000 + "\n", "cannot read this value")
    text("big-number.json", '{"default": ' + "9" * 5000 + "}", "Exceeds the limit")
    text("bad-date.yaml", _timetable(_PHASES) + "exceptions: [2025-02-30]\n", "day is out")
    text(
        "control-name.yaml",
        _timetable('  - {name: "\\e[2J\\e[31mred", start: "8:30", active: 1}'),
        "holds control characters",
    )
    text(
        "surrogate-name.yaml",
        _timetable('  - {name: "\\ud800", start: "8:30", active: 1}'),
        "not part of a surrogate pair",
    )
    text("not-yaml.yaml", "phases: [\n  - {name: x\n", "is not valid YAML")
    text(
        "bad-addresses.yaml",
        _timetable(
            _PHASES,
            addresses="[0.0.0.0, 255.255.255.255, 127.0.0.1, '::', '::1', 224.0.0.1,"
            " 169.254.10.1, 'fe80::1', '::ffff:127.0.0.1', 0.1.2.3, 240.0.0.1]",
        ),
        "0.0.0.0 is the unspecified address",
        "255.255.255.255 is the broadcast address",
        "127.0.0.1 is a loopback address",
        ":: is the unspecified address",
        "::1 is a loopback address",
        "224.0.0.1 is a multicast address",
        "169.254.10.1 is a link-local address",
        "fe80::1 is a link-local address",
        "::ffff:127.0.0.1 is a loopback address",
        "0.1.2.3 is in 0.0.0.0/8",
        "240.0.0.1 is in a reserved range",
    )
    (directory / "on-off.yaml").write_text(_timetable(_PHASES), "utf-8")
    cases.append(
        TimetableCase("on-off.yaml", directory / "on-off.yaml", 0, ("'on' Mon 8:30", "'off'"))
    )
    dst = (
        "  - {name: night, start: '2:30', active: 2, pause: 0, drain: 0}\n"
        "  - {name: day, start: '9:00', active: 1, pause: 0, drain: 1}"
    )
    for zone, gap_day, shown in (
        ("America/New_York", "2025-03-09", "Sun 2025-03-09 03:00"),
        ("Europe/Berlin", "2025-03-30", "Sun 2025-03-30 03:00"),
    ):
        name = f"dst-{zone.split('/')[1].lower()}.yaml"
        content = _timetable(dst, zone=zone).replace("[mon]", "[sun]")
        (directory / name).write_text(content, "utf-8")
        cases.append(
            TimetableCase(
                name,
                directory / name,
                0,
                ("valid",),
                plan_at=f"{gap_day}T02:30",
                preview_from=gap_day,
                preview_messages=(f"| {shown} | night |",),
                plan_messages=(
                    f"plan at {gap_day}T03:00:00",
                    "create_vm 10.1.0.2",
                    "join 10.1.0.2",
                ),
            )
        )
    return tuple(cases)


def _fresh(path: Path) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()


def _link(path: Path, target: str) -> None:
    _fresh(path)
    path.symlink_to(target)


def _socket(path: Path) -> None:
    """A Unix socket file (bound, then closed: the file stays)."""
    _fresh(path)
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(path.name)
    finally:
        os.chdir(here)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.hostile.make_corpus DIR")
    made = make_corpus(Path(sys.argv[1]))
    print(f"textbook corpus: {made.textbook}")
    print(f"timetable corpus: {made.timetables[0].path.parent} ({len(made.timetables)} cases)")
