/* common.c -- error lines, option parsing, strict number parsing, input loading, staged outputs. */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_error(int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one line, whatever the message holds */
        if (*p == '\n' || *p == '\r') *p = ' ';
#ifdef FKM_HAVE_MPI
    if (cli_mpi_hold_error(msg)) return code; /* mpirun: printed once, by cli_mpi_agree */
#endif
    fprintf(stderr, "flashkmeans: error: %s\n", msg);
    return code;
}

int cli_read_code(fkm_status st) { return st == FKM_ERR_NO_MEMORY ? CLI_FAIL : st == FKM_OK ? CLI_OK : CLI_BAD; }

int cli_status_code(fkm_status st) {
    switch (st) {
    case FKM_OK: return CLI_OK;
    case FKM_ERR_INVALID_ARG:
    case FKM_ERR_BAD_INPUT:
    case FKM_ERR_FORMAT:
    case FKM_ERR_NO_CUDA: return CLI_BAD;
    case FKM_ERR_CANCELLED: return CLI_INTERRUPTED;
    default: return CLI_FAIL;
    }
}

int cli_fail(fkm_status st, const char *context) {
    const char *m = fkm_last_error();
    if (!*m) m = fkm_status_str(st);
    if (context && *context) return cli_error(cli_status_code(st), "%s: %s", context, m);
    return cli_error(cli_status_code(st), "%s", m);
}

int cli_parse(int argc, char **argv, const cli_opt *opts, int nopts, int (*on_opt)(void *, int, const char *),
              int (*on_pos)(void *, const char *), void *ctx) {
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc;
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if ((rc = on_pos(ctx, a)) != 0) return rc;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        int idx = -1;
        const char *val = NULL;
        if (a[1] == '-') { /* --name or --name=value */
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            for (int j = 0; j < nopts; j++)
                if (strlen(opts[j].name) == len && strncmp(opts[j].name, a + 2, len) == 0) idx = j;
            if (idx < 0) return cli_error(CLI_BAD, "unknown option '%.*s' (see --help)", (int)(len + 2), a);
            if (eq && !opts[idx].takes_value) return cli_error(CLI_BAD, "option --%s takes no value", opts[idx].name);
            if (eq) val = eq + 1;
        } else { /* -k, -k value, -kvalue; flags may be grouped as getopt does: -vv, -qv, -vk5 */
            const char *c = a + 1;
            for (;;) {
                idx = -1;
                for (int j = 0; j < nopts; j++)
                    if (opts[j].short_name && opts[j].short_name == *c) idx = j;
                if (idx < 0) {
                    if (c == a + 1) return cli_error(CLI_BAD, "unknown option '%s' (see --help)", a);
                    return cli_error(CLI_BAD, "unknown option '-%c' in '%s' (see --help)", *c, a);
                }
                if (opts[idx].takes_value || !c[1]) break;
                if ((rc = on_opt(ctx, idx, NULL)) != 0) return rc; /* a flag, and more letters follow */
                c++;
            }
            if (c[1]) val = c + 1;
        }
        if (opts[idx].takes_value && !val) {
            if (i + 1 >= argc) return cli_error(CLI_BAD, "option %s needs a value", a);
            val = argv[++i];
        }
        if ((rc = on_opt(ctx, idx, val)) != 0) return rc;
    }
    return 0;
}

/* -v: info messages; -v -v (or -vv): debug too. */
void cli_verbose(fkm_params *p) { p->verbose = p->verbose < 2 ? 2 : 3; }

void cli_log_stderr(fkm_log_level level, const char *msg, void *user) {
    static const char *const names[] = {"error", "warning", "info", "debug"};
    (void)user;
    fprintf(stderr, "flashkmeans: [%s] %s\n", names[level <= FKM_LOG_DEBUG ? level : FKM_LOG_DEBUG], msg);
}

int cli_int64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE || v < lo || v > hi) {
        if (hi == INT64_MAX) return cli_error(CLI_BAD, "invalid value '%s' for %s: expected an integer >= %lld", s, opt, (long long)lo);
        return cli_error(CLI_BAD, "invalid value '%s' for %s: expected an integer in [%lld, %lld]", s, opt, (long long)lo,
                         (long long)hi);
    }
    *out = v;
    return 0;
}

int cli_int(const char *opt, const char *s, int lo, int hi, int *out) {
    int64_t v = 0;
    int rc = cli_int64(opt, s, lo, hi, &v);
    if (rc == 0) *out = (int)v;
    return rc;
}

