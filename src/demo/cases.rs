//! Demo cases in every state, made through the same operations the API uses (the student's
//! intake, both review levels, booking and hand-in), so the demo obeys every rule.

use crate::ids::CaseId;
use crate::money::Cents;
use std::io::Cursor;

use crate::accounts::store::{self, UserRow};
use crate::audit::Actor;
use crate::claims::domain::{CaseFacts, InvoiceFacts};
use crate::claims::service::{self, Upload};
use crate::http::auth::{CurrentUser, Role};
use crate::http::{AppError, AppState};
use crate::review::domain::{Corrections, Decision, Level};
use crate::review::service::{self as review, CaseDecisionInput, InvoiceDecisionInput};

/// The states a demo case is taken to.
#[derive(Clone, Copy, Debug)]
enum Target {
    Draft,
    Submitted,
    Returned,
    Level2,
    Approved,
    Booked,
    Completed,
    Rejected,
    Withdrawn,
}

const PLAN: [(&str, Target, &str, i64, &str, i64); 9] = [
    // (student, target, hospital, level, reason, days ago)
    (
        "2025000001",
        Target::Draft,
        "北京大学第三医院",
        3,
        "急性咽炎",
        3,
    ),
    (
        "2025000001",
        Target::Submitted,
        "北京协和医院",
        3,
        "过敏性鼻炎复诊",
        12,
    ),
    (
        "2025000001",
        Target::Returned,
        "海淀医院",
        2,
        "踝关节扭伤",
        20,
    ),
    (
        "2025000001",
        Target::Approved,
        "北京大学第三医院",
        3,
        "急性胃肠炎",
        40,
    ),
    (
        "2025000002",
        Target::Level2,
        "北京积水潭医院",
        3,
        "腕部骨折复查",
        15,
    ),
    (
        "2025000002",
        Target::Booked,
        "清华大学玉泉医院",
        2,
        "支气管炎",
        33,
    ),
    (
        "2025000002",
        Target::Completed,
        "北京大学人民医院",
        3,
        "阑尾炎术后复查",
        60,
    ),
    (
        "2025000003",
        Target::Rejected,
        "某私立诊所",
        0,
        "专家门诊",
        25,
    ),
    ("2025000003", Target::Withdrawn, "海淀医院", 2, "感冒", 9),
];

pub(super) fn acting(user: &UserRow, roles: Vec<Role>) -> CurrentUser {
    CurrentUser {
        id: user.id,
        username: user.username.clone(),
        name: user.name.clone(),
        roles,
        lang: user.lang.clone(),
        session_id: 0,
        csrf_token: String::new(),
        addr: None,
        reauth_at: None,
    }
}

pub(super) fn fail(step: &str) -> impl Fn(AppError) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("demo {step}: {} ({})", e.code, e.message)
}

/// A small paper-coloured image standing in for a phone photo of a receipt or record.
fn demo_photo(seed: u32) -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(480, 320, |x, y| {
        let line = y % 24 < 2 && x > 40 && x < 440;
        let stamp =
            (x as i64 - 400).pow(2) + (y as i64 - 260).pow(2) < 900 + (seed % 5) as i64 * 40;
        if stamp {
            image::Rgb([200, 40, 40])
        } else if line {
            image::Rgb([120, 130, 160])
        } else {
            image::Rgb([250, 248, 240])
        }
    });
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    Ok(bytes)
}

pub(super) async fn upload(seed: u32) -> anyhow::Result<Upload> {
    // Demo photos are small and made one at a time: no decode budget needed.
    let prepared = crate::storage::prepare(&demo_photo(seed)?).map_err(fail("photo"))?;
    Ok(Upload {
        prepared,
        name: Some(format!("demo-{seed}.png")),
        qr: None,
    })
}

async fn version(state: &AppState, case_id: i64) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT version FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_one(&state.db.pool)
            .await?,
    )
}

async fn first_invoice(state: &AppState, case_id: i64) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT MIN(id) FROM invoices WHERE case_id = $1")
            .bind(case_id)
            .fetch_one(&state.db.pool)
            .await?,
    )
}

pub(super) async fn decide(
    state: &AppState,
    who: &CurrentUser,
    case_id: i64,
    level: Level,
    decision: Decision,
    reason: Option<&str>,
    may_edit: bool,
) -> anyhow::Result<()> {
    let input = CaseDecisionInput {
        version: version(state, case_id).await?,
        level,
        decision,
        reason: reason.map(str::to_string),
        may_edit: Some(may_edit),
        blacklist: false,
    };
    review::decide_case(state, who, case_id, input)
        .await
        .map_err(fail("case decision"))
}

