//! The simulator's tests: a fixed set of seeds for CI, single-seed replay, soaks, and a check
//! that a seed replays identically.
//!
//! Environment:
//! - `TINKERDB_SIM_SEED=<n>`: run only seed `n`, printing its event trace (use `--nocapture`).
//! - `TINKERDB_SIM_SEEDS=<count>` and `TINKERDB_SIM_FIRST=<n>`: run seeds `n..n+count`
//!   (soaks; `scripts/sim-soak.sh` picks a random `n`). Known-failing seeds are included.
//! - `TINKERDB_SIM_OPS=<n>`: client operations per seed.

use super::run_seed;

/// Seeds in the CI set (even seeds run 3 nodes, odd seeds 5).
const CI_SEEDS: u64 = 200;

/// Client operations per seed in CI: enough for several snapshots, elections and crashes per
/// run, few enough that 200 seeds finish in about 25 s on two cores in the dev profile.
const CI_OPS: u64 = 1000;

/// Seeds of the CI range that fail because of known, reported shard bugs; skipped in CI until
/// the bugs are fixed, then deleted from here.
const KNOWN_FAILING: &[u64] = &[];

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
    )
}

#[test]
fn simulate_fixed_seeds() {
    let ops = env_u64("TINKERDB_SIM_OPS").unwrap_or(CI_OPS);
    if let Some(seed) = env_u64("TINKERDB_SIM_SEED") {
        match run_seed(seed, ops, true) {
            Ok(report) => eprintln!("seed {seed} passed: {report:?}"),
            Err(error) => panic!("{error}"),
        }
        return;
    }
    let soak = env_u64("TINKERDB_SIM_SEEDS");
    let first = env_u64("TINKERDB_SIM_FIRST").unwrap_or(0);
    let count = soak.unwrap_or(CI_SEEDS);
    let seeds: Vec<u64> = (first..first + count)
        .filter(|seed| soak.is_some() || !KNOWN_FAILING.contains(seed))
        .collect();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = std::time::Instant::now();
    let results: Vec<(u64, Result<super::Report, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let mine: Vec<u64> = seeds
                    .iter()
                    .copied()
                    .skip(worker)
                    .step_by(workers)
                    .collect();
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|seed| (seed, run_seed(seed, ops, false)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("simulation worker thread"))
            .collect()
    });
    let mut failures: Vec<&(u64, Result<super::Report, String>)> =
        results.iter().filter(|(_, r)| r.is_err()).collect();
    failures.sort_by_key(|(seed, _)| *seed);
    let passed: Vec<&super::Report> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    eprintln!(
        "simulated {} seeds in {:.1?}: {} failed; {} crashes ({} mid-write, {} torn tails), \
         {} partitions, {} elections, \
         {} history ops ({} unknown), {} inconclusive checks, {} runs with nodes stuck by the \
         known snapshot bug",
        results.len(),
        started.elapsed(),
        failures.len(),
        passed.iter().map(|r| r.crashes).sum::<u64>(),
        passed.iter().map(|r| r.crashes_mid_write).sum::<u64>(),
        passed.iter().map(|r| r.torn_tails).sum::<u64>(),
        passed.iter().map(|r| r.partitions).sum::<u64>(),
        passed.iter().map(|r| r.leaders_elected).sum::<usize>(),
        passed.iter().map(|r| r.history_ops).sum::<usize>(),
        passed.iter().map(|r| r.unknown_ops).sum::<usize>(),
        passed.iter().filter(|r| r.check_inconclusive).count(),
        passed.iter().filter(|r| r.stuck_nodes > 0).count(),
    );
    if let Some((_, Err(first_error))) = failures.first() {
        let seeds: Vec<u64> = failures.iter().map(|(seed, _)| *seed).collect();
        panic!(
            "{} seeds failed: {seeds:?}\nfirst failure: {first_error}",
            failures.len()
        );
    }
}

#[test]
fn same_seed_replays_the_same_run() {
    for seed in [7, 8] {
        let first = run_seed(seed, 200, false).expect("seed passes");
        let second = run_seed(seed, 200, false).expect("seed passes");
        assert_eq!(first, second, "seed {seed} did not replay identically");
        assert!(
            first.events > 1000,
            "too few events to mean anything: {first:?}"
        );
    }
}
