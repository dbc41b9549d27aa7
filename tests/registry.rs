//! `set` asks the registry, as containerd will, before it writes: against real registries on
//! loopback (Debian's `docker-registry`, the CNCF distribution), with images built here (a
//! static binary in a one-layer OCI image, `tests/registry/oci-image.sh`) and pushed with
//! `skopeo`. Skipped when those tools are missing, unless PAUSECTL_REQUIRE_REGISTRY=1 (CI).

mod common;

use common::registry::{Registry, checked_command, free_port, image, push, run};

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn have_tools() -> bool {
    let ok = ["docker-registry", "skopeo", "openssl", "htpasswd", "gcc"]
        .iter()
        .all(|t| common::on_path(t));
    if !ok {
        assert!(
            std::env::var("PAUSECTL_REQUIRE_REGISTRY").as_deref() != Ok("1"),
            "docker-registry, skopeo, openssl, htpasswd or gcc missing (apt-get install docker-registry skopeo openssl apache2-utils gcc)"
        );
        eprintln!(
            "tests/registry.rs: skipped: docker-registry, skopeo, openssl, htpasswd or gcc missing"
        );
    }
    ok
}

/// `pausectl ARGS` in `dir` with the registry check on.
fn pausectl(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = checked_command(dir, args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn set(dir: &Path, image: &str, release: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "set",
        "--image",
        image,
        "--config",
        "config.toml",
        "--containerd-version",
        release,
    ];
    args.extend(extra);
    pausectl(dir, &args)
}

/// A CA and a certificate for 127.0.0.1 that it signs, in `dir`.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=pausectl test CA",
        ])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    fs::write(p("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.crt")));
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

const V2: &str = "version = 2\n";

