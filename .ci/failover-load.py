#!/usr/bin/env python3
"""Claims and bookings through medclaim while the PostgreSQL primary is killed (issue 18 item 4).

Run by .ci/failover.sh once the Patroni pair, HAProxy and `medclaim serve --demo` are up; only
the Python standard library (HTTP to medclaim and Patroni's REST API, `psql` for the checks).

1. Setup over the API: demo staff and students sign in, an admin opens one slot of CAPACITY
   seats, and BOOKERS students each get a case approved at both review levels.
2. Load: CLAIMERS students create cases, add a record photo and an invoice, and submit, in a
   loop; the bookers book the slot one after another over the load window (more bookers than
   seats). A request answered 503 (or not at all) is retried; nothing else is.
3. KILL_AFTER seconds in, the primary's postmaster gets SIGKILL. Patroni promotes the
   synchronous standby, HAProxy follows `GET /primary`, medclaim keeps running.
4. Checks (exit 1 on any failure): the standby was promoted; medclaim answered 2xx again within
   30 s of its last 2xx before the kill; no answer was 500; every request answered 2xx is in the
   new primary (cases, record photos, invoices, submissions, bookings); the slot holds exactly
   its capacity (rows and counter).
"""

import argparse
import json
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from datetime import datetime, timedelta, timezone

PASSWORD = "medclaim-demo"
BOOKERS = 30
CAPACITY = 18
CLAIMERS = 4
KILL_AFTER = 6.0  # seconds into the load
BOOKING_WINDOW = 16.0  # the bookers start one after another over this many seconds
RECOVERY_LIMIT = 30.0
AFTER_RECOVERY = 5.0  # keep the load going this long after the first 2xx after the kill
RETRYABLE = {0, 502, 503, 504}
SHANGHAI = timezone(timedelta(hours=8))  # MEDCLAIM_TIME_ZONE default, no daylight saving

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", flush=True)


def log(msg):
    print(f"[load {datetime.now().strftime('%H:%M:%S.%f')[:-3]}] {msg}", flush=True)


class Api:
    """medclaim's JSON API; every answer is recorded with its times for the recovery figures."""

    def __init__(self, base):
        self.base = base
        self.lock = threading.Lock()
        self.answers = []  # (started, ended, status, what)
        self.recording = False

    def call(self, method, path, token=None, body=None, files=None, what=None):
        headers = {}
        data = None
        if files is not None:
            boundary = uuid.uuid4().hex
            data = multipart(boundary, body or {}, files)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=40) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except OSError as e:  # refused, reset, timed out: medclaim itself did not answer
            status, raw = 0, str(e).encode()
        ended = time.monotonic()
        if self.recording and what:
            with self.lock:
                self.answers.append((started, ended, status, what))
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw.decode(errors="replace")
        return status, value

    def ok(self, method, path, token=None, body=None, files=None, expect=(200, 201)):
        """A setup call: retried while unavailable, must succeed."""
        for _ in range(100):
            status, value = self.call(method, path, token, body, files)
            if status in expect:
                return value
            if status not in RETRYABLE:
                break
            time.sleep(0.3)
        raise SystemExit(f"setup: {method} {path} answered {status}: {value}")

    def login(self, username):
        return self.ok("POST", "/api/v1/auth/login", body={"username": username, "password": PASSWORD})["token"]


