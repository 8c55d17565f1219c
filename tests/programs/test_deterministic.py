"""deterministic=True: the same bytes for the same inputs. A C program reads
every clock, draws random bytes, sleeps 10 s and lists a directory (CPython
for WASI does the same in tests/programs/test_cpython.py)."""

from __future__ import annotations

import os
import random
import time

import pytest

from pywasi import WASI
from pywasi.handlers.calls.clock import Clocks, VirtualClocks
from pywasi.handlers.calls.random import Randomness, SeededRandomness
from pywasi.handlers.host import Host
from tests.support import compile_c, pywasi_cli, run_captured

SHOW = r"""
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static long long ns(clockid_t id) {
    struct timespec t;
    if (clock_gettime(id, &t) != 0) return -1;
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The CPU-time clocks, which wasi-libc's clock_gettime has only emulated. */
static long long cpu(__wasi_clockid_t id) {
    __wasi_timestamp_t t;
    return __wasi_clock_time_get(id, 1, &t) == 0 ? (long long)t : -1;
}

static void clocks(const char *when) {
    printf("%s: time %lld realtime %lld monotonic %lld process %lld thread %lld\n", when,
           (long long)time(NULL), ns(CLOCK_REALTIME), ns(CLOCK_MONOTONIC),
           cpu(__WASI_CLOCKID_PROCESS_CPUTIME_ID), cpu(__WASI_CLOCKID_THREAD_CPUTIME_ID));
}

int main(void) {
    struct timespec res;
    clock_getres(CLOCK_MONOTONIC, &res);
    printf("resolution %ld ns\n", res.tv_nsec);
    clocks("before");
    unsigned char bytes[32];
    if (getentropy(bytes, sizeof bytes) != 0) return 1;
    printf("random ");
    for (int i = 0; i < 32; i++) printf("%02x", bytes[i]);
    printf("\n");
    sleep(10);
    clocks("after");
    DIR *d = opendir("/box");
    struct dirent *e;
    printf("listing");
    while ((e = readdir(d)) != NULL) printf(" %s", e->d_name);
    printf("\n");
    closedir(d);
    return 0;
}
"""

NAMES = ["zeta", "Alpha", "beta", "_under", "10", "2", "éclair", "a b"]


def random_hex(seed: int) -> str:
    """What the documented generator gives for 32 bytes: Python's
    random.Random(seed).getrandbits(256), as 32 little-endian bytes."""
    return random.Random(seed).getrandbits(256).to_bytes(32, "little").hex()


def test_a_c_program_gives_the_same_bytes_every_run(tmp_path):
    for name in NAMES:
        (tmp_path / name).touch()
    wasm = compile_c(SHOW)
    runs = []
    for _ in range(2):
        start = time.monotonic()
        code, out, err = run_captured(wasm, preopens={"/box": str(tmp_path)}, deterministic=True)
        elapsed = time.monotonic() - start
        assert (code, err) == (0, b"")
        assert elapsed < 5  # it slept 10 s, in virtual time (well under a second, unloaded)
        runs.append(out.decode())
    assert runs[0] == runs[1]
    # Every clock starts at its fixed instant (time() reads the realtime one
    # first) and moves by 1 us at each read; the sleep moves them by exactly
    # 10 s from the read before it. The listing is in byte order of the names.
    assert runs[0] == f"""\
resolution 1000 ns
before: time 946684800 realtime 946684800000001000 monotonic 2000 process 3000 thread 4000
random {random_hex(0)}
after: time 946684810 realtime 946684810000006000 monotonic 10000007000 process 10000008000 thread 10000009000
listing . .. 10 2 Alpha _under a b beta zeta éclair
"""
    other = run_captured(wasm, preopens={"/box": str(tmp_path)}, deterministic=True, seed=1)[1].decode()
    assert other == runs[0].replace(random_hex(0), random_hex(1))
    # Not deterministic: the host's clock and entropy.
    again = run_captured(wasm, preopens={"/box": str(tmp_path)})[1].decode()
    assert random_hex(0) not in again and "time 946684800 " not in again


def test_the_command_line(tmp_path):
    (tmp_path / "b").touch()
    (tmp_path / "a").touch()
    wasm = str(compile_c(SHOW))
    outs = [pywasi_cli("run", "--dir", f"{tmp_path}::/box", *flags, wasm)
            for flags in (["--deterministic"], ["--deterministic", "--seed", "0"], ["--deterministic", "--seed=7"])]
    assert [o.returncode for o in outs] == [0, 0, 0] and all(o.stderr == b"" for o in outs)
    assert outs[0].stdout == outs[1].stdout != outs[2].stdout
    assert outs[0].stdout.splitlines()[-1] == b"listing . .. a b"
    bad = pywasi_cli("run", "--seed", "x", wasm)
    assert (bad.returncode, bad.stderr) == (2, b"pywasi run: argument --seed: invalid int value: 'x'\n")


@pytest.mark.parametrize("options, error, message", [
    ({"deterministic": 1}, TypeError, "deterministic must be a bool"),
    ({"seed": "0"}, TypeError, "seed must be an int"),
    ({"seed": True}, TypeError, "seed must be an int"),
    ({"seed": -1}, ValueError, "seed must be"),
    ({"seed": 2**64}, ValueError, "seed must be"),
])
def test_options_are_checked(options, error, message):
    with pytest.raises(error, match=message):
        WASI(**options)



POLL = r"""
#include <poll.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long before = t.tv_sec * 1000000000LL + t.tv_nsec;
    struct pollfd p = {0, POLLIN, 0};
    int n = poll(&p, 1, 300);
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("%d %lld\n", n, t.tv_sec * 1000000000LL + t.tv_nsec - before);
    return 0;
}
"""


@pytest.mark.parametrize("data", [b"", b"ready"])
def test_a_poll_on_a_descriptor_waits_for_it_for_real(data):
    # Virtual time moves to the deadline when the wait times out, and not at
    # all when the descriptor is ready first.
    r, w = os.pipe()
    try:
        os.write(w, data)
        start = time.monotonic()
        code, out, err = run_captured(compile_c(POLL), stdin=r, deterministic=True)
        waited = time.monotonic() - start
    finally:
        os.close(r)
        os.close(w)
    assert (code, err) == (0, b"")
    if data:
        assert out == b"1 1000\n" and waited < 5
    else:
        assert out == b"0 300001000\n" and waited >= 0.3


def test_off_it_is_the_plain_handler_object():
    # Nothing is checked per call: deterministic=True installs other handlers.
    plain, deterministic = WASI(), WASI(deterministic=True)
    assert type(plain._host) is Host
    assert plain._host.clock_time_get.__func__ is Clocks.clock_time_get
    assert plain._host.random_get.__func__ is Randomness.random_get
    assert deterministic._host.clock_time_get.__func__ is VirtualClocks.clock_time_get
    assert deterministic._host.random_get.__func__ is SeededRandomness.random_get
    plain.close()
    deterministic.close()
