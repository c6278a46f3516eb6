/* fit.c -- `flashkmeans fit INPUT -k K ...`: load, fit, score against --truth, write outputs. */
#include "cli.h"
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum {
    O_K, O_ITERS, O_MAXITER, O_TOL, O_STOP, O_INIT, O_NINIT, O_SEED, O_METRIC, O_DEVICE, O_PRECISION, O_THREADS,
    O_OUT, O_LABELS, O_REPORT, O_TRUTH, O_QUIET, O_DIM, O_DTYPE, O_EMPTY, O_VERBOSE, O_GPUMEM, O_GPUS, O_PLOT, O_MAXSIZE, O_HELP, O_COUNT
};
static const cli_opt fit_opts[O_COUNT] = {
    [O_K] = {"k", 'k', 1}, [O_ITERS] = {"iters", 0, 1}, [O_MAXITER] = {"max-iter", 0, 1}, [O_TOL] = {"tol", 0, 1},
    [O_STOP] = {"stop", 0, 1}, [O_INIT] = {"init", 0, 1}, [O_NINIT] = {"n-init", 0, 1}, [O_SEED] = {"seed", 0, 1},
    [O_METRIC] = {"metric", 0, 1}, [O_DEVICE] = {"device", 0, 1}, [O_PRECISION] = {"precision", 0, 1},
    [O_THREADS] = {"threads", 0, 1}, [O_OUT] = {"output", 'o', 1}, [O_LABELS] = {"labels", 0, 1},
    [O_REPORT] = {"report", 0, 1}, [O_TRUTH] = {"truth", 0, 1}, [O_QUIET] = {"quiet", 'q', 0}, [O_DIM] = {"dim", 0, 1},
    [O_DTYPE] = {"dtype", 0, 1}, [O_EMPTY] = {"empty", 0, 1}, [O_VERBOSE] = {"verbose", 'v', 0},
    [O_GPUMEM] = {"gpu-mem", 0, 1}, [O_GPUS] = {"gpus", 0, 1}, [O_PLOT] = {"plot", 0, 1},
    [O_MAXSIZE] = {"max-cluster-size", 0, 1}, [O_HELP] = {"help", 'h', 0},
};

static const char *const stop_names[] = {"shift", "inertia", "labels", "fixed"};
static const char *const empty_names[] = {"farthest", "keep"};

typedef struct {
    fkm_params p;
    const char *input, *init_file, *out_c, *out_labels, *out_report, *out_plot, *truth;
    int has_k, quiet, help, has_dtype;
    int64_t dim;
    fkm_dtype dtype;
} fit_args;

static void usage(FILE *f) {
    fprintf(f,
            "usage: flashkmeans fit INPUT -k K [options]\n"
            "  INPUT: .npy .fvecs .bvecs .ivecs IDX (-ubyte, .idx; .gz ok) or .raw/.bin with --dim/--dtype\n"
            "  -k K                    clusters (may be omitted with --init FILE: K = its rows)\n"
            "  --iters N, --max-iter N maximum iterations (default 300; exactly N with --stop fixed)\n"
            "  --tol T                 tolerance of the stop rule (default 1e-4)\n"
            "  --stop shift|inertia|labels|fixed   stop rule (default shift)\n"
            "  --init METHOD|FILE      initial centroids (default auto: 'k-means||' on a GPU, kmeans++ on\n"
            "                          the CPU): kmeans++, 'k-means||' (faster for large k; quote it),\n"
            "                          hierarchical (for very large k), random, or a file of K x d centroids\n"
            "  --n-init R              restarts, the lowest inertia is kept (default 1)\n"
            "  --seed S                random seed (default 0)\n"
            "  --metric l2|cosine|ip   distance (default l2)\n"
            "  --device auto|cpu|cuda  (default auto: a GPU when present)\n"
            "  --precision auto|exact|tf32|fp16|bf16   GPU arithmetic (default auto)\n"
            "  --threads T             CPU threads (default 0: chosen from the problem's size and the idle CPUs)\n"
            "  --gpu-mem SIZE          cap on the GPU memory of the fit (default 0: no cap but the GPU's free\n"
            "                          memory): 4G, 512M, 1.5G (K M G T: powers of 1024; fractions need a\n"
            "                          unit) or whole bytes; rows that do not fit are streamed from host memory\n"
            "  --gpus G                GPUs a CUDA fit uses (default 1; 0: all); sums all-reduced with NCCL\n"
            "  --empty farthest|keep   empty-cluster policy (default farthest)\n"
            "  --max-cluster-size N    no cluster holds more than N points (default 0: no cap; N x K >= n);\n"
            "                          regret-ordered greedy + local search, on the CPU (docs/algorithm.md)\n"
            "  -o, --output FILE       write the centroids (k x d float32): FILE.npy or FILE.fvecs\n"
            "  --labels FILE           write the labels (n int32): FILE.npy or FILE.ivecs\n"
            "  --report FILE.json      write a report (parameters, per-iteration statistics, timing)\n"
            "  --plot FILE.svg         draw the fit: convergence, cluster sizes, a PCA projection of a sample,\n"
            "                          28x28 centroids as images (one self-contained SVG for a browser)\n"
            "                          (the format follows the name; no extension: .npy, JSON for --report)\n"
            "  --truth LABELS          compare with true labels: NMI and ARI\n"
            "  --dim D --dtype f32|f64|f16|bf16|u8   shape and type of raw input\n"
            "  -q, --quiet             no summary on stdout, no progress bar\n"
            "  -v, --verbose           library log messages on stderr (-vv: debug messages too)\n"
            "  -h, --help              this help\n");
}

