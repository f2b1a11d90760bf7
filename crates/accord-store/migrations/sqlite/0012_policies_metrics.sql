-- Policies of an organization (§7.9): `answers` and `associated_projects` are JSON arrays,
-- `html` is rendered from them on every write.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT,
    answers TEXT NOT NULL,
    html TEXT NOT NULL,
    associated_projects TEXT NOT NULL,
    include_cookies INTEGER NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX policies_organization ON policies (organization_id, date_created);

-- Site API reads of consent state and consent events per project and UTC month (§7.10),
-- counted in memory by each server and added here periodically.
CREATE TABLE consent_reads (
    project_id TEXT NOT NULL,
    period INTEGER NOT NULL,
    organization_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (project_id, period)
);
CREATE INDEX consent_reads_organization ON consent_reads (organization_id);
