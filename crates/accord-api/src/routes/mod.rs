//! One module per resource of `/privacy-v1` and `/site-v1`, each exposing its router and
//! the OpenAPI paths it serves.

pub mod api_keys;
pub mod compliance_request_events;
pub mod compliance_requests;
pub mod consent_events;
pub mod consent_types;
pub mod data_system_attributes;
pub mod data_systems;
pub mod domains;
pub mod emails;
pub mod features;
pub mod files;
pub mod gcm_scans;
pub mod identities;
pub mod metrics;
pub mod organizations;
pub mod permissions;
pub mod policies;
pub mod projects;
pub mod records_of_processing;
pub mod regions;
pub mod sessions;
pub mod site;
pub mod site_client;
pub mod site_consent;
pub mod site_requests;
pub mod site_trackers;
pub mod tracker_scans;
pub mod trackers;
pub mod users;
