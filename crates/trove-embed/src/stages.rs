//! Where the time of an embedding call goes: [`StageTimes`], filled by
//! [`crate::LocalEmbedder::embed_timed`] for the benchmark (ordinary calls time nothing).
//!
//! Each stage of the forward pass records two figures: its wall time (from the calling
//! thread's view, start of the stage to its end, barriers included) and its busy time (the
//! time threads spent doing its work, summed over threads). `busy ÷ (wall × threads)` is the
//! stage's thread utilisation: below 1, threads waited (for a barrier, an unbalanced split, or
//! the operating system giving their core to another process).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A stage of an embedding call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Wordpiece tokenization of the inputs.
    Tokenize,
    /// Token + position embeddings and their LayerNorm.
    Embeddings,
    /// The fused query/key/value product of every layer (with its bias).
    Qkv,
    /// Self-attention of every layer: scores, softmax, context.
    Attention,
    /// The attention output product, residual and LayerNorm, the feed-forward products, GELU,
    /// residual and LayerNorm of every layer.
    FeedForward,
    /// Mean pooling and normalisation of the outputs.
    Pooling,
}

impl Stage {
    /// Every stage, in the order a call runs them.
    pub const ALL: [Stage; 6] =
        [Stage::Tokenize, Stage::Embeddings, Stage::Qkv, Stage::Attention, Stage::FeedForward, Stage::Pooling];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Tokenize => "tokenize",
            Stage::Embeddings => "embeddings",
            Stage::Qkv => "QKV product",
            Stage::Attention => "attention",
            Stage::FeedForward => "attention output + feed-forward",
            Stage::Pooling => "pooling",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Wall and busy time of one stage, summed over calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTime {
    /// From the stage's start to its end, as the calling thread saw it.
    pub wall: Duration,
    /// Time threads spent working on the stage, summed over threads.
    pub busy: Duration,
}

/// Per-stage times of the embedding calls passed the same collector.
#[derive(Debug, Default)]
pub struct StageTimes {
    wall: [AtomicU64; Stage::ALL.len()],
    busy: [AtomicU64; Stage::ALL.len()],
}

impl StageTimes {
    /// A collector with every stage at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The times recorded for `stage`.
    pub fn get(&self, stage: Stage) -> StageTime {
        let nanos = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        StageTime { wall: nanos(&self.wall[stage.index()]), busy: nanos(&self.busy[stage.index()]) }
    }

    /// Every stage with its times, in call order.
    pub fn all(&self) -> impl Iterator<Item = (Stage, StageTime)> + '_ {
        Stage::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

/// Runs `f`, adding its duration to the slot `pick` chooses, when timing.
fn timed<R>(times: Option<&StageTimes>, pick: impl FnOnce(&StageTimes) -> &AtomicU64, f: impl FnOnce() -> R) -> R {
    let Some(t) = times else { return f() };
    let started = Instant::now();
    let out = f();
    pick(t).fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    out
}

/// Runs `f` as (part of) the wall time of `stage`, when timing.
pub(crate) fn phase<R>(times: Option<&StageTimes>, stage: Stage, f: impl FnOnce() -> R) -> R {
    timed(times, |t| &t.wall[stage.index()], f)
}

/// Runs `f` as one thread's work on `stage`, when timing.
pub(crate) fn work<R>(times: Option<&StageTimes>, stage: Stage, f: impl FnOnce() -> R) -> R {
    timed(times, |t| &t.busy[stage.index()], f)
}

/// Runs `f` as both the wall and the busy time of `stage` (work of the calling thread alone).
pub(crate) fn serial<R>(times: Option<&StageTimes>, stage: Stage, f: impl FnOnce() -> R) -> R {
    phase(times, stage, || work(times, stage, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_work_add_up_per_stage() {
        let t = StageTimes::new();
        assert!(t.all().all(|(_, time)| time == StageTime::default()));
        let spin = |d: Duration| {
            let s = Instant::now();
            while s.elapsed() < d {}
        };
        phase(Some(&t), Stage::Qkv, || {
            work(Some(&t), Stage::Qkv, || spin(Duration::from_millis(2)));
            work(Some(&t), Stage::Qkv, || spin(Duration::from_millis(2)));
        });
        serial(Some(&t), Stage::Pooling, || spin(Duration::from_millis(1)));
        let qkv = t.get(Stage::Qkv);
        assert!(qkv.busy >= Duration::from_millis(4) && qkv.wall >= qkv.busy, "{qkv:?}");
        let pooling = t.get(Stage::Pooling);
        assert!(pooling.busy >= Duration::from_millis(1) && pooling.wall >= pooling.busy, "{pooling:?}");
        assert_eq!(t.get(Stage::Attention), StageTime::default());
        // Without a collector nothing is timed and the result passes through.
        assert_eq!(phase(None, Stage::Qkv, || work(None, Stage::Qkv, || 7)), 7);
    }
}
