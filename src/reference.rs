//! Image references for pausectl, checked against the distribution/reference
//! grammar (github.com/distribution/reference, reference.go), written by hand:
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path                  (at most 255 characters)
//! domain    := host [ ":" port ]                    host: labels joined by "." or "[ipv6]"
//! label     := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path      := component [ "/" component ]*
//! component := [a-z0-9]+ ( ( [._] | __ | [-]+ ) [a-z0-9]+ )*
//! tag       := [\w][\w.-]{0,127}
//! digest    := algorithm ":" hex                    algorithm: [a-z0-9]+ ( [.+_-] [a-z0-9]+ )*
//! ```
//!
//! As in Docker, the first component is a domain only when it contains `.` or
//! `:` or is `localhost`; otherwise the image would come from docker.io.
//! Non-ASCII input is rejected before any slicing, and all scanning is done on
//! bytes, so no input can panic.

use std::fmt;

/// Longest allowed name (domain and path together).
const NAME_MAX: usize = 255;
/// Longest allowed tag.
const TAG_MAX: usize = 128;
/// Registries anyone can pull from; a reference without a domain also goes to docker.io.
const PUBLIC: [&str; 5] = [
    "registry.k8s.io",
    "k8s.gcr.io",
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
];

/// A validated image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host with optional port, e.g. `registry.k8s.io` or `[::1]:5000`.
    pub domain: Option<String>,
    /// Repository path as written after the domain, e.g. `rancher/mirrored-pause`.
    pub path: String,
    /// Tag without the `:`.
    pub tag: Option<String>,
    /// Digest without the `@`, e.g. `sha256:0123…`.
    pub digest: Option<String>,
}

/// A registry given with `--registry`: `HOST[:PORT][/PATH]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// Host including the port, e.g. `harbor.corp:8443`.
    pub host: String,
    /// Repository path under the host, e.g. `k8s-mirror`.
    pub prefix: Option<String>,
}

/// Why an image reference or registry was rejected.
///
/// `value` is always the whole input as given (escaped in `BadChar`, so the
/// message stays on one line); the other fields name the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// Nothing, or only whitespace, was given.
    #[error("the {what} is empty: give one, e.g. `{example}`")]
    Empty {
        what: &'static str,
        example: &'static str,
    },
    /// Whitespace, a control character, a quote or a backslash (they would break TOML).
    #[error(
        "`{value}` contains {ch:?}: whitespace, control characters, quotes and backslashes are not allowed; remove it"
    )]
    BadChar { value: String, ch: char },
    /// Non-ASCII text, e.g. an internationalized host name.
    #[error(
        "`{value}` contains non-ASCII characters: write an internationalized host in its punycode `xn--` form (e.g. `xn--bcher-kva.example`), and paths and tags in ASCII"
    )]
    NonAscii { value: String },
    /// A URL scheme such as `https://`.
    #[error(
        "`{value}` has a URL scheme, which image references and registries never have: drop it and write `{suggestion}`"
    )]
    Scheme { value: String, suggestion: String },
    /// Nothing before the `:tag` or `@digest`.
    #[error("`{value}` has no repository name: write one, e.g. `registry.local:5000/pause:3.10`")]
    NoName { value: String },
    /// `//`, or a `/` at the start or end of the path.
    #[error(
        "`{value}` has an empty path component (`//`, or a `/` at the start or end): remove the extra `/`"
    )]
    EmptyComponent { value: String },
    /// Upper-case letters after the domain.
    #[error(
        "`{value}` has upper-case letters in the repository path `{path}`: only the registry host may have them; write the path in lower case"
    )]
    UpperCasePath { value: String, path: String },
    /// A path component that breaks `[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*`.
    #[error(
        "`{component}` in `{value}` is not a valid path component: use lower-case letters and digits, joined by `.`, `_`, `__` or dashes"
    )]
    BadComponent { value: String, component: String },
    /// A malformed host name or IPv6 literal.
    #[error(
        "`{host}` in `{value}` is not a valid registry host: use dot-separated labels of letters, digits and inner `-`, or an IPv6 literal like `[::1]`, then an optional `:port`"
    )]
    BadHost { value: String, host: String },
    /// A `:` after the host with no port.
    #[error("`{value}` has an empty port after `:`: write the port (1 to 65535) or drop the `:`")]
    EmptyPort { value: String },
    /// A port that is not a number from 1 to 65535.
    #[error("`{port}` in `{value}` is not a valid port: write a number from 1 to 65535")]
    BadPort { value: String, port: String },
    /// Domain and path together are longer than 255 characters.
    #[error(
        "`{value}` has a name of {len} characters: the registry host and path together may have at most 255; shorten it"
    )]
    NameTooLong { value: String, len: usize },
    /// A `:` with no tag after it.
    #[error("`{value}` has an empty tag after `:`: add a tag, e.g. `:3.10`, or drop the `:`")]
    EmptyTag { value: String },
    /// A tag longer than 128 characters.
    #[error(
        "`{value}` has a tag of {len} characters: tags may have at most 128; use a shorter tag"
    )]
    TagTooLong { value: String, len: usize },
    /// A tag with other characters than `[A-Za-z0-9_.-]`, or starting with `.` or `-`.
    #[error(
        "`{tag}` in `{value}` is not a valid tag: use letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )]
    BadTag { value: String, tag: String },
    /// A malformed `@digest`; `reason` says what a digest must look like.
    #[error("`{value}` has an invalid digest: {reason}")]
    BadDigest { value: String, reason: &'static str },
    /// Command line only: no registry host, so docker.io would be used.
    #[error(
        "`{value}` has no registry host: it would be pulled from docker.io; write the registry too, e.g. `registry.local:5000/{value}`"
    )]
    NoHost { value: String },
    /// Command line only: neither tag nor digest, so `:latest` would be pulled.
    #[error(
        "`{value}` has no tag or digest: containerd would pull `:latest`; add a tag, e.g. `:3.10`"
    )]
    NoTag { value: String },
    /// --registry whose first part does not look like a host.
    #[error(
        "`{value}` does not start with a registry host: write a host with a dot (e.g. `registry.local`), `localhost` or an IP address, optionally with `:port`"
    )]
    NotAHost { value: String },
    /// --registry with a `:tag` or `@digest`.
    #[error(
        "`{value}` has a tag or digest, but a registry is HOST[:PORT][/PATH]: drop the `:tag` or `@digest` part"
    )]
    RegistryHasTag { value: String },
}

