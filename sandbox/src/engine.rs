//! One wasmtime engine per Sandbox: fuel metering, epoch interruption driven by a ticker
//! thread, async support (so a guest blocked in a host call such as a WASI sleep can still be
//! timed out or cancelled), and a bounded cache of linked modules keyed by SHA-256.

use lru::LruCache;
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use wasmtime::{Caller, Config, Engine, ExternType, InstancePre, Linker, Module, OptLevel};
use wasmtime_wasi::I32Exit;

use crate::run::RunState;

/// How often the epoch advances; the granularity of deadlines and cancellation.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Wasm stack for guest code; deep recursion traps with "call stack exhausted" past this.
const MAX_WASM_STACK: usize = 1 << 20;

pub struct Compiled {
    pub sha256: String,
    pub pre: InstancePre<RunState>,
}

pub struct SandboxEngine {
    pub engine: Engine,
    linker: Linker<RunState>,
    cache: Mutex<LruCache<String, Arc<Compiled>>>,
}

impl SandboxEngine {
    pub fn new(cache_capacity: usize) -> wasmtime::Result<Arc<Self>> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(MAX_WASM_STACK + (1 << 20))
            .cranelift_opt_level(OptLevel::Speed);
        let engine = Engine::new(&config)?;
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
        let capacity = NonZeroUsize::new(cache_capacity.max(1)).unwrap();
        let this = Arc::new(Self { engine, linker, cache: Mutex::new(LruCache::new(capacity)) });
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