/// Plain HTTP on loopback: found (1.x and 2.x), `--pin-digest`, a missing tag with the tags
/// the repository has, an index without this node's platform, a registry that is down.
#[test]
fn plain_http_outcomes() {
    if !have_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let reg = Registry::start(dir, "plain", None, None);
    let host = reg.host();
    push(
        &image(dir, "one", &["linux/amd64", "linux/arm64/v8"]),
        &format!("{host}/pause:3.10"),
        None,
        None,
    );
    push(
        &image(dir, "other", &["linux/s390x", "linux/ppc64le"]),
        &format!("{host}/other/pause:3.10"),
        None,
        None,
    );
    let config = dir.join("config.toml");
    for release in ["1.7.24", "2.1.9"] {
        fs::write(&config, V2).unwrap();
        let (code, err) = set(dir, &format!("{host}/pause:3.10"), release, &[]);
        assert_eq!(code, 0, "{release}: {err}");
        assert!(
            err.contains(&format!("http://{host}/v2 has it (sha256:")),
            "{release}: {err}"
        );
        assert!(
            fs::read_to_string(&config)
                .unwrap()
                .contains(&format!("{host}/pause:3.10"))
        );
    }
    // The release unknown (no containerd on PATH): asked as 1.x and as 2.x would ask.
    fs::write(&config, V2).unwrap();
    let image10 = format!("{host}/pause:3.10");
    let (code, err) = pausectl(
        dir,
        &["set", "--image", &image10, "--config", "config.toml"],
    );
    assert_eq!(code, 0, "{err}");
    let heads = reg
        .requests()
        .matches("HEAD /v2/pause/manifests/3.10")
        .count();
    assert!(heads >= 2, "{}", reg.requests());
    // The digest, as resolved.
    fs::write(&config, V2).unwrap();
    let (code, err) = set(
        dir,
        &format!("{host}/pause:3.10"),
        "2.1.9",
        &["--pin-digest"],
    );
    assert_eq!(code, 0, "{err}");
    let text = fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("{host}/pause@sha256:")), "{text}");
    assert!(err.contains("kubeadm 1.27+ expects"), "{err}");

    // A tag the registry lacks: named, the tags it has, how to mirror it; nothing written.
    fs::write(&config, V2).unwrap();
    let (code, err) = set(dir, &format!("{host}/pause:3.6"), "1.7.24", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("the registry does not have `{host}/pause:3.6`")),
        "{err}"
    );
    assert!(err.contains("that repository has the tags 3.10"), "{err}");
    assert!(
        err.contains(&format!(
            "skopeo copy --all docker://registry.k8s.io/pause:3.6 docker://{host}/pause:3.6"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("--image {host}/pause:3.10")), "{err}");
    assert_eq!(fs::read_to_string(&config).unwrap(), V2);
    // The same as one JSON object on standard output.
    let out = common::pausectl_command(
        dir,
        &[
            "set",
            "--json",
            "--image",
            &format!("{host}/pause:3.6"),
            "--config",
            "config.toml",
            "--containerd-version",
            "1.7.24",
        ],
    )
    .env_remove(common::NO_VERIFY)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["written"], false);
    assert_eq!(json["error"]["kind"], "not-found");
    assert_eq!(json["error"]["tags"], serde_json::json!(["3.10"]));
    assert_eq!(json["error"]["host"], format!("http://{host}/v2"));
    // `--registry` keeps the default's tag: 1.7's 3.8 is not there either.
    let (code, err) = pausectl(
        dir,
        &[
            "set",
            "--registry",
            &host,
            "--config",
            "config.toml",
            "--containerd-version",
            "1.7.24",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "skopeo copy --all docker://registry.k8s.io/pause:3.8 docker://{host}/pause:3.8"
        )),
        "{err}"
    );

    // An index without linux/amd64 (or whatever this machine is).
    let platform = format!(
        "linux/{}",
        if cfg!(target_arch = "x86_64") {
            "amd64"
        } else {
            "arm64/v8"
        }
    );
    let (code, err) = set(dir, &format!("{host}/other/pause:3.10"), "2.1.9", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "has no image for {platform} (it has linux/s390x, linux/ppc64le)"
        )),
        "{err}"
    );
    // --platform names the nodes it is for.
    let (code, err) = set(
        dir,
        &format!("{host}/other/pause:3.10"),
        "2.1.9",
        &["--platform", "linux/s390x"],
    );
    assert_eq!(code, 0, "{err}");

    // Down: named, with --no-verify as the way out; --no-verify writes and says so.
    fs::write(&config, V2).unwrap();
    let down = format!("127.0.0.1:{}/pause:3.10", free_port());
    let (code, err) = set(dir, &down, "2.1.9", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot reach") && err.contains("--no-verify"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), V2);
    let (code, err) = set(dir, &down, "2.1.9", &["--no-verify"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the image was not checked with the registry (--no-verify)"),
        "{err}"
    );
    // --dry-run stays offline unless --verify.
    fs::write(&config, V2).unwrap();
    assert_eq!(set(dir, &down, "2.1.9", &["--dry-run"]).0, 0);
    assert_eq!(set(dir, &down, "2.1.9", &["--dry-run", "--verify"]).0, 2);
    // show --verify of a pin on a registry that is down: exit 2, and no advice to write
    // anything (--no-verify is set's way past a refusal).
    assert_eq!(set(dir, &down, "2.1.9", &["--no-verify"]).0, 0);
    let (code, err) = pausectl(
        dir,
        &[
            "show",
            "--config",
            "config.toml",
            "--containerd-version",
            "2.1.9",
            "--verify",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot reach") && !err.contains("--no-verify"),
        "{err}"
    );
    // The check guards a write: with the pin already there, set succeeds while the registry is
    // down (a node restarted in an outage), unless --verify asks.
    let (code, err) = set(dir, &down, "2.1.9", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to change"), "{err}");
    assert_eq!(set(dir, &down, "2.1.9", &["--verify"]).0, 2);
    // show --verify reports the host and digest of the image in effect.
    let (code, _) = set(dir, &format!("{host}/pause:3.10"), "2.1.9", &[]);
    assert_eq!(code, 0);
    let out = common::pausectl_command(
        dir,
        &[
            "show",
            "--config",
            "config.toml",
            "--containerd-version",
            "2.1.9",
            "--verify",
        ],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("verified:      http://{host}/v2 has it (sha256:")),
        "{stdout}"
    );
    let out = common::pausectl_command(
        dir,
        &[
            "show",
            "--json",
            "--config",
            "config.toml",
            "--containerd-version",
            "2.1.9",
            "--verify",
        ],
    )
    .output()
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["verified"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{json}"
    );
    assert_eq!(
        json["verified"]["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"])
    );
    assert_eq!(json["verify_error"], serde_json::Value::Null);
}

/// HTTPS with a private CA: untrusted without `ca` in hosts.toml (as containerd), trusted with
/// it; a mirror list in hosts.toml whose first host lacks the image and whose second has it.
#[test]
fn hosts_toml_ca_and_mirrors() {
    if !have_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ca, cert, key) = tls_files(dir);
    let secure = Registry::start(dir, "secure", Some((&cert, &key)), None);
    let certs = dir.join("skopeo-certs");
    fs::create_dir_all(&certs).unwrap();
    fs::copy(&ca, certs.join("ca.crt")).unwrap();
    push(
        &image(dir, "one", &["linux/amd64", "linux/arm64/v8"]),
        &format!("{}/pause:3.10", secure.host()),
        None,
        Some(&certs),
    );
    // The image names a registry by a name; hosts.toml sends containerd to the loopback host.
    let hosts_dir = dir.join("certs.d/registry.test");
    fs::create_dir_all(&hosts_dir).unwrap();
    let config = format!(
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"{}\"\n",
        dir.join("certs.d").display()
    );
    let entry = format!(
        "[host.\"https://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
        secure.host()
    );
    fs::write(hosts_dir.join("hosts.toml"), &entry).unwrap();
    for release in ["1.7.24", "2.1.9"] {
        fs::write(dir.join("config.toml"), &config).unwrap();
        let (code, err) = set(dir, "registry.test/pause:3.10", release, &[]);
        assert_eq!(code, 2, "{release}: {err}");
        assert!(
            err.contains("TLS handshake") && err.contains("containerd would fail the same way"),
            "{release}: {err}"
        );
        assert!(err.contains("hosts.toml"), "{err}");
    }
    fs::write(
        hosts_dir.join("hosts.toml"),
        format!("{entry}  ca = \"{}\"\n", ca.display()),
    )
    .unwrap();
    for release in ["1.7.24", "2.1.9"] {
        fs::write(dir.join("config.toml"), &config).unwrap();
        let (code, err) = set(dir, "registry.test/pause:3.10", release, &[]);
        assert_eq!(code, 0, "{release}: {err}");
        assert!(
            err.contains(&format!("https://{}/v2 has it", secure.host())),
            "{err}"
        );
    }
    // The CA trusted, but the name is not the certificate's (it is for IP 127.0.0.1 only).
    let by_name = format!(
        "[host.\"https://localhost:{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"{}\"\n",
        secure.port,
        ca.display()
    );
    fs::write(hosts_dir.join("hosts.toml"), by_name).unwrap();
    fs::write(dir.join("config.toml"), &config).unwrap();
    let (code, err) = set(dir, "registry.test/pause:3.10", "2.1.9", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("TLS handshake") && err.contains("not valid for name \"localhost\""),
        "{err}"
    );
    assert!(
        err.contains("does not name the host containerd connects to"),
        "{err}"
    );

    // Mirrors: the first lacks the image, the second has it; each is told the registry (?ns=).
    let empty = Registry::start(dir, "empty", None, None);
    let full = Registry::start(dir, "full", None, None);
    push(
        &image(dir, "one", &["linux/amd64", "linux/arm64/v8"]),
        &format!("{}/pause:3.10", full.host()),
        None,
        None,
    );
    let mirror_dir = dir.join("certs.d/mirror.test");
    fs::create_dir_all(&mirror_dir).unwrap();
    fs::write(
        mirror_dir.join("hosts.toml"),
        format!(
            "server = \"https://mirror.test\"\n\n[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            empty.host(),
            full.host()
        ),
    )
    .unwrap();
    for release in ["1.7.24", "2.1.9"] {
        fs::write(dir.join("config.toml"), &config).unwrap();
        let (code, err) = set(dir, "mirror.test/pause:3.10", release, &[]);
        assert_eq!(code, 0, "{release}: {err}");
        assert!(
            err.contains(&format!("http://{}/v2 has it", full.host())),
            "{err}"
        );
    }
    assert!(
        empty
            .requests()
            .contains("/v2/pause/manifests/3.10?ns=mirror.test"),
        "{}",
        empty.requests()
    );
}