impl ImageRef {
    /// Parses a reference as given on the command line: must have a registry host and a tag or digest.
    pub fn parse(s: &str) -> Result<ImageRef, RefError> {
        let r = ImageRef::parse_lenient(s)?;
        let value = s.to_string();
        if r.domain.is_none() {
            return Err(RefError::NoHost { value });
        }
        if r.tag.is_none() && r.digest.is_none() {
            return Err(RefError::NoTag { value });
        }
        Ok(r)
    }

    /// Parses a reference read from a config file: the grammar is checked but a missing host or missing tag is allowed.
    pub fn parse_lenient(s: &str) -> Result<ImageRef, RefError> {
        check_chars(s, "image reference", "registry.local:5000/pause:3.10")?;
        let value = || s.to_string();
        // From here on `s` is ASCII, so every byte index is a char boundary.
        // The digest follows the first `@`: neither name nor tag may contain one.
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        // The tag follows a `:` in the last component; an earlier `:` is a port.
        let last = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last..].find(':') {
            Some(i) => (&rest[..last + i], Some(&rest[last + i + 1..])),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(RefError::NoName { value: value() });
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, path)) if looks_like_host(first) => (Some(first), path),
            _ => (None, name),
        };
        if let Some(domain) = domain {
            check_domain(s, domain)?;
        }
        check_path(s, path)?;
        if name.len() > NAME_MAX {
            return Err(RefError::NameTooLong {
                value: value(),
                len: name.len(),
            });
        }
        if let Some(tag) = tag {
            check_tag(s, tag)?;
        }
        if let Some(digest) = digest {
            check_digest(s, digest)?;
        }
        Ok(ImageRef {
            domain: domain.map(str::to_string),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The string to write in the config: digest-only when a digest is present (containerd pins by the normalized name, and a tag+digest reference normalizes to digest-only), else `domain/path:tag`; no domain -> `path:tag`; no tag & no digest -> as written (no `:latest` added).
    pub fn pinned(&self) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(digest)) => format!("{}@{digest}", self.name()),
            (Some(tag), None) => format!("{}:{tag}", self.name()),
            (None, None) => self.name(),
        }
    }

    /// The same repository path, tag and digest under another registry (see Registry).
    /// An image already under that registry (and prefix) is returned as it is, so running
    /// `set --registry` twice changes nothing the second time.
    pub fn with_registry(&self, registry: &Registry) -> ImageRef {
        let same_host = self
            .domain
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case(&registry.host));
        let under_prefix = match &registry.prefix {
            Some(prefix) => self
                .path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/')),
            None => true,
        };
        if same_host && under_prefix {
            return self.clone();
        }
        let path = match &registry.prefix {
            Some(prefix) => format!("{prefix}/{}", self.path),
            None => self.path.clone(),
        };
        ImageRef {
            domain: Some(registry.host.clone()),
            path,
            ..self.clone()
        }
    }

    /// True when the reference has the shape kubeadm (1.27+) expects of the runtime's sandbox
    /// image, `<imageRepository>/pause:<version>`: last path component `pause`, a tag, no digest.
    pub fn kubeadm_shape(&self) -> bool {
        self.path.rsplit('/').next() == Some("pause") && self.tag.is_some() && self.digest.is_none()
    }

    /// True when the image would come from a public registry: domain is registry.k8s.io, k8s.gcr.io, docker.io, index.docker.io, registry-1.docker.io, or there is no domain.
    pub fn is_public(&self) -> bool {
        match &self.domain {
            None => true,
            // Host names are case-insensitive; a port makes it a different host.
            Some(domain) => PUBLIC.iter().any(|p| domain.eq_ignore_ascii_case(p)),
        }
    }

    /// `domain/path`, or `path` when there is no domain.
    fn name(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}/{}", self.path),
            None => self.path.clone(),
        }
    }
}

