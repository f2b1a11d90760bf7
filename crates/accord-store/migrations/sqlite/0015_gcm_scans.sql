-- GCM scans of a project (§8.4). `results` is the JSON array of checked pages. A running
-- scan holds a lease (`lease_until`); the scan job fails a running scan whose lease ended
-- (its server stopped).
CREATE TABLE gcm_scans (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    scan_type TEXT NOT NULL,
    url TEXT,
    status TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_completed INTEGER,
    results TEXT NOT NULL,
    error TEXT,
    lease_until INTEGER NOT NULL
);
CREATE INDEX gcm_scans_project ON gcm_scans (project_id, date_created);
CREATE INDEX gcm_scans_lease ON gcm_scans (status, lease_until);
