//! Asking registries for an image as containerd's resolver does: each host in order, `HEAD`
//! (then `GET`) of `/v2/<name>/manifests/<ref>` with its Accept header, the `401` challenge
//! answered with a Bearer token or Basic credentials, then the index's platforms. Network I/O.

use super::hosts::{Host, is_localhost};
use super::platform::Platform;
use base64::Engine;
use std::io::Read;
use std::time::{Duration, Instant};
use ureq::Agent;
use ureq::http::Response;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The Accept header containerd's resolver sends, in its order.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*";

/// containerd's limit on a manifest's size.
const MAX_MANIFEST: u64 = 4 * 1048 * 1048;

const INDEXES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// What to ask for.
pub struct Request<'a> {
    /// The registry host of the reference (`docker.io`, `r.local:5000`).
    pub registry: &'a str,
    /// The repository (`library/pause`).
    pub repository: &'a str,
    /// The tag or `sha256:` digest.
    pub reference: &'a str,
    /// The hosts to ask, in order.
    pub hosts: &'a [Host],
    /// The user name and secret for a host (`configs."<host>".auth`), if any.
    pub credentials: &'a dyn Fn(&str) -> Option<(String, String)>,
    /// Extra headers (the CRI `headers`).
    pub headers: &'a [(String, String)],
    /// containerd's environment, for `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`.
    pub env: &'a [(String, String)],
    /// The node's platform, and whether only it will do (2.x's transfer service).
    pub platform: &'a Platform,
    pub exact_platform: bool,
    /// Connect timeout, and the limit on the whole check.
    pub connect: Duration,
    pub total: Duration,
}

/// The image, as a host has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Found {
    /// The host that answered (`scheme://host/path`).
    pub host: String,
    pub digest: String,
    pub media_type: String,
    /// The platforms of an index (`os/arch[/variant]`); empty for a single manifest.
    pub platforms: Vec<String>,
}

/// Why containerd would not get the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Every host answered 404; the tags the first of them has in that repository.
    NotFound {
        hosts: Vec<String>,
        tags: Option<Vec<String>>,
    },
    /// The TLS handshake failed (an untrusted certificate, a name mismatch).
    Tls { host: String, detail: String },
    /// 401 or 403.
    Denied {
        host: String,
        status: u16,
        with_credentials: bool,
        detail: String,
    },
    /// The index has no manifest for the platform.
    Platform {
        host: String,
        wanted: String,
        available: Vec<String>,
    },
    /// No connection (refused, no route, DNS, timeout).
    Unreachable { host: String, detail: String },
    /// Another answer containerd does not accept.
    Status { host: String, detail: String },
}

struct Session<'a> {
    req: &'a Request<'a>,
    start: Instant,
    /// Hosts that turned out to speak plain HTTP (their HTTPS attempt fell back).
    plain: std::cell::RefCell<Vec<String>>,
}

