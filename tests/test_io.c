/* test_io.c -- src/io readers and writers: round trips of every format, dtype, npy version and
 * order we can build here; malformed, truncated and lying files -> exact status codes; atomic
 * writes leave an existing destination intact on failure. */
#define _GNU_SOURCE
#include "check.h"
#include "internal.h"
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<zlib.h>)
#include <zlib.h>
#define HAVE_ZLIB_H 1
#endif
#endif

static char dir[256];

static const char *pth(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void put(const char *path, const void *a, size_t alen, const void *b, size_t blen) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    if (a && alen) fwrite(a, 1, alen, f);
    if (b && blen) fwrite(b, 1, blen, f);
    fclose(f);
}

/* An .npy file with a hand-made header: version major, dict text, data bytes. */
static void mknpy(const char *path, int major, const char *dict, const void *data, size_t bytes) {
    unsigned char hdr[512];
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    memcpy(hdr, "\x93NUMPY", 6);
    hdr[6] = (unsigned char)major;
    hdr[7] = 0;
    if (major == 1) { hdr[8] = hlen & 0xff; hdr[9] = (unsigned char)(hlen >> 8); }
    else { hdr[8] = hlen & 0xff; hdr[9] = (hlen >> 8) & 0xff; hdr[10] = 0; hdr[11] = 0; }
    memcpy(hdr + pre, dict, dl);
    memset(hdr + pre + dl, ' ', total - pre - dl);
    hdr[total - 1] = '\n';
    put(path, hdr, total, data, bytes);
}

static fkm_status rd(const char *path, fkm_io_array *a) { return fkm_io_read(path, NULL, a); }

static fkm_status expect_status(const char *path, fkm_status want, const char *what) {
    fkm_io_array a;
    fkm_status st = rd(path, &a);
    if (getenv("FKM_TEST_VERBOSE")) printf("%-40s -> %s\n", what, st == FKM_OK ? "ok" : fkm_last_error());
    CHECK(st == want, "%s: status %d (%s), expected %d; message: %s", what, st, fkm_status_str(st), want, fkm_last_error());
    if (st == want && want != FKM_OK)
        CHECK(strstr(fkm_last_error(), path) != NULL, "%s: message does not name the file: %s", what, fkm_last_error());
    fkm_io_close(&a);
    return st;
}

static void test_npy_write_roundtrip(void) {
    float c[3 * 5];
    for (int i = 0; i < 15; i++) c[i] = (float)i * 0.25f - 1.0f;
    CHECK(fkm_io_write_npy(pth("c.npy"), c, FKM_NPY_F4, 2, 3, 5) == FKM_OK, "write: %s", fkm_last_error());
    fkm_io_array a;
    CHECK(rd(pth("c.npy"), &a) == FKM_OK, "read: %s", fkm_last_error());
    CHECK(a.dtype == FKM_F32 && a.n == 3 && a.d == 5 && a.ndim == 2, "shape %lld x %lld dtype %d", (long long)a.n, (long long)a.d, a.dtype);
    CHECK(a.data && memcmp(a.data, c, sizeof c) == 0, "data differs");
    CHECK(a.map_ != NULL, "a plain f4 .npy should be memory-mapped, not copied");
    CHECK(((const char *)a.data - (const char *)a.map_) % 64 == 0, "data not 64-byte aligned in the file");
    fkm_io_close(&a);

    int32_t lab[7] = {0, 3, 2, 1, 0, 6, 2147483647};
    CHECK(fkm_io_write_npy(pth("l.npy"), lab, FKM_NPY_I4, 1, 7, 1) == FKM_OK, "write labels: %s", fkm_last_error());
    CHECK(rd(pth("l.npy"), &a) == FKM_OK, "read labels: %s", fkm_last_error());
    CHECK(a.n == 7 && a.d == 1 && a.ndim == 1 && a.dtype == FKM_F64, "labels read as %lld x %lld dtype %d", (long long)a.n, (long long)a.d, a.dtype);
    for (int i = 0; i < 7 && a.data; i++) CHECK(((const double *)a.data)[i] == lab[i], "label %d", i);
    fkm_io_close(&a);
    int64_t *l64 = NULL, n = 0;
    CHECK(fkm_io_read_labels(pth("l.npy"), NULL, &l64, &n) == FKM_OK && n == 7, "read_labels: %s", fkm_last_error());
    for (int i = 0; i < 7 && l64; i++) CHECK(l64[i] == lab[i], "read_labels %d", i);
    fkm_free(l64);

    /* every writer dtype */
    double f8[4] = {1.5, -2, 1e300, 0};
    CHECK(fkm_io_write_npy(pth("f8.npy"), f8, FKM_NPY_F8, 2, 2, 2) == FKM_OK, "write f8");
    CHECK(rd(pth("f8.npy"), &a) == FKM_OK && a.dtype == FKM_F64 && memcmp(a.data, f8, sizeof f8) == 0, "f8 round trip");
    float *f32 = NULL;
    CHECK(fkm_io_to_f32(&a, &f32) == FKM_ERR_FORMAT, "1e300 to float32 must fail");
    fkm_io_close(&a);
    uint8_t u1[6] = {0, 1, 2, 253, 254, 255};
    CHECK(fkm_io_write_npy(pth("u1.npy"), u1, FKM_NPY_U1, 2, 3, 2) == FKM_OK, "write u1");
    CHECK(rd(pth("u1.npy"), &a) == FKM_OK && a.dtype == FKM_U8 && a.n == 3 && memcmp(a.data, u1, 6) == 0, "u1 round trip");
    CHECK(fkm_io_to_f32(&a, &f32) == FKM_OK && f32[5] == 255.0f, "u1 to f32");
    fkm_free(f32);
    fkm_io_close(&a);
    uint16_t f2[2] = {0x3c00, 0xc000}; /* 1.0, -2.0 */
    CHECK(fkm_io_write_npy(pth("f2.npy"), f2, FKM_NPY_F2, 1, 2, 1) == FKM_OK, "write f2");
    CHECK(rd(pth("f2.npy"), &a) == FKM_OK && a.dtype == FKM_F16 && fkm_io_to_f32(&a, &f32) == FKM_OK, "f2 read");
    CHECK(f32 && f32[0] == 1.0f && f32[1] == -2.0f, "f2 values");
    fkm_free(f32);
    fkm_io_close(&a);
    int64_t i8[3] = {-5, 0, (int64_t)1 << 53};
    CHECK(fkm_io_write_npy(pth("i8.npy"), i8, FKM_NPY_I8, 1, 3, 1) == FKM_OK, "write i8");
    CHECK(fkm_io_read_labels(pth("i8.npy"), NULL, &l64, &n) == FKM_OK && l64[0] == -5 && l64[2] == i8[2], "i8 labels");
    fkm_free(l64);
    i8[1] = ((int64_t)1 << 53) + 1; /* not exactly representable in float64 */
    CHECK(fkm_io_write_npy(pth("i8big.npy"), i8, FKM_NPY_I8, 1, 3, 1) == FKM_OK, "write i8big");
    expect_status(pth("i8big.npy"), FKM_ERR_FORMAT, "int64 beyond 2^53");
}

