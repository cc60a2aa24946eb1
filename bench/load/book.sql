-- The statements of POST /api/v1/bookings (src/booking/service.rs `book`), repeatable: the
-- case is written back with its own status and the booking row is inserted cancelled, so the
-- same case can come round again under the one-active-booking-per-case index. Variables from
-- run.sh: first_case, approved_start, approved, first_student, students, slot_first, slots.
\set k random(0, :approved - 1)
\set i :approved_start + :k
\set case :first_case + :i
\set student :first_student + (:i % :students)
\set slot random(:slot_first, :slot_first + :slots - 1)
BEGIN;
SELECT id, status FROM cases WHERE id = :case AND student_id = :student;
UPDATE cases SET status = 'approved', updated_at = 0 WHERE id = :case AND status = 'approved';
SELECT capacity, booked FROM slots WHERE id = :slot;
UPDATE slots SET booked = booked + 1 WHERE id = :slot AND booked < capacity AND cancelled_at IS NULL;
INSERT INTO bookings (slot_id, case_id, user_id, status, created_at) VALUES (:slot, :case, :student, 'cancelled', 0) RETURNING id;
UPDATE cases SET version = version + 1, updated_at = 0 WHERE id = :case;
INSERT INTO audit_events (at, actor_id, actor, action, object_type, object_id, summary, client_addr) VALUES (0, :student, '2025000000', 'booking.create', 'booking', '0', 'case slot', '127.0.0.1');
SELECT lang, email FROM users WHERE id = :student;
INSERT INTO notifications (user_id, kind, title, body, case_id, created_at) VALUES (:student, 'booking_confirmed', repeat('x', 96), repeat('x', 96), :case, 0);
INSERT INTO outbox (channel, user_id, recipient, payload, idempotency_key, status, attempts, next_attempt_at, created_at) VALUES ('sms', :student, NULL, repeat('x', 96), md5(random()::text), 'not_configured', 0, 0, 0);
END;
