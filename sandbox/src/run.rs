//! One guest run: a fresh store with its own WASI context, limits and deadline, executed on a
//! dedicated thread with a current-thread Tokio runtime so it never blocks Node's event loop
//! or its libuv pool.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::capped_pipe::CappedPipe;
use crate::engine::{Compiled, SandboxEngine};
use crate::limits::RunLimits;

pub struct RunState {
    pub wasi: WasiP1Ctx,
    limits: RunLimits,
}

pub struct RunSpec {
    pub stdin: Vec<u8>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub fuel: u64,
    pub memory_bytes: usize,
    pub timeout: Duration,
    pub output_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Ok,
    ExitNonzero,
    Trap,
    FuelExhausted,
    Timeout,
    MemoryLimit,
    OutputLimit,
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ExitNonzero => "exit_nonzero",
            Outcome::Trap => "trap",
            Outcome::FuelExhausted => "fuel_exhausted",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory_limit",
            Outcome::OutputLimit => "output_limit",
            Outcome::Cancelled => "cancelled",
        }
    }
}

pub struct RunReport {
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub fuel_consumed: u64,
    pub duration: Duration,
    pub message: Option<String>,
}

/// Fuel handed to the guest at a time; also how far `fuel_consumed` can fall short when a run
/// is stopped from outside (timeout, cancel). A millisecond or two of a tight loop here.
pub const FUEL_CHUNK: u64 = 1_000_000;

const STOP_NONE: u8 = 0;
const STOP_TIMEOUT: u8 = 1;
const STOP_CANCELLED: u8 = 2;

/// Why a run was stopped from outside, shared by the epoch callback and the watchdog.
#[derive(Default)]
pub struct StopFlag {
    cancel_requested: AtomicBool,
    reason: AtomicU8,
}

impl StopFlag {
    pub fn cancel(&self) {
        self.cancel_requested.store(true, Ordering::SeqCst);
    }
    fn check(&self, deadline: Instant) -> bool {
        if self.cancel_requested.load(Ordering::SeqCst) {
            let _ = self.reason.compare_exchange(STOP_NONE, STOP_CANCELLED, Ordering::SeqCst, Ordering::SeqCst);
            return true;
        }
        if Instant::now() >= deadline {
            let _ = self.reason.compare_exchange(STOP_NONE, STOP_TIMEOUT, Ordering::SeqCst, Ordering::SeqCst);
            return true;
        }
        false
    }
}

pub async fn execute(
    engine: Arc<SandboxEngine>,
    compiled: Arc<Compiled>,
    spec: RunSpec,
    stop: Arc<StopFlag>,
) -> wasmtime::Result<RunReport> {
    let started = Instant::now();
    let deadline = started + spec.timeout;
    let output_overflow = Arc::new(AtomicBool::new(false));
    let memory_hit = Arc::new(AtomicBool::new(false));
    let stdout = CappedPipe::new(spec.output_bytes, output_overflow.clone());
    let stderr = CappedPipe::new(spec.output_bytes, output_overflow.clone());

    // No preopened directories, no inherited env or stdio, no sockets: only what we hand in.
    let mut argv = vec!["agent".to_string()];
    argv.extend(spec.args.iter().cloned());
    let wasi = WasiCtxBuilder::new()
        .stdin(MemoryInputPipe::new(spec.stdin))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .args(&argv)
        .envs(&spec.env)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build_p1();

    let mut store = Store::new(
        &engine.engine,
        RunState { wasi, limits: RunLimits { memory_cap: spec.memory_bytes, hit: memory_hit.clone() } },
    );
    store.limiter(|s| &mut s.limits);
    store.set_fuel(spec.fuel)?;
    // Compiled code keeps its fuel count in a register and writes it back to the store only at
    // calls, returns and refuels, not at epoch checks: a call-free loop stopped by the deadline
    // would otherwise report the fuel of its last call (~0). Handing fuel out in chunks makes
    // each refuel a write-back, so the figure read below is short by less than one chunk.
    store.fuel_async_yield_interval(Some(FUEL_CHUNK))?;
    store.set_epoch_deadline(1);
    let stop_in_guest = stop.clone();
    store.epoch_deadline_callback(move |_| {
        if stop_in_guest.check(deadline) {
            Ok(UpdateDeadline::Interrupt)
        } else {
            // Yield so the watchdog below gets polled while the guest computes.
            Ok(UpdateDeadline::Yield(1))
        }
    });

    let guest = async {
        let instance = compiled.pre.instantiate_async(&mut store).await?;
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        start.call_async(&mut store, ()).await
    };
    // The watchdog covers a guest parked in a host call (e.g. poll_oneoff sleeping), where
    // epoch checks never run.
    let watchdog = async {
        loop {
            tokio::time::sleep(crate::engine::EPOCH_TICK * 2).await;
            if stop.check(deadline) {
                return;
            }
        }
    };
    let result: Option<wasmtime::Result<()>> = tokio::select! {
        r = guest => Some(r),
        _ = watchdog => None,
    };

    let fuel_left = store.get_fuel().unwrap_or(0);
    let duration = started.elapsed();
    let stop_reason = stop.reason.load(Ordering::SeqCst);
    let (outcome, exit_code, message) = classify(
        result,
        output_overflow.load(Ordering::SeqCst),
        memory_hit.load(Ordering::SeqCst),
        stop_reason,
        spec.timeout,
    );
    drop(store);
    Ok(RunReport {
        outcome,
        exit_code,
        stdout: stdout.take(),
        stderr: stderr.take(),
        fuel_consumed: spec.fuel.saturating_sub(fuel_left),
        duration,
        message,
    })
}

fn classify(
    result: Option<wasmtime::Result<()>>,
    output_overflow: bool,
    memory_hit: bool,
    stop_reason: u8,
    timeout: Duration,
) -> (Outcome, Option<i32>, Option<String>) {
    let err = match result {
        Some(Ok(())) => return (Outcome::Ok, Some(0), None),
        Some(Err(e)) => Some(e),
        None => None,
    };
    if let Some(exit) = err.as_ref().and_then(|e| e.downcast_ref::<I32Exit>()) {
        return if exit.0 == 0 {
            (Outcome::Ok, Some(0), None)
        } else {
            (Outcome::ExitNonzero, Some(exit.0), None)
        };
    }
    let text = err.as_ref().map(|e| root_message(e));
    if output_overflow {
        return (Outcome::OutputLimit, None, text);
    }
    if memory_hit {
        return (Outcome::MemoryLimit, None, text);
    }
    match stop_reason {
        STOP_TIMEOUT => {
            return (Outcome::Timeout, None, Some(format!("deadline of {} ms exceeded", timeout.as_millis())))
        }
        STOP_CANCELLED => return (Outcome::Cancelled, None, Some("run cancelled".into())),
        _ => {}
    }
    match err.as_ref().and_then(|e| e.downcast_ref::<Trap>()) {
        Some(Trap::OutOfFuel) => (Outcome::FuelExhausted, None, Some("fuel budget exhausted".into())),
        _ => (Outcome::Trap, None, text),
    }
}

/// The underlying message (e.g. "wasm trap: integer divide by zero"), without the backtrace
/// context wasmtime wraps around it.
fn root_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return trap.to_string();
    }
    e.root_cause().to_string().lines().next().unwrap_or("").trim().to_string()
}
