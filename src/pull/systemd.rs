//! The environment systemd gives containerd, where its proxy settings usually are
//! (`/etc/systemd/system/containerd.service.d/http-proxy.conf`): the `Environment=` and
//! `EnvironmentFile=` lines of its unit and drop-ins, in order.

/// The variables the unit texts (the unit, then its drop-ins sorted by name) set, as systemd
/// reads them: quoted words, an empty `Environment=` clearing the list, `EnvironmentFile=`
/// (a leading `-`: optional) read through `read`.
pub fn environment(
    units: &[String],
    read: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let set = |out: &mut Vec<(String, String)>, k: &str, v: &str| {
        out.retain(|(n, _)| n != k);
        out.push((k.to_string(), v.to_string()));
    };
    for unit in units {
        let mut service = false;
        for line in unit.lines().map(str::trim) {
            if line.starts_with('[') {
                service = line == "[Service]";
                continue;
            }
            if !service {
                continue;
            }
            if let Some(value) = line.strip_prefix("Environment=") {
                if value.trim().is_empty() {
                    out.clear();
                }
                for word in words(value) {
                    if let Some((k, v)) = word.split_once('=') {
                        set(&mut out, k, v);
                    }
                }
            } else if let Some(path) = line.strip_prefix("EnvironmentFile=") {
                let path = path.trim().trim_start_matches('-');
                for l in read(path).unwrap_or_default().lines().map(str::trim) {
                    if l.starts_with('#') || l.starts_with(';') {
                        continue;
                    }
                    if let Some((k, v)) = l.split_once('=') {
                        set(&mut out, k.trim(), v.trim().trim_matches(['"', '\'']));
                    }
                }
            }
        }
    }
    out
}

/// Whitespace-separated words, each possibly in double or single quotes.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_environment_as_systemd_does() {
        let unit = "[Unit]\nEnvironment=NOT=service\n[Service]\nEnvironment=\"HTTPS_PROXY=http://proxy:3128\" NO_PROXY=localhost,10.0.0.0/8\nEnvironmentFile=-/etc/default/containerd\n".to_string();
        let dropin = "[Service]\nEnvironment='HTTP_PROXY=http://other:8080'\n".to_string();
        let env = environment(&[unit, dropin], |p| {
            (p == "/etc/default/containerd")
                .then(|| "# x\nHTTPS_PROXY=\"http://file:3128\"\n".into())
        });
        assert_eq!(
            env,
            [
                ("NO_PROXY".to_string(), "localhost,10.0.0.0/8".to_string()),
                ("HTTPS_PROXY".to_string(), "http://file:3128".to_string()),
                ("HTTP_PROXY".to_string(), "http://other:8080".to_string()),
            ]
        );
        let cleared = environment(
            &["[Service]\nEnvironment=A=1\nEnvironment=\n".into()],
            |_| None,
        );
        assert!(cleared.is_empty());
    }
}