static int on_pos(void *ctx, const char *w) {
    fit_args *a = (fit_args *)ctx;
    if (a->input) return cli_error(CLI_BAD, "unexpected argument '%s' (fit takes one INPUT file)", w);
    a->input = w;
    return 0;
}

static int parse_init(fit_args *a, const char *v) {
    if (strcmp(v, "auto") == 0) {
        a->p.init = FKM_INIT_AUTO;
        a->init_file = NULL;
    } else if (strcmp(v, "kmeans++") == 0 || strcmp(v, "k-means++") == 0) {
        a->p.init = FKM_INIT_KMEANSPP;
        a->init_file = NULL;
    } else if (strcmp(v, "k-means||") == 0) {
        a->p.init = FKM_INIT_KMEANS_PARALLEL;
        a->init_file = NULL;
    } else if (strcmp(v, "hierarchical") == 0) {
        a->p.init = FKM_INIT_HIERARCHICAL;
        a->init_file = NULL;
    } else if (strcmp(v, "random") == 0) {
        a->p.init = FKM_INIT_RANDOM;
        a->init_file = NULL;
    } else if (fkm_io_guess_format(v) != FKM_FMT_UNKNOWN || strchr(v, '/') || access(v, F_OK) == 0) {
        a->p.init = FKM_INIT_ARRAY;
        a->init_file = v;
    } else {
        return cli_error(CLI_BAD, "invalid value '%s' for --init: expected auto, kmeans++, k-means||, hierarchical, random or a centroid file (.npy ...)", v);
    }
    return 0;
}

static int on_opt(void *ctx, int idx, const char *v) {
    fit_args *a = (fit_args *)ctx;
    int i;
    switch (idx) {
    case O_K: a->has_k = 1; return cli_int64("-k", v, 1, INT32_MAX, &a->p.k);
    case O_ITERS: return cli_int("--iters", v, 0, INT32_MAX, &a->p.max_iter);
    case O_MAXITER: return cli_int("--max-iter", v, 0, INT32_MAX, &a->p.max_iter);
    case O_TOL: return cli_double("--tol", v, 0.0, &a->p.tol);
    case O_STOP: if (cli_choice("--stop", v, stop_names, 4, &i)) return CLI_BAD; a->p.stop = (fkm_stop_rule)i; return 0;
    case O_INIT: return parse_init(a, v);
    case O_NINIT: return cli_int("--n-init", v, 1, INT32_MAX, &a->p.n_init);
    case O_SEED: return cli_uint64("--seed", v, &a->p.seed);
    case O_METRIC: return cli_metric(v, &a->p.metric);
    case O_DEVICE: return cli_device(v, &a->p.device);
    case O_PRECISION: return cli_precision(v, &a->p.precision);
    case O_THREADS: return cli_int("--threads", v, 0, 4096, &a->p.threads);
    case O_OUT: a->out_c = v; return 0;
    case O_LABELS: a->out_labels = v; return 0;
    case O_REPORT: a->out_report = v; return 0;
    case O_PLOT: a->out_plot = v; return 0;
    case O_TRUTH: a->truth = v; return 0;
    case O_QUIET: a->quiet = 1; return 0;
    case O_DIM: return cli_int64("--dim", v, 1, INT32_MAX, &a->dim);
    case O_DTYPE: a->has_dtype = 1; return cli_dtype("--dtype", v, &a->dtype);
    case O_EMPTY: if (cli_choice("--empty", v, empty_names, 2, &i)) return CLI_BAD; a->p.empty = (fkm_empty_policy)i; return 0;
    case O_VERBOSE: cli_verbose(&a->p); return 0;
    case O_GPUMEM: return cli_size("--gpu-mem", v, &a->p.gpu_mem_limit);
    case O_GPUS: {
        int64_t g = 0;
        if (cli_int64("--gpus", v, 0, 64, &g)) return CLI_BAD;
        a->p.gpu_count = (int)g;
        return 0;
    }
    case O_MAXSIZE: return cli_int64("--max-cluster-size", v, 0, INT64_MAX, &a->p.max_cluster_size);
    case O_HELP: a->help = 1; return 0;
    }
    return cli_error(CLI_FAIL, "internal: unhandled option");
}

