#!/usr/bin/env python3
"""Per-statement inclusive instructions of each function, from two callgrind
runs of the same workload with N1 and N2 statements (see
append_instructions.sh): (inclusive(N2) - inclusive(N1)) / (N2 - N1).

    callgrind_diff.py FILE_N1 FILE_N2 N2_MINUS_N1 [LIMIT]
"""
import re
import subprocess
import sys


def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*?) \[", line)
        if m:
            name = m.group(2)
            name = name.split(":", 1)[1] if ":" in name and not name.startswith("???:0x") else name
            result[name] = result.get(name, 0) + int(m.group(1).replace(",", ""))
    return result


a, b, n = inclusive(sys.argv[1]), inclusive(sys.argv[2]), int(sys.argv[3])
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 60
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / n, k) for k in set(a) | set(b))
rows.reverse()
for value, name in rows[:limit]:
    print(f"{value:12,.0f}  {name}")
