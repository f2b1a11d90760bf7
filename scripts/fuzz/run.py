#!/usr/bin/env python3
"""The fuzz step of the test command.

Starts a real `accord serve` per database (SQLite in a temporary folder, PostgreSQL in a fresh
database), creates one resource of each kind through the API so that generated requests reach
the handlers, and runs Schemathesis against the two served OpenAPI documents
(`/privacy-v1/docs/json` with an owner API key, `/site-v1/docs/json` with a site session).
Fails on any 5xx, any response outside the published schema, status codes and content types,
and any accepted request that the published schema forbids.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
# Attribute kinds of the data map (§6.3): one path template, one resource each.
ATTRIBUTE_KINDS = [
    "contacts",
    "destinations",
    "origins",
    "processing-activities",
    "processing-purposes",
    "relationships",
    "security-measures",
    "data-categories",
    "data-subjects",
]


def log(msg: str) -> None:
    print(f"fuzz: {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
    """One request; answers (status, parsed JSON or None)."""
    data = raw
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["content-type"] = "application/json"
    req = urllib.request.Request(base + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None


def expect(what: str, answer, status: int = 201):
    got, body = answer
    if got != status:
        raise SystemExit(f"fuzz: cannot create {what}: {got} {body}")
    return body


class Server:
    """One `accord serve` on a free loopback port."""

    def __init__(self, binary: str, database_url: str, workdir: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.stdout_path = workdir / "server.out"
        self.stderr_path = workdir / "server.log"
        env = dict(os.environ)
        env.update(
            {
                "ACCORD_LISTEN": f"127.0.0.1:{self.port}",
                "ACCORD_DATABASE_URL": database_url,
                "ACCORD_DATA_DIR": str(workdir / "data"),
                "ACCORD_RATE_LIMIT_PRIVACY": "0",
                "ACCORD_RATE_LIMIT_SITE": "0",
                "ACCORD_LOG": "warn",
                # Hypothesis may think for longer than the 10 s a keep-alive connection may
                # stay idle; the server would close it just as the next request is sent on it.
                "ACCORD_HEADER_TIMEOUT": "600",
            }
        )
        for name in ("ACCORD_S3_BUCKET", "ACCORD_SMTP_URL", "ACCORD_PUBLIC_URL", "ACCORD_METRICS_LISTEN"):
            env.pop(name, None)
        self.proc = subprocess.Popen(
            [binary, "serve"],
            env=env,
            stdout=open(self.stdout_path, "wb"),
            stderr=open(self.stderr_path, "wb"),
            cwd=workdir,
        )
        self.boot = self._bootstrap()

    def _bootstrap(self) -> dict[str, str]:
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"fuzz: the server exited ({self.proc.returncode}): {self.stderr_path.read_text()[-2000:]}")
            text = self.stdout_path.read_text()
            found = dict(re.findall(r"(organizationId|projectId|apiKey)=(\S+)", text))
            if len(found) == 3:
                try:
                    if call(self.base, "GET", "/privacy-v1/health")[0] == 200:
                        return found
                except OSError:
                    pass
            time.sleep(0.2)
        raise SystemExit("fuzz: the server did not print its bootstrap lines and answer health in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def seed(server: Server) -> dict:
    """Creates one resource of each kind the documents' path parameters name."""
    b = server.base
    org, proj, key = server.boot["organizationId"], server.boot["projectId"], server.boot["apiKey"]
    auth = {"x-api-key": key}
    p = f"/privacy-v1/organizations/{org}"
    pp = f"{p}/projects/{proj}"

    def post(what, path, body):
        return expect(what, call(b, "POST", path, body, auth))

    minted = expect("a site session", call(b, "POST", f"/site-v1/{proj}/session", {}))
    session_token, concord_id = minted["session"], minted["concordId"]
    sessions = expect("the session list", call(b, "GET", f"{pp}/sessions", headers=auth), 200)
    cr = post("a compliance request", f"{pp}/compliance-requests", {"request": "view", "userEmail": "fuzz@example.com", "preverified": True})
    cr_id = cr["id"]

    def upload(request_id):
        boundary = "fuzzboundary" + secrets.token_hex(8)
        multipart = (
            f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"report.txt\"\r\n"
            f"content-type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
        ).encode()
        headers = {**auth, "content-type": f"multipart/form-data; boundary={boundary}"}
        expect("a response file", call(b, "POST", f"{pp}/compliance-requests/{request_id}/files", headers=headers, raw=multipart))

    upload(cr_id)
    ctype = post("a consent type", f"{pp}/consent-types", {"category": "custom", "label": "fuzz", "name": "Fuzz"})
    event = post(
        "a consent event",
        f"{pp}/consent-events",
        {"items": [{"concordId": concord_id, "consentType": ctype["id"], "consentState": "accepted", "consentAction": "user_click"}]},
    )
    event_id = event["items"][0]["id"]
    site_headers = {"x-session": session_token}
    site_cr = expect("a site compliance request", call(b, "POST", f"/site-v1/{proj}/compliance-requests", {"request": "view", "userEmail": "fuzz@example.com", "captureUrl": "https://localhost/privacy"}, site_headers))
    # Verified by staff (§3.6), so that it can hold a file for the subject to download.
    expect("the site request verified", call(b, "PATCH", f"{pp}/compliance-requests/{site_cr['id']}", {"status": "submitted"}, auth), 200)
    upload(site_cr["id"])
    # Resolved, so that the subject sees and may download its file (§5.3).
    resolved = {"status": "resolved", "resolutionStatus": "completed"}
    expect("the site request resolved", call(b, "PATCH", f"{pp}/compliance-requests/{site_cr['id']}", resolved, auth), 200)
    site_event = expect(
        "a site consent event",
        call(b, "POST", f"/site-v1/{proj}/consent-events", {"items": [{"consentType": ctype["id"], "consentState": "accepted", "consentAction": "user_click"}]}, site_headers),
    )
    seeds = {
        "base": b,
        "organizationId": org,
        "projectId": proj,
        "apiKey": key,
        "session": session_token,
        "privacy": {
            "": {
                "organizationId": org,
                "projectId": proj,
                "complianceRequestId": cr_id,
                "fileName": "report.txt",
                "consentTypeId": ctype["id"],
                "consentEventId": event_id,
                "concordId": concord_id,
                "sessionId": sessions["items"][0]["id"],
                "apiKeyId": post("an API key", f"{p}/api-keys", {"name": "fuzz", "role": "admin"})["id"],
                "domainId": post("a domain", f"{pp}/domains", {"domain": "fuzz.example.com"})["id"],
                "trackerId": post("a tracker", f"{pp}/trackers", {"name": "_fuzz", "type": "cookie"})[0]["id"],
                "emailId": post("a send-from email", f"{p}/emails", {"email": "fuzz@example.com"})["id"],
                "dataSystemId": post("a data system", f"{p}/data-systems", {"name": "Fuzz", "status": "active"})["id"],
                # A region other than the Default one, which cannot be deleted: so that the
                # region DELETE reaches a deletable region.
                "regionId": post("a region", f"{pp}/regions", {"name": "Fuzz", "regions": ["JP"]})["id"],
                "policyId": post("a policy", f"{p}/policies", {"type": "privacyPolicy", "name": "Fuzz", "status": "draft", "organizationId": org, "answers": [{"questionId": "q", "answer": "<b>a</b>"}]})["id"],
            },
        },
        "site": {
            "": {
                "projectId": proj,
                "complianceRequestId": site_cr["id"],
                "consentEventId": site_event["items"][0]["id"],
                "fileName": "report.txt",
            }
        },
    }
    contact_types = expect("the contact types", call(b, "GET", f"{p}/data-system-attributes?attributeName=dataSystemContactTypes", headers=auth), 200)
    contact = {"email": "fuzz@example.com", "phoneNumber": "+1 555 0100", "contactType": contact_types["items"][0]["id"]}
    seeds["contactType"] = contact["contactType"]
    for kind in ATTRIBUTE_KINDS:
        body = {"name": "Fuzz", "status": "active", **(contact if kind == "contacts" else {})}
        attr = post(f"a data-system {kind} attribute", f"{p}/data-system-{kind}", body)
        seeds["privacy"][f"/data-system-{kind}/"] = {"attributeId": attr["id"]}
    return seeds


