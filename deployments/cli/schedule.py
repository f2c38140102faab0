"""``cwh schedule``: check, preview and plan the worker-node timetable, and export it to Prefect.

Subcommands::

    cwh schedule validate FILE
    cwh schedule preview FILE --from DATE --days 7 [--json] [--png WEEK.png] [--language ja|en]
    cwh schedule plan FILE --at ISO-TIME [--json] [--observed OBSERVED.json] [--language ja|en]
    cwh schedule to-prefect FILE
    cwh schedule apply FILE [--deployment NAME] [--prune] [--dry-run]
    cwh schedule savings --ledger LEDGER.jsonl [--json]
    cwh schedule savings FILE --forecast --from DATE --to DATE [--ledger LEDGER.jsonl]

``FILE`` is our timetable, the reference's OCS document, its old swarm list or a group_vars file
holding either (YAML or JSON). Nothing here touches the swarm or any VM; ``apply`` writes the
reconcile deployment's schedules on the Prefect server (:mod:`deployments.cli.schedule_apply`).
Only stdlib is imported at module level; the domain code is imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwh.defaults import DEFAULT_TIMEZONE
from deployments.cli.schedule_apply import add_parser as add_apply_parser

if TYPE_CHECKING:
    from cwh.timetable import ProviderCapabilities, Timetable

PROVIDERS = ("vcp", "local-dockerd", "static")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "schedule",
        help="check, preview and plan the worker-node timetable; export its Prefect schedules",
        description=(
            "Work with the worker-node timetable. FILE may be our format, the reference's "
            "OCS document (vcp-schedule-utils), its old swarm list, or a group_vars file "
            "holding either; YAML or JSON. Nothing here changes the swarm or any VM."
        ),
    )
    actions = parser.add_subparsers(dest="schedule_action", required=True, metavar="ACTION")

    validate = actions.add_parser(
        "validate", help="check FILE and summarise it", description="Check FILE and summarise it."
    )
    _timetable_arguments(validate)

    preview = actions.add_parser(
        "preview",
        help="timeline of node states and planned actions",
        description="Every transition from --from for --days days, with the actions a "
        "reconcile would take at each (assuming the previous one succeeded).",
    )
    _timetable_arguments(preview)
    preview.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="first day (YYYY-MM-DD) or instant (ISO); default: today, in the timetable's zone",
    )
    preview.add_argument("--days", type=_positive_int, default=7, help="days to show (default 7)")
    preview.add_argument(
        "--png",
        type=Path,
        metavar="FILE",
        help="also draw the week from --from (7 days: nodes per hour, off days shaded) as a PNG",
    )
    _provider_argument(preview)
    _json_argument(preview)
    _language_argument(preview)

    plan = actions.add_parser(
        "plan",
        help="the actions a reconcile would take at a given time (nothing is applied)",
        description="The actions a reconcile at --at would take. Without --observed the pool "
        "is assumed to be as the timetable wanted it just before --at.",
    )
    _timetable_arguments(plan)
    plan.add_argument(
        "--at",
        metavar="ISO-TIME",
        help="instant to plan for; without an offset it is read in the timetable's zone "
        "(default: now)",
    )
    plan.add_argument(
        "--observed",
        type=Path,
        metavar="FILE",
        help="JSON list of observed nodes (as a reconcile run records them) to plan from",
    )
    plan.add_argument(
        "--allow-zero-active",
        action="store_true",
        help="accept a desired state with no active worker",
    )
    _provider_argument(plan)
    _json_argument(plan)
    _language_argument(plan)

    to_prefect = actions.add_parser(
        "to-prefect",
        help="print the schedules: block for the reconcile-workers deployment",
        description="Print a schedules: block (one cron schedule per phase transition plus a "
        "safety net) ready to paste under the reconcile-workers deployment of prefect.yaml.",
    )
    _timetable_arguments(to_prefect)
    to_prefect.add_argument(
        "--indent", type=int, default=4, help="spaces before 'schedules:' (default 4)"
    )
    to_prefect.add_argument(
        "--safety-net-minutes",
        type=_positive_int,
        default=15,
        help="interval of the schedule that derives the target from the timetable (default 15)",
    )

    _timetable_arguments(add_apply_parser(actions))

    savings = actions.add_parser(
        "savings",
        help="node-hours used vs always-on per ISO week, from the reconcile ledger; "
        "with --forecast, what the timetable plans for a range of dates",
        description="Node-hours used vs always-on per ISO week, from the ledger the reconcile "
        "flow appends to. With FILE --forecast --from D --to D: the node-hours the timetable "
        "plans for those dates (holidays, terms and exceptions included) against always-on, "
        "beside the ledger's actual hours when --ledger is given.",
    )
    savings.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="timetable (needed with --forecast)"
    )
    savings.add_argument("--ledger", type=Path, help="the JSON-lines ledger")
    savings.add_argument(
        "--forecast", action="store_true", help="planned node-hours of FILE for --from..--to"
    )
    savings.add_argument("--from", dest="start", metavar="DATE", help="first day of the forecast")
    savings.add_argument("--to", dest="end", metavar="DATE", help="last day of the forecast")
    savings.add_argument("--ips", metavar="A,B,C", help="worker addresses replacing FILE's list")
    savings.add_argument("--down-type", choices=("deleted", "power_down"))
    _language_argument(savings)
    savings.add_argument(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        help=f"zone whose weeks are reported (default {DEFAULT_TIMEZONE})",
    )
    savings.add_argument("--until", metavar="ISO-TIME", help="end of the report (default: now)")
    _json_argument(savings)

    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cwh.safe_input import printable
    from cwh.timetable import PlanRefused, TimetableError

    commands = {
        "validate": _validate,
        "preview": _preview,
        "plan": _plan,
        "to-prefect": _to_prefect,
        "apply": _apply,
        "savings": _savings,
    }
    try:
        return commands[args.schedule_action](args)
    except TimetableError as exc:
        print(f"cwh schedule: {printable(str(exc), keep_newlines=True)}", file=sys.stderr)
        return 1
    except PlanRefused as exc:
        print(f"cwh schedule: plan refused: {exc}", file=sys.stderr)
        return 1
    except _UsageError as exc:
        print(f"cwh schedule {args.schedule_action}: {printable(str(exc))}", file=sys.stderr)
        return 1


def _print(text: str, end: str = "\n") -> None:
    """Print text built from a user's file, control characters escaped."""
    from cwh.safe_input import printable

    print(printable(text, keep_newlines=True), end=end)