/// Basic auth (htpasswd): refused without credentials, pulled with `configs."<host>".auth`.
#[test]
fn basic_auth_from_the_config() {
    if !have_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let users = dir.join("htpasswd");
    run(Command::new("htpasswd")
        .args(["-Bbc"])
        .arg(&users)
        .args(["puller", "s3cret"]));
    // Plain HTTP: containerd talks plain HTTP to a loopback registry without `config_path`.
    let reg = Registry::start(dir, "auth", None, Some(&users));
    let host = reg.host();
    push(
        &image(dir, "one", &["linux/amd64", "linux/arm64/v8"]),
        &format!("{host}/pause:3.10"),
        Some("puller:s3cret"),
        None,
    );
    for release in ["1.7.24", "2.1.9"] {
        auth_outcomes(dir, &host, release, || {});
    }
}

/// For a registry that wants `puller:s3cret`: refused without credentials, pulled with them in
/// `configs."<host>".auth` (`pulled` runs just before that pull), refused with a wrong one.
fn auth_outcomes(dir: &Path, host: &str, release: &str, mut pulled: impl FnMut()) {
    let plugin = "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs";
    let image = format!("{host}/pause:3.10");
    fs::write(dir.join("config.toml"), V2).unwrap();
    let (code, err) = set(dir, &image, release, &[]);
    assert_eq!(code, 2, "{release}: {err}");
    assert!(
        err.contains("refused the pull") && err.contains("without credentials"),
        "{err}"
    );
    assert!(err.contains("configs.\"<host>\".auth"), "{err}");
    let with = format!(
        "{V2}{plugin}.\"{host}\".auth]\n  username = \"puller\"\n  password = \"s3cret\"\n"
    );
    fs::write(dir.join("config.toml"), &with).unwrap();
    pulled();
    let (code, err) = set(dir, &image, release, &[]);
    assert_eq!(code, 0, "{release}: {err}");
    let wrong = with.replace("s3cret", "wrong");
    fs::write(dir.join("config.toml"), wrong).unwrap();
    let (code, err) = set(dir, &image, release, &[]);
    assert_eq!(code, 2, "{release}: {err}");
    assert!(err.contains("with the credentials in the config"), "{err}");
}

