-- Exact totals of the compliance-request lists without counting every match: rows per
-- project, status and request type hold how many requests it has, kept by statement
-- triggers in the same transaction as every insert, update and delete.
--
-- Concurrent writers must neither wait for nor deadlock on one hot counter row, so each
-- database session adds its deltas to rows of its own (`slot` = its backend pid): two
-- transactions running at once are on two sessions and never touch the same counter row.
-- A total is the sum over the slots. Slots of sessions that ended are folded into slot 0
-- from time to time (see `compliance_request_counts_fold`).
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

CREATE FUNCTION compliance_request_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO compliance_request_counts AS c (project_id, status, request, slot, n)
        SELECT project_id, status, request, pg_backend_pid(), COUNT(*) FROM new_rows
        GROUP BY project_id, status, request
        ORDER BY project_id, status, request
        ON CONFLICT (project_id, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO compliance_request_counts AS c (project_id, status, request, slot, n)
        SELECT project_id, status, request, pg_backend_pid(), -COUNT(*) FROM old_rows
        GROUP BY project_id, status, request
        ORDER BY project_id, status, request
        ON CONFLICT (project_id, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO compliance_request_counts AS c (project_id, status, request, slot, n)
        SELECT project_id, status, request, pg_backend_pid(), SUM(d) FROM (
            SELECT project_id, status, request, -1 AS d FROM old_rows
            UNION ALL
            SELECT project_id, status, request, 1 AS d FROM new_rows
        ) AS deltas
        GROUP BY project_id, status, request
        HAVING SUM(d) <> 0
        ORDER BY project_id, status, request
        ON CONFLICT (project_id, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER compliance_request_counts_insert AFTER INSERT ON compliance_requests
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_counts_apply();

CREATE TRIGGER compliance_request_counts_delete AFTER DELETE ON compliance_requests
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_counts_apply();

CREATE TRIGGER compliance_request_counts_update AFTER UPDATE ON compliance_requests
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_counts_apply();

-- Folds the slots of sessions that have ended into slot 0, keeping every sum unchanged.
-- Servers sharing the database fold one at a time.
CREATE FUNCTION compliance_request_counts_fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(4242002) THEN
        RETURN;
    END IF;
    WITH gone AS (
        DELETE FROM compliance_request_counts
        WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity)
        RETURNING project_id, status, request, n
    )
    INSERT INTO compliance_request_counts AS c (project_id, status, request, slot, n)
    SELECT project_id, status, request, 0, SUM(n)::BIGINT FROM gone
    GROUP BY project_id, status, request
    ORDER BY project_id, status, request
    ON CONFLICT (project_id, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
END
$$;
