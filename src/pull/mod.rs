//! Whether containerd can pull an image, asked the way it will ask: the CRI plugin's registry
//! settings in the config chain ([`settings`]), the hosts it tries for the registry
//! ([`hosts`]: `config_path`'s `hosts.toml`, the older `mirrors` and `configs`, the defaults),
//! and the requests themselves ([`client`]), with the platform check of an index
//! ([`platform`]). Rules per release line as measured in containerd's source (1.6.20, 1.7.24,
//! 2.1.9).

pub mod client;
pub mod hosts;
pub mod platform;
pub mod settings;
pub mod systemd;

use crate::disk;
use crate::reference::ImageRef;
use crate::release::Release;
use client::{Failure, Found, Request};
use hosts::{Caps, Dir, Host, is_localhost};
use platform::Platform;
use settings::Registry;
use std::time::Duration;

/// What to check, and how long it may take.
pub struct Check<'a> {
    /// The chain's texts as containerd will read them, main config first.
    pub texts: &'a [&'a str],
    /// The release that reads them (`None`: each release line that reads the config).
    pub release: Option<Release>,
    /// The image to pull, as pinned.
    pub image: &'a str,
    /// The node's platform (`None`: this machine's).
    pub platform: Option<Platform>,
    /// containerd's environment, for its proxy settings (`None`: pausectl's own).
    pub env: Option<Vec<(String, String)>>,
    pub timeout: Duration,
}

/// Why the check could not be made, or what containerd would fail on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// containerd refuses these registry settings (it does not start the CRI plugin).
    Settings(String),
    /// The image reference is not one containerd parses.
    Reference(String),
    /// What the registry answered.
    Pull(Failure),
}

/// The outcome: the host that has the image, and what the user should know about the way
/// there (a `hosts.toml` containerd cannot read, which it skips). With the release unknown,
/// each release line that reads the config is asked as it would ask (once when they would ask
/// alike): 2.x alone for a version-3/4 config.
pub fn verify(check: &Check) -> Result<(Found, Vec<String>), Problem> {
    let releases: Vec<Release> = match check.release {
        Some(r) => vec![r],
        None => {
            let v3 = check.texts.first().is_some_and(|t| {
                toml_edit::ImDocument::parse(*t)
                    .ok()
                    .and_then(|d| d.get("version").and_then(toml_edit::Item::as_integer))
                    .is_some_and(|v| v >= 3)
            });
            let lines: &[&str] = if v3 { &["2.1"] } else { &["1.7", "2.1"] };
            lines.iter().filter_map(|r| Release::parse(r)).collect()
        }
    };
    let r = ImageRef::parse_lenient(check.image).map_err(|e| Problem::Reference(e.to_string()))?;
    let image = Image {
        registry: r.domain.clone().unwrap_or_else(|| "docker.io".into()),
        repository: match (&r.domain, r.path.contains('/')) {
            (None, false) => format!("library/{}", r.path),
            _ => r.path.clone(),
        },
        reference: r.digest.or(r.tag).unwrap_or_else(|| "latest".into()),
    };
    let mut asked: Vec<(Vec<Host>, bool)> = Vec::new();
    let mut answer: Option<(Found, Vec<String>)> = None;
    for release in releases {
        let route = route(check, &image, release)?;
        let key = (route.hosts.clone(), route.transfer);
        if asked.contains(&key) {
            continue;
        }
        asked.push(key);
        let (found, notes) = ask(check, &image, &route)?;
        let mut all = answer.map(|(_, n)| n).unwrap_or_default();
        all.extend(
            notes
                .into_iter()
                .filter(|n| !all.contains(n))
                .collect::<Vec<_>>(),
        );
        answer = Some((found, all));
    }
    Ok(answer.expect("at least one release line"))
}

/// The image as the resolver names it.
struct Image {
    registry: String,
    repository: String,
    reference: String,
}

/// How one release reaches the registry.
struct Route {
    settings: Registry,
    hosts: Vec<Host>,
    /// 2.x's transfer service: anonymous, the platform exact.
    transfer: bool,
    notes: Vec<String>,
}

