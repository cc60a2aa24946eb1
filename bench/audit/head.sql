-- The same with the audit chain as it was written up to session 6: every writer locks the one
-- audit_head row, appends the event with its hash and moves the head.
\set slot random(1, :slots)
BEGIN;
UPDATE bench_slots SET booked = booked + 1 WHERE id = :slot AND booked < capacity;
INSERT INTO bench_bookings (slot_id, created_at) VALUES (:slot, 0);
UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, last_hash \gset head_
INSERT INTO audit_events (seq, at, actor_id, actor, action, object_type, object_id, summary, client_addr, prev_hash, hash)
  VALUES (:head_seq, 0, 1, '2025000001', 'booking.create', 'slot', :slot, 'booked', NULL, ':head_last_hash', md5(':head_last_hash') || md5(':head_last_hash'));
UPDATE audit_head SET last_hash = md5(':head_last_hash') || md5(':head_last_hash') WHERE id = 1;
END;
