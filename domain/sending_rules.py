"""A workspace's sending rules (docs/rules.md, "Sending rules"): quiet hours, a
frequency cap per customer, and a time zone.

- Quiet hours are local wall-clock times, read in the customer's zone
  (`customer_zone`). A message due while the customer's clock reads a time
  inside them stays queued until the clock leaves them (`quiet_until`).
- The frequency cap allows at most `messages` handed over to one customer in
  any `hours` window, across every journey and channel.
- The time zone is an IANA name; it is the zone of every customer whose own
  `timezone` attribute is not one, and UTC stands in when it is not set.

Nothing here reads a clock: `now` is always given.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from domain.errors import ValidationFailed
from domain.text import plain_text

MAX_CAP_MESSAGES = 1000
MAX_CAP_HOURS = 744  # 31 days
MAX_ZONE_NAME_LENGTH = 64  # the column's width
# "21:00", or "8:00" for 08:00: a 24-hour clock, whole minutes.
_TIME_OF_DAY = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
# How far a refusal quotes what it was given.
_SHOWN_LENGTH = 40
# Offsets are looked at this often for a change of offset: no zone has changed its
# offset twice within an hour.
_OFFSET_STEP = timedelta(hours=1)
_UTC_ZONE = ZoneInfo("UTC")


@functools.cache
def _zone_names() -> frozenset[str]:
    # Read once: the names the zone database has (the system's, or the tzdata
    # package's). A name outside it is refused, even one ZoneInfo would open
    # (a different case on a case-insensitive file system, "posixrules").
    return frozenset(available_timezones())


def is_zone_name(name: object) -> bool:
    """Whether `name` is an IANA time zone name, as "Europe/Paris" or "UTC"."""
    return isinstance(name, str) and len(name) <= MAX_ZONE_NAME_LENGTH and name in _zone_names()


def _shown(value: str) -> str:
    return plain_text(value, _SHOWN_LENGTH)


def time_of_day(text: str, field: str) -> time:
    """The time of day `text` says, "HH:MM" on a 24-hour clock."""
    match = _TIME_OF_DAY.fullmatch(text)
    if match is None:
        raise ValidationFailed(
            f'{field} must be a time of day from 00:00 to 23:59, as "21:00", not "{_shown(text)}"'
        )
    return time(int(match[1]), int(match[2]))


def shown_time(when: time) -> str:
    """A time of day as the API and the store write it: "08:00"."""
    return when.strftime("%H:%M")


def checked_zone_name(name: str, field: str = "timezone") -> str:
    if not is_zone_name(name):
        raise ValidationFailed(
            f'{field} must be an IANA time zone name, as "Europe/Paris" or "UTC", '
            f'not "{_shown(name)}"'
        )
    return name


@dataclass(frozen=True)
class QuietHours:
    """From `start` (held) to `end` (not held) on the local clock: a night when start
    is after end (21:00 to 08:00), a span of the day when it is before (12:00 to
    14:00). A message may go out at exactly `end`."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValidationFailed(
                "quietHours.start and quietHours.end must differ (quiet hours of no length, "
                "or of the whole day, hold nothing back or everything); clear quietHours "
                "instead"
            )

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(time_of_day(start, "quietHours.start"), time_of_day(end, "quietHours.end"))

    def holds(self, wall: time) -> bool:
        """Whether a local clock reading `wall` is inside the quiet hours."""
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


@dataclass(frozen=True)
class FrequencyCap:
    """At most `messages` handed over to one customer in any window of `hours`."""

    messages: int
    hours: int

    def __post_init__(self) -> None:
        if not 1 <= self.messages <= MAX_CAP_MESSAGES:
            raise ValidationFailed(
                f"frequencyCap.messages must be from 1 to {MAX_CAP_MESSAGES}, "
                f"not {self.messages} (clear frequencyCap to send without a cap)"
            )
        if not 1 <= self.hours <= MAX_CAP_HOURS:
            raise ValidationFailed(
                f"frequencyCap.hours must be from 1 to {MAX_CAP_HOURS} (31 days), not {self.hours}"
            )

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.hours)

    def counted_since(self, now: datetime) -> datetime:
        """The start of the window that ends at `now`: messages handed over at or
        after it count against the cap."""
        return now - self.window

    def allows(self, handed_over_in_window: int) -> bool:
        """Whether one more message may go to a customer who was handed
        `handed_over_in_window` messages in the window that ends now."""
        return handed_over_in_window < self.messages


@dataclass(frozen=True)
class SendingRules:
    """A workspace's rules; each part None when it is not set."""

    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        if self.timezone is not None:
            checked_zone_name(self.timezone)


NO_RULES = SendingRules()


def customer_zone(attribute: object, workspace_zone: str | None) -> ZoneInfo:
    """The zone a customer's quiet hours are read in: their `timezone` attribute when
    it is an IANA name, else the workspace's zone, else UTC. An attribute that is
    not a zone name (a typo, an offset like "+02:00") is passed over, not refused:
    profiles are written by other systems, and a message must still be timed."""
    if is_zone_name(attribute):
        assert isinstance(attribute, str)
        return ZoneInfo(attribute)
    if is_zone_name(workspace_zone):
        assert workspace_zone is not None
        return ZoneInfo(workspace_zone)
    return _UTC_ZONE


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


def _next_offset_change(after: datetime, before: datetime, zone: ZoneInfo) -> datetime | None:
    """The first instant in (after, before) at which the zone's offset differs from
    its offset at `after`, to the second (the database's changes are on whole
    seconds); None when there is none."""
    offset = _offset(after, zone)
    low = after
    while low < before:
        high = min(low + _OFFSET_STEP, before)
        if _offset(high, zone) != offset:
            break
        low = high
    else:
        return None
    # The offset at `low` is the old one, at `high` a new one: halve to a second.
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _offset(middle, zone) == offset:
            low = middle
        else:
            high = middle
    # Whole seconds: `high` rounded down to a second, unless that is still the old offset.
    whole = high.replace(microsecond=0)
    return whole if whole > after and _offset(whole, zone) != offset else high


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The local clock's reading at `instant`, without its zone."""
    return instant.astimezone(zone).replace(tzinfo=None)


def quiet_until(now: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime | None:
    """None when the clock in `zone` reads a time outside `quiet` at `now` (an aware
    instant); else the first instant after it at which the clock reads a time
    outside them, in UTC: when the clock reaches `end` (the first time, when the
    clocks go back past it), or the instant after the gap when the clocks go
    forward past it. The local clock is followed as it is: when the clocks go back
    past `start`, the repeated time before `start` is outside the quiet hours."""
    if now.tzinfo is None:
        raise ValueError("quiet_until needs an aware instant")
    wall = _wall(now, zone)
    if not quiet.holds(wall.time()):
        return None
    instant = now.astimezone(UTC)
    while True:
        # Until the offset changes, the clock moves with real time: it leaves the
        # quiet hours when it reads `end`, on this day or (a night) the next.
        end_day = wall.date()
        if quiet.start > quiet.end and wall.time() >= quiet.start:
            end_day += timedelta(days=1)
        reaches_end = instant + (datetime.combine(end_day, quiet.end) - wall)
        change = _next_offset_change(instant, reaches_end, zone)
        if change is None:
            return reaches_end
        # The clock jumps at `change`: it may jump out of the quiet hours, or past
        # their end into the next night's, or back inside them.
        instant, wall = change, _wall(change, zone)
        if not quiet.holds(wall.time()):
            return instant
