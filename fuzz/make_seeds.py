#!/usr/bin/python3
"""make_seeds.py -- small valid (and a few nearly valid) inputs for the fuzz targets: corpus/<target>/.
Run with /usr/bin/python3 (numpy from Debian). Deterministic: the same files every time."""
import gzip, io, os, struct
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(b):  # fixed mtime so the bytes are reproducible
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as g:
        g.write(b)
    return out.getvalue()


def npy(a, version=(1, 0), fortran=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asfortranarray(a) if fortran else a, version=version)
    return buf.getvalue()


# ---- npy: every dtype the reader takes, versions 1-3, C and Fortran order, 1-D/2-D/3-D, gzip
small = rng.normal(size=(6, 3))
for t in ["<f4", "<f8", "<f2", "|u1", "<i4", "<i8", "<u2", "|i1", ">f4", "<c8", "|b1"]:
    a = (small * 10).astype(t) if t not in ("|u1", "<u2") else np.abs(small * 10).astype(t)
    put("npy", "c_" + t.strip("<>|"), npy(a))
put("npy", "fortran_f4", npy(small.astype("<f4"), fortran=True))
put("npy", "v2_f4", npy(small.astype("<f4"), version=(2, 0)))
put("npy", "v3_f4", npy(small.astype("<f4"), version=(3, 0)))
put("npy", "one_d_u1", npy(np.arange(9, dtype=np.uint8)))
put("npy", "three_d_f4", npy(rng.normal(size=(2, 3, 4)).astype("<f4")))
put("npy", "empty_rows", npy(np.zeros((0, 3), dtype="<f4")))
put("npy", "nan_f4", npy(np.array([[1, np.nan], [2, 3]], dtype="<f4")))
put("npy", "gz_f4", gz(npy(small.astype("<f4"))))
put("npy", "truncated", npy(small.astype("<f4"))[:-5])

# ---- vecs: the first byte picks fvecs (0) / bvecs (1) / ivecs (2)
def vecs(rows, fmt):
    out = b""
    for r in rows:
        out += struct.pack("<i", len(r)) + struct.pack("<%d%s" % (len(r), fmt), *r)
    return out

f = [list(map(float, r)) for r in small.astype(np.float32)]
put("vecs", "fvecs", b"\x00" + vecs(f, "f"))
put("vecs", "bvecs", b"\x01" + vecs([[1, 2, 3], [4, 5, 6], [7, 8, 9]], "B"))
put("vecs", "ivecs", b"\x02" + vecs([[1, -2], [3, 4], [5, 6]], "i"))
put("vecs", "fvecs_gz", b"\x00" + gz(vecs(f, "f")))
put("vecs", "ragged", b"\x00" + vecs([[1.0, 2.0], [3.0]], "f"))

# ---- IDX: magic 00 00 TT NN, big-endian dims, big-endian data
def idx(a, tt):
    hdr = bytes([0, 0, tt, a.ndim]) + b"".join(struct.pack(">I", s) for s in a.shape)
    return hdr + a.tobytes()

img = rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8)
put("idx", "ubyte3", idx(img, 0x08))
put("idx", "ubyte1_labels", idx(np.arange(7, dtype=np.uint8), 0x08))
put("idx", "sbyte", idx(img.astype(np.int8), 0x09))
put("idx", "short", idx(img.astype(">i2"), 0x0B))
put("idx", "int", idx(img.astype(">i4"), 0x0C))
put("idx", "float", idx(img.astype(">f4"), 0x0D))
put("idx", "double", idx(img.astype(">f8"), 0x0E))
put("idx", "ubyte3_gz", gz(idx(img, 0x08)))

# ---- raw: int16 d, dtype byte (0 f32, 1 f64, 2 f16, 3 bf16, 4 u8), then the bytes
put("raw", "f32_d3", struct.pack("<hB", 3, 0) + small.astype("<f4").tobytes())
put("raw", "f64_d2", struct.pack("<hB", 2, 1) + small.astype("<f8").tobytes())
put("raw", "f16_d6", struct.pack("<hB", 6, 2) + small.astype("<f2").tobytes())
put("raw", "u8_d4", struct.pack("<hB", 4, 4) + img.tobytes())
put("raw", "bf16_d1", struct.pack("<hB", 1, 3) + (small.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes())
put("raw", "u8_gz", struct.pack("<hB", 4, 4) + gz(img.tobytes()))
put("raw", "partial_row", struct.pack("<hB", 5, 0) + small.astype("<f4").tobytes()[:-4])

# ---- api: a few decoded parameter sets (see fuzz_api.c for the byte layout), tame data
def api(n, d, k, metric, init, stop, empty, max_iter, n_init, flags, dtype, extra=b""):
    hdr = bytes([n, d, k + 1, metric, init, stop, empty, 1, 1, max_iter + 1, n_init, flags, dtype]) + b"\x05\x00"
    return hdr + extra + bytes(rng.integers(0, 256, size=4096 - len(hdr) - len(extra), dtype=np.uint8))

for m in range(3):
    put("api", "l2_cos_ip_%d" % m, api(40, 5, 4, m, 0, 0, 0, 5, 1, 1, 0))
put("api", "weighted_batch", api(30, 3, 3, 0, 1, 1, 0, 4, 2, 1 | 2 | 4, 0))
put("api", "init_array_frozen", api(20, 4, 5, 0, 2, 3, 1, 3, 1, 1 | 16, 1))
put("api", "cancel", api(25, 2, 6, 0, 0, 2, 0, 6, 3, 1 | 64 | 32, 2))
put("api", "u8", api(48, 16, 10, 1, 0, 0, 0, 6, 1, 1, 4))
put("api", "raw_bits_f32", api(10, 3, 2, 0, 0, 0, 0, 2, 1, 0, 0))
print("seeds written to", os.path.join(HERE, "corpus"))
