-- Consent ledger (§4): consent types and append-only consent events.
CREATE TABLE consent_types (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    subcategory TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    document TEXT,
    url TEXT,
    read_only BIGINT NOT NULL,
    valid_states TEXT NOT NULL,
    status TEXT NOT NULL,
    consent_duration TEXT NOT NULL,
    required BIGINT NOT NULL,
    require_reaccept_version BIGINT,
    version BIGINT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
-- `subcategory` holds the normalised JSON array, so equal keys are equal text.
CREATE UNIQUE INDEX consent_types_key ON consent_types (project_id, category, subcategory, label);
CREATE INDEX consent_types_created ON consent_types (project_id, date_created, id);
CREATE INDEX consent_types_status ON consent_types (project_id, status, date_created, id);

CREATE TABLE consent_events (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    concord_id TEXT NOT NULL,
    consent_type_id TEXT REFERENCES consent_types(id),
    category TEXT NOT NULL,
    subcategory TEXT NOT NULL,
    label TEXT,
    consent_state TEXT NOT NULL,
    consent_action TEXT NOT NULL,
    consent_date BIGINT NOT NULL,
    expiration_date BIGINT NOT NULL,
    version BIGINT,
    session_id TEXT,
    session_ip_address TEXT,
    session_domain TEXT,
    session_geography TEXT,
    session_user_agent TEXT,
    submitter TEXT,
    date_created BIGINT NOT NULL
);
-- List sorts and filters. Session and submitter columns are set by one API each, so their
-- indexes are partial and cost nothing on the other API's inserts.
CREATE INDEX consent_events_created ON consent_events (project_id, date_created, id);
CREATE INDEX consent_events_consent_date ON consent_events (project_id, consent_date, id);
CREATE INDEX consent_events_expiration ON consent_events (project_id, expiration_date, id);
CREATE INDEX consent_events_state ON consent_events (project_id, consent_state, date_created, id);
CREATE INDEX consent_events_action ON consent_events (project_id, consent_action, date_created, id);
CREATE INDEX consent_events_category ON consent_events (project_id, category, date_created, id);
CREATE INDEX consent_events_label ON consent_events (project_id, label, date_created, id);
-- Type ids are unique across projects; leading with the type also serves the foreign key.
CREATE INDEX consent_events_type ON consent_events (consent_type_id, date_created, id);
CREATE INDEX consent_events_submitter ON consent_events (project_id, submitter, date_created, id) WHERE submitter IS NOT NULL;
CREATE INDEX consent_events_session ON consent_events (project_id, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX consent_events_domain ON consent_events (project_id, session_domain, date_created, id) WHERE session_domain IS NOT NULL;
CREATE INDEX consent_events_geography ON consent_events (project_id, session_geography, date_created, id) WHERE session_geography IS NOT NULL;
-- Consent-state folding and the concordId filter.
CREATE INDEX consent_events_identity ON consent_events (project_id, concord_id, consent_type_id, consent_date);

-- Identity lists, and the identities merged into one.
CREATE INDEX identities_project_created ON identities (project_id, date_created, id);
CREATE INDEX identities_project_updated ON identities (project_id, date_updated, id);
CREATE INDEX identities_merged_into ON identities (merged_into) WHERE merged_into IS NOT NULL;

-- The subcategory filter matches `"value"` inside the stored JSON array.
CREATE INDEX consent_events_subcategory_trgm ON consent_events USING gin (subcategory gin_trgm_ops);
