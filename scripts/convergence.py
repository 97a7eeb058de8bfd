#!/usr/bin/env python3
"""Convergence: steps to a target loss for SGD, AdamW and K-FAC under pfc-run.

Compiles one K-FAC plan (1F1B, 2 stages, by default 4 micro-batches of 16
sequences, 2048 tokens a step; a small model) and trains it with pfc-run on the
teacher-student task and on the text corpus:

  * SGD (momentum 0.9) and AdamW over learning rate x schedule; the best
    setting (fewest steps to the target, then lowest final loss) is the
    tuned one;
  * K-FAC through the plan's tasks at k = 1 (inverses refreshed every step:
    --kfac-warmup as long as the run) and at the plan's k (refresh cycle of
    the compiled plan, --kfac-warmup 0) -- and, as pfc-run runs it by
    default, at the plan's k after 20 steps at k = 1 (--kfac-warmup 20) --
    each over KL clip x factor decay x schedule, with the embedding
    preconditioned too (--kfac-embedding).

The learning-rate schedule is part of every optimizer's grid: constant;
a linear warm-up over the first 10% of the steps, then constant
(--warmup-steps); or the same warm-up, then a cosine down to 0 at the last
step (--lr-schedule cosine). Every optimizer trains on the same batches from
the same seeds. Steps to target: the first step at which the mean training
loss of the --window steps centred on it is at or below the target (or,
with --window-align trailing, of the last --window steps, which lags the
loss by (window - 1) / 2 steps for every optimizer alike and so shrinks the
gaps at early targets; the tuned table gives that count too); each target
(two per task, the second late in training) has its own tuned setting per
optimizer. Prints a markdown table of the tuned runs and
one of every run, and writes a loss plot of the tuned runs (SVG, one panel
per task). Several seeds: the steps are the median (a setting counts only if
every seed reaches the target). --jobs runs that many pfc-run at once.

Larger batches: --micro-batch-size (sequences per micro-batch, the model's
micro_batch_size, compiled into the plan) and --microbatches (pfc compile
--microbatches) keep the plan's structure (1F1B, 2 stages); the plan's k
is read back from pfc-run and printed. --grid small keeps the constant
rate only (3 settings per optimizer instead of 9), and --sgd-lr, --adam-lr,
--adam-beta1, --adam-beta2 (AdamW's moment decays), --kfac-lr,
--kfac-kl-clip, --kfac-damping, --kfac-decay, --kfac-momentum (the update's
momentum, pfc-run --momentum) (comma-separated lists; the grid is their
product with the schedules) re-centre the grids, e.g. for a larger batch.
--hidden, --blocks, --heads and --seq size the model (ffn: 4 x hidden);
--teacher-steps gives the teacher task its own run length. --schedules
picks the schedules (a subset of constant, warmup, cosine) and
--kfac-schedules K-FAC's own. --keep DIR keeps every run's losses CSV (in a
new directory under DIR, named at the end) for a later look.

  scripts/convergence.py [--build DIR] [--steps N] [--teacher-steps N] [--seeds 1,2] [--svg FILE]
                         [--teacher-targets 1.3,1.2] [--corpus-targets 2.8,2.6,2.45]
                         [--data teacher,corpus] [--optimizers sgd,adam,kfac-1,kfac-k,kfac-kw]
                         [--micro-batch-size 16] [--microbatches 4] [--grid full|small]
                         [--sgd-lr 0.45,0.6,0.9] [--adam-lr 0.01,0.03,0.06]
                         [--adam-beta1 0.9] [--adam-beta2 0.999] [--kfac-momentum 0.9]
                         [--kfac-lr 0.3] [--kfac-kl-clip 0.001,0.003,0.01]
                         [--kfac-damping 0.003] [--kfac-decay 0] [--jobs 2]
                         [--hidden 32] [--blocks 4] [--heads 4] [--seq 32]
                         [--schedules LIST] [--kfac-schedules LIST] [--keep DIR]
                         [--window 5] [--window-align centred|trailing]
"""
import argparse
import csv
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

MODEL = """# convergence.py's model: small enough for ~10 steps a second on one core.
name: "convergence"
num_layers: 4
hidden_size: 32
ffn_size: 128
num_heads: 4
seq_length: 32
vocab_size: 32
micro_batch_size: 16
precision: FP32
linear_layers_per_block: 6
"""

