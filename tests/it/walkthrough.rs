//! Issue 6 tried as a new user would, on the demo data in a real Chromium: finance signs in,
//! takes last month's payouts and the statistics with the dates the reports page offers, and
//! LibreOffice opens both with Chinese text and totals intact; an administrator imports a roster
//! from the console page (preview, then apply) with the page's own script.

use reqwest::StatusCode;

use crate::browser::Browser;
use crate::common::TestApp;
use crate::gateway::id_number;
use crate::reports::libreoffice_csv;

/// The browser's session cookies as one `Cookie` header, to fetch what its buttons link to.
async fn cookie_header(browser: &Browser) -> String {
    browser
        .driver
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn fetch(app: &TestApp, cookie: &str, path: &str) -> Vec<u8> {
    let resp = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.bytes().await.unwrap().to_vec()
}

async fn new_students(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username LIKE '2026100%'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// The CSV LibreOffice wrote, as rows of cells.
fn records(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// A cell shown as yuan (`¥1,234.50`) as a number.
fn yuan(cell: &str) -> f64 {
    cell.replace(['¥', ','], "").trim().parse().unwrap_or(0.0)
}

#[tokio::test]
async fn finance_exports_last_month_and_an_admin_imports_a_roster_on_the_demo() {
    let app = TestApp::spawn().await;
    let mut settings = medclaim::Settings::new(app.data_dir.clone());
    settings.database_url = Some(app.database_url.clone());
    medclaim::demo::seed_all(&settings, &app.db, &app.keys)
        .await
        .unwrap();
    let Some(browser) = Browser::start(&app.addr, 1280, 900).await else {
        return;
    };

    // Finance: the reports page offers last month; both workbooks open in LibreOffice.
    browser
        .sign_in_with("finance", medclaim::demo::DEMO_PASSWORD)
        .await;
    browser.goto("/console/reports").await;
    let from = browser
        .el("input[name=from]")
        .await
        .value()
        .await
        .unwrap()
        .unwrap();
    let to = browser
        .el("input[name=to]")
        .await
        .value()
        .await
        .unwrap()
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    assert!(
        to < today.format("%Y-%m-%d").to_string() && from.ends_with("-01"),
        "{from}..{to}"
    );
    let cookie = cookie_header(&browser).await;
    let payouts = fetch(
        &app,
        &cookie,
        &format!("/api/v1/reports/payouts.xlsx?from={from}&to={to}"),
    )
    .await;
    let statistics = fetch(
        &app,
        &cookie,
        &format!("/api/v1/reports/statistics.xlsx?from={from}&to={to}"),
    )
    .await;
    assert!(browser.console_errors().await.is_empty());
    if let Some(text) = libreoffice_csv(&payouts).await {
        let rows = records(&text);
        let header = &rows[0];
        assert!(header.iter().any(|h| h == "学号"), "{text}");
        let payout_col = header.iter().position(|h| h == "报销金额").unwrap();
        let data = &rows[1..rows.len() - 1];
        assert!(data.len() >= 3, "last month has payouts: {text}");
        assert!(
            data.iter()
                .all(|r| r.iter().any(|c| c.contains("医院") || c.contains("中心"))),
            "{text}"
        );
        let totals = rows.last().unwrap();
        assert_eq!(totals[0], "合计", "{text}");
        // The totals row (formulas evaluated by LibreOffice) is the sum of the rows above.
        let sum: f64 = data.iter().map(|r| yuan(&r[payout_col])).sum();
        assert!(sum > 0.0, "{text}");
        assert!(
            (yuan(&totals[payout_col]) - sum).abs() < 0.005,
            "payout total {sum} in {totals:?}"
        );
    }
    if let Some(text) = libreoffice_csv(&statistics).await {
        assert!(text.contains("医院等级") || text.contains("级"), "{text}");
        assert!(text.lines().last().unwrap().starts_with("合计"), "{text}");
    }

    // An administrator imports a roster from the console: preview first, nothing applied yet.
    browser.driver.delete_all_cookies().await.unwrap();
    browser
        .sign_in_with("admin", medclaim::demo::DEMO_PASSWORD)
        .await;
    browser.goto("/console/imports").await;
    let dir = tempfile::tempdir().unwrap();
    let roster = |third_id: &str| {
        format!(
            "\u{feff}学号,姓名,班级,手机号,身份证号,学籍状态\n\
             2026100001,新同学甲,2026级1班,13912340001,{},在读\n\
             2026100002,新同学乙,2026级1班,13912340002,{third_id},在读\n",
            id_number("11010520070101001")
        )
    };
    let choose = async |name: &str, content: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        browser
            .el("input[type=file]")
            .await
            .send_keys(file.display().to_string())
            .await
            .unwrap();
    };
    // One bad row: the preview names it, and nothing is applied.
    choose("新生名单.csv", roster("1101052007010100")).await;
    browser.click("button[value=preview]").await;
    browser
        .wait_for("document.querySelector('#import-result table.errors') !== null")
        .await;
    let errors = browser.text("#import-result table.errors").await;
    assert!(
        errors.contains("3") && errors.contains("id_number"),
        "{errors}"
    );
    assert!(browser.text("#import-result").await.contains("新同学甲"));
    // Corrected, previewed clean, then applied.
    choose("新生名单-改.csv", roster(&id_number("11010520070101002"))).await;
    browser.click("button[value=preview]").await;
    browser
        .wait_for("document.querySelector('#import-result table.errors') === null && document.querySelector('#import-result table.preview') !== null")
        .await;
    assert_eq!(new_students(&app).await, 0, "a preview applies nothing");
    browser.click("button[value=apply]").await;
    browser
        .wait_for("(document.querySelector('#import-result .notice.ok') || {textContent: ''}).textContent.indexOf('已导入') >= 0")
        .await;
    assert_eq!(new_students(&app).await, 2);
    assert!(browser.console_errors().await.is_empty());
    browser.stop().await;
}
