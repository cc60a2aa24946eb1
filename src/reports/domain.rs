//! What the exports say, with no I/O: the date filter, languages, column headings, money as
//! yuan text, labels for levels and statuses, formula-injection neutralising and the
//! statistics arithmetic.

use crate::money::Cents;
use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, TimeZone};
use serde::Serialize;

/// The language of an export: Chinese by default, English on request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn from_code(code: &str) -> Lang {
        if code.eq_ignore_ascii_case("en") {
            Lang::En
        } else {
            Lang::Zh
        }
    }
    fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// Why a filter was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeError {
    /// `field` is not a `YYYY-MM-DD` date.
    BadDate(&'static str),
    /// `from` is after `to`.
    Reversed,
}

/// The export filter: cases approved on a calendar day from `from` to `to` (both inclusive, in
/// the deployment's time zone); either end may be open. Held as a half-open range of Unix ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub start_ms: i64,
    pub end_ms: i64,
}

fn parse_day(field: &'static str, value: Option<&str>) -> Result<Option<NaiveDate>, RangeError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.len() == 10 => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| RangeError::BadDate(field)),
        Some(_) => Err(RangeError::BadDate(field)),
    }
}

/// Unix ms of local midnight starting `day` in `tz`.
pub fn day_start_ms(day: NaiveDate, tz: chrono_tz::Tz) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}

impl DateRange {
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        tz: chrono_tz::Tz,
    ) -> Result<DateRange, RangeError> {
        let from = parse_day("from", from)?;
        let to = parse_day("to", to)?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(RangeError::Reversed);
        }
        Ok(DateRange {
            from,
            to,
            start_ms: from.map(|d| day_start_ms(d, tz)).unwrap_or(i64::MIN),
            end_ms: to
                .and_then(|d| d.succ_opt())
                .map(|d| day_start_ms(d, tz))
                .unwrap_or(i64::MAX),
        })
    }

    /// A file-name part: `2026-10-01_2026-10-31`, `all` when open on both ends.
    pub fn file_part(&self) -> String {
        match (self.from, self.to) {
            (None, None) => "all".into(),
            (f, t) => format!(
                "{}_{}",
                f.map(|d| d.to_string()).unwrap_or_else(|| "start".into()),
                t.map(|d| d.to_string()).unwrap_or_else(|| "now".into())
            ),
        }
    }
}

/// Cents as a spreadsheet number in yuan. The cell is a float by nature of the file format;
/// every value we write has at most two decimals, which a double holds to the cent.
pub fn yuan_number(cents: Cents) -> f64 {
    cents.get() as f64 / 100.0
}

/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab/CR that some
/// programs strip first) is prefixed with an apostrophe so it stays text.
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

pub fn level_label(level: Option<i64>, lang: Lang) -> &'static str {
    match level {
        Some(1) => lang.pick("一级", "Level 1"),
        Some(2) => lang.pick("二级", "Level 2"),
        Some(3) => lang.pick("三级", "Level 3"),
        Some(0) => lang.pick("未定级", "Unrated"),
        _ => lang.pick("未填写", "Not set"),
    }
}

pub fn status_label(status: &str, lang: Lang) -> &'static str {
    match status {
        "approved" => lang.pick("已通过", "Approved"),
        "booked" => lang.pick("已预约", "Booked"),
        "completed" => lang.pick("已完成", "Completed"),
        "paid" => lang.pick("已打款", "Paid"),
        _ => lang.pick("其他", "Other"),
    }
}

/// How a payout-report column is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Money,
}

/// (Chinese heading, English heading, kind, width in characters) of each payout column.
/// The invoice date came later (issue 20) and is the last column, so every earlier column keeps
/// its place for sheets that read the export by position.
pub const PAYOUT_COLUMNS: [(&str, &str, ColumnKind, f64); 18] = [
    ("学号", "Student ID", ColumnKind::Text, 12.0),
    ("姓名", "Name", ColumnKind::Text, 10.0),
    ("班级", "Class", ColumnKind::Text, 14.0),
    ("手机号", "Phone", ColumnKind::Text, 13.0),
    ("身份证号", "ID number", ColumnKind::Text, 20.0),
    ("病历编号", "Case ID", ColumnKind::Text, 9.0),
    ("医院", "Hospital", ColumnKind::Text, 24.0),
    ("医院等级", "Hospital level", ColumnKind::Text, 9.0),
    ("就诊日期", "Visit date", ColumnKind::Text, 11.0),
    ("通过日期", "Approval date", ColumnKind::Text, 11.0),
    ("发票号", "Invoice number", ColumnKind::Text, 22.0),
    ("总金额", "Total", ColumnKind::Money, 13.0),
    ("自费金额", "Self-paid", ColumnKind::Money, 13.0),
    ("医保金额", "Covered", ColumnKind::Money, 13.0),
    ("报销金额", "Payout", ColumnKind::Money, 13.0),
    ("状态", "Status", ColumnKind::Text, 8.0),
    ("现场确认日期", "Hand-in date", ColumnKind::Text, 12.0),
    ("开票日期", "Invoice date", ColumnKind::Text, 11.0),
];

pub fn payout_headers(lang: Lang) -> Vec<&'static str> {
    PAYOUT_COLUMNS
        .iter()
        .map(|(zh, en, _, _)| lang.pick(zh, en))
        .collect()
}

