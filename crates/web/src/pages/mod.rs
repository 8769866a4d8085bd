//! One module per screen; [`page`] picks the screen for a route.

pub mod account;
pub mod audit;
pub mod body_map;
pub mod exports;
pub mod home;
pub mod invitation;
pub mod ladder;
pub mod model_manager;
pub mod notes;
pub mod organisation;
pub mod record;
pub mod review;
pub mod service_users;
pub mod signin;
pub mod staff;
pub mod tools;

use leptos::prelude::*;

use crate::route::Route;

pub fn page(route: Route) -> AnyView {
    match route {
        Route::Home => view! { <home::HomePage /> }.into_any(),
        Route::Account => view! { <account::AccountPage /> }.into_any(),
        Route::Invitation => view! { <invitation::InvitationPage /> }.into_any(),
        Route::ServiceUsers => view! { <service_users::ServiceUsersPage /> }.into_any(),
        Route::Record { id, tab, note } => {
            view! { <record::RecordPage id=id tab=tab note=note /> }.into_any()
        }
        Route::Review => view! { <review::ReviewPage /> }.into_any(),
        Route::Audit => view! { <audit::AuditPage /> }.into_any(),
        Route::Ladder => view! { <ladder::LadderPage /> }.into_any(),
        Route::Staff => view! { <staff::StaffPage /> }.into_any(),
        Route::Organisation => view! { <organisation::OrganisationPage /> }.into_any(),
        Route::Exports => view! { <exports::ExportsPage /> }.into_any(),
        Route::Assistant => view! { <model_manager::ModelManagerPage /> }.into_any(),
        Route::NotFound => view! {
            <h1>"Page not found"</h1>
            <p><a href="#/">"Go to the home page"</a></p>
        }
        .into_any(),
    }
}
