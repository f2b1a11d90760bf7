-- Site consent ingestion (DESIGN principle 4): every Site API event enters each partial
-- session index, so a site event wrote nine B-trees. The `domain` and `geography` filters
-- select a large share of a project's events (a site has few domains, its visitors few
-- regions), like the state, action and category filters migration 8 left to the
-- `dateCreated` index; they now walk it too. Kept: the `sessionId` index, which picks out
-- one visitor's few events.
DROP INDEX IF EXISTS consent_events_domain;
DROP INDEX IF EXISTS consent_events_geography;