static fkm_status write_vecs(const char *path, const void *data, fkm_io_format f, int64_t n, int64_t d) {
    fkm_io_pending p;
    fkm_status st = fkm_io_stage_vecs(path, data, f, n, d, &p);
    return st != FKM_OK ? st : fkm_io_commit(&p);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* The .fvecs/.ivecs writer (CLI outputs named .fvecs/.ivecs, issue 23 item 8): the readers give
 * back what was written, whether rows are gathered in the buffer (many small rows, across its
 * flushes) or written where they are (a row larger than the buffer). */
static void test_vecs_write_roundtrip(void) {
    float c[3 * 5];
    for (int i = 0; i < 15; i++) c[i] = (float)i * 0.25f - 1.0f;
    CHECK(write_vecs(pth("c.fvecs"), c, FKM_FMT_FVECS, 3, 5) == FKM_OK, "write fvecs: %s", fkm_last_error());
    CHECK(file_size(pth("c.fvecs")) == 3 * (4 + 5 * 4), "fvecs size %ld", file_size(pth("c.fvecs")));
    fkm_io_array a;
    CHECK(rd(pth("c.fvecs"), &a) == FKM_OK, "read fvecs: %s", fkm_last_error());
    CHECK(a.dtype == FKM_F32 && a.n == 3 && a.d == 5, "fvecs read as %lld x %lld dtype %d", (long long)a.n,
          (long long)a.d, a.dtype);
    CHECK(a.data && memcmp(a.data, c, sizeof c) == 0, "fvecs data differs");
    fkm_io_close(&a);

    int32_t lab[7] = {0, 3, 2, 1, 0, 6, 2147483647};
    CHECK(write_vecs(pth("l.ivecs"), lab, FKM_FMT_IVECS, 7, 1) == FKM_OK, "write ivecs: %s", fkm_last_error());
    CHECK(file_size(pth("l.ivecs")) == 7 * 8, "ivecs size %ld", file_size(pth("l.ivecs")));
    int64_t *l64 = NULL, n = 0;
    CHECK(fkm_io_read_labels(pth("l.ivecs"), NULL, &l64, &n) == FKM_OK && n == 7, "read_labels ivecs: %s",
          fkm_last_error());
    for (int i = 0; i < 7 && l64; i++) CHECK(l64[i] == lab[i], "ivecs label %d: %lld", i, (long long)l64[i]);
    fkm_free(l64);

    /* 100000 rows of 3 (1.6 MB: the 1 MiB buffer is flushed mid-way), 3 rows of 300000 (1.2 MB each) */
    const int64_t shapes[2][2] = {{100000, 3}, {3, 300000}};
    for (int s = 0; s < 2; s++) {
        const int64_t rows = shapes[s][0], d = shapes[s][1];
        float *big = (float *)malloc((size_t)(rows * d) * sizeof(float));
        for (int64_t i = 0; i < rows * d; i++) big[i] = (float)(i % 1000003) - 17.5f;
        CHECK(write_vecs(pth("big.fvecs"), big, FKM_FMT_FVECS, rows, d) == FKM_OK, "write %lld x %lld: %s",
              (long long)rows, (long long)d, fkm_last_error());
        CHECK(rd(pth("big.fvecs"), &a) == FKM_OK && a.n == rows && a.d == d, "read %lld x %lld: %s", (long long)rows,
              (long long)d, fkm_last_error());
        CHECK(a.data && memcmp(a.data, big, (size_t)(rows * d) * sizeof(float)) == 0, "%lld x %lld: data differs",
              (long long)rows, (long long)d);
        fkm_io_close(&a);
        free(big);
    }

    /* refused before any file is created */
    fkm_io_pending p;
    CHECK(fkm_io_stage_vecs(pth("x.bvecs"), c, FKM_FMT_BVECS, 3, 5, &p) == FKM_ERR_INVALID_ARG, "bvecs accepted");
    CHECK(fkm_io_stage_vecs(pth("x.fvecs"), c, FKM_FMT_FVECS, 3, 0, &p) == FKM_ERR_INVALID_ARG, "d = 0 accepted");
    CHECK(fkm_io_stage_vecs(pth("x.fvecs"), c, FKM_FMT_FVECS, 1, (int64_t)1 << 31, &p) == FKM_ERR_INVALID_ARG,
          "d = 2^31 accepted");
    CHECK(file_size(pth("x.fvecs")) < 0 && file_size(pth("x.bvecs")) < 0, "a refused write created a file");
}

/* Every dtype and header version, C order, built by hand. */
static void test_npy_versions_dtypes(void) {
    static const struct { const char *descr; int size; fkm_dtype want; } dts[] = {
        {"<f4", 4, FKM_F32}, {"<f8", 8, FKM_F64}, {"<f2", 2, FKM_F16}, {"|u1", 1, FKM_U8}, {"<u1", 1, FKM_U8},
        {"=f4", 4, FKM_F32}, {"|i1", 1, FKM_F64}, {"<i2", 2, FKM_F64}, {"<i4", 4, FKM_F64}, {"<i8", 8, FKM_F64},
        {"<u2", 2, FKM_F64}, {"<u4", 4, FKM_F64}, {"<u8", 8, FKM_F64}, {">u1", 1, FKM_U8}, {">i1", 1, FKM_F64},
    };
    for (int major = 1; major <= 3; major++)
        for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++) {
            unsigned char raw[4 * 3 * 8];
            /* values 0..11 in the element type */
            for (int i = 0; i < 12; i++) {
                unsigned char *p = raw + i * dts[t].size;
                memset(p, 0, (size_t)dts[t].size);
                if (dts[t].descr[1] == 'f') {
                    if (dts[t].size == 4) { float v = (float)i; memcpy(p, &v, 4); }
                    else if (dts[t].size == 8) { double v = i; memcpy(p, &v, 8); }
                    else { uint16_t h = i == 0 ? 0 : (uint16_t)((15 + (int)floor(log2(i))) << 10 | (uint16_t)((i / exp2(floor(log2(i))) - 1) * 1024)); memcpy(p, &h, 2); }
                } else {
                    p[0] = (unsigned char)i;
                }
            }
            char dict[128];
            snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (4, 3), }", dts[t].descr);
            mknpy(pth("v.npy"), major, dict, raw, 12 * (size_t)dts[t].size);
            fkm_io_array a;
            fkm_status st = rd(pth("v.npy"), &a);
            CHECK(st == FKM_OK, "v%d %s: %s", major, dts[t].descr, fkm_last_error());
            if (st != FKM_OK) continue;
            CHECK(a.dtype == dts[t].want && a.n == 4 && a.d == 3, "v%d %s: dtype %d shape %lld x %lld", major,
                  dts[t].descr, a.dtype, (long long)a.n, (long long)a.d);
            float *f = NULL;
            CHECK(fkm_io_to_f32(&a, &f) == FKM_OK, "to_f32");
            for (int i = 0; i < 12 && f; i++) CHECK(f[i] == (float)i, "v%d %s [%d] = %g", major, dts[t].descr, i, f[i]);
            fkm_free(f);
            fkm_io_close(&a);
        }
    /* negative integers sign-extend */
    int16_t neg[2] = {-3, 32767};
    mknpy(pth("neg.npy"), 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", neg, 4);
    int64_t *l = NULL, n = 0;
    CHECK(fkm_io_read_labels(pth("neg.npy"), NULL, &l, &n) == FKM_OK && n == 2 && l[0] == -3 && l[1] == 32767, "i2 sign");
    fkm_free(l);
    /* 1-D and 3-D shapes, odd spacing and Python 2 style longs */
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i;
    mknpy(pth("3d.npy"), 1, "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2L, 3L, 4L)}", v, sizeof v);
    fkm_io_array a;
    CHECK(rd(pth("3d.npy"), &a) == FKM_OK && a.n == 2 && a.d == 12 && a.ndim == 3, "3-D -> 2 x 12: %s", fkm_last_error());
    fkm_io_close(&a);
    mknpy(pth("1d.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (24,), }", v, sizeof v);
    CHECK(rd(pth("1d.npy"), &a) == FKM_OK && a.n == 24 && a.d == 1 && a.ndim == 1, "1-D -> 24 x 1");
    fkm_io_close(&a);
    mknpy(pth("empty0.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", v, 0);
    CHECK(rd(pth("empty0.npy"), &a) == FKM_OK && a.n == 0 && a.d == 5, "shape (0, 5) reads as n = 0");
    fkm_io_close(&a);
}

static void test_npy_fortran(void) {
    /* logical 3 x 4 matrix m[i][j] = 10 i + j, stored column-major */
    float colmaj[12];
    double colmaj8[12];
    uint8_t colmaj1[12];
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 3; i++) colmaj8[j * 3 + i] = colmaj1[j * 3 + i] = (uint8_t)(colmaj[j * 3 + i] = (float)(10 * i + j));
    mknpy(pth("f.npy"), 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", colmaj, sizeof colmaj);
    mknpy(pth("f8f.npy"), 2, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }", colmaj8, sizeof colmaj8);
    mknpy(pth("u1f.npy"), 3, "{'descr': '|u1', 'fortran_order': True, 'shape': (3, 4), }", colmaj1, sizeof colmaj1);
    const char *names[3] = {"f.npy", "f8f.npy", "u1f.npy"};
    for (int t = 0; t < 3; t++) {
        fkm_io_array a;
        CHECK(rd(pth(names[t]), &a) == FKM_OK, "%s: %s", names[t], fkm_last_error());
        CHECK(a.n == 3 && a.d == 4, "%s shape", names[t]);
        float *f = NULL;
        fkm_io_to_f32(&a, &f);
        for (int i = 0; i < 3 && f; i++)
            for (int j = 0; j < 4; j++) CHECK(f[i * 4 + j] == (float)(10 * i + j), "%s [%d][%d] = %g", names[t], i, j, f[i * 4 + j]);
        fkm_free(f);
        fkm_io_close(&a);
    }
    float v[24] = {0};
    mknpy(pth("f3.npy"), 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }", v, sizeof v);
    expect_status(pth("f3.npy"), FKM_ERR_FORMAT, "Fortran 3-D");
}

static void test_npy_bad(void) {
    float v[8] = {0};
    static const struct { const char *dict; const char *what; } bad[] = {
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 4), }", "big-endian"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }", "complex"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }", "object"},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }", "bool"},
        {"{'descr': '<f16', 'fortran_order': False, 'shape': (2, 1), }", "float128"},
        {"{'descr': '<U1', 'fortran_order': False, 'shape': (2, 1), }", "unicode"},
        {"{'descr': '|V2', 'fortran_order': False, 'shape': (2, 1), }", "void"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "scalar"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", "shape larger than the data"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }", "shape smaller than the data"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", "shape overflow"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }", "int64 overflow"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -4), }", "negative"},
        {"{'descr': '<f4', 'fortran_order': False, }", "no shape"},
        {"{'descr': '<f4', 'shape': (2, 4), }", "no fortran_order"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 4), }", "bad bool"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), 'x': 1}", "extra key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4) 'x'}", "missing comma"},
        {"['descr', '<f4']", "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4)} junk", "trailing junk"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4", "unterminated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mknpy(pth("bad.npy"), 1, bad[i].dict, v, sizeof v);
        expect_status(pth("bad.npy"), FKM_ERR_FORMAT, bad[i].what);
    }
    /* preamble problems */
    mknpy(pth("ok.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", v, sizeof v);
    expect_status(pth("ok.npy"), FKM_OK, "control");
    FILE *f = fopen(pth("ok.npy"), "rb");
    unsigned char buf[256];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t cut = 1; cut < len; cut += (cut < 20 ? 1 : 13)) { /* every truncation point */
        put(pth("trunc.npy"), buf, cut, NULL, 0);
        expect_status(pth("trunc.npy"), FKM_ERR_FORMAT, "truncated");
    }
    unsigned char m[256];
    memcpy(m, buf, len); m[0] = 'X';
    put(pth("magic.npy"), m, len, NULL, 0);
    expect_status(pth("magic.npy"), FKM_ERR_FORMAT, "wrong magic");
    memcpy(m, buf, len); m[6] = 4;
    put(pth("ver.npy"), m, len, NULL, 0);
    expect_status(pth("ver.npy"), FKM_ERR_FORMAT, "version 4");
    memcpy(m, buf, len); m[8] = 0xff; m[9] = 0xff;
    put(pth("hlen.npy"), m, len, NULL, 0);
    expect_status(pth("hlen.npy"), FKM_ERR_FORMAT, "header length beyond the file");
    memcpy(m, buf, len); m[8] = 10; m[9] = 0;
    put(pth("hshort.npy"), m, len, NULL, 0);
    expect_status(pth("hshort.npy"), FKM_ERR_FORMAT, "header length too short");
    put(pth("extra.npy"), buf, len, "xxxx", 4);
    expect_status(pth("extra.npy"), FKM_ERR_FORMAT, "trailing bytes");
}

