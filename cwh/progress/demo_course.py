"""A demo course: the released textbook and a class of students' lc_wrapper log trees.

Everything is derived from real lc_wrapper output (``cwh/progress/demo_data``: the textbook and the
fourteen executions of one student, recorded with the upstream kernel), so the demo
exercises the same parser, MEME lookups and result files as production. Each derived
student gets the seed executions rewritten consistently:

* user name, uid and home in the log header, the result paths and the pickled results;
* the nblineage server signature and the branch numbers of cell MEMEs (each student's own
  server adds its own branch number; the MEME UUID, which names the textbook cell, stays);
* start/end times (in the seed's JST), the dated directory and the log file name.

Students progress through the course at different paces; some stay stuck on a question
whose only recorded run failed, some repeat a cell, two have not started yet. The output
is deterministic for a given start time, and :func:`generate_demo_course` reuses a course
it generated before instead of writing it again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import random
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cwh.atomic_write import write_bytes_atomic
from cwh.enrich import safe_loads

__all__ = [
    "DEMO_DATA",
    "DemoCourse",
    "Seed",
    "SeedExecution",
    "Student",
    "demo_students",
    "derive_executions",
    "export_seed",
    "generate_demo_course",
    "load_seed",
    "write_home",
]

DEMO_DATA = Path(__file__).with_name("demo_data")
MANIFEST_VERSION = 1
GID = 100
FIRST_UID = 3001
MAX_STUDENTS = 50_000
_TIME_LINE = re.compile(r"^(start|end) time: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\(([A-Z]+)\)$", re.M)
_MEME_LINE = re.compile(r'^\{"lc_cell_meme": \{"current": "([^"]+)"\}\}$', re.M)
_LOG_NAME = re.compile(r"(\d{8})-(\d{6})-(\d{4})")

_SURNAMES = (
    "sato", "suzuki", "takahashi", "tanaka", "ito", "watanabe", "yamamoto", "nakamura",
    "kobayashi", "kato", "yoshida", "yamada", "sasaki", "yamaguchi", "matsumoto", "inoue",
    "kimura", "hayashi", "shimizu", "yamazaki", "mori", "abe", "ikeda", "hashimoto",
    "ishikawa", "ogawa", "okada", "goto", "hasegawa", "murakami", "kondo", "ishii",
)  # fmt: skip


class DemoDataError(ValueError):
    """The seed data is missing or damaged (the package was not installed completely)."""


@dataclass(frozen=True)
class SeedExecution:
    """One recorded execution: its log's place in the home, text and result pickles."""

    home_relative: str
    text: str
    results: dict[str, bytes]

    @property
    def cell_uuid(self) -> str | None:
        found = _MEME_LINE.search(self.text)
        return "-".join(found.group(1).split("-")[:5]) if found else None

    @property
    def status(self) -> str:
        return self.text.rstrip("\n").rsplit("execute_reply_status:", 1)[-1].strip()


@dataclass(frozen=True)
class Seed:
    user_name: str
    uid: int
    utc_offset: timedelta
    zone: str
    executions: tuple[SeedExecution, ...]
    textbook: dict[str, bytes]


@dataclass(frozen=True)
class Student:
    user_name: str
    uid: int

    @property
    def home(self) -> str:
        return f"/home/{self.user_name}"


@dataclass(frozen=True)
class DemoCourse:
    """Where the generated course lives."""

    root: Path
    created_at: datetime
    students: tuple[Student, ...]
    executions: int

    @property
    def textbook_dir(self) -> Path:
        return self.root / "textbook"

    @property
    def homes_dir(self) -> Path:
        return self.root / "homes"

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    @property
    def index(self) -> Path:
        return self.root / "meme.csv"

    @property
    def manifest(self) -> Path:
        return self.root / "demo-course.json"