/// A token server for the registry's `token` auth: one JWT (RS256, its certificate in the
/// header's `x5c`) that grants pull and push on `pause`, handed to a client that presents
/// `puller:s3cret` (Basic on GET, or the password grant on POST). Requests are recorded.
struct TokenServer {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TokenServer {
    fn start(dir: &Path) -> (TokenServer, PathBuf) {
        let (cert, key) = (dir.join("token.crt"), dir.join("token.key"));
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=pausectl token issuer",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = run(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert))
        .stdout;
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = format!(
            r#"{{"typ":"JWT","alg":"RS256","x5c":["{}"]}}"#,
            b64.encode(der)
        );
        let claims = format!(
            r#"{{"iss":"pausectl-tests","sub":"puller","aud":"pausectl-registry","exp":{},"nbf":{},"iat":{},"jti":"pausectl-1","access":[{{"type":"repository","name":"pause","actions":["pull","push"]}}]}}"#,
            now + 3600,
            now - 60,
            now - 60
        );
        let signing = format!("{}.{}", url.encode(header), url.encode(claims));
        fs::write(dir.join("signing.txt"), &signing).unwrap();
        let sig = run(Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&key)
            .arg(dir.join("signing.txt")))
        .stdout;
        let token = format!("{signing}.{}", url.encode(sig));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        let basic = format!("Basic {}", b64.encode("puller:s3cret"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &token, &basic, &log);
            }
        });
        (TokenServer { port, requests }, cert)
    }
}

