/* Prints its arguments, its environment and whether the clocks look right;
   exits with the status given as its last argument, if that is a number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env %s\n", *e);
    struct timespec real, mono1, mono2, res;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono1);
    clock_gettime(CLOCK_MONOTONIC, &mono2);
    clock_getres(CLOCK_MONOTONIC, &res);
    printf("realtime after 2020: %s\n", real.tv_sec > 1577836800 ? "yes" : "no");
    printf("monotonic does not go back: %s\n",
           (mono2.tv_sec > mono1.tv_sec || (mono2.tv_sec == mono1.tv_sec && mono2.tv_nsec >= mono1.tv_nsec)) ? "yes" : "no");
    printf("resolution at most 1ms: %s\n", (res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 1000000) ? "yes" : "no");
    printf("cpu clock: %s\n", clock() >= 0 ? "yes" : "no");
    if (argc > 1) {
        char *end;
        long code = strtol(argv[argc - 1], &end, 10);
        if (*end == 0 && end != argv[argc - 1]) return (int)code;
    }
    return 0;
}
