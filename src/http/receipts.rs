//! `GET /v1/consents/{id}/receipt`: a Kantara Consent Receipt v1.1 for a consent record.

use actix_web::{web, HttpResponse};

use super::auth::ReaderKey;
use super::error::{ApiError, Problem};
use crate::domain::conflict::Conflict;
use crate::state::AppState;
use crate::views::receipt::{build, NoReceipt};

#[utoipa::path(get, path = "/v1/consents/{id}/receipt", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 200, description = "Kantara Consent Receipt v1.1 (`version: KI-CR-v1.1.0`), with Consentry's evidence under `consentry`"),
              (status = 404, body = Problem),
              (status = 409, description = "`not_confirmed`: the address owner never confirmed this request", body = Problem)),
    security(("bearer" = [])))]
pub async fn receipt(
    caller: ReaderKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = crate::domain::ids::ConsentId::parse(&id)?;
    let sender_id = caller.sender_id.clone();
    let built = state
        .db
        .run(move |conn| build(conn, &sender_id, &id))
        .await?;
    match built {
        Ok(receipt) => Ok(HttpResponse::Ok().json(receipt)),
        Err(NoReceipt::NotFound) => Err(ApiError::NotFound),
        Err(NoReceipt::NotConfirmed) => Err(ApiError::Conflict(Conflict::NotConfirmed)),
    }
}
