#!/usr/bin/env python3
"""Fuzz test of event_sourcing against a running throwaway cluster.

Replays the corpus of past findings (test/fuzz/corpus/*.sql), then runs
random cases for a while: reducer rules, upcaster specs, hand-built es.events
rows, swapped functions, hostile user code (CLOSE ALL, errors, SET commands,
long loops, re-entry) and extreme arguments, as the unprivileged role "fuzz".
Each case is a psql script; a case fails when

  - the server crashes or restarts (pg_postmaster_start_time changes, or the
    log says "terminated by signal" / PANIC / TRAP),
  - an internal error (SQLSTATE XX000) appears, in psql's output or the log,
  - a statement outlives its statement_timeout by more than --slack seconds
    (when by less than 5 s more, only if it does so again in a fresh world:
    a busy machine can delay a cancel by a second or two).

Random cases are reproducible: case N of seed S is generated from
random.Random(f"{S}:{N}") alone.  Cases run in "worlds" (a fresh database
every --world-size cases) and may see what earlier cases of their world left
behind, so a finding is reported with the seed and the case range of its
world:  fuzz.py --seed S --cases A-B  replays exactly those cases.

Known defects that other work is fixing are listed in test/fuzz/known_failures:
their corpus entries and generators are skipped until the list is emptied.

Uses the Python standard library only.  Connection: PGHOST, PGPORT; the
cluster's superuser is "postgres" (--superuser).
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

LOG_FAILURE = re.compile(r"terminated by signal|was terminated by|PANIC:|TRAP:|"
                         r" XX000 (ERROR|FATAL|PANIC|WARNING):|server process .* exited with exit code [^01]")
PSQL_ERROR = re.compile(r"^(?:psql:[^:]*:\d+: )?(ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): (.*)$", re.M)
PSQL_TIME = re.compile(r"^Time: ([0-9.]+) ms", re.M)
PSQL_LOST = re.compile(r"server closed the connection unexpectedly|connection to server was lost|"
                       r"terminating connection because of crash")
SET_TIMEOUT = re.compile(r"^\s*SET\s+(?:LOCAL\s+|SESSION\s+)?statement_timeout\s*(?:=|TO)\s*'?(\d+)\s*(ms|s|min)?'?",
                         re.I | re.M)


class Stuck(Exception):
    """A backend that ignores cancel and terminate: the run cannot go on."""


class Server:
    """The cluster under test: psql runs, its log, its start time."""

    def __init__(self, args):
        self.psql = args.psql
        self.superuser = args.superuser
        self.log_path = args.log
        self.log_offset = os.path.getsize(self.log_path) if self.log_path else 0
        self.started = None

    def run(self, script, db, user, timeout=120, appname="fuzz"):
        """Run a psql script; returns (output, seconds, timed_out)."""
        env = dict(os.environ, PGAPPNAME=appname, PGCONNECT_TIMEOUT="10")
        cmd = [self.psql, "-X", "-v", "ON_ERROR_STOP=0", "-U", user, "-d", db, "-f", "-"]
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, input=script.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, timeout=timeout)
            return p.stdout.decode(errors="replace"), time.monotonic() - t0, False
        except subprocess.TimeoutExpired as e:
            self.stop_backends(appname)
            out = (e.stdout or b"").decode(errors="replace")
            return out, time.monotonic() - t0, True

    def admin(self, sql, db="postgres"):
        """Run SQL as the superuser, stopping at the first error."""
        cmd = [self.psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", self.superuser,
               "-d", db, "-c", sql]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"admin SQL failed: {sql}\n{p.stdout.decode(errors='replace')}")
        return p.stdout.decode().strip()

    def stop_backends(self, appname):
        """Cancel, then terminate, the backends of a case that hangs; raise
        Stuck when they ignore both (then nothing else can run)."""
        query = f"FROM pg_stat_activity WHERE application_name = '{appname}'"
        for fn in ("pg_cancel_backend", "pg_terminate_backend"):
            try:
                self.admin(f"SELECT {fn}(pid) {query}")
            except Exception:
                pass
            for _ in range(20):
                time.sleep(0.5)
                try:
                    if self.admin(f"SELECT count(*) {query}") == "0":
                        return
                except Exception:
                    pass
        raise Stuck(f"the backends of {appname} ignore cancel and terminate")

    def wait_ready(self, seconds=60):
        """Wait until the server accepts connections (after a crash restart:
        the postmaster may notice the crash a moment after the client)."""
        deadline = time.monotonic() + seconds
        ok = 0
        while time.monotonic() < deadline:
            try:
                self.admin("SELECT 1")
                ok += 1
                if ok == 2:
                    return True
                time.sleep(0.2)
            except Exception:
                ok = 0
                time.sleep(0.5)
        return False

    def start_time(self):
        for _ in range(3):
            try:
                return self.admin("SELECT pg_postmaster_start_time()")
            except Exception:
                self.wait_ready()
        return self.admin("SELECT pg_postmaster_start_time()")

    def new_log(self):
        """What the server logged since the last call."""
        if not self.log_path:
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        self.log_offset += len(data)
        return data.decode(errors="replace")


def timeout_ms(value, unit):
    return int(value) * {"ms": 1, None: 1, "s": 1000, "min": 60000}[unit and unit.lower()]


def check_case(server, output, seconds, timed_out, bound_ms, slack, allowed=()):
    """The failures one case shows: [(kind, detail)].  allowed: patterns of
    XX000 messages that PostgreSQL itself raises for what the case did."""
    failures = []
    for m in PSQL_ERROR.finditer(output):
        if m.group(2) == "XX000" and not any(re.search(a, m.group(3)) for a in allowed):
            failures.append(("XX000", m.group(3)))
        if m.group(1) == "PANIC":
            failures.append(("crash", m.group(0)))
    if PSQL_LOST.search(output):
        failures.append(("crash", "the connection was lost"))
    for m in PSQL_TIME.finditer(output):
        took = float(m.group(1))
        if took > bound_ms + slack * 1000:
            # a few seconds over may be a busy machine: the caller tries again
            failures.append(("slow" if took <= bound_ms + (slack + 5) * 1000 else "hang",
                             f"a statement took {took:.0f} ms under a {bound_ms} ms statement_timeout"))
    if timed_out:
        failures.append(("hang", f"the case did not end in {seconds:.0f} s"))
    # after a crash the postmaster logs it, then restarts: wait for that
    ready = server.wait_ready()
    for line in server.new_log().splitlines():
        if LOG_FAILURE.search(line) and not any(re.search(a, line) for a in allowed):
            failures.append(("crash" if "XX000" not in line else "XX000", line.strip()))
    if not ready:
        failures.append(("crash", "the server does not come back"))
        return failures
    started = server.start_time()
    if server.started is not None and started != server.started:
        failures.append(("crash", f"the postmaster restarted at {started}"))
    server.started = started
    return failures


# ---------------------------------------------------------------------------
# Worlds: a fresh database with the extension, the role "fuzz" and its schema
# ---------------------------------------------------------------------------

WORLD_SETUP = """
CREATE EXTENSION event_sourcing;
CREATE SCHEMA fz AUTHORIZATION fuzz;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA es TO fuzz;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA es TO fuzz;
ALTER ROLE fuzz IN DATABASE {db} SET statement_timeout = '{timeout}ms';
ALTER ROLE fuzz IN DATABASE {db} SET search_path = fz, public;
ALTER ROLE {superuser} IN DATABASE {db} SET statement_timeout = '{timeout}ms';
"""


class Worlds:
    def __init__(self, server, prefix, timeout):
        self.server = server
        self.prefix = prefix
        self.timeout = timeout
        self.current = None
        self.count = 0
        server.admin("DO $$ BEGIN CREATE ROLE fuzz LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")

    def fresh(self):
        """Drop the current world's database and make a new one."""
        self.drop()
        self.count += 1
        self.current = self.create(f"{self.prefix}_{self.count}")
        return self.current

    def spare(self):
        """A fresh database beside the current world (dropped by the caller)."""
        return self.create(f"{self.prefix}_spare")

    def create(self, db):
        self.server.admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        self.server.admin(f"CREATE DATABASE {db}")
        for stmt in WORLD_SETUP.format(db=db, timeout=self.timeout,
                                       superuser=self.server.superuser).strip().split(";\n"):
            self.server.admin(stmt, db=db)
        return db

    def drop(self):
        if self.current is not None:
            try:
                self.server.admin(f"DROP DATABASE IF EXISTS {self.current} WITH (FORCE)")
            except Exception:
                pass
            self.current = None


