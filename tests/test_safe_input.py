"""The input layer every reader of a user-supplied file goes through (``cwh.safe_input``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cwh.safe_input import (
    BoundedLoader,
    InputRefused,
    InputRules,
    check_json_shape,
    decode_utf8,
    parse_json,
    parse_yaml,
    printable,
)


def test_printable_escapes_control_characters_and_keeps_the_rest() -> None:
    assert printable("問1-1 café.ipynb") == "問1-1 café.ipynb"
    assert printable("\x1b[31mred\x07\x7f\x9b") == "\\x1b[31mred\\x07\\x7f\\x9b"
    assert printable("a\u202eb\u2066c") == "a\\u202eb\\u2066c"
    assert printable(os.fsdecode(b"caf\xe9.ipynb")) == "caf\\xe9.ipynb"
    assert printable("one\ntwo\tthree") == "one\\ntwo\\tthree"
    assert printable("one\n\x1b two", keep_newlines=True) == "one\n\\x1b two"


def refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(InputRefused) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(caught.value)


def test_only_regular_files_are_read_and_a_fifo_never_blocks(tmp_path: Path) -> None:
    rules = InputRules(1 << 20)
    fifo = tmp_path / "x.ipynb"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert refused(rules.read_bytes, fifo).endswith("is a FIFO (named pipe), not a regular file")
    assert time.monotonic() - started < 5
    assert "is a character device" in refused(rules.read_bytes, Path("/dev/zero"))
    assert "is a directory" in refused(rules.read_bytes, tmp_path)
    good = tmp_path / "good.json"
    good.write_text("{}", encoding="utf-8")
    read = rules.read_bytes(good)
    assert (read.data, read.status.st_size) == (b"{}", 2)


def test_the_size_cap_holds_even_when_the_file_system_reports_no_size(tmp_path: Path) -> None:
    small = InputRules(10)
    status = Path("/proc/self/status")
    assert status.stat().st_size == 0
    assert refused(small.read_bytes, status).endswith("is larger than the limit of 10 bytes")
    sparse = tmp_path / "huge.yaml"
    with sparse.open("wb") as handle:
        handle.truncate((1 << 20) + 1)
    assert refused(InputRules(1 << 20).check, sparse).endswith("larger than the limit of 1 MiB")


def test_links_stay_inside_the_root_unless_allowed(tmp_path: Path) -> None:
    root, outside = tmp_path / "textbook", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("OUTSIDE-SECRET", encoding="utf-8")
    (root / "inside.ipynb").write_text("{}", encoding="utf-8")
    (root / "alias.ipynb").symlink_to("inside.ipynb")
    (root / "leak.ipynb").symlink_to(secret)
    (root / "gone.ipynb").symlink_to("missing.ipynb")
    rules = InputRules.confined(root, 1 << 20, label="the textbook directory")
    assert rules.read_bytes(root / "alias.ipynb", "alias.ipynb").data == b"{}"
    message = refused(rules.read_bytes, root / "leak.ipynb", "leak.ipynb")
    assert message.startswith("leak.ipynb: is a symbolic link leading outside the textbook")
    assert str(secret) in message and "OUTSIDE-SECRET" not in message.replace(str(secret), "")
    assert "is a symbolic link to nothing" in refused(rules.check, root / "gone.ipynb")
    with pytest.raises(FileNotFoundError):
        rules.check(root / "never-there.ipynb")
    trusting = InputRules.confined(root, 1 << 20, label="the textbook", allow_outside=True)
    assert trusting.read_text(root / "leak.ipynb") == "OUTSIDE-SECRET"


def test_undecodable_text_names_the_offset_only() -> None:
    assert decode_utf8(b"\xef\xbb\xbfok", "x") == "ok"
    message = refused(decode_utf8, b"\xef\xbb\xbfSECRET\xff", "x.yaml")
    assert message == "x.yaml: is not UTF-8 text (invalid byte at offset 9)"


def test_json_depth_is_checked_outside_strings_before_parsing() -> None:
    inside_strings = '{"a": "[[[[[[[[[[", "b": "\\"{{{{{{{{"}'
    check_json_shape(inside_strings, "x", max_depth=1, max_values=100)
    assert parse_json("[[[]]]", "x", max_depth=3) == [[[]]]
    assert refused(parse_json, "[[[[]]]]", "x", max_depth=3) == (
        "x: is JSON nested deeper than 3 levels"
    )
    started = time.monotonic()
    refused(parse_json, "[" * 100_000 + "]" * 100_000, "x")
    assert refused(parse_json, "[" + "0," * 200 + "0]", "x", max_values=100).endswith(
        "holds more than 100 JSON values"
    )
    assert time.monotonic() - started < 5


def test_json_errors_say_where_never_what() -> None:
    message = refused(parse_json, '{"password": "SECRET" "x": 1}', "x.json")
    assert "line 1, column 23" in message and "SECRET" not in message
    assert "surrogate" in refused(parse_json, '"\\ud800"', "x")
    assert parse_json('"\\ud83d\\ude00"', "x") == "\U0001f600"
    assert parse_json('"\\\\ud800"', "x") == "\\ud800"


def test_yaml_has_yaml_1_2_booleans() -> None:
    document = parse_yaml("[on, off, yes, no, y, n, true, false, True, FALSE]", "x")
    assert document == ["on", "off", "yes", "no", "y", "n", True, False, True, False]


def laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_expansion_and_depth_are_bounded() -> None:
    started = time.monotonic()
    for levels in (8, 9, 20):
        message = refused(parse_yaml, laughs(levels), "x.yaml", max_values=100_000)
        assert "values once its aliases are expanded" in message
    assert time.monotonic() - started < 5
    assert parse_yaml(laughs(3), "x.yaml", max_values=9_000)["a3"][0][0][0][0] == "lol"
    refused(parse_yaml, laughs(3), "x.yaml", max_values=8_000)
    assert "contains it" in refused(parse_yaml, "a: &a [1, *a]", "x.yaml")
    assert "nested deeper than 4 levels" in refused(parse_yaml, "[[[[[1]]]]]", "x", max_depth=4)
    assert "nested deeper" in refused(parse_yaml, "[" * 100_000, "x")


def test_yaml_errors_give_the_line_without_the_text() -> None:
    message = refused(parse_yaml, "ok: 1\npassword: SECRET: more\n", "x.yaml")
    assert "(line 2, column 17)" in message and "SECRET" not in message
    assert "cannot read this value" in refused(parse_yaml, "d: 2025-02-30", "x")
    assert "cannot read this value" in refused(parse_yaml, "n: " + "9" * 5000, "x")
    assert "surrogate" in refused(parse_yaml, 'a: "\\ud800"', "x")


def test_a_subclass_keeps_the_bounds() -> None:
    class Strict(BoundedLoader):
        pass

    assert "nested deeper than 2 levels" in refused(
        parse_yaml, "a: {b: {c: 1}}", "x", loader=Strict, max_depth=2
    )
