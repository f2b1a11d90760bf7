-- The counter tables of migrations 9 and 14 as WITHOUT ROWID tables (SQLite only). A
-- rowid table with a primary key is two B-trees, the rows and the key's index, so every
-- counted write dirtied two pages per counter and every commit wrote both to the WAL;
-- keyed by their primary key alone they are one B-tree each. Same rows, same triggers.

DROP TRIGGER compliance_request_counts_insert;
DROP TRIGGER compliance_request_counts_delete;
DROP TRIGGER compliance_request_counts_update;
DROP TRIGGER compliance_request_due_counts_insert;
DROP TRIGGER compliance_request_due_counts_delete;
DROP TRIGGER compliance_request_due_counts_update;
DROP TRIGGER compliance_request_event_counts_insert;
DROP TRIGGER compliance_request_event_counts_delete;
DROP TRIGGER compliance_request_event_counts_update;

CREATE TABLE compliance_request_counts_keyed (
    project_id TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, status, request, slot)
) WITHOUT ROWID;
INSERT INTO compliance_request_counts_keyed (project_id, status, request, slot, n) SELECT project_id, status, request, slot, n FROM compliance_request_counts;
DROP TABLE compliance_request_counts;
ALTER TABLE compliance_request_counts_keyed RENAME TO compliance_request_counts;

CREATE TABLE compliance_request_due_counts_keyed (
    project_id TEXT NOT NULL,
    due_day BIGINT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, due_day, status, request, slot)
) WITHOUT ROWID;
INSERT INTO compliance_request_due_counts_keyed (project_id, due_day, status, request, slot, n) SELECT project_id, due_day, status, request, slot, n FROM compliance_request_due_counts;
DROP TABLE compliance_request_due_counts;
ALTER TABLE compliance_request_due_counts_keyed RENAME TO compliance_request_due_counts;

CREATE TABLE compliance_request_event_counts_keyed (
    project_id TEXT NOT NULL,
    event TEXT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, event, slot)
) WITHOUT ROWID;
INSERT INTO compliance_request_event_counts_keyed (project_id, event, slot, n) SELECT project_id, event, slot, n FROM compliance_request_event_counts;
DROP TABLE compliance_request_event_counts;
ALTER TABLE compliance_request_event_counts_keyed RENAME TO compliance_request_event_counts;

CREATE TRIGGER compliance_request_counts_insert AFTER INSERT ON compliance_requests
BEGIN
    INSERT INTO compliance_request_counts (project_id, status, request, slot, n)
    VALUES (NEW.project_id, NEW.status, NEW.request, 0, 1)
    ON CONFLICT (project_id, status, request, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER compliance_request_counts_delete AFTER DELETE ON compliance_requests
BEGIN
    UPDATE compliance_request_counts SET n = n - 1
    WHERE project_id = OLD.project_id AND status = OLD.status AND request = OLD.request
      AND slot = 0;
END;

CREATE TRIGGER compliance_request_counts_update
AFTER UPDATE OF project_id, status, request ON compliance_requests
WHEN OLD.project_id IS NOT NEW.project_id OR OLD.status IS NOT NEW.status
  OR OLD.request IS NOT NEW.request
BEGIN
    UPDATE compliance_request_counts SET n = n - 1
    WHERE project_id = OLD.project_id AND status = OLD.status AND request = OLD.request
      AND slot = 0;
    INSERT INTO compliance_request_counts (project_id, status, request, slot, n)
    VALUES (NEW.project_id, NEW.status, NEW.request, 0, 1)
    ON CONFLICT (project_id, status, request, slot) DO UPDATE SET n = n + 1;
END;

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