static void test_files(void) {
    put(pth("empty.npy"), NULL, 0, NULL, 0);
    expect_status(pth("empty.npy"), FKM_ERR_FORMAT, "empty .npy");
    put(pth("empty.fvecs"), NULL, 0, NULL, 0);
    expect_status(pth("empty.fvecs"), FKM_ERR_FORMAT, "empty .fvecs");
    put(pth("empty-ubyte"), NULL, 0, NULL, 0);
    expect_status(pth("empty-ubyte"), FKM_ERR_FORMAT, "empty IDX");
    expect_status(pth("missing.npy"), FKM_ERR_IO, "missing file");
    mkdir(pth("adir.npy"), 0755);
    expect_status(pth("adir.npy"), FKM_ERR_IO, "directory");
    put(pth("noperm.npy"), "x", 1, NULL, 0);
    chmod(pth("noperm.npy"), 0);
    if (geteuid() != 0) expect_status(pth("noperm.npy"), FKM_ERR_IO, "unreadable");
    put(pth("data.txt"), "1 2 3\n", 6, NULL, 0);
    expect_status(pth("data.txt"), FKM_ERR_FORMAT, "unknown extension");
    /* unknown extension but npy content: sniffed */
    float v[2] = {1, 2};
    mknpy(pth("npy.dat"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", v, sizeof v);
    expect_status(pth("npy.dat"), FKM_OK, "npy sniffed by magic");
    fkm_io_array a;
    CHECK(fkm_io_read(pth("x.raw"), NULL, &a) == FKM_ERR_INVALID_ARG, "raw without options");

    CHECK(fkm_io_guess_format("a/b.NPY") == FKM_FMT_NPY, "npy upper");
    CHECK(fkm_io_guess_format("x.npy.gz") == FKM_FMT_NPY, "npy.gz");
    CHECK(fkm_io_guess_format("train-images-idx3-ubyte.gz") == FKM_FMT_IDX, "mnist name");
    CHECK(fkm_io_guess_format("t10k-labels.idx1-ubyte") == FKM_FMT_IDX, "idx1-ubyte");
    CHECK(fkm_io_guess_format("x.idx3") == FKM_FMT_IDX, ".idx3");
    CHECK(fkm_io_guess_format("x.idx") == FKM_FMT_IDX, ".idx");
    CHECK(fkm_io_guess_format("sift.bvecs") == FKM_FMT_BVECS, "bvecs");
    CHECK(fkm_io_guess_format("gt.ivecs") == FKM_FMT_IVECS, "ivecs");
    CHECK(fkm_io_guess_format("b.fvecs") == FKM_FMT_FVECS, "fvecs");
    CHECK(fkm_io_guess_format("b.bin") == FKM_FMT_RAW && fkm_io_guess_format("b.raw") == FKM_FMT_RAW, "raw");
    CHECK(fkm_io_guess_format("b.csv") == FKM_FMT_UNKNOWN && fkm_io_guess_format("idx") == FKM_FMT_UNKNOWN, "unknown");
}

/* Reading through a pipe (not mappable): the bytes are read once into a buffer. */
static void test_fifo(void) {
    float v[6] = {1, 2, 3, 4, 5, 6};
    mknpy(pth("src.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", v, sizeof v);
    unlink(pth("pipe.npy"));
    if (mkfifo(pth("pipe.npy"), 0600) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        FILE *in = fopen(pth("src.npy"), "rb"), *out = fopen(pth("pipe.npy"), "wb");
        char buf[4096];
        size_t r;
        while ((r = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, r, out);
        fclose(out);
        _exit(0);
    }
    fkm_io_array a;
    CHECK(rd(pth("pipe.npy"), &a) == FKM_OK && a.n == 3 && a.d == 2 && !a.map_ && memcmp(a.data, v, sizeof v) == 0,
          "npy through a fifo: %s", fkm_last_error());
    fkm_io_close(&a);
    waitpid(pid, NULL, 0);
}

/* Writing to a pipe (`--report /dev/stdout | jq`): staged bytes wait until commit; a discarded
 * output sends nothing; a committed one sends exactly the file's bytes. */
static void test_write_stream(void) {
    int fds[2];
    if (pipe(fds) != 0) return;
    char dev[64];
    snprintf(dev, sizeof dev, "/proc/self/fd/%d", fds[1]); /* what /dev/stdout is on a pipe */
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    const char msg[] = "{\"k\": 3}\n";
    char buf[64];
    fkm_io_pending p;
    CHECK(fkm_io_check_writable(dev) == FKM_OK, "check_writable on a pipe: %s", fkm_last_error());
    CHECK(fkm_io_stage_bytes(dev, msg, strlen(msg), &p) == FKM_OK && p.stream, "stage for a pipe: %s", fkm_last_error());
    CHECK(read(fds[0], buf, sizeof buf) < 0 && errno == EAGAIN, "nothing reaches the pipe before commit");
    fkm_io_discard(&p);
    CHECK(read(fds[0], buf, sizeof buf) < 0 && errno == EAGAIN, "nothing reaches the pipe after discard");
    CHECK(fkm_io_stage_bytes(dev, msg, strlen(msg), &p) == FKM_OK, "stage again");
    CHECK(fkm_io_commit(&p) == FKM_OK, "commit to a pipe: %s", fkm_last_error());
    ssize_t r = read(fds[0], buf, sizeof buf);
    CHECK(r == (ssize_t)strlen(msg) && memcmp(buf, msg, (size_t)r) == 0, "the pipe got the bytes once (%zd)", r);
    struct stat sb;
    CHECK(fstat(fds[1], &sb) == 0 && S_ISFIFO(sb.st_mode), "the pipe is still a pipe");
    close(fds[0]);
    close(fds[1]);
}

static void put_le32(unsigned char *p, int32_t v) { memcpy(p, &v, 4); }

static void test_vecs(void) {
    /* 3 rows of d = 4 */
    unsigned char f[3 * (4 + 16)], b[3 * (4 + 4)], iv[3 * (4 + 16)];
    for (int i = 0; i < 3; i++) {
        put_le32(f + i * 20, 4);
        put_le32(b + i * 8, 4);
        put_le32(iv + i * 20, 4);
        for (int j = 0; j < 4; j++) {
            float x = (float)(i * 4 + j) - 5.5f;
            memcpy(f + i * 20 + 4 + j * 4, &x, 4);
            b[i * 8 + 4 + j] = (unsigned char)(250 + i + j - 5);
            put_le32(iv + i * 20 + 4 + j * 4, -(i * 4 + j) * 1000003);
        }
    }
    put(pth("a.fvecs"), f, sizeof f, NULL, 0);
    put(pth("a.bvecs"), b, sizeof b, NULL, 0);
    put(pth("a.ivecs"), iv, sizeof iv, NULL, 0);
    fkm_io_array a;
    CHECK(rd(pth("a.fvecs"), &a) == FKM_OK && a.dtype == FKM_F32 && a.n == 3 && a.d == 4, "fvecs: %s", fkm_last_error());
    for (int i = 0; i < 12 && a.data; i++) CHECK(((const float *)a.data)[i] == (float)i - 5.5f, "fvecs [%d]", i);
    fkm_io_close(&a);
    CHECK(rd(pth("a.bvecs"), &a) == FKM_OK && a.dtype == FKM_U8 && a.n == 3 && a.d == 4, "bvecs: %s", fkm_last_error());
    for (int i = 0; i < 3 && a.data; i++)
        for (int j = 0; j < 4; j++) CHECK(((const uint8_t *)a.data)[i * 4 + j] == 245 + i + j, "bvecs [%d][%d]", i, j);
    fkm_io_close(&a);
    CHECK(rd(pth("a.ivecs"), &a) == FKM_OK && a.dtype == FKM_F64 && a.n == 3 && a.d == 4, "ivecs: %s", fkm_last_error());
    for (int i = 0; i < 12 && a.data; i++) CHECK(((const double *)a.data)[i] == -(double)i * 1000003, "ivecs [%d]", i);
    fkm_io_close(&a);
    /* a single row is used in place (no header in between) */
    put(pth("one.fvecs"), f, 20, NULL, 0);
    CHECK(rd(pth("one.fvecs"), &a) == FKM_OK && a.n == 1 && a.map_, "one-row fvecs mapped");
    fkm_io_close(&a);

    put(pth("t.fvecs"), f, sizeof f - 3, NULL, 0);
    expect_status(pth("t.fvecs"), FKM_ERR_FORMAT, "truncated fvecs");
    put(pth("t.bvecs"), b, sizeof b - 1, NULL, 0);
    expect_status(pth("t.bvecs"), FKM_ERR_FORMAT, "truncated bvecs");
    put(pth("t2.fvecs"), f, 2, NULL, 0);
    expect_status(pth("t2.fvecs"), FKM_ERR_FORMAT, "2-byte fvecs");
    unsigned char g[sizeof f];
    memcpy(g, f, sizeof f);
    put_le32(g + 20, 3); /* row 1 lies about its dimension */
    put(pth("lie.fvecs"), g, sizeof g, NULL, 0);
    expect_status(pth("lie.fvecs"), FKM_ERR_FORMAT, "inconsistent dims");
    CHECK(strstr(fkm_last_error(), "row 1") != NULL, "message names the row: %s", fkm_last_error());
    memcpy(g, f, sizeof f);
    put_le32(g, 0);
    put(pth("zero.fvecs"), g, sizeof g, NULL, 0);
    expect_status(pth("zero.fvecs"), FKM_ERR_FORMAT, "d = 0");
    put_le32(g, -7);
    put(pth("neg.fvecs"), g, sizeof g, NULL, 0);
    expect_status(pth("neg.fvecs"), FKM_ERR_FORMAT, "d < 0");
    put_le32(g, 0x7fffffff);
    put(pth("huge.ivecs"), g, sizeof g, NULL, 0);
    expect_status(pth("huge.ivecs"), FKM_ERR_FORMAT, "d huge");
}

/* IDX: header + data, big-endian dims */
static size_t mkidx(unsigned char *buf, int type, int ndim, const uint32_t *dims, const void *data, size_t bytes) {
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[4 + 4 * i] = dims[i] >> 24; buf[5 + 4 * i] = (dims[i] >> 16) & 0xff;
        buf[6 + 4 * i] = (dims[i] >> 8) & 0xff; buf[7 + 4 * i] = dims[i] & 0xff;
    }
    memcpy(buf + 4 + 4 * ndim, data, bytes);
    return 4 + 4 * (size_t)ndim + bytes;
}

static void test_idx(void) {
    unsigned char img[5 * 28 * 28], buf[8192];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (unsigned char)(i * 7);
    uint32_t dims[3] = {5, 28, 28};
    size_t len = mkidx(buf, 0x08, 3, dims, img, sizeof img);
    put(pth("img-idx3-ubyte"), buf, len, NULL, 0);
    fkm_io_array a;
    CHECK(rd(pth("img-idx3-ubyte"), &a) == FKM_OK && a.dtype == FKM_U8 && a.n == 5 && a.d == 784 && a.map_,
          "idx3 ubyte: %s", fkm_last_error());
    CHECK(a.data && memcmp(a.data, img, sizeof img) == 0, "idx3 data");
    fkm_io_close(&a);
    unsigned char lab[5] = {9, 0, 3, 3, 1};
    uint32_t d1[1] = {5};
    size_t llen = mkidx(buf, 0x08, 1, d1, lab, 5);
    put(pth("lab.idx1-ubyte"), buf, llen, NULL, 0);
    int64_t *l = NULL, n = 0;
    CHECK(fkm_io_read_labels(pth("lab.idx1-ubyte"), NULL, &l, &n) == FKM_OK && n == 5 && l[0] == 9 && l[4] == 1, "idx1 labels");
    fkm_free(l);
    /* big-endian element types */
    unsigned char be[4 * 8];
    uint32_t d2[2] = {2, 2};
    float fv[4] = {1.5f, -2.0f, 3e30f, 0.0f};
    for (int i = 0; i < 4; i++) { uint32_t u; memcpy(&u, &fv[i], 4); for (int b = 0; b < 4; b++) be[i * 4 + b] = (u >> (24 - 8 * b)) & 0xff; }
    put(pth("f.idx"), buf, mkidx(buf, 0x0D, 2, d2, be, 16), NULL, 0);
    CHECK(rd(pth("f.idx"), &a) == FKM_OK && a.dtype == FKM_F32 && a.n == 2 && a.d == 2 && memcmp(a.data, fv, 16) == 0, "idx f32 BE");
    fkm_io_close(&a);
    double dv[4] = {1.25, -1e200, 7, 0};
    for (int i = 0; i < 4; i++) { uint64_t u; memcpy(&u, &dv[i], 8); for (int b = 0; b < 8; b++) be[i * 8 + b] = (u >> (56 - 8 * b)) & 0xff; }
    put(pth("d.idx"), buf, mkidx(buf, 0x0E, 2, d2, be, 32), NULL, 0);
    CHECK(rd(pth("d.idx"), &a) == FKM_OK && a.dtype == FKM_F64 && memcmp(a.data, dv, 32) == 0, "idx f64 BE");
    fkm_io_close(&a);
    unsigned char iv[16] = {0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0, 0x7f, 0xff, 0xff, 0xff, 0x80, 0, 0, 0};
    put(pth("i.idx"), buf, mkidx(buf, 0x0C, 2, d2, iv, 16), NULL, 0);
    CHECK(rd(pth("i.idx"), &a) == FKM_OK && a.dtype == FKM_F64, "idx i32 BE");
    if (a.data) {
        const double *x = (const double *)a.data;
        CHECK(x[0] == -2 && x[1] == 256 && x[2] == 2147483647.0 && x[3] == -2147483648.0, "idx i32 values %g %g %g %g", x[0], x[1], x[2], x[3]);
    }
    fkm_io_close(&a);
    unsigned char sv[8] = {0xff, 0xfd, 0x01, 0x00, 0x00, 0x05, 0x80, 0x00};
    put(pth("s.idx"), buf, mkidx(buf, 0x0B, 2, d2, sv, 8), NULL, 0);
    CHECK(rd(pth("s.idx"), &a) == FKM_OK && ((const double *)a.data)[0] == -3 && ((const double *)a.data)[1] == 256 &&
          ((const double *)a.data)[3] == -32768, "idx i16 BE");
    fkm_io_close(&a);
    unsigned char sb[4] = {0xff, 0x80, 0x7f, 0};
    put(pth("sb.idx"), buf, mkidx(buf, 0x09, 2, d2, sb, 4), NULL, 0);
    CHECK(rd(pth("sb.idx"), &a) == FKM_OK && ((const double *)a.data)[0] == -1 && ((const double *)a.data)[1] == -128, "idx sbyte");
    fkm_io_close(&a);

    /* malformed */
    put(pth("t-ubyte"), buf, 3, NULL, 0);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "3-byte IDX");
    len = mkidx(buf, 0x08, 3, dims, img, sizeof img);
    for (size_t cut = 4; cut < 16; cut++) {
        put(pth("t-ubyte"), buf, cut, NULL, 0);
        expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "truncated IDX header");
    }
    put(pth("t-ubyte"), buf, len - 1, NULL, 0);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "truncated IDX data");
    put(pth("t-ubyte"), buf, len, "z", 1);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "IDX trailing bytes");
    uint32_t lie[3] = {6, 28, 28};
    put(pth("t-ubyte"), buf, mkidx(buf, 0x08, 3, lie, img, sizeof img), NULL, 0);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "IDX lying count");
    uint32_t big[3] = {0xffffffff, 0xffffffff, 0xffffffff};
    put(pth("t-ubyte"), buf, mkidx(buf, 0x08, 3, big, img, 16), NULL, 0);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "IDX overflow");
    len = mkidx(buf, 0x08, 3, dims, img, sizeof img);
    buf[2] = 0x07;
    put(pth("t-ubyte"), buf, len, NULL, 0);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "IDX unknown type");
    buf[2] = 0x08; buf[0] = 1;
    put(pth("t-ubyte"), buf, len, NULL, 0);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "IDX wrong magic");
    buf[0] = 0; buf[3] = 0;
    put(pth("t-ubyte"), buf, len, NULL, 0);
    expect_status(pth("t-ubyte"), FKM_ERR_FORMAT, "IDX 0 dims");
}

