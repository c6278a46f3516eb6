/* predict.c -- `flashkmeans predict INPUT --centroids C.npy [--labels out.npy]`: nearest centroid. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_CENTROIDS, P_LABELS, P_DIST, P_METRIC, P_DEVICE, P_PRECISION, P_THREADS, P_DIM, P_DTYPE, P_QUIET, P_VERBOSE, P_HELP, P_COUNT };
static const cli_opt predict_opts[P_COUNT] = {
    [P_CENTROIDS] = {"centroids", 'c', 1}, [P_LABELS] = {"labels", 0, 1}, [P_DIST] = {"distances", 0, 1},
    [P_METRIC] = {"metric", 0, 1}, [P_DEVICE] = {"device", 0, 1}, [P_PRECISION] = {"precision", 0, 1},
    [P_THREADS] = {"threads", 0, 1}, [P_DIM] = {"dim", 0, 1}, [P_DTYPE] = {"dtype", 0, 1},
    [P_QUIET] = {"quiet", 'q', 0}, [P_VERBOSE] = {"verbose", 'v', 0}, [P_HELP] = {"help", 'h', 0},
};

typedef struct {
    fkm_params p;
    const char *input, *centroids, *out_labels, *out_dist;
    int quiet, help, has_dtype;
    int64_t dim;
    fkm_dtype dtype;
} predict_args;

static void usage(FILE *f) {
    fprintf(f,
            "usage: flashkmeans predict INPUT --centroids C.npy [options]\n"
            "  -c, --centroids FILE    k x d centroids (e.g. the file fit wrote with -o)\n"
            "  --labels FILE           write the label of each point (n int32): FILE.npy or FILE.ivecs\n"
            "  --distances FILE        write each point's distance to its centroid (n float32:\n"
            "                          squared L2; 1 - cos for cosine; -x.c for ip): FILE.npy or FILE.fvecs\n"
            "                          (the format follows the name; no extension: .npy)\n"
            "  --metric l2|cosine|ip   distance (default l2)\n"
            "  --device auto|cpu|cuda  (default auto: a GPU when present)\n"
            "  --precision auto|exact|tf32|fp16|bf16   GPU arithmetic (default auto)\n"
            "  --threads T             CPU threads (default 0: chosen from the problem's size and the idle CPUs)\n"
            "  --dim D --dtype f32|f64|f16|bf16|u8   shape and type of raw input\n"
            "  -q, --quiet             no summary on stdout\n"
            "  -v, --verbose           library log messages on stderr (-vv: debug messages too)\n"
            "  -h, --help              this help\n");
}

static int on_pos(void *ctx, const char *w) {
    predict_args *a = (predict_args *)ctx;
    if (a->input) return cli_error(CLI_BAD, "unexpected argument '%s' (predict takes one INPUT file)", w);
    a->input = w;
    return 0;
}

static int on_opt(void *ctx, int idx, const char *v) {
    predict_args *a = (predict_args *)ctx;
    switch (idx) {
    case P_CENTROIDS: a->centroids = v; return 0;
    case P_LABELS: a->out_labels = v; return 0;
    case P_DIST: a->out_dist = v; return 0;
    case P_METRIC: return cli_metric(v, &a->p.metric);
    case P_DEVICE: return cli_device(v, &a->p.device);
    case P_PRECISION: return cli_precision(v, &a->p.precision);
    case P_THREADS: return cli_int("--threads", v, 0, 4096, &a->p.threads);
    case P_DIM: return cli_int64("--dim", v, 1, INT32_MAX, &a->dim);
    case P_DTYPE: a->has_dtype = 1; return cli_dtype("--dtype", v, &a->dtype);
    case P_QUIET: a->quiet = 1; return 0;
    case P_VERBOSE: cli_verbose(&a->p); return 0;
    case P_HELP: a->help = 1; return 0;
    }
    return cli_error(CLI_FAIL, "internal: unhandled option");
}

typedef struct {
    fkm_io_array x;
    float *c, *dist;
    int32_t *labels;
    cli_outputs out;
} predict_state;

static int run_predict(predict_args *a, predict_state *s) {
    int rc;
    const cli_file ins[2] = {{a->input, "the input data file", CLI_IN}, {a->centroids, "the --centroids file", CLI_IN}};
    const cli_file outs[2] = {{a->out_labels, "--labels", CLI_OUT_I32}, {a->out_dist, "--distances", CLI_OUT_F32}};
    if ((rc = cli_check_outputs(ins, 2, outs, 2))) return rc;
    cli_load_progress(!a->quiet);
    if ((rc = cli_load(a->input, a->dim, a->has_dtype, a->dtype, &s->x))) return rc;
    int64_t k, cd;
    if ((rc = cli_load_f32(a->centroids, "--centroids", &s->c, &k, &cd))) return rc;
    if (cd != s->x.d)
        return cli_error(CLI_BAD, "centroids '%s' have dimension %lld, the input has %lld", a->centroids, (long long)cd,
                         (long long)s->x.d);
    s->labels = (int32_t *)malloc((size_t)s->x.n * sizeof(int32_t));
    s->dist = (float *)malloc((size_t)s->x.n * sizeof(float));
    if (!s->labels || !s->dist) return cli_error(CLI_FAIL, "out of memory for %lld labels", (long long)s->x.n);
    fkm_matrix m = {s->x.data, s->x.dtype, s->x.n, s->x.d, NULL};
    if (a->p.verbose) a->p.log_fn = cli_log_stderr;
    double t0 = cli_now_ms();
    fkm_status st = fkm_predict(&a->p, &m, s->c, k, s->labels, s->dist);
    double ms = cli_now_ms() - t0;
    if (st != FKM_OK) return cli_fail(st, a->input);
    /* From here on a SIGINT/SIGTERM must not kill the process while staged temporaries exist: it
     * is noted, and the staged outputs are discarded (as fit does). */
    cli_sigint_install();
    if (a->out_labels && (rc = cli_stage_output(&outs[0], s->labels, 1, s->x.n, 1, &s->out))) return rc;
    if (a->out_dist && (rc = cli_stage_output(&outs[1], s->dist, 1, s->x.n, 1, &s->out))) return rc;
    if (cli_interrupted()) {
        cli_outputs_discard(&s->out);
        fprintf(stderr, "flashkmeans: interrupted, no output written\n");
        return CLI_INTERRUPTED;
    }
    if ((rc = cli_outputs_commit(&s->out))) return rc;
    if (!a->quiet) {
        double sum = 0;
        for (int64_t i = 0; i < s->x.n; i++) sum += s->dist[i];
        int gpu = a->p.device != FKM_DEVICE_CPU && fkm_cuda_device_count() > 0;
        printf("predict  %s: %lld x %lld %s against %lld centroids (%s), metric %s, device %s\n", a->input,
               (long long)s->x.n, (long long)s->x.d, cli_dtype_str(s->x.dtype), (long long)k, a->centroids,
               fkm_metric_str(a->p.metric), gpu ? "cuda" : "cpu");
        printf("result   sum of distances %.9g, %.1f ms\n", sum, ms);
    }
    return CLI_OK;
}

int cli_predict(int argc, char **argv) {
    predict_args a;
    memset(&a, 0, sizeof a);
    fkm_params_default(&a.p);
    int rc = cli_parse(argc, argv, predict_opts, P_COUNT, on_opt, on_pos, &a);
    if (rc) return rc;
    if (a.help) {
        usage(stdout);
        return CLI_OK;
    }
    if (!a.input) return cli_error(CLI_BAD, "predict needs an INPUT file (see flashkmeans predict --help)");
    if (!a.centroids) return cli_error(CLI_BAD, "predict needs --centroids FILE");
    predict_state s;
    memset(&s, 0, sizeof s);
    rc = run_predict(&a, &s);
    cli_outputs_discard(&s.out);
    fkm_io_free(s.c);
    free(s.dist);
    free(s.labels);
    fkm_io_close(&s.x);
    return rc;
}
