//! `topo fmt`: a topology file in one canonical order and style, its comments kept, as
//! `terraform fmt` and `prettier` do for theirs.
//!
//! The crates that read YAML into a tree (serde_yaml_ng, yaml-rust2, saphyr) drop comments,
//! and the ones that keep them do not keep their own spans. So the file is read with
//! topo's own located parser ([`crate::source::yaml`]), its comments are found in the text
//! and tied to the entry they belong to ([`comments`]), and the file is written again from
//! the tree in canonical style with the comments put back ([`emit`]). A file that uses
//! anchors or aliases cannot be written from the tree (every alias would be expanded):
//! its entries are only put in order, by moving lines ([`lines`]).
//!
//! Whatever path it takes, [`format`] parses its own output and refuses to return it when
//! the values (or the comments) differ from the input's.

mod comments;
mod emit;
mod lines;
mod scalar;
mod schema_order;

use crate::diag::{Code, Diagnostic};
use crate::source::node::{Node, NodeKind};
use crate::source::{FileId, yaml};

/// `text` formatted. An error is a YAML syntax or structure problem (what `topo validate`
/// reports too); a file whose meaning would change is an internal error, never written.
pub fn format(text: &str, file: FileId) -> Result<String, Diagnostic> {
    let tree = yaml::parse(text, file)?;
    let block_map = matches!(&tree.kind, NodeKind::Map(e) if !e.is_empty());
    let text_lines = comments::Lines::new(text);
    let out = if !block_map || text_lines.is_flow(&tree) || yaml::uses_anchors(text) {
        lines::rearrange(text, &tree)
    } else {
        let found = comments::Comments::find(&text_lines, &tree);
        let schema = crate::validate::schema::schema_json();
        let out = emit::write(&text_lines, &found, &tree, &schema);
        let again = yaml::parse(&out, file).map_err(|d| changed_meaning(d.message))?;
        if comment_texts(text, &tree) != comment_texts(&out, &again) {
            return Err(changed_meaning("a comment would be lost".into()));
        }
        out
    };
    let again = yaml::parse(&out, file).map_err(|d| changed_meaning(d.message))?;
    if !same(&again, &tree) {
        return Err(changed_meaning("the values differ".into()));
    }
    Ok(out)
}

fn comment_texts(text: &str, tree: &Node) -> Vec<String> {
    let mut all = comments::Comments::all(&comments::Lines::new(text), tree);
    all.sort_unstable();
    all
}

/// Whether two trees hold the same values (spans and key order aside). A string with a `$`
/// must also keep being plain or quoted: that decides the type it interpolates to.
fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (NodeKind::Str { value: x, plain: p }, NodeKind::Str { value: y, plain: q }) => {
            x == y && (p == q || !x.contains('$'))
        }
        (NodeKind::Float(x), NodeKind::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (NodeKind::Seq(x), NodeKind::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (NodeKind::Map(x), NodeKind::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|e| {
                    y.iter()
                        .find(|f| f.key == e.key)
                        .is_some_and(|f| same(&e.value, &f.value))
                })
        }
        (x, y) => x == y,
    }
}

