"""The data-only unpickler: real lc_wrapper results load, hostile pickles never run."""

from __future__ import annotations

import copyreg
import json
import math
import os
import pickle
import re
import struct
import subprocess
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwh.enrich import (
    MAX_SAME_HASH,
    MAX_TUPLES,
    UnsafePickleError,
    safe_loads,
    to_json_value,
)
from tests.enrich_support import cycles_left_by, hostile_pickles

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lcwrapper-sample"
MERSENNE_61 = 2**61 - 1
PRIVATE_EXTENSION_CODE = 241  # 240-255 are reserved for private use by copyreg


def fixture_results() -> Iterator[tuple[Path, dict[str, Any]]]:
    for line in (FIXTURE / "expected.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "result" in record:
            relative = Path(record["result"]).relative_to("/home")
            yield FIXTURE / "users" / relative, record


def test_fixture_results_load_to_the_expected_json() -> None:
    seen = 0
    for path, record in fixture_results():
        value = to_json_value(safe_loads(path.read_bytes()))
        assert value == record["result_json"]
        assert orjson.loads(orjson.dumps(value)) == value
        seen += 1
    assert seen == 5


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


class _RunsEval:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (eval, ("__import__('os').getpid()",))


class _RunsSubprocess:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[list[str]]]:
        return (subprocess.check_call, (["touch", str(self.marker)],))


def test_os_system_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps({"content": _RunsShell(f"touch {marker}")})
    with pytest.raises(UnsafePickleError, match=r"refused global (posix|os)\.system"):
        safe_loads(data)
    assert not marker.exists()


def test_eval_and_subprocess_pickles_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(UnsafePickleError, match=r"refused global builtins\.eval"):
        safe_loads(pickle.dumps([_RunsEval()]))
    with pytest.raises(UnsafePickleError, match=r"refused global subprocess\.check_call"):
        safe_loads(pickle.dumps(_RunsSubprocess(marker), protocol=4))
    # Protocols below 3 write Python 2 module names; the refusal names what is written.
    with pytest.raises(UnsafePickleError, match=r"refused global commands\.check_call"):
        safe_loads(pickle.dumps(_RunsSubprocess(marker), protocol=2))
    assert not marker.exists()


def test_hand_written_protocol_0_globals_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    via_global = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    via_inst = f"(S'touch {marker}'\nios\nsystem\n.".encode()
    with pytest.raises(UnsafePickleError, match=r"refused global os\.system"):
        safe_loads(via_global)
    with pytest.raises(UnsafePickleError, match=r"refused global os\.system"):
        safe_loads(via_inst)
    assert not marker.exists()


def test_reduce_chain_through_getattr_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    # builtins.getattr(builtins.__import__('os'), 'system')('touch ...'), spelled with
    # STACK_GLOBAL and REDUCE only.
    data = (
        b"\x80\x04"
        b"\x8c\x08builtins\x8c\x07getattr\x93"
        b"\x8c\x08builtins\x8c\n__import__\x93\x8c\x02os\x85R"
        b"\x8c\x06system\x86R"
        + b"\x8c"
        + bytes([len(f"touch {marker}")])
        + f"touch {marker}".encode()
        + b"\x85R."
    )
    with pytest.raises(UnsafePickleError, match=r"refused global builtins\.getattr"):
        safe_loads(data)
    assert not marker.exists()


def test_persistent_ids_are_refused() -> None:
    class Persisting(pickle.Pickler):
        def persistent_id(self, obj: object) -> str | None:
            return "row-42" if obj == "secret" else None

    stream = __import__("io").BytesIO()
    Persisting(stream, protocol=4).dump({"a": "secret"})
    with pytest.raises(UnsafePickleError, match="persistent id"):
        safe_loads(stream.getvalue())
    with pytest.raises(UnsafePickleError, match="persistent id"):
        safe_loads(b"Prow-42\n.")


