/* flood N [STARTFILE]: writes N numbered 100-byte lines to stdout as fast as possible,
 * ~1 MB per write(2). Line i (0-based) is "%010u " + 88 'x' + '\n'.
 * With STARTFILE, first writes CLOCK_MONOTONIC ns at start to it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE 100
#define PER_WRITE 10000 /* lines per write: 1,000,000 bytes */

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (argc < 2) { fprintf(stderr, "usage: flood N [STARTFILE]\n"); return 64; }
    if (argc > 2) {
        FILE *f = fopen(argv[2], "w");
        if (!f) { perror("flood"); return 1; }
        fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        fclose(f);
    }
    unsigned long long n = strtoull(argv[1], NULL, 10);
    static char buf[PER_WRITE * LINE];
    char digits[10];
    memset(digits, '0', 10);
    for (int i = 0; i < PER_WRITE; i++) {
        memset(buf + i * LINE, 'x', LINE - 1);
        buf[i * LINE + 10] = ' ';
        buf[i * LINE + LINE - 1] = '\n';
    }
    unsigned long long done = 0;
    while (done < n) {
        int k = (n - done) < PER_WRITE ? (int)(n - done) : PER_WRITE;
        for (int i = 0; i < k; i++) {
            memcpy(buf + i * LINE, digits, 10);
            for (int d = 9; d >= 0; d--) { /* increment the decimal counter */
                if (digits[d] == '9') { digits[d] = '0'; continue; }
                digits[d]++;
                break;
            }
        }
        size_t len = (size_t)k * LINE, off = 0;
        while (off < len) {
            ssize_t w = write(1, buf + off, len - off);
            if (w < 0) { if (errno == EINTR) continue; perror("flood: write"); return 1; }
            off += (size_t)w;
        }
        done += k;
    }
    return 0;
}
