//! Matrix products with a constant right operand (a layer's weights), packed once at load time,
//! cut into tiles that threads take as they free up.
//!
//! A general GEMM re-packs both operands on every call; for the short inputs of a search query
//! (a dozen tokens) re-packing 1.7 MB of weights costs as much as multiplying them. Here the
//! weights are laid out once in the order a micro-kernel reads them: blocks of `kc` rows of the
//! `k × n` matrix, each cut into panels of `nr` columns stored row after row (the last panel
//! zero-padded). Two micro-kernels, picked at load time by what the CPU has ([`Kernel`]):
//!
//! - AVX-512F: a 12 × 32 tile of the result in 24 `zmm` registers, panels of 32 columns,
//!   blocks of 192 rows (a panel, 24 KiB, stays in L1 while the tile's rows stream past);
//! - AVX2 + FMA: a 6 × 16 tile in twelve `ymm` registers, panels of 16 columns, blocks of 384
//!   rows (24 KiB).
//!
//! Both read the left operand (activations, row-major, never copied) by broadcast, one
//! element of each tile row per step, and one packed panel row per step, so they run at the
//! FMA limit of the core; edge tiles (fewer rows, a last panel with fewer columns) run the
//! same code with fewer accumulators and masked stores.
//!
//! [`WeightMatrix::matmul_then`] cuts a product into tiles (blocks of up to [`BLOCK_ROWS`] rows
//! × groups of panels, see [`Grid`]) and hands them to threads as they free up
//! ([`crate::parallel::for_each_dynamic`]): a thread slowed down by another process takes fewer
//! tiles, and both stay busy until the last one. What follows a product row by row (bias,
//! activation, residual and LayerNorm) runs on the thread that made the values, while they
//! are in its cache: per tile row ([`Hooks::tile_row`]), or once per block of rows when its
//! last tile is done ([`Hooks::rows`]; LayerNorm needs whole rows).
//!
//! [`WeightMatrix`] chooses at load time: packed where the CPU has AVX2 + FMA, otherwise the
//! plain row-major matrix multiplied through the `gemm` crate tile by tile; or, for
//! [`Precision::Int16`], quantized ([`super::quantized`]).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{QuantMatrix, Threads, View, empty_product, gemm_raw};
use crate::Precision;
use crate::parallel::for_each_dynamic;
use crate::stages::{self, Stage, StageTimes};

/// A micro-kernel and the panel layout it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// AVX2 + FMA: 6 × 16 tiles.
    Avx2,
    /// AVX-512F: 12 × 32 tiles.
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs, if any.
    pub(crate) fn best() -> Option<Kernel> {
        [Kernel::Avx512, Kernel::Avx2].into_iter().find(|k| k.available())
    }

    /// Whether this CPU runs the kernel.
    pub(crate) fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Kernel::Avx2 => super::avx2_fma(),
                Kernel::Avx512 => super::avx2_fma() && std::is_x86_feature_detected!("avx512f"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Columns of a panel.
    pub(crate) fn nr(self) -> usize {
        match self {
            Kernel::Avx2 => 16,
            Kernel::Avx512 => 32,
        }
    }

    /// Most rows of a micro-kernel tile.
    pub(crate) fn mr(self) -> usize {
        match self {
            Kernel::Avx2 => 6,
            Kernel::Avx512 => 12,
        }
    }

    /// Rows of the right operand per packed block: one panel (`kc × nr` floats, 24 KiB) stays
    /// in L1 while the tiles of a block of rows pass (AVX2 measured on Zen 3: 256 and 128
    /// were 3–7 % slower than 384).
    fn kc(self) -> usize {
        match self {
            Kernel::Avx2 => 384,
            Kernel::Avx512 => 192,
        }
    }
}

/// Most rows in one tile: a tile's rows of the left operand (up to 144 × 1536 floats) stay in
/// L2 while its panels pass.
pub(crate) const BLOCK_ROWS: usize = 144;

/// Columns of the unit the plain and quantized matrices are cut into tiles by.
const PLAIN_NR: usize = 16;

/// A constant `k × n` right operand, prepared for the fastest kernel this CPU has.
pub(crate) enum WeightMatrix {
    /// Packed into panels for `kernel`.
    Packed { data: Vec<f32>, k: usize, n: usize, kernel: Kernel },
    /// Row-major, for the general GEMM (CPUs without AVX2 + FMA).
    Plain { data: Vec<f32>, k: usize, n: usize },
    /// Quantized per column, for the integer kernel.
    Quantized(QuantMatrix),
}

