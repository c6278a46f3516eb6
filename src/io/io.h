/* io.h -- file readers and atomic writers: the static library flashkmeans_io, used by the CLI and
 * the tests, not part of libflashkmeans (nor installed). It sits on the library: errors are
 * reported through fkm_last_error() like the library's own.
 *
 * Readers: .npy (v1/v2/v3, C or Fortran order), .fvecs/.bvecs/.ivecs, IDX (MNIST format) and raw
 * binary. Any of them may be gzip-compressed (detected by the 1f 8b magic, needs zlib).
 * The format comes from the file name (see fkm_io_guess_format); docs/formats.md is the reference.
 *
 * Memory: an uncompressed file whose bytes can be used as they are (npy in C order with a
 * supported little-endian dtype, raw, IDX ubyte) is memory-mapped and `data` points into the
 * mapping: no copy, no second read. Everything else (fvecs rows with their headers, Fortran
 * order, big-endian IDX, integer types, gzip) is read once and decoded into one owned buffer.
 *
 * Errors: FKM_ERR_IO when the file cannot be opened or read (missing, directory, permission),
 * FKM_ERR_FORMAT when its content is malformed, truncated, inconsistent or of an unsupported type.
 * The message (fkm_last_error) names the file, what was expected and what was found.
 */
#ifndef FKM_IO_H
#define FKM_IO_H

#include "flashkmeans.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FKM_FMT_UNKNOWN = 0,
    FKM_FMT_NPY,
    FKM_FMT_FVECS, /* float32 rows, each prefixed by its int32 dimension */
    FKM_FMT_BVECS, /* uint8 rows, same layout */
    FKM_FMT_IVECS, /* int32 rows, same layout; read as float64 (exact) */
    FKM_FMT_IDX,   /* MNIST/IDX: magic 00 00 TT NN, NN big-endian uint32 dims, big-endian data */
    FKM_FMT_RAW    /* headerless row-major n x d; the caller gives d and the dtype */
} fkm_io_format;

/* Format implied by the path's extension, ignoring a trailing ".gz":
 * .npy; .fvecs .bvecs .ivecs; .idx, .idxN, names ending "-ubyte" or ".idxN-ubyte"; .raw .bin.
 * FKM_FMT_UNKNOWN otherwise. */
fkm_io_format fkm_io_guess_format(const char *path);
const char *fkm_io_format_str(fkm_io_format f);

typedef struct {
    fkm_io_format format;  /* FKM_FMT_UNKNOWN: guess from the path (and the npy magic) */
    int64_t raw_d;         /* RAW only: row length (>= 1) */
    fkm_dtype raw_dtype;   /* RAW only */
} fkm_io_read_opts;

/* A dense row-major n x d array read from a file.
 * Element types the library does not take as input (int8/16/32/64, uint16/32/64) are converted
 * to float64, which is exact for |v| <= 2^53 (larger int64 values are rejected). */
typedef struct {
    const void *data;  /* n*d elements of dtype, row-major; valid until fkm_io_close */
    fkm_dtype dtype;
    int64_t n, d;      /* 1-D files: n x 1. N-D files (N > 2): n x (product of the other dims) */
    int ndim;          /* dimensions stored in the file (vecs and raw: 2) */
    int64_t row0;      /* global index of the first row held (fkm_io_read_part; 0 otherwise) */
    int64_t total_n;   /* rows in the whole file (= n unless read with fkm_io_read_part) */
    char src_dtype[8]; /* the file's element type as written, e.g. "<f4", "u8", "i32" (for messages) */
    fkm_io_format format; /* the format it was read as (from its name or, for .npy, its content) */
    /* private: what fkm_io_close releases */
    void *map_;
    size_t map_len_;
    void *heap_;
} fkm_io_array;

/* Progress of a read that takes time: reading a pipe (total 0: unknown) or inflating a gzip file
 * (done and total count compressed bytes). Called every few MiB, and once at the end. */
typedef void (*fkm_io_progress_fn)(uint64_t done, uint64_t total, void *user);

/* Read `path` into *out (zeroed on failure). opts may be NULL (guess the format; RAW then fails). */
fkm_status fkm_io_read(const char *path, const fkm_io_read_opts *opts, fkm_io_array *out);
/* Read only part `part` of `parts` (0 <= part < parts) of the rows of `path`: rows
 * [N part / parts, N (part + 1) / parts) of the N in the file, into *out (out->row0 and
 * out->total_n say which). Only the header and those rows' bytes are read: the file is
 * memory-mapped and nothing else is touched (for vecs files only the slice's row headers are
 * checked). With parts == 1 it is fkm_io_read. With parts > 1 the file must be a regular,
 * uncompressed file and not a Fortran-order .npy (FKM_ERR_FORMAT otherwise, saying so); a part
 * may hold 0 rows when N < parts. Used by `mpirun ... flashkmeans fit`, one part per rank. */