# The default grids (2048 tokens a step), 9 settings per optimizer: 3 values
# x the 3 schedules (SCHEDULES); the --sgd-lr ... --kfac-decay options
# replace the value lists (docs/run.md, "Larger batch", gives the grids used
# at 8192 and 16384 tokens). SGD and AdamW: learning rates that bracket the best on both tasks (SGD
# 1.0 and AdamW 0.1 diverge or are past their best); K-FAC: KL clip kappa
# (pfc-run --kfac-kl-clip) at learning rate 0.3, damping lambda 0.003
# (--kfac-damping; 0.001 and 0.01 were no better, 0.03 worse) and factor
# decay rho 0 (--kfac-decay; this step's curvature only). Dropped from the
# constant-rate grids of the earlier run, never best there: SGD 0.1, 0.2,
# 0.3; AdamW 0.003, 0.006, 0.02; K-FAC lr 0.6 and rho 0.95 (best once, tied).
# With the clip active K-FAC's layers take a step of fixed KL size,
# sqrt(kappa / sum <delta, grad>), whatever the rate: the rate (and so the
# schedule) moves them only where it is small enough that the clip is off,
# and always moves the parameters K-FAC leaves alone (LayerNorm).
SCHEDULES = ("constant", "warmup", "cosine")
SCHEDULE_TEXT = {"constant": "", "warmup": ", warm-up", "cosine": ", warm-up + cosine"}
WARMUP_FRACTION = 0.1  # of the steps: the warm-up of "warmup" and "cosine"
GRID_VALUES = {"sgd_lr": "0.45,0.6,0.9", "adam_lr": "0.01,0.03,0.06", "adam_beta1": "0.9",
               "adam_beta2": "0.999", "kfac_lr": "0.3", "kfac_momentum": "0.9",
               "kfac_kl_clip": "0.001,0.003,0.01", "kfac_damping": "0.003", "kfac_decay": "0"}
OPTIMIZERS = ("sgd", "adam", "kfac-1", "kfac-k", "kfac-kw")


def make_grids(values, schedules, kfac_schedules):
    """Every optimizer's settings: the product of its value lists and the
    schedules (K-FAC's: kfac_schedules)."""
    kfac = [(lr, damp, kl, rho, mom, sched) for lr in values["kfac_lr"]
            for damp in values["kfac_damping"] for kl in values["kfac_kl_clip"]
            for rho in values["kfac_decay"] for mom in values["kfac_momentum"]
            for sched in kfac_schedules]
    return {"sgd": [(lr, sched) for lr in values["sgd_lr"] for sched in schedules],
            "adam": [(lr, b1, b2, sched) for lr in values["adam_lr"]
                     for b1 in values["adam_beta1"] for b2 in values["adam_beta2"]
                     for sched in schedules],
            "kfac-1": kfac, "kfac-k": kfac, "kfac-kw": kfac}


LABELS = {"sgd": "SGD (momentum 0.9)", "adam": "AdamW", "kfac-1": "K-FAC, k = 1",
          "kfac-k": "K-FAC, plan's k = {k}",
          "kfac-kw": "K-FAC, plan's k = {k} after %d steps at k = 1" % 20}
COLOURS = {"sgd": "#1f77b4", "adam": "#ff7f0e", "kfac-1": "#2ca02c", "kfac-k": "#d62728",
           "kfac-kw": "#9467bd"}


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"convergence.py: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def setting_text(setting):
    sched = SCHEDULE_TEXT[setting[-1]]
    if len(setting) == 2:
        return f"lr {setting[0]}{sched}"
    if len(setting) == 4:  # AdamW: the betas named only where they are not the defaults
        beta1 = "" if setting[1] == 0.9 else f", β₁ {setting[1]}"
        beta2 = "" if setting[2] == 0.999 else f", β₂ {setting[2]}"
        return f"lr {setting[0]}{beta1}{beta2}{sched}"
    mom = "" if setting[4] == 0.9 else f", μ {setting[4]}"  # K-FAC's momentum
    return f"lr {setting[0]}, λ {setting[1]}, κ {setting[2]}, ρ {setting[3]}{mom}{sched}"


