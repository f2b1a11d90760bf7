#!/usr/bin/env python3
"""Seeder and report for the peer comparison (bench/peer/compare.sh).

Standard library only. Subcommands:

  fides-token URL CLIENT_ID SECRET       print an OAuth bearer token of the root client
  seed-fides URL PG_PORT                 10,000 requests + needle through the API, then the
                                         status mix (one SQL UPDATE per status)
  seed-accord URL ORG PROJECT KEY        10,000 requests + needle through the API (batches
                                         of 100), then the status mix through PATCH
  count URL KIND AUTH_HEADER             the server's total number of requests
  wrk-json NAME SERVER DATABASE CONNS DURATION WRK_LOG [STORED]
                                         one JSON result line from a wrk log
  report RESULTS_JSONL                   ratio lines (JSON) and a table from the results
"""

import concurrent.futures
import http.client
import json
import subprocess
import sys
import urllib.parse

SEED_ROWS = 10_000
NEEDLE = "needle@example.com"

# The status mix of the seeded rows, out of 20 (10/25/25/40 %), and what each Accord
# status is called in Fides. Fides gives a new request `pending` when identity
# verification and manual approval are off (its equivalent of Accord's `submitted`);
# `identity_unverified` is a request waiting for the subject's code; `in_processing` one
# being worked on; `complete` one that is done.
MIX = [
    ("pending_verification", "identity_unverified", 2),
    ("submitted", "pending", 5),
    ("acknowledged", "in_processing", 5),
    ("resolved", "complete", 8),
]


def accord_status(i: int) -> str:
    r = i % 20
    for accord, _fides, n in MIX:
        if r < n:
            return accord
        r -= n
    raise AssertionError


def fides_status(i: int) -> str:
    return {a: f for a, f, _ in MIX}[accord_status(i)]


def seed_email(i: int) -> str:
    return f"user{i}@example{i % 50}.com"


class Client:
    """A keep-alive HTTP/1.1 client for one host."""

    def __init__(self, base: str, headers: dict):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.headers = headers
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method: str, path: str, body=None, expect=(200,)):
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
                if attempt:
                    raise
        if resp.status not in expect:
            raise SystemExit(f"{method} {path}: {resp.status} {raw[:500]!r}")
        return json.loads(raw) if raw else None


def fides_token(base: str, client_id: str, secret: str) -> str:
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    conn.request(
        "POST",
        "/api/v1/oauth/token",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    resp = conn.getresponse()
    raw = resp.read()
    if resp.status != 200:
        raise SystemExit(f"fides token: {resp.status} {raw[:300]!r}")
    return json.loads(raw)["access_token"]


def seed_fides(base: str, pg_port: str) -> None:
    # Fides' public create endpoint takes at most 50 requests per call. Four clients in
    # parallel: Fides handles one call at a time per worker thread, its database is apart.
    batches = [list(range(s, min(s + 50, SEED_ROWS))) for s in range(0, SEED_ROWS, 50)]
    ids: dict = {}

    def send(batch):
        c = Client(base, {})
        body = [
            {"identity": {"email": seed_email(i)}, "policy_key": "default_access_policy"}
            for i in batch
        ]
        out = c.call("POST", "/api/v1/privacy-request", body)
        if out["failed"] or len(out["succeeded"]) != len(batch):
            raise SystemExit(f"fides create failed: {out['failed'][:1]}")
        return list(zip(batch, (r["id"] for r in out["succeeded"])))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for done, pairs in enumerate(pool.map(send, batches), 1):
            ids.update(pairs)
            if done % 40 == 0:
                print(f"  fides: {done * 50} created", file=sys.stderr)
    out = Client(base, {}).call(
        "POST",
        "/api/v1/privacy-request",
        [{"identity": {"email": NEEDLE}, "policy_key": "default_access_policy"}],
    )
    if out["failed"]:
        raise SystemExit(f"fides needle failed: {out['failed']}")
    # Fides reaches these statuses only through its worker and connectors, which the
    # comparison does not run, so they are set in its own database.
    sql = ["BEGIN;"]
    for _accord, fides, _n in MIX:
        if fides == "pending":
            continue
        chosen = [ids[i] for i in range(SEED_ROWS) if fides_status(i) == fides]
        extra = {
            "identity_unverified": "",
            "in_processing": ", started_processing_at = created_at",
            "complete": ", started_processing_at = created_at,"
            " finished_processing_at = created_at",
        }[fides]
        id_list = ",".join(f"'{x}'" for x in chosen)
        sql.append(
            f"UPDATE privacyrequest SET status = '{fides}'{extra} WHERE id IN ({id_list});"
        )
    sql.append("COMMIT; VACUUM (ANALYZE);")
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", pg_port,
         "-U", "postgres", "-d", "fides"],
        input="\n".join(sql), text=True, check=True,
    )


