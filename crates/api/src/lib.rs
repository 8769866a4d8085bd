//! Thrive's JSON API: authentication and sessions, thin handlers over PostgreSQL where Row
//! Level Security does the isolating, the SPA served with strict security headers.

pub mod at_rest;
pub mod audit_chain;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod export;
pub mod http;
pub mod images;
pub mod limits;
pub mod metrics;
pub mod model_files;
pub mod passwords;
pub mod startup;
pub mod telemetry;
pub mod tls;
