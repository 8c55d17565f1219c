/* Copies data/in.txt to data/out.txt under the preopened directory at fd 3,
   with the WASI calls themselves (no libc path lookup), so that what it asks
   for, and its trace, are fixed. Exits with the errno of a call that fails. */
#include <wasi/api.h>

int main(void) {
    __wasi_fd_t in, out;
    char buf[64];
    __wasi_size_t n;
    __wasi_errno_t e = __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "data/in.txt", 0,
                                        __WASI_RIGHTS_FD_READ, 0, 0, &in);
    if (e) return e;
    __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
    if ((e = __wasi_fd_read(in, &iov, 1, &n))) return e;
    e = __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "data/out.txt",
                         __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
                         __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0, 0, &out);
    if (e) return e;
    __wasi_ciovec_t ciov = {(const uint8_t *)buf, n};
    if ((e = __wasi_fd_write(out, &ciov, 1, &n))) return e;
    if ((e = __wasi_fd_close(in))) return e;
    return __wasi_fd_close(out);
}
