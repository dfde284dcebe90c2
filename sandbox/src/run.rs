//! One guest run: a fresh store with its own WASI context, limits and deadline, executed as a
//! task on the addon's Tokio worker threads (never Node's event loop or its libuv pool). The
//! guest runs on a fiber and yields at every epoch tick, so a long computation shares the
//! workers with other runs instead of holding one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::capped_pipe::CappedPipe;
use crate::engine::{Compiled, Metering, SandboxEngine};
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
    /// None when the engine does not meter fuel.
    pub fuel_consumed: Option<u64>,
    pub duration: Duration,
    /// CPU time spent on the run's behalf (instantiation, guest code, WASI calls, teardown).
    pub cpu_time: Duration,
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

/// Run `compiled` once. The returned future measures the CPU time it is polled for.
pub async fn execute(
    engine: Arc<SandboxEngine>,
    compiled: Arc<Compiled>,
    spec: RunSpec,
    stop: Arc<StopFlag>,
) -> wasmtime::Result<RunReport> {
    // A pool slot for the whole life of the store (its memory, tables and fiber stack).
    let _slot = engine.slots.clone().acquire_owned().await.map_err(|e| wasmtime::format_err!("{e}"))?;
    let cpu = Arc::new(CpuClock::default());
    let timed = CpuTimed { inner: Box::pin(execute_in_store(engine, compiled, spec, stop)), clock: cpu.clone() };
    let mut report = timed.await.map_err(|_| wasmtime::format_err!("sandbox run panicked"))??;
    report.cpu_time = cpu.total();
    Ok(report)
}

async fn execute_in_store(
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
    let metered = engine.metering == Metering::Fuel;
    if metered {
        store.set_fuel(spec.fuel)?;
        // Compiled code keeps its fuel count in a register and writes it back to the store
        // only at calls, returns and refuels, not at epoch checks: a call-free loop stopped by
        // the deadline would otherwise report the fuel of its last call (~0). Handing fuel out
        // in chunks makes each refuel a write-back, so the figure read below is short by less
        // than one chunk.
        store.fuel_async_yield_interval(Some(FUEL_CHUNK))?;
    }
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

    let fuel_consumed = if metered { Some(spec.fuel.saturating_sub(store.get_fuel().unwrap_or(0))) } else { None };
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
        fuel_consumed,
        duration,
        cpu_time: Duration::ZERO,
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

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Default)]
struct CpuClock(std::sync::atomic::AtomicU64);

impl CpuClock {
    fn total(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// Adds the thread CPU time of every poll of `inner` to `clock`. A run's work (guest code on
/// its fiber, host calls, instantiation) happens only inside polls, whichever worker thread
/// polls it, so the sum is the run's CPU time; waiting (a guest asleep in poll_oneoff, a
/// slot, the scheduler) is not counted. A panic while polling ends the future with `Err`
/// rather than unwinding into the runtime's worker.
struct CpuTimed<F> {
    inner: Pin<Box<F>>,
    clock: Arc<CpuClock>,
}

pub struct Panicked;

impl<F: Future> Future for CpuTimed<F> {
    type Output = Result<F::Output, Panicked>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let before = thread_cpu_ns();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| this.inner.as_mut().poll(cx)));
        this.clock.0.fetch_add(thread_cpu_ns().saturating_sub(before), Ordering::Relaxed);
        match result {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}