int cli_uint64(const char *opt, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno == ERANGE || strchr(s, '-'))
        return cli_error(CLI_BAD, "invalid value '%s' for %s: expected an integer in [0, 2^64)", s, opt);
    *out = v;
    return 0;
}

int cli_double(const char *opt, const char *s, double lo, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v < lo)
        return cli_error(CLI_BAD, "invalid value '%s' for %s: expected a finite number >= %g", s, opt, lo);
    *out = v;
    return 0;
}

/* floor(f / 10^nd * 2^shift) for f < 10^nd <= 10^18, by binary long division: exact, where
 * a double would round 1.1G or a byte count above 2^53. */
static uint64_t frac_times_pow2(uint64_t f, uint64_t pow10, int shift) {
    uint64_t q = 0;
    for (int i = 0; i < shift; i++) { /* f < pow10 <= 10^18, so 2f cannot overflow */
        f *= 2;
        q = q * 2 + (f >= pow10);
        if (f >= pow10) f -= pow10;
    }
    return q;
}

/* Why strict: "--gpu-mem 0.5" used to be 0.5 bytes, i.e. 0 = no cap, and "1.5" one byte; a
 * size is either a whole number of bytes or a number (fractions allowed) with a unit. */
int cli_size(const char *opt, const char *s, size_t *out) {
    const char *c = s;
    uint64_t whole = 0, frac = 0, pow10 = 1;
    int digits = 0, point = 0, nonzero = 0, overflow = 0, shift = 0;
    for (; *c >= '0' && *c <= '9'; c++, digits++) {
        const uint64_t digit = (uint64_t)(*c - '0');
        overflow |= whole > (UINT64_MAX - digit) / 10;
        whole = overflow ? 0 : whole * 10 + digit;
        nonzero |= *c != '0';
    }
    if (*c == '.') {
        point = 1;
        for (c++; *c >= '0' && *c <= '9'; c++, digits++) {
            if (pow10 < 1000000000000000000ull) { /* 18 digits: far below a byte at 2^40 */
                frac = frac * 10 + (uint64_t)(*c - '0');
                pow10 *= 10;
            }
            nonzero |= *c != '0';
        }
    }
    const char *const number_end = c, *const units = "kmgt";
    const char *hit = digits && *c ? strchr(units, *c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c) : NULL;
    if (hit) {
        shift = 10 * (int)(hit - units + 1);
        c++;
        if ((*c == 'i' || *c == 'I') && (c[1] == 'b' || c[1] == 'B')) c += 2;
        else if (*c == 'b' || *c == 'B') c++;
    } else if (digits && (*c == 'b' || *c == 'B')) {
        c++;
    }
    if (!digits || *c)
        return cli_error(CLI_BAD, "invalid value '%s' for %s: expected a size such as 4G, 512M, 1.5G (K, M, G, T: "
                                  "powers of 1024) or a whole number of bytes", s, opt);
    if (point && !shift)
        return cli_error(CLI_BAD, "invalid value '%s' for %s: a number without a unit is a count of bytes, written "
                                  "without a decimal point (for gibibytes write %.*sG)", s, opt, (int)(number_end - s), s);
    const uint64_t max = (uint64_t)SIZE_MAX;
    overflow |= shift && whole > (max >> shift);
    const uint64_t base = overflow ? 0 : whole << shift, part = frac_times_pow2(frac, pow10, shift);
    if (overflow || base > max - part)
        return cli_error(CLI_BAD, "invalid value '%s' for %s: larger than %llu bytes", s, opt, (unsigned long long)max);
    if (nonzero && base + part == 0)
        return cli_error(CLI_BAD, "invalid value '%s' for %s: less than one byte (0 alone means no cap)", s, opt);
    *out = (size_t)(base + part);
    return 0;
}

int cli_choice(const char *opt, const char *s, const char *const *names, int n, int *out) {
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    }
    return cli_error(CLI_BAD, "invalid value '%s' for %s: expected one of %s", s, opt, list);
}

int cli_dtype(const char *opt, const char *s, fkm_dtype *out) {
    static const char *const names[] = {"f32", "f64", "f16", "bf16", "u8"};
    int i;
    int rc = cli_choice(opt, s, names, 5, &i);
    if (rc == 0) *out = (fkm_dtype)i; /* same order as fkm_dtype */
    return rc;
}

const char *cli_dtype_str(fkm_dtype t) {
    switch (t) {
    case FKM_F32: return "f32";
    case FKM_F64: return "f64";
    case FKM_F16: return "f16";
    case FKM_BF16: return "bf16";
    case FKM_U8: return "u8";
    }
    return "?";
}