# ---------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------

STATES = {}


def run_script(server, db, role, body, default_timeout_ms, slack, appname, allowed=()):
    """Run one case's SQL; returns (failures, output).  Counts SQLSTATEs."""
    user = server.superuser if role == "superuser" else "fuzz"
    script = ("\\set VERBOSITY verbose\n\\timing on\n"
              f"SET statement_timeout = '{default_timeout_ms}ms';\n" + body + "\n")
    bound = max([default_timeout_ms] + [timeout_ms(v, u) for v, u in SET_TIMEOUT.findall(body)])
    statements = max(1, body.count(";\n") + 1)
    hard = min(600, 10 + statements * (bound / 1000 + slack + 1))
    output, seconds, timed_out = server.run(script, db, user, timeout=hard, appname=appname)
    STATES["ok"] = STATES.get("ok", 0) + len(PSQL_TIME.findall(output)) - len(PSQL_ERROR.findall(output))
    for m in PSQL_ERROR.finditer(output):
        STATES[m.group(2)] = STATES.get(m.group(2), 0) + 1
    return check_case(server, output, seconds, timed_out, bound, slack, allowed), output


def confirm_slow(server, worlds, role, sql, args, appname, allowed):
    """Run a case that was slow once again, in a world of its own; returns
    its failures (none: the machine was busy, not the extension slow)."""
    db = worlds.spare()
    try:
        failures, _ = run_script(server, db, role, sql, args.timeout_ms, args.slack, appname, allowed)
    finally:
        server.admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    return failures


def corpus_entries(corpus_dir):
    for path in sorted(os.listdir(corpus_dir)):
        if path.endswith(".sql"):
            with open(os.path.join(corpus_dir, path)) as f:
                text = f.read()
            m = re.search(r"^-- role: (\w+)", text, re.M)
            yield path[:-4], (m.group(1) if m else "fuzz"), text


def read_known(path):
    """Ids listed in the known-failures file (# starts a comment)."""
    known = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)
                ident = line[0].strip()
                if ident:
                    known[ident] = line[1].strip() if len(line) > 1 else ""
    return known


# ---------------------------------------------------------------------------
# Random values
# ---------------------------------------------------------------------------

def q(s):
    """A SQL literal (or NULL)."""
    if s is None:
        return "NULL"
    return "'" + str(s).replace("'", "''") + "'"


def jq(value):
    """A jsonb literal."""
    return q(json.dumps(value, ensure_ascii=False)) + "::jsonb"


INT4 = [0, 1, -1, 2, 3, 7, 100, 2147483647, -2147483648, 2147483646, None]
INT8 = [0, 1, -1, 2, 5, 1000, 2147483648, 9223372036854775807, -9223372036854775808,
        9223372036854775806, None]
NAMES = ["a", "b", "x" * 63, "x" * 64, "y" * 300, "", " ", "a-b", "é", "日本", "q'uote", 'd"q',
         "*", "$all", "-", "a\\b", "a.b", "tab\there", None]
SHARED_TYPES = ["E", "F", "Old", "New", "$reserved", "T1"]
NUMBER_STRINGS = ["12", " 12 ", "-1.5", "1e3", "2024-01-01", "12abc", "NaN", "Infinity", "-", ".",
                  "1e", "1e999999999999", "1e-400", "0x10", "", "9" * 1001]


def rand_string(r):
    return r.choice(["a", "b", "amount", "x y", "É", "", "k" * r.randint(1, 300), "null",
                     "$", ".", "[0]", "*"] + NUMBER_STRINGS)


def rand_scalar(r):
    return r.choice([
        lambda: r.randint(-10, 10),
        lambda: r.choice([0, -0.0, 1.5, 1e300, -1e-300, 2 ** 63, -(2 ** 63) - 1, 10 ** 40]),
        lambda: rand_string(r),
        lambda: r.choice([True, False, None]),
    ])()


def rand_json(r, depth=3, width=4):
    """A random JSON value, sometimes nested, sometimes wide."""
    roll = r.random()
    if depth <= 0 or roll < 0.4:
        return rand_scalar(r)
    if roll < 0.75:
        return {rand_string(r) if r.random() < 0.3 else r.choice("abcdefgh"): rand_json(r, depth - 1, width)
                for _ in range(r.randint(0, width))}
    return [rand_json(r, depth - 1, width) for _ in range(r.randint(0, width))]


def rand_object(r, depth=3):
    v = rand_json(r, depth)
    return v if isinstance(v, dict) else {"v": v}


PATHS = ["$.data", "$.data.a", "$.data.a.b", "$.data.amount", "$.data.v", "$.metadata", "$.metadata.x",
         "$.stream_id", "$.stream_version", "$.event_type", "$.event_id", "$.occurred_at",
         "$.recorded_at", "$.global_position", "$.schema_version", "$.data.items[*]",
         "$.data.** ? (@ > 1)", "$.data.a.size()", "$.data.a.type()", "$.data[0]",
         "lax $.data.a", "strict $.data.a", "$.data.\"é\"", "$.data.a[last]"]
ODD_PATHS = ["$", "$.", "$$", "", "$.nope", "$.data.a ? (@ like_regex \"^(a+)+$\")",
             "$.data.a.datetime()", "$.data.a.double()", "$.data.a.keyvalue()",
             "$.data.a[1 to 1000000000]", "$.data.a ? (@ == $x)", 5]


def rand_path(r, p=0.05):
    roll = r.random()
    if roll < 0.8:
        return odd(r, PATHS, ODD_PATHS, p)
    if roll < 0.95:
        return "$.data" + "".join("." + r.choice("abc") for _ in range(r.randint(1, 50)))
    return "$.data" + ".a" * r.choice([1000, 10000, 100000])


OPS = ["set", "add", "subtract", "min", "max", "count", "append", "remove", "merge", "replace"]


def rand_condition(r, p):
    """A condition; p: how likely each part is odd (often invalid)."""
    c = {"path": rand_path(r, p)}
    kind = r.random()
    if kind < 0.4:
        c["equals"] = rand_json(r, 2)
    elif kind < 0.6:
        c["equals_stream_id"] = odd(r, [True], [False, 1], p)
    elif kind < 1 - p:
        c["exists"] = odd(r, [True, False], ["yes"], p)
    if r.random() < p:
        c[rand_string(r)] = 1
    return c


def rand_rule(r, p=0.005):
    """A reducer rule; p: how likely each part is odd (often invalid)."""
    op = r.choice(OPS)
    numeric = op in ("add", "subtract", "min", "max")
    rule = {"op": op, "target": odd(r, ["$.total", "$.n", "$.list", "$.m", "$.v", "$.a", "$.o.a", "$.n.a"],
                                    ["", None, 5, "$", "$.a[0]", "strict $.a", "$.data.x"], p)}
    if op == "merge" and r.random() < 0.3:
        del rule["target"]
    if op == "replace":
        del rule["target"]
    if op == "set" and r.random() < 0.1:
        rule["if_exists"] = odd(r, ["keep"], ["overwrite", 1], p)
    if op not in ("count", "remove"):
        if r.random() < 0.6:
            rule["from"] = rand_path(r, p)
            if r.random() < 0.3:
                rule["default"] = odd(r, [0, 1] if numeric else ([{}] if op in ("merge", "replace") else [0, "x", [], {}]),
                                      [None, {}, "x"], p)
            elif r.random() < 0.2:
                rule["if_missing"] = odd(r, ["skip"], ["fail", 1], p)
        elif op in ("merge", "replace"):
            rule["from"] = "$.data"
        else:
            rule["value"] = (odd(r, [1, 2.5, -3, 10 ** 30], ["7", {}], p) if numeric
                             else rand_json(r, 2))
    if r.random() < 0.3:
        rule["when"] = (rand_condition(r, p) if r.random() < 0.5
                        else [rand_condition(r, p) for _ in range(r.randint(1, 3))])
    if r.random() < p:
        rule["op"] = r.choice(["move", "rename_type", "explode", 1])
    return rule


def rand_reducer_rules(r, types):
    """Rules of a reducer: valid, but one rule in ten cases is likely not."""
    rules = {t: [rand_rule(r) for _ in range(r.randint(0, 5))] for t in r.sample(types, r.randint(1, len(types)))}
    if r.random() < 0.5:
        rules["*"] = [rand_rule(r) for _ in range(r.randint(1, 4))]
    if r.random() < 0.1:
        rules.setdefault("E", []).append(rand_rule(r, 0.3))
    if r.random() < 0.02:
        return r.choice([[], {}, "rules", {"E": "not an array"}, {"": []}, {"E*": []}])
    return rules


