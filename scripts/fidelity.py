#!/usr/bin/env python3
"""Simulator fidelity: pfc's predicted step time against pfc-run's measured one.

For every schedule (and K-FAC on 1F1B) the calibration loop of docs/run.md:

  1. pfc compile a plan for a small model (any cluster: only its shape matters),
  2. pfc-run it with --profile-out (measured per-block, embedding, head and
     optimizer times) and --cluster-out (this machine as a pfc cluster:
     one-thread GEMM rate, memory copy rate, thread hand-off latency),
  3. pfc compile again with --profile and --cluster from step 2,
  4. pfc-run the calibrated plan: measured step time (median of the steady
     steps) next to the plan's predicted step time.

Steps 2-4 are repeated --repeats times (each repeat calibrates afresh, so a
repeat's profile and measurement see similar machine load); the table gives
the medians and the range of the errors. Two plan devices, so each device
thread has a core of its own on a 2-core machine; the interpreter runs
OpenBLAS with one thread per device. Timing, not testing: no assertion here.

  scripts/fidelity.py [--build DIR] [--steps N] [--repeats R] [--keep DIR]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

MODEL = """# fidelity.py's model: tasks of a few ms on one CPU core.
name: "fidelity-small"
num_layers: 4
hidden_size: 128
ffn_size: 512
num_heads: 4
seq_length: 64
vocab_size: 256
micro_batch_size: 4
precision: FP32
linear_layers_per_block: 6
"""

# (row name, pfc compile flags, extra pfc-run flags)
CONFIGS = [
    ("gpipe", ["--schedule", "gpipe"], []),
    ("1f1b", ["--schedule", "1f1b"], []),
    ("interleaved (v=2)", ["--schedule", "interleaved", "--virtual-stages", "2"], []),
    ("chimera", ["--schedule", "chimera"], []),
    ("layered (v=2)", ["--schedule", "layered", "--virtual-stages", "2"], []),
    ("1f1b + K-FAC", ["--schedule", "1f1b", "--optimizer", "kfac"], ["--kfac-warmup", "0"]),
]

STEP_TIME = re.compile(r"step time: measured ([0-9.]+) ms .*plan predicts ([0-9.]+) ms")


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"fidelity.py: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--steps", type=int, default=10, help="steps per run (K-FAC: +8)")
    ap.add_argument("--repeats", type=int, default=3, help="calibrate-and-measure rounds")
    ap.add_argument("--microbatches", type=int, default=4)
    ap.add_argument("--keep", help="write the plans, profiles and clusters here")
    ap.add_argument("--only", help="comma-separated row names to run (default all)")
    args = ap.parse_args()
    pfc = os.path.join(args.build, "compiler", "pfc")
    pfc_run = os.path.join(args.build, "compiler", "pfc-run")
    for tool in (pfc, pfc_run):
        if not os.access(tool, os.X_OK):
            sys.exit(f"fidelity.py: {tool} not found; build pfc and pfc-run or pass --build")
    work = args.keep or tempfile.mkdtemp(prefix="pfc-fidelity-")
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "model.textproto")
    with open(model, "w") as f:
        f.write(MODEL)

    load_before = os.getloadavg()[0]
    rows = []
    only = set(args.only.split(",")) if args.only else None
    for name, flags, run_flags in CONFIGS:
        if only and name not in only:
            continue
        tag = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        common = ["--model", model, "--stages", "2",
                  "--microbatches", str(args.microbatches)] + flags
        steps = args.steps + (8 if "kfac" in flags else 0)
        run_args = ["--steps", str(steps), "--data", "teacher"] + run_flags
        seed_plan = os.path.join(work, f"{tag}.seed.pb")
        run([pfc, "compile", "--cluster", "p100-cluster", *common, "-o", seed_plan])
        predicted, measured, errors = [], [], []
        for r in range(args.repeats):
            prof = os.path.join(work, f"{tag}.{r}.profile.csv")
            cluster = os.path.join(work, f"{tag}.{r}.cluster.textproto")
            plan = os.path.join(work, f"{tag}.{r}.pb")
            run([pfc_run, seed_plan, *run_args, "--profile-out", prof, "--cluster-out", cluster])
            run([pfc, "compile", "--cluster", cluster, "--profile", prof, *common, "-o", plan])
            m = STEP_TIME.search(run([pfc_run, plan, *run_args]))
            if not m:
                sys.exit(f"fidelity.py: no step-time line from pfc-run {plan}")
            meas, pred = float(m.group(1)), float(m.group(2))
            predicted.append(pred)
            measured.append(meas)
            errors.append(100 * (pred - meas) / meas)
            print(f"  {name} round {r + 1}: predicted {pred:.1f} ms, measured {meas:.1f} ms, "
                  f"error {errors[-1]:+.1f}%", file=sys.stderr)
        rows.append((name, statistics.median(predicted), statistics.median(measured),
                     statistics.median(errors), min(errors), max(errors)))
    load_after = os.getloadavg()[0]

    print(f"pfc simulator fidelity: {args.microbatches} micro-batches of 4 x 64 tokens, "
          f"4 blocks, hidden 128, fp32, 2 plan devices; {args.repeats} rounds; "
          f"{os.cpu_count()} cores, load average {load_before:.2f} before, "
          f"{load_after:.2f} after")
    print()
    print("| schedule | predicted ms | measured ms | error % | error range % |")
    print("|---|---|---|---|---|")
    for name, pred, meas, err, lo, hi in rows:
        print(f"| {name} | {pred:.1f} | {meas:.1f} | {err:+.1f} | {lo:+.1f} .. {hi:+.1f} |")
    worst = max(abs(r[3]) for r in rows) if rows else 0
    print()
    print(f"worst median error: {worst:.1f}% (target: within 15%)")
    if not args.keep:
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)


if __name__ == "__main__":
    main()
