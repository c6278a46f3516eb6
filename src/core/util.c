/* util.c -- status text, per-thread last error, aligned allocation, clock, logging, RNG. */
#define _POSIX_C_SOURCE 200809L
#include "../internal.h"
#include "../fault.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char last_error[512];

const char *fkm_status_str(fkm_status s) {
    switch (s) {
    case FKM_OK: return "ok";
    case FKM_ERR_INVALID_ARG: return "invalid argument";
    case FKM_ERR_BAD_INPUT: return "bad input data";
    case FKM_ERR_NO_MEMORY: return "out of memory";
    case FKM_ERR_IO: return "i/o error";
    case FKM_ERR_FORMAT: return "bad file format";
    case FKM_ERR_NO_CUDA: return "CUDA not available";
    case FKM_ERR_CUDA: return "CUDA error";
    case FKM_ERR_CANCELLED: return "cancelled";
    case FKM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *fkm_last_error(void) { return last_error; }
const char *fkm_version(void) { return "0.1.0"; }
void fkm_clear_error(void) { last_error[0] = '\0'; }

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there are not one. */
static int utf8_len(const unsigned char *p) {
    int n = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (p[0] >= 0xF8) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* The message is one printable line whatever a file or a caller put into it: control bytes
 * (newlines included) and invalid UTF-8 become '?'. */
static void sanitize_line(char *m) {
    unsigned char *p = (unsigned char *)m;
    while (*p) {
        if (*p < 0x20 || *p == 0x7F) {
            *p++ = '?';
        } else if (*p < 0x80) {
            p++;
        } else {
            int n = utf8_len(p);
            if (n == 0) *p++ = '?';
            else p += n;
        }
    }
}

/* The file:line is kept out of the user-facing text (it is for bug reports at debug level). */
fkm_status fkm_set_error(fkm_status s, const char *file, int line, const char *fmt, ...) {
    (void)file;
    (void)line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    sanitize_line(last_error);
    return s;
}

void *fkm_alloc(size_t count, size_t elem) {
    if (elem && count > SIZE_MAX / elem) return NULL;
    size_t bytes = count * elem;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    void *p = NULL;
    if (fkm_fault_hit(FKM_FAULT_HOST_ALLOC)) return NULL; /* test hook (src/fault.h) */
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

void *fkm_calloc(size_t count, size_t elem) {
    void *p = fkm_alloc(count, elem);
    if (p) memset(p, 0, count * elem);
    return p;
}

void fkm_free(void *p) { free(p); }

char *fkm_strdup(const char *s) {
    const size_t n = strlen(s) + 1;
    char *p = (char *)fkm_alloc(n, 1);
    if (p) memcpy(p, s, n);
    return p;
}

double fkm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void fkm_log(const fkm_params *p, fkm_log_level level, const char *fmt, ...) {
    if (!p || !p->log_fn || p->verbose < (int)level) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->log_fn(level, buf, p->log_user);
}

void fkm_rng_init(fkm_rng *r, uint64_t seed, uint64_t stream) {
    r->s = seed * 0x9E3779B97F4A7C15ull ^ (stream + 0x632BE59BD9B4E019ull) * 0xD1B54A32D192ED03ull;
}

uint64_t fkm_rng_next(fkm_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double fkm_rng_uniform(fkm_rng *r) { return (fkm_rng_next(r) >> 11) * 0x1.0p-53; }

size_t fkm_dtype_size(fkm_dtype t) {
    switch (t) {
    case FKM_F32: return 4;
    case FKM_F64: return 8;
    case FKM_F16: return 2;
    case FKM_BF16: return 2;
    case FKM_U8: return 1;
    }
    return 0;
}

const char *fkm_device_str(fkm_device d) {
    switch (d) {
    case FKM_DEVICE_AUTO: return "auto";
    case FKM_DEVICE_CPU: return "cpu";
    case FKM_DEVICE_CUDA: return "cuda";
    }
    return "unknown";
}

const char *fkm_precision_str(fkm_precision p) {
    switch (p) {
    case FKM_PREC_AUTO: return "auto";
    case FKM_PREC_EXACT: return "exact";
    case FKM_PREC_TF32: return "tf32";
    case FKM_PREC_FP16: return "fp16";
    case FKM_PREC_BF16: return "bf16";
    }
    return "unknown";
}

const char *fkm_stop_reason_str(fkm_stop_reason r) {
    switch (r) {
    case FKM_STOPPED_CONVERGED: return "converged";
    case FKM_STOPPED_MAX_ITER: return "max_iter";
    case FKM_STOPPED_CANCELLED: return "cancelled";
    }
    return "unknown";
}

const char *fkm_metric_str(fkm_metric m) {
    switch (m) {
    case FKM_METRIC_L2: return "l2";
    case FKM_METRIC_COSINE: return "cosine";
    case FKM_METRIC_IP: return "ip";
    }
    return "unknown";
}
