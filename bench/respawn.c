/* respawn PROG [ARGS...]: the lower bound. A minimal fork/exec respawn loop: start
 * the program, wait for it, start it again immediately. No backoff, no logging.
 * SIGTERM/SIGINT: kill the child and exit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile pid_t child;

static void on_term(int sig) { (void)sig; stop = 1; if (child > 0) kill(child, SIGKILL); }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: respawn PROG [ARGS...]\n"); return 64; }
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!stop) {
        pid_t pid = fork();
        if (pid < 0) { perror("respawn: fork"); sleep(1); continue; }
        if (pid == 0) {
            execv(argv[1], argv + 1);
            perror("respawn: exec");
            _exit(127);
        }
        child = pid;
        if (stop) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0) {}
        child = 0;
    }
    return 0;
}
