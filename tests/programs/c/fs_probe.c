/* Runs WASI path calls named on the command line against the preopen at
   fd 3, straight through wasi/api.h (no libc path handling in between),
   and prints one line per call: "OP PATH[ PATH2] -> ERRNO[ what was read]".

     open P     path_open following symlinks, then read what is there
     nofollow P path_open without SYMLINK_FOLLOW, then read
     creat P    path_open with CREAT|TRUNC, then write "WRITTEN"
     opendir P  path_open with DIRECTORY, then fd_readdir
     mkdir P, rmdir P, unlink P, readlink P
     stat P, lstat P            path_filestat_get with and without SYMLINK_FOLLOW
     utimes P, lutimes P        path_filestat_set_times (both NOW), ditto
     symlink T P, link A B, linkf A B (SYMLINK_FOLLOW), rename A B
*/
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define DIR_FD 3
#define FOLLOW __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW

static char data[256];

static int readall(__wasi_fd_t fd) {
    __wasi_iovec_t iov = {(uint8_t *)data, sizeof data - 1};
    __wasi_size_t n = 0;
    int e = __wasi_fd_read(fd, &iov, 1, &n);
    data[n] = 0;
    if (n && data[n - 1] == '\n') data[n - 1] = 0;
    return e;
}

static int open_and(const char *path, __wasi_lookupflags_t lookup, __wasi_oflags_t oflags, int what) {
    __wasi_fd_t fd;
    __wasi_rights_t rights = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_READDIR;
    int e = __wasi_path_open(DIR_FD, lookup, path, oflags, rights, 0, 0, &fd);
    if (e) return e;
    if (what == 'r') e = readall(fd);
    if (what == 'w') {
        __wasi_ciovec_t iov = {(const uint8_t *)"WRITTEN", 7};
        __wasi_size_t n;
        e = __wasi_fd_write(fd, &iov, 1, &n);
    }
    if (what == 'd') {
        __wasi_size_t used;
        e = __wasi_fd_readdir(fd, (uint8_t *)data, sizeof data, 0, &used);
        snprintf(data, sizeof data, "%u bytes", (unsigned)used);
    }
    __wasi_fd_close(fd);
    return e;
}

int main(int argc, char **argv) {
    __wasi_filestat_t st;
    __wasi_size_t n;
    __wasi_fstflags_t now = __WASI_FSTFLAGS_ATIM_NOW | __WASI_FSTFLAGS_MTIM_NOW;
    for (int i = 1; i < argc; i++) {
        const char *op = argv[i], *a = i + 1 < argc ? argv[i + 1] : "", *b = i + 2 < argc ? argv[i + 2] : "";
        int two = !strcmp(op, "symlink") || !strcmp(op, "link") || !strcmp(op, "linkf") || !strcmp(op, "rename");
        int e = -1;
        data[0] = 0;
        if (!strcmp(op, "open")) e = open_and(a, FOLLOW, 0, 'r');
        else if (!strcmp(op, "nofollow")) e = open_and(a, 0, 0, 'r');
        else if (!strcmp(op, "creat")) e = open_and(a, FOLLOW, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 'w');
        else if (!strcmp(op, "opendir")) e = open_and(a, FOLLOW, __WASI_OFLAGS_DIRECTORY, 'd');
        else if (!strcmp(op, "mkdir")) e = __wasi_path_create_directory(DIR_FD, a);
        else if (!strcmp(op, "rmdir")) e = __wasi_path_remove_directory(DIR_FD, a);
        else if (!strcmp(op, "unlink")) e = __wasi_path_unlink_file(DIR_FD, a);
        else if (!strcmp(op, "stat")) e = __wasi_path_filestat_get(DIR_FD, FOLLOW, a, &st);
        else if (!strcmp(op, "lstat")) e = __wasi_path_filestat_get(DIR_FD, 0, a, &st);
        else if (!strcmp(op, "utimes")) e = __wasi_path_filestat_set_times(DIR_FD, FOLLOW, a, 0, 0, now);
        else if (!strcmp(op, "lutimes")) e = __wasi_path_filestat_set_times(DIR_FD, 0, a, 0, 0, now);
        else if (!strcmp(op, "symlink")) e = __wasi_path_symlink(a, DIR_FD, b);
        else if (!strcmp(op, "link")) e = __wasi_path_link(DIR_FD, 0, a, DIR_FD, b);
        else if (!strcmp(op, "linkf")) e = __wasi_path_link(DIR_FD, FOLLOW, a, DIR_FD, b);
        else if (!strcmp(op, "rename")) e = __wasi_path_rename(DIR_FD, a, DIR_FD, b);
        else if (!strcmp(op, "readlink")) {
            e = __wasi_path_readlink(DIR_FD, a, (uint8_t *)data, sizeof data - 1, &n);
            data[e ? 0 : n] = 0;
        }
        if (e < 0) {
            printf("unknown op %s\n", op);
            return 2;
        }
        if (two) printf("%s %s %s -> %d%s%s\n", op, a, b, e, data[0] ? " " : "", data);
        else printf("%s %s -> %d%s%s\n", op, a, e, data[0] ? " " : "", data);
        i += two ? 2 : 1;
    }
    return 0;
}
