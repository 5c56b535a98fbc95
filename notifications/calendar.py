"""Business calendar: which days count, and when during those days messages may go out.

A working day is a weekday that is neither a French public holiday (with the two extra days of Alsace-Moselle's
local law when asked) nor a day of the school breaks of one holiday zone (A, B or C). Dates come from the maintained
`holidays` package (public holidays and its zone calendars, names in French), read once per year and zone into a
table of working days; every query afterwards is arithmetic on that table (prefix counts, no lookups), so counting
and adding working days for many thousands of items stays cheap. The table covers a few years around today and
grows on demand.

Instants: datetimes are read in the calendar's time zone (naive ones are UTC); instants returned are aware UTC.
Local times go through `zoneinfo`, so "08:30 in Paris" is 07:30 UTC in winter and 06:30 UTC in summer, switching on
the last Sundays of March and October.
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

ZONES = ("A", "B", "C")
NO_ZONE = "-"  # the zone part of the key of a calendar without breaks
LOCAL_LAW = "AM"  # the suffix of the key of a calendar with Alsace-Moselle's extra public holidays
LOCAL_LAW_CODES = frozenset({"57", "67", "68"})  # Moselle, Bas-Rhin, Haut-Rhin
FIRST_YEAR, LAST_YEAR = 1970, 2199  # years the calendar answers for; beyond them a query is an error

_BREAKS_CATEGORY = "school"  # the `holidays` category of the zones' breaks
_LOCAL_LAW_SUBDIVISION = "57"  # `holidays` subdivision with Good Friday and 26 December (same days as "6AE")
_LANGUAGE = "fr"  # explicit: `holidays` otherwise follows the process locale (English under C.UTF-8)
_YEARS_BEFORE_TODAY, _YEARS_AFTER_TODAY = 1, 2  # the first table built; it grows on demand


@dataclass(frozen=True)
class SendingWindow:
    """Local times between which messages may go out on a working day (`opens` included, `closes` excluded)."""

    opens: time = time(8, 30)
    closes: time = time(17, 30)

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("sending window: give local times without a time zone (the calendar has one)")
        if not self.opens < self.closes:
            raise ValueError(f"sending window: opens at {self.opens} but closes at {self.closes}")


@dataclass(frozen=True)
class _Span:
    """Working days over whole years `first_year`..`last_year`, indexed by day ordinal minus `start`."""

    first_year: int
    last_year: int
    start: int  # ordinal of 1 January of first_year
    end: int  # ordinal of 1 January of last_year + 1 (excluded)
    flags: bytes  # 1 for a working day
    counts: array[int]  # counts[i]: working days before ordinal start + i (len(flags) + 1 items)
    working: array[int]  # ordinals of the working days, ascending
    names: dict[int, str]  # ordinal -> French name of the public holiday or break (weekends included)


class _Days:
    """The table of one (zone, local law) pair, shared by every calendar that follows it; grows by whole years."""

    def __init__(self, zone: str | None, local_law: bool) -> None:
        self.zone = zone
        self.local_law = local_law
        self._span: _Span | None = None
        self._lock = threading.Lock()

    def covering(self, low: int, high: int) -> _Span:
        """A span holding the ordinals low..high (both included)."""
        span = self._span
        if span is not None and span.start <= low and high < span.end:
            return span
        return self._grow(date.fromordinal(low).year, date.fromordinal(high).year)

    def beyond(self, span: _Span, years: int) -> _Span:
        """A span reaching at least `years` years past `span`'s last one."""
        return self._grow(span.first_year, span.last_year + years)

    def _grow(self, first_year: int, last_year: int) -> _Span:
        with self._lock:
            span = self._span
            if span is None:
                today = date.today().year
                first_year = min(first_year, today - _YEARS_BEFORE_TODAY)
                last_year = max(last_year, today + _YEARS_AFTER_TODAY)
            else:
                first_year = min(first_year, span.first_year)
                last_year = max(last_year, span.last_year)
                if first_year == span.first_year and last_year == span.last_year:
                    return span
            if first_year < FIRST_YEAR or last_year > LAST_YEAR:
                raise ValueError(f"business calendar: dates are supported from {FIRST_YEAR} to {LAST_YEAR} only "
                                 f"(asked for {first_year if first_year < FIRST_YEAR else last_year})")
            self._span = span = self._extended(span, first_year, last_year)
            return span

    def _extended(self, span: _Span | None, first_year: int, last_year: int) -> _Span:
        """`span` widened to first_year..last_year, reading `holidays` only for the years it lacks."""
        flags = bytearray()
        names: dict[int, str] = {}
        if span is None:
            self._read_years(first_year, last_year, flags, names)
        else:
            self._read_years(first_year, span.first_year - 1, flags, names)
            flags += span.flags
            names.update(span.names)
            self._read_years(span.last_year + 1, last_year, flags, names)
        start = date(first_year, 1, 1).toordinal()
        counts = array("q", [0])
        working = array("q")
        total = 0
        for offset, flag in enumerate(flags):
            if flag:
                total += 1
                working.append(start + offset)
            counts.append(total)
        return _Span(first_year, last_year, start, date(last_year + 1, 1, 1).toordinal(), bytes(flags), counts,
                     working, names)

    def _read_years(self, first_year: int, last_year: int, flags: bytearray, names: dict[int, str]) -> None:
        """Append the flags of first_year..last_year (nothing when empty) and record the names of their days off."""
        if first_year > last_year:
            return
        from holidays import country_holidays  # read when a calendar first needs its days (not at start-up)

        years = range(first_year, last_year + 1)
        public = country_holidays("FR", years=years, language=_LANGUAGE,
                                  subdiv=_LOCAL_LAW_SUBDIVISION if self.local_law else None)
        days_off: dict[date, str] = {}
        if self.zone is not None:
            breaks = country_holidays("FR", years=years, language=_LANGUAGE, subdiv=f"Zone {self.zone}",
                                      categories=(_BREAKS_CATEGORY,))
            days_off.update(breaks.items())
        days_off.update(public.items())  # a public holiday inside a break is named after the holiday
        for day, name in days_off.items():
            names[day.toordinal()] = name
        start = date(first_year, 1, 1).toordinal()
        for ordinal in range(start, date(last_year, 12, 31).toordinal() + 1):
            weekday = (ordinal + 6) % 7  # ordinal 1 (1 January of year 1) is a Monday
            flags.append(weekday < 5 and ordinal not in names)


