//! [`hungarian`]: the best one-to-one assignment of rows to columns. Re-clustering maps its
//! clusters onto the live labels with it, and the DER scorer of `ddalkkak-eval` maps hypothesis
//! speakers onto reference speakers with it.

/// Maximum-weight assignment of rows to columns (Hungarian algorithm, O(n³)): the pairs
/// `(row, column)` of a one-to-one matching of `weights` (rows × columns, non-negative) whose
/// sum is largest. Pairs of weight 0 are left out.
pub fn hungarian(weights: &[Vec<f64>]) -> Vec<(usize, usize)> {
    let rows = weights.len();
    let cols = weights.iter().map(Vec::len).max().unwrap_or(0);
    let n = rows.max(cols);
    if n == 0 {
        return Vec::new();
    }
    let max = weights.iter().flatten().copied().fold(0f64, f64::max);
    // Square minimum-cost problem: cost = max - weight, padding at cost `max` (weight 0).
    let cost = |i: usize, j: usize| max - weights.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0);
    // e-maxx formulation, 1-based with a virtual column 0.
    let (mut u, mut v) = (vec![0f64; n + 1], vec![0f64; n + 1]);
    let (mut p, mut way) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=n)
        .filter(|&j| p[j] != 0)
        .map(|j| (p[j] - 1, j - 1))
        .filter(|&(i, j)| weights.get(i).and_then(|r| r.get(j)).is_some_and(|&w| w > 0.0))
        .collect();
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_finds_the_best_assignment() {
        let w = vec![vec![1.0, 5.0, 0.0], vec![4.0, 6.0, 0.0], vec![0.0, 0.0, 2.0]];
        assert_eq!(hungarian(&w), [(0, 1), (1, 0), (2, 2)]);
        // More columns than rows, and rows left unmatched.
        assert_eq!(hungarian(&[vec![0.0, 3.0, 1.0]]), [(0, 1)]);
        assert_eq!(hungarian(&[vec![2.0], vec![3.0], vec![1.0]]), [(1, 0)]);
        assert!(hungarian(&[]).is_empty());
    }
}
