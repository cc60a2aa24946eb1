//! The payout ledger for finance: owed vs paid per case, the reconciliation as a workbook
//! (read back with calamine) and the console page. The books are made through the insurer
//! webhooks, as insurers would, with the fixtures of the insurer tests.

use calamine::{Data, Reader};
use medclaim::http::auth::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};
use crate::gateway::{Creds, admin, register, send};
use crate::insurers::{approve_by_insurer, insured_case, insurer, payment};
use crate::intake::web_login;
use crate::reports::{cents, download, text, workbook};

/// Books with one case of every kind, all paid in March 2026:
/// 1 paid as approved (and 10 yuan by a second insurer that never approved it),
/// 2 paid twice, 3 paid 80 of 88, 4 paid without approval, 5 approved on 2 March and unpaid.
struct Books {
    app: TestApp,
    admin: String,
    finance: String,
    a: Creds,
    b: Creds,
    cases: [i64; 5],
}

async fn pay(app: &TestApp, ins: &Creds, id: &str, date: &str, paid: &[(i64, &str)]) {
    let path = format!("/api/v1/insurers/{}/payments", ins.id);
    let (status, got) = send(app, &path, ins, &payment(id, date, paid).to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
}

async fn books() -> Books {
    let app = TestApp::spawn().await;
    let admin = admin(&app).await;
    let (_, finance) = app.user_with("finance1", &[Role::Finance]).await;
    let a = insurer(&app, &admin, "https://a.example/fhir").await;
    let b = register(
        &app,
        &admin,
        "/api/v1/admin/insurers",
        json!({"name": "太平洋保险", "fhir_base_url": "https://b.example/fhir"}),
    )
    .await;
    let mut cases = [0; 5];
    for (i, c) in cases.iter_mut().enumerate() {
        *c = insured_case(&app, &format!("202400{}", i + 1), a.id, &format!("P-{i}")).await;
    }
    let [c1, c2, c3, c4, c5] = cases;
    approve_by_insurer(&app, &a, c1, "150.5").await;
    approve_by_insurer(&app, &a, c2, "150.5").await;
    approve_by_insurer(&app, &a, c3, "88").await;
    approve_by_insurer(&app, &a, c5, "100").await;
    // Case 5 was approved long ago (2 March 2026, Shanghai) and is still unpaid; back-dated
    // directly, as the API stamps a decision with the current time.
    sqlx::query("UPDATE insurer_claims SET decided_at = $1 WHERE case_id = $2")
        .bind(crate::reports::at("2026-03-02", 10))
        .bind(c5)
        .execute(&app.db.pool)
        .await
        .unwrap();
    pay(
        &app,
        &a,
        "PAY-1",
        "2026-03-06",
        &[(c1, "150.5"), (c2, "150.5"), (c3, "80")],
    )
    .await;
    pay(&app, &a, "PAY-2", "2026-03-07", &[(c2, "150.5"), (c4, "5")]).await;
    // B's money for A's case 1: the webhook refuses it (an insurer pays only its own cases),
    // but books may hold such an entry from before that rule (or typed in from a bank
    // statement), so it is written here directly and reconciliation must still show it.
    let path = format!("/api/v1/insurers/{}/payments", b.id);
    let foreign = payment("PAY-B1", "2026-03-08", &[(c1, "10")]).to_string();
    assert_error(
        &send(&app, &path, &b, &foreign).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    sqlx::query(
        "INSERT INTO ledger_entries (insurer_id, case_id, payment_identifier, detail_no, amount_cents,
         paid_date, destination_kind, destination_masked, duplicate_of, created_at)
         VALUES ($1, $2, 'PAY-B1', 1, 1000, '2026-03-08', 'bank', '****3445',
                 (SELECT MIN(id) FROM ledger_entries WHERE case_id = $3), $4)",
    )
    .bind(b.id)
    .bind(c1)
    .bind(c1)
    .bind(chrono::Utc::now().timestamp_millis())
    .execute(&app.db.pool)
    .await
    .unwrap();
    Books {
        app,
        admin,
        finance,
        a,
        b,
        cases,
    }
}

fn row(items: &Value, case_id: i64, insurer_id: i64) -> &Value {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["case_id"] == case_id && r["insurer_id"] == insurer_id)
        .unwrap_or_else(|| panic!("no row for case {case_id} / insurer {insurer_id}: {items}"))
}

