#!/usr/bin/env python3
"""Robustness of the plan readers: mutated plans never crash a tool.

Takes valid plans in text format, writes variants with one to three random
mutations each (a number replaced by an edge value, an enum by another name
or a bogus one, a line dropped, duplicated or moved), and runs every tool
that reads plans on each variant:

  pfc-dump PLAN                      (summary)
  pfc-dump --view trace -o OUT PLAN
  pfc-dump --view memory --json PLAN
  pfc-dump --view timeline PLAN
  pfc-dump --view svg -o OUT PLAN
  pfc-dump --view network PLAN
  pfc opt PLAN --passes=verify -o OUT
  pfc-run PLAN --steps 1 --losses OUT  (when --run)

A tool may accept a variant (exit 0) or reject it as bad input (exit 2, or
4 when the plan breaks a verifier invariant) with a one-line "error:"
message; anything else fails: a signal (crash, abort), exit 1 (an internal
error, a bug), a run past --timeout seconds, or an output file left behind
by a run that failed. Deterministic for a given --seed.

  mutate_plans.py --bin DIR [--run] [--count N] [--seed S] [--timeout T]
                  --work DIR PLAN.textproto...
"""
import argparse
import os
import random
import re
import subprocess
import sys

EDGE_INTS = ["0", "-1", "1", "2", "3", "-2147483648", "2147483647", "4294967296",
             "9223372036854775807", "-9223372036854775808", "65535", "32768"]
EDGE_FLOATS = ["0", "-1", "1e308", "-1e308", "nan", "inf", "-inf", "1e-320", "0.5", "-0.0"]
FIELD = re.compile(r"^(\s*)([a-z_0-9]+)(\s*:\s*)(.+?)\s*$")


def mutate(lines, rng, enums):
    kind = rng.choice(["value", "value", "value", "drop", "dup", "move"])
    fields = [i for i, l in enumerate(lines) if FIELD.match(l)]
    if not fields:
        return lines, "nothing"
    i = rng.choice(fields)
    m = FIELD.match(lines[i])
    if kind == "value":
        value = m.group(4)
        if value.startswith('"'):
            new = rng.choice(['""', '"x"', '"\\377"', '"' + "a" * 300 + '"'])
        elif re.fullmatch(r"-?\d+", value):
            new = rng.choice(EDGE_INTS + [str(int(value) + rng.choice([-2, -1, 1, 2, 100]))])
        elif re.fullmatch(r"[-+0-9.eE]+|nan|inf|-inf", value):
            new = rng.choice(EDGE_FLOATS + [repr(float(value) * rng.choice([-1, 0.5, 2, 1e6]))])
        elif value in ("true", "false"):
            new = "false" if value == "true" else "true"
        else:
            new = rng.choice(sorted(enums) + ["BOGUS_KIND", "-1", "99"])
        lines = lines[:i] + [m.group(1) + m.group(2) + m.group(3) + new] + lines[i + 1:]
        return lines, f"line {i + 1}: {m.group(2)}: {value} -> {new}"
    if kind == "drop":
        return lines[:i] + lines[i + 1:], f"line {i + 1} dropped: {lines[i].strip()}"
    if kind == "dup":
        return lines[:i + 1] + [lines[i]] + lines[i + 1:], f"line {i + 1} doubled: {lines[i].strip()}"
    j = rng.choice(fields)
    moved = lines[:i] + lines[i + 1:]
    moved.insert(min(j, len(moved)), lines[i])
    return moved, f"line {i + 1} moved to {j + 1}: {lines[i].strip()}"


def check(cmd, outputs, timeout):
    """Runs cmd; returns a complaint or None."""
    for o in outputs:
        if os.path.exists(o):
            os.remove(o)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           errors="replace")
    except subprocess.TimeoutExpired:
        return f"ran past {timeout} s"
    if p.returncode < 0:
        return f"killed by signal {-p.returncode}: {p.stderr.strip()[-400:]}"
    if p.returncode not in (0, 2, 4):
        return f"exit {p.returncode}: {p.stderr.strip()[-400:]}"
    if p.returncode != 0:
        if "error" not in p.stderr:
            return f"exit {p.returncode} without an error message: {p.stderr.strip()[-400:]}"
        left = [o for o in outputs if os.path.exists(o)]
        if left:
            return f"exit {p.returncode} but wrote {', '.join(left)}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory holding pfc, pfc-dump, pfc-run")
    ap.add_argument("--work", required=True)
    ap.add_argument("--count", type=int, default=100, help="variants per plan")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--run", action="store_true", help="also run each variant with pfc-run")
    ap.add_argument("plans", nargs="+")
    args = ap.parse_args()
    tool = lambda name: os.path.join(args.bin, name)
    os.makedirs(args.work, exist_ok=True)
    rng = random.Random(args.seed)
    failures, runs, outcomes = [], 0, {}
    for plan in args.plans:
        base = open(plan).read().splitlines()
        enums = {m.group(4) for l in base if (m := FIELD.match(l)) and
                 re.fullmatch(r"[A-Z][A-Z_0-9]*", m.group(4))}
        for n in range(args.count):
            lines, what = base, []
            for _ in range(rng.randint(1, 3)):
                lines, w = mutate(lines, rng, enums)
                what.append(w)
            variant = os.path.join(args.work, f"variant-{n}.textproto")
            with open(variant, "w") as f:
                f.write("\n".join(lines) + "\n")
            out = os.path.join(args.work, "out")
            cmds = [([tool("pfc-dump"), variant], []),
                    ([tool("pfc-dump"), "--view", "trace", "-o", out, variant], [out]),
                    ([tool("pfc-dump"), "--view", "memory", "--json", variant], []),
                    ([tool("pfc-dump"), "--view", "timeline", variant], []),
                    ([tool("pfc-dump"), "--view", "svg", "-o", out, variant], [out]),
                    ([tool("pfc-dump"), "--view", "network", variant], []),
                    ([tool("pfc"), "opt", variant, "--passes=verify", "-o", out], [out])]
            if args.run:
                cmds.append(([tool("pfc-run"), variant, "--steps", "1", "--losses", out], [out]))
            for cmd, outputs in cmds:
                runs += 1
                complaint = check(cmd, outputs, args.timeout)
                name = os.path.basename(cmd[0]) + (" " + cmd[1] if cmd[1].startswith("-") or
                                                   cmd[1] == "opt" else "")
                outcomes[name] = outcomes.get(name, 0) + (complaint is None)
                if complaint:
                    kept = os.path.join(args.work, f"failed-{len(failures)}.textproto")
                    os.replace(variant, kept) if not os.path.exists(kept) else None
                    failures.append(f"{os.path.basename(plan)} variant {n} ({'; '.join(what)}): "
                                    f"{' '.join(cmd[:2])}: {complaint} [kept as {kept}]")
                    break
    print(f"mutate_plans: {runs} runs over {args.count} variants of {len(args.plans)} plan(s), "
          f"{len(failures)} failure(s)")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
