//! The `/v1` handlers, one module per resource. Each handler parses its input with the
//! error-mapping extractors of [`crate::error`], makes one engine call as who asks
//! ([`crate::call`]), and returns the engine's answer as JSON.

pub mod accounts;
pub mod answers;
pub mod audit;
pub mod documents;
pub mod explore;
pub mod jobs;
pub mod keys;
pub mod mcp;
pub mod members;
pub mod memories;
pub mod secrets;
pub mod sessions;
pub mod teams;
pub mod uploads;
pub mod vaults;
