"""Medians of bench/load/run.sh's results (one JSON line per run) as a Markdown table."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        key = (r.get("scenario") or "limit " + r["limit"], r["backend"], r.get("label", "database"))
        runs[key].append(r)


def med(rs, field):
    values = [r[field] for r in rs if field in r]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    return "" if v is None else f"{v:,.{digits}f}"


print("| scenario | database | server | runs | per second | p50 ms | p99 ms | peak RSS MiB | CPU ms/unit | startup ms | idle RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (scenario, backend, label), rs in sorted(runs.items()):
    print(
        f"| {scenario} | {backend} | {label} | {len(rs)} | {fmt(med(rs, 'per_second'))} | {fmt(med(rs, 'p50_ms'), 1)} | "
        f"{fmt(med(rs, 'p99_ms'), 1)} | {fmt(med(rs, 'peak_rss_mib'))} | {fmt(med(rs, 'cpu_ms_per_unit'), 2)} | "
        f"{fmt(med(rs, 'startup_ms'))} | {fmt(med(rs, 'idle_rss_mib'))} |"
    )
