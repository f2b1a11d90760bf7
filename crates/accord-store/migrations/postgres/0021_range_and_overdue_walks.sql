-- The newest-first walk of a project's requests also answers the due-date condition of the
-- `overdue` filter from the index (as SQLite's migration 14 does): the newest requests are
-- not yet due, and skipping them must not read their rows. The request-date index tests
-- `status` and `request` on its entries, so a date-range list reads from the table only
-- the requests that pass them (as SQLite's migration 20 does). The new indexes are built
-- before the old ones are dropped, so reads go on during the builds (writes wait for the
-- migration); the names stay.
CREATE INDEX compliance_requests_project_created_next
    ON compliance_requests (project_id, date_created, id, status, due_date);
CREATE INDEX compliance_requests_project_request_date_next
    ON compliance_requests (project_id, request_date, date_created, id, status, request);
DROP INDEX compliance_requests_project_created;
DROP INDEX compliance_requests_project_request_date;
ALTER INDEX compliance_requests_project_created_next RENAME TO compliance_requests_project_created;
ALTER INDEX compliance_requests_project_request_date_next RENAME TO compliance_requests_project_request_date;
