//! The release a containerd binary prints with `--version`, read from its ELF file instead of
//! starting it (which costs some 14 to 24 ms, most of a run on a node).
//!
//! `containerd --version` prints the string variable `version.Version` of containerd's
//! `version` package: its source default (`2.1.9+unknown`, raised at each release) or what the
//! build set with `-X` (`v2.1.4`, Debian's `1.7.24~ds1`). The variable sits in `.data` as a Go
//! string header (address, length) beside the package's other string variables: `Package`,
//! which holds the module path unless the build set another, and `Revision`. So: the binary
//! must be containerd's daemon (its Go build info names `…/cmd/containerd` as the main
//! package), the header of `Package` must hold that module's path, and the next header must
//! hold a strictly shaped release (and the one after it the same release, a commit, or another
//! package's string), or a commit followed by such a release, whose major version is the
//! module's (`/v2` for 2.x). Anything else, and the caller runs `--version` as before.

use crate::release::Release;

/// Where the strings and headers are: a section's address, size and offset in the file.
#[derive(Clone, Copy)]
struct Section {
    addr: u64,
    size: u64,
    offset: u64,
}

/// The most read of one section (`.data` is some 150 to 300 KB in containerd 1.6 to 2.1).
const MAX_SECTION: u64 = 16 << 20;

/// The release that the Go binary read by `read_at` (bytes at an offset of its file) prints as
/// containerd's version, or `None` when it is not containerd's daemon or the version cannot
/// be found without doubt.
pub fn release(read_at: impl Fn(u64, usize) -> Option<Vec<u8>>) -> Option<Release> {
    let header = read_at(0, 64)?;
    // ELF, 64-bit, little-endian: the builds Kubernetes nodes run (amd64, arm64, ppc64le).
    if header.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = u64_at(&header, 0x28)?;
    let (entsize, count, names) = (
        u16_at(&header, 0x3a)?,
        u16_at(&header, 0x3c)?,
        u16_at(&header, 0x3e)?,
    );
    if entsize != 64 || count == 0 || count > 512 || names >= count {
        return None;
    }
    let table = read_at(shoff, usize::from(count) * 64)?;
    let entry = |i: usize| -> Option<(u32, u32, Section)> {
        let e = table.get(i * 64..i * 64 + 64)?;
        let section = Section {
            addr: u64_at(e, 0x10)?,
            offset: u64_at(e, 0x18)?,
            size: u64_at(e, 0x20)?,
        };
        Some((u32_at(e, 0)?, u32_at(e, 4)?, section))
    };
    let contents = |s: Section| read_at(s.offset, usize::try_from(s.size.min(MAX_SECTION)).ok()?);
    let names = contents(entry(usize::from(names))?.2)?;
    let mut sections = Vec::new();
    let (mut buildinfo, mut data) = (None, None);
    for i in 0..usize::from(count) {
        let (name, kind, section) = entry(i)?;
        let name = names.get(name as usize..)?;
        let name = &name[..name.iter().position(|&b| b == 0)?];
        // Only sections with their bytes in the file (not SHT_NOBITS: .bss).
        if kind == 8 || section.addr == 0 {
            continue;
        }
        sections.push(section);
        match name {
            b".go.buildinfo" => buildinfo = Some(section),
            b".data" => data = Some(section),
            _ => {}
        }
    }
    let module = module(&contents(buildinfo?)?)?;
    let string = |addr: u64, len: u64| -> Option<Vec<u8>> {
        let s = sections
            .iter()
            .find(|s| addr >= s.addr && len <= s.size && addr - s.addr <= s.size - len)?;
        read_at(
            s.offset.checked_add(addr - s.addr)?,
            usize::try_from(len).ok()?,
        )
    };
    let data = contents(data?)?;
    let header_at = |at: usize| Some((u64_at(&data, at)?, u64_at(&data, at + 8)?));
    let mut found = None;
    for at in (0..data.len().saturating_sub(15)).step_by(8) {
        let (addr, len) = header_at(at)?;
        if len != module.len() as u64 || string(addr, len).as_deref() != Some(module.as_bytes()) {
            continue;
        }
        // `Version` and `Revision` follow `Package`, in either order (measured: Debian's three
        // builds); what precedes it is another package's.
        let [next, after] = [at + 16, at + 32].map(|near| {
            let (addr, len) = header_at(near).unwrap_or((0, 0));
            match (1..=64).contains(&len).then(|| string(addr, len)).flatten() {
                Some(s) => Near::of(&s),
                None => Near::Other,
            }
        });
        let r = match (next, after) {
            // Version, then Revision (a release too at Debian, or a commit) or another's.
            (Near::Release(r), Near::Release(r2)) if r != r2 => return None,
            (Near::Release(r), _) => r,
            // Revision, a commit, then Version.
            (Near::Commit, Near::Release(r)) => r,
            _ => return None,
        };
        if found.is_some_and(|f| f != r) {
            return None;
        }
        found = Some(r);
    }
    let r = found?;
    (r.is_2x() == module.ends_with("/v2")).then_some(r)
}

