//! Finding the project checkout and the workspace's built binaries.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Finds the project root: the nearest directory holding a workspace `Cargo.toml` and a
/// `deploy/` folder, searching upwards from the current executable and then from the current
/// directory.
pub fn project_root() -> Result<PathBuf> {
    let starts = search_starts();
    starts
        .iter()
        .find_map(|start| start.ancestors().find(|dir| is_project_root(dir)))
        .map(Path::to_path_buf)
        .with_context(|| {
            let searched: Vec<String> = starts.iter().map(|s| s.display().to_string()).collect();
            format!(
                "no workspace Cargo.toml with a deploy/ folder above {}",
                searched.join(" or ")
            )
        })
}

/// Locates a workspace binary such as `residence-intake`.
///
/// Looks next to the current executable, then in its parent (test binaries live in
/// `target/debug/deps`), then in `<project root>/target/debug` and `target/release`.
pub fn binary_path(name: &str) -> Result<PathBuf> {
    let file_name = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let candidates: Vec<PathBuf> = binary_dirs()
        .into_iter()
        .map(|dir| dir.join(&file_name))
        .collect();
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }

    let searched: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    bail!(
        "binary {name} not found (looked for {}); run `cargo build --workspace --bins` first",
        searched.join(", ")
    )
}

/// Where to look for the project: the working folder first (a clone run with a shared
/// `CARGO_TARGET_DIR` is the one the user stands in), then the executable's folder.
fn search_starts() -> Vec<PathBuf> {
    let cwd = std::env::current_dir().ok();
    cwd.into_iter().chain(current_exe_dir()).collect()
}

fn is_project_root(dir: &Path) -> bool {
    if !dir.join("deploy").is_dir() {
        return false;
    }
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.lines().any(|line| line.trim() == "[workspace]"))
}

fn binary_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = current_exe_dir() {
        dirs.extend(exe_dir.parent().map(Path::to_path_buf));
        dirs.insert(0, exe_dir);
    }
    if let Ok(root) = project_root() {
        dirs.push(root.join("target").join("debug"));
        dirs.push(root.join("target").join("release"));
    }
    dirs
}

fn current_exe_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.parent().map(Path::to_path_buf)
}

/// Finds an executable file called `name` in one of the `PATH` directories.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;

    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
