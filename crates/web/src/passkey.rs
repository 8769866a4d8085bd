//! Passkeys in the browser: typed wrappers over `passkey_bridge.js` (navigator.credentials),
//! taking webauthn-rs's JSON options and giving back the authenticator's answer as JSON.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/passkey_bridge.js")]
extern "C" {
    #[wasm_bindgen(js_name = passkeysSupported)]
    fn supported_js() -> bool;
    #[wasm_bindgen(catch, js_name = createPasskey)]
    async fn create_js(options: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = getPasskey)]
    async fn get_js(options: &str) -> Result<JsValue, JsValue>;
}

/// Whether this browser offers WebAuthn at all.
pub fn supported() -> bool {
    supported_js()
}

/// The answer as JSON; none when the person cancelled or the device could not do it.
fn answer(result: Result<JsValue, JsValue>) -> Option<serde_json::Value> {
    let text = result
        .map_err(|e| web_sys::console::warn_1(&e))
        .ok()?
        .as_string()?;
    serde_json::from_str(&text).ok()
}

/// A new passkey from the options of `POST /api/account/passkeys/options`.
pub async fn create(options: &str) -> Option<serde_json::Value> {
    answer(create_js(options).await)
}

/// An assertion for the options of a passkey challenge.
pub async fn get(options: &str) -> Option<serde_json::Value> {
    answer(get_js(options).await)
}
