//! topo: declarative topology-as-code for RabbitMQ.
//!
//! Every command is a function over one normalized model of broker state ([`state`]):
//! the file is loaded with positions ([`source`], [`topology`]), checked ([`validate`]),
//! and normalized; commands live in [`commands`], argument parsing in [`cli`].

// Diagnostics travel in `Err` on cold paths only (a broken file); boxing them would buy
// nothing measurable and cost clarity everywhere they are built.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod asyncapi;
pub mod broker;
pub mod cli;
pub mod commands;
pub mod diff;
pub mod error;
pub mod exit;
pub mod export;
pub mod fmt;
pub mod graph;
pub mod output;
pub mod plan;
pub mod render;
pub mod report;
pub mod route;
pub mod saved_plan;
pub mod session;
pub mod source;
pub mod state;
pub mod topology;
pub mod trace;
pub mod validate;

/// Diagnostics live beside the positions they point at (see [`source`]); this path is the
/// one the rest of the crate names them by.
pub use source::diag;
