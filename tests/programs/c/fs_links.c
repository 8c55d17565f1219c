/* Names: rename, link, symlink/readlink, unlink. Only calls whose layout
   both ABIs share. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void show(const char *path) {
    char buf[64] = {0};
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        printf("read %s: %s\n", path, errname(errno));
        return;
    }
    fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    printf("read %s: %s\n", path, buf);
}

int main(void) {
    char buf[64];
    put("/box/orig", "payload");
    SAY("link orig hard", link("/box/orig", "/box/hard"));
    SAY("link onto an existing name", link("/box/orig", "/box/hard"));
    SAY("unlink orig", unlink("/box/orig"));
    show("/box/hard");
    SAY("rename hard renamed", rename("/box/hard", "/box/renamed"));
    show("/box/hard");
    show("/box/renamed");
    put("/box/other", "other");
    SAY("rename other over renamed", rename("/box/other", "/box/renamed"));
    show("/box/renamed");
    SAY("rename into a missing dir", rename("/box/renamed", "/box/nope/x"));
    mkdir("/box/d1", 0755);
    put("/box/d1/inner", "inner");
    SAY("rename d1 d2", rename("/box/d1", "/box/d2"));
    show("/box/d2/inner");
    SAY("rename a dir over a file", rename("/box/d2", "/box/renamed"));

    SAY("symlink renamed sl", symlink("renamed", "/box/sl"));
    SAY("symlink onto an existing name", symlink("renamed", "/box/sl"));
    ssize_t n = readlink("/box/sl", buf, sizeof buf);
    printf("readlink: %zd %.*s\n", n, (int)n, buf);
    n = readlink("/box/sl", buf, 3);
    printf("readlink into 3 bytes: %zd %.*s\n", n, (int)n, buf);
    SAY("readlink a file", readlink("/box/renamed", buf, sizeof buf) < 0 ? -1 : 0);
    show("/box/sl");
    SAY("symlink into d2", symlink("../renamed", "/box/d2/up"));
    show("/box/d2/up");
    SAY("unlink sl", unlink("/box/sl"));
    show("/box/renamed");
    SAY("unlink a dir", unlink("/box/d2"));
    SAY("unlink missing", unlink("/box/sl"));
    SAY("rmdir d2 (full)", rmdir("/box/d2"));
    SAY("unlink d2/up", unlink("/box/d2/up"));
    SAY("unlink d2/inner", unlink("/box/d2/inner"));
    SAY("rmdir d2", rmdir("/box/d2"));
    return 0;
}
