//! numpy's pairwise summation (`pairwise_sum` in `loops_utils.h`), which pandas' `sum`, `mean`
//! and `std` use on a float64 column, so GE's observed values come out of it. numpy splits
//! `n` values in two halves (the left one a multiple of 8 long) until a part has at most 128,
//! sums such a part in 8 running lanes combined as `((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))` plus
//! the tail in order, and fewer than 8 values left to right; then it adds the halves back up.
//!
//! The shape of that tree depends only on `n`, so [`PairwiseSum`] walks it as the values
//! arrive, one at a time, keeping a stack of the left halves already summed: the same bits as
//! summing the whole slice, in `O(log n)` memory.

/// Parts at most this long are summed in lanes, not split.
const BLOCK: usize = 128;

/// numpy's pairwise sum of a slice.
pub fn pairwise_sum(values: &[f64]) -> f64 {
    let mut sum = PairwiseSum::new(values.len());
    for value in values {
        sum.push(*value);
    }
    sum.finish()
}

/// One part of at most [`BLOCK`] values, summed as numpy sums it.
#[derive(Debug)]
struct Leaf {
    len: usize,
    seen: usize,
    lanes: [f64; 8],
    sum: f64,
}

impl Leaf {
    fn new(len: usize) -> Leaf {
        Leaf {
            len,
            seen: 0,
            lanes: [0.0; 8],
            sum: 0.0,
        }
    }

    /// Where the lanes stop and the tail (added one by one) starts.
    fn whole(&self) -> usize {
        self.len - self.len % 8
    }

    fn lanes_total(&self) -> f64 {
        let r = &self.lanes;
        ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    }

    fn push(&mut self, value: f64) {
        if self.len < 8 {
            self.sum += value;
        } else if self.seen < 8 {
            self.lanes[self.seen] = value;
        } else if self.seen < self.whole() {
            self.lanes[self.seen % 8] += value;
        } else {
            if self.seen == self.whole() {
                self.sum = self.lanes_total();
            }
            self.sum += value;
        }
        self.seen += 1;
    }

    fn is_full(&self) -> bool {
        self.seen == self.len
    }

    fn total(&self) -> f64 {
        if self.len >= 8 && self.whole() == self.len {
            self.lanes_total()
        } else {
            self.sum
        }
    }
}

/// A split still open: its right half's length, and the left half's sum once it is known.
#[derive(Debug)]
struct Split {
    right: usize,
    left_sum: Option<f64>,
}

/// numpy's pairwise sum of `len` values pushed one at a time.
///
/// Values beyond `len` are added to the total one by one; values missing at the end count
/// as zeros. Neither happens when `len` is the column's row count.
#[derive(Debug)]
pub struct PairwiseSum {
    open: Vec<Split>,
    leaf: Leaf,
    total: Option<f64>,
}

impl PairwiseSum {
    /// A sum of `len` values.
    pub fn new(len: usize) -> PairwiseSum {
        let mut sum = PairwiseSum {
            open: Vec::new(),
            leaf: Leaf::new(0),
            total: None,
        };
        sum.descend(len);
        if sum.leaf.is_full() {
            sum.close_leaf();
        }
        sum
    }

    /// Splits a part of `len` values down to its first leaf.
    fn descend(&mut self, mut len: usize) {
        while len > BLOCK {
            let mut half = len / 2;
            half -= half % 8;
            self.open.push(Split {
                right: len - half,
                left_sum: None,
            });
            len = half;
        }
        self.leaf = Leaf::new(len);
    }

    /// A leaf is complete: add it into the splits above it, and start the next leaf.
    fn close_leaf(&mut self) {
        let mut sum = self.leaf.total();
        while let Some(split) = self.open.last_mut() {
            match split.left_sum {
                None => {
                    split.left_sum = Some(sum);
                    let right = split.right;
                    self.descend(right);
                    return;
                }
                Some(left) => {
                    // left + right (addition commutes exactly).
                    sum += left;
                    self.open.pop();
                }
            }
        }
        self.total = Some(sum);
    }

    /// Adds the next value.
    pub fn push(&mut self, value: f64) {
        if let Some(total) = &mut self.total {
            *total += value;
            return;
        }
        self.leaf.push(value);
        if self.leaf.is_full() {
            self.close_leaf();
        }
    }

    /// The sum.
    pub fn finish(mut self) -> f64 {
        while self.total.is_none() {
            self.push(0.0);
        }
        self.total.unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy's recursion, written as numpy writes it.
    fn recursive(values: &[f64]) -> f64 {
        let n = values.len();
        if n < 8 {
            return values.iter().fold(0.0, |sum, v| sum + v);
        }
        if n <= BLOCK {
            let mut r = [0.0f64; 8];
            r.copy_from_slice(&values[..8]);
            let whole = n - n % 8;
            let mut i = 8;
            while i < whole {
                for (j, slot) in r.iter_mut().enumerate() {
                    *slot += values[i + j];
                }
                i += 8;
            }
            let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for v in &values[whole..] {
                sum += v;
            }
            return sum;
        }
        let mut half = n / 2;
        half -= half % 8;
        recursive(&values[..half]) + recursive(&values[half..])
    }

    #[test]
    fn lanes_below_and_above_eight() {
        // Below 8 values: a plain left-to-right sum.
        assert_eq!(pairwise_sum(&[0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
        // 8..128: eight running lanes combined as ((0+1)+(2+3))+((4+5)+(6+7)), then the tail.
        let values: Vec<f64> = (0..20).map(|i| i as f64 * 0.1).collect();
        let lanes = |j: usize| values[j] + values[j + 8];
        let expected = ((lanes(0) + lanes(1)) + (lanes(2) + lanes(3)))
            + ((lanes(4) + lanes(5)) + (lanes(6) + lanes(7)))
            + values[16]
            + values[17]
            + values[18]
            + values[19];
        assert_eq!(pairwise_sum(&values), expected);
        assert_eq!(pairwise_sum(&[]), 0.0);
    }

    #[test]
    fn streaming_gives_the_bits_of_the_recursion() {
        // Values whose sum depends on the order of additions, at lengths around each split.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64 * 2e6 - 1e6 + 1e-3
        };
        let values: Vec<f64> = (0..5000).map(|_| next()).collect();
        for n in (0..300).chain([511, 512, 513, 1023, 1024, 1025, 4095, 5000]) {
            let slice = &values[..n];
            assert_eq!(
                pairwise_sum(slice).to_bits(),
                recursive(slice).to_bits(),
                "{n} values"
            );
        }
        // A sequential sum differs somewhere, so the test can tell the orders apart.
        let sequential: f64 = values.iter().sum();
        assert_ne!(sequential.to_bits(), recursive(&values).to_bits());
    }

    #[test]
    fn too_few_or_too_many_values() {
        let mut short = PairwiseSum::new(200);
        short.push(1.5);
        assert_eq!(short.finish(), 1.5);
        let mut long = PairwiseSum::new(2);
        for v in [1.0, 2.0, 4.0] {
            long.push(v);
        }
        assert_eq!(long.finish(), 7.0);
    }
}