impl fmt::Display for ImageRef {
    /// Writes the reference as given: `domain/path[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl Registry {
    /// Parses `HOST[:PORT][/PATH]`, e.g. `harbor.corp:8443/k8s-mirror`.
    pub fn parse(s: &str) -> Result<Registry, RefError> {
        check_chars(s, "registry", "registry.local:5000/mirror")?;
        let value = || s.to_string();
        if s.contains('@') {
            return Err(RefError::RegistryHasTag { value: value() });
        }
        let (host, prefix) = match s.split_once('/') {
            Some((host, prefix)) => (host, Some(prefix)),
            None => (s, None),
        };
        if !looks_like_host(host) {
            return Err(RefError::NotAHost { value: value() });
        }
        check_domain(s, host)?;
        if let Some(prefix) = prefix {
            if prefix.contains(':') {
                return Err(RefError::RegistryHasTag { value: value() });
            }
            check_path(s, prefix)?; // an empty prefix (trailing `/`) is an empty component
        }
        Ok(Registry {
            host: host.to_string(),
            prefix: prefix.map(str::to_string),
        })
    }
}

impl fmt::Display for Registry {
    /// Writes `host` or `host/prefix`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.prefix {
            Some(prefix) => write!(f, "{}/{prefix}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Rejects input that is empty, would break a TOML string, is not ASCII, or is a URL.
fn check_chars(s: &str, what: &'static str, example: &'static str) -> Result<(), RefError> {
    if s.trim().is_empty() {
        return Err(RefError::Empty { what, example });
    }
    let bad = |ch: char| ch.is_whitespace() || ch.is_control() || matches!(ch, '"' | '\'' | '\\');
    if let Some(ch) = s.chars().find(|&ch| bad(ch)) {
        return Err(RefError::BadChar {
            value: s.escape_debug().to_string(),
            ch,
        });
    }
    if !s.is_ascii() {
        return Err(RefError::NonAscii {
            value: s.escape_debug().to_string(),
        });
    }
    if let Some(i) = s.find("://") {
        let suggestion = s[i + 3..].to_string();
        return Err(RefError::Scheme {
            value: s.to_string(),
            suggestion,
        });
    }
    Ok(())
}

/// Docker's rule for telling a registry host from the first path component.
fn looks_like_host(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

/// Checks `host[:port]`, where host is a DNS name, an IPv4 address or `[ipv6]`.
fn check_domain(value: &str, domain: &str) -> Result<(), RefError> {
    let bad = || RefError::BadHost {
        value: value.to_string(),
        host: domain.to_string(),
    };
    let (host_ok, port) = if domain.starts_with('[') {
        // IPv6 literal: hex digits and colons in brackets, then maybe `:port`.
        let end = domain.find(']').ok_or_else(bad)?;
        let inner = &domain[1..end];
        let ok = inner.contains(':') && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        let after = &domain[end + 1..];
        match after.strip_prefix(':') {
            Some(port) => (ok, Some(port)),
            None if after.is_empty() => (ok, None),
            None => return Err(bad()),
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        (host.split('.').all(valid_label), port)
    };
    if !host_ok {
        return Err(bad());
    }
    match port {
        None => Ok(()),
        Some("") => Err(RefError::EmptyPort {
            value: value.to_string(),
        }),
        Some(port) => {
            // At most 5 digits, so the parse cannot overflow.
            let digits = port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
            let n: u32 = if digits { port.parse().unwrap_or(0) } else { 0 };
            if (1..=65535).contains(&n) {
                Ok(())
            } else {
                Err(RefError::BadPort {
                    value: value.to_string(),
                    port: port.to_string(),
                })
            }
        }
    }
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn valid_label(label: &str) -> bool {
    let b = label.as_bytes();
    let edge = |c: Option<&u8>| c.is_some_and(u8::is_ascii_alphanumeric);
    edge(b.first()) && edge(b.last()) && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// Checks every `/`-separated component of a repository path.
fn check_path(input: &str, path: &str) -> Result<(), RefError> {
    let value = || input.to_string();
    for component in path.split('/') {
        if component.is_empty() {
            return Err(RefError::EmptyComponent { value: value() });
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RefError::UpperCasePath {
                value: value(),
                path: path.to_string(),
            });
        }
        if !valid_component(component) {
            return Err(RefError::BadComponent {
                value: value(),
                component: component.to_string(),
            });
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_component(component: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut rest = component.as_bytes();
    loop {
        // A run of letters and digits...
        let n = rest.iter().take_while(|b| alnum(b)).count();
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        if rest.is_empty() {
            return true;
        }
        // ...then one separator, which must be followed by another run.
        let n = rest.iter().take_while(|b| !alnum(b)).count();
        let sep = &rest[..n];
        if !(sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&b| b == b'-')) {
            return false;
        }
        rest = &rest[n..];
    }
}

/// `[\w][\w.-]{0,127}`
fn check_tag(value: &str, tag: &str) -> Result<(), RefError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match tag.as_bytes() {
        [] => Err(RefError::EmptyTag {
            value: value.to_string(),
        }),
        b if b.len() > TAG_MAX => Err(RefError::TagTooLong {
            value: value.to_string(),
            len: b.len(),
        }),
        [first, ..] if word(*first) && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-') => {
            Ok(())
        }
        _ => Err(RefError::BadTag {
            value: value.to_string(),
            tag: tag.to_string(),
        }),
    }
}

/// `algorithm:hex`; sha256 and sha512 need their exact lower-case hex length.
fn check_digest(value: &str, digest: &str) -> Result<(), RefError> {
    let fail = |reason| {
        Err(RefError::BadDigest {
            value: value.to_string(),
            reason,
        })
    };
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return fail("write `@algorithm:hex`, e.g. `@sha256:` and 64 lower-case hex characters");
    };
    let lower_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let alg_part = |c: &str| !c.is_empty() && c.bytes().all(lower_alnum);
    if !algorithm.split(['.', '+', '_', '-']).all(alg_part) {
        return fail(
            "the algorithm must be lower-case letters and digits, joined by single `.`, `+`, `_` or `-`, e.g. `sha256`",
        );
    }
    let lower_hex =
        |n: usize| hex.len() == n && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let other = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-');
    match algorithm {
        "sha256" if !lower_hex(64) => {
            fail("a sha256 digest is exactly 64 lower-case hex characters")
        }
        "sha512" if !lower_hex(128) => {
            fail("a sha512 digest is exactly 128 lower-case hex characters")
        }
        "sha256" | "sha512" => Ok(()),
        _ if hex.len() < 32 || !hex.bytes().all(other) => {
            fail("the encoded part must be at least 32 letters, digits, `=`, `_` or `-`")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Expands placeholders for long values in the tables.
    fn expand(s: &str) -> String {
        s.replace("{D}", &format!("sha256:{H64}"))
            .replace("{H64}", H64)
            .replace("{UH64}", &H64.to_uppercase())
            .replace("{H128}", &H64.repeat(2))
            .replace("{T128}", &"t".repeat(128))
            .replace("{T129}", &"t".repeat(129))
            .replace("{N240}", &"n".repeat(240))
            .replace("{N241}", &"n".repeat(241))
    }

    /// Whether `e` is the variant named `want`.
    fn is(e: &RefError, want: &str) -> bool {
        format!("{e:?}").starts_with(&format!("{want} "))
    }

    /// Valid for `parse`; each prints back unchanged.
    const VALID: &[&str] = &[
        "registry.k8s.io/pause:3.10",
        "registry.local:5000/pause:3.10",
        "localhost/pause:1",
        "localhost:5000/pause:1",
        "[::1]:5000/pause:3.10",
        "[::1]/pause:3.10",
        "[2001:db8::1]:443/k8s/pause:3.9",
        "Registry.Local/pause:1",
        "REGISTRY.LOCAL:5000/pause:1",
        "192.168.1.10:5000/pause:3.10",
        "docker.io/rancher/mirrored-pause:3.6",
        "harbor.corp:8443/k8s-mirror/pause:3.10",
        "registry.local/a/b/c/d/pause:1",
        "registry.local/pause@{D}",
        "registry.local/pause:3.10@{D}",
        "localhost:5000/pause:3.10@{D}",
        "registry.local/pause@sha512:{H128}",
        "r.io/p@multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9K",
        "registry.local/pause:latest",
        "registry.local/pause:_x",
        "registry.local/pause:V1.0-rc.1_b",
        "registry.local/pause:{T128}",
        "registry.local/my_image:1",
        "registry.local/my__image:1",
        "registry.local/my---image:1",
        "registry.local/my.image.x:1",
        "registry.local/0/9:1",
        "xn--bcher-kva.example/pause:1",
        "a.b/c:1",
        "r-1.example-2.com/pause:1",
        "registry.local:65535/pause:1",
        "registry.local:1/pause:1",
        "registry.local/{N240}:1",
        // The grammar limits the whole name to 255 characters, not a host label to 63.
        "{N241}.local/pause:1",
    ];

    /// Valid for `parse_lenient` only: (input, error from `parse`).
    const LENIENT: &[(&str, &str)] = &[
        ("pause:3.10", "NoHost"),
        ("pause", "NoHost"),
        ("rancher/mirrored-pause:3.6", "NoHost"),
        ("library/pause:3.10@{D}", "NoHost"),
        ("registry.local:5000", "NoHost"), // name `registry.local`, tag `5000`
        ("registry.local/pause", "NoTag"),
        ("localhost/pause", "NoTag"),
        ("[::1]:5000/pause", "NoTag"),
    ];

    /// (input, pinned()) for inputs whose pinned form differs or is unusual.
    const PINNED: &[(&str, &str)] = &[
        ("registry.local/pause:3.10@{D}", "registry.local/pause@{D}"),
        (
            "localhost:5000/k8s/pause:3.10@{D}",
            "localhost:5000/k8s/pause@{D}",
        ),
        ("registry.local/pause@{D}", "registry.local/pause@{D}"),
        ("library/pause:3.10@{D}", "library/pause@{D}"),
        ("pause:3.10", "pause:3.10"),
        ("registry.local/pause", "registry.local/pause"),
        ("Registry.Local:5000/pause:1", "Registry.Local:5000/pause:1"),
    ];

    /// Invalid for `parse`: (input, error variant).
    const INVALID: &[(&str, &str)] = &[
        ("", "Empty"),
        ("   ", "Empty"),
        ("\t\n", "Empty"),
        (" registry.local/pause:1", "BadChar"),
        ("registry.local/pause:1 ", "BadChar"),
        ("registry.local/pa use:1", "BadChar"),
        ("registry.local/pause:1\n", "BadChar"),
        ("registry.local/pause:1\r", "BadChar"),
        ("registry.local/\tpause:1", "BadChar"),
        ("registry.local/pause:\u{0}1", "BadChar"),
        ("registry.local/pause:1\u{7f}", "BadChar"),
        ("\"registry.local/pause:1\"", "BadChar"),
        ("'registry.local/pause:1'", "BadChar"),
        ("registry.local\\pause:1", "BadChar"),
        ("registry.local/pause:1\u{a0}", "BadChar"),
        ("registry.local/pause:1\u{1b}[0m", "BadChar"),
        ("régistry.local/pause:1", "NonAscii"),
        ("registry.local/päuse:1", "NonAscii"),
        ("registry.local/pause:3.10é", "NonAscii"),
        ("例え.jp/pause:1", "NonAscii"),
        ("registry.local/pause:1\u{200b}", "NonAscii"),
        ("🦀.io/pause:1", "NonAscii"),
        ("https://registry.local/pause:1", "Scheme"),
        ("http://registry.local/pause:1", "Scheme"),
        ("oci://registry.local/pause:1", "Scheme"),
        (":3.10", "NoName"),
        ("@{D}", "NoName"),
        ("registry.local//pause:1", "EmptyComponent"),
        ("registry.local/pause/:1", "EmptyComponent"),
        ("registry.local/", "EmptyComponent"),
        ("/pause:1", "EmptyComponent"),
        ("registry.local/a//b:1", "EmptyComponent"),
        ("registry.local/Pause:1", "UpperCasePath"),
        ("registry.local/k8s/PAUSE:1", "UpperCasePath"),
        ("Registry/pause:1", "UpperCasePath"),
        ("registry.local/-pause:1", "BadComponent"),
        ("registry.local/pause-:1", "BadComponent"),
        ("registry.local/pa..use:1", "BadComponent"),
        ("registry.local/pa___use:1", "BadComponent"),
        ("registry.local/pa.-use:1", "BadComponent"),
        ("registry.local/_pause:1", "BadComponent"),
        ("registry.local/pa+use:1", "BadComponent"),
        ("registry.local/pause:v1/2", "BadComponent"),
        ("[abc]/pause:1", "BadComponent"),
        ("-registry.local/pause:1", "BadHost"),
        ("registry-.local/pause:1", "BadHost"),
        ("registry..local/pause:1", "BadHost"),
        ("registry.local./pause:1", "BadHost"),
        (":5000/pause:1", "BadHost"),
        ("reg_istry.local/pause:1", "BadHost"),
        ("[::1/pause:1", "BadHost"),
        ("[::g]:5000/pause:1", "BadHost"),
        ("[::1]x/pause:1", "BadHost"),
        ("[]:5000/pause:1", "BadHost"),
        ("registry.local:/pause:1", "EmptyPort"),
        ("[::1]:/pause:1", "EmptyPort"),
        ("registry.local:0/pause:1", "BadPort"),
        ("registry.local:65536/pause:1", "BadPort"),
        ("registry.local:123456/pause:1", "BadPort"),
        ("registry.local:50a/pause:1", "BadPort"),
        ("registry.local:5000:1/pause:1", "BadPort"),
        ("localhost:http/pause:1", "BadPort"),
        ("registry.local/{N241}:1", "NameTooLong"),
        ("registry.local/pause:", "EmptyTag"),
        ("registry.local/pause:@{D}", "EmptyTag"),
        ("registry.local/pause:{T129}", "TagTooLong"),
        ("registry.local/pause:-1", "BadTag"),
        ("registry.local/pause:.1", "BadTag"),
        ("registry.local/pause:1+2", "BadTag"),
        ("registry.local/pause:1:2", "BadTag"),
        ("registry.local/pause@", "BadDigest"),
        ("registry.local/pause@sha256", "BadDigest"),
        ("registry.local/pause@sha256:abc", "BadDigest"),
        ("registry.local/pause@sha256:{UH64}", "BadDigest"),
        ("registry.local/pause@sha256:{H64}0", "BadDigest"),
        ("registry.local/pause@sha512:{H64}", "BadDigest"),
        ("registry.local/pause@SHA256:{H64}", "BadDigest"),
        ("registry.local/pause@sha256+:{H64}", "BadDigest"),
        ("registry.local/pause@:{H64}", "BadDigest"),
        ("registry.local/pause@{D}@x", "BadDigest"),
        ("registry.local/pause@md5:{H64}!", "BadDigest"),
        (
            "registry.local/pause@foo:0123456789abcdef0123456789abcde",
            "BadDigest",
        ),
        ("pause:3.10", "NoHost"),
        ("rancher/mirrored-pause:3.6", "NoHost"),
        ("registry.local:5000", "NoHost"),
        ("registry.local/pause", "NoTag"),
        ("localhost/pause", "NoTag"),
        ("[::1]:5000/pause", "NoTag"),
        // Each `--image` a case in testdata/cases refuses (checked below).
        ("registry.local/pause:3.10\"", "BadChar"),
        ("registry.local:99999/pause:3.10", "BadPort"),
        ("registry.local//pause:3.10", "EmptyComponent"),
        ("registry.local/pause:-3.10", "BadTag"),
        ("registry.local/Pause:3.10", "UpperCasePath"),
        ("https://registry.local/pause:3.10", "Scheme"),
        // Text that would break out of a TOML string or line if it were written unescaped.
        (
            "registry.local/pause:1\"\nsandbox_image = \"evil.io/x:1",
            "BadChar",
        ),
        ("registry.local/pause:1'''", "BadChar"),
        ("registry.local/pause:1#comment", "BadTag"),
        ("registry.local/pause:1\u{2028}", "BadChar"),
        ("registry.local/pause:1\u{85}", "BadChar"),
        ("[fe80::1%eth0]:5000/pause:1", "BadHost"),
        ("[::ffff:1.2.3.4]:5000/pause:1", "BadHost"),
        ("{N241}.local/{N241}:1", "NameTooLong"),
    ];

    /// The `--image` of every case folder that expects `invalid --image` is in `INVALID`.
    #[test]
    fn refused_cases_are_in_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cases");
        let mut found = 0;
        for case in std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()) {
            let stderr = std::fs::read_to_string(case.join("stderr")).unwrap_or_default();
            let args = std::fs::read_to_string(case.join("args")).unwrap();
            let args: Vec<&str> = args.lines().collect();
            let Some(i) = args.iter().position(|a| *a == "--image") else {
                continue;
            };
            if stderr.contains("invalid --image") {
                assert!(
                    INVALID
                        .iter()
                        .any(|(input, _)| expand(input) == args[i + 1]),
                    "{}: `{}` is not in INVALID",
                    case.display(),
                    args[i + 1]
                );
                found += 1;
            }
        }
        assert!(found >= 9, "{found}");
    }

    #[test]
    fn valid_references() {
        for input in VALID.iter().map(|s| expand(s)) {
            let r = ImageRef::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), input);
            assert_eq!(ImageRef::parse_lenient(&input), Ok(r));
        }
        for (input, strict) in LENIENT {
            let input = expand(input);
            let r = ImageRef::parse_lenient(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), input);
            assert!(is(&ImageRef::parse(&input).unwrap_err(), strict), "{input}");
        }
        for (input, pinned) in PINNED {
            let r = ImageRef::parse_lenient(&expand(input)).unwrap();
            assert_eq!(r.pinned(), expand(pinned));
        }
    }

    #[test]
    fn invalid_references() {
        for (input, want) in INVALID {
            let input = expand(input);
            let err = ImageRef::parse(&input).expect_err(&input);
            assert!(is(&err, want), "{input:?}: {err:?}");
            let msg = err.to_string();
            let start_ok = msg.starts_with(|c: char| c == '`' || c.is_ascii_lowercase());
            assert!(
                start_ok && !msg.ends_with('.') && !msg.contains('\n') && msg.contains('`'),
                "{msg}"
            );
        }
    }

    #[test]
    fn fields_and_messages() {
        let r = ImageRef::parse(&expand("[::1]:5000/k8s/pause:3.10@{D}")).unwrap();
        assert_eq!(r.domain.as_deref(), Some("[::1]:5000"));
        assert_eq!(
            (r.path.as_str(), r.tag.as_deref()),
            ("k8s/pause", Some("3.10"))
        );
        assert_eq!(r.digest, Some(expand("{D}")));
        let r = ImageRef::parse_lenient("pause").unwrap();
        assert_eq!((r.domain, r.tag, r.digest), (None, None, None));
        let msg = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("pause:3.10"),
            "`pause:3.10` has no registry host: it would be pulled from docker.io; write the registry too, e.g. `registry.local:5000/pause:3.10`"
        );
        assert_eq!(
            msg("registry.local/pause"),
            "`registry.local/pause` has no tag or digest: containerd would pull `:latest`; add a tag, e.g. `:3.10`"
        );
        assert!(msg("https://r.io/p:1").ends_with("drop it and write `r.io/p:1`"));
        assert!(msg("r.io/p:1\n").starts_with("`r.io/p:1\\n` contains '\\n'"));
        assert!(msg("bücher.de/p:1").contains("`xn--`"));
    }