def test_extension_codes_are_refused_even_when_cached() -> None:
    copyreg.add_extension("os", "system", PRIVATE_EXTENSION_CODE)
    try:
        data = b"\x80\x02\x82" + bytes([PRIVATE_EXTENSION_CODE]) + b"."
        # The default unpickler resolves (but does not call) os.system and caches it in
        # copyreg's process-wide extension cache, which the C unpickler consults first.
        assert pickle.loads(data) is os.system
        with pytest.raises(UnsafePickleError, match=r"refused global os\.system \(extension"):
            safe_loads(data)
    finally:
        copyreg.remove_extension("os", "system", PRIVATE_EXTENSION_CODE)
    with pytest.raises(UnsafePickleError, match="extension code"):
        safe_loads(b"\x80\x02\x82\x05.")


def test_memo_index_bomb_is_refused_before_allocation() -> None:
    # 8 bytes that would make the C unpickler allocate and zero a 16 GiB memo table.
    data = b"\x80\x04N" + b"r" + struct.pack("<I", 0x7FFFFFFF) + b"."
    with pytest.raises(UnsafePickleError, match="memo index 2147483647"):
        safe_loads(data)
    with pytest.raises(UnsafePickleError, match="memo index"):
        safe_loads(b"Np99999999999\n.")


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc.",
        b"\x80\x04X" + struct.pack("<I", 2**31) + b"abc.",
        b"\x80\x04T" + struct.pack("<i", -5) + b"abc.",
        b"\x80\x04\x95" + struct.pack("<Q", 2**50) + b"N.",
    ],
)
def test_forged_lengths_are_refused(data: bytes) -> None:
    with pytest.raises(UnsafePickleError, match="not a valid pickle"):
        safe_loads(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"\x80\x04", pickle.dumps({"a": 1})[:-1], b"\xff\x00", b"a.", b"0."],
)
def test_corrupt_pickles_are_refused(data: bytes) -> None:
    with pytest.raises(UnsafePickleError):
        safe_loads(data)


def test_deep_nesting_is_refused() -> None:
    nested: list[Any] = []
    for _ in range(150):
        nested = [nested]
    data = pickle.dumps(nested)
    with pytest.raises(UnsafePickleError, match="nested deeper than 100 levels"):
        safe_loads(data)
    assert safe_loads(data, max_depth=200) == nested


def test_shared_reference_amplification_is_refused() -> None:
    level: list[Any] = ["leaf"]
    for _ in range(12):
        level = [level] * 10
    data = pickle.dumps(level)
    assert len(data) < 1000
    with pytest.raises(UnsafePickleError, match="more than 250000 items"):
        safe_loads(data)


def test_reference_cycles_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(UnsafePickleError, match="self-referencing"):
        safe_loads(pickle.dumps(loop))


def test_crafted_hash_collisions_are_refused() -> None:
    colliding = {n * MERSENNE_61: n for n in range(1, MAX_SAME_HASH + 10)}
    assert len({hash(key) for key in colliding}) == 1
    with pytest.raises(UnsafePickleError, match="hash-collision"):
        safe_loads(pickle.dumps(colliding))


def test_crafted_float_hash_collisions_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2**(61k) hashes to 1 for every k: float hashes are reduced modulo 2**61 - 1.
    floats = [2.0 ** (61 * k) for k in range(-17, 17)]
    assert {hash(value) for value in floats} == {1}
    assert safe_loads(pickle.dumps(floats)) == floats
    monkeypatch.setattr("cwh.enrich.safe_unpickle.MAX_SAME_HASH", 16)
    with pytest.raises(UnsafePickleError, match="more than 16 distinct numbers"):
        safe_loads(pickle.dumps(floats))


def test_ordinary_numbers_and_repeats_are_fine() -> None:
    data = {
        "ints": list(range(-70000, 70000, 7)),
        "big": [2**70 + n for n in range(500)],
        "floats": [0.0] * 5000 + [n / 7 for n in range(5000)],
    }
    assert safe_loads(pickle.dumps(data)) == data


def test_too_many_tuples_are_refused() -> None:
    assert safe_loads(pickle.dumps([(n,) for n in range(100)])) == [(n,) for n in range(100)]
    with pytest.raises(UnsafePickleError, match="tuples"):
        safe_loads(pickle.dumps([(n, n) for n in range(MAX_TUPLES + 1)]))


