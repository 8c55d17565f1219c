import time

from pywasi.generated.preview1 import Clockid
from pywasi.handlers.calls.clock import Clocks, VirtualClocks


def test_each_clock_reads_its_host_clock():
    c = Clocks()
    before = time.time_ns()
    now = c.clock_time_get(Clockid.REALTIME, 0)
    assert before <= now <= time.time_ns()
    a = c.clock_time_get(Clockid.MONOTONIC, 0)
    assert a <= c.clock_time_get(Clockid.MONOTONIC, 0) <= time.monotonic_ns() - c.monotonic_origin
    spent = c.clock_time_get(Clockid.PROCESS_CPUTIME_ID, 0)
    sum(range(200_000))  # burn some CPU
    assert c.clock_time_get(Clockid.PROCESS_CPUTIME_ID, 0) > spent
    t = c.clock_time_get(Clockid.THREAD_CPUTIME_ID, 0)
    sum(range(200_000))
    assert c.clock_time_get(Clockid.THREAD_CPUTIME_ID, 0) > t


def test_resolutions_are_positive_nanoseconds():
    c = Clocks()
    for clock in Clockid:
        assert 1 <= c.clock_res_get(clock) <= 10_000_000


def test_the_monotonic_clock_counts_from_the_instance_s_creation():
    # As wasmtime's does: the host's uptime stays the host's.
    before = time.monotonic_ns()
    first = Clocks()
    time.sleep(0.05)
    second = Clocks()
    assert before <= first.monotonic_origin <= second.monotonic_origin - 50_000_000
    t1, t2 = first.clock_time_get(Clockid.MONOTONIC, 0), second.clock_time_get(Clockid.MONOTONIC, 0)
    assert 50_000_000 <= t1 < 1_000_000_000 and 0 <= t2 < t1 - 40_000_000


def test_virtual_clocks_start_at_fixed_instants_and_step_at_each_read():
    c = VirtualClocks()
    assert c.clock_time_get(Clockid.REALTIME, 0) == 946_684_800 * 10**9  # 2000-01-01T00:00:00Z
    assert c.clock_time_get(Clockid.MONOTONIC, 0) == 1_000
    assert c.clock_time_get(Clockid.PROCESS_CPUTIME_ID, 0) == 2_000
    assert c.clock_time_get(Clockid.THREAD_CPUTIME_ID, 0) == 3_000
    assert [c.clock_res_get(clock) for clock in Clockid] == [1_000] * 4
    c.advance_to(10 * 10**9)
    assert c.clock_time_get(Clockid.MONOTONIC, 0) == 10 * 10**9
    c.advance_to(5)  # never back
    assert c.now(Clockid.REALTIME) == 946_684_810 * 10**9 + 1_000
    time.sleep(0.01)  # the host's time is nothing to it
    assert c.clock_time_get(Clockid.MONOTONIC, 0) == 10 * 10**9 + 1_000
