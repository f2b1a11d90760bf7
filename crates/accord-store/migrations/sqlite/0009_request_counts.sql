-- Exact totals of the compliance-request lists without counting every match: one row per
-- project, status and request type holds how many requests it has, kept by triggers in the
-- same transaction as every insert, status change and delete (SQLite has one writer at a
-- time, so one row per key is enough; `slot` is always 0 here).
CREATE TABLE compliance_request_counts (
    project_id TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    slot BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, status, request, slot)
);

INSERT INTO compliance_request_counts (project_id, status, request, slot, n)
SELECT project_id, status, request, 0, COUNT(*) FROM compliance_requests
GROUP BY project_id, status, request;

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
