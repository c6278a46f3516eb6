"""cert_side.py -- float32 through the public Python API, side by side with the Flash-KMeans
reference in one process (the float32 rows of the targets table, and one row where nearly every
point needs re-scoring).

For each row: random normal float32 torch tensors on the GPU (offset rows: + 1000), the same
initial centroids (random rows) for every variant; ms per Lloyd iteration = (time of 13
iterations - time of 3) / 10, median of 3 (CUDA events), after a warm-up call. Variants:
  default   flashkmeans.batch_kmeans, precision "auto" (float32 -> exact, certified on sm_90)
  simt      the same with FKM_CU_CERT=0 (the SIMT fp32 kernel: the labels certified mode must equal)
  tf32      precision "tf32" (opt-in, not exact)
  reference batch_kmeans_Euclid of svg-project/flash-kmeans (Triton; float32 dots run as TF32)
  extra     CERT_SIDE_EXTRA="name:VAR=V,VAR=V;name2:..." adds variants of the default with those
            environment variables (an A/B of the certified mode's switches in the same run)
Also checks that the default's labels and centroids equal the SIMT run's bit for bit, and prints
the points re-scored per iteration (flashkmeans.KMeans iteration_stats_). One JSON object per row
on stdout, a table on stderr.
Run on a GPU machine:  python3 bench/cert_side.py [path to flash-kmeans, default third_party/flash-kmeans]
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import flashkmeans  # noqa: E402

ROWS = [  # name, b, n, k, d, offset
    ("B=1 N=1M K=1024 D=128 fp32", 1, 1 << 20, 1024, 128, 0.0),
    ("B=1 N=4M K=256 D=64 fp32", 1, 1 << 22, 256, 64, 0.0),
    ("B=1 N=1M K=1024 D=128 fp32 offset 1000 (re-score nearly all)", 1, 1 << 20, 1024, 128, 1000.0),
]


def reference(repo):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "dev", "cuda"))
    from triton_reference import load_reference  # the one loader of the reference (tqdm stand-in)
    fit = load_reference(repo)
    return lambda x, c0, it: fit(x, c0.shape[1], max_iters=it, tol=0.0, init_centroids=c0.clone())


def ours(precision, cert=True, env=None):
    """flashkmeans.batch_kmeans with precision; cert=False sets FKM_CU_CERT=0; env: more variables
    for this variant only (the library reads them when it plans a fit)."""
    env = dict(env or {})
    if not cert:
        env["FKM_CU_CERT"] = "0"

    def fit(x, c0, it):
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            return flashkmeans.batch_kmeans(x, c0.shape[1], max_iter=it, stop="fixed", init=c0[0],
                                            precision=precision)
        finally:
            for key, v in saved.items():
                if v is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = v
    return fit


def extra_variants():
    """CERT_SIDE_EXTRA="name:VAR=V,VAR=V;name2:..." adds default-precision variants with those
    variables (A/B of the certified mode's switches in the same run)."""
    out = []
    for item in filter(None, os.environ.get("CERT_SIDE_EXTRA", "").split(";")):
        name, _, assigns = item.partition(":")
        env = dict(a.split("=", 1) for a in assigns.split(",") if a)
        out.append((name, ours("auto", env=env), env))
    return out


def timed(fit, x, c0, it):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    s.record()
    out = fit(x, c0, it)
    e.record()
    torch.cuda.synchronize()
    return s.elapsed_time(e), out


def per_iter_all(fits, x, c0, rounds=3):
    """ms per iteration of each fit (name -> fit), (t13 - t3) / 10, median of `rounds`. Every fit
    is warmed up first and the rounds go over all fits in turn, so no variant gets the GPU's
    cold start or its warmer clocks alone (measured first, the default once read 1.67 ms where
    the same code as a later variant read 1.46). A failing fit is reported as its error."""
    out, ms = {}, {name: [] for name in fits}
    for name, fit in fits.items():
        try:
            fit(x, c0, 2)  # warm-up (compiles / loads)
        except Exception as ex:  # report and go on
            out[name] = str(ex)[:200]
    for _ in range(rounds):
        for name, fit in fits.items():
            if name in out:
                continue
            try:
                t13, _ = timed(fit, x, c0, 13)
                t3, _ = timed(fit, x, c0, 3)
                ms[name].append((t13 - t3) / 10)
            except Exception as ex:
                out[name] = str(ex)[:200]
    for name, v in ms.items():
        if name not in out:
            out[name] = sorted(v)[len(v) // 2]
    return out


def rescored(x, c0, it):
    km = flashkmeans.KMeans(n_clusters=c0.shape[1], init=c0[0].cpu().numpy(), n_init=1, max_iter=it, tol=0.0,
                            device="cuda")
    km.fit(x[0].cpu().numpy())  # host data: the per-iteration statistics come back
    return [s["rescored"] for s in km.iteration_stats_]


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "third_party",
                                                               "flash-kmeans")
    ref = reference(repo)
    extra = extra_variants()
    variants = [("default", ours("auto")), ("simt", ours("exact", cert=False)), ("tf32", ours("tf32")),
                ("reference", ref)] + [(name, fit) for name, fit, _ in extra]
    rows = []
    for name, b, n, k, d, off in ROWS:
        torch.manual_seed(0)
        x = torch.randn(b, n, d, device="cuda", dtype=torch.float32) + off
        idx = torch.randint(0, n, (b, k), device="cuda")
        c0 = torch.gather(x, 1, idx[..., None].expand(-1, -1, d)).clone()
        row = {"case": name, "b": b, "n": n, "k": k, "d": d, "device": torch.cuda.get_device_name(),
               "date": time.strftime("%Y-%m-%d")}
        fits = {vname: fit for vname, fit in variants if not (vname == "reference" and off)}
        for vname, v in per_iter_all(fits, x, c0).items():
            if isinstance(v, str):
                row[vname + "_error"] = v
            else:
                row[vname + "_ms"] = round(v, 4)
        lc, cc, _ = ours("auto")(x, c0, 5)
        ls, cs, _ = ours("exact", cert=False)(x, c0, 5)
        row["labels_equal"] = bool(torch.equal(lc, ls))
        row["centroids_equal"] = bool(torch.equal(cc, cs))
        for name, fit, _ in extra:  # every switch setting must give the same bits
            le, ce, _ = fit(x, c0, 5)
            row[name + "_equal"] = bool(torch.equal(le, ls) and torch.equal(ce, cs))
        try:
            r = rescored(x, c0, 5)
            row["rescored_per_iter"] = r
            row["rescored_frac"] = round(max(r) / n, 5)
        except Exception as ex:
            row["rescored_error"] = str(ex)[:200]
        print(json.dumps(row), flush=True)
        rows.append(row)
        del x, c0
        torch.cuda.empty_cache()
    print("%-62s %9s %9s %9s %9s %7s %7s %6s %9s" % ("case (ms/iter)", "default", "simt", "tf32", "reference",
                                                       "ref/def", "def/tf32", "equal", "rescored"), file=sys.stderr)
    for r in rows:
        for name, _, _ in extra:
            print("  %s: %s ms/iter, equal %s" % (name, r.get(name + "_ms"), r.get(name + "_equal")), file=sys.stderr)
    for r in rows:
        g = lambda key: r.get(key + "_ms")  # noqa: E731
        ratio = lambda a, c: ("%.2fx" % (a / c)) if a and c else "-"  # noqa: E731
        print("%-62s %9s %9s %9s %9s %7s %7s %6s %9s" % (r["case"], g("default"), g("simt"), g("tf32"),
                                                           g("reference"), ratio(g("reference"), g("default")),
                                                           ratio(g("default"), g("tf32")),
                                                           r["labels_equal"] and r["centroids_equal"],
                                                           r.get("rescored_frac")), file=sys.stderr)


if __name__ == "__main__":
    main()
