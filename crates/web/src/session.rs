//! Who is signed in, the idle timeout, and unsaved draft notes kept on this device.
//!
//! The server ends a session after `idle_timeout_secs` without a request. The SPA counts
//! idleness from the last user interaction or API call (JS `Date`, checked by a JS interval, so
//! tests can drive it with a fake clock), warns two minutes before the end, and then signs out
//! cleanly. A draft note is kept in localStorage, per user, so it can be offered back after the
//! next sign-in; an explicit sign-out removes it from the device.

use std::cell::Cell;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use thrive_domain::auth::Me;
use thrive_domain::Permission;
use uuid::Uuid;

use crate::api;

/// The app-wide session state. Signals are `Copy`, so this is too.
#[derive(Clone, Copy)]
pub struct Session {
    pub me: RwSignal<Option<Me>>,
    /// A message for the sign-in screen (why the session ended).
    pub notice: RwSignal<Option<String>>,
    /// Seconds left before the idle sign-out, while the warning shows.
    pub warning: RwSignal<Option<u64>>,
    /// The server asked for a fresh authentication (step-up) before an action.
    pub step_up: RwSignal<bool>,
    /// A message shown in the signed-in app (after a step-up, or why the account page shows).
    pub notice_in_app: RwSignal<Option<String>>,
}