def rand_field(r, root="$"):
    """A key chain in jsonpath syntax (a target, or a field of $.data)."""
    if r.random() < 0.6:
        return root + r.choice([".a", ".b", ".amount", ".x", '."é"', '.""', '."$"', '."a.b"'])
    depth = r.choice([1, 2, 3, 5, 50, 1000] + ([60000] if r.random() < 0.1 else []))
    return root + "".join("." + r.choice(["a", "b", "c"]) for _ in range(depth))


UPCAST_OPS = ["move", "set", "remove", "replace", "rename_type"]


def rand_upcast_rule(r, types, p=0.01):
    """An upcaster rule; p: how likely each part is odd (often invalid)."""
    op = r.choice(UPCAST_OPS)
    rule = {"op": op}
    if op in ("move", "set", "remove"):
        rule["target"] = odd(r, [rand_field(r)], ["", 5, "$", "$.a[*]"], p)
    if op == "move":
        rule["from"] = odd(r, [rand_field(r, "$.data")], ["$.metadata.a", "$.data", 5], p)
    elif op == "set":
        if r.random() < 0.7:
            rule["value"] = rand_json(r, 2)
        else:
            rule["from"] = rand_field(r, "$.data") if r.random() < 0.8 else "$.data.a[0]"
            if r.random() < 0.5:
                rule["default"] = rand_json(r, 1)
        if r.random() < 0.3:
            rule["if_exists"] = odd(r, ["keep"], ["overwrite"], p)
    elif op == "replace":
        rule["from"] = odd(r, ["$.data.a", "$.data", "$.data.state"], ["$.stream_id"], p)
    elif op == "rename_type":
        rule["value"] = odd(r, types, ["", "x" * 300, 5], p)
    if op in ("move", "set", "replace") and "from" in rule and "default" not in rule and r.random() < 0.7:
        rule["if_missing"] = odd(r, ["skip", "skip"], ["yes"], p)
    if r.random() < 0.1:
        rule["when"] = {"path": rand_field(r, "$.data"), "exists": r.choice([True, False])}
    if r.random() < p:
        rule["extra"] = 1
    if r.random() < p:
        return r.choice([1, "move", [], {"op": "explode"}, {"op": "add", "target": "$.a", "value": 1},
                         {"target": "$.a"}])
    return rule


def odd(r, usual, unusual, p=0.05):
    """Usually a value from usual, with probability p one from unusual."""
    return r.choice(unusual) if r.random() < p else r.choice(usual)


def rand_event(r, types, version=True):
    args = [q(r.choice(types)), odd(r, [jq(rand_object(r))], [jq(rand_json(r)), "NULL"])]
    if r.random() < 0.2:
        args.append("metadata => " + odd(r, [jq(rand_object(r, 2))], [jq(rand_json(r, 2))]))
    if r.random() < 0.1:
        args.append("occurred_at => " + odd(r, ["now()", "'2000-01-01'", "now() - interval '1 day'"],
                                            ["'infinity'", "'-infinity'"], 0.2))
    if version and r.random() < 0.6:
        args.append("schema_version => " + odd(r, ["1", "2", "3", "NULL"], ["0", "-1", "2147483647"]))
    if r.random() < 0.3:
        args.append("tags => " + rand_tags(r))
    return "es.event(" + ", ".join(args) + ")"


def rand_tags(r):
    """A tags array: usually a few tags, sometimes an absurd one."""
    return odd(r, ["ARRAY['t:1']", "ARRAY['t:1', 't:2']", "ARRAY['t:2', 'u:1']", "'{}'", "NULL"],
               ["ARRAY[NULL]::text[]", "ARRAY['']", "ARRAY['t:1', 't:1']", "ARRAY[repeat('x', 300)]",
                "'{{a},{b}}'", "(SELECT array_agg('t' || i) FROM generate_series(1, 40) i)",
                "(SELECT array_agg('t' || i) FROM generate_series(1, 32) i)"], 0.2)


def rand_query(r):
    """A query for es.read_events / es.append_if, usually well formed."""
    def item():
        it = {}
        if r.random() < 0.6:
            it["tags"] = r.sample(["t:1", "t:2", "u:1", "v:9"], r.randint(1, 2))
        if r.random() < 0.5 or not it:
            it["types"] = r.sample(SHARED_TYPES, r.randint(1, min(3, len(SHARED_TYPES))))
        return it
    if r.random() < 0.8:
        return jq([item() for _ in range(r.randint(1, 3))])
    return r.choice(["NULL", "'[]'", "'{}'", "'[{}]'", "'[1]'", "'[{\"tags\": []}]'", "'[{\"tag\": [\"a\"]}]'",
                     "'[{\"tags\": [\"\"]}]'", "'[{\"types\": [null]}]'", "'[{\"tags\": \"a\"}]'",
                     "(SELECT jsonb_agg(jsonb_build_object('types', jsonb_build_array('T' || i))) FROM generate_series(1, 100) i)",
                     "(SELECT jsonb_build_array(jsonb_build_object('types', jsonb_agg('T' || i))) FROM generate_series(1, 40) i)",
                     jq(rand_json(r))])


def append(r, stream, types, n=None):
    n = n if n is not None else r.randint(1, 4)
    events = ", ".join(rand_event(r, types) for _ in range(n))
    expected = odd(r, ["NULL"], ["0", "1", "-1", "9223372036854775807"], 0.1)
    return f"SELECT es.append({q(stream)}, {expected}, {events});"


def hand_row(r, types):
    """ROW(...)::es.events with NULL or absurd fields."""
    fields = [
        r.choice(["1", "NULL", "-1", "9223372036854775807"]),
        q(r.choice(["s-1", "acct-1", "", "x" * 1000, None])),
        r.choice(["1", "2", "NULL", "0", "-5", "9223372036854775807"]),
        r.choice(["'00000000-0000-0000-0000-000000000001'", "NULL", "gen_random_uuid()"]),
        q(r.choice(types + [None, ""])),
        r.choice(["1", "2", "NULL", "0", "-1", "2147483647"]),
        r.choice([jq(rand_object(r)), jq(rand_json(r)), "NULL", "'[]'", "'null'"]),
        r.choice(["NULL", jq(rand_json(r, 2))]),
        r.choice(["now()", "NULL", "'infinity'", "'-infinity'"]),
        r.choice(["now()", "NULL", "'infinity'"]),
        r.choice(["'1'", "NULL", "'18446744073709551615'"]),
        r.choice(["NULL", "ARRAY['t:1']", "'{}'", "ARRAY[NULL]::text[]", "ARRAY['']", "ARRAY['a', 'a']",
                  "'{{a},{b}}'", "(SELECT array_agg('t' || i) FROM generate_series(1, 40) i)"]),
    ]
    return "ROW(" + ", ".join(fields) + ")::es.events"


# ---------------------------------------------------------------------------
# Hostile user code
# ---------------------------------------------------------------------------

