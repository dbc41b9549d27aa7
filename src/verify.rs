//! The structural check of a rewrite: the new text parses, the pins read the new image, and
//! every other key and value is what it was.

use crate::config::Error;
use crate::schema::{KEY_V1, KEY_V2, KEY_V3};
use crate::splice::{self, Lookup};
use toml_edit::{ImDocument, Item, TableLike, Value};

/// Checks the rewrite: it parses, the pins read `image`, and nothing else changed, key by key.
pub(crate) fn verify(
    old_doc: &ImDocument<String>,
    new_doc: &ImDocument<String>,
    image: &str,
    keys: &[&[&str]],
) -> Result<(), Error> {
    for key in keys {
        match splice::lookup(new_doc, key) {
            Ok(Lookup::Found(f)) if f.value == image => {}
            _ => {
                return Err(Error::Verify(format!(
                    "`{}` does not read back",
                    splice::dotted(key, '"')
                )));
            }
        }
    }
    if !same_but_pins(old_doc.as_item(), new_doc.as_item()) {
        return Err(Error::Verify("a key other than the pin changed".into()));
    }
    Ok(())
}

/// Whether two documents hold the same keys and values once the pins, and tables that hold
/// nothing but pins, are left out: tables by key (a `[table]` and an inline table alike),
/// arrays by element, strings by value, other scalars by value and type.
pub(crate) fn same_but_pins(a: &Item, b: &Item) -> bool {
    same(Some(a), Some(b), &[KEY_V1, KEY_V2, KEY_V3])
}

/// Like [`same_but_pins`] for the items at one key (`None`: absent), with `pins` the pin paths
/// below it.
fn same(a: Option<&Item>, b: Option<&Item>, pins: &[&[&str]]) -> bool {
    let a = a.filter(|i| !only_pins(i, pins));
    let b = b.filter(|i| !only_pins(i, pins));
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_item(a, b, pins),
        _ => false,
    }
}

/// The pin paths below key `k`, and whether `k` is itself a pin.
fn below<'p>(pins: &[&'p [&'p str]], k: &str) -> (Vec<&'p [&'p str]>, bool) {
    let sub: Vec<&[&str]> = pins
        .iter()
        .filter(|p| p.first() == Some(&k))
        .map(|p| &p[1..])
        .collect();
    let leaf = sub.iter().any(|p| p.is_empty());
    (sub, leaf)
}

/// A table on a pin path that holds nothing but pins (or nothing at all).
fn only_pins(item: &Item, pins: &[&[&str]]) -> bool {
    !pins.is_empty()
        && item.as_table_like().is_some_and(|t| {
            t.iter().all(|(k, i)| {
                let (sub, leaf) = below(pins, k);
                leaf || only_pins(i, &sub)
            })
        })
}

fn same_item(a: &Item, b: &Item, pins: &[&[&str]]) -> bool {
    match (a.as_table_like(), b.as_table_like()) {
        (Some(ta), Some(tb)) => return same_table(ta, tb, pins),
        (None, None) => {}
        _ => return false,
    }
    match (a, b) {
        (Item::ArrayOfTables(x), Item::ArrayOfTables(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same_table(x, y, &[]))
        }
        (Item::Value(x), Item::Value(y)) => same_value(x, y),
        _ => false,
    }
}

/// Every key of either table is a pin, or holds the same in both.
fn same_table(a: &dyn TableLike, b: &dyn TableLike, pins: &[&[&str]]) -> bool {
    // Off the pin paths (nearly every table): the same keys, each holding the same.
    if pins.is_empty() {
        return a.len() == b.len()
            && a.iter()
                .all(|(k, x)| b.get(k).is_some_and(|y| same_item(x, y, &[])));
    }
    let ours = a.iter().all(|(k, _)| {
        let (sub, leaf) = below(pins, k);
        leaf || same(a.get(k), b.get(k), &sub)
    });
    ours && b.iter().all(|(k, i)| {
        let (sub, leaf) = below(pins, k);
        a.contains_key(k) || leaf || same(None, Some(i), &sub)
    })
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Float(x), Value::Float(y)) => x.value().to_bits() == y.value().to_bits(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Datetime(x), Value::Datetime(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same_value(x, y))
        }
        (Value::InlineTable(x), Value::InlineTable(y)) => same_table(x, y, &[]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Key;

    const IMG: &str = "registry.local:5000/pause:3.10";

    #[test]
    fn comparison_leaves_out_pins_and_nothing_else() {
        let same = |a: &str, b: &str| {
            let doc = |s: &str| ImDocument::parse(s.to_string()).unwrap();
            same_but_pins(doc(a).as_item(), doc(b).as_item())
        };
        let pinned = "[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = 'x.io/p:1'\n";
        for (a, b) in [
            ("a = 1\nb = 'x'\n", "b = \"x\" # moved\na = 1\n"),
            ("[t]\nx = 1\n", "t = { x = 1 }\n"),
            ("", pinned),
            ("[plugins]\n", "[plugins.cri]\nsandbox_image = 'y'\n"),
            ("f = nan\n", "f = nan\n"),
            ("[[r]]\nx = 1\n", "[[r]]\n  x = 1\n"),
            ("a = [1, {b = 2}]\n", "a = [ 1, { b = 2 } ]\n"),
        ] {
            assert!(same(a, b) && same(b, a), "{a:?} vs {b:?}");
        }
        for (a, b) in [
            ("a = 1\n", "a = 1.0\n"),
            ("a = 1\n", "a = '1'\n"),
            ("a = 1\n", "a = 1\nb = 2\n"),
            ("f = 0.0\n", "f = -0.0\n"),
            ("[[r]]\n", "[[r]]\n[[r]]\n"),
            ("a = [1, 2]\n", "a = [2, 1]\n"),
            (
                "",
                "[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = 'x'\nother = 1\n",
            ),
            ("[plugins.cri.x]\n", "[plugins.cri]\nsandbox_image = 'y'\n"),
        ] {
            assert!(!same(a, b) && !same(b, a), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn verification_catches_collateral_changes() {
        let verify = |old: &str, new: &str, keys: &[Key]| {
            let doc = |s: &str| ImDocument::parse(s.to_string()).unwrap();
            verify(&doc(old), &doc(new), IMG, keys)
        };
        assert!(verify("a = 1\n", "a = 2\n", &[]).is_err());
        assert!(verify("a = 1\n", "a = 1 # now\n", &[]).is_ok());
        let pinned = "[plugins.cri]\nsandbox_image = 'x.io/y:1'\n";
        assert!(verify("", pinned, &[KEY_V1]).is_err());
    }
}