/// Asks the hosts as containerd would; the first that has the image answers.
pub fn check(req: &Request) -> Result<Found, Failure> {
    // rustls's ring provider, process-wide (ureq is built without its own, and without the
    // bundled Mozilla roots: containerd trusts the system's, which `system_roots` reads).
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let s = Session {
        req,
        start: Instant::now(),
        plain: Default::default(),
    };
    let mut not_found: Vec<String> = Vec::new();
    let mut first_error = None;
    let digest_ref = req.reference.starts_with("sha256:");
    for host in req.hosts {
        // A tag needs a host that can resolve; a digest one that can pull.
        if !(host.caps.pull && (digest_ref || host.caps.resolve)) {
            continue;
        }
        match s.resolve(host) {
            Ok(found) => return s.platforms(host, found),
            Err(Failure::NotFound { .. }) => not_found.push(s.shown(host)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // 1.x returns the first error that is not a 404; a registry that has no such tag says so.
    match first_error {
        Some(e) if not_found.is_empty() => Err(e),
        Some(e) => Err(e),
        None => {
            let tags = req
                .hosts
                .iter()
                .find(|h| not_found.contains(&s.shown(h)))
                .and_then(|h| s.tags(h));
            Err(Failure::NotFound {
                hosts: not_found,
                tags,
            })
        }
    }
}

impl Session<'_> {
    /// The host as it answered: `http://` once its HTTPS attempt fell back to plain HTTP.
    fn shown(&self, host: &Host) -> String {
        let base = host.base();
        if self.plain.borrow().contains(&base) {
            return base.replacen("https://", "http://", 1);
        }
        base
    }

    fn url(&self, host: &Host, tail: &str) -> String {
        let base = host.base();
        let mut url = format!(
            "{}/{}/{tail}",
            base.trim_end_matches('/'),
            self.req.repository
        );
        // A mirror is told which registry the image is from.
        let upstream = host.host == self.req.registry
            || (self.req.registry == "docker.io" && host.host == "registry-1.docker.io");
        if !upstream {
            url.push_str(&format!("?ns={}", self.req.registry));
        }
        url
    }

    /// `HEAD`, then `GET` when the answer lacks a digest: the manifest's digest and type.
    fn resolve(&self, host: &Host) -> Result<Found, Failure> {
        let url = self.url(host, &format!("manifests/{}", self.req.reference));
        let mut resp = match self.send(host, "HEAD", &url, ACCEPT)? {
            r if r.status() == 405 => self.send(host, "GET", &url, ACCEPT)?,
            r => r,
        };
        let status = resp.status().as_u16();
        if status == 404 {
            return Err(Failure::NotFound {
                hosts: vec![self.shown(host)],
                tags: None,
            });
        }
        if status > 399 || (300..400).contains(&status) {
            return Err(status_failure(
                host,
                status,
                &mut resp,
                self.creds(&host.host).is_some(),
            ));
        }
        let header = |r: &Response<ureq::Body>, name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let media_type = header(&resp, "content-type")
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let digest = match (header(&resp, "docker-content-digest"), self.req.reference) {
            (_, r) if r.starts_with("sha256:") => r.to_string(),
            (Some(d), _) if header(&resp, "content-length").is_some() => d,
            _ => {
                let mut r = self.send(host, "GET", &url, ACCEPT)?;
                let body = read_limited(&mut r, host)?;
                sha256(&body)
            }
        };
        Ok(Found {
            host: self.shown(host),
            digest,
            media_type,
            platforms: Vec::new(),
        })
    }

    /// For an index: its platforms, and whether this node's is among them.
    fn platforms(&self, host: &Host, mut found: Found) -> Result<Found, Failure> {
        if !INDEXES.contains(&found.media_type.as_str()) {
            return Ok(found);
        }
        let url = self.url(host, &format!("manifests/{}", found.digest));
        let accept = format!("{}, */*", found.media_type);
        let mut resp = self.send(host, "GET", &url, &accept)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(status_failure(host, status, &mut resp, false));
        }
        let body = read_limited(&mut resp, host)?;
        let index: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Failure::Status {
                host: host.base(),
                detail: format!("the index of {} is not JSON: {e}", found.digest),
            })?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let platforms: Vec<Option<Platform>> = manifests
            .iter()
            .map(|m| Platform::from_json(&m["platform"]))
            .collect();
        found.platforms = platforms
            .iter()
            .flatten()
            .map(Platform::to_string)
            .collect();
        let wanted = self.req.platform;
        let matches = platforms.iter().any(|p| match p {
            // A manifest without a platform is kept, as containerd keeps it.
            None => true,
            Some(p) if self.req.exact_platform => wanted.same(p),
            Some(p) => wanted.accepts(p),
        });
        if !matches {
            return Err(Failure::Platform {
                host: host.base(),
                wanted: wanted.to_string(),
                available: found.platforms,
            });
        }
        Ok(found)
    }

    /// The tags the repository has on `host` (`/v2/<name>/tags/list`), when it answers.
    fn tags(&self, host: &Host) -> Option<Vec<String>> {
        let url = self.url(host, "tags/list");
        let mut resp = self.send(host, "GET", &url, "application/json").ok()?;
        if resp.status() != 200 {
            return None;
        }
        let body = read_limited(&mut resp, host).ok()?;
        let list: serde_json::Value = serde_json::from_slice(&body).ok()?;
        Some(
            list["tags"]
                .as_array()?
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
        )
    }

    /// The credentials for `authority` (`host[:port]`), when any are set.
    fn creds(&self, authority: &str) -> Option<(String, String)> {
        (self.req.credentials)(authority).filter(|(u, s)| !u.is_empty() || !s.is_empty())
    }

    /// One request, answering a `401` challenge once, as containerd's authorizer does.
    fn send(
        &self,
        host: &Host,
        method: &str,
        url: &str,
        accept: &str,
    ) -> Result<Response<ureq::Body>, Failure> {
        // Redirects are followed here, not by the client: each host that answers is
        // authorized with its own credentials (`configs."<that host>".auth`), as containerd's
        // authorizer does, and no Authorization header follows a redirect.
        let mut url = url.to_string();
        for _ in 0..=10 {
            let resp = self.authorized(host, method, &url, accept)?;
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .filter(|_| resp.status().is_redirection());
            match location {
                Some(l) => url = join_location(&url, l),
                None => return Ok(resp),
            }
        }
        Err(Failure::Status {
            host: host.base(),
            detail: "stopped after 10 redirects".into(),
        })
    }

    /// One request, answering a `401` challenge once with the credentials of the host that
    /// answered.
    fn authorized(
        &self,
        host: &Host,
        method: &str,
        url: &str,
        accept: &str,
    ) -> Result<Response<ureq::Body>, Failure> {
        let first = self.once(host, method, url, accept, None)?;
        if first.status() != 401 {
            return Ok(first);
        }
        let challenges: Vec<String> = first
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect();
        let creds =
            (self.req.credentials)(authority(url)).filter(|(u, s)| !u.is_empty() || !s.is_empty());
        let Some(authorization) = self.authorize(host, &challenges, creds.as_ref())? else {
            return Ok(first);
        };
        self.once(host, method, url, accept, Some(&authorization))
    }

    /// The `Authorization` header for a challenge: a Bearer token fetched from its realm, or
    /// Basic credentials; `None` when there is nothing to answer with.
    fn authorize(
        &self,
        host: &Host,
        challenges: &[String],
        creds: Option<&(String, String)>,
    ) -> Result<Option<String>, Failure> {
        let parsed: Vec<(String, Vec<(String, String)>)> = challenges
            .iter()
            .flat_map(|c| parse_challenges(c))
            .collect();
        if let Some((_, params)) = parsed.iter().find(|(s, _)| s == "bearer") {
            let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let realm = param("realm").ok_or_else(|| Failure::Status {
                host: host.base(),
                detail: "no realm specified for token auth challenge".into(),
            })?;
            let mut scopes = vec![format!("repository:{}:pull", self.req.repository)];
            scopes.extend(
                param("scope")
                    .into_iter()
                    .flat_map(|s| s.split(' ').map(String::from)),
            );
            scopes.sort();
            scopes.dedup();
            let token = self.token(host, realm, param("service").unwrap_or(""), &scopes, creds)?;
            return Ok(Some(format!("Bearer {token}")));
        }
        if parsed.iter().any(|(s, _)| s == "basic")
            && let Some((user, secret)) = creds.filter(|(u, s)| !u.is_empty() && !s.is_empty())
        {
            return Ok(Some(basic(user, secret)));
        }
        Ok(None)
    }

    /// A token from `realm`: POST (OAuth) when there is a secret, falling back to GET where
    /// containerd does; GET with Basic credentials or anonymously otherwise.
    fn token(
        &self,
        host: &Host,
        realm: &str,
        service: &str,
        scopes: &[String],
        creds: Option<&(String, String)>,
    ) -> Result<String, Failure> {
        let agent = self.agent(host, realm)?;
        let fail = |detail: String| Failure::Denied {
            host: host.base(),
            status: 401,
            with_credentials: creds.is_some(),
            detail,
        };
        if let Some((user, secret)) = creds.filter(|(_, s)| !s.is_empty()) {
            let mut form: Vec<(&str, &str)> = Vec::new();
            let scope = scopes.join(" ");
            form.push(("scope", &scope));
            form.push(("service", service));
            form.push(("client_id", "containerd-client"));
            if user.is_empty() {
                form.extend([("grant_type", "refresh_token"), ("refresh_token", secret)]);
            } else {
                form.extend([
                    ("grant_type", "password"),
                    ("username", user),
                    ("password", secret),
                ]);
            }
            let resp = agent
                .post(realm)
                .send_form(form)
                .map_err(|e| transport_failure(host, &e))?;
            let status = resp.status().as_u16();
            let fallback = [404, 401, 400].contains(&status) || (status == 405 && !user.is_empty());
            if (200..400).contains(&status) {
                return token_of(resp, &["access_token"]).map_err(fail);
            }
            if !fallback {
                return Err(fail(format!(
                    "failed to fetch oauth token: unexpected status {status} from POST {realm}"
                )));
            }
        }
        let mut url = format!("{realm}{}", if realm.contains('?') { '&' } else { '?' });
        url.push_str(&format!("service={}", encode(service)));
        for s in scopes {
            url.push_str(&format!("&scope={}", encode(s)));
        }
        let mut get = agent.get(&url);
        if let Some((user, secret)) = creds.filter(|(_, s)| !s.is_empty()) {
            get = get.header("Authorization", basic(user, secret));
        }
        let resp = get.call().map_err(|e| transport_failure(host, &e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let how = if creds.is_some() { "" } else { "anonymous " };
            return Err(fail(format!(
                "failed to fetch {how}token: unexpected status {status} from GET {realm}"
            )));
        }
        token_of(resp, &["token", "access_token"]).map_err(fail)
    }

    fn once(
        &self,
        host: &Host,
        method: &str,
        url: &str,
        accept: &str,
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>, Failure> {
        match self.attempt(host, method, url, accept, authorization) {
            // HTTPS first, then plain HTTP when the host turns out to speak it.
            Err(Failure::Tls { .. }) if host.http_fallback => {
                let http = Host {
                    scheme: "http".into(),
                    http_fallback: false,
                    ..host.clone()
                };
                let url = url.replacen("https://", "http://", 1);
                let r = self.attempt(&http, method, &url, accept, authorization)?;
                self.plain.borrow_mut().push(host.base());
                Ok(r)
            }
            other => other,
        }
    }

    fn attempt(
        &self,
        host: &Host,
        method: &str,
        url: &str,
        accept: &str,
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>, Failure> {
        let agent = self.agent(host, url)?;
        let mut headers: Vec<(String, String)> = self.req.headers.to_vec();
        headers.extend(host.header.iter().cloned());
        headers.push(("Accept".into(), accept.into()));
        if let Some(a) = authorization {
            headers.push(("Authorization".into(), a.into()));
        }
        let mut r = if method == "HEAD" {
            agent.head(url)
        } else {
            agent.get(url)
        };
        for (k, v) in &headers {
            r = r.header(k, v);
        }
        r.call().map_err(|e| transport_failure(host, &e))
    }

    /// A client for `host`: its TLS settings, the proxy containerd would use for `url`, the
    /// time left.
    fn agent(&self, host: &Host, url: &str) -> Result<Agent, Failure> {
        let left = self.req.total.saturating_sub(self.start.elapsed());
        if left.is_zero() {
            return Err(Failure::Unreachable {
                host: host.base(),
                detail: format!("no answer within {} s", self.req.total.as_secs()),
            });
        }
        let tls = tls_config(host).map_err(|detail| Failure::Tls {
            host: host.base(),
            detail,
        })?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_resolve(Some(self.req.connect.min(left)))
            .timeout_connect(Some(self.req.connect.min(left)))
            .timeout_global(Some(left))
            .max_redirects(0)
            .user_agent(concat!("pausectl/", env!("CARGO_PKG_VERSION")))
            .proxy(proxy_for(url, self.req.env))
            .tls_config(tls)
            .build();
        Ok(config.into())
    }
}

/// `host[:port]` of a URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// A redirect's `Location`, made absolute against the URL that answered.
fn join_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let origin = format!(
        "{scheme}://{}",
        rest.split(['/', '?']).next().unwrap_or(rest)
    );
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
    format!("{dir}/{location}")
}

/// The TLS settings containerd uses for `host`: the system's roots plus its CA files, its
/// client certificates, `skip_verify`.
fn tls_config(host: &Host) -> Result<TlsConfig, String> {
    let mut roots: Vec<Certificate<'static>> = system_roots();
    for ca in &host.ca {
        let pem = std::fs::read(ca).map_err(|e| format!("unable to read CA cert {ca:?}: {e}"))?;
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem).flatten() {
            if let PemItem::Certificate(c) = item {
                roots.push(c);
            }
        }
        if roots.len() == before {
            return Err(format!("unable to load CA cert {ca:?}"));
        }
    }
    let mut b = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&roots));
    if let Some((cert, key)) = host.client.first() {
        let key_file = if key.is_empty() { cert } else { key };
        let read = |p: &str| std::fs::read(p).map_err(|e| format!("cannot read {p:?}: {e}"));
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&read(cert)?)
            .flatten()
            .filter_map(|i| match i {
                PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        let key = PrivateKey::from_pem(&read(key_file)?).map_err(|e| e.to_string())?;
        b = b.client_cert(Some(ClientCert::new_with_certs(&certs, key)));
    }
    if host.skip_verify == Some(true) {
        b = b.disable_verification(true);
    }
    Ok(b.build())
}