/// Adds the demo cases unless the demo students have cases already; answers how many.
pub async fn seed(state: &AppState) -> anyhow::Result<usize> {
    let existing: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cases c JOIN users u ON u.id = c.student_id WHERE u.username IN ('2025000001', '2025000002', '2025000003')",
    )
    .fetch_one(&state.db.pool)
    .await?;
    if existing > 0 {
        return Ok(0);
    }
    let pool = &state.db.pool;
    let find = |name: &'static str| async move {
        store::find_by_username(pool, name)
            .await?
            .ok_or_else(|| anyhow::anyhow!("demo user {name} is missing"))
    };
    let reviewer1 = acting(&find("reviewer1").await?, vec![Role::Reviewer1]);
    let reviewer2 = acting(&find("reviewer2").await?, vec![Role::Reviewer2]);
    let desk = Actor::user(reviewer1.id, &reviewer1.username, None);
    let today = chrono::Utc::now()
        .with_timezone(&state.settings.time_zone)
        .date_naive();
    let mut made = 0;
    for (n, (username, target, hospital, level, reason, days_ago)) in PLAN.into_iter().enumerate() {
        let student = acting(
            &store::find_by_username(pool, username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("demo student missing"))?,
            vec![Role::Student],
        );
        let visit = (today - chrono::Duration::days(days_ago))
            .format("%Y-%m-%d")
            .to_string();
        let facts = CaseFacts::parse(hospital, Some(level), reason, &visit)
            .map_err(|e| anyhow::anyhow!("demo case: {e:?}"))?;
        let case_id = service::create_case(state, &student, facts)
            .await
            .map_err(fail("create"))?;
        let seed = n as u32 * 10;
        service::add_record(state, &student, CaseId::new(case_id), upload(seed).await?)
            .await
            .map_err(fail("record"))?;
        for i in 0..2 {
            let total = 12_000 + (n as i64) * 3_517 + i * 8_850;
            let invoice = InvoiceFacts::parse(
                &format!("DEMO{:04}{:02}", n + 1, i + 1),
                Cents::new(total),
                Cents::new(total / 5),
            )
            .map_err(|e| anyhow::anyhow!("demo invoice: {e:?}"))?;
            service::add_invoice(
                state,
                &student,
                CaseId::new(case_id),
                invoice,
                upload(seed + 1 + i as u32).await?,
            )
            .await
            .map_err(fail("invoice"))?;
        }
        made += 1;
        match target {
            Target::Draft => continue,
            Target::Withdrawn => {
                service::withdraw_case(state, &student, CaseId::new(case_id))
                    .await
                    .map_err(fail("withdraw"))?;
                continue;
            }
            _ => service::submit_case(state, &student, CaseId::new(case_id))
                .await
                .map_err(fail("submit"))?,
        }
        match target {
            Target::Submitted => {}
            Target::Returned => {
                let input = InvoiceDecisionInput {
                    version: version(state, case_id).await?,
                    level: Level::One,
                    decision: Decision::Reject,
                    reason: Some("发票照片不清晰".into()),
                    may_edit: Some(true),
                    corrections: Corrections::default(),
                };
                review::decide_invoice(
                    state,
                    &reviewer1,
                    first_invoice(state, case_id).await?,
                    input,
                )
                .await
                .map_err(fail("invoice decision"))?;
                decide(
                    state,
                    &reviewer1,
                    case_id,
                    Level::One,
                    Decision::Approve,
                    None,
                    true,
                )
                .await?;
            }
            Target::Rejected => {
                decide(
                    state,
                    &reviewer1,
                    case_id,
                    Level::One,
                    Decision::Reject,
                    Some("专家门诊费用不予报销"),
                    false,
                )
                .await?;
            }
            _ => {
                decide(
                    state,
                    &reviewer1,
                    case_id,
                    Level::One,
                    Decision::Approve,
                    None,
                    true,
                )
                .await?;
                if matches!(target, Target::Level2) {
                    continue;
                }
                decide(
                    state,
                    &reviewer2,
                    case_id,
                    Level::Two,
                    Decision::Approve,
                    None,
                    true,
                )
                .await?;
                if matches!(target, Target::Booked | Target::Completed) {
                    let slot: i64 = sqlx::query_scalar(
                        "SELECT MIN(id) FROM slots WHERE booked < capacity AND slot_date > $1",
                    )
                    .bind(today.format("%Y-%m-%d").to_string())
                    .fetch_one(pool)
                    .await?;
                    let actor = Actor::user(student.id, &student.username, None);
                    let booking = crate::booking::service::book(state, &actor, slot, case_id)
                        .await
                        .map_err(fail("book"))?;
                    if matches!(target, Target::Completed) {
                        crate::booking::service::complete(state, &desk, booking.id)
                            .await
                            .map_err(fail("hand-in"))?;
                    }
                }
            }
        }
    }
    Ok(made)
}
