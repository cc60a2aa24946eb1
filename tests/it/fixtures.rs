//! Journeys as fixtures: the application driven through its HTTP API the way people use it,
//! answering typed handles. A student is put on the roster and covered by an administrator's
//! coverage import; a case is filled in, photographed and submitted by its student; reviewers
//! decide it through the review API; an administrator opens the slot a student books.
//!
//! Tests say *where* a case should be (`app.case_at_level2(..)`), not which rows that takes, so
//! a change to the tables touches this file only.
//!
//! Tests write rows directly only for states no operation can make now, each saying so where
//! it does: the past (slots already begun, cases approved last month for the reports,
//! back-dated timestamps and expired codes or sessions), hundreds of approved cases for the
//! booking storms (`booking::storm_case`), tampering with the audit chain or sealed columns,
//! and a partner's answer from before a rule existed.

use chrono::Datelike;
use hmac::{Hmac, KeyInit, Mac};
use medclaim::http::auth::Role;
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::TestApp;
use crate::intake::{file_part, multipart, today};

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: i64,
    pub token: String,
}

/// An invoice as the student types it: number, total and self-pay in cents.
#[derive(Clone, Copy, Debug)]
pub struct Inv<'a> {
    pub no: &'a str,
    pub total: i64,
    pub self_pay: i64,
    /// The photo: `None` a picture no other invoice has; `Some(n)` the same picture as every
    /// other invoice photographed with `n`.
    pub photo: Option<u32>,
}

pub fn inv(no: &str, total: i64, self_pay: i64) -> Inv<'_> {
    Inv {
        no,
        total,
        self_pay,
        photo: None,
    }
}

impl Inv<'_> {
    /// The same picture as every other invoice photographed with `seed`.
    pub fn photo(mut self, seed: u32) -> Self {
        self.photo = Some(seed);
        self
    }
}

/// A 64×48 JPEG whose picture is `seed`'s bits as black and white blocks: pictures of two seeds
/// differ after any re-encoding, pictures of one seed are the same.
pub fn photo_of(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        let bit = (y / 8) * 8 + x / 8; // 48 blocks of 8×8
        let on = bit < 32 && (seed >> bit) & 1 == 1;
        if on {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([0, 0, 0])
        }
    });
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    image::DynamicImage::ImageRgb8(img)
        .write_with_encoder(enc)
        .unwrap();
    out
}

/// Seeds for pictures nobody asked to share (high, so they never meet a test's own seeds).
fn fresh_seed() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0x4000_0000);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A case and its invoices, in the order given.
#[derive(Clone, Debug)]
pub struct Claim {
    pub id: i64,
    pub invoices: Vec<i64>,
}

/// What a student fills in on a new case.
#[derive(Clone, Debug)]
pub struct CaseForm<'a> {
    pub hospital: &'a str,
    /// 0 unrated, 1–3; `None` when the student does not know (a reviewer must set it).
    pub level: Option<i64>,
    pub reason: &'a str,
    /// Days before today.
    pub days_ago: i64,
}

impl Default for CaseForm<'_> {
    fn default() -> Self {
        CaseForm {
            hospital: "北京大学第三医院",
            level: None,
            reason: "急性肠胃炎",
            days_ago: 3,
        }
    }
}

/// A form at `hospital` of `level`, everything else as [`CaseForm::default`].
pub fn at(hospital: &str, level: Option<i64>) -> CaseForm<'_> {
    CaseForm {
        hospital,
        level,
        ..CaseForm::default()
    }
}

/// The form with a rated hospital of `level` (what most review tests need).
pub fn rated(level: Option<i64>) -> CaseForm<'static> {
    CaseForm {
        level,
        ..CaseForm::default()
    }
}

/// The administrator the fixtures act as (coverage imports, slots), one per application.
const FIXTURE_ADMIN: &str = "fixture-admin";
/// The two reviewers the fixtures decide with (four eyes: never the same person twice).
const FIXTURE_REVIEWER1: &str = "fixture-reviewer1";
const FIXTURE_REVIEWER2: &str = "fixture-reviewer2";

impl TestApp {
    /// A staff member (or anyone) with `roles`, signed in.
    pub async fn person(&self, username: &str, roles: &[Role]) -> Person {
        let (id, token) = self.user_with(username, roles).await;
        Person { id, token }
    }

