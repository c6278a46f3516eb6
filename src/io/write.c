/* write.c -- atomic output: temp file in the destination's directory, fsync, rename.
 *
 * Why the same directory: rename(2) is atomic only within one file system, and readers of the
 * destination must see either the old file or the complete new one, never a prefix. */
#define _GNU_SOURCE
#include "io_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "<dir>/.<base>.XXXXXX" and the directory part (fkm_alloc'ed: free() releases them, as realpath's). */
static fkm_status temp_name(const char *path, char **tmpl, char **dir) {
    *tmpl = NULL;
    *dir = NULL;
    size_t n = path ? strlen(path) : 0;
    if (n == 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "empty output file name");
    if (path[n - 1] == '/') return FKM_FAIL(FKM_ERR_IO, "cannot write '%s': it names a directory", path);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    *dir = (char *)fkm_alloc(dlen + 2, 1);
    *tmpl = (char *)fkm_alloc(n + 16, 1);
    if (!*dir || !*tmpl) {
        free(*dir);
        free(*tmpl);
        *dir = *tmpl = NULL;
        return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory");
    }
    if (slash) {
        memcpy(*dir, path, dlen ? dlen : 1); /* "/x" -> dir "/" */
        (*dir)[dlen ? dlen : 1] = '\0';
    } else {
        strcpy(*dir, ".");
    }
    snprintf(*tmpl, n + 16, "%.*s.%s.XXXXXX", (int)(slash ? slash + 1 - path : 0), path, base);
    return FKM_OK;
}

/* The file to replace: `path`, or for a symbolic link the file it points to (so that the link
 * survives). Only regular files are replaced: renaming over a device node or a fifo (say
 * /dev/stdout) would replace the node itself. Such a stream (a fifo, a character device such as a
 * terminal or /dev/null, a socket; /dev/stdout on a pipe is a link to one) is written into
 * instead, at commit (*stream = 1). *real is malloc'ed. */
static fkm_status resolve_dest(const char *path, char **real, int *stream) {
    struct stat sb;
    *real = NULL;
    *stream = 0;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if (S_ISDIR(sb.st_mode)) return FKM_FAIL(FKM_ERR_IO, "cannot write '%s': it is a directory, not a file", path);
        if (!S_ISFIFO(sb.st_mode) && !S_ISCHR(sb.st_mode) && !S_ISSOCK(sb.st_mode))
            return FKM_FAIL(FKM_ERR_IO, "cannot write '%s': it is neither a regular file nor a stream", path);
        *stream = 1;
    }
    if (!*stream && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        *real = realpath(path, NULL);
        if (!*real) return FKM_FAIL(FKM_ERR_IO, "cannot write '%s': it is a symbolic link to a missing file", path);
    } else {
        *real = fkm_strdup(path);
        if (!*real) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory");
    }
    return FKM_OK;
}

/* An unnamed temporary file that holds a stream's bytes until commit: nothing reaches the stream
 * unless every output was staged. -1 with errno set on failure. */
static int anon_temp(void) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/.flashkmeans.XXXXXX", dir);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0) unlink(tmpl);
    return fd;
}