static const float *row_base;
static int64_t row_len;
static int cmp_rows(const void *x, const void *y) {
    const float *a = row_base + *(const int64_t *)x * row_len, *b = row_base + *(const int64_t *)y * row_len;
    for (int64_t j = 0; j < row_len; j++)
        if (a[j] != b[j]) return a[j] < b[j] ? -1 : 1;
    return 0;
}

/* Identical initial centroids would start with an empty cluster: reject them (cli_load_f32 has
 * already rejected NaN/Inf with their position). */
static int check_init_rows(const char *path, const float *c, int64_t k, int64_t d) {
    int64_t *idx = (int64_t *)malloc((size_t)k * sizeof *idx);
    if (!idx) return cli_error(CLI_FAIL, "out of memory");
    for (int64_t i = 0; i < k; i++) idx[i] = i;
    row_base = c;
    row_len = d;
    qsort(idx, (size_t)k, sizeof *idx, cmp_rows);
    int rc = 0;
    for (int64_t i = 1; i < k && rc == 0; i++)
        if (cmp_rows(&idx[i - 1], &idx[i]) == 0) {
            int64_t a = idx[i - 1] < idx[i] ? idx[i - 1] : idx[i], b = idx[i - 1] < idx[i] ? idx[i] : idx[i - 1];
            rc = cli_error(CLI_BAD, "init file '%s': rows %lld and %lld are identical", path, (long long)a, (long long)b);
        }
    free(idx);
    return rc;
}

/* The thread count to report: the one asked for, 0 when the library chooses (from the problem's
 * size and the idle CPUs, again between iterations: docs/threads.md), 1 without OpenMP. */
static int resolved_threads(const fkm_params *p) {
#ifdef _OPENMP
    return p->threads;
#else
    (void)p;
    return 1;
#endif
}

static const char *threads_str(const fkm_params *p, char *buf, size_t n) {
    const int t = resolved_threads(p);
    if (t == 0) return "threads by size and load";
    snprintf(buf, n, "%d thread%s", t, t == 1 ? "" : "s");
    return buf;
}

static double ms_per_iter(const fkm_result *r) {
    if (r->iterations <= 0) return NAN;
    if (r->iterations == 1) return r->stats[0].ms;
    double s = 0;
    for (int i = 1; i < r->iterations; i++) s += r->stats[i].ms;
    return s / (r->iterations - 1);
}

typedef struct {
    double load_ms, fit_ms, nmi, ari;
    int have_truth;
    const fkm_io_array *x;
    size_t gpu_estimate; /* fkm_gpu_memory_estimate of the fit that ran on the GPU (0: none) */
} fit_info;

