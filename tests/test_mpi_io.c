/* test_mpi_io.c -- fkm_io_read_part, the row-range reader behind `mpirun ... flashkmeans fit`:
 * for every format, the parts 0..P-1 of a file put end to end are exactly the whole file, with
 * row0/total_n right, for P = 1..6 (including parts with no row when N < P); gzip, non-regular
 * files and Fortran-order .npy are refused with P > 1 and read normally with P = 1. Needs no
 * MPI: it runs in every build. */
#include "check.h"
#include "io/io.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/fkm_mpi_io_XXXXXX";

static void put(const char *name, const void *buf, size_t len, char *path) {
    snprintf(path, 256, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
}

/* Read `path` whole and in P parts; compare the concatenation byte for byte. */
static void parts_equal(const char *path, const fkm_io_read_opts *o, int maxp) {
    fkm_io_array all;
    fkm_status st = fkm_io_read(path, o, &all);
    CHECK(st == FKM_OK, "%s: %s", path, fkm_last_error());
    if (st != FKM_OK) return;
    CHECK(all.row0 == 0 && all.total_n == all.n, "%s: whole read row0 %lld total %lld", path, (long long)all.row0,
          (long long)all.total_n);
    const size_t row = (size_t)all.d * fkm_dtype_size(all.dtype);
    for (int P = 1; P <= maxp; P++) {
        int64_t next = 0;
        for (int q = 0; q < P; q++) {
            fkm_io_array a;
            st = fkm_io_read_part(path, o, q, P, &a);
            CHECK(st == FKM_OK, "%s part %d/%d: %s", path, q, P, fkm_last_error());
            if (st != FKM_OK) continue;
            CHECK(a.row0 == next && a.total_n == all.n && a.d == all.d && a.dtype == all.dtype,
                  "%s part %d/%d: row0 %lld (want %lld) total %lld d %lld", path, q, P, (long long)a.row0,
                  (long long)next, (long long)a.total_n, (long long)a.d);
            CHECK(a.n == all.n * (q + 1) / P - all.n * q / P, "%s part %d/%d: %lld rows", path, q, P, (long long)a.n);
            CHECK(a.n == 0 || !memcmp(a.data, (const char *)all.data + (size_t)a.row0 * row, (size_t)a.n * row),
                  "%s part %d/%d: bytes differ", path, q, P);
            next += a.n;
            fkm_io_close(&a);
        }
        CHECK(next == all.n, "%s: %d parts hold %lld rows of %lld", path, P, (long long)next, (long long)all.n);
    }
    fkm_io_close(&all);
}

static void refused(const char *path, const char *what) {
    fkm_io_array a;
    fkm_status st = fkm_io_read_part(path, NULL, 1, 2, &a);
    CHECK(st == FKM_ERR_FORMAT && strstr(fkm_last_error(), what), "%s: status %d '%s'", path, (int)st, fkm_last_error());
    CHECK(a.data == NULL && a.n == 0, "%s: refused read leaves a zeroed array", path);
    st = fkm_io_read_part(path, NULL, 0, 1, &a);
    CHECK(st == FKM_OK, "%s: one part is the whole file: %s", path, fkm_last_error());
    fkm_io_close(&a);
}

int main(void) {
    if (!mkdtemp(dir)) SKIP_ALL("cannot create a temporary directory");
    char path[256];
    enum { N = 23, D = 5 };
    float x[N * D];
    double x64[N * D];
    uint8_t u8[N * D];
    for (int i = 0; i < N * D; i++) {
        x[i] = (float)i * 0.5f - 7.0f;
        x64[i] = x[i];
        u8[i] = (uint8_t)(i * 7);
    }
    snprintf(path, sizeof path, "%s/f32.npy", dir);
    CHECK(fkm_io_write_npy(path, x, FKM_NPY_F4, 2, N, D) == FKM_OK, "write f32.npy");
    parts_equal(path, NULL, 6);
    snprintf(path, sizeof path, "%s/f64.npy", dir);
    CHECK(fkm_io_write_npy(path, x64, FKM_NPY_F8, 2, N, D) == FKM_OK, "write f64.npy");
    parts_equal(path, NULL, 6);
    snprintf(path, sizeof path, "%s/tiny.npy", dir); /* 3 rows in up to 6 parts: empty parts */
    CHECK(fkm_io_write_npy(path, x, FKM_NPY_F4, 2, 3, D) == FKM_OK, "write tiny.npy");
    parts_equal(path, NULL, 6);
    snprintf(path, sizeof path, "%s/one.npy", dir); /* 1-D: n x 1 */
    CHECK(fkm_io_write_npy(path, x, FKM_NPY_F4, 1, N, 1) == FKM_OK, "write one.npy");
    parts_equal(path, NULL, 6);

    uint8_t vec[N * (4 + D * 4)], bvec[N * (4 + D)];
    for (int i = 0; i < N; i++) {
        int32_t d = D;
        memcpy(vec + i * (4 + D * 4), &d, 4);
        memcpy(vec + i * (4 + D * 4) + 4, x + i * D, D * 4);
        memcpy(bvec + i * (4 + D), &d, 4);
        memcpy(bvec + i * (4 + D) + 4, u8 + i * D, D);
    }
    put("a.fvecs", vec, sizeof vec, path);
    parts_equal(path, NULL, 6);
    put("a.bvecs", bvec, sizeof bvec, path);
    parts_equal(path, NULL, 6);
    /* a bad row header outside a part is not that part's business; inside it, it is an error */
    int32_t bad = 3;
    memcpy(vec + (N - 1) * (4 + D * 4), &bad, 4);
    put("bad.fvecs", vec, sizeof vec, path);
    fkm_io_array a;
    CHECK(fkm_io_read_part(path, NULL, 0, 2, &a) == FKM_OK, "bad.fvecs part 0: %s", fkm_last_error());
    fkm_io_close(&a);
    CHECK(fkm_io_read_part(path, NULL, 1, 2, &a) == FKM_ERR_FORMAT, "bad.fvecs part 1 must fail");
    CHECK(fkm_io_read(path, NULL, &a) == FKM_ERR_FORMAT, "bad.fvecs whole must fail");

    put("a.raw", x, sizeof x, path);
    fkm_io_read_opts raw = {FKM_FMT_RAW, D, FKM_F32};
    parts_equal(path, &raw, 6);
    uint8_t idx[4 + 8 + N * D] = {0, 0, 8, 2, 0, 0, 0, N, 0, 0, 0, D};
    memcpy(idx + 12, u8, N * D);
    put("a.idx", idx, sizeof idx, path);
    parts_equal(path, NULL, 6);

    /* Fortran order: rows are not contiguous */
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': True, 'shape': (%d, %d), }", N, D);
    while ((10 + hl + 1) % 64) hdr[hl++] = ' ';
    hdr[hl++] = '\n';
    uint8_t fo[10 + 128 + sizeof x];
    memcpy(fo, "\x93NUMPY\x01\x00", 8);
    fo[8] = (uint8_t)hl;
    fo[9] = 0;
    memcpy(fo + 10, hdr, (size_t)hl);
    memcpy(fo + 10 + hl, x, sizeof x);
    put("fortran.npy", fo, 10 + (size_t)hl + sizeof x, path);
    refused(path, "Fortran");
#ifdef FKM_HAVE_ZLIB
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gzip -c %s/f32.npy > %s/f32.npy.gz", dir, dir);
    if (system(cmd) == 0) {
        snprintf(path, sizeof path, "%s/f32.npy.gz", dir);
        refused(path, "gzip");
    }
#endif
    CHECK(fkm_io_read_part(path, NULL, 2, 2, &a) == FKM_ERR_INVALID_ARG, "part 2 of 2 does not exist");
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