#[tokio::test]
async fn owed_and_paid_are_summed_per_case_and_insurer() {
    let f = books().await;
    let [c1, c2, c3, c4, c5] = f.cases;
    let (status, page) = f.app.get("/api/v1/admin/ledger/cases", &f.finance).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["next_cursor"], Value::Null);
    let items = &page["items"];
    let order: Vec<(i64, i64)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["case_id"].as_i64().unwrap(),
                r["insurer_id"].as_i64().unwrap(),
            )
        })
        .collect();
    let (a, b) = (f.a.id, f.b.id);
    assert_eq!(
        order,
        [(c1, a), (c1, b), (c2, a), (c3, a), (c4, a), (c5, a)]
    );
    assert_eq!(
        row(items, c1, a),
        &json!({"case_id": c1, "student_id": "2024001", "insurer_id": a, "insurer_name": "平安健康",
                "claim_status": "complete", "owed_cents": 15050, "paid_cents": 15050, "payments": 1,
                "last_paid_date": "2026-03-06", "balance_cents": 0})
    );
    let other = row(items, c1, b);
    assert_eq!(other["insurer_name"], "太平洋保险");
    assert_eq!(other["claim_status"], Value::Null, "B holds no claim");
    assert_eq!(
        (
            &other["owed_cents"],
            &other["paid_cents"],
            &other["balance_cents"]
        ),
        (&json!(0), &json!(1000), &json!(-1000))
    );
    let twice = row(items, c2, a);
    assert_eq!(twice["paid_cents"], 30100, "both payments count");
    assert_eq!(twice["payments"], 2);
    assert_eq!(twice["last_paid_date"], "2026-03-07");
    assert_eq!(twice["balance_cents"], -15050, "overpaid");
    let short = row(items, c3, a);
    assert_eq!(
        (
            &short["owed_cents"],
            &short["paid_cents"],
            &short["balance_cents"]
        ),
        (&json!(8800), &json!(8000), &json!(800))
    );
    let unapproved = row(items, c4, a);
    assert_eq!(unapproved["claim_status"], Value::Null);
    assert_eq!(unapproved["balance_cents"], -500);
    let unpaid = row(items, c5, a);
    assert_eq!(
        (
            &unpaid["paid_cents"],
            &unpaid["payments"],
            &unpaid["last_paid_date"]
        ),
        (&json!(0), &json!(0), &Value::Null)
    );
    assert_eq!(unpaid["balance_cents"], 10000);

    // Pages of two cases: a case's rows for every insurer stay on one page.
    let (_, p1) = f
        .app
        .get("/api/v1/admin/ledger/cases?limit=2", &f.admin)
        .await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 3, "{p1}");
    assert_eq!(p1["next_cursor"], c2);
    let (_, p2) = f
        .app
        .get(
            &format!("/api/v1/admin/ledger/cases?limit=2&cursor={c2}"),
            &f.admin,
        )
        .await;
    let ids: Vec<&Value> = p2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["case_id"])
        .collect();
    assert_eq!(ids, [&json!(c3), &json!(c4)]);
    assert_eq!(p2["next_cursor"], c4);
    let (_, p3) = f
        .app
        .get(
            &format!("/api/v1/admin/ledger/cases?limit=2&cursor={c4}"),
            &f.admin,
        )
        .await;
    assert_eq!(p3["items"].as_array().unwrap().len(), 1);
    assert_eq!(p3["next_cursor"], Value::Null);

    let (_, only_b) = f
        .app
        .get(
            &format!("/api/v1/admin/ledger/cases?insurer_id={b}"),
            &f.finance,
        )
        .await;
    assert_eq!(only_b["items"].as_array().unwrap().len(), 1, "{only_b}");
    assert_eq!(only_b["items"][0]["case_id"], c1);

    // The per-case rows add up to the per-insurer balances.
    let (_, ledger) = f.app.get("/api/v1/admin/ledger", &f.finance).await;
    let balance_a = &ledger["items"][0];
    assert_eq!(balance_a["owed_cents"], 15050 + 15050 + 8800 + 10000);
    assert_eq!(balance_a["paid_cents"], 15050 + 30100 + 8000 + 500);
}

#[tokio::test]
async fn only_finance_and_admins_read_the_ledger() {
    let f = books().await;
    let (_, student) = f.app.user_with("2024099", &[Role::Student]).await;
    let (_, reviewer) = f
        .app
        .user_with("rev1", &[Role::Reviewer1, Role::Reviewer2])
        .await;
    for token in [&student, &reviewer] {
        for path in [
            "/api/v1/admin/ledger/cases",
            "/api/v1/admin/reconciliation.xlsx",
        ] {
            assert_error(
                &f.app.get(path, token).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            );
        }
    }
    let openapi = f.app.get("/api/v1/openapi.json", &f.finance).await.1;
    for path in [
        "/api/v1/admin/ledger/cases",
        "/api/v1/admin/reconciliation.xlsx",
    ] {
        assert!(
            openapi["paths"][path]["get"].is_object(),
            "{path} documented"
        );
    }
}

