//! Which containerd release reads the config (parsed from `--containerd-version`, or from
//! `containerd --version`, which the binary runs), and every rule that differs by release: the
//! sandbox image it uses when nothing sets one, reading version 3 as 2, globbing imports as
//! written.

use std::fmt;

/// How a release is written on the command line, for messages: `X.Y` or `X.Y.Z`, with examples.
pub const FORMS: &str = "X.Y or X.Y.Z, e.g. `1.7` or `2.1.4`";

/// A containerd release, `major.minor[.patch]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    /// Major version: 1 or 2.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version; `None` when only `X.Y` was given.
    pub patch: Option<u32>,
}

impl Release {
    /// Parses `1.7`, `1.7.24`, `v2.1.9`; a suffix after the patch (`~ds1`, `+unknown`, `-rc.1`)
    /// is ignored, as in Debian's `containerd --version`.
    pub fn parse(s: &str) -> Option<Release> {
        let s = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let mut parts = s.splitn(3, '.');
        let number = |p: Option<&str>| -> Option<u32> {
            let p = p?;
            let digits = &p[..p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len())];
            (!digits.is_empty() && digits.len() <= 6).then(|| digits.parse().ok())?
        };
        let major_str = parts.next()?;
        let minor_str = parts.next()?;
        if !major_str.bytes().all(|b| b.is_ascii_digit())
            || !minor_str.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let major = number(Some(major_str))?;
        let minor = number(Some(minor_str))?;
        let patch = match parts.next() {
            None => None,
            Some(p) => Some(number(Some(p))?),
        };
        (major >= 1).then_some(Release {
            major,
            minor,
            patch,
        })
    }

    /// The release that `containerd --version` names in its output, e.g. "containerd
    /// github.com/containerd/containerd/v2 v2.1.4 75cb2b7..." (Debian: "2.1.9+unknown").
    pub fn from_version_output(text: &str) -> Option<Release> {
        text.split_whitespace().nth(2).and_then(Release::parse)
    }

    /// The release of `package` as dpkg's status database (`/var/lib/dpkg/status`) has it
    /// installed: `Version: 1.7.24~ds1-6+deb13u1` (an epoch `N:` ignored) is 1.7.24. `None`
    /// when the package is not there, not fully installed, or its version is not a release.
    pub fn from_dpkg_status(status: &str, package: &str) -> Option<Release> {
        let stanza = status
            .split("\n\n")
            .find(|s| s.trim_start().lines().next() == Some(&format!("Package: {package}")))?;
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        };
        if field("Status") != Some("install ok installed") {
            return None;
        }
        let version = field("Version")?;
        let upstream = version.split_once(':').map_or(version, |(_, v)| v);
        Release::parse(upstream)
    }

    /// Whether a loopback registry with a port is tried over HTTPS (unverified) before plain
    /// HTTP when `config_path` is set: from 1.6.25 and 1.7.7 on (before: plain HTTP only). A
    /// release given as X.Y counts as its latest patch.
    pub fn localhost_tries_https(&self) -> bool {
        match (self.major, self.minor, self.patch) {
            (1, 6, Some(p)) => p >= 25,
            (1, 7, Some(p)) => p >= 7,
            (1, m, _) => m > 5,
            _ => true,
        }
    }

    /// True for 2.0 and later.
    pub fn is_2x(&self) -> bool {
        self.major >= 2
    }

    /// True for the releases that read `major.minor` or later.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Whether this release reads any config version above 2 as version 2, ignoring the
    /// version-3 keys: the releases before the version check (1.6.32, 1.7.17; measured: 1.6.20
    /// with versions 3 to 6).
    pub fn reads_v3_as_v2(&self) -> bool {
        self.major == 1
            && (self.minor < 6
                || (self.minor == 6 && self.patch.is_some_and(|p| p < 32))
                || (self.minor == 7 && self.patch.is_some_and(|p| p < 17)))
    }

    /// Whether this release globs an `imports` entry as written (not cleaned, a relative one
    /// from its working directory, not the importing file's): 1.6 before 1.6.29 and 1.7 before
    /// 1.7.16 (source: `resolveImports`; measured with 1.6.20).
    pub fn globs_as_written(&self) -> bool {
        self.major == 1
            && ((self.minor == 6 && self.patch.is_some_and(|p| p < 29))
                || (self.minor == 7 && self.patch.is_some_and(|p| p < 16))
                || self.minor < 6)
    }

    /// The sandbox image this release uses when no config sets one, as measured on real builds.
    pub fn default_image(&self) -> Option<&'static str> {
        let patch = self.patch.unwrap_or(u32::MAX);
        Some(match (self.major, self.minor) {
            (1, 5) if patch < 14 => "k8s.gcr.io/pause:3.5",
            (1, 5) => "registry.k8s.io/pause:3.5",
            (1, 6) if patch < 9 => "k8s.gcr.io/pause:3.6",
            (1, 6) => "registry.k8s.io/pause:3.6",
            (1, 7) => "registry.k8s.io/pause:3.8",
            (2, 0) | (2, 1) => "registry.k8s.io/pause:3.10",
            (2, 2) => "registry.k8s.io/pause:3.10.1",
            (2, 3) => "registry.k8s.io/pause:3.10.2",
            _ => return None,
        })
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(p) = self.patch {
            write!(f, ".{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dpkg_status() {
        let status = "Package: containerd-tools\nStatus: install ok installed\nVersion: 9.9.9\n\n\
            Package: containerd\nStatus: install ok installed\nPriority: optional\n\
            Version: 1.7.24~ds1-6+deb13u1\nDescription: daemon\n continued\n\n\
            Package: containerd.io\nStatus: deinstall ok config-files\nVersion: 1.7.27-1\n\n\
            Package: other\nStatus: install ok installed\nVersion: 1:2.1.9-1\n";
        let r = |p| Release::from_dpkg_status(status, p).map(|r| r.to_string());
        assert_eq!(r("containerd").as_deref(), Some("1.7.24"));
        // Removed, its config files kept: not installed.
        assert_eq!(r("containerd.io"), None);
        // An epoch is not the release.
        assert_eq!(r("other").as_deref(), Some("2.1.9"));
        assert_eq!(r("containerd-shim"), None);
        assert_eq!(r("containerd-tool"), None);
    }

    #[test]
    fn parses_release_strings() {
        let r = |s| Release::parse(s).map(|r| r.to_string());
        assert_eq!(r("1.6"), Some("1.6".into()));
        assert_eq!(r("1.7.24"), Some("1.7.24".into()));
        assert_eq!(r("v2.1.9"), Some("2.1.9".into()));
        assert_eq!(r("2.1.9+unknown"), Some("2.1.9".into()));
        assert_eq!(r("1.6.20~ds1"), Some("1.6.20".into()));
        assert_eq!(r("2.3.0"), Some("2.3.0".into()));
        for bad in [
            "",
            "2",
            "two.one",
            "2.x",
            "1.7.",
            "0.9",
            "-1.7",
            "1.7a",
            "99999999.1",
            "1..2",
            " . ",
        ] {
            assert_eq!(Release::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn defaults_follow_the_measured_table() {
        let d = |s| Release::parse(s).unwrap().default_image();
        assert_eq!(d("1.6.20"), Some("registry.k8s.io/pause:3.6"));
        assert_eq!(d("1.6.8"), Some("k8s.gcr.io/pause:3.6"));
        assert_eq!(d("1.7"), Some("registry.k8s.io/pause:3.8"));
        assert_eq!(d("2.1.9"), Some("registry.k8s.io/pause:3.10"));
        assert_eq!(d("2.2"), Some("registry.k8s.io/pause:3.10.1"));
        assert_eq!(d("2.3.0"), Some("registry.k8s.io/pause:3.10.2"));
        assert_eq!(d("1.4"), None);
        assert_eq!(d("2.9"), None);
    }
}