def train(pfc_run, plan, data, opt, setting, steps, seed, work):
    lr = setting[0]
    losses = os.path.join(work, f"{data}-{opt}-{'-'.join(map(str, setting))}-{seed}.csv")
    args = [pfc_run, plan, "--steps", str(steps), "--data", data, "--seed", str(seed),
            "--lr", str(lr), "--losses", losses]
    if len(setting) == 4:
        args += ["--adam-beta1", str(setting[1]), "--adam-beta2", str(setting[2])]
    if len(setting) == 6:
        args += ["--kfac-damping", str(setting[1]), "--kfac-kl-clip", str(setting[2]),
                 "--kfac-decay", str(setting[3]), "--momentum", str(setting[4])]
    if setting[-1] != "constant":
        args += ["--lr-schedule", "cosine" if setting[-1] == "cosine" else "constant",
                 "--warmup-steps", str(round(WARMUP_FRACTION * steps))]
    if opt == "kfac-1":
        args += ["--optimizer", "kfac", "--kfac-embedding", "--kfac-warmup", str(steps)]
    elif opt == "kfac-k":
        args += ["--optimizer", "kfac", "--kfac-embedding", "--kfac-warmup", "0"]
    elif opt == "kfac-kw":  # pfc-run's default: 20 steps at k = 1, then the plan's k
        args += ["--optimizer", "kfac", "--kfac-embedding", "--kfac-warmup", "20"]
    else:
        args += ["--optimizer", opt]
    out = run(args)
    with open(losses) as f:
        rows = list(csv.DictReader(f))
    curve = [float(r["loss"]) for r in rows]
    valid = re.search(r"valid loss=([0-9.]+)", out)
    return curve, float(valid.group(1)) if valid else None


def model_text(args):
    """MODEL with the sizes of the command line."""
    sizes = {"num_layers": args.blocks, "hidden_size": args.hidden, "ffn_size": 4 * args.hidden,
             "num_heads": args.heads, "seq_length": args.seq,
             "micro_batch_size": args.micro_batch_size}
    text = MODEL
    for field, value in sizes.items():
        text = re.sub(rf"^{field}: \d+$", f"{field}: {value}", text, flags=re.M)
    return text


def steps_to(curve, target, window, centred):
    """The first step (1-based) whose mean loss over window steps -- centred
    on it, or the last window steps -- is at or below target; None if none."""
    before = window // 2 if centred else window - 1
    for i in range(len(curve)):
        part = curve[max(0, i - before):i - before + window]
        if len(part) == window and sum(part) / window <= target:
            return i + 1
    return None


def median_steps(curves, target, window, centred):
    """steps_to's median over curves (seeds); None unless every one reaches target."""
    hits = [steps_to(c, target, window, centred) for c in curves]
    return statistics.median(hits) if None not in hits else None


def tail_mean(curve, window):
    return sum(curve[-window:]) / min(window, len(curve))


def loss_text(v):
    if v is None:
        return "-"
    return f"{v:.3f}" if math.isfinite(v) and v < 100 else "diverged"


def legend_lines(label, width=60):
    """A legend entry in lines of at most about width characters, broken
    after commas (a panel is 420 px wide, ~6 px a character)."""
    lines, line = [], ""
    for part in label.split(", "):
        piece = part if not line else line + ", " + part
        if line and len(piece) > width:
            lines.append(line + ",")
            line = "  " + part
        else:
            line = piece
    return lines + [line]


