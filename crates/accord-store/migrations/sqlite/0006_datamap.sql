-- Data map (§6): data-system fields, attributes of nine kinds plus the contact-type
-- catalogue in one table, and the links between systems and attributes. The predefined
-- read-only attributes of organizations that exist when this runs are seeded by the
-- migration runner right after this script, in the same transaction.
ALTER TABLE data_systems ADD COLUMN cross_border INTEGER NOT NULL DEFAULT 0;
ALTER TABLE data_systems ADD COLUMN retention TEXT NOT NULL DEFAULT 'P2Y';
ALTER TABLE data_systems ADD COLUMN additional_notes TEXT;
ALTER TABLE data_systems ADD COLUMN icon TEXT;
ALTER TABLE data_systems ADD COLUMN global_data_system_id TEXT;
UPDATE data_systems SET data_system_type_id = 'custom' WHERE data_system_type_id IS NULL;
CREATE INDEX data_systems_organization ON data_systems (organization_id);
CREATE TABLE data_system_attributes (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT,
    read_only INTEGER NOT NULL DEFAULT 0,
    global_attribute_id TEXT,
    email TEXT,
    phone_number TEXT,
    contact_type_id TEXT,
    pii_type TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE UNIQUE INDEX data_system_attributes_name ON data_system_attributes (organization_id, kind, name);
CREATE TABLE data_system_attribute_links (
    data_system_id TEXT NOT NULL REFERENCES data_systems(id) ON DELETE CASCADE,
    attribute_id TEXT NOT NULL REFERENCES data_system_attributes(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    PRIMARY KEY (data_system_id, attribute_id)
);
CREATE INDEX data_system_attribute_links_attribute ON data_system_attribute_links (attribute_id);
CREATE INDEX data_system_attribute_links_organization ON data_system_attribute_links (organization_id);