HOSTILE = [
    "EXECUTE 'CLOSE ALL';",
    "BEGIN EXECUTE 'CLOSE ALL'; EXCEPTION WHEN others THEN NULL; END;",
    "DECLARE_CLOSE_BY_NAME",
    "FOR rec IN SELECT name FROM pg_cursors WHERE statement NOT LIKE '%pg_cursors%' LOOP "
    "EXECUTE format('MOVE FORWARD ALL IN %I', rec.name); END LOOP;",
    "FOR rec IN SELECT name FROM pg_cursors WHERE statement NOT LIKE '%pg_cursors%' LOOP "
    "BEGIN EXECUTE format('FETCH 2 FROM %I', rec.name); EXCEPTION WHEN others THEN NULL; END; END LOOP;",
    "FOR rec IN SELECT name FROM pg_cursors WHERE statement NOT LIKE '%pg_cursors%' LOOP "
    "EXECUTE format('MOVE BACKWARD ALL IN %I', rec.name); END LOOP;",
    "RAISE EXCEPTION 'hostile %', 1 USING ERRCODE = 'P0001';",
    "RAISE EXCEPTION 'internal-looking' USING ERRCODE = 'XX001';",
    "PERFORM 1/0;",
    "SET search_path = pg_catalog;",
    "SET LOCAL search_path = nothing;",
    "SET work_mem = '64kB';",
    "SET TimeZone = 'Pacific/Kiritimati';",
    "SET DateStyle = 'SQL, DMY';",
    "SET extra_float_digits = -15;",
    "SET client_min_messages = panic;",
    "PERFORM set_config('search_path', '', false);",
    "RESET ALL;",
    "PERFORM pg_sleep(0.05);",
    "PERFORM count(*) FROM generate_series(1, 200000);",
    "LOOP PERFORM 1; END LOOP;",
    "CREATE TEMP TABLE IF NOT EXISTS scratch (x int); INSERT INTO scratch VALUES (1);",
    "PERFORM es.read_all();",
    "PERFORM count(*) FROM es.read_events('[{\"tags\": [\"t:1\"]}, {\"types\": [\"E\"]}]');",
    "PERFORM es.append_if('[{\"tags\": [\"t:1\"]}]', 0, 'side-' || pg_backend_pid(), NULL, es.event('E', '{}', tags => ARRAY['t:1']));",
    "PERFORM count(*) FROM es.read_stream('acct-1');",
    "PERFORM es.fold('acct-1', 'REDUCER');",
    "PERFORM es.append('side-' || pg_backend_pid(), NULL, es.event('E', '{}'));",
    "PERFORM es.create_upcaster('Side' || (random() * 1000000)::int, 1, '[]');",
    "PERFORM es.drop_reducer('REDUCER');",
    "PERFORM es.drop_projection('PROJECTION');",
    "PERFORM es.rebuild_projection('PROJECTION');",
    "PERFORM es.drop_upcaster('E');",
    "PERFORM es.run_projections();",
    "EXECUTE 'DROP FUNCTION IF EXISTS SELF CASCADE';",
    "EXECUTE 'LISTEN fuzz';",
    "PERFORM pg_notify('fuzz', repeat('x', 7000));",
    "EXECUTE 'DISCARD ALL';",
    "EXECUTE 'DISCARD PLANS';",
    "EXECUTE 'DEALLOCATE ALL';",
    "EXECUTE 'SET ROLE NONE';",
    "PERFORM pg_advisory_xact_lock(42);",
    "EXECUTE 'LOCK TABLE fz.side IN ACCESS EXCLUSIVE MODE';",
    "PERFORM * FROM pg_cursors;",
    "EXECUTE 'DECLARE c1 CURSOR WITH HOLD FOR SELECT 1';",
    "EXECUTE 'SAVEPOINT s';",
    "EXECUTE 'COMMIT';",
]


# What PostgreSQL itself does with some hostile code, reachable from plain SQL
# without the extension, and allowed in the cases that run it (snippet ->
# message pattern).  Empty: a PL/pgSQL callback that drops itself and is
# called again (XX000 in plpgsql_compile from plain SQL) is a clean 42883
# for every kind of callback, reducers included.
CORE_XX000 = {}


CURSOR_HOSTILE = [h for h in HOSTILE if "CLOSE" in h or "cursors" in h]


def hostile_body(r, returns, self_sig, reducer, projection, allowed, level):
    """A PL/pgSQL body with level (0-3) hostile statements, a third of them
    about cursors.  Conditions count calls in the sequence fz.tick, so a
    case does the same each time it runs."""
    parts = []
    for _ in range(level):
        h = r.choice(CURSOR_HOSTILE if r.random() < 0.33 else HOSTILE)
        for snippet, pattern in CORE_XX000.items():
            if snippet in h:
                allowed.add(pattern)
        if h == "DECLARE_CLOSE_BY_NAME":
            h = ("FOR rec IN SELECT name FROM pg_cursors WHERE statement NOT LIKE '%pg_cursors%' LOOP "
                 "EXECUTE format('CLOSE %I', rec.name); END LOOP;")
        h = h.replace("SELF", self_sig).replace("REDUCER", reducer).replace("PROJECTION", projection)
        if r.random() < 0.5:
            h = f"IF nextval('fz.tick') % {r.choice([2, 3, 10])} = 0 THEN {h} END IF;"
        parts.append(h)
    ret = {"jsonb_state": odd(r, ["RETURN s;", "RETURN s || '{\"n\": 1}';"],
                              ["RETURN NULL;", "RETURN '[]';", "RETURN '1';", "RETURN 'null';",
                               "RETURN (SELECT jsonb_object_agg(i, i) FROM generate_series(1, 1000) i);"], 0.3),
           "jsonb_data": odd(r, ["RETURN d;", "RETURN d || '{\"up\": true}';"],
                             ["RETURN NULL;", "RETURN '[1]';", "RETURN '\"s\"';", "RETURN '{}';"], 0.3),
           "void": "RETURN;"}[returns]
    return ("DECLARE rec record; BEGIN " + " ".join(parts) + " " + ret + " END")


# ---------------------------------------------------------------------------
# Case generators: each returns (role, SQL)
# ---------------------------------------------------------------------------

def gen_rules_reducer(r, c):
    types = r.sample(SHARED_TYPES, 3) + [f"T{c}"]
    name = f"red{c}"
    rules = rand_reducer_rules(r, types)
    initial = odd(r, [{}, {"total": 0}, {"list": []}, rand_object(r)], [[], "s", None])
    snap = odd(r, ["NULL", "NULL", "1", "2"], ["0", "-1"])
    stream = f"acct-{c}"
    out = [f"SELECT es.create_reducer({q(name)}, {jq(initial)}, rules => {jq(rules)}, snapshot_every => {snap});"]
    for _ in range(r.randint(1, 3)):
        out.append(append(r, stream, types))
    out.append(f"SELECT es.fold({q(stream)}, {q(name)});")
    if r.random() < 0.5:
        out.append(f"SELECT es.fold({q(stream)}, {q(name)}, as_of => {arg_ts(r)}, to_version => {arg_int8(r)});")
    if r.random() < 0.3:
        out.append(f"SELECT es.snapshot({q(stream)}, {q(name)});")
        out.append(f"SELECT es.fold({q(stream)}, {q(name)});")
    out.append(f"SELECT es.fold_agg(e, {q(name)} ORDER BY stream_version) FROM es.read_stream({q(stream)}) e;")
    if r.random() < 0.5:
        out.append(f"SELECT es.fold_agg({hand_row(r, types)}, {q(name)});")
    return "fuzz", "\n".join(out)


def gen_upcasters(r, c):
    types = r.sample(SHARED_TYPES, 2) + [f"U{c}"]
    out = []
    for t in r.sample(types, r.randint(1, len(types))):
        for v in range(1, r.randint(2, 4)):
            version = v if r.random() < 0.9 else r.choice(INT4)
            rules = [rand_upcast_rule(r, types) for _ in range(r.randint(0, 5))]
            if r.random() < 0.1:
                rules.append(rand_upcast_rule(r, types, 0.3))
            if r.random() < 0.05:
                rules = r.choice([{}, "x", None, [None]])
            out.append(f"SELECT es.create_upcaster({q(t)}, {version if version is not None else 'NULL'}, {jq(rules)});")
    stream = f"up-{c}"
    for _ in range(r.randint(1, 3)):
        out.append(append(r, stream, types))
    out.append(f"SELECT * FROM es.upcast({q(r.choice(types))}, {r.choice([1, 1, 2, 0, 2147483647])}, {jq(rand_object(r))});")
    out.append(f"SELECT * FROM es.read_stream({q(stream)}, {r.choice(['NULL', '1', '2', '0'])}, "
               f"{r.choice(['NULL', '1', '100', '0'])}, {r.choice(['false', 'true'])});")
    out.append(f"SELECT count(*) FROM es.read_all(0, {r.choice([1, 10, 1000, 0])}, {q('{' + r.choice(types) + '}')});")
    if r.random() < 0.5:
        out.append(f"SELECT es.create_reducer('ur{c}', rules => '{{\"*\": [{{\"op\": \"count\", \"target\": \"$.n\"}}, {{\"op\": \"merge\", \"from\": \"$.data\"}}]}}');")
        out.append(f"SELECT es.fold({q(stream)}, 'ur{c}');")
    if r.random() < 0.3:
        out.append(f"SELECT es.drop_upcaster({q(r.choice(types))}, {r.choice(['NULL', '1', '2', '-1'])});")
    return "fuzz", "\n".join(out)