thread_local! {
    static SESSION: Cell<Option<Session>> = const { Cell::new(None) };
    static LAST_ACTIVITY: Cell<f64> = const { Cell::new(0.0) };
    static LAST_PING: Cell<f64> = const { Cell::new(0.0) };
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

impl Session {
    pub fn new() -> Self {
        let s = Session {
            me: RwSignal::new(None),
            notice: RwSignal::new(None),
            warning: RwSignal::new(None),
            step_up: RwSignal::new(false),
            notice_in_app: RwSignal::new(None),
        };
        SESSION.with(|c| c.set(Some(s)));
        touch();
        s
    }

    pub fn can(&self, p: Permission) -> bool {
        self.me
            .with(|m| m.as_ref().is_some_and(|m| m.permissions.contains(&p)))
    }

    pub fn user_id(&self) -> Option<Uuid> {
        self.me.with_untracked(|m| m.as_ref().map(|m| m.user_id))
    }

    /// Signs in `me` and starts counting idleness afresh.
    pub fn signed_in(&self, me: Me) {
        touch();
        forget_invitation();
        self.notice.set(None);
        self.warning.set(None);
        self.me.set(Some(me));
    }

    /// An explicit sign-out: the server session is revoked and drafts leave this device.
    pub fn sign_out(&self) {
        let s = *self;
        clear_drafts();
        spawn_local(async move {
            let _ = api::logout().await;
            s.warning.set(None);
            s.me.set(None);
            set_hash("#/");
        });
    }

    /// The idle timeout: sign out but keep the draft for the next sign-in.
    fn expire(&self, why: &str) {
        let s = *self;
        let why = why.to_owned();
        s.warning.set(None);
        s.me.set(None);
        s.notice.set(Some(why));
        spawn_local(async move {
            let _ = api::logout().await;
        });
    }

    /// Called every second: warns before the idle timeout and signs out at it.
    pub fn tick(&self) {
        let Some(timeout) = self
            .me
            .with_untracked(|m| m.as_ref().map(|m| m.idle_timeout_secs))
        else {
            return;
        };
        let idle = ((now_ms() - LAST_ACTIVITY.with(Cell::get)) / 1000.0).max(0.0) as u64;
        let warn_before = (timeout / 15).clamp(10, 120);
        if idle >= timeout {
            self.expire(
                "You were signed out after a period without activity. Any unsaved note is kept on this device for you.",
            );
        } else if idle + warn_before >= timeout {
            self.warning.set(Some(timeout - idle));
        } else if self.warning.get_untracked().is_some() {
            self.warning.set(None);
        }
    }

    /// "Stay signed in": one request renews the server session.
    pub fn stay(&self) {
        let s = *self;
        touch();
        s.warning.set(None);
        spawn_local(async move {
            if let Ok(me) = api::me().await {
                s.me.set(Some(me));
            }
        });
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// An API call just succeeded or failed: the server saw activity.
pub fn touch() {
    let now = now_ms();
    LAST_ACTIVITY.with(|c| c.set(now));
    LAST_PING.with(|c| c.set(now));
}

/// A key press or click: counts as activity; renews the server session at most once a minute
/// so a long stretch of typing does not end it.
pub fn user_activity() {
    let now = now_ms();
    let signed_in = SESSION.with(Cell::get).is_some_and(|s| {
        s.me.with_untracked(Option::is_some) && s.warning.get_untracked().is_none()
    });
    if !signed_in {
        return;
    }
    LAST_ACTIVITY.with(|c| c.set(now));
    if now - LAST_PING.with(Cell::get) > 60_000.0 {
        LAST_PING.with(|c| c.set(now));
        spawn_local(async {
            let _ = api::me().await;
        });
    }
}

/// The server said 401: the session is gone (expired elsewhere, or revoked).
pub fn on_unauthenticated() {
    if let Some(s) = SESSION.with(Cell::get) {
        if s.me.with_untracked(Option::is_some) {
            s.warning.set(None);
            s.me.set(None);
            s.notice.set(Some(
                "Your session has ended. Sign in again to carry on; any unsaved note is kept on this device.".into(),
            ));
        }
    }
}

/// The server said 403 with a reason the app can act on.
pub fn on_forbidden(code: &str) {
    let Some(s) = SESSION.with(Cell::get) else {
        return;
    };
    match code {
        "step_up_required" => s.step_up.set(true),
        "mfa_enrolment_required" => {
            s.notice_in_app.set(Some(
                "Your role needs a second factor before you can see anything else: set one up here.".into(),
            ));
            set_hash("#/account");
        }
        _ => {}
    }
}

thread_local! {
    /// Requests waiting for the step-up dialog's outcome (each a JS promise's `resolve`).
    static STEP_UP_WAITERS: std::cell::RefCell<Vec<js_sys::Function>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Shows the step-up dialog (if it is not showing) and waits for it: true once the person has
/// confirmed it is them, false if they cancelled. A request refused with `step_up_required`
/// awaits this, then is sent again.
pub async fn stepped_up() -> bool {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        STEP_UP_WAITERS.with(|w| w.borrow_mut().push(resolve));
    });
    if let Some(s) = SESSION.with(Cell::get) {
        s.step_up.set(true);
    }
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// The step-up dialog closed: `confirmed` or cancelled. Every waiting request hears it.
pub fn step_up_finished(confirmed: bool) {
    if let Some(s) = SESSION.with(Cell::get) {
        s.step_up.set(false);
    }
    let waiters = STEP_UP_WAITERS.with(|w| std::mem::take(&mut *w.borrow_mut()));
    for resolve in waiters {
        let _ = resolve.call1(
            &wasm_bindgen::JsValue::NULL,
            &wasm_bindgen::JsValue::from_bool(confirmed),
        );
    }
}

pub fn set_hash(hash: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(hash);
    }
}

// ---------------------------------------------------------------------------------------------
// Drafts kept on this device

const DRAFT_PREFIX: &str = "thrive.draft.";

/// A care note being written, as kept in localStorage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalDraft {
    pub service_user_id: Uuid,
    pub service_user_name: String,
    /// The saved draft this edits, if it was saved once.
    pub note_id: Option<Uuid>,
    pub category: String,
    pub occurred_at: String,
    pub body: String,
    pub ai_assistance: String,
    /// Aayu's accepted contributions not yet saved (kept so a restored draft keeps them).
    #[serde(default)]
    pub ai_provenance: Vec<thrive_domain::records::AiContribution>,
    pub saved_at: f64,
}

const INVITATION_KEY: &str = "thrive.invitation";

/// The invitation the next sign-in also accepts (kept for this tab only).
pub fn pending_invitation() -> Option<String> {
    web_sys::window()?
        .session_storage()
        .ok()??
        .get_item(INVITATION_KEY)
        .ok()?
        .filter(|t| !t.is_empty())
}

/// Sign in to accept `token`: the sign-in screen says so, and the next sign-in carries it.
pub fn sign_in_to_accept(token: &str) {
    if let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = s.set_item(INVITATION_KEY, token);
    }
    set_hash("#/");
}

fn forget_invitation() {
    if let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = s.remove_item(INVITATION_KEY);
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn save_draft(user: Uuid, draft: &LocalDraft) {
    if let (Some(s), Ok(json)) = (storage(), serde_json::to_string(draft)) {
        let _ = s.set_item(&format!("{DRAFT_PREFIX}{user}"), &json);
    }
}

pub fn load_draft(user: Uuid) -> Option<LocalDraft> {
    let json = storage()?
        .get_item(&format!("{DRAFT_PREFIX}{user}"))
        .ok()??;
    serde_json::from_str(&json).ok()
}

pub fn discard_draft(user: Uuid) {
    if let Some(s) = storage() {
        let _ = s.remove_item(&format!("{DRAFT_PREFIX}{user}"));
    }
}

/// Every draft on this device goes (explicit sign-out: the laptop may be shared).
pub fn clear_drafts() {
    let Some(s) = storage() else { return };
    let len = s.length().unwrap_or(0);
    let keys: Vec<String> = (0..len)
        .filter_map(|i| s.key(i).ok().flatten())
        .filter(|k| k.starts_with(DRAFT_PREFIX))
        .collect();
    for k in keys {
        let _ = s.remove_item(&k);
    }
}
