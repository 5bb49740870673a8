from datetime import UTC, datetime

import pytest

from citypeers.intervals import Interval


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        ("2024-01-01", "2025-01-01", "2024"),
        ("2024-03-01", "2024-04-01", "2024-03"),
        ("2024-12-01", "2025-01-01", "2024-12"),
        ("2024-03-05", "2024-03-06", "2024-03-05"),
        ("2024-01-01", "2024-04-01", "2024-01-01_2024-04-01"),
        ("2024-01-01T06:00", "2024-01-01T07:00", "2024-01-01T0600_2024-01-01T0700"),
    ],
)
def test_interval_label_names_the_period(start, end, label):
    assert Interval.of(start, end).label == label


def test_interval_is_utc_and_rejects_an_empty_interval():
    interval = Interval.of(datetime(2024, 1, 1, 1, tzinfo=UTC), "2024-01-02T00:00:00+00:00")
    assert interval.start.tzinfo is not None
    with pytest.raises(ValueError, match="not after"):
        Interval.of("2024-01-02", "2024-01-01")


def test_interval_years_excludes_the_exclusive_end():
    assert Interval.of("2023-01-01", "2024-01-01").years() == [2023]
    assert Interval.of("2023-12-01", "2024-02-01").years() == [2023, 2024]
