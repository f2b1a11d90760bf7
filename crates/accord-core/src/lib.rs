//! Accord's domain: identifiers, dates, validation, roles, compliance-request rules and the
//! `Store` trait every storage backend implements. Nothing here knows about HTTP or SQL.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod compliance;
pub mod consent;
pub mod console;
pub mod datamap;
pub mod error;
pub mod gcm;
pub mod ids;
pub mod json;
pub mod lifecycle;
pub mod metrics;
pub mod notifications;
pub mod policies;
pub mod query;
pub mod regions;
pub mod scans;
pub mod schema;
pub mod site;
pub mod store;
pub mod time;
pub mod trackers;
pub mod usecases;
pub mod users;

pub use error::{Error, Result};
