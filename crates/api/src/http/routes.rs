//! One table per module of what the API serves: method, path, the actions its handler checks,
//! and a one-line summary. The axum router is built from these tables, and so is the OpenAPI
//! document at `/api/openapi.json`, so the document cannot list a route that does not exist or
//! miss one that does.
//!
//! The table is also what enforces each route's action: every route gets a layer that hands
//! its entry to the request ([`RouteGuard`]), [`Caller::begin`](super::extract::Caller::begin)
//! checks the entry's action before the handler touches any data, and a handler names an
//! action itself only on a route marked [`Routes::by_data`], and then only one its entry lists.
//! A handler can therefore neither forget its route's action nor check a different one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value};
use thrive_domain::Permission;

use crate::error::ApiError;
use crate::startup::AppState;

/// What an endpoint takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Json,
    /// Raw bytes (an image upload).
    Bytes,
}

/// How a route's handler is held to the actions of its table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No action: public, or any signed-in member.
    None,
    /// The entry's one action, checked by `Caller::begin` in the request's transaction before
    /// the handler reads or writes anything.
    Fixed(Permission),
    /// One of the entry's actions (or none), chosen by the handler from the data it reads and
    /// checked with `Caller::require`, which refuses an action the entry does not list.
    ByData(&'static [Permission]),
}

/// One documented route.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub method: Method,
    /// Relative to `/api`, with `{name}` path parameters.
    pub path: &'static str,
    /// The actions the handler checks (none: public, or any signed-in member).
    pub actions: &'static [Permission],
    /// Whether the handler picks among `actions` from the data (see [`Routes::by_data`]).
    pub by_data: bool,
    /// Whether a session is needed.
    pub signed_in: bool,
    pub summary: &'static str,
    pub body: Body,
}

impl Endpoint {
    /// How the handler is held to `actions`.
    ///
    /// # Panics
    /// When the entry is contradictory (several actions but not marked `by_data`, or marked
    /// `by_data` with none): the router refuses to be built.
    pub fn check(&self) -> Check {
        match (self.actions, self.by_data) {
            ([], false) => Check::None,
            ([], true) => panic!(
                "{} {}: by_data, but the table lists no action to choose from",
                self.method, self.path
            ),
            ([one], false) => Check::Fixed(*one),
            (_, false) => panic!(
                "{} {}: several actions; mark the route by_data and let the handler choose",
                self.method, self.path
            ),
            (all, true) => Check::ByData(all),
        }
    }
}

/// The table entry of the route a request matched, as the handler's [`Caller`] sees it: put
/// into the request by the layer every table route gets.
///
/// [`Caller`]: super::extract::Caller
#[derive(Debug, Clone)]
pub struct RouteGuard {
    pub check: Check,
    /// Set once an action of the entry has been checked in this request.
    checked: Arc<AtomicBool>,
}

impl RouteGuard {
    /// Records that `action` was checked; refuses (500, logged) an action the entry does not
    /// name: the handler contradicts its route table.
    pub fn checking(&self, action: Permission) -> Result<(), ApiError> {
        let named = match self.check {
            Check::None => false,
            Check::Fixed(a) => a == action,
            Check::ByData(all) => all.contains(&action),
        };
        if !named {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the handler checks {} but its route table entry says {:?}",
                action.key(),
                self.check
            )));
        }
        self.checked.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// The layer every table route gets: hands the entry to the request, and answers 500 (logged)
/// if a route with a fixed action succeeded without that action having been checked.
async fn guard(State(check): State<Check>, mut req: Request, next: Next) -> Response {
    let checked = Arc::new(AtomicBool::new(false));
    req.extensions_mut().insert(RouteGuard {
        check,
        checked: checked.clone(),
    });
    let response = next.run(req).await;
    if let Check::Fixed(action) = check {
        if response.status().is_success() && !checked.load(Ordering::Relaxed) {
            return ApiError::Internal(anyhow::anyhow!(
                "the handler answered without checking its route's action {}",
                action.key()
            ))
            .into_response();
        }
    }
    response
}

/// `Routes::get` and its siblings: one route for that method.
macro_rules! route_method {
    ($name:ident, $method:ident) => {
        pub fn $name<H: Handler<T, AppState>, T: 'static>(
            self,
            path: &'static str,
            actions: &'static [Permission],
            summary: &'static str,
            handler: H,
        ) -> Self {
            self.add(Method::$method, path, actions, summary, handler)
        }
    };
}

