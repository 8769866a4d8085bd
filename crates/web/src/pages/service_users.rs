//! "My service users": the people the signed-in member may see (the server decides who).

use leptos::prelude::*;

use crate::api;

#[component]
pub fn ServiceUsersPage() -> impl IntoView {
    let people = LocalResource::new(api::service_users);
    view! {
        <section class="card">
            <h2>"My service users"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || people.get().map(|result| match result {
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted">"No service users are assigned to you yet."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table data-testid="service-users">
                            <thead><tr><th scope="col">"Name"</th><th scope="col">"Room / address"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|su| view! {
                                    <tr><td class="su-name">{su.display_name}</td><td>{su.room.unwrap_or_default()}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