int cli_metric(const char *s, fkm_metric *out) {
    static const char *const names[] = {"l2", "cosine", "ip"};
    int i, rc = cli_choice("--metric", s, names, 3, &i);
    if (rc == 0) *out = (fkm_metric)i;
    return rc;
}

int cli_device(const char *s, fkm_device *out) {
    static const char *const names[] = {"auto", "cpu", "cuda"};
    int i, rc = cli_choice("--device", s, names, 3, &i);
    if (rc == 0) *out = (fkm_device)i;
    return rc;
}

int cli_precision(const char *s, fkm_precision *out) {
    static const char *const names[] = {"auto", "exact", "tf32", "fp16", "bf16"};
    int i, rc = cli_choice("--precision", s, names, 5, &i);
    if (rc == 0) *out = (fkm_precision)i;
    return rc;
}

static int load_bar; /* cli_load_progress */

void cli_load_progress(int on) { load_bar = on && isatty(STDERR_FILENO); }

typedef struct {
    const char *path;
    int drawn;
} load_ctx;

/* The loading bar: gzip input (a fraction of the compressed bytes) or a pipe (bytes so far). */
static void load_cb(uint64_t done, uint64_t total, void *user) {
    load_ctx *c = (load_ctx *)user;
    if (total) {
        const int width = 30, filled = (int)(done * (uint64_t)width / total);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] loading %s: %.0f%% (%.1f MB of gzip)\033[K", bar, c->path, 100.0 * (double)done / (double)total,
                (double)total / 1e6);
    } else {
        fprintf(stderr, "\rloading %s: %.1f MB read\033[K", c->path, (double)done / 1e6);
    }
    fflush(stderr);
    c->drawn = 1;
}

/* Part `part` of `parts` (0 of 1: the whole file) of an input, with the raw-format options
 * checked; one error line and exit code on failure. */
