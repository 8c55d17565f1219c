/* Directories: mkdir/rmdir, and opendir/readdir over more entries than one
   fd_readdir call can return (wasi-libc reads 4 KiB at a time), with
   telldir/seekdir and rewinddir. Only calls whose layout both ABIs share. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES 300

static int by_name(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(void) {
    char path[128];
    SAY("mkdir many", mkdir("/box/many", 0755));
    SAY("mkdir many again", mkdir("/box/many", 0755));
    SAY("mkdir many/sub", mkdir("/box/many/sub", 0755));
    SAY("mkdir in a missing dir", mkdir("/box/nope/sub", 0755));
    for (int i = 0; i < FILES; i++) {
        snprintf(path, sizeof path, "/box/many/entry-with-a-longish-name-%03d", i);
        FILE *f = fopen(path, "w");
        fclose(f);
    }
    DIR *d = opendir("/box/many");
    char *names[FILES + 8];
    int count = 0, files = 0, dirs = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < FILES + 8) {
        names[count++] = strdup(e->d_name);
        files += e->d_type == DT_REG;
        dirs += e->d_type == DT_DIR;
    }
    printf("entries: %d (files %d, directories %d)\n", count, files, dirs);
    printf("first two: %s %s\n", names[0], names[1]);
    qsort(names, count, sizeof *names, by_name);
    int in_order = 1;
    for (int i = 0; i < FILES; i++) {
        snprintf(path, sizeof path, "entry-with-a-longish-name-%03d", i);
        in_order &= strcmp(names[i + 2], path) == 0;
    }
    printf("every file listed once: %d, last: %s\n", in_order, names[count - 1]);

    rewinddir(d);
    for (int i = 0; i < 150; i++) readdir(d);
    long where = telldir(d);
    char next[64];
    strcpy(next, readdir(d)->d_name);
    for (int i = 0; i < 40; i++) readdir(d);
    seekdir(d, where);
    printf("seekdir back to the same entry: %d\n", strcmp(readdir(d)->d_name, next) == 0);
    rewinddir(d);
    printf("after rewinddir: %s\n", readdir(d)->d_name);
    closedir(d);

    SAY("rmdir a full directory", rmdir("/box/many"));
    SAY("rmdir a file", rmdir("/box/many/entry-with-a-longish-name-000"));
    for (int i = 0; i < FILES; i++) {
        snprintf(path, sizeof path, "/box/many/entry-with-a-longish-name-%03d", i);
        if (unlink(path) != 0) printf("unlink %s failed\n", path);
    }
    SAY("rmdir many/sub/", rmdir("/box/many/sub/"));
    SAY("rmdir many", rmdir("/box/many"));
    SAY("opendir a removed dir", opendir("/box/many") == NULL ? -1 : 0);
    return 0;
}
