-- The booking transaction without any audit: take a seat, record the booking.
\set slot random(1, :slots)
BEGIN;
UPDATE bench_slots SET booked = booked + 1 WHERE id = :slot AND booked < capacity;
INSERT INTO bench_bookings (slot_id, created_at) VALUES (:slot, 0);
END;
