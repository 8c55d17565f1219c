/* Opens d/f beneath the preopen at fd 3 over and over (argv[1] times) and
   counts what it read: the inside file, anything else, or an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 1000;
    int inside = 0, other = 0, failed = 0;
    char buf[64];
    for (int i = 0; i < rounds; i++) {
        __wasi_fd_t fd;
        if (__wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "d/f", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd)) {
            failed++;
            continue;
        }
        __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
        __wasi_size_t n = 0;
        __wasi_fd_read(fd, &iov, 1, &n);
        __wasi_fd_close(fd);
        if (n == 7 && memcmp(buf, "inside\n", 7) == 0) inside++;
        else other++;
    }
    printf("inside=%d other=%d failed=%d\n", inside, other, failed);
    return 0;
}
