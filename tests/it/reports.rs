//! Finance and government exports, console imports and the dashboard. Approved cases are put in
//! place by SQL (the review workflow lives elsewhere); the files are read back with calamine
//! and the csv crate, independent of the writer.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::TimeZone;
use medclaim::http::auth::Role;
use reqwest::StatusCode;

use crate::common::{TestApp, assert_error};

pub const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// Unix ms of a local wall-clock time in Shanghai.
pub fn at(date: &str, hour: u32) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    TZ.from_local_datetime(&d.and_hms_opt(hour, 0, 0).unwrap())
        .unwrap()
        .timestamp_millis()
}

pub struct NewCase<'a> {
    pub student: i64,
    pub hospital: &'a str,
    pub level: Option<i64>,
    pub status: &'a str,
    pub visit_date: &'a str,
    pub approved_at: Option<i64>,
    pub first_submitted_at: Option<i64>,
    pub payout_cents: Option<i64>,
    pub handed_in_at: Option<i64>,
    /// (invoice number, total, self-paid, status)
    pub invoices: &'a [(&'a str, i64, i64, &'a str)],
}

impl Default for NewCase<'_> {
    fn default() -> Self {
        NewCase {
            student: 0,
            hospital: "北京协和医院",
            level: Some(3),
            status: "approved",
            visit_date: "2026-10-02",
            approved_at: None,
            first_submitted_at: None,
            payout_cents: None,
            handed_in_at: None,
            invoices: &[],
        }
    }
}

/// Inserts a case with its invoices by SQL; answers the case id. Written directly because
/// reports are about the past — cases approved, submitted and handed in at chosen moments of
/// earlier days and months — which no operation can produce today; every other test has its
/// cases made by the journeys in `fixtures.rs`.
pub async fn insert_case(app: &TestApp, c: NewCase<'_>) -> i64 {
    let now = medclaim::db::now_ms();
    let submitted = c.first_submitted_at.or(c.approved_at).unwrap_or(now);
    let review_level = match c.status {
        "submitted" => 1,
        "level2" => 2,
        _ => 0,
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO cases (student_id, hospital, hospital_level, reason, visit_date, coverage_year,
            status, review_level, payout_cents, created_at, first_submitted_at, submitted_at,
            updated_at, approved_at, handed_in_at)
         VALUES ($1, $2, $3, '感冒', $4, 2026, $5, $6, $7, $8, $8, $8, $8, $9, $10) RETURNING id",
    )
    .bind(c.student)
    .bind(c.hospital)
    .bind(c.level)
    .bind(c.visit_date)
    .bind(c.status)
    .bind(review_level)
    .bind(c.payout_cents)
    .bind(submitted)
    .bind(c.approved_at)
    .bind(c.handed_in_at)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    for (no, total, self_pay, status) in c.invoices {
        sqlx::query(
            "INSERT INTO invoices (case_id, invoice_no, total_cents, self_pay_cents, status, created_at, updated_at, invoice_date)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(id)
        .bind(*no)
        .bind(*total)
        .bind(*self_pay)
        .bind(*status)
        .bind(now)
        .bind(c.visit_date)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    id
}

struct Fixture {
    app: TestApp,
    finance: String,
    case_a: i64,
    case_b: i64,
}

/// Two students; in October 2026 case A (level 3, two approved invoices and a rejected one,
/// payout 1,234.56) and case B (level 1, completed and handed in, a formula-looking hospital
/// name); outside the filter a submitted case and a case approved in September.
async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let (_, finance) = app.user_with("finance1", &[Role::Finance]).await;
    let s1 = app
        .create_user("2025000001", "张三", &[Role::Student])
        .await;
    let s2 = app
        .create_user("2025000002", "李四", &[Role::Student])
        .await;
    let case_a = insert_case(
        &app,
        NewCase {
            student: s1,
            level: Some(3),
            approved_at: Some(at("2026-10-15", 10)),
            payout_cents: Some(123_456),
            invoices: &[
                ("INV-A1", 100_000, 20_000, "approved"),
                ("INV-A2", 80_050, 10_000, "approved"),
                ("INV-A3", 5_000, 0, "rejected"),
            ],
            ..NewCase::default()
        },
    )
    .await;
    let case_b = insert_case(
        &app,
        NewCase {
            student: s2,
            hospital: "=HYPERLINK(\"x\")社区医院",
            level: Some(1),
            status: "completed",
            visit_date: "2026-09-28",
            approved_at: Some(at("2026-10-31", 23)),
            payout_cents: Some(4_321),
            handed_in_at: Some(at("2026-11-03", 9)),
            invoices: &[("INV-B1", 6_000, 1_000, "approved")],
            ..NewCase::default()
        },
    )
    .await;
    insert_case(
        &app,
        NewCase {
            student: s1,
            status: "submitted",
            invoices: &[("INV-C1", 9_999, 0, "pending")],
            ..NewCase::default()
        },
    )
    .await;
    insert_case(
        &app,
        NewCase {
            student: s2,
            approved_at: Some(at("2026-09-30", 23)),
            payout_cents: Some(777),
            invoices: &[("INV-D1", 1_000, 0, "approved")],
            ..NewCase::default()
        },
    )
    .await;
    Fixture {
        app,
        finance,
        case_a,
        case_b,
    }
}

pub async fn download(app: &TestApp, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, resp.bytes().await.unwrap().to_vec())
}

