//! The hosts containerd tries for a registry, in order: a `hosts.toml` (`host."..."` entries
//! in file order, then `server`, or the registry itself), the docker `certs.d` layout, or the
//! defaults (`docker.io` is `registry-1.docker.io`; a loopback host with a port other than
//! 443 is tried over HTTPS without verification, then plain HTTP). As
//! `core/remotes/docker/config/hosts.go` (containerd 2.1.9) does it.

use toml_edit::{ImDocument, Item, Value};

/// What a host may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    /// Fetch blobs and manifests by digest.
    pub pull: bool,
    /// Resolve a tag to a digest.
    pub resolve: bool,
}

const ALL: Caps = Caps {
    pull: true,
    resolve: true,
};

/// One host to ask, with the TLS settings containerd uses for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Host {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub host: String,
    /// The API root, `/v2` unless `override_path`.
    pub path: String,
    pub caps: Caps,
    /// CA files (PEM), added to the system's roots.
    pub ca: Vec<String>,
    /// Client certificate and key files (the key empty: in the certificate's file).
    pub client: Vec<(String, String)>,
    /// `skip_verify`, when set.
    pub skip_verify: Option<bool>,
    /// Extra request headers.
    pub header: Vec<(String, String)>,
    /// HTTPS first, then plain HTTP when the TLS handshake fails (a plain-HTTP host that has
    /// TLS settings, or a loopback host with a port).
    pub http_fallback: bool,
}

impl Host {
    /// `scheme://host/path`, the base of every request.
    pub fn base(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.path)
    }
}

/// The directories containerd looks in for `registry`'s settings under one `config_path`
/// root, in order: `host_port_` (for a port), `host:port`, `_default`.
pub fn host_dirs(root: &str, registry: &str) -> Vec<String> {
    let root = root.trim_end_matches('/');
    let mut out = Vec::new();
    if let Some((h, port)) = registry.rsplit_once(':').filter(|(h, _)| !h.is_empty()) {
        out.push(format!("{root}/{h}_{port}_"));
    }
    out.push(format!("{root}/{registry}"));
    out.push(format!("{root}/_default"));
    out
}

/// A host directory found under a `config_path` root.
pub struct Dir<'a> {
    /// The directory.
    pub path: &'a str,
    /// Its `hosts.toml`, when it has one.
    pub hosts_toml: Option<&'a str>,
    /// The names of its files, for the docker `certs.d` layout.
    pub files: &'a [String],
}

/// The hosts for `registry` from its directory (when one exists) or the defaults. A
/// `hosts.toml` that containerd cannot decode falls back to the `certs.d` files, as containerd
/// does (it logs the error); the reason is returned beside the hosts.
pub fn hosts(registry: &str, dir: Option<Dir>) -> (Vec<Host>, Option<String>) {
    let (mut hosts, problem) = match dir {
        None => (vec![Host::default()], None),
        Some(d) => match d.hosts_toml.map(|t| parse_hosts_toml(t, d.path)) {
            Some(Ok(h)) => (h, None),
            Some(Err(e)) => (
                vec![cert_files(d.path, d.files)],
                Some(format!("{}/hosts.toml: {e}", d.path)),
            ),
            None => (vec![cert_files(d.path, d.files)], None),
        },
    };
    if let Some(last) = hosts.last_mut().filter(|h| h.host.is_empty()) {
        default_host(last, registry);
    }
    for h in &mut hosts {
        // A plain-HTTP host with TLS settings tries HTTPS first (not on port 80).
        let explicit_tls = !h.ca.is_empty() || !h.client.is_empty() || h.skip_verify.is_some();
        if h.scheme == "http" && explicit_tls && split_port(&h.host).1 != Some("80") {
            h.scheme = "https".into();
            h.http_fallback = true;
        }
    }
    (hosts, problem)
}

/// The registry itself as the last host: `docker.io` is `registry-1.docker.io`; loopback
/// with a port other than 443 is plain HTTP, tried over HTTPS without verification first
/// (but port 80).
fn default_host(h: &mut Host, registry: &str) {
    h.path = "/v2".into();
    h.caps = ALL;
    h.scheme = "https".into();
    if registry == "docker.io" {
        h.host = "registry-1.docker.io".into();
        return;
    }
    h.host = registry.to_string();
    if is_localhost(registry) {
        let port = split_port(registry).1;
        if port.is_some() && port != Some("443") {
            h.scheme = "http".into();
        }
        if port != Some("80") {
            h.skip_verify = Some(true);
        }
    }
}

