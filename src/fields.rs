//! The top-level settings that containerd decodes into typed Go struct fields
//! (`services/server/config` in 1.x, `cmd/containerd/server/config` in 2.x): a value of another
//! type there makes every release refuse the file (measured with 1.6.20, 1.7.24 and 2.1.9).
//! Only fields that all three releases have are listed: a field a release does not know is
//! ignored by it, whatever its type. A key matches its field as written or in upper case on
//! every release (`ROOT = 1` is refused by all three); 2.x also folds other cases (`Root`), 1.x
//! does not (it ignores them).

use toml_edit::{ImDocument, Item, TableLike, Value};

/// The type a field decodes into.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Str,
    Bool,
    /// `[]string`.
    Strs,
    /// A struct with these fields.
    Struct(&'static [(&'static str, Kind)]),
    /// `map[string]T`.
    Map(&'static Kind),
}

use Kind::*;

const GRPC: &[(&str, Kind)] = &[
    ("address", Str),
    ("tcp_address", Str),
    ("tcp_tls_ca", Str),
    ("tcp_tls_cert", Str),
    ("tcp_tls_key", Str),
    ("uid", Int),
    ("gid", Int),
    ("max_recv_message_size", Int),
    ("max_send_message_size", Int),
];
const TTRPC: &[(&str, Kind)] = &[("address", Str), ("uid", Int), ("gid", Int)];
const DEBUG: &[(&str, Kind)] = &[
    ("address", Str),
    ("uid", Int),
    ("gid", Int),
    ("level", Str),
    ("format", Str),
];
const METRICS: &[(&str, Kind)] = &[("address", Str), ("grpc_histogram", Bool)];
const CGROUP: &[(&str, Kind)] = &[("path", Str)];
const PROXY: &[(&str, Kind)] = &[("type", Str), ("address", Str)];
const STREAM: &[(&str, Kind)] = &[
    ("accepts", Strs),
    ("returns", Str),
    ("path", Str),
    ("args", Strs),
    ("env", Strs),
];

/// containerd's `Config` struct, less `plugins` (its own checks) and `plugin_dir` (1.x only).
const CONFIG: &[(&str, Kind)] = &[
    ("version", Int),
    ("root", Str),
    ("state", Str),
    ("temp", Str),
    ("grpc", Struct(GRPC)),
    ("ttrpc", Struct(TTRPC)),
    ("debug", Struct(DEBUG)),
    ("metrics", Struct(METRICS)),
    ("disabled_plugins", Strs),
    ("required_plugins", Strs),
    ("oom_score", Int),
    ("cgroup", Struct(CGROUP)),
    ("proxy_plugins", Map(&Struct(PROXY))),
    ("timeouts", Map(&Str)),
    ("imports", Strs),
    ("stream_processors", Map(&Struct(STREAM))),
];

/// A setting whose value containerd cannot decode: its dotted name, what it should be, and the
/// byte offset of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistyped {
    pub name: String,
    pub want: &'static str,
    pub offset: usize,
    /// Every release refuses it; `false`: only 2.x (a key in a case 1.x does not fold).
    pub every: bool,
}

/// The settings that only 1.x has (2.x ignores them, whatever their type).
const ONLY_1X: &[(&str, Kind)] = &[("plugin_dir", Str)];

/// Whether a top-level key names one of containerd's own settings (in any case, as Go's
/// decoders fold it): a table under such a name must be parsed, for its type is checked.
pub fn is_setting(key: &[u8]) -> bool {
    CONFIG
        .iter()
        .chain(ONLY_1X)
        .any(|(name, _)| key.eq_ignore_ascii_case(name.as_bytes()))
}

/// The first top-level setting of `doc` that has a type containerd cannot decode, if any.
pub fn mistyped(doc: &ImDocument<String>) -> Option<Mistyped> {
    fields(doc.as_table(), CONFIG, "")
}

/// Like [`mistyped`], for the settings only 1.x has; `None` also for a case 1.x does not fold.
pub fn mistyped_1x(doc: &ImDocument<String>) -> Option<Mistyped> {
    fields(doc.as_table(), ONLY_1X, "").filter(|m| m.every)
}

fn fields(table: &dyn TableLike, fields: &[(&str, Kind)], prefix: &str) -> Option<Mistyped> {
    table.iter().find_map(|(key, item)| {
        let (name, kind) = fields
            .iter()
            .find(|(name, _)| key.eq_ignore_ascii_case(name))?;
        let every = key == *name || key == name.to_ascii_uppercase();
        let mut m = check(item, *kind, &format!("{prefix}{name}"))?;
        m.every &= every;
        Some(m)
    })
}

