//! Cases and invoices: every rule with its error code, versions, payout preview, ownership,
//! text stored literally.

use super::*;

#[tokio::test]
async fn create_case_checks_coverage_and_visit_date() {
    let app = TestApp::spawn().await;
    let (_, uninsured) = app.user_with("2024009", &[Role::Student]).await;
    let (_, token) = student(&app, "2024001").await;
    let body = |d: String| json!({"hospital": "协和医院", "reason": "骨折", "visit_date": d});

    let got = app
        .post("/api/v1/cases", &uninsured, body(days_ago(1)))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "not_insured");
    let future = (today() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert_error(
        &app.post("/api/v1/cases", &token, body(future)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "visit_date_out_of_range",
    );
    assert_error(
        &app.post("/api/v1/cases", &token, body(days_ago(366))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "visit_date_out_of_range",
    );
    let bad = app
        .post("/api/v1/cases", &token, body("2025/01/02".into()))
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(bad.1["error"]["fields"]["visit_date"].is_string());
    let empty = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"hospital": " ", "reason": "x", "visit_date": days_ago(1)}),
        )
        .await;
    assert_error(&empty, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    let (_, list) = app.get("/api/v1/cases", &token).await;
    assert_eq!(list["items"], json!([]), "refused requests created nothing");

    let (status, c) = app.post("/api/v1/cases", &token, body(days_ago(365))).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    for field in [
        "id",
        "status",
        "hospital",
        "hospital_level",
        "reason",
        "visit_date",
        "records",
        "invoices",
        "payout_cents",
        "version",
        "timeline",
    ] {
        assert!(c.get(field).is_some(), "case lacks {field}: {c}");
    }
    assert_eq!(c["status"], "draft");
    assert_eq!(c["visit_date"], days_ago(365));
    assert_eq!(c["timeline"][0]["event"], "created");
    let (_, list) = app.get("/api/v1/cases", &token).await;
    assert_eq!(list["items"][0]["id"], c["id"]);

    // A staff member cannot open a claim.
    let (_, staff) = app.user_with("r1", &[Role::Reviewer1]).await;
    assert_error(
        &app.post("/api/v1/cases", &staff, body(days_ago(1))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn invoice_rules_each_with_its_code_and_nothing_changed() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let (other_id, other) = student(&app, "2024002").await;
    let case_id = new_case(&app, &token).await;
    let v0 = case(&app, &token, case_id).await["version"]
        .as_i64()
        .unwrap();

    for (total, self_pay, field) in [
        ("0", "0", "total_cents"),
        ("-5", "0", "total_cents"),
        ("12.5", "0", "total_cents"),
        ("abc", "0", "total_cents"),
        ("100", "-1", "self_pay_cents"),
    ] {
        let got = add_invoice(&app, &token, case_id, "F1", total, self_pay).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount");
        assert!(got.1["error"]["fields"][field].is_string(), "{}", got.1);
    }
    assert_error(
        &add_invoice(&app, &token, case_id, "F1", "100", "101").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_pay_exceeds_total",
    );
    let no_photo = Form::new()
        .text("invoice_no", "F1")
        .text("total_cents", "100")
        .text("self_pay_cents", "0");
    assert_error(
        &multipart(
            &app,
            Method::POST,
            &format!("/api/v1/cases/{case_id}/invoices"),
            &token,
            no_photo,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "photo_required",
    );

    // Duplicate: the number is in another student's active claim.
    let other_case = new_case(&app, &other).await;
    assert_eq!(
        add_invoice(&app, &other, other_case, "DUP-1", "100", "0")
            .await
            .0,
        StatusCode::CREATED
    );
    assert_error(
        &add_invoice(&app, &token, case_id, "DUP-1", "100", "0").await,
        StatusCode::CONFLICT,
        "duplicate_invoice",
    );
    // Blacklisted for anyone: a reviewer rejected another student's case holding BL-1 as fraud.
    let other_student = crate::fixtures::Person {
        id: other_id,
        token: other.clone(),
    };
    let fraud = app
        .submitted_case(
            &other_student,
            crate::fixtures::rated(Some(3)),
            &[crate::fixtures::inv("BL-1", 100, 0)],
        )
        .await;
    let (reviewer, _) = app.fixture_reviewers().await;
    let version = app.review_case(&reviewer, fraud.id).await["version"].clone();
    let (status, body) = app
        .post(
            &format!("/api/v1/review/cases/{}", fraud.id),
            &reviewer.token,
            json!({"version": version, "level": 1, "decision": "reject",
                   "reason": "伪造发票", "blacklist": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_error(
        &add_invoice(&app, &token, case_id, "BL-1", "100", "0").await,
        StatusCode::CONFLICT,
        "blacklisted_invoice",
    );
    let c = case(&app, &token, case_id).await;
    assert_eq!(c["invoices"], json!([]), "no refused invoice was stored");
    assert_eq!(
        c["version"].as_i64().unwrap(),
        v0,
        "refusals do not bump the version"
    );

    // Once the other claim is withdrawn, the number is free.
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{other_case}"),
            Some(&other),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (status, inv) = add_invoice(&app, &token, case_id, "DUP-1", "12345", "2345").await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    for field in [
        "id",
        "invoice_no",
        "total_cents",
        "self_pay_cents",
        "covered_cents",
        "status",
        "reason",
        "may_edit",
        "photo",
    ] {
        assert!(inv.get(field).is_some(), "invoice lacks {field}: {inv}");
    }
    assert_eq!(inv["covered_cents"], 10_000);
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["may_edit"], true);
    assert_eq!(
        case(&app, &token, case_id).await["version"]
            .as_i64()
            .unwrap(),
        v0 + 1
    );

    // The same number twice in one's own case is a duplicate too; editing keeps its own number.
    assert_error(
        &add_invoice(&app, &token, case_id, "DUP-1", "100", "0").await,
        StatusCode::CONFLICT,
        "duplicate_invoice",
    );
    let inv_id = inv["id"].as_i64().unwrap();
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"invoice_no": "DUP-1", "self_pay_cents": 0})),
        )
        .await;
    assert_eq!(patch.0, StatusCode::OK, "{}", patch.1);
    assert_eq!(patch.1["covered_cents"], 12_345);
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"total_cents": 10.5})),
        )
        .await;
    assert_error(&patch, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount");
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"self_pay_cents": 20000})),
        )
        .await;
    assert_error(
        &patch,
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_pay_exceeds_total",
    );
    assert_eq!(
        case(&app, &token, case_id).await["invoices"][0]["self_pay_cents"],
        0
    );
}

