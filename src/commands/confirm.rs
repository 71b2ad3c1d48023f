//! The question before a destructive apply, as terraform asks it.
//!
//! A plan that deletes or replaces anything is shown and then confirmed by typing `yes` on
//! a terminal. Without a terminal there is nobody to ask, so such a plan is refused unless
//! `--yes` / `--auto-approve` says it was reviewed; plans that only create and update run
//! without a question, as they always did.

use std::io::{BufRead, IsTerminal, Write};

use crate::commands::Hinted;
use crate::plan::Plan;

/// How many deletes and replaces `plan` has, as a phrase (`None` when it has neither).
pub fn destructive_phrase(plan: &Plan) -> Option<String> {
    let s = plan.summary();
    let parts: Vec<String> = [(s.delete, "delete"), (s.replace, "replace")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{what} {n}"))
        .collect();
    (!parts.is_empty()).then(|| format!("{} {}", parts.join(" and "), entities(parts.len(), s)))
}

fn entities(parts: usize, s: crate::plan::Summary) -> &'static str {
    let n = if parts == 1 {
        s.delete.max(s.replace)
    } else {
        s.delete + s.replace
    };
    if n == 1 { "entity" } else { "entities" }
}

/// Go on only when the plan destroys nothing, `yes` was passed, or someone at the terminal
/// types `yes`. `verb` names the command (`apply`, `destroy`) in the messages.
pub fn confirm(plan: &Plan, yes: bool, verb: &str) -> anyhow::Result<()> {
    let Some(what) = destructive_phrase(plan) else {
        return Ok(());
    };
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !(stdin.is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Hinted::new(
            format!(
                "refusing to {what} without confirmation: standard input is not a terminal, \
                 so topo cannot ask; nothing was changed"
            ),
            format!(
                "review the plan above, then run topo {verb} again with --yes (or --auto-approve)"
            ),
        )
        .into());
    }
    let mut err = std::io::stderr().lock();
    if ask(&mut stdin.lock(), &mut err, &what)? {
        Ok(())
    } else {
        Err(Hinted::new(
            format!("{verb} cancelled; nothing was changed"),
            "only `yes` approves the plan",
        )
        .into())
    }
}

/// Print the question to `out` and read one answer line from `input`: true for `yes` only.
pub fn ask(input: &mut dyn BufRead, out: &mut dyn Write, what: &str) -> std::io::Result<bool> {
    write!(
        out,
        "\nThis plan will {what} on the broker.\n\
         Do you want to perform these actions? Only `yes` will be accepted to approve.\n\
         \n  Enter a value: "
    )?;
    out.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    writeln!(out)?;
    Ok(line.trim() == "yes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Change, Target};

    fn change(action: Action, name: &str) -> Change {
        Change {
            action,
            target: Target::Vhost(name.into()),
            fields: vec![],
            messages: None,
            definition: None,
            rebind: vec![],
        }
    }

    #[test]
    fn only_deletes_and_replaces_are_destructive() {
        let creates = Plan {
            changes: vec![change(Action::Create, "a"), change(Action::Update, "b")],
        };
        assert_eq!(destructive_phrase(&creates), None);
        assert!(
            confirm(&creates, false, "apply").is_ok(),
            "no question asked"
        );
        let one = Plan {
            changes: vec![change(Action::Delete, "a")],
        };
        assert_eq!(destructive_phrase(&one).as_deref(), Some("delete 1 entity"));
        let both = Plan {
            changes: vec![
                change(Action::Delete, "a"),
                change(Action::Delete, "b"),
                change(Action::Replace, "c"),
            ],
        };
        assert_eq!(
            destructive_phrase(&both).as_deref(),
            Some("delete 2 and replace 1 entities")
        );
    }

    #[test]
    fn only_yes_approves() {
        for (typed, approved) in [
            ("yes\n", true),
            ("  yes  \n", true),
            ("y\n", false),
            ("YES\n", false),
            ("no\n", false),
            ("", false),
        ] {
            let mut out = Vec::new();
            let got = ask(&mut typed.as_bytes(), &mut out, "delete 1 entity").unwrap();
            assert_eq!(got, approved, "{typed:?}");
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("This plan will delete 1 entity"), "{text}");
        }
    }

    #[test]
    fn yes_skips_the_question() {
        let plan = Plan {
            changes: vec![change(Action::Replace, "a")],
        };
        assert!(confirm(&plan, true, "apply").is_ok());
    }
}