_TABLES: dict[tuple[str | None, bool], _Days] = {}
_TABLES_LOCK = threading.Lock()


def _shared_days(zone: str | None, local_law: bool) -> _Days:
    """The one table of a (zone, local law) pair (built on first use, even by two threads at once)."""
    with _TABLES_LOCK:
        days = _TABLES.get((zone, local_law))
        if days is None:
            days = _TABLES[zone, local_law] = _Days(zone, local_law)
        return days


class BusinessCalendar:
    """Working days: not Saturday/Sunday, not a public holiday (with Alsace-Moselle's extra days when
    `alsace_moselle`), not in the school holidays of `zone` ("A", "B", "C" or None = no school holidays)."""

    def __init__(self, zone: str | None = None, *, alsace_moselle: bool = False,
                 window: SendingWindow = SendingWindow(), timezone: ZoneInfo = PARIS) -> None:
        if zone is not None and zone not in ZONES:
            raise ValueError(f"business calendar: unknown holiday zone {zone!r} (expected one of {', '.join(ZONES)} "
                             "or None)")
        self.zone = zone
        self.alsace_moselle = alsace_moselle
        self.window = window
        self.timezone = timezone
        self.key = (zone or NO_ZONE) + (f"+{LOCAL_LAW}" if alsace_moselle else "")
        self._days = _shared_days(zone, alsace_moselle)

    def __repr__(self) -> str:
        return (f"BusinessCalendar(key={self.key!r}, window={self.window.opens:%H:%M}-{self.window.closes:%H:%M}, "
                f"timezone={self.timezone.key!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return (self.key, self.window, self.timezone) == (other.key, other.window, other.timezone)

    def __hash__(self) -> int:
        return hash((self.key, self.window, self.timezone))

    # ------------------------------------------------------------------------------------------------ days

    def is_working_day(self, day: date) -> bool:
        ordinal = self._local_date(day).toordinal()
        span = self._days.covering(ordinal, ordinal)
        return bool(span.flags[ordinal - span.start])

    def holiday_name(self, day: date) -> str | None:
        """French name of the public holiday or break `day` falls in (a public holiday first), else None."""
        ordinal = self._local_date(day).toordinal()
        return self._days.covering(ordinal, ordinal).names.get(ordinal)

    def working_days_between(self, start: datetime | date, end: datetime | date) -> int:
        """Working days d with local(start).date() < d <= local(end).date(); 0 when end is not after start."""
        first = self._local_date(start).toordinal()
        last = self._local_date(end).toordinal()
        if last <= first:
            return 0
        span = self._days.covering(first, last)
        return span.counts[last - span.start + 1] - span.counts[first - span.start + 1]

    def counted_since(self, end: datetime | date, days: int) -> datetime:
        """The instant before which a start counts at least `days` working days up to `end`:
        `working_days_between(start, end) >= days` exactly when `start < counted_since(end, days)` (an aware UTC
        instant: local midnight after the latest such start date). Lets a database compare instants instead of
        counting days row by row."""
        if days <= 0:
            return datetime.max.replace(tzinfo=UTC)
        last = self._local_date(end)
        low, high = last.toordinal() - 7 * days - 400, last.toordinal()  # far enough back: ≥ 1 working day a week
        while self.working_days_between(date.fromordinal(low), last) < days:
            low -= 7 * days + 400
        while high - low > 1:  # working_days_between(d, last) decreases as d moves later: the latest d with ≥ days
            middle = (low + high) // 2
            if self.working_days_between(date.fromordinal(middle), last) >= days:
                low = middle
            else:
                high = middle
        midnight = datetime.combine(date.fromordinal(low + 1), time(0), tzinfo=self.timezone)
        return midnight.astimezone(UTC)

    def add_working_days(self, start: datetime | date, days: int) -> date:
        """The local date `days` working days after local(start).date(); with 0, that date or the next working day."""
        if days < 0:
            raise ValueError(f"business calendar: cannot add {days} working days (0 or more)")
        ordinal = self._local_date(start).toordinal()
        span = self._days.covering(ordinal, ordinal)
        while True:
            offset = ordinal - span.start
            index = span.counts[offset] if days == 0 else span.counts[offset + 1] + days - 1
            if index < len(span.working):
                return date.fromordinal(span.working[index])
            span = self._days.beyond(span, (index - len(span.working)) // 250 + 1)

    # -------------------------------------------------------------------------------------------- instants

    def in_window(self, moment: datetime) -> bool:
        """A working day, between the window's opening (included) and closing (excluded) local times."""
        local = self._local(moment)
        return self.window.opens <= local.time() < self.window.closes and self.is_working_day(local.date())

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself (aware UTC) when in the window, else the next opening of the window on a working day."""
        local = self._local(moment)
        day = local.date()
        if self.is_working_day(day):
            now = local.time()
            if now < self.window.opens:
                return self.window_opening(day)
            if now < self.window.closes:
                return local.astimezone(UTC)
        return self.window_opening(self.add_working_days(day, 1))

    def window_opening(self, day: date) -> datetime:
        """The instant (aware UTC) the window opens on the local date `day`."""
        return datetime.combine(day, self.window.opens, tzinfo=self.timezone).astimezone(UTC)

    # ------------------------------------------------------------------------------------------- internals

    def _local(self, moment: datetime) -> datetime:
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(self.timezone)

    def _local_date(self, value: datetime | date) -> date:
        return self._local(value).date() if isinstance(value, datetime) else value


# ------------------------------------------------------------------------------------------------ factories


def calendar_for(zone: str | None, territory_code: str | None = None,
                 window: SendingWindow = SendingWindow()) -> BusinessCalendar:
    """The (shared) calendar of a holiday zone and a French département code.

    `zone`: "A", "B" or "C" (case and a "Zone " prefix ignored); any other value (None, Corsica, overseas) gives a
    calendar without breaks. `territory_code`: the département ("57", "057", "67", "068"... are Alsace-Moselle).
    """
    return _calendar(_zone_or_none(zone), _is_local_law(territory_code), window)


def calendar_from_key(key: str, window: SendingWindow = SendingWindow()) -> BusinessCalendar:
    """The calendar whose `.key` is `key` ("B", "B+AM", "-", "-+AM")."""
    zone, plus, suffix = key.partition("+")
    if (zone != NO_ZONE and zone not in ZONES) or (plus and suffix != LOCAL_LAW):
        raise ValueError(f"business calendar: unknown key {key!r} (expected A, B, C or {NO_ZONE}, "
                         f"optionally followed by +{LOCAL_LAW})")
    return _calendar(None if zone == NO_ZONE else zone, bool(plus), window)


@cache
def _calendar(zone: str | None, local_law: bool, window: SendingWindow) -> BusinessCalendar:
    return BusinessCalendar(zone, alsace_moselle=local_law, window=window)


def _zone_or_none(zone: str | None) -> str | None:
    if zone is None:
        return None
    name = zone.strip().upper().removeprefix("ZONE").strip()
    return name if name in ZONES else None


def _is_local_law(territory_code: str | None) -> bool:
    return territory_code is not None and territory_code.strip().lstrip("0") in LOCAL_LAW_CODES
