//! Specifications of the `accord` binary run as a real process: the command line (§9.3)
//! and its settings, durability of acknowledged consent events across SIGKILL, memory bounded
//! under large bodies, what an operator observes (access log, metrics), and the listener
//! facing slow and malformed clients.
mod common;

mod cli;
mod durability;
mod http_layer;
mod memory;
mod observability;
mod settings;