def test_too_wide_integers_are_refused() -> None:
    with pytest.raises(UnsafePickleError, match="integer wider than 4096 bits"):
        safe_loads(pickle.dumps(2**5000))
    with pytest.raises(UnsafePickleError, match="integer wider"):
        safe_loads(b"L" + b"9" * 5000 + b"L\n.")


def test_non_bytes_input_is_refused() -> None:
    with pytest.raises(UnsafePickleError, match="must be bytes, not str"):
        safe_loads("N.")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        safe_loads(b"N.", max_depth=0)


@pytest.mark.parametrize("protocol", [4, 5])
def test_every_plain_type_round_trips(protocol: int) -> None:
    value = {
        "str": "日本語",
        "bytes": b"\x00\xff",
        "int": -(2**40),
        "big": 2**100,
        "float": 1.5,
        "bool": True,
        "none": None,
        "list": [1, [2, [3]]],
        "tuple": (1, "a"),
        "set": {1, 2},
        "frozenset": frozenset({"x"}),
        "dict": {1: "one", (1, 2): "pair"},
    }
    assert safe_loads(pickle.dumps(value, protocol=protocol)) == value


def test_bytearray_loads_from_protocol_5_only() -> None:
    assert safe_loads(pickle.dumps(bytearray(b"ab"), protocol=5)) == bytearray(b"ab")
    with pytest.raises(UnsafePickleError, match=r"refused global builtins\.bytearray"):
        safe_loads(pickle.dumps(bytearray(b"ab"), protocol=4))


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_old_protocols_of_plain_containers_load(protocol: int) -> None:
    value = {"a": [1, 2.5, None, True], "b": ("x", {"c": -3})}
    assert safe_loads(pickle.dumps(value, protocol=protocol)) == value


def test_old_protocol_sets_are_refused_as_globals() -> None:
    with pytest.raises(UnsafePickleError, match=r"refused global (__builtin__|builtins)\.set"):
        safe_loads(pickle.dumps({1, 2}, protocol=2))


plain_data = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=5)
        | st.frozensets(st.integers() | st.text(max_size=5), max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=200)
@given(plain_data, st.sampled_from([0, 2, 3, 4, 5]))
def test_plain_data_round_trips_and_converts(value: Any, protocol: int) -> None:
    try:
        data = pickle.dumps(value, protocol=protocol)
    except (pickle.PicklingError, UnicodeEncodeError):
        return
    try:
        loaded = safe_loads(data)
    except UnsafePickleError as exc:
        # Protocols below 4 spell frozensets and (below 3) bytes as global calls.
        assert protocol < 4
        assert "refused global" in str(exc)
        return
    assert loaded == value
    orjson.dumps(to_json_value(loaded))


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_random_bytes_either_load_or_are_refused(data: bytes) -> None:
    try:
        loaded = safe_loads(data)
    except UnsafePickleError:
        return
    orjson.dumps(to_json_value(loaded))


def test_to_json_value_conversions() -> None:
    value = {
        "t": (1, 2),
        "s": {3, 1, 2},
        "fs": frozenset({"b", "a"}),
        "b": b"ok\xff",
        "nan": math.nan,
        "inf": -math.inf,
        "big": 2**64,
        "neg": -(2**63),
        "sur": "a\udc80b",
        1: "int key",
        None: "none key",
        2.5: "float key",
        (1, "x"): "tuple key",
        b"k": "bytes key",
    }
    assert to_json_value(value) == {
        "t": [1, 2],
        "s": [1, 2, 3],
        "fs": ["a", "b"],
        "b": "ok\ufffd",
        "nan": None,
        "inf": None,
        "big": "18446744073709551616",
        "neg": -(2**63),
        "sur": "a\ufffdb",
        "1": "int key",
        "null": "none key",
        "2.5": "float key",
        '[1,"x"]': "tuple key",
        "k": "bytes key",
    }
    orjson.dumps(to_json_value(value))


