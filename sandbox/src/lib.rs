//! Node binding for the Hermes sandbox. Every run is a task on the addon's Tokio worker
//! threads; the JS side gets a Promise and can cancel by run id. Nothing a guest does can
//! panic or abort the host: guest faults are wasmtime traps, and a panic in a run becomes a
//! rejected Promise.

mod capped_pipe;
mod engine;
mod limits;
mod run;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::{EngineOptions, Metering, SandboxEngine};
use run::{RunSpec, StopFlag};

#[napi(object)]
pub struct SandboxOptions {
    /// How many compiled modules to keep, least recently used evicted first.
    pub cache_capacity: Option<u32>,
    /// "fuel" (default): count and budget wasmtime fuel (exact, deterministic); "epoch": no
    /// fuel, the cost is the run's CPU time. Both have the epoch deadline and report CPU time.
    pub metering: Option<String>,
    /// Instance slots of the pooling allocator (default 64); 0 maps every run's memory, tables
    /// and stack on demand. Runs beyond it wait for a slot.
    pub pool_size: Option<u32>,
    /// Largest `memory_bytes` a run may be given (default and ceiling: 4 GiB, all a 32-bit
    /// module can address).
    pub max_memory_bytes: Option<i64>,
}

#[napi(object)]
pub struct CompileResult {
    pub sha256: String,
    pub size: u32,
}

#[napi(object)]
pub struct RunRequest {
    /// Module bytes; optional when `module_sha256` is already cached.
    pub module: Option<Buffer>,
    pub module_sha256: Option<String>,
    pub stdin: Option<Buffer>,
    pub args: Option<Vec<String>>,
    pub env: Option<HashMap<String, String>>,
    pub fuel: i64,
    pub memory_bytes: i64,
    pub timeout_ms: u32,
    pub output_bytes: u32,
    /// Lets `cancel(run_id)` stop this run.
    pub run_id: Option<String>,
}

#[napi(object)]
pub struct RunResult {
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub stdout: Buffer,
    pub stderr: Buffer,
    /// Fuel burnt; 0 when the sandbox does not meter fuel (`metering` is "epoch").
    pub fuel_consumed: i64,
    pub duration_ms: f64,
    /// CPU time spent on the run, in microseconds, whatever the metering.
    pub cpu_time_us: i64,
    /// "fuel" or "epoch": how this run was metered.
    pub metering: String,
    pub message: Option<String>,
    pub module_sha256: String,
}

#[napi]
pub struct Sandbox {
    engine: Arc<SandboxEngine>,
    runs: Arc<Mutex<HashMap<String, Arc<StopFlag>>>>,
}

fn invalid_module(e: wasmtime::Error) -> Error {
    Error::new(Status::InvalidArg, format!("INVALID_MODULE: {}", first_line(&e)))
}

fn first_line(e: &wasmtime::Error) -> String {
    // "failed to parse WebAssembly module" alone says nothing; keep the cause chain, one line.
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    chain.join(": ").lines().next().unwrap_or("").to_string()
}

#[napi]
impl Sandbox {
    #[napi(constructor)]
    pub fn new(options: Option<SandboxOptions>) -> Result<Self> {
        let o = options.unwrap_or(SandboxOptions { cache_capacity: None, metering: None, pool_size: None, max_memory_bytes: None });
        let metering = match o.metering.as_deref() {
            None | Some("fuel") => Metering::Fuel,
            Some("epoch") => Metering::Epoch,
            Some(other) => {
                return Err(Error::new(Status::InvalidArg, format!("metering must be \"epoch\" or \"fuel\", not {other:?}")))
            }
        };
        let engine = SandboxEngine::new(EngineOptions {
            cache_capacity: o.cache_capacity.unwrap_or(64) as usize,
            metering,
            pool_size: o.pool_size.unwrap_or(64),
            max_memory_bytes: o.max_memory_bytes.map(|b| b.max(0) as usize).unwrap_or(usize::MAX),
        })
        .map_err(|e| Error::from_reason(format!("sandbox engine: {e}")))?;
        Ok(Self { engine, runs: Arc::new(Mutex::new(HashMap::new())) })
    }

    /// "fuel" or "epoch".
    #[napi(getter)]
    pub fn metering(&self) -> String {
        self.engine.metering.as_str().to_string()
    }

    /// Instance slots of the pooling allocator; 0 when resources are mapped per run.
    #[napi(getter)]
    pub fn pool_size(&self) -> u32 {
        self.engine.pool_size
    }

    /// Why the pooling allocator could not be set up, when it could not.
    #[napi(getter)]
    pub fn pool_error(&self) -> Option<String> {
        self.engine.pool_error.clone()
    }

    /// Validate by compiling and linking against WASI preview 1; caches the result.
    #[napi]
    pub async fn compile(&self, module: Buffer) -> Result<CompileResult> {
        let engine = self.engine.clone();
        let bytes = module.to_vec();
        let size = bytes.len() as u32;
        let compiled = tokio::task::spawn_blocking(move || engine.compile(&bytes))
            .await
            .map_err(|e| Error::from_reason(format!("compile task failed: {e}")))?
            .map_err(invalid_module)?;
        Ok(CompileResult { sha256: compiled.sha256.clone(), size })
    }

    #[napi]
    pub fn has_module(&self, sha256: String) -> bool {
        self.engine.cached(&sha256).is_some()
    }

    #[napi(getter)]
    pub fn cached_modules(&self) -> u32 {
        self.engine.cache_len() as u32
    }

    #[napi]
    pub fn cancel(&self, run_id: String) -> bool {
        match self.runs.lock().unwrap().get(&run_id) {
            Some(flag) => {
                flag.cancel();
                true
            }
            None => false,
        }
    }

