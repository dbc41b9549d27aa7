//! A real registry on 127.0.0.1 (Debian's `docker-registry`, the CNCF distribution) and the
//! test image (a static binary that blocks on `pause()`, in a one-layer OCI image built by
//! `tests/registry/oci-image.sh`, pushed with `skopeo`): tests/registry.rs and tests/pod.rs.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A registry on 127.0.0.1, stopped when dropped.
pub struct Registry {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// `tls`: (certificate, key); `htpasswd`: the file of Basic-auth users.
    pub fn start(
        dir: &Path,
        name: &str,
        tls: Option<(&Path, &Path)>,
        htpasswd: Option<&Path>,
    ) -> Registry {
        let mut extra = String::new();
        if let Some((cert, key)) = tls {
            extra.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(h) = htpasswd {
            extra.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: pausectl-tests\n    path: {}\n",
                h.display()
            ));
        }
        Registry::start_with(dir, name, &extra)
    }

    /// With `extra` appended to its configuration (after `http.addr`).
    pub fn start_with(dir: &Path, name: &str, extra: &str) -> Registry {
        let port = free_port();
        let root = dir.join(name);
        fs::create_dir_all(&root).unwrap();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            root.join("data").display()
        );
        cfg.push_str(extra);
        fs::write(root.join("config.yml"), cfg).unwrap();
        let log = root.join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(root.join("config.yml"))
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(root.join("registry.err")).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { port, child, log }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's access log (requests, with their query strings).
    pub fn requests(&self) -> String {
        let err = self.log.with_file_name("registry.err");
        fs::read_to_string(&self.log).unwrap_or_default()
            + &fs::read_to_string(err).unwrap_or_default()
    }
}

/// An OCI layout of the test image for `platforms`, in `dir/name`.
pub fn image(dir: &Path, name: &str, platforms: &[&str]) -> PathBuf {
    let bin = dir.join("pause");
    if !bin.exists() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registry/pause.c");
        run(Command::new("gcc")
            .args(["-static", "-Os", "-o"])
            .arg(&bin)
            .arg(src));
    }
    let out = dir.join(name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registry/oci-image.sh");
    run(Command::new("bash")
        .arg(script)
        .arg(&bin)
        .arg(&out)
        .arg("3.10")
        .args(platforms));
    out
}

pub fn push(layout: &Path, dest: &str, creds: Option<&str>, certs: Option<&Path>) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--all", "-q"]);
    match certs {
        Some(d) => cmd.arg(format!("--dest-cert-dir={}", d.display())),
        None => cmd.arg("--dest-tls-verify=false"),
    };
    if let Some(c) = creds {
        cmd.arg(format!("--dest-creds={c}"));
    }
    run(cmd
        .arg(format!("oci:{}:3.10", layout.display()))
        .arg(format!("docker://{dest}")));
}

/// `pausectl ARGS` in `dir` (as [`super::pausectl_command`] runs it) with the registry check
/// on and no proxy taken from the test's own environment.
pub fn checked_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = super::pausectl_command(dir, args);
    cmd.env_remove(super::NO_VERIFY);
    for proxy in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        cmd.env_remove(proxy);
    }
    cmd
}
