//! Platforms as containerd matches them: `os/arch[/variant]`, normalized (`x86_64` is `amd64`,
//! `aarch64` is `arm64`, arm64's variant `v8`), and the fallbacks of `platforms.Only` (amd64
//! accepts 386; arm64 accepts arm v8 to v5; arm vN accepts lower variants).

use std::fmt;

/// A platform, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

impl Platform {
    /// `os/arch[/variant]`, normalized.
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts[..] {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => {
                Ok(Platform::new(os, arch, parts.get(2).copied().unwrap_or("")))
            }
            _ => Err(format!(
                "`{s}` is not a platform: use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8"
            )),
        }
    }

    /// A platform, normalized as containerd's `platforms.Normalize` does.
    pub fn new(os: &str, arch: &str, variant: &str) -> Platform {
        let os = os.to_ascii_lowercase();
        let (arch, variant) = match (arch.to_ascii_lowercase().as_str(), variant) {
            ("i386", _) => ("386".to_string(), String::new()),
            ("x86_64" | "x86-64" | "amd64", v) => (
                "amd64".to_string(),
                if v == "v1" { "" } else { v }.to_string(),
            ),
            ("aarch64" | "arm64", "" | "8" | "v8" | "v8.0") => ("arm64".to_string(), "v8".into()),
            ("aarch64" | "arm64", v) => ("arm64".to_string(), v.to_string()),
            ("armhf", _) => ("arm".to_string(), "v7".into()),
            ("armel", _) => ("arm".to_string(), "v6".into()),
            ("arm", "") => ("arm".to_string(), "v7".into()),
            ("arm", v) if !v.starts_with('v') => ("arm".to_string(), format!("v{v}")),
            (a, v) => (a.to_string(), v.to_string()),
        };
        Platform { os, arch, variant }
    }

    /// The platform of this machine, as containerd's `platforms.DefaultSpec` gives it.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            a => a,
        };
        Platform::new(std::env::consts::OS, arch, "")
    }

    /// From an index entry's `platform` object; `None` when it has none.
    pub fn from_json(v: &serde_json::Value) -> Option<Platform> {
        let s = |k: &str| v[k].as_str().unwrap_or("");
        (v.is_object() && !s("os").is_empty())
            .then(|| Platform::new(s("os"), s("architecture"), s("variant")))
    }

    /// Exactly this platform (2.x's transfer service, `platforms.Ordered`).
    pub fn same(&self, other: &Platform) -> bool {
        self == other
    }

    /// Whether containerd's `platforms.Only(self)` accepts `other`.
    pub fn accepts(&self, other: &Platform) -> bool {
        if self.os != other.os {
            return false;
        }
        let version = |v: &str| v.trim_start_matches('v').parse::<u32>().unwrap_or(0);
        match (self.arch.as_str(), other.arch.as_str()) {
            (a, b) if a == b && a == "amd64" => {
                // vN accepts vN down to v1 ("").
                other.variant.is_empty() || version(&other.variant) <= version(&self.variant)
            }
            ("amd64", "386") => true,
            ("arm64", "arm64") => other.variant == self.variant,
            ("arm64", "arm") => (5..=8).contains(&version(&other.variant)),
            ("arm", "arm") => {
                let v = version(&other.variant);
                (5..=version(&self.variant)).contains(&v)
            }
            (a, b) => a == b && self.variant == other.variant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn normalizes_and_matches_as_containerd() {
        assert_eq!(p("linux/aarch64").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/x86_64").to_string(), "linux/amd64");
        assert_eq!(p("linux/armhf").to_string(), "linux/arm/v7");
        assert!(p("linux/amd64").accepts(&p("linux/386")));
        assert!(!p("linux/amd64").same(&p("linux/386")));
        assert!(p("linux/arm64").accepts(&p("linux/arm/v7")));
        assert!(p("linux/arm64").accepts(&p("linux/arm64/v8")));
        assert!(!p("linux/arm64").accepts(&p("linux/amd64")));
        assert!(!p("linux/arm/v6").accepts(&p("linux/arm/v7")));
        assert!(p("linux/arm/v7").accepts(&p("linux/arm/v6")));
        assert!(!p("linux/amd64").accepts(&p("windows/amd64")));
        assert!(Platform::parse("amd64").is_err());
    }
}
