//! Property tests (proptest) of the pure core over generated configs of every version and shape:
//! the pin in each place and spelling containerd knows (a table, dotted keys, an inline table,
//! none at all), either quote style, LF or CRLF, among other settings and comments. For each,
//! and for each release line, whenever `set` accepts the config:
//! (a) the output parses as TOML 1.0;
//! (b) the output with the pin removed equals the input with the pin removed, key by key (an
//!     oracle written here, not the library's own check);
//! (c) setting the same image again changes nothing;
//! (d) `inspect` of the output reports the new image (with the release unknown: each release line
//! that loads the file uses it).
//! Besides: comments and the line-ending style survive, and `set` refuses only with the errors
//! that name something containerd itself refuses.

use pausectl::{Error, Release};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use toml_edit::{DocumentMut, Item, Value};

const IMAGE: &str = "registry.local:5000/pause:3.10";

/// Where containerd reads the pin: the table and the key in it.
const PINS: &[(&[&str], &str)] = &[
    (&["plugins", "cri"], "sandbox_image"),
    (&["plugins", "io.containerd.grpc.v1.cri"], "sandbox_image"),
    (
        &["plugins", "io.containerd.cri.v1.images", "pinned_images"],
        "sandbox",
    ),
];

/// A dotted key, each part quoted when it must be.
fn dotted(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            if p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                p.to_string()
            } else {
                format!("\"{p}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The pin written one of the ways TOML allows, or left out with its table there or not.
fn pin_shape(pin: usize, shape: usize, value: &str) -> String {
    let (table, key) = PINS[pin];
    let t = dotted(table);
    let (first, rest) = (dotted(&table[..1]), dotted(&table[1..]));
    match shape {
        0 => format!("[{t}]\n  {key} = {value}\n"),
        1 => format!("[{t}]\n  {key}={value} # pinned by hand\n  other = 1\n"),
        2 => format!("[{first}]\n  {rest}.{key} = {value}\n"),
        3 => format!("[{first}]\n  {rest} = {{ {key} = {value} }}\n"),
        4 => format!("[{t}]\n  other = true\n"),
        5 => format!("# {t} is left to the default\n"),
        _ => format!("[{first}.\"unrelated\"]\n  {key} = {value}\n"),
    }
}

/// Other settings a config carries: (text, whether it must come before any table header).
const FILLER: &[(&str, bool)] = &[
    ("root = \"/var/lib/containerd\"\n", true),
    ("oom_score = -999\n", true),
    ("disabled_plugins = []\n", true),
    ("# a comment of its own\n", false),
    ("\n", false),
    (
        "[grpc]\n  address = \"/run/containerd/containerd.sock\"\n  uid = 0\n",
        false,
    ),
    ("[debug]\n  level = 'info' # trailing comment\n", false),
    (
        "[metrics]\n  address = \"\"\n  grpc_histogram = false\n",
        false,
    ),
    (
        "[timeouts]\n  \"io.containerd.timeout.shim.cleanup\" = \"5s\"\n",
        false,
    ),
    (
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n",
        false,
    ),
    (
        "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://registry-1.docker.io\", 'https://m.local']\n",
        false,
    ),
    (
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n",
        false,
    ),
    (
        "[[plugins.\"io.containerd.transfer.v1.local\".unpack_config]]\n  platform = \"linux/amd64\"\n  snapshotter = \"overlayfs\"\n",
        false,
    ),
    (
        "[proxy_plugins.stargz]\n  type = \"snapshot\"\n  address = '/run/stargz.sock'\n",
        false,
    ),
];

/// A whole config: version line, root settings, then pins and tables in any order.
fn config() -> impl Strategy<Value = String> {
    let version = prop_oneof![
        Just(String::new()),
        (1u8..=4).prop_map(|v| format!("version = {v}\n")),
        (1u8..=4).prop_map(|v| format!("# generated\nversion={v} # schema\n")),
    ];
    let value = prop_oneof![
        Just("\"registry.k8s.io/pause:3.10\"".to_string()),
        Just("'registry.k8s.io/pause:3.6'".to_string()),
        Just("\"pause:3.9\"".to_string()),
        Just("\"registry.local:5000/pause:3.10\"".to_string()),
        Just("\"\"\"registry.k8s.io/pause:3.8\"\"\"".to_string()),
        Just("\"\\u0072egistry.k8s.io/pause:3.7\"".to_string()),
    ];
    let pin = (0..PINS.len(), 0usize..7, value).prop_map(|(p, s, v)| pin_shape(p, s, &v));
    (
        version,
        prop::collection::vec(pin, 0..3),
        prop::collection::vec(0..FILLER.len(), 0..8),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(version, pins, filler, crlf, final_newline)| {
            let mut text = version;
            let mut tables: Vec<String> = pins;
            for i in filler {
                match FILLER[i] {
                    (t, true) => text.push_str(t),
                    (t, false) => tables.push(t.to_string()),
                }
            } // A table header twice is not TOML: keep the first.
            let mut headers = std::collections::HashSet::new();
            tables.retain(|t| {
                !t.starts_with("[")
                    || t.starts_with("[[")
                    || headers.insert(t.lines().next().unwrap().to_string())
            });
            text.push_str(&tables.concat());
            if !final_newline {
                text = text.trim_end_matches('\n').to_string();
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            text
        })
}

fn release() -> impl Strategy<Value = Option<Release>> {
    prop::sample::select(vec![
        None,
        Some("1.6.20"),
        Some("1.7.24"),
        Some("2.1.9"),
        Some("2.3"),
    ])
    .prop_map(|r| r.and_then(Release::parse))
}

type Leaves = BTreeMap<Vec<String>, String>;

/// Every scalar of the document by its key path (empty arrays too); tables only through what
/// they hold, so a table that the pin created or emptied leaves nothing behind.
fn leaves(text: &str) -> Leaves {
    fn item(i: &Item, path: &mut Vec<String>, out: &mut Leaves) {
        match i {
            Item::None => {}
            Item::Value(v) => value(v, path, out),
            Item::Table(t) => {
                for (k, i) in t.iter() {
                    path.push(k.to_string());
                    item(i, path, out);
                    path.pop();
                }
            }
            Item::ArrayOfTables(a) => {
                for (n, t) in a.iter().enumerate() {
                    path.push(format!("[{n}]"));
                    for (k, i) in t.iter() {
                        path.push(k.to_string());
                        item(i, path, out);
                        path.pop();
                    }
                    path.pop();
                }
            }
        }
    }
    fn value(v: &Value, path: &mut Vec<String>, out: &mut Leaves) {
        let scalar = match v {
            Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    value(v, path, out);
                    path.pop();
                }
                return;
            }
            Value::Array(a) if !a.is_empty() => {
                for (n, v) in a.iter().enumerate() {
                    path.push(format!("[{n}]"));
                    value(v, path, out);
                    path.pop();
                }
                return;
            }
            Value::Array(_) => "[]".to_string(),
            Value::String(s) => format!("string {:?}", s.value()),
            other => other.clone().decorated("", "").to_string(),
        };
        out.insert(path.clone(), scalar);
    }
    let doc: DocumentMut = text.parse().unwrap();
    let mut out = Leaves::new();
    item(doc.as_item(), &mut Vec::new(), &mut out);
    out
}

fn without_pins(mut l: Leaves) -> Leaves {
    for (table, key) in PINS {
        let mut path: Vec<String> = table.iter().map(|s| s.to_string()).collect();
        path.push(key.to_string());
        l.remove(&path);
    }
    l
}

#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    pinned: usize,
    refused: BTreeMap<String, usize>,
    not_toml: usize,
}

