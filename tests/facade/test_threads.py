"""Two programs in two threads at once: outputs and exits never cross."""

from __future__ import annotations

import io
import threading

from pywasi import run
from tests.support import compile_c

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++) { printf("%s %d\n", argv[2], i); fflush(stdout); }
    return atoi(argv[3]);
}
"""


def test_two_programs_in_two_threads():
    wasm = compile_c(PROGRAM)
    results = {}

    def one(name: str, code: int):
        out = io.BytesIO()
        results[name] = (run(wasm, args=["p", "2000", name, str(code)], stdout=out), out.getvalue())

    threads = [threading.Thread(target=one, args=(n, c)) for n, c in (("left", 3), ("right", 7))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, code in (("left", 3), ("right", 7)):
        exit_code, out = results[name]
        assert exit_code == code
        assert out == "".join(f"{name} {i}\n" for i in range(2000)).encode()