def gen_hand_rows(r, c):
    types = SHARED_TYPES + [f"H{c}"]
    out = [f"SELECT es.create_reducer('hr{c}', rules => {jq(rand_reducer_rules(r, types))});",
           f"CREATE FUNCTION fz.hr_apply{c}(s jsonb, e es.events) RETURNS jsonb LANGUAGE sql AS "
           f"$$ SELECT s || jsonb_build_object('t', e.event_type, 'v', e.stream_version, 'd', e.data) $$;",
           f"SELECT es.create_reducer('hf{c}', apply => 'fz.hr_apply{c}(jsonb, es.events)');"]
    for _ in range(r.randint(2, 6)):
        out.append(f"SELECT es.fold_agg({hand_row(r, types)}, {q(odd(r, [f'hr{c}', f'hf{c}'], [None, 'nope']))});")
    rows = ", ".join(f"({hand_row(r, types)})" for _ in range(r.randint(1, 4)))
    out.append(f"SELECT es.fold_agg(e, {q(r.choice([f'hr{c}', f'hf{c}']))}) FROM (VALUES {rows}) t(e);")
    out.append(f"SELECT * FROM es.upcast({q(r.choice(types + ['', None]))}, {arg_int4(r)}, "
               f"{r.choice([jq(rand_json(r)), 'NULL'])});")
    return "fuzz", "\n".join(out)


def gen_hostile(r, c):
    """User code that closes cursors, fails, sets things, loops, re-enters,
    run on every path: one callback is the focus, the others mostly tame."""
    red, proj = f"hred{c}", f"hproj{c}"
    allowed = set()
    focus = r.choice(["upcaster", "reducer", "handler"])

    def level(kind):
        return r.randint(1, 3) if kind == focus else r.choice([0, 0, 1])

    out = ["CREATE TABLE IF NOT EXISTS fz.side (x int);", "CREATE SEQUENCE IF NOT EXISTS fz.tick;"]
    fn_up = f"fz.hup{c}(jsonb)"
    fn_red = f"fz.hred{c}(jsonb, es.events)"
    fn_h = f"fz.hh{c}(es.events)"
    out.append(f"CREATE FUNCTION fz.hup{c}(d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$ "
               f"{hostile_body(r, 'jsonb_data', fn_up, red, proj, allowed, level('upcaster'))} $f$;")
    out.append(f"CREATE FUNCTION fz.hred{c}(s jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql AS $f$ "
               f"{hostile_body(r, 'jsonb_state', fn_red, red, proj, allowed, level('reducer'))} $f$;")
    out.append(f"CREATE FUNCTION fz.hh{c}(e es.events) RETURNS void LANGUAGE plpgsql AS $f$ "
               f"{hostile_body(r, 'void', fn_h, red, proj, allowed, level('handler'))} $f$;")
    t = odd(r, [f"X{c}"], SHARED_TYPES, 0.3)
    version = odd(r, [1], [2])
    out.append(f"SELECT es.create_upcaster({q(t)}, {version}, fn => {q(fn_up)});")
    out.append(f"SELECT es.create_reducer({q(red)}, apply => {q(fn_red)}, snapshot_every => {r.choice(['NULL', '1', '3'])});")
    out.append(f"SELECT es.create_subscription('hsub{c}');")
    stream = f"acct-{c}"
    old = f"es.event({q(t)}, '{{\"a\": 1}}', schema_version => {version})"
    out.append(f"SELECT es.append({q(stream)}, NULL, {', '.join([old] * r.randint(2, 5))}, es.event('E', '{{}}'));")
    out.append(f"SELECT es.create_projection({q(proj)}, {q(fn_h)}, async => {r.choice(['false', 'true'])});")
    ops = [
        (2, lambda: f"SELECT es.append({q(stream)}, NULL, {old}, {old});"),
        (1, lambda: append(r, "acct-1", [t, "E"])),
        (1, lambda: f"SELECT es.create_projection('{proj}b', {q(fn_h)}, async => {r.choice(['false', 'true'])});"),
        (2, lambda: f"SELECT es.rebuild_projection({q(proj)});"),
        (2, lambda: f"SELECT es.run_projections({odd(r, [1, 10, 10000], [0, -1])});"),
        (1, lambda: "SELECT count(*) FROM es.consumers;"),
        (1, lambda: "SELECT count(*) FROM es.progress, es.workers;"),
        (2, lambda: f"SELECT count(*) FROM es.read_stream({q(stream)});"),
        (1, lambda: f"SELECT count(*) FROM es.read_stream({q(stream)}, backwards => true);"),
        (2, lambda: f"SELECT count(*) FROM es.read_all(0, {r.choice([1, 5, 1000])});"),
        (2, lambda: f"SELECT count(*) FROM es.poll('hsub{c}', {r.choice([1, 5, 100])});"),
        (2, lambda: f"SELECT es.fold({q(stream)}, {q(red)});"),
        (1, lambda: f"SELECT es.fold_agg(e, {q(red)} ORDER BY stream_version) FROM es.read_stream({q(stream)}) e;"),
        (1, lambda: f"SELECT es.snapshot({q(stream)}, {q(red)});"),
        (1, lambda: f"SELECT * FROM es.upcast({q(t)}, {version}, '{{}}');"),
        (1, lambda: "BEGIN;"),
        (1, lambda: "COMMIT;"),
        (1, lambda: "ROLLBACK;"),
        (1, lambda: "SAVEPOINT sp;"),
        (1, lambda: "ROLLBACK TO SAVEPOINT sp;"),
        (1, lambda: f"SELECT es.drop_projection({q(proj)});"),
    ]
    for _ in range(r.randint(4, 10)):
        out.append(r.choices([o for _, o in ops], weights=[w for w, _ in ops])[0]())
    out.append("ROLLBACK;")
    if r.random() < 0.7:
        out.append(f"SELECT es.drop_upcaster({q(t)});")
    return "fuzz", "\n".join(out), allowed


def gen_swapped(r, c, kind):
    """Registered functions dropped and created again with another return type."""
    ret = r.choice(["int", "text", "void", "SETOF jsonb", "jsonb[]", "record", "es.events", "bytea"])
    body = {"int": "SELECT 42", "text": "SELECT 'x'", "void": "SELECT", "SETOF jsonb": "SELECT '{}'::jsonb",
            "jsonb[]": "SELECT ARRAY['{}'::jsonb]", "record": "SELECT 1, 2",
            "es.events": "SELECT * FROM es.events LIMIT 1", "bytea": "SELECT '\\x00'::bytea"}[ret]
    out = []
    if kind == "reducer":
        out += [f"CREATE FUNCTION fz.sw{c}(s jsonb, e es.events) RETURNS jsonb LANGUAGE sql AS $$ SELECT s $$;",
                f"SELECT es.create_reducer('sw{c}', apply => 'fz.sw{c}(jsonb, es.events)');",
                append(r, f"sw-{c}", ["E"]),
                f"DROP FUNCTION fz.sw{c}(jsonb, es.events);",
                f"CREATE FUNCTION fz.sw{c}(s jsonb, e es.events) RETURNS {ret} LANGUAGE sql AS $$ {body} $$;",
                f"SELECT es.fold('sw-{c}', 'sw{c}');",
                f"SELECT es.fold_agg(e, 'sw{c}' ORDER BY stream_version) FROM es.read_stream('sw-{c}') e;"]
    elif kind == "upcaster":
        out += [f"CREATE FUNCTION fz.sw{c}(d jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT d $$;",
                f"SELECT es.create_upcaster('SW{c}', 1, fn => 'fz.sw{c}(jsonb)');",
                f"SELECT es.append('sw-{c}', NULL, es.event('SW{c}', '{{}}', schema_version => 1));",
                f"DROP FUNCTION fz.sw{c}(jsonb);",
                f"CREATE FUNCTION fz.sw{c}(d jsonb) RETURNS {ret} LANGUAGE sql AS $$ {body} $$;",
                f"SELECT * FROM es.read_stream('sw-{c}');",
                f"SELECT * FROM es.upcast('SW{c}', 1, '{{}}');"]
    else:
        out += [f"CREATE FUNCTION fz.sw{c}(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT $$;",
                f"SELECT es.create_projection('sw{c}', 'fz.sw{c}(es.events)', async => {r.choice(['false', 'true'])});",
                f"DROP FUNCTION fz.sw{c}(es.events);",
                f"CREATE FUNCTION fz.sw{c}(e es.events) RETURNS {ret} LANGUAGE sql AS $$ {body} $$;",
                append(r, f"sw-{c}", ["E"]),
                f"SELECT es.rebuild_projection('sw{c}');",
                "SELECT es.run_projections();"]
    return "fuzz", "\n".join(out)


# (function, [argument generators]): every SQL-callable function of es.
def arg_text(r):
    return q(r.choice(NAMES + SHARED_TYPES))


def arg_int4(r):
    v = r.choice(INT4)
    return "NULL" if v is None else str(v)


def arg_int8(r):
    v = r.choice(INT8)
    return "NULL" if v is None else str(v)


