//! `topo schema`: the JSON Schema of the topology file, as committed in `schema/`.

use std::io::Write;

use crate::exit::ExitStatus;

pub fn run() -> anyhow::Result<ExitStatus> {
    let mut out = std::io::stdout().lock();
    out.write_all(crate::validate::schema::schema_text().as_bytes())?;
    Ok(ExitStatus::Success)
}
