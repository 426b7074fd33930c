//! Rendered certificate-level artwork, kept in bounded memory: a large PNG costs tens of
//! milliseconds of CPU, so each distinct picture is drawn once and then served from here.
//!
//! The key holds everything the picture depends on (the record version, the QR code's URL, the
//! level, the format and the parameters), so a change of the certificate draws new art. Equal
//! requests that arrive together wait for one drawing, and at most one drawing per core runs at
//! once, whatever the number of requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Bytes of artwork kept at most.
pub const MAX_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// What a picture depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArtKey {
    pub number: String,
    pub version: u32,
    /// The URL the QR code leads to (it carries the signed token).
    pub url: String,
    pub level: &'static str,
    pub png: bool,
    /// The printed width in tenths of a millimetre.
    pub size_tenth_mm: u32,
    pub dpi: u32,
}

/// A drawn picture with its entity tag.
#[derive(Debug)]
pub struct Art {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    /// A strong entity tag: a digest of the bytes, quoted.
    pub etag: String,
}

impl Art {
    pub fn new(body: Vec<u8>, content_type: &'static str) -> Self {
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
        Self { body, content_type, etag }
    }
}

/// The cache, the drawing permits and the count of drawings (for `/metrics`).
pub struct ArtworkCache {
    cache: moka::future::Cache<ArtKey, Arc<Art>>,
    drawing: Semaphore,
    renders: AtomicU64,
}

impl Default for ArtworkCache {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(MAX_CACHE_BYTES)
                .weigher(|_, art: &Arc<Art>| u32::try_from(art.body.len()).unwrap_or(u32::MAX))
                .build(),
            drawing: Semaphore::new(cores),
            renders: AtomicU64::new(0),
        }
    }
}

impl ArtworkCache {
    /// The picture of `key`, drawn by `draw` (on a blocking thread) only when it is not kept.
    pub async fn get_or_draw<E>(
        &self,
        key: ArtKey,
        draw: impl FnOnce() -> Result<Art, E> + Send + 'static,
    ) -> Result<Arc<Art>, Arc<DrawError<E>>>
    where
        E: Send + Sync + 'static,
    {
        self.cache
            .try_get_with(key, async {
                let _permit = self.drawing.acquire().await.map_err(|_| DrawError::Stopped)?;
                self.renders.fetch_add(1, Ordering::Relaxed);
                match tokio::task::spawn_blocking(draw).await {
                    Ok(Ok(art)) => Ok(Arc::new(art)),
                    Ok(Err(e)) => Err(DrawError::Art(e)),
                    Err(_) => Err(DrawError::Stopped),
                }
            })
            .await
    }

    /// Pictures drawn since start (each a cache miss).
    pub fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    /// Bytes of pictures kept, once moka's pending bookkeeping has run (see
    /// [`crate::cache::AnswerCache::weighed_bytes`]); for metrics scrapes.
    pub async fn weighed_bytes(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }
}

/// Why a picture could not be drawn.
#[derive(Debug)]
pub enum DrawError<E> {
    /// The drawing itself failed.
    Art(E),
    /// The drawing thread was lost (the server is stopping).
    Stopped,
}
