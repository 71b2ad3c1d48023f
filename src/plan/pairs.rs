//! Walking a desired and a live map side by side.
//!
//! Both states keep their entities in `BTreeMap`s ordered by the same key, so one pass over
//! the two in step pairs every key with what each side holds: no lookup of one map's keys in
//! the other (at 10,000 queues and 20,000 bindings the lookups were most of a no-op plan's
//! time, each one a dozen key comparisons, and every key was looked up twice).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::iter::Peekable;

/// What the two sides hold for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side<'a, A, B> {
    /// Only the desired state has it (a create).
    Desired(&'a A),
    /// Only the live state has it (a delete, with prune).
    Live(&'a B),
    /// Both have it (compared).
    Both(&'a A, &'a B),
}

/// The keys of `desired` and `live` in ascending order, each once, with both sides.
pub fn pairs<'a, K: Ord, A, B>(
    desired: &'a BTreeMap<K, A>,
    live: &'a BTreeMap<K, B>,
) -> Pairs<'a, K, A, B> {
    Pairs {
        desired: desired.iter().peekable(),
        live: live.iter().peekable(),
    }
}

pub struct Pairs<'a, K, A, B> {
    desired: Peekable<btree_map::Iter<'a, K, A>>,
    live: Peekable<btree_map::Iter<'a, K, B>>,
}

impl<'a, K: Ord, A, B> Iterator for Pairs<'a, K, A, B> {
    type Item = (&'a K, Side<'a, A, B>);

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.desired.peek(), self.live.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((d, _)), Some((l, _))) => d.cmp(l),
        };
        match order {
            Ordering::Less => self.desired.next().map(|(k, a)| (k, Side::Desired(a))),
            Ordering::Greater => self.live.next().map(|(k, b)| (k, Side::Live(b))),
            Ordering::Equal => {
                let (k, a) = self.desired.next()?;
                let (_, b) = self.live.next()?;
                Some((k, Side::Both(a, b)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every key of either map comes out once, in order, with exactly what each map
        /// holds for it: the same as looking each key up in both.
        #[test]
        fn pairs_are_the_lookups(
            a in prop::collection::btree_map(0u8..40, any::<u8>(), 0..30),
            b in prop::collection::btree_map(0u8..40, any::<u8>(), 0..30),
        ) {
            let got: Vec<_> = pairs(&a, &b)
                .map(|(k, side)| match side {
                    Side::Desired(x) => (*k, Some(*x), None),
                    Side::Live(y) => (*k, None, Some(*y)),
                    Side::Both(x, y) => (*k, Some(*x), Some(*y)),
                })
                .collect();
            let mut keys: Vec<u8> = a.keys().chain(b.keys()).copied().collect();
            keys.sort_unstable();
            keys.dedup();
            let want: Vec<_> = keys.iter().map(|k| (*k, a.get(k).copied(), b.get(k).copied())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
