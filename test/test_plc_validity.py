# SPDX-License-Identifier: Apache-2.0
"""The valid-until stamp in the PLC's clock (core/plc/validity.py), on injected times."""
from acnn_ros.core.plc.validity import clock_words, PlcClock, still_valid, words_ms, WRAP
import pytest


def test_clock_words_round_trip_high_word_first():
    assert clock_words(0x12345678) == (0x1234, 0x5678)
    assert words_ms(0x1234, 0x5678) == 0x12345678
    assert clock_words(WRAP + 5) == (0, 5)


@pytest.mark.parametrize('valid_until, now, valid', [
    (1000, 999, True), (1000, 1000, True), (1000, 1001, False),
    # Across the 32-bit wrap (every 49.7 days): the DINT difference still decides.
    (5, WRAP - 10, True), (WRAP - 10, 5, False),
])
def test_the_plc_rule_is_a_wrap_safe_difference(valid_until, now, valid):
    assert still_valid(valid_until, now) is valid


def test_the_mapping_takes_the_midpoint_of_a_fast_read_and_ignores_a_slow_one():
    clock = PlcClock(max_round_trip_s=0.1)
    with pytest.raises(LookupError):
        clock.plc_ms(100.0)                   # nothing read yet: no stamp can be made
    # Read sent at 100.000 s, answered at 100.010 s: the PLC said 7_000_005 ms.
    assert clock.observe(7_000_005, 100.000, 100.010)
    assert clock.plc_ms(100.005) == 7_000_005
    assert clock.plc_ms(101.005) == 7_001_005
    # A read that took 0.5 s is too uncertain: the mapping stays.
    assert not clock.observe(9_999_999, 200.0, 200.5)
    assert clock.plc_ms(100.005) == 7_000_005
    clock.forget()                              # a new connection: read again first
    with pytest.raises(LookupError):
        clock.plc_ms(100.0)


def test_the_mapping_stays_continuous_when_the_plc_counter_wraps():
    clock = PlcClock(max_round_trip_s=0.1)
    assert clock.observe(WRAP - 500, 10.0, 10.0)       # 0.5 s before the wrap
    assert clock.observe(500, 11.0, 11.0)              # 0.5 s after it
    assert clock.plc_ms(11.0) == 500
    assert clock.plc_ms(10.0) == WRAP - 500
    # A deadline 0.2 s ahead of a read just before the wrap is valid just after it.
    stamp = clock.plc_ms(11.2)
    assert still_valid(stamp, 600) and not still_valid(stamp, 800)
