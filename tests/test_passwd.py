"""uid -> name lookups from passwd text, and the local_name rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwh.enrich import PasswdError, PasswdTable, local_name

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lcwrapper-sample"


def test_fixture_passwd_resolves_every_record_uid() -> None:
    table = PasswdTable.from_text((FIXTURE / "passwd").read_text(encoding="utf-8"))
    assert table.problems == ()
    assert len(table) == 2
    for line in (FIXTURE / "expected.jsonl").read_text(encoding="utf-8").splitlines():
        expected = json.loads(line)
        name = table.user_name(expected["uid"])
        assert name is not None
        assert name == expected["user_name"]
        assert local_name(name) == expected["local_name"]


def test_comments_blank_lines_and_crlf_are_tolerated() -> None:
    text = (
        "# system users\r\n\r\nroot:x:0:0:root:/root:/bin/bash\r\n"
        "   \n  # indented\nalice:x:1000:100::/home/alice:/bin/sh"
    )
    table = PasswdTable.from_text(text)
    assert table.problems == ()
    assert table.user_name(0) == "root"
    assert table.user_name(1000) == "alice"
    assert table.user_name(1001) is None


def test_one_malformed_line_does_not_break_the_other_lookups() -> None:
    text = "\n".join(
        [
            "root:x:0:0:root:/root:/bin/bash",
            '"broken:x:1000:100',
            'quo"te:x:1001:100::/home/quo"te:/bin/sh',
            "bob:x:1002:100::/home/bob:/bin/sh",
        ]
    )
    table = PasswdTable.from_text(text)
    assert table.user_name(0) == "root"
    assert table.user_name(1002) == "bob"
    # passwd has no quoting: a quote is just a character of the name.
    assert table.user_name(1001) == 'quo"te'
    assert table.user_name(1000) is None
    assert len(table.problems) == 1
    assert table.problems[0].startswith("line 2: expected 7")


@pytest.mark.parametrize(
    ("uid_field", "why"),
    [
        ("abc", "not a decimal"),
        ("", "not a decimal"),
        ("+12", "not a decimal"),
        (" 12", "not a decimal"),
        ("1_000", "not a decimal"),
        ("-1", "not a decimal"),
        ("١٢", "not a decimal"),
        ("4294967295", "not a decimal"),
    ],
)
def test_bad_uid_fields_are_skipped_and_reported(uid_field: str, why: str) -> None:
    table = PasswdTable.from_text(f"carol:x:{uid_field}:100::/home/carol:/bin/sh\n")
    assert len(table) == 0
    assert len(table.problems) == 1
    assert why in table.problems[0]
    assert "'carol'" in table.problems[0]


def test_largest_valid_uid_is_accepted() -> None:
    table = PasswdTable.from_text("nobody4:x:4294967294:100::/:/bin/false\n")
    assert table.user_name(4294967294) == "nobody4"


def test_duplicate_uid_first_wins_and_is_reported() -> None:
    table = PasswdTable.from_text(
        "alice:x:1000:100::/home/alice:/bin/sh\nmallory:x:1000:100::/home/m:/bin/sh\n"
    )
    assert table.user_name(1000) == "alice"
    assert table.problems == (
        "line 2: uid 1000 of 'mallory' already belongs to 'alice' (line 1); first entry kept",
    )


def test_empty_name_and_nis_entries_are_skipped() -> None:
    table = PasswdTable.from_text(":x:5:5::/:/bin/sh\n+::::::\n-baduser::::::\n")
    assert len(table) == 0
    assert [problem.split(":")[0] for problem in table.problems] == ["line 1", "line 2", "line 3"]


def test_problems_never_quote_the_password_field() -> None:
    secret = "$6$salt$c2VjcmV0aGFzaA"
    table = PasswdTable.from_text(f"dave:{secret}:12x:100::/home/dave\neve:{secret}:7\n")
    assert len(table.problems) == 2
    assert all(secret not in problem for problem in table.problems)


def test_non_text_input_is_a_clear_error() -> None:
    with pytest.raises(PasswdError, match="must be str, not bytes"):
        PasswdTable.from_text(b"root:x:0:0::/:/bin/sh")  # type: ignore[arg-type]


def test_empty_table() -> None:
    assert len(PasswdTable.EMPTY) == 0
    assert PasswdTable.EMPTY.user_name(0) is None
    assert PasswdTable.from_text("") == PasswdTable.EMPTY


@pytest.mark.parametrize(
    ("user_name", "expected"),
    [
        ("alexx1f2e3d", "alex"),
        ("student09x0c0ffee", "student09"),
        ("maxxx12", "maxx"),
        ("bob", "bob"),
        ("x1f", ""),
        ("", ""),
    ],
)
def test_local_name_takes_text_before_the_last_x(user_name: str, expected: str) -> None:
    assert local_name(user_name) == expected


@given(st.text(alphabet="abcxyz019_-", max_size=20))
def test_local_name_rule_holds_for_any_name(user_name: str) -> None:
    result = local_name(user_name)
    if "x" not in user_name:
        assert result == user_name
    else:
        suffix = user_name[len(result) + 1 :]
        assert user_name == f"{result}x{suffix}"
        assert "x" not in suffix


def test_complete_mode_refuses_damage_but_not_what_real_files_hold() -> None:
    real = "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n+@netgroup::::::\n# end\n"
    table = PasswdTable.from_text(real, complete=True)
    assert table.user_name(0) == "root" and len(table.problems) == 2
    for damaged, message in [
        ("", "empty"),
        ("root:x:0:0:root:/root:/bin/bash", "not terminated by a newline"),
        ("root:x:0:0:root:/root\n", "line 1: expected 7"),
        ("root:x:zero:0:root:/root:/bin/sh\n", "line 1: uid 'zero'"),
    ]:
        with pytest.raises(PasswdError, match=message):
            PasswdTable.from_text(damaged, complete=True)
        PasswdTable.from_text(damaged)
