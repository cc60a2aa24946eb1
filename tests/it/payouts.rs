//! Paying students (issue 17 item 6, SPEC §13 office): a student's payout account in "我的"
//! (masked, sealed at rest, step-up to change), finance's payout batches of completed
//! university-funded cases, the bank's transfer file (CSV and XLSX, full numbers only after a
//! step-up), paid (cases `paid`, students told) and returned transfers (back to completed,
//! batched again once the account changed). Everything through the HTTP API, on both backends.

use std::collections::BTreeSet;

use calamine::Reader;
use medclaim::http::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::booking::local_date;
use crate::common::{PASSWORD, TestApp, assert_error};
use crate::fixtures::{Person, inv, rated};
use crate::reports::{cents, download, text, workbook};
use crate::step_up::age_sessions;

const BATCHES: &str = "/api/v1/admin/payout-batches";
const ACCOUNT: &str = "/api/v1/me/payout-account";

struct Office {
    app: TestApp,
    r1: Person,
    r2: Person,
    finance: Person,
    slot: i64,
}

async fn office() -> Office {
    let app = TestApp::spawn().await;
    let r1 = app.person("r1", &[Role::Reviewer1]).await;
    let r2 = app.person("r2", &[Role::Reviewer2]).await;
    let finance = app.person("cw", &[Role::Finance]).await;
    let slot = app.open_slot(&local_date(1), "09:00", "09:30", 50).await;
    Office {
        app,
        r1,
        r2,
        finance,
        slot,
    }
}

impl Office {
    /// A case of `student` approved, booked and handed in at the desk (`completed`); answers
    /// its id and payout in cents.
    async fn completed_case(&self, student: &Person, invoice_no: &str, total: i64) -> (i64, i64) {
        let (claim, booking) = self
            .app
            .booked_case(
                student,
                (&self.r1, &self.r2),
                rated(Some(3)),
                &[inv(invoice_no, total, 0)],
                self.slot,
            )
            .await;
        let booking = booking["id"].as_i64().unwrap();
        let (status, body) = self
            .app
            .post(
                &format!("/api/v1/admin/bookings/{booking}/complete"),
                &self.r1.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "hand-in: {body}");
        let (_, case) = self
            .app
            .get(&format!("/api/v1/cases/{}", claim.id), &student.token)
            .await;
        assert_eq!(case["status"], "completed", "{case}");
        let payout = case["payout_cents"].as_i64().unwrap();
        assert!(payout > 0, "{case}");
        (claim.id, payout)
    }

    async fn put_account(&self, who: &Person, body: Value) -> (StatusCode, Value) {
        self.app
            .call(Method::PUT, ACCOUNT, Some(&who.token), Some(body))
            .await
    }

    async fn status_of(&self, student: &Person, case: i64) -> String {
        let (_, case) = self
            .app
            .get(&format!("/api/v1/cases/{case}"), &student.token)
            .await;
        case["status"].as_str().unwrap_or_default().to_string()
    }

    /// Finance records that the bank returned the transfer of `case` in batch `id`.
    async fn returned(&self, id: i64, case: i64) -> (StatusCode, Value) {
        self.app
            .post(
                &format!("{BATCHES}/{id}/returned"),
                &self.finance.token,
                json!({"case_ids": [case]}),
            )
            .await
    }

    async fn build(&self, token: &str) -> (StatusCode, Value) {
        self.app
            .post(BATCHES, token, json!({"through": local_date(0)}))
            .await
    }
}

fn account(bank: &str, number: &str, holder: &str) -> Value {
    json!({"bank_name": bank, "account_no": number, "holder_name": holder})
}