#ifdef HAVE_ZLIB_H
static void gz_put(const char *path, const void *data, size_t len, int members) {
    FILE *f = fopen(path, "wb");
    for (int m = 0; m < members; m++) {
        size_t a = len * (size_t)m / (size_t)members, b = len * (size_t)(m + 1) / (size_t)members;
        z_stream z;
        memset(&z, 0, sizeof z);
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        unsigned char out[65536];
        z.next_in = (Bytef *)data + a;
        z.avail_in = (uInt)(b - a);
        int r;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            r = deflate(&z, Z_FINISH);
            fwrite(out, 1, sizeof out - z.avail_out, f);
        } while (r != Z_STREAM_END);
        deflateEnd(&z);
    }
    fclose(f);
}

static void test_gzip(void) {
    unsigned char img[3 * 28 * 28], buf[8192];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (unsigned char)(i * 13 + 1);
    uint32_t dims[3] = {3, 28, 28};
    size_t len = mkidx(buf, 0x08, 3, dims, img, sizeof img);
    for (int members = 1; members <= 3; members++) {
        gz_put(pth("g-idx3-ubyte.gz"), buf, len, members);
        fkm_io_array a;
        CHECK(rd(pth("g-idx3-ubyte.gz"), &a) == FKM_OK && a.n == 3 && a.d == 784 && memcmp(a.data, img, sizeof img) == 0,
              "gzip IDX with %d member(s): %s", members, fkm_last_error());
        fkm_io_close(&a);
    }
    float v[6] = {1, 2, 3, 4, 5, 6};
    mknpy(pth("plain.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v);
    FILE *f = fopen(pth("plain.npy"), "rb");
    unsigned char nb[256];
    size_t nl = fread(nb, 1, sizeof nb, f);
    fclose(f);
    gz_put(pth("c.npy.gz"), nb, nl, 1);
    fkm_io_array a;
    CHECK(rd(pth("c.npy.gz"), &a) == FKM_OK && a.n == 2 && a.d == 3 && memcmp(a.data, v, sizeof v) == 0, "npy.gz");
    fkm_io_close(&a);

    gz_put(pth("g-idx3-ubyte.gz"), buf, len, 1);
    f = fopen(pth("g-idx3-ubyte.gz"), "rb");
    unsigned char gz[16384];
    size_t gl = fread(gz, 1, sizeof gz, f);
    fclose(f);
    for (size_t cut = 2; cut < gl; cut += gl / 7 + 1) {
        put(pth("cut-ubyte.gz"), gz, cut, NULL, 0);
        expect_status(pth("cut-ubyte.gz"), FKM_ERR_FORMAT, "truncated gzip");
    }
    put(pth("cut-ubyte.gz"), gz, gl - 1, NULL, 0);
    expect_status(pth("cut-ubyte.gz"), FKM_ERR_FORMAT, "gzip missing last trailer byte");
    gz[gl / 2] ^= 0x5a;
    gz[gl / 2 + 1] ^= 0xa5;
    put(pth("bad-ubyte.gz"), gz, gl, NULL, 0);
    expect_status(pth("bad-ubyte.gz"), FKM_ERR_FORMAT, "corrupt gzip");
    gz[gl / 2] ^= 0x5a;
    gz[gl / 2 + 1] ^= 0xa5;
    put(pth("junk-ubyte.gz"), gz, gl, "junk", 4);
    expect_status(pth("junk-ubyte.gz"), FKM_ERR_FORMAT, "gzip trailing garbage");
    /* a gzip whose content is itself a truncated IDX file */
    gz_put(pth("inner-ubyte.gz"), buf, len - 10, 1);
    expect_status(pth("inner-ubyte.gz"), FKM_ERR_FORMAT, "gzip of a truncated IDX");
}
#endif

static void test_raw(void) {
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i / 3;
    put(pth("r.raw"), v, sizeof v, NULL, 0);
    fkm_io_read_opts o = {FKM_FMT_UNKNOWN, 4, FKM_F32};
    fkm_io_array a;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_OK && a.n == 3 && a.d == 4 && a.map_ && memcmp(a.data, v, sizeof v) == 0, "raw f32");
    fkm_io_close(&a);
    o.raw_d = 6; o.raw_dtype = FKM_F64;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_OK && a.n == 1 && a.d == 6 && a.dtype == FKM_F64, "raw f64");
    fkm_io_close(&a);
    o.raw_d = 3; o.raw_dtype = FKM_BF16;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_OK && a.n == 8 && a.dtype == FKM_BF16, "raw bf16");
    fkm_io_close(&a);
    o.raw_d = 8; o.raw_dtype = FKM_F16;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_OK && a.n == 3 && a.dtype == FKM_F16, "raw f16");
    fkm_io_close(&a);
    o.raw_d = 48; o.raw_dtype = FKM_U8;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_OK && a.n == 1 && a.dtype == FKM_U8, "raw u8");
    fkm_io_close(&a);
    o.raw_d = 5; o.raw_dtype = FKM_F32;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_ERR_FORMAT, "raw size not a multiple of a row");
    o.raw_d = 0;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_ERR_INVALID_ARG, "raw d = 0");
    o.raw_d = 4; o.raw_dtype = (fkm_dtype)42;
    CHECK(fkm_io_read(pth("r.raw"), &o, &a) == FKM_ERR_INVALID_ARG, "raw bad dtype");
    /* explicit format overrides the name */
    o.format = FKM_FMT_RAW; o.raw_d = 4; o.raw_dtype = FKM_F32;
    put(pth("r.dat"), v, sizeof v, NULL, 0);
    CHECK(fkm_io_read(pth("r.dat"), &o, &a) == FKM_OK && a.n == 3, "forced raw");
    fkm_io_close(&a);
}

