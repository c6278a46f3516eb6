#!/usr/bin/python3
"""cpu_report.py RUNS.jsonl OUT_DIR ITERS -- summarise bench/cpu.sh runs: a table on stdout and
bench/results/cpu-<date>-<commit>.{json,md} (plus cpu-latest.{json,md}).

ms/iter per run: flashkmeans and FAISS: median of the per-iteration times their libraries
record, after the first iteration; scikit-learn records none, so wall time of fit() divided by
the iterations it ran (this includes its input checks and final label pass). Over repeats we
report the best and the median run, with the load average seen during the runs."""
import datetime
import json
import os
import statistics
import subprocess
import sys


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return ""


def machine():
    model, cores, fam = "", os.cpu_count(), {}
    for line in sh("lscpu").splitlines():
        key, _, val = line.partition(":")
        if key == "Model name":
            model = val.strip()
        elif key in ("CPU family", "Model"):
            fam[key] = val.strip()
    if fam:  # "AMD EPYC" alone does not say which generation (family 26 = Zen 5)
        model += f" (family {fam.get('CPU family', '?')}, model {fam.get('Model', '?')})"
    flags = sh("grep", "-m1", "-o", "avx512f", "/proc/cpuinfo")
    return {"cpu": model, "cpus": cores, "avx512": bool(flags), "kernel": sh("uname", "-r")}


def main(runs_path, out_dir, iters):
    runs = [json.loads(l) for l in open(runs_path) if l.strip()]
    cases = []
    for r in runs:
        if r["case"] not in cases:
            cases.append(r["case"])
    summary = []
    for case in cases:
        row = {"case": case}
        for tool in ("flashkmeans", "faiss", "sklearn"):
            rs = [r for r in runs if r["case"] == case and r["tool"] == tool]
            if not rs:
                continue
            v = [r["median_ms"] for r in rs]
            row[tool] = {"best_ms": min(v), "median_ms": statistics.median(v), "runs_ms": v,
                         "iterations": [r["iterations"] for r in rs],
                         "load": [r["load_before"] for r in rs] + [r["load_after"] for r in rs]}
            if tool == "flashkmeans":
                row["kernel"] = rs[0].get("kernel")
                row["shape"] = f"{rs[0]['n']}x{rs[0]['d']} K={rs[0]['k']}"
        for base in ("faiss", "sklearn"):
            if "flashkmeans" in row and base in row:
                row["speedup_vs_" + base] = {
                    "best": row[base]["best_ms"] / row["flashkmeans"]["best_ms"],
                    "median": row[base]["median_ms"] / row["flashkmeans"]["median_ms"]}
        summary.append(row)

    now = datetime.datetime.now(datetime.timezone.utc)
    commit = sh("git", "rev-parse", "--short", "HEAD")
    # local changes that could affect the CPU numbers (other parts of the tree may be in flux)
    dirty = bool(sh("git", "status", "--porcelain", "--untracked-files=no", "--", "src/cpu", "src/core",
                    "include", "bench/bench_cpu.c", "bench/cpu_bench.py", "bench/cpu.sh"))
    loads = [x for r in runs for x in (r["load_before"], r["load_after"])]
    meta = {"date": now.isoformat(timespec="seconds"), "commit": commit, "dirty": dirty,
            "machine": machine(), "iterations": iters, "repeats": max(r["repeat"] for r in runs),
            "load_avg_min": min(loads), "load_avg_max": max(loads),
            "versions": {r["tool"]: r.get("version", "") for r in runs}}

    def cell(row, tool):
        if tool not in row:
            return "–"
        t = row[tool]
        s = f"{t['best_ms']:.0f} / {t['median_ms']:.0f}"
        if tool == "sklearn" and min(t["iterations"]) < iters:
            s += f" ({min(t['iterations'])}–{max(t['iterations'])} it)"
        return s

    def sp(row, base):
        s = row.get("speedup_vs_" + base)
        return f"{s['best']:.2f}x / {s['median']:.2f}x" if s else "–"

    lines = [f"# CPU benchmark {meta['date']} (commit {commit}{' + local changes' if dirty else ''})", "",
             f"Machine: {meta['machine']['cpu']}, {meta['machine']['cpus']} CPUs. "
             f"{iters} Lloyd iterations from the same initial centroids, {meta['repeats']} interleaved repeats; "
             f"load average during the runs {meta['load_avg_min']:.2f}–{meta['load_avg_max']:.2f} "
             "(shared machine).", "",
             "ms per iteration, best / median over repeats (flashkmeans and FAISS: median iteration of a run "
             "after the first, as their libraries time it; scikit-learn: fit() wall time / iterations run).", "",
             "| case | flashkmeans | FAISS " + meta["versions"].get("faiss", "") + " | scikit-learn "
             + meta["versions"].get("sklearn", "") + " lloyd | speedup vs FAISS | speedup vs scikit-learn |",
             "|---|---|---|---|---|---|"]
    for row in summary:
        lines.append(f"| {row['case']} {row.get('shape', '')} | {cell(row, 'flashkmeans')} | {cell(row, 'faiss')} | "
                     f"{cell(row, 'sklearn')} | {sp(row, 'faiss')} | {sp(row, 'sklearn')} |")
    lines += ["", f"flashkmeans kernel: {summary[0].get('kernel', '?') if summary else '?'}.", ""]
    md = "\n".join(lines)
    print(md)
    os.makedirs(out_dir, exist_ok=True)
    stem = f"cpu-{now.strftime('%Y%m%d-%H%M%S')}-{commit or 'nogit'}"
    doc = {"meta": meta, "summary": summary, "runs": runs}
    for name in (stem, "cpu-latest"):
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(out_dir, name + ".md"), "w") as f:
            f.write(md)
    print(f"wrote {out_dir}/{stem}.json and .md", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
