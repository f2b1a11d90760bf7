"""Schemathesis hooks of the fuzz step (loaded through SCHEMATHESIS_HOOKS=hooks).

The configuration fixes every path parameter to a resource the runner created, so that
generated requests reach the handlers. A DELETE of such a resource would leave every later
request of the run answering 403/404 (a deleted organization takes the API key with it), so
before a DELETE aims at a seeded resource this hook creates a fresh one of the same kind
through the API and aims the DELETE at it instead. Nothing is filtered or skipped: every
generated request is sent, only the id it deletes is a throwaway one.
"""
from __future__ import annotations

import itertools
import json
import os
import secrets
import urllib.error
import urllib.request

import schemathesis

SEEDS = json.loads(open(os.environ["ACCORD_FUZZ_SEEDS"]).read())
BASE = SEEDS["base"]
ORG = SEEDS["organizationId"]
PROJECT = SEEDS["projectId"]
AUTH = {"x-api-key": SEEDS["apiKey"]}
SEEDED = {value for values in SEEDS["privacy"].values() for value in values.values()}
COUNTER = itertools.count()


def _call(method: str, path: str, body=None, headers=None, raw=None):
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["content-type"] = "application/json"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"fuzz hook: {method} {path} answered {e.code}: {e.read()[:300]!r}") from None


def _post(path: str, body):
    return _call("POST", "/privacy-v1" + path, body, AUTH)["id"]


def _fresh_file(params) -> str:
    name = f"throwaway-{next(COUNTER)}.txt"
    boundary = "fuzzboundary" + secrets.token_hex(8)
    raw = (
        f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\nx\r\n--{boundary}--\r\n"
    ).encode()
    path = f"/privacy-v1/organizations/{ORG}/projects/{PROJECT}/compliance-requests/{params['complianceRequestId']}/files"
    _call("POST", path, headers={**AUTH, "content-type": f"multipart/form-data; boundary={boundary}"}, raw=raw)
    return name


def _fresh_identity(_params) -> str:
    return _call("POST", f"/site-v1/{PROJECT}/session", {})["concordId"]


# Countries a throwaway region may hold: a location code belongs to one region of a project
# at a time, and a fuzzed PATCH may have given any of them to the seeded region.
REGION_CODES = ["BR", "AR", "CL", "CO", "PE", "MX", "CA", "AU", "NZ", "ZA", "IN", "KR", "SG", "TH", "VN",
                "PH", "ID", "MY", "EG", "MA", "KE", "NG", "TR", "IL", "AE", "SA", "QA", "UA", "RS", "CH"]


def _fresh_region(_params) -> str:
    failure = None
    for _ in range(len(REGION_CODES)):
        code = REGION_CODES[next(COUNTER) % len(REGION_CODES)]
        try:
            return _post(f"{proj}/regions", {"name": f"Throwaway {code}", "regions": [code]})
        except RuntimeError as e:
            failure = e
    raise failure


org = f"/organizations/{ORG}"
proj = f"{org}/projects/{PROJECT}"
# The last path parameter of a DELETE operation, and how to make a throwaway resource for it.
FRESH = {
    "organizationId": lambda _p: _post("/organizations", {"name": f"Throwaway {next(COUNTER)}"}),
    "projectId": lambda _p: _post(f"{org}/projects", {"name": f"Throwaway {next(COUNTER)}"}),
    "apiKeyId": lambda _p: _post(f"{org}/api-keys", {"name": f"throwaway {next(COUNTER)}", "role": "viewer"}),
    "domainId": lambda _p: _post(f"{proj}/domains", {"domain": f"throwaway{next(COUNTER)}.example.com"}),
    "trackerId": lambda _p: _call("POST", f"/privacy-v1{proj}/trackers", {"name": f"throwaway{next(COUNTER)}", "type": "cookie"}, AUTH)[0]["id"],
    "emailId": lambda _p: _post(f"{org}/emails", {"email": f"throwaway{next(COUNTER)}@example.com"}),
    "dataSystemId": lambda _p: _post(f"{org}/data-systems", {"name": f"Throwaway {next(COUNTER)}", "status": "active"}),
    "consentTypeId": lambda _p: _post(f"{proj}/consent-types", {"category": "custom", "label": f"throwaway{next(COUNTER)}", "name": "Throwaway"}),
    "concordId": _fresh_identity,
    "regionId": _fresh_region,
    "fileName": _fresh_file,
}


def _privacy_operation(case, method: str) -> bool:
    """Whether `case` is a request of a published Privacy API operation with this method
    (the coverage phase also sends other methods to each path: those reach no handler)."""
    return os.environ.get("ACCORD_FUZZ_API") == "privacy" and case.operation.method.upper() == method and case.method.upper() == method


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _privacy_operation(case, "DELETE") or not case.operation.path.endswith("}"):
        return
    name = case.operation.path.rstrip("}").rsplit("{", 1)[-1]
    value = (case.path_parameters or {}).get(name)
    if value not in SEEDED or name not in FRESH and name != "attributeId":
        return
    if name == "attributeId":
        kind = case.operation.path.split("/data-system-", 1)[1].split("/", 1)[0]
        contact = {"email": "throwaway@example.com", "phoneNumber": "+1 555 0100", "contactType": SEEDS["contactType"]}
        body = {"name": f"Throwaway {next(COUNTER)}", "status": "active", **(contact if kind == "contacts" else {})}
        fresh = _post(f"{org}/data-system-{kind}", body)
    else:
        fresh = FRESH[name](case.path_parameters)
    case.path_parameters[name] = fresh


@schemathesis.hook
def after_call(context, case, response):
    """A PATCH may archive the seeded project (`status: archived`), after which the Site API
    answers 404 and creations 422 for the rest of the run: make it active again."""
    if not _privacy_operation(case, "PATCH") or case.operation.path != "/organizations/{organizationId}/projects/{projectId}":
        return
    if response.status_code == 200 and (case.path_parameters or {}).get("projectId") == PROJECT and response.json().get("status") != "active":
        _call("PATCH", f"/privacy-v1{proj}", {"status": "active"}, AUTH)
