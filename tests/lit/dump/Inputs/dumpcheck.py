"""Checks a pfc-dump SVG timeline or Chrome trace and prints counts to FileCheck.

  dumpcheck.py svg FILE [PLAN.json]
  dumpcheck.py trace FILE [PLAN.json]

svg: parses FILE as XML (fails on invalid XML) and prints "KEY boxes=N" per task
kind drawn, and the number of micro-batch labels. trace: parses FILE as JSON
(fails on invalid JSON), checks every complete event has numeric ts/dur >= 0 and
integer pid/tid, and prints "KEY events=N" per category, then the flow, metadata
and instant event counts. With a plan written as JSON (pfc compile -o p.json),
each count line is followed by "KEY tasks=M": the plan's tasks of that kind,
times the cycle steps for per-step kinds, so that a test can match
"KEY boxes=[[#N:]]" and then "KEY tasks=[[#N]]".
"""
import collections
import json
import sys
import xml.etree.ElementTree as ET

KEYS = {
    "FORWARD": "fwd", "BACKWARD": "bwd", "SEND_ACTIVATION": "send-act",
    "RECV_ACTIVATION": "recv-act", "SEND_GRADIENT": "send-grad",
    "RECV_GRADIENT": "recv-grad", "ALL_REDUCE": "all-reduce",
    "OPTIMIZER_STEP": "optimizer", "CURVATURE_A": "curv-a", "CURVATURE_B": "curv-b",
    "FACTOR_ALL_REDUCE": "factor-all-reduce", "INVERT_A": "inv-a",
    "INVERT_B": "inv-b", "PRECONDITION": "precondition",
    "REDUCE_SCATTER": "reduce-scatter", "ALL_GATHER": "all-gather",
}
CYCLE = {"CURVATURE_A", "CURVATURE_B", "FACTOR_ALL_REDUCE", "INVERT_A", "INVERT_B"}


def plan_counts(path):
    plan = json.load(open(path))
    report = plan.get("report", {})
    steps = max(1, report.get("cycle_steps", report.get("cycleSteps", 1)))
    counts = collections.Counter()
    for task in plan.get("tasks", []):
        kind = task.get("kind", "TASK_KIND_UNSPECIFIED")
        counts[KEYS.get(kind, "other")] += 1 if kind in CYCLE else steps
    return counts


def report(drawn, word, plan):
    for key in sorted(set(drawn) | set(plan or ())):
        print(f"{key} {word}={drawn[key]}")
        if plan is not None:
            print(f"{key} tasks={plan[key]}")


def svg(path, plan):
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.parse(path).getroot()
    assert root.tag == ns + "svg", root.tag
    boxes = collections.Counter()
    labels = 0
    for group in root.iter(ns + "g"):
        if group.get("class") != "tasks":
            continue
        boxes.update(r.get("class") for r in group.iter(ns + "rect"))
        labels += sum(1 for t in group.iter(ns + "text") if t.get("class") == "mb")
    report(boxes, "boxes", plan)
    print(f"micro-batch labels={labels}")


def trace(path, plan):
    events = json.load(open(path))["traceEvents"]
    phases = collections.Counter(e["ph"] for e in events)
    complete = collections.Counter()
    for e in events:
        if e["ph"] != "X":
            continue
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
        assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
        complete[e["cat"]] += 1
    report(complete, "events", plan)
    for ph in sorted(phases):
        print(f"ph {ph}={phases[ph]}")


def main():
    mode, path = sys.argv[1], sys.argv[2]
    plan = plan_counts(sys.argv[3]) if len(sys.argv) > 3 else None
    {"svg": svg, "trace": trace}[mode](path, plan)


if __name__ == "__main__":
    main()
