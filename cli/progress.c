/* progress.c -- the progress bar (stderr, only when it is a terminal) and SIGINT/SIGTERM: the first
 * makes the progress callback return non-zero, so the library stops after the current iteration
 * and the CLI exits 130 without writing anything (outputs staged by then are discarded); a second
 * kills the process at once. SIGTERM is handled as ^C: left to its default action, a kill while
 * the outputs are written would leave their temporary files behind. The handlers stay until the
 * process exits: after the outputs are committed a signal has nothing left to stop. */
#define _GNU_SOURCE
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

void cli_sigint_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* the next ^C gets the default action: terminate */
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void) { return interrupted != 0; }

void cli_progress_init(cli_progress *pr, int quiet) {
    memset(pr, 0, sizeof *pr);
    pr->bar = !quiet && isatty(STDERR_FILENO);
    pr->t0 = cli_now_ms();
}

int cli_progress_cb(int iter, int max_iter, const fkm_iter_stats *s, void *user) {
    cli_progress *pr = (cli_progress *)user;
    if (pr && pr->bar) {
        const int width = 30;
        int filled = max_iter > 0 ? (int)((int64_t)(iter + 1) * width / max_iter) : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] iter %d/%d  inertia %.6g  shift %.3g  %.1f ms/iter  \033[K", bar, iter + 1, max_iter,
                s->inertia, s->shift, s->ms);
        fflush(stderr);
        pr->drawn = 1;
    }
    return interrupted ? 1 : 0;
}

void cli_progress_done(cli_progress *pr) {
    if (pr->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        pr->drawn = 0;
    }
}
