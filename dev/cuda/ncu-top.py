#!/usr/bin/env python3
"""ncu-top.py REPORT.ncu-rep [N] -- the N SASS lines of a kernel with the most warp-stall samples
(ncu --set full, source page), with their share of all samples, and the warp-state summary.
Run on the device machine after: ncu --set full -k regex:NAME -c 1 -o REPORT ./binary ..."""
import csv, io, subprocess, sys

rep, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40
out = subprocess.run(["/usr/local/cuda/bin/ncu", "-i", rep, "--page", "source", "--csv", "--print-source", "sass"],
                     capture_output=True, text=True).stdout
rows = list(csv.reader(io.StringIO(out[out.find('"'):])))
h0 = next(i for i, r in enumerate(rows) if r and r[0] == "Address")  # after the kernel-name line
hdr, body = rows[h0], rows[h0 + 1:]
col = next(i for i, h in enumerate(hdr) if h.startswith("Warp Stall Sampling (All"))
src = next(i for i, h in enumerate(hdr) if h == "Source")
num = lambda r: float(r[col] or 0) if len(r) > col else 0.0
tot = sum(num(r) for r in body) or 1.0
print(f"samples {tot:.0f}")
for i, r in sorted(enumerate(body), key=lambda t: -num(t[1]))[:n]:
    print(f"{100 * num(r) / tot:5.1f}%  #{i:5d}  {r[src][:110]}")
st = [i for i, h in enumerate(hdr) if h.startswith("stall_") and "Not Issued" not in h]
tot = {hdr[i]: sum(float(r[i] or 0) for r in body) for i in st}
print("  ".join(f"{k[6:]} {100 * v / (sum(tot.values()) or 1):.0f}%" for k, v in sorted(tot.items(), key=lambda t: -t[1])[:8]))
det = subprocess.run(["/usr/local/cuda/bin/ncu", "-i", rep, "--page", "details", "--section", "SpeedOfLight",
                      "--section", "ComputeWorkloadAnalysis", "--section", "WarpStateStats", "--section", "Occupancy"],
                     capture_output=True, text=True).stdout
keep = ("Duration", "Throughput", "IPC", "Issue Slots", "Executed Ipc", "Warp Cycles Per", "Active Warps", "Pipe")
print("\n".join(l for l in det.splitlines() if any(k in l for k in keep)))