/// `host[:port]` split (an IPv6 address in brackets).
fn split_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, after)) => (ip, after.strip_prefix(':')),
            None => (host, None),
        };
    }
    match host.split_once(':') {
        Some((h, p)) if !p.contains(':') => (h, Some(p)),
        _ => (host, None),
    }
}

/// Go's `docker.IsLocalhost`: `localhost` or a loopback IP, with or without a port.
pub fn is_localhost(host: &str) -> bool {
    let name = split_port(host).0;
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The docker `certs.d` layout: `*.crt` are CAs, `X.cert` a client certificate with `X.key`.
fn cert_files(dir: &str, names: &[String]) -> Host {
    let mut h = Host::default();
    for name in names {
        if name.ends_with(".crt") {
            h.ca.push(format!("{dir}/{name}"));
        }
        if let Some(stem) = name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            let key = if names.contains(&key) {
                format!("{dir}/{key}")
            } else {
                String::new()
            };
            h.client.push((format!("{dir}/{name}"), key));
        }
    }
    h
}

/// Parses `hosts.toml` (in directory `dir`): the `host."..."` entries in file order, then the
/// root (`server`, or none for the registry itself), as `parseHostsFile` does.
pub fn parse_hosts_toml(text: &str, dir: &str) -> Result<Vec<Host>, String> {
    let doc = ImDocument::parse(text).map_err(|e| e.message().trim().to_string())?;
    let mut out = Vec::new();
    if let Some(hosts) = doc.get("host") {
        let table = hosts.as_table_like().ok_or("`host` is not a table")?;
        // toml_edit keeps the file's order, as containerd's ordered parse does.
        for (name, item) in table.iter() {
            out.push(host_config(name, item, dir)?);
        }
    }
    let server = match doc.get("server") {
        None => "",
        Some(s) => s.as_str().ok_or("`server` is not a string")?,
    };
    out.push(host_config(server, doc.as_item(), dir)?);
    Ok(out)
}

/// One host's settings (`parseHostConfig`); `server` empty for the registry itself.
fn host_config(server: &str, item: &Item, dir: &str) -> Result<Host, String> {
    let get = |key: &str| item.get(key);
    let override_path = match get("override_path") {
        None => false,
        Some(v) => v.as_bool().ok_or("`override_path` is not a boolean")?,
    };
    let mut h = Host::default();
    if !server.is_empty() {
        let url = if server.starts_with("http") {
            server.to_string()
        } else {
            format!("https://{server}")
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("unable to parse server {url}"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], crate::imports::clean(&rest[i..])),
            None => (rest, String::new()),
        };
        h.scheme = scheme.to_string();
        h.host = host.to_string();
        h.path = match path.as_str() {
            "" | "/" if !override_path => "/v2".into(),
            p if !p.ends_with("/v2") && !override_path => format!("{p}/v2"),
            p => p.to_string(),
        };
    }
    h.skip_verify = match get("skip_verify") {
        None => None,
        Some(v) => Some(v.as_bool().ok_or("`skip_verify` is not a boolean")?),
    };
    h.caps = match get("capabilities") {
        None => ALL,
        Some(v) => caps(v)?,
    };
    let abs = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{dir}/{p}")
        }
    };
    if let Some(v) = get("ca") {
        h.ca = strings(v, "ca")?.iter().map(|p| abs(p)).collect();
    }
    if let Some(v) = get("client") {
        h.client = client(v)?
            .into_iter()
            .map(|(c, k)| (abs(&c), if k.is_empty() { k } else { abs(&k) }))
            .collect();
    }
    if let Some(t) = get("header").and_then(Item::as_table_like) {
        for (k, v) in t.iter() {
            for value in strings(v, "header")? {
                h.header.push((k.to_string(), value));
            }
        }
    }
    Ok(h)
}

fn caps(v: &Item) -> Result<Caps, String> {
    let mut c = Caps::default();
    for name in strings(v, "capabilities")? {
        match name.to_ascii_lowercase().as_str() {
            "pull" => c.pull = true,
            "resolve" => c.resolve = true,
            "push" => {}
            _ => return Err(format!("unknown capability {name}")),
        }
    }
    Ok(c)
}

