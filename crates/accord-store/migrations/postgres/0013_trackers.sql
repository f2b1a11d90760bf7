-- Trackers of a project (§8.2). `domain_key` is the domain or '' so that the unique key
-- `(type, name, domain)` also holds for trackers without a domain.
CREATE TABLE trackers (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    category TEXT NOT NULL,
    origin TEXT NOT NULL,
    company TEXT,
    description TEXT,
    domain TEXT,
    domain_key TEXT NOT NULL,
    pattern TEXT,
    expiration BIGINT,
    detected_name TEXT,
    date_detected BIGINT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX trackers_key ON trackers (project_id, type, name, domain_key);
CREATE INDEX trackers_project ON trackers (project_id, date_created);

-- The scan schedule of a project (§8.3); `next_run` is when it is next due (NULL while
-- disabled). A server claims a due run by moving `next_run` forward in one statement.
CREATE TABLE tracker_scan_schedules (
    project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    enabled BIGINT NOT NULL,
    period TEXT NOT NULL,
    hour BIGINT NOT NULL,
    day_of_week BIGINT NOT NULL,
    day_of_month BIGINT NOT NULL,
    next_run BIGINT
);
CREATE INDEX tracker_scan_schedules_due ON tracker_scan_schedules (next_run);

-- Scans of a project (§8.3), the newest 100 kept. A running scan holds a lease
-- (`lease_until`) that its server renews; a running scan whose lease ended is failed.
CREATE TABLE tracker_scans (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    date BIGINT NOT NULL,
    status TEXT NOT NULL,
    scan_type TEXT NOT NULL,
    domains_count BIGINT NOT NULL,
    results TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);
CREATE INDEX tracker_scans_project ON tracker_scans (project_id, date);
CREATE INDEX tracker_scans_lease ON tracker_scans (status, lease_until);
CREATE UNIQUE INDEX tracker_scans_one_running ON tracker_scans (project_id) WHERE status = 'running';
