//! A bounded window of recently seen keys, for telling re-deliveries from new items.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// The last `cap` distinct keys inserted; older ones are forgotten first-in, first-out.
/// `cap = 0` remembers nothing (every key is new).
#[derive(Debug)]
pub(crate) struct Recent<K> {
    set: HashSet<K>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone> Recent<K> {
    pub(crate) fn new(cap: usize) -> Self {
        Recent {
            set: HashSet::with_capacity(cap.min(1 << 16)),
            order: VecDeque::with_capacity(cap.min(1 << 16)),
            cap,
        }
    }

    /// False when `key` was seen within the window.
    pub(crate) fn insert(&mut self, key: K) -> bool {
        if self.cap == 0 {
            return true;
        }
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_forgets_the_oldest() {
        let mut r = Recent::new(2);
        assert!(r.insert(1));
        assert!(!r.insert(1));
        assert!(r.insert(2));
        assert!(r.insert(3));
        assert!(r.insert(1), "1 fell out of the window");
        assert!(!r.insert(3));
        let mut none = Recent::new(0);
        assert!(none.insert(1) && none.insert(1));
    }
}
