/* error.c -- the per-thread last error (fkm_last_error) and the status texts: the error half of
 * the base layer under the core and every engine (src/internal.h). */
#include "../internal.h"

#include <stdarg.h>
#include <stdio.h>

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