    #[test]
    fn with_registry() {
        let cases = [
            (
                "registry.k8s.io/pause:3.10",
                "harbor.corp:8443/k8s-mirror",
                "harbor.corp:8443/k8s-mirror/pause:3.10",
            ),
            (
                "docker.io/rancher/mirrored-pause:3.6",
                "registry.local",
                "registry.local/rancher/mirrored-pause:3.6",
            ),
            (
                "pause:3.10",
                "registry.local:5000",
                "registry.local:5000/pause:3.10",
            ),
            (
                "registry.k8s.io/pause:3.10@{D}",
                "localhost:5000/a/b",
                "localhost:5000/a/b/pause:3.10@{D}",
            ),
            ("registry.local/pause", "[::1]:5000", "[::1]:5000/pause"),
            // Already there: unchanged, so a second `set --registry` is a no-op.
            (
                "harbor.corp:8443/k8s-mirror/pause:3.9",
                "harbor.corp:8443/k8s-mirror",
                "harbor.corp:8443/k8s-mirror/pause:3.9",
            ),
            (
                "registry.local/pause:1",
                "registry.local",
                "registry.local/pause:1",
            ),
            // Same host, another prefix: moved under the prefix.
            (
                "harbor.corp/k8s-mirrored/pause:1",
                "harbor.corp/k8s-mirror",
                "harbor.corp/k8s-mirror/k8s-mirrored/pause:1",
            ),
        ];
        for (input, registry, want) in cases {
            let r = ImageRef::parse_lenient(&expand(input)).unwrap();
            let moved = r.with_registry(&Registry::parse(registry).unwrap());
            assert_eq!(moved.to_string(), expand(want));
            assert_eq!(ImageRef::parse_lenient(&moved.to_string()), Ok(moved));
        }
        let r = ImageRef::parse("registry.k8s.io/pause:3.10").unwrap();
        let m = r.with_registry(&Registry::parse("harbor.corp:8443/k8s-mirror").unwrap());
        assert_eq!(
            (m.domain.as_deref(), m.path.as_str()),
            (Some("harbor.corp:8443"), "k8s-mirror/pause")
        );
        assert_eq!(m.tag.as_deref(), Some("3.10"));
    }