/// What a string beside `Package` is.
#[derive(Clone, Copy)]
enum Near {
    /// A version, strictly shaped ([`version`]).
    Release(Release),
    /// A commit (`Revision` of an upstream build): 7 to 40 hex digits, `.m` after them when
    /// the tree had changes.
    Commit,
    /// Anything else: a version containerd would read otherwise (`1.7.24_ce`, `dev`), or
    /// another package's string.
    Other,
}

impl Near {
    fn of(s: &[u8]) -> Near {
        let hex = s.strip_suffix(b".m").unwrap_or(s);
        if let Some(r) = version(s) {
            Near::Release(r)
        } else if (7..=40).contains(&hex.len()) && hex.iter().all(u8::is_ascii_hexdigit) {
            Near::Commit
        } else {
            Near::Other
        }
    }
}

/// containerd's module path (`github.com/containerd/containerd`, or `…/v2`), when the Go build
/// info (`.go.buildinfo`, Go 1.18's inline format) names its daemon as the main package.
fn module(info: &[u8]) -> Option<&'static str> {
    if info.get(..14)? != b"\xff Go buildinf:" || info.get(15)? & 2 == 0 {
        return None;
    }
    let rest = info.get(32..)?;
    let (_go, rest) = varint_string(rest)?;
    let (modinfo, _) = varint_string(rest)?;
    // After a 16-byte sentinel, lines such as "path\tgithub.com/…/cmd/containerd".
    let path = modinfo
        .get(16..)?
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"path\t"))?;
    match path {
        b"github.com/containerd/containerd/cmd/containerd" => {
            Some("github.com/containerd/containerd")
        }
        b"github.com/containerd/containerd/v2/cmd/containerd" => {
            Some("github.com/containerd/containerd/v2")
        }
        _ => None,
    }
}

/// A string written as its length (unsigned varint), then its bytes; and what follows it.
fn varint_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut len, mut shift) = (0u64, 0);
    for (i, &byte) in b.iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let rest = &b[i + 1..];
            let len = usize::try_from(len).ok()?;
            return (len <= rest.len()).then(|| rest.split_at(len));
        }
        shift += 7;
    }
    None
}