static void build_report(cli_str *s, const fit_args *a, const fkm_result *r, const fit_info *fi) {
    const char *init = a->p.init == FKM_INIT_AUTO ? (r->device == FKM_DEVICE_CUDA ? "k-means|| (auto)" : "kmeans++ (auto)")
                       : a->p.init == FKM_INIT_KMEANSPP ? "kmeans++" : a->p.init == FKM_INIT_RANDOM ? "random"
                       : a->p.init == FKM_INIT_KMEANS_PARALLEL ? "k-means||"
                       : a->p.init == FKM_INIT_HIERARCHICAL ? "hierarchical" : a->init_file;
    int64_t empty_final = 0, largest = 0;
    int64_t *sizes = (int64_t *)calloc((size_t)r->k, sizeof *sizes);
    if (sizes) {
        for (int64_t i = 0; i < r->n; i++) sizes[r->labels[i]]++;
        for (int64_t c = 0; c < r->k; c++) {
            empty_final += sizes[c] == 0;
            largest = sizes[c] > largest ? sizes[c] : largest;
        }
        free(sizes);
    }
    cli_str_add(s, "{\n  \"version\": \"%s\",\n  \"command\": \"fit\",\n  \"input\": ", fkm_version());
    cli_str_json_string(s, a->input);
    cli_str_add(s, ",\n  \"format\": \"%s\",\n  \"dtype\": \"%s\",\n", fkm_io_format_str(fi->x->format),
                cli_dtype_str(fi->x->dtype));
    cli_str_add(s, "  \"n\": %lld,\n  \"d\": %lld,\n  \"k\": %lld,\n", (long long)r->n, (long long)r->d, (long long)r->k);
    cli_str_add(s, "  \"metric\": \"%s\",\n  \"init\": ", fkm_metric_str(a->p.metric));
    cli_str_json_string(s, init);
    cli_str_add(s, ",\n  \"n_init\": %d,\n  \"seed\": %llu,\n  \"stop\": \"%s\",\n  \"tol\": ", a->p.n_init,
                (unsigned long long)a->p.seed, stop_names[a->p.stop]);
    cli_str_json_number(s, a->p.tol);
    cli_str_add(s, ",\n  \"max_iter\": %d,\n  \"empty_policy\": \"%s\",\n", a->p.max_iter, empty_names[a->p.empty]);
    cli_str_add(s, "  \"max_cluster_size\": %lld,\n", (long long)a->p.max_cluster_size); /* 0: no cap */
    cli_str_add(s, "  \"device\": \"%s\",\n  \"precision\": \"%s\",\n  \"threads\": %d,\n", fkm_device_str(r->device),
                fkm_precision_str(r->precision), resolved_threads(&a->p));
    if (cli_mpi_on()) cli_str_add(s, "  \"mpi_ranks\": %d,\n", cli_mpi_size()); /* threads: per rank */
    cli_str_add(s, "  \"gpu_mem_limit\": %zu,\n", a->p.gpu_mem_limit); /* bytes; 0: no cap */
    if (r->device == FKM_DEVICE_CUDA) cli_str_add(s, "  \"gpu_count\": %d,\n", a->p.gpu_count);
    if (r->device == FKM_DEVICE_CUDA) cli_str_add(s, "  \"gpu_mem_estimate\": %zu,\n", fi->gpu_estimate);
    cli_str_add(s, "  \"stop_reason\": \"%s\",\n  \"n_iter\": %d,\n  \"best_init\": %d,\n  \"inertia\": ",
                fkm_stop_reason_str(r->stop_reason), r->iterations, r->best_init);
    cli_str_json_number(s, r->inertia);
    cli_str_add(s, ",\n  \"inertia_unconstrained\": ");
    cli_str_json_number(s, r->inertia_unconstrained);
    cli_str_add(s, ",\n  \"largest_cluster\": %lld,\n  \"empty_clusters\": %lld,\n  \"ms_per_iter\": ",
                (long long)largest, (long long)empty_final);
    cli_str_json_number(s, ms_per_iter(r));
    cli_str_add(s, ",\n  \"load_ms\": ");
    cli_str_json_number(s, fi->load_ms);
    cli_str_add(s, ",\n  \"fit_ms\": ");
    cli_str_json_number(s, fi->fit_ms);
    cli_str_add(s, ",\n");
    if (fi->have_truth) {
        cli_str_add(s, "  \"truth\": ");
        cli_str_json_string(s, a->truth);
        cli_str_add(s, ",\n  \"nmi\": ");
        cli_str_json_number(s, fi->nmi);
        cli_str_add(s, ",\n  \"ari\": ");
        cli_str_json_number(s, fi->ari);
        cli_str_add(s, ",\n");
    }
    cli_str_add(s, "  \"iterations\": [");
    for (int i = 0; i < r->iterations; i++) {
        const fkm_iter_stats *t = &r->stats[i];
        cli_str_add(s, "%s\n    {\"inertia\": ", i ? "," : "");
        cli_str_json_number(s, t->inertia);
        cli_str_add(s, ", \"shift\": ");
        cli_str_json_number(s, t->shift);
        cli_str_add(s, ", \"empty\": %lld, \"changed\": %lld, \"rescored\": %lld, \"ms\": ", (long long)t->empty,
                    (long long)t->changed, (long long)t->rescored);
        cli_str_json_number(s, t->ms);
        cli_str_add(s, "}");
    }
    cli_str_add(s, "%s]\n}\n", r->iterations ? "\n  " : "");
}

