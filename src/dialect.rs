//! Where containerd's two TOML decoders read a config differently from TOML 1.0 and from each
//! other (measured with 1.6.20, 1.7.24 and 2.1.9, `config dump`):
//!
//! - **Key case.** Go's decoders match struct fields regardless of case, each its own way:
//!   1.x (go-toml v1) reads `version` or `VERSION`, 2.x (go-toml v2) any case; but 2.x's
//!   migration of a version-2 config reads `sandbox_image` only as spelled, and 1.x drops an
//!   upper-case `PLUGINS` tree once a lower-case `plugins` table exists. Map keys (plugin ids,
//!   `sandbox` in `pinned_images`) are compared as they are on every release.
//! - **1.x's parser** refuses a tab after a dot in a key and a multi-line string that ends in
//!   four or five quotes (valid TOML 1.0), and does not decode `\u` escapes in table headers.
//! - **Versions** below 0 load on every release, read like version 2 without its checks; 5 and
//!   above are refused, except by 1.6 before 1.6.32, which reads them as version 2.
//!
//! pausectl does not guess at these: what it cannot tell is reported as such by `show` and
//! refused by `set`, with the spelling that every release reads.

use crate::config::has;
use crate::release::Release;
use toml_edit::{ImDocument, Item, Key, TableLike, Value};

/// Something in a file that makes the image some release uses uncertain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsure {
    /// What containerd does with it.
    pub why: String,
    /// How to spell it so that every release reads it the same.
    pub help: String,
    /// Byte offset in the text.
    pub offset: usize,
    /// The releases for which it is uncertain.
    pub affects: Affects,
}

/// Which releases an [`Unsure`] is uncertain for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affects {
    /// Every release.
    Every,
    /// containerd 1.x, and an unknown release.
    Only1x,
    /// Only an unknown release: each known release is modelled.
    UnknownRelease,
}

impl Affects {
    /// Whether it is uncertain what release `r` (`None`: unknown) does.
    pub fn applies(self, r: Option<Release>) -> bool {
        match self {
            Affects::Every => true,
            Affects::Only1x => r.is_none_or(|r| !r.is_2x()),
            Affects::UnknownRelease => r.is_none(),
        }
    }
}

/// A config setting containerd decodes into a struct field: the case of its key is folded.
const ROOT_FIELDS: &[&str] = &[
    "version",
    "imports",
    "plugins",
    "disabled_plugins",
    "required_plugins",
];

/// The first thing in `doc` (the text `raw`) that some release reads differently, if any.
pub fn unsure(doc: &ImDocument<String>, raw: &str) -> Option<Unsure> {
    folded_key(doc)
        .or_else(|| escaped_header(doc, raw))
        .or_else(|| {
            // 1.x refuses it (`refused_by_1x`); 2.x loads the file but cannot decode that
            // plugin's settings (its `config dump` fails on them), with effects pausectl does not
            // model.
            let offset = crate::fields::plugin_not_table(doc)?;
            Some(Unsure {
                why: "an entry under `plugins` is not a table: containerd 1.x refuses the file, and 2.x cannot decode that plugin's settings".into(),
                help: "make it a table (`[plugins.\"<name>\"]`), or remove it".into(),
                offset,
                affects: Affects::Every,
            })
        })
}

/// A key on the pin's path spelled in another case than containerd's own.
fn folded_key(doc: &ImDocument<String>) -> Option<Unsure> {
    let root = doc.as_table();
    let odd = |table: &dyn TableLike, field: &str| -> Option<Unsure> {
        let (key, item) = table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field) && *k != field)?;
        let offset = table
            .get_key_value(key)
            .and_then(|(k, _)| k.span())
            .or_else(|| item.span())
            .map_or(0, |s| s.start);
        Some(Unsure {
            why: format!(
                "`{key}` is `{field}` in another case, and containerd releases read such keys differently (measured: 1.x reads `VERSION` but not `Version`, 2.x reads `Version` but ignores `SANDBOX_IMAGE`)"
            ),
            help: format!("spell it `{field}`"),
            offset,
            affects: Affects::Every,
        })
    };
    for field in ROOT_FIELDS {
        if let Some(u) = odd(root, field) {
            return Some(u);
        }
    }
    let plugins = root.get("plugins").and_then(Item::as_table_like)?;
    for (id, field) in [
        ("cri", "sandbox_image"),
        ("io.containerd.grpc.v1.cri", "sandbox_image"),
        ("io.containerd.cri.v1.images", "pinned_images"),
    ] {
        if let Some(u) = plugins
            .get(id)
            .and_then(Item::as_table_like)
            .and_then(|t| odd(t, field))
        {
            return Some(u);
        }
    }
    None
}

