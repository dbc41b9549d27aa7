//! Helpers the integration tests share: case folders hold extra files in `files/`.

use std::fs;
use std::path::Path;

/// Copies `from` (if it exists) into `to`, keeping relative paths.
pub fn copy_tree(from: &Path, to: &Path) {
    for rel in list_tree(from) {
        let dest = to.join(&rel);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(from.join(&rel), dest).unwrap();
    }
}

/// The files below `root`, as sorted relative paths.
pub fn list_tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}
