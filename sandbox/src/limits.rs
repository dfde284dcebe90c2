//! Per-run memory and table limits. Growing past the cap traps at once (rather than making
//! memory.grow return -1) so a hostile or buggy module stops with a clear `memory_limit`
//! outcome instead of limping on with failed allocations.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasmtime::ResourceLimiter;

pub const MAX_TABLE_ELEMENTS: usize = 100_000;
pub const MAX_TABLES: usize = 8;

pub struct RunLimits {
    pub memory_cap: usize,
    pub hit: Arc<AtomicBool>,
}

impl ResourceLimiter for RunLimits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.hit.store(true, Ordering::SeqCst);
            wasmtime::bail!("memory limit of {} bytes exceeded (wanted {desired})", self.memory_cap);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit.store(true, Ordering::SeqCst);
            wasmtime::bail!("table limit of {MAX_TABLE_ELEMENTS} elements exceeded");
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        1
    }
}
