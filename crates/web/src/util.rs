//! Small helpers: times as clinicians read them, and form error display.

use leptos::prelude::*;
use thrive_domain::validation::FieldErrors;
use time::OffsetDateTime;

/// An instant as "23 Nov 2026, 14:05" in the browser's time zone.
pub fn when(t: OffsetDateTime) -> String {
    let ms = (t.unix_timestamp_nanos() / 1_000_000) as f64;
    when_ms(ms)
}

pub fn when_ms(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    let opts = js_sys::Object::new();
    for (k, v) in [
        ("day", "numeric"),
        ("month", "short"),
        ("year", "numeric"),
        ("hour", "2-digit"),
        ("minute", "2-digit"),
    ] {
        let _ = js_sys::Reflect::set(&opts, &k.into(), &v.into());
    }
    d.to_locale_string("en-GB", &opts).into()
}

/// An RFC 3339 string (as the audit log gives it) for display.
pub fn when_str(rfc3339: &str) -> String {
    let ms = js_sys::Date::parse(rfc3339);
    if ms.is_nan() {
        rfc3339.to_owned()
    } else {
        when_ms(ms)
    }
}

pub fn now() -> OffsetDateTime {
    from_ms(js_sys::Date::now())
}

pub fn from_ms(ms: f64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The value for an `<input type="datetime-local">`, in local time.
pub fn to_local_input(t: OffsetDateTime) -> String {
    let ms = (t.unix_timestamp_nanos() / 1_000_000) as f64;
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    )
}

/// A datetime-local (or date) value, read as local time.
pub fn from_local_input(value: &str) -> Option<OffsetDateTime> {
    if value.is_empty() {
        return None;
    }
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(value));
    let ms = d.get_time();
    (!ms.is_nan()).then(|| from_ms(ms))
}

/// An instant as RFC 3339 for a query string.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The messages for `field`: from the shared validation first, then from the server's 422.
pub fn messages(
    local: Option<&FieldErrors>,
    server: Option<&crate::api::ApiError>,
    field: &str,
) -> Vec<String> {
    let mut out: Vec<String> = local
        .and_then(|e| e.get(field).cloned())
        .unwrap_or_default();
    if out.is_empty() {
        if let Some(s) = server {
            out = s.field(field);
        }
    }
    out
}

/// The error line under a form field, linked by id for `aria-describedby`.
#[component]
pub fn FieldError(id: &'static str, messages: Signal<Vec<String>>) -> impl IntoView {
    view! {
        <p class="field-error" id=id role="alert">
            {move || messages.get().join(" ")}
        </p>
    }
}

/// "Loading…" / error / content for a resource result.
pub fn error_view(e: &crate::api::ApiError) -> AnyView {
    view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()
}

pub fn loading() -> AnyView {
    view! { <p class="muted" aria-live="polite">"Loading…"</p> }.into_any()
}

pub fn bytes(n: f64) -> String {
    if n >= 1_073_741_824.0 {
        format!("{:.2} GB", n / 1_073_741_824.0)
    } else if n >= 1_048_576.0 {
        format!("{:.1} MB", n / 1_048_576.0)
    } else {
        format!("{:.0} KB", n / 1024.0)
    }
}

/// snake_case key → "Snake case" label.
pub fn label(key: &str) -> String {
    let s = key.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
