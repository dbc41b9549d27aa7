//! The config's schema `version`, and which key holds the sandbox image under each.
//!
//! | version | key | read by |
//! |---|---|---|
//! | absent, 0, 1 | `plugins.cri.sandbox_image` | 1.x (2.0–2.2 ignore it) |
//! | 2 | `plugins."io.containerd.grpc.v1.cri".sandbox_image` | 1.3–1.7; 2.x migrates it |
//! | 3, 4 | `plugins."io.containerd.cri.v1.images".pinned_images.sandbox` | 2.0+ (4: 2.3+) |

use std::fmt;
use toml_edit::{ImDocument, Item, Value};

/// The `version` of a containerd config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Schema {
    /// No `version` key, or 0 or 1: short plugin names (`[plugins.cri]`).
    V1,
    /// `version = 2`: full plugin names, `sandbox_image` in the CRI plugin.
    V2,
    /// `version = 3`: `pinned_images.sandbox` in the CRI images plugin.
    V3,
    /// `version = 4`: as 3, read by containerd 2.3 and later.
    V4,
}

/// A key path, such as [`KEY_V2`].
pub type Key = &'static [&'static str];

/// `[plugins.cri] sandbox_image`: version 1.
pub const KEY_V1: &[&str] = &["plugins", "cri", "sandbox_image"];
/// `[plugins."io.containerd.grpc.v1.cri"] sandbox_image`: version 2.
pub const KEY_V2: &[&str] = &["plugins", "io.containerd.grpc.v1.cri", "sandbox_image"];
/// `[plugins."io.containerd.cri.v1.images".pinned_images] sandbox`: versions 3 and 4.
pub const KEY_V3: &[&str] = &[
    "plugins",
    "io.containerd.cri.v1.images",
    "pinned_images",
    "sandbox",
];

/// A `version` that no containerd reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVersion {
    /// The value as written.
    pub raw: String,
    /// Where it is.
    pub offset: usize,
}

impl Schema {
    /// Reads the root `version` key.
    pub fn of(doc: &ImDocument<impl AsRef<str>>) -> Result<Schema, BadVersion> {
        let Some(item) = doc.as_table().get("version") else {
            return Ok(Schema::V1);
        };
        let bad = || BadVersion {
            raw: match item {
                Item::Value(v) => v.to_string().trim().to_string(),
                _ => "a table".to_string(),
            },
            offset: item.span().map_or(0, |s| s.start),
        };
        match item {
            Item::Value(Value::Integer(i)) => match *i.value() {
                0 | 1 => Ok(Schema::V1),
                2 => Ok(Schema::V2),
                3 => Ok(Schema::V3),
                4 => Ok(Schema::V4),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }

    /// The key that holds the sandbox image in this schema.
    pub fn key(self) -> &'static [&'static str] {
        match self {
            Schema::V1 => KEY_V1,
            Schema::V2 => KEY_V2,
            Schema::V3 | Schema::V4 => KEY_V3,
        }
    }

    /// The number written in the file's `version` key (1 when there is none).
    pub fn number(self) -> u8 {
        match self {
            Schema::V1 => 1,
            Schema::V2 => 2,
            Schema::V3 => 3,
            Schema::V4 => 4,
        }
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(raw: &str) -> Result<Schema, BadVersion> {
        Schema::of(&ImDocument::parse(raw).unwrap())
    }

    #[test]
    fn reads_version_key() {
        assert_eq!(of(""), Ok(Schema::V1));
        assert_eq!(of("version = 1"), Ok(Schema::V1));
        assert_eq!(of("version = 2"), Ok(Schema::V2));
        assert_eq!(of("version = 3 # c"), Ok(Schema::V3));
        assert_eq!(of("version = 4"), Ok(Schema::V4));
        assert_eq!(of("[a]\nversion = 9"), Ok(Schema::V1));
        for bad in [
            "version = 5",
            "version = -1",
            "version = '2'",
            "version = 2.0",
            "[version]",
            "version = true",
        ] {
            assert!(of(bad).is_err(), "{bad}");
        }
        assert_eq!(
            of("\n\nversion = 5").unwrap_err(),
            BadVersion {
                raw: "5".into(),
                offset: 12
            }
        );
    }
}
