/* The names of the errno values the file tests expect (wasi-libc's errno
   values are WASI's). Included by the fs_*.c programs. */
#include <errno.h>
#include <stdio.h>

static const char *errname(int e) {
    switch (e) {
    case 0: return "ok";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case ENOENT: return "ENOENT";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EPERM: return "EPERM";
    default: return "other";
    }
}

/* Print what a libc call answered: "what: ok" or "what: ENAME". */
#define SAY(what, call) printf("%s: %s\n", what, (call) == 0 ? "ok" : errname(errno))
