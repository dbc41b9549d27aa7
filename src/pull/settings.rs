//! The CRI plugin's `registry` settings that govern the sandbox image's pull, read from a
//! config chain as a release merges it: `config_path`, `mirrors`, `configs."<host>".auth` and
//! `.tls`, `headers`. containerd 1.x takes the CRI plugin table of the last file that has one;
//! 2.x merges key by key, and moves a version-2 file's table to `io.containerd.cri.v1.images`.

use crate::release::Release;
use std::collections::BTreeMap;
use toml_edit::{ImDocument, Item};

/// Credentials for one host (`configs."<host>".auth`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    pub username: String,
    pub password: String,
    /// base64 of `user:password`.
    pub auth: String,
    pub identitytoken: String,
}

/// TLS for one host (`configs."<host>".tls`, read by 1.x only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub insecure_skip_verify: bool,
}

/// The registry settings in effect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registry {
    /// `config_path`: directories of `hosts.toml` files, `:`-separated.
    pub config_path: String,
    /// `mirrors."<host>".endpoint`.
    pub mirrors: BTreeMap<String, Vec<String>>,
    pub auth: BTreeMap<String, Auth>,
    pub tls: BTreeMap<String, Tls>,
    /// `configs` has entries (2.x then pulls with its own client, not the transfer service).
    pub has_configs: bool,
    /// `headers`.
    pub headers: Vec<(String, String)>,
}

impl Auth {
    /// containerd's `ParseAuth`: the user name and secret to send (an empty user name with a
    /// secret: an identity token, used as an OAuth refresh token).
    pub fn credentials(&self) -> Result<(String, String), String> {
        if !self.username.is_empty() {
            return Ok((self.username.clone(), self.password.clone()));
        }
        if !self.identitytoken.is_empty() {
            return Ok((String::new(), self.identitytoken.clone()));
        }
        if !self.auth.is_empty() {
            use base64::Engine;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&self.auth)
                .map_err(|e| format!("`auth` is not base64: {e}"))?;
            let text = String::from_utf8_lossy(&decoded);
            let (user, pass) = text
                .split_once(':')
                .ok_or("invalid decoded auth: no `:` between user name and password")?;
            return Ok((user.to_string(), pass.trim_matches('\0').to_string()));
        }
        Ok((String::new(), String::new()))
    }
}

/// The key a file of this version keeps the CRI registry table under.
fn plugin_path(version: i64, release: Release) -> Option<&'static [&'static str]> {
    Some(match version {
        0 | 1 => &["plugins", "cri"],
        2 => &["plugins", "io.containerd.grpc.v1.cri"],
        _ if release.is_2x() => &["plugins", "io.containerd.cri.v1.images"],
        _ if release.reads_v3_as_v2() => &["plugins", "io.containerd.grpc.v1.cri"],
        _ => return None,
    })
}

