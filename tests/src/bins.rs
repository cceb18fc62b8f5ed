//! Finding the real `gateway` and `municipality-agent` binaries of this
//! workspace: next to the running test executable (`target/<profile>/`),
//! built with the cargo that runs the tests when missing or older than the
//! sources they are built from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::HarnessError;

/// The gateway binary's name.
pub const GATEWAY: &str = "gateway";
/// The agent binary's name.
pub const AGENT: &str = "municipality-agent";

/// Source folders the two binaries are built from, relative to the workspace root.
const SOURCES: [&str; 5] = [
    "gateway/src",
    "municipality-agent/src",
    "privacy/src",
    "proto/src",
    "definitions",
];

static BUILD: Mutex<()> = Mutex::new(());

/// `target/<profile>/` of the running executable: `deps/..` for a test
/// binary, the executable's own folder otherwise.
pub fn profile_dir() -> Result<PathBuf, HarnessError> {
    let exe = std::env::current_exe().map_err(HarnessError::io("current executable"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| HarnessError::Process("executable has no folder".into()))?;
    Ok(if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn newest_source() -> Option<SystemTime> {
    let root = workspace_root();
    let mut newest = None;
    let mut stack: Vec<PathBuf> = SOURCES.iter().map(|s| root.join(s)).collect();
    stack.push(root.join("Cargo.lock"));
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if let Ok(m) = meta.modified() {
            newest = newest.max(Some(m));
        }
    }
    newest
}

fn fresh(bin: &Path, newest: Option<SystemTime>) -> bool {
    let Ok(m) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    newest.is_none_or(|n| m >= n)
}

/// The path of a workspace binary (`gateway` or `municipality-agent`),
/// building both with `$CARGO build -p prikk-gateway -p municipality-agent
/// --bins` into the same target folder if either is missing or older than
/// its sources.
pub fn binary(name: &str) -> Result<PathBuf, HarnessError> {
    let dir = profile_dir()?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let newest = newest_source();
    let all_fresh = [GATEWAY, AGENT].iter().all(|n| {
        fresh(
            &dir.join(format!("{n}{}", std::env::consts::EXE_SUFFIX)),
            newest,
        )
    });
    if all_fresh {
        return Ok(path);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "-p",
        "prikk-gateway",
        "-p",
        "municipality-agent",
        "--bins",
    ]);
    // The target folder is `<target>/<profile>`; release builds go to `release`.
    if let Some(target) = dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(HarnessError::io("cargo"))?;
    if !status.success() {
        return Err(HarnessError::Process(format!(
            "building the gateway and agent binaries failed: {status}"
        )));
    }
    if !path.is_file() {
        return Err(HarnessError::Process(format!(
            "{} is still missing after the build",
            path.display()
        )));
    }
    Ok(path)
}
