-- Regions of a project (§7.8). The location codes live in `region_codes`, whose primary key
-- keeps each code in at most one Region of a project. Existing projects get their Default
-- region from the migration code that runs after this script.
CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    custom_script TEXT,
    settings TEXT NOT NULL,
    language TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX regions_project ON regions (project_id, date_created);
CREATE UNIQUE INDEX regions_one_default ON regions (project_id) WHERE is_default = 1;

CREATE TABLE region_codes (
    organization_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    region_id TEXT NOT NULL REFERENCES regions(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (project_id, code)
);
CREATE INDEX region_codes_region ON region_codes (region_id);