/// One HTTP/1.1 request to the token server, answered and closed.
fn answer(
    mut stream: std::net::TcpStream,
    token: &str,
    basic: &str,
    log: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let granted = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case(&format!("authorization: {basic}")))
        || (body.contains("username=puller") && body.contains("password=s3cret"));
    log.lock().unwrap().push(format!(
        "{}\n{body}\ngranted={granted}",
        head.lines().next().unwrap_or("")
    ));
    let (status, json) = if granted {
        (
            "200 OK",
            format!(r#"{{"token":"{token}","access_token":"{token}"}}"#),
        )
    } else {
        (
            "401 Unauthorized",
            r#"{"details":"wrong credentials"}"#.to_string(),
        )
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )?;
    stream.flush()
}

/// Bearer token auth: refused without credentials (the token server says 401), pulled with
/// `configs."<host>".auth`, by the OAuth password grant (POST, `client_id=containerd-client`).
#[test]
fn bearer_token_auth() {
    if !have_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (tokens, cert) = TokenServer::start(dir);
    let reg = Registry::start_with(
        dir,
        "token",
        &format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: pausectl-registry\n    issuer: pausectl-tests\n    rootcertbundle: {}\n",
            tokens.port,
            cert.display()
        ),
    );
    let host = reg.host();
    push(
        &image(dir, "one", &["linux/amd64", "linux/arm64/v8"]),
        &format!("{host}/pause:3.10"),
        Some("puller:s3cret"),
        None,
    );
    for release in ["1.7.24", "2.1.9"] {
        auth_outcomes(dir, &host, release, || {
            tokens.requests.lock().unwrap().clear()
        });
        let seen = tokens.requests.lock().unwrap().join("\n");
        assert!(seen.starts_with("POST /token"), "{seen}");
        assert!(
            seen.contains("client_id=containerd-client") && seen.contains("grant_type=password"),
            "{seen}"
        );
        assert!(seen.contains("scope=repository%3Apause%3Apull"), "{seen}");
    }
    // A registry that redirects to this one: each host that answers is authorized with its
    // own credentials, so those of the first never reach the second's token server.
    let redirector = redirect_to(&host);
    let plugin = "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs";
    let creds = |h: &str| {
        format!("{plugin}.\"{h}\".auth]\n  username = \"puller\"\n  password = \"s3cret\"\n")
    };
    fs::write(
        dir.join("config.toml"),
        format!("{V2}{}", creds(&redirector)),
    )
    .unwrap();
    tokens.requests.lock().unwrap().clear();
    let (code, err) = set(dir, &format!("{redirector}/pause:3.10"), "1.7.24", &[]);
    assert_eq!(code, 2, "{err}");
    let seen = tokens.requests.lock().unwrap().join("\n");
    assert!(
        !seen.contains("s3cret") && !seen.contains("granted=true"),
        "{seen}"
    );
    let both = format!("{V2}{}{}", creds(&redirector), creds(&host));
    fs::write(dir.join("config.toml"), both).unwrap();
    let (code, err) = set(dir, &format!("{redirector}/pause:3.10"), "1.7.24", &[]);
    assert_eq!(code, 0, "{err}");
}

/// A server on 127.0.0.1 that answers every request with a 307 to the same path on `host`.
fn redirect_to(host: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let host = host.to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = reader.read_line(&mut line);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/");
            let _ = write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{host}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    format!("127.0.0.1:{port}")
}