def svg_plot(panels, path):
    """panels: [(title, target, [(label, colour, curve)])] side by side."""
    pw, ph, left, right, top, bottom = 420, 320, 50, 10, 40, 40
    legend = max(sum(len(legend_lines(label)) for label, _, _ in curves)
                 for _, _, curves in panels)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{pw * len(panels)}" '
           f'height="{ph + 24 + 14 * legend}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>']
    for p, (title, target, curves) in enumerate(panels):
        x0 = p * pw
        steps = max(len(c) for _, _, c in curves)
        finite = [v for _, _, c in curves for v in c if math.isfinite(v)]
        lo = min(min(finite), target)
        hi = min(max(finite), max(c[0] for _, _, c in curves if math.isfinite(c[0])) * 1.2)
        lo, hi = math.floor(lo * 2) / 2, math.ceil(hi * 2) / 2

        def X(s):
            return x0 + left + (pw - left - right) * s / steps

        def Y(v):
            return top + (ph - top - bottom) * (hi - v) / (hi - lo)

        out.append(f'<text x="{x0 + left}" y="20" font-size="13">{title}</text>')
        out.append(f'<line x1="{X(0):.1f}" y1="{Y(hi):.1f}" x2="{X(0):.1f}" y2="{Y(lo):.1f}" '
                   'stroke="black"/>')
        out.append(f'<line x1="{X(0):.1f}" y1="{Y(lo):.1f}" x2="{X(steps):.1f}" '
                   f'y2="{Y(lo):.1f}" stroke="black"/>')
        for i in range(5):
            v, s = lo + (hi - lo) * i / 4, steps * i / 4
            out.append(f'<text x="{X(0) - 4:.1f}" y="{Y(v) + 4:.1f}" '
                       f'text-anchor="end">{v:.2f}</text>')
            out.append(f'<text x="{X(s):.1f}" y="{Y(lo) + 14:.1f}" '
                       f'text-anchor="middle">{s:.0f}</text>')
        out.append(f'<text x="{X(steps / 2):.1f}" y="{ph - 8}" text-anchor="middle">step</text>')
        out.append(f'<line x1="{X(0):.1f}" y1="{Y(target):.1f}" x2="{X(steps):.1f}" '
                   f'y2="{Y(target):.1f}" stroke="gray" stroke-dasharray="4,3"/>')
        out.append(f'<text x="{X(steps) - 2:.1f}" y="{Y(target) - 3:.1f}" fill="gray" '
                   f'text-anchor="end">target {target}</text>')
        row = 0
        for label, colour, curve in curves:
            pts = " ".join(f"{X(i + 1):.1f},{Y(min(v, hi)):.1f}"
                           for i, v in enumerate(curve) if math.isfinite(v))
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" '
                       f'points="{pts}"/>')
            for line in legend_lines(label):
                out.append(f'<text x="{x0 + 10}" y="{ph + 10 + 14 * row}" '
                           f'fill="{colour}" xml:space="preserve">{line}</text>')
                row += 1
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--teacher-steps", type=int,
                    help="steps on the teacher task (default: --steps)")
    ap.add_argument("--seeds", default="1", help="comma-separated seeds (median of steps)")
    ap.add_argument("--teacher-targets", default="1.3,1.2",
                    help="comma-separated target losses on the teacher task")
    ap.add_argument("--corpus-targets", default="2.8,2.6,2.45",
                    help="comma-separated target losses on the corpus")
    ap.add_argument("--window", type=int, default=5, help="steps averaged for the target test")
    ap.add_argument("--window-align", choices=("centred", "trailing"), default="centred",
                    help="the steps averaged: centred on the step (default; --window odd) "
                         "or the last --window steps")
    ap.add_argument("--keep", help="keep every run's losses CSV in this directory")
    ap.add_argument("--svg", help="write the loss plot of the tuned runs here")
    ap.add_argument("--data", default="teacher,corpus")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                    help="comma-separated subset of " + ", ".join(OPTIMIZERS))
    ap.add_argument("--micro-batch-size", type=int, default=16,
                    help="sequences per micro-batch, compiled into the plan (default 16)")
    ap.add_argument("--microbatches", type=int, default=4,
                    help="micro-batches a step, pfc compile --microbatches (default 4)")
    ap.add_argument("--hidden", type=int, default=32,
                    help="model hidden size (default 32; ffn is 4x)")
    ap.add_argument("--blocks", type=int, default=4, help="Transformer blocks (default 4)")
    ap.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    ap.add_argument("--seq", type=int, default=32, help="tokens per sequence (default 32)")
    ap.add_argument("--grid", choices=("full", "small"), default="full",
                    help="full: every setting at the 3 schedules; small: constant rate only")
    ap.add_argument("--kfac-schedules", help="K-FAC's schedules (default: --schedules)")
    ap.add_argument("--schedules", help="comma-separated subset of " + ", ".join(SCHEDULES) +
                    " (default: by --grid)")
    for name, default in GRID_VALUES.items():
        ap.add_argument("--" + name.replace("_", "-"), default=default,
                        help=f"comma-separated values for the grid (default {default})")
    ap.add_argument("--jobs", type=int, default=2, help="pfc-run processes at once (default 2)")
    args = ap.parse_args()
    pfc = os.path.join(args.build, "compiler", "pfc")
    pfc_run = os.path.join(args.build, "compiler", "pfc-run")
    for tool in (pfc, pfc_run):
        if not os.access(tool, os.X_OK):
            sys.exit(f"convergence.py: {tool} not found; build pfc and pfc-run or pass --build")
    seeds = [int(s) for s in args.seeds.split(",")]
    steps_of = {"teacher": args.teacher_steps or args.steps, "corpus": args.steps}
    if min(steps_of.values()) < 1:
        sys.exit("convergence.py: --steps and --teacher-steps must be at least 1")
    unknown = set(args.optimizers.split(",")) - set(OPTIMIZERS)
    if unknown:
        sys.exit(f"convergence.py: unknown --optimizers {', '.join(sorted(unknown))}; "
                 f"valid: {', '.join(OPTIMIZERS)}")
    if args.micro_batch_size < 1 or args.microbatches < 1:
        sys.exit("convergence.py: --micro-batch-size and --microbatches must be at least 1")
    if min(args.hidden, args.heads, args.seq) < 1 or args.blocks < 2 or \
            args.hidden % args.heads:
        sys.exit("convergence.py: --hidden, --heads and --seq must be positive, --blocks at "
                 "least 2 (2 stages), and --heads must divide --hidden")
    values = {}
    for name in GRID_VALUES:
        try:
            values[name] = [float(v) for v in getattr(args, name).split(",")]
        except ValueError:
            sys.exit(f"convergence.py: --{name.replace('_', '-')} wants comma-separated "
                     f"numbers, got '{getattr(args, name)}'")
    if args.window < 1 or (args.window_align == "centred" and args.window % 2 == 0):
        sys.exit("convergence.py: --window must be at least 1, and odd with --window-align "
                 "centred")
    def schedule_list(name, default):
        if not getattr(args, name):
            return default
        chosen = tuple(getattr(args, name).split(","))
        if set(chosen) - set(SCHEDULES):
            sys.exit(f"convergence.py: unknown --{name.replace('_', '-')} "
                     f"{', '.join(sorted(set(chosen) - set(SCHEDULES)))}; "
                     f"valid: {', '.join(SCHEDULES)}")
        return chosen

    schedules = schedule_list("schedules",
                              SCHEDULES if args.grid == "full" else ("constant",))
    kfac_schedules = schedule_list("kfac_schedules", schedules)
    grids = {opt: grid for opt, grid in make_grids(values, schedules, kfac_schedules).items()
             if opt in args.optimizers.split(",")}
    centred = args.window_align == "centred"
    started = time.monotonic()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pfc-convergence-", dir=args.keep)
    model = os.path.join(work, "model.textproto")
    with open(model, "w") as f:
        f.write(model_text(args))
    plan = os.path.join(work, "plan.pb")
    run([pfc, "compile", "--model", model, "--cluster", "p100-cluster", "--schedule", "1f1b",
         "--stages", "2", "--microbatches", str(args.microbatches), "--optimizer", "kfac",
         "-o", plan])
    k = re.search(r"refresh cycle (\d+) steps",
                  run([pfc_run, plan, "--steps", "1", "--data", "teacher"])).group(1)

    tuned, every, panels = [], [], []
    for data in args.data.split(","):
        targets = [float(t) for t in
                   (args.teacher_targets if data == "teacher" else args.corpus_targets).split(",")]
        best_curves = []
        jobs = [(opt, setting, s) for opt, grid in grids.items() for setting in grid
                for s in seeds]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            done = dict(zip(jobs, pool.map(
                lambda j: train(pfc_run, plan, data, j[0], j[1], steps_of[data], j[2], work),
                jobs)))
        for opt, grid in grids.items():
            results = []
            for setting in grid:
                runs = [done[(opt, setting, s)] for s in seeds]
                curves = [c for c, _ in runs]
                steps = [median_steps(curves, t, args.window, centred) for t in targets]
                # The trailing window's count too, for the tuned table.
                lags = [median_steps(curves, t, args.window, False) if centred else None
                        for t in targets]
                final = statistics.median(tail_mean(c, args.window) for c, _ in runs)
                valids = [v for _, v in runs if v is not None]
                valid = statistics.median(valids) if valids else None
                results.append((setting, steps, final, valid, runs[0][0], lags))
                every.append((data, opt, setting, steps, final, valid))
                print(f"  {data} {opt} {setting_text(setting)}: steps to {targets} {steps}, "
                      f"final {loss_text(final)}", file=sys.stderr)
            for i, target in enumerate(targets):
                best = min(results, key=lambda r: (r[1][i] is None, r[1][i] or 0, r[2]))
                tuned.append((data, target, opt, best[0], best[1][i], best[2], best[3],
                              best[5][i]))
                if i == len(targets) - 1:
                    best_curves.append((f"{LABELS[opt].format(k=k)}, {setting_text(best[0])}",
                                        COLOURS[opt], best[4]))
        panels.append((f"{data}: training loss of the tuned runs", targets[-1], best_curves))

    teacher_text = "" if steps_of["teacher"] == args.steps else \
        f" (teacher: {steps_of['teacher']})"
    warmup_text = "" if schedules == ("constant",) else \
        f" (warm-up: {WARMUP_FRACTION:.0%} of the steps)"
    print(f"pfc-run convergence: {args.blocks} blocks, hidden {args.hidden}, {args.heads} heads, "
          f"2 stages (1F1B), {args.microbatches} "
          f"micro-batches of {args.micro_batch_size} x {args.seq} tokens "
          f"({args.microbatches * args.micro_batch_size * args.seq} tokens a step), fp32, "
          f"{args.steps} steps{teacher_text}, seeds {args.seeds}; plan's K-FAC "
          f"refresh cycle k = {k}; schedules: {', '.join(schedules)}"
          f"{warmup_text}; target: mean loss of "
          f"{args.window} steps{' centred on the step' if centred else ''}; "
          f"{time.monotonic() - started:.0f} s with {args.jobs} jobs")
    print()
    lag_head = f" trailing {args.window}-step mean |" if centred else ""
    print("| data | target | optimizer | tuned setting | steps to target |" + lag_head +
          " final loss | valid loss |")
    print("|---|---|---|---|---|" + ("---|" if centred else "") + "---|---|")
    for data, target, opt, setting, steps, final, valid, lag in tuned:
        most = f"> {steps_of[data]}"
        lag_text = f" {lag or most} |" if centred else ""
        print(f"| {data} | {target} | {LABELS[opt].format(k=k)} | {setting_text(setting)} | "
              f"{steps or most} |{lag_text} {loss_text(final)} | {loss_text(valid)} |")
    print()
    print("K-FAC against the better tuned first-order method (fewer steps: negative):")
    print()
    for data in args.data.split(","):
        for target in sorted({t for d, t, *_ in tuned if d == data}, reverse=True):
            best = {opt: steps for d, t, opt, _, steps, *_ in tuned if d == data and t == target}
            first = [v for v in (best.get("sgd"), best.get("adam")) if v]
            for opt in ("kfac-1", "kfac-k", "kfac-kw"):
                if opt not in best:
                    continue
                if first and best[opt]:
                    text = f"{best[opt]} vs {min(first)} steps, {100 * (best[opt] / min(first) - 1):+.0f}%"
                else:
                    most = '> ' + str(steps_of[data])
                    text = f"{best[opt] or most} vs {min(first) if first else most} steps"
                print(f"- {data} to {target}: {LABELS[opt].format(k=k)}: {text}")
    print()
    print("Every run (steps to each target):")
    print()
    print("| data | optimizer | setting | steps to targets | final loss | valid loss |")
    print("|---|---|---|---|---|---|")
    for data, opt, setting, steps, final, valid in every:
        hits = ", ".join(str(h) if h else f"> {steps_of[data]}" for h in steps)
        print(f"| {data} | {LABELS[opt].format(k=k)} | {setting_text(setting)} | {hits} | "
              f"{loss_text(final)} | {loss_text(valid)} |")
    if args.svg:
        svg_plot(panels, args.svg)
    if args.keep:
        print(f"\nThe runs' losses: {work}")
        return
    for f in os.listdir(work):
        os.remove(os.path.join(work, f))
    os.rmdir(work)


if __name__ == "__main__":
    main()
