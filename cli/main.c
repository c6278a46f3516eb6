/* main.c -- `flashkmeans fit|predict|bench ...`: command dispatch. See docs/cli.md. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "flashkmeans %s -- exact k-means (Lloyd) on CPUs and GPUs\n"
            "usage:\n"
            "  flashkmeans fit INPUT -k K [--iters|--max-iter N] [--tol T] [--stop shift|inertia|labels|fixed]\n"
            "      [--init kmeans++|'k-means||'|hierarchical|random|FILE] [--n-init R] [--seed S] [--metric l2|cosine|ip]\n"
            "      [--device auto|cpu|cuda] [--precision auto|exact|tf32|fp16|bf16] [--threads T]\n"
            "      [--gpu-mem SIZE] [--gpus G] [--empty farthest|keep] [--max-cluster-size N]\n"
            "      [-o|--output centroids.npy] [--labels labels.npy] [--report report.json] [--plot plot.svg]\n"
            "      [--truth LABELS] [-q] [-v]\n"
            "      [--dim D --dtype f32|f64|f16|bf16|u8]\n"
            "  flashkmeans predict INPUT -c|--centroids C.npy [--labels out.npy] [--distances dist.npy]\n"
            "      [--metric l2|cosine|ip] [--device auto|cpu|cuda] [--precision ...] [--threads T]\n"
            "      [--dim D --dtype T] [-q] [-v]\n"
            "  flashkmeans bench [-n N] [-d D] [-k K] [--iters I] [--device auto|cpu|cuda] [--precision ...]\n"
            "      [--threads T] [--seed S] [--dtype f32|f16|bf16] [-v]\n"
            "  flashkmeans COMMAND --help     options of one command, with their defaults\n"
            "  -q, --quiet: nothing on stdout; -v, --verbose: log messages on stderr (-vv: debug too)\n"
            "exit codes: 0 ok, 2 bad input or usage, 1 other failure, 130 interrupted\n",
            fkm_version());
}

int main(int argc, char **argv) {
    /* A write past a file-size limit must fail with EFBIG (and leave no partial output), not
     * kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        return cli_error(CLI_BAD, "no command given (fit, predict or bench)");
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "fit") == 0) return cli_fit(argc - 2, argv + 2);
#ifdef FKM_HAVE_MPI
    if (cli_mpi_launched() && (strcmp(cmd, "predict") == 0 || strcmp(cmd, "bench") == 0)) /* docs/mpi.md */
        return cli_error(CLI_BAD, "only 'fit' runs under mpirun (every rank would run its own '%s')", cmd);
#endif
    if (strcmp(cmd, "predict") == 0) return cli_predict(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0) return cli_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("flashkmeans %s\n", fkm_version());
        return CLI_OK;
    }
    return cli_error(CLI_BAD, "unknown command '%s' (expected fit, predict or bench; see --help)", cmd);
}
