//! Booking the hand-in (SPEC §5): admins open slots, a student with an approved case books one
//! seat, staff confirm the hand-in. `slots.booked` stays exact under any concurrency because the
//! only way to take a seat is a conditional `UPDATE … WHERE booked < capacity`.

pub mod api;
pub mod contact;
pub mod domain;
pub mod pages;
pub mod reminders;
pub mod service;
pub mod store;

use crate::db::{Db, now_ms};

/// Demo data for `serve --demo`: weekday mornings (09:00–11:30, 30-minute slots, 10 seats) for
/// the next two weeks. Idempotent: slots already there are left alone. Answers how many were
/// opened.
pub async fn seed_demo_slots(db: &Db, tz: chrono_tz::Tz) -> anyhow::Result<usize> {
    let today = chrono::NaiveDate::parse_from_str(&domain::today(tz, now_ms()), "%Y-%m-%d")?;
    let from = (today + chrono::Duration::days(1)).to_string();
    let to = (today + chrono::Duration::days(14)).to_string();
    let bulk = domain::BulkSpec::parse(&from, &to, &[1, 2, 3, 4, 5], "09:00", "11:30", 30, 10)
        .map_err(|e| anyhow::anyhow!("demo slots: {}", e.code))?;
    let mut tx = db.begin().await?;
    let mut opened = 0;
    for spec in bulk.expand() {
        if store::insert_slot(&mut tx, &spec, None).await?.is_some() {
            opened += 1;
        }
    }
    tx.commit().await?;
    Ok(opened)
}
