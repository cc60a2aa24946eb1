-- The auditor's page filters the audit log by actor, case, action and dates, newest first
-- (issue 17 item 9): one index per filter, each ending in the keyset column.
CREATE INDEX audit_events_actor_idx ON audit_events (actor, seq);
CREATE INDEX audit_events_object_idx ON audit_events (object_type, object_id, seq);
CREATE INDEX audit_events_action_idx ON audit_events (action, seq);
CREATE INDEX audit_events_at_idx ON audit_events (at);
