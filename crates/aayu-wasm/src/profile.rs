//! Where the time goes: per-operation totals of the forward pass, switched on at run time by
//! the benchmarks (`aayu-bench bench --profile`, the wasm bench) and off otherwise. Off, each
//! timed operation costs one thread-local read; the same build is measured either way.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use web_time::Instant;

/// (phase, operation) → (milliseconds, calls).
type Totals = BTreeMap<(&'static str, &'static str), (f64, u64)>;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    /// "prompt" or "decode": which kind of forward pass is running.
    static PHASE: Cell<&'static str> = const { Cell::new("decode") };
    static TOTALS: RefCell<Totals> = const { RefCell::new(BTreeMap::new()) };
}

/// One operation's total over the profiled passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpTime {
    pub phase: String,
    pub op: String,
    pub ms: f64,
    pub calls: u64,
}

/// Starts collecting (from zero) or stops.
pub fn enable(on: bool) {
    ENABLED.with(|e| e.set(on));
    TOTALS.with(|t| t.borrow_mut().clear());
}

/// Marks the forward passes that follow as a prompt pass or a decode step.
pub(crate) fn set_phase(prompt: bool) {
    PHASE.with(|p| p.set(if prompt { "prompt" } else { "decode" }));
}

/// Runs `f`, adding its time to `op` when profiling is on.
pub(crate) fn time<T>(op: &'static str, f: impl FnOnce() -> T) -> T {
    if !ENABLED.with(Cell::get) {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let phase = PHASE.with(Cell::get);
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        let entry = t.entry((phase, op)).or_insert((0.0, 0));
        entry.0 += ms;
        entry.1 += 1;
    });
    out
}

/// The totals so far, largest first within each phase.
pub fn totals() -> Vec<OpTime> {
    let mut all: Vec<OpTime> = TOTALS.with(|t| {
        t.borrow()
            .iter()
            .map(|(&(phase, op), &(ms, calls))| OpTime {
                phase: phase.into(),
                op: op.into(),
                ms,
                calls,
            })
            .collect()
    });
    all.sort_by(|a, b| a.phase.cmp(&b.phase).then(b.ms.total_cmp(&a.ms)));
    all
}
