"""The week picture: every worker node's wanted state, hour by hour, over seven days.

One row per worker address (in list order, the order addresses are handed out), one column per
day; a bar's colour is the state the timetable wants (active, paused, powered off, no VM).
Days on which no class starts (a holiday, outside every term, an exception) are hatched and
named above their column in red; makeup class days are named in green. A dashed line marks
"now" when it falls inside the week. The spans are the timetable's own transitions, so a phase
starting at 8:40 starts at 8:40 in the picture, not at the next full hour.

Drawn with Matplotlib's object API on a private figure (no pyplot, no global settings), so
pictures can be drawn from worker threads. Japanese labels use the CJK font the progress
heatmap finds; without one, Latin text still renders.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from cwh.messages import Language, text
from cwh.timetable.academic import DayKind
from cwh.timetable.day_text import short_label, weekday_name
from cwh.timetable.model import NodeState
from cwh.timetable.table import Timetable

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

STATE_COLOURS: dict[NodeState, str] = {
    NodeState.ACTIVE: "#2c7bb6",
    NodeState.PAUSE: "#fdae61",
    NodeState.POWER_DOWN: "#bdbdbd",
    NodeState.DELETED: "#f0f0f0",
}
OFF_COLOUR = "#d7191c"
MAKEUP_COLOUR = "#1a9641"
DPI = 100
WIDTH_INCHES = 16.0
ROW_INCHES = 0.3
MAX_HEIGHT_INCHES = 24.0
MAX_ROW_LABELS = 70
"""Above this many workers only every n-th address is written beside its row."""
_LATIN = "DejaVu Sans"


@dataclass(frozen=True)
class WeekPicture:
    """The PNG, its size, and where each day's column landed (pixels, origin top-left)."""

    png: bytes
    width: int
    height: int
    days: tuple[date, ...]
    day_columns: tuple[tuple[int, int], ...]
    """``(left, right)`` pixel columns of each day, inside the plot."""
    plot_rows: tuple[int, int]
    """``(top, bottom)`` pixel rows of the plot area (the node bars)."""


