//! The model manager: which Aayu models this device holds, their size, the browser storage
//! used and available, whether it is persistent, download (with progress) and delete.

use leptos::prelude::*;
use thrive_domain::Permission;

use crate::aayu::Aayu;
use crate::components::aayu_panel::DownloadProgress;
use crate::session::Session;
use crate::util;

#[component]
pub fn ModelManagerPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let aayu = expect_context::<Aayu>();
    aayu.refresh();
    view! {
        <h1>"Aayu model on this device"</h1>
        <p class="muted">"Aayu runs entirely in this browser. The model is downloaded once, checked, and kept for offline use."</p>
        <DownloadProgress />
        {move || aayu.error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || match aayu.state.get() {
            None => util::loading(),
            Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            Some(Ok(state)) => {
                let chosen = aayu.current().map(|m| m.name);
                view! {
                    <section class="card">
                        <h2>"Storage"</h2>
                        <p data-testid="storage">{format!("Used {} of {} available · persistent: {}", util::bytes(state.usage), util::bytes(state.quota), if state.persisted { "yes" } else { "no (the browser may evict it when space runs low)" })}</p>
                        {state.offline.then(|| view! { <p class="notice">"The server cannot be reached: showing the models already on this device."</p> })}
                    </section>
                    <div class="table-wrap card">
                        <table data-testid="models">
                            <thead><tr><th scope="col">"Model"</th><th scope="col">"Size"</th><th scope="col">"On this device"</th><th scope="col">"Use"</th><th scope="col">"Actions"</th></tr></thead>
                            <tbody>
                                {state.models.into_iter().map(|m| {
                                    let name = m.name.clone();
                                    let n2 = m.name.clone();
                                    let n3 = m.name.clone();
                                    let in_use = chosen.as_ref() == Some(&m.name);
                                    let status = if m.cached { "Cached and verified".to_owned() }
                                        else if m.chunk_count > 0 { format!("Partly downloaded ({} of {} pieces)", m.stored_chunks, m.chunk_count) }
                                        else { "Not downloaded".to_owned() };
                                    view! {
                                        <tr>
                                            <td>{m.name.clone()}</td>
                                            <td>{util::bytes(m.size)}</td>
                                            <td>{status}</td>
                                            <td>{if in_use { view! { "In use" }.into_any() } else {
                                                view! { <button class="ghost small-btn" aria-label=format!("Use {}", m.name) on:click=move |_| aayu.choose(n3.clone())>"Use"</button> }.into_any()
                                            }}</td>
                                            <td>
                                                {(!m.cached && m.offered && session.can(Permission::AssistantDownloadModel)).then(|| view! {
                                                    <button class="small-btn" aria-label=format!("Download {}", name) disabled=move || aayu.progress.get().is_some() on:click=move |_| aayu.download(name.clone())>"Download"</button>
                                                })}
                                                {(m.cached || m.chunk_count > 0).then(|| view! {
                                                    <button class="danger small-btn" aria-label=format!("Delete {}", n2) on:click=move |_| aayu.delete(n2.clone())>"Delete"</button>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }
        }}
    }
}