/// The system's CA bundle, where Go's `x509.SystemCertPool` finds it on Linux.
fn system_roots() -> Vec<Certificate<'static>> {
    let files = [
        std::env::var("SSL_CERT_FILE").unwrap_or_default(),
        "/etc/ssl/certs/ca-certificates.crt".into(),
        "/etc/pki/tls/certs/ca-bundle.crt".into(),
        "/etc/ssl/ca-bundle.pem".into(),
        "/etc/pki/tls/cacert.pem".into(),
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem".into(),
        "/etc/ssl/cert.pem".into(),
    ];
    for f in files.iter().filter(|f| !f.is_empty()) {
        if let Ok(pem) = std::fs::read(f) {
            return ureq::tls::parse_pem(&pem)
                .flatten()
                .filter_map(|i| match i {
                    PemItem::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect();
        }
    }
    Vec::new()
}

/// Go's `http.ProxyFromEnvironment`: `HTTPS_PROXY` for https, `HTTP_PROXY` for http, none
/// for a host in `NO_PROXY` or a loopback one.
fn proxy_for(url: &str, env: &[(String, String)]) -> Option<ureq::Proxy> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    if is_localhost(authority) {
        return None;
    }
    let var = |names: [&str; 2]| {
        names.iter().find_map(|n| {
            env.iter()
                .find(|(k, v)| k == n && !v.is_empty())
                .map(|(_, v)| v.clone())
        })
    };
    let proxy = match scheme {
        "https" => var(["HTTPS_PROXY", "https_proxy"]),
        _ => var(["HTTP_PROXY", "http_proxy"]),
    }?;
    let no_proxy = var(["NO_PROXY", "no_proxy"]).unwrap_or_default();
    if bypass(&no_proxy, authority) {
        return None;
    }
    let proxy = if proxy.contains("://") {
        proxy
    } else {
        format!("http://{proxy}")
    };
    ureq::Proxy::new(&proxy).ok()
}

