/* An echo server on the listening socket the host hands in as fd 3: serves
   connections at once with poll(), until argv[1] clients have come and gone.
   A client that vanishes mid-send costs only its own connection; the errno
   it caused is reported. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX 16

int main(int argc, char **argv) {
    int expected = atoi(argv[1]), finished = 0, open_ = 0;
    struct pollfd fds[MAX + 1];
    fds[0].fd = 3;
    fds[0].events = POLLIN;
    char buf[65536];
    while (finished < expected) {
        int n = poll(fds, open_ + 1, 10000);
        if (n <= 0) { printf("poll failed: %d %s\n", n, strerror(errno)); return 1; }
        if (fds[0].revents & POLLIN) {
            int c = accept(3, NULL, NULL);
            if (c < 0) { printf("accept: %s\n", strerror(errno)); return 1; }
            fds[++open_].fd = c;
            fds[open_].events = POLLIN;
        }
        for (int i = 1; i <= open_; i++) {
            if (!fds[i].revents) continue;
            ssize_t got = recv(fds[i].fd, buf, sizeof buf, 0);
            int done = got <= 0;
            if (got > 0) {
                int times = memcmp(buf, "flood", 5) == 0 ? 2000 : 1;  /* "flood": answer a lot */
                for (int t = 0; t < times && !done; t++) {
                    ssize_t sent = send(fds[i].fd, buf, got, 0);
                    if (sent < 0) { printf("send failed: %s\n", strerror(errno)); done = 1; }
                }
            }
            if (done) {
                shutdown(fds[i].fd, SHUT_RDWR);
                close(fds[i].fd);
                fds[i--] = fds[open_--];
                finished++;
            }
        }
    }
    printf("served %d clients\n", finished);
    return 0;
}
