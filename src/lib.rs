//! pausectl: pin containerd's pod sandbox ("pause") image to a registry you control, editing
//! `/etc/containerd/config.toml` without disturbing anything else in it.
//!
//! The core is pure: [`set`], [`set_chain`] and [`inspect`], [`inspect_chain`] take the
//! config's text (and its imports') and return text and reports. Reading, writing and printing
//! live in the binary and the modules it uses for I/O: [`imports`] (following `imports` on
//! disk), [`atomic`] (locking, the atomic write, backups) and [`managed`].

pub mod atomic;
mod config;
pub mod dialect;
pub mod diff;
mod facts;
pub mod fields;
pub mod goglob;
pub mod imports;
mod inspect;
pub mod managed;
pub mod merge;
pub mod reference;
pub mod release;
mod rewrite;
pub mod schema;
pub mod sections;
pub mod splice;
mod verify;

pub use config::Error;
pub use facts::Pin;
pub use inspect::{Report, cri_settings, inspect, inspect_chain};
pub use merge::Refusal;
pub use reference::{ImageRef, RefError, Registry};
pub use release::Release;
pub use rewrite::{ChainChange, Change, fresh, set, set_chain, set_chain_at};
pub use schema::Schema;
