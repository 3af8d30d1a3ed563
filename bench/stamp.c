/* stamp: the child every supervisor runs in the memory and restart benchmarks.
 * First thing in main: read CLOCK_MONOTONIC and write "<ns> <pid>\n" to the file
 * given as argv[1], atomically via write to a temp file + rename. Then pause() forever.
 * Invoked as "run" (runit/s6 service directories, where ./run is a symlink to this
 * binary) it writes ./stamp in the working directory and ignores its arguments
 * (s6-supervise 2.11 passes the service name). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    const char *path = (argc < 2 || strcmp(base, "run") == 0) ? "./stamp" : argv[1];
    char buf[64], tmp[4096];
    int n = snprintf(buf, sizeof buf, "%lld %d\n",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, n) != n || close(fd) != 0 || rename(tmp, path) != 0) {
        perror("stamp");
        return 1;
    }
    for (;;) pause();
}