/// The release a whole string names as a version does: `1.7.24`, `v2.1.4`, `2.1.9+unknown`,
/// `1.7.24~ds1-6+deb13u1`; not `1.7`, `1.7.24a` or a revision.
fn version(s: &[u8]) -> Option<Release> {
    let s = std::str::from_utf8(s).ok()?;
    let numbers = s.strip_prefix('v').unwrap_or(s);
    let end = numbers
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(numbers.len());
    let (release, suffix) = numbers.split_at(end);
    let shaped = release.split('.').count() == 3
        && (suffix.is_empty() || suffix.starts_with(['-', '+', '~']))
        && s.bytes().all(|b| b.is_ascii_graphic());
    shaped.then(|| Release::parse(release)).flatten()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal Go ELF: section headers for `.go.buildinfo` naming `main` as the main
    /// package, `.rodata` holding `strings`, and `.data` holding a string header for each.
    fn elf(main: &str, strings: &[&str]) -> Vec<u8> {
        let mut rodata = Vec::new();
        let mut data = Vec::new();
        let rodata_addr = 0x10000u64;
        for s in strings {
            data.extend((rodata_addr + rodata.len() as u64).to_le_bytes());
            data.extend((s.len() as u64).to_le_bytes());
            rodata.extend(s.as_bytes());
        }
        // Go's sentinel, 16 bytes, then the lines.
        let mut modinfo = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        modinfo.extend(format!("path\t{main}\nbuild\t-trimpath=true\n").as_bytes());
        let mut info = b"\xff Go buildinf:\x08\x02".to_vec();
        info.resize(32, 0);
        info.push(8);
        info.extend(b"go1.24.4");
        info.push(modinfo.len() as u8);
        info.extend(&modinfo);
        let names = b"\0.shstrtab\0.go.buildinfo\0.rodata\0.data\0".to_vec();
        let mut file = vec![0u8; 64];
        let place = |file: &mut Vec<u8>, bytes: &[u8]| {
            let at = file.len() as u64;
            file.extend(bytes);
            at
        };
        let at = [&names, &info, &rodata, &data].map(|b| place(&mut file, b));
        let sizes = [names.len(), info.len(), rodata.len(), data.len()];
        let shoff = file.len() as u64;
        let (addrs, name_at) = ([0, 0x20000, rodata_addr, 0x30000], [1u32, 11, 25, 33]);
        file.extend([0u8; 64]);
        for i in 0..4 {
            let mut e = vec![0u8; 64];
            e[..4].copy_from_slice(&name_at[i].to_le_bytes());
            e[4..8].copy_from_slice(&1u32.to_le_bytes());
            e[0x10..0x18].copy_from_slice(&addrs[i].to_le_bytes());
            e[0x18..0x20].copy_from_slice(&at[i].to_le_bytes());
            e[0x20..0x28].copy_from_slice(&(sizes[i] as u64).to_le_bytes());
            file.extend(e);
        }
        file[..6].copy_from_slice(b"\x7fELF\x02\x01");
        file[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        file[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        file[0x3c..0x3e].copy_from_slice(&5u16.to_le_bytes());
        file[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        file
    }

    fn read(file: &[u8]) -> Option<String> {
        release(|at, len| {
            let at = usize::try_from(at).ok()?;
            file.get(at..at.checked_add(len)?).map(<[u8]>::to_vec)
        })
        .map(|r| r.to_string())
    }

    const V1: &str = "github.com/containerd/containerd/cmd/containerd";
    const V2: &str = "github.com/containerd/containerd/v2/cmd/containerd";

    #[test]
    fn reads_the_version_beside_the_package_path() {
        let r = |main, strings: &[&str]| read(&elf(main, strings));
        let v1 = "github.com/containerd/containerd";
        let v2 = "github.com/containerd/containerd/v2";
        // Debian's three builds, in the order their linkers laid them out.
        assert_eq!(
            r(V1, &["x/y", v1, "1.6.20~ds1-1+deb12u3", "1.6.20~ds1"]).as_deref(),
            Some("1.6.20")
        );
        assert_eq!(
            r(V1, &[v1, "1.7.24~ds1", "1.7.24~ds1-6+deb13u1", "1.0.0"]).as_deref(),
            Some("1.7.24")
        );
        assert_eq!(r(V2, &[v2, "2.1.9+unknown"]).as_deref(), Some("2.1.9"));
        // An upstream build: a `v`, and the revision a commit.
        let sha = "75cb2b7193e4e490e9fbdc236c0e811ccaba3376";
        assert_eq!(r(V2, &[v2, "v2.1.4", sha]).as_deref(), Some("2.1.4"));
        // Doubt: releases that differ, a major version not the module's, no version beside
        // the path, a package set to another name (containerd.io), another main package.
        assert_eq!(r(V1, &[v1, "1.7.24", "1.6.20"]), None);
        assert_eq!(r(V1, &[v1, "2.1.4"]), None);
        assert_eq!(r(V2, &[v2, "1.7.24"]), None);
        assert_eq!(r(V1, &[v1, "a", "b", "1.7.24"]), None);
        // A version `--version` would read otherwise, or not as a release, beside one that
        // is shaped: in doubt (the review's cases), whichever order.
        assert_eq!(r(V1, &[v1, "1.7.24_ce", "1.7.23-1"]), None);
        assert_eq!(r(V1, &[v1, "dev", "1.6.20"]), None);
        assert_eq!(r(V1, &["x", "1.6.20", v1, "dev"]), None);
        assert_eq!(r(V1, &["1.6.20", "1.6.20", v1, "x/y"]), None);
        // A changed tree's commit, then the version.
        assert_eq!(
            r(V2, &[v2, &format!("{sha}.m"), "v2.1.4"]).as_deref(),
            Some("2.1.4")
        );
        // Debian's 2.1.9: no revision, another package's string after the version.
        assert_eq!(
            r(V2, &[v2, "2.1.9+unknown", "https://github.com/urfave/cli"]).as_deref(),
            Some("2.1.9")
        );
        assert_eq!(r(V1, &[v1, "1.7", sha]), None);
        assert_eq!(r(V1, &[v1, "1.7.24a"]), None);
        assert_eq!(r(V1, &["containerd.io", "1.7.27", sha]), None);
        assert_eq!(r("github.com/k3s-io/k3s/cmd/server", &[v1, "1.7.27"]), None);
    }

    #[test]
    fn anything_else_is_none_without_panic() {
        let good = elf(
            V2,
            &["github.com/containerd/containerd/v2", "2.1.9+unknown"],
        );
        assert_eq!(read(&good).as_deref(), Some("2.1.9"));
        assert_eq!(read(b"#!/bin/sh\necho containerd\n"), None);
        assert_eq!(read(b""), None);
        // Every truncation, and every byte changed to 0xff, gives an answer or none: no panic.
        for n in 0..good.len() {
            let _ = read(&good[..n]);
            let mut bad = good.clone();
            bad[n] = 0xff;
            let _ = read(&bad);
        }
    }
}
