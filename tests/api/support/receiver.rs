//! A real HTTP server on loopback that receives webhooks: it keeps every delivery with its
//! headers, and can be stopped and started again on the same port (a receiver outage).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tokio::net::TcpSocket;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The headers as `reqwest`'s (http 1) map, for signature checks.
    pub fn header_map(&self) -> reqwest::header::HeaderMap {
        self.headers
            .iter()
            .map(|(k, v)| {
                (
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    reqwest::header::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }
}

type Log = Arc<Mutex<Vec<Delivery>>>;

pub struct WebhookReceiver {
    port: u16,
    log: Log,
    handle: Option<ServerHandle>,
    /// While stopped: the port, bound but not listening (connections are refused).
    held: Option<TcpSocket>,
}

async fn receive(req: HttpRequest, body: web::Bytes, log: web::Data<Log>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    log.lock().unwrap().push(Delivery {
        headers,
        body: body.to_vec(),
    });
    HttpResponse::NoContent().finish()
}

/// A socket on `port` (0 for a free one) with SO_REUSEPORT, so that a second one can hold
/// the port while the first still listens: the port is never free for another test.
fn bound(port: u16) -> TcpSocket {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.set_reuseport(true).unwrap();
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap();
    socket
}

fn serve(socket: TcpSocket, log: Log) -> (u16, ServerHandle) {
    let listener = socket.listen(64).unwrap().into_std().unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::new(log);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let log = Log::default();
        let (port, handle) = serve(bound(0), log.clone());
        Self {
            port,
            log,
            handle: Some(handle),
            held: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/consentry", self.port)
    }

    /// Stops listening: connections are refused until `restart`.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.held = Some(bound(self.port));
            handle.stop(false).await;
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn restart(&mut self) {
        let socket = self.held.take().unwrap_or_else(|| bound(self.port));
        let (_, handle) = serve(socket, self.log.clone());
        self.handle = Some(handle);
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries arrived; panics after a generous bound.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        for _ in 0..600 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "expected {n} webhook deliveries, got {}",
            self.received().len()
        );
    }
}
