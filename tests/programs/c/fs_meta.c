/* Metadata: stat/lstat/fstat, utimensat/futimens (times, UTIME_NOW,
   UTIME_OMIT, AT_SYMLINK_NOFOLLOW), access. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, const struct stat *st) {
    printf("%s: size=%lld type=%s nlink=%llu\n", what, (long long)st->st_size,
           S_ISREG(st->st_mode) ? "file" : S_ISDIR(st->st_mode) ? "dir" : S_ISLNK(st->st_mode) ? "link" : "other",
           (unsigned long long)st->st_nlink);
}

int main(void) {
    struct stat st, lst;
    int fd = open("/box/m.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    symlink("m.txt", "/box/m.link");
    stat("/box/m.txt", &st);
    show("stat file", &st);
    lstat("/box/m.link", &st);
    show("lstat link", &st);
    stat("/box/m.link", &st);
    show("stat link", &st);
    fstat(fd, &st);
    show("fstat", &st);
    stat("/box", &st);
    printf("stat /box: type=%s\n", S_ISDIR(st.st_mode) ? "dir" : "other");
    link("/box/m.txt", "/box/m.hard");
    fstat(fd, &st);
    printf("nlink after link: %llu\n", (unsigned long long)st.st_nlink);
    SAY("stat missing", stat("/box/missing", &st));
    SAY("stat file/", stat("/box/m.txt/", &st));

    struct timespec times[2] = {{1000, 5}, {2000, 7}};
    SAY("utimensat", utimensat(AT_FDCWD, "/box/m.txt", times, 0));
    stat("/box/m.txt", &st);
    printf("atime %lld.%09ld mtime %lld.%09ld\n", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec omit_atime[2] = {{0, UTIME_OMIT}, {3000, 0}};
    SAY("utimensat UTIME_OMIT atime", utimensat(AT_FDCWD, "/box/m.txt", omit_atime, 0));
    stat("/box/m.txt", &st);
    printf("atime %lld mtime %lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
    struct timespec now_atime[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    SAY("futimens UTIME_NOW atime", futimens(fd, now_atime));
    fstat(fd, &st);
    printf("atime is now: %d, mtime %lld\n", st.st_atim.tv_sec > 1600000000, (long long)st.st_mtim.tv_sec);
    struct timespec link_times[2] = {{4000, 0}, {5000, 0}};
    SAY("utimensat a link, nofollow", utimensat(AT_FDCWD, "/box/m.link", link_times, AT_SYMLINK_NOFOLLOW));
    lstat("/box/m.link", &lst);
    stat("/box/m.txt", &st);
    printf("link mtime %lld, file mtime %lld\n", (long long)lst.st_mtim.tv_sec, (long long)st.st_mtim.tv_sec);
    SAY("utimensat a link, following", utimensat(AT_FDCWD, "/box/m.link", link_times, 0));
    stat("/box/m.txt", &st);
    printf("file mtime %lld\n", (long long)st.st_mtim.tv_sec);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    SAY("utimensat bad nanoseconds", utimensat(AT_FDCWD, "/box/m.txt", bad, 0));
    SAY("futimens on a closed fd", futimens(99, times));

    SAY("access F_OK", access("/box/m.txt", F_OK));
    SAY("access R_OK|W_OK", access("/box/m.txt", R_OK | W_OK));
    SAY("access missing", access("/box/missing", F_OK));
    close(fd);
    return 0;
}
