/* Echoes a line of stdin, then its GREETING and its first argument; takes 16
   random bytes and reads the monotonic clock. Every call it makes is served
   by raw POSIX calls, one WASI call each, for a predictable trace. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[32];
    ssize_t n = read(0, buf, sizeof buf);
    write(1, buf, n);
    const char *greeting = getenv("GREETING");
    write(1, greeting, strlen(greeting));
    unsigned char r[16];
    getentropy(r, sizeof r);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    write(2, argv[1], strlen(argv[1]));
    return 3;
}