int cli_load_part(const char *path, int64_t dim, int has_dtype, fkm_dtype dtype, int64_t part, int64_t parts,
                  fkm_io_array *out) {
    fkm_io_read_opts o = {FKM_FMT_UNKNOWN, 0, FKM_F32};
    fkm_io_format f = fkm_io_guess_format(path);
    memset(out, 0, sizeof *out);
    if (dim > 0 || has_dtype) {
        if (f != FKM_FMT_RAW && f != FKM_FMT_UNKNOWN)
            return cli_error(CLI_BAD, "--dim and --dtype describe raw input, but '%s' is a .%s file that carries its own "
                                      "shape and type", path, fkm_io_format_str(f));
        if (dim <= 0 || !has_dtype)
            return cli_error(CLI_BAD, "raw input '%s' needs both --dim D and --dtype f32|f64|f16|bf16|u8", path);
        o.format = FKM_FMT_RAW;
        o.raw_d = dim;
        o.raw_dtype = dtype;
    } else if (f == FKM_FMT_RAW) {
        return cli_error(CLI_BAD, "raw input '%s' needs --dim D and --dtype f32|f64|f16|bf16|u8", path);
    }
    load_ctx lc = {path, 0};
    fkm_status st = fkm_io_read_part_progress(path, &o, part, parts, load_bar ? load_cb : NULL, &lc, out);
    if (lc.drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    if (st != FKM_OK) return cli_error(st == FKM_ERR_NO_MEMORY ? CLI_FAIL : CLI_BAD, "%s", fkm_last_error());
    if (out->total_n == 0 || out->d == 0) {
        int rc = cli_error(CLI_BAD, "'%s' holds no data (%lld points of dimension %lld)", path, (long long)out->total_n,
                           (long long)out->d);
        fkm_io_close(out);
        return rc;
    }
    return 0;
}

int cli_load(const char *path, int64_t dim, int has_dtype, fkm_dtype dtype, fkm_io_array *out) {
    return cli_load_part(path, dim, has_dtype, dtype, 0, 1, out);
}

int cli_load_f32(const char *path, const char *what, float **out, int64_t *rows, int64_t *cols) {
    fkm_io_array a;
    *out = NULL;
    fkm_status st = fkm_io_read(path, NULL, &a);
    if (st != FKM_OK) return cli_error(st == FKM_ERR_NO_MEMORY ? CLI_FAIL : CLI_BAD, "%s: %s", what, fkm_last_error());
    if (a.n == 0 || a.d == 0) {
        fkm_io_close(&a);
        return cli_error(CLI_BAD, "%s: '%s' holds no rows", what, path);
    }
    st = fkm_io_to_f32(&a, out);
    *rows = a.n;
    *cols = a.d;
    fkm_io_close(&a);
    if (st != FKM_OK) return cli_error(st == FKM_ERR_NO_MEMORY ? CLI_FAIL : CLI_BAD, "%s: '%s': %s", what, path, fkm_last_error());
    for (int64_t i = 0; i < *rows * *cols; i++)
        if (!isfinite((*out)[i])) {
            fkm_io_free(*out);
            *out = NULL;
            return cli_error(CLI_BAD, "%s '%s': row %lld column %lld is not finite", what, path, (long long)(i / *cols),
                             (long long)(i % *cols));
        }
    return 0;
}

/* What makes two paths one file. An existing regular file: its device and inode (stat follows
 * symbolic links, so links, hard links, relative paths and /proc/self/fd/N all resolve). An
 * output not written yet: its directory's device and inode and its base name, so that "x.npy" and
 * "./x.npy" are one output before either exists. */
typedef struct {
    dev_t dev;
    ino_t ino;
    char base[256]; /* "" for an existing file */
} file_id;

/* 0 when `path` has no identity to compare: a missing input (its reader reports that), or an
 * output that is not a regular file or lies in a missing directory (fkm_io_check_writable
 * refuses those). */
static int file_id_of(const char *path, int may_be_missing, file_id *id) {
    struct stat sb;
    memset(id, 0, sizeof *id);
    if (stat(path, &sb) == 0) {
        id->dev = sb.st_dev;
        id->ino = sb.st_ino;
        return S_ISREG(sb.st_mode);
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!may_be_missing || errno != ENOENT || !*base || strlen(base) >= sizeof id->base) return 0;
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    int ok = dir && stat(dir, &sb) == 0;
    free(dir);
    if (!ok) return 0;
    id->dev = sb.st_dev;
    id->ino = sb.st_ino;
    strcpy(id->base, base);
    return 1;
}

static int same_id(const file_id *a, const file_id *b) {
    return a->dev == b->dev && a->ino == b->ino && strcmp(a->base, b->base) == 0;
}

/* Why by identity and not by name: the writers replace the file a path resolves to, so
 * `-o data.npy`, `-o ./data.npy` or `-o link-to-data.npy` would all replace the input. */
int cli_check_outputs(const cli_file *inputs, int nin, const cli_file *outputs, int nout) {
    for (int i = 0; i < nout; i++) {
        file_id o, other;
        if (!outputs[i].path || !file_id_of(outputs[i].path, 1, &o)) continue;
        for (int j = 0; j < nin; j++)
            if (inputs[j].path && file_id_of(inputs[j].path, 0, &other) && same_id(&o, &other))
                return cli_error(CLI_BAD, "output %s '%s' is %s '%s' (same file); refusing to overwrite an input",
                                 outputs[i].what, outputs[i].path, inputs[j].what, inputs[j].path);
        for (int j = 0; j < i; j++)
            if (outputs[j].path && file_id_of(outputs[j].path, 1, &other) && same_id(&o, &other))
                return cli_error(CLI_BAD, "outputs %s '%s' and %s '%s' are the same file; one would overwrite the other",
                                 outputs[j].what, outputs[j].path, outputs[i].what, outputs[i].path);
    }
    for (int i = 0; i < nout; i++) {
        fkm_io_format f;
        int rc = outputs[i].path ? cli_output_format(&outputs[i], &f) : 0;
        if (rc) return rc;
    }
    for (int i = 0; i < nout; i++) {
        fkm_status st = outputs[i].path ? fkm_io_check_writable(outputs[i].path) : FKM_OK;
        if (st != FKM_OK) return cli_error(CLI_BAD, "%s", fkm_last_error());
    }
    return 0;
}

/* The extension of path's last component ("npy" for "a/b.c.npy"); NULL when it has none (a
 * leading dot, as in ".npy", starts a hidden name, not an extension). */
static const char *extension(const char *path) {
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : NULL;
}

static const char *elem_type(cli_kind k) { return k == CLI_OUT_F32 ? "float32" : "int32"; }

/* Why by name and not one format for all: `-o c.fvecs` used to write .npy bytes under that
 * name, which an .fvecs reader rejects (or worse, misreads); a name is a promise about content. */
int cli_output_format(const cli_file *o, fkm_io_format *fmt) {
    const char *ext = extension(o->path);
    const fkm_io_format f = fkm_io_guess_format(o->path); /* ignores a trailing .gz */
    const char *names = o->kind == CLI_OUT_F32 ? ".npy or .fvecs" : ".npy or .ivecs";
    const int gz = ext && strcasecmp(ext, "gz") == 0; /* any case, as the readers */
    *fmt = f;
    if (gz) return cli_error(CLI_BAD, "%s '%s': outputs are not compressed: drop the .gz", o->what, o->path);
    if (o->kind == CLI_OUT_SVG) {
        if (f == FKM_FMT_UNKNOWN && (!ext || strcasecmp(ext, "svg") == 0)) return 0;
        return cli_error(CLI_BAD, "%s '%s': the plot is SVG: name it .svg (or give it no extension)", o->what, o->path);
    }
    if (o->kind == CLI_OUT_JSON) {
        if (f == FKM_FMT_UNKNOWN && (!ext || strcasecmp(ext, "json") == 0)) return 0;
        return cli_error(CLI_BAD, "%s '%s': the report is JSON: name it .json (or give it no extension)", o->what,
                         o->path);
    }
    if (f == FKM_FMT_NPY || f == (o->kind == CLI_OUT_F32 ? FKM_FMT_FVECS : FKM_FMT_IVECS)) return 0;
    if (f == FKM_FMT_UNKNOWN && !ext) { /* as the readers do: an .npy is known by its content */
        *fmt = FKM_FMT_NPY;
        return 0;
    }
    if (f == FKM_FMT_FVECS || f == FKM_FMT_IVECS || f == FKM_FMT_BVECS)
        return cli_error(CLI_BAD, "%s '%s': a .%s file holds %s values, and %s writes %s: name it %s", o->what,
                         o->path, fkm_io_format_str(f), f == FKM_FMT_FVECS ? "float32" : f == FKM_FMT_IVECS ? "int32" : "uint8",
                         o->what, elem_type(o->kind), names);
    if (f != FKM_FMT_UNKNOWN)
        return cli_error(CLI_BAD, "%s '%s': %s files are read, not written: name it %s", o->what, o->path,
                         fkm_io_format_str(f), names);
    return cli_error(CLI_BAD, "%s '%s': '.%s' is not a format flashkmeans writes: name it %s (no extension: .npy)",
                     o->what, o->path, ext, names);
}

int cli_stage_output(const cli_file *o, const void *data, int ndim, int64_t n, int64_t d, cli_outputs *out) {
    fkm_io_format f;
    int rc = cli_output_format(o, &f);
    if (rc) return rc;
    fkm_io_pending *p = &out->p[out->count++];
    fkm_status st = f == FKM_FMT_NPY ? fkm_io_stage_npy(o->path, data, o->kind == CLI_OUT_F32 ? FKM_NPY_F4 : FKM_NPY_I4,
                                                        ndim, n, d, p)
                                     : fkm_io_stage_vecs(o->path, data, f, n, d, p);
    return st == FKM_OK ? 0 : cli_error(CLI_FAIL, "%s", fkm_last_error());
}

void cli_outputs_discard(cli_outputs *o) {
    for (int i = 0; i < o->count; i++) fkm_io_discard(&o->p[i]);
    o->count = 0;
}

int cli_outputs_commit(cli_outputs *o) {
    for (int i = 0; i < o->count; i++) {
        fkm_status st = fkm_io_commit(&o->p[i]);
        if (st != FKM_OK) {
            int rc = cli_error(CLI_FAIL, "%s", fkm_last_error());
            for (int j = i + 1; j < o->count; j++) fkm_io_discard(&o->p[j]);
            o->count = 0;
            return rc;
        }
    }
    o->count = 0;
    return 0;
}

void cli_str_add(cli_str *s, const char *fmt, ...) {
    if (s->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = s->cap - s->len;
        int w = s->buf ? vsnprintf(s->buf + s->len, room, fmt, ap) : -1;
        va_end(ap);
        if (w >= 0 && (size_t)w < room) {
            s->len += (size_t)w;
            return;
        }
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (w >= 0 && cap - s->len <= (size_t)w) cap *= 2;
        char *nb = (char *)realloc(s->buf, cap);
        if (!nb) {
            s->oom = 1;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
}

void cli_str_json_string(cli_str *s, const char *v) {
    cli_str_add(s, "\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') cli_str_add(s, "\\%c", *p);
        else if (*p < 0x20) cli_str_add(s, "\\u%04x", *p);
        else cli_str_add(s, "%c", *p);
    }
    cli_str_add(s, "\"");
}

/* JSON has no NaN/Inf: those become null. %.17g round-trips a double. */
void cli_str_json_number(cli_str *s, double v) {
    if (isfinite(v)) cli_str_add(s, "%.17g", v);
    else cli_str_add(s, "null");
}

void cli_str_free(cli_str *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}

double cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
