-- New requests get their trigram index entries from the statement that writes them, once
-- per transaction (`SqlStore::index_new_requests`), no longer from a trigger per inserted
-- row. An insert into compliance_requests opens a statement savepoint (its triggers and
-- constraints may abort it), and at every savepoint FTS5 writes its pending entries to
-- disk as a segment of their own, which it then merges with the others. The group commit
-- of creates wrote one such segment per create, and merging them was most of a create's
-- cost, growing with the index. Updates and deletes keep their triggers: they change one
-- request per transaction.
DROP TRIGGER compliance_requests_search_insert;
