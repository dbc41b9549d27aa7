//! pausectl: pin containerd's pod sandbox ("pause") image to a registry you control, editing
//! `/etc/containerd/config.toml` without disturbing anything else in it.
//!
//! The core is pure: [`pin::set`] and [`pin::inspect`] take the config's text and return text
//! and reports. Reading, writing and printing live in the binary and [`atomic`].

pub mod atomic;
pub mod diff;
pub mod managed;
pub mod pin;
pub mod reference;
pub mod release;
pub mod schema;
pub mod splice;

pub use pin::{Change, Error, Pin, Report, inspect, set};
pub use reference::{ImageRef, RefError, Registry};
pub use release::Release;
pub use schema::Schema;
