/* source.c -- a file's bytes, read once: memory-mapped when it is a regular uncompressed file,
 * otherwise read (pipes) or gunzipped (gzip magic 1f 8b) into one heap buffer. */
#define _GNU_SOURCE
#include "io_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef FKM_HAVE_ZLIB
#include <zlib.h>
#endif

int fkm_io_mul(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* A decode buffer (freed with free()). Large ones are 2 MiB-aligned and asked to use huge pages:
 * on virtual machines every 4 KiB first-touch fault is expensive, and these buffers are written
 * once from end to end. */
static uint8_t *alloc_big(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < 4 * huge) return (uint8_t *)fkm_alloc(bytes ? bytes : 1, 1);
    void *p = NULL;
    if (posix_memalign(&p, huge, (bytes + huge - 1) / huge * huge) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
    return (uint8_t *)p;
}

/* How often the progress callback is called: every PROGRESS_STEP bytes read from a pipe, and
 * while inflating, after each call to inflate (given at most PROGRESS_STEP bytes in and out). */
#define PROGRESS_STEP ((size_t)8 << 20)

/* Read everything from a non-mappable descriptor (pipe, character device). */
static fkm_status read_all(int fd, const char *path, fkm_io_src *s) {
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = (uint8_t *)malloc(cap);
    if (!buf) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory reading '%s'", path);
    for (;;) {
        if (len == cap) {
            uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : (uint8_t *)realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory reading '%s' (%zu bytes so far)", path, len);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return FKM_FAIL(FKM_ERR_IO, "cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0) break;
        len += (size_t)r;
        if (s->progress && len / PROGRESS_STEP != (len - (size_t)r) / PROGRESS_STEP) s->progress(len, 0, s->progress_user);
    }
    if (s->progress) s->progress(len, 0, s->progress_user);
    s->heap = buf;
    s->buf = buf;
    s->len = len;
    return FKM_OK;
}

#ifdef FKM_HAVE_ZLIB
/* Inflate every gzip member of s's bytes into one heap buffer (the compressed file is streamed
 * once). The last member's ISIZE trailer sizes the first allocation. */
static fkm_status gunzip(fkm_io_src *s) {
    fkm_status st = FKM_OK;
    const uint8_t *in = s->buf;
    const size_t in_len = s->len;
    size_t cap = 1 << 20, len = 0;
    if (in_len >= 18) {
        uint32_t isize = (uint32_t)in[in_len - 4] | (uint32_t)in[in_len - 3] << 8 |
                         (uint32_t)in[in_len - 2] << 16 | (uint32_t)in[in_len - 1] << 24;
        /* deflate cannot expand more than ~1032:1, so a larger trailer is a lie: ignore it */
        if (isize > 0 && (uint64_t)isize <= (uint64_t)in_len * 1032) cap = (size_t)isize + 1;
    }
    uint8_t *out = alloc_big(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!out) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory decompressing '%s'", s->path);
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        free(out);
        return FKM_FAIL(FKM_ERR_NO_MEMORY, "cannot initialise zlib for '%s'", s->path);
    }
    size_t pos = 0; /* consumed input */
    for (;;) {
        if (len == cap) {
            uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : (uint8_t *)realloc(out, cap * 2);
            if (!nb) {
                st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory decompressing '%s' (%zu bytes so far)", s->path, len);
                goto cleanup;
            }
            out = nb;
            cap *= 2;
        }
        /* zlib counts in uInt: feed and drain at most 1 GiB per call (PROGRESS_STEP with a callback) */
        const size_t step = s->progress ? PROGRESS_STEP : (size_t)1 << 30;
        size_t avail_in = in_len - pos, avail_out = cap - len;
        z.next_in = (Bytef *)(in + pos);
        z.avail_in = (uInt)(avail_in > step ? step : avail_in);
        z.next_out = out + len;
        z.avail_out = (uInt)(avail_out > step ? step : avail_out);
        uInt give_in = z.avail_in, give_out = z.avail_out;
        int r = inflate(&z, Z_NO_FLUSH);
        pos += give_in - z.avail_in;
        len += give_out - z.avail_out;
        if (s->progress) s->progress(pos, in_len, s->progress_user);
        if (r == Z_STREAM_END) {
            if (pos == in_len) break;
            if (in_len - pos >= 2 && in[pos] == 0x1f && in[pos + 1] == 0x8b) { /* next member */
                inflateReset(&z);
                continue;
            }
            st = FKM_FAIL(FKM_ERR_FORMAT, "'%s': %zu bytes of trailing garbage after the gzip stream", s->path,
                          in_len - pos);
            goto cleanup;
        }
        if (r == Z_BUF_ERROR && pos == in_len) {
            st = FKM_FAIL(FKM_ERR_FORMAT, "'%s': gzip stream is truncated (ends after %zu compressed bytes)",
                          s->path, in_len);
            goto cleanup;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            st = FKM_FAIL(r == Z_MEM_ERROR ? FKM_ERR_NO_MEMORY : FKM_ERR_FORMAT, "'%s': corrupt gzip data (%s)",
                          s->path, z.msg ? z.msg : "zlib error");
            goto cleanup;
        }
    }
    inflateEnd(&z);
    fkm_io_src_close(s); /* drop the compressed bytes */
    s->heap = out;
    s->buf = out;
    s->len = len;
    s->gz = 1;
    return FKM_OK;
cleanup:
    inflateEnd(&z);
    free(out);
    return st;
}
#endif

