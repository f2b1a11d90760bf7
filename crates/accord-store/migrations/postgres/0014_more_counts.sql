-- Migration 14: more counters for exact list totals.
--
-- Exact totals of the `overdue` filter without counting every overdue request: the open
-- (not resolved) requests counted per project, status, request type and UTC day of their
-- due date, kept by statement triggers in the same transaction as every insert, update and
-- delete. An overdue total is the sum over the days before today plus a count of today's
-- open requests due before now (one day of the due-date index). As for
-- `compliance_request_counts`, each database session writes rows of its own (`slot` = its
-- backend pid), so concurrent writers never wait on one counter row; the fold below
-- gathers the slots of ended sessions into slot 0.
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

CREATE FUNCTION compliance_request_due_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO compliance_request_due_counts AS c (project_id, due_day, status, request, slot, n)
        SELECT project_id, due_date / 86400000, status, request, pg_backend_pid(), COUNT(*)
        FROM new_rows WHERE status <> 'resolved'
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (project_id, due_day, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO compliance_request_due_counts AS c (project_id, due_day, status, request, slot, n)
        SELECT project_id, due_date / 86400000, status, request, pg_backend_pid(), -COUNT(*)
        FROM old_rows WHERE status <> 'resolved'
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (project_id, due_day, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO compliance_request_due_counts AS c (project_id, due_day, status, request, slot, n)
        SELECT project_id, due_day, status, request, pg_backend_pid(), SUM(d) FROM (
            SELECT project_id, due_date / 86400000 AS due_day, status, request, -1 AS d
            FROM old_rows WHERE status <> 'resolved'
            UNION ALL
            SELECT project_id, due_date / 86400000 AS due_day, status, request, 1 AS d
            FROM new_rows WHERE status <> 'resolved'
        ) AS deltas
        GROUP BY 1, 2, 3, 4
        HAVING SUM(d) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (project_id, due_day, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER compliance_request_due_counts_insert AFTER INSERT ON compliance_requests
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_due_counts_apply();

CREATE TRIGGER compliance_request_due_counts_delete AFTER DELETE ON compliance_requests
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_due_counts_apply();

CREATE TRIGGER compliance_request_due_counts_update AFTER UPDATE ON compliance_requests
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_due_counts_apply();

-- Exact totals of the compliance-request event lists: events counted per project and
-- event type by statement triggers, in slots per database session as above.
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

CREATE FUNCTION compliance_request_event_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO compliance_request_event_counts AS c (project_id, event, slot, n)
        SELECT project_id, event, pg_backend_pid(), COUNT(*) FROM new_rows
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (project_id, event, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO compliance_request_event_counts AS c (project_id, event, slot, n)
        SELECT project_id, event, pg_backend_pid(), -COUNT(*) FROM old_rows
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (project_id, event, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO compliance_request_event_counts AS c (project_id, event, slot, n)
        SELECT project_id, event, pg_backend_pid(), SUM(d) FROM (
            SELECT project_id, event, -1 AS d FROM old_rows
            UNION ALL
            SELECT project_id, event, 1 AS d FROM new_rows
        ) AS deltas
        GROUP BY 1, 2
        HAVING SUM(d) <> 0
        ORDER BY 1, 2
        ON CONFLICT (project_id, event, slot) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER compliance_request_event_counts_insert AFTER INSERT ON compliance_request_events
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_event_counts_apply();

CREATE TRIGGER compliance_request_event_counts_delete AFTER DELETE ON compliance_request_events
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_event_counts_apply();

CREATE TRIGGER compliance_request_event_counts_update AFTER UPDATE ON compliance_request_events
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION compliance_request_event_counts_apply();

-- The fold now gathers every counter table; every sum stays unchanged.
CREATE OR REPLACE FUNCTION compliance_request_counts_fold() RETURNS void LANGUAGE plpgsql AS $$
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
    WITH gone AS (
        DELETE FROM compliance_request_due_counts
        WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity)
        RETURNING project_id, due_day, status, request, n
    )
    INSERT INTO compliance_request_due_counts AS c (project_id, due_day, status, request, slot, n)
    SELECT project_id, due_day, status, request, 0, SUM(n)::BIGINT FROM gone
    GROUP BY project_id, due_day, status, request
    ORDER BY project_id, due_day, status, request
    ON CONFLICT (project_id, due_day, status, request, slot) DO UPDATE SET n = c.n + excluded.n;
    WITH gone AS (
        DELETE FROM compliance_request_event_counts
        WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity)
        RETURNING project_id, event, n
    )
    INSERT INTO compliance_request_event_counts AS c (project_id, event, slot, n)
    SELECT project_id, event, 0, SUM(n)::BIGINT FROM gone
    GROUP BY project_id, event
    ORDER BY project_id, event
    ON CONFLICT (project_id, event, slot) DO UPDATE SET n = c.n + excluded.n;
    -- Days whose open requests all resolved or moved keep no rows.
    DELETE FROM compliance_request_due_counts WHERE slot = 0 AND n = 0;
END
$$;