    /// `person` is given `role` as well (as `medclaim` user administration does; the HTTP API has
    /// no route for it).
    pub async fn grant(&self, person: &Person, role: Role) {
        let mut tx = self.db.begin().await.unwrap();
        medclaim::accounts::store::add_role(&mut tx, person.id, role)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    /// A staff member the fixtures act as, made on first use and signed in again after.
    async fn fixture_staff(&self, username: &str, role: Role) -> Person {
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.db.pool)
            .await
            .unwrap();
        match existing {
            Some(id) => Person {
                id,
                token: self.login(username).await,
            },
            None => self.person(username, &[role]).await,
        }
    }

    /// The administrator the fixtures act as; made on first use.
    pub async fn fixture_admin(&self) -> Person {
        self.fixture_staff(FIXTURE_ADMIN, Role::Admin).await
    }

    /// The level-1 and level-2 reviewers the fixtures decide with; made on first use.
    pub async fn fixture_reviewers(&self) -> (Person, Person) {
        (
            self.fixture_staff(FIXTURE_REVIEWER1, Role::Reviewer1).await,
            self.fixture_staff(FIXTURE_REVIEWER2, Role::Reviewer2).await,
        )
    }

    /// A case of `student` with one invoice of `total` cents (a number no other invoice has) at
    /// a rated hospital, approved by the fixture reviewers: what a test that starts after the
    /// review needs. The approval notifies the student, as every approval does.
    pub async fn an_approved_case(&self, student: &Person, total: i64) -> Claim {
        let (r1, r2) = self.fixture_reviewers().await;
        let no = format!("FX-{}", fresh_seed());
        self.approved_case(student, &r1, &r2, rated(Some(3)), &[inv(&no, total, 0)])
            .await
    }

    /// An administrator imports coverage for `username` (on the roster) for `years`.
    pub async fn import_coverage(&self, username: &str, years: &[i64]) {
        let mut csv = String::from("student_id,year\n");
        for y in years {
            csv.push_str(&format!("{username},{y}\n"));
        }
        self.import_coverage_csv(csv).await;
    }

    /// An administrator imports coverage for `username` in `year`, paid by the insurer
    /// `insurer_id` under `policy_no` (the insurer adjudicates the student's claims of that year).
    pub async fn import_insured(
        &self,
        username: &str,
        year: i64,
        insurer_id: i64,
        policy_no: &str,
    ) {
        self.import_coverage_csv(format!(
            "student_id,year,insurer_id,policy_no\n{username},{year},{insurer_id},{policy_no}\n"
        ))
        .await;
    }

    /// An administrator imports the student roster `csv` (and applies it).
    pub async fn import_students_csv(&self, csv: String) {
        self.import_csv("/api/v1/admin/imports/students", csv).await;
    }

    async fn import_coverage_csv(&self, csv: String) {
        self.import_csv("/api/v1/admin/imports/coverage", csv).await;
    }

    async fn import_csv(&self, path: &str, csv: String) {
        let admin = self.fixture_admin().await;
        let form = Form::new().part(
            "file",
            file_part(csv.into_bytes(), "coverage.csv", "text/csv"),
        );
        let (status, body) = multipart(self, Method::POST, path, &admin.token, form).await;
        assert_eq!(status, StatusCode::OK, "import {path}: {body}");
    }

    /// A student (who may hold other `roles` too) on the roster, covered this year and the
    /// last, signed in.
    pub async fn student_with(&self, username: &str, roles: &[Role]) -> Person {
        self.covered(username, username, roles).await
    }

    /// A covered student with a `name` (as the roster spells it), signed in.
    pub async fn student_named(&self, username: &str, name: &str) -> Person {
        self.covered(username, name, &[]).await
    }

    async fn covered(&self, username: &str, name: &str, roles: &[Role]) -> Person {
        let mut all = vec![Role::Student];
        all.extend_from_slice(roles);
        let id = self.create_user(username, name, &all).await;
        let me = Person {
            id,
            token: self.login(username).await,
        };
        let year = i64::from(today().year());
        self.import_coverage(username, &[year - 1, year]).await;
        me
    }