fkm_status fkm_io_src_open(const char *path, fkm_io_src *s, fkm_io_progress_fn progress, void *user) {
    fkm_status st = FKM_OK;
    memset(s, 0, sizeof *s);
    s->path = path;
    s->progress = progress;
    s->progress_user = user;
    if (!path || !*path) return FKM_FAIL(FKM_ERR_INVALID_ARG, "empty file name");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return FKM_FAIL(FKM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = FKM_FAIL(FKM_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = FKM_FAIL(FKM_ERR_IO, "'%s' is a directory, expected a data file", path);
        goto done;
    }
    if (S_ISREG(sb.st_mode) && sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            s->map = m;
            s->map_len = (size_t)sb.st_size;
            s->buf = (const uint8_t *)m;
            s->len = (size_t)sb.st_size;
        }
    }
    if (!s->buf && (!S_ISREG(sb.st_mode) || sb.st_size > 0)) st = read_all(fd, path, s);
done:
    close(fd);
    if (st != FKM_OK) return st;
    if (s->len == 0) return FKM_FAIL(FKM_ERR_FORMAT, "'%s' is empty (0 bytes)", path);
    if (s->len >= 2 && s->buf[0] == 0x1f && s->buf[1] == 0x8b) {
#ifdef FKM_HAVE_ZLIB
        st = gunzip(s);
        if (st != FKM_OK) {
            fkm_io_src_close(s);
            return st;
        }
        if (s->len == 0) {
            fkm_io_src_close(s);
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s' decompresses to 0 bytes", path);
        }
#else
        fkm_io_src_close(s);
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s' is gzip-compressed but this build has no zlib: gunzip it first", path);
#endif
    }
    return FKM_OK;
}

void fkm_io_part_rows(const fkm_io_src *s, int64_t n, int64_t *r0, int64_t *r1) {
    *r0 = 0;
    *r1 = n;
    if (s->parts <= 1) return;
    /* n * part / parts without overflow: n < 2^63 and part < parts */
    *r0 = (int64_t)((__int128)n * s->part / s->parts);
    *r1 = (int64_t)((__int128)n * (s->part + 1) / s->parts);
}

void fkm_io_src_close(fkm_io_src *s) {
    if (s->map) munmap(s->map, s->map_len);
    free(s->heap);
    const char *path = s->path;
    memset(s, 0, sizeof *s);
    s->path = path;
}

/* ---------------------------------------------------------------- element decoding */

static uint64_t load_uint(const uint8_t *p, int size, int big) {
    uint64_t v = 0;
    for (int b = 0; b < size; b++) v |= (uint64_t)p[big ? size - 1 - b : b] << (8 * b);
    return v;
}

/* Element as float64 (for integer types; floats take the bit-exact paths in decode_into). */
static double int_value(const uint8_t *p, fkm_io_elem e) {
    uint64_t u = load_uint(p, e.size, e.big);
    if (e.kind == 'u') return (double)u;
    if (e.size < 8 && (u >> (8 * e.size - 1)) & 1) u |= ~0ull << (8 * e.size); /* sign-extend */
    return (double)(int64_t)u;
}

/* The library dtype an element type becomes: floats keep their width, uint8 stays uint8,
 * other integers become float64. */
static fkm_dtype target_dtype(fkm_io_elem e) {
    if (e.kind == 'b') return FKM_BF16;
    if (e.kind == 'f') return e.size == 2 ? FKM_F16 : e.size == 4 ? FKM_F32 : FKM_F64;
    if (e.kind == 'u' && e.size == 1) return FKM_U8;
    return FKM_F64;
}

static void fmt_src_dtype(fkm_io_elem e, char out[8]) {
    snprintf(out, 8, "%c%c%d", e.size == 1 ? '|' : e.big ? '>' : '<', e.kind == 'b' ? 'V' : e.kind, e.size);
    if (e.kind == 'b') snprintf(out, 8, "bf16");
}

/* Decode one element at p into dst (of the target dtype). Returns 0 when an int64 value does not
 * fit float64 exactly. */
static int decode_one(const uint8_t *p, fkm_io_elem e, fkm_dtype t, uint8_t *dst) {
    if (t == FKM_F64 && e.kind != 'f') {
        if (e.size == 8) { /* int64/uint64: exact only up to 2^53 */
            uint64_t u = load_uint(p, 8, e.big);
            uint64_t mag = e.kind == 'i' && (int64_t)u < 0 ? (uint64_t)0 - u : u;
            if (mag > (1ull << 53)) return 0;
        }
        double v = int_value(p, e);
        memcpy(dst, &v, 8);
        return 1;
    }
    /* same width: copy, byte-swapping big-endian data */
    for (int b = 0; b < e.size; b++) dst[b] = p[e.big ? e.size - 1 - b : b];
    return 1;
}