/// Whether `NO_PROXY` exempts `authority` (`host[:port]`): `*`, a name or its domain
/// (`.example.com` or `example.com`), an IP, with an optional port.
fn bypass(no_proxy: &str, authority: &str) -> bool {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
        _ => (authority, None),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, want_port) = match entry.rsplit_once(':') {
                Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !n.contains(':') => {
                    (n, Some(p))
                }
                _ => (entry, None),
            };
            if want_port.is_some() && want_port != port {
                return false;
            }
            let name = name.trim_start_matches('*').to_ascii_lowercase();
            match name.strip_prefix('.') {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == name || host.ends_with(&format!(".{name}")),
            }
        })
}

/// Parses `WWW-Authenticate`: each scheme (lower case) and its parameters.
fn parse_challenges(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let end = rest.find([' ', ',']).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.contains('=') || out.is_empty() && word.is_empty() {
            // A parameter of the current scheme.
            let (key, after) = rest.split_once('=').unwrap_or((rest, ""));
            let (value, next) = if let Some(q) = after.strip_prefix('"') {
                let mut v = String::new();
                let mut chars = q.char_indices();
                let mut stop = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                v.push(n);
                            }
                        }
                        '"' => {
                            stop = i + 1;
                            break;
                        }
                        c => v.push(c),
                    }
                }
                (v, &q[stop..])
            } else {
                let e = after.find(',').unwrap_or(after.len());
                (after[..e].trim().to_string(), &after[e..])
            };
            if let Some(last) = out.last_mut() {
                last.1.push((key.trim().to_ascii_lowercase(), value));
            }
            rest = next.trim_start_matches([',', ' ']);
        } else {
            out.push((word.to_ascii_lowercase(), Vec::new()));
            rest = rest[end..].trim_start_matches([',', ' ']);
        }
    }
    out
}

