//! The designated hospitals list (issue 17 item 7): kept by admins (API, console, CSV/XLSX
//! import), suggested to students with the level filled in, and checked for the reviewer.

use medclaim::http::auth::Role;
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error};
use crate::fixtures::{at, inv};
use crate::intake::{file_part, multipart};

async fn add(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/admin/hospitals-list", token, body).await
}

async fn import(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let mime = if name.ends_with(".xlsx") {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else {
        "text/csv"
    };
    let form = Form::new().part("file", file_part(bytes, name, mime));
    multipart(
        app,
        Method::POST,
        "/api/v1/admin/hospitals-list/import",
        token,
        form,
    )
    .await
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn admins_keep_the_list_and_everyone_signed_in_gets_suggestions() {
    let app = TestApp::spawn().await;
    let admin = app.person("office", &[Role::Admin]).await;
    let reviewer = app.person("r1", &[Role::Reviewer1]).await;
    let student = app.student("2024001").await;

    let (status, h) = add(
        &app,
        &admin.token,
        json!({"name": " 北京大学第三医院 ", "level": 3, "aliases": ["北医三院", "北医三院", "三院"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{h}");
    assert_eq!(h["name"], "北京大学第三医院");
    assert_eq!(h["aliases"], json!(["北医三院", "三院"]));
    let id = h["id"].as_i64().unwrap();
    let (status, _) = add(&app, &admin.token, json!({"name": "海淀医院", "level": 2})).await;
    assert_eq!(status, StatusCode::CREATED);

    // The same hospital under another width of bracket or as someone's alias: refused.
    assert_error(
        &add(&app, &admin.token, json!({"name": "北医三院", "level": 3})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_error(
        &add(
            &app,
            &admin.token,
            json!({"name": "北京大学第三医院", "level": 3}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_error(
        &add(&app, &admin.token, json!({"name": "某医院", "level": 4})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert_error(
        &add(&app, &admin.token, json!({"name": "  ", "level": 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    // Only admins change it; reviewers read it; students only get suggestions.
    assert_error(
        &add(&app, &reviewer.token, json!({"name": "某医院", "level": 1})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get("/api/v1/admin/hospitals-list", &student.token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, list) = app
        .get("/api/v1/admin/hospitals-list", &reviewer.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&list), ["北京大学第三医院", "海淀医院"]);

    // Suggestions match the name or an alias anywhere, ignoring width and spaces.
    let (status, got) = app
        .get(
            "/api/v1/hospitals-list?q=%E5%8C%97%E5%8C%BB",
            &student.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(names(&got), ["北京大学第三医院"]);
    assert_eq!(got["items"][0]["level"], 3);
    let (_, got) = app
        .get(
            "/api/v1/hospitals-list?q=%E5%8C%BB%E9%99%A2",
            &student.token,
        )
        .await;
    assert_eq!(names(&got).len(), 2);

    // Retired: no longer suggested, still listed with all=true; renamed and re-levelled.
    let (status, h) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/hospitals-list/{id}"),
            Some(&admin.token),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["active"], false);
    let (_, got) = app
        .get(
            "/api/v1/hospitals-list?q=%E5%8C%97%E5%8C%BB",
            &student.token,
        )
        .await;
    assert!(names(&got).is_empty(), "{got}");
    let (_, all) = app
        .get("/api/v1/admin/hospitals-list?all=true", &admin.token)
        .await;
    assert_eq!(names(&all).len(), 2);
    let (status, h) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/hospitals-list/{id}"),
            Some(&admin.token),
            Some(json!({"active": true, "level": 2, "name": "北京大学第三医院（本部）"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(
        (h["level"].as_i64(), h["active"].as_bool()),
        (Some(2), Some(true))
    );
    let (status, _) = app
        .call(
            Method::PATCH,
            "/api/v1/admin/hospitals-list/999999",
            Some(&admin.token),
            Some(json!({"level": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every change is in the audit log, old -> new.
    let mut summaries = Vec::new();
    for action in ["hospital_list.create", "hospital_list.update"] {
        let (_, page) = app
            .get(
                &format!("/api/v1/admin/audit?action={action}"),
                &admin.token,
            )
            .await;
        let mut got: Vec<String> = page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|e| e["summary"].as_str().unwrap().to_string())
            .collect();
        got.reverse();
        summaries.extend(got);
    }
    assert_eq!(summaries.len(), 4, "{summaries:?}");
    assert!(
        summaries[3].contains("level 3")
            && summaries[3].contains("-> 北京大学第三医院（本部） level 2"),
        "{summaries:?}"
    );
}

#[tokio::test]
async fn a_list_imports_from_csv_or_xlsx_all_rows_or_none() {
    let app = TestApp::spawn().await;
    let admin = app.person("office", &[Role::Admin]).await;
    let csv = "医院名称,等级,别名\n北京协和医院,三级甲等,协和医院\n海淀医院,二级,\n北京市海淀区学院路社区卫生服务中心,一级,\n";
    let (status, report) = import(&app, &admin.token, "list.csv", csv.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["created"].as_i64(), report["applied"].as_bool()),
        (Some(3), Some(true))
    );
    // The same file again changes nothing.
    let (_, report) = import(&app, &admin.token, "list.csv", csv.as_bytes().to_vec()).await;
    assert_eq!(
        (report["created"].as_i64(), report["unchanged"].as_i64()),
        (Some(0), Some(3)),
        "{report}"
    );

    // A bad level, a duplicate row and a missing name: each named, nothing applied.
    let bad = "医院名称,等级\n海淀医院,三级\n清华大学玉泉医院,特级\n海淀医院,二级\n,一级\n";
    let (status, body) = import(&app, &admin.token, "bad.csv", bad.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "import_invalid");
    let errors: Vec<String> = body["result"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["line"], e["column"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, ["3 level", "4 name", "5 name"], "{body}");
    let (_, list) = app
        .get(
            "/api/v1/admin/hospitals-list?q=%E6%B5%B7%E6%B7%80",
            &admin.token,
        )
        .await;
    let haidian = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "海淀医院")
        .unwrap();
    assert_eq!(haidian["level"], 2, "nothing applied: {list}");
    // A header without the level column is refused as a whole.
    let (status, _) = import(&app, &admin.token, "x.csv", b"name\nA\n".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // XLSX, with an update of one level and a new hospital.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in [
        ["医院名称", "等级", "别名"],
        ["海淀医院", "3", "海淀区医院"],
        ["北京积水潭医院", "三级", "积水潭医院、积水潭"],
    ]
    .iter()
    .enumerate()
    {
        for (c, cell) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, *cell).unwrap();
        }
    }
    let bytes = book.save_to_buffer().unwrap();
    let (status, report) = import(&app, &admin.token, "list.xlsx", bytes).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["created"].as_i64(), report["updated"].as_i64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let (_, list) = app.get("/api/v1/admin/hospitals-list", &admin.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    // Only admins import.
    let reviewer = app.person("r1", &[Role::Reviewer1]).await;
    let (status, _) = import(&app, &reviewer.token, "list.csv", csv.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_listed_hospital_sets_the_level_and_the_reviewer_sees_one_that_is_not() {
    let app = TestApp::spawn().await;
    let admin = app.person("office", &[Role::Admin]).await;
    let reviewer = app.person("r1", &[Role::Reviewer1]).await;
    let student = app.student("2024001").await;

    // Without a list, nothing is checked.
    let before = app
        .submitted_case(
            &student,
            at("北京大学人民医院", Some(2)),
            &[inv("H0", 10000, 0)],
        )
        .await;
    assert!(app.review_case(&reviewer, before.id).await["hospital_check"].is_null());

    let (status, _) = add(
        &app,
        &admin.token,
        json!({"name": "北京大学第三医院", "level": 3, "aliases": ["北医三院"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // An alias typed with a lower level: stored under the list's name and level.
    let listed = app
        .submitted_case(&student, at(" 北医三院 ", Some(1)), &[inv("H1", 10000, 0)])
        .await;
    let (_, case) = app
        .get(&format!("/api/v1/cases/{}", listed.id), &student.token)
        .await;
    assert_eq!(case["hospital"], "北京大学第三医院", "{case}");
    assert_eq!(case["hospital_level"], 3);
    let view = app.review_case(&reviewer, listed.id).await;
    assert_eq!(
        view["hospital_check"],
        json!({"designated": true, "listed_name": "北京大学第三医院", "listed_level": 3})
    );

    // Not on the list: flagged, never refused.
    let unlisted = app
        .submitted_case(&student, at("某民营诊所", Some(3)), &[inv("H2", 10000, 0)])
        .await;
    let view = app.review_case(&reviewer, unlisted.id).await;
    assert_eq!(view["hospital_check"]["designated"], false, "{view}");
    assert_eq!(view["hospital"], "某民营诊所");
    assert_eq!(view["hospital_level"], 3);
    // The case page says so in the flags; the earlier case whose hospital is now listed at
    // another level shows the difference.
    let cookie = crate::intake::web_login(&app, "r1").await;
    let page = crate::intake::page(
        &app,
        &cookie,
        &format!("/console/review/cases/{}", unlisted.id),
    )
    .await;
    assert!(page.contains("不在定点医院名单上"), "{page}");
    add(
        &app,
        &admin.token,
        json!({"name": "北京大学人民医院", "level": 3}),
    )
    .await;
    let page = crate::intake::page(
        &app,
        &cookie,
        &format!("/console/review/cases/{}", before.id),
    )
    .await;
    assert!(
        page.contains("名单上“北京大学人民医院”的等级为三级医院，病历填写的是二级医院"),
        "{page}"
    );
}

/// A student on a phone types the short name: the level is filled in from the list and the form
/// says which listed hospital it is; an admin imports and retires entries in the console.
#[tokio::test]
async fn the_wizard_fills_the_level_from_the_list_and_the_console_keeps_it() {
    let app = TestApp::spawn().await;
    let admin = app.person("office", &[Role::Admin]).await;
    app.student("2024001").await;
    add(
        &app,
        &admin.token,
        json!({"name": "北京积水潭医院", "level": 3, "aliases": ["积水潭医院"]}),
    )
    .await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    b.sign_in("2024001").await;
    b.goto("/app/cases/new?step=2").await;
    b.fill("#hospital", "积水潭医院").await;
    b.wait_for("document.getElementById('hospital_level').value === '3'")
        .await;
    assert!(
        b.text("#hospital-listed").await.contains("北京积水潭医院"),
        "{}",
        b.text("#hospital-listed").await
    );
    b.assert_accessible("case form with designated hospitals")
        .await;
    b.fill("#reason", "骨折复查").await;
    let date = crate::intake::days_ago(2);
    b.script(&format!(
        "document.getElementById('visit_date').value = '{date}'; return null;"
    ))
    .await;
    b.click("#case-next").await;
    b.wait_for("location.pathname.endsWith('/records')").await;
    let id: i64 = b.path().await.split('/').nth(3).unwrap().parse().unwrap();
    let (hospital, level): (String, i64) =
        sqlx::query_as("SELECT hospital, hospital_level FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((hospital.as_str(), level), ("北京积水潭医院", 3));
    b.stop().await;

    // The admin's console page: import a file, retire an entry in its row.
    let b = crate::browser::Browser::start(&app.addr, 1280, 900)
        .await
        .unwrap();
    b.sign_in("office").await;
    b.goto("/console/hospitals-list").await;
    b.assert_accessible("designated hospitals console").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.csv");
    std::fs::write(&file, "医院名称,等级\n海淀医院,二级\n").unwrap();
    b.el("#hospital-import input[type=file]")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.click("#hospital-import button[type=submit]").await;
    b.wait_for("!!document.getElementById('hospitals-import-result')")
        .await;
    assert!(
        b.text("#hospitals-import-result")
            .await
            .contains("新增 1 家")
    );
    let jst: i64 =
        sqlx::query_scalar("SELECT id FROM designated_hospitals WHERE name = '北京积水潭医院'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    b.click(&format!("tr[data-hospital='{jst}'] input[name=active]"))
        .await;
    b.click(&format!("tr[data-hospital='{jst}'] button[type=submit]"))
        .await;
    b.wait_for("location.search.includes('ok=saved')").await;
    let active: i64 = sqlx::query_scalar("SELECT active FROM designated_hospitals WHERE id = $1")
        .bind(jst)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(active, 0, "retired from the console");
    b.stop().await;
}
