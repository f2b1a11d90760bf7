"""One row per figure of accord-bench's JSON lines, one column per run (A1 B1 A2 B2 …).
Throughput rows give requests (or events) per second, latency rows p50/p99 in ms."""
import collections
import json
import sys

out, runs = sys.argv[1], int(sys.argv[2])
cols = [f"{side}-{i}" for i in range(1, runs + 1) for side in "AB"]
rows = collections.OrderedDict()
for col in cols:
    try:
        lines = open(f"{out}/{col}.jsonl").read().splitlines()
    except FileNotFoundError:
        continue
    for line in lines:
        if not line.strip():
            continue
        j = json.loads(line)
        b = j["bench"]
        if b == "list":
            key, val = f"list {j.get('query')}", f"{j.get('p50_ms')}/{j.get('p99_ms')}"
        elif "events_per_s" in j or "rps" in j:
            key = f"{b} {j.get('connections', '')}".strip()
            val = j.get("events_per_s") or j.get("rps")
        elif "p50_ms" in j:
            key, val = b, f"{j.get('p50_ms')}/{j.get('p99_ms')}"
        elif b == "memory":
            key, val = "memory (VmHWM MB)", j.get("vm_hwm_mb")
        else:
            continue
        rows.setdefault(key, {})[col] = val
print("| figure | " + " | ".join(cols) + " |")
print("|---" * (len(cols) + 1) + "|")
for key, vals in rows.items():
    print(f"| {key} | " + " | ".join(str(vals.get(c, "-")) for c in cols) + " |")
