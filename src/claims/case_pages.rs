//! The new-case wizard's first steps (confirm the profile, the case facts) and editing a case.

use crate::ids::CaseId;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::domain::{CaseFacts, RuleError};
use super::pages::{error_page, load, message};
use super::service;
use crate::accounts::store as users;
use crate::crypto::mask_phone;
use crate::http::auth::CsrfForm;
use crate::http::auth::CurrentUser;
use crate::http::web::{PageUser, Tr, render};
use crate::http::{AppError, AppState};

// ---- wizard step 1 and 2: profile, case facts ----

#[derive(Template)]
#[template(path = "student/confirm_profile.html")]
struct ConfirmProfile<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    step: u8,
    class_name: String,
    phone_masked: String,
}

#[derive(Template)]
#[template(path = "student/case_form.html")]
struct CaseForm<'a> {
    tr: Tr,
    user: &'a CurrentUser,
    tab: &'static str,
    step: u8,
    heading: String,
    action: String,
    submit_label: String,
    error: Option<String>,
    hospital: String,
    level_options: Vec<(String, String, bool)>,
    reason: String,
    visit_date: String,
    today: String,
    oldest: String,
    /// The designated hospitals: (name, level, other names).
    designated: Vec<(String, i64, String)>,
}

#[derive(Deserialize, Default)]
pub(super) struct CaseFields {
    #[serde(default)]
    hospital: String,
    #[serde(default)]
    hospital_level: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    visit_date: String,
}

impl CaseFields {
    fn facts(&self) -> Result<CaseFacts, RuleError> {
        let level = match self.hospital_level.trim() {
            "" => None,
            l => Some(l.parse::<i64>().map_err(|_| RuleError::Invalid {
                field: "hospital_level",
                why: "must be 0, 1, 2 or 3",
            })?),
        };
        CaseFacts::parse(&self.hospital, level, &self.reason, &self.visit_date)
    }
}

/// The designated hospitals a case form suggests (a university's list is far shorter).
const SUGGESTED_HOSPITALS: i64 = 500;

#[allow(clippy::too_many_arguments)]
async fn case_form<'a>(
    state: &AppState,
    tr: Tr,
    user: &'a CurrentUser,
    step: u8,
    action: String,
    fields: &CaseFields,
    error: Option<String>,
) -> CaseForm<'a> {
    let today = chrono::Utc::now()
        .with_timezone(&state.settings.time_zone)
        .date_naive();
    let oldest = today - chrono::Duration::days(state.settings.claim_window_days);
    let mut level_options = vec![(
        String::new(),
        tr.t("intake.level_unknown"),
        fields.hospital_level.is_empty(),
    )];
    for l in ["0", "1", "2", "3"] {
        level_options.push((
            l.into(),
            tr.t(&format!("intake.level_{l}")),
            fields.hospital_level == l,
        ));
    }
    let new = step > 0;
    // Suggestions are a help: a failure to read them leaves the plain text field.
    let designated =
        crate::hospitals::store::list(&state.db.pool, None, false, SUGGESTED_HOSPITALS)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|h| (h.name, h.level.get(), h.aliases.join("、")))
            .collect();
    CaseForm {
        designated,
        tr,
        user,
        tab: if new { "new" } else { "home" },
        step,
        heading: tr.t(if new {
            "intake.case_info"
        } else {
            "intake.edit_case"
        }),
        submit_label: tr.t(if new { "intake.next" } else { "intake.save" }),
        action,
        error,
        hospital: fields.hospital.clone(),
        level_options,
        reason: fields.reason.clone(),
        visit_date: fields.visit_date.clone(),
        today: today.format("%Y-%m-%d").to_string(),
        oldest: oldest.format("%Y-%m-%d").to_string(),
    }
}

#[derive(Deserialize)]
pub(super) struct StepQuery {
    step: Option<u8>,
}

pub(super) async fn new_case_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Query(q): Query<StepQuery>,
) -> Response {
    if q.step == Some(2) {
        let form = case_form(
            &state,
            tr,
            &user,
            2,
            "/app/cases/new".into(),
            &CaseFields::default(),
            None,
        )
        .await;
        return render(&form);
    }
    let row = match users::find_by_id(&state.db.pool, user.id).await {
        Ok(Some(row)) => row,
        Ok(None) => return error_page(tr, &user, AppError::not_found()),
        Err(e) => return error_page(tr, &user, e.into()),
    };
    render(&ConfirmProfile {
        tr,
        user: &user,
        tab: "new",
        step: 1,
        class_name: row.class_name.clone().unwrap_or_default(),
        phone_masked: users::open_phone(&state.keys, &row)
            .map(|p| mask_phone(&p))
            .unwrap_or_default(),
    })
}

pub(super) async fn new_case(
    State(state): State<AppState>,
    tr: Tr,
    CsrfForm { user, form: fields }: CsrfForm<CaseFields>,
) -> Response {
    let result = async { service::create_case(&state, &user, fields.facts()?).await }.await;
    match result {
        Ok(id) => Redirect::to(&format!("/app/cases/{id}/records")).into_response(),
        Err(e) => {
            let status = e.status;
            let form = case_form(
                &state,
                tr,
                &user,
                2,
                "/app/cases/new".into(),
                &fields,
                Some(message(&tr, &e)),
            )
            .await;
            (status, render(&form)).into_response()
        }
    }
}

pub(super) async fn edit_case_page(
    State(state): State<AppState>,
    tr: Tr,
    PageUser(user): PageUser,
    Path(id): Path<CaseId>,
) -> Response {
    match load(&state, &user, id).await {
        Ok(c) => {
            let fields = CaseFields {
                hospital: c.hospital,
                hospital_level: c.hospital_level.map(|l| l.to_string()).unwrap_or_default(),
                reason: c.reason,
                visit_date: c.visit_date,
            };
            render(
                &case_form(
                    &state,
                    tr,
                    &user,
                    0,
                    format!("/app/cases/{id}/edit"),
                    &fields,
                    None,
                )
                .await,
            )
        }
        Err(e) => error_page(tr, &user, e),
    }
}

pub(super) async fn edit_case(
    State(state): State<AppState>,
    tr: Tr,
    Path(id): Path<i64>,
    CsrfForm { user, form: fields }: CsrfForm<CaseFields>,
) -> Response {
    let result = async {
        load(&state, &user, CaseId::new(id)).await?;
        service::update_case(&state, &user, CaseId::new(id), fields.facts()?).await
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/app/cases/{id}")).into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => error_page(tr, &user, e),
        Err(e) => {
            let status = e.status;
            let form = case_form(
                &state,
                tr,
                &user,
                0,
                format!("/app/cases/{id}/edit"),
                &fields,
                Some(message(&tr, &e)),
            )
            .await;
            (status, render(&form)).into_response()
        }
    }
}