/// `Basic base64(user:secret)`.
fn basic(user: &str, secret: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    format!("Basic {b}")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn token_of(mut resp: Response<ureq::Body>, fields: &[&str]) -> Result<String, String> {
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("the token is not JSON: {e}"))?;
    fields
        .iter()
        .find_map(|f| json[*f].as_str().filter(|t| !t.is_empty()))
        .map(String::from)
        .ok_or_else(|| "no token in the answer".into())
}

fn read_limited(resp: &mut Response<ureq::Body>, host: &Host) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut body)
        .map_err(|e| Failure::Unreachable {
            host: host.base(),
            detail: e.to_string(),
        })?;
    Ok(body)
}

fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// An answer containerd does not accept, from its status and body.
fn status_failure(
    host: &Host,
    status: u16,
    resp: &mut Response<ureq::Body>,
    with_credentials: bool,
) -> Failure {
    let mut body = String::new();
    let _ = resp
        .body_mut()
        .as_reader()
        .take(4096)
        .read_to_string(&mut body);
    let detail = format!(
        "{status} {}{}",
        resp.status().canonical_reason().unwrap_or(""),
        registry_errors(&body)
    );
    match status {
        401 | 403 => Failure::Denied {
            host: host.base(),
            status,
            with_credentials,
            detail,
        },
        _ => Failure::Status {
            host: host.base(),
            detail,
        },
    }
}

