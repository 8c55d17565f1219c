/* poll() stdin once with a timeout (ms, argv[1]); report what it says, then
   read what is there. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct pollfd p = {0, POLLIN, 0};
    int n = poll(&p, 1, argc > 1 ? atoi(argv[1]) : 1000);
    printf("poll=%d%s%s%s\n", n, p.revents & POLLIN ? " IN" : "", p.revents & POLLHUP ? " HUP" : "",
           p.revents & (POLLERR | POLLNVAL) ? " ERR" : "");
    if (n > 0 && (p.revents & POLLIN)) {
        char buf[64];
        ssize_t got = read(0, buf, sizeof buf - 1);
        buf[got > 0 ? got : 0] = 0;
        printf("read %zd: %s\n", got, buf);
    }
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(0, &readable);
    struct timeval zero = {0, 0};
    printf("select=%d\n", select(1, &readable, NULL, NULL, &zero));
    return 0;
}
