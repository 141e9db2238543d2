/*
 * dpc-runjob: run one external program and record its exact resource usage.
 *
 *   dpc-runjob <usage-file> <program> [args...]
 *
 * Node cannot read a child's rusage, so the PFS local executor starts this helper
 * (detached, so the helper leads the job's process group) and reads <usage-file>
 * afterwards: one line of JSON with the exit code or signal, user and system CPU
 * time in milliseconds and the peak resident set size in KiB.
 * The helper exits with the program's exit code, or 128+signal, like a shell.
 */
#define _DEFAULT_SOURCE /* wait4, struct rusage fields */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child = 0;

/* The executor stops a job by signalling the helper; pass it on so the program sees it
   and the helper stays alive to collect the usage. */
static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

static const char *signame(int sig, char *buf, size_t len) {
    static const struct { int n; const char *name; } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].n == sig) return names[i].name;
    snprintf(buf, len, "SIG%d", sig);
    return buf;
}

static long long to_ms(struct timeval tv) {
    return (long long)tv.tv_sec * 1000 + (tv.tv_usec + 500) / 1000;
}

/* Write to <file>.tmp and rename, so a reader never sees a half-written line. */
static int write_usage(const char *file, int status, const struct rusage *ru) {
    char tmp[4096], sigbuf[16], exitbuf[16], sigjson[32];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", file) >= (int)sizeof tmp) return -1;
    strcpy(exitbuf, "null");
    strcpy(sigjson, "null");
    if (WIFEXITED(status)) snprintf(exitbuf, sizeof exitbuf, "%d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(sigjson, sizeof sigjson, "\"%s\"", signame(WTERMSIG(status), sigbuf, sizeof sigbuf));
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    /* ru_maxrss is in KiB on Linux. */
    fprintf(f, "{\"exitCode\":%s,\"signal\":%s,\"userMs\":%lld,\"systemMs\":%lld,\"maxRssKb\":%ld}\n",
            exitbuf, sigjson, to_ms(ru->ru_utime), to_ms(ru->ru_stime), ru->ru_maxrss);
    if (fclose(f) != 0) { unlink(tmp); return -1; }
    return rename(tmp, file);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: dpc-runjob <usage-file> <program> [args...]\n");
        return 2;
    }
    /* Handlers go in before the fork, and the signals stay blocked until the child's pid
       is known, so a stop request arriving around the fork is neither lost nor fatal to
       the helper (which would lose the usage). */
    struct sigaction sa;
    sigset_t fwd, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&fwd);
    sigaddset(&fwd, SIGTERM);
    sigaddset(&fwd, SIGINT);
    sigaddset(&fwd, SIGHUP);
    sigprocmask(SIG_BLOCK, &fwd, &old);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "dpc-runjob: fork: %s\n", strerror(errno));
        return 127;
    }
    if (pid == 0) {
        /* Default dispositions and the original mask: the program must react to
           signals normally. (exec would reset the handlers anyway, not the mask.) */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "dpc-runjob: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    child = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);

    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "dpc-runjob: wait4: %s\n", strerror(errno));
            return 127;
        }
    }
    if (write_usage(argv[1], status, &ru) != 0)
        fprintf(stderr, "dpc-runjob: cannot write %s: %s\n", argv[1], strerror(errno));

    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 127;
}