def arg_bool(r):
    return r.choice(["true", "false", "NULL"])


def arg_jsonb(r):
    return r.choice([jq(rand_json(r)), "NULL", "'{}'", "'[]'"])


def arg_ts(r):
    return r.choice(["now()", "NULL", "'infinity'", "'-infinity'", "'4713-01-01 BC'", "'294276-01-01'"])


def arg_uuid(r):
    return r.choice(["NULL", "gen_random_uuid()", "'00000000-0000-0000-0000-000000000000'"])


def arg_interval(r):
    return r.choice(["NULL", "'1 day'", "'0'", "'-1 second'", "'1 microsecond'", "'178000000 years'",
                     "'1 month -31 days'", "'-178000000 years'"])


def arg_stream(r):
    return r.choice([q("acct-1"), q("$acct-1"), q("acct-" + str(r.randint(1, 3))), arg_text(r),
                     "repeat('x', 1024)", "'$' || repeat('x', 1024)"])


def arg_text_array(r):
    return r.choice(["NULL", "'{}'", "'{E}'", "ARRAY[NULL]::text[]", "ARRAY['E', NULL]",
                     "(SELECT array_agg(i::text) FROM generate_series(1, 100000) i)", "'{\"\"}'",
                     "'{$deleted}'", "'{$}'"])


def arg_regproc(r):
    return r.choice(["NULL", "'now()'", "'jsonb_in(cstring)'", "'es.fold(text, text, timestamptz, bigint)'",
                     "'pg_sleep(double precision)'", "0", "'-'"])


def arg_regclass(r):
    return r.choice(["NULL", "ARRAY['es.events']::regclass[]", "ARRAY['pg_class']::regclass[]", "'{}'",
                     "ARRAY[0]::regclass[]", "ARRAY['fz.side']::regclass[]"])


def arg_events(r):
    return r.choice([rand_event(r, SHARED_TYPES), "NULL", "NULL::es.new_event",
                     "ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL)::es.new_event",
                     "ROW('E', '{}', NULL, NULL, NULL, -5, NULL)::es.new_event",
                     "ROW('', '[]', '1', '00000000-0000-0000-0000-000000000000', 'infinity', 0, '{}')::es.new_event",
                     "ROW('E', '{}', NULL, NULL, NULL, NULL, ARRAY[NULL]::text[])::es.new_event",
                     "ROW('E', '{}', NULL, NULL, NULL, NULL, '{{a},{b}}')::es.new_event",
                     "ROW('E', '{}', NULL, NULL, NULL, NULL, ARRAY['t:1', 't:1'])::es.new_event"])


def arg_query(r):
    return rand_query(r)


SWEEP = [
    ("es.event", [arg_text, arg_jsonb, arg_jsonb, arg_uuid, arg_ts, arg_int4, arg_text_array]),
    ("es.append", [arg_text, arg_int8, arg_events, arg_events]),
    ("es.stream_version", [arg_text]),
    ("es.read_stream", [arg_text, arg_int8, arg_int8, arg_bool]),
    ("es.create_upcaster", [arg_text, arg_int4, arg_jsonb, arg_regproc]),
    ("es.drop_upcaster", [arg_text, arg_int4]),
    ("es.upcast", [arg_text, arg_int4, arg_jsonb]),
    ("es.upcast_generation", []),
    ("es.create_reducer", [arg_text, arg_jsonb, arg_regproc, arg_jsonb, arg_int4]),
    ("es.drop_reducer", [arg_text]),
    ("es.fold", [arg_text, arg_text, arg_ts, arg_int8]),
    ("es.snapshot", [arg_text, arg_text]),
    ("es.reducer_fingerprint", [arg_text]),
    ("es.log_lag", [arg_int8, arg_text_array, arg_text_array]),
    ("es.create_projection", [arg_text, arg_regproc, arg_text_array, arg_bool, arg_regclass]),
    ("es.drop_projection", [arg_text]),
    ("es.rebuild_projection", [arg_text]),
    ("es.projections_wanted", []),
    ("es.run_projections", [arg_int4]),
    ("es.worker_status", []),
    ("es.progress_status", []),
    ("es.log_horizon", []),
    ("es.read_all", [arg_int8, arg_int8, arg_text_array, arg_text_array]),
    ("es.read_events", [arg_query, arg_int8, arg_int8]),
    ("es.append_if", [arg_query, arg_int8, arg_text, arg_int8, arg_events, arg_events]),
    ("es.create_subscription", [arg_text, arg_text_array, arg_text_array]),
    ("es.drop_subscription", [arg_text]),
    ("es.poll", [arg_text, arg_int4]),
    ("es.wait", [arg_text, arg_int4]),
    ("es.uuid_v7", []),
    ("es.delete_stream", [arg_stream, arg_int8]),
    ("es.tombstone_stream", [arg_stream, arg_int8]),
    ("es.truncate_stream", [arg_stream, arg_int8]),
    ("es.create_retention", [lambda r: r.choice([q("acct"), q("$acct"), arg_text(r)]), arg_interval, arg_int8]),
    ("es.drop_retention", [lambda r: r.choice([q("acct"), arg_text(r)])]),
    ("es.purge", [arg_int4, lambda r: r.choice(["0", "1", "NULL", "-1", "2147483647"])]),
    ("es.next_position", [lambda r: r.choice(["'es.events_global_position_seq'", "'es.events'", "0", "NULL"])]),
]


def gen_sweep(r, c):
    """Every function of es with extreme arguments."""
    out = [f"SELECT es.create_subscription('s{c}');",
           f"SELECT es.create_reducer('r{c}', rules => '{{\"*\": [{{\"op\": \"count\", \"target\": \"$.n\"}}]}}');",
           append(r, "acct-1", SHARED_TYPES)]
    for _ in range(r.randint(3, 10)):
        fn, gens = r.choice(SWEEP)
        n = r.randint(0, len(gens)) if r.random() < 0.3 else len(gens)
        args = [g(r) for g in gens[:n]]
        if fn in ("es.poll", "es.drop_subscription") and r.random() < 0.5:
            args[:1] = [q(f"s{c}")]
        if fn in ("es.fold", "es.snapshot") and r.random() < 0.5 and len(args) > 1:
            args[0], args[1] = q("acct-1"), q(f"r{c}")
        if fn == "es.wait" and len(args) > 1:
            args[1] = r.choice(["0", "1", "-1", "NULL", "2147483647"])
        if fn == "es.purge":
            out.append(f"CALL {fn}({', '.join(args)});")
        else:
            out.append(f"SELECT * FROM {fn}({', '.join(args)});")
    return "fuzz", "\n".join(out)


def gen_lifecycle_write(r, c):
    """Appends, deletes, tombstones, truncations, retention and purges in any order."""
    streams = [f"lc{c}-{i}" for i in range(3)] + [f"lc{c}"]
    out = [f"SELECT es.create_reducer('lc{c}', rules => '{{\"*\": [{{\"op\": \"count\", \"target\": \"$.n\"}}]}}', "
           f"snapshot_every => {r.choice(['NULL', '1', '2'])});",
           f"SELECT es.create_subscription('lc{c}', categories => ARRAY['lc{c}']);"]
    for _ in range(r.randint(5, 20)):
        s = q(r.choice(streams))
        out.append(r.choice([
            lambda: append(r, r.choice(streams), ["E", "F", "$deleted"]),
            lambda: f"SELECT es.delete_stream({s}, {arg_int8(r) if r.random() < 0.3 else 'NULL'});",
            lambda: f"SELECT es.tombstone_stream({s}, {arg_int8(r) if r.random() < 0.3 else 'NULL'});",
            lambda: f"SELECT es.truncate_stream({s}, {r.choice(['1', '2', '3', '5', arg_int8(r)])});",
            lambda: f"SELECT es.create_retention('lc{c}', {arg_interval(r)}, {r.choice(['NULL', '1', '2', arg_int8(r)])});",
            lambda: f"SELECT es.drop_retention('lc{c}');",
            lambda: f"CALL es.purge({r.choice(['1', '2', '100', 'DEFAULT', arg_int4(r)])}, {r.choice(['0', '1', '5'])});",
            lambda: f"SELECT count(*) FROM es.read_stream({s});",
            lambda: f"SELECT es.fold({s}, 'lc{c}');",
            lambda: f"SELECT es.snapshot({s}, 'lc{c}');",
            lambda: f"SELECT count(*) FROM es.poll('lc{c}', {r.choice([1, 5, 100])});",
            lambda: f"SELECT count(*) FROM es.read_all(0, NULL, {r.choice(['NULL', q('{$deleted,$tombstoned,$truncated}')])});",
            lambda: f"SELECT es.append('$' || {s}, NULL, es.event('E', '{{}}'));",
        ])())
    return "fuzz", "\n".join(out)


