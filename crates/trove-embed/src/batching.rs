//! [`BatchingEmbedder`]: merges small concurrent embedding requests (the one-query calls of a
//! server's searches and memory writes) into one call of the wrapped model. One dispatcher
//! thread takes every request waiting, embeds all their texts together, and hands each caller
//! its vectors; requests that arrive while a batch runs form the next one. At low load a
//! request runs alone at once (nothing waits for company); under load the model works on
//! larger batches, which it computes at a much better rate per text than one text at a time.
//! Results do not change: the model's output for a text does not depend on its batch.
//!
//! Large requests (ingest groups) bypass the dispatcher and call the model directly, so a
//! query never waits behind a long ingest batch in the queue.

use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::{EmbedError, Embedder, EmbedderWrapper};

/// Requests with more texts than this go straight to the model.
const MAX_MERGED_REQUEST: usize = 8;
/// A merged batch stops growing at this many texts.
const MAX_BATCH_TEXTS: usize = 64;

struct Request {
    texts: Vec<String>,
    reply: SyncSender<Result<Vec<Vec<f32>>, EmbedError>>,
}

/// An [`Embedder`] that merges small concurrent requests; see the module documentation.
pub struct BatchingEmbedder {
    inner: Arc<dyn Embedder>,
    queue: Mutex<Sender<Request>>,
}

impl std::fmt::Debug for BatchingEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingEmbedder").field("model", &self.inner.model_id()).finish_non_exhaustive()
    }
}

impl BatchingEmbedder {
    /// Wraps `inner` and starts the dispatcher thread (it stops when this value is dropped).
    pub fn new(inner: Arc<dyn Embedder>) -> Result<BatchingEmbedder, EmbedError> {
        let (tx, rx) = std::sync::mpsc::channel::<Request>();
        let model = inner.clone();
        std::thread::Builder::new()
            .name("trove-embed-batcher".into())
            .spawn(move || dispatch(model.as_ref(), &rx))
            .map_err(|e| EmbedError::Embedding(format!("cannot start the embedding batcher thread: {e}")))?;
        Ok(BatchingEmbedder { inner, queue: Mutex::new(tx) })
    }
}

/// Takes every waiting request (up to [`MAX_BATCH_TEXTS`] texts), embeds them in one call and
/// answers each; until the sending side is dropped.
fn dispatch(model: &dyn Embedder, rx: &Receiver<Request>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut texts = batch[0].texts.len();
        while texts < MAX_BATCH_TEXTS {
            match rx.try_recv() {
                Ok(r) => {
                    texts += r.texts.len();
                    batch.push(r);
                }
                Err(_) => break,
            }
        }
        let all: Vec<&str> = batch.iter().flat_map(|r| r.texts.iter().map(String::as_str)).collect();
        match model.embed(&all) {
            Ok(vectors) if vectors.len() == all.len() => {
                let mut vectors = vectors.into_iter();
                for r in batch {
                    let mine: Vec<Vec<f32>> = vectors.by_ref().take(r.texts.len()).collect();
                    let _ = r.reply.send(Ok(mine));
                }
            }
            // A failed batch: run each request alone, so each caller gets its own answer.
            _ => {
                for r in batch {
                    let refs: Vec<&str> = r.texts.iter().map(String::as_str).collect();
                    let _ = r.reply.send(model.embed(&refs));
                }
            }
        }
    }
}

impl EmbedderWrapper for BatchingEmbedder {
    fn inner(&self) -> &dyn Embedder {
        self.inner.as_ref()
    }

    fn embed_wrapped(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() || texts.len() > MAX_MERGED_REQUEST {
            return self.inner.embed(texts);
        }
        let (reply, answer) = sync_channel(1);
        let request = Request { texts: texts.iter().map(|t| t.to_string()).collect(), reply };
        let sent = self.queue.lock().unwrap_or_else(|e| e.into_inner()).send(request);
        if sent.is_err() {
            // The dispatcher is gone (it only stops when this value is dropped): embed here.
            return self.inner.embed(texts);
        }
        answer.recv().unwrap_or_else(|_| Err(EmbedError::Embedding("the embedding batcher stopped".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A deterministic embedder that counts its calls: each text's vector is its length and
    /// its first byte.
    struct Counting {
        calls: AtomicUsize,
        texts: AtomicUsize,
    }

    impl Embedder for Counting {
        fn model_id(&self) -> &str {
            "counting"
        }
        fn dimension(&self) -> usize {
            2
        }
        fn max_input_tokens(&self) -> usize {
            16
        }
        fn count_tokens(&self, text: &str) -> usize {
            text.len()
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.texts.fetch_add(texts.len(), Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            if texts.contains(&"fail") {
                return Err(EmbedError::Embedding("asked to fail".into()));
            }
            Ok(texts.iter().map(|t| vec![t.len() as f32, t.bytes().next().unwrap_or(0) as f32]).collect())
        }
    }

    #[test]
    fn concurrent_requests_are_merged_and_each_gets_its_own_vectors() {
        let inner = Arc::new(Counting { calls: AtomicUsize::new(0), texts: AtomicUsize::new(0) });
        let batching = Arc::new(BatchingEmbedder::new(inner.clone()).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let b = batching.clone();
                std::thread::spawn(move || {
                    let text = "x".repeat(i + 1);
                    for _ in 0..5 {
                        let v = b.embed(&[&text, "a"]).unwrap();
                        assert_eq!(v, vec![vec![(i + 1) as f32, b'x' as f32], vec![1.0, b'a' as f32]]);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(inner.texts.load(Ordering::SeqCst), 16 * 5 * 2, "every text embedded once");
        assert!(
            inner.calls.load(Ordering::SeqCst) < 80,
            "requests were merged: {} calls",
            inner.calls.load(Ordering::SeqCst)
        );
    }

    #[test]
    fn a_failing_request_fails_alone_and_large_requests_bypass_the_queue() {
        let inner = Arc::new(Counting { calls: AtomicUsize::new(0), texts: AtomicUsize::new(0) });
        let batching = Arc::new(BatchingEmbedder::new(inner.clone()).unwrap());
        let b = batching.clone();
        let bad = std::thread::spawn(move || b.embed(&["fail"]));
        let good = batching.embed(&["fine"]).unwrap();
        assert_eq!(good, vec![vec![4.0, b'f' as f32]]);
        assert!(bad.join().unwrap().is_err());
        let many: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(batching.embed(&refs).unwrap().len(), 20);
        assert!(batching.embed(&[]).unwrap().is_empty());
    }
}