class _UsageError(Exception):
    """A command-line value that cannot be used; the message says which and why."""


def _validate(args: argparse.Namespace) -> int:
    timetable = _load(args)
    for line in _summary(timetable, args.file):
        _print(line)
    return 0


def _preview(args: argparse.Namespace) -> int:
    from cwh.messages import language_setting
    from cwh.timetable import days_between, preview, render_days, render_preview_markdown

    timetable = _load(args)
    language = language_setting(args.language)
    start = _start(args.start, timetable)
    end = start + timedelta(days=args.days)
    rows = preview(timetable, start, end, provider=_provider(args.provider))
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2, ensure_ascii=False))
    else:
        _print(render_preview_markdown(rows, timetable, language), end="")
        _print("\n" + render_days(days_between(start, end, timetable), timetable, language), end="")
    if args.png is not None:
        _write_week_png(args.png, timetable, start, language)
    return 0


def _write_week_png(path: Path, timetable: Timetable, start: datetime, language: Any) -> None:
    from cwh.atomic_write import write_bytes_atomic
    from cwh.messages import text
    from cwh.timetable import render_week

    picture = render_week(timetable, start, language=language, now=datetime.now(timetable.timezone))
    try:
        write_bytes_atomic(path, picture.png)
    except OSError as exc:
        raise _UsageError(f"--png {path}: {exc.strerror or type(exc).__name__}") from None
    size = f"{picture.width}x{picture.height}"
    print(text("preview.week_picture", language, path=path, size=size), file=sys.stderr)


