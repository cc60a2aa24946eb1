//! The case lifecycle's one writer: `claims::store::advance` writes a status only while the
//! row is still in the status its caller read, a refusal changes nothing, and a status the
//! schema does not know is an error when read, never a default.

use medclaim::claims::store::advance;
use medclaim::claims::{CaseEvent, CaseStatus, InvoiceStatus, TransitionError};
use medclaim::db::Db;

use crate::common::TestApp;

async fn status_and_version(db: &Db, case_id: i64) -> (String, i64) {
    sqlx::query_as("SELECT status, version FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn try_advance(
    db: &Db,
    case_id: i64,
    from: CaseStatus,
    event: CaseEvent,
) -> Result<CaseStatus, TransitionError> {
    let mut tx = db.begin().await.unwrap();
    let result = advance(&mut tx, case_id, from, event).await.unwrap();
    tx.commit().await.unwrap();
    result
}

#[tokio::test]
async fn a_status_is_written_only_from_the_status_its_writer_read() {
    let app = TestApp::spawn().await;
    let student = app.student("2025300001").await;
    let case_id = app.an_approved_case(&student, 12_000).await.id;

    assert_eq!(
        try_advance(&app.db, case_id, CaseStatus::Approved, CaseEvent::Book).await,
        Ok(CaseStatus::Booked)
    );
    let booked = status_and_version(&app.db, case_id).await;
    assert_eq!(booked.0, "booked");

    // A second writer that still believes the case approved loses, and is told why: the case
    // is booked now.
    assert_eq!(
        try_advance(&app.db, case_id, CaseStatus::Approved, CaseEvent::Book).await,
        Err(TransitionError::AlreadyBooked)
    );
    // Reopening was allowed from what it read, not from what the case is now.
    assert_eq!(
        try_advance(&app.db, case_id, CaseStatus::Approved, CaseEvent::Reopen).await,
        Err(TransitionError::InvalidTransition)
    );
    // An event that would apply to both the read and the current status still loses the race.
    assert_eq!(
        try_advance(
            &app.db,
            case_id,
            CaseStatus::Approved,
            CaseEvent::InsurerPaid
        )
        .await,
        Err(TransitionError::Stale)
    );
    // A refusal by the rules themselves never reaches the row.
    assert_eq!(
        try_advance(&app.db, case_id, CaseStatus::Booked, CaseEvent::Withdraw).await,
        Err(TransitionError::NotEditable)
    );
    assert_eq!(status_and_version(&app.db, case_id).await, booked);

    assert_eq!(
        try_advance(&app.db, case_id, CaseStatus::Booked, CaseEvent::HandIn).await,
        Ok(CaseStatus::Completed)
    );
    assert_eq!(status_and_version(&app.db, case_id).await.0, "completed");
}

#[tokio::test]
async fn an_unknown_status_is_an_error_not_a_draft() {
    let app = TestApp::spawn().await;
    let read = |sql: &'static str| sqlx::query_scalar::<_, CaseStatus>(sql).fetch_one(&app.db.pool);
    assert_eq!(
        read("SELECT CAST('level2' AS TEXT)").await.unwrap(),
        CaseStatus::Level2
    );
    let err = read("SELECT CAST('settled' AS TEXT)").await.unwrap_err();
    assert!(err.to_string().contains("unknown case status"), "{err}");
    let invoice = sqlx::query_scalar::<_, InvoiceStatus>("SELECT CAST('void' AS TEXT)")
        .fetch_one(&app.db.pool)
        .await
        .unwrap_err();
    assert!(
        invoice.to_string().contains("unknown invoice status"),
        "{invoice}"
    );
}

#[tokio::test]
async fn an_unknown_hospital_level_is_an_error_not_a_guess() {
    use medclaim::policy::HospitalLevel;
    let app = TestApp::spawn().await;
    let read =
        |sql: &'static str| sqlx::query_scalar::<_, HospitalLevel>(sql).fetch_one(&app.db.pool);
    assert_eq!(
        read("SELECT CAST(3 AS BIGINT)").await.unwrap(),
        HospitalLevel::new(3).unwrap()
    );
    for sql in ["SELECT CAST(4 AS BIGINT)", "SELECT CAST(-1 AS BIGINT)"] {
        let err = read(sql).await.unwrap_err();
        assert!(err.to_string().contains("unknown hospital level"), "{err}");
    }
    // On the wire it is the bare number, and only 0–3 are read.
    assert_eq!(serde_json::to_string(&HospitalLevel::UNRATED).unwrap(), "0");
    assert!(serde_json::from_str::<HospitalLevel>("2").is_ok());
    assert!(serde_json::from_str::<HospitalLevel>("7").is_err());
}
