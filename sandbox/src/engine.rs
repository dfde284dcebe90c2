//! One wasmtime engine per Sandbox: epoch interruption driven by a ticker thread (every run's
//! hard deadline and cancellation), optional fuel metering, async support (so a guest blocked
//! in a host call such as a WASI sleep can still be timed out or cancelled), the pooling
//! instance allocator (memories, tables and fiber stacks reused across runs instead of mapped
//! and unmapped each time), and a bounded cache of linked modules keyed by SHA-256.

use lru::LruCache;
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::{
    Caller, Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module, OptLevel,
    PoolingAllocationConfig,
};
use wasmtime_wasi::I32Exit;

use crate::limits::{MAX_TABLES, MAX_TABLE_ELEMENTS};
use crate::run::RunState;

/// How often the epoch advances; the granularity of deadlines and cancellation.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Wasm stack for guest code; deep recursion traps with "call stack exhausted" past this.
const MAX_WASM_STACK: usize = 1 << 20;
/// The largest linear memory a 32-bit module can address; the pool reserves this per slot so
/// compiled code needs no explicit bounds checks (the guard pages do it).
const WASM32_MAX_MEMORY: usize = 4 << 30;

/// How a run's compute is metered. Every run has an epoch deadline either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// wasmtime fuel (about one unit per instruction): an exact, deterministic count and a
    /// budget that ends the run with `fuel_exhausted`; compiled code pays for the counting.
    Fuel,
    /// Epoch checks only; the run's cost is the CPU time of the thread(s) that ran it.
    Epoch,
}

impl Metering {
    pub fn as_str(self) -> &'static str {
        match self {
            Metering::Fuel => "fuel",
            Metering::Epoch => "epoch",
        }
    }
}

pub struct EngineOptions {
    pub cache_capacity: usize,
    pub metering: Metering,
    /// Instances (memories, tables, stacks) the pooling allocator keeps; 0 maps each run's
    /// resources on demand. Runs beyond it wait for a slot.
    pub pool_size: u32,
    /// Largest memory a run may be given (its per-run cap is the run's `memory_bytes`).
    pub max_memory_bytes: usize,
}

pub struct Compiled {
    pub sha256: String,
    pub pre: InstancePre<RunState>,
}

pub struct SandboxEngine {
    pub engine: Engine,
    pub metering: Metering,
    /// Slots in the instance pool, or 0 when resources are mapped per run.
    pub pool_size: u32,
    /// Why pooling is off although it was asked for (e.g. address space refused), if it is.
    pub pool_error: Option<String>,
    /// One permit per pool slot: a run holds one from instantiation to the end of its store.
    pub slots: Arc<Semaphore>,
    linker: Linker<RunState>,
    cache: Mutex<LruCache<String, Arc<Compiled>>>,
}

fn engine_config(metering: Metering, pool: Option<(u32, usize)>) -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(metering == Metering::Fuel)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + (1 << 20))
        .cranelift_opt_level(OptLevel::Speed);
    if let Some((slots, max_memory)) = pool {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_stacks(slots)
            .total_tables(slots * MAX_TABLES as u32)
            .max_tables_per_module(MAX_TABLES as u32)
            .table_elements(MAX_TABLE_ELEMENTS)
            .max_memory_size(max_memory)
            // VMContext of big modules (many functions in tables); virtual until used.
            .max_core_instance_size(16 << 20)
            // A small guest's memory is zeroed with memset on reuse instead of being handed
            // back to the kernel and faulted in again on the next run.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

impl SandboxEngine {
    pub fn new(options: EngineOptions) -> wasmtime::Result<Arc<Self>> {
        let max_memory = options.max_memory_bytes.clamp(1 << 16, WASM32_MAX_MEMORY);
        let (engine, pool_size, pool_error) = if options.pool_size > 0 {
            match Engine::new(&engine_config(options.metering, Some((options.pool_size, max_memory)))) {
                Ok(engine) => (engine, options.pool_size, None),
                // The pool reserves address space up front (4 GiB + guard per memory slot); a
                // process under a tight `ulimit -v` still gets a working sandbox.
                Err(e) => (Engine::new(&engine_config(options.metering, None))?, 0, Some(format!("{e:#}"))),
            }
        } else {
            (Engine::new(&engine_config(options.metering, None))?, 0, None)
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut RunState| &mut s.wasi)?;
        // wasmtime-wasi refuses a status >= 126 (read as u32, so every negative one too) with
        // a plain error, which would end the run as a trap with no code. Hermes keeps whatever
        // i32 the guest gave: exit(255) is 255, exit(-1) is -1.
        linker.allow_shadowing(true);
        linker.func_wrap("wasi_snapshot_preview1", "proc_exit", |_: Caller<'_, RunState>, status: i32| {
            Err::<(), _>(wasmtime::Error::new(I32Exit(status)))
        })?;
        linker.allow_shadowing(false);
        let capacity = NonZeroUsize::new(options.cache_capacity.max(1)).unwrap();
        let permits = if pool_size > 0 { pool_size as usize } else { Semaphore::MAX_PERMITS };
        let this = Arc::new(Self {
            engine,
            metering: options.metering,
            pool_size,
            pool_error,
            slots: Arc::new(Semaphore::new(permits)),
            linker,
            cache: Mutex::new(LruCache::new(capacity)),
        });
        spawn_ticker(Arc::downgrade(&this));
        Ok(this)
    }

    /// Compile and link `bytes`, or return the cached result for its hash. Fails with a
    /// message meant for the uploader when the bytes are not a runnable WASI command.
    pub fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Arc<Compiled>> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        if let Some(hit) = self.cached(&sha256) {
            return Ok(hit);
        }
        if !bytes.starts_with(b"\0asm") {
            wasmtime::bail!("not a WebAssembly binary (missing \\0asm header)");
        }
        let module = Module::from_binary(&self.engine, bytes)?;
        match module.get_export("_start") {
            Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
            Some(ExternType::Func(ty)) => {
                wasmtime::bail!("`_start` must have type () -> (), but it is {ty}")
            }
            _ => wasmtime::bail!("module does not export a `_start` function (not a WASI command)"),
        }
        // WASI reads and writes guest buffers through the export named `memory`.
        match module.get_export("memory") {
            Some(ExternType::Memory(_)) => {}
            _ => wasmtime::bail!("module does not export its linear memory as `memory` (WASI needs it)"),
        }
        // Resolving imports here rejects anything beyond WASI preview 1 at upload time.
        let pre = self.linker.instantiate_pre(&module)?;
        let compiled = Arc::new(Compiled { sha256: sha256.clone(), pre });
        self.cache.lock().unwrap().put(sha256, compiled.clone());
        Ok(compiled)
    }

    pub fn cached(&self, sha256: &str) -> Option<Arc<Compiled>> {
        self.cache.lock().unwrap().get(sha256).cloned()
    }

    pub fn cache_len(&self) -> usize {
        self.cache.lock().unwrap().len()
    }
}

fn spawn_ticker(engine: Weak<SandboxEngine>) {
    std::thread::Builder::new()
        .name("hermes-sandbox-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match engine.upgrade() {
                Some(e) => e.engine.increment_epoch(),
                None => break,
            }
        })
        .expect("spawn epoch ticker");
}
