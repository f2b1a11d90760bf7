-- The newest-first walk of a project's requests carries each request's status and due date,
-- so a list filtered on them (`overdue`) tests them on the index entry and reads from the
-- table only the requests of its page. The newest requests are not yet due, so an overdue
-- list used to read every request of the last weeks from the table before its first match.
CREATE INDEX compliance_requests_project_created_due ON compliance_requests (project_id, date_created, id) INCLUDE (status, due_date);
DROP INDEX compliance_requests_project_created;
-- A date-range list tests `status` and `request` on the request-date index's entries and
-- reads from the table only the requests that pass them (as SQLite's migration 20).
DROP INDEX compliance_requests_project_request_date;
CREATE INDEX compliance_requests_project_request_date ON compliance_requests (project_id, request_date, date_created, id, status, request);
