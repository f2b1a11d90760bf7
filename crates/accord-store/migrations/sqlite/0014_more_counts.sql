-- Exact totals of the `overdue` filter without counting every overdue request: the open
-- (not resolved) requests counted per project, status, request type and UTC day of their
-- due date, kept by triggers in the same transaction as every insert, delete and change
-- of those columns. An overdue total is the sum over the days before today plus a count of
-- today's open requests due before now (one day of the due-date index).
CREATE TABLE compliance_request_due_counts (
    project_id TEXT NOT NULL,
    due_day BIGINT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, due_day, status, request, slot)
);

INSERT INTO compliance_request_due_counts (project_id, due_day, status, request, slot, n)
SELECT project_id, due_date / 86400000, status, request, 0, COUNT(*) FROM compliance_requests
WHERE status <> 'resolved'
GROUP BY project_id, due_date / 86400000, status, request;

CREATE TRIGGER compliance_request_due_counts_insert AFTER INSERT ON compliance_requests
WHEN NEW.status <> 'resolved'
BEGIN
    INSERT INTO compliance_request_due_counts (project_id, due_day, status, request, slot, n)
    VALUES (NEW.project_id, NEW.due_date / 86400000, NEW.status, NEW.request, 0, 1)
    ON CONFLICT (project_id, due_day, status, request, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER compliance_request_due_counts_delete AFTER DELETE ON compliance_requests
WHEN OLD.status <> 'resolved'
BEGIN
    UPDATE compliance_request_due_counts SET n = n - 1
    WHERE project_id = OLD.project_id AND due_day = OLD.due_date / 86400000
      AND status = OLD.status AND request = OLD.request AND slot = 0;
END;

CREATE TRIGGER compliance_request_due_counts_update
AFTER UPDATE OF project_id, status, request, due_date ON compliance_requests
WHEN OLD.project_id IS NOT NEW.project_id OR OLD.status IS NOT NEW.status
  OR OLD.request IS NOT NEW.request OR OLD.due_date IS NOT NEW.due_date
BEGIN
    UPDATE compliance_request_due_counts SET n = n - 1
    WHERE OLD.status <> 'resolved'
      AND project_id = OLD.project_id AND due_day = OLD.due_date / 86400000
      AND status = OLD.status AND request = OLD.request AND slot = 0;
    INSERT INTO compliance_request_due_counts (project_id, due_day, status, request, slot, n)
    SELECT NEW.project_id, NEW.due_date / 86400000, NEW.status, NEW.request, 0, 1
    WHERE NEW.status <> 'resolved'
    ON CONFLICT (project_id, due_day, status, request, slot) DO UPDATE SET n = n + 1;
END;

-- Exact totals of the compliance-request event lists: events counted per project and
-- event type, kept by triggers in the same transaction as every insert and delete (events
-- are never changed).
CREATE TABLE compliance_request_event_counts (
    project_id TEXT NOT NULL,
    event TEXT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, event, slot)
);

INSERT INTO compliance_request_event_counts (project_id, event, slot, n)
SELECT project_id, event, 0, COUNT(*) FROM compliance_request_events
GROUP BY project_id, event;

CREATE TRIGGER compliance_request_event_counts_insert AFTER INSERT ON compliance_request_events
BEGIN
    INSERT INTO compliance_request_event_counts (project_id, event, slot, n)
    VALUES (NEW.project_id, NEW.event, 0, 1)
    ON CONFLICT (project_id, event, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER compliance_request_event_counts_delete AFTER DELETE ON compliance_request_events
BEGIN
    UPDATE compliance_request_event_counts SET n = n - 1
    WHERE project_id = OLD.project_id AND event = OLD.event AND slot = 0;
END;

CREATE TRIGGER compliance_request_event_counts_update
AFTER UPDATE OF project_id, event ON compliance_request_events
WHEN OLD.project_id IS NOT NEW.project_id OR OLD.event IS NOT NEW.event
BEGIN
    UPDATE compliance_request_event_counts SET n = n - 1
    WHERE project_id = OLD.project_id AND event = OLD.event AND slot = 0;
    INSERT INTO compliance_request_event_counts (project_id, event, slot, n)
    VALUES (NEW.project_id, NEW.event, 0, 1)
    ON CONFLICT (project_id, event, slot) DO UPDATE SET n = n + 1;
END;

-- The newest-first walk of a project's requests also answers the status and due-date
-- conditions of the `overdue` filter from the index: the newest requests are rarely overdue,
-- and skipping them must not read their rows.
DROP INDEX compliance_requests_project_created;
CREATE INDEX compliance_requests_project_created
    ON compliance_requests (project_id, date_created, id, status, due_date);