def gen_big(r, c):
    """User-sized input: many rules, targets, fields, types, conditions."""
    n = r.choice([1000, 10000, 100000, 300000])
    what = r.choice(["targets", "types", "state", "conditions", "upcast_add", "upcast_rename", "upcast_move", "chain"])
    timeout = r.choice([200, 1000, 3000])
    out = [f"SET statement_timeout = '{timeout}ms';"]
    if what == "targets":
        out.append(f"SELECT es.create_reducer('big{c}', rules => ('{{\"*\": [' || string_agg(format('{{\"op\": \"set\", \"target\": \"$.f%s\", \"value\": %s}}', i, i), ',') || ']}}')::jsonb) FROM generate_series(1, {n}) i;")
        out.append(append(r, f"big-{c}", ["E"]))
        out.append(f"SELECT length(es.fold('big-{c}', 'big{c}')::text);")
    elif what == "types":
        out.append(f"SELECT es.create_reducer('big{c}', rules => jsonb_object_agg('T' || i, '[{{\"op\": \"count\", \"target\": \"$.n\"}}]'::jsonb)) FROM generate_series(1, {n}) i;")
        out.append(f"SELECT es.append('big-{c}', NULL, es.event('T' || i, '{{}}')) FROM generate_series(1, 20) i;")
        out.append(f"SELECT es.fold('big-{c}', 'big{c}');")
    elif what == "state":
        out.append(f"SELECT es.create_reducer('big{c}', jsonb_object_agg('k' || i, i), rules => '{{\"*\": [{{\"op\": \"merge\", \"from\": \"$.data\"}}, {{\"op\": \"count\", \"target\": \"$.n\"}}]}}') FROM generate_series(1, {n}) i;")
        out.append(f"SELECT es.append('big-{c}', NULL, es.event('E', jsonb_object_agg('j' || i, i))) FROM generate_series(1, {n}) i;")
        out.append(f"SELECT length(es.fold('big-{c}', 'big{c}')::text);")
    elif what == "conditions":
        out.append(f"SELECT es.create_reducer('big{c}', rules => jsonb_build_object('*', jsonb_build_array(jsonb_build_object('op', 'count', 'target', '$.n', 'when', jsonb_agg(jsonb_build_object('path', '$.data.a', 'exists', false)))))) FROM generate_series(1, {n}) i;")
        out.append(append(r, f"big-{c}", ["E"]))
        out.append(f"SELECT es.fold('big-{c}', 'big{c}');")
    elif what.startswith("upcast"):
        op = {"upcast_add": "'{\"op\": \"set\", \"target\": \"$.f%s\", \"value\": %s, \"if_exists\": \"keep\"}', i, i",
              "upcast_rename": "'{\"op\": \"move\", \"from\": \"$.data.k%s\", \"target\": \"$.r%s\", \"if_missing\": \"skip\"}', i, i",
              "upcast_move": "'{\"op\": \"move\", \"from\": \"$.data.k%s\", \"target\": \"$.o.k%s\", \"if_missing\": \"skip\"}', i, i"}[what]
        out.append(f"SELECT es.create_upcaster('Big{c}', 1, ('[' || string_agg(format({op}), ',') || ']')::jsonb) FROM generate_series(1, {n}) i;")
        out.append(f"SELECT length(data::text) FROM es.upcast('Big{c}', 1, (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, {n}) i));")
    else:
        steps = min(n, 3000)
        out.append(f"SELECT es.create_upcaster('Chain{c}', i, '[{{\"op\": \"set\", \"target\": \"$.v\", \"value\": 1}}]') FROM generate_series(1, {steps}) i;")
        out.append(f"SELECT * FROM es.upcast('Chain{c}', 1, '{{}}');")
    return "fuzz", "\n".join(out)


def gen_lifecycle(r, c):
    """Stream reads under every kind of hiding, and "$" filters on the log.
    As the superuser: the hidden state is written into es.streams and
    es.retention_registry directly (lifecycle-merge: as the role fuzz
    through es.delete_stream / es.truncate_stream / es.tombstone_stream /
    es.create_retention once the write side is merged)."""
    streams = [f"lc{c}-{i}" for i in range(3)]
    red = f"lcr{c}"
    out = [f"SELECT es.create_reducer('{red}', snapshot_every => {r.choice(['NULL', '1', '2', '1000'])}, "
           "rules => '{\"*\": [{\"op\": \"count\", \"target\": \"$.n\"}]}');",
           f"SELECT es.create_subscription('lcs{c}', {r.choice(['NULL', q('{$deleted}'), q('{$deleted,E}'), q('{$}')])}, "
           f"{r.choice(['NULL', q('{lc' + str(c) + '}'), q('{$lc' + str(c) + '}')])});"]
    for st in streams:
        out.append(append(r, st, SHARED_TYPES, r.randint(1, 6)))
    for _ in range(r.randint(2, 8)):
        st = q(r.choice(streams + ["$" + streams[0], "lc-unknown"]))
        what = r.randint(0, 6)
        if what == 0:
            out.append(f"UPDATE es.streams SET hidden_through = {odd(r, ['version', 'version - 1', '1', '0'], ['-1', 'version + 1', '9223372036854775807'])} WHERE stream_id = {st};")
        elif what == 1:
            out.append(f"UPDATE es.streams SET tombstoned = {r.choice(['true', 'false'])} WHERE stream_id = {st};")
        elif what == 2:
            age = r.choice(["NULL", "'1 microsecond'", "'1 hour'", "'100000 years'", "'178000000 years'", "'1 month -29 days'", "'-1 day'"])
            count = r.choice(["NULL", "1", "2", "9223372036854775807", "0", "-1"])
            out.append(f"INSERT INTO es.retention_registry (category, max_age, max_count, owner) "
                       f"VALUES ({q(r.choice(['lc' + str(c), '$lc' + str(c), 'lc-x']))}, {age}, {count}, current_user::regrole) "
                       f"ON CONFLICT (category) DO UPDATE SET max_age = excluded.max_age, max_count = excluded.max_count;")
        elif what == 3:
            out.append(f"DELETE FROM es.retention_registry WHERE category = {q('lc' + str(c))};")
        elif what == 4:
            out.append(f"SELECT es.append({q('$' + r.choice(streams))}, NULL, es.event({q(r.choice(['$deleted', '$truncated', '$tombstoned', '$']))}, "
                       f"jsonb_build_object('stream_id', {q(r.choice(streams))})));")
        else:
            out.append(append(r, r.choice(streams), SHARED_TYPES))
    for _ in range(r.randint(3, 10)):
        st = q(r.choice(streams + ["$" + streams[0]]))
        out.append(r.choice([
            f"SELECT stream_version FROM es.read_stream({st}, {arg_int8(r)}, {arg_int8(r)}, {r.choice(['true', 'false'])});",
            f"SELECT es.fold({st}, '{red}', {arg_ts(r)}, {arg_int8(r)});",
            f"SELECT es.snapshot({st}, '{red}');",
            f"SELECT es.fold_agg(e, '{red}' ORDER BY stream_version) FROM es.read_stream({st}) e;",
            f"SELECT count(*) FROM es.read_all(0, {r.choice(['NULL', '1', '3'])}, {r.choice(['NULL', q('{$deleted}'), q('{$}'), q('{E,$truncated}')])}, "
            f"{r.choice(['NULL', q('{lc' + str(c) + '}'), q('{$lc' + str(c) + '}'), q('{$}')])});",
            f"SELECT count(*) FROM es.poll('lcs{c}');",
            f"SELECT * FROM es.log_lag(0, {r.choice(['NULL', q('{$deleted}')])}, {r.choice(['NULL', q('{lc' + str(c) + '}')])});",
        ]))
    return "superuser", "\n".join(out)