/// A hook on one row of a tile: `(row, first column, that row's values in the tile's columns)`.
pub(crate) type TileRowHook<'f> = dyn Fn(usize, usize, &mut [f32]) + Sync + 'f;

/// A hook on a finished block of rows: `(first row, the rows)`.
pub(crate) type RowsHook<'f> = dyn Fn(usize, &mut [f32]) + Sync + 'f;

/// What runs on a product's results once they are final, on the thread that made them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Hooks<'f> {
    /// On every row of every tile: `(row, first column, that row's values in the tile's
    /// columns)`.
    pub tile_row: Option<&'f TileRowHook<'f>>,
    /// On every block of rows once all its tiles are done: `(first row, the rows)`, at the
    /// destination's row stride (the last row `n` values long).
    pub rows: Option<&'f RowsHook<'f>>,
    /// Where each tile's work is timed (with its hooks), when timing.
    pub times: Option<(&'f StageTimes, Stage)>,
}

impl WeightMatrix {
    /// Prepares the row-major `k × n` matrix `b` for products at `precision`.
    ///
    /// Panics if `b.len() != k * n`.
    pub(crate) fn new(b: Vec<f32>, k: usize, n: usize, precision: Precision) -> Self {
        assert_eq!(b.len(), k * n, "WeightMatrix: {k} x {n} matrix of {} values", b.len());
        if precision == Precision::Int16 {
            return WeightMatrix::Quantized(QuantMatrix::new(&b, k, n));
        }
        match Kernel::best() {
            Some(kernel) => Self::packed(&b, k, n, kernel),
            None => WeightMatrix::Plain { data: b, k, n },
        }
    }

    /// Packs the row-major `k × n` matrix `b` for `kernel`.
    ///
    /// Panics if `b.len() != k * n` or the CPU does not run `kernel`.
    pub(crate) fn packed(b: &[f32], k: usize, n: usize, kernel: Kernel) -> Self {
        assert_eq!(b.len(), k * n, "WeightMatrix: {k} x {n} matrix of {} values", b.len());
        let mut data = Vec::new();
        pack(&mut data, View { data: b, rs: n, cs: 1 }, (k, n), kernel);
        WeightMatrix::Packed { data, k, n, kernel }
    }

    /// Columns of the matrix.
    pub(crate) fn n(&self) -> usize {
        match self {
            WeightMatrix::Packed { n, .. } | WeightMatrix::Plain { n, .. } => *n,
            WeightMatrix::Quantized(q) => q.n(),
        }
    }

    /// Rows of the matrix.
    fn k(&self) -> usize {
        match self {
            WeightMatrix::Packed { k, .. } | WeightMatrix::Plain { k, .. } => *k,
            WeightMatrix::Quantized(q) => q.k(),
        }
    }

    /// Columns of the unit tiles are made of.
    fn panel_width(&self) -> usize {
        match self {
            WeightMatrix::Packed { kernel, .. } => kernel.nr(),
            WeightMatrix::Plain { .. } | WeightMatrix::Quantized(_) => PLAIN_NR,
        }
    }

    /// Floats held (for memory accounting).
    #[cfg(test)]
    fn floats(&self) -> usize {
        match self {
            WeightMatrix::Packed { data, .. } | WeightMatrix::Plain { data, .. } => data.len(),
            WeightMatrix::Quantized(q) => q.bytes() / 4,
        }
    }