def _plan(args: argparse.Namespace) -> int:
    from cwh.messages import language_setting
    from cwh.safe_input import InputRefused
    from cwh.timetable import load_observed, plan_on_paper, render_plan_text

    timetable = _load(args)
    at = _instant(args.at, timetable) if args.at else datetime.now(timetable.timezone)
    observed = None
    if args.observed is not None:
        try:
            observed = load_observed(args.observed)
        except InputRefused as exc:
            raise _UsageError(f"--observed {exc}") from None
        except OSError as exc:
            raise _UsageError(f"--observed {args.observed}: {exc.strerror}") from None
    plan = plan_on_paper(
        timetable,
        at,
        provider=_provider(args.provider),
        observed=observed,
        allow_zero_active=args.allow_zero_active,
    )
    if args.json:
        print(json.dumps(plan.to_json(), indent=2, ensure_ascii=False))
    else:
        _print(render_plan_text(plan, language_setting(args.language)), end="")
    return 0


def _to_prefect(args: argparse.Namespace) -> int:
    from cwh.timetable import prefect_schedules, render_schedules_yaml

    if args.indent < 0:
        raise _UsageError("--indent must be 0 or more")
    timetable = _load(args)
    try:
        schedules, notes = prefect_schedules(
            timetable,
            reference=datetime.now(timetable.timezone),
            safety_net_minutes=args.safety_net_minutes,
        )
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    _print(
        render_schedules_yaml(schedules, notes, indent=args.indent, source=args.file.name), end=""
    )
    return 0


def _apply(args: argparse.Namespace) -> int:
    from deployments.cli.schedule_apply import apply_schedules

    return apply_schedules(args, _load(args))


