#!/usr/bin/env python3
"""K-FAC refresh cycle k against its lower bound for the PipeFisher profiles.

For BERT-Base (4 stages) and BERT-Large (8 stages), micro-batch 32, three
blocks per stage, every GPU profile under shared/profiles/pipefisher, the
schedules GPipe, 1F1B and Chimera with N = S and N = 2S micro-batches:
compiles with --optimizer kfac (pfc's list scheduler, and PipeFisher's
first-fit baseline) and prints a Markdown table of k, the lower bound and the
step time. Exit status 1 if pfc's k exceeds the lower bound by more than one
step anywhere (the acceptance criterion), listing the cases.

usage: scripts/kfac-table.py [--pfc build/compiler/pfc] [--pfc-dump ...] [--profiles DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLUSTERS = {"p100": "p100-cluster", "v100": "v100-dgx1", "rtx3090": "rtx3090-node"}
MODELS = {"bert-base": 4, "bert-large": 8}


def compile_plan(args, model, gpu, schedule, stages, n, placement, out):
    profile = os.path.join(args.profiles, f"{model}_time_memory_{gpu}.csv")
    cmd = [args.pfc, "compile", "--model", model, "--cluster", CLUSTERS[gpu], "--profile", profile,
           "--schedule", schedule, "--stages", str(stages), "--microbatches", str(n),
           "--optimizer", "kfac", "--kfac-placement", placement, "-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1] if r.stderr else "failed"
    r = subprocess.run([args.pfc_dump, "--json", out], capture_output=True, text=True, check=True)
    return json.loads(r.stdout), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pfc", default=os.path.join(ROOT, "build", "compiler", "pfc"))
    ap.add_argument("--pfc-dump", default=os.path.join(ROOT, "build", "compiler", "pfc-dump"))
    ap.add_argument("--profiles", default=os.path.join(ROOT, "..", "shared", "profiles", "pipefisher"))
    args = ap.parse_args()

    print("| model | GPU | schedule | N | lower bound | k (pfc) | k (PipeFisher) "
          "| step ms (1st-order) | step ms (K-FAC) | util. before | util. after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "plan.pb")
        for model, stages in MODELS.items():
            for gpu in CLUSTERS:
                for schedule in ["gpipe", "1f1b", "chimera"]:
                    for n in [stages, 2 * stages]:
                        ours, err = compile_plan(args, model, gpu, schedule, stages, n, "list", out)
                        base, _ = compile_plan(args, model, gpu, schedule, stages, n, "pipefisher", out)
                        if ours is None:
                            print(f"| {model} | {gpu} | {schedule} | {n} | – | – | – | – | – | – | – |")
                            bad.append(f"{model} {gpu} {schedule} N={n}: {err}")
                            continue
                        k = ours["kfac"]
                        kb = base["kfac"]["refresh_steps"] if base else "–"
                        print(f"| {model} | {gpu} | {schedule} | {n} | {k['lower_bound_steps']} "
                              f"| {k['refresh_steps']} | {kb} | {k['step_time_ms_without_kfac']:.1f} "
                              f"| {k['step_time_ms_with_kfac']:.1f} | {100 * k['utilization_before']:.1f}% "
                              f"| {100 * k['utilization_after']:.1f}% |")
                        if k["refresh_steps"] > k["lower_bound_steps"] + 1:
                            bad.append(f"{model} {gpu} {schedule} N={n}: k={k['refresh_steps']} "
                                       f"> lower bound {k['lower_bound_steps']} + 1")
    if bad:
        print("\nnot within one step of the lower bound:\n" + "\n".join("- " + b for b in bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