fn route(check: &Check, image: &Image, release: Release) -> Result<Route, Problem> {
    let settings = settings::registry(check.texts, release);
    validate(&settings, release)?;
    // 2.x pulls through its transfer service unless registry `mirrors` or `configs` are set:
    // then `config_path` is one directory, the pull anonymous, the platform exact.
    let transfer = release.is_2x() && settings.mirrors.is_empty() && !settings.has_configs;
    let (hosts, notes) = if !settings.config_path.is_empty() || transfer {
        config_path_hosts(&settings, &image.registry, release, transfer)
    } else {
        (legacy_hosts(&settings, &image.registry), Vec::new())
    };
    Ok(Route {
        settings,
        hosts,
        transfer,
        notes,
    })
}

fn ask(check: &Check, image: &Image, route: &Route) -> Result<(Found, Vec<String>), Problem> {
    let credentials = |host: &str| -> Option<(String, String)> {
        if route.transfer {
            return None;
        }
        route.settings.auth.get(host)?.credentials().ok()
    };
    let platform = check.platform.clone().unwrap_or_else(Platform::host);
    let env: Vec<(String, String)> = match &check.env {
        Some(e) => e.clone(),
        None => std::env::vars().collect(),
    };
    let req = Request {
        registry: &image.registry,
        repository: &image.repository,
        reference: &image.reference,
        hosts: &route.hosts,
        credentials: &credentials,
        headers: &route.settings.headers,
        env: &env,
        platform: &platform,
        exact_platform: route.transfer,
        connect: Duration::from_secs(5).min(check.timeout),
        total: check.timeout,
    };
    client::check(&req)
        .map(|found| (found, route.notes.clone()))
        .map_err(Problem::Pull)
}

/// The combinations containerd refuses at start.
fn validate(s: &Registry, release: Release) -> Result<(), Problem> {
    if !s.config_path.is_empty() && !s.mirrors.is_empty() {
        return Err(Problem::Settings(
            "`mirrors` cannot be set when `config_path` is provided".into(),
        ));
    }
    if !s.config_path.is_empty() && !s.tls.is_empty() && !release.is_2x() {
        return Err(Problem::Settings(
            "`configs.tls` cannot be set when `config_path` is provided".into(),
        ));
    }
    Ok(())
}

/// `config_path` (and 2.x's transfer service): the first host directory found under the roots,
/// then `ConfigureHosts`.
fn config_path_hosts(
    s: &Registry,
    registry: &str,
    release: Release,
    transfer: bool,
) -> (Vec<Host>, Vec<String>) {
    // The transfer service takes the whole value as one directory (containerd issue #12415).
    let roots: Vec<&str> = match transfer {
        true if s.config_path.is_empty() => Vec::new(),
        true => vec![s.config_path.as_str()],
        false => s.config_path.split(':').filter(|r| !r.is_empty()).collect(),
    };
    let found = roots
        .iter()
        .find_map(|root| disk::host_dir(&hosts::host_dirs(root, registry)));
    let mut notes = Vec::new();
    let (mut list, problem) = match &found {
        None => hosts::hosts(registry, None),
        Some((path, text, files)) => {
            // 1.x's decoder refuses a hosts.toml without a `[host."..."]` table.
            let text = text.as_deref().filter(|t| {
                release.is_2x()
                    || toml_edit::ImDocument::parse(*t).is_ok_and(|d| d.get("host").is_some())
            });
            if text.is_none() && found.as_ref().is_some_and(|f| f.1.is_some()) {
                notes.push(format!(
                    "containerd {release} does not read `{path}/hosts.toml`, which has no `[host.\"...\"]` table: it uses the registry itself"
                ));
            }
            hosts::hosts(
                registry,
                Some(Dir {
                    path,
                    hosts_toml: text,
                    files,
                }),
            )
        }
    };
    notes.extend(problem.map(|p| format!("containerd skips a hosts.toml it cannot decode: {p}")));
    if !release.localhost_tries_https() {
        for h in list
            .iter_mut()
            .filter(|h| h.http_fallback && is_localhost(&h.host))
        {
            h.scheme = "http".into();
            h.http_fallback = false;
        }
    }
    (list, notes)
}

