/* How long nanosleep(10 ms), usleep(20 ms) and select() with a 15 ms timeout
   really take, in microseconds, on the monotonic clock. */
#include <stdio.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

int main(void) {
    long long a = now_us();
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    nanosleep(&ten_ms, NULL);
    long long b = now_us();
    usleep(20000);
    long long c = now_us();
    struct timeval fifteen_ms = {0, 15000};
    int n = select(0, NULL, NULL, NULL, &fifteen_ms);
    long long d = now_us();
    printf("nanosleep %lld\nusleep %lld\nselect %lld returned %d\n", b - a, c - b, d - c, n);
    return 0;
}
