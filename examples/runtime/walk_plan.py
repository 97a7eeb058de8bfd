#!/usr/bin/env python3
"""A runtime's view of a pfc plan: walks it as docs/plan-format.md says a
runtime must, with nothing but the JSON encoding and the standard library.

Every (device, stream) is an instruction stream. In step j of training a
stream runs its per-step tasks and the cycle tasks with cycle_step = j mod k
(k = report.cycle_steps), one at a time, in the listed order; a task starts
once the task before it on its stream and every task in its deps have ended.
Dependencies of a cycle task on per-step tasks name the same step's
instances (a curvature task with data_lag 1: the step before, already run);
a per-step task reads a cycle task's result in a later cycle, so such edges
do not hold it back. A send and its receive are one transfer. Collectives
are rendezvous, as NCCL's are: the copies of a collective -- the same kind
on stages holding the same layers, the n-th such task of the step on each
device's collective stream -- start together, once every copy can.

The walk has no clock: it only asks whether every device can issue its
tasks in the listed order without waiting forever. It prints the order in
which each device's streams issue work for --show devices, and exits 1
naming the stuck stream heads if the plan would deadlock.

  walk_plan.py PLAN.json [--cycles C] [--show DEVICE,...]

Write a JSON plan with `pfc compile ... -o plan.json` or convert one with
`pfc opt plan.pb --passes=verify -o plan.json`.
"""
import argparse
import json
import sys
from collections import defaultdict

STREAMS = ["COMPUTE", "SEND", "RECV", "COLLECTIVE"]
CYCLE_KINDS = {"CURVATURE_A", "CURVATURE_B", "FACTOR_ALL_REDUCE", "INVERT_A", "INVERT_B"}
COLLECTIVES = {"ALL_REDUCE", "REDUCE_SCATTER", "ALL_GATHER", "FACTOR_ALL_REDUCE"}


def load(path):
    with open(path) as f:
        plan = json.load(f)
    tasks = plan.get("tasks", [])
    for i, t in enumerate(tasks):  # proto3 JSON leaves out defaults
        t.setdefault("id", 0)
        t.setdefault("device", 0)
        t.setdefault("stream", "COMPUTE")
        t.setdefault("stage", 0)
        t.setdefault("deps", [])
        t.setdefault("cycle_step", 0)
        t.setdefault("data_lag", 0)
        if t["id"] != i:
            sys.exit(f"walk_plan: {path}: tasks[{i}] has id {t['id']}")
    stages = plan.get("stages", [])
    for s in stages:
        s.setdefault("layer_begin", 0)
        s.setdefault("layer_end", 0)
    streams = {}
    for s in plan.get("streams", []):
        streams[(s.get("device", 0), s.get("stream", "COMPUTE"))] = s.get("tasks", [])
    k = max(1, plan.get("report", {}).get("cycle_steps", 1))
    return plan, tasks, stages, streams, k


def walk_step(step, k, tasks, stages, streams):
    """Runs one step; returns {(device, stream): [task ids in issue order]}
    or raises RuntimeError naming the stuck heads."""
    def runs(t):
        return t["kind"] not in CYCLE_KINDS or t["cycle_step"] == step % k
    queue = {key: [i for i in ids if runs(tasks[i])] for key, ids in streams.items()}
    # Copies of a collective: same kind, same stage layers, n-th of the step.
    group, seen = {}, defaultdict(int)
    for (device, stream), ids in sorted(queue.items()):
        for i in ids:
            t = tasks[i]
            if t["kind"] in COLLECTIVES:
                st = stages[t["stage"]]
                key = (t["kind"], st["layer_begin"], st["layer_end"])
                group[i] = key + (seen[(device,) + key],)
                seen[(device,) + key] += 1
    members = defaultdict(list)
    for i, g in group.items():
        members[g].append(i)
    done, issued = set(), defaultdict(list)
    head = {key: 0 for key in queue}

    def ready(i):
        t = tasks[i]
        for d in t["deps"]:
            dt = tasks[d]
            if dt["kind"] in CYCLE_KINDS and t["kind"] not in CYCLE_KINDS:
                continue  # read in a later cycle
            if dt["kind"] not in CYCLE_KINDS and t["data_lag"] > 0:
                continue  # the step before's instance, already run
            if dt["kind"] in CYCLE_KINDS and not runs(dt):
                if dt["cycle_step"] < step % k:
                    continue  # ran earlier in the cycle
                return False  # placed later in the cycle: never, this step
            if d not in done:
                return False
        return True

    def at_head(i):
        t = tasks[i]
        ids = queue[(t["device"], t["stream"])]
        pos = head[(t["device"], t["stream"])]
        return pos < len(ids) and ids[pos] == i

    remaining = sum(len(v) for v in queue.values())
    while remaining:
        progress = False
        for key, ids in queue.items():
            while head[key] < len(ids):
                i = ids[head[key]]
                together = members[group[i]] if i in group else [i]
                if not all(at_head(j) and ready(j) for j in together):
                    break
                for j in together:
                    tj = tasks[j]
                    done.add(j)
                    issued[(tj["device"], tj["stream"])].append(j)
                    head[(tj["device"], tj["stream"])] += 1
                    remaining -= 1
                progress = True
        if not progress:
            stuck = [f"device {d} {s}: task {ids[head[(d, s)]]} ({tasks[ids[head[(d, s)]]]['kind']})"
                     for (d, s), ids in sorted(queue.items()) if head[(d, s)] < len(ids)]
            raise RuntimeError(f"step {step}: deadlock; stream heads waiting: " + "; ".join(stuck))
    return issued


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("plan")
    ap.add_argument("--cycles", type=int, default=2, help="refresh cycles to walk (default 2)")
    ap.add_argument("--show", default="", help="devices whose issue order to print, e.g. 0,1")
    args = ap.parse_args()
    plan, tasks, stages, streams, k = load(args.plan)
    show = {int(d) for d in args.show.split(",") if d != ""}
    total = 0
    for step in range(args.cycles * k):
        try:
            issued = walk_step(step, k, tasks, stages, streams)
        except RuntimeError as e:
            print(f"walk_plan: {args.plan}: {e}")
            return 1
        total += sum(len(v) for v in issued.values())
        for (device, stream), ids in sorted(issued.items()):
            if device in show:
                print(f"step {step} device {device} {stream}: " + " ".join(
                    f"{tasks[i]['kind'].lower()}#{i}" for i in ids))
    print(f"walk_plan: {args.cycles} cycle(s) of {k} step(s), {total} task runs, "
          f"{len(tasks)} tasks on {len(streams)} streams: no deadlock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
