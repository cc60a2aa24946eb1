//! Slots and their times: parsing, bulk expansion, and the instants that rules depend on
//! (slot start, cancellation deadline, reminder). No I/O.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

use crate::http::ErrorCode;

/// Most slots one bulk request may open (a term of working days in short slots).
pub const MAX_BULK_SLOTS: usize = 2000;
/// Longest date range of one bulk request.
pub const MAX_BULK_DAYS: i64 = 190;
pub const MAX_CAPACITY: i64 = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotSpec {
    pub date: NaiveDate,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub capacity: i64,
}

/// A rule broken by a slot request: (field, stable code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub code: ErrorCode,
}

fn invalid(field: &'static str, code: ErrorCode) -> Invalid {
    Invalid { field, code }
}

pub fn parse_date(field: &'static str, s: &str) -> Result<NaiveDate, Invalid> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(field, ErrorCode::InvalidDate))
}

pub fn parse_time(field: &'static str, s: &str) -> Result<NaiveTime, Invalid> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| invalid(field, ErrorCode::InvalidTime))
}

pub fn parse_capacity(capacity: i64) -> Result<i64, Invalid> {
    if (0..=MAX_CAPACITY).contains(&capacity) {
        Ok(capacity)
    } else {
        Err(invalid("capacity", ErrorCode::InvalidCapacity))
    }
}

/// Longest message or cancellation reason the office sends to the students of a slot.
pub const MAX_NOTICE_CHARS: usize = 500;

/// What the office tells everyone booked on a slot: trimmed, 1–[`MAX_NOTICE_CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotNoticeText(String);

impl SlotNoticeText {
    pub fn parse(field: &'static str, text: &str) -> Result<SlotNoticeText, Invalid> {
        let text = text.trim();
        let chars = text.chars().count();
        if (1..=MAX_NOTICE_CHARS).contains(&chars) {
            Ok(SlotNoticeText(text.to_string()))
        } else {
            Err(invalid(field, ErrorCode::InvalidInput))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SlotSpec {
    pub fn parse(date: &str, start: &str, end: &str, capacity: i64) -> Result<SlotSpec, Invalid> {
        let spec = SlotSpec {
            date: parse_date("date", date)?,
            start: parse_time("start", start)?,
            end: parse_time("end", end)?,
            capacity: parse_capacity(capacity)?,
        };
        if spec.end <= spec.start {
            return Err(invalid("end", ErrorCode::EndBeforeStart));
        }
        Ok(spec)
    }

    pub fn date_text(&self) -> String {
        self.date.format("%Y-%m-%d").to_string()
    }
    pub fn start_text(&self) -> String {
        self.start.format("%H:%M").to_string()
    }
    pub fn end_text(&self) -> String {
        self.end.format("%H:%M").to_string()
    }
}

/// A bulk opening: every chosen weekday in `from..=to`, slots of `minutes` from `day_start`
/// while they end by `day_end`.
#[derive(Clone, Debug)]
pub struct BulkSpec {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub weekdays: Vec<u32>,
    pub day_start: NaiveTime,
    pub day_end: NaiveTime,
    pub minutes: i64,
    pub capacity: i64,
}

impl BulkSpec {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        from: &str,
        to: &str,
        weekdays: &[u32],
        day_start: &str,
        day_end: &str,
        minutes: i64,
        capacity: i64,
    ) -> Result<BulkSpec, Invalid> {
        let spec = BulkSpec {
            from: parse_date("from", from)?,
            to: parse_date("to", to)?,
            weekdays: weekdays.to_vec(),
            day_start: parse_time("day_start", day_start)?,
            day_end: parse_time("day_end", day_end)?,
            minutes,
            capacity: parse_capacity(capacity)?,
        };
        if spec.to < spec.from {
            return Err(invalid("to", ErrorCode::EndBeforeStart));
        }
        if (spec.to - spec.from).num_days() > MAX_BULK_DAYS {
            return Err(invalid("to", ErrorCode::RangeTooLong));
        }
        if spec.weekdays.is_empty() || spec.weekdays.iter().any(|d| !(1..=7).contains(d)) {
            return Err(invalid("weekdays", ErrorCode::InvalidWeekdays));
        }
        if !(5..=480).contains(&spec.minutes) {
            return Err(invalid("slot_minutes", ErrorCode::InvalidSlotLength));
        }
        if spec.day_end <= spec.day_start {
            return Err(invalid("day_end", ErrorCode::EndBeforeStart));
        }
        if spec.expand().is_empty() {
            return Err(invalid("slot_minutes", ErrorCode::NoSlots));
        }
        if spec.expand().len() > MAX_BULK_SLOTS {
            return Err(invalid("to", ErrorCode::TooManySlots));
        }
        Ok(spec)
    }

    pub fn expand(&self) -> Vec<SlotSpec> {
        let mut out = Vec::new();
        let mut date = self.from;
        while date <= self.to {
            if self.weekdays.contains(&date.weekday().number_from_monday()) {
                let mut start = self.day_start;
                loop {
                    let (end, wrapped) =
                        start.overflowing_add_signed(Duration::minutes(self.minutes));
                    if wrapped != 0 || end > self.day_end || end <= start {
                        break;
                    }
                    out.push(SlotSpec {
                        date,
                        start,
                        end,
                        capacity: self.capacity,
                    });
                    if out.len() > MAX_BULK_SLOTS {
                        return out;
                    }
                    start = end;
                }
            }
            date += Duration::days(1);
        }
        out
    }
}

/// The instant (Unix ms) a local date and time happen in `tz`; in a DST gap, the first
/// instant after it.
pub fn local_ms(tz: Tz, date: NaiveDate, time: NaiveTime) -> i64 {
    let naive = NaiveDateTime::new(date, time);
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.timestamp_millis(),
        None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| naive.and_utc().timestamp_millis()),
    }
}