/// Without `config_path`: the `mirrors` endpoints of the registry (or of `*`), then the
/// registry itself unless an endpoint is it; `configs."<host>".tls` for each.
fn legacy_hosts(s: &Registry, registry: &str) -> Vec<Host> {
    let default_scheme = |h: &str| if is_localhost(h) { "http" } else { "https" };
    let mut endpoints: Vec<String> = s
        .mirrors
        .get(registry)
        .or_else(|| s.mirrors.get("*"))
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            if e.contains("://") {
                e
            } else {
                format!(
                    "{}://{e}",
                    default_scheme(e.split('/').next().unwrap_or(&e))
                )
            }
        })
        .collect();
    let host_of = |e: &str| {
        e.split_once("://")
            .map_or(e, |(_, r)| r.split('/').next().unwrap_or(r))
            .to_string()
    };
    if !endpoints.iter().any(|e| host_of(e) == registry) {
        let upstream = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        endpoints.push(format!("{}://{upstream}", default_scheme(upstream)));
    }
    endpoints
        .iter()
        .map(|e| {
            let (scheme, rest) = e.split_once("://").unwrap_or(("https", e));
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let mut h = Host {
                scheme: scheme.into(),
                host: host.into(),
                path: if path.is_empty() {
                    "/v2".into()
                } else {
                    path.into()
                },
                caps: Caps {
                    pull: true,
                    resolve: true,
                },
                ..Host::default()
            };
            match s.tls.get(host) {
                Some(t) => {
                    h.ca = [t.ca_file.clone()]
                        .into_iter()
                        .filter(|c| !c.is_empty())
                        .collect();
                    if !t.cert_file.is_empty() {
                        h.client = vec![(t.cert_file.clone(), t.key_file.clone())];
                    }
                    h.skip_verify = Some(t.insecure_skip_verify);
                }
                None if is_localhost(host) && scheme == "http" => h.skip_verify = Some(true),
                None => {}
            }
            h
        })
        .collect()
}

impl Problem {
    /// What went wrong, and what to do, for `image` (pinned in place of `before`, the image
    /// containerd used, when known).
    /// Whether `--no-verify` can be the way past it: the registry's answer, not a config
    /// containerd refuses or a reference it cannot pull.
    pub fn skippable(&self) -> bool {
        matches!(self, Problem::Pull(_))
    }

    pub fn explain(&self, image: &str, before: Option<&str>) -> crate::Refusal {
        let (why, help) = match self {
            Problem::Settings(s) => (
                format!("containerd refuses the config's registry settings: {s}"),
                "remove `mirrors` (or `configs.\"...\".tls`) and describe the hosts in `<config_path>/<host>/hosts.toml` instead".to_string(),
            ),
            Problem::Reference(e) => (
                format!("`{image}` is not an image reference containerd can pull: {e}"),
                "pass --image with a full reference, e.g. registry.local:5000/pause:3.10".into(),
            ),
            Problem::Pull(f) => explain_failure(f, image, before),
        };
        crate::Refusal { why, help }
    }
}

/// The TLS handshake failed: an untrusted certificate (where containerd's CA goes), or one
/// that does not name the host.
fn tls(host: &str, detail: &str, image: Option<&ImageRef>) -> (String, String) {
    let why = format!(
        "the TLS handshake with {host} failed ({detail}); containerd would fail the same way"
    );
    if detail.contains("not valid for name") {
        return (
            why,
            "the registry's certificate does not name the host containerd connects to: reissue it with that name (or IP) in its subjectAltName, or address the registry by a name the certificate has".to_string(),
        );
    }
    let registry = image
        .and_then(|r| r.domain.clone())
        .unwrap_or_else(|| "docker.io".into());
    (
        why,
        format!(
            "give containerd the registry's CA: `ca = \"/path/to/ca.crt\"` in `<config_path>/{registry}/hosts.toml` (`config_path` under the CRI plugin's `registry` table, e.g. /etc/containerd/certs.d)"
        ),
    )
}

/// The registry lacks the image: which hosts said so, the tags it has, how to mirror it.
fn not_found(
    hosts: &[String],
    tags: Option<&[String]>,
    image: &str,
    source: &str,
) -> (String, String) {
    let without_tag = image
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(image, |(a, _)| a);
    let has = match tags {
        Some([]) | None => String::new(),
        Some(t) => {
            let shown: Vec<&str> = t.iter().rev().take(10).map(String::as_str).collect();
            format!("; that repository has the tags {}", shown.join(", "))
        }
    };
    let other = tags
        .and_then(|t| t.iter().rev().find(|t| t.starts_with(char::is_numeric)))
        .map(|t| format!(", or pin a tag it has: --image {without_tag}:{t}"))
        .unwrap_or_default();
    (
        format!(
            "the registry does not have `{image}`: {} answered 404 (not found){has}; containerd would fail every new pod with `failed to get sandbox image`",
            hosts.join(", ")
        ),
        format!("copy it there first: skopeo copy --all docker://{source} docker://{image}{other}"),
    )
}

