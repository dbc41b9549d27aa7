//! What pausectl tells the user beyond the answer. A [`Warning`] has a [`Kind`] (stable, for
//! scripts and tests: `--json` prints it as `warning_details`), the file and line it is about
//! when there is one, and the sentence printed after `warning: `.

use std::fmt;

/// One thing the user should know, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// What it is about.
    pub kind: Kind,
    /// The file it is about, as the user named it or as an `imports` entry reaches it.
    pub file: Option<String>,
    /// The line it is about (1-based).
    pub line: Option<usize>,
    /// The sentence, as printed.
    pub text: String,
}

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// pausectl cannot tell which image containerd uses: the release lines read the config
    /// differently, or a file is read differently by some release.
    CannotTell,
    /// The release refuses the config and does not start.
    Refused,
    /// `disabled_plugins` turns the CRI plugin off: no pods, no sandbox image.
    CriDisabled,
    /// An imported file has a higher version than the main config.
    NewerDropIn,
    /// A release ignores a key that sets the sandbox image.
    KeyIgnored,
    /// A `version` that some releases refuse or read as another.
    Version,
    /// A plugin name some or all releases do not read as the plugin meant.
    PluginName,
    /// A UTF-8 byte-order mark, which containerd 2.x refuses.
    ByteOrderMark,
    /// pausectl set a second key, so that every release reads the pin.
    AlsoSet,
    /// A relative `imports` glob that some releases resolve against their working directory.
    RelativeGlob,
    /// containerd loads a file whose name looks like a backup or temp file.
    LeftBehind,
    /// The imports of standard input are not followed.
    ImportsNotFollowed,
    /// An image with both a tag and a digest: the digest is what gets pinned.
    TagAndDigest,
    /// kubeadm expects another shape of sandbox image (informational).
    Kubeadm,
    /// The image comes from a public registry: starting a pod depends on the internet.
    PublicRegistry,
    /// The config belongs to another tool, which regenerates it (`--force`).
    Managed,
    /// The file has other hard links, which keep the old text.
    HardLinks,
    /// The backup goes somewhere other than beside the file.
    BackupMoved,
    /// How containerd reaches the registry (a `hosts.toml` it skips).
    Registry,
}

impl Warning {
    /// A warning about no particular place.
    pub fn new(kind: Kind, text: impl Into<String>) -> Warning {
        Warning {
            kind,
            file: None,
            line: None,
            text: text.into(),
        }
    }

    /// The same, about line `line`.
    pub fn line(mut self, line: usize) -> Warning {
        self.line = Some(line);
        self
    }

    /// The same, about the file `file` (a file without a name, text given alone, is none).
    pub fn file(mut self, file: &str) -> Warning {
        self.file = (!file.is_empty()).then(|| file.to_string());
        self
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
