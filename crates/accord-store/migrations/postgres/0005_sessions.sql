-- Site sessions (§5.2, §5.9): one record per minted session; tokens themselves are stateless.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    concord_id TEXT NOT NULL,
    ip_address TEXT,
    domain TEXT,
    geography TEXT,
    user_agent TEXT,
    gpc BIGINT NOT NULL,
    url TEXT,
    referrer TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX sessions_project_created ON sessions (project_id, date_created, id);
CREATE INDEX sessions_project_updated ON sessions (project_id, date_updated, id);
CREATE INDEX sessions_concord ON sessions (project_id, concord_id);

-- Domains carry an optional URL (§7.7).
ALTER TABLE domains ADD COLUMN url TEXT;

-- Identify by hashed userId (§5.6) matches the SHA-256 of the stored userId.
ALTER TABLE identities ADD COLUMN user_id_sha256 TEXT;
CREATE INDEX identities_user_sha256 ON identities (project_id, user_id_sha256);
CREATE INDEX identities_email_sha256 ON identities (project_id, email_sha256);
