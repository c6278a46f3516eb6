/* fuzz_io_common.h -- the body shared by the file-reader targets (fuzz_npy/vecs/idx/raw.c).
 *
 * The input becomes an in-memory file (memfd), read through fkm_io_read with the format forced,
 * via /proc/self/fd/N: the real path of a user's file, mmap and the gzip detection included.
 * Invariants: a known status with a one-line message; on success a consistent array whose every
 * element can be read (ASan checks the bounds of an in-place mapping), fkm_io_to_f32 and
 * fkm_io_read_labels do not crash, and a tiny fit on what was read returns a known status. */
#ifndef FKM_FUZZ_IO_COMMON_H
#define FKM_FUZZ_IO_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include "fuzz_common.h"
#include "internal.h" /* fkm_free */
#include "io/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void fuzz_io_fit(const fkm_io_array *a) {
    if (a->n < 2 || a->d < 1 || a->n * a->d > 4096) return;
    fkm_params p;
    fkm_params_default(&p);
    p.k = 2; p.max_iter = 2; p.device = FKM_DEVICE_CPU; p.threads = 1;
    fkm_matrix m = {a->data, a->dtype, a->n, a->d, NULL};
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    fuzz_check_status(st);
    if (st == FKM_OK) fuzz_check_result(&r, p.metric);
    fkm_result_free(&r);
}

static int fuzz_io_run(const uint8_t *buf, size_t len, fkm_io_format fmt, int64_t raw_d, fkm_dtype raw_t) {
    int fd = memfd_create("fkm-fuzz", 0);
    if (fd < 0) return 0;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w <= 0) { close(fd); return 0; }
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    fkm_io_read_opts o = {fmt, raw_d, raw_t};
    fkm_io_array a;
    memset(&a, 0x5A, sizeof a);
    fkm_status st = fkm_io_read(path, &o, &a);
    fuzz_check_status(st);
    if (st == FKM_OK) {
        FUZZ_REQUIRE(a.n >= 0 && a.d >= 1 && fkm_dtype_size(a.dtype) > 0);
        const size_t bytes = (size_t)a.n * (size_t)a.d * fkm_dtype_size(a.dtype);
        FUZZ_REQUIRE(bytes == 0 || a.data != NULL);
        /* gzip can expand, the rest cannot hold more elements than bytes */
        unsigned sum = 0;
        for (size_t i = 0; i < bytes; i++) sum += ((const uint8_t *)a.data)[i];
        (void)sum;
        float *f = NULL;
        fkm_status s2 = fkm_io_to_f32(&a, &f);
        fuzz_check_status(s2);
        fkm_free(f);
        fuzz_io_fit(&a);
        fkm_io_close(&a);
        FUZZ_REQUIRE(a.data == NULL && a.n == 0);
    } else {
        FUZZ_REQUIRE(a.data == NULL && a.n == 0 && a.d == 0); /* zeroed on failure */
    }
    int64_t *lab = NULL, nl = 0;
    st = fkm_io_read_labels(path, &o, &lab, &nl);
    fuzz_check_status(st);
    FUZZ_REQUIRE(st == FKM_OK ? nl >= 0 && (nl == 0 || lab != NULL) : lab == NULL);
    fkm_free(lab);
    close(fd);
    return 0;
}
#endif
