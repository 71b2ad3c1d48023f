//! `topo fmt [FILE...] [--check]`: topology files in canonical key order and style, their
//! comments kept (see [`crate::fmt`]), as `terraform fmt` and `cargo fmt` do for theirs.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::exit::ExitStatus;
use crate::output::ColorChoice;
use crate::source::Sources;
use crate::topology::{Disk, FileSource};

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Topology files to format in place (default: $TOPO_FILE, else ./topo.yaml); `-`
    /// reads standard input and writes the result to standard output.
    pub files: Vec<PathBuf>,

    /// Change nothing: list the files that are not formatted and exit 2 if there are any
    /// (1 on an error), for CI.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: FmtArgs, color: ColorChoice) -> anyhow::Result<ExitStatus> {
    let files = if args.files.is_empty() {
        vec![super::resolve_file(None)?]
    } else {
        args.files
    };
    let mut failed = false;
    let mut unformatted = false;
    let mut out = std::io::stdout().lock();
    for path in &files {
        let mut sources = Sources::default();
        let text = match Disk.read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!(
                        "error: `{}` is not UTF-8 text (invalid byte at offset {})",
                        crate::source::display_path(path),
                        e.utf8_error().valid_up_to()
                    );
                    failed = true;
                    continue;
                }
            },
            Err(e) => {
                eprintln!(
                    "error: cannot read `{}`: {e}",
                    crate::source::display_path(path)
                );
                failed = true;
                continue;
            }
        };
        let id = sources.add(path, text);
        let text = sources.get(id).map(|f| f.text.as_str()).unwrap_or_default();
        let formatted = match crate::fmt::format(text, id) {
            Ok(f) => f,
            Err(d) => {
                let mut err = std::io::stderr().lock();
                let _ = crate::diag::render_text(&mut err, &sources, &[d], color.stderr());
                let _ = writeln!(
                    err,
                    "error: {} was not formatted",
                    crate::source::display_path(path)
                );
                failed = true;
                continue;
            }
        };
        let stdin = crate::source::is_stdin(path);
        if formatted == text {
            if stdin && !args.check {
                out.write_all(formatted.as_bytes())?;
            }
            continue;
        }
        unformatted = true;
        if args.check {
            writeln!(out, "{}", crate::source::display_path(path))?;
        } else if stdin {
            out.write_all(formatted.as_bytes())?;
        } else {
            write_in_place(path, &formatted)?;
            writeln!(out, "{}", crate::source::display_path(path))?;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitStatus::Failure
    } else if args.check && unformatted {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// Replace `path` through a temporary file beside it and a rename, keeping its mode: a
/// reader never sees half a file, and an interrupted fmt leaves the old one.
fn write_in_place(path: &Path, text: &str) -> anyhow::Result<()> {
    // Through a symlink to the file it names (a rename would replace the link).
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = real.as_path();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("`{}` is not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{name}.topo-fmt-{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, text)?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write `{}`: {e}", path.display())
    })
}