static int write_full(int fd, const void *buf, size_t len) {
    const uint8_t *p = (const uint8_t *)buf;
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The bytes of one output: emit writes them all to fd, returns 0, or -1 with errno set. */
typedef int (*emit_fn)(int fd, void *ctx);

typedef struct {
    const void *const *parts;
    const size_t *lens;
    int n;
} parts_ctx;

static int emit_parts(int fd, void *ctx) {
    const parts_ctx *c = (const parts_ctx *)ctx;
    for (int i = 0; i < c->n; i++)
        if (write_full(fd, c->parts[i], c->lens[i]) != 0) return -1;
    return 0;
}

/* Stage what emit writes for `path`. */
static fkm_status stage_with(const char *path, emit_fn emit, void *ctx, fkm_io_pending *pend) {
    fkm_status st = FKM_OK;
    char *tmpl = NULL, *dir = NULL, *real = NULL;
    int fd = -1;
    int stream = 0;
    memset(pend, 0, sizeof *pend);
    FKM_TRY(resolve_dest(path, &real, &stream));
    if (stream) {
        fd = anon_temp();
        if (fd < 0) {
            st = FKM_FAIL(FKM_ERR_IO, "cannot create a temporary file to stage '%s': %s", path, strerror(errno));
        } else if (emit(fd, ctx) != 0) {
            st = FKM_FAIL(FKM_ERR_IO, "cannot stage '%s': %s", path, strerror(errno));
        } else {
            pend->stream = 1;
            pend->fd = fd;
            pend->dst = real;
            fd = -1;
            real = NULL;
        }
        goto cleanup;
    }
    FKM_TRY(temp_name(real, &tmpl, &dir));
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        st = FKM_FAIL(FKM_ERR_IO, "cannot create a file in '%s' to write '%s': %s", dir, path, strerror(errno));
        free(tmpl);
        tmpl = NULL;
        goto cleanup;
    }
    if (emit(fd, ctx) != 0) {
        st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    /* mkstemp makes 0600 files; give outputs the permissions a plain fopen would */
    mode_t mask = umask(022);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || fsync(fd) != 0) {
        st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    int rc = close(fd);
    fd = -1;
    if (rc != 0) {
        st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    pend->tmp = tmpl;
    pend->dst = real;
    tmpl = real = NULL;
cleanup:
    if (fd >= 0) close(fd);
    if (tmpl && st != FKM_OK) unlink(tmpl);
    free(tmpl);
    free(dir);
    free(real);
    return st;
}

/* Stage the concatenation of `parts` for `path`. */
static fkm_status stage_parts(const char *path, const void *const *parts, const size_t *lens, int nparts,
                              fkm_io_pending *pend) {
    parts_ctx c = {parts, lens, nparts};
    return stage_with(path, emit_parts, &c, pend);
}

fkm_status fkm_io_stage_bytes(const char *path, const void *buf, size_t len, fkm_io_pending *p) {
    const void *parts[1] = {buf};
    size_t lens[1] = {len};
    return stage_parts(path, parts, lens, 1, p);
}

static const char *npy_descr(fkm_npy_type t, size_t *esz) {
    switch (t) {
    case FKM_NPY_F4: *esz = 4; return "<f4";
    case FKM_NPY_I4: *esz = 4; return "<i4";
    case FKM_NPY_F8: *esz = 8; return "<f8";
    case FKM_NPY_F2: *esz = 2; return "<f2";
    case FKM_NPY_U1: *esz = 1; return "|u1";
    case FKM_NPY_I8: *esz = 8; return "<i8";
    }
    *esz = 0;
    return NULL;
}

fkm_status fkm_io_stage_npy(const char *path, const void *data, fkm_npy_type t, int ndim, int64_t n,
                            int64_t d, fkm_io_pending *p) {
    size_t esz;
    const char *descr = npy_descr(t, &esz);
    memset(p, 0, sizeof *p);
    if (!descr) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown npy element type %d", (int)t);
    if ((ndim != 1 && ndim != 2) || n < 0 || d < 0 || (ndim == 1 && d != 1))
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "npy writer: bad shape (ndim %d, %lld x %lld)", ndim, (long long)n, (long long)d);
    char hdr[256];
    int len = ndim == 1 ? snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr, (long long)n)
                        : snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }",
                                   descr, (long long)n, (long long)d);
    /* pad with spaces and a final newline so the data starts on a 64-byte boundary */
    size_t total = ((size_t)(10 + len + 1) + 63) / 64 * 64;
    memset(hdr + 10 + len, ' ', total - 10 - (size_t)len);
    hdr[total - 1] = '\n';
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);
    const void *parts[2] = {hdr, data};
    size_t lens[2] = {total, (size_t)n * (size_t)d * esz};
    return stage_parts(path, parts, lens, 2, p);
}

typedef struct {
    const uint8_t *data; /* n rows of 4 d bytes */
    int64_t n, d;
    uint8_t *buf;        /* rows with their headers are gathered here, so that one write carries
                            many rows (labels are rows of one value) */
    size_t cap;
} vecs_ctx;

static int emit_vecs(int fd, void *ctx) {
    const vecs_ctx *v = (const vecs_ctx *)ctx;
    const int32_t dim = (int32_t)v->d;
    const size_t row = 4 * (size_t)v->d, rec = 4 + row;
    size_t fill = 0;
    for (int64_t i = 0; i < v->n; i++) {
        const uint8_t *src = v->data + (size_t)i * row;
        if (rec > v->cap) { /* a row larger than the buffer: its header, then the row where it is */
            if (write_full(fd, &dim, 4) != 0 || write_full(fd, src, row) != 0) return -1;
            continue;
        }
        if (fill + rec > v->cap) {
            if (write_full(fd, v->buf, fill) != 0) return -1;
            fill = 0;
        }
        memcpy(v->buf + fill, &dim, 4);
        memcpy(v->buf + fill + 4, src, row);
        fill += rec;
    }
    return fill ? write_full(fd, v->buf, fill) : 0;
}

