//! Money at final approval: the policy an administrator versions, and payouts that share the
//! year's deductible and cap, recomputed on reopen.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::common::{TestApp, assert_error};
use crate::fixtures::inv;

async fn put_policy(
    app: &TestApp,
    admin: &str,
    ratios: [i64; 4],
    deductible: i64,
    cap: i64,
) -> Value {
    let (st, b) = app
        .call(
            Method::PUT,
            "/api/v1/admin/policy",
            Some(admin),
            Some(json!({"ratios_bp": {"0": ratios[0], "1": ratios[1], "2": ratios[2], "3": ratios[3]},
                        "deductible_cents": deductible, "annual_cap_cents": cap})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b
}

/// Takes a submitted case through both levels; answers the approved case.
async fn approve_fully(app: &TestApp, t: &Team, case: i64) -> Value {
    let v = version(app, &t.r1.token, case).await;
    let (_, b) = decide_case(
        app,
        &t.r1.token,
        case,
        json!({"version": v, "level": 1, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "level2", "{b}");
    let (_, b) = decide_case(
        app,
        &t.r2.token,
        case,
        json!({"version": b["version"], "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(b["status"], "approved", "{b}");
    b
}

#[tokio::test]
async fn policy_api_validates_and_versions() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (st, p) = app.get("/api/v1/admin/policy", &t.admin.token).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(p["version"], 1);
    assert_eq!(
        p["ratios_bp"],
        json!({"0": 7000, "1": 9000, "2": 8500, "3": 8000})
    );
    assert_eq!(p["deductible_cents"], 20_000);
    assert_error(
        &app.get("/api/v1/admin/policy", &t.r1.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let bad = |ratios: Value, d: i64| json!({"ratios_bp": ratios, "deductible_cents": d, "annual_cap_cents": 100});
    let put = |b: Value| {
        app.call(
            Method::PUT,
            "/api/v1/admin/policy",
            Some(&t.admin.token),
            Some(b),
        )
    };
    let r = put(bad(json!({"0": 1, "1": 1, "2": 1, "3": 10_001}), 0)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_ratio");
    assert_eq!(r.1["error"]["fields"]["ratios_bp.3"], "0–10000");
    assert_error(
        &put(bad(json!({"0": 1, "1": 1, "2": 1}), 0)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ratio",
    );
    assert_error(
        &put(bad(json!({"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}), 0)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_ratio",
    );
    assert_error(
        &put(bad(json!({"0": 1, "1": 1, "2": 1, "3": 1}), -1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
    );
    assert_error(
        &put(json!({"ratios_bp": {}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (st, _) = app
        .call(
            Method::PUT,
            "/api/v1/admin/policy",
            Some(&t.r2.token),
            Some(bad(json!({"0": 1, "1": 1, "2": 1, "3": 1}), 0)),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, p) = app.get("/api/v1/admin/policy", &t.admin.token).await;
    assert_eq!(p["version"], 1, "refusals changed nothing");
    let p = put_policy(
        &app,
        &t.admin.token,
        [5000, 6000, 7000, 8000],
        10_000,
        1_000_000,
    )
    .await;
    assert_eq!(p["version"], 2);
    let (_, p) = app.get("/api/v1/admin/policy", &t.admin.token).await;
    assert_eq!(p["ratios_bp"]["1"], 6000);
    assert_eq!(p["annual_cap_cents"], 1_000_000);
}

#[tokio::test]
async fn payout_shares_deductible_and_cap_across_the_year_and_reopen_recomputes() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    // Deductible 200.00, cap 1000.00, level 1 = 90%.
    put_policy(
        &app,
        &t.admin.token,
        [7000, 9000, 8500, 8000],
        20_000,
        100_000,
    )
    .await;
    // Case 1: 150.00 covered — all of it eats the deductible, payout 0.
    let (c1, _) = submitted(&app, &t.student, Some(1), &[inv("P1", 18_000, 3_000)]).await;
    let b = approve_fully(&app, &t, c1).await;
    assert_eq!(b["payout_cents"], 0);
    assert_eq!(b["payout_breakdown"]["deductible_used_cents"], 15_000);
    assert_eq!(b["policy_version"], 2);
    // Case 2: 1000.00 covered — 50.00 deductible left: (1000 − 50) × 90% = 855.00.
    let (c2, _) = submitted(&app, &t.student, Some(1), &[inv("P2", 100_000, 0)]).await;
    let b = approve_fully(&app, &t, c2).await;
    assert_eq!(b["payout_cents"], 85_500);
    assert_eq!(b["payout_breakdown"]["deductible_left_cents"], 5_000);
    // Case 3: 500.00 covered — 450.00 after ratio, but only 145.00 of the cap is left.
    let (c3, _) = submitted(&app, &t.student, Some(1), &[inv("P3", 50_000, 0)]).await;
    let b = approve_fully(&app, &t, c3).await;
    assert_eq!(b["payout_cents"], 14_500);
    assert_eq!(b["payout_breakdown"]["cap_applied"], true);
    assert_eq!(b["payout_breakdown"]["cap_left_cents"], 14_500);
    // Another year is separate: another student's usage too.
    let other = app.student("2024002").await;
    let (c4, _) = submitted(&app, &other, Some(3), &[inv("P4", 10_001, 0)]).await;
    let b = approve_fully(&app, &t, c4).await;
    // (100.01 − 100.01 deductible) → 0; policy 2 level 3 = 80%.
    assert_eq!(b["payout_cents"], 0);

    // Reopen case 2 (rule 11): level 2 again, payout superseded and recomputed under the new policy.
    assert_error(
        &app.post(
            &format!("/api/v1/review/cases/{c2}/reopen"),
            &t.r1.token,
            json!({"version": 1, "reason": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let v = version(&app, &t.admin.token, c2).await;
    let (st, b) = app
        .post(
            &format!("/api/v1/review/cases/{c2}/reopen"),
            &t.admin.token,
            json!({"version": v, "reason": "金额复核"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "level2");
    assert!(b["payout_cents"].is_null());
    let log = b["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(log["result"], "reopen");
    assert_eq!(log["changes"]["payout_cents"]["old"], 85_500);
    // Reopening what is not approved is not a transition.
    assert_error(
        &app.post(
            &format!("/api/v1/review/cases/{c2}/reopen"),
            &t.admin.token,
            json!({"version": b["version"], "reason": "x"}),
        )
        .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    );
    put_policy(
        &app,
        &t.admin.token,
        [7000, 10_000, 8500, 8000],
        20_000,
        1_000_000,
    )
    .await;
    let (st, b) = decide_case(
        &app,
        &t.r2.token,
        c2,
        json!({"version": b["version"], "level": 2, "decision": "approve"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Usage now: c1 (deductible 150.00, paid 0) and c3 (paid 145.00): (1000 − 50) × 100% = 950.00
    assert_eq!(b["payout_cents"], 95_000);
    assert_eq!(b["policy_version"], 3);
}