def multipart(boundary, fields, files):
    out = []
    for k, v in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (name, mime, content) in files.items():
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
            f"Content-Type: {mime}\r\n\r\n".encode() + content + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def png():
    """A small PNG of random 8×8 blocks: every upload a different picture."""
    w, h = 64, 48
    blocks = [[random.getrandbits(1) * 255 for _ in range(w // 8)] for _ in range(h // 8)]
    rows = b"".join(b"\x00" + bytes(blocks[y // 8][x // 8] for x in range(w) for _ in range(3)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


invoice_seq = iter(range(10**6))
invoice_lock = threading.Lock()


def invoice_no():
    with invoice_lock:
        n = next(invoice_seq)
    return f"FO{os.getpid() % 10000:04d}{n:06d}"


def local_date(days):
    return (datetime.now(SHANGHAI) + timedelta(days=days)).strftime("%Y-%m-%d")


class Acked:
    """Every write medclaim acknowledged with 2xx during the load."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cases = {}  # case id -> owner's username
        self.records = {}  # record id -> case id
        self.invoices = {}  # invoice id -> (case id, invoice no)
        self.submitted = set()
        self.bookings = {}  # booking id -> case id

    def count(self):
        return len(self.cases) + len(self.records) + len(self.invoices) + len(self.submitted) + len(self.bookings)


def approved_case(api, token, staff):
    """A case created, documented and submitted by the student, approved at both levels."""
    case = api.ok("POST", "/api/v1/cases", token, {
        "hospital": "北京大学第三医院", "hospital_level": 3, "reason": "急性肠胃炎", "visit_date": local_date(-3)})
    cid = case["id"]
    api.ok("POST", f"/api/v1/cases/{cid}/records", token, files={"file": ("record.png", "image/png", png())})
    api.ok("POST", f"/api/v1/cases/{cid}/invoices", token,
           {"invoice_no": invoice_no(), "total_cents": "12000", "self_pay_cents": "2000"},
           files={"photo": ("invoice.png", "image/png", png())})
    api.ok("POST", f"/api/v1/cases/{cid}/submit", token, {})
    for level, reviewer in ((1, staff["reviewer1"]), (2, staff["reviewer2"])):
        version = api.ok("GET", f"/api/v1/review/cases/{cid}", reviewer)["version"]
        api.ok("POST", f"/api/v1/review/cases/{cid}", reviewer,
               {"version": version, "level": level, "decision": "approve"})
    return cid


def claimer(api, acked, username, token, stop):
    """Claims in a loop: create, record photo, invoice, submit. A step that fails leaves the
    case (its acknowledged steps are still checked) and the next loop starts a new one."""
    while not stop.is_set():
        status, case = retrying(api, stop, "POST", "/api/v1/cases", token, {
            "hospital": "北京大学第三医院", "hospital_level": 3, "reason": "急性肠胃炎",
            "visit_date": local_date(-3)}, what="create case")
        if status != 201:
            continue
        cid = case["id"]
        with acked.lock:
            acked.cases[cid] = username
        status, rec = retrying(api, stop, "POST", f"/api/v1/cases/{cid}/records", token,
                               files={"file": ("record.png", "image/png", png())}, what="record photo")
        if status != 201:
            continue
        with acked.lock:
            acked.records[rec["id"]] = cid
        no = invoice_no()
        status, inv = retrying(api, stop, "POST", f"/api/v1/cases/{cid}/invoices", token,
                               {"invoice_no": no, "total_cents": "12000", "self_pay_cents": "2000"},
                               files={"photo": ("invoice.png", "image/png", png())}, what="invoice")
        if status != 201:
            continue
        with acked.lock:
            acked.invoices[inv["id"]] = (cid, no)
        status, _ = retrying(api, stop, "POST", f"/api/v1/cases/{cid}/submit", token, {}, what="submit")
        if status == 200:
            with acked.lock:
                acked.submitted.add(cid)


def retrying(api, stop, method, path, token, body=None, files=None, what=None):
    """Retries while medclaim answers 503 (or nothing): the outcome of an unanswered write is
    unknown, so a retry may meet a conflict, which ends it."""
    while True:
        status, value = api.call(method, path, token, body, files, what=what)
        if status not in RETRYABLE or stop.is_set():
            return status, value
        time.sleep(0.2)


def booker(api, acked, token, slot, case_id, start_at, stop, outcome):
    time.sleep(max(0.0, start_at - time.monotonic()))
    status, value = retrying(api, stop, "POST", "/api/v1/bookings", token,
                             {"slot_id": slot, "case_id": case_id}, what="booking")
    code = (value or {}).get("error", {}).get("code") if isinstance(value, dict) else None
    if status == 201:
        with acked.lock:
            acked.bookings[value["id"]] = case_id
        outcome.append("booked")
    elif status == 409 and code in ("slot_full", "already_booked"):
        outcome.append(code)
    else:
        outcome.append(f"{status} {code}")


def patroni(node_api, path="/patroni"):
    try:
        with urllib.request.urlopen(node_api + path, timeout=2) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError:
        return 0, None


def psql(conninfo, sql):
    out = subprocess.run(["psql", conninfo, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def ids(values):
    return "'{" + ",".join(str(int(v)) for v in values) + "}'::bigint[]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", required=True, help="medclaim's base URL")
    ap.add_argument("--node", action="append", required=True, help="name,PostgreSQL port,Patroni REST URL,data dir")
    ap.add_argument("--psql", required=True, help="libpq conninfo of the database through HAProxy")
    ap.add_argument("--medclaim-pid", type=int, required=True)
    ap.add_argument("--metrics-token", required=True, help="medclaim's MEDCLAIM_METRICS_TOKEN")
    args = ap.parse_args()
    nodes = [dict(zip(("name", "port", "api", "data"), n.split(",", 3))) for n in args.node]
    api = Api(args.app)

    # --- setup -----------------------------------------------------------------------------
    t0 = time.monotonic()
    staff = {name: api.login(name) for name in ("admin", "reviewer1", "reviewer2")}
    slot = api.ok("POST", "/api/v1/admin/slots", staff["admin"],
                  {"date": local_date(3), "start": "19:07", "end": "19:37", "capacity": CAPACITY})["id"]
    bookers = [f"2025{n:06d}" for n in range(120, 120 + BOOKERS)]
    claimers = [f"2025{n:06d}" for n in range(170, 170 + CLAIMERS)]
    tokens = {}
    cases = {}

    def prepare(username):
        tokens[username] = api.login(username)
        if username in bookers:
            cases[username] = approved_case(api, tokens[username], staff)

    threads = [threading.Thread(target=lambda chunk=bookers[i::6] + claimers[i::6]: [prepare(u) for u in chunk])
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(cases) != BOOKERS:
        raise SystemExit("setup failed (see above)")
    log(f"setup: slot {slot} of {CAPACITY} seats, {BOOKERS} approved cases to book, "
        f"{CLAIMERS} claimants, in {time.monotonic() - t0:.1f} s")

    leader = next((n for n in nodes if patroni(n["api"], "/primary")[0] == 200), None)
    if leader is None:
        raise SystemExit("no node answers GET /primary with 200 before the load")
    _, before = patroni(leader["api"])
    sync = [n for n in nodes if n is not leader and patroni(n["api"], "/sync")[0] == 200]
    if not sync:
        raise SystemExit("the standby is not synchronous before the load")
    log(f"primary {leader['name']} (timeline {before.get('timeline')}), synchronous standby {sync[0]['name']}")

    # --- load, with the kill in the middle ---------------------------------------------------
    acked = Acked()
    stop = threading.Event()
    outcome = []
    api.recording = True
    start = time.monotonic()
    workers = [threading.Thread(target=claimer, args=(api, acked, u, tokens[u], stop)) for u in claimers]
    workers += [threading.Thread(target=booker, args=(api, acked, tokens[u], slot, cases[u],
                                                      start + i * BOOKING_WINDOW / BOOKERS, stop, outcome))
                for i, u in enumerate(bookers)]
    for w in workers:
        w.start()

    time.sleep(max(0.0, start + KILL_AFTER - time.monotonic()))
    with open(os.path.join(leader["data"], "postmaster.pid")) as f:
        postmaster = int(f.readline())
    acked_at_kill = acked.count()
    os.kill(postmaster, signal.SIGKILL)
    killed = time.monotonic()
    log(f"SIGKILL to the postmaster of {leader['name']} (pid {postmaster}) "
        f"after {acked_at_kill} acknowledged writes")

    promoted_at, new_leader = None, None
    while time.monotonic() < killed + RECOVERY_LIMIT + 15:
        for n in nodes:
            if n is leader:
                continue
            status, info = patroni(n["api"])
            if info and info.get("role") in ("master", "primary") and info.get("state") == "running":
                promoted_at, new_leader = time.monotonic(), n
        if new_leader:
            break
        time.sleep(0.1)
    if new_leader:
        log(f"{new_leader['name']} promoted {promoted_at - killed:.1f} s after the kill")
    else:
        fail("no standby was promoted")

    def first_ok_after_kill():
        with api.lock:
            return min((e for s, e, st, _ in api.answers if s >= killed and 200 <= st < 300), default=None)

    deadline = killed + RECOVERY_LIMIT + 15
    while time.monotonic() < deadline:
        first = first_ok_after_kill()
        if first is not None and time.monotonic() > first + AFTER_RECOVERY and len(outcome) == BOOKERS:
            break
        time.sleep(0.1)
    stop.set()
    for w in workers:
        w.join(timeout=60)
    api.recording = False

    # --- figures -------------------------------------------------------------------------------
    answers = sorted(api.answers)
    last_before = max((e for s, e, st, _ in answers if e <= killed and 200 <= st < 300), default=None)
    first_after = first_ok_after_kill()
    statuses = {}
    for s, e, st, what in answers:
        statuses[st] = statuses.get(st, 0) + 1
    log(f"answers during the load by status: {dict(sorted(statuses.items()))}")
    if last_before is None or first_after is None:
        fail("no 2xx before the kill or none after it")
        recovery = None
    else:
        recovery = first_after - last_before
        log(f"recovery: last 2xx before the kill → first 2xx after it: {recovery:.2f} s "
            f"(kill → first 2xx: {first_after - killed:.2f} s)")
        if recovery > RECOVERY_LIMIT:
            fail(f"medclaim was not serving again within {RECOVERY_LIMIT:.0f} s ({recovery:.1f} s)")
    if statuses.get(500):
        fail(f"{statuses[500]} answers were 500 (a lost database connection must be 503 unavailable)")
    if statuses.get(0):
        fail(f"{statuses[0]} requests got no answer from medclaim")
    others = {st: n for st, n in statuses.items() if st not in (200, 201, 409, 503)}
    if others:
        fail(f"unexpected statuses: {others}")
    booked = outcome.count("booked")
    log(f"bookings: {booked} answered 201, {outcome.count('slot_full')} slot_full, "
        f"{outcome.count('already_booked')} already_booked (a retry after an unanswered booking)")
    odd = [o for o in outcome if o not in ("booked", "slot_full", "already_booked")]
    if odd or len(outcome) != BOOKERS:
        fail(f"bookers that did not finish with 201 or 409: {odd or BOOKERS - len(outcome)}")
    if not any(e > killed for e in (a[1] for a in answers if a[3] == "booking" and a[2] == 201)):
        fail("no booking was made after the failover (the load window missed it)")
    try:
        os.kill(args.medclaim_pid, 0)
    except OSError:
        fail("medclaim is no longer running")
    # The background work (reminders, orphan sweep) is led through an advisory lock held on a
    # connection of its own: medclaim must have taken it again on the new primary.
    leads = False
    for _ in range(100):
        req = urllib.request.Request(args.app + "/metrics", headers={"Authorization": f"Bearer {args.metrics_token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                leads = "medclaim_background_leader 1" in resp.read().decode()
        except OSError:
            pass
        if leads:
            break
        time.sleep(0.2)
    if leads:
        log("medclaim leads the background work again (advisory lock on the new primary)")
    else:
        fail("medclaim did not take the background leadership again within 20 s")

    # --- every acknowledged write is in the new primary -----------------------------------------
    where = psql(args.psql, "SELECT inet_server_port(), pg_is_in_recovery()")[0]
    log(f"checks against the server at port {where[0]} (in recovery: {where[1]})")
    if new_leader and where != [new_leader["port"], "f"]:
        fail(f"HAProxy does not lead to the new primary: {where}")
    checked = 0
    rows = {int(r[0]): r[1] for r in psql(args.psql, f"SELECT id, status FROM cases WHERE id = ANY({ids(acked.cases)})")}
    missing = [c for c in acked.cases if c not in rows]
    unsubmitted = [c for c in acked.submitted if rows.get(c) in (None, "draft")]
    checked += len(acked.cases) + len(acked.submitted)
    recs = {int(r[0]): int(r[1]) for r in psql(args.psql, f"SELECT id, case_id FROM case_records WHERE id = ANY({ids(acked.records)})")}
    missing += [f"record {r}" for r, c in acked.records.items() if recs.get(r) != c]
    checked += len(acked.records)
    invs = {int(r[0]): (int(r[1]), r[2]) for r in psql(args.psql, f"SELECT id, case_id, invoice_no FROM invoices WHERE id = ANY({ids(acked.invoices)})")}
    missing += [f"invoice {i}" for i, v in acked.invoices.items() if invs.get(i) != v]
    checked += len(acked.invoices)
    bks = {int(r[0]): (int(r[1]), int(r[2]), r[3]) for r in psql(args.psql, f"SELECT id, slot_id, case_id, status FROM bookings WHERE id = ANY({ids(acked.bookings)})")}
    missing += [f"booking {b}" for b, c in acked.bookings.items() if bks.get(b) != (slot, c, "active")]
    checked += len(acked.bookings)
    log(f"acknowledged during the load: {len(acked.cases)} cases, {len(acked.records)} record photos, "
        f"{len(acked.invoices)} invoices, {len(acked.submitted)} submissions, {len(acked.bookings)} bookings "
        f"= {checked} writes, {acked_at_kill} of them before the kill")
    if missing or unsubmitted:
        fail(f"acknowledged but not in the new primary: {missing[:20]} submitted but draft: {unsubmitted[:20]}")
    else:
        log(f"all {checked} acknowledged writes are in the new primary")
    seats, capacity = map(int, psql(args.psql, f"SELECT booked, capacity FROM slots WHERE id = {slot}")[0])
    holding = int(psql(args.psql, f"SELECT COUNT(*) FROM bookings WHERE slot_id = {slot} AND status <> 'cancelled'")[0][0])
    log(f"slot {slot}: capacity {capacity}, counter {seats}, bookings holding a seat {holding}")
    if not (capacity == seats == holding == CAPACITY):
        fail(f"booking capacity is not exact: capacity {capacity}, counter {seats}, bookings {holding}")
    if booked > CAPACITY:
        fail(f"{booked} bookings were acknowledged for {CAPACITY} seats")

    if new_leader:
        # Informational: Patroni restarts the old primary as the new standby (pg_rewind).
        _, cluster = patroni(new_leader["api"], "/cluster")
        members = ", ".join(f"{m.get('name')} {m.get('role')} {m.get('state')} (timeline {m.get('timeline')})"
                            for m in (cluster or {}).get("members", []))
        log(f"cluster now: {members or 'unknown'}")

    if failures:
        log(f"{len(failures)} check(s) failed")
        return 1
    print(json.dumps({"recovery_seconds": round(recovery, 2), "kill_to_first_2xx_seconds": round(first_after - killed, 2),
                      "promoted_after_seconds": round(promoted_at - killed, 2), "acknowledged_writes_checked": checked,
                      "answers_503": statuses.get(503, 0)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
