-- Consent-event ingestion (DESIGN principle 4): every secondary index is written on every
-- appended event, and they were most of the cost of an insert. Kept: the id, the default
-- sort (`dateCreated`), the `startDate`/`endDate` range and `consentDate` sort, the type
-- (foreign key, `consentType` filter), the identity (consent state, `concordId`, merges,
-- erasure) and the partial session indexes that Privacy API events never enter. The
-- low-selectivity filters (state, action, category, label, submitter) and the
-- `expirationDate` sort are answered by walking the `dateCreated` index.
DROP INDEX IF EXISTS consent_events_expiration;
DROP INDEX IF EXISTS consent_events_state;
DROP INDEX IF EXISTS consent_events_action;
DROP INDEX IF EXISTS consent_events_category;
DROP INDEX IF EXISTS consent_events_label;
DROP INDEX IF EXISTS consent_events_submitter;
