//! pausectl: pin containerd's pod sandbox ("pause") image to a registry you control, editing
//! `/etc/containerd/config.toml` without disturbing anything else in it.
//!
//! The core is pure: [`inspect()`] and [`inspect_chain`] tell which image containerd uses for a
//! config (and its imports') text; [`set`], [`set_chain`] and the [`plan`] module return the
//! new texts. Reading and writing files is [`disk`]'s; printing is the binary's.

mod config;
mod dialect;
pub mod diff;
pub mod disk;
mod facts;
mod fields;
mod gobinary;
mod goglob;
pub mod imports;
mod inspect;
pub mod managed;
mod merge;
pub mod plan;
pub mod pull;
mod reference;
pub mod release;
mod rewrite;
mod schema;
mod sections;
mod splice;
mod verify;
pub mod warning;

pub use config::{ChainError, Error, decode};
pub use facts::Pin;
pub use inspect::{Report, advice, cri_settings, inspect, inspect_chain};
pub use merge::Refusal;
pub use plan::{DropIn, FilePlan, Plan, PlanError, Target};
pub use reference::{ImageRef, RefError, Registry};
pub use release::Release;
pub use rewrite::{ChainChange, Change, fresh, set, set_chain, set_chain_at};
pub use schema::Schema;
pub use warning::{Kind, Warning};
