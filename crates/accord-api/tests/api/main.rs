//! HTTP specifications of the Privacy API, each run on SQLite and on PostgreSQL.
mod common;
mod conformance;

mod admin;
mod basics;
mod browser_engine;
mod compliance_requests;
mod consent;
mod datamap;
mod files;
mod geoip;
mod ingest;
mod inputs;
mod lifecycle;
mod operations;
mod plumbing;
mod policies;
mod reference;
mod regions;
mod scan_engine;
mod site;
mod totals;
mod trackers;
mod users;
