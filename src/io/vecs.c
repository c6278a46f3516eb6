/* vecs.c -- .fvecs / .bvecs / .ivecs (the TEXMEX / ANN-benchmark formats), IDX and raw binary.
 *
 * vecs: every row is an int32 little-endian dimension d followed by d elements (float32, uint8 or
 * int32). All rows must declare the same d. IDX: bytes 00 00 TT NN, then NN big-endian uint32
 * dimensions, then the big-endian data; TT = 08 ubyte, 09 sbyte, 0B int16, 0C int32, 0D float32,
 * 0E float64. Raw: n x d elements of a given dtype, no header. */
#include "io_impl.h"

#include <string.h>

static int32_t load_i32le(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (int32_t)v;
}

fkm_status fkm_io_parse_vecs(fkm_io_src *s, fkm_io_format f, fkm_io_array *out) {
    const char *name = f == FKM_FMT_FVECS ? "fvecs" : f == FKM_FMT_BVECS ? "bvecs" : "ivecs";
    fkm_io_elem e = {f == FKM_FMT_FVECS ? 'f' : f == FKM_FMT_BVECS ? 'u' : 'i', f == FKM_FMT_BVECS ? 1 : 4, 0};
    if (s->len < 4)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': truncated .%s file: %zu bytes, a row header alone is 4", s->path, name, s->len);
    const int32_t d = load_i32le(s->buf);
    if (d <= 0)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': not a valid .%s file: the first row declares dimension %d, expected >= 1",
                        s->path, name, (int)d);
    const uint64_t row = 4 + (uint64_t)d * (uint64_t)e.size;
    if (s->len % row != 0)
        return FKM_FAIL(FKM_ERR_FORMAT,
                        "'%s': size %zu bytes is not a multiple of the row size 4 + %d x %d = %llu bytes "
                        "(d = %d from the first row): truncated or not a .%s file",
                        s->path, s->len, (int)d, e.size, (unsigned long long)row, (int)d, name);
    const int64_t n = (int64_t)(s->len / row);
    int64_t r0, r1; /* a part reader checks only its own rows' headers: it reads nothing else */
    fkm_io_part_rows(s, n, &r0, &r1);
    for (int64_t i = r0 > 1 ? r0 : 1; i < r1; i++) {
        int32_t di = load_i32le(s->buf + (size_t)i * row);
        if (di != d)
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s': row %lld declares dimension %d, but row 0 declares %d", s->path,
                            (long long)i, (int)di, (int)d);
    }
    fkm_io_layout lay = {4, (size_t)row, 0, 2};
    return fkm_io_emit(s, e, n, d, lay, out);
}

fkm_status fkm_io_parse_idx(fkm_io_src *s, fkm_io_array *out) {
    const uint8_t *b = s->buf;
    if (s->len < 4)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': truncated IDX file: %zu bytes, the magic number alone is 4", s->path, s->len);
    const uint32_t magic = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    fkm_io_elem e = {0, 0, 1};
    switch (b[2]) {
    case 0x08: e.kind = 'u'; e.size = 1; break;
    case 0x09: e.kind = 'i'; e.size = 1; break;
    case 0x0B: e.kind = 'i'; e.size = 2; break;
    case 0x0C: e.kind = 'i'; e.size = 4; break;
    case 0x0D: e.kind = 'f'; e.size = 4; break;
    case 0x0E: e.kind = 'f'; e.size = 8; break;
    }
    const int ndim = b[3];
    if (b[0] != 0 || b[1] != 0 || !e.kind || ndim == 0)
        return FKM_FAIL(FKM_ERR_FORMAT,
                        "'%s': not an IDX file: magic 0x%08x, expected 0x0000TTNN with type TT in "
                        "{08,09,0B,0C,0D,0E} and NN >= 1 dimensions",
                        s->path, (unsigned)magic);
    const size_t hdr = 4 + 4 * (size_t)ndim;
    if (s->len < hdr)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': truncated IDX header: %d dimensions need %zu bytes, the file has %zu",
                        s->path, ndim, hdr, s->len);
    uint64_t dims[255], rest = 1, count, bytes;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = b + 4 + 4 * i;
        dims[i] = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
        if (i > 0 && dims[i] == 0) /* a zero feature dimension: rows of nothing */
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s': IDX dimension %d is 0: each item would have no features", s->path, i + 1);
        if (i > 0 && !fkm_io_mul(rest, dims[i], &rest)) return FKM_FAIL(FKM_ERR_FORMAT, "'%s': IDX shape overflows", s->path);
    }
    if (!fkm_io_mul(dims[0], rest, &count) || !fkm_io_mul(count, (uint64_t)e.size, &bytes) || count > INT64_MAX ||
        rest > INT64_MAX)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': IDX shape overflows", s->path);
    char shp[80] = "";
    for (int i = 0; i < ndim && strlen(shp) < sizeof shp - 16; i++)
        snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%llu", i ? " x " : "", (unsigned long long)dims[i]);
    if (bytes != s->len - hdr)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': IDX header says %s elements of %d byte(s) = %llu bytes of data, but the file has %zu%s",
                        s->path, shp, e.size, (unsigned long long)bytes, s->len - hdr,
                        bytes > s->len - hdr ? " (truncated?)" : " (trailing bytes)");
    if (e.size == 1) e.big = 0;
    fkm_io_layout lay = {hdr, (size_t)rest * (size_t)e.size, 0, ndim};
    return fkm_io_emit(s, e, (int64_t)dims[0], (int64_t)rest, lay, out);
}

fkm_status fkm_io_parse_raw(fkm_io_src *s, int64_t d, fkm_dtype t, fkm_io_array *out) {
    fkm_io_elem e;
    switch (t) {
    case FKM_F32: e = (fkm_io_elem){'f', 4, 0}; break;
    case FKM_F64: e = (fkm_io_elem){'f', 8, 0}; break;
    case FKM_F16: e = (fkm_io_elem){'f', 2, 0}; break;
    case FKM_BF16: e = (fkm_io_elem){'b', 2, 0}; break;
    case FKM_U8: e = (fkm_io_elem){'u', 1, 0}; break;
    default: return FKM_FAIL(FKM_ERR_INVALID_ARG, "'%s': raw input needs a dtype (f32, f64, f16, bf16 or u8)", s->path);
    }
    if (d <= 0)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "'%s': raw input needs the row length d >= 1 (got %lld)", s->path, (long long)d);
    uint64_t row;
    if (!fkm_io_mul((uint64_t)d, (uint64_t)e.size, &row))
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "'%s': raw row length d = %lld is too large", s->path, (long long)d);
    if (s->len % row != 0)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': size %zu bytes is not a multiple of the row size d x %d = %llu bytes (d = %lld)",
                        s->path, s->len, e.size, (unsigned long long)row, (long long)d);
    fkm_io_layout lay = {0, (size_t)row, 0, 2};
    return fkm_io_emit(s, e, (int64_t)(s->len / row), d, lay, out);
}