/// Every key of the document with its span, depth first.
fn keys<'a>(table: &'a dyn TableLike, out: &mut Vec<&'a Key>) {
    for (name, item) in table.iter() {
        if let Some((key, _)) = table.get_key_value(name) {
            out.push(key);
        }
        match item {
            Item::Table(t) => keys(t, out),
            Item::Value(Value::InlineTable(t)) => keys(t, out),
            Item::ArrayOfTables(a) => a.iter().for_each(|t| keys(t, out)),
            _ => {}
        }
    }
}

/// A `\u` escape in a table header's key: 1.x keeps it undecoded, so the header names another
/// table there (measured: `[plugins."io.containerd.grpc.v1.\u0063ri"]` is the CRI plugin for
/// 2.1.9 and an unknown one for 1.x).
fn escaped_header(doc: &ImDocument<String>, raw: &str) -> Option<Unsure> {
    // Without an escape anywhere, no key has one (and walking every key is not free).
    if !has(raw, "\\u") && !has(raw, "\\U") {
        return None;
    }
    let mut all = Vec::new();
    keys(doc.as_table(), &mut all);
    all.into_iter().find_map(|k| {
        let span = k.span()?;
        let text = raw.get(span.clone())?;
        let line_start = raw[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let in_header = raw[line_start..].trim_start().starts_with('[');
        (in_header && (text.contains("\\u") || text.contains("\\U"))).then(|| Unsure {
            why: format!(
                "the table header key {text} has a `\\u` escape, which containerd 1.x does not decode (it reads another table)"
            ),
            help: "write the key without escapes".into(),
            offset: span.start,
            affects: Affects::Only1x,
        })
    })
}

/// Why containerd 1.x refuses `raw` although it is TOML 1.0 that 2.x loads (1.x's parser, or its
/// decoding of `plugins`), and where.
pub fn refused_by_1x(doc: &ImDocument<String>, raw: &str) -> Option<(String, usize)> {
    // A tab between a dot and the next part of a key, in a header or a dotted key. (Each check
    // first asks the text whether it can apply: most configs have no tab, no four quotes.)
    let mut all = Vec::new();
    if raw.contains('\t') {
        keys(doc.as_table(), &mut all);
    }
    for k in all {
        let Some(span) = k.span() else { continue };
        let before = &raw[..span.start];
        let gap = before.len() - before.trim_end_matches([' ', '\t']).len();
        if gap > 0
            && before[..before.len() - gap].ends_with('.')
            && before[before.len() - gap..].contains('\t')
        {
            return Some((
                "a tab after a dot in a key, which containerd 1.x's parser refuses".into(),
                span.start,
            ));
        }
    }
    // A multi-line string closed by four or five quotes.
    let mut found = None;
    let four_quotes = raw.contains("\"\"\"\"") || raw.contains("''''");
    let walk = |f: &mut dyn FnMut(&Value)| {
        if four_quotes {
            strings(doc.as_table(), f)
        }
    };
    walk(&mut |v: &Value| {
        let Some(repr) = v.span().and_then(|s| raw.get(s)) else {
            return;
        };
        // The quotes that end it, less one escaped by an odd run of backslashes before them.
        let closes = |q: char| {
            let run = repr.len() - repr.trim_end_matches(q).len();
            let body = &repr[..repr.len() - run];
            let slashes = body.len() - body.trim_end_matches('\\').len();
            let escaped = usize::from(q == '"' && slashes % 2 == 1);
            repr.len() > 6 && repr.starts_with([q; 3]) && run - escaped >= 4
        };
        if found.is_none() && (closes('"') || closes('\'')) {
            found = Some(v.span().map_or(0, |s| s.start));
        }
    });
    if let Some(at) = found {
        return Some((
            "a multi-line string that ends in four or five quotes, which containerd 1.x's parser refuses".into(),
            at,
        ));
    }
    crate::fields::plugin_not_table(doc).map(|at| {
        (
            "an entry under `plugins` that is not a table, which containerd 1.x refuses (\"Can't convert ... to toml.Tree\")".into(),
            at,
        )
    })
}

/// Calls `f` on every string value of `table`, however deep.
fn strings(table: &dyn TableLike, f: &mut dyn FnMut(&Value)) {
    fn value(v: &Value, f: &mut dyn FnMut(&Value)) {
        match v {
            Value::String(_) => f(v),
            Value::Array(a) => a.iter().for_each(|v| value(v, f)),
            Value::InlineTable(t) => strings(t, f),
            _ => {}
        }
    }
    for (_, item) in table.iter() {
        match item {
            Item::Value(v) => value(v, f),
            Item::Table(t) => strings(t, f),
            Item::ArrayOfTables(a) => a.iter().for_each(|t| strings(t, f)),
            Item::None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ImDocument<String> {
        ImDocument::parse(text.to_string()).unwrap()
    }

    #[test]
    fn folded_keys_on_the_pin_path() {
        for (text, key) in [
            ("VERSION = 2\n", "`VERSION`"),
            ("Imports = []\n", "`Imports`"),
            ("[PLUGINS.x]\n", "`PLUGINS`"),
            (
                "[plugins.\"io.containerd.grpc.v1.cri\"]\nSANDBOX_IMAGE = 'a'\n",
                "`SANDBOX_IMAGE`",
            ),
            (
                "[plugins.\"io.containerd.cri.v1.images\".Pinned_Images]\nsandbox = 'a'\n",
                "`Pinned_Images`",
            ),
        ] {
            let u = unsure(&doc(text), text).unwrap_or_else(|| panic!("{text}"));
            assert!(u.why.starts_with(key), "{text}: {}", u.why);
            assert_eq!(u.affects, Affects::Every);
        }
        // As spelled, map keys, and keys off the pin's path are read the same everywhere.
        for text in [
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = 'a'\n",
            "[plugins.\"io.containerd.cri.v1.images\".pinned_images]\nSANDBOX = 'a'\n",
            "[plugins.CRI]\nsandbox_image = 'a'\n",
            "[plugins.\"io.containerd.grpc.v1.cri\"]\nEnable_Selinux = true\n",
        ] {
            assert_eq!(unsure(&doc(text), text), None, "{text}");
        }
    }

    #[test]
    fn what_1x_reads_otherwise() {
        let text = "[plugins.\"io.containerd.grpc.v1.\\u0063ri\"]\nsandbox_image = 'a'\n";
        assert_eq!(unsure(&doc(text), text).unwrap().affects, Affects::Only1x);
        // In a dotted key 1.x decodes it (measured).
        let text = "[plugins]\n\"io.containerd.grpc.v1.\\u0063ri\".sandbox_image = 'a'\n";
        assert_eq!(unsure(&doc(text), text), None);
        for text in [
            "[plugins.\t\"io.containerd.grpc.v1.cri\"]\n",
            "plugins.\t\"x\".sandbox_image = 'a'\n",
            "x = \"\"\"ab\"\"\"\"\n",
            "x = '''ab'''''\n",
            // An escaped backslash, then four quotes; an escaped quote, then five (measured).
            "x = \"\"\"ab\\\\\"\"\"\"\n",
            "x = \"\"\"ab\\\"\"\"\"\"\n",
        ] {
            assert!(refused_by_1x(&doc(text), text).is_some(), "{text:?}");
        }
        for text in [
            "[plugins. \"io.containerd.grpc.v1.cri\"]\n",
            "[plugins\t.\"x\"]\n",
            "[x]\n\tsandbox_image = 'a'\n",
            "x = \"\"\"ab\"\"\"\n",
            "x = '''a''b'''\n",
            // An escaped quote before the closing three is content, not a fourth (measured).
            "x = \"\"\"ab\\\"\"\"\"\n",
            "x = \"\"\"ab\\\"\\\"\"\"\"\n",
        ] {
            assert_eq!(refused_by_1x(&doc(text), text), None, "{text:?}");
        }
    }
}
