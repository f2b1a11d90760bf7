-- Substring filters on compliance requests are served by trigram GIN indexes, not a full scan.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX compliance_requests_search_text ON compliance_requests USING gin (search_text gin_trgm_ops);
CREATE INDEX compliance_requests_user_email_trgm ON compliance_requests USING gin (user_email_lower gin_trgm_ops);
CREATE INDEX compliance_requests_notes_trgm ON compliance_requests USING gin (lower(notes) gin_trgm_ops);
CREATE INDEX compliance_requests_details_trgm ON compliance_requests USING gin (lower(request_details) gin_trgm_ops);
CREATE INDEX compliance_requests_resolution_trgm ON compliance_requests USING gin (lower(resolution) gin_trgm_ops);
CREATE INDEX compliance_requests_user_agent_trgm ON compliance_requests USING gin (lower(session_user_agent) gin_trgm_ops);
