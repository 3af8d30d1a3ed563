/* waitsize DIR PREFIX BYTES TIMEOUT_MS: polls (every 2 ms) the total size of the
 * regular files in DIR whose names start with PREFIX until it reaches BYTES; prints
 * CLOCK_MONOTONIC ns at that moment. Exit 2 on timeout (prints the size reached). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>

static long long now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: waitsize DIR PREFIX BYTES TIMEOUT_MS\n"); return 64; }
    long long want = atoll(argv[3]), deadline = now() + atoll(argv[4]) * 1000000LL;
    size_t pl = strlen(argv[2]);
    struct timespec nap = {0, 2000000};
    long long total = 0;
    for (;;) {
        total = 0;
        DIR *d = opendir(argv[1]);
        if (d) {
            struct dirent *e;
            struct stat st;
            while ((e = readdir(d))) {
                if (strncmp(e->d_name, argv[2], pl) != 0) continue;
                if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
                    total += st.st_size;
            }
            closedir(d);
        }
        long long t = now();
        if (total >= want) { printf("%lld\n", t); return 0; }
        if (t > deadline) { printf("%lld\n", total); fprintf(stderr, "waitsize: timeout at %lld bytes\n", total); return 2; }
        nanosleep(&nap, NULL);
    }
}