#[tokio::test]
async fn submit_needs_photo_and_invoice_then_locks_editing() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let submit = format!("/api/v1/cases/{case_id}/submit");
    assert_error(
        &app.post(&submit, &token, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incomplete_case",
    );
    let (status, inv) = add_invoice(&app, &token, case_id, "INV-1", "50000", "10000").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_error(
        &app.post(&submit, &token, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incomplete_case",
    );
    assert_eq!(case(&app, &token, case_id).await["status"], "draft");
    let (status, rec) = add_record(&app, &token, case_id).await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");

    let before = case(&app, &token, case_id).await;
    assert_eq!(before["actions"]["submit"], true);
    // Payout preview before submitting (rule 10): unrated hospital, (400.00 − 200.00) × 70%.
    assert_eq!(before["payout_preview"]["covered_cents"], 40_000);
    assert_eq!(before["payout_preview"]["payout_cents"], 14_000);

    let (status, c) = app.post(&submit, &token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "submitted");
    assert!(c["version"].as_i64() > before["version"].as_i64());
    assert_eq!(c["timeline"][1]["event"], "submitted");
    assert_eq!(c["actions"]["edit"], false);
    assert_eq!(c["invoices"][0]["may_edit"], false);

    let inv_id = inv["id"].as_i64().unwrap();
    let conflict =
        |got: (StatusCode, Value)| assert_error(&got, StatusCode::CONFLICT, "not_editable");
    conflict(
        app.call(
            Method::PATCH,
            &format!("/api/v1/cases/{case_id}"),
            Some(&token),
            Some(json!({"reason": "x"})),
        )
        .await,
    );
    conflict(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{case_id}"),
            Some(&token),
            None,
        )
        .await,
    );
    conflict(add_invoice(&app, &token, case_id, "INV-2", "100", "0").await);
    conflict(add_record(&app, &token, case_id).await);
    conflict(
        app.call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            Some(json!({"total_cents": 100})),
        )
        .await,
    );
    conflict(
        app.call(
            Method::DELETE,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&token),
            None,
        )
        .await,
    );
    conflict(app.post(&submit, &token, json!({})).await);
    let after = case(&app, &token, case_id).await;
    assert_eq!(
        after["version"], c["version"],
        "refused edits changed nothing"
    );
    assert_eq!(after["invoices"][0]["total_cents"], 50_000);
}