fn case_ids(batch: &Value, key: &str) -> BTreeSet<i64> {
    batch[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {batch}"))
        .iter()
        .map(|c| c["case_id"].as_i64().unwrap())
        .collect()
}

async fn inbox_kinds(app: &TestApp, who: &Person) -> Vec<(String, String, i64)> {
    let (status, body) = app.get("/api/v1/notifications", &who.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap().to_string(),
                format!("{} {}", n["title"], n["body"]),
                n["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_payout_account_is_masked_sealed_validated_and_changed_only_after_a_step_up() {
    let o = office().await;
    let s = o.app.student_named("2024001", "张三").await;
    assert_error(
        &o.app.get(ACCOUNT, &s.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Just signed in with the password: fresh enough. Spaces between groups are fine.
    let (status, body) = o
        .put_account(
            &s,
            account("中国工商银行海淀支行", "6222 0212 3456 7890 123", "张三"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account_no_masked"], "6222 **** **** 0123");
    let (status, read) = o.app.get(ACCOUNT, &s.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["bank_name"], "中国工商银行海淀支行");
    assert_eq!(read["holder_name"], "张三");
    assert_eq!(read["account_no_masked"], "6222 **** **** 0123");
    assert!(!read.to_string().contains("02123456789"), "{read}");
    // Sealed at rest: the stored text holds no run of the digits.
    let stored: String =
        sqlx::query_scalar("SELECT account_no_enc FROM payout_accounts WHERE user_id = $1")
            .bind(s.id)
            .fetch_one(&o.app.db.pool)
            .await
            .unwrap();
    assert!(!stored.contains("6222021234"), "{stored}");

    // Validation, with clear codes.
    for (number, digits) in [("1234 5678 901", 11), (&*"9".repeat(31), 31)] {
        let got = o.put_account(&s, account("银行", number, "张三")).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_account_no");
        assert!(
            got.1["error"]["fields"]["account_no"].is_string(),
            "{digits}: {}",
            got.1
        );
    }
    assert_error(
        &o.put_account(&s, account("银行", "62220212345678x0", "张三"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_account_no",
    );
    let got = o
        .put_account(&s, account("  ", "622202123456789", "张三"))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(
        got.1["error"]["fields"]["bank_name"].is_string(),
        "{}",
        got.1
    );
    let got = o
        .put_account(&s, account("银行", "622202123456789", &"张".repeat(61)))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(
        got.1["error"]["fields"]["holder_name"].is_string(),
        "{}",
        got.1
    );

    // Six minutes later the session is not fresh: 401 reauth_required, nothing changed.
    age_sessions(&o.app, "2024001", 6 * 60).await;
    assert_error(
        &o.put_account(&s, account("中国银行", "6013 8200 0000 0000 999", "张三"))
            .await,
        StatusCode::UNAUTHORIZED,
        "reauth_required",
    );
    assert_eq!(
        o.app.get(ACCOUNT, &s.token).await.1["account_no_masked"],
        "6222 **** **** 0123"
    );
    let (status, _) = o
        .app
        .post(
            "/api/v1/auth/reauth",
            &s.token,
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = o
        .put_account(&s, account("中国银行", "6013 8200 0000 0000 999", "张三"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account_no_masked"], "6013 **** **** 0999");

    // Audited, without the number.
    let summaries: Vec<String> = sqlx::query_scalar(
        "SELECT summary FROM audit_events WHERE action = 'payout_account.update' ORDER BY id",
    )
    .fetch_all(&o.app.db.pool)
    .await
    .unwrap();
    assert_eq!(summaries, ["added", "changed"]);
    // Staff have no payout account of their own to keep.
    assert_error(
        &o.app.get(ACCOUNT, &o.finance.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn finance_batches_pays_and_reconciles_returned_transfers() {
    let o = office().await;
    let app = &o.app;
    let zhang = app.student_named("2024001", "张三").await;
    let li = app.student_named("2024002", "李四").await;
    let wang = app.student_named("2024003", "王五").await;
    let (case_z, pay_z) = o.completed_case(&zhang, "PZ-1", 80_000).await;
    let (case_l, pay_l) = o.completed_case(&li, "PL-1", 62_345).await;
    let (case_w, pay_w) = o.completed_case(&wang, "PW-1", 48_000).await;
    // A case approved but not handed in is not paid yet.
    let approved = app
        .approved_case(
            &zhang,
            &o.r1,
            &o.r2,
            rated(Some(3)),
            &[inv("PZ-2", 5_000, 0)],
        )
        .await;
    for (who, number, holder) in [
        (&zhang, "6222021234567890123", "张三"),
        (&li, "6217 0000 1111 2222", "李四"),
    ] {
        let (status, body) = o
            .put_account(who, account("中国工商银行", number, holder))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Only finance (and admins) build batches.
    for token in [&zhang.token, &o.r1.token, &o.r2.token] {
        assert_error(&o.build(token).await, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_error(
        &app.post(BATCHES, &o.finance.token, json!({"through": "2026-13-01"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_date",
    );
    // Through yesterday: nothing was handed in yet.
    assert_error(
        &app.post(
            BATCHES,
            &o.finance.token,
            json!({"through": local_date(-1)}),
        )
        .await,
        StatusCode::CONFLICT,
        "nothing_to_pay",
    );

    let (status, batch) = o.build(&o.finance.token).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let id = batch["id"].as_i64().unwrap();
    assert_eq!(batch["status"], "open");
    assert_eq!(batch["count"], 2);
    assert_eq!(batch["total_cents"], pay_z + pay_l);
    assert_eq!(case_ids(&batch, "cases"), BTreeSet::from([case_z, case_l]));
    assert!(!case_ids(&batch, "cases").contains(&approved.id));
    // Wang has no account: skipped, listed so the office can chase him.
    assert_eq!(batch["skipped_count"], 1);
    assert_eq!(batch["skipped"][0]["case_id"], case_w);
    assert_eq!(batch["skipped"][0]["student_id"], "2024003");
    assert_eq!(batch["skipped"][0]["amount_cents"], pay_w);
    assert_eq!(batch["skipped"][0]["reason"], "no_account");
    let z = batch["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case_id"] == case_z)
        .unwrap();
    assert_eq!(z["account_no_masked"], "6222 **** **** 0123");
    assert_eq!(z["student_id"], "2024001");
    assert_eq!(z["amount_cents"], pay_z);
    assert!(!batch.to_string().contains("021234567890"), "{batch}");
    // A batched hand-in is not undone behind finance's back.
    let admin = app.fixture_admin().await;
    let (_, seen) = app
        .get(&format!("/api/v1/cases/{case_l}"), &admin.token)
        .await;
    assert_error(
        &app.post(
            &format!("/api/v1/review/cases/{case_l}/reopen"),
            &admin.token,
            json!({"version": seen["version"], "reason": "发票有误"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    // Nothing left to batch (Wang still has no account).
    assert_error(
        &o.build(&o.finance.token).await,
        StatusCode::CONFLICT,
        "nothing_to_pay",
    );
    let (_, list) = app.get(BATCHES, &o.finance.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["id"], id);
    let (status, again) = app.get(&format!("{BATCHES}/{id}"), &o.finance.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(case_ids(&again, "cases"), BTreeSet::from([case_z, case_l]));

    // The transfer file: full numbers, yuan with two decimals, a totals row.
    let (status, ctype, bytes) =
        download(app, &format!("{BATCHES}/{id}.csv"), &o.finance.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM");
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "学号,姓名,开户银行,银行账号,户名,金额（元）,病历号"
    );
    let yuan = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    assert!(
        lines.contains(&&*format!(
            "2024001,张三,中国工商银行,6222021234567890123,张三,{},{case_z}",
            yuan(pay_z)
        )),
        "{csv}"
    );
    assert!(
        lines.contains(&&*format!(
            "2024002,李四,中国工商银行,6217000011112222,李四,{},{case_l}",
            yuan(pay_l)
        )),
        "{csv}"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(lines[3], format!("合计,2,,,,{},", yuan(pay_z + pay_l)));

    let (status, ctype, bytes) =
        download(app, &format!("{BATCHES}/{id}.xlsx"), &o.finance.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.contains("spreadsheetml"), "{ctype}");
    let mut book = workbook(bytes);
    let sheet = book.sheet_names()[0].clone();
    let rows: Vec<Vec<calamine::Data>> = book
        .worksheet_range(&sheet)
        .unwrap()
        .rows()
        .map(|r| r.to_vec())
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(text(&rows[0][3]), "银行账号");
    let accounts: BTreeSet<String> = rows[1..3].iter().map(|r| text(&r[3])).collect();
    assert_eq!(
        accounts,
        BTreeSet::from([
            "6222021234567890123".to_string(),
            "6217000011112222".to_string()
        ])
    );
    assert_eq!(
        rows[1..3].iter().map(|r| cents(&r[5])).sum::<i64>(),
        pay_z + pay_l
    );
    assert_eq!(text(&rows[3][0]), "合计");
    assert_eq!(cents(&rows[3][5]), pay_z + pay_l);
    let (_, _, en) = download(
        app,
        &format!("{BATCHES}/{id}.csv?lang=en"),
        &o.finance.token,
    )
    .await;
    assert!(String::from_utf8_lossy(&en).contains("Account number"));

    // Full numbers need a fresh authentication; every download is audited.
    age_sessions(app, "cw", 6 * 60).await;
    let (status, _, body) = download(app, &format!("{BATCHES}/{id}.csv"), &o.finance.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&body).contains("reauth_required"));
    let exports: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'payout_batch.export'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(exports, 3);
    assert_error(
        &app.get(&format!("{BATCHES}/{id}.pdf"), &o.finance.token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Returned transfers are recorded only after the batch is paid.
    assert_error(
        &o.returned(id, case_z).await,
        StatusCode::CONFLICT,
        "batch_not_paid",
    );

    // Paid: both cases `paid`, both students told in the inbox and by SMS.
    let (status, paid) = app
        .post(&format!("{BATCHES}/{id}/paid"), &o.finance.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert!(paid["paid_at"].is_string());
    assert_eq!(o.status_of(&zhang, case_z).await, "paid");
    assert_eq!(o.status_of(&li, case_l).await, "paid");
    assert_eq!(o.status_of(&wang, case_w).await, "completed");
    let (_, outbox) = app.get("/api/v1/admin/outbox", &admin.token).await;
    for (who, case, pay) in [(&zhang, case_z, pay_z), (&li, case_l, pay_l)] {
        let inbox = inbox_kinds(app, who).await;
        let (_, words, nid) = inbox
            .iter()
            .find(|(k, _, _)| k == "payout_sent")
            .unwrap_or_else(|| panic!("{inbox:?}"));
        assert!(words.contains("已打款"), "{words}");
        assert!(
            words.contains(&format!("#{case}")) && words.contains(&yuan(pay)),
            "{words}"
        );
        assert!(words.contains("****"), "{words}");
        let key = format!("notification-{nid}-sms");
        assert!(
            outbox["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["idempotency_key"] == key),
            "an SMS for {key}: {outbox}"
        );
    }
    // The student's case page says 已打款.
    let page = app
        .client
        .get(app.url(&format!("/app/cases/{case_z}")))
        .bearer_auth(&zhang.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("已打款"), "{page}");
    assert_error(
        &app.post(&format!("{BATCHES}/{id}/paid"), &o.finance.token, json!({}))
            .await,
        StatusCode::CONFLICT,
        "batch_already_paid",
    );
    assert_error(
        &app.post(
            &format!("{BATCHES}/999999/paid"),
            &o.finance.token,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // The bank returns Zhang's transfer (wrong account): back to completed, he is told.
    assert_error(
        &o.returned(id, case_w).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (status, back) = o.returned(id, case_z).await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["returned_count"], 1);
    assert_eq!(back["returned_cents"], pay_z);
    assert_eq!(back["total_cents"], pay_z + pay_l);
    assert_eq!(o.status_of(&zhang, case_z).await, "completed");
    assert_eq!(o.status_of(&li, case_l).await, "paid");
    let inbox = inbox_kinds(app, &zhang).await;
    assert!(
        inbox
            .iter()
            .any(|(k, w, _)| k == "payout_returned" && w.contains("我的")),
        "{inbox:?}"
    );
    // Returned once is enough.
    assert_error(
        &o.returned(id, case_z).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    // Not batched again until the account changed.
    let (status, body) = o.build(&o.finance.token).await;
    assert_error(&(status, body), StatusCode::CONFLICT, "nothing_to_pay");
    let fresh = app.login("2024001").await;
    let zhang2 = Person {
        id: zhang.id,
        token: fresh,
    };
    let (status, body) = o
        .put_account(
            &zhang2,
            account("中国建设银行", "6227 0000 0000 0000 456", "张三"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, second) = o.build(&o.finance.token).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(case_ids(&second, "cases"), BTreeSet::from([case_z]));
    assert_eq!(
        second["cases"][0]["account_no_masked"],
        "6227 **** **** 0456"
    );
    assert_eq!(second["cases"][0]["bank_name"], "中国建设银行");
    assert_eq!(second["total_cents"], pay_z);
    assert_eq!(case_ids(&second, "skipped"), BTreeSet::from([case_w]));
    let second_id = second["id"].as_i64().unwrap();
    let (status, _) = app
        .post(
            &format!("{BATCHES}/{second_id}/paid"),
            &o.finance.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o.status_of(&zhang, case_z).await, "paid");
    // The first batch's file no longer lists the returned transfer.
    let (_, _, bytes) = download(app, &format!("{BATCHES}/{id}.csv"), &admin.token).await;
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(!csv.contains("6222021234567890123"), "{csv}");
    assert!(
        csv.contains(&format!("合计,1,,,,{},", yuan(pay_l))),
        "{csv}"
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE object_type = 'payout_batch' ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    for a in [
        "payout_batch.create",
        "payout_batch.paid",
        "payout_batch.returned",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn two_batches_built_at_once_never_share_a_case() {
    let o = office().await;
    let mut all = BTreeSet::new();
    for n in 0..4 {
        let s = o.app.student(&format!("20240{n}1")).await;
        let (case, _) = o.completed_case(&s, &format!("CC-{n}"), 40_000 + n).await;
        let (status, body) = o
            .put_account(
                &s,
                account("中国银行", &format!("62170000111122{n}0"), "某某"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        all.insert(case);
    }
    let admin = o.app.fixture_admin().await;
    for round in 0..2 {
        let (a, b) = tokio::join!(o.build(&o.finance.token), o.build(&admin.token));
        let mut seen = BTreeSet::new();
        for (status, body) in [a, b] {
            match status {
                StatusCode::CREATED => {
                    for c in case_ids(&body, "cases") {
                        assert!(seen.insert(c), "round {round}: case {c} in two batches");
                    }
                }
                StatusCode::CONFLICT => {
                    let code = body["error"]["code"].as_str().unwrap_or_default();
                    assert!(["nothing_to_pay", "conflict"].contains(&code), "{body}");
                }
                other => panic!("round {round}: {other} {body}"),
            }
        }
        if round == 0 {
            assert_eq!(seen, all, "every waiting case went into exactly one batch");
        } else {
            assert!(seen.is_empty(), "nothing is batched twice: {seen:?}");
        }
    }
}

/// The journey in Chromium: the student enters the payout account in "我的" (masked after
/// saving), finance builds a batch in the console, downloads the transfer file after the inline
/// step-up, marks the batch paid, and the student's case page says 已打款. axe-core finds
/// nothing serious on the pages.
#[tokio::test]
async fn finance_pays_a_batch_in_the_console_and_the_student_sees_paid() {
    let o = office().await;
    let app = &o.app;
    let zhang = app.student_named("2024001", "张三").await;
    let (case, pay) = o.completed_case(&zhang, "BR-1", 80_000).await;
    let Some(s) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    s.sign_in("2024001").await;
    s.goto("/app/me").await;
    s.click("#payout-account-link").await;
    s.wait_for("document.getElementById('account-form') !== null")
        .await;
    assert!(s.text("#account-none").await.contains("尚未填写"));
    s.assert_accessible("the payout account page").await;
    s.fill("#bank-name", "中国工商银行").await;
    s.fill("#account-no", "6222 0212 3456 7890 123").await;
    s.fill("#holder-name", "张三").await;
    s.click("#account-save").await;
    s.wait_for("document.getElementById('account-masked') !== null")
        .await;
    assert_eq!(s.text("#account-masked").await, "6222 **** **** 0123");
    s.stop().await;

    let Some(f) = crate::browser::Browser::start(&app.addr, 1280, 900).await else {
        return;
    };
    f.sign_in("cw").await;
    f.goto("/console/payouts").await;
    f.assert_accessible("the payouts console").await;
    f.click("#build-batch").await;
    f.wait_for("document.getElementById('batch-cases') !== null")
        .await;
    let yuan = format!("¥{}.{:02}", pay / 100, pay % 100);
    assert_eq!(f.text("#batch-total").await, yuan);
    let row = f
        .text(&format!("#batch-cases tr[data-case='{case}']"))
        .await;
    assert!(
        row.contains("6222 **** **** 0123") && row.contains("2024001"),
        "{row}"
    );
    f.assert_accessible("a payout batch").await;

    // The transfer file after the inline step-up.
    age_sessions(app, "cw", 6 * 60).await;
    f.click("#download-csv").await;
    f.wait_for("document.getElementById('reauth-password') !== null")
        .await;
    f.fill("#reauth-password", PASSWORD).await;
    f.click("#reauth-confirm").await;
    let mut exports = 0;
    for _ in 0..100 {
        exports = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'payout_batch.export'",
        )
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        if exports > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(exports, 1, "the file was fetched once, after the step-up");

    f.click("#mark-paid").await;
    // The page after building already had a notice: wait for the one after paying.
    f.wait_for("document.getElementById('mark-paid') === null && document.getElementById('batch-status') !== null")
        .await;
    assert_eq!(f.text("#batch-status").await, "已打款");
    assert_eq!(f.text("#flash-ok").await, "已标记为已打款，并已通知学生。");
    assert!(
        f.script("return document.getElementById('mark-paid') === null")
            .await
            .as_bool()
            .unwrap()
    );
    f.stop().await;

    let Some(s) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    s.sign_in("2024001").await;
    s.goto(&format!("/app/cases/{case}")).await;
    s.wait_for("document.readyState === 'complete'").await;
    let page = s.text("main").await;
    assert!(page.contains("已打款"), "{page}");
    s.assert_accessible("a paid case").await;
    s.stop().await;
}