static int count_temps(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int same_file(const char *path, const void *want, size_t len) {
    unsigned char buf[4096];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t r = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return r == len && memcmp(buf, want, len) == 0;
}

static void test_atomic(void) {
    const char *keep = "precious old content";
    put(pth("out.npy"), keep, strlen(keep), NULL, 0);
    CHECK(count_temps() == 0, "no temp files to begin with");
    /* a write that fails part-way (file size limit -> EFBIG) leaves the old file and no temp */
    static float big[1 << 16];
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        fkm_status st = fkm_io_write_npy(pth("out.npy"), big, FKM_NPY_F4, 2, 1 << 10, 1 << 6);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(st == FKM_ERR_IO, "write past the file size limit: status %d (%s)", st, fkm_last_error());
        CHECK(strstr(fkm_last_error(), "out.npy") != NULL, "message names the file: %s", fkm_last_error());
        CHECK(same_file(pth("out.npy"), keep, strlen(keep)), "failed write modified the destination");
        CHECK(count_temps() == 0, "failed write left a temp file");
    }
    /* staged but discarded */
    fkm_io_pending p;
    CHECK(fkm_io_stage_npy(pth("out.npy"), big, FKM_NPY_F4, 2, 4, 4, &p) == FKM_OK, "stage");
    CHECK(count_temps() == 1 && same_file(pth("out.npy"), keep, strlen(keep)), "staging must not touch the destination");
    fkm_io_discard(&p);
    CHECK(count_temps() == 0 && same_file(pth("out.npy"), keep, strlen(keep)), "discard");
    /* destination is a directory; directory missing */
    mkdir(pth("isdir.npy"), 0755);
    CHECK(fkm_io_write_npy(pth("isdir.npy"), big, FKM_NPY_F4, 2, 4, 4) == FKM_ERR_IO, "dest is a dir");
    CHECK(fkm_io_write_npy(pth("nodir/x.npy"), big, FKM_NPY_F4, 2, 4, 4) == FKM_ERR_IO, "dir missing");
    CHECK(fkm_io_write_npy(pth("trail/"), big, FKM_NPY_F4, 2, 4, 4) == FKM_ERR_IO, "trailing slash");
    /* a device is written into at commit, never renamed over */
    CHECK(fkm_io_write_npy("/dev/null", big, FKM_NPY_F4, 2, 4, 4) == FKM_OK, "write into /dev/null: %s", fkm_last_error());
    CHECK(fkm_io_check_writable("/dev/null") == FKM_OK, "check_writable on a device: %s", fkm_last_error());
    CHECK(count_temps() == 0, "no temporary file beside a stream's name");
    struct stat dn;
    CHECK(stat("/dev/null", &dn) == 0 && S_ISCHR(dn.st_mode), "/dev/null is still a device");
    /* a symbolic link: its target is replaced, the link stays */
    put(pth("target.npy"), keep, strlen(keep), NULL, 0);
    if (symlink("target.npy", pth("link.npy")) == 0) {
        CHECK(fkm_io_write_npy(pth("link.npy"), big, FKM_NPY_F4, 2, 4, 4) == FKM_OK, "write through a symlink: %s", fkm_last_error());
        struct stat ls;
        CHECK(lstat(pth("link.npy"), &ls) == 0 && S_ISLNK(ls.st_mode), "the link is still a link");
        CHECK(!same_file(pth("target.npy"), keep, strlen(keep)), "the target was replaced");
        CHECK(symlink("missing-target.npy", pth("dangling.npy")) == 0 &&
              fkm_io_write_npy(pth("dangling.npy"), big, FKM_NPY_F4, 2, 4, 4) == FKM_ERR_IO, "dangling link");
        unlink(pth("link.npy")); unlink(pth("target.npy")); unlink(pth("dangling.npy"));
    }
    CHECK(count_temps() == 0, "temp files left after failures");
    CHECK(fkm_io_check_writable(pth("fine.npy")) == FKM_OK, "check_writable ok: %s", fkm_last_error());
    CHECK(fkm_io_check_writable(pth("isdir.npy")) == FKM_ERR_IO, "check_writable dir");
    CHECK(fkm_io_check_writable(pth("nodir/x.npy")) == FKM_ERR_IO, "check_writable missing dir");
    CHECK(access(pth("fine.npy"), F_OK) != 0 && count_temps() == 0, "check_writable left something behind");
    /* a successful write replaces the file; permissions follow the umask */
    CHECK(fkm_io_write_npy(pth("out.npy"), big, FKM_NPY_F4, 2, 4, 4) == FKM_OK, "replace");
    struct stat sb;
    mode_t mask = umask(022);
    umask(mask);
    CHECK(stat(pth("out.npy"), &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~mask), "mode %o", sb.st_mode & 0777);
    fkm_io_array a;
    CHECK(rd(pth("out.npy"), &a) == FKM_OK && a.n == 4 && a.d == 4, "replaced file reads back");
    fkm_io_close(&a);
    /* bytes staging (report files) */
    CHECK(fkm_io_stage_bytes(pth("r.json"), "{}\n", 3, &p) == FKM_OK && fkm_io_commit(&p) == FKM_OK, "stage bytes");
    CHECK(same_file(pth("r.json"), "{}\n", 3), "bytes content");
    /* relative path in the current directory */
    char cwd[512];
    if (getcwd(cwd, sizeof cwd) && chdir(dir) == 0) {
        CHECK(fkm_io_write_npy("rel.npy", big, FKM_NPY_I4, 1, 3, 1) == FKM_OK, "relative path: %s", fkm_last_error());
        CHECK(access("rel.npy", F_OK) == 0, "relative output exists");
        if (chdir(cwd) != 0) perror("chdir");
    }
}