    #[test]
    fn kubeadm_shape() {
        let shape = |s: &str| ImageRef::parse(&expand(s)).unwrap().kubeadm_shape();
        assert!(shape("registry.local:5000/pause:3.10"));
        assert!(shape("harbor.corp/k8s-mirror/pause:3.10"));
        assert!(!shape("registry.local/rancher/mirrored-pause:3.6"));
        assert!(!shape("registry.local/pause@{D}"));
        assert!(!shape("registry.local/pause:3.10@{D}"));
    }

    #[test]
    fn is_public() {
        let cases = [
            ("registry.k8s.io/pause:3.10", true),
            ("k8s.gcr.io/pause:3.2", true),
            ("docker.io/library/pause:1", true),
            ("index.docker.io/library/pause:1", true),
            ("registry-1.docker.io/library/pause:1", true),
            ("Docker.IO/rancher/pause:1", true),
            ("pause:3.10", true),
            ("rancher/mirrored-pause:3.6", true),
            ("registry.local/pause:1", false),
            ("registry.k8s.io:443/pause:1", false),
            ("localhost/pause:1", false),
            ("registry.k8s.io.evil.com/pause:1", false),
            ("gcr.io/pause:1", false),
        ];
        for (input, public) in cases {
            assert_eq!(
                ImageRef::parse_lenient(input).unwrap().is_public(),
                public,
                "{input}"
            );
        }
    }

