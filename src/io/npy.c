/* npy.c -- the .npy reader (format versions 1.0, 2.0, 3.0) and the header writer.
 *
 * Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.x, uint32 LE for 2.x/3.x),
 * then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }
 * padded with spaces and ending in '\n', then the raw array bytes. */
#include "io_impl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_DIMS 32

typedef struct {
    const char *p, *end, *start;
    const char *path;
} hdr_cursor;

static void skip_ws(hdr_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(hdr_cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") into out (at most cap-1 chars). */
static int parse_str(hdr_cursor *c, char *out, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static fkm_status bad_header(hdr_cursor *c, const char *what) {
    return FKM_FAIL(FKM_ERR_FORMAT, "'%s': malformed .npy header: %s (at character %d of the header)", c->path, what,
                    (int)(c->p - c->start));
}

/* (n, d, ...) with optional trailing comma; Python 2 'L' suffixes accepted. */
static fkm_status parse_shape(hdr_cursor *c, int64_t *shape, int *ndim) {
    *ndim = 0;
    if (!eat(c, '(')) return bad_header(c, "'shape' is not a tuple");
    for (;;) {
        if (eat(c, ')')) return FKM_OK;
        skip_ws(c);
        if (c->p >= c->end || !isdigit((unsigned char)*c->p)) return bad_header(c, "'shape' holds something other than a non-negative integer");
        int64_t v = 0;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            int dig = *c->p++ - '0';
            if (v > (INT64_MAX - dig) / 10) return bad_header(c, "a 'shape' entry overflows int64");
            v = v * 10 + dig;
        }
        if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
        if (*ndim == NPY_MAX_DIMS) return bad_header(c, "'shape' has more than 32 dimensions");
        shape[(*ndim)++] = v;
        if (eat(c, ',')) continue;
        if (eat(c, ')')) return FKM_OK;
        return bad_header(c, "expected ',' or ')' in 'shape'");
    }
}

/* descr string -> element type, with a precise refusal for what is not supported. */
static fkm_status parse_descr(const char *path, const char *descr, fkm_io_elem *e) {
    char order = descr[0];
    const char *tp = descr;
    if (order == '<' || order == '>' || order == '|' || order == '=') tp++;
    else order = '=';
    char kind = tp[0];
    char *endp = NULL;
    long size = kind ? strtol(tp + 1, &endp, 10) : 0;
    int valid_size = kind && endp && endp != tp + 1 && *endp == '\0';
    switch (kind) {
    case 'c': return FKM_FAIL(FKM_ERR_FORMAT, "'%s': complex dtype '%s' is not supported (use real float data)", path, descr);
    case 'O': return FKM_FAIL(FKM_ERR_FORMAT, "'%s': object dtype '%s' (pickled Python objects) is not supported", path, descr);
    case 'b':
    case '?': return FKM_FAIL(FKM_ERR_FORMAT, "'%s': boolean dtype '%s' is not supported", path, descr);
    case 'U':
    case 'S':
    case 'a': return FKM_FAIL(FKM_ERR_FORMAT, "'%s': string dtype '%s' is not supported", path, descr);
    case 'M':
    case 'm': return FKM_FAIL(FKM_ERR_FORMAT, "'%s': datetime dtype '%s' is not supported", path, descr);
    case 'V':
        return FKM_FAIL(FKM_ERR_FORMAT,
                        "'%s': void dtype '%s' is not supported (bfloat16 data: store it as a raw file and read "
                        "it as raw with dtype bf16)", path, descr);
    case 'f':
        if (!valid_size || (size != 2 && size != 4 && size != 8))
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s': float dtype '%s' is not supported (f2, f4, f8 are)", path, descr);
        break;
    case 'i':
    case 'u':
        if (!valid_size || (size != 1 && size != 2 && size != 4 && size != 8))
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s': integer dtype '%s' is not supported", path, descr);
        break;
    default: return FKM_FAIL(FKM_ERR_FORMAT, "'%s': unknown dtype '%s'", path, descr);
    }
    if (order == '>' && size > 1)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': big-endian dtype '%s' is not supported (convert with arr.astype('<%c%ld'))",
                        path, descr, kind, size);
    e->kind = kind;
    e->size = (int)size;
    e->big = 0;
    return FKM_OK;
}

fkm_status fkm_io_parse_npy(fkm_io_src *s, fkm_io_array *out) {
    fkm_status st = FKM_OK;
    const uint8_t *b = s->buf;
    const char *path = s->path;
    if (s->len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        char found[40] = "";
        for (size_t i = 0; i < 6 && i < s->len; i++)
            snprintf(found + strlen(found), sizeof found - strlen(found), "%02x ", b[i]);
        if (s->len >= 6 && memcmp(b, "\x93NUMPY", 6) == 0)
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s': truncated .npy file (%zu bytes, the preamble alone is 10)", path, s->len);
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': not a .npy file: expected magic 93 4e 55 4d 50 59 (\\x93NUMPY), found %s",
                        path, found);
    }
    const int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)", path, major, minor);
    size_t pre = major == 1 ? 10 : 12;
    if (s->len < pre)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': truncated .npy file (%zu bytes, the preamble alone is %zu)", path, s->len, pre);
    size_t hlen = major == 1 ? (size_t)(b[8] | b[9] << 8)
                             : (size_t)((uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24);
    if (hlen > s->len - pre)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': truncated .npy header: it declares %zu bytes but only %zu follow the preamble",
                        path, hlen, s->len - pre);

    hdr_cursor c = {(const char *)b + pre, (const char *)b + pre + hlen, (const char *)b + pre, path};
    char descr[32] = "", key[32];
    int have_descr = 0, have_fo = 0, have_shape = 0, fortran = 0, ndim = 0;
    int64_t shape[NPY_MAX_DIMS];
    if (!eat(&c, '{')) return bad_header(&c, "expected '{'");
    while (!eat(&c, '}')) {
        if (!parse_str(&c, key, sizeof key)) return bad_header(&c, "expected a quoted key");
        if (!eat(&c, ':')) return bad_header(&c, "expected ':' after a key");
        if (strcmp(key, "descr") == 0) {
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[')
                return FKM_FAIL(FKM_ERR_FORMAT, "'%s': structured (record) dtypes are not supported", path);
            if (!parse_str(&c, descr, sizeof descr)) return bad_header(&c, "'descr' is not a short string");
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            skip_ws(&c);
            if (c.end - c.p >= 4 && memcmp(c.p, "True", 4) == 0) { fortran = 1; c.p += 4; }
            else if (c.end - c.p >= 5 && memcmp(c.p, "False", 5) == 0) { fortran = 0; c.p += 5; }
            else return bad_header(&c, "'fortran_order' is neither True nor False");
            have_fo = 1;
        } else if (strcmp(key, "shape") == 0) {
            FKM_TRY(parse_shape(&c, shape, &ndim));
            have_shape = 1;
        } else {
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s': malformed .npy header: unexpected key '%s'", path, key);
        }
        if (!eat(&c, ',')) {
            if (eat(&c, '}')) break;
            return bad_header(&c, "expected ',' or '}'");
        }
    }
    skip_ws(&c);
    if (c.p != c.end) return bad_header(&c, "unexpected text after the dict");
    if (!have_descr || !have_fo || !have_shape)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': malformed .npy header: missing '%s'", path,
                        !have_descr ? "descr" : !have_fo ? "fortran_order" : "shape");

    fkm_io_elem e;
    FKM_TRY(parse_descr(path, descr, &e));
    if (ndim == 0) return FKM_FAIL(FKM_ERR_FORMAT, "'%s': holds a 0-d (scalar) array, expected 1-D or 2-D", path);
    if (fortran && ndim > 2)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': Fortran-order arrays with %d dimensions are not supported (1-D and 2-D are)", path, ndim);
    uint64_t rest = 1, count, bytes;
    for (int i = 1; i < ndim; i++) {
        if (shape[i] == 0) /* rows of nothing: no features to cluster */
            return FKM_FAIL(FKM_ERR_FORMAT, "'%s': dimension %d of the shape is 0: each row would have no features", path, i + 1);
        if (!fkm_io_mul(rest, (uint64_t)shape[i], &rest)) return FKM_FAIL(FKM_ERR_FORMAT, "'%s': shape overflows", path);
    }
    if (!fkm_io_mul((uint64_t)shape[0], rest, &count) || !fkm_io_mul(count, (uint64_t)e.size, &bytes) ||
        rest > INT64_MAX || count > INT64_MAX)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': shape overflows", path);
    char shp[96] = "(";
    for (int i = 0; i < ndim && strlen(shp) < sizeof shp - 24; i++)
        snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%lld%s", (long long)shape[i], i + 1 < ndim ? ", " : ndim == 1 ? ",)" : ")");
    const size_t have = s->len - pre - hlen;
    if (bytes != have)
        return FKM_FAIL(FKM_ERR_FORMAT, "'%s': header says shape %s of '%s' = %llu bytes of data, but the file has %zu%s",
                        path, shp, descr, (unsigned long long)bytes, have,
                        bytes > have ? " (truncated?)" : " (trailing bytes)");
    fkm_io_layout lay = {pre + hlen, (size_t)rest * (size_t)e.size, fortran && ndim == 2, ndim};
    return fkm_io_emit(s, e, shape[0], (int64_t)rest, lay, out);
cleanup:
    return st;
}
