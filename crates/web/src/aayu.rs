//! Aayu from the SPA: typed wrappers over `aayu_bridge.js` (the model cache and the worker
//! under `/aayu/`) and the app-wide state of the model on this device, so a download keeps
//! going, with its progress visible, while the clinician moves around the app.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/aayu_bridge.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = modelState)]
    async fn model_state_js() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = downloadModel)]
    async fn download_js(name: &str, on_progress: &js_sys::Function) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = deleteModel)]
    async fn delete_js(name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = loadModel)]
    async fn load_js(name: &str, on_progress: &js_sys::Function) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = generateChat)]
    fn generate_chat_js(
        messages_json: &str,
        options_json: &str,
        on_token: &js_sys::Function,
        on_done: &js_sys::Function,
        on_error: &js_sys::Function,
    );
    #[wasm_bindgen(catch, js_name = engineVersion)]
    async fn engine_version_js() -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = stop)]
    pub fn stop();
}

/// One model the server offers or this browser holds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub size: f64,
    pub offered: bool,
    pub cached: bool,
    pub stored_chunks: u32,
    pub chunk_count: u32,
    /// The sha256 the download was verified against (provenance names the model by it).
    #[serde(default)]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelState {
    pub models: Vec<ModelInfo>,
    pub offline: bool,
    pub usage: f64,
    pub quota: f64,
    pub persisted: bool,
    pub loaded: Option<String>,
}

/// A download in progress: phase ("download" or "verify"), bytes done, bytes in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub name: String,
    pub phase: String,
    pub done: f64,
    pub total: f64,
}

fn js_message(e: JsValue) -> String {
    js_sys::Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the assistant could not do that".into())
}

/// The model on this device, shared by the note editor's panel and the model manager.
#[derive(Clone, Copy)]
pub struct Aayu {
    pub state: RwSignal<Option<Result<ModelState, String>>>,
    pub progress: RwSignal<Option<Progress>>,
    pub error: RwSignal<Option<String>>,
    /// The model the clinician chose (kept in localStorage).
    pub chosen: RwSignal<Option<String>>,
}

const CHOSEN_KEY: &str = "thrive.aayu.model";

impl Aayu {
    pub fn new() -> Self {
        let chosen = web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(CHOSEN_KEY).ok().flatten());
        Aayu {
            state: RwSignal::new(None),
            progress: RwSignal::new(None),
            error: RwSignal::new(None),
            chosen: RwSignal::new(chosen),
        }
    }

    pub fn choose(&self, name: String) {
        if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = s.set_item(CHOSEN_KEY, &name);
        }
        self.chosen.set(Some(name));
    }

    /// The model to use: the chosen one if known, else the first cached, else the first offered.
    pub fn current(&self) -> Option<ModelInfo> {
        let state = self.state.get();
        let models = match state {
            Some(Ok(s)) => s.models,
            _ => return None,
        };
        let chosen = self.chosen.get();
        models
            .iter()
            .find(|m| Some(&m.name) == chosen.as_ref())
            .or_else(|| models.iter().find(|m| m.cached))
            .or_else(|| models.first())
            .cloned()
    }

    pub fn refresh(&self) {
        let s = *self;
        spawn_local(async move {
            let result = match model_state_js().await {
                Ok(v) => v
                    .as_string()
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .ok_or_else(|| "the assistant's state could not be read".to_owned()),
                Err(e) => Err(js_message(e)),
            };
            s.state.set(Some(result));
        });
    }

    pub fn download(&self, name: String) {
        if self.progress.get_untracked().is_some() {
            return;
        }
        let s = *self;
        s.error.set(None);
        s.progress.set(Some(Progress {
            name: name.clone(),
            phase: "download".into(),
            done: 0.0,
            total: 0.0,
        }));
        let progress_name = name.clone();
        let on_progress = Closure::<dyn Fn(String, f64, f64)>::new(move |phase, done, total| {
            s.progress.set(Some(Progress {
                name: progress_name.clone(),
                phase,
                done,
                total,
            }));
        });
        spawn_local(async move {
            let result = download_js(&name, on_progress.as_ref().unchecked_ref()).await;
            drop(on_progress);
            s.progress.set(None);
            if let Err(e) = result {
                s.error.set(Some(format!(
                    "Download of {name} failed: {}",
                    js_message(e)
                )));
            }
            s.refresh();
        });
    }

    pub fn delete(&self, name: String) {
        let s = *self;
        spawn_local(async move {
            if let Err(e) = delete_js(&name).await {
                s.error
                    .set(Some(format!("Could not delete {name}: {}", js_message(e))));
            }
            s.refresh();
        });
    }
}

impl Default for Aayu {
    fn default() -> Self {
        Self::new()
    }
}

/// Loads `name` into the worker (a no-op when it already is); `on_status` hears progress.
pub async fn load(name: &str, on_status: impl Fn(String) + 'static) -> Result<(), String> {
    let on_progress =
        Closure::<dyn Fn(String, f64, f64)>::new(move |stage: String, done: f64, total: f64| {
            if stage == "read_cache" && total > 0.0 {
                on_status(format!(
                    "Loading the model: {:.0}%",
                    (done / total * 100.0).min(100.0)
                ));
            }
        });
    let result = load_js(name, on_progress.as_ref().unchecked_ref()).await;
    drop(on_progress);
    result.map(|_| ()).map_err(js_message)
}

/// Streams a reply to the app's prompt (`thrive_domain::assistant::messages`), shaped as the
/// task asks (stop sequences, the tokens the reply may not contain).
pub fn generate_chat(
    messages: &[thrive_domain::assistant::Message],
    shaping: &thrive_domain::assistant::Shaping,
    on_token: impl Fn(String) + 'static,
    on_done: impl Fn(String, String) + 'static,
    on_error: impl Fn(String) + 'static,
) {
    // The closures must outlive this call: they are leaked once per generation, a few bytes.
    let messages_json = serde_json::to_string(messages).unwrap_or_else(|_| "[]".into());
    let options = serde_json::json!({
        "max_new_tokens": shaping.max_new_tokens,
        "shaping": {
            "stop_sequences": shaping.stop,
            "forbid_markdown": shaping.forbid_markdown,
            "forbid_brackets": shaping.forbid_brackets,
        },
    });
    let on_token = Closure::<dyn Fn(String)>::new(on_token);
    let on_done = Closure::<dyn Fn(String, String)>::new(on_done);
    let on_error = Closure::<dyn Fn(String)>::new(on_error);
    generate_chat_js(
        &messages_json,
        &options.to_string(),
        on_token.as_ref().unchecked_ref(),
        on_done.as_ref().unchecked_ref(),
        on_error.as_ref().unchecked_ref(),
    );
    on_token.forget();
    on_done.forget();
    on_error.forget();
}

/// The engine's name and version, as provenance records it.
pub async fn engine_version() -> Result<String, String> {
    engine_version_js()
        .await
        .map_err(js_message)?
        .as_string()
        .ok_or_else(|| "the engine did not say its version".to_owned())
}
