//! One module per screen.

pub mod service_users;
pub mod signin;
