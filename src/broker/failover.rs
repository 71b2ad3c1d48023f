//! The nodes of a cluster, tried in turn.
//!
//! A cluster is given as lists of node URLs (`--amqp-url a,b,c`, a YAML list in the file).
//! topo works through one node at a time and moves to the next when a node does not answer
//! or drops the connection; it says on stderr which node it uses, and why it moved.
//!
//! When both lists have the same length, entry *i* of each is taken to be the same node and
//! both protocols move together: the writes made over AMQP and the read-back over HTTP then
//! go through one node, which matters on RabbitMQ 4.x, where a read from another node can
//! briefly miss a write (Khepri's reads are local). Lists of different lengths (say, a load
//! balancer for HTTP and three AMQP nodes) move independently.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use url::Url;

/// Which connection a node is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Amqp,
    Management,
}

impl Proto {
    fn label(self) -> &'static str {
        match self {
            Proto::Amqp => "AMQP",
            Proto::Management => "management API",
        }
    }
}

/// The node lists and which entry is in use (shared by every client of one command).
#[derive(Debug)]
pub struct Nodes {
    amqp: Vec<Url>,
    management: Vec<Url>,
    /// Index in use: one for both lists when they pair up, else one each.
    at: [AtomicUsize; 2],
    /// The entry last said on stderr, per protocol (`usize::MAX`: none yet).
    said: [AtomicUsize; 2],
    /// Serialises what is printed, so two failing calls do not interleave their lines.
    print: Mutex<()>,
}

impl Nodes {
    /// Both lists non-empty (the caller checks).
    pub fn new(amqp: Vec<Url>, management: Vec<Url>) -> Nodes {
        Nodes {
            amqp,
            management,
            at: [AtomicUsize::new(0), AtomicUsize::new(0)],
            said: [AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)],
            print: Mutex::new(()),
        }
    }

    /// Whether entry *i* of both lists is one node.
    pub fn paired(&self) -> bool {
        self.amqp.len() == self.management.len()
    }

    pub fn list(&self, p: Proto) -> &[Url] {
        match p {
            Proto::Amqp => &self.amqp,
            Proto::Management => &self.management,
        }
    }

    /// More than one node to try for this protocol.
    pub fn several(&self, p: Proto) -> bool {
        self.list(p).len() > 1
    }

    fn slot(&self, p: Proto) -> usize {
        match p {
            _ if self.paired() => 0,
            Proto::Amqp => 0,
            Proto::Management => 1,
        }
    }

    /// The entry in use and its URL.
    pub fn current(&self, p: Proto) -> (usize, &Url) {
        let list = self.list(p);
        let i = self.at[self.slot(p)].load(Ordering::SeqCst) % list.len();
        (i, &list[i])
    }

    /// Move on from entry `from` (which failed) to the next one, unless another call moved
    /// already; answers the entry to use now.
    pub fn advance(&self, p: Proto, from: usize) -> usize {
        let len = self.list(p).len();
        let slot = &self.at[self.slot(p)];
        let next = (from + 1) % len;
        match slot.compare_exchange(from, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => next,
            Err(now) => now % len,
        }
    }

    /// Use entry `i` from now on (a connection through it worked).
    pub fn settle(&self, p: Proto, i: usize) {
        self.at[self.slot(p)].store(i, Ordering::SeqCst);
    }

    /// Say which node a protocol goes through, once per change of node (only for lists).
    pub fn announce(&self, p: Proto, i: usize) {
        if !self.several(p) {
            return;
        }
        let said = &self.said[match p {
            Proto::Amqp => 0,
            Proto::Management => 1,
        }];
        if said.swap(i, Ordering::SeqCst) == i {
            return;
        }
        let _guard = self.print.lock();
        eprintln!(
            "topo: {} through node {} of {}: {}",
            p.label(),
            i + 1,
            self.list(p).len(),
            self.list(p)[i]
        );
    }

    /// Say that entry `i` failed and which one is tried next.
    pub fn report_failure(&self, p: Proto, i: usize, detail: &str, next: usize) {
        let list = self.list(p);
        let _guard = self.print.lock();
        eprintln!(
            "topo: {} node {} ({}) failed: {}; trying {}",
            p.label(),
            i + 1,
            list[i],
            detail,
            list[next]
        );
    }

    /// All URLs of a protocol, for an error that none answered.
    pub fn describe(&self, p: Proto) -> String {
        self.list(p)
            .iter()
            .map(Url::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `url` (built on entry `from`'s base) moved onto entry `to`'s base.
    pub fn rebase(&self, url: &Url, from: usize, to: usize) -> Url {
        let list = &self.management;
        let (Some(old), Some(new)) = (list.get(from), list.get(to)) else {
            return url.clone();
        };
        match url.as_str().strip_prefix(old.as_str()) {
            Some(rest) => {
                Url::parse(&format!("{}{rest}", new.as_str())).unwrap_or_else(|_| url.clone())
            }
            None => url.clone(),
        }
    }
}

/// Splits a comma-separated list of URLs (spaces around commas allowed, empty entries
/// dropped).
pub fn split_list(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<Url> {
        list.iter().map(|u| Url::parse(u).unwrap()).collect()
    }

    #[test]
    fn lists_split_on_commas() {
        assert_eq!(
            split_list("amqp://a:1, amqp://b:2,,amqp://c:3 "),
            vec!["amqp://a:1", "amqp://b:2", "amqp://c:3"]
        );
        assert_eq!(split_list("amqp://a"), vec!["amqp://a"]);
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn paired_lists_move_together_and_wrap() {
        let n = Nodes::new(
            urls(&["amqp://a", "amqp://b", "amqp://c"]),
            urls(&["http://a/", "http://b/", "http://c/"]),
        );
        assert!(n.paired());
        assert_eq!(n.advance(Proto::Management, 0), 1);
        assert_eq!(n.current(Proto::Amqp).1.as_str(), "amqp://b");
        assert_eq!(n.advance(Proto::Amqp, 1), 2);
        assert_eq!(n.current(Proto::Management).1.as_str(), "http://c/");
        assert_eq!(n.advance(Proto::Amqp, 2), 0);
    }

    #[test]
    fn a_stale_failure_does_not_skip_a_node() {
        let n = Nodes::new(
            urls(&["amqp://a", "amqp://b", "amqp://c"]),
            urls(&["http://lb/"]),
        );
        assert!(!n.paired());
        // Two calls fail on entry 0 at once: both end up on entry 1, not 2.
        assert_eq!(n.advance(Proto::Amqp, 0), 1);
        assert_eq!(n.advance(Proto::Amqp, 0), 1);
        // The management list of one entry stays where it is.
        assert_eq!(n.current(Proto::Management).0, 0);
    }

    #[test]
    fn rebase_keeps_path_and_query() {
        let n = Nodes::new(
            urls(&["amqp://a", "amqp://b"]),
            urls(&["http://a:15672/", "https://b:15671/prefix/"]),
        );
        let u = Url::parse("http://a:15672/api/queues/%2F?columns=name").unwrap();
        assert_eq!(
            n.rebase(&u, 0, 1).as_str(),
            "https://b:15671/prefix/api/queues/%2F?columns=name"
        );
    }
}