#[tokio::test]
async fn returned_case_edits_only_items_marked_may_edit_and_resubmits() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let (case_id, first) = ready_case(&app, &token, "R-1").await;
    let (_, second) = add_invoice(&app, &token, case_id, "R-2", "20000", "0").await;
    let second = second["id"].as_i64().unwrap();
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &token,
            json!({})
        )
        .await
        .0,
        StatusCode::OK
    );
    // A reviewer returns it: R-1 rejected for good, R-2 may be fixed.
    let (reviewer, _) = app.fixture_reviewers().await;
    for (invoice, reason, may_edit) in [
        (first, "非正规医疗发票", false),
        (second, "金额与发票不符", true),
    ] {
        let version = app.review_case(&reviewer, case_id).await["version"].clone();
        let (status, body) = app
            .post(
                &format!("/api/v1/review/invoices/{invoice}"),
                &reviewer.token,
                json!({"version": version, "level": 1, "decision": "reject",
                       "reason": reason, "may_edit": may_edit}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Every invoice decided: the case is returned to the student by itself.

    let c = case(&app, &token, case_id).await;
    assert_eq!(c["status"], "returned");
    assert_eq!(c["actions"]["edit"], true);
    assert_eq!(c["invoices"][0]["may_edit"], false);
    assert_eq!(c["invoices"][0]["reason"], "非正规医疗发票");
    assert_eq!(c["invoices"][1]["may_edit"], true);
    // The preview leaves the final rejection out, but counts the one that may be fixed.
    assert_eq!(c["payout_preview"]["covered_cents"], 20_000);

    assert_error(
        &app.call(
            Method::PATCH,
            &format!("/api/v1/invoices/{first}"),
            Some(&token),
            Some(json!({"total_cents": 1})),
        )
        .await,
        StatusCode::CONFLICT,
        "not_editable",
    );
    assert_error(
        &app.call(
            Method::DELETE,
            &format!("/api/v1/invoices/{first}"),
            Some(&token),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "not_editable",
    );
    let form = Form::new()
        .text("total_cents", "18000")
        .part("photo", file_part(jpeg(30, 30), "new.jpg", "image/jpeg"));
    let (status, fixed) = multipart(
        &app,
        Method::PATCH,
        &format!("/api/v1/invoices/{second}"),
        &token,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    assert_eq!(fixed["total_cents"], 18_000);
    assert_eq!(
        fixed["status"], "pending",
        "an edited invoice is pending again"
    );
    assert_eq!(fixed["reason"], Value::Null);
    let v = case(&app, &token, case_id).await["version"]
        .as_i64()
        .unwrap();
    assert!(v > c["version"].as_i64().unwrap());

    let (status, again) = app
        .post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "submitted");
    assert!(
        again["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "resubmitted")
    );
    assert_eq!(
        again["invoices"][0]["status"], "rejected",
        "a final rejection stays"
    );
}

#[tokio::test]
async fn version_bumps_on_every_change() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let version = |c: Value| c["version"].as_i64().unwrap();
    let mut last = version(case(&app, &token, case_id).await);
    let mut step = |v: i64, what: &str| {
        assert!(v > last, "{what} must bump the version ({v} <= {last})");
        last = v;
    };
    let (_, rec) = add_record(&app, &token, case_id).await;
    step(
        version(case(&app, &token, case_id).await),
        "adding a record",
    );
    let (_, inv) = add_invoice(&app, &token, case_id, "V-1", "100", "0").await;
    step(
        version(case(&app, &token, case_id).await),
        "adding an invoice",
    );
    let inv_id = inv["id"].as_i64().unwrap();
    app.call(
        Method::PATCH,
        &format!("/api/v1/invoices/{inv_id}"),
        Some(&token),
        Some(json!({"total_cents": 200})),
    )
    .await;
    step(
        version(case(&app, &token, case_id).await),
        "editing an invoice",
    );
    let (status, c) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/cases/{case_id}"),
            Some(&token),
            Some(json!({"hospital": "新医院", "hospital_level": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["hospital_level"], 3);
    step(version(c), "editing the case");
    app.call(
        Method::DELETE,
        &format!("/api/v1/cases/{case_id}/records/{}", rec["id"]),
        Some(&token),
        None,
    )
    .await;
    step(
        version(case(&app, &token, case_id).await),
        "removing a record",
    );
    app.call(
        Method::DELETE,
        &format!("/api/v1/invoices/{inv_id}"),
        Some(&token),
        None,
    )
    .await;
    let c = case(&app, &token, case_id).await;
    step(version(c.clone()), "removing an invoice");
    assert_eq!(c["invoices"], json!([]));
    assert_eq!(c["records"], json!([]));
}

#[tokio::test]
async fn payout_preview_counts_the_years_earlier_approved_cases() {
    let app = TestApp::spawn().await;
    let (student_id, token) = student(&app, "2024001").await;
    let (case_id, _) = ready_case(&app, &token, "P-1").await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/cases/{case_id}"),
        Some(&token),
        Some(json!({"hospital_level": 1})),
    )
    .await;
    // (400.00 − 200.00 deductible) × 90% = 180.00
    assert_eq!(
        case(&app, &token, case_id).await["payout_preview"]["payout_cents"],
        18_000
    );
    // An approved case this year already used the deductible and 49,950.00 of the cap:
    // (55,700.00 − 200.00) × 90% at a level-1 hospital, approved through the review.
    let me = crate::fixtures::Person {
        id: student_id,
        token: token.clone(),
    };
    let (r1, r2) = app.fixture_reviewers().await;
    let earlier = app
        .approved_case(
            &me,
            &r1,
            &r2,
            crate::fixtures::rated(Some(1)),
            &[crate::fixtures::inv("P-0", 5_570_000, 0)],
        )
        .await;
    let approved = case(&app, &token, earlier.id).await;
    assert_eq!(approved["payout_cents"], 4_995_000, "{approved}");
    let p = case(&app, &token, case_id).await["payout_preview"].clone();
    assert_eq!(p["deductible_left_cents"], 0);
    assert_eq!(p["after_ratio_cents"], 36_000);
    assert_eq!(
        p["payout_cents"], 5_000,
        "capped by what is left of the year's cap"
    );
    assert_eq!(p["cap_applied"], true);
    assert_eq!(p["policy_version"], 1);
}

#[tokio::test]
async fn another_students_case_invoice_and_file_answer_404() {
    let app = TestApp::spawn().await;
    let (_, owner) = student(&app, "2024001").await;
    let (_, other) = student(&app, "2024002").await;
    let (case_id, inv_id) = ready_case(&app, &owner, "O-1").await;
    let c = case(&app, &owner, case_id).await;
    let file_url = c["records"][0]["url"].as_str().unwrap().to_string();
    let record_id = c["records"][0]["id"].as_i64().unwrap();
    let missing = |got: (StatusCode, Value)| assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    missing(app.get(&format!("/api/v1/cases/{case_id}"), &other).await);
    missing(app.get("/api/v1/cases/999999", &other).await);
    missing(
        app.call(
            Method::PATCH,
            &format!("/api/v1/cases/{case_id}"),
            Some(&other),
            Some(json!({"reason": "mine"})),
        )
        .await,
    );
    missing(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{case_id}"),
            Some(&other),
            None,
        )
        .await,
    );
    missing(
        app.call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&other),
            Some(json!({"total_cents": 1})),
        )
        .await,
    );
    missing(
        app.call(
            Method::DELETE,
            &format!("/api/v1/invoices/{inv_id}"),
            Some(&other),
            None,
        )
        .await,
    );
    missing(
        app.call(
            Method::DELETE,
            &format!("/api/v1/cases/{case_id}/records/{record_id}"),
            Some(&other),
            None,
        )
        .await,
    );
    missing(
        app.post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &other,
            json!({}),
        )
        .await,
    );
    missing(add_record(&app, &other, case_id).await);
    missing(add_invoice(&app, &other, case_id, "X-1", "100", "0").await);
    missing(app.get(&file_url, &other).await);
    let (_, list) = app.get("/api/v1/cases", &other).await;
    assert_eq!(list["items"], json!([]));
    // Nothing changed for the owner. A draft is the student's alone; once submitted, a
    // reviewer may read it and its photos.
    assert_eq!(case(&app, &owner, case_id).await["version"], c["version"]);
    let (_, staff) = app.user_with("r1", &[Role::Reviewer1]).await;
    missing(app.get(&format!("/api/v1/cases/{case_id}"), &staff).await);
    missing(app.get(&file_url, &staff).await);
    let (status, _) = app
        .post(
            &format!("/api/v1/cases/{case_id}/submit"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/v1/cases/{case_id}"), &staff).await.0,
        StatusCode::OK
    );
    let resp = app
        .client
        .get(app.url(&file_url))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn text_is_stored_and_shown_literally() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let nasty = "Robert'); DROP TABLE cases; -- <script>alert(1)</script> \"quoted\" 50%_";
    let (status, c) = app
        .post(
            "/api/v1/cases",
            &token,
            json!({"hospital": nasty, "reason": nasty, "visit_date": days_ago(1)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let case_id = c["id"].as_i64().unwrap();
    let inv_no = "NO'1\"; DELETE FROM invoices; --<b>";
    let (status, inv) = add_invoice(&app, &token, case_id, inv_no, "100", "0").await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let c = case(&app, &token, case_id).await;
    assert_eq!(c["hospital"], nasty);
    assert_eq!(c["reason"], nasty);
    assert_eq!(c["invoices"][0]["invoice_no"], inv_no);
    let (status, thread) = app
        .post(
            "/api/v1/support/threads",
            &token,
            json!({"subject": nasty, "body": nasty}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(thread["messages"][0]["body"], nasty);

    let cookie = web_login(&app, "2024001").await;
    for path in [
        format!("/app/cases/{case_id}"),
        "/app".into(),
        format!("/app/support/{}", thread["id"]),
    ] {
        let html = page(&app, &cookie, &path).await;
        assert!(
            !html.contains("<script>alert(1)</script>"),
            "{path} must escape"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || html.contains("&#60;script&#62;"),
            "{path} shows the text"
        );
        assert!(!html.contains("<b>"), "{path}");
    }
}
