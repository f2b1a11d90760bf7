-- The web console: signed-in sessions, single-use links and sign-in throttling.
-- Links replace the invitations table of 0011, which nothing wrote: an invitation, a
-- password reset and the organization's first owner account are all single-use,
-- expiring tokens of which only the SHA-256 digest is kept.
DROP TABLE invitations;

CREATE TABLE console_links (
    digest TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    organization_id TEXT,
    user_id TEXT,
    account_id TEXT,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    date_created INTEGER NOT NULL
);
CREATE INDEX console_links_user ON console_links (user_id);
CREATE INDEX console_links_organization ON console_links (organization_id);

-- A signed-in browser: the digest of its cookie's secret, its account and its form token.
CREATE TABLE console_sessions (
    digest TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_account ON console_sessions (account_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Failed sign-ins counted per account (`account:<email>`) and per client address
-- (`address:<ip>`) over a window that starts at the first failure.
CREATE TABLE sign_in_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start INTEGER NOT NULL
);
