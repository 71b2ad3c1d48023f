//! `topo validate`: the JSON Schema layer ([`schema`]) and the semantic rules ([`rules`]).
//! Both run inside [`crate::topology::load`], before every command.

pub mod azure_names;
pub mod rules;
pub mod schema;
pub mod service_users;