pub fn totals_label(lang: Lang) -> &'static str {
    lang.pick("合计", "Total")
}

/// One cell of a payout row, already formatted for the reader.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Money(Cents),
    Empty,
}

/// Unix ms as the local calendar date, `YYYY-MM-DD`.
pub fn local_date(ms: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Unix ms as the local month, `YYYY-MM`.
pub fn local_month(ms: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            let t = t.with_timezone(&tz);
            format!("{:04}-{:02}", t.year(), t.month())
        })
        .unwrap_or_default()
}

/// Counts and sums for one group of the statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub cases: i64,
    pub invoices: i64,
    pub total_cents: Cents,
    pub covered_cents: Cents,
    pub payout_cents: Cents,
}

impl Sums {
    fn add(&mut self, case: &CaseSums) {
        self.cases += 1;
        self.invoices += case.invoices;
        self.total_cents += case.total_cents;
        self.covered_cents += case.covered_cents;
        self.payout_cents += case.payout_cents;
    }
}

/// One approved case with its approved invoices summed.
#[derive(Clone, Debug)]
pub struct CaseSums {
    pub hospital: String,
    pub level: Option<i64>,
    pub approved_at: i64,
    pub invoices: i64,
    pub total_cents: Cents,
    pub covered_cents: Cents,
    pub payout_cents: Cents,
}

/// The statistics for government: by hospital level, by hospital and by month of approval.
#[derive(Debug, Default)]
pub struct Statistics {
    /// Level (-1 for not set) → sums.
    pub by_level: BTreeMap<i64, Sums>,
    pub by_hospital: BTreeMap<String, Sums>,
    /// `YYYY-MM` → sums.
    pub by_month: BTreeMap<String, Sums>,
}

impl Statistics {
    pub fn add(&mut self, case: &CaseSums, tz: chrono_tz::Tz) {
        self.by_level
            .entry(case.level.unwrap_or(-1))
            .or_default()
            .add(case);
        self.by_hospital
            .entry(case.hospital.trim().to_string())
            .or_default()
            .add(case);
        self.by_month
            .entry(local_month(case.approved_at, tz))
            .or_default()
            .add(case);
    }

    /// The three sections as (section key, rows of (label, sums)) in display order.
    pub fn sections(&self, lang: Lang) -> Vec<Section> {
        vec![
            Section {
                title: lang.pick("按医院等级", "By hospital level"),
                group_heading: lang.pick("医院等级", "Hospital level"),
                rows: self
                    .by_level
                    .iter()
                    .map(|(l, s)| {
                        let level = (*l >= 0).then_some(*l);
                        (level_label(level, lang).to_string(), s.clone())
                    })
                    .collect(),
            },
            Section {
                title: lang.pick("按医院", "By hospital"),
                group_heading: lang.pick("医院", "Hospital"),
                rows: self
                    .by_hospital
                    .iter()
                    .map(|(h, s)| (h.clone(), s.clone()))
                    .collect(),
            },
            Section {
                title: lang.pick("按月份", "By month"),
                group_heading: lang.pick("月份", "Month"),
                rows: self
                    .by_month
                    .iter()
                    .map(|(m, s)| (m.clone(), s.clone()))
                    .collect(),
            },
        ]
    }
}

pub struct Section {
    /// Also the sheet name (at most 31 characters).
    pub title: &'static str,
    pub group_heading: &'static str,
    pub rows: Vec<(String, Sums)>,
}

/// Headings of the statistics columns after the group column.
pub fn statistics_headers(lang: Lang) -> [&'static str; 5] {
    [
        lang.pick("病历数", "Cases"),
        lang.pick("发票数", "Invoices"),
        lang.pick("总金额", "Total"),
        lang.pick("医保金额", "Covered"),
        lang.pick("报销金额", "Paid out"),
    ]
}

pub fn section_heading(lang: Lang) -> &'static str {
    lang.pick("分类", "Section")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=1+1"), "'=1+1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("-2"), "'-2");
        assert_eq!(neutralise("+86"), "'+86");
        assert_eq!(neutralise("北京协和医院"), "北京协和医院");
    }

    #[test]
    fn range_is_inclusive_local_days() {
        let r = DateRange::parse(Some("2026-10-01"), Some("2026-10-31"), TZ).unwrap();
        // Shanghai is UTC+8: local midnight is 16:00 UTC the day before.
        assert_eq!(
            r.start_ms,
            chrono::DateTime::parse_from_rfc3339("2026-09-30T16:00:00Z")
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(r.end_ms - r.start_ms, 31 * 86_400_000);
        assert_eq!(r.file_part(), "2026-10-01_2026-10-31");
        let open = DateRange::parse(None, Some(""), TZ).unwrap();
        assert_eq!((open.start_ms, open.end_ms), (i64::MIN, i64::MAX));
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert_eq!(
            DateRange::parse(Some("2026-13-01"), None, TZ),
            Err(RangeError::BadDate("from"))
        );
        assert_eq!(
            DateRange::parse(None, Some("2026-1-1"), TZ),
            Err(RangeError::BadDate("to"))
        );
        assert_eq!(
            DateRange::parse(Some("2026-02-02"), Some("2026-02-01"), TZ),
            Err(RangeError::Reversed)
        );
    }
}
