/* killstamp PID [STAMPFILE [TIMEOUT_MS]]
 * Reads CLOCK_MONOTONIC, then sends SIGKILL to PID; prints the clock (ns).
 * With STAMPFILE (written by `stamp`: "<ns> <pid>"), then waits (polling every
 * 100 us, no busy loop) until the file names a pid other than PID and prints
 * "<kill_ns> <new_stamp_ns> <new_pid> <latency_ns>". Exit 2 on timeout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static long long now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int read_stamp(const char *path, long long *ns, long *pid) {
    char buf[128];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    return sscanf(buf, "%lld %ld", ns, pid) == 2 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: killstamp PID [STAMPFILE [TIMEOUT_MS]]\n"); return 64; }
    long pid = strtol(argv[1], NULL, 10);
    if (pid <= 1) { fprintf(stderr, "killstamp: bad pid\n"); return 64; }
    long long t0 = now();
    if (kill((pid_t)pid, SIGKILL) != 0) { perror("killstamp: kill"); return 1; }
    if (argc < 3) { printf("%lld\n", t0); return 0; }
    long long timeout = (argc > 3 ? atoll(argv[3]) : 10000) * 1000000LL;
    struct timespec nap = {0, 100000};
    for (;;) {
        long long ns; long npid;
        if (read_stamp(argv[2], &ns, &npid) == 0 && npid != pid) {
            printf("%lld %lld %ld %lld\n", t0, ns, npid, ns - t0);
            return 0;
        }
        if (now() - t0 > timeout) { fprintf(stderr, "killstamp: timeout\n"); return 2; }
        nanosleep(&nap, NULL);
    }
}
