/* stdio and fd I/O on files: fopen/fwrite/fread/fseek/ftell/ftruncate,
   O_APPEND, pread/pwrite, open's flags. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    char buf[256];
    FILE *f = fopen("/box/notes.txt", "w+");
    fputs("first line\n", f);
    fwrite("second line\n", 1, 12, f);
    printf("ftell after writes: %ld\n", ftell(f));
    fseek(f, 6, SEEK_SET);
    size_t n = fread(buf, 1, 4, f);
    buf[n] = 0;
    printf("fread 4 at 6: %s\n", buf);
    fseek(f, -5, SEEK_END);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    printf("fread from end-5: %s", buf);
    fseek(f, -3, SEEK_CUR);
    printf("ftell after SEEK_CUR -3: %ld\n", ftell(f));
    fflush(f);
    SAY("ftruncate to 5", ftruncate(fileno(f), 5));
    fseek(f, 0, SEEK_END);
    printf("size after ftruncate: %ld\n", ftell(f));
    rewind(f);
    fgets(buf, sizeof buf, f);
    printf("content: [%s]\n", buf);
    SAY("ftruncate to 8", ftruncate(fileno(f), 8));
    rewind(f);
    n = fread(buf, 1, sizeof buf, f);
    printf("grown to %zu, tail zero: %d\n", n, buf[5] == 0 && buf[7] == 0);
    fclose(f);

    int fd = open("/box/log.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    write(fd, "a", 1);
    lseek(fd, 0, SEEK_SET);
    write(fd, "b", 1);
    close(fd);
    fd = open("/box/log.txt", O_WRONLY | O_APPEND);
    write(fd, "c", 1);
    close(fd);
    FILE *a = fopen("/box/log.txt", "a");
    fputs("d", a);
    fclose(a);
    f = fopen("/box/log.txt", "r");
    n = fread(buf, 1, sizeof buf, f);
    buf[n] = 0;
    printf("appended: %s\n", buf);
    fclose(f);

    fd = open("/box/log.txt", O_RDWR);
    printf("pwrite: %zd\n", pwrite(fd, "XY", 2, 1));
    n = pread(fd, buf, 10, 0);
    buf[n] = 0;
    printf("pread: %s, position still %lld\n", buf, (long long)lseek(fd, 0, SEEK_CUR));
    close(fd);

    /* One big write and reads in chunks: every byte arrives in order. */
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 7 + i / 251);
    f = fopen("/box/big.bin", "wb");
    printf("big fwrite: %zu\n", fwrite(big, 1, sizeof big, f));
    fclose(f);
    f = fopen("/box/big.bin", "rb");
    size_t total = 0, same = 1;
    while ((n = fread(buf, 1, 100, f)) > 0) {
        same &= memcmp(buf, big + total, n) == 0;
        total += n;
    }
    printf("big fread: %zu, same: %zu\n", total, same);
    fclose(f);

    SAY("open O_CREAT|O_EXCL existing", open("/box/log.txt", O_WRONLY | O_CREAT | O_EXCL, 0644) < 0 ? -1 : 0);
    SAY("open O_DIRECTORY on a file", open("/box/log.txt", O_RDONLY | O_DIRECTORY) < 0 ? -1 : 0);
    SAY("open a missing file", open("/box/missing", O_RDONLY) < 0 ? -1 : 0);
    SAY("fopen w on a directory", fopen("/box", "w") == NULL ? -1 : 0);
    fd = open("/box/log.txt", O_RDONLY);
    SAY("write to a read-only fd", write(fd, "x", 1) < 0 ? -1 : 0);
    close(fd);
    SAY("close it twice", close(fd));
    return 0;
}