def toml_string(s: str) -> str:
    return json.dumps(s)


def write_config(path: Path, params: dict[str, dict[str, str]], expected_rejections: list[str]) -> None:
    """A Schemathesis configuration: path parameters fixed to the seeded ids (globally under
    the key "", per path fragment otherwise), and the statuses that count as rejecting a
    request the schema forbids."""
    lines = ["[cache]", "enabled = false", "", "[checks.negative_data_rejection]", f"expected-statuses = {json.dumps(expected_rejections)}", ""]
    lines.append("[parameters]")
    for name, value in params.get("", {}).items():
        lines.append(f"{toml_string('path.' + name)} = {toml_string(value)}")
    for fragment, values in params.items():
        if not fragment:
            continue
        lines += ["", "[[operations]]", f"include-path-regex = {toml_string(re.escape(fragment))}", "[operations.parameters]"]
        # An operation's parameters replace the global ones for that operation.
        for name, value in {**params[""], **values}.items():
            lines.append(f"{toml_string('path.' + name)} = {toml_string(value)}")
    path.write_text("\n".join(lines) + "\n")


def run_schemathesis(venv: Path, doc_url: str, config: Path, header: str, max_examples: int, report: Path, hooks_env: dict, workers: int, seed_value: int | None) -> tuple[bool, int]:
    cmd = [
        str(venv / "bin" / "schemathesis"),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        doc_url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(max_examples),
        "--workers",
        str(workers),
        "--header",
        header,
        "--suppress-health-check",
        "all",
        "--generation-database",
        "none",
        "--output-truncate",
        "true",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    if seed_value is not None:
        cmd += ["--seed", str(seed_value)]
    env = {**os.environ, **hooks_env}
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout
    # The failures and the closing summary; each reproduction line is cut to stay readable.
    print("\n".join(line if len(line) < 600 else line[:600] + " …" for line in out.splitlines()), flush=True)
    m = re.search(r"(\d+) generated", out)
    return proc.returncode == 0, int(m.group(1)) if m else 0


def postgres_url(base_url: str, name: str) -> str:
    return base_url.rsplit("/", 1)[0] + "/" + name


def psql(url: str, sql: str) -> bool:
    return subprocess.run(["psql", url, "-Atqc", sql], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def fuzz_database(args, venv: Path, kind: str, database_url: str, workdir: Path) -> list[tuple[str, str, bool, int]]:
    server = Server(args.binary, database_url, workdir)
    results = []
    try:
        seeds = seed(server)
        ops = {"privacy": 0, "site": 0}
        for api in ops:
            doc = json.loads(urllib.request.urlopen(f"{server.base}/{api}-v1/docs/json").read())
            ops[api] = sum(1 for item in doc["paths"].values() for m in item if m in ("get", "post", "patch", "put", "delete"))
        hooks_env = {
            "SCHEMATHESIS_HOOKS": "hooks",
            "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "ACCORD_FUZZ_SEEDS": str(workdir / "seeds.json"),
        }
        (workdir / "seeds.json").write_text(json.dumps(seeds))
        for api, header in (("privacy", f"x-api-key: {seeds['apiKey']}"), ("site", f"x-session: {seeds['session']}")):
            config = workdir / f"{api}.toml"
            # 413 and 414 refuse a body or a target over the published limits (§1.6): they
            # are rejections like 400.
            write_config(config, seeds[api], ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429"])
            per_op = max(1, math.ceil(args.cases / ops[api]))
            log(f"{kind}: {api} document, {ops[api]} operations, up to {per_op} fuzzed cases each")
            ok, count = run_schemathesis(
                venv,
                f"{server.base}/{api}-v1/docs/json",
                config,
                header,
                per_op,
                workdir / f"{api}.ndjson",
                {**hooks_env, "ACCORD_FUZZ_API": api},
                args.workers,
                args.seed,
            )
            results.append((kind, api, ok, count))
    finally:
        server.stop()
    errors = [line for line in server.stderr_path.read_text(errors="replace").splitlines() if '"ERROR"' in line or "panicked" in line]
    if errors:
        log(f"{kind}: the server logged {len(errors)} errors, the first ones:")
        for line in errors[:5]:
            print(line[:1000])
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--cases", type=int, default=int(os.environ.get("ACCORD_FUZZ_CASES", "400")))
    ap.add_argument("--databases", default=os.environ.get("ACCORD_FUZZ_DATABASES", "sqlite,postgres"))
    # One worker: Hypothesis parses source code with `ast` while generating, and CPython 3.11
    # before 3.11.8 can fail that ("AST constructor recursion depth mismatch") when two
    # threads parse at once.
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=int(os.environ["ACCORD_FUZZ_SEED"]) if os.environ.get("ACCORD_FUZZ_SEED") else None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (server logs, reports)")
    args = ap.parse_args()
    args.binary = str(Path(args.binary).resolve())
    venv = Path(args.venv).resolve()
    results = []
    started = time.time()
    for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
        workdir = Path(tempfile.mkdtemp(prefix=f"accord-fuzz-{kind}-"))
        try:
            if kind == "sqlite":
                results += fuzz_database(args, venv, kind, f"sqlite://{workdir}/accord.db", workdir)
            elif kind == "postgres":
                admin = os.environ.get("ACCORD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
                name = f"accord_test_fuzz_{secrets.token_hex(6)}"
                if shutil.which("psql") is None or not psql(admin, f"CREATE DATABASE {name}"):
                    if os.environ.get("CI") == "true":
                        log(f"PostgreSQL is not reachable at {admin}")
                        return 1
                    log(f"PostgreSQL is not reachable at {admin}: skipping its fuzz run")
                    continue
                try:
                    results += fuzz_database(args, venv, kind, postgres_url(admin, name), workdir)
                finally:
                    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                log(f"unknown database kind {kind}")
                return 2
        finally:
            if args.keep:
                log(f"work folder kept: {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    failed = [r for r in results if not r[2]]
    for kind, api, ok, count in results:
        log(f"{kind} {api}: {count} cases, {'passed' if ok else 'FAILED'}")
    log(f"{sum(r[3] for r in results)} cases in {time.time() - started:.0f} s")
    log(f"{len(results) - len(failed)} of {len(results)} runs clean")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
