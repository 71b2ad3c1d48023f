//! Markdown for pull-request comments: a summary, warnings for replaces and data loss,
//! then the text plan in a `diff` block (so `+` and `-` lines are coloured by the forge).

use std::io::Write;

use super::text::{detail_lines, headline};
use super::{capitalise, summary_line};
use crate::plan::Plan;

pub fn render(out: &mut dyn Write, plan: &Plan, warnings: &[String]) -> std::io::Result<()> {
    writeln!(out, "### topo plan")?;
    writeln!(out)?;
    writeln!(out, "**{}**", capitalise(&summary_line(plan)))?;
    // Advice that holds whether or not there are changes (a quorum queue short of members).
    if !warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "> [!WARNING]")?;
        for w in warnings {
            writeln!(out, "> - {}", w.replace('\n', " "))?;
        }
    }
    if plan.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let replaces: Vec<_> = plan.replaces().collect();
    if !replaces.is_empty() {
        writeln!(
            out,
            "> [!WARNING]\n> {} replace{} (deleted and declared again; needs `--allow-replace`):",
            replaces.len(),
            if replaces.len() == 1 { "" } else { "s" }
        )?;
        for c in &replaces {
            writeln!(out, "> - {}", c.target())?;
        }
        writeln!(out)?;
    }
    let losses: Vec<_> = plan.data_loss().collect();
    if !losses.is_empty() {
        writeln!(
            out,
            "> [!CAUTION]\n> Messages would be lost (needs `--allow-data-loss`):"
        )?;
        for c in &losses {
            match c.messages() {
                Some(n) => writeln!(out, "> - {} holds {n} messages", c.target())?,
                None => writeln!(out, "> - {} may hold messages (count unknown)", c.target())?,
            }
        }
        writeln!(out)?;
    }
    writeln!(out, "```diff")?;
    for c in &plan.changes {
        writeln!(out, "{}", headline(c).replace("```", "'''"))?;
        for line in detail_lines(c) {
            writeln!(out, "    {}", line.replace("```", "'''"))?;
        }
    }
    writeln!(out, "```")
}