def seed_accord(base: str, org: str, project: str, key: str) -> None:
    path = f"/privacy-v1/organizations/{org}/projects/{project}/compliance-requests"
    c = Client(base, {"x-api-key": key})
    ids = {}
    for start in range(0, SEED_ROWS, 100):
        batch = list(range(start, min(start + 100, SEED_ROWS)))
        body = [
            {
                "request": "view",
                "userEmail": seed_email(i),
                "preverified": accord_status(i) != "pending_verification",
            }
            for i in batch
        ]
        out = c.call("POST", path, body, expect=(201,))
        ids.update(zip(batch, (r["id"] for r in out["items"])))
    c.call("POST", path, {"request": "view", "userEmail": NEEDLE, "preverified": True},
           expect=(201,))
    for i in range(SEED_ROWS):
        s = accord_status(i)
        if s == "acknowledged":
            c.call("PATCH", f"{path}/{ids[i]}", {"status": "acknowledged"})
        elif s == "resolved":
            c.call("PATCH", f"{path}/{ids[i]}",
                   {"status": "resolved", "resolutionStatus": "completed"})


def count(base: str, kind: str, auth: str) -> int:
    name, _, value = auth.partition(":")
    c = Client(base, {name.strip(): value.strip()})
    if kind == "fides":
        return c.call("GET", "/api/v1/privacy-request?page=1&size=1")["total"]
    # Accord: base is the project's compliance-requests URL.
    path = urllib.parse.urlsplit(base).path
    return c.call("GET", f"{path}?limit=1")["total"]


def wrk_json(name, server, database, conns, duration, log, stored=None) -> None:
    with open(log) as f:
        lines = [ln for ln in f if ln.startswith("WRKJSON ")]
    if not lines:
        raise SystemExit(f"no wrk summary in {log}")
    w = json.loads(lines[-1][len("WRKJSON "):])
    secs = w["duration_us"] / 1e6
    errors = w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"]
    ok = w["requests"] - w["status"]
    row = {
        "bench": "peer",
        "work": name,
        "server": server,
        "database": database,
        "connections": int(conns),
        "duration_s": round(secs, 2),
        "requests": w["requests"],
        "errors": errors,
        "rps": round(ok / secs, 1) if secs else 0.0,
        "p50_ms": round(w["p50_us"] / 1000, 2),
        "p99_ms": round(w["p99_us"] / 1000, 2),
        "max_ms": round(w["max_us"] / 1000, 2),
    }
    if stored is not None:
        row["stored"] = int(stored)
    print(json.dumps(row))


def report(path: str) -> None:
    rows = [json.loads(ln) for ln in open(path) if ln.strip()]
    results = [r for r in rows if r.get("bench") == "peer"]
    works = []
    for r in results:
        if r["work"] not in works:
            works.append(r["work"])
    fides = {r["work"]: r for r in results if r["server"] == "fides"}
    accords = []
    for r in results:
        if r["server"] == "accord" and r["database"] not in accords:
            accords.append(r["database"])
    ratios = []
    for db in accords:
        acc = {r["work"]: r for r in results if r["server"] == "accord" and r["database"] == db}
        for work in works:
            fwork = "lookup_email" if work.startswith("lookup_email") else work
            a, f = acc.get(fwork), fides.get(work)
            if not a or not f:
                continue
            ratios.append({
                "bench": "peer_ratio",
                "work": work,
                "accord_database": db,
                "accord_rps": a["rps"],
                "fides_rps": f["rps"],
                "rps_ratio": round(a["rps"] / f["rps"], 1) if f["rps"] else None,
                "p50_ratio": round(f["p50_ms"] / a["p50_ms"], 1) if a["p50_ms"] else None,
                "p99_ratio": round(f["p99_ms"] / a["p99_ms"], 1) if a["p99_ms"] else None,
            })
    for r in ratios:
        print(json.dumps(r))
    head = f"{'work':<22} {'server':<18} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
    print("", file=sys.stderr)
    print(head, file=sys.stderr)
    print("-" * len(head), file=sys.stderr)
    for work in works:
        for r in results:
            if r["work"] == work:
                who = "fides" if r["server"] == "fides" else f"accord/{r['database']}"
                print(f"{work:<22} {who:<18} {r['rps']:>10.1f} {r['p50_ms']:>9.2f}"
                      f" {r['p99_ms']:>9.2f} {r['errors']:>7}", file=sys.stderr)
    if ratios:
        print("", file=sys.stderr)
        head = f"{'work':<22} {'accord on':<10} {'req/s ×':>9} {'p50 ÷':>7} {'p99 ÷':>7}"
        print(head, file=sys.stderr)
        print("-" * len(head), file=sys.stderr)
        for r in ratios:
            print(f"{r['work']:<22} {r['accord_database']:<10} {r['rps_ratio']!s:>9}"
                  f" {r['p50_ratio']!s:>7} {r['p99_ratio']!s:>7}", file=sys.stderr)
        print("req/s × = Accord's req/s ÷ Fides'; p50 ÷, p99 ÷ = Fides' latency ÷ Accord's",
              file=sys.stderr)


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fides-token":
        print(fides_token(*args))
    elif cmd == "seed-fides":
        seed_fides(*args)
    elif cmd == "seed-accord":
        seed_accord(*args)
    elif cmd == "count":
        print(count(*args))
    elif cmd == "wrk-json":
        wrk_json(*args)
    elif cmd == "report":
        report(*args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
