/* io_impl.h -- shared pieces of the readers (src/io only): the byte source, element decoding and
 * the one function that turns a region of the source into an fkm_io_array. */
#ifndef FKM_IO_IMPL_H
#define FKM_IO_IMPL_H

#include "../internal.h"
#include "io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "src/io assumes a little-endian host"
#endif

/* The whole content of a file: memory-mapped (regular uncompressed files), or read into a heap
 * buffer (pipes, gzip). */
typedef struct {
    const char *path;   /* for messages */
    const uint8_t *buf; /* the bytes */
    size_t len;
    void *map;          /* mmap base or NULL */
    size_t map_len;
    uint8_t *heap;      /* malloc'ed buffer or NULL */
    int gz;             /* the bytes were gunzipped */
    int64_t part, parts; /* fkm_io_read_part: emit only this part of the rows (parts 0: all) */
    fkm_io_progress_fn progress; /* while reading a pipe or inflating gzip; NULL: none */
    void *progress_user;
} fkm_io_src;

/* Rows [*r0, *r1) of the n in the file that s's part covers (all of them when s->parts <= 1). */
void fkm_io_part_rows(const fkm_io_src *s, int64_t n, int64_t *r0, int64_t *r1);

/* progress (may be NULL) is called while the bytes are read from a pipe or inflated. */
fkm_status fkm_io_src_open(const char *path, fkm_io_src *s, fkm_io_progress_fn progress, void *user);
void fkm_io_src_close(fkm_io_src *s);

/* One element type as stored in a file. kind: 'f' IEEE float (2/4/8 bytes), 'b' bfloat16,
 * 'i' signed int, 'u' unsigned int (1/2/4/8 bytes). big: big-endian. */
typedef struct {
    char kind;
    int size;
    int big;
} fkm_io_elem;

/* Element at row i, column j of a region of n x d elements starting at byte `off`:
 * C order: off + i*row_stride + j*size (row_stride >= d*size; vecs rows carry a 4-byte header);
 * Fortran order: off + (j*n + i)*size. */
typedef struct {
    size_t off;
    size_t row_stride;
    int fortran;
    int ndim;
} fkm_io_layout;

/* Turn n x d elements of type e laid out as `lay` in s into *out. Uses the bytes in place (and
 * takes over s's mapping/buffer) when they already are a row-major array of a library dtype,
 * aligned; otherwise decodes into a new buffer. Either way s is closed afterwards. */
fkm_status fkm_io_emit(fkm_io_src *s, fkm_io_elem e, int64_t n, int64_t d, fkm_io_layout lay,
                       fkm_io_array *out);

/* n * m * size with overflow checking: 0 on overflow, else 1 and *out set. */
int fkm_io_mul(uint64_t a, uint64_t b, uint64_t *out);

/* Format-specific parsers: each validates the header against s->len and calls fkm_io_emit. */
fkm_status fkm_io_parse_npy(fkm_io_src *s, fkm_io_array *out);
fkm_status fkm_io_parse_vecs(fkm_io_src *s, fkm_io_format f, fkm_io_array *out);
fkm_status fkm_io_parse_idx(fkm_io_src *s, fkm_io_array *out);
fkm_status fkm_io_parse_raw(fkm_io_src *s, int64_t d, fkm_dtype t, fkm_io_array *out);

#endif
