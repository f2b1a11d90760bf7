-- Verification challenges (§3.6): only digests of the code and the link token are kept.
CREATE TABLE verification_challenges (
    id TEXT PRIMARY KEY,
    compliance_request_id TEXT NOT NULL REFERENCES compliance_requests(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    method TEXT NOT NULL,
    code_digest TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    attempts BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    date_created BIGINT NOT NULL
);
CREATE INDEX verification_challenges_request ON verification_challenges (compliance_request_id);

-- Outgoing messages (§9.6), written in the transaction that causes them and delivered by
-- the background sender. `claimed_until` leases a message to one server at a time.
CREATE TABLE outgoing_messages (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    compliance_request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    date_created BIGINT NOT NULL,
    date_sent BIGINT
);
CREATE INDEX outgoing_messages_due ON outgoing_messages (status, next_attempt_at);

-- Send-from addresses of an organization (§7.6).
CREATE TABLE send_from_emails (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    name TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    UNIQUE (organization_id, email_lower)
);

-- Background job runs, claimed by one server at a time (§9.5).
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY,
    next_run_at BIGINT NOT NULL,
    claimed_by TEXT
);

-- Site compliance-request creation limits per client IP (§1.6).
CREATE INDEX compliance_requests_site_ip ON compliance_requests (session_ip_address, date_created);