fn changed_meaning(why: String) -> Diagnostic {
    Diagnostic::error(
        Code::YamlStructure,
        format!("topo fmt would change what the file means ({why}); the file was left as it is"),
    )
    .hint("this is a bug in topo fmt: please report it with the file")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        let once = format(text, FileId(0)).unwrap_or_else(|d| panic!("{}\n{text}", d.message));
        let twice = format(&once, FileId(0)).unwrap_or_else(|d| panic!("{}\n{once}", d.message));
        assert_eq!(twice, once, "fmt(fmt(x)) == fmt(x)");
        once
    }

    #[test]
    fn top_level_sections_go_in_schema_order_with_their_comments() {
        let text = "# header: stays on top\n\n# the queues\nqueues:\n  - name: q\n# the version\nversion: 1\nname: app\n";
        assert_eq!(
            fmt(text),
            "# header: stays on top\n\n# the version\nversion: 1\nname: app\n\n# the queues\nqueues:\n  - name: q\n"
        );
    }

    #[test]
    fn entry_keys_go_in_field_order_and_comments_move_with_them() {
        let text = "version: 1\nqueues:\n  - durable: true   # kept\n    # the name\n    name: q\n  - {type: quorum, name: r}\n";
        assert_eq!(
            fmt(text),
            "version: 1\n\nqueues:\n  # the name\n  - name: q\n    durable: true # kept\n  - {name: r, type: quorum}\n"
        );
    }

    #[test]
    fn indentation_quoting_and_blank_lines_are_made_canonical() {
        let text = "version: 1\nname:   'app'   \n\n\nqueues:\n- name: \"a\"\n  arguments:\n      x-max-length:   10\n\n\n\n- name: b\nbroker:\n    host: 'localhost'\n";
        assert_eq!(
            fmt(text),
            "version: 1\nname: app\n\nbroker:\n  host: localhost\n\nqueues:\n  - name: a\n    arguments:\n      x-max-length: 10\n\n  - name: b\n"
        );
    }

    #[test]
    fn strings_yaml_would_retype_stay_strings() {
        let tricky = [
            "yes",
            "no",
            "on",
            "off",
            "Y",
            "n",
            "null",
            "~",
            "true",
            "False",
            "1.0",
            "123",
            "0x1F",
            "1_000",
            "1:30",
            "2024-01-01",
            ".5",
            "-1",
            "*star",
            "&amp",
            "!bang",
            "%pct",
            "@at",
            "`tick",
            "a: b",
            "a #b",
            "order.#",
            "-dash",
            "? q",
            "[x]",
            "{y}",
            "x:",
            " lead",
            "trail ",
            "",
            "<<",
            "${VAR}",
            "${PORT:-3000}",
            "tab\there",
            "line\nbreak",
            "quote\"and\\slash",
        ];
        let mut text = String::from("version: 1\nqueues:\n  - name: q\n    arguments:\n");
        for (i, t) in tricky.iter().enumerate() {
            text.push_str(&std::format!("      k{i}: {}\n", scalar::quoted(t)));
        }
        let out = fmt(&text);
        let tree = yaml::parse(&out, FileId(0)).unwrap_or_else(|d| panic!("{}", d.message));
        let args = tree
            .get("queues")
            .and_then(|q| match &q.kind {
                NodeKind::Seq(items) => items.first(),
                _ => None,
            })
            .and_then(|q| q.get("arguments"))
            .unwrap_or_else(|| panic!("{out}"));
        for (i, t) in tricky.iter().enumerate() {
            // Quoted in the text too: a YAML 1.1 reader takes a plain `yes` for a boolean.
            let written = match *t {
                "line\nbreak" => "|-",
                "quote\"and\\slash" => "quote\"and\\slash",
                _ => "\"",
            };
            assert!(
                out.contains(&std::format!("      k{i}: {written}")),
                "{t:?} is written quoted:\n{out}"
            );
            let v = args.get(&std::format!("k{i}"));
            match v.map(|v| &v.kind) {
                Some(NodeKind::Str { value, plain }) => {
                    assert_eq!(value, t, "{out}");
                    assert!(
                        !plain || !t.contains('$'),
                        "a quoted ${{...}} stays quoted: {out}"
                    );
                }
                other => panic!("k{i} ({t:?}) became {other:?}:\n{out}"),
            }
        }
        // What needs no quotes loses them; a plain `${PORT}` stays plain (it is retyped
        // after interpolation, as the author asked).
        let out = fmt(
            "version: 1\nname: 'shop'\nbindings:\n  - {source: 'e', destination: \"q\", routing_key: 'a.b'}\nservices:\n  - name: s\n    port: ${PORT:-3000}\n",
        );
        assert!(out.contains("name: shop\n"), "{out}");
        assert!(
            out.contains("- {source: e, destination: q, routing_key: a.b}"),
            "{out}"
        );
        assert!(out.contains("    port: ${PORT:-3000}\n"), "{out}");
    }

    #[test]
    fn free_form_maps_keep_their_order_and_block_scalars_their_text() {
        let text = "version: 1\nqueues:\n  - name: q\n    arguments:\n      x-z: 1\n      x-a: 2\nservices:\n  - runtime: python\n    name: s\n    command: |\n        # not a comment\n        x\n    description: |-\n      kept\n        indented\n";
        let out = fmt(text);
        assert!(out.contains("      x-z: 1\n      x-a: 2\n"), "{out}");
        assert!(out.contains("  - name: s\n"), "{out}");
        assert!(
            out.contains("    command: |\n      # not a comment\n      x\n"),
            "{out}"
        );
        assert!(
            out.contains("    description: |-\n      kept\n        indented\n"),
            "{out}"
        );
    }

    #[test]
    fn a_comment_that_closes_a_list_stays_at_its_end() {
        let text = "version: 1\nqueues:\n  - name: a\n  # - name: old\nexchanges:\n  - name: e\n    type: topic\n      # about e\n# the end\n";
        let out = fmt(text);
        assert_eq!(
            out,
            "version: 1\n\nexchanges:\n  - name: e\n    type: topic\n    # about e\n\nqueues:\n  - name: a\n  # - name: old\n# the end\n"
        );
    }

    #[test]
    fn a_flow_mapping_with_a_comment_inside_is_written_in_block_style() {
        let text = "version: 1\nqueues:\n  - {name: a,   # the queue\n     type: quorum}\n  - {type: classic, name: b}\n";
        assert_eq!(
            fmt(text),
            "version: 1\n\nqueues:\n  - name: a # the queue\n    type: quorum\n  - {name: b, type: classic}\n"
        );
    }

    #[test]
    fn anchors_and_merge_keys_leave_the_mapping_as_it_is() {
        let text = "version: 1\nqueues:\n  - &q {type: quorum, name: a}\n  - <<: *q\n    name: b\n";
        let out = fmt(text);
        assert!(out.contains("  - <<: *q\n    name: b\n"), "{out}");
        assert!(out.contains("&q {type: quorum, name: a}"), "{out}");
    }

    #[test]
    fn numbers_stay_as_written_and_tags_are_resolved() {
        let out = fmt(
            "version: !!int \"1\"\nbroker:\n  deploy: {memory: 2Gi, cpu: 1.0}\nqueues:\n  - {name: a, max_length: 0x10}\n",
        );
        assert!(out.starts_with("version: 1\n"), "{out}");
        assert!(out.contains("  deploy: {cpu: 1.0, memory: 2Gi}\n"), "{out}");
        assert!(out.contains("max_length: 0x10"), "{out}");
    }

    #[test]
    fn syntax_errors_are_reported_with_their_place() {
        let d = format("version: 1\nqueues: [1\n", FileId(0)).err();
        assert!(d.is_some_and(|d| d.span.is_some()));
    }
}