/// A string, or an array of strings.
fn strings(v: &Item, what: &str) -> Result<Vec<String>, String> {
    let bad = || format!("invalid type for \"{what}\"");
    match v.as_value() {
        Some(Value::String(s)) => Ok(vec![s.value().clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// `client`: a file, an array of files, or an array of `[cert, key]` pairs.
fn client(v: &Item) -> Result<Vec<(String, String)>, String> {
    let bad = || "invalid type for \"client\"".to_string();
    match v.as_value() {
        Some(Value::String(s)) => Ok(vec![(s.value().clone(), String::new())]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok((s.value().clone(), String::new())),
                Value::Array(p) => match p.iter().map(Value::as_str).collect::<Vec<_>>()[..] {
                    [Some(c), Some(k)] => Ok((c.to_string(), k.to_string())),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_toml_entries_in_file_order_then_the_server() {
        let text = r#"server = "https://registry.example.com"

[host."https://mirror-b.local:5000"]
  capabilities = ["pull", "resolve"]
  ca = "ca.crt"
[host."mirror-a.local"]
  capabilities = ["pull"]
  skip_verify = true
  client = [["/c.cert", "c.key"]]
  [host."mirror-a.local".header]
    x-token = ["a", "b"]
"#;
        let h = parse_hosts_toml(text, "/etc/containerd/certs.d/registry.example.com").unwrap();
        let bases: Vec<String> = h.iter().map(Host::base).collect();
        assert_eq!(
            bases,
            [
                "https://mirror-b.local:5000/v2",
                "https://mirror-a.local/v2",
                "https://registry.example.com/v2"
            ]
        );
        assert_eq!(
            h[0].ca,
            ["/etc/containerd/certs.d/registry.example.com/ca.crt"]
        );
        assert!(h[1].caps.pull && !h[1].caps.resolve);
        assert_eq!(h[1].skip_verify, Some(true));
        assert_eq!(
            h[1].client,
            [(
                "/c.cert".to_string(),
                "/etc/containerd/certs.d/registry.example.com/c.key".to_string()
            )]
        );
        assert_eq!(h[1].header.len(), 2);
        assert_eq!(h[2].caps, ALL);
    }

    #[test]
    fn without_a_server_the_registry_itself_comes_last() {
        let text = "[host.\"http://10.0.0.1:5000\"]\n";
        let dir = Dir {
            path: "/d",
            hosts_toml: Some(text),
            files: &[],
        };
        let (h, problem) = hosts("r.example:5000", Some(dir));
        assert!(problem.is_none());
        let bases: Vec<String> = h.iter().map(Host::base).collect();
        assert_eq!(
            bases,
            ["http://10.0.0.1:5000/v2", "https://r.example:5000/v2"]
        );
        // override_path keeps the path as written.
        let text = "server = \"https://r.example/api/v2/r\"\noverride_path = true\n";
        let h = parse_hosts_toml(text, "/d").unwrap();
        assert_eq!(h[0].base(), "https://r.example/api/v2/r");
    }

    #[test]
    fn defaults() {
        let base = |r: &str| hosts(r, None).0[0].clone();
        assert_eq!(base("docker.io").base(), "https://registry-1.docker.io/v2");
        assert_eq!(base("registry.k8s.io").base(), "https://registry.k8s.io/v2");
        // Loopback with a port: HTTPS without verification first, then plain HTTP.
        let l = base("127.0.0.1:5000");
        assert_eq!(
            (l.base(), l.http_fallback),
            ("https://127.0.0.1:5000/v2".into(), true)
        );
        assert_eq!(l.skip_verify, Some(true));
        assert_eq!(base("localhost:80").base(), "http://localhost:80/v2");
        assert_eq!(base("localhost").base(), "https://localhost/v2");
        assert!(!base("10.0.0.1:5000").http_fallback);
        assert!(is_localhost("[::1]:5000") && is_localhost("127.1.2.3"));
        assert!(!is_localhost("localhost.example:5000"));
    }

    #[test]
    fn host_directories_and_certs_d() {
        assert_eq!(
            host_dirs("/etc/containerd/certs.d", "r.local:5000"),
            [
                "/etc/containerd/certs.d/r.local_5000_",
                "/etc/containerd/certs.d/r.local:5000",
                "/etc/containerd/certs.d/_default"
            ]
        );
        let names = ["ca.crt", "me.cert", "me.key", "other.cert"].map(String::from);
        let dir = |hosts_toml| Dir {
            path: "/d",
            hosts_toml,
            files: &names,
        };
        let (h, _) = hosts("r.local", Some(dir(None)));
        assert_eq!(h[0].ca, ["/d/ca.crt"]);
        assert_eq!(
            h[0].client,
            [
                ("/d/me.cert".to_string(), "/d/me.key".to_string()),
                ("/d/other.cert".to_string(), String::new())
            ]
        );
        // A hosts.toml containerd cannot decode: the certs.d files, and the reason.
        let (h, problem) = hosts("r.local", Some(dir(Some("capabilities = [\"fly\"]\n"))));
        assert_eq!(
            (h[0].base(), h[0].ca.len()),
            ("https://r.local/v2".into(), 1)
        );
        assert!(problem.unwrap().contains("unknown capability fly"));
    }
}
