//! Extractors that authenticate a request and enforce the endpoint's role (API.md: `sender`
//! uses every `/v1` endpoint but audit; `auditor` only reads audit data, consents, receipts
//! and subjects).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::auth::{authenticate, Caller};
use crate::domain::api_key::Role;
use crate::state::AppState;

/// A key with role `sender`.
pub struct SenderKey(pub Arc<Caller>);

/// A key with role `sender` or `auditor`.
pub struct ReaderKey(pub Arc<Caller>);

/// A key with role `auditor`.
pub struct AuditorKey(pub Arc<Caller>);

macro_rules! role_extractor {
    ($name:ident, $allowed:expr) => {
        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let caller = caller(&req).await?;
                    if !$allowed.contains(&caller.role) {
                        return Err(ApiError::Forbidden);
                    }
                    Ok($name(caller))
                })
            }
        }

        impl Deref for $name {
            type Target = Caller;
            fn deref(&self) -> &Caller {
                &self.0
            }
        }
    };
}

role_extractor!(SenderKey, [Role::Sender]);
role_extractor!(ReaderKey, [Role::Sender, Role::Auditor]);
role_extractor!(AuditorKey, [Role::Auditor]);

async fn caller(req: &HttpRequest) -> Result<Arc<Caller>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("app state missing")))?;
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let client = super::observed::client_ip(state, req);
    Ok(authenticate(&state.db, &state.caches, &state.key_gate, bearer, client).await?)
}
