"""Programs in threads at once: outputs, files, exits and traps never cross."""

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
        results[name] = (run(wasm, args=["p", "2000", name, str(code)], stdout=out).returncode, out.getvalue())

    threads = [threading.Thread(target=one, args=(n, c)) for n, c in (("left", 3), ("right", 7))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, code in (("left", 3), ("right", 7)):
        exit_code, out = results[name]
        assert exit_code == code
        assert out == "".join(f"{name} {i}\n" for i in range(2000)).encode()


FILE_IO = r"""
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    const char *name = argv[1];
    int lines = atoi(argv[2]);
    char path[64], moved[64], buf[128];
    snprintf(path, sizeof path, "/data/%s.txt", name);
    snprintf(moved, sizeof moved, "/data/%s.done", name);
    FILE *f = fopen(path, "w");
    if (!f) { perror("fopen"); return 100; }
    for (int i = 0; i < lines; i++) fprintf(f, "%s line %d\n", name, i);
    fclose(f);
    f = fopen(path, "r");
    long bytes = 0;
    int n = 0;
    while (fgets(buf, sizeof buf, f)) { n++; bytes += strlen(buf); }
    fclose(f);
    if (rename(path, moved) != 0) { perror("rename"); return 101; }
    DIR *d = opendir("/data");
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') printf("%s sees %s\n", name, e->d_name);
    closedir(d);
    printf("%s read %d lines, %ld bytes\n", name, n, bytes);
    fprintf(stderr, "%s done\n", name);
    fflush(stdout);
    if (strcmp(argv[3], "trap") == 0) __builtin_trap();
    return atoi(argv[3]);
}
"""


def test_eight_programs_with_file_io_in_eight_threads(tmp_path):
    # Eight programs start at once, each writing, reading, renaming and
    # listing files in its own preopen and printing; one of them traps at
    # the end. Three rounds: every output, file, exit code and the one trap
    # stay with the program they belong to.
    wasm = compile_c(FILE_IO)
    names = [f"t{i}" for i in range(8)]
    ends = {name: ("trap" if i == 5 else str(10 + i)) for i, name in enumerate(names)}
    lines = {name: 500 + 100 * i for i, name in enumerate(names)}
    for round_ in range(3):
        start = threading.Barrier(len(names))
        results = {}

        def one(name: str):
            work = tmp_path / f"r{round_}" / name
            work.mkdir(parents=True)
            out, err = io.BytesIO(), io.BytesIO()
            start.wait()
            try:
                outcome = run(wasm, args=["io", name, str(lines[name]), ends[name]],
                              preopens={"/data": str(work)}, stdout=out, stderr=err)
            except BaseException as e:  # noqa: B036 - compared below, whatever it is
                outcome = e
            results[name] = (outcome, out.getvalue(), err.getvalue(), sorted(p.name for p in work.iterdir()))

        threads = [threading.Thread(target=one, args=(name,)) for name in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for name in names:
            outcome, out, err, files = results[name]
            if ends[name] == "trap":
                assert outcome.returncode == 134 and "unreachable" in outcome.trap, (name, outcome)
            else:
                assert outcome.returncode == int(ends[name]), (name, outcome)
            size = sum(len(f"{name} line {i}\n") for i in range(lines[name]))
            assert out == f"{name} sees {name}.done\n{name} read {lines[name]} lines, {size} bytes\n".encode()
            assert err == f"{name} done\n".encode()
            assert files == [f"{name}.done"]
            assert (tmp_path / f"r{round_}" / name / f"{name}.done").stat().st_size == size
