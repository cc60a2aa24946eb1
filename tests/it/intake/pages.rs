//! The student pages: the wizard in a real Chromium, CSRF, errors, both languages.

use super::*;

/// The whole journey in a real Chromium at phone size: sign in, new case, record photo (shrunk
/// in the browser), two invoices with a live validation message and a server-side refusal,
/// payout preview, submit, and the case shows as submitted.
#[tokio::test]
async fn wizard_in_chromium_at_phone_size() {
    let app = TestApp::spawn().await;
    let (student_id, _) = student(&app, "2024001").await;
    let Some(b) = crate::browser::Browser::start(&app.addr, 375, 812).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let big_photo = dir.path().join("record.jpg");
    let big = jpeg(3000, 2000);
    std::fs::write(&big_photo, &big).unwrap();
    let invoice_photo = dir.path().join("invoice.png");
    std::fs::write(&invoice_photo, png(400, 300)).unwrap();

    b.sign_in("2024001").await;
    assert_eq!(b.path().await, "/app");
    assert!(b.text("#greeting").await.contains("2024001"));
    b.click("#new-case").await;
    // Step 1: confirm the profile.
    assert!(b.text("dl.facts").await.contains("138****8000"));
    b.click("#profile-ok").await;
    // Step 2: the case.
    b.fill("#hospital", "北京大学第三医院").await;
    b.fill("#reason", "急性肠胃炎").await;
    let date = days_ago(2);
    b.script(&format!(
        "document.getElementById('visit_date').value = '{date}'; return null;"
    ))
    .await;
    b.click("#case-next").await;
    b.wait_for("location.pathname.endsWith('/records')").await;
    let case_path = b.path().await;
    let case_id: i64 = case_path.split('/').nth(3).unwrap().parse().unwrap();

    // Record photo: the browser shrinks it before upload.
    let input = b.el("#record-file").await;
    assert_eq!(
        input.attr("capture").await.unwrap().as_deref(),
        Some("environment")
    );
    assert_eq!(
        input.attr("accept").await.unwrap().as_deref(),
        Some("image/*")
    );
    input.send_keys(big_photo.to_str().unwrap()).await.unwrap();
    b.wait_for(&format!(
        "document.getElementById('record-file').files[0].size < {} && !document.getElementById('record-form').hasAttribute('data-busy')",
        big.len()
    ))
    .await;
    let sent = b
        .script("return document.getElementById('record-file').files[0].size;")
        .await;
    assert!(
        sent.as_u64().unwrap() < big.len() as u64,
        "photo shrunk before upload ({sent} bytes)"
    );
    b.click("#record-upload").await;
    b.wait_for("document.querySelectorAll('#record-list img').length === 1")
        .await;
    b.click("#records-next").await;
    b.wait_for("location.pathname.endsWith('/invoices')").await;

    // Invoice 1, with a live message for a self-paid part above the total.
    b.fill("#invoice_no", "INV-0001").await;
    b.fill("#total", "300").await;
    b.fill("#self_pay", "400").await;
    b.wait_for("document.querySelector('.field-error[data-for=self_pay]').textContent.length > 0")
        .await;
    assert_eq!(
        b.text(".field-error[data-for=self_pay]").await,
        "自费金额不能大于总金额。"
    );
    b.fill("#self_pay", "50.5").await;
    b.wait_for("document.querySelector('.field-error[data-for=self_pay]').textContent === ''")
        .await;
    assert_eq!(b.text("#covered").await, "249.50");
    b.el("#invoice-photo")
        .await
        .send_keys(invoice_photo.to_str().unwrap())
        .await
        .unwrap();
    b.wait_for("!document.getElementById('invoice-form').hasAttribute('data-busy')")
        .await;
    b.click("#invoice-save").await;
    b.wait_for("document.querySelectorAll('#invoice-list li').length === 1")
        .await;

    // Invoice 2: the same number is refused by the server with a clear message.
    b.fill("#invoice_no", "INV-0001").await;
    b.fill("#total", "200").await;
    b.el("#invoice-photo")
        .await
        .send_keys(invoice_photo.to_str().unwrap())
        .await
        .unwrap();
    b.wait_for("!document.getElementById('invoice-form').hasAttribute('data-busy')")
        .await;
    b.click("#invoice-save").await;
    b.wait_for("document.getElementById('form-error') !== null")
        .await;
    assert_eq!(
        b.text("#form-error").await,
        "该发票号码已在其他报销申请中。"
    );
    assert_eq!(
        b.el("#total").await.value().await.unwrap().as_deref(),
        Some("200"),
        "typed values kept"
    );
    b.fill("#invoice_no", "INV-0002").await;
    b.el("#invoice-photo")
        .await
        .send_keys(invoice_photo.to_str().unwrap())
        .await
        .unwrap();
    b.wait_for("!document.getElementById('invoice-form').hasAttribute('data-busy')")
        .await;
    b.click("#invoice-save").await;
    b.wait_for("document.querySelectorAll('#invoice-list li').length === 2")
        .await;
    b.click("#invoices-next").await;

    // Preview: covered 449.50, minus the 200.00 deductible, at the unrated ratio 70% = 174.65.
    b.wait_for("location.pathname.endsWith('/review')").await;
    assert_eq!(b.text("#payout-amount").await, "¥174.65");
    let overflow = b
        .script("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        overflow.as_u64().unwrap() <= 375,
        "no sideways scrolling at 375 px ({overflow})"
    );
    b.click("#submit-case").await;
    b.wait_for(&format!("location.pathname === '/app/cases/{case_id}'"))
        .await;
    assert_eq!(b.text("#case-status").await, "待一级审核");
    assert!(b.text("#timeline").await.contains("提交审核"));
    b.goto("/app").await;
    assert!(b.text("#my-cases").await.contains("待一级审核"));
    assert_eq!(
        b.console_errors().await,
        Vec::<String>::new(),
        "no JavaScript errors"
    );
    // The other student pages load without JavaScript errors too, in both languages.
    for path in [
        "/app/me",
        "/app/messages",
        "/app/cases/new",
        "/lang/en?next=/app",
        "/app/cases/new?step=2",
    ] {
        b.goto(path).await;
        b.wait_for("document.readyState === 'complete'").await;
    }
    b.goto(&format!("/app/cases/{case_id}")).await;
    assert_eq!(b.text("#case-status").await, "Awaiting level 1");
    // A mistake spotted right after submitting: take it back, then send it again.
    b.click("#recall-form button").await;
    b.wait_for("document.getElementById('case-status')?.classList.contains('status-draft')")
        .await;
    b.goto(&format!("/app/cases/{case_id}/review")).await;
    b.click("#submit-case").await;
    b.wait_for("document.getElementById('case-status')?.classList.contains('status-submitted')")
        .await;
    assert_eq!(b.text("#case-status").await, "Awaiting level 1");
    assert_eq!(
        b.console_errors().await,
        Vec::<String>::new(),
        "no JavaScript errors"
    );
    b.stop().await;

    let (status, n_inv, n_rec): (String, i64, i64) = sqlx::query_as(
        "SELECT status, (SELECT COUNT(*) FROM invoices WHERE case_id = c.id), (SELECT COUNT(*) FROM case_records WHERE case_id = c.id)
         FROM cases c WHERE id = $1 AND student_id = $2",
    )
    .bind(case_id)
    .bind(student_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), n_inv, n_rec), ("submitted", 2, 1));
    // The stored record photo is at most 4096 px and came shrunk from the browser (≤ 2560).
    let (w, h): (i64, i64) = sqlx::query_as("SELECT f.width, f.height FROM files f JOIN case_records r ON r.file_id = f.id WHERE r.case_id = $1")
        .bind(case_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((w, h), (2560, 1707));
}

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn pages_need_csrf_show_errors_and_speak_english() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let (_, _) = student(&app, "2024002").await;
    let cookie = web_login(&app, "2024001").await;
    let html = page(&app, &cookie, "/app/cases/new?step=2").await;
    let csrf = csrf_of(&html);
    let date = days_ago(1);
    let future = (today() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let fields = |csrf: &str, date: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("hospital", "协和医院".to_string()),
            ("hospital_level", String::new()),
            ("reason", "发热".to_string()),
            ("visit_date", date.to_string()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(app, &cookie, "/app/cases/new", &form).await
        }
    };
    // Without the right token nothing is created.
    assert_eq!(
        send(fields("wrong", &date)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/api/v1/cases", &token).await.1["items"], json!([]));
    // A future date: the form comes back with the message and the typed values.
    let resp = send(fields(&csrf, &future)).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("就诊日期不能晚于今天"), "{html}");
    assert!(html.contains("value=\"协和医院\""));
    // The right token creates the draft and goes on to the record photos.
    let resp = send(fields(&csrf, &date)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(to.ends_with("/records"), "{to}");
    let case_id = app.get("/api/v1/cases", &token).await.1["items"][0]["id"]
        .as_i64()
        .unwrap();

    // Another student's case page is a 404 page.
    let other = web_login(&app, "2024002").await;
    let resp = app
        .client
        .get(app.url(&format!("/app/cases/{case_id}")))
        .header(reqwest::header::COOKIE, &other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // English: every student page renders, with no missing translation keys.
    let english = format!("{cookie}; medclaim_lang=en");
    for path in [
        "/app".to_string(),
        "/app/cases/new".into(),
        "/app/cases/new?step=2".into(),
        format!("/app/cases/{case_id}"),
        format!("/app/cases/{case_id}/records"),
        format!("/app/cases/{case_id}/invoices"),
        format!("/app/cases/{case_id}/review"),
        "/app/me".into(),
        "/app/messages".into(),
    ] {
        let html = page(&app, &english, &path).await;
        assert!(html.contains("lang=\"en\""), "{path}");
        let zh = page(&app, &cookie, &path).await;
        // rust-i18n shows `<locale>.<key>` for a key missing in every language.
        for text in [&html, &zh] {
            assert!(
                !text.contains("zh-CN.") && !text.contains(">en."),
                "{path}: untranslated key"
            );
        }
        assert!(
            zh.contains("name=\"csrf\"") || !zh.contains("method=\"post\""),
            "{path}: forms carry CSRF"
        );
    }
    let html = page(&app, &english, "/app/cases/new?step=2").await;
    assert!(html.contains("Visit date"));
}

/// Every key of the Chinese strings has an English one and the other way round (a key missing
/// in English would silently show Chinese).
#[test]
fn english_strings_are_complete() {
    fn keys(text: &str) -> Vec<String> {
        let mut path: Vec<(usize, String)> = Vec::new();
        let mut out = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            let indent = line.len() - line.trim_start().len();
            let key = line.trim_start().split(':').next().unwrap().to_string();
            path.retain(|(i, _)| *i < indent);
            path.push((indent, key));
            out.push(
                path.iter()
                    .map(|(_, k)| k.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
        out.sort();
        out
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let zh = std::fs::read_to_string(format!("{root}/locales/intake.zh-CN.yml")).unwrap();
    let en = std::fs::read_to_string(format!("{root}/locales/intake.en.yml")).unwrap();
    assert_eq!(keys(&zh), keys(&en));
    assert!(keys(&zh).len() > 100);
}