pub(crate) fn workbook(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("a readable XLSX")
}

pub(crate) fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn num(d: &Data) -> f64 {
    match d {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("expected a number, got {other:?}"),
    }
}

pub(crate) fn cents(d: &Data) -> i64 {
    (num(d) * 100.0).round() as i64
}

const OCTOBER: &str = "from=2026-10-01&to=2026-10-31";

#[tokio::test]
async fn payouts_xlsx_reads_back_with_values_totals_and_chinese() {
    let f = fixture().await;
    let (status, ctype, bytes) = download(
        &f.app,
        &format!("/api/v1/reports/payouts.xlsx?{OCTOBER}"),
        &f.finance,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(ctype.contains("spreadsheetml"), "{ctype}");
    let mut book = workbook(bytes);
    assert_eq!(book.sheet_names(), vec!["报销明细".to_string()]);
    let range = book.worksheet_range("报销明细").unwrap();
    let rows: Vec<Vec<Data>> = range.rows().map(|r| r.to_vec()).collect();
    let header: Vec<String> = rows[0].iter().map(text).collect();
    assert_eq!(
        header,
        [
            "学号",
            "姓名",
            "班级",
            "手机号",
            "身份证号",
            "病历编号",
            "医院",
            "医院等级",
            "就诊日期",
            "通过日期",
            "发票号",
            "总金额",
            "自费金额",
            "医保金额",
            "报销金额",
            "状态",
            "现场确认日期",
            "开票日期"
        ]
    );
    // Header, three approved invoices (not the rejected one, not other months), totals.
    assert_eq!(rows.len(), 5, "{rows:?}");
    let a1 = &rows[1];
    assert_eq!(text(&a1[0]), "2025000001");
    assert_eq!(text(&a1[1]), "张三");
    assert_eq!(text(&a1[2]), "2024级1班");
    assert_eq!(text(&a1[3]), "138****8000", "finance sees the phone masked");
    assert_eq!(text(&a1[4]), "110***********002X");
    assert_eq!(text(&a1[5]), f.case_a.to_string());
    assert_eq!(text(&a1[6]), "北京协和医院");
    assert_eq!(text(&a1[7]), "三级");
    assert_eq!(text(&a1[8]), "2026-10-02");
    assert_eq!(text(&a1[9]), "2026-10-15");
    assert_eq!(text(&a1[10]), "INV-A1");
    assert_eq!(text(&a1[17]), "2026-10-02", "the invoice date, last");
    assert_eq!(cents(&a1[11]), 100_000);
    assert_eq!(cents(&a1[12]), 20_000);
    assert_eq!(cents(&a1[13]), 80_000);
    assert_eq!(cents(&a1[14]), 123_456);
    assert_eq!(text(&a1[15]), "已通过");
    assert_eq!(text(&a1[16]), "");
    let a2 = &rows[2];
    assert_eq!(text(&a2[10]), "INV-A2");
    assert_eq!(cents(&a2[11]), 80_050);
    assert_eq!(
        a2[14],
        Data::Empty,
        "a case's payout is on its first row only"
    );
    let b1 = &rows[3];
    assert_eq!(text(&b1[5]), f.case_b.to_string());
    assert_eq!(
        text(&b1[6]),
        "'=HYPERLINK(\"x\")社区医院",
        "formula-looking text is neutralised"
    );
    assert_eq!(text(&b1[7]), "一级");
    assert_eq!(text(&b1[9]), "2026-10-31", "approval date is the local day");
    assert_eq!(text(&b1[15]), "已完成");
    assert_eq!(text(&b1[16]), "2026-11-03");
    // Totals row: formulas, with cached values equal to the sums.
    let totals = &rows[4];
    assert_eq!(text(&totals[0]), "合计");
    assert_eq!(cents(&totals[11]), 186_050);
    assert_eq!(cents(&totals[12]), 31_000);
    assert_eq!(cents(&totals[13]), 155_050);
    assert_eq!(cents(&totals[14]), 127_777);
    let formulas = book.worksheet_formula("报销明细").unwrap();
    let formula_at =
        |row: u32, col: u32| formulas.get_value((row, col)).cloned().unwrap_or_default();
    assert_eq!(formula_at(4, 11), "SUM(L2:L4)");
    assert_eq!(formula_at(4, 14), "SUM(O2:O4)");
    // Money cells carry a yuan format with two decimals.
    let styles = book.worksheet_style("报销明细").unwrap();
    let money = styles
        .get((1, 11))
        .and_then(|s| s.number_format.as_ref())
        .map(|n| n.format_code.clone())
        .unwrap_or_default();
    assert!(money.contains("0.00") && money.contains('¥'), "{money}");
}

#[tokio::test]
async fn payouts_csv_has_bom_and_yuan_amounts() {
    let f = fixture().await;
    let (status, ctype, bytes) = download(
        &f.app,
        &format!("/api/v1/reports/payouts.csv?{OCTOBER}"),
        &f.finance,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "CSV starts with the BOM"
    );
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[0], "学号");
    assert_eq!(header[14], "报销金额");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][1], "张三");
    assert_eq!(&rows[0][3], "138****8000");
    assert_eq!(&rows[0][11], "1000.00");
    assert_eq!(&rows[0][13], "800.00");
    assert_eq!(&rows[0][14], "1234.56");
    assert_eq!(&rows[1][11], "800.50");
    assert_eq!(&rows[1][14], "");
    assert_eq!(&rows[2][6], "'=HYPERLINK(\"x\")社区医院");
    assert_eq!(&rows[2][14], "43.21");
    let paid: i64 = rows
        .iter()
        .filter(|r| !r[14].is_empty())
        .map(|r| r[14].replace('.', "").parse::<i64>().unwrap())
        .sum();
    assert_eq!(paid, 127_777);
}