fkm_status fkm_io_stage_vecs(const char *path, const void *data, fkm_io_format f, int64_t n, int64_t d,
                             fkm_io_pending *p) {
    memset(p, 0, sizeof *p);
    if (f != FKM_FMT_FVECS && f != FKM_FMT_IVECS)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "vecs writer: format %s is not fvecs or ivecs", fkm_io_format_str(f));
    /* each row declares its d as an int32 */
    if (n < 0 || d < 1 || d > INT32_MAX)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "vecs writer: bad shape %lld x %lld (d must be in [1, 2^31))",
                        (long long)n, (long long)d);
    vecs_ctx v = {(const uint8_t *)data, n, d, NULL, (size_t)1 << 20};
    v.buf = (uint8_t *)fkm_alloc(v.cap, 1);
    if (!v.buf) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of memory writing '%s'", path);
    fkm_status st = stage_with(path, emit_vecs, &v, p);
    free(v.buf);
    return st;
}

/* A stream's bytes, copied from its staged unnamed file into the stream. */
static fkm_status commit_stream(fkm_io_pending *p) {
    fkm_status st = FKM_OK;
    int out = open(p->dst, O_WRONLY | O_CLOEXEC);
    if (out < 0 || lseek(p->fd, 0, SEEK_SET) != 0) {
        st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", p->dst, strerror(errno));
    } else {
        char buf[1 << 16];
        for (;;) {
            ssize_t r = read(p->fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 || (r > 0 && write_full(out, buf, (size_t)r) != 0)) {
                st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", p->dst, strerror(errno));
                break;
            }
            if (r == 0) break;
        }
    }
    if (out >= 0 && close(out) != 0 && st == FKM_OK)
        st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", p->dst, strerror(errno));
    fkm_io_discard(p);
    return st;
}

fkm_status fkm_io_commit(fkm_io_pending *p) {
    fkm_status st = FKM_OK;
    if (p->stream) return commit_stream(p);
    if (!p->tmp) return FKM_FAIL(FKM_ERR_INTERNAL, "commit of an output that was not staged");
    if (rename(p->tmp, p->dst) != 0) {
        st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", p->dst, strerror(errno));
        fkm_io_discard(p);
        return st;
    }
    /* make the rename itself durable (best effort: some file systems refuse fsync on dirs) */
    char *tmpl = NULL, *dir = NULL;
    if (temp_name(p->dst, &tmpl, &dir) == FKM_OK) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    free(tmpl);
    free(dir);
    free(p->tmp);
    free(p->dst);
    memset(p, 0, sizeof *p);
    return FKM_OK;
}

void fkm_io_discard(fkm_io_pending *p) {
    if (!p) return;
    if (p->stream) close(p->fd);
    if (p->tmp) unlink(p->tmp);
    free(p->tmp);
    free(p->dst);
    memset(p, 0, sizeof *p);
}

fkm_status fkm_io_write_npy(const char *path, const void *data, fkm_npy_type t, int ndim, int64_t n, int64_t d) {
    fkm_io_pending p;
    fkm_status st = fkm_io_stage_npy(path, data, t, ndim, n, d, &p);
    return st != FKM_OK ? st : fkm_io_commit(&p);
}

fkm_status fkm_io_check_writable(const char *path) {
    fkm_status st = FKM_OK;
    char *tmpl = NULL, *dir = NULL, *real = NULL;
    int stream = 0;
    FKM_TRY(resolve_dest(path, &real, &stream));
    if (stream) {
        if (access(path, W_OK) != 0) st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    FKM_TRY(temp_name(real, &tmpl, &dir));
    /* The probe file lives between mkostemp and unlink: a signal whose default action kills the
     * process would leave it behind (found by tests/cli_signals.sh: SIGTERM 41 ms into a fit, a
     * '.c.npy.XXXXXX' left next to the outputs). Such signals wait until it is gone. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    const int err = errno;
    if (fd >= 0) {
        close(fd);
        unlink(tmpl);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (fd < 0)
        st = FKM_FAIL(FKM_ERR_IO, "cannot write '%s': cannot create files in '%s': %s", path, dir, strerror(err));
cleanup:
    free(tmpl);
    free(dir);
    free(real);
    return st;
}