    /// `dst = a · self` (`+=` when `accumulate`) for the `m × k` row-major `a` with row stride
    /// `a_rs`, into `dst` with row stride `dst_rs`, on up to `threads` threads of the current
    /// rayon pool, running `hooks` on the results as they become final.
    ///
    /// Panics if a slice is too short for its shape and stride.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul_then(
        &self,
        dst: &mut [f32],
        dst_rs: usize,
        a: &[f32],
        a_rs: usize,
        m: usize,
        accumulate: bool,
        threads: Threads,
        hooks: Hooks<'_>,
    ) {
        let (n, k) = (self.n(), self.k());
        if m == 0 || n == 0 {
            return;
        }
        assert!((m - 1) * dst_rs + n <= dst.len(), "WeightMatrix::matmul: destination too short");
        assert!(k == 0 || (m - 1) * a_rs + k <= a.len(), "WeightMatrix::matmul: left operand too short");
        assert!(a_rs >= k && dst_rs >= n, "WeightMatrix::matmul: rows overlap");
        if empty_product(dst, dst_rs, (m, n, k), accumulate) {
            // k = 0: the product is zero; the hooks still see the (unchanged or zeroed) rows.
            let whole = Grid { m, block_rows: m, row_blocks: 1, panels: 1, group: 1, groups: 1 };
            self.run_tiles(dst, dst_rs, a, a_rs, whole, accumulate, Threads(1), hooks, false);
            return;
        }
        let width = self.panel_width();
        let min_group = match self {
            // Each tile re-quantizes its rows, so tiles stay wide.
            WeightMatrix::Quantized(_) => n.div_ceil(width).div_ceil(2 * threads.0.max(1)),
            _ => 1,
        };
        let grid = Grid::new(m, n.div_ceil(width), width, k, threads.0, min_group);
        self.run_tiles(dst, dst_rs, a, a_rs, grid, accumulate, threads, hooks, true);
    }

    /// Runs every tile of `grid` (the products when `multiply`) and the hooks.
    #[allow(clippy::too_many_arguments)]
    fn run_tiles(
        &self,
        dst: &mut [f32],
        dst_rs: usize,
        a: &[f32],
        a_rs: usize,
        grid: Grid,
        accumulate: bool,
        threads: Threads,
        hooks: Hooks<'_>,
        multiply: bool,
    ) {
        let (n, width) = (self.n(), self.panel_width());
        let out = SendPtr(dst.as_mut_ptr());
        let unfinished: Vec<AtomicUsize> = (0..grid.row_blocks).map(|_| AtomicUsize::new(grid.groups)).collect();
        let tile = |t: usize| {
            let (block, rows, panels) = grid.tile(t);
            let cols = panels.start * width..(panels.end * width).min(n);
            if multiply {
                // SAFETY: `matmul_then` checked that `a` holds `m` rows of `k` values at stride
                // `a_rs` and `dst` `m` rows of `n` values at stride `dst_rs`; `grid` keeps
                // rows < m and columns < n. Tiles are disjoint, each run by one thread, and
                // nothing else reads or writes `dst` until all have run.
                unsafe { self.tile(out.get(), dst_rs, a, a_rs, rows.clone(), panels, accumulate) };
            }
            if let Some(f) = hooks.tile_row {
                for r in rows.clone() {
                    // SAFETY: this tile's elements of row `r`: in bounds (as above), written
                    // only by this thread, and no other reference to them exists meanwhile.
                    let row =
                        unsafe { std::slice::from_raw_parts_mut(out.get().add(r * dst_rs + cols.start), cols.len()) };
                    f(r, cols.start, row);
                }
            }
            if let Some(f) = hooks.rows
                && unfinished[block].fetch_sub(1, Ordering::AcqRel) == 1
            {
                // SAFETY: every tile of these rows is done (the counter reached zero, and its
                // acquire ordering makes their writes visible), no tile of another block
                // touches them, and only the thread that took the counter to zero gets here.
                let len = (rows.len() - 1) * dst_rs + n;
                let block = unsafe { std::slice::from_raw_parts_mut(out.get().add(rows.start * dst_rs), len) };
                f(rows.start, block);
            }
        };
        match hooks.times {
            Some((times, stage)) => {
                for_each_dynamic(threads.0, grid.tiles(), |t| stages::work(Some(times), stage, || tile(t)))
            }
            None => for_each_dynamic(threads.0, grid.tiles(), tile),
        }
    }

    /// The product for `rows` × the columns of `panels` (all of `k`).
    ///
    /// # Safety
    /// `a` holds the rows at stride `a_rs` (`k` values each); `dst` holds them at stride
    /// `dst_rs` (`n` values each); no one else accesses these elements of `dst` meanwhile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        &self,
        dst: *mut f32,
        dst_rs: usize,
        a: &[f32],
        a_rs: usize,
        rows: Range<usize>,
        panels: Range<usize>,
        accumulate: bool,
    ) {
        let (n, k) = (self.n(), self.k());
        let a_rows = &a[rows.start * a_rs..(rows.end - 1) * a_rs + k];
        // SAFETY: row `rows.start` of `dst` is in bounds per the contract.
        let dst = unsafe { dst.add(rows.start * dst_rs) };
        let m = rows.len();
        match self {
            // SAFETY: `data` is the `k × n` matrix packed for `kernel`; the rest is the contract.
            WeightMatrix::Packed { data, kernel, .. } => unsafe {
                packed_product(*kernel, dst, dst_rs, a_rows, a_rs, data, (m, n, k), panels, accumulate)
            },
            WeightMatrix::Plain { data, .. } => {
                let cols = panels.start * PLAIN_NR..(panels.end * PLAIN_NR).min(n);
                let a = View { data: a_rows, rs: a_rs, cs: 1 };
                let b = View { data: &data[cols.start..], rs: n, cs: 1 };
                // SAFETY: the tile lies inside `dst` per the contract; `a` and `b` are slices
                // long enough for their shapes (rows of `a_rows`, columns of `data`).
                unsafe { gemm_raw(dst.add(cols.start), dst_rs, a, b, (m, cols.len(), k), accumulate, Threads(1)) };
            }
            // SAFETY: as above; the quantized kernel takes panels of its own width, `PLAIN_NR`.
            WeightMatrix::Quantized(q) => unsafe { q.run(dst, dst_rs, a_rows, a_rs, m, panels, accumulate) },
        }
    }
}

