/* read.c -- format choice, the read entry point, conversions for centroid and label files. */
#include "io_impl.h"
#include "../core/convert.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int ends_with(const char *s, size_t n, const char *suffix) {
    size_t m = strlen(suffix);
    if (m > n) return 0;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != suffix[i]) return 0;
    return 1;
}

fkm_io_format fkm_io_guess_format(const char *path) {
    if (!path) return FKM_FMT_UNKNOWN;
    size_t n = strlen(path);
    if (ends_with(path, n, ".gz")) n -= 3;
    if (ends_with(path, n, ".npy")) return FKM_FMT_NPY;
    if (ends_with(path, n, ".fvecs")) return FKM_FMT_FVECS;
    if (ends_with(path, n, ".bvecs")) return FKM_FMT_BVECS;
    if (ends_with(path, n, ".ivecs")) return FKM_FMT_IVECS;
    if (ends_with(path, n, ".raw") || ends_with(path, n, ".bin")) return FKM_FMT_RAW;
    if (ends_with(path, n, "-ubyte") || ends_with(path, n, ".idx")) return FKM_FMT_IDX;
    /* ".idx3", ".idx1", ... */
    size_t i = n;
    while (i > 0 && isdigit((unsigned char)path[i - 1])) i--;
    if (i < n && ends_with(path, i, ".idx")) return FKM_FMT_IDX;
    return FKM_FMT_UNKNOWN;
}

const char *fkm_io_format_str(fkm_io_format f) {
    switch (f) {
    case FKM_FMT_NPY: return "npy";
    case FKM_FMT_FVECS: return "fvecs";
    case FKM_FMT_BVECS: return "bvecs";
    case FKM_FMT_IVECS: return "ivecs";
    case FKM_FMT_IDX: return "idx";
    case FKM_FMT_RAW: return "raw";
    case FKM_FMT_UNKNOWN: break;
    }
    return "unknown";
}

/* The whole file (parts == 1) or one part of its rows. */
static fkm_status read_rows(const char *path, const fkm_io_read_opts *opts, int64_t part, int64_t parts,
                            fkm_io_progress_fn progress, void *user, fkm_io_array *out) {
    fkm_status st = FKM_OK;
    fkm_io_src s;
    if (!out) return FKM_FAIL(FKM_ERR_INVALID_ARG, "output array pointer is NULL");
    memset(out, 0, sizeof *out);
    fkm_io_format f = opts && opts->format != FKM_FMT_UNKNOWN ? opts->format : fkm_io_guess_format(path);
    if (f == FKM_FMT_RAW && !opts)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "'%s': raw input needs the row length and the dtype", path);
    st = fkm_io_src_open(path, &s, progress, user);
    if (st != FKM_OK) return st;
    if (parts > 1 && (s.gz || !s.map)) { /* every part would have to read (and inflate) it all */
        const int gz = s.gz;
        fkm_io_src_close(&s);
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s' is %s: several ranks cannot each read only their part of it (%s)", path,
                        gz ? "gzip-compressed" : "not a regular file",
                        gz ? "gunzip it first" : "copy it to a regular file first");
    }
    s.part = part;
    s.parts = parts;
    if (f == FKM_FMT_UNKNOWN && s.len >= 6 && memcmp(s.buf, "\x93NUMPY", 6) == 0) f = FKM_FMT_NPY;
    switch (f) {
    case FKM_FMT_NPY: st = fkm_io_parse_npy(&s, out); break;
    case FKM_FMT_FVECS:
    case FKM_FMT_BVECS:
    case FKM_FMT_IVECS: st = fkm_io_parse_vecs(&s, f, out); break;
    case FKM_FMT_IDX: st = fkm_io_parse_idx(&s, out); break;
    case FKM_FMT_RAW: st = fkm_io_parse_raw(&s, opts->raw_d, opts->raw_dtype, out); break;
    case FKM_FMT_UNKNOWN:
        st = FKM_FAIL(FKM_ERR_FORMAT,
                      "'%s': cannot tell the file format from its name (expected .npy, .fvecs, .bvecs, .ivecs, "
                      "an IDX name such as .idx3-ubyte, or .raw/.bin; any of them may end in .gz)", path);
        break;
    }
    fkm_io_src_close(&s); /* no-op when the array took over the bytes */
    if (st != FKM_OK) fkm_io_close(out);
    else out->format = f;
    return st;
}

