-- Users (§7.5): organization membership records, and the accounts behind them.
-- One account per email address (compared case-insensitively) across the whole server: its
-- id is the `accountId` every membership of that address shares. The account is what signs
-- in to the web console: `password_hash` (argon2id, PHC string) stays NULL until the person
-- sets a password. Names and phone number are kept per membership, so that one
-- organization never sees or changes what another wrote about the same person.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    status TEXT NOT NULL,
    name TEXT,
    notes TEXT,
    role TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    phone_number TEXT,
    invite_date INTEGER NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_organization_email ON users (organization_id, email_lower);
CREATE INDEX users_account ON users (account_id);

-- Per-project roles of a membership (§7.5 `permissions`).
CREATE TABLE user_permissions (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    role TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (user_id, project_id)
);

-- Invitations to join an organization: single-use, expiring tokens of which only the
-- SHA-256 digest is kept. `used_at` is set when the token is redeemed. Issued and redeemed
-- by the web console; the Privacy API never answers an invitation token (`inviteCode`).
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_digest TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    date_created INTEGER NOT NULL
);
CREATE INDEX invitations_user ON invitations (user_id);