static void print_summary(const fit_args *a, const fkm_result *r, const fit_info *fi) {
    printf("input    %s: %lld x %lld %s (loaded in %.0f ms)\n", a->input, (long long)r->n, (long long)r->d,
           cli_dtype_str(fi->x->dtype), fi->load_ms);
    char tb[32];
    printf("fit      k=%lld, metric %s, device %s (%s, %s)", (long long)r->k, fkm_metric_str(a->p.metric),
           fkm_device_str(r->device), fkm_precision_str(r->precision), threads_str(&a->p, tb, sizeof tb));
    if (cli_mpi_on()) printf(" x %d MPI ranks", cli_mpi_size());
    printf("\n");
    printf("result   %d iterations (%s), inertia %.9g, %.3f ms/iteration, %.0f ms in all\n", r->iterations,
           fkm_stop_reason_str(r->stop_reason), r->inertia, ms_per_iter(r), fi->fit_ms);
    if (a->p.max_cluster_size > 0)
        printf("capped   at most %lld points per cluster: inertia %.9g, %.9g with every point at its nearest centroid\n",
               (long long)a->p.max_cluster_size, r->inertia, r->inertia_unconstrained);
    if (fi->have_truth) printf("quality  NMI %.4f  ARI %.4f  (against %s)\n", fi->nmi, fi->ari, a->truth);
}

/* The outputs fit writes, in the format each name asks for (cli_output_format). */
enum { FIT_OUTPUTS = 4 };
static void fit_outputs(const fit_args *a, cli_file outs[FIT_OUTPUTS]) {
    outs[0] = (cli_file){a->out_c, "-o", CLI_OUT_F32};
    outs[1] = (cli_file){a->out_labels, "--labels", CLI_OUT_I32};
    outs[2] = (cli_file){a->out_report, "--report", CLI_OUT_JSON};
    outs[3] = (cli_file){a->out_plot, "--plot", CLI_OUT_SVG};
}

/* Stage every requested output (nothing is visible until cli_outputs_commit). */
static int stage_outputs(const fit_args *a, const fkm_result *r, const cli_str *rep, const cli_str *plot,
                         cli_outputs *o) {
    cli_file outs[FIT_OUTPUTS];
    int rc = 0;
    fit_outputs(a, outs);
    if (a->out_c) rc = cli_stage_output(&outs[0], r->centroids, 2, r->k, r->d, o);
    if (rc == 0 && a->out_labels) rc = cli_stage_output(&outs[1], r->labels, 1, r->n, 1, o);
    if (rc == 0 && a->out_report && fkm_io_stage_bytes(a->out_report, rep->buf, rep->len, &o->p[o->count++]) != FKM_OK)
        rc = cli_error(CLI_FAIL, "%s", fkm_last_error());
    if (rc == 0 && a->out_plot && fkm_io_stage_bytes(a->out_plot, plot->buf, plot->len, &o->p[o->count++]) != FKM_OK)
        rc = cli_error(CLI_FAIL, "%s", fkm_last_error());
    if (rc) cli_outputs_discard(o);
    return rc;
}

/* Everything after argument parsing; resources are released by the caller. */
typedef struct {
    fkm_io_array x;
    float *init;
    int64_t *truth;
    fkm_result r;        /* the library's result; under mpirun, this rank's rows' labels only */
    int32_t *all_labels; /* rank 0 under mpirun: every rank's labels in global row order */
    cli_str rep, plot;
    cli_outputs out;
} fit_state;

/* Outputs checked, input and side files read, parameters checked. Under mpirun (cli/mpi.c) each
 * rank reads its part of the rows; rank 0 alone checks the outputs and reads --truth. */
