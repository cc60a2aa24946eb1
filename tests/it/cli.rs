//! The command line: users, imports and audit verification, on the same databases.

use reqwest::StatusCode;

use crate::common::TestApp;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ROSTER: &str = "student_id,name,class,phone,id_number,status\n\
2024001,张三,2024级1班,13800138000,11010519491231002X,enrolled\n\
2024002,李四,2024级2班,,110105200001011238,在读\n";

fn valid_id(first17: &str) -> String {
    format!(
        "{first17}{}",
        medclaim::accounts::domain::check_char(first17)
    )
}

#[tokio::test]
async fn user_add_then_sign_in_and_passwd() {
    let app = TestApp::spawn().await;
    let out = app
        .cli(
            &[
                "user",
                "add",
                "--username",
                "boss",
                "--name",
                "Boss",
                "--role",
                "admin",
                "--role",
                "finance",
            ],
            Some("s3cret-pass\n"),
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"username": "boss", "password": "s3cret-pass"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["user"]["roles"],
        serde_json::json!(["admin", "finance"])
    );

    let out = app
        .cli(
            &[
                "user",
                "add",
                "--username",
                "boss",
                "--name",
                "Boss",
                "--role",
                "admin",
            ],
            Some("another-pass\n"),
        )
        .await;
    assert!(!out.status.success(), "duplicate user must fail");
    let out = app
        .cli(
            &[
                "user",
                "add",
                "--username",
                "x",
                "--name",
                "X",
                "--role",
                "root",
            ],
            Some("another-pass\n"),
        )
        .await;
    assert!(!out.status.success());
    let out = app
        .cli(
            &[
                "user",
                "add",
                "--username",
                "y",
                "--name",
                "Y",
                "--role",
                "admin",
            ],
            Some("short\n"),
        )
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));

    let out = app
        .cli(
            &["user", "passwd", "--username", "boss"],
            Some("brand-new-pass\n"),
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"username": "boss", "password": "brand-new-pass"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn import_with_bad_rows_applies_nothing_and_names_them() {
    let app = TestApp::spawn().await;
    let file = app.data_dir.join("roster.csv");
    let bad = format!(
        "student_id,name,class,phone,id_number,status\n\
         2024001,张三,1班,13800138000,11010519491231002X,enrolled\n\
         ,无学号,1班,,{},enrolled\n\
         2024003,王五,1班,,110105194912310021,enrolled\n\
         2024001,重复,1班,,{},enrolled\n\
         2024005,赵六,1班,12345,{},enrolled\n",
        valid_id("11010520000101123"),
        valid_id("11010520000202123"),
        valid_id("11010520000303123"),
    );
    std::fs::write(&file, bad).unwrap();
    let out = app
        .cli(&["import", "students", file.to_str().unwrap()], None)
        .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("line 3, column student_id"), "{err}");
    assert!(err.contains("line 4, column id_number"), "{err}");
    assert!(
        err.contains("line 5, column student_id: duplicate in file (first on line 2)"),
        "{err}"
    );
    assert!(err.contains("line 6, column phone"), "{err}");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(users, 0, "nothing may be applied");
}