#[test]
fn set_keeps_everything_but_the_pin() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4096);
    let config_ = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    // Seeded, so CI sees the same cases every run.
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config_, rng);
    let tally = RefCell::new(Tally::default());
    let result = runner.run(&(config(), release()), |(input, release)| {
        let mut t = tally.borrow_mut();
        t.cases += 1;
        if input.parse::<DocumentMut>().is_err() {
            // The generator can repeat a table header; such a file is no config.
            t.not_toml += 1;
            return Ok(());
        }
        let change = match pausectl::set(&input, IMAGE, release) {
            Ok(c) => c,
            Err(e @ (Error::Invalid { .. } | Error::Refused { .. } | Error::WrongType { .. })) => {
                let kind = format!("{e:?}");
                *t.refused
                    .entry(kind.split([' ', '{']).next().unwrap().to_string())
                    .or_default() += 1;
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("set failed: {e}"))),
        };
        t.pinned += 1;
        let out = &change.text;
        // (a)
        prop_assert!(out.parse::<DocumentMut>().is_ok(), "not TOML:\n{out}");
        // (b)
        prop_assert_eq!(without_pins(leaves(&input)), without_pins(leaves(out)));
        // (c)
        let again =
            pausectl::set(out, IMAGE, release).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again.text, out);
        // (d)
        let report =
            pausectl::inspect(out, release).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // With the release unknown, a line that refuses the file (before and after: `set`
        // refuses to break one) need not agree; every line that loads it uses the image.
        match &report.lines_differ {
            Some((a, b)) => {
                for said in [a, b] {
                    prop_assert!(said == IMAGE || said == "refuses to start", "{said}");
                }
            }
            None => prop_assert_eq!(report.image.as_deref(), Some(IMAGE)),
        }
        // Comments and line endings survive.
        for line in input.lines().filter(|l| l.trim_start().starts_with('#')) {
            prop_assert!(out.contains(line), "comment {line:?} lost");
        }
        if input.contains("\r\n") {
            prop_assert!(
                !out.replace("\r\n", "").contains('\n'),
                "bare LF in CRLF file:\n{out:?}"
            );
        }
        Ok(())
    });
    let t = tally.into_inner();
    let _ = writeln!(
        std::io::stderr(),
        "tests/properties.rs: {} generated configs: {} pinned and checked, {} refused as containerd would ({:?}), {} not TOML (skipped)",
        t.cases,
        t.pinned,
        t.refused.values().sum::<usize>(),
        t.refused,
        t.not_toml
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(t.pinned * 2 > t.cases, "too few cases pinned: {t:?}");
}
