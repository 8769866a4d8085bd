//! Types, validation rules and the permission catalogue shared by the Thrive API and web app.
//!
//! Plain Rust with serde only: no I/O, so it compiles for the browser (wasm32) and the server
//! alike, and the SPA validates with the very rules the API enforces.

pub mod assistant;
pub mod audit;
pub mod auth;
pub mod home;
pub mod password;
pub mod permissions;
pub mod records;
pub mod service_users;
pub mod validation;

pub use permissions::{DefaultRole, Permission, Tool};