#[tokio::test]
async fn import_is_idempotent_and_coverage_needs_students() {
    let app = TestApp::spawn().await;
    let file = app.data_dir.join("roster.csv");
    // With a UTF-8 BOM, as Excel writes it.
    std::fs::write(&file, format!("\u{feff}{ROSTER}")).unwrap();
    let out = app
        .cli(&["import", "students", file.to_str().unwrap()], None)
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("2 created, 0 updated, 0 unchanged"),
        "{}",
        stdout(&out)
    );
    let out = app
        .cli(&["import", "students", file.to_str().unwrap()], None)
        .await;
    assert!(
        stdout(&out).contains("0 created, 0 updated, 2 unchanged"),
        "{}",
        stdout(&out)
    );
    let no_password: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE password_hash IS NULL")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(no_password, 2, "imported students get no usable password");

    let cov = app.data_dir.join("coverage.csv");
    std::fs::write(
        &cov,
        "student_id,year\n2024001,2026\n2024002,二〇二六\n2099999,2026\n",
    )
    .unwrap();
    let out = app
        .cli(&["import", "coverage", cov.to_str().unwrap()], None)
        .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("line 3, column year: year is not a number"),
        "{err}"
    );
    assert!(
        err.contains("line 4, column student_id: no student"),
        "{err}"
    );
    std::fs::write(&cov, "student_id,year\n2024001,2026\n2024002,2026\n").unwrap();
    let out = app
        .cli(&["import", "coverage", cov.to_str().unwrap()], None)
        .await;
    assert!(stdout(&out).contains("2 created"), "{}", stdout(&out));
    let out = app
        .cli(&["import", "coverage", cov.to_str().unwrap()], None)
        .await;
    assert!(
        stdout(&out).contains("0 created, 0 updated, 2 unchanged"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn import_reads_xlsx() {
    let app = TestApp::spawn().await;
    let path = app.data_dir.join("roster.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["学号", "姓名", "班级", "手机号", "身份证号", "状态"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_number(1, 0, 2024007.0).unwrap();
    sheet.write_string(1, 1, "孙七").unwrap();
    sheet.write_string(1, 2, "2024级3班").unwrap();
    sheet.write_string(1, 3, "13900001111").unwrap();
    sheet.write_string(1, 4, "11010519491231002X").unwrap();
    sheet.write_string(1, 5, "在读").unwrap();
    book.save(&path).unwrap();
    let out = app
        .cli(&["import", "students", path.to_str().unwrap()], None)
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let name: String = sqlx::query_scalar("SELECT name FROM users WHERE username = '2024007'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(name, "孙七");
}

#[tokio::test]
async fn audit_verify_catches_edits_deletions_and_reordering() {
    let app = TestApp::spawn().await;
    let file = app.data_dir.join("roster.csv");
    std::fs::write(&file, ROSTER).unwrap();
    for _ in 0..2 {
        app.cli(&["import", "students", file.to_str().unwrap()], None)
            .await;
    }
    app.cli(
        &[
            "user",
            "add",
            "--username",
            "a1",
            "--name",
            "A",
            "--role",
            "admin",
        ],
        Some("password-1\n"),
    )
    .await;
    app.cli(
        &["user", "passwd", "--username", "a1"],
        Some("password-2\n"),
    )
    .await;
    let out = app.cli(&["audit", "verify"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("intact: 4 event(s)"),
        "{}",
        stdout(&out)
    );

    // Edited.
    let original: String = sqlx::query_scalar("SELECT summary FROM audit_events WHERE seq = 2")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET summary = 'nothing happened' WHERE seq = 2")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let out = app.cli(&["audit", "verify"], None).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("BROKEN at event 2"),
        "{}",
        stderr(&out)
    );
    sqlx::query("UPDATE audit_events SET summary = $1 WHERE seq = 2")
        .bind(original)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert!(app.cli(&["audit", "verify"], None).await.status.success());

    // Reordered: two events swap places.
    sqlx::query("UPDATE audit_events SET seq = -2 WHERE seq = 2")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET seq = 2 WHERE seq = 3")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET seq = 3 WHERE seq = -2")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let out = app.cli(&["audit", "verify"], None).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("BROKEN at event 2"),
        "{}",
        stderr(&out)
    );
    sqlx::query("UPDATE audit_events SET seq = -2 WHERE seq = 2")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET seq = 2 WHERE seq = 3")
        .execute(&app.db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET seq = 3 WHERE seq = -2")
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert!(app.cli(&["audit", "verify"], None).await.status.success());

    // Deleted in the middle, then at the tail.
    sqlx::query("DELETE FROM audit_events WHERE seq = 4")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let out = app.cli(&["audit", "verify"], None).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("tail deleted"), "{}", stderr(&out));
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let out = app.cli(&["audit", "verify"], None).await;
    assert!(
        stderr(&out).contains("BROKEN at event 2"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
}

#[tokio::test]
async fn cli_reports_failures_clearly() {
    let app = TestApp::spawn().await;
    let out = app
        .cli(&["import", "students", "/no/such/file.csv"], None)
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    let out = app
        .cli(
            &["user", "passwd", "--username", "ghost"],
            Some("long-enough-pw\n"),
        )
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no user named ghost"),
        "{}",
        stderr(&out)
    );
}