def load_seed(directory: Path = DEMO_DATA) -> Seed:
    try:
        meta = json.loads((directory / "seed.json").read_text(encoding="utf-8"))
        lines = (directory / "executions.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        raise DemoDataError(f"demo seed data in {directory} is unreadable: {exc}") from exc
    executions = []
    for line in lines:
        item = json.loads(line)
        executions.append(
            SeedExecution(
                item["home_relative"],
                item["text"],
                {name: base64.b64decode(data) for name, data in item["results"].items()},
            )
        )
    textbook_root = directory / "textbook"
    textbook = {
        path.relative_to(textbook_root).as_posix(): path.read_bytes()
        for path in sorted(textbook_root.rglob("*.ipynb"))
    }
    return Seed(
        user_name=meta["user_name"],
        uid=int(meta["uid"]),
        utc_offset=timedelta(hours=float(meta["utc_offset_hours"])),
        zone=meta["zone"],
        executions=tuple(executions),
        textbook=textbook,
    )


def export_seed(fixture: Path, user_name: str, target: Path = DEMO_DATA) -> None:
    """Write the seed files from a recorded lc_wrapper sample (maintainers only).

    ``fixture`` holds ``textbook/`` and ``users/<user_name>/``; executions are stored in
    the order they were run.
    """
    home = fixture / "users" / user_name
    logs = sorted(
        (p for p in home.glob("**/.log/*/*.log") if p.parent.name.isdigit()),
        key=lambda p: p.name,
    )
    lines = []
    for log in logs:
        stem = log.name.removesuffix(".log")
        results = {
            p.name: base64.b64encode(p.read_bytes()).decode()
            for p in log.parent.glob(f"{stem}-*.pkl")
        }
        lines.append(
            json.dumps(
                {
                    "home_relative": log.relative_to(home).as_posix(),
                    "text": log.read_text(encoding="utf-8"),
                    "results": dict(sorted(results.items())),
                },
                ensure_ascii=False,
            )
        )
    target.mkdir(parents=True, exist_ok=True)
    (target / "executions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copytree(fixture / "textbook", target / "textbook", dirs_exist_ok=True)
    uid = next(
        int(line.split(":")[2])
        for line in (fixture / "passwd").read_text(encoding="utf-8").splitlines()
        if line.startswith(f"{user_name}:")
    )
    meta = {"user_name": user_name, "uid": uid, "utc_offset_hours": 9, "zone": "JST"}
    (target / "seed.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def demo_students(count: int) -> list[Student]:
    """CoursewareHub-style logins (``<name>x<hex>``), unique names and uids."""
    if not 1 <= count <= MAX_STUDENTS:
        raise ValueError(f"student count must be between 1 and {MAX_STUDENTS}, not {count}")
    students = []
    for number in range(count):
        name = _SURNAMES[number % len(_SURNAMES)]
        if number >= len(_SURNAMES):
            name += str(number // len(_SURNAMES) + 1)
        suffix = hashlib.sha256(f"demo-student-{number}".encode()).hexdigest()[:6]
        students.append(Student(f"{name}x{suffix}", FIRST_UID + number))
    return students


def derive_executions(
    seed: Seed,
    chosen: Sequence[SeedExecution],
    student: Student,
    start: datetime,
    *,
    gap_seconds: Sequence[int] | None = None,
) -> Iterator[tuple[str, str, dict[str, bytes]]]:
    """Rewrite ``chosen`` seed executions as ``student``'s, run from ``start`` on.

    Yields (path relative to the home, log text, result files by name). ``gap_seconds``
    spaces the executions (default: 60 s apart); each keeps its recorded duration.
    """
    signature = _uuid_from(f"server-signature-{student.user_name}")
    moment = start
    used_names: set[str] = set()
    for position, execution in enumerate(chosen):
        if position:
            moment += timedelta(seconds=gap_seconds[position - 1] if gap_seconds else 60)
        local = moment.astimezone(timezone(seed.utc_offset))
        fraction = int(hashlib.sha256(f"{student.user_name}{position}".encode()).hexdigest(), 16)
        stem = f"{local:%Y%m%d-%H%M%S}-{fraction % 10000:04d}"
        while stem in used_names:
            fraction += 1
            stem = f"{local:%Y%m%d-%H%M%S}-{fraction % 10000:04d}"
        used_names.add(stem)
        yield _rewrite(seed, execution, student, signature, local, stem)


def _rewrite(
    seed: Seed,
    execution: SeedExecution,
    student: Student,
    signature: str,
    local: datetime,
    stem: str,
) -> tuple[str, str, dict[str, bytes]]:
    old_home, new_home = f"/home/{seed.user_name}/", f"{student.home}/"
    old_stem = _LOG_NAME.search(Path(execution.home_relative).name)
    if old_stem is None:
        raise DemoDataError(f"seed log name {execution.home_relative} has no timestamp")
    old = old_stem.group(0)
    directory = Path(execution.home_relative).parent.parent.parent
    relative = f"{directory.as_posix()}/.log/{local:%Y%m%d}/{stem}.log"
    text = execution.text.replace(old_home, new_home)
    text = text.replace(f"/{old[:8]}/{old}", f"/{local:%Y%m%d}/{stem}")
    text = re.sub(r"^uid: \d+$", f"uid: {student.uid}", text, flags=re.M)
    text = re.sub(r"^server_signature: .+$", f"server_signature: {signature}", text, flags=re.M)
    times = [m for m in _TIME_LINE.finditer(text)]
    recorded = [datetime.strptime(m.group(2), "%Y-%m-%d %H:%M:%S") for m in times]
    duration = (recorded[-1] - recorded[0]) if len(recorded) == 2 else timedelta(0)
    stamps = {"start": local, "end": local + duration}
    text = _TIME_LINE.sub(
        lambda m: f"{m.group(1)} time: {stamps[m.group(1)]:%Y-%m-%d %H:%M:%S}({m.group(3)})", text
    )
    text = _MEME_LINE.sub(lambda m: _meme_line(m.group(1), student), text)
    results = {
        name.replace(old, stem): _rewrite_pickle(data, old_home, new_home)
        for name, data in execution.results.items()
    }
    return relative, text, results


def _meme_line(meme: str, student: Student) -> str:
    parts = meme.split("-")
    uuid, branches = parts[:5], parts[5:]
    if len(branches) >= 2:
        digest = hashlib.sha256(f"{student.user_name}-{'-'.join(uuid)}".encode()).hexdigest()
        branches = [
            branches[0],
            digest[:4],
            *[digest[4 + 4 * i : 8 + 4 * i] for i in range(len(branches) - 2)],
        ]
    return json.dumps({"lc_cell_meme": {"current": "-".join(uuid + branches)}})


def _rewrite_pickle(data: bytes, old_home: str, new_home: str) -> bytes:
    return pickle.dumps(_replace_strings(safe_loads(data), old_home, new_home), protocol=4)


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {
            _replace_strings(k, old, new): _replace_strings(v, old, new) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    if isinstance(value, tuple):
        return tuple(_replace_strings(v, old, new) for v in value)
    return value


def _uuid_from(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def write_home(
    homes: Path, student: Student, executions: Iterator[tuple[str, str, dict[str, bytes]]]
) -> int:
    """Write a student's executions where lc_wrapper would have, with its history links."""
    count = 0
    for relative, text, results in executions:
        log = homes / student.user_name / relative
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text, encoding="utf-8")
        written = [log]
        for name, data in results.items():
            (log.parent / name).write_bytes(data)
            written.append(log.parent / name)
        if os.geteuid() == 0:
            for path in written:
                os.chown(path, student.uid, GID)
        found = _MEME_LINE.search(text)
        if found:
            uuid = "-".join(found.group(1).split("-")[:5])
            history = log.parent.parent / uuid
            history.mkdir(exist_ok=True)
            link = history / log.name
            if not link.is_symlink():
                link.symlink_to(Path("..") / log.parent.name / log.name)
        count += 1
    return count


def plan_student(seed: Seed, number: int, total: int) -> list[SeedExecution]:
    """Which seed executions student ``number`` ran, in order (deterministic per number).

    The last two students have not started. The others reach a random point of the
    course; a failing run is followed by its fix only for students who got past it, and
    some students re-run a cell they already solved.
    """
    if number >= total - 2:
        return []
    rng = random.Random(f"demo-plan-{number}")
    groups: list[list[SeedExecution]] = []
    for execution in seed.executions:
        uuid = execution.cell_uuid
        if groups and uuid is not None and groups[-1][0].cell_uuid == uuid:
            groups[-1].append(execution)
        else:
            groups.append([execution])
    reach = max(1, round(len(groups) * rng.uniform(0.35, 1.0)))
    plan: list[SeedExecution] = []
    for position, group in enumerate(groups[:reach]):
        last_reached = position == reach - 1
        failing = [e for e in group if e.status != "ok"]
        passing = [e for e in group if e.status == "ok"]
        if failing and passing:
            if last_reached or rng.random() < 0.12:
                plan.append(failing[0])
            elif rng.random() < 0.5:
                plan += [failing[0], passing[-1]]
            else:
                plan.append(passing[-1])
        else:
            plan.append(group[-1])
            if passing and rng.random() < 0.15:
                plan.append(group[-1])
    return plan


def generate_demo_course(
    root: Path, *, students: int = 30, now: datetime | None = None, seed: Seed | None = None
) -> DemoCourse:
    """Write the course under ``root``, or reuse the one already there.

    A course is reused when its manifest says it was generated for the same number of
    students by this version of the generator; anything else is an error rather than an
    overwrite, so a directory that is not a demo course is never clobbered.
    """
    root = Path(root)
    course = _existing(root, students)
    if course is not None:
        return course
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} is not empty and holds no demo course for {students} students; "
            "choose another work directory or empty it"
        )
    data = seed or load_seed()
    created = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    class_start = created - timedelta(minutes=75)
    roster = demo_students(students)
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in data.textbook.items():
        target = root / "textbook" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    written = 0
    for number, student in enumerate(roster):
        plan = plan_student(data, number, students)
        rng = random.Random(f"demo-times-{number}")
        begin = class_start + timedelta(seconds=rng.randrange(0, 600))
        gaps = [rng.randrange(45, 300) for _ in plan]
        (root / "homes" / student.user_name).mkdir(parents=True, exist_ok=True)
        written += write_home(
            root / "homes", student, derive_executions(data, plan, student, begin, gap_seconds=gaps)
        )
    passwd = ["root:x:0:0:root:/root:/bin/bash"] + [
        f"{s.user_name}:x:{s.uid}:{GID}:CoursewareHub user:{s.home}:/bin/bash" for s in roster
    ]
    write_bytes_atomic(root / "passwd", ("\n".join(passwd) + "\n").encode())
    course = DemoCourse(root, created, tuple(roster), written)
    manifest = {
        "version": MANIFEST_VERSION,
        "students": students,
        "created_at": created.isoformat(),
        "executions": written,
    }
    write_bytes_atomic(course.manifest, json.dumps(manifest, indent=2).encode())
    return course


def _existing(root: Path, students: int) -> DemoCourse | None:
    try:
        manifest = json.loads((root / "demo-course.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("version") != MANIFEST_VERSION or manifest.get("students") != students:
        return None
    return DemoCourse(
        root,
        datetime.fromisoformat(manifest["created_at"]),
        tuple(demo_students(students)),
        int(manifest["executions"]),
    )
