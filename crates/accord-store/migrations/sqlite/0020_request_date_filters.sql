-- Date-range lists (SQLite only). A `startDate`/`endDate` window is read through the
-- request-date index, and each request of the window was read from the table to test its
-- `status` and `request`. The index now holds both after its sort key, so SQLite tests them
-- on the index entry and reads from the table only the requests that pass (the page, or the
-- rows a substring filter must still test). The sort order the index gives is unchanged.
DROP INDEX IF EXISTS compliance_requests_project_request_date;
CREATE INDEX compliance_requests_project_request_date
    ON compliance_requests (project_id, request_date, date_created, id, status, request);
