//! What each path answers: the chat page and its files, `/api/config`, `/api/health`,
//! `/metrics`, and `/api/slow?ms=N`, which is handed to the fixed thread pool. Unknown paths are
//! 404; a known path with a method other than GET or HEAD is 405.

use std::sync::atomic::Ordering;

use crate::chat::frame::json_object;
use crate::chat::http::prometheus::prometheus;
use crate::chat::http::shared::HttpShared;
use crate::chat::http::wire::{Body, Response};
use crate::chat::metrics::ChatMetrics;
use crate::Handle;

const INDEX_HTML: &str = include_str!("../../../../assets/index.html");
const APP_JS: &str = include_str!("../../../../assets/app.js");
const STYLE_CSS: &str = include_str!("../../../../assets/style.css");

/// What a request gets.
#[derive(Debug)]
pub(crate) enum Route {
    Respond(Response),
    /// `/api/slow`: hold one of the pool's threads for this many milliseconds, then answer.
    Slow(u64),
}

/// Routes one request.
pub(crate) fn route(h: &Handle, http: &HttpShared, method: &str, target: &str) -> Route {
    let shared = &*http.chat;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let known = matches!(
        path,
        "/" | "/index.html"
            | "/app.js"
            | "/style.css"
            | "/api/config"
            | "/api/health"
            | "/metrics"
            | "/api/slow"
    );
    if !known {
        return Route::Respond(Response::text(404, format!("no such page: {path}\n")));
    }
    if method != "GET" && method != "HEAD" {
        let mut r = Response::text(405, format!("{method} is not allowed on {path}; use GET\n"));
        r.allow = Some("GET, HEAD");
        return Route::Respond(r);
    }
    let ok = |content_type, body| Route::Respond(Response::new(200, content_type, body));
    match path {
        "/" | "/index.html" => ok("text/html; charset=utf-8", Body::Static(INDEX_HTML)),
        "/app.js" => ok("text/javascript; charset=utf-8", Body::Static(APP_JS)),
        "/style.css" => ok("text/css; charset=utf-8", Body::Static(STYLE_CSS)),
        "/api/config" => ok(
            "application/json",
            Body::Owned(json_object(&[
                ("ws_url", &shared.ws_url()),
                ("http_url", &format!("http://{}", shared.http_addr)),
            ])),
        ),
        "/api/health" => ok(
            "application/json",
            Body::Owned(format!(
                "{{\"status\":\"ok\",\"uptime_s\":{:.3},\"processes\":{},\"connections\":{}}}",
                shared.started.elapsed().as_secs_f64(),
                h.process_count(),
                ChatMetrics::get(&shared.metrics.connections)
            )),
        ),
        "/metrics" => ok(
            "text/plain; version=0.0.4; charset=utf-8",
            Body::Owned(prometheus(h, shared, http.open.load(Ordering::Relaxed))),
        ),
        "/api/slow" => {
            let ms = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .map(str::parse::<u64>);
            match ms {
                Some(Ok(ms)) if u128::from(ms) <= shared.config.max_slow.as_millis() => {
                    Route::Slow(ms)
                }
                Some(Ok(_)) => Route::Respond(Response::text(
                    400,
                    format!(
                        "ms must be at most {}\n",
                        shared.config.max_slow.as_millis()
                    ),
                )),
                _ => Route::Respond(Response::text(
                    400,
                    "give ms=N, a whole number of milliseconds\n",
                )),
            }
        }
        _ => Route::Respond(Response::text(404, format!("no such page: {path}\n"))),
    }
}
