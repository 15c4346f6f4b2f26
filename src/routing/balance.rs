//! The order in which a plan's candidates are tried: as listed (fallback), drawn by weight
//! (weighted), or fastest first (least_latency, with power-of-two-choices so that one fast
//! target is not stampeded).

use super::health::Health;
use super::plan::Plan;
use crate::config::Strategy;

/// Indexes into `plan.candidates`, first to try first.
pub fn order(plan: &Plan, health: &Health, rng: &mut fastrand::Rng) -> Vec<usize> {
    let n = plan.candidates.len();
    match plan.strategy {
        Strategy::Fallback => (0..n).collect(),
        Strategy::Weighted => {
            let weights: Vec<u64> = plan
                .candidates
                .iter()
                .map(|c| u64::from(c.weight))
                .collect();
            weighted(&weights, rng)
        }
        Strategy::LeastLatency => {
            let latency: Vec<Option<f64>> = plan
                .candidates
                .iter()
                .map(|c| health.latency_ms(&c.target.name))
                .collect();
            least_latency(&latency, rng)
        }
    }
}

/// A weighted draw without replacement: each position picks among the rest by weight.
pub fn weighted(weights: &[u64], rng: &mut fastrand::Rng) -> Vec<usize> {
    let mut left: Vec<usize> = (0..weights.len()).collect();
    let mut order = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let total: u64 = left.iter().map(|&i| weights[i].max(1)).sum();
        let mut ticket = rng.u64(0..total);
        let position = left
            .iter()
            .position(|&i| {
                let weight = weights[i].max(1);
                if ticket < weight {
                    true
                } else {
                    ticket -= weight;
                    false
                }
            })
            .unwrap_or(0);
        order.push(left.swap_remove(position));
    }
    order
}

/// First the better of two random candidates (a target never measured counts as fastest, so it
/// gets measured), then the rest from fastest to slowest.
pub fn least_latency(latency: &[Option<f64>], rng: &mut fastrand::Rng) -> Vec<usize> {
    let score = |i: usize| latency[i].unwrap_or(0.0);
    let mut rest: Vec<usize> = (0..latency.len()).collect();
    if rest.len() < 2 {
        return rest;
    }
    let a = rng.usize(0..rest.len());
    let mut b = rng.usize(0..rest.len() - 1);
    if b >= a {
        b += 1;
    }
    let first = if score(rest[b]) < score(rest[a]) {
        rest[b]
    } else {
        rest[a]
    };
    rest.retain(|&i| i != first);
    rest.sort_by(|&x, &y| score(x).total_cmp(&score(y)));
    let mut order = vec![first];
    order.extend(rest);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_draws_follow_the_weights_and_list_everyone() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut first = [0u32; 2];
        for _ in 0..4000 {
            let order = weighted(&[3, 1], &mut rng);
            assert_eq!(order.len(), 2);
            assert_ne!(order[0], order[1]);
            first[order[0]] += 1;
        }
        let share = f64::from(first[0]) / 4000.0;
        assert!(
            (0.72..0.78).contains(&share),
            "weight 3 of 4 led {share:.3} of the time"
        );
    }

    #[test]
    fn least_latency_prefers_the_faster_of_two_and_orders_the_rest() {
        let mut rng = fastrand::Rng::with_seed(11);
        let latency = [Some(200.0), Some(5.0), Some(50.0)];
        let mut fast_first = 0;
        for _ in 0..3000 {
            let order = least_latency(&latency, &mut rng);
            assert_eq!(order.len(), 3);
            if order[0] == 1 {
                fast_first += 1;
            }
            let rest: Vec<f64> = order[1..]
                .iter()
                .map(|&i| latency[i].unwrap_or(0.0))
                .collect();
            assert!(rest.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        }
        // The fastest wins whenever it is one of the two drawn: 2 pairs of 3.
        let share = f64::from(fast_first) / 3000.0;
        assert!((0.62..0.72).contains(&share), "{share:.3}");
        assert_eq!(
            least_latency(&[None, Some(1.0)], &mut rng)[0],
            0,
            "an unmeasured target is tried"
        );
    }
}
