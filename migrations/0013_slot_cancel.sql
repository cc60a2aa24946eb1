-- The office contacts a slot (issue 17 item 5). A cancelled slot is no longer listed for
-- students nor bookable; `cancel_reason` is what its students were told.
ALTER TABLE slots ADD COLUMN cancelled_at BIGINT;
ALTER TABLE slots ADD COLUMN cancel_reason TEXT;

-- What the desk sent to everyone booked on a slot (a message, or the cancellation), so the
-- roster can show each delivery. Office wording, not medical content: stored clear.
CREATE TABLE slot_messages (
    id {{id}},
    slot_id BIGINT NOT NULL REFERENCES slots (id),
    kind TEXT NOT NULL CHECK (kind IN ('message', 'cancel')),
    body TEXT NOT NULL,
    sent_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX slot_messages_slot_idx ON slot_messages (slot_id, id);

-- One row per student told: the inbox row and the outbox rows (SMS, e-mail) it queued.
CREATE TABLE slot_message_recipients (
    message_id BIGINT NOT NULL REFERENCES slot_messages (id),
    booking_id BIGINT NOT NULL REFERENCES bookings (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    notification_id BIGINT NOT NULL REFERENCES notifications (id),
    sms_outbox_id BIGINT REFERENCES outbox (id),
    email_outbox_id BIGINT REFERENCES outbox (id),
    PRIMARY KEY (message_id, booking_id)
);
