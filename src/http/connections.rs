//! A limit on the connections one client address holds open, so that one client (a crawler,
//! a flood, a slow-body attack) cannot take every connection a worker serves. Counted when a
//! connection opens, released when it closes; a request on a connection over the limit
//! answers `429` and the connection is closed.

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;

use super::error::ApiError;

/// Open connections per client address, shared by every worker of one server.
pub struct ConnectionCounts {
    per_ip: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in the count; dropped with the connection.
struct Slot {
    counts: Arc<ConnectionCounts>,
    ip: IpAddr,
    over_limit: bool,
}

impl ConnectionCounts {
    /// `per_ip` 0 means no limit.
    pub fn new(per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            per_ip,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The server's `on_connect` hook: counts the connection in.
    pub fn on_connect(self: &Arc<Self>, io: &dyn Any, data: &mut Extensions) {
        if self.per_ip == 0 {
            return;
        }
        let Some(ip) = io
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .and_then(|s| s.peer_addr().ok())
            .map(|a| a.ip())
        else {
            return;
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        *count += 1;
        data.insert(Slot {
            counts: self.clone(),
            ip,
            over_limit: *count > self.per_ip,
        });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        crate::permits::count_down(&self.counts.open, &self.ip);
    }
}

/// Middleware: a request on a connection over its address's limit is answered `429` and its
/// connection closed.
pub async fn refuse_over_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if !req.conn_data::<Slot>().is_some_and(|slot| slot.over_limit) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let mut response = req.error_response(ApiError::RateLimited { retry_after: 1 });
    let head = response.response_mut().head_mut();
    head.set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(response)
}
