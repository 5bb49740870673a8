"""Data intervals: every task works on [start, end), never on "now"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from croniter import croniter


def _as_utc(moment: datetime | date | str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Interval:
    """A half-open data interval [start, end) in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime | date | str, end: datetime | date | str) -> Interval:
        start_utc, end_utc = _as_utc(start), _as_utc(end)
        if end_utc <= start_utc:
            raise ValueError(f"interval end {end_utc} is not after its start {start_utc}")
        return cls(start_utc, end_utc)

    @property
    def label(self) -> str:
        """The period label used in file names: 2024, 2024-03, 2024-03-05 or start_end."""
        start, end = self.start, self.end
        midnight = start.time() == end.time() == datetime.min.time()
        if midnight and start.month == start.day == 1 and end == start.replace(year=start.year + 1):
            return f"{start:%Y}"
        if midnight and start.day == 1:
            next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
            if end == next_month:
                return f"{start:%Y-%m}"
        if midnight and end - start == timedelta(days=1):
            return f"{start:%Y-%m-%d}"
        if midnight:
            return f"{start:%Y-%m-%d}_{end:%Y-%m-%d}"
        return f"{start:%Y-%m-%dT%H%M}_{end:%Y-%m-%dT%H%M}"

    def years(self) -> list[int]:
        """Calendar years the interval touches."""
        last = (self.end - timedelta(microseconds=1)).year
        return list(range(self.start.year, last + 1))


PRESETS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@quarterly": "0 0 1 */3 *",
           "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@hourly": "0 * * * *"}


def next_run_at(schedule: str, start_date: str, now: datetime) -> datetime:
    """When Airflow next runs a feed's DAG after `now` (UTC): with a data-interval timetable a run
    starts when its interval ends, so it is the schedule's next time after now — or, before the
    start date, the end of the first interval, which starts at the first schedule time from the
    start date on."""
    expression = PRESETS.get(schedule, schedule)
    if not croniter.is_valid(expression):
        raise ValueError(f"not a cron expression or preset: {schedule!r}")
    now, start = _as_utc(now), _as_utc(start_date)
    if start > now:
        first_start = start if croniter.match(expression, start) else croniter(expression, start).get_next(datetime)
        return croniter(expression, first_start).get_next(datetime)
    return croniter(expression, now).get_next(datetime)


def interval_ends(schedule: str, start_date: str, until: str) -> list[datetime]:
    """The end of every complete interval from start_date to until.

    `airflow dags test <dag> <date>` on a data-interval timetable runs the interval that ENDS
    at <date> (Airflow 3 infers a manual run's interval backwards), so these are the dates to
    pass to run each interval exactly once."""
    expression = PRESETS.get(schedule, schedule)
    first, last = datetime.fromisoformat(start_date), datetime.fromisoformat(until)
    cron = croniter(expression, first)
    starts = [first] if croniter.match(expression, first) else []
    while True:
        moment = cron.get_next(datetime)
        if moment > last:
            break
        starts.append(moment)
    ends = [croniter(expression, s).get_next(datetime) for s in starts]
    return [end for end in ends if end <= last]


def schedule_intervals(schedule: str, start_date: str, until: str) -> list[Interval]:
    """The complete data intervals of a schedule from start_date to until, oldest first."""
    expression = PRESETS.get(schedule, schedule)
    return [Interval.of(croniter(expression, end).get_prev(datetime), end)
            for end in interval_ends(schedule, start_date, until)]
