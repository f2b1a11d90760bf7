-- A request's trigram index entries are rewritten only when a searched column's value
-- changes. Every update of a request writes all of its columns, which fired the update
-- trigger at each status change, verification or file upload: the index then deleted and
-- added the same entries, a segment of its own each time, for the index to merge later.
DROP TRIGGER compliance_requests_search_update;
CREATE TRIGGER compliance_requests_search_update
AFTER UPDATE OF search_text, user_email_lower, notes, request_details, resolution, session_user_agent ON compliance_requests
WHEN old.search_text IS NOT new.search_text
    OR old.user_email_lower IS NOT new.user_email_lower
    OR old.notes IS NOT new.notes
    OR old.request_details IS NOT new.request_details
    OR old.resolution IS NOT new.resolution
    OR old.session_user_agent IS NOT new.session_user_agent
BEGIN
    INSERT INTO compliance_requests_search (compliance_requests_search, rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent)
    VALUES ('delete', old.seq, old.search_text, old.user_email_lower, old.notes, old.request_details, old.resolution, old.session_user_agent);
    INSERT INTO compliance_requests_search (rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent)
    VALUES (new.seq, new.search_text, new.user_email_lower, new.notes, new.request_details, new.resolution, new.session_user_agent);
END;