static int prepare_fit(fit_args *a, fit_state *s, fit_info *fi) {
    int rc;
    const cli_file ins[3] = {{a->input, "the input data file", CLI_IN}, {a->init_file, "the --init file", CLI_IN},
                             {a->truth, "the --truth file", CLI_IN}};
    cli_file outs[FIT_OUTPUTS];
    fit_outputs(a, outs);
    if (cli_mpi_rank() == 0 && (rc = cli_check_outputs(ins, 3, outs, FIT_OUTPUTS))) return rc;
    double t0 = cli_now_ms();
    cli_load_progress(!a->quiet && cli_mpi_rank() == 0);
    if ((rc = cli_mpi_load(a->input, a->dim, a->has_dtype, a->dtype, &s->x))) return rc;
    fi->load_ms = cli_now_ms() - t0;
    if (a->init_file) {
        int64_t rows, cols;
        if ((rc = cli_load_f32(a->init_file, "init file", &s->init, &rows, &cols))) return rc;
        if (cols != s->x.d)
            return cli_error(CLI_BAD, "init file '%s' has dimension %lld, the input has %lld", a->init_file, (long long)cols,
                             (long long)s->x.d);
        if (a->has_k && rows != a->p.k)
            return cli_error(CLI_BAD, "init file '%s' has %lld rows but -k is %lld", a->init_file, (long long)rows,
                             (long long)a->p.k);
        a->p.k = rows;
        a->p.init_centroids = s->init;
        if ((rc = check_init_rows(a->init_file, s->init, rows, cols))) return rc;
    } else if (!a->has_k) {
        return cli_error(CLI_BAD, "missing -k K (the number of clusters)");
    }
    if (a->truth && cli_mpi_rank() == 0) {
        int64_t tn = 0;
        fkm_status st = fkm_io_read_labels(a->truth, NULL, &s->truth, &tn);
        if (st != FKM_OK) return cli_error(cli_read_code(st), "--truth: %s", fkm_last_error());
        if (tn != s->x.total_n)
            return cli_error(CLI_BAD, "--truth file '%s' has %lld labels but the input has %lld points", a->truth,
                             (long long)tn, (long long)s->x.total_n);
    }
    fkm_status st = fkm_params_validate(&a->p, s->x.total_n, s->x.d);
    if (st != FKM_OK) return cli_fail(st, a->input);
    return 0;
}

/* Rank 0 (or the only process): NMI/ARI, report, outputs staged then committed, summary. */
static int finish_fit(fit_args *a, fit_state *s, const fkm_result *r, fit_info *fi);

static int run_fit(fit_args *a, fit_state *s) {
    int rc;
    fit_info fi = {0, 0, NAN, NAN, 0, &s->x, 0};
    if ((rc = cli_mpi_agree(prepare_fit(a, s, &fi)))) return rc;
    fkm_status st;
    cli_progress pr;
    cli_progress_init(&pr, a->quiet || cli_mpi_rank() != 0);
    a->p.progress_fn = cli_progress_cb;
    a->p.progress_user = &pr;
    if (pr.bar) { /* until the first iteration's bar replaces it */
        const char *init = a->p.init == FKM_INIT_AUTO ? "auto" : a->p.init == FKM_INIT_KMEANSPP ? "k-means++"
                           : a->p.init == FKM_INIT_RANDOM ? "random"
                           : a->p.init == FKM_INIT_KMEANS_PARALLEL ? "k-means||"
                           : a->p.init == FKM_INIT_HIERARCHICAL ? "hierarchical" : "the --init file";
        fprintf(stderr, "\rinitialising: %s, k = %lld of %lld points\033[K", init, (long long)a->p.k,
                (long long)s->x.total_n);
        fflush(stderr);
        pr.drawn = 1;
    }
    if (a->p.verbose) a->p.log_fn = cli_log_stderr;
    fkm_matrix m = {s->x.data, s->x.dtype, s->x.n, s->x.d, NULL};
    cli_sigint_install();
    double t0 = cli_now_ms();
    st = cli_mpi_fit(&a->p, &m, s->x.row0, &s->r); /* fkm_fit outside mpirun */
    fi.fit_ms = cli_now_ms() - t0;
    cli_progress_done(&pr);
    /* agreed: a ^C that reached only some ranks after the last iteration stops them all */
    if (cli_mpi_agree(st == FKM_ERR_CANCELLED || cli_interrupted() ? CLI_INTERRUPTED : 0)) goto interrupted;
    if (st != FKM_OK) return cli_fail(st, a->input); /* fkm_mpi_fit: the same status on every rank */
    if (s->r.device == FKM_DEVICE_CUDA && fkm_gpu_memory_estimate(&a->p, &m, &fi.gpu_estimate) != FKM_OK)
        fi.gpu_estimate = 0; /* the report then says 0: unknown */
    if ((rc = cli_mpi_gather_labels(&s->r, s->x.row0, s->x.total_n, &s->all_labels))) return rc;
    fkm_result all = s->r; /* what is written: s->r, with every rank's labels under mpirun */
    if (s->all_labels) {
        all.labels = s->all_labels;
        all.n = s->x.total_n;
    }
    return cli_mpi_agree(cli_mpi_rank() == 0 ? finish_fit(a, s, &all, &fi) : 0);
interrupted:
    if (cli_mpi_rank() == 0) fprintf(stderr, "flashkmeans: interrupted, no output written\n");
    return CLI_INTERRUPTED;
}