    #[test]
    fn registries() {
        let valid = [
            ("registry.local", "registry.local", None),
            ("registry.local:5000", "registry.local:5000", None),
            ("localhost", "localhost", None),
            ("localhost:5000/m", "localhost:5000", Some("m")),
            ("[::1]:5000", "[::1]:5000", None),
            (
                "harbor.corp:8443/k8s-mirror",
                "harbor.corp:8443",
                Some("k8s-mirror"),
            ),
            ("r.io/a/b-c/d_e", "r.io", Some("a/b-c/d_e")),
            ("Registry.Local/mirror", "Registry.Local", Some("mirror")),
            ("10.0.0.1", "10.0.0.1", None),
        ];
        for (input, host, prefix) in valid {
            let r = Registry::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((r.host.as_str(), r.prefix.as_deref()), (host, prefix));
            assert_eq!(r.to_string(), input);
        }
        let invalid = [
            ("", "Empty"),
            (" ", "Empty"),
            ("registry", "NotAHost"),
            ("mirror/pause", "NotAHost"),
            ("registry.local/", "EmptyComponent"),
            ("registry.local//x", "EmptyComponent"),
            ("https://registry.local", "Scheme"),
            ("registry.local/pause:3.10", "RegistryHasTag"),
            ("registry.local/pause@{D}", "RegistryHasTag"),
            ("registry.local:0", "BadPort"),
            ("pause:3.10", "BadPort"),
            ("registry.local:", "EmptyPort"),
            ("registry.local/Mirror", "UpperCasePath"),
            ("registry.local/-x", "BadComponent"),
            ("registry .local", "BadChar"),
            ("\"registry.local\"", "BadChar"),
            ("régistry.local", "NonAscii"),
            ("-bad.local", "BadHost"),
            ("[::1", "BadHost"),
        ];
        for (input, want) in invalid {
            let err = Registry::parse(&expand(input)).expect_err(input);
            assert!(is(&err, want), "{input:?}: {err:?}");
        }
    }

