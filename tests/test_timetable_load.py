"""Loading the four document shapes and the validation messages that say what to fix."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cwh.timetable import (
    Anchor,
    DownType,
    FieldError,
    Granularity,
    NodeCounts,
    TimetableError,
    load_timetable,
    parse_anchor,
    parse_clock,
    parse_timetable,
    parse_weekday,
)

TOKYO = ZoneInfo("Asia/Tokyo")
IPS = ["10.1.0.1", "10.1.0.2", "10.1.0.3"]


def problems_of(document: object, **options: object) -> list[str]:
    with pytest.raises(TimetableError) as caught:
        parse_timetable(document, **options)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


def seed(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "ip_addresses": list(IPS),
        "class_days": ["mon"],
        "phases": [
            {"name": "class", "start": "8:30", "active": 3, "pause": 0, "drain": 0},
            {"name": "off", "start": "13:00", "active": 1, "pause": 0, "drain": 2},
        ],
    }
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("text", "weekday"),
    [("mon", 0), ("Monday", 0), ("MON", 0), ("月", 0), ("月曜日", 0), ("日", 6), ("sat", 5)],
)
def test_weekday_spellings(text: str, weekday: int) -> None:
    assert parse_weekday(text) == weekday


def test_reference_weekday_numbers_count_from_sunday() -> None:
    assert parse_weekday(0) == 6
    assert parse_weekday(1) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9:00", Anchor(Granularity.DAILY, 9, 0)),
        ("Tue 18:45", Anchor(Granularity.WEEKLY, 18, 45, weekday=1)),
        ("金曜日 7:05", Anchor(Granularity.WEEKLY, 7, 5, weekday=4)),
        ("1日 0:00", Anchor(Granularity.MONTHLY, 0, 0, day=1)),
        ("15 12:00", Anchor(Granularity.MONTHLY, 12, 0, day=15)),
        ("12/29 0:00", Anchor(Granularity.YEARLY, 0, 0, day=29, month=12)),
        ("12月29日 0:00", Anchor(Granularity.YEARLY, 0, 0, day=29, month=12)),
        ("2025/4/1 9:30", Anchor(Granularity.ONCE, 9, 30, day=1, month=4, year=2025)),
        ("2025年4月1日 9:30", Anchor(Granularity.ONCE, 9, 30, day=1, month=4, year=2025)),
        ({"day_of_week": 0, "hour": 9, "minute": 0}, Anchor(Granularity.WEEKLY, 9, 0, weekday=6)),
    ],
)
def test_period_boundary_spellings(text: object, expected: Anchor) -> None:
    assert parse_anchor(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("8.30", "not a period boundary; write e.g. '9:00' \\(daily\\)"),
        ("25:00", "hours run 0-23"),
        ("24:00", "there is no 24:00"),
        ("2025/2/30 9:00", "not a calendar date"),
        ("Mun 9:00", "did you mean 'mon'"),
        ("9:00 sharp", "not a period boundary"),
    ],
)
def test_bad_period_boundaries_say_what_to_write(text: str, fragment: str) -> None:
    with pytest.raises(FieldError, match=fragment):
        parse_anchor(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("8.30", "write H:MM in 24-hour form"),
        ("8:3", "write H:MM in 24-hour form"),
        ("23:60", "minutes 00-59"),
    ],
)
def test_bad_clock_times(text: str, fragment: str) -> None:
    with pytest.raises(FieldError, match=fragment):
        parse_clock(text)
    assert parse_clock("07:05") == (7, 5)


def test_weekday_typo_gets_suggestions() -> None:
    messages = problems_of(seed(class_days=["mon", "wendsday"]))
    assert messages == [
        "class_days[1]: 'wendsday' is not a weekday (did you mean 'wednesday'?); "
        "write mon..sun, monday..sunday, 月..日 or 月曜日..日曜日"
    ]


def test_phase_time_format_names_the_phase() -> None:
    document = seed()
    document["phases"][0]["start"] = "8h30"  # type: ignore[index]
    (message,) = problems_of(document)
    assert message.startswith("phases[0].start: '8h30' is not a time; write H:MM")


def test_counts_that_do_not_sum_to_the_addresses() -> None:
    document = seed()
    document["phases"][1]["drain"] = 1  # type: ignore[index]
    assert problems_of(document) == [
        "phases[1]: active 1 + pause 0 + drain 1 = 2 nodes, but there are 3 worker addresses; "
        "make the counts add up to 3"
    ]


def test_more_nodes_than_addresses() -> None:
    document = {
        "ip_addresses": IPS,
        "default": 1,
        "periods": [{"begin": "9:00", "end": "10:00", "node_count": 4}],
    }
    assert problems_of(document) == [
        "periods[0]: 4 nodes is more than the 3 worker addresses; "
        "lower the count or list more addresses"
    ]


def test_duplicate_and_malformed_addresses() -> None:
    messages = problems_of(seed(ip_addresses=["10.1.0.1", "10.1.0.2", "10.1.0.1", "10.1.0.999"]))
    assert messages == [
        "ip_addresses[2]: 10.1.0.1 is listed twice (also ip_addresses[0]); "
        "every worker needs its own address",
        "ip_addresses[3]: '10.1.0.999' is not an IP address",
    ]


def test_overlapping_periods_are_refused_in_our_format() -> None:
    document = {
        "ip_addresses": IPS,
        "default": 1,
        "periods": [
            {"begin": "Mon 9:00", "end": "Mon 12:00", "node_count": 3},
            {"begin": "11:00", "end": "13:00", "node_count": 2},
        ],
    }
    (message,) = problems_of(document)
    assert message.startswith(
        "periods[1]: (11:00 - 13:00) overlaps periods[0] (Mon 9:00 - Mon 12:00)"
    )
    assert "e.g. at Mon 2024-01-01 11:00; periods must not overlap" in message


def test_one_off_period_inside_a_class_needs_its_date_excepted() -> None:
    special = {"name": "exam", "begin": "2025/4/7 10:00", "end": "2025/4/7 12:00", "node_count": 2}
    (message,) = problems_of(seed(periods=[special]))
    assert "list that date under exceptions so only the one-off period applies" in message
    timetable = parse_timetable(seed(periods=[special], exceptions=["2025-04-07"]))
    moment = datetime(2025, 4, 7, 11, tzinfo=TOKYO)
    assert timetable.state_at(moment).phase == "exam"


def test_overlaps_in_reference_documents_keep_first_match_wins() -> None:
    document = {
        "default": {"node_count": 1, "down_type": "deleted"},
        "schedule": [
            {"node_count": 0, "period": {"begin": "12/29 0:00", "end": "1/4 0:00"}},
            {"node_count": 3, "period": {"begin": "9:00", "end": "16:00"}},
        ],
    }
    timetable = parse_timetable(document, ips=IPS)
    assert any("schedule[0] (listed first) wins" in note for note in timetable.notes)
    assert timetable.counts_at(datetime(2025, 12, 30, 10, tzinfo=TOKYO)).active == 0
    assert timetable.counts_at(datetime(2025, 12, 26, 10, tzinfo=TOKYO)).active == 3


def test_mixed_granularity_and_zero_length_periods() -> None:
    document = {
        "ip_addresses": IPS,
        "default": 1,
        "periods": [
            {"begin": "Mon 9:00", "end": "16:00", "node_count": 2},
            {"begin": "9:00", "end": "9:00", "node_count": 2},
            {"begin": "2025/4/2 9:00", "end": "2025/4/1 9:00", "node_count": 2},
        ],
    }
    assert problems_of(document) == [
        "periods[0]: begin 'Mon 9:00' is weekly but end '16:00' is daily; write both the same "
        "way, e.g. 'Mon 9:00' and 'Mon 16:00'",
        "periods[1]: begins and ends at the same time (9:00); a period needs a length",
        "periods[2]: ends (2025/4/1 9:00) before it begins (2025/4/2 9:00); swap them",
    ]


def test_every_problem_is_reported_at_once() -> None:
    document = seed(
        timezone="Asia/Tokio",
        down_type="delete",
        drain_tme=5,
        exceptions=["2025-13-01", "2025-05-06..2025-05-03"],
    )
    messages = problems_of(document)
    assert len(messages) == 5
    assert "drain_tme: unknown key (did you mean 'drain_time'?)" in messages
    assert any(
        m.startswith("down_type: 'delete' is not a down_type (did you mean 'deleted'?)")
        for m in messages
    )
    assert any(
        m.startswith("timezone: 'Asia/Tokio' is not an IANA time zone (did you mean 'Asia/Tokyo'")
        for m in messages
    )
    assert any(m.startswith("exceptions[0]: '2025-13-01' is not a calendar date") for m in messages)
    assert any("ends (2025-05-03) before it starts (2025-05-06)" in m for m in messages)


def test_missing_addresses_say_where_to_put_them() -> None:
    document = {"default": {"node_count": 1, "down_type": "deleted"}, "schedule": []}
    assert problems_of(document) == [
        "ip_addresses: no worker addresses: add ip_addresses to the file or pass --ips a,b,c"
    ]


def test_phases_out_of_order() -> None:
    document = seed()
    document["phases"] = [
        {"name": "class", "start": "13:00", "active": 3},
        {"name": "off", "start": "8:30", "active": 1, "drain": 2},
    ]
    (message,) = problems_of(document)
    assert message.startswith("phases[1].start: 8:30 does not come after phases[0] (class)")


def test_yaml_clock_times_stay_text_and_duplicate_keys_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "ip_addresses: [10.1.0.1, 10.1.0.2, 10.1.0.3]\n"
        "class_days: 月\n"
        "phases:\n"
        "  - {name: class, start: 8:30, active: 3, pause: 0, drain: 0}\n"
        "  - {name: off, start: 13:00, active: 1, pause: 0, drain: 2}\n"
        "exceptions: [2025-04-14]\n",
        encoding="utf-8",
    )
    timetable = load_timetable(good)
    assert timetable.counts_at(datetime(2025, 4, 7, 8, 30, tzinfo=TOKYO)).active == 3
    assert timetable.counts_at(datetime(2025, 4, 14, 8, 30, tzinfo=TOKYO)).active == 1
    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text("default: 1\nip_addresses: [10.1.0.1]\ndefault: 2\n", encoding="utf-8")
    with pytest.raises(TimetableError, match=r"duplicate key 'default' \(first given on line 1\)"):
        load_timetable(duplicate)


def test_json_documents_and_ips_override(tmp_path: Path) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps({"ip_addresses": ["10.9.9.9"], "default": 1}), encoding="utf-8")
    assert load_timetable(path).ip_addresses == ("10.9.9.9",)
    assert load_timetable(path, ips=IPS).ip_addresses == tuple(IPS)
    broken = tmp_path / "broken.json"
    broken.write_text('{"default": 1,', encoding="utf-8")
    with pytest.raises(TimetableError, match="not valid JSON"):
        load_timetable(broken)


def test_group_vars_with_vault_values_and_ocs_schedule(tmp_path: Path) -> None:
    path = tmp_path / "CoursewareHub"
    path.write_text(
        "ugroup_name: CoursewareHub\n"
        "vc_provider: aws\n"
        "es_password: !vault |\n"
        "  $ANSIBLE_VAULT;1.1;AES256\n"
        "  6162636465\n"
        "vcnode_all_ipaddress: [172.30.2.101, 172.30.2.102, 172.30.2.103]\n"
        "vcnode_schedule:\n"
        "  default: {node_count: 1, max_node_count: 3, down_type: power_down, drain_time: 30}\n"
        "  schedule:\n"
        "  - node_count: 3\n"
        "    period:\n"
        "      begin: {day_of_week: 1, hour: 9, minute: 0}\n"
        "      end: {day_of_week: 1, hour: 12, minute: 0}\n",
        encoding="utf-8",
    )
    timetable = load_timetable(path)
    assert timetable.form == "group-vars"
    assert timetable.down_type is DownType.POWER_DOWN
    monday = datetime(2025, 4, 7, tzinfo=TOKYO)
    assert timetable.counts_at(monday.replace(hour=10)) == NodeCounts(3, 0, 0, 0)
    assert timetable.counts_at(monday.replace(hour=11, minute=30)) == NodeCounts(1, 2, 0, 0)
    assert timetable.counts_at(monday.replace(hour=12)) == NodeCounts(1, 0, 2, 0)


def test_group_vars_with_old_list_takes_down_type_from_the_schedule_variable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "group_vars.yml"
    path.write_text(
        "schedule: power-ctl\n"
        "vcnode_all_ipaddress: [172.30.2.101, 172.30.2.102]\n"
        "vcnode_schedule:\n"
        "- schedule: {day_of_week: tue, hour: 8, minute: 30}\n"
        "  availability: {active: 2, pause: 0, drain: 0}\n"
        "- schedule: {day_of_week: tue, hour: 17, minute: 0}\n"
        "  availability: {active: 1, pause: 0, drain: 1}\n",
        encoding="utf-8",
    )
    timetable = load_timetable(path)
    assert timetable.down_type is DownType.POWER_DOWN
    assert timetable.counts_at(datetime(2025, 4, 10, tzinfo=TOKYO)) == NodeCounts(1, 0, 1, 0)


def test_flattened_swarm_list_and_vault_in_a_needed_field() -> None:
    flattened = [
        {"active": 2, "pause": 0, "drain": 1, "schedule": {"hour": 9, "minute": 0}},
        {"active": 1, "pause": 0, "drain": 2, "schedule": {"hour": 18, "minute": 0}},
    ]
    timetable = parse_timetable(flattened, ips=IPS, down_type=DownType.POWER_DOWN)
    assert timetable.counts_at(datetime(2025, 4, 12, 10, tzinfo=TOKYO)) == NodeCounts(2, 0, 0, 1)
    from cwh.timetable import Opaque

    document = {"vcnode_schedule": flattened, "vcnode_all_ipaddress": IPS}
    document["schedule_down_type"] = Opaque("!vault")  # type: ignore[assignment]
    assert problems_of(document) == [
        "schedule_down_type: is encrypted (!vault); give the value in plain text"
    ]


def test_daily_and_weekly_old_entries_are_combined() -> None:
    entries = [
        {
            "schedule": {"hour": 8, "minute": 0},
            "availability": {"active": 2, "pause": 0, "drain": 1},
        },
        {
            "schedule": {"day_of_week": "sun", "hour": 12, "minute": 0},
            "availability": {"active": 3, "pause": 0, "drain": 0},
        },
        {
            "schedule": {"hour": 20, "minute": 0},
            "availability": {"active": 1, "pause": 0, "drain": 2},
        },
    ]
    timetable = parse_timetable(entries, ips=IPS)
    assert timetable.counts_at(datetime(2025, 4, 8, 9, tzinfo=TOKYO)).active == 2
    assert timetable.counts_at(datetime(2025, 4, 13, 13, tzinfo=TOKYO)).active == 3
    assert timetable.counts_at(datetime(2025, 4, 13, 21, tzinfo=TOKYO)).active == 1
    assert timetable.counts_at(datetime(2025, 4, 14, 7, tzinfo=TOKYO)).active == 1


def test_yaml_on_off_yes_no_stay_names(tmp_path: Path) -> None:
    path = tmp_path / "timetable.yaml"
    path.write_text(
        "ip_addresses: [10.1.0.1, 10.1.0.2]\n"
        "class_days: [mon]\n"
        "phases:\n"
        "  - {name: on, start: '8:30', active: 2}\n"
        "  - {name: off, start: '13:00', active: 1, drain: 1}\n"
        "culling: {enabled: yes}\n",
        encoding="utf-8",
    )
    with pytest.raises(TimetableError) as caught:
        load_timetable(path)
    assert [str(problem) for problem in caught.value.problems] == [
        "culling.enabled: must be true or false"
    ]
    path.write_text(path.read_text(encoding="utf-8").replace("yes", "true"), encoding="utf-8")
    timetable = load_timetable(path)
    assert [window.name for window in timetable.windows] == ["on"]
    assert timetable.default_name == "off"


def test_worker_addresses_must_be_unicast_hosts() -> None:
    bad = ["0.0.0.0", "255.255.255.255", "127.0.0.2", "::", "ff02::1", "169.254.1.1"]
    problems = problems_of(seed(ip_addresses=[*bad, "10.1.0.9"]))
    assert [problem.split(":")[0] for problem in problems] == [
        f"ip_addresses[{index}]" for index in range(len(bad))
    ]
    assert problems_of(seed(), ips=["10.1.0.1", "127.0.0.1", "10.1.0.3"]) == [
        "--ips[1]: 127.0.0.1 is a loopback address (the machine itself), not a worker;"
        " list the address each worker joins the swarm with"
    ]
    assert parse_timetable(seed(ip_addresses=["10.1.0.255", "fd00::1", "10.1.0.3"]))