/// When a slot starts (Unix ms); `None` when the stored text is not a date and time.
pub fn slot_start_ms(tz: Tz, date: &str, start: &str) -> Option<i64> {
    let d = parse_date("date", date).ok()?;
    let t = parse_time("start", start).ok()?;
    Some(local_ms(tz, d, t))
}

/// When the reminder for a slot on `date` is due: `hour`:00 local time the day before.
pub fn reminder_due_ms(tz: Tz, date: &str, hour: u32) -> Option<i64> {
    let d = parse_date("date", date).ok()?.pred_opt()?;
    Some(local_ms(
        tz,
        d,
        NaiveTime::from_hms_opt(hour.min(23), 0, 0)?,
    ))
}

/// Today's date in `tz`, as stored (`YYYY-MM-DD`).
pub fn today(tz: Tz, now_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_times_are_checked() {
        assert!(SlotSpec::parse("2026-12-01", "09:00", "09:30", 10).is_ok());
        assert_eq!(
            SlotSpec::parse("2026-12-01", "09:30", "09:00", 10)
                .unwrap_err()
                .code,
            "end_before_start"
        );
        assert_eq!(
            SlotSpec::parse("2026-13-01", "09:00", "09:30", 10)
                .unwrap_err()
                .field,
            "date"
        );
        assert_eq!(
            SlotSpec::parse("2026-12-01", "9h", "09:30", 10)
                .unwrap_err()
                .code,
            "invalid_time"
        );
        assert_eq!(
            SlotSpec::parse("2026-12-01", "09:00", "09:30", -1)
                .unwrap_err()
                .code,
            "invalid_capacity"
        );
    }

    #[test]
    fn a_notice_is_trimmed_and_between_1_and_500_characters() {
        assert_eq!(
            SlotNoticeText::parse("text", "  停电，改期  ")
                .unwrap()
                .as_str(),
            "停电，改期"
        );
        assert_eq!(
            SlotNoticeText::parse("text", " \n ").unwrap_err(),
            invalid("text", ErrorCode::InvalidInput)
        );
        assert!(SlotNoticeText::parse("reason", &"字".repeat(500)).is_ok());
        assert_eq!(
            SlotNoticeText::parse("reason", &"字".repeat(501))
                .unwrap_err()
                .field,
            "reason"
        );
    }

    #[test]
    fn bulk_expands_weekdays_and_lengths() {
        // 2026-11-30 is a Monday; Monday to Sunday, weekdays Mon/Wed/Fri, 09:00–10:00 by 20 min.
        let bulk = BulkSpec::parse(
            "2026-11-30",
            "2026-12-06",
            &[1, 3, 5],
            "09:00",
            "10:00",
            20,
            5,
        )
        .unwrap();
        let slots = bulk.expand();
        assert_eq!(slots.len(), 9);
        assert_eq!(slots[0].date_text(), "2026-11-30");
        assert_eq!(slots[2].end_text(), "10:00");
        assert_eq!(slots[3].date_text(), "2026-12-02");
        assert!(slots.iter().all(|s| s.capacity == 5));
        // A leftover shorter than the slot length is not opened.
        let bulk =
            BulkSpec::parse("2026-11-30", "2026-11-30", &[1], "09:00", "10:00", 25, 5).unwrap();
        assert_eq!(bulk.expand().len(), 2);
        assert!(
            BulkSpec::parse("2026-11-30", "2026-11-30", &[8], "09:00", "10:00", 20, 5).is_err()
        );
        assert!(
            BulkSpec::parse("2026-11-30", "2026-11-30", &[2], "09:00", "10:00", 20, 5).is_err()
        );
    }

    #[test]
    fn reminder_is_the_day_before_at_the_local_hour() {
        let tz: Tz = chrono_tz::Asia::Shanghai;
        let due = reminder_due_ms(tz, "2026-12-02", 18).unwrap();
        // 2026-12-01 18:00 +08:00 = 10:00 UTC.
        let expected = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .timestamp_millis();
        assert_eq!(due, expected);
        let start = slot_start_ms(tz, "2026-12-02", "09:00").unwrap();
        assert_eq!(start - due, 15 * 3600 * 1000);
        assert_eq!(today(tz, expected + 6 * 3600 * 1000), "2026-12-02");
    }
}