fn explain_failure(f: &Failure, image: &str, before: Option<&str>) -> (String, String) {
    let r = ImageRef::parse_lenient(image).ok();
    let tag = r
        .as_ref()
        .and_then(|r| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    // Where the image comes from upstream: the one containerd used when it has the same tag,
    // else the public pause image of that tag.
    let same_tag =
        |b: &&str| ImageRef::parse_lenient(b).is_ok_and(|b| b.tag.as_deref() == Some(tag.as_str()));
    let source = before
        .filter(|b| *b != image)
        .filter(same_tag)
        .map(String::from)
        .unwrap_or_else(|| format!("registry.k8s.io/pause:{tag}"));
    match f {
        Failure::NotFound { hosts, tags } => not_found(hosts, tags.as_deref(), image, &source),
        Failure::Tls { host, detail } => tls(host, detail, r.as_ref()),
        Failure::Denied {
            host,
            status,
            with_credentials,
            detail,
        } => (
            format!(
                "{host} refused the pull of `{image}` ({detail}) {}",
                if *with_credentials {
                    "with the credentials in the config"
                } else {
                    "without credentials"
                }
            ),
            format!(
                "containerd pulls the sandbox image with the config's `configs.\"<host>\".auth` (`username`/`password`, `auth` or `identitytoken`) under the CRI plugin's `registry` table, never with kubelet's pull secrets: {} them there",
                if *status == 403 || *with_credentials {
                    "check"
                } else {
                    "set"
                }
            ),
        ),
        Failure::Platform {
            host,
            wanted,
            available,
        } => (
            format!(
                "the index of `{image}` on {host} has no image for {wanted} (it has {}); containerd on this node could not run it",
                available.join(", ")
            ),
            format!(
                "copy every platform: skopeo copy --all docker://{source} docker://{image}; or pass --platform for the nodes it is for"
            ),
        ),
        Failure::Unreachable { host, detail } => (
            format!("cannot reach {host}: {detail}"),
            "check the address, the network, and HTTPS_PROXY/NO_PROXY as containerd has them"
                .to_string(),
        ),
        Failure::Status { host, detail } => (
            format!("{host} did not serve `{image}`: {detail}"),
            "check the registry's logs".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts_for(
        registry: &str,
        release: &str,
        settings: &Registry,
        transfer: bool,
    ) -> Vec<String> {
        let r = Release::parse(release).unwrap();
        config_path_hosts(settings, registry, r, transfer)
            .0
            .iter()
            .map(|h| {
                format!(
                    "{}{}",
                    h.base(),
                    if h.http_fallback { " (then http)" } else { "" }
                )
            })
            .collect()
    }

    #[test]
    fn loopback_and_legacy_hosts_per_release() {
        let with_path = Registry {
            config_path: "/nonexistent/certs.d".into(),
            ..Registry::default()
        };
        assert_eq!(
            hosts_for("127.0.0.1:5000", "1.6.20", &with_path, false),
            ["http://127.0.0.1:5000/v2"]
        );
        assert_eq!(
            hosts_for("127.0.0.1:5000", "1.7.24", &with_path, false),
            ["https://127.0.0.1:5000/v2 (then http)"]
        );
        assert_eq!(
            hosts_for("127.0.0.1:5000", "2.1.9", &Registry::default(), true),
            ["https://127.0.0.1:5000/v2 (then http)"]
        );
        // Without config_path: plain HTTP for loopback; mirrors first, then the registry.
        let mirrors = Registry {
            mirrors: [(
                "docker.io".to_string(),
                vec!["mirror.local:5000".to_string()],
            )]
            .into(),
            ..Registry::default()
        };
        let bases: Vec<String> = legacy_hosts(&mirrors, "docker.io")
            .iter()
            .map(Host::base)
            .collect();
        assert_eq!(
            bases,
            [
                "https://mirror.local:5000/v2",
                "https://registry-1.docker.io/v2"
            ]
        );
        let bases: Vec<String> = legacy_hosts(&Registry::default(), "localhost:5000")
            .iter()
            .map(Host::base)
            .collect();
        assert_eq!(bases, ["http://localhost:5000/v2"]);
        // containerd refuses mirrors beside config_path.
        let both = Registry {
            config_path: "/d".into(),
            ..mirrors
        };
        assert!(validate(&both, Release::parse("2.1").unwrap()).is_err());
    }
}
