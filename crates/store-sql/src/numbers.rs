//! Order numbers drawn from the database's sequence a block at a time.
//!
//! On PostgreSQL a checkout of a one-seller cart is one statement (see
//! `impl_orders_store!`), and its rows and events, built in Rust, carry the
//! order numbers before that statement runs. So the numbers are drawn
//! ahead: `BLOCK` values of the `order_numbers` sequence in one round trip,
//! handed out in order until they run out. They stay unique (every one
//! comes from the sequence once); what changes is that two processes hand
//! out interleaved runs, and the values a process had drawn but not used
//! when it stops are gaps, as a rolled-back checkout's number always was.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Numbers drawn per round trip.
pub const BLOCK: i64 = 32;

/// The numbers drawn and not yet handed out, in ascending order.
#[derive(Debug, Default)]
pub struct NumberBlock {
    left: Mutex<VecDeque<i64>>,
}

impl NumberBlock {
    /// `count` numbers, if that many are on hand.
    pub fn take(&self, count: usize) -> Option<Vec<i64>> {
        let mut left = self.left.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (left.len() >= count).then(|| left.drain(..count).collect())
    }

    /// Returns numbers taken but not used (the checkout was a repeat, or
    /// failed), to be handed out again first.
    pub fn give_back(&self, numbers: Vec<i64>) {
        let mut left = self.left.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for n in numbers.into_iter().rev() {
            left.push_front(n);
        }
    }

    /// Adds freshly drawn numbers and takes `count` of them (the oldest first).
    pub fn refill_and_take(&self, mut drawn: Vec<i64>, count: usize) -> Vec<i64> {
        drawn.sort_unstable();
        let mut left = self.left.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        left.extend(drawn);
        let take = count.min(left.len());
        left.drain(..take).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_each_drawn_number_once_in_order() {
        let block = NumberBlock::default();
        assert_eq!(block.take(1), None);
        assert_eq!(block.refill_and_take(vec![7, 5, 6, 8], 2), vec![5, 6]);
        assert_eq!(block.take(3), None, "only two are left");
        assert_eq!(block.take(2), Some(vec![7, 8]));
        assert_eq!(block.take(1), None);
    }

    #[test]
    fn numbers_given_back_come_out_first() {
        let block = NumberBlock::default();
        assert_eq!(block.refill_and_take(vec![1, 2, 3, 4], 2), vec![1, 2]);
        block.give_back(vec![1, 2]);
        assert_eq!(block.take(3), Some(vec![1, 2, 3]));
        assert_eq!(block.take(1), Some(vec![4]));
    }
}
