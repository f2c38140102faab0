"""Courses reported at the same time give exactly the reports made one after the other."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cwh.enrich import DOC_ID, TARGET_INDEX
from tasks.embedded_store import EmbeddedStore
from tasks.progress_reports import ReportConfig, course_report, course_reports, load_inputs

COURSES = ("python-basic", "data-science")


def _index(path: Path) -> Path:
    rows = ["qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code"]
    for number, course in enumerate(COURSES, start=1):
        for question in range(4):
            rows.append(
                f"{number:02}-{question:03},問{question},m{course}{question},n{course},"
                f"{course}/nb.ipynb,{course},x"
            )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_courses_reported_at_once_match_the_ones_reported_in_turn(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    store.write(
        [
            {
                DOC_ID: f"d{number}",
                TARGET_INDEX: "lcwrapper-2026.11.22",
                "user_name": f"student{number % 3}x0{number % 3}",
                "local_name": f"student{number % 3}",
                "course_server": COURSES[number % 2],
                "qno": f"{number % 2 + 1:02}-{number % 4:03}",
                "execute_reply_status": "error" if number % 5 == 0 else "ok",
                "start_time": 1795355773 + number,
            }
            for number in range(40)
        ]
    )
    config = ReportConfig(index=str(_index(tmp_path / "meme.csv")), output_dir=str(tmp_path))
    questions, roster, courses = load_inputs(config)
    assert sorted(courses) == sorted(COURSES)
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    at_once = course_reports(store, config, questions, roster, courses, now)
    in_turn = [course_report(store, config, questions, roster, c, now) for c in courses]
    assert [r.matrix.course for r in at_once] == list(courses)
    assert [r.matrix for r in at_once] == [r.matrix for r in in_turn]
    assert [r.markdown for r in at_once] == [r.markdown for r in in_turn]
    assert [r.heatmap.png for r in at_once] == [r.heatmap.png for r in in_turn]
    assert all(r.matrix.students for r in at_once)
    store.close()
