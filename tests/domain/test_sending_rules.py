"""The sending rules (docs/rules.md, "Sending rules"): what is refused, which zone a
customer's quiet hours are read in, and when quiet hours end, across the nights the
clocks change. The property test's oracle reads the local clock minute by minute;
it does not use quiet_until's own way of finding the end."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.sending_rules import (
    FrequencyCap,
    QuietHours,
    SendingRules,
    customer_zone,
    quiet_until,
    shown_time,
    time_of_day,
)

NEW_YORK = ZoneInfo("America/New_York")
NIGHT = QuietHours(time(21), time(8))
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def refusal(call: object) -> str:
    assert callable(call)
    with pytest.raises(ValidationFailed) as raised:
        call()
    return raised.value.message


# -- reading what is given ----------------------------------------------------------


def test_times_of_day_are_read_on_a_24_hour_clock() -> None:
    assert time_of_day("21:00", "quietHours.start") == time(21)
    assert time_of_day("8:05", "quietHours.end") == time(8, 5)
    assert time_of_day("00:00", "x") == time(0) and time_of_day("23:59", "x") == time(23, 59)
    assert shown_time(time(8, 5)) == "08:05"


@pytest.mark.parametrize(
    "text", ["25:00", "8:00pm", "24:00", "12:60", "", " 21:00", "2100", "21:00:00"]
)
def test_a_time_that_is_not_hh_mm_is_refused(text: str) -> None:
    message = refusal(lambda: QuietHours.parse(text, "08:00"))
    assert message == (
        f'quietHours.start must be a time of day from 00:00 to 23:59, as "21:00", not "{text}"'
    )
    assert refusal(lambda: QuietHours.parse("21:00", text)).startswith("quietHours.end must be")


def test_a_long_or_unreadable_time_is_quoted_cut_and_plain() -> None:
    message = refusal(lambda: QuietHours.parse("9" * 500 + "\x1b[2J", "08:00"))
    assert "\x1b" not in message and len(message) < 200


def test_quiet_hours_may_span_a_night_or_a_day_but_not_nothing() -> None:
    assert QuietHours.parse("21:00", "08:00") == NIGHT
    day = QuietHours.parse("12:00", "14:00")
    assert day.holds(time(12)) and day.holds(time(13, 59)) and not day.holds(time(14))
    assert NIGHT.holds(time(21)) and NIGHT.holds(time(0)) and NIGHT.holds(time(7, 59))
    assert not NIGHT.holds(time(8)) and not NIGHT.holds(time(20, 59))
    message = refusal(lambda: QuietHours.parse("21:00", "21:00"))
    assert message.startswith("quietHours.start and quietHours.end must differ")


@pytest.mark.parametrize(
    ("messages", "hours", "expected"),
    [
        (0, 24, "frequencyCap.messages must be from 1 to 1000, not 0"),
        (-1, 24, "frequencyCap.messages must be from 1 to 1000, not -1"),
        (1001, 24, "frequencyCap.messages must be from 1 to 1000, not 1001"),
        (3, 0, "frequencyCap.hours must be from 1 to 744 (31 days), not 0"),
        (3, -24, "frequencyCap.hours must be from 1 to 744 (31 days), not -24"),
        (3, 745, "frequencyCap.hours must be from 1 to 744 (31 days), not 745"),
    ],
)
def test_a_cap_out_of_bounds_is_refused(messages: int, hours: int, expected: str) -> None:
    assert refusal(lambda: FrequencyCap(messages, hours)).startswith(expected)


def test_a_cap_counts_what_was_handed_over_in_its_window() -> None:
    cap = FrequencyCap(3, 24)
    assert cap.counted_since(utc(2026, 5, 2, 9)) == utc(2026, 5, 1, 9)
    assert cap.allows(2) and not cap.allows(3)
    assert FrequencyCap(1, 1) and FrequencyCap(1000, 744)


@pytest.mark.parametrize("name", ["Mars/Base", "", "europe/paris", "+02:00", "CET " * 20])
def test_a_zone_that_is_not_an_iana_name_is_refused(name: str) -> None:
    message = refusal(lambda: SendingRules(timezone=name))
    assert message.startswith('timezone must be an IANA time zone name, as "Europe/Paris"')
    assert SendingRules(timezone="Europe/Paris").timezone == "Europe/Paris"


def test_a_customer_s_zone_is_their_own_then_the_workspace_s_then_utc() -> None:
    assert customer_zone("Asia/Tokyo", "Europe/Paris") == ZoneInfo("Asia/Tokyo")
    for not_a_zone in ("+09:00", "asia/tokyo", "", 9, None, ["Asia/Tokyo"], "Mars/Base"):
        assert customer_zone(not_a_zone, "Europe/Paris") == ZoneInfo("Europe/Paris")
        assert customer_zone(not_a_zone, None) == ZoneInfo("UTC")
    # A workspace zone the zone database no longer has: UTC, rather than no message.
    assert customer_zone(None, "Mars/Base") == ZoneInfo("UTC")


# -- when quiet hours end -----------------------------------------------------------


def test_outside_the_quiet_hours_nothing_is_held() -> None:
    assert quiet_until(utc(2026, 6, 1, 12), NIGHT, ZoneInfo("UTC")) is None
    assert quiet_until(utc(2026, 6, 1, 8), NIGHT, ZoneInfo("UTC")) is None  # at the end
    assert (
        quiet_until(utc(2026, 6, 1, 21) - timedelta(microseconds=1), NIGHT, ZoneInfo("UTC")) is None
    )


def test_inside_them_a_message_waits_for_their_end_in_the_customer_s_zone() -> None:
    utc_zone = ZoneInfo("UTC")
    assert quiet_until(utc(2026, 6, 1, 21), NIGHT, utc_zone) == utc(2026, 6, 2, 8)
    assert quiet_until(utc(2026, 6, 2, 3, 30), NIGHT, utc_zone) == utc(2026, 6, 2, 8)
    lunch = QuietHours(time(12), time(14))
    assert quiet_until(utc(2026, 6, 1, 13, 15), lunch, utc_zone) == utc(2026, 6, 1, 14)
    # 21:30 in Kolkata (UTC+05:30) is 16:00 UTC; 08:00 there is 02:30 UTC.
    kolkata = ZoneInfo("Asia/Kolkata")
    assert quiet_until(utc(2026, 1, 1, 16), NIGHT, kolkata) == utc(2026, 1, 2, 2, 30)
    # Noon UTC is 08:00 in New York in summer: outside; an hour earlier, inside.
    assert quiet_until(utc(2026, 7, 1, 12), NIGHT, NEW_YORK) is None
    assert quiet_until(utc(2026, 7, 1, 11), NIGHT, NEW_YORK) == utc(2026, 7, 1, 12)
    # The answer is in UTC, whatever zone `now` was given in.
    paris_morning = datetime(2026, 7, 2, 5, tzinfo=ZoneInfo("Europe/Paris"))  # 23:00 in New York
    result = quiet_until(paris_morning, NIGHT, NEW_YORK)
    assert result == utc(2026, 7, 2, 12) and result.tzinfo is UTC


def test_the_night_the_clocks_go_forward_holds_ten_real_hours() -> None:
    # New York, 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    evening = utc(2026, 3, 8, 2)  # 21:00 EST on the 7th
    assert quiet_until(evening - timedelta(seconds=1), NIGHT, NEW_YORK) is None
    end = quiet_until(evening, NIGHT, NEW_YORK)
    assert end == utc(2026, 3, 8, 12)  # 08:00 EDT
    assert end - evening == timedelta(hours=10)


def test_the_night_the_clocks_go_back_holds_twelve_real_hours() -> None:
    # New York, 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC).
    evening = utc(2026, 11, 1, 1)  # 21:00 EDT on October 31st
    end = quiet_until(evening, NIGHT, NEW_YORK)
    assert end == utc(2026, 11, 1, 13)  # 08:00 EST
    assert end - evening == timedelta(hours=12)
    # In the repeated hour, too, the night goes on.
    assert quiet_until(utc(2026, 11, 1, 6, 30), NIGHT, NEW_YORK) == end


def test_an_end_the_clocks_skip_is_the_first_instant_after_the_gap() -> None:
    until_half_past_two = QuietHours(time(21), time(2, 30))
    assert quiet_until(utc(2026, 3, 8, 3), until_half_past_two, NEW_YORK) == utc(2026, 3, 8, 7)
    # Lord Howe goes forward half an hour, 02:00 to 02:30 (+10:30 to +11), 2026-10-04.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    until_quarter_past_two = QuietHours(time(21), time(2, 15))
    ends = quiet_until(utc(2026, 10, 3, 11), until_quarter_past_two, lord_howe)
    assert ends == utc(2026, 10, 3, 15, 30)  # 02:30 +11


def test_an_end_the_clocks_repeat_is_its_first_time_or_the_next() -> None:
    until_half_past_one = QuietHours(time(21), time(1, 30))
    # From the evening: 01:30 EDT, the first time the clock reads it.
    assert quiet_until(utc(2026, 11, 1, 2), until_half_past_one, NEW_YORK) == utc(
        2026, 11, 1, 5, 30
    )
    # At 01:10 EST, the second time round: the clock reads 01:30 again at 06:30 UTC.
    assert quiet_until(utc(2026, 11, 1, 6, 10), until_half_past_one, NEW_YORK) == utc(
        2026, 11, 1, 6, 30
    )


def test_when_the_clocks_go_back_past_the_start_the_repeated_time_before_it_is_not_quiet() -> None:
    from_half_past_one = QuietHours(time(1, 30), time(8))
    # 01:45 EDT: quiet until the clock reads 01:00 EST, then quiet again from 01:30 EST.
    assert quiet_until(utc(2026, 11, 1, 5, 45), from_half_past_one, NEW_YORK) == utc(2026, 11, 1, 6)
    assert quiet_until(utc(2026, 11, 1, 6, 15), from_half_past_one, NEW_YORK) is None
    assert quiet_until(utc(2026, 11, 1, 6, 30), from_half_past_one, NEW_YORK) == utc(
        2026, 11, 1, 13
    )


def test_when_the_clocks_skip_the_only_quiet_free_minutes_the_night_goes_on() -> None:
    # Quiet but for 02:30 to 02:45, which 2026-03-08 does not have in New York.
    almost_always = QuietHours(time(2, 45), time(2, 30))
    assert quiet_until(utc(2026, 3, 8, 6), almost_always, NEW_YORK) == utc(2026, 3, 9, 6, 30)


# -- the property -------------------------------------------------------------------


def _offset_changes(zone: ZoneInfo) -> list[datetime]:
    """Every change of the zone's offset in 2026 and 2027, to the minute, found by
    looking at each minute around each hour whose offset differs from the last."""
    changes = []
    hour = utc(2026, 1, 1)
    while hour < utc(2028, 1, 1):
        following = hour + timedelta(hours=1)
        if following.astimezone(zone).utcoffset() != hour.astimezone(zone).utcoffset():
            minute = hour
            while minute.astimezone(zone).utcoffset() == hour.astimezone(zone).utcoffset():
                minute += timedelta(minutes=1)
            changes.append(minute)
        hour = following
    return changes


CHANGES = {name: _offset_changes(ZoneInfo(name)) for name in ZONES}


def test_the_zones_under_test_change_their_clocks_as_expected() -> None:
    assert [len(CHANGES[name]) for name in ZONES] == [4, 4, 4, 0, 0]


@st.composite
def instants(draw: st.DrawFn, name: str) -> datetime:
    """Any instant of 2026 and 2027, or one within a day of a change of the clocks."""
    near_a_change: bool = draw(st.booleans())
    if CHANGES[name] and near_a_change:
        change = draw(st.sampled_from(CHANGES[name]))
        return change + draw(st.timedeltas(timedelta(hours=-30), timedelta(hours=30)))
    return draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)))


times_of_day = st.builds(
    time,
    st.integers(0, 23),
    st.one_of(st.sampled_from([0, 15, 30, 45]), st.integers(0, 59)),
)


def _quiet_at(instant: datetime, quiet: QuietHours, zone: ZoneInfo) -> bool:
    wall = instant.astimezone(zone).time()
    if quiet.start < quiet.end:
        return quiet.start <= wall < quiet.end
    return not quiet.end <= wall < quiet.start


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(ZONES), start=times_of_day, end=times_of_day)
@example(data=None, name="America/New_York", start=time(1, 30), end=time(8)).via("repeated")
def test_quiet_hours_end_at_the_first_instant_the_local_clock_leaves_them(
    data: st.DataObject | None, name: str, start: time, end: time
) -> None:
    if start == end:
        return
    zone, quiet = ZoneInfo(name), QuietHours(start, end)
    now = data.draw(instants(name)) if data else utc(2026, 11, 1, 5, 45)
    result = quiet_until(now, quiet, zone)
    assert (result is None) == (not _quiet_at(now, quiet, zone))
    if result is None:
        return
    assert result > now and result.tzinfo is UTC
    assert not _quiet_at(result, quiet, zone)
    assert result - now <= timedelta(hours=26)
    # Every whole minute between, and the last microsecond before the result, are quiet.
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < result:
        assert _quiet_at(minute, quiet, zone), minute
        minute += timedelta(minutes=1)
    assert _quiet_at(result - timedelta(microseconds=1), quiet, zone)
