//! The use cases: one function per action, called by every entry point that performs it
//! (Privacy API, Site API, CLI, and the console to come), so that a rule lives here once
//! whatever reaches it. They see storage only through the store traits.
pub mod compliance_requests;
pub mod consent_events;
pub mod console;
pub mod gcm_scans;
pub mod tracker_scans;
