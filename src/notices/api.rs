//! `GET /api/v1/notices`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, NoticeView};
use crate::http::auth::CurrentUser;
use crate::http::{AppResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_notices))
}

#[derive(Serialize, ToSchema)]
pub struct NoticeList {
    pub items: Vec<NoticeView>,
    /// Always `null`: every valid notice fits in one answer.
    pub next_cursor: Option<String>,
}

/// Valid notices, highest priority then newest first.
#[utoipa::path(get, path = "/api/v1/notices", tag = "notices", security(("bearer" = [])),
    responses((status = 200, body = NoticeList), (status = 401, body = crate::http::error::ErrorBodySchema)))]
async fn list_notices(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> AppResult<Json<NoticeList>> {
    let items = store::valid_at(&state.db.pool, crate::db::now_ms(), 200).await?;
    Ok(Json(NoticeList {
        items,
        next_cursor: None,
    }))
}