/// The registry's JSON `errors`, as `: CODE message`.
fn registry_errors(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                ": {} {}",
                e["code"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// A request that got no HTTP answer.
fn transport_failure(host: &Host, e: &ureq::Error) -> Failure {
    let detail = e.to_string();
    let lower = detail.to_ascii_lowercase();
    // rustls's errors come bare or wrapped in an I/O error; a plain-HTTP answer to a TLS
    // hello reads as a corrupt record.
    let tls = matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || [
            "rustls",
            "certificate",
            "corrupt message",
            "handshake",
            "invalidcontenttype",
        ]
        .iter()
        .any(|w| lower.contains(w));
    if tls {
        return Failure::Tls {
            host: host.base(),
            detail,
        };
    }
    Failure::Unreachable {
        host: host.base(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_as_containerd_parses_them() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:pause:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "bearer");
        assert_eq!(
            c[0].1,
            [
                (
                    "realm".to_string(),
                    "https://auth.example/token".to_string()
                ),
                ("service".to_string(), "registry.example".to_string()),
                ("scope".to_string(), "repository:pause:pull".to_string())
            ]
        );
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (c[0].0.as_str(), c[0].1[0].1.as_str()),
            ("basic", "Registry Realm")
        );
        let c = parse_challenges(r#"Bearer realm="a\"b""#);
        assert_eq!(c[0].1[0].1, "a\"b");
    }

    #[test]
    fn no_proxy_matches_as_go_does() {
        assert!(bypass("*", "r.example:5000"));
        assert!(bypass("example.com", "r.example.com"));
        assert!(bypass(".example.com", "r.example.com:443"));
        assert!(!bypass(".example.com", "example.com.evil"));
        assert!(bypass("r.example.com:5000", "r.example.com:5000"));
        assert!(!bypass("r.example.com:5000", "r.example.com:443"));
        assert!(bypass("10.0.0.1", "10.0.0.1:5000"));
        assert!(!bypass("", "r.example.com"));
    }

    #[test]
    fn proxies_as_go_chooses_them() {
        let env: Vec<(String, String)> = [
            ("HTTPS_PROXY", "proxy.example:3128"),
            ("NO_PROXY", ".internal.example"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        assert!(proxy_for("https://registry.example/v2/x", &env).is_some());
        // HTTP_PROXY is not set: plain HTTP goes direct.
        assert!(proxy_for("http://registry.example/v2/x", &env).is_none());
        assert!(proxy_for("https://r.internal.example/v2/x", &env).is_none());
        // Loopback never goes through a proxy.
        assert!(proxy_for("https://127.0.0.1:5000/v2/x", &env).is_none());
        assert!(proxy_for("https://localhost:5000/v2/x", &env).is_none());
        assert!(proxy_for("https://registry.example/v2/x", &[]).is_none());
    }

    #[test]
    fn redirects_resolve_against_the_url_that_answered() {
        let base = "https://r.example:5000/v2/pause/manifests/3.10";
        assert_eq!(
            join_location(base, "https://cdn.example/b"),
            "https://cdn.example/b"
        );
        assert_eq!(join_location(base, "/v2/x"), "https://r.example:5000/v2/x");
        assert_eq!(
            join_location(base, "sha256:1"),
            "https://r.example:5000/v2/pause/manifests/sha256:1"
        );
        assert_eq!(authority("http://[::1]:5000/v2/x?ns=a"), "[::1]:5000");
        assert_eq!(authority(base), "r.example:5000");
    }

    #[test]
    fn digests_and_encoding() {
        assert_eq!(
            sha256(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
