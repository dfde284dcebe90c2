//! Stdout/stderr for a guest: an in-memory buffer that traps the guest the moment it writes
//! past its cap. wasmtime-wasi's own MemoryOutputPipe only reports "closed" once full, so a
//! flooding guest would keep spinning until fuel or the deadline stopped it.

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Clone)]
pub struct CappedPipe {
    cap: usize,
    buffer: Arc<Mutex<Vec<u8>>>,
    overflowed: Arc<AtomicBool>,
}

impl CappedPipe {
    pub fn new(cap: usize, overflowed: Arc<AtomicBool>) -> Self {
        Self { cap, buffer: Arc::new(Mutex::new(Vec::new())), overflowed }
    }

    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buffer.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        let mut buf = self.buffer.lock().unwrap();
        let room = self.cap - buf.len();
        if bytes.len() > room {
            // Keep what fits so the caller sees the start of the flood.
            buf.extend_from_slice(&bytes[..room]);
            self.overflowed.store(true, Ordering::SeqCst);
            return Err(StreamError::Trap(wasmtime::format_err!(
                "output limit of {} bytes exceeded",
                self.cap
            )));
        }
        buf.extend_from_slice(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always admit a full chunk: the overflow must reach write() to trap.
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match OutputStream::write(this, Bytes::copy_from_slice(buf)) {
            Ok(()) => std::task::Poll::Ready(Ok(buf.len())),
            Err(_) => std::task::Poll::Ready(Err(std::io::Error::other("output limit exceeded"))),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
