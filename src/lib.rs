//! pausectl: pin containerd's pod sandbox ("pause") image to a registry you control, editing
//! `/etc/containerd/config.toml` without disturbing anything else in it.
//!
//! The core is pure: [`pin::set`] and [`pin::inspect`] take the config's text and return text
//! and reports. Reading, writing and printing live in the binary and [`atomic`].

pub mod atomic;
pub mod dialect;
pub mod diff;
pub mod fields;
pub mod goglob;
pub mod imports;
pub mod managed;
pub mod merge;
pub mod pin;
pub mod reference;
pub mod release;
pub mod schema;
pub mod sections;
pub mod splice;

pub use pin::{
    ChainChange, Change, Error, Pin, Report, fresh, inspect, inspect_chain, set, set_chain,
    set_chain_at,
};
pub use reference::{ImageRef, RefError, Registry};
pub use release::Release;
pub use schema::Schema;
