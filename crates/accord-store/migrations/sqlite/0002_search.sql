-- Substring filters on compliance requests are served by a trigram index, not a full scan.
CREATE VIRTUAL TABLE compliance_requests_search USING fts5(
    search_text, user_email_lower, notes, request_details, resolution, session_user_agent,
    content = 'compliance_requests', content_rowid = 'seq', tokenize = 'trigram'
);
CREATE TRIGGER compliance_requests_search_insert AFTER INSERT ON compliance_requests BEGIN
    INSERT INTO compliance_requests_search (rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent)
    VALUES (new.seq, new.search_text, new.user_email_lower, new.notes, new.request_details, new.resolution, new.session_user_agent);
END;
CREATE TRIGGER compliance_requests_search_delete AFTER DELETE ON compliance_requests BEGIN
    INSERT INTO compliance_requests_search (compliance_requests_search, rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent)
    VALUES ('delete', old.seq, old.search_text, old.user_email_lower, old.notes, old.request_details, old.resolution, old.session_user_agent);
END;
CREATE TRIGGER compliance_requests_search_update
AFTER UPDATE OF search_text, user_email_lower, notes, request_details, resolution, session_user_agent ON compliance_requests BEGIN
    INSERT INTO compliance_requests_search (compliance_requests_search, rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent)
    VALUES ('delete', old.seq, old.search_text, old.user_email_lower, old.notes, old.request_details, old.resolution, old.session_user_agent);
    INSERT INTO compliance_requests_search (rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent)
    VALUES (new.seq, new.search_text, new.user_email_lower, new.notes, new.request_details, new.resolution, new.session_user_agent);
END;