def test_to_json_value_first_key_wins_on_collision() -> None:
    assert to_json_value({1: "int", "1": "str"}) == {"1": "int"}
    assert to_json_value({True: "yes", False: "no", "x": 1}) == {
        "true": "yes",
        "false": "no",
        "x": 1,
    }


def test_to_json_value_refuses_foreign_types_and_depth() -> None:
    with pytest.raises(ValueError, match="Path is not plain data"):
        to_json_value({"p": Path("/")})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested too deeply"):
        to_json_value(loop)


BOMBS = hostile_pickles()
# Refused by the pre-scan: nothing is built.
UNBUILT = ["nested-lists", "long-list", "empty-sets", "empty-dicts", "open-marks", "memo-flood",
           "self-references", "cyclic-garbage", "refused-global-after-bulk"]  # fmt: skip
# Within the pre-scan's caps: built, then refused and taken apart.
BUILT = ["sets-then-global", "cycle-under-cap", "deep-under-cap", "cycle-then-failure",
         "shared-amplification"]  # fmt: skip


def test_every_hostile_pickle_is_classified() -> None:
    assert sorted(BOMBS) == sorted(UNBUILT + BUILT)


@pytest.mark.parametrize("name", UNBUILT)
def test_memory_bombs_are_refused_before_they_are_built(name: str) -> None:
    data = BOMBS[name]
    tracemalloc.start()
    try:
        with pytest.raises(UnsafePickleError, match="refused pickle") as caught:
            safe_loads(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"{peak} bytes allocated for a {len(data)}-byte bomb"
    assert re.search(
        "more than 100000 (values|memo entries)|more than 100 marks", str(caught.value)
    )


_LOAD_BOMB = """
import sys
from pathlib import Path
from cwh.enrich import UnsafePickleError, safe_loads
data = Path(sys.argv[1]).read_bytes()
"""
_REFUSE_BOMB = """
try:
    safe_loads(data)
except UnsafePickleError as error:
    kept = error
else:
    raise SystemExit("not refused")
"""


@pytest.mark.parametrize("name", BUILT)
def test_refused_graphs_leave_no_cycles_and_no_references(name: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafePickleError) as caught:
        safe_loads(BOMBS[name])
    error = caught.value
    assert error.__cause__ is None and error.__context__ is None
    (tmp_path / "bomb.pkl").write_bytes(BOMBS[name])
    assert cycles_left_by(_LOAD_BOMB, _REFUSE_BOMB, str(tmp_path / "bomb.pkl")) == 0
    assert error.__traceback__ is not None
    # The frames of the traceback hold no part of the refused graph.
    frame: Any = error.__traceback__
    while frame is not None:
        assert not any(
            isinstance(value, list | dict | set) and len(value) > 1000
            for value in frame.tb_frame.f_locals.values()
        )
        frame = frame.tb_next


def test_object_cap_and_mark_depth_are_configurable() -> None:
    data = pickle.dumps(list(range(10)), protocol=4)
    assert safe_loads(data, max_objects=11) == list(range(10))
    with pytest.raises(UnsafePickleError, match="more than 10 values"):
        safe_loads(data, max_objects=10)
    nested: Any = 0
    for _ in range(99):
        nested = [nested, 1]
    # Python's pickler opens one mark per level: a value as deep as allowed loads.
    assert safe_loads(pickle.dumps(nested, protocol=4)) == nested
    with pytest.raises(UnsafePickleError, match="more than 50 marks open"):
        safe_loads(pickle.dumps(nested, protocol=4), max_depth=50)


def test_dup_and_long_names_are_refused_briefly() -> None:
    with pytest.raises(UnsafePickleError, match="DUP opcode at byte 3"):
        safe_loads(b"\x80\x04]2a.")
    with pytest.raises(UnsafePickleError, match="refused global") as caught:
        safe_loads(
            b"\x80\x04\x8d" + struct.pack("<Q", 100_000) + b"m" * 100_000 + b"\x8c\x01x\x93."
        )
    assert len(str(caught.value)) < 400