const MARCH: &str = "from=2026-03-01&to=2026-03-31&unpaid_after_days=30";

fn rows(book: &mut calamine::Xlsx<std::io::Cursor<Vec<u8>>>, sheet: &str) -> Vec<Vec<Data>> {
    book.worksheet_range(sheet)
        .unwrap()
        .rows()
        .map(|r| r.to_vec())
        .collect()
}

#[tokio::test]
async fn the_reconciliation_workbook_lists_every_mismatch_in_words_and_yuan() {
    let f = books().await;
    let [c1, c2, c3, c4, c5] = f.cases;
    let (_, json_report) = f
        .app
        .get(&format!("/api/v1/admin/reconciliation?{MARCH}"), &f.finance)
        .await;
    assert_eq!(
        json_report["items"].as_array().unwrap().len(),
        5,
        "{json_report}"
    );

    let resp = f
        .app
        .client
        .get(
            f.app
                .url(&format!("/api/v1/admin/reconciliation.xlsx?{MARCH}")),
        )
        .bearer_auth(&f.finance)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"reconciliation_2026-03-01_2026-03-31.xlsx\""
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    let mut book = workbook(resp.bytes().await.unwrap().to_vec());
    assert_eq!(book.sheet_names(), ["对账差异", "概要"]);
    let sheet = rows(&mut book, "对账差异");
    let header: Vec<String> = sheet[0].iter().map(text).collect();
    assert_eq!(
        header,
        [
            "差异类型",
            "病历",
            "学号",
            "保险公司",
            "核定金额",
            "已付金额",
            "差额（应付−已付）",
            "账目编号"
        ]
    );
    // (kind, case, student, insurer, approved, paid, difference), in the JSON report's order.
    let got: Vec<(String, String, String, String, String, String, i64)> = sheet[1..]
        .iter()
        .map(|r| {
            let money = |d: &Data| {
                if *d == Data::Empty {
                    "—".to_string()
                } else {
                    cents(d).to_string()
                }
            };
            (
                text(&r[0]),
                text(&r[1]),
                text(&r[2]),
                text(&r[3]),
                money(&r[4]),
                money(&r[5]),
                cents(&r[6]),
            )
        })
        .collect();
    let s = |v: &str| v.to_string();
    assert_eq!(
        got,
        [
            (
                s("无核定的付款"),
                c1.to_string(),
                s("2024001"),
                s("太平洋保险"),
                s("—"),
                s("1000"),
                -1000
            ),
            (
                s("重复付款"),
                c2.to_string(),
                s("2024002"),
                s("平安健康"),
                s("15050"),
                s("30100"),
                -15050
            ),
            (
                s("付款金额与核定不符"),
                c3.to_string(),
                s("2024003"),
                s("平安健康"),
                s("8800"),
                s("8000"),
                800
            ),
            (
                s("无核定的付款"),
                c4.to_string(),
                s("2024004"),
                s("平安健康"),
                s("—"),
                s("500"),
                -500
            ),
            (
                s("核定后逾期未付"),
                c5.to_string(),
                s("2024005"),
                s("平安健康"),
                s("10000"),
                s("—"),
                10000
            ),
        ]
    );
    let entries: Vec<String> = json_report["items"][1]["entry_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(text(&sheet[2][7]), entries.join(", "));
    let styles = book.worksheet_style("对账差异").unwrap();
    let format = styles
        .get((2, 5))
        .and_then(|s| s.number_format.as_ref())
        .map(|n| n.format_code.clone())
        .unwrap_or_default();
    assert!(format.contains("0.00") && format.contains('¥'), "{format}");

    let summary = rows(&mut book, "概要");
    let counts: Vec<(String, String, i64, i64)> = summary[1..6]
        .iter()
        .map(|r| (text(&r[0]), text(&r[1]), cents(&r[2]), cents(&r[3])))
        .collect();
    assert_eq!(
        counts,
        [
            (s("无核定的付款"), s("2"), 0, 1500),
            (s("付款金额与核定不符"), s("1"), 8800, 8000),
            (s("重复付款"), s("1"), 15050, 30100),
            (s("核定后逾期未付"), s("1"), 10000, 0),
            (s("合计"), s("5"), 33850, 39600),
        ]
    );

    // English on request; a window without payments has nothing to reconcile.
    let (status, _, bytes) = download(
        &f.app,
        "/api/v1/admin/reconciliation.xlsx?from=2026-04-01&to=2026-04-30&lang=en",
        &f.admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut english = workbook(bytes);
    assert_eq!(english.sheet_names(), ["Mismatches", "Summary"]);
    let sheet = rows(&mut english, "Mismatches");
    assert_eq!(sheet.len(), 1, "the header only: {sheet:?}");
    assert_eq!(text(&sheet[0][0]), "Mismatch");
    let summary = rows(&mut english, "Summary");
    assert_eq!(text(&summary[3][0]), "Paid twice");
    assert_eq!(text(&summary[5][1]), "0");
    let (status, _, _) = download(
        &f.app,
        "/api/v1/admin/reconciliation.xlsx?from=March",
        &f.admin,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The table row starting with `start`.
fn table_row<'a>(html: &'a str, start: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {html}"));
    &html[from..from + html[from..].find("</tr>").unwrap()]
}

#[tokio::test]
async fn the_console_page_shows_balances_cases_and_mismatches() {
    let f = books().await;
    let [_, c2, c3, ..] = f.cases;
    let cookie = web_login(&f.app, "finance1").await;
    let (status, html) = f
        .app
        .page(&cookie, &format!("/console/ledger?{MARCH}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>账目与对账</h1>"), "{html}");
    assert!(
        html.contains("<a href=\"/console/ledger\" aria-current=\"page\">账目与对账</a>"),
        "marked in the navigation"
    );
    // Balances: 平安健康 owes 489.00, was paid 536.50.
    assert!(
        html.contains(&format!("<a href=\"/console/ledger?insurer_id={}#cases-heading\" class=\"insurer-filter\">平安健康</a></td><td class=\"num\">¥489.00</td><td class=\"num\">¥536.50</td><td class=\"num\">¥-47.50</td>", f.a.id)),
        "{html}"
    );
    // A click on an insurer limits the per-case table to its cases.
    let (status, only_b) = f
        .app
        .page(&cookie, &format!("/console/ledger?insurer_id={}", f.b.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        only_b.contains("<span id=\"insurer-filter\">太平洋保险</span>"),
        "{only_b}"
    );
    let rows = only_b.matches("<tr data-case=").count();
    assert_eq!(rows, 1, "only the case 太平洋保险 paid");
    assert!(html.contains(&format!("<tr data-case=\"{c2}\" class=\"unsettled\">")));
    assert!(html.contains("¥-150.50"), "case 2 overpaid");
    let twice = table_row(&html, "<tr data-kind=\"paid_twice\">");
    assert!(
        twice.contains("重复付款") && twice.contains(&format!("#{c2}</a>")),
        "{twice}"
    );
    assert!(
        twice.contains("¥150.50") && twice.contains("¥301.00"),
        "{twice}"
    );
    let differs = table_row(&html, "<tr data-kind=\"amount_differs\">");
    assert!(
        differs.contains("付款金额与核定不符") && differs.contains(&format!("#{c3}</a>")),
        "{differs}"
    );
    assert!(html.contains(
        "href=\"/api/v1/admin/reconciliation.xlsx?from=2026-03-01&#38;to=2026-03-31&#38;unpaid_after_days=30&#38;lang=zh-CN\""
    ), "{}", table_row(&html, "<form method=\"get\" action=\"/console/ledger\""));
    // The link works with the page's session.
    let (status, _) = f.app.page(&cookie,
        "/api/v1/admin/reconciliation.xlsx?from=2026-03-01&to=2026-03-31&unpaid_after_days=30&lang=zh-CN",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, html) = f.app.page(&cookie, "/console/ledger?from=2026-04-01").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"no-mismatch\""));
    let (status, html) = f.app.page(&cookie, "/console/ledger?from=March").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"flash-error\""), "{html}");
    let (_, english) = f
        .app
        .page(
            &format!("{cookie}; medclaim_lang=en"),
            &format!("/console/ledger?{MARCH}"),
        )
        .await;
    assert!(english.contains("<h1>Ledger and reconciliation</h1>"));
    assert!(english.contains("Paid twice") && english.contains("Amount differs from approval"));

    f.app.create_user("2024099", "学生", &[Role::Student]).await;
    let student = web_login(&f.app, "2024099").await;
    let (status, _) = f.app.page(&student, "/console/ledger").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a student is refused with the one 403 page"
    );
    f.app
        .create_user("rev1", "审核员", &[Role::Reviewer1])
        .await;
    let reviewer = web_login(&f.app, "rev1").await;
    let (status, _) = f.app.page(&reviewer, "/console/ledger").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
