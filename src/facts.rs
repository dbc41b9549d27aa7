//! What one parsed file says that matters to containerd's merge ([`Facts`]): each pin key with
//! its line ([`Pin`]), the version, which CRI tables it has, the plugin names 1.x checks, and
//! what a release refuses or reads otherwise.

use crate::config::{Error, Lines, Parsed};
use crate::release::Release;
use crate::schema::{KEY_V1, KEY_V2, KEY_V3, Schema};
use crate::splice::{self, Lookup};
use toml_edit::Item;

/// What one file says that matters for the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The file's schema.
    pub schema: Schema,
    /// The `version` as written; 0 when absent.
    pub version: i64,
    /// `[plugins.cri] sandbox_image`.
    pub k1: Option<Pin>,
    /// `[plugins."io.containerd.grpc.v1.cri"] sandbox_image`.
    pub k2: Option<Pin>,
    /// `[plugins."io.containerd.cri.v1.images".pinned_images] sandbox`.
    pub k3: Option<Pin>,
    /// `plugins.cri` is a table, in any spelling.
    pub cri_short: bool,
    /// `plugins."io.containerd.grpc.v1.cri"` is a table, in any spelling.
    pub cri_full: bool,
    /// The file starts with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Why containerd 1.x's parser refuses the file although it is TOML 1.0, with its line and
    /// column.
    pub refused_1x: Option<(String, (usize, usize))>,
    /// Why containerd 2.x refuses the file (and 1.x does not), with its line and column.
    pub refused_2x: Option<(String, (usize, usize))>,
    /// What makes the image some release uses uncertain, with its line and column.
    pub unsure: Option<(crate::dialect::Unsure, (usize, usize))>,
    /// The plugin names 1.x checks in a version-2 config, in the order it checks them.
    pub plugin_names: Vec<PluginName>,
}

/// A plugin name: a key under `plugins` or an entry of `disabled_plugins` or
/// `required_plugins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginName {
    /// `"disabled plugin"`, `"required plugin"` or `"plugin key"`, as containerd's message says.
    pub kind: &'static str,
    pub name: String,
    pub line: usize,
}

impl PluginName {
    /// Whether release `r` (1.x, config version 2 or above) accepts the name: 1.6 wants four
    /// dot-separated parts, 1.7 also the prefix `io.containerd.` (its `ValidateV2`, measured).
    pub fn valid_for(&self, r: Release) -> bool {
        self.name.split('.').count() >= 4
            && (r.minor < 7 || self.name.starts_with("io.containerd."))
    }
}

/// One key in the file that holds a sandbox image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pin {
    /// The dotted key path, e.g. `plugins."io.containerd.grpc.v1.cri".sandbox_image`.
    pub key: String,
    /// The image it names.
    pub image: String,
    /// 1-based line number.
    pub line: usize,
    /// Which file of the chain holds it (0: the main config).
    #[serde(skip)]
    pub file: usize,
}

fn find(p: &Parsed, lines: &Lines, key: &[&str], file: usize) -> Result<Option<Pin>, Error> {
    match splice::lookup(&p.doc, key) {
        Ok(Lookup::Found(f)) => Ok(Some(Pin {
            key: splice::dotted(key, '"'),
            image: f.value,
            line: lines.position(f.span.start).0,
            file,
        })),
        Ok(Lookup::Missing) => Ok(None),
        Err(w) => Err(Error::WrongType {
            path: w.path,
            found: w.found,
            at: lines.position(w.offset.unwrap_or(0)),
        }),
    }
}

/// `plugins."<name>"` in the file, in whatever spelling.
pub(crate) fn plugin<'a>(p: &'a Parsed, name: &str) -> Option<&'a Item> {
    p.doc.get("plugins").and_then(|t| t.get(name))
}

fn facts(p: &Parsed, file: usize) -> Result<Facts, Error> {
    let table = |name| plugin(p, name).is_some_and(Item::is_table_like);
    let lines = Lines::new(p.raw());
    let position = |at| lines.position(at);
    Ok(Facts {
        schema: p.schema,
        version: p.doc.get("version").and_then(Item::as_integer).unwrap_or(0),
        k1: find(p, &lines, KEY_V1, file)?,
        k2: find(p, &lines, KEY_V2, file)?,
        k3: find(p, &lines, KEY_V3, file)?,
        cri_short: table("cri"),
        cri_full: table("io.containerd.grpc.v1.cri"),
        bom: p.bom,
        refused_2x: p
            .refused_2x
            .as_ref()
            .map(|(why, at)| (why.clone(), position(*at))),
        refused_1x: p
            .refused_1x
            .as_ref()
            .map(|(why, at)| (why.clone(), position(*at))),
        unsure: p.unsure.clone().map(|u| (u.clone(), position(u.offset))),
        plugin_names: plugin_names(p, &lines),
    })
}

/// The plugin names in the file that containerd 1.x checks: the entries of `disabled_plugins`
/// and `required_plugins`, then the keys under `plugins`.
fn plugin_names(p: &Parsed, lines: &Lines) -> Vec<PluginName> {
    let line = |span: Option<std::ops::Range<usize>>| lines.position(span.map_or(0, |s| s.start)).0;
    let mut names = Vec::new();
    for (key, kind) in [
        ("disabled_plugins", "disabled plugin"),
        ("required_plugins", "required plugin"),
    ] {
        if let Some(list) = p.doc.get(key).and_then(Item::as_array) {
            for v in list.iter() {
                if let Some(name) = v.as_str() {
                    let line = line(v.span());
                    names.push(PluginName {
                        kind,
                        name: name.into(),
                        line,
                    });
                }
            }
        }
    }
    if let Some(t) = p.doc.get("plugins").and_then(Item::as_table_like) {
        for (name, item) in t.iter() {
            let at = t.key(name).and_then(|k| k.span()).or_else(|| item.span());
            names.push(PluginName {
                kind: "plugin key",
                name: name.into(),
                line: line(at),
            });
        }
    }
    names
}

pub(crate) fn all_facts(parsed: &[&Parsed]) -> Result<Vec<Facts>, (usize, Error)> {
    parsed
        .iter()
        .enumerate()
        .map(|(i, p)| facts(p, i).map_err(|e| (i, e)))
        .collect()
}
