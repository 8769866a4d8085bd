//! The warning before the idle sign-out, with a way to stay signed in.

use leptos::prelude::*;

use crate::session::Session;

#[component]
pub fn IdleWarning() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <Show when=move || session.warning.get().is_some()>
            <div class="backdrop">
                <div class="dialog" role="alertdialog" aria-modal="true"
                    aria-labelledby="idle-title" aria-describedby="idle-text" data-testid="idle-warning">
                    <h2 id="idle-title">"Are you still there?"</h2>
                    <p id="idle-text">
                        {move || {
                            let secs = session.warning.get().unwrap_or(0);
                            let (m, s) = (secs / 60, secs % 60);
                            format!("For safety you will be signed out in {m}:{s:02} without activity. Unsaved notes stay on this device.")
                        }}
                    </p>
                    <button autofocus on:click=move |_| session.stay()>"Stay signed in"</button>
                    <button class="ghost" on:click=move |_| session.sign_out()>"Sign out now"</button>
                </div>
            </div>
        </Show>
    }
}