/// How a product of `m` rows is cut into tiles: blocks of rows × groups of panels, numbered
/// block by block (so tiles taken one after another share their rows of the left operand).
///
/// Tiles are small enough that the last one of a product leaves the other thread little to
/// wait for (at most [`MAX_TILE_FMA`] multiply-adds, and at least [`TILES_PER_THREAD`] per
/// thread when the product is that large), and large enough that handing them out costs
/// nothing measurable (at least [`MIN_TILE_FMA`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    m: usize,
    block_rows: usize,
    row_blocks: usize,
    panels: usize,
    /// Panels per tile (the last group of a block may have fewer).
    group: usize,
    groups: usize,
}

/// Tiles per thread a product is cut into when it is large enough.
const TILES_PER_THREAD: usize = 8;
/// Most multiply-adds in a tile (about 60 µs of one core).
const MAX_TILE_FMA: usize = 4 << 20;
/// Fewest multiply-adds in a tile worth handing to another thread.
const MIN_TILE_FMA: usize = 1 << 18;

impl Grid {
    /// The tiles of an `m`-row product with `panels` panels of `width` columns over `k`, for
    /// `threads` threads, with at least `min_group` panels per tile.
    pub(crate) fn new(m: usize, panels: usize, width: usize, k: usize, threads: usize, min_group: usize) -> Grid {
        let row_blocks = m.div_ceil(BLOCK_ROWS).max(1);
        let block_rows = m.div_ceil(row_blocks);
        let block_fma = block_rows * panels * width * k;
        let groups = if threads <= 1 {
            1
        } else {
            let wanted = (TILES_PER_THREAD * threads).div_ceil(row_blocks).max(block_fma.div_ceil(MAX_TILE_FMA));
            wanted.min(block_fma / MIN_TILE_FMA).clamp(1, panels)
        };
        let group = panels.div_ceil(groups).max(min_group.min(panels)).max(1);
        Grid { m, block_rows, row_blocks, panels, group, groups: panels.div_ceil(group) }
    }

    /// Number of tiles.
    pub(crate) fn tiles(&self) -> usize {
        self.row_blocks * self.groups
    }

    /// Tile `t`: its block of rows (index and rows) and its panels.
    pub(crate) fn tile(&self, t: usize) -> (usize, Range<usize>, Range<usize>) {
        let (block, group) = (t / self.groups, t % self.groups);
        let rows = block * self.block_rows..((block + 1) * self.block_rows).min(self.m);
        let panels = group * self.group..((group + 1) * self.group).min(self.panels);
        (block, rows, panels)
    }
}

