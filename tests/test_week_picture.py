"""The week picture: a PNG of the worker pool over seven days, off days shaded and named.

Checked on the decoded pixels: its size, that the holiday's column differs from the same
Monday without ``holidays: JP`` while an ordinary day's column does not, that a makeup entry
draws the Monday exactly like a normal class day, and the reconcile flow's artifact on a real
Prefect server.
"""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from PIL import Image
from prefect import flow
from prefect.artifacts import Artifact

from cwh.timetable import WeekPicture, parse_timetable, render_week
from tasks.worker_week import WEEK_ARTIFACT_KEY, publish_week_picture
from tests.test_academic_calendar import SEED, cli

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY = datetime(2026, 11, 23, tzinfo=TOKYO)  # Labor Thanksgiving Day


def draw(document: dict[str, Any], language: str = "en") -> WeekPicture:
    return render_week(parse_timetable(document), MONDAY, language=language)  # type: ignore[arg-type]


def pixels(picture: WeekPicture) -> np.ndarray:
    image = Image.open(io.BytesIO(picture.png))
    assert image.format == "PNG"
    assert image.size == (picture.width, picture.height)
    return np.asarray(image.convert("RGB"))


def column(picture: WeekPicture, array: np.ndarray, day: int) -> np.ndarray:
    left, right = picture.day_columns[day]
    top, bottom = picture.plot_rows
    return array[top:bottom, left:right]


def test_the_picture_decodes_at_its_size_with_seven_day_columns() -> None:
    picture = draw(SEED)
    array = pixels(picture)
    assert (picture.width, picture.height) == (1600, array.shape[0])
    assert 300 <= picture.height <= 2400
    assert len(picture.day_columns) == 7
    widths = {right - left for left, right in picture.day_columns}
    assert max(widths) - min(widths) <= 1 and min(widths) > 150
    assert [day.isoformat() for day in picture.days][:2] == ["2026-11-23", "2026-11-24"]


def test_the_holiday_column_differs_and_a_makeup_day_looks_like_a_class_day() -> None:
    plain = {key: value for key, value in SEED.items() if key != "holidays"}
    normal, holiday = draw(plain), draw(SEED)
    makeup = draw({**SEED, "exceptions": [{"date": "2026-11-23", "makeup": True}]})
    normal_px, holiday_px, makeup_px = pixels(normal), pixels(holiday), pixels(makeup)
    assert normal.day_columns == holiday.day_columns == makeup.day_columns
    differing = np.any(column(normal, normal_px, 0) != column(holiday, holiday_px, 0), axis=2)
    assert differing.mean() > 0.05, "the holiday's column is not shaded"
    for day in (1, 2, 3):  # Tuesday to Thursday: no holiday, drawn alike
        assert np.array_equal(column(normal, normal_px, day), column(holiday, holiday_px, day))
    assert np.array_equal(column(normal, normal_px, 0), column(makeup, makeup_px, 0))


def test_japanese_labels_draw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "timetable.yaml"
    path.write_text(yaml.safe_dump(SEED), encoding="utf-8")
    png = tmp_path / "week.png"
    argv = ["preview", str(path), "--from", "2026-11-23", "--language", "ja", "--png", str(png)]
    code, _out, err = cli(argv, capsys)
    assert code == 0
    assert f"週の図：{png}（" in err
    english = draw(SEED, "en")
    with Image.open(png) as image:
        assert image.size[0] == english.width
        japanese = np.asarray(image.convert("RGB"))
    top = english.plot_rows[0]
    assert not np.array_equal(japanese[:top], pixels(english)[:top]), "labels not in Japanese"


def test_an_unwritable_png_path_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "timetable.yaml"
    path.write_text(yaml.safe_dump(SEED), encoding="utf-8")
    target = tmp_path / "missing-dir" / "deeper" / "week.png"
    (tmp_path / "missing-dir").write_text("a file, not a directory", encoding="utf-8")
    code, _out, err = cli(["preview", str(path), "--png", str(target)], capsys)
    assert code == 1
    assert "--png" in err and "Traceback" not in err


@flow(name="week-picture-check")
def _publish(at: datetime, language: str) -> int:
    return publish_week_picture(parse_timetable(SEED), at, language)


def test_the_reconcile_artifact_holds_the_week_as_a_png(prefect_api: str) -> None:
    size = _publish(datetime(2026, 11, 24, 10, tzinfo=TOKYO), "ja")
    assert size > 0
    artifact = Artifact.get(WEEK_ARTIFACT_KEY)
    assert artifact is not None and isinstance(artifact.data, str)
    assert "今後一週間のワーカー台数（2026-11-24〜2026-11-30、Asia/Tokyo）" in artifact.data
    match = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", artifact.data)
    assert match is not None
    with Image.open(io.BytesIO(base64.b64decode(match.group(1)))) as image:
        assert image.format == "PNG" and image.size[0] == 1600