fkm_status fkm_io_read(const char *path, const fkm_io_read_opts *opts, fkm_io_array *out) {
    return read_rows(path, opts, 0, 1, NULL, NULL, out);
}

fkm_status fkm_io_read_part(const char *path, const fkm_io_read_opts *opts, int64_t part, int64_t parts,
                            fkm_io_array *out) {
    if (out) memset(out, 0, sizeof *out);
    if (parts < 1 || part < 0 || part >= parts)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "part %lld of %lld does not exist", (long long)part, (long long)parts);
    return read_rows(path, opts, part, parts, NULL, NULL, out);
}

fkm_status fkm_io_read_part_progress(const char *path, const fkm_io_read_opts *opts, int64_t part, int64_t parts,
                                     fkm_io_progress_fn progress, void *user, fkm_io_array *out) {
    if (out) memset(out, 0, sizeof *out);
    if (parts < 1 || part < 0 || part >= parts)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "part %lld of %lld does not exist", (long long)part, (long long)parts);
    return read_rows(path, opts, part, parts, progress, user, out);
}

void fkm_io_close(fkm_io_array *a) {
    if (!a) return;
    if (a->map_) munmap(a->map_, a->map_len_);
    free(a->heap_);
    memset(a, 0, sizeof *a);
}

void fkm_io_rows_to_f32(const fkm_io_array *a, const int64_t *rows, int64_t m, float *out) {
    const size_t d = (size_t)a->d;
    for (int64_t i = 0; i < m; i++)
        for (size_t j = 0; j < d; j++) {
            const size_t at = (size_t)rows[i] * d + j;
            out[(size_t)i * d + j] = a->dtype == FKM_F64 ? (float)((const double *)a->data)[at]
                                                         : fkm_elem_to_float(a->data, a->dtype, at);
        }
}

fkm_status fkm_io_to_f32(const fkm_io_array *a, float **out) {
    *out = NULL;
    const size_t count = (size_t)a->n * (size_t)a->d;
    float *f = (float *)fkm_alloc(count ? count : 1, sizeof(float));
    if (!f) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory converting %lld x %lld values to float32",
                            (long long)a->n, (long long)a->d);
    for (size_t i = 0; i < count; i++) {
        if (a->dtype == FKM_F64) {
            double v = ((const double *)a->data)[i];
            if (isfinite(v) && fabs(v) > 3.4028234663852886e38) {
                fkm_free(f);
                return FKM_FAIL(FKM_ERR_FORMAT, "value [%lld][%lld] = %g is outside the float32 range",
                                (long long)(i / (size_t)a->d), (long long)(i % (size_t)a->d), v);
            }
            f[i] = (float)v;
        } else {
            f[i] = fkm_elem_to_float(a->data, a->dtype, i);
        }
    }
    *out = f;
    return FKM_OK;
}

void fkm_io_free(void *p) { fkm_free(p); }

fkm_status fkm_io_read_labels(const char *path, const fkm_io_read_opts *opts, int64_t **labels, int64_t *n) {
    fkm_status st = FKM_OK;
    fkm_io_array a;
    *labels = NULL;
    *n = 0;
    FKM_TRY(fkm_io_read(path, opts, &a));
    if (a.d != 1) {
        st = FKM_FAIL(FKM_ERR_FORMAT, "'%s': a label file must be 1-D (or n x 1); this one is %lld x %lld", path,
                      (long long)a.n, (long long)a.d);
        goto cleanup;
    }
    int64_t *lab = (int64_t *)fkm_alloc((size_t)(a.n ? a.n : 1), sizeof(int64_t));
    if (!lab) {
        st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory reading labels from '%s'", path);
        goto cleanup;
    }
    for (int64_t i = 0; i < a.n; i++) {
        double v = a.dtype == FKM_U8 ? ((const uint8_t *)a.data)[i]
                   : a.dtype == FKM_F64 ? ((const double *)a.data)[i]
                                        : (double)fkm_elem_to_float(a.data, a.dtype, (size_t)i);
        if (!(v == floor(v)) || fabs(v) > 9007199254740992.0) {
            fkm_free(lab);
            st = FKM_FAIL(FKM_ERR_FORMAT, "'%s': label %lld is %g, expected an integer", path, (long long)i, v);
            goto cleanup;
        }
        lab[i] = (int64_t)v;
    }
    *labels = lab;
    *n = a.n;
cleanup:
    fkm_io_close(&a);
    return st;
}
