-- Booking the hand-in and the notification outbox (issue 5).

-- One active booking per case, also under concurrency (partial unique index: both backends).
CREATE UNIQUE INDEX bookings_one_active_per_case ON bookings (case_id) WHERE status = 'active';
CREATE INDEX slots_date_idx ON slots (slot_date, start_time);

-- The reminder the day before a slot: a scheduled row, so it survives restarts and is sent once.
CREATE TABLE booking_reminders (
    id {{id}},
    booking_id BIGINT NOT NULL UNIQUE REFERENCES bookings (id),
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'cancelled', 'skipped')),
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX booking_reminders_due_idx ON booking_reminders (status, due_at);

-- Whose message an outbox row is (the SMS recipient's phone is read, decrypted, at send time).
ALTER TABLE outbox ADD COLUMN user_id BIGINT REFERENCES users (id);
CREATE INDEX outbox_list_idx ON outbox (status, id);
