-- The team's notification emails (web console). A User of an organization who opted in
-- gets the emails about new verified requests and due dates of the projects they can read.
CREATE TABLE team_notification_optins (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    date_created BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);

-- The due-date digest of an organization queued for a recipient (lowercased address) on a
-- UTC day (days since 1970-01-01): at most one a day per person and organization, also
-- across restarts and servers.
CREATE TABLE team_digests (
    recipient TEXT NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    day BIGINT NOT NULL,
    date_created BIGINT NOT NULL,
    PRIMARY KEY (recipient, organization_id, day)
);

-- Open requests of a project by due date, for the digest (no scan of resolved requests).
-- Queries must name the statuses as literals for the planner to use it.
CREATE INDEX compliance_requests_open_due ON compliance_requests (project_id, due_date, id)
    WHERE status IN ('submitted', 'acknowledged');