/// A table's entry by key, as Go's decoders match struct fields: exact, else any case.
fn get<'a>(item: &'a Item, key: &str) -> Option<&'a Item> {
    let t = item.as_table_like()?;
    t.get(key).or_else(|| {
        t.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn string(item: &Item, key: &str) -> Option<String> {
    get(item, key)?.as_str().map(String::from)
}

/// The registry settings `release` uses for the chain `texts` (main config first).
pub fn registry(texts: &[&str], release: Release) -> Registry {
    let mut out = Registry::default();
    for text in texts {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let Ok(doc) = ImDocument::parse(text) else {
            continue;
        };
        let version = doc.get("version").and_then(Item::as_integer).unwrap_or(1);
        let Some(path) = plugin_path(version, release) else {
            continue;
        };
        let mut plugin = Some(doc.as_item());
        for key in path {
            plugin = plugin.and_then(|i| get(i, key));
        }
        let Some(plugin) = plugin else { continue };
        if !release.is_2x() {
            // 1.x: the last file with the plugin's table replaces the whole table.
            out = Registry::default();
        }
        if let Some(reg) = get(plugin, "registry") {
            merge(&mut out, reg, release);
        }
    }
    out
}

/// One `configs."<host>"` table: its `auth`, and (1.x) its `tls`.
fn config(out: &mut Registry, host: String, c: &Item, release: Release) {
    out.has_configs = true;
    if let Some(a) = get(c, "auth") {
        out.auth.insert(host.clone(), auth(a));
    }
    // 2.x removed `tls` from `configs` (it ignores the key).
    if let Some(t) = get(c, "tls").filter(|_| !release.is_2x()) {
        let field = |k: &str| string(t, k).unwrap_or_default();
        out.tls.insert(
            host,
            Tls {
                ca_file: field("ca_file"),
                cert_file: field("cert_file"),
                key_file: field("key_file"),
                insecure_skip_verify: get(t, "insecure_skip_verify")
                    .and_then(Item::as_bool)
                    .unwrap_or(false),
            },
        );
    }
}

/// An `auth` table.
fn auth(a: &Item) -> Auth {
    let field = |k: &str| string(a, k).unwrap_or_default();
    Auth {
        username: field("username"),
        password: field("password"),
        auth: field("auth"),
        identitytoken: field("identitytoken"),
    }
}

/// Adds the settings of one `registry` table, each key replacing the one before it.
fn merge(out: &mut Registry, reg: &Item, release: Release) {
    if let Some(p) = string(reg, "config_path") {
        out.config_path = p;
    }
    let entries = |key: &str| -> Vec<(String, Item)> {
        get(reg, key)
            .and_then(Item::as_table_like)
            .map(|t| t.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
            .unwrap_or_default()
    };
    for (host, m) in entries("mirrors") {
        let endpoints = get(&m, "endpoint")
            .and_then(Item::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        out.mirrors.insert(host, endpoints);
    }
    for (host, c) in entries("configs") {
        config(out, host, &c, release);
    }
    // `auths` (deprecated): a URL's host, folded into `configs`.
    for (key, a) in entries("auths") {
        out.has_configs = true;
        let host = key
            .split_once("://")
            .map_or(key.as_str(), |(_, rest)| {
                rest.split('/').next().unwrap_or(rest)
            })
            .to_string();
        out.auth.entry(host).or_insert(auth(&a));
    }
    for (name, v) in entries("headers") {
        let values: Vec<String> = match v.as_array() {
            Some(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            None => v.as_str().map(String::from).into_iter().collect(),
        };
        out.headers.retain(|(n, _)| *n != name);
        out.headers
            .extend(values.into_iter().map(|v| (name.clone(), v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> Release {
        Release::parse(s).unwrap()
    }

    #[test]
    fn reads_the_table_each_release_line_reads() {
        let v2 = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.local:5000\".auth]\n  username = \"u\"\n  password = \"p\"\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.local:5000\".tls]\n  ca_file = \"/ca.pem\"\n";
        let r = registry(&[v2], rel("1.7.24"));
        assert_eq!(r.config_path, "/etc/containerd/certs.d");
        assert_eq!(
            r.auth["r.local:5000"].credentials().unwrap(),
            ("u".into(), "p".into())
        );
        assert_eq!(r.tls["r.local:5000"].ca_file, "/ca.pem");
        // 2.x migrates the version-2 table, and ignores `tls`.
        let r = registry(&[v2], rel("2.1.9"));
        assert_eq!(r.config_path, "/etc/containerd/certs.d");
        assert!(r.tls.is_empty() && r.has_configs);
        let v3 = "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/d\"\n";
        assert_eq!(registry(&[v3], rel("2.1.9")).config_path, "/d");
        assert_eq!(registry(&[v3], rel("1.7.24")).config_path, "");
    }

    #[test]
    fn drop_ins_replace_on_1x_and_merge_on_2x() {
        let main = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/d\"\n";
        let drop =
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"r/p:1\"\n";
        assert_eq!(registry(&[main, drop], rel("1.7.24")).config_path, "");
        assert_eq!(registry(&[main, drop], rel("2.1.9")).config_path, "/d");
    }

    #[test]
    fn auth_as_containerd_parses_it() {
        let a = |auth: &str| {
            Auth {
                auth: auth.into(),
                ..Auth::default()
            }
            .credentials()
        };
        assert_eq!(a("dTpwOnc=").unwrap(), ("u".into(), "p:w".into()));
        assert!(a("bm9jb2xvbg==").is_err());
        let token = Auth {
            identitytoken: "t".into(),
            ..Auth::default()
        };
        assert_eq!(token.credentials().unwrap(), (String::new(), "t".into()));
    }
}