fkm_status fkm_io_read_part(const char *path, const fkm_io_read_opts *opts, int64_t part, int64_t parts,
                            fkm_io_array *out);
/* Release the mapping or buffer and zero *a. Safe on a zeroed array. */
void fkm_io_close(fkm_io_array *a);
/* fkm_io_read_part with a progress callback (the CLI's loading bar). */
fkm_status fkm_io_read_part_progress(const char *path, const fkm_io_read_opts *opts, int64_t part, int64_t parts,
                                     fkm_io_progress_fn progress, void *user, fkm_io_array *out);

/* Copy of a as float32 (n*d, free with fkm_io_free). Values outside the float32 range are an
 * FKM_ERR_FORMAT error (e.g. float64 1e300). NaN/Inf are copied as they are. */
fkm_status fkm_io_to_f32(const fkm_io_array *a, float **out);

/* Rows rows[0..m-1] of a (indices into the rows held, 0 <= rows[i] < a->n) as float32, into
 * out (m x d, the caller's). Values outside the float32 range become +-Inf. */
void fkm_io_rows_to_f32(const fkm_io_array *a, const int64_t *rows, int64_t m, float *out);

/* Read a 1-D label file (or n x 1) of integers stored as any dtype (npy i1..i8/u1..u8/f4/f8 with
 * integral values, IDX, ivecs with d = 1): *labels is n int64 (free with fkm_io_free). */
fkm_status fkm_io_read_labels(const char *path, const fkm_io_read_opts *opts, int64_t **labels,
                              int64_t *n);

/* Free a buffer that fkm_io_to_f32 or fkm_io_read_labels returned. NULL is fine. */
void fkm_io_free(void *p);

/* ---------------------------------------------------------------- writers
 * Outputs are written atomically: the bytes go to a temporary file in the destination's
 * directory ("<dir>/.<name>.XXXXXX"), which is fsync'ed and then renamed over the destination.
 * Any failure removes the temporary file and leaves an existing destination untouched.
 * Staging and committing are separate so that a program can stage all its outputs, then commit
 * them only when everything succeeded. A destination that is a stream (a pipe, a fifo, a
 * terminal, /dev/null; /dev/stdout) cannot be renamed over: its bytes are staged in an unnamed
 * temporary file and written into it at commit. */
typedef struct {
    char *tmp;  /* the staged temporary file (NULL when nothing is staged) */
    char *dst;  /* its destination */
    int stream; /* dst is a stream (fifo, pipe, terminal, /dev/null, socket), not a regular file:
                   the bytes wait in the unnamed file fd and are written into dst at commit */
    int fd;
} fkm_io_pending;

/* Element types the npy writer takes. */
typedef enum { FKM_NPY_F4 = 0, FKM_NPY_I4 = 1, FKM_NPY_F8 = 2, FKM_NPY_F2 = 3, FKM_NPY_U1 = 4, FKM_NPY_I8 = 5 } fkm_npy_type;

/* Write bytes to a staged temporary file for `path`. */
fkm_status fkm_io_stage_bytes(const char *path, const void *buf, size_t len, fkm_io_pending *p);
/* Stage a version-1 .npy file (C order): ndim 1 (shape (n,)) or 2 (shape (n, d)). */
fkm_status fkm_io_stage_npy(const char *path, const void *data, fkm_npy_type t, int ndim, int64_t n,
                            int64_t d, fkm_io_pending *p);
/* Stage a .fvecs (f = FKM_FMT_FVECS, data: n x d float32) or .ivecs (FKM_FMT_IVECS, data: n x d
 * int32) file: n rows, each the int32 d then its d values, little-endian; 1 <= d < 2^31. The
 * readers read it back as it was (docs/formats.md). */
fkm_status fkm_io_stage_vecs(const char *path, const void *data, fkm_io_format f, int64_t n, int64_t d,
                             fkm_io_pending *p);
/* Rename the staged file over its destination (then fsync the directory, best effort). */
fkm_status fkm_io_commit(fkm_io_pending *p);
/* Remove a staged file that will not be committed. Safe on an empty pending. */
void fkm_io_discard(fkm_io_pending *p);
/* stage + commit in one call. */
fkm_status fkm_io_write_npy(const char *path, const void *data, fkm_npy_type t, int ndim, int64_t n,
                            int64_t d);

/* Can an output be written at `path`? Creates and removes a temporary file in its directory;
 * fails (FKM_ERR_IO) when the directory is missing or not writable or `path` is a directory. */
fkm_status fkm_io_check_writable(const char *path);

#ifdef __cplusplus
}
#endif
#endif
