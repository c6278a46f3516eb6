/* cli.h -- shared pieces of the flashkmeans command: exit codes, error lines, option parsing,
 * input loading, progress/SIGINT. The CLI only parses, calls the library and writes outputs. */
#ifndef FKM_CLI_H
#define FKM_CLI_H

/* Only the public header and the io library (src/io/io.h, target flashkmeans_io): the CLI is a
 * user of the library like any other. */
#include "flashkmeans.h"
#include "io.h"

#include <stdint.h>

/* Exit codes: 0 ok; 2 bad input (usage, option values, unreadable or malformed input, anything
 * the library calls an invalid argument or bad data); 1 any other failure (writing outputs, out of
 * memory, CUDA errors, internal errors); 130 interrupted by SIGINT. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_BAD = 2, CLI_INTERRUPTED = 130 };

/* Print "flashkmeans: error: <message>" as exactly one line on stderr; returns code. */
int cli_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Exit code for a library status (2 for the "your input is wrong" family, 1 otherwise). */
int cli_status_code(fkm_status st);
/* Exit code for a failure while reading an input file: 2, except out of memory (1). */
int cli_read_code(fkm_status st);
/* Report a failed library call: "<context>: <fkm_last_error()>" via cli_error. */
int cli_fail(fkm_status st, const char *context);

/* ---- options */
typedef struct {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 if none */
    int takes_value;
} cli_opt;

/* Parse argv[0..argc-1] (the words after the command name). For each option calls
 * on_opt(ctx, index into opts, value or NULL); for each positional word on_pos(ctx, word).
 * Both return 0 to go on, or an exit code. Accepts --name=value, --name value, -k value, -kvalue;
 * "--" ends the options. Returns 0 or an exit code (unknown option, missing value). */
int cli_parse(int argc, char **argv, const cli_opt *opts, int nopts, int (*on_opt)(void *, int, const char *),
              int (*on_pos)(void *, const char *), void *ctx);

/* -v / --verbose (each one more: 2 info, 3 debug) and the log callback it installs (stderr,
 * "flashkmeans: [level] message"). */
void cli_verbose(fkm_params *p);
void cli_log_stderr(fkm_log_level level, const char *msg, void *user);

/* Strict value parsers: the whole string must be a number in range. Return 0 or CLI_BAD (after
 * printing the error line naming the option). */
int cli_int64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_int(const char *opt, const char *s, int lo, int hi, int *out);
int cli_uint64(const char *opt, const char *s, uint64_t *out);
int cli_double(const char *opt, const char *s, double lo, double *out);
/* A size in bytes: "4G", "512M", "1.5G", "64K", "2T" (powers of 1024; an optional B or iB after
 * the letter, any case; a fraction is rounded down to whole bytes) or a whole number of bytes
 * "1000" (optionally "1000B"). Refused: a fraction without a unit ("0.5", "1.5": bytes, not GiB),
 * a non-zero size below one byte, 2^64 bytes or more, signs, exponents, spaces. 0 is allowed (the
 * callers read it as "no cap"). */
int cli_size(const char *opt, const char *s, size_t *out);
/* s must be one of names[0..n-1]; *out = its index. */
int cli_choice(const char *opt, const char *s, const char *const *names, int n, int *out);

int cli_dtype(const char *opt, const char *s, fkm_dtype *out);
int cli_metric(const char *s, fkm_metric *out);
int cli_device(const char *s, fkm_device *out);
int cli_precision(const char *s, fkm_precision *out);

/* ---- input */
/* Draw a loading bar on stderr while an input is read from a pipe or inflated (only when stderr
 * is a terminal); off by default. */
void cli_load_progress(int on);
/* Read the data file: format by extension; raw input needs dim > 0 and has_dtype. */
int cli_load(const char *path, int64_t dim, int has_dtype, fkm_dtype dtype, fkm_io_array *out);
/* cli_load of part `part` of `parts` of the rows (cli_mpi_load: this rank's part). */
int cli_load_part(const char *path, int64_t dim, int has_dtype, fkm_dtype dtype, int64_t part, int64_t parts,
                  fkm_io_array *out);
/* Read a float32 k x d matrix (centroids / init) from any supported file. */
int cli_load_f32(const char *path, const char *what, float **out, int64_t *rows, int64_t *cols);
const char *cli_dtype_str(fkm_dtype t);

/* ---- outputs: all staged first, then committed together */
typedef struct {
    fkm_io_pending p[8];
    int count;
} cli_outputs;
/* What an output holds, which decides the formats its name may ask for (cli_output_format). */
typedef enum {
    CLI_IN = 0,   /* an input: read in the format its name or content says */
    CLI_OUT_F32,  /* float32 rows (centroids, distances): .npy or .fvecs */
    CLI_OUT_I32,  /* int32 values (labels): .npy or .ivecs */
    CLI_OUT_JSON, /* the report: .json */
    CLI_OUT_SVG   /* the plot: .svg */
} cli_kind;
/* A file a command reads or writes: its path (NULL: not given), how messages name it, e.g.
 * "the input data file" for an input, "--labels" for an output, and what it holds. */
