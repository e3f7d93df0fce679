//! A fake embedder for engine tests: bag-of-words vectors under a model name of the test's
//! choosing, counting its calls and inputs, and failing every call after `fail_after`.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use trove_embed::{EmbedError, Embedder};

/// Bag-of-words vectors named `model`; fails every call after `fail_after` calls.
pub struct Fake {
    pub model: String,
    pub dim: usize,
    pub calls: AtomicUsize,
    pub inputs: AtomicUsize,
    pub fail_after: usize,
}

impl Fake {
    pub fn new(model: &str, dim: usize, fail_after: usize) -> Arc<Fake> {
        Arc::new(Fake { model: model.into(), dim, calls: AtomicUsize::new(0), inputs: AtomicUsize::new(0), fail_after })
    }
}

impl Embedder for Fake {
    fn model_id(&self) -> &str {
        &self.model
    }
    fn dimension(&self) -> usize {
        self.dim
    }
    fn max_input_tokens(&self) -> usize {
        512
    }
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.fail_after {
            return Err(EmbedError::Embedding("the connection was lost".into()));
        }
        self.inputs.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0; self.dim];
                for w in t.split_whitespace() {
                    v[w.bytes().map(usize::from).sum::<usize>() % self.dim] += 1.0;
                }
                v
            })
            .collect())
    }
}
