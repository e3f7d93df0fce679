//! Multi-head self-attention of sequences packed one after another (no padding): for each
//! sequence and head, scores = Q Kᵀ (Q comes pre-scaled by `1/sqrt(head_dim)`), softmax in
//! place, context = P V, written straight into the head's columns of the sequence's rows.
//!
//! Both products run on the micro-kernels of the weight products ([`super::packed`]): each task
//! packs its head's keys (transposed) and values into the kernel's panel layout (`len × dh`
//! values each, against `len² · dh` multiply-adds per product), then multiplies by reading the
//! queries and the scores in place. Without AVX2 the `gemm` crate does both products.
//!
//! Every (sequence, head) pair is a task; tasks go to threads as they free up
//! ([`crate::parallel::for_each_dynamic`]), longest sequences first so that the last tasks are
//! the shortest. Tasks write disjoint blocks of the context (their sequence's rows × their
//! head's columns), so they write in place instead of into buffers gathered afterwards.

use std::cell::RefCell;

use super::packed::{Kernel, SendPtr, pack, packed_product};
use super::{Threads, View, gemm_raw, softmax_rows};
use crate::parallel::for_each_dynamic;
use crate::stages::{self, Stage, StageTimes};

/// Buffers of one task, kept per thread and reused.
#[derive(Default)]
struct Buffers {
    /// `len × len` scores, then probabilities.
    scores: Vec<f32>,
    /// The head's keys, transposed (`dh × len`), packed.
    keys: Vec<f32>,
    /// The head's values (`len × dh`), packed.
    values: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Attention of every sequence of `lens` (consecutive rows of `qkv`, each `3 · hidden` wide:
/// queries, keys, values) into `context` (rows `hidden` wide), with `heads` heads, on up to
/// `threads` threads of the current rayon pool; each task's time is added to `times`.
///
/// Panics if `hidden` is not a multiple of `heads` or a buffer is too short.
pub(crate) fn attention(
    qkv: &[f32],
    context: &mut [f32],
    lens: &[usize],
    shape: (usize, usize),
    threads: Threads,
    times: Option<&StageTimes>,
) {
    attention_on(Kernel::best(), qkv, context, lens, shape, threads, times);
}

/// [`attention`] on `kernel`'s products (the `gemm` crate's with `None`).
fn attention_on(
    kernel: Option<Kernel>,
    qkv: &[f32],
    context: &mut [f32],
    lens: &[usize],
    (hidden, heads): (usize, usize),
    threads: Threads,
    times: Option<&StageTimes>,
) {
    assert!(heads > 0 && hidden.is_multiple_of(heads), "attention: {hidden} columns in {heads} heads");
    let rows: usize = lens.iter().sum();
    assert!(qkv.len() >= rows * 3 * hidden && context.len() >= rows * hidden, "attention: buffers too short");
    let dh = hidden / heads;
    let starts: Vec<usize> = lens
        .iter()
        .scan(0, |next, &len| {
            let start = *next;
            *next += len;
            Some(start)
        })
        .collect();
    let mut order: Vec<usize> = (0..lens.len()).filter(|&s| lens[s] > 0).collect();
    order.sort_by_key(|&s| std::cmp::Reverse(lens[s]));
    let tasks: Vec<(usize, usize)> = order.iter().flat_map(|&s| (0..heads).map(move |hd| (s, hd))).collect();
    let out = SendPtr(context.as_mut_ptr());
    for_each_dynamic(threads.0, tasks.len(), |t| {
        stages::work(times, Stage::Attention, || {
            let (seq, hd) = tasks[t];
            let (start, len) = (starts[seq], lens[seq]);
            let seq_qkv = &qkv[start * 3 * hidden..(start + len) * 3 * hidden];
            // Taken, not borrowed, in case rayon runs another task on this thread meanwhile.
            let mut buf = BUFFERS.take();
            buf.scores.resize(len * len, 0.0);
            let queries = &seq_qkv[hd * dh..];
            let keys_t = View { data: &seq_qkv[hidden + hd * dh..], rs: 1, cs: 3 * hidden };
            let values = View { data: &seq_qkv[2 * hidden + hd * dh..], rs: 3 * hidden, cs: 1 };
            // This task's block of the context: rows `start..start + len` × columns
            // `hd·dh..(hd+1)·dh`, inside `context` (asserted above) and this task's alone: tasks
            // are distinct (sequence, head) pairs, sequences own disjoint rows and heads disjoint
            // columns; `context` stays mutably borrowed, untouched, until every task is done.
            let block = out.get().wrapping_add(start * hidden + hd * dh);
            match kernel {
                Some(kernel) => {
                    pack(&mut buf.keys, keys_t, (dh, len), kernel);
                    let panels = len.div_ceil(kernel.nr());
                    // SAFETY: `scores` holds `len × len` floats and is this task's own.
                    unsafe {
                        let scores = buf.scores.as_mut_ptr();
                        packed_product(
                            kernel,
                            scores,
                            len,
                            queries,
                            3 * hidden,
                            &buf.keys,
                            (len, len, dh),
                            0..panels,
                            false,
                        )
                    };
                    softmax_rows(&mut buf.scores, len);
                    pack(&mut buf.values, values, (len, dh), kernel);
                    let panels = dh.div_ceil(kernel.nr());
                    // SAFETY: `block` is this task's, as above.
                    unsafe {
                        packed_product(
                            kernel,
                            block,
                            hidden,
                            &buf.scores,
                            len,
                            &buf.values,
                            (len, dh, len),
                            0..panels,
                            false,
                        )
                    };
                }
                None => {
                    let q = View { data: queries, rs: 3 * hidden, cs: 1 };
                    // SAFETY: `scores` holds `len × len` floats and is this task's own.
                    unsafe { gemm_raw(buf.scores.as_mut_ptr(), len, q, keys_t, (len, len, dh), false, Threads(1)) };
                    softmax_rows(&mut buf.scores, len);
                    let p = View { data: &buf.scores, rs: len, cs: 1 };
                    // SAFETY: `block` is this task's, as above.
                    unsafe { gemm_raw(block, hidden, p, values, (len, dh, len), false, Threads(1)) };
                }
            }
            BUFFERS.set(buf);
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;

    /// Attention of one sequence and head in f64, straight from the definition.
    fn naive(qkv: &[f32], start: usize, len: usize, hidden: usize, dh: usize, hd: usize) -> Vec<f64> {
        let at =
            |r: usize, part: usize, c: usize| f64::from(qkv[(start + r) * 3 * hidden + part * hidden + hd * dh + c]);
        let mut out = vec![0f64; len * dh];
        for i in 0..len {
            let scores: Vec<f64> = (0..len).map(|j| (0..dh).map(|c| at(i, 0, c) * at(j, 1, c)).sum()).collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = exps.iter().sum();
            for c in 0..dh {
                out[i * dh + c] = (0..len).map(|j| exps[j] / total * at(j, 2, c)).sum();
            }
        }
        out
    }

    #[test]
    fn matches_naive_attention_on_ragged_sequences_kernels_and_thread_counts() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let mut rng = Rng(0xA77E_4710_0000_0001);
        // Heads of 8 columns (a part of a panel) and of 40 (more than one).
        for (hidden, heads) in [(24, 3), (80, 2)] {
            let dh = hidden / heads;
            for lens in [vec![5], vec![1, 17, 0, 40, 3], vec![64, 64, 2], vec![200]] {
                let rows: usize = lens.iter().sum();
                let qkv = rng.fill(rows * 3 * hidden, 1.0, 0.0);
                let kernels = [None, Some(Kernel::Avx2), Some(Kernel::Avx512)];
                for kernel in kernels.into_iter().filter(|k| k.is_none_or(Kernel::available)) {
                    for threads in [1, 2, 3] {
                        let mut context = vec![f32::NAN; rows * hidden];
                        let shape = (hidden, heads);
                        pool.install(|| attention_on(kernel, &qkv, &mut context, &lens, shape, Threads(threads), None));
                        let mut start = 0;
                        for &len in &lens {
                            for hd in 0..heads {
                                let want = naive(&qkv, start, len, hidden, dh, hd);
                                for i in 0..len {
                                    for c in 0..dh {
                                        let got = context[(start + i) * hidden + hd * dh + c];
                                        let w = want[i * dh + c];
                                        let what = format!("{hidden}/{heads}, {lens:?}, {kernel:?}, {threads} threads");
                                        assert!((f64::from(got) - w).abs() < 1e-5, "{what}: {got} vs {w}");
                                    }
                                }
                            }
                            start += len;
                        }
                    }
                }
            }
        }
    }
}
