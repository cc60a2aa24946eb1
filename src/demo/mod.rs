//! `serve --demo`: a demo university — staff of every role, 200 covered students, notices.
//! Idempotent: running it again adds nothing that is already there.

mod cases;
mod history;

use chrono::Datelike;

pub use cases::seed as seed_cases;

use crate::accounts::domain::{IdNumber, Phone, check_char, hash_password};
use crate::accounts::store::{self, NewUser};
use crate::audit::{self, Actor, Event};
use crate::crypto::Keys;
use crate::db::{Db, now_ms};
use crate::http::auth::Role;

pub const DEMO_PASSWORD: &str = "medclaim-demo";
pub const DEMO_STUDENTS: usize = 200;

pub struct DemoLogin {
    pub username: String,
    pub role: &'static str,
}

const STAFF: [(&str, &str, Role); 5] = [
    ("admin", "管理员 陈静", Role::Admin),
    ("reviewer1", "受理点 王磊", Role::Reviewer1),
    ("reviewer2", "医务处 李娜", Role::Reviewer2),
    ("finance", "财务处 赵敏", Role::Finance),
    ("auditor", "审计处 周强", Role::Auditor),
];

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
const GIVEN: [&str; 20] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明",
    "超", "秀英", "华", "慧",
];

/// A valid identity card number for demo student `n` (Beijing, born 2004–2006).
fn demo_id_number(n: usize) -> String {
    let first17 = format!(
        "110105{}{:02}{:02}{:03}",
        2004 + n % 3,
        1 + n % 12,
        1 + n % 28,
        n % 1000
    );
    format!("{first17}{}", check_char(&first17))
}