static size_t elem_pos(fkm_io_layout lay, size_t esz, int64_t n, int64_t i, int64_t j) {
    if (lay.fortran) return lay.off + ((size_t)j * (size_t)n + (size_t)i) * esz;
    return lay.off + (size_t)i * lay.row_stride + (size_t)j * esz;
}

/* Column-major n x d (src) -> row-major (dst), in square tiles so that both sides stay in cache. */
static void transpose(const uint8_t *src, uint8_t *dst, int64_t n, int64_t d, size_t esz) {
    enum { TILE = 64 };
    for (int64_t j0 = 0; j0 < d; j0 += TILE)
        for (int64_t i0 = 0; i0 < n; i0 += TILE) {
            const int64_t j1 = j0 + TILE < d ? j0 + TILE : d, i1 = i0 + TILE < n ? i0 + TILE : n;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t i = i0; i < i1; i++) {
                    const uint8_t *from = src + ((size_t)j * (size_t)n + (size_t)i) * esz;
                    uint8_t *to = dst + ((size_t)i * (size_t)d + (size_t)j) * esz;
                    switch (esz) { /* fixed-size copies compile to single moves */
                    case 1: *to = *from; break;
                    case 2: memcpy(to, from, 2); break;
                    case 4: memcpy(to, from, 4); break;
                    default: memcpy(to, from, 8); break;
                    }
                }
        }
}

fkm_status fkm_io_emit(fkm_io_src *s, fkm_io_elem e, int64_t n, int64_t d, fkm_io_layout lay,
                       fkm_io_array *out) {
    fkm_status st = FKM_OK;
    const fkm_dtype t = target_dtype(e);
    const size_t osz = fkm_dtype_size(t), esz = (size_t)e.size;
    int64_t r0 = 0, r1 = n;
    const int64_t total = n;
    memset(out, 0, sizeof *out);
    if (s->parts > 1) { /* one part of the rows: move the region's start, shrink n */
        if (lay.fortran) {
            st = FKM_FAIL(FKM_ERR_FORMAT, "'%s' is a Fortran-order .npy: its rows are not contiguous, so it cannot be "
                          "read in parts by several ranks (save it in C order)", s->path);
            fkm_io_src_close(s);
            return st;
        }
        fkm_io_part_rows(s, n, &r0, &r1);
        lay.off += (size_t)r0 * lay.row_stride;
        n = r1 - r0;
    }
    out->row0 = r0;
    out->total_n = total;
    out->dtype = t;
    out->n = n;
    out->d = d;
    out->ndim = lay.ndim;
    fmt_src_dtype(e, out->src_dtype);
    /* bytes usable as they are: a little-endian float/bfloat16, or uint8 */
    const int plain = ((e.kind == 'f' || e.kind == 'b') && !e.big) || (e.kind == 'u' && e.size == 1);
    const int in_place = plain && !lay.fortran && (lay.row_stride == (size_t)d * esz || n <= 1) &&
                         ((uintptr_t)(s->buf + lay.off) % osz) == 0;
    if (in_place) {
        out->data = s->buf + lay.off;
        out->map_ = s->map;
        out->map_len_ = s->map_len;
        out->heap_ = s->heap;
        s->map = NULL;
        s->heap = NULL;
        fkm_io_src_close(s);
        return FKM_OK;
    }
    uint8_t *buf = alloc_big((size_t)n * (size_t)d * osz);
    if (!buf) {
        st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory decoding '%s' (%lld x %lld)", s->path, (long long)n, (long long)d);
        goto cleanup;
    }
    if (s->map && s->parts <= 1) (void)madvise(s->map, s->map_len, MADV_WILLNEED); /* map ahead: faults are costly */
    if (plain && !lay.fortran) { /* only the row stride or the alignment differs: copy rows */
        for (int64_t i = 0; i < n; i++)
            memcpy(buf + (size_t)i * (size_t)d * osz, s->buf + lay.off + (size_t)i * lay.row_stride, (size_t)d * osz);
    } else if (plain) {
        transpose(s->buf + lay.off, buf, n, d, osz);
    } else {
        /* Fortran order: walk the source sequentially (column by column) so the file is read in
         * order; the scattered writes go to memory. */
        for (int64_t a = 0; a < (lay.fortran ? d : n); a++)
            for (int64_t b = 0; b < (lay.fortran ? n : d); b++) {
                const int64_t i = lay.fortran ? b : a, j = lay.fortran ? a : b;
                uint8_t *dst = buf + ((size_t)i * (size_t)d + (size_t)j) * osz;
                if (!decode_one(s->buf + elem_pos(lay, esz, n, i, j), e, t, dst)) {
                    st = FKM_FAIL(FKM_ERR_FORMAT,
                                  "'%s': element [%lld][%lld] (%s) is beyond 2^53 and cannot be read exactly",
                                  s->path, (long long)i, (long long)j, out->src_dtype);
                    goto cleanup;
                }
            }
    }
    out->data = buf;
    out->heap_ = buf;
    buf = NULL;
cleanup:
    fkm_free(buf);
    fkm_io_src_close(s);
    if (st != FKM_OK) memset(out, 0, sizeof *out);
    return st;
}