    /// Every prefix, suffix, 1-byte and 2-byte mutation of a few references:
    /// nothing panics, and whatever parses prints back to the same reference.
    #[test]
    fn no_panic_on_mutations() {
        let seeds = [
            expand("registry.k8s.io/pause:3.10@{D}"),
            "[::1]:5000/pause:3.10".to_string(),
            "régistry.ü/päuse:ø@ø:ø".to_string(),
            "localhost:5000/a_b/c:1".to_string(),
        ];
        let check = |bytes: &[u8]| {
            let s = String::from_utf8_lossy(bytes);
            for r in [ImageRef::parse(&s), ImageRef::parse_lenient(&s)]
                .into_iter()
                .flatten()
            {
                assert_eq!(ImageRef::parse_lenient(&r.to_string()).as_ref(), Ok(&r));
                assert!(ImageRef::parse_lenient(&r.pinned()).is_ok());
            }
            if let Ok(g) = Registry::parse(&s) {
                assert_eq!(Registry::parse(&g.to_string()), Ok(g));
            }
        };
        let alphabet = b"/:@[]\xc3";
        for seed in &seeds {
            let b = seed.as_bytes();
            for i in 0..=b.len() {
                check(&b[..i]);
                check(&b[i..]);
                for x in ["é", "日", "🦀", "\n"] {
                    check(&[&b[..i], x.as_bytes(), &b[i..]].concat());
                }
            }
            for i in 0..b.len() {
                let mut m = b.to_vec();
                for x in 0..=255u8 {
                    m[i] = x;
                    check(&m);
                }
                for j in i + 1..b.len() {
                    let mut m = b.to_vec();
                    for &x in alphabet {
                        for &y in alphabet {
                            (m[i], m[j]) = (x, y);
                            check(&m);
                        }
                    }
                }
            }
        }
    }
}