def render_week(
    timetable: Timetable,
    start: datetime,
    *,
    days: int = 7,
    language: Language = "en",
    now: datetime | None = None,
) -> WeekPicture:
    """Draw ``days`` days from the local midnight of ``start`` (an aware instant)."""
    # Matplotlib and the font catalogue load only when a picture is drawn: every command and
    # flow that reads a timetable imports this package.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cwh.progress import cjk_font

    zone = timetable.timezone
    first = start.astimezone(zone).date()
    dates = tuple(first + timedelta(days=n) for n in range(days))
    origin = datetime.combine(first, datetime.min.time())
    begin = timetable.instant_of(origin)
    end = timetable.instant_of(origin + timedelta(days=days))
    addresses = timetable.ip_addresses
    preferred = (cjk_font(), _LATIN) if language == "ja" else (_LATIN, cjk_font())
    families = [name for name in preferred if name]

    height = min(MAX_HEIGHT_INCHES, 2.9 + ROW_INCHES * len(addresses))
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _draw_states(axes, timetable, begin, end, origin)
    axes.set_xlim(0, 24 * days)
    axes.set_ylim(len(addresses) - 0.5, -0.5)
    step = max(1, len(addresses) // MAX_ROW_LABELS + (len(addresses) % MAX_ROW_LABELS > 0))
    rows = range(0, len(addresses), step)
    axes.set_yticks(rows, [addresses[row] for row in rows], family=families, fontsize=8)
    hours = [day * 24 + hour for day in range(days) for hour in (0, 6, 12, 18)]
    axes.set_xticks(hours, [str(hour % 24) for hour in hours], family=families, fontsize=8)
    axes.set_xlabel(text("schedule.week.hour", language), family=families)
    for boundary in range(days + 1):
        axes.axvline(boundary * 24, color="#404040", linewidth=1.2, zorder=4)

    header = axes.twiny()
    header.set_xlim(axes.get_xlim())
    centres = [day * 24 + 12 for day in range(days)]
    labels: list[str] = []
    colours: list[str] = []
    for offset, day in enumerate(dates):
        status = timetable.day_status(day, language)
        label = f"{weekday_name(day, language)} {day.month}/{day.day}"
        extra = short_label(status, language)
        labels.append(f"{label}\n{extra or ' '}")  # two lines always: the plot keeps its size
        if status.off:
            colours.append(OFF_COLOUR)
            axes.axvspan(
                offset * 24,
                offset * 24 + 24,
                facecolor="none",
                edgecolor=OFF_COLOUR,
                hatch="//",
                alpha=0.45,
                linewidth=0,
                zorder=3,
            )
        else:
            colours.append(MAKEUP_COLOUR if status.kind is DayKind.MAKEUP else "black")
    header.set_xticks(centres, labels, family=families, fontsize=9)
    header.tick_params(axis="x", length=0)
    for tick, colour in zip(header.get_xticklabels(), colours, strict=True):
        tick.set_color(colour)

    if now is not None and begin <= now < end:
        local = now.astimezone(zone).replace(tzinfo=None)
        axes.axvline(
            (local - origin) / timedelta(hours=1),
            color="black",
            linestyle="--",
            linewidth=1.5,
            zorder=5,
        )
    last = dates[-1]
    figure.suptitle(
        text(
            "schedule.week.title",
            language,
            first=first.isoformat(),
            last=last.isoformat(),
            zone=zone.key,
        ),
        family=families,
        fontsize=13,
    )
    figure.legend(
        handles=_legend(language, MAKEUP_COLOUR in colours, now is not None and begin <= now < end),
        loc="outside lower center",
        ncols=7,
        prop={"family": families, "size": 9},
        frameon=False,
    )
    canvas.draw()  # type: ignore[no-untyped-call]
    return _picture(canvas, figure, axes, dates)


def _draw_states(
    axes: Axes, timetable: Timetable, begin: datetime, end: datetime, origin: datetime
) -> None:
    """One horizontal bar per node and span of constant state, at wall-clock positions."""
    states = timetable.transitions(begin, end)
    zone = timetable.timezone
    positions = [
        (state.at.astimezone(zone).replace(tzinfo=None) - origin) / timedelta(hours=1)
        for state in states
    ]
    total = (end.astimezone(zone).replace(tzinfo=None) - origin) / timedelta(hours=1)
    positions.append(total)
    for row, address in enumerate(timetable.ip_addresses):
        spans: dict[NodeState, list[tuple[float, float]]] = {}
        for index, state in enumerate(states):
            left, right = positions[index], positions[index + 1]
            spans.setdefault(state.nodes[address], []).append((left, right - left))
        for node_state, pieces in spans.items():
            axes.broken_barh(
                pieces,
                (row - 0.38, 0.76),
                facecolors=STATE_COLOURS[node_state],
                edgecolor="none",
                zorder=2,
            )


def _legend(language: Language, with_makeup: bool, with_now: bool) -> list[Artist]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Artist] = [
        Patch(facecolor=colour, edgecolor="#808080", label=text(f"schedule.week.{state}", language))
        for state, colour in STATE_COLOURS.items()
    ]
    handles.append(
        Patch(
            facecolor="white",
            edgecolor=OFF_COLOUR,
            hatch="//",
            label=text("schedule.week.off_day", language),
        )
    )
    if with_makeup:
        label = text("schedule.week.makeup_day", language)
        handles.append(Patch(facecolor="white", edgecolor=MAKEUP_COLOUR, label=label))
    if with_now:
        now = Line2D(
            [], [], color="black", linestyle="--", label=text("schedule.week.now", language)
        )
        handles.append(now)
    return handles


def _picture(
    canvas: FigureCanvasAgg, figure: Figure, axes: Axes, dates: Sequence[date]
) -> WeekPicture:
    width, height = (round(size) for size in canvas.get_width_height())
    transform = axes.transData
    columns = []
    for offset in range(len(dates)):
        left, _ = transform.transform((offset * 24, 0))
        right, _ = transform.transform((offset * 24 + 24, 0))
        columns.append((round(float(left)) + 2, round(float(right)) - 2))
    box = axes.get_window_extent()
    plot_rows = (height - int(box.y1) + 2, height - int(box.y0) - 2)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return WeekPicture(buffer.getvalue(), width, height, tuple(dates), tuple(columns), plot_rows)
