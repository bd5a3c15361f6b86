//! Prometheus text metrics: requests and latency by route, and pool usage. Per instance by nature
//! (Prometheus scrapes each instance), so in-process state is right here.
//!
//! Served on the separate `--metrics-addr` listener ([`listener_app`], off by default) and, on the main
//! listener, only to API tokens allowed to read metrics (the route lives with the other signed-in routes in
//! `home`). Route names and pool figures tell an attacker what the application is and how busy it is.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

#[derive(Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

impl HttpMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.entry((method.to_string(), route.to_string(), status)).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self, pool_size: u32, pool_idle: usize) -> String {
        use std::fmt::Write;
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = String::new();
        out.push_str("# HELP loanfloor_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE loanfloor_http_requests_total counter\n");
        for ((m, r, st), s) in &map {
            let _ = writeln!(
                out,
                "loanfloor_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP loanfloor_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE loanfloor_http_request_duration_seconds histogram\n");
        for ((m, r, st), s) in &map {
            let labels = format!("method=\"{m}\",route=\"{r}\",status=\"{st}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "loanfloor_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(out, "loanfloor_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "loanfloor_http_request_duration_seconds_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(out, "loanfloor_http_request_duration_seconds_count{{{labels}}} {}", s.count);
        }
        out.push_str("# HELP loanfloor_db_pool_connections Connections in this instance's pool.\n");
        out.push_str("# TYPE loanfloor_db_pool_connections gauge\n");
        let _ = writeln!(out, "loanfloor_db_pool_connections{{state=\"open\"}} {pool_size}");
        let _ = writeln!(out, "loanfloor_db_pool_connections{{state=\"idle\"}} {pool_idle}");
        out
    }
}

/// Route layer: times each matched request.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    state.http_metrics.observe(&method, &route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

/// The `--metrics-addr` listener's whole application: `GET /metrics`, nothing else, no sign-in (so bind it where
/// only monitoring reaches it).
pub fn listener_app(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(prometheus))
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        .with_state(state)
}

pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.http_metrics.render(state.db.size(), state.db.num_idle());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