/// A destination pointer shared by the threads of one product, each writing its own elements.
#[derive(Clone, Copy)]
pub(super) struct SendPtr(pub(super) *mut f32);
// SAFETY: see `run_tiles`: threads write disjoint elements and the slice outlives them.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Lays the `k × n` matrix `b` out in `out` as `kernel` reads it: blocks of `kc` rows, each cut
/// into panels of `nr` columns stored row after row, the last panel zero-padded.
///
/// Panics if `b` is too short for its shape and strides, or the CPU does not run `kernel`.
pub(crate) fn pack(out: &mut Vec<f32>, b: View<'_>, (k, n): (usize, usize), kernel: Kernel) {
    assert!(kernel.available(), "pack: this CPU does not run the {kernel:?} kernel");
    assert!(k == 0 || n == 0 || (k - 1) * b.rs + (n - 1) * b.cs < b.data.len(), "pack: matrix too short");
    let (nr, kc_max) = (kernel.nr(), kernel.kc());
    let panels = n.div_ceil(nr);
    out.clear();
    out.resize(k * panels * nr, 0.0);
    for k0 in (0..k).step_by(kc_max) {
        let kc = kc_max.min(k - k0);
        for j in 0..panels {
            let base = k0 * panels * nr + j * kc * nr;
            let cols = nr.min(n - j * nr);
            for p in 0..kc {
                let row = &mut out[base + p * nr..][..cols];
                let src = (k0 + p) * b.rs + j * nr * b.cs;
                if b.cs == 1 {
                    row.copy_from_slice(&b.data[src..][..cols]);
                } else {
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = b.data[src + c * b.cs];
                    }
                }
            }
        }
    }
}

