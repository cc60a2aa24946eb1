-- The same with the audit event as medclaim writes it now (migration 0021): the writer only
-- inserts its event; the sealer chains it later, outside this transaction.
\set slot random(1, :slots)
BEGIN;
UPDATE bench_slots SET booked = booked + 1 WHERE id = :slot AND booked < capacity;
INSERT INTO bench_bookings (slot_id, created_at) VALUES (:slot, 0);
INSERT INTO audit_events (at, actor_id, actor, action, object_type, object_id, summary, client_addr)
  VALUES (0, 1, '2025000001', 'booking.create', 'slot', :slot, 'booked', NULL);
END;
