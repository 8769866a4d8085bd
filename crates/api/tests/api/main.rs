//! Integration tests against a real PostgreSQL: each test gets a fresh database cloned from a
//! migrated template, the API on port 0, and raw SQL as the `thrive_app` role for the probes.
//! Run them with `cargo xtask test`, which starts the cluster and sets THRIVE_TEST_*.

mod account;
mod ai_provenance;
mod at_rest;
mod audit_trail;
mod auth;
mod catalogue;
mod exports;
mod files;
mod headers;
mod helpers;
mod home;
mod immutability;
mod ladder_attacks;
mod matrix;
mod mfa;
mod models;
mod observability;
mod openapi;
mod operations;
mod passkeys;
mod read_audit;
mod records;
mod request_attacks;
mod rls;
mod route_table;
mod service_users;
mod sign_in_attacks;
mod tls;
mod wedge;