#[tokio::test]
async fn english_headers_for_english_users() {
    let f = fixture().await;
    let (_, _, bytes) = download(
        &f.app,
        &format!("/api/v1/reports/payouts.xlsx?{OCTOBER}&lang=en"),
        &f.finance,
    )
    .await;
    let mut book = workbook(bytes);
    assert_eq!(book.sheet_names(), vec!["Payouts".to_string()]);
    let range = book.worksheet_range("Payouts").unwrap();
    assert_eq!(text(range.get((0, 0)).unwrap()), "Student ID");
    assert_eq!(text(range.get((1, 7)).unwrap()), "Level 3");
    assert_eq!(text(range.get((4, 0)).unwrap()), "Total");
}

#[tokio::test]
async fn open_range_exports_every_approved_case() {
    let f = fixture().await;
    let (_, _, bytes) = download(&f.app, "/api/v1/reports/payouts.csv", &f.finance).await;
    let rows = csv::Reader::from_reader(&bytes[3..]).records().count();
    assert_eq!(rows, 4, "three October invoices and the September one");
}

#[tokio::test]
async fn students_get_403_and_bad_dates_422() {
    let f = fixture().await;
    let (_, student) = f.app.user_with("2025000099", &[Role::Student]).await;
    let (_, reviewer) = f.app.user_with("rev1", &[Role::Reviewer1]).await;
    for path in [
        "/api/v1/reports/payouts.xlsx",
        "/api/v1/reports/payouts.csv",
        "/api/v1/reports/statistics.xlsx",
        "/api/v1/reports/statistics.csv",
    ] {
        assert_error(
            &f.app.get(path, &student).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert_error(
            &f.app.get(path, &reviewer).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert_error(
            &f.app.call(reqwest::Method::GET, path, None, None).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
        let bad = f
            .app
            .get(&format!("{path}?from=2026-02-30"), &f.finance)
            .await;
        assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_date");
        assert_eq!(bad.1["error"]["fields"]["from"], "not a YYYY-MM-DD date");
        assert_error(
            &f.app
                .get(&format!("{path}?from=2026-10-02&to=2026-10-01"), &f.finance)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_date",
        );
    }
    let (_, admin) = f.app.user_with("admin1", &[Role::Admin]).await;
    let (status, _, _) = download(&f.app, "/api/v1/reports/payouts.csv", &admin).await;
    assert_eq!(status, StatusCode::OK, "admins may export too");
}

#[tokio::test]
async fn statistics_xlsx_has_a_sheet_per_grouping_with_totals() {
    let f = fixture().await;
    let (status, _, bytes) = download(
        &f.app,
        &format!("/api/v1/reports/statistics.xlsx?{OCTOBER}"),
        &f.finance,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut book = workbook(bytes);
    assert_eq!(
        book.sheet_names(),
        vec!["按医院等级".to_string(), "按医院".into(), "按月份".into()]
    );
    let grid = |book: &mut Xlsx<Cursor<Vec<u8>>>, name: &str| -> Vec<Vec<String>> {
        book.worksheet_range(name)
            .unwrap()
            .rows()
            .map(|r| {
                r.iter()
                    .map(|d| match d {
                        Data::Float(_) | Data::Int(_) => format!("{:.2}", num(d)),
                        other => text(other),
                    })
                    .collect()
            })
            .collect()
    };
    let levels = grid(&mut book, "按医院等级");
    assert_eq!(
        levels[0],
        [
            "医院等级",
            "病历数",
            "发票数",
            "总金额",
            "医保金额",
            "报销金额"
        ]
    );
    assert_eq!(
        levels[1],
        ["一级", "1.00", "1.00", "60.00", "50.00", "43.21"]
    );
    assert_eq!(
        levels[2],
        ["三级", "1.00", "2.00", "1800.50", "1500.50", "1234.56"]
    );
    assert_eq!(
        levels[3],
        ["合计", "2.00", "3.00", "1860.50", "1550.50", "1277.77"]
    );
    let hospitals = grid(&mut book, "按医院");
    assert_eq!(hospitals.len(), 4);
    assert!(
        hospitals
            .iter()
            .any(|r| r[0] == "北京协和医院" && r[5] == "1234.56")
    );
    let months = grid(&mut book, "按月份");
    assert_eq!(
        months[1],
        ["2026-10", "2.00", "3.00", "1860.50", "1550.50", "1277.77"],
        "the case approved at 23:00 on 31 October (local) counts in October"
    );
    let formulas = book.worksheet_formula("按月份").unwrap();
    assert_eq!(
        formulas.get_value((2, 5)).cloned().unwrap_or_default(),
        "SUM(F2:F2)"
    );
}

#[tokio::test]
async fn statistics_csv_has_a_section_column() {
    let f = fixture().await;
    let (status, _, bytes) = download(
        &f.app,
        &format!("/api/v1/reports/statistics.csv?{OCTOBER}&lang=en"),
        &f.finance,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "Section", "Group", "Cases", "Invoices", "Total", "Covered", "Paid out"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let find = |section: &str, group: &str| {
        rows.iter()
            .find(|r| r[0] == section && r[1] == group)
            .cloned()
            .unwrap_or_else(|| panic!("no row {section}/{group} in {rows:?}"))
    };
    assert_eq!(
        find("By hospital level", "Level 3")[2..],
        ["1", "2", "1800.50", "1500.50", "1234.56"]
    );
    assert_eq!(
        find("By month", "2026-10")[2..],
        ["2", "3", "1860.50", "1550.50", "1277.77"]
    );
    assert_eq!(
        find("By hospital", "'=HYPERLINK(\"x\")社区医院")[6],
        "43.21"
    );
    assert_eq!(rows.len(), 2 + 2 + 1);
}

/// LibreOffice (Debian `libreoffice-calc-nogui`) opens the workbook: converted to CSV, the
/// Chinese text and the totals survive. Skips with a reason when LibreOffice is missing,
/// except under `CI=true`.
/// The first sheet of `xlsx` as LibreOffice (Debian `libreoffice-calc-nogui`) reads it,
/// converted to UTF-8 CSV. `None`, with the reason printed, when LibreOffice is missing — which
/// fails under `CI=true`.
pub async fn libreoffice_csv(xlsx: &[u8]) -> Option<String> {
    let Some(office) = ["libreoffice", "soffice"].into_iter().find(|bin| {
        std::process::Command::new(bin)
            .arg("--version")
            .output()
            .is_ok()
    }) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "LibreOffice is required under CI=true (Debian package libreoffice-calc-nogui)"
        );
        eprintln!("skipped: LibreOffice is not installed (Debian package libreoffice-calc-nogui)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("book.xlsx");
    std::fs::write(&input, xlsx).unwrap();
    let profile = format!("file://{}", dir.path().join("profile").display());
    let out = tokio::process::Command::new(office)
        .arg(format!("-env:UserInstallation={profile}"))
        .args([
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",
        ])
        .arg("--outdir")
        .arg(dir.path())
        .arg(&input)
        .output()
        .await
        .expect("run LibreOffice");
    let text = std::fs::read_to_string(dir.path().join("book.csv")).unwrap_or_else(|_| {
        panic!(
            "LibreOffice wrote no CSV: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Some(text)
}

/// LibreOffice opens the workbook: converted to CSV, the Chinese text and the totals survive.
#[tokio::test]
async fn libreoffice_opens_the_payouts_workbook() {
    let f = fixture().await;
    let (_, _, bytes) = download(
        &f.app,
        &format!("/api/v1/reports/payouts.xlsx?{OCTOBER}"),
        &f.finance,
    )
    .await;
    let Some(text) = libreoffice_csv(&bytes).await else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("学号") && lines[0].contains("报销金额"),
        "{text}"
    );
    assert!(
        lines[1].contains("张三") && lines[1].contains("北京协和医院"),
        "{text}"
    );
    let totals = lines.last().unwrap();
    assert!(totals.starts_with("合计"), "{text}");
    let digits: String = totals
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .collect();
    assert!(
        digits.contains("1,860.50") || digits.contains("1860.5"),
        "total of totals: {totals}"
    );
    assert!(
        digits.contains("1,277.77") || digits.contains("1277.77"),
        "total paid out: {totals}"
    );
}

// ---- Console imports ----

async fn upload(
    app: &TestApp,
    path: &str,
    token: &str,
    file_name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string());
    let form = reqwest::multipart::Form::new().part("file", part);
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

async fn count_users(app: &TestApp, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username LIKE $1")
        .bind(format!("{prefix}%"))
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

const ROSTER_OK: &str = "学号,姓名,班级,手机号,身份证号,状态\n\
    2026000001,王五,2026级1班,13912345678,11010519491231002X,在读\n\
    2026000002,赵六,2026级2班,,11010519491231002X,在读\n";

#[tokio::test]
async fn import_with_one_bad_row_applies_nothing_and_names_the_row() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.user_with("admin1", &[Role::Admin]).await;
    let csv = format!("{ROSTER_OK}2026000003,孙七,2026级3班,,12345,在读\n");
    let got = upload(
        &app,
        "/api/v1/admin/imports/students",
        &admin,
        "roster.csv",
        csv.into_bytes(),
    )
    .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "import_invalid");
    let errors = &got.1["result"]["report"]["errors"];
    assert_eq!(errors.as_array().unwrap().len(), 1, "{}", got.1);
    assert_eq!(errors[0]["line"], 4);
    assert_eq!(errors[0]["column"], "id_number");
    assert!(got.1["error"]["fields"]["line 4 id_number"].is_string());
    assert_eq!(got.1["result"]["report"]["applied"], false);
    assert_eq!(count_users(&app, "2026").await, 0, "nothing applied");
}

#[tokio::test]
async fn preview_shows_rows_without_applying_then_apply_imports() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.user_with("admin1", &[Role::Admin]).await;
    let (status, body) = upload(
        &app,
        "/api/v1/admin/imports/students?dry_run=true",
        &admin,
        "roster.csv",
        ROSTER_OK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["report"]["applied"], false);
    assert_eq!(body["report"]["rows"], 2);
    assert_eq!(body["columns"][1], "姓名");
    assert_eq!(body["preview"][0]["line"], 2);
    assert_eq!(body["preview"][0]["cells"][1], "王五");
    assert_eq!(
        body["preview"][0]["cells"][3], "139****5678",
        "the preview masks phone numbers"
    );
    assert_eq!(
        count_users(&app, "2026").await,
        0,
        "a preview changes nothing"
    );

    let (status, body) = upload(
        &app,
        "/api/v1/admin/imports/students",
        &admin,
        "roster.csv",
        ROSTER_OK.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["applied"], true);
    assert_eq!(body["report"]["created"], 2);
    assert_eq!(count_users(&app, "2026").await, 2);
}

/// A roster longer than one multi-row statement, half of it known already: every row lands once,
/// with its own fields and the student role, and the counts say what happened.
#[tokio::test]
async fn a_long_roster_lands_row_by_row_across_its_batches() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.user_with("admin1", &[Role::Admin]).await;
    let roster = |rows: std::ops::Range<usize>, changed: usize| {
        let mut csv = String::from("学号,姓名,班级,手机号,身份证号,状态\n");
        for i in rows {
            let class = if i == changed {
                "2027级9班".to_string()
            } else {
                format!("2027级{}班", i % 7 + 1)
            };
            csv.push_str(&format!(
                "{},王{}号,{class},,11010519491231002X,在读\n",
                2_027_000_000 + i,
                i
            ));
        }
        csv.into_bytes()
    };
    let path = "/api/v1/admin/imports/students";
    let (status, body) = upload(&app, path, &admin, "roster.csv", roster(0..230, usize::MAX)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["created"], 230);
    let (status, body) = upload(&app, path, &admin, "roster.csv", roster(0..650, 17)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["created"], 420);
    assert_eq!(body["report"]["updated"], 1);
    assert_eq!(body["report"]["unchanged"], 229);
    assert_eq!(count_users(&app, "2027").await, 650);
    let students: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id
         WHERE u.username LIKE '2027%' AND r.role = 'student'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(students, 650, "each row once, each a student");
    for (username, name, class) in [
        ("2027000017", "王17号", "2027级9班"),
        ("2027000229", "王229号", "2027级6班"),
        ("2027000230", "王230号", "2027级7班"),
        ("2027000649", "王649号", "2027级6班"),
    ] {
        let row: (String, String) =
            sqlx::query_as("SELECT name, class_name FROM users WHERE username = $1")
                .bind(username)
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        assert_eq!(row, (name.to_string(), class.to_string()), "{username}");
    }
}

#[tokio::test]
async fn coverage_imports_from_xlsx_and_only_admins_import() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.user_with("admin1", &[Role::Admin]).await;
    let (_, finance) = app.user_with("finance1", &[Role::Finance]).await;
    let student = app
        .create_user("2025000001", "张三", &[Role::Student])
        .await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_row(0, 0, ["学号", "参保年度"]).unwrap();
    sheet.write_string(1, 0, "2025000001").unwrap();
    sheet.write_number(1, 1, 2026).unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let forbidden = upload(
        &app,
        "/api/v1/admin/imports/coverage",
        &finance,
        "coverage.xlsx",
        bytes.clone(),
    )
    .await;
    assert_error(&forbidden, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = upload(
        &app,
        "/api/v1/admin/imports/coverage",
        &admin,
        "coverage.xlsx",
        bytes,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["created"], 1);
    let covered: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM coverage WHERE user_id = $1 AND year = 2026")
            .bind(student)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(covered, 1);
}

/// The page form: the session cookie and its CSRF token, as a browser sends them.
async fn page_session(app: &TestApp, user_id: i64, token: &str) -> (String, String) {
    let csrf: String = sqlx::query_scalar(
        "SELECT csrf_token FROM sessions WHERE user_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    (format!("medclaim_session={token}"), csrf)
}

#[tokio::test]
async fn console_import_page_previews_and_reports_bad_rows() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.user_with("admin1", &[Role::Admin]).await;
    let (cookie, csrf) = page_session(&app, admin_id, &admin).await;
    let page = app
        .client
        .get(app.url("/console/imports"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("enctype=\"multipart/form-data\"") && html.contains(&csrf));

    let bad = format!("{ROSTER_OK}2026000003,,2026级3班,,11010519491231002X,在读\n");
    let form = |csrf: &str, mode: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf.to_string())
            .text("kind", "students")
            .text("mode", mode.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bad.clone().into_bytes()).file_name("r.csv"),
            )
    };
    let resp = app
        .client
        .post(app.url("/console/imports"))
        .header("cookie", &cookie)
        .header("x-fragment", "1")
        .multipart(form(&csrf, "apply"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fragment = resp.text().await.unwrap();
    assert!(fragment.contains("未导入任何数据"), "{fragment}");
    assert!(fragment.contains("<td>4</td><td>name</td>"), "{fragment}");
    assert!(
        fragment.contains("王五"),
        "preview rows are shown: {fragment}"
    );
    assert_eq!(count_users(&app, "2026").await, 0);

    let forged = app
        .client
        .post(app.url("/console/imports"))
        .header("cookie", &cookie)
        .multipart(form("wrong-token-wrong-token-wrong-token", "apply"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

// ---- Dashboard ----

#[tokio::test]
async fn dashboard_numbers_match_the_fixtures() {
    let app = TestApp::spawn().await;
    let (staff_id, staff) = app.user_with("rev1", &[Role::Reviewer1]).await;
    let (_, student_token) = app.user_with("2025000009", &[Role::Student]).await;
    let s = app
        .create_user("2025000001", "张三", &[Role::Student])
        .await;
    let now = medclaim::db::now_ms();
    let hour = 3_600_000;
    for _ in 0..2 {
        insert_case(
            &app,
            NewCase {
                student: s,
                status: "submitted",
                first_submitted_at: Some(now - 5 * hour),
                ..NewCase::default()
            },
        )
        .await;
    }
    insert_case(
        &app,
        NewCase {
            student: s,
            status: "level2",
            first_submitted_at: Some(now - 50 * hour),
            ..NewCase::default()
        },
    )
    .await;
    for (level, payout) in [(3, 10_000), (3, 2_550), (1, 700)] {
        insert_case(
            &app,
            NewCase {
                student: s,
                level: Some(level),
                status: "booked",
                approved_at: Some(now - hour),
                first_submitted_at: Some(now - 2 * hour),
                payout_cents: Some(payout),
                ..NewCase::default()
            },
        )
        .await;
    }
    let tomorrow = (chrono::Utc::now().with_timezone(&TZ).date_naive() + chrono::Duration::days(1))
        .to_string();
    // Seats already taken, written directly like the cases above (bookings of these cases).
    for (start, booked) in [("09:00", 3), ("10:00", 1)] {
        sqlx::query(
            "INSERT INTO slots (slot_date, start_time, end_time, capacity, booked, created_at) VALUES ($1, $2, '11:00', 10, $3, 0)",
        )
        .bind(&tomorrow)
        .bind(start)
        .bind(booked)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }

    assert_error(
        &app.get("/api/v1/dashboard", &student_token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, d) = app.get("/api/v1/dashboard", &staff).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let weeks = d["claims_per_week"].as_array().unwrap();
    assert_eq!(weeks.len(), 12);
    let claims: i64 = weeks.iter().map(|w| w["claims"].as_i64().unwrap()).sum();
    assert_eq!(claims, 6);
    let level3 = d["payout_by_level"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"] == 3)
        .unwrap();
    assert_eq!(level3["cases"], 2);
    assert_eq!(level3["payout_cents"], 12_550);
    assert_eq!(d["backlog"][0]["level"], 1);
    assert_eq!(d["backlog"][0]["cases"], 2);
    assert_eq!(d["backlog"][0]["oldest_age_hours"], 5);
    assert_eq!(d["backlog"][1]["cases"], 1);
    assert_eq!(d["backlog"][1]["oldest_age_hours"], 50);
    let days = d["bookings_per_day"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    assert_eq!(days[1]["date"], tomorrow.as_str());
    assert_eq!(days[1]["booked"], 4);
    assert_eq!(days[1]["capacity"], 20);

    let (cookie, _) = page_session(&app, staff_id, &staff).await;
    let html = app
        .client
        .get(app.url("/console/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
    assert!(!html.contains("<script>"), "no inline script");
    assert!(
        html.contains("<td class=\"num\">125.50</td>"),
        "payout table in yuan"
    );
    assert!(html.contains(&format!("<td>{tomorrow}</td><td class=\"num\">4</td>")));
}

#[tokio::test]
async fn reports_page_offers_last_month_downloads() {
    let app = TestApp::spawn().await;
    let (finance_id, finance) = app.user_with("finance1", &[Role::Finance]).await;
    let (cookie, _) = page_session(&app, finance_id, &finance).await;
    let resp = app
        .client
        .get(app.url("/console/reports"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let today = chrono::Utc::now().with_timezone(&TZ).date_naive();
    let first_of_month = today - chrono::Duration::days(chrono::Datelike::day0(&today) as i64);
    let last_month_end = first_of_month - chrono::Duration::days(1);
    assert!(
        html.contains(&format!("name=\"to\" value=\"{last_month_end}\"")),
        "{html}"
    );
    for path in [
        "/api/v1/reports/payouts.xlsx",
        "/api/v1/reports/payouts.csv",
        "/api/v1/reports/statistics.xlsx",
        "/api/v1/reports/statistics.csv",
    ] {
        assert!(html.contains(&format!("formaction=\"{path}\"")), "{path}");
    }
    // A cookie session downloads with a plain GET, as the buttons do.
    let csv = app
        .client
        .get(app.url(&format!(
            "/api/v1/reports/payouts.csv?from={first_of_month}"
        )))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
}
