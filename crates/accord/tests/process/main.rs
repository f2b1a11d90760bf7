//! Specifications of the `accord` binary run as a real process: the command line (§9.3)
//! and durability of acknowledged consent events across SIGKILL.
mod common;

mod cli;
mod durability;