/// A router and the table it was built from.
#[derive(Default)]
pub struct Routes {
    routes: Vec<MethodRouter<AppState>>,
    pub endpoints: Vec<Endpoint>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    fn add<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        actions: &'static [Permission],
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            Method::POST => MethodFilter::POST,
            Method::PUT => MethodFilter::PUT,
            Method::DELETE => MethodFilter::DELETE,
            _ => MethodFilter::GET,
        };
        let body = match method {
            Method::POST | Method::PUT => Body::Json,
            _ => Body::None,
        };
        self.routes.push(on(filter, handler));
        self.endpoints.push(Endpoint {
            method,
            path,
            actions,
            by_data: false,
            signed_in: true,
            summary,
            body,
        });
        self
    }

    route_method!(get, GET);
    route_method!(post, POST);
    route_method!(put, PUT);
    route_method!(delete, DELETE);

    /// The last route added needs no session.
    pub fn public(mut self) -> Self {
        if let Some(e) = self.endpoints.last_mut() {
            e.signed_in = false;
        }
        self
    }

    /// The last route added takes raw bytes.
    pub fn bytes(mut self) -> Self {
        if let Some(e) = self.endpoints.last_mut() {
            e.body = Body::Bytes;
        }
        self
    }

    /// The last route's handler chooses which of its listed actions to check (or none) from
    /// the data it reads, with `Caller::require`; nothing is checked for it up front.
    pub fn by_data(mut self) -> Self {
        if let Some(e) = self.endpoints.last_mut() {
            e.by_data = true;
        }
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.routes.extend(other.routes);
        self.endpoints.extend(other.endpoints);
        self
    }

    /// The axum router: each route behind the layer that enforces its table entry.
    ///
    /// # Panics
    /// When an entry is contradictory (see [`Endpoint::check`]).
    pub fn router(self) -> Router<AppState> {
        self.routes
            .into_iter()
            .zip(self.endpoints)
            .fold(Router::new(), |router, (route, e)| {
                let check = e.check();
                router.route(
                    e.path,
                    route.route_layer(middleware::from_fn_with_state(check, guard)),
                )
            })
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

/// The OpenAPI 3.1 document for `endpoints`.
pub fn openapi(endpoints: &[Endpoint]) -> Value {
    let mut paths = Map::new();
    for e in endpoints {
        let path = format!("/api{}", e.path);
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema = if name == "name" {
                    json!({"type": "string"})
                } else {
                    json!({"type": "string", "format": "uuid"})
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let actions: Vec<&str> = e.actions.iter().map(|p| p.key()).collect();
        let mut description = String::new();
        if !actions.is_empty() {
            description = format!(
                "Checks the action{} {} (the database enforces the same in its policies).",
                if actions.len() > 1 { "s" } else { "" },
                actions
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        } else if e.signed_in {
            description = "Any signed-in member.".into();
        }
        let mut responses = Map::new();
        responses.insert("2XX".into(), json!({"description": "Success"}));
        if e.signed_in {
            responses.insert("401".into(), error_response("No live session"));
        }
        if !actions.is_empty() {
            responses.insert(
                "403".into(),
                error_response("The caller's role does not allow the action"),
            );
        }
        if e.path.contains('{') {
            responses.insert(
                "404".into(),
                error_response("Not found, or not visible to the caller"),
            );
        }
        if e.body != Body::None {
            responses.insert(
                "422".into(),
                error_response("Validation failed: field errors in `fields`"),
            );
        }
        let mut op = json!({
            "summary": e.summary,
            "description": description,
            "operationId": format!("{}_{}", e.method.as_str().to_lowercase(),
                e.path.trim_start_matches('/').replace(['/', '-'], "_").replace(['{', '}'], "")),
            "tags": [e.path.trim_start_matches('/').split('/').next().unwrap_or("api")],
            "parameters": params,
            "responses": responses,
            "x-thrive-actions": actions,
        });
        if !e.signed_in {
            op["security"] = json!([]);
        }
        match e.body {
            Body::Json => {
                op["requestBody"] =
                    json!({"content": {"application/json": {"schema": {"type": "object"}}}});
            }
            Body::Bytes => {
                op["requestBody"] = json!({"required": true, "content": {
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "image/webp": {"schema": {"type": "string", "format": "binary"}}}});
            }
            Body::None => {}
        }
        let entry = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[e.method.as_str().to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Thrive API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The thin JSON API behind the Thrive web app. Every organisation's data is isolated by PostgreSQL row level security; each endpoint names the actions it checks (x-thrive-actions), which the database enforces again. Generated from the same route table that builds the server's router."
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": super::extract::SESSION_COOKIE,
                            "description": "HttpOnly session cookie set by POST /api/auth/token after the PKCE sign-in."}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "description": "A stable code: unauthenticated, forbidden, not_found, validation, conflict, …"},
                        "message": {"type": "string", "description": "A sentence for people; never database detail."},
                        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                        "request_id": {"type": "string"}
                    }
                }
            }
        },
        "paths": paths,
    })
}