pub async fn seed(
    db: &Db,
    keys: &Keys,
    time_zone: chrono_tz::Tz,
) -> anyhow::Result<Vec<DemoLogin>> {
    let hash = hash_password(DEMO_PASSWORD.to_string()).await?;
    let year = chrono::Utc::now().with_timezone(&time_zone).year() as i64;
    let mut tx = db.begin().await?;
    let mut created = 0;
    let mut logins = Vec::new();
    for (username, name, role) in STAFF {
        if store::find_by_username(&mut *tx, username).await?.is_none() {
            let user = NewUser {
                username: username.into(),
                name: name.into(),
                class_name: None,
                phone: None,
                id_number: None,
                enrolment_status: "enrolled".into(),
                password_hash: Some(hash.clone()),
                roles: vec![role],
            };
            store::insert_user(&mut tx, keys, &user).await?;
            created += 1;
        }
        logins.push(DemoLogin {
            username: username.into(),
            role: role.as_str(),
        });
    }
    for n in 1..=DEMO_STUDENTS {
        let username = format!("2025{n:06}");
        let user_id = match store::find_by_username(&mut *tx, &username).await? {
            Some(u) => u.id,
            None => {
                let name = format!("{}{}", SURNAMES[n % 20], GIVEN[(n / 20 + n * 7) % 20]);
                let user = NewUser {
                    username: username.clone(),
                    name,
                    class_name: Some(format!("{}级{}班", 2023 + n % 3, 1 + n % 8)),
                    phone: Phone::parse(&format!("139{:08}", 10_000_000 + n)).ok(),
                    id_number: IdNumber::parse(&demo_id_number(n)).ok(),
                    enrolment_status: "enrolled".into(),
                    // One hash for every demo account: demo data only.
                    password_hash: Some(hash.clone()),
                    roles: vec![Role::Student],
                };
                created += 1;
                store::insert_user(&mut tx, keys, &user).await?
            }
        };
        for y in [year - 1, year] {
            sqlx::query(
                "INSERT INTO coverage (user_id, year, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, year) DO NOTHING",
            )
            .bind(user_id)
            .bind(y)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        if n <= 3 {
            logins.push(DemoLogin {
                username,
                role: "student",
            });
        }
    }
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices")
        .fetch_one(&mut *tx)
        .await?;
    if notices == 0 {
        let now = now_ms();
        for (title, body, priority) in [
            (
                "医保报销材料提交须知",
                "请在就诊后一年内提交报销申请。发票须为转诊医院开具的正式医疗发票，病历照片需清晰完整。",
                10,
            ),
            (
                "现场交票预约开放",
                "审核通过后请在线预约交票时段，携带发票原件按时到受理点现场确认。",
                5,
            ),
        ] {
            sqlx::query(
                "INSERT INTO notices (title, body, priority, published_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $4, $4)",
            )
            .bind(title)
            .bind(body)
            .bind(priority as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    if created > 0 {
        let event = Event {
            action: "demo.seed",
            object_type: "deployment",
            object_id: "demo".into(),
            summary: format!("{created} demo accounts created"),
        };
        audit::record(&mut tx, &Actor::system("demo"), event).await?;
    }
    tx.commit().await?;
    Ok(logins)
}

/// Whether `username` is one of the accounts [`seed`] creates.
fn is_demo_username(username: &str) -> bool {
    STAFF.iter().any(|(name, _, _)| *name == username)
        || username
            .strip_prefix("2025")
            .filter(|n| n.len() == 6)
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| (1..=DEMO_STUDENTS).contains(&n))
}

/// Refuses to seed a database that holds real accounts: the demo adds 200 students and five
/// staff accounts whose password is printed on the console. A database qualifies when it is
/// empty, or when the demo made it (its audit log says so) and every account is a demo one.
pub async fn ensure_demo_database(db: &Db) -> anyhow::Result<()> {
    let usernames: Vec<String> = sqlx::query_scalar("SELECT username FROM users")
        .fetch_all(&db.pool)
        .await?;
    if usernames.is_empty() {
        return Ok(());
    }
    let seeded: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'demo.seed'")
            .fetch_one(&db.pool)
            .await?;
    let real = usernames.iter().filter(|u| !is_demo_username(u)).count();
    if seeded == 0 || real > 0 {
        anyhow::bail!(
            "refusing --demo: this database already holds {} account(s) the demo did not create; \
             use an empty database (another --data-dir or DATABASE_URL) for the demo",
            if seeded == 0 { usernames.len() } else { real }
        );
    }
    Ok(())
}

/// Everything `serve --demo` fills in: accounts and coverage, two weeks of hand-in slots, cases
/// in every state, half a year of approved history, hospital visits to claim in one tap, and an
/// insurer with claims in every state of its ledger.
/// Idempotent.
pub async fn seed_all(
    settings: &crate::Settings,
    db: &Db,
    keys: &Keys,
) -> anyhow::Result<Vec<DemoLogin>> {
    ensure_demo_database(db).await?;
    let logins = seed(db, keys, settings.time_zone).await?;
    crate::booking::seed_demo_slots(db, settings.time_zone).await?;
    let files = settings.file_store()?;
    let state = crate::http::AppState::new(db.clone(), keys.clone(), settings.clone(), files);
    cases::seed(&state).await?;
    history::seed_history(&state).await?;
    history::seed_visits(&state).await?;
    history::seed_insurer(&state).await?;
    history::seed_designated_hospitals(&state).await?;
    Ok(logins)
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_usernames_are_only_the_seeded_ones() {
        assert!(super::is_demo_username("admin"));
        assert!(super::is_demo_username("2025000200"));
        assert!(!super::is_demo_username("2025000201"));
        assert!(!super::is_demo_username("2025000000"));
        assert!(!super::is_demo_username("zhangsan"));
    }

    #[test]
    fn demo_id_numbers_are_valid() {
        for n in 1..=super::DEMO_STUDENTS {
            assert!(
                crate::accounts::domain::IdNumber::parse(&super::demo_id_number(n)).is_ok(),
                "{n}"
            );
        }
    }
}
