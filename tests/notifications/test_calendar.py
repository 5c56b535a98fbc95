"""The business calendar against the official calendar, daylight saving, and its own arithmetic.

Dates of the school year 2026-2027 (arrêté du 22 octobre 2025; a break starts after class on the Saturday and
lasts until the evening before classes resume): Toussaint 17 Oct – 1 Nov 2026 and Christmas 19 Dec 2026 –
3 Jan 2027 in every zone; winter 2027 zone A 13–28 Feb, B 20 Feb – 7 Mar, C 6–21 Feb; spring 2027 zone A
10–25 Apr, B 17 Apr – 2 May, C 3–18 Apr; no class on Friday 7 May 2027 (Ascension bridge). The `holidays` package
(0.109) gives exactly these, so the calendar ships no dates of its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.calendar import (
    PARIS,
    BusinessCalendar,
    SendingWindow,
    calendar_for,
    calendar_from_key,
)

A, B, C = calendar_for("A"), calendar_for("B"), calendar_for("C")
NONE = calendar_for(None)
B_AM = calendar_for("B", "057")
NONE_AM = calendar_for(None, "67")
ZONED = (A, B, C)
EVERY = (A, B, C, NONE, B_AM, NONE_AM)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


def weekdays(first: date, last: date) -> list[date]:
    return [day for day in days(first, last) if day.weekday() < 5]


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------------------------ the official calendar


def test_weekends_are_never_working_days() -> None:
    for calendar in EVERY:
        assert not calendar.is_working_day(date(2026, 12, 5))  # Saturday
        assert not calendar.is_working_day(date(2026, 12, 6))  # Sunday
        assert calendar.is_working_day(date(2026, 12, 4))  # Friday
        assert calendar.is_working_day(date(2026, 12, 7))  # Monday
        assert calendar.holiday_name(date(2026, 12, 5)) is None


@pytest.mark.parametrize("calendar", ZONED, ids=lambda c: c.key)
def test_toussaint_2026_is_a_break_in_every_zone(calendar: BusinessCalendar) -> None:
    assert calendar.is_working_day(date(2026, 10, 16))  # Friday, classes until the evening
    for day in days(date(2026, 10, 17), date(2026, 11, 1)):
        assert not calendar.is_working_day(day), day
        assert calendar.holiday_name(day) in ("Vacances de la Toussaint", "Toussaint"), day
    assert calendar.holiday_name(date(2026, 10, 19)) == "Vacances de la Toussaint"
    assert calendar.holiday_name(date(2026, 11, 1)) == "Toussaint"  # the public holiday is named first
    assert calendar.is_working_day(date(2026, 11, 2))
    assert calendar.holiday_name(date(2026, 11, 2)) is None


@pytest.mark.parametrize("calendar", ZONED, ids=lambda c: c.key)
def test_christmas_2026_is_a_break_in_every_zone(calendar: BusinessCalendar) -> None:
    assert calendar.is_working_day(date(2026, 12, 18))
    assert not any(calendar.is_working_day(day) for day in days(date(2026, 12, 19), date(2027, 1, 3)))
    assert calendar.holiday_name(date(2026, 12, 21)) == "Vacances de Noël"
    assert calendar.holiday_name(date(2027, 1, 1)) == "Jour de l'an"
    assert calendar.is_working_day(date(2027, 1, 4))


WINTER_2027 = {"A": (date(2027, 2, 13), date(2027, 2, 28)), "B": (date(2027, 2, 20), date(2027, 3, 7)),
               "C": (date(2027, 2, 6), date(2027, 2, 21))}
SPRING_2027 = {"A": (date(2027, 4, 10), date(2027, 4, 25)), "B": (date(2027, 4, 17), date(2027, 5, 2)),
               "C": (date(2027, 4, 3), date(2027, 4, 18))}


@pytest.mark.parametrize("calendar", ZONED, ids=lambda c: c.key)
@pytest.mark.parametrize(("breaks", "name"), [(WINTER_2027, "Vacances d'hiver"),
                                              (SPRING_2027, "Vacances de printemps")], ids=["winter", "spring"])
def test_winter_and_spring_2027_follow_each_zone(calendar: BusinessCalendar, breaks: dict[str, tuple[date, date]],
                                                 name: str) -> None:
    first, last = breaks[calendar.key]
    assert not any(calendar.is_working_day(day) for day in days(first, last))
    assert all(calendar.holiday_name(day) == name for day in weekdays(first, last))
    assert calendar.holiday_name(first - timedelta(1)) is None and calendar.holiday_name(last + timedelta(1)) is None
    assert calendar.is_working_day(first - timedelta(1))  # the Friday before
    assert calendar.is_working_day(last + timedelta(1))  # the Monday classes resume
    for other in set(ZONED) - {calendar}:  # another zone's break is a working week here unless ours overlaps
        for day in weekdays(*breaks[other.key]):
            assert calendar.is_working_day(day) == (not first <= day <= last), (other.key, day)
    assert all(NONE.is_working_day(day) for day in weekdays(first, last))


def test_a_february_week_per_zone() -> None:
    week_of_15_feb = weekdays(date(2027, 2, 15), date(2027, 2, 19))
    week_of_22_feb = weekdays(date(2027, 2, 22), date(2027, 2, 26))
    week_of_1_mar = weekdays(date(2027, 3, 1), date(2027, 3, 5))
    assert [[c.is_working_day(d) for d in week_of_15_feb] for c in ZONED] == [[False] * 5, [True] * 5, [False] * 5]
    assert [[c.is_working_day(d) for d in week_of_22_feb] for c in ZONED] == [[False] * 5, [False] * 5, [True] * 5]
    assert [[c.is_working_day(d) for d in week_of_1_mar] for c in ZONED] == [[True] * 5, [False] * 5, [True] * 5]
    assert [c.working_days_between(date(2027, 2, 12), date(2027, 3, 5)) for c in (A, B, C, NONE)] == [5, 5, 10, 15]


@pytest.mark.parametrize(("day", "name"), [
    (date(2026, 11, 11), "Armistice"),
    (date(2026, 12, 25), "Noël"),
    (date(2027, 1, 1), "Jour de l'an"),
    (date(2027, 3, 29), "Lundi de Pâques"),
    (date(2027, 5, 6), "Ascension"),
    (date(2027, 5, 17), "Lundi de Pentecôte"),
])
def test_public_holidays_in_every_calendar(day: date, name: str) -> None:
    for calendar in EVERY:
        assert not calendar.is_working_day(day), (calendar.key, day)
        assert calendar.holiday_name(day) == name, calendar.key


def test_a_public_holiday_week_and_the_days_around() -> None:
    # Wednesday 11 November 2026: the rest of the week works everywhere.
    for calendar in EVERY:
        assert [calendar.is_working_day(d) for d in weekdays(date(2026, 11, 9), date(2026, 11, 13))] == \
            [True, True, False, True, True]
        assert calendar.working_days_between(date(2026, 11, 6), date(2026, 11, 13)) == 4
    # Easter Monday 29 March 2027 falls outside every zone's spring break.
    assert all(c.is_working_day(date(2027, 3, 30)) for c in EVERY)


def test_the_ascension_bridge_is_a_break_day_in_the_zones_only() -> None:
    friday = date(2027, 5, 7)
    for calendar in ZONED:
        assert not calendar.is_working_day(friday)
        assert calendar.holiday_name(friday) == "Pont de l'Ascension"
        assert calendar.is_working_day(date(2027, 5, 5))
    assert NONE.is_working_day(friday) and NONE.holiday_name(friday) is None


def test_alsace_moselle_has_good_friday_and_saint_stephen() -> None:
    good_friday = date(2027, 3, 26)
    assert not B_AM.is_working_day(good_friday) and not NONE_AM.is_working_day(good_friday)
    assert B_AM.holiday_name(good_friday) == "Vendredi saint"
    assert B.is_working_day(good_friday) and NONE.is_working_day(good_friday) and B.holiday_name(good_friday) is None
    assert NONE_AM.holiday_name(date(2026, 12, 26)) == "Saint-Étienne"  # a Saturday in 2026...
    assert NONE.holiday_name(date(2026, 12, 26)) is None
    assert B_AM.holiday_name(date(2026, 12, 26)) == "Saint-Étienne"  # named before the Christmas break
    assert not NONE_AM.is_working_day(date(2025, 12, 26))  # ...a Friday in 2025
    assert NONE.is_working_day(date(2025, 12, 26))
    assert NONE_AM.working_days_between(date(2027, 3, 22), date(2027, 4, 2)) == 7  # Good Friday, Easter Monday
    assert NONE.working_days_between(date(2027, 3, 22), date(2027, 4, 2)) == 8


def test_the_table_grows_to_years_far_from_today() -> None:
    calendar = BusinessCalendar("C")
    assert calendar.holiday_name(date(2019, 12, 25)) == "Noël"
    assert calendar.holiday_name(date(2031, 7, 14)) == "Fête nationale"
    assert not calendar.is_working_day(date(2031, 7, 14))
    assert calendar.working_days_between(date(2018, 1, 1), date(2032, 1, 1)) > 14 * 150
    with pytest.raises(ValueError, match="supported from 1970 to 2199"):
        calendar.is_working_day(date(2500, 1, 1))


# --------------------------------------------------------------------------------------- counting days


def test_working_days_between_across_the_toussaint_break() -> None:
    friday, next_friday = date(2026, 10, 16), date(2026, 11, 6)
    assert [c.working_days_between(friday, next_friday) for c in (A, B, C)] == [5, 5, 5]
    assert NONE.working_days_between(friday, next_friday) == 15
    assert B.working_days_between(friday, date(2026, 11, 2)) == 1
    assert B.working_days_between(friday, friday) == 0
    assert B.working_days_between(next_friday, friday) == 0  # end before start
    assert B.working_days_between(date(2026, 10, 15), friday) == 1  # the end day counts, not the start day


def test_working_days_between_reads_instants_in_paris_time() -> None:
    # 22:30 UTC on Thursday 15 October 2026 is already Friday in Paris (UTC+2).
    assert B.working_days_between(utc(2026, 10, 15, 22, 30), date(2026, 10, 16)) == 0
    assert B.working_days_between(utc(2026, 10, 15, 21, 30), date(2026, 10, 16)) == 1
    # A naive datetime is UTC: 23:30 on Friday 27 March 2026 is Saturday 00:30 in Paris.
    assert NONE.working_days_between(date(2026, 3, 26), datetime(2026, 3, 27, 23, 30)) == 1
    assert NONE.working_days_between(date(2026, 3, 26), datetime(2026, 3, 27, 22, 30)) == 1
    assert NONE.working_days_between(datetime(2026, 3, 27, 23, 30), date(2026, 3, 30)) == 1
    assert NONE.working_days_between(datetime(2026, 3, 27, 22, 59), date(2026, 3, 30)) == 1
    assert NONE.working_days_between(datetime(2026, 3, 26, 23, 30), date(2026, 3, 30)) == 1  # Friday in Paris
    assert NONE.working_days_between(datetime(2026, 3, 26, 22, 30), date(2026, 3, 30)) == 2  # still Thursday


def test_add_working_days() -> None:
    friday = date(2026, 10, 16)
    assert B.add_working_days(friday, 0) == friday
    assert B.add_working_days(friday, 1) == date(2026, 11, 2)
    assert B.add_working_days(friday, 5) == date(2026, 11, 6)
    assert B.add_working_days(friday, 8) == date(2026, 11, 12)  # 11 November skipped
    assert B.add_working_days(date(2026, 10, 17), 0) == date(2026, 11, 2)  # a break day moves to the next one
    assert NONE.add_working_days(date(2026, 10, 17), 0) == date(2026, 10, 19)
    assert NONE.add_working_days(friday, 1) == date(2026, 10, 19)
    assert C.add_working_days(date(2026, 12, 18), 1) == date(2027, 1, 4)
    assert B.add_working_days(utc(2026, 10, 15, 22, 30), 0) == friday  # local date of the instant
    assert B.add_working_days(date(2026, 1, 5), 3000) > date(2040, 1, 1)  # past the table: it grows
    with pytest.raises(ValueError):
        B.add_working_days(friday, -1)


KEYS = ["A", "B", "C", "-", "A+AM", "B+AM", "C+AM", "-+AM"]


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(KEYS), start=st.dates(date(2024, 1, 1), date(2030, 12, 31)), count=st.integers(0, 400))
def test_add_working_days_and_working_days_between_agree(key: str, start: date, count: int) -> None:
    calendar = calendar_from_key(key)
    result = calendar.add_working_days(start, count)
    assert calendar.is_working_day(result) and result >= start
    day_before = result - timedelta(1)
    if count == 0:  # the first working day on or after start
        assert calendar.working_days_between(start - timedelta(1), day_before) == 0
    else:  # the first day by which `count` working days have passed
        assert result > start
        assert calendar.working_days_between(start, result) == count
        assert calendar.working_days_between(start, day_before) == count - 1


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(KEYS), start=st.dates(date(2025, 1, 1), date(2028, 12, 31)), span=st.integers(-5, 120))
def test_working_days_between_counts_like_a_loop(key: str, start: date, span: int) -> None:
    calendar = calendar_from_key(key)
    end = start + timedelta(span)
    expected = sum(calendar.is_working_day(start + timedelta(n)) for n in range(1, span + 1))
    assert calendar.working_days_between(start, end) == expected
    if expected:
        assert calendar.add_working_days(start, expected) <= end < calendar.add_working_days(start, expected + 1)


# --------------------------------------------------------------------------------- window and daylight saving


def test_window_opening_follows_daylight_saving_in_march() -> None:
    # Clocks go forward on Sunday 29 March 2026: 08:30 in Paris is 07:30 UTC before, 06:30 UTC after.
    assert NONE.window_opening(date(2026, 3, 27)) == utc(2026, 3, 27, 7, 30)
    assert NONE.window_opening(date(2026, 3, 30)) == utc(2026, 3, 30, 6, 30)
    for calendar in EVERY:  # no zone has a break that week
        assert calendar.next_opening(paris(2026, 3, 27, 18)) == utc(2026, 3, 30, 6, 30)
        assert calendar.next_opening(utc(2026, 3, 28, 12)) == utc(2026, 3, 30, 6, 30)
        assert calendar.in_window(utc(2026, 3, 30, 6, 30))
        assert not calendar.in_window(utc(2026, 3, 30, 6, 29))
        assert calendar.in_window(utc(2026, 3, 27, 7, 30)) and not calendar.in_window(utc(2026, 3, 27, 6, 45))
        assert calendar.in_window(utc(2026, 3, 30, 15, 29)) and not calendar.in_window(utc(2026, 3, 30, 15, 30))
        assert calendar.in_window(utc(2026, 3, 27, 16, 29)) and not calendar.in_window(utc(2026, 3, 27, 16, 30))


def test_window_opening_follows_daylight_saving_in_october() -> None:
    # Clocks go back on Sunday 25 October 2026, inside the Toussaint break of every zone.
    assert NONE.window_opening(date(2026, 10, 23)) == utc(2026, 10, 23, 6, 30)
    assert NONE.window_opening(date(2026, 10, 26)) == utc(2026, 10, 26, 7, 30)
    assert NONE.next_opening(paris(2026, 10, 23, 18)) == utc(2026, 10, 26, 7, 30)
    assert NONE.in_window(utc(2026, 10, 26, 7, 30)) and not NONE.in_window(utc(2026, 10, 26, 6, 45))
    assert NONE.in_window(utc(2026, 10, 23, 6, 45))
    assert NONE.in_window(utc(2026, 10, 26, 16, 29)) and not NONE.in_window(utc(2026, 10, 26, 16, 30))
    for calendar in ZONED:
        assert calendar.next_opening(paris(2026, 10, 16, 18)) == utc(2026, 11, 2, 7, 30)
        assert not calendar.in_window(utc(2026, 10, 26, 9))


def test_next_opening() -> None:
    friday_evening = paris(2026, 12, 4, 18)
    assert B.next_opening(friday_evening) == utc(2026, 12, 7, 7, 30)  # Monday 08:30 in Paris
    assert B.next_opening(friday_evening).tzinfo is UTC
    inside = paris(2026, 12, 3, 10, 15)
    assert B.next_opening(inside) == inside and B.next_opening(inside).tzinfo is UTC
    assert B.next_opening(paris(2026, 12, 3, 7)) == utc(2026, 12, 3, 7, 30)  # 07:00 -> 08:30 the same day
    assert B.next_opening(paris(2026, 12, 3, 8, 30)) == paris(2026, 12, 3, 8, 30)
    assert B.next_opening(paris(2026, 12, 3, 17, 30)) == utc(2026, 12, 4, 7, 30)
    assert B.next_opening(datetime(2026, 12, 3, 9, 0)) == utc(2026, 12, 3, 9, 0)  # naive = UTC, 10:00 in Paris
    assert B.next_opening(paris(2026, 11, 10, 18)) == utc(2026, 11, 12, 7, 30)  # over 11 November
    assert B.next_opening(paris(2026, 12, 18, 18)) == utc(2027, 1, 4, 7, 30)  # over the Christmas break


def test_a_custom_window() -> None:
    window = SendingWindow(time(9), time(12))
    calendar = calendar_for("A", window=window)
    assert calendar.window == window and calendar.key == "A"
    assert calendar.next_opening(paris(2026, 12, 3, 12)) == utc(2026, 12, 4, 8)
    assert calendar.in_window(paris(2026, 12, 3, 11, 59)) and not calendar.in_window(paris(2026, 12, 3, 8, 45))
    with pytest.raises(ValueError):
        SendingWindow(time(18), time(8))


# ------------------------------------------------------------------------------------------- keys and cache


def test_keys_and_calendar_for() -> None:
    assert [c.key for c in (A, B, C, NONE, B_AM, NONE_AM)] == ["A", "B", "C", "-", "B+AM", "-+AM"]
    for code in ("57", "057", "67", "067", "68", "068", " 068 "):
        assert calendar_for("B", code).alsace_moselle, code
    others: tuple[str | None, ...] = ("035", "94", "6", "570", "2A", None)
    for other in others:
        assert not calendar_for("B", other).alsace_moselle, other
    assert calendar_for("b") is calendar_for("Zone B") is B
    assert calendar_for("Corse").key == "-"  # no break data outside zones A, B and C
    assert calendar_for("B", "57") is calendar_for("B", "057") is B_AM


def test_calendar_from_key_is_the_inverse_of_key() -> None:
    for key in KEYS:
        calendar = calendar_from_key(key)
        assert calendar.key == key and calendar_from_key(calendar.key) is calendar
    assert calendar_from_key("B+AM") is B_AM
    window = SendingWindow(time(9), time(17))
    assert calendar_from_key("C", window) == BusinessCalendar("C", window=window)
    assert calendar_from_key("C", window) != C
    for bad in ("", "D", "b", "B+", "B+XX", "+AM", "B+AM+AM"):
        with pytest.raises(ValueError):
            calendar_from_key(bad)
    with pytest.raises(ValueError):
        BusinessCalendar("Zone B")


@settings(max_examples=300, deadline=None)
@given(
    calendar=st.sampled_from((A, B, C, NONE, B_AM)),
    end=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 6, 30)),
    back=st.integers(min_value=0, max_value=900),
    hour=st.integers(min_value=0, max_value=23),
    days=st.integers(min_value=1, max_value=120),
)
def test_counted_since_is_the_instant_before_which_a_start_counts_enough_days(
    calendar: BusinessCalendar, end: datetime, back: int, hour: int, days: int
) -> None:
    # The bound a database compares with: a start counts at least `days` working days exactly when it is before it.
    end = end.replace(tzinfo=UTC)
    start = datetime.combine(end.date() - timedelta(days=back), time(hour), tzinfo=UTC)
    bound = calendar.counted_since(end, days)
    assert bound.tzinfo is not None and bound.astimezone(PARIS).time() == time(0)
    assert (calendar.working_days_between(start, end) >= days) == (start < bound)
    just_before = bound - timedelta(microseconds=1)
    assert calendar.working_days_between(just_before, end) >= days > calendar.working_days_between(bound, end)