def gen_dcb(r, c):
    """Tagged appends, queries and conditional appends, some in one transaction."""
    out = []
    for _ in range(r.randint(3, 12)):
        k = r.random()
        stream = q(r.choice(["acct-1", f"dcb-{c}", f"dcb-{c}-2", ""]))
        after = odd(r, ["0", "1", "3", "(SELECT coalesce(max(global_position), 0) FROM es.events)"],
                    ["NULL", "-1", "9223372036854775807"], 0.1)
        expected = odd(r, ["NULL", "0"], ["1", "-1"], 0.2)
        events = ", ".join(rand_event(r, SHARED_TYPES) for _ in range(r.randint(1, 3)))
        if k < 0.3:
            out.append(f"SELECT es.append({stream}, {expected}, {events});")
        elif k < 0.55:
            out.append(f"SELECT count(*) FROM es.read_events({rand_query(r)}, {after}, {odd(r, ['NULL', '1', '10'], ['0', '-1'])});")
        elif k < 0.85:
            out.append(f"SELECT es.append_if({rand_query(r)}, {after}, {stream}, {expected}, {events});")
        else:
            out.append(f"BEGIN; SELECT es.append_if({rand_query(r)}, {after}, {stream}, {expected}, {events}); "
                       f"SELECT es.append_if({rand_query(r)}, {after}, {q(f'dcb-{c}-3')}, NULL, {rand_event(r, SHARED_TYPES)}); "
                       f"SELECT count(*) FROM es.read_events({rand_query(r)}); COMMIT;")
    return "fuzz", "\n".join(out)


GENERATORS = [
    ("rules", gen_rules_reducer, 3),
    ("upcasters", gen_upcasters, 3),
    ("hand_rows", gen_hand_rows, 2),
    ("hostile", gen_hostile, 3),
    ("swapped_reducer", lambda r, c: gen_swapped(r, c, "reducer"), 1),
    ("swapped_upcaster", lambda r, c: gen_swapped(r, c, "upcaster"), 1),
    ("swapped_handler", lambda r, c: gen_swapped(r, c, "handler"), 1),
    ("sweep", gen_sweep, 2),
    ("lifecycle_write", gen_lifecycle_write, 2),
    ("big", gen_big, 1),
    ("lifecycle", gen_lifecycle, 2),
    ("dcb", gen_dcb, 2),
]


def make_case(seed, n, skip):
    r = random.Random(f"{seed}:{n}")
    kinds = [(name, g, w) for name, g, w in GENERATORS if f"generator:{name}" not in skip]
    name, gen, _ = r.choices(kinds, weights=[w for _, _, w in kinds])[0]
    role, sql, *allowed = gen(r, n)
    return name, role, sql, (allowed[0] if allowed else set())


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

class Report:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.findings = []
        os.makedirs(out_dir, exist_ok=True)

    def add(self, label, role, sql, output, failures, replay):
        path = os.path.join(self.out_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", label) + ".sql")
        with open(path, "w") as f:
            f.write(f"-- fuzz finding: {label}\n-- replay: {replay}\n-- role: {role}\n")
            for kind, detail in failures:
                f.write(f"-- {kind}: {detail}\n")
            f.write(sql + "\n")
        with open(path[:-4] + ".out", "w") as f:
            f.write(output)
        self.findings.append((label, failures, path))
        print(f"FAIL {label}:")
        for kind, detail in failures:
            print(f"    {kind}: {detail}")
        print(f"    reproducer: {path}")
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("ES_FUZZ_SECONDS", 100)),
                    help="time for random cases, after the corpus (ES_FUZZ_SECONDS, default 100)")
    ap.add_argument("--seed", default=os.environ.get("ES_FUZZ_SEED"),
                    help="seed of the random cases (ES_FUZZ_SEED; default: a new one, printed)")
    ap.add_argument("--cases", help="replay cases A-B of the seed (in one world) instead of a timed run")
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--no-corpus", action="store_true", help="random cases only")
    ap.add_argument("--no-random", action="store_true", help="the corpus only")
    ap.add_argument("--replay", help="run one SQL file (a corpus entry or a reproducer) in a fresh world")
    ap.add_argument("--known", default=os.path.join(HERE, "known_failures"))
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--log", help="the server's log file (checked for crashes and XX000)")
    ap.add_argument("--superuser", default="postgres")
    ap.add_argument("--timeout-ms", type=int, default=2000, help="statement_timeout of every case")
    ap.add_argument("--slack", type=float, default=float(os.environ.get("ES_FUZZ_SLACK", 1.0)),
                    help="seconds a statement may outlive its statement_timeout")
    ap.add_argument("--world-size", type=int, default=50, help="cases per fresh database")
    ap.add_argument("--keep", help="write every case and its output into this directory")
    ap.add_argument("--verbose", action="store_true", help="print how the statements ended (SQLSTATEs)")
    ap.add_argument("--out", default=os.environ.get("ES_FUZZ_OUT", "fuzz-findings"))
    args = ap.parse_args()

    server = Server(args)
    server.started = server.start_time()
    server.new_log()
    known = read_known(args.known)
    report = Report(args.out)
    worlds = Worlds(server, "fuzz", args.timeout_ms)
    seed = args.seed or str(random.SystemRandom().randrange(10 ** 9))
    print("fuzz: " + ("" if args.no_random else f"seed {seed}; ")
          + f"known failures skipped: {', '.join(sorted(known)) or 'none'}")

    if args.replay:
        db = worlds.fresh()
        with open(args.replay) as f:
            sql = f.read()
        m = re.search(r"^-- role: (\w+)", sql, re.M)
        failures, output = run_script(server, db, m.group(1) if m else "fuzz", sql,
                                      args.timeout_ms, args.slack, "fuzz-replay")
        print(output)
        for kind, detail in failures:
            print(f"{kind}: {detail}")
        worlds.drop()
        return 1 if failures else 0

    corpus_run = 0
    if not args.no_corpus and not args.cases:
        for ident, role, sql in corpus_entries(args.corpus):
            if ident in known:
                print(f"corpus {ident}: skipped (known: {known[ident]})")
                continue
            db = worlds.fresh()
            try:
                failures, output = run_script(server, db, role, sql, args.timeout_ms, args.slack,
                                              f"fuzz-{ident}")
            except Stuck as e:
                report.add(f"corpus-{ident}", role, sql, str(e), [("hang", str(e))],
                           f"test/fuzz/fuzz.py --replay test/fuzz/corpus/{ident}.sql")
                print("fuzz: stopping, the server cannot run more cases")
                return 1
            corpus_run += 1
            if failures:
                report.add(f"corpus-{ident}", role, sql, output, failures,
                           f"test/fuzz/fuzz.py --replay test/fuzz/corpus/{ident}.sql")
            else:
                print(f"corpus {ident}: ok")
            sys.stdout.flush()

    cases = 0
    kinds = {}
    t0 = time.monotonic()
    if not args.no_random:
        if args.cases:
            first, last = (int(x) for x in args.cases.split("-"))
            numbers = iter(range(first, last + 1))
        else:
            numbers = iter(range(10 ** 9))
            deadline = t0 + args.seconds
        world_start = None
        for n in numbers:
            if not args.cases and time.monotonic() >= deadline:
                break
            if world_start is None or n - world_start >= args.world_size:
                worlds.fresh()
                world_start = n
            kind, role, sql, allowed = make_case(seed, n, known)
            kinds[kind] = kinds.get(kind, 0) + 1
            try:
                failures, output = run_script(server, worlds.current, role, sql, args.timeout_ms,
                                              args.slack, f"fuzz-case-{n}", allowed)
            except Stuck as e:
                report.add(f"seed{seed}-case{n}-{kind}", role, sql, str(e), [("hang", str(e))],
                           f"test/fuzz/fuzz.py --seed {seed} --cases {world_start}-{n}")
                print("fuzz: stopping, the server cannot run more cases")
                break
            if failures and all(k == "slow" for k, _ in failures):
                # a statement a few seconds over its timeout may be a busy
                # machine: a case that hangs for real does so again
                again = confirm_slow(server, worlds, role, sql, args, f"fuzz-case-{n}-again", allowed)
                if not again:
                    print(f"case {n} ({kind}): slow once, not again: " + "; ".join(d for _, d in failures))
                    failures = []
            cases += 1
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                with open(os.path.join(args.keep, f"case{n}-{kind}.out"), "w") as f:
                    f.write(sql + "\n----\n" + output)
            if failures:
                report.add(f"seed{seed}-case{n}-{kind}", role, sql, output, failures,
                           f"test/fuzz/fuzz.py --seed {seed} --cases {world_start}-{n}")
    worlds.drop()
    elapsed = time.monotonic() - t0
    print(f"fuzz: corpus {corpus_run} entries; {cases} random cases in {elapsed:.0f} s (seed {seed}; "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + f"); {len(report.findings)} failing")
    if args.verbose:
        print("outcomes of statements: " + ", ".join(
            f"{k} {v}" for k, v in sorted(STATES.items(), key=lambda kv: -kv[1])))
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