def _savings(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from cwh.timetable import render_savings_table, weekly_savings

    if args.forecast:
        return _forecast(args)
    if args.ledger is None:
        raise _UsageError("give --ledger (or FILE --forecast --from D --to D)")
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _UsageError(f"--timezone {args.timezone!r} is not an IANA time zone") from exc
    entries = _ledger_entries(args.ledger)
    until = _aware(args.until, zone) if args.until else datetime.now(zone)
    weeks = weekly_savings(entries, until=until, timezone=zone)
    if args.json:
        print(json.dumps([week.to_json() for week in weeks], indent=2))
    elif not weeks:
        print("the ledger holds no complete interval yet")
    else:
        print(render_savings_table(weeks), end="")
    return 0


def _forecast(args: argparse.Namespace) -> int:
    from cwh.messages import language_setting
    from cwh.timetable import forecast_node_hours, forecast_total, render_forecast_table

    if args.file is None or args.start is None or args.end is None:
        raise _UsageError("--forecast needs FILE, --from DATE and --to DATE")
    first, last = _date(args.start, "--from"), _date(args.end, "--to")
    timetable = _load(args)
    entries = _ledger_entries(args.ledger) if args.ledger is not None else None
    until = (
        _aware(args.until, timetable.timezone) if args.until else datetime.now(timetable.timezone)
    )
    try:
        weeks = forecast_node_hours(timetable, first, last, ledger=entries, until=until)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if args.json:
        total = forecast_total(weeks).to_json()
        data = {"weeks": [week.to_json() for week in weeks], "total": total}
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        language = language_setting(args.language)
        _print(render_forecast_table(weeks, timetable, first, last, language), end="")
    return 0


def _ledger_entries(path: Path) -> list[Any]:
    """The ledger's entries; unreadable lines are reported on stderr and skipped."""
    from cwh.safe_input import InputRefused, printable
    from cwh.timetable import load_ledger

    try:
        entries, problems = load_ledger(path)
    except InputRefused as exc:
        raise _UsageError(f"cannot read the ledger {exc}") from None
    except OSError as exc:
        raise _UsageError(f"cannot read the ledger {path}: {exc.strerror}") from None
    for problem in problems:
        print(printable(f"cwh schedule savings: {path}: {problem}"), file=sys.stderr)
    return entries


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _UsageError(f"{option} {value!r} is not a date; write YYYY-MM-DD") from None


def _load(args: argparse.Namespace) -> Timetable:
    from cwh.timetable import DownType, load_timetable

    ips = None
    if args.ips is not None:
        ips = [part.strip() for part in args.ips.split(",") if part.strip()]
    down_type = DownType(args.down_type) if args.down_type else None
    return load_timetable(args.file, ips=ips, down_type=down_type)


def _summary(timetable: Timetable, path: Path) -> list[str]:
    addresses = timetable.ip_addresses
    lines = [
        f"{path}: valid ({timetable.form} form)",
        f"  time zone  : {timetable.timezone.key}",
        f"  workers    : {len(addresses)} ({', '.join(addresses)})",
        f"  down_type  : {timetable.down_type}, drain_time {timetable.drain_time} min",
        f"  default    : '{timetable.default_name}' -> {timetable.counts_for(timetable.default)}",
    ]
    for window in timetable.windows:
        counts = timetable.counts_for(window.target)
        lines.append(f"  window     : '{window.name}' {window.begin} - {window.end} -> {counts}")
    if timetable.exceptions:
        days = sorted(timetable.exceptions)
        shown = ", ".join(day.isoformat() for day in days[:10])
        more = f" and {len(days) - 10} more" if len(days) > 10 else ""
        lines.append(f"  exceptions : {shown}{more}")
    academic = timetable.academic_calendar
    if academic.makeup_days:
        shown = ", ".join(day.isoformat() for day in sorted(academic.makeup_days)[:10])
        lines.append(f"  makeup days: {shown}")
    if academic.holidays:
        lines.append(f"  holidays   : {academic.holidays} (national holidays are off days)")
    for term in academic.terms:
        name = f" {term.name}" if term.name else ""
        lines.append(f"  term       :{name} {term.first} .. {term.last}")
    lines.extend(f"  note       : {note}" for note in timetable.notes)
    return lines


def _start(value: str | None, timetable: Timetable) -> datetime:
    if value is None:
        today = datetime.now(timetable.timezone).date()
        return timetable.instant_of(datetime.combine(today, time()))
    try:
        return timetable.instant_of(datetime.combine(date.fromisoformat(value), time()))
    except ValueError:
        return _instant(value, timetable)


def _instant(value: str, timetable: Timetable) -> datetime:
    """An ISO time; without an offset it is the timetable's wall clock, read by the rule for
    clock changes (a skipped time is the first instant after the gap, a repeated one its
    first occurrence)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _UsageError(f"{value!r} is not an ISO date-time (e.g. 2025-04-07T08:30)") from exc
    return timetable.instant_of(moment) if moment.tzinfo is None else moment


def _aware(value: str, zone: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _UsageError(f"{value!r} is not an ISO date-time (e.g. 2025-04-07T08:30)") from exc
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _provider(name: str) -> ProviderCapabilities:
    from cwh.timetable import STATIC_PROVIDER, ProviderCapabilities

    if name == "static":
        return STATIC_PROVIDER
    return ProviderCapabilities(name)


def _timetable_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="timetable (YAML or JSON)")
    parser.add_argument(
        "--ips",
        metavar="A,B,C",
        help="worker addresses in order, replacing the file's list (needed for OCS documents)",
    )
    parser.add_argument(
        "--down-type",
        choices=("deleted", "power_down"),
        help="what happens to unneeded VMs when FILE does not say (old swarm lists: "
        "scale-out installations used deleted, power-ctl ones power_down)",
    )


def _provider_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="vcp",
        help="what the VM provider can do: vcp and local-dockerd create, delete and power VMs; "
        "static only changes swarm availability (default vcp)",
    )


def _language_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--language",
        choices=("ja", "en"),
        help="language of the text and picture (default: CWH_LANGUAGE, else en)",
    )


def _json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
