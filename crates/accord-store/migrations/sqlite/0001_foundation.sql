CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    primary_domain TEXT,
    default_project_id TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    status TEXT NOT NULL,
    contact_emails TEXT NOT NULL,
    send_from_email_id TEXT NOT NULL,
    settings TEXT NOT NULL,
    privacy_policy_url TEXT,
    terms_of_service_url TEXT,
    identify_secret TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    UNIQUE (organization_id, slug)
);
CREATE TABLE domains (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    UNIQUE (project_id, domain)
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE TABLE api_key_permissions (
    id TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    project_id TEXT,
    role TEXT NOT NULL
);
CREATE INDEX api_key_permissions_key ON api_key_permissions (api_key_id);
CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    email TEXT,
    email_lower TEXT,
    email_sha256 TEXT,
    phone_number TEXT,
    phone_normalized TEXT,
    user_id TEXT,
    project_user_id TEXT,
    first_name TEXT,
    middle_name TEXT,
    last_name TEXT,
    address TEXT,
    merged_into TEXT,
    erased_date INTEGER,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX identities_email ON identities (project_id, email_lower);
CREATE UNIQUE INDEX identities_phone ON identities (project_id, phone_normalized);
CREATE UNIQUE INDEX identities_user ON identities (project_id, user_id);
CREATE UNIQUE INDEX identities_project_user ON identities (project_id, project_user_id);
CREATE TABLE data_systems (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    data_system_type_id TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE TABLE data_system_projects (
    data_system_id TEXT NOT NULL REFERENCES data_systems(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (data_system_id, project_id)
);
CREATE INDEX data_system_projects_project ON data_system_projects (project_id);
CREATE TABLE compliance_requests (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    concord_id TEXT NOT NULL,
    request TEXT NOT NULL,
    request_date INTEGER NOT NULL,
    request_details TEXT,
    status TEXT NOT NULL,
    resolution_status TEXT,
    resolution TEXT,
    notes TEXT,
    capture_url TEXT,
    domain TEXT,
    domain_lower TEXT,
    preverified INTEGER NOT NULL,
    user_email TEXT,
    user_email_lower TEXT,
    user_first_name TEXT,
    user_last_name TEXT,
    user_phone_number TEXT,
    session_id TEXT,
    session_ip_address TEXT,
    session_domain TEXT,
    session_geography TEXT,
    session_user_agent TEXT,
    verification_method TEXT,
    verification_request_id TEXT,
    verified_date INTEGER,
    acknowledged_date INTEGER,
    resolved_date INTEGER,
    download_date INTEGER,
    file_purge_date INTEGER,
    due_date INTEGER NOT NULL,
    due_date_extended INTEGER NOT NULL,
    tasks TEXT NOT NULL,
    files TEXT NOT NULL,
    search_text TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX compliance_requests_project_created ON compliance_requests (project_id, date_created, id);
CREATE INDEX compliance_requests_project_updated ON compliance_requests (project_id, date_updated, id);
CREATE INDEX compliance_requests_project_request_date ON compliance_requests (project_id, request_date, date_created, id);
CREATE INDEX compliance_requests_project_status ON compliance_requests (project_id, status, date_created, id);
CREATE INDEX compliance_requests_project_type ON compliance_requests (project_id, request, date_created, id);
CREATE INDEX compliance_requests_project_email ON compliance_requests (project_id, user_email_lower);
CREATE INDEX compliance_requests_concord ON compliance_requests (project_id, concord_id);
CREATE INDEX compliance_requests_session ON compliance_requests (project_id, session_id);
CREATE INDEX compliance_requests_due ON compliance_requests (project_id, due_date, id);
CREATE INDEX compliance_requests_purge ON compliance_requests (file_purge_date);
CREATE TABLE compliance_request_events (
    id TEXT PRIMARY KEY,
    compliance_request_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    event TEXT NOT NULL,
    account_id TEXT,
    details TEXT NOT NULL,
    date_created INTEGER NOT NULL
);
CREATE INDEX compliance_request_events_project ON compliance_request_events (project_id, date_created, id);
CREATE INDEX compliance_request_events_request ON compliance_request_events (compliance_request_id, date_created);
CREATE TABLE server_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
