import time

from pywasi.generated.preview1 import Clockid
from pywasi.handlers.clock import Clocks


def test_each_clock_reads_its_host_clock():
    c = Clocks()
    before = time.time_ns()
    now = c.clock_time_get(Clockid.REALTIME, 0)
    assert before <= now <= time.time_ns()
    a = c.clock_time_get(Clockid.MONOTONIC, 0)
    assert a <= c.clock_time_get(Clockid.MONOTONIC, 0) <= time.monotonic_ns()
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