static int finish_fit(fit_args *a, fit_state *s, const fkm_result *r, fit_info *fi) {
    int rc;
    if (s->truth) {
        int64_t *pred = (int64_t *)malloc((size_t)r->n * sizeof *pred);
        if (!pred) return cli_error(CLI_FAIL, "out of memory computing NMI/ARI");
        for (int64_t i = 0; i < r->n; i++) pred[i] = r->labels[i];
        int bad = cli_agreement(s->truth, pred, r->n, &fi->nmi, &fi->ari);
        free(pred);
        if (bad) return cli_error(CLI_FAIL, "out of memory computing NMI/ARI");
        fi->have_truth = 1;
    }
    if (a->out_report) {
        build_report(&s->rep, a, r, fi);
        if (s->rep.oom) return cli_error(CLI_FAIL, "out of memory building the report");
    }
    if (a->out_plot) {
        const cli_plot_in pin = {a->input, &s->x, &a->p, r};
        if ((rc = cli_plot_svg(&s->plot, &pin))) return rc;
    }
    if ((rc = stage_outputs(a, r, &s->rep, &s->plot, &s->out))) return rc;
    if (cli_interrupted()) goto interrupted;
    if ((rc = cli_outputs_commit(&s->out))) return rc;
    if (!a->quiet) print_summary(a, r, fi);
    return CLI_OK;
interrupted:
    cli_outputs_discard(&s->out);
    fprintf(stderr, "flashkmeans: interrupted, no output written\n");
    return CLI_INTERRUPTED;
}

static int fit_main(int argc, char **argv) {
    fit_args a;
    memset(&a, 0, sizeof a);
    fkm_params_default(&a.p);
    int rc = cli_parse(argc, argv, fit_opts, O_COUNT, on_opt, on_pos, &a);
    if (rc) return rc;
    if (a.help) {
        if (cli_mpi_rank() == 0) usage(stdout);
        return CLI_OK;
    }
    if (!a.input) return cli_error(CLI_BAD, "fit needs an INPUT file (see flashkmeans fit --help)");
    fit_state s;
    memset(&s, 0, sizeof s);
    rc = run_fit(&a, &s);
    /* The handlers stay installed until the process exits: a signal after the outputs were
     * committed has nothing left to stop, and its default action there would turn a complete
     * run into exit 143 (seen under ASan, whose leak check at exit takes ~100 ms). */
    cli_outputs_discard(&s.out);
    fkm_result_free(&s.r);
    free(s.all_labels);
    cli_str_free(&s.rep);
    cli_str_free(&s.plot);
    fkm_io_free(s.init);
    fkm_io_free(s.truth);
    fkm_io_close(&s.x);
    return rc;
}

/* Under mpirun (a build with MPI): MPI_Init first, so that every rank's errors are agreed on
 * (cli/mpi.c), MPI_Finalize on every path out. Otherwise both are no-ops. */
int cli_fit(int argc, char **argv) {
    int rc = cli_mpi_start();
    if (rc) return rc;
    rc = fit_main(argc, argv);
    cli_mpi_stop();
    return rc;
}
