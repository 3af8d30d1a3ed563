/* verify N FILE...: checks that the files (in any order) hold exactly the lines
 * 0..N-1 written by `flood` (100 bytes each, "%010u " + 88 'x' + '\n').
 * Order-independent (a bitmap of seen numbers), so rotated files may be listed in
 * any order. Prints: "lines=L distinct=D missing=M duplicates=U malformed=B bytes=Y
 * out_of_order=O" where out_of_order counts lines whose number is not the previous
 * one + 1 in the order given. Exit 0 only when L = D = N and nothing is malformed.
 * A line may carry tend's stream tag ("out ", the combined <name>.log), skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: verify N FILE...\n"); return 64; }
    unsigned long long n = strtoull(argv[1], NULL, 10);
    unsigned char *seen = calloc(n / 8 + 1, 1);
    unsigned long long lines = 0, distinct = 0, dup = 0, bad = 0, bytes = 0, ooo = 0;
    long long prev = -1;
    static char buf[1 << 20];
    char line[256];
    size_t ll = 0;
    for (int a = 2; a < argc; a++) {
        int fd = open(argv[a], O_RDONLY);
        if (fd < 0) { perror(argv[a]); return 1; }
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0) {
            bytes += (unsigned long long)r;
            for (ssize_t i = 0; i < r; i++) {
                char c = buf[i];
                if (ll < sizeof line) line[ll] = c;
                ll++;
                if (c != '\n') continue;
                lines++;
                int off = (ll == 104 && memcmp(line, "out ", 4) == 0) ? 4 : 0;
                const char *l = line + off;
                int ok = ll - off == 100 && l[10] == ' ';
                unsigned long long v = 0;
                for (int d = 0; ok && d < 10; d++) {
                    if (l[d] < '0' || l[d] > '9') ok = 0;
                    else v = v * 10 + (unsigned)(l[d] - '0');
                }
                if (ok && l[98] != 'x') ok = 0;
                if (!ok || v >= n) { bad++; ll = 0; prev = -1; continue; }
                if ((long long)v != prev + 1) ooo++;
                prev = (long long)v;
                if (seen[v / 8] & (1u << (v % 8))) dup++;
                else { seen[v / 8] |= (unsigned char)(1u << (v % 8)); distinct++; }
                ll = 0;
            }
        }
        close(fd);
    }
    if (ll) bad++; /* a final partial line */
    printf("lines=%llu distinct=%llu missing=%llu duplicates=%llu malformed=%llu bytes=%llu out_of_order=%llu\n",
           lines, distinct, n - distinct, dup, bad, bytes, ooo);
    return (lines == n && distinct == n && bad == 0) ? 0 : 1;
}
