"""The progress matrix, completion and summary: pure functions, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cwh.progress import (
    CellState,
    ProgressCell,
    ProgressInputError,
    Question,
    RosterError,
    StatusCount,
    build_matrix,
    combine_status_counts,
    completion,
    parse_roster,
    questions_from_index_text,
    render_markdown,
)

INDEX = (
    "qno,qlabel,lc_cell_meme,lc_notebook_meme,textbook_path,course_server,code\n"
    "01-001,問1-2,m2,n1,python-basic/01.ipynb,python-basic,x\n"
    "01-000,,m1,n1,python-basic/01.ipynb,python-basic,x\n"
    "00-000,問1-1,m3,n2,data-science/w1/a.ipynb,data-science,x\n"
)


def test_latest_status_is_the_newest_and_a_tie_counts_as_failed() -> None:
    cells = combine_status_counts(
        [
            StatusCount("ann", "01-000", "error", 2, 100),
            StatusCount("ann", "01-000", "ok", 1, 200),
            StatusCount("bob", "01-000", "ok", 1, 300),
            StatusCount("bob", "01-000", "error", 1, 300),
        ]
    )
    assert cells == [
        ProgressCell("ann", "01-000", 3, 1, "ok", 200),
        ProgressCell("bob", "01-000", 2, 1, "error", 300),
    ]


def test_questions_come_ordered_with_their_course() -> None:
    questions = questions_from_index_text(INDEX)
    assert [q.qno for q in questions] == ["00-000", "01-000", "01-001"]
    assert questions[2] == Question("01-001", "問1-2", "python-basic/01.ipynb", "python-basic")
    assert questions[1].label == "01-000"
    with pytest.raises(ProgressInputError, match="qno"):
        questions_from_index_text("a,b\n1,2\n")


def test_separately_numbered_courses_each_keep_their_questions() -> None:
    concatenated = INDEX + (
        "01-000,問A,m9,n9,data-science/w2/b.ipynb,data-science,x\n"
        "01-000,repeat,m8,n1,python-basic/01.ipynb,python-basic,x\n"
    )
    questions = questions_from_index_text(concatenated)
    assert [(q.course_server, q.qno) for q in questions] == [
        ("data-science", "00-000"),
        ("data-science", "01-000"),
        ("python-basic", "01-000"),
        ("python-basic", "01-001"),
    ]
    assert questions[2].qlabel is None
    matrix = build_matrix("data-science", questions, [ProgressCell("ann", "01-000", 1, 1, "ok", 5)])
    assert [q.qno for q in matrix.questions] == ["00-000", "01-000"]
    assert matrix.state("ann", "01-000") is CellState.OK


def test_matrix_shows_every_question_and_roster_students_without_runs() -> None:
    questions = questions_from_index_text(INDEX)
    cells = [
        ProgressCell("annx01", "01-000", 2, 0, "error", 50),
        ProgressCell("annx01", "09-999", 4, 4, "ok", 60),
    ]
    matrix = build_matrix("python-basic", questions, cells, roster=["carlx03"])
    assert matrix.students == ("annx01", "carlx03")
    assert [q.qno for q in matrix.questions] == ["01-000", "01-001"]
    assert matrix.state("annx01", "01-000") is CellState.FAILED
    assert matrix.state("annx01", "01-001") is CellState.NOT_RUN
    assert matrix.state("carlx03", "01-000") is CellState.NOT_RUN
    assert matrix.runs_outside_textbook == 4
    assert matrix.label("annx01") == "ann"
    frame = matrix.to_frame()
    assert len(frame) == 4
    assert list(matrix.state_frame().loc["annx01"]) == ["latest failed", "not run"]


def test_colliding_local_names_are_labelled_by_user_name_and_filter_matches_both() -> None:
    questions = questions_from_index_text(INDEX)
    cells = [
        ProgressCell("alexx1f", "01-000", 1, 1, "ok", 1),
        ProgressCell("alexx2e", "01-000", 1, 1, "ok", 2),
        ProgressCell("bobx3d", "01-000", 1, 1, "ok", 3),
    ]
    matrix = build_matrix("python-basic", questions, cells)
    assert [matrix.label(u) for u in matrix.students] == ["alexx1f", "alexx2e", "bob"]
    narrowed = build_matrix("python-basic", questions, cells, students=["bob", "alexx2e"])
    assert narrowed.students == ("alexx2e", "bobx3d")
    assert set(narrowed.cells) == {("alexx2e", "01-000"), ("bobx3d", "01-000")}


def test_completion_and_markdown_name_the_stuck_students() -> None:
    questions = questions_from_index_text(INDEX)
    cells = [
        ProgressCell("annx01", "01-000", 3, 1, "error", 1795355800),
        ProgressCell("annx01", "01-001", 1, 1, "ok", 1795355700),
        ProgressCell("bobx02", "01-000", 1, 1, "ok", 1795355600),
    ]
    matrix = build_matrix("python-basic", questions, cells, roster=["carl|x03"])
    summary = completion(matrix)
    by_student = {s.user_name: s for s in summary.students}
    assert (by_student["annx01"].completed, by_student["annx01"].failing) == (2, 1)
    assert by_student["carl|x03"].attempted == 0
    assert [(q.question.qno, q.completed, q.failing) for q in summary.questions] == [
        ("01-000", 2, 1),
        ("01-001", 1, 0),
    ]
    assert [c.user_name for c in summary.stuck] == ["annx01"]
    text = render_markdown(
        matrix, summary, generated_at=datetime(2026, 11, 24, tzinfo=UTC), window="all"
    )
    assert "## Latest run failed (1)" in text
    assert "| ann | 01-000 | 2/3 |" in text
    assert "| carl\\| | 0/2 (0%) | 0 | 0 |" in text


def test_roster_reads_passwd_and_lists() -> None:
    passwd = parse_roster(
        "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/bin/false\n"
        "annx01:x:2001:100::/home/annx01:/bin/bash\n"
    )
    assert passwd.students("any") == ["annx01"]
    listed = parse_roster("# class list\nannx01, python-basic\nbobx02\n")
    assert listed.students("python-basic") == ["annx01", "bobx02"]
    assert listed.students("data-science") == ["bobx02"]
    with pytest.raises(RosterError, match="line 2"):
        parse_roster("annx01\nnot a name\n")