/// `dst (+)= a · b` for all `m` rows and the columns of `panels`, `b` packed for `kernel` by
/// [`pack`]; on the calling thread.
///
/// # Safety
/// `dst` points at `m` rows of `n` writable floats at stride `dst_rs` whose columns of `panels`
/// nothing else accesses until this returns. The rest is checked.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn packed_product(
    kernel: Kernel,
    dst: *mut f32,
    dst_rs: usize,
    a: &[f32],
    a_rs: usize,
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    panels: Range<usize>,
    accumulate: bool,
) {
    assert!(kernel.available(), "packed_product: this CPU does not run the {kernel:?} kernel");
    assert!(m > 0 && k > 0 && panels.end <= n.div_ceil(kernel.nr()), "packed_product: empty or out of range");
    assert!(a_rs >= k && (m - 1) * a_rs + k <= a.len(), "packed_product: left operand too short");
    assert_eq!(b.len(), k * n.div_ceil(kernel.nr()) * kernel.nr(), "packed_product: packed operand of the wrong size");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the kernel runs on this CPU (asserted); `a` and `b` are checked above; `dst` is
    // the caller's contract.
    unsafe {
        match kernel {
            Kernel::Avx2 => x86::run_avx2(dst, dst_rs, a, a_rs, b, (m, n, k), panels, accumulate),
            Kernel::Avx512 => x86::run_avx512(dst, dst_rs, a, a_rs, b, (m, n, k), panels, accumulate),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (dst, dst_rs, accumulate);
        unreachable!("no kernel is available outside x86-64, as asserted above");
    }
}

/// Splits `len` rows into the fewest micro-tiles of at most `mr` rows, as even as possible:
/// `(tiles, smallest tile, tiles with one row more)`.
fn even_tiles(len: usize, mr: usize) -> (usize, usize, usize) {
    let tiles = len.div_ceil(mr);
    (tiles, len / tiles, len % tiles)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{Kernel, even_tiles};

    /// Generates the driver of one kernel: every micro-tile of `rows × panels` over all of `k`.
    macro_rules! driver {
        ($name:ident, $feature:literal, $kernel:expr, $tile:ident, [$($r:literal),*]) => {
            /// The product for all `m` rows of `a`/`dst` and the columns of `panels`.
            ///
            /// # Safety
            /// The CPU runs the kernel; `a` holds `m` rows of `k` values at stride `a_rs`;
            /// `b` is the `k × n` matrix packed for the kernel; `dst` holds `m` rows of `n`
            /// values at stride `dst_rs`, and no one else accesses the columns of `panels`
            /// of those rows meanwhile.
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $name(
                dst: *mut f32,
                dst_rs: usize,
                a: &[f32],
                a_rs: usize,
                b: &[f32],
                (m, n, k): (usize, usize, usize),
                panels: Range<usize>,
                accumulate: bool,
            ) {
                let kernel: Kernel = $kernel;
                let (nr, mr, kc_max) = (kernel.nr(), kernel.mr(), kernel.kc());
                let all_panels = n.div_ceil(nr);
                debug_assert!(b.len() == k * all_panels * nr && (m - 1) * a_rs + k <= a.len());
                let (tiles, small, big) = even_tiles(m, mr);
                for k0 in (0..k).step_by(kc_max) {
                    let kc = kc_max.min(k - k0);
                    let acc = accumulate || k0 > 0;
                    for j in panels.clone() {
                        let cols = nr.min(n - j * nr);
                        let bp = b[(k0 * all_panels + j * kc) * nr..].as_ptr();
                        let mut i = 0;
                        for t in 0..tiles {
                            let rows = small + usize::from(t < big);
                            // SAFETY (all offsets): rows i..i + rows < m and columns
                            // j * nr + cols <= n lie inside `dst` and `a` per the contract;
                            // the panel block (k0, j) lies inside `b`.
                            unsafe {
                                let ap = a.as_ptr().add(i * a_rs + k0);
                                let cp = dst.add(i * dst_rs + j * nr);
                                match rows {
                                    $($r => $tile::<$r>(kc, ap, a_rs, bp, cp, dst_rs, cols, acc),)*
                                    _ => unreachable!("micro-tiles have 1 to {mr} rows"),
                                }
                            }
                            i += rows;
                        }
                    }
                }
            }
        };
    }

    driver!(run_avx2, "avx2,fma", Kernel::Avx2, tile_avx2, [1, 2, 3, 4, 5, 6]);
    driver!(run_avx512, "avx512f,avx2,fma", Kernel::Avx512, tile_avx512, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

    /// One `R × 16` tile: `c[r][0..cols] (+)= Σ_p a[r][p] · b[p][..]` over `kc` steps.
    ///
    /// # Safety
    /// AVX2 and FMA are available; `a` has `R` rows of `kc` values at stride `a_rs`; `b` has
    /// `kc × 16` values; `c` has `R` rows of `cols ≤ 16` values at stride `c_rs`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_avx2<const R: usize>(
        kc: usize,
        a: *const f32,
        a_rs: usize,
        b: *const f32,
        c: *mut f32,
        c_rs: usize,
        cols: usize,
        accumulate: bool,
    ) {
        const NR: usize = 16;
        // SAFETY: every offset stays inside the extents the contract gives.
        unsafe {
            let mut lo = [_mm256_setzero_ps(); R];
            let mut hi = [_mm256_setzero_ps(); R];
            for p in 0..kc {
                let b0 = _mm256_loadu_ps(b.add(p * NR));
                let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
                for r in 0..R {
                    let av = _mm256_broadcast_ss(&*a.add(r * a_rs + p));
                    lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                }
            }
            for r in 0..R {
                let cp = c.add(r * c_rs);
                if cols == NR {
                    let (mut v0, mut v1) = (lo[r], hi[r]);
                    if accumulate {
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cp));
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cp.add(8)));
                    }
                    _mm256_storeu_ps(cp, v0);
                    _mm256_storeu_ps(cp.add(8), v1);
                } else {
                    let mut tmp = [0f32; NR];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
                    for (j, t) in tmp.iter().enumerate().take(cols) {
                        let d = cp.add(j);
                        *d = if accumulate { *d + t } else { *t };
                    }
                }
            }
        }
    }

    /// One `R × 32` tile: `c[r][0..cols] (+)= Σ_p a[r][p] · b[p][..]` over `kc` steps.
    ///
    /// # Safety
    /// AVX-512F is available; `a` has `R` rows of `kc` values at stride `a_rs`; `b` has
    /// `kc × 32` values; `c` has `R` rows of `cols ≤ 32` values at stride `c_rs`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_avx512<const R: usize>(
        kc: usize,
        a: *const f32,
        a_rs: usize,
        b: *const f32,
        c: *mut f32,
        c_rs: usize,
        cols: usize,
        accumulate: bool,
    ) {
        const NR: usize = 32;
        // Lanes of each half that belong to the tile.
        let mask = |lanes: usize| -> __mmask16 { if lanes >= 16 { 0xFFFF } else { (1u16 << lanes) - 1 } };
        let (m0, m1) = (mask(cols), mask(cols.saturating_sub(16)));
        // SAFETY: every offset stays inside the extents the contract gives; masked loads and
        // stores touch only the tile's `cols` columns.
        unsafe {
            let mut lo = [_mm512_setzero_ps(); R];
            let mut hi = [_mm512_setzero_ps(); R];
            for p in 0..kc {
                let b0 = _mm512_loadu_ps(b.add(p * NR));
                let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
                for r in 0..R {
                    let av = _mm512_set1_ps(*a.add(r * a_rs + p));
                    lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
                }
            }
            for r in 0..R {
                let cp = c.add(r * c_rs);
                let mut v0 = lo[r];
                if accumulate {
                    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cp));
                }
                _mm512_mask_storeu_ps(cp, m0, v0);
                if cols > 16 {
                    let cp = cp.add(16);
                    let mut v1 = hi[r];
                    if accumulate {
                        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cp));
                    }
                    _mm512_mask_storeu_ps(cp, m1, v1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;

    /// `want = init (when accumulating) + a · b`, in f64.
    fn naive(
        a: &[f32],
        a_rs: usize,
        b: &[f32],
        init: &[f32],
        dst_rs: usize,
        (m, n, k): (usize, usize, usize),
        accumulate: bool,
    ) -> Vec<f64> {
        let mut want = vec![0f64; m * dst_rs];
        for r in 0..m {
            for c in 0..n {
                let mut s = if accumulate { f64::from(init[r * dst_rs + c]) } else { 0.0 };
                for p in 0..k {
                    s += f64::from(a[r * a_rs + p]) * f64::from(b[p * n + c]);
                }
                want[r * dst_rs + c] = s;
            }
        }
        want
    }

    /// Every way this CPU can hold `b`: packed for each kernel it runs, and plain.
    fn every_layout(b: &[f32], k: usize, n: usize) -> Vec<(String, WeightMatrix)> {
        let mut all: Vec<(String, WeightMatrix)> = [Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|kernel| kernel.available())
            .map(|kernel| (format!("{kernel:?}"), WeightMatrix::packed(b, k, n, kernel)))
            .collect();
        all.push(("plain".into(), WeightMatrix::Plain { data: b.to_vec(), k, n }));
        all
    }

    #[test]
    fn packed_products_match_naive_ones_on_ragged_shapes() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let mut rng = Rng(0x0DDB_A11C_0FFE_E123);
        for case in 0..80 {
            let m = 1 + rng.below(330);
            let n = 1 + rng.below(110);
            let k = 1 + rng.below(600);
            let pad = rng.below(4);
            let (a_rs, dst_rs) = (k + pad, n + pad);
            let a = rng.fill(m * a_rs, 1.0, 0.0);
            let b = rng.fill(k * n, 1.0, 0.0);
            let init = rng.fill(m * dst_rs, 1.0, 0.0);
            let accumulate = rng.below(2) == 1;
            let threads = Threads(1 + rng.below(3));
            let want = naive(&a, a_rs, &b, &init, dst_rs, (m, n, k), accumulate);
            assert_eq!(WeightMatrix::new(b.clone(), k, n, Precision::F32).n(), n);
            for (name, w) in every_layout(&b, k, n) {
                let mut dst = init.clone();
                pool.install(|| w.matmul_then(&mut dst, dst_rs, &a, a_rs, m, accumulate, threads, Hooks::default()));
                for r in 0..m {
                    for c in 0..dst_rs {
                        let got = dst[r * dst_rs + c];
                        if c >= n {
                            assert_eq!(got, init[r * dst_rs + c], "case {case} {name}: padding column written");
                            continue;
                        }
                        let want = want[r * dst_rs + c];
                        assert!(
                            (f64::from(got) - want).abs() < 1e-3,
                            "case {case} {name} ({m}x{n}x{k}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn hooks_see_every_tile_row_once_and_every_block_once_complete() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let mut rng = Rng(0x05EE_D0F7_11E5);
        for case in 0..12 {
            let (m, n, k) = (1 + rng.below(400), 1 + rng.below(200), 1 + rng.below(300));
            let a = rng.fill(m * k, 1.0, 0.0);
            let b = rng.fill(k * n, 1.0, 0.0);
            let want = naive(&a, k, &b, &[], n, (m, n, k), false);
            for (name, w) in every_layout(&b, k, n) {
                let seen = std::sync::Mutex::new(vec![0u32; m * n]);
                let blocks = std::sync::Mutex::new(vec![0u32; m]);
                // Tile rows: +1 to every element, after checking that the product is final.
                let tile_row = |r: usize, c0: usize, row: &mut [f32]| {
                    let mut seen = seen.lock().unwrap();
                    for (c, v) in row.iter_mut().enumerate() {
                        assert!((f64::from(*v) - want[r * n + c0 + c]).abs() < 1e-3, "case {case} {name}: not final");
                        seen[r * n + c0 + c] += 1;
                        *v += 1.0;
                    }
                };
                // Blocks: every element already has its +1 (all tiles done); then doubled.
                let rows = |r0: usize, block: &mut [f32]| {
                    for (i, row) in block.chunks_mut(n).enumerate() {
                        blocks.lock().unwrap()[r0 + i] += 1;
                        for (c, v) in row.iter_mut().enumerate() {
                            let want = want[(r0 + i) * n + c] + 1.0;
                            assert!((f64::from(*v) - want).abs() < 1e-3, "case {case} {name}: block before its tiles");
                            *v *= 2.0;
                        }
                    }
                };
                let hooks = Hooks { tile_row: Some(&tile_row), rows: Some(&rows), times: None };
                let mut dst = vec![0f32; m * n];
                pool.install(|| w.matmul_then(&mut dst, n, &a, k, m, false, Threads(2), hooks));
                assert!(seen.into_inner().unwrap().iter().all(|&s| s == 1), "case {case} {name}: tile rows");
                assert!(blocks.into_inner().unwrap().iter().all(|&s| s == 1), "case {case} {name}: blocks");
                for (got, want) in dst.iter().zip(&want) {
                    assert!((f64::from(*got) - 2.0 * (want + 1.0)).abs() < 2e-3, "case {case} {name}");
                }
            }
        }
    }

    #[test]
    fn grids_cover_every_element_once_and_size_tiles_for_the_threads() {
        for (m, panels, width, k) in [
            (1, 1, 16, 1),
            (16, 36, 32, 384),
            (632, 36, 32, 384),
            (632, 12, 32, 1536),
            (8192, 48, 32, 384),
            (145, 7, 16, 5),
        ] {
            for threads in [1, 2, 4] {
                let g = Grid::new(m, panels, width, k, threads, 1);
                let mut covered = vec![0u8; m * panels];
                for t in 0..g.tiles() {
                    let (block, rows, ps) = g.tile(t);
                    assert!(rows.len() <= BLOCK_ROWS && !rows.is_empty() && !ps.is_empty());
                    assert_eq!(rows.start, block * g.block_rows);
                    for r in rows {
                        for p in ps.clone() {
                            covered[r * panels + p] += 1;
                        }
                    }
                }
                assert!(covered.iter().all(|&c| c == 1), "{m}x{panels}x{k}, {threads} threads");
                if threads == 1 {
                    assert_eq!(g.groups, 1, "one thread needs no column split");
                }
            }
        }
        // 8 × 79 tokens on two threads: dozens of tiles, none above the size bound.
        let g = Grid::new(632, 36, 32, 384, 2, 1);
        assert!(
            g.tiles() >= 2 * TILES_PER_THREAD
                && g.block_rows * g.group * 32 * 384 <= MAX_TILE_FMA + (32 * 384 * g.block_rows),
            "{g:?}"
        );
    }

    #[test]
    fn packing_pads_only_the_last_panel() {
        for kernel in [Kernel::Avx2, Kernel::Avx512].into_iter().filter(|k| k.available()) {
            let w = WeightMatrix::packed(&vec![1.0; 300 * 40], 300, 40, kernel);
            assert_eq!(w.floats(), 300 * 40usize.div_ceil(kernel.nr()) * kernel.nr());
        }
        let w = WeightMatrix::new(vec![1.0; 300 * 40], 300, 40, Precision::F32);
        assert!(w.floats() >= 300 * 40);
    }

    #[test]
    fn micro_tiles_are_even() {
        assert_eq!(even_tiles(16, 12), (2, 8, 0));
        assert_eq!(even_tiles(127, 12), (11, 11, 6));
        assert_eq!(even_tiles(5, 6), (1, 5, 0));
        assert_eq!(even_tiles(12, 12), (1, 12, 0));
    }
}