typedef struct {
    const char *path;
    const char *what;
    cli_kind kind;
} cli_file;
/* Before any work: fail (CLI_BAD, one error line naming the paths) when an output is the same
 * file as an input (same device and inode: links, relative paths and /proc/self/fd/N all count)
 * or as another output, when its name asks for a format it cannot be written in
 * (cli_output_format), or when it cannot be written. Nothing is written either way. */
int cli_check_outputs(const cli_file *inputs, int nin, const cli_file *outputs, int nout);
/* The format output o is written in, from its name's extension (a trailing .gz included):
 * CLI_OUT_F32 .npy or .fvecs, CLI_OUT_I32 .npy or .ivecs, CLI_OUT_JSON .json, CLI_OUT_SVG .svg; a name without an
 * extension is .npy (the report: JSON, reported as FKM_FMT_UNKNOWN). Any other name: CLI_BAD
 * after one error line saying which extensions that output takes. */
int cli_output_format(const cli_file *o, fkm_io_format *fmt);
/* Stage output o (n x d values of its kind; ndim 1: shape (n,) in .npy) into out->p in the
 * format its name asks for. 0, or an exit code after one error line. */
int cli_stage_output(const cli_file *o, const void *data, int ndim, int64_t n, int64_t d, cli_outputs *out);
void cli_outputs_discard(cli_outputs *o);
int cli_outputs_commit(cli_outputs *o);

/* ---- progress and SIGINT */
typedef struct {
    int bar;            /* draw a progress bar on stderr (stderr is a terminal, not --quiet) */
    double t0;
    int drawn;
} cli_progress;
/* Install the SIGINT/SIGTERM handler (the first asks the fit to stop; a second one kills), for
 * the rest of the process's life. */
void cli_sigint_install(void);
int cli_interrupted(void);
void cli_progress_init(cli_progress *pr, int quiet);
int cli_progress_cb(int iter, int max_iter, const fkm_iter_stats *s, void *user);
void cli_progress_done(cli_progress *pr);

/* ---- mpirun (cli/mpi.c; no-ops without FKM_HAVE_MPI or outside mpirun: rank 0 of 1) */
int cli_mpi_launched(void);  /* started by an MPI launcher (environment) */
int cli_mpi_start(void);     /* MPI_Init when launched; 0 or an exit code */
void cli_mpi_stop(void);     /* MPI_Finalize when started */
int cli_mpi_on(void);
int cli_mpi_rank(void);
int cli_mpi_size(void);
/* Ranks other than 0 keep their error line (returns 1: do not print it now). */
int cli_mpi_hold_error(const char *msg);
/* Collective: every rank's exit code -> the largest; the lowest failing rank's held line is
 * printed unless rank 0 failed (it printed its own). */
int cli_mpi_agree(int rc);
/* cli_load, reading only this rank's part of the rows (x->row0, x->total_n). */
int cli_mpi_load(const char *path, int64_t dim, int has_dtype, fkm_dtype dtype, fkm_io_array *out);
/* fkm_mpi_fit on MPI_COMM_WORLD (fkm_fit when not on). */
fkm_status cli_mpi_fit(const fkm_params *p, const fkm_matrix *x, int64_t row0, fkm_result *r);
/* Rank 0 receives all `total` labels in global row order into *all (malloc'ed, free with free();
 * r itself, the library's, is left as it is); *all stays NULL on the other ranks and outside
 * mpirun. Collective; agreed exit code. */
int cli_mpi_gather_labels(const fkm_result *r, int64_t row0, int64_t total, int32_t **all);

/* ---- commands */
int cli_fit(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_bench(int argc, char **argv);

/* ---- report.json */
typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} cli_str;
void cli_str_add(cli_str *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void cli_str_json_string(cli_str *s, const char *v);
void cli_str_json_number(cli_str *s, double v);
void cli_str_free(cli_str *s);

/* ---- the plot of a fit (cli/plot.c): a self-contained SVG (docs/cli.md, --plot) */
typedef struct {
    const char *input;        /* shown in the title */
    const fkm_io_array *x;    /* the rows this process holds (rank 0's under mpirun): the sample */
    const fkm_params *p;      /* metric */
    const fkm_result *r;      /* labels: r->labels[x->row0 + i] is row i's */
} cli_plot_in;
/* Append the SVG to s (s->oom on out of memory). 0, or an exit code after one error line. */
int cli_plot_svg(cli_str *s, const cli_plot_in *in);

double cli_now_ms(void);
#endif
