"""Same data + same seed through another path gives bitwise the same answer as the binding:
(1) a small C program calling fkm_fit directly, (2) the command-line tool build/flashkmeans."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import flashkmeans
from conftest import blobs

C_PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include "flashkmeans.h"
/* usage: fitc in.f32 n d k seed centroids.f32 labels.i32 */
int main(int argc, char **argv) {
    if (argc != 8) return 2;
    long long n = atoll(argv[2]), d = atoll(argv[3]);
    float *x = malloc(sizeof(float) * n * d);
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(x, sizeof(float), n * d, f) != (size_t)(n * d)) return 3;
    fclose(f);
    fkm_params p;
    fkm_params_default(&p);
    p.k = atoll(argv[4]);
    p.seed = strtoull(argv[5], NULL, 10);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result r;
    if (fkm_fit(&p, &m, &r) != FKM_OK) { fprintf(stderr, "%s\n", fkm_last_error()); return 4; }
    f = fopen(argv[6], "wb"); fwrite(r.centroids, sizeof(float), r.k * d, f); fclose(f);
    f = fopen(argv[7], "wb"); fwrite(r.labels, sizeof(int), n, f); fclose(f);
    printf("%.17g %d\n", r.inertia, r.iterations);
    fkm_result_free(&r);
    free(x);
    return 0;
}
"""


def _cc():
    return shutil.which("cc") or shutil.which("gcc")


def test_c_api_program_same_result(tmp_path, repo):
    if not _cc():
        pytest.skip("no C compiler")
    lib = os.path.abspath(flashkmeans.library_path)
    src, exe = tmp_path / "fitc.c", tmp_path / "fitc"
    src.write_text(C_PROG)
    subprocess.run([_cc(), "-std=c11", "-I", str(repo / "include"), str(src), "-o", str(exe), lib,
                    "-Wl,-rpath," + os.path.dirname(lib)], check=True)
    X, _, _ = blobs(n=5000, d=24, k=30, spread=4.0)
    X.tofile(tmp_path / "x.f32")
    k, seed = 30, 12345678901
    out = subprocess.run([str(exe), str(tmp_path / "x.f32"), "5000", "24", str(k), str(seed),
                          str(tmp_path / "c.f32"), str(tmp_path / "l.i32")],
                         check=True, capture_output=True, text=True).stdout.split()
    C = np.fromfile(tmp_path / "c.f32", np.float32).reshape(k, 24)
    L = np.fromfile(tmp_path / "l.i32", np.int32)
    km = flashkmeans.KMeans(k, random_state=seed).fit(X)
    assert np.array_equal(km.cluster_centers_, C)
    assert np.array_equal(km.labels_, L)
    assert km.inertia_ == float(out[0]) and km.n_iter_ == int(out[1])


def test_cli_same_result(tmp_path, build_dir):
    cli = build_dir / "flashkmeans"
    if not cli.exists():
        pytest.skip("the command-line tool %s is not built" % cli)
    X, _, _ = blobs(n=3000, d=16, k=20, spread=4.0)
    np.save(tmp_path / "x.npy", X)
    k, seed = 20, 77
    cmd = [str(cli), "fit", str(tmp_path / "x.npy"), "-k", str(k), "--seed", str(seed),
           "-o", str(tmp_path / "c.npy"), "--labels", str(tmp_path / "l.npy"),
           "--report", str(tmp_path / "r.json"), "--device", "cpu"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    km = flashkmeans.KMeans(k, random_state=seed, device="cpu").fit(X)
    assert np.array_equal(np.load(tmp_path / "c.npy"), km.cluster_centers_)
    assert np.array_equal(np.load(tmp_path / "l.npy").astype(np.int32), km.labels_)
    report = json.loads((tmp_path / "r.json").read_text())
    flat = json.dumps(report)
    assert str(km.n_iter_) in flat