    /// A student on the roster, covered this year and the last (by an administrator's import),
    /// signed in.
    pub async fn student(&self, username: &str) -> Person {
        self.student_with(username, &[]).await
    }

    /// A draft of `student` with a record photo and `invoices` (each with its photo), all
    /// uploaded through the API.
    pub async fn draft_case(
        &self,
        student: &Person,
        form: CaseForm<'_>,
        invoices: &[Inv<'_>],
    ) -> Claim {
        let visit = (today() - chrono::Duration::days(form.days_ago))
            .format("%Y-%m-%d")
            .to_string();
        let mut body =
            json!({"hospital": form.hospital, "reason": form.reason, "visit_date": visit});
        if let Some(l) = form.level {
            body["hospital_level"] = json!(l);
        }
        let (status, case) = self.post("/api/v1/cases", &student.token, body).await;
        assert_eq!(status, StatusCode::CREATED, "new case: {case}");
        let id = case["id"].as_i64().unwrap();
        let form = Form::new().part(
            "file",
            file_part(photo_of(fresh_seed()), "record.jpg", "image/jpeg"),
        );
        let (status, rec) = multipart(
            self,
            Method::POST,
            &format!("/api/v1/cases/{id}/records"),
            &student.token,
            form,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "record photo: {rec}");
        let mut ids = Vec::new();
        for i in invoices {
            let seed = i.photo.unwrap_or_else(fresh_seed);
            let form = Form::new()
                .text("invoice_no", i.no.to_string())
                .text("total_cents", i.total.to_string())
                .text("self_pay_cents", i.self_pay.to_string())
                .part(
                    "photo",
                    file_part(photo_of(seed), "invoice.jpg", "image/jpeg"),
                );
            let (status, got) = multipart(
                self,
                Method::POST,
                &format!("/api/v1/cases/{id}/invoices"),
                &student.token,
                form,
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "invoice {}: {got}", i.no);
            ids.push(got["id"].as_i64().unwrap());
        }
        Claim { id, invoices: ids }
    }

    /// The student submits (or resubmits) their case.
    pub async fn submit(&self, student: &Person, case: i64) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/v1/cases/{case}/submit"),
                &student.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "submit {case}: {body}");
        body
    }

    /// A case of `student` waiting for the first review.
    pub async fn submitted_case(
        &self,
        student: &Person,
        form: CaseForm<'_>,
        invoices: &[Inv<'_>],
    ) -> Claim {
        let claim = self.draft_case(student, form, invoices).await;
        self.submit(student, claim.id).await;
        claim
    }

    /// The review's view of a case (any staff token).
    pub async fn review_case(&self, staff: &Person, case: i64) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/review/cases/{case}"), &staff.token)
            .await;
        assert_eq!(status, StatusCode::OK, "review case {case}: {body}");
        body
    }

    /// `reviewer` approves the whole case at `level` (every pending invoice with it).
    pub async fn approve(&self, reviewer: &Person, case: i64, level: i64) -> Value {
        let version = self.review_case(reviewer, case).await["version"].clone();
        let (status, body) = self
            .post(
                &format!("/api/v1/review/cases/{case}"),
                &reviewer.token,
                json!({"version": version, "level": level, "decision": "approve"}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "approve {case} at level {level}: {body}"
        );
        body
    }

    /// `reviewer` returns the case at `level` for the student to fix, with `reason`.
    pub async fn return_case(
        &self,
        reviewer: &Person,
        case: i64,
        level: i64,
        reason: &str,
    ) -> Value {
        let version = self.review_case(reviewer, case).await["version"].clone();
        let (status, body) = self
            .post(
                &format!("/api/v1/review/cases/{case}"),
                &reviewer.token,
                json!({"version": version, "level": level, "decision": "reject", "reason": reason, "may_edit": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "return {case}: {body}");
        body
    }

    /// A submitted case (hospital rated `level`) that a first reviewer approved: it waits at
    /// level 2.
    pub async fn case_at_level2(
        &self,
        student: &Person,
        reviewer1: &Person,
        form: CaseForm<'_>,
        invoices: &[Inv<'_>],
    ) -> Claim {
        let claim = self.submitted_case(student, form, invoices).await;
        self.approve(reviewer1, claim.id, 1).await;
        claim
    }

    /// A case approved by two different reviewers through the review API, with its payout.
    pub async fn approved_case(
        &self,
        student: &Person,
        reviewer1: &Person,
        reviewer2: &Person,
        form: CaseForm<'_>,
        invoices: &[Inv<'_>],
    ) -> Claim {
        let claim = self
            .case_at_level2(student, reviewer1, form, invoices)
            .await;
        self.approve(reviewer2, claim.id, 2).await;
        claim
    }

    /// An administrator opens a slot through `POST /api/v1/admin/slots`; answers its id.
    pub async fn open_slot(&self, date: &str, start: &str, end: &str, capacity: i64) -> i64 {
        let admin = self.fixture_admin().await;
        let (status, body) = self
            .post(
                "/api/v1/admin/slots",
                &admin.token,
                json!({"date": date, "start": start, "end": end, "capacity": capacity}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "open slot: {body}");
        body["id"].as_i64().unwrap()
    }

    /// The student books `slot` to hand in the originals of `case`; answers the booking.
    pub async fn book(&self, student: &Person, slot: i64, case: i64) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/bookings",
                &student.token,
                json!({"slot_id": slot, "case_id": case}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "book {slot} for {case}: {body}"
        );
        body
    }

    /// A case approved by two reviewers whose student booked `slot` for the hand-in; answers
    /// the case and the booking.
    pub async fn booked_case(
        &self,
        student: &Person,
        reviewers: (&Person, &Person),
        form: CaseForm<'_>,
        invoices: &[Inv<'_>],
        slot: i64,
    ) -> (Claim, Value) {
        let claim = self
            .approved_case(student, reviewers.0, reviewers.1, form, invoices)
            .await;
        let booking = self.book(student, slot, claim.id).await;
        (claim, booking)
    }

    /// A registered hospital pushes a signed visit bundle through the gateway
    /// (`POST /api/v1/gateway/visits`), as its system does; answers the new visit.
    pub async fn pushed_visit(&self, hospital: &Creds, bundle: &str) -> Value {
        let (status, body) = send(self, "/api/v1/gateway/visits", hospital, bundle).await;
        assert_eq!(status, StatusCode::CREATED, "pushed visit: {body}");
        body
    }
}

// Signed partner calls: what a hospital's or insurer's system sends.

/// A registered partner's credentials.
pub struct Creds {
    pub id: i64,
    pub key_id: String,
    pub secret: String,
}

/// HMAC-SHA256(secret, "METHOD\npath\nts\nnonce\nbody") as lowercase hex, computed here
/// independently.
pub fn signature_for(
    secret: &str,
    method: &str,
    path: &str,
    ts: i64,
    nonce: &str,
    body: &str,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{method}\n{path}\n{ts}\n{nonce}\n{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Now, in Unix seconds (the signature's timestamp).
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A nonce no call has used.
pub fn fresh_nonce() -> String {
    hex::encode(rand::random::<[u8; 12]>())
}

/// Posts `body` signed as given; answers status and JSON.
pub async fn post_signed(
    app: &TestApp,
    path: &str,
    key_id: &str,
    ts: i64,
    nonce: &str,
    sig: &str,
    body: &str,
) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(app.url(path))
        .header("content-type", "application/fhir+json")
        .header("X-Medclaim-Key", key_id)
        .header("X-Medclaim-Timestamp", ts.to_string())
        .header("X-Medclaim-Nonce", nonce)
        .header("X-Medclaim-Signature", sig)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Posts `body` correctly signed now with a fresh nonce.
pub async fn send(app: &TestApp, path: &str, creds: &Creds, body: &str) -> (StatusCode, Value) {
    let (ts, nonce) = (now(), fresh_nonce());
    let sig = signature_for(&creds.secret, "POST", path, ts, &nonce, body);
    post_signed(app, path, &creds.key_id, ts, &nonce, &sig, body).await
}

/// An administrator registers a partner at `path`; answers its credentials.
pub async fn register(app: &TestApp, token: &str, path: &str, body: Value) -> Creds {
    let (status, got) = app.post(path, token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    Creds {
        id: got["id"].as_i64().unwrap(),
        key_id: got["key_id"].as_str().unwrap().to_string(),
        secret: got["secret"].as_str().unwrap().to_string(),
    }
}