    #[napi]
    pub async fn run(&self, mut request: RunRequest) -> Result<RunResult> {
        check_limits(&request)?;
        let engine = self.engine.clone();
        let module = request.module.take().map(|b| b.to_vec());
        let wanted = request.module_sha256.clone();
        let compiled = match (module, wanted) {
            (Some(bytes), wanted) => {
                let engine = engine.clone();
                let compiled = tokio::task::spawn_blocking(move || engine.compile(&bytes))
                    .await
                    .map_err(|e| Error::from_reason(format!("compile task failed: {e}")))?
                    .map_err(invalid_module)?;
                if let Some(w) = wanted {
                    if w != compiled.sha256 {
                        return Err(Error::new(
                            Status::InvalidArg,
                            format!("HASH_MISMATCH: expected {w}, module hashes to {}", compiled.sha256),
                        ));
                    }
                }
                compiled
            }
            (None, Some(sha)) => engine.cached(&sha).ok_or_else(|| {
                Error::new(Status::InvalidArg, format!("MODULE_NOT_CACHED: {sha}"))
            })?,
            (None, None) => {
                return Err(Error::new(Status::InvalidArg, "module or module_sha256 is required".to_string()))
            }
        };

        self.begin(compiled, request).await
    }

    /// `run` for a module already compiled here (by `module_sha256`), started on the calling
    /// thread: a run that finishes within its first slice (at most one fuel chunk of guest
    /// code, well under a millisecond) returns its result at once, without a hand-off to a
    /// worker thread and back; any other goes on as `run` does and returns a Promise. Epoch-only
    /// metering has no slice that short (a guest yields at the next 5 ms tick), so there every
    /// run returns a Promise.
    #[napi]
    pub fn run_cached<'env>(
        &self,
        env: &'env Env,
        request: RunRequest,
    ) -> Result<Either<RunResult, PromiseRaw<'env, RunResult>>> {
        check_limits(&request)?;
        if request.module.is_some() {
            return Err(Error::new(Status::InvalidArg, "run_cached takes module_sha256, not module bytes".to_string()));
        }
        let sha = request
            .module_sha256
            .clone()
            .ok_or_else(|| Error::new(Status::InvalidArg, "module or module_sha256 is required".to_string()))?;
        let compiled = self
            .engine
            .cached(&sha)
            .ok_or_else(|| Error::new(Status::InvalidArg, format!("MODULE_NOT_CACHED: {sha}")))?;
        let mut run = Box::pin(self.begin(compiled, request));
        if self.engine.metering == Metering::Fuel {
            // A no-op waker: should the run be pending, the task spawned below polls it again
            // at once and registers its own.
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let polled = napi::bindgen_prelude::within_runtime_if_available(|| std::future::Future::poll(run.as_mut(), &mut cx));
            if let std::task::Poll::Ready(result) = polled {
                return result.map(Either::A);
            }
        }
        env.spawn_future(run).map(Either::B)
    }
}

fn check_limits(request: &RunRequest) -> Result<()> {
    if request.fuel <= 0 || request.memory_bytes <= 0 || request.timeout_ms == 0 || request.output_bytes == 0 {
        return Err(Error::new(
            Status::InvalidArg,
            "fuel, memory_bytes, timeout_ms and output_bytes must be positive".to_string(),
        ));
    }
    Ok(())
}

impl Sandbox {
    /// The run itself, registered for `cancel` until it ends. Polled on the addon's Tokio
    /// workers (or first on the caller's thread, by `run_cached`); a panic in the run is
    /// caught by run::execute and comes back as an error.
    fn begin(&self, compiled: Arc<engine::Compiled>, request: RunRequest) -> impl std::future::Future<Output = Result<RunResult>> + Send + 'static {
        let spec = RunSpec {
            stdin: request.stdin.map(|b| b.to_vec()).unwrap_or_default(),
            args: request.args.unwrap_or_default(),
            env: request.env.map(|m| m.into_iter().collect()).unwrap_or_default(),
            fuel: request.fuel as u64,
            memory_bytes: request.memory_bytes as usize,
            timeout: Duration::from_millis(request.timeout_ms as u64),
            output_bytes: request.output_bytes as usize,
        };
        let stop = Arc::new(StopFlag::default());
        let run_id = request.run_id;
        if let Some(id) = &run_id {
            self.runs.lock().unwrap().insert(id.clone(), stop.clone());
        }
        let engine = self.engine.clone();
        let runs = self.runs.clone();
        async move {
            let sha256 = compiled.sha256.clone();
            let metering = engine.metering.as_str().to_string();
            let outcome = run::execute(engine, compiled, spec, stop).await;
            if let Some(id) = &run_id {
                runs.lock().unwrap().remove(id);
            }
            let report = outcome.map_err(|e| Error::from_reason(format!("sandbox run failed: {e}")))?;
            Ok(RunResult {
                outcome: report.outcome.as_str().to_string(),
                exit_code: report.exit_code,
                stdout: report.stdout.into(),
                stderr: report.stderr.into(),
                fuel_consumed: report.fuel_consumed.unwrap_or(0) as i64,
                duration_ms: report.duration.as_secs_f64() * 1000.0,
                cpu_time_us: report.cpu_time.as_micros() as i64,
                metering,
                message: report.message,
                module_sha256: sha256,
            })
        }
    }
}

/// WebAssembly text to binary, for fixtures and tooling.
#[napi]
pub fn wat_to_wasm(text: String) -> Result<Buffer> {
    wat::parse_str(&text)
        .map(Buffer::from)
        .map_err(|e| Error::new(Status::InvalidArg, format!("INVALID_WAT: {e}")))
}