static void test_fashion_mnist(void) {
    const char *img = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    const char *lab = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
    if (access(img, R_OK) != 0) {
        printf("(Fashion-MNIST not installed: skipping the real-file check)\n");
        return;
    }
    fkm_io_array a;
    CHECK(rd(img, &a) == FKM_OK && a.n == 60000 && a.d == 784 && a.dtype == FKM_U8, "fashion-mnist: %s", fkm_last_error());
    fkm_io_close(&a);
    int64_t *l = NULL, n = 0;
    CHECK(fkm_io_read_labels(lab, NULL, &l, &n) == FKM_OK && n == 60000, "fashion-mnist labels: %s", fkm_last_error());
    int64_t hist[10] = {0}, bad = 0;
    for (int64_t i = 0; i < n; i++) (l[i] >= 0 && l[i] < 10) ? hist[l[i]]++ : bad++;
    CHECK(bad == 0 && hist[0] == 6000 && hist[9] == 6000, "label histogram");
    fkm_free(l);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/fkm_test_io.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) SKIP_ALL("cannot create a temporary directory");
    test_npy_write_roundtrip();
    test_vecs_write_roundtrip();
    test_npy_versions_dtypes();
    test_npy_fortran();
    test_npy_bad();
    test_files();
    test_fifo();
    test_write_stream();
    test_vecs();
    test_idx();
#ifdef HAVE_ZLIB_H
    test_gzip();
#endif
    test_raw();
    test_atomic();
    test_fashion_mnist();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