/// The first entry under `plugins` that is not a table, which 1.x cannot decode into its
/// `map[string]toml.Tree` (2.x loads it; measured), as its byte offset.
pub fn plugin_not_table(doc: &ImDocument<String>) -> Option<usize> {
    let plugins = doc.get("plugins")?.as_table_like()?;
    plugins
        .iter()
        .find(|(_, item)| !item.is_table_like())
        .map(|(_, item)| item.span().map_or(0, |s| s.start))
}

fn check(item: &Item, kind: Kind, name: &str) -> Option<Mistyped> {
    let bad = |want| {
        Some(Mistyped {
            name: name.to_string(),
            want,
            offset: item.span().map_or(0, |s| s.start),
            every: true,
        })
    };
    match kind {
        Struct(inner) => match item.as_table_like() {
            Some(t) => fields(t, inner, &format!("{name}.")),
            None => bad("a table"),
        },
        Map(inner) => match item.as_table_like() {
            Some(t) => t
                .iter()
                .find_map(|(k, v)| check(v, *inner, &format!("{name}.{k}"))),
            None => bad("a table"),
        },
        Strs => match item.as_array() {
            Some(a) if a.iter().all(|v| v.is_str()) => None,
            Some(_) => bad("an array of strings only"),
            None => bad("an array of strings"),
        },
        Int => matches!(item.as_value(), Some(Value::Integer(_)))
            .then_some(())
            .map_or_else(|| bad("an integer"), |_| None),
        Str => item
            .is_str()
            .then_some(())
            .map_or_else(|| bad("a string"), |_| None),
        Bool => item
            .is_bool()
            .then_some(())
            .map_or_else(|| bad("true or false"), |_| None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(text: &str) -> Option<String> {
        mistyped(&ImDocument::parse(text.to_string()).unwrap())
            .filter(|m| m.every)
            .map(|m| m.name)
    }

    #[test]
    fn finds_values_containerd_cannot_decode() {
        for (text, name) in [
            ("root = 1\n", "root"),
            ("oom_score = \"1\"\n", "oom_score"),
            ("oom_score = 1.5\n", "oom_score"),
            ("[grpc]\naddress = 5\n", "grpc.address"),
            ("grpc = 5\n", "grpc"),
            ("disabled_plugins = \"x\"\n", "disabled_plugins"),
            ("required_plugins = [1]\n", "required_plugins"),
            (
                "[metrics]\ngrpc_histogram = \"yes\"\n",
                "metrics.grpc_histogram",
            ),
            (
                "[timeouts]\n\"io.containerd.timeout.shim.cleanup\" = 5\n",
                "timeouts.io.containerd.timeout.shim.cleanup",
            ),
            ("[proxy_plugins.x]\ntype = 1\n", "proxy_plugins.x.type"),
            ("[[stream_processors]]\n", "stream_processors"),
            ("ROOT = 1\n", "root"),
            ("[GRPC]\nADDRESS = 5\n", "grpc.address"),
        ] {
            assert_eq!(first(text).as_deref(), Some(name), "{text:?}");
        }
    }

    /// 1.x alone has `plugin_dir` (measured: 1.6.20 and 1.7.24 refuse `plugin_dir = 1`, 2.1.9
    /// loads it).
    #[test]
    fn settings_only_1x_has() {
        let doc = |t: &str| ImDocument::parse(t.to_string()).unwrap();
        assert_eq!(mistyped(&doc("plugin_dir = 1\n")), None);
        let m = mistyped_1x(&doc("plugin_dir = 1\n")).unwrap();
        assert_eq!(m.name, "plugin_dir");
        assert_eq!(mistyped_1x(&doc("plugin_dir = \"/p\"\n")), None);
    }

    /// 2.x folds every case, 1.x only upper case (measured: `Root = 1`, `rOOT = 1`).
    #[test]
    fn other_cases_are_refused_by_2x_only() {
        let doc = ImDocument::parse("[Grpc]\naddress = 5\n".to_string()).unwrap();
        let m = mistyped(&doc).unwrap();
        assert_eq!((m.name.as_str(), m.every), ("grpc.address", false));
    }

    #[test]
    fn leaves_alone_what_containerd_reads_or_ignores() {
        for text in [
            "version = 2\nroot = \"/r\"\noom_score = -999\n",
            "[grpc]\naddress = \"/s\"\nuid = 0\nunknown = 1\n",
            "imports = []\ndisabled_plugins = []\n",
            "Root = 1\n",
            "[timeouts]\n\"io.containerd.timeout.shim.cleanup\" = \"5s\"\n",
            "[proxy_plugins.x]\ntype = \"snapshot\"\naddress = \"/s\"\nplatform = 1\n",
        ] {
            assert_eq!(first(text), None, "{text:?}");
        }
    }
}
