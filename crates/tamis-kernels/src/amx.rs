//! Intel AMX (Advanced Matrix Extensions): detection, Linux's permission to use the tile
//! registers, the peak rates of `tdpbusd` and `tdpbf16ps`, the bfloat16 tile product of
//! the [`Bf16Kernel::Amx`](crate::Bf16Kernel::Amx) build (picked wherever it runs), and
//! the int8 tile product of the [`Int8Kernel::Amx`](crate::Int8Kernel::Amx) build
//! (tested, not yet picked: slower than AVX512-VNNI so far, its scale groups storing the
//! tiles every 32 inputs; `bench/runs/2026-12-08-xeon-2core/amx-int8.md`).
//!
//! Rust has no stable AMX intrinsics, so the instructions are inline assembly; the tile
//! registers are never allocated by the compiler, so no operand names them.
#![allow(unsafe_code)]

use std::time::Duration;

#[cfg(test)]
mod tests;

/// What this CPU and kernel let a process do with AMX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AmxSupport {
    /// The CPU has the tile registers (`amx-tile`).
    pub tile: bool,
    /// `tdpbusd` and its signed/unsigned kin (`amx-int8`).
    pub int8: bool,
    /// `tdpbf16ps` (`amx-bf16`).
    pub bf16: bool,
    /// The operating system saves the tile state (XCR0 bits 17 and 18).
    pub os_enabled: bool,
}

impl AmxSupport {
    /// What CPUID and XCR0 say.
    pub fn detected() -> AmxSupport {
        // Miri runs no inline assembly (CPUID included): nothing is detected there.
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        {
            use std::arch::x86_64::{__cpuid, __cpuid_count};
            // Leaf 7 is read only where the highest leaf reaches it.
            let max_leaf = __cpuid(0).eax;
            if max_leaf < 7 {
                return AmxSupport::default();
            }
            let edx = __cpuid_count(7, 0).edx;
            let bit = |n: u32| edx & (1 << n) != 0;
            AmxSupport { tile: bit(24), int8: bit(25), bf16: bit(22), os_enabled: os_saves_tiles() }
        }
        #[cfg(any(not(target_arch = "x86_64"), miri))]
        {
            AmxSupport::default()
        }
    }

    /// Whether int8 tiles can run once the process has permission ([`request_permission`]).
    pub fn int8_usable(self) -> bool {
        self.tile && self.int8 && self.os_enabled
    }
}

/// XCR0's tile bits (XTILECFG, XTILEDATA), read only where the OS enabled XGETBV.
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn os_saves_tiles() -> bool {
    use std::arch::x86_64::__cpuid;
    let osxsave = __cpuid(1).ecx & (1 << 27) != 0;
    if !osxsave {
        return false;
    }
    let xcr0_low: u32;
    // SAFETY: XGETBV with ECX = 0 is allowed in user mode once OSXSAVE is set.
    unsafe {
        std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") xcr0_low, out("edx") _, options(nomem, nostack));
    }
    xcr0_low & (0b11 << 17) == 0b11 << 17
}

/// Asks Linux for the tile data state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`),
/// which a process must hold before its first tile instruction, or the kernel kills it.
/// Granted for the whole process; asking again is harmless. `Err` carries the kernel's
/// error number (e.g. on kernels before 5.16, which lack the call).
pub fn request_permission() -> Result<(), i64> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: a plain system call; it reads and writes no memory of this process.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                out("rcx") _,
                out("r11") _,
                options(nostack),
            );
        }
        if ret == 0 { Ok(()) } else { Err(-ret) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        Err(38) // ENOSYS
    }
}

/// Peak AMX int8 throughput (`tdpbusd`) of `threads` threads in GOP/s (one multiply-add
/// = 2 operations), measured for about `duration`; `None` where AMX int8 is missing or
/// the kernel refuses the tile state.
pub fn int8_peak_gops(threads: usize, duration: Duration) -> Option<f64> {
    if !AmxSupport::detected().int8_usable() || request_permission().is_err() {
        return None;
    }
    let per_run = duration / 3;
    // Each step: 4 products of 16 × 16 outputs over 64 inputs.
    let ops_per_iter = 4.0 * 16.0 * 16.0 * 64.0 * 2.0;
    let run = |iters: usize| tile_steps(iters, false) as f32;
    (0..3).map(|_| crate::peak::rate(threads.max(1), per_run, ops_per_iter, run)).reduce(f64::max)
}

/// Peak AMX bfloat16 throughput (`tdpbf16ps`) of `threads` threads in GFLOP/s (one
/// multiply-add = 2 operations), as [`int8_peak_gops`]; `None` where AMX bf16 is missing
/// or the kernel refuses the tile state.
pub fn bf16_peak_gflops(threads: usize, duration: Duration) -> Option<f64> {
    if !bf16_ready() {
        return None;
    }
    let per_run = duration / 3;
    // Each step: 4 products of 16 × 16 outputs over 32 inputs.
    let ops_per_iter = 4.0 * 16.0 * 16.0 * 32.0 * 2.0;
    let run = |iters: usize| tile_steps(iters, true) as f32;
    (0..3).map(|_| crate::peak::rate(threads.max(1), per_run, ops_per_iter, run)).reduce(f64::max)
}

/// The tile configuration (palette 1): every tile 16 rows of 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    /// Palette 1 with tile `t` shaped `shapes[t]` = (rows, bytes per row); a shape of 0
    /// rows, or a tile past the list, is left unconfigured.
    fn new(shapes: &[(u8, u8)]) -> TileConfig {
        let mut bytes = [0u8; 64];
        bytes[0] = 1; // palette 1
        for (tile, &(rows, colsb)) in shapes.iter().enumerate().take(8) {
            if rows > 0 {
                bytes[16 + 2 * tile] = colsb; // bytes per row (u16, little-endian)
                bytes[48 + tile] = rows;
            }
        }
        TileConfig(bytes)
    }

    fn all_full() -> TileConfig {
        TileConfig::new(&[(16, 64); 8])
    }

    /// Loads the configuration into this thread's tile registers.
    ///
    /// # Safety
    /// The CPU has AMX and the process holds the tile state; no other configuration is
    /// live on this thread.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load(&self) {
        // SAFETY: the caller's contract; the configuration is 64 aligned bytes.
        unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) self.0.as_ptr(), options(nostack)) };
    }
}

/// `iters` steps of four independent `tdpbusd` (or, with `bf16`, `tdpbf16ps`):
/// accumulators tmm0–3, operands tmm4–7 all ones (bytes of 1, or bfloat16 1.0), and the
/// first 32 bits of tmm0 at the end: 64 per step (an `i32`), or 32.0 (an `f32`'s bits).
/// Callers check that the CPU has the instruction and [`request_permission`]
/// first.
fn tile_steps(iters: usize, bf16: bool) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        let config = TileConfig::all_full();
        // Bytes of 1 (int8), or bfloat16 ones (0x3f80, little-endian).
        let ones: [u8; 16 * 64] = std::array::from_fn(|i| {
            if !bf16 {
                1
            } else if i % 2 == 0 {
                0x80
            } else {
                0x3f
            }
        });
        let mut out = [0i32; 16 * 16];
        let stride: usize = 64;
        // SAFETY: the callers checked that the CPU has AMX int8 and the process holds
        // the tile state; the configuration is 64 aligned bytes; every load reads 16 rows
        // of 64 bytes of `ones` and the store writes 16 rows of 64 bytes of `out`, both
        // exactly that large; `tilerelease` leaves the tiles as they were found.
        unsafe {
            std::arch::asm!(
                "ldtilecfg [{cfg}]",
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "tileloadd tmm4, [{ones} + {stride}*1]",
                "tileloadd tmm5, [{ones} + {stride}*1]",
                "tileloadd tmm6, [{ones} + {stride}*1]",
                "tileloadd tmm7, [{ones} + {stride}*1]",
                "test {n}, {n}",
                "jz 3f",
                "test {bf16}, {bf16}",
                "jnz 4f",
                "2:",
                "tdpbusd tmm0, tmm4, tmm6",
                "tdpbusd tmm1, tmm4, tmm7",
                "tdpbusd tmm2, tmm5, tmm6",
                "tdpbusd tmm3, tmm5, tmm7",
                "dec {n}",
                "jnz 2b",
                "jmp 3f",
                "4:",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "dec {n}",
                "jnz 4b",
                "3:",
                "tilestored [{out} + {stride}*1], tmm0",
                "tilerelease",
                cfg = in(reg) config.0.as_ptr(),
                ones = in(reg) ones.as_ptr(),
                out = in(reg) out.as_mut_ptr(),
                stride = in(reg) stride,
                n = inout(reg) iters => _,
                bf16 = in(reg) usize::from(bf16),
                options(nostack),
            );
        }
        out[0]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = iters;
        0
    }
}

/// Whether int8 tiles run in this process: the CPU and OS have them and Linux granted
/// the tile state (asked once).
pub(crate) fn int8_ready() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| AmxSupport::detected().int8_usable() && request_permission().is_ok())
}

/// Whether bfloat16 tiles run in this process, as [`int8_ready`].
pub(crate) fn bf16_ready() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| {
        let support = AmxSupport::detected();
        support.tile && support.bf16 && support.os_enabled && request_permission().is_ok()
    })
}

/// The tile registers configured for bfloat16 tiles of `rows` rows (1 to 32) and 32
/// columns: tmm0–tmm3 the four 16 × 16 `f32` quarters of the sums (rows 0–15 then
/// 16–31, columns 0–15 then 16–31), tmm4–tmm5 the two row halves of 32 activations,
/// tmm6–tmm7 the two column halves of 32 weights (16 pairs by 16 columns). When
/// `rows ≤ 16`, the sums of the second row half are left unconfigured and tmm5 has the
/// first half's shape (a split product's second activation part). Released when
/// dropped; a thread holds one configuration at a time.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Bf16Tiles {
    rows: usize,
}

/// How far ahead of the current step the bfloat16 product prefetches its weights, in
/// bytes (steps of 2 KiB).
#[cfg(target_arch = "x86_64")]
const WEIGHTS_AHEAD: usize = 8192;

/// Asks for the 32 lines of one step of weights (2 KiB) [`WEIGHTS_AHEAD`] bytes after
/// `weights`. At a query's few rows each weight is used once per product, so the
/// weights stream from memory and every tile load waited for them; a prefetch never
/// faults, so it may run past the end.
#[cfg(target_arch = "x86_64")]
fn prefetch_weights(weights: *const u8) {
    let ahead = weights.wrapping_add(WEIGHTS_AHEAD);
    for line in 0..32 {
        // SAFETY: a prefetch reads nothing the program sees and never faults.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                ahead.wrapping_add(64 * line).cast(),
            )
        };
    }
}

#[cfg(target_arch = "x86_64")]
impl Bf16Tiles {
    /// Configures this thread's tiles.
    ///
    /// # Safety
    /// [`bf16_ready`] must be true, and no other tile configuration live on this thread.
    pub(crate) unsafe fn configure(rows: usize) -> Bf16Tiles {
        assert!((1..=32).contains(&rows), "amx: 1 to 32 rows per bf16 tile");
        let (top, bottom) = (rows.min(16) as u8, rows.saturating_sub(16) as u8);
        // tmm0–3 the sums' quarters, tmm4–5 the activations' halves, tmm6–7 the weights'.
        let (sums, inputs, weights) = ((top, 64), (top, 64), (16, 64));
        let bottom_sums = (bottom, 64);
        let second_inputs = if bottom > 0 { (bottom, 64) } else { inputs };
        let shapes =
            [sums, sums, bottom_sums, bottom_sums, inputs, second_inputs, weights, weights];
        // SAFETY: the caller guarantees AMX, the tile state, and no live configuration.
        unsafe { TileConfig::new(&shapes).load() };
        Bf16Tiles { rows }
    }

    /// Rows per tile.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// `acc[r·32 + c] = Σᵢ a[r, i] · b[i, c]` over `chunks · 32` inputs, by `tdpbf16ps`
    /// (each pair's products summed in `f32`), for the configured rows and 32 columns.
    ///
    /// `a`: rows of `chunks · 32` bfloat16 values, `a_stride` bytes apart. `b`: the
    /// packed weight block, `chunks · 16` steps of 32 columns × 2 inputs (128 bytes).
    ///
    /// # Safety
    /// `a` must hold the configured rows of `chunks · 32` values at `a_stride`, and `b`
    /// `chunks · 16` steps of 128 bytes.
    pub(crate) unsafe fn product(
        &self,
        a: *const u16,
        a_stride: usize,
        chunks: usize,
        b: *const u16,
        acc: &mut [f32; 1024],
    ) {
        let b = b.cast::<u8>();
        let a = a.cast::<u8>();
        let bottom = a.wrapping_add(16 * a_stride);
        // SAFETY (every block): the tiles are configured (`self`); each load reads the
        // configured rows of 64 bytes within `a`'s rows or `b`'s steps (the caller's
        // contract), and the stores write at most 16 rows of 64 bytes at 128 apart into
        // `acc`'s 32 rows of 128 bytes.
        unsafe {
            // A tile left unconfigured (the bottom half's, up to 16 rows) must not be
            // touched at all: even `tilezero` faults on it.
            std::arch::asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
            if self.rows > 16 {
                std::arch::asm!("tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
            }
            for chunk in 0..chunks {
                let (a_top, weights) = (a.add(64 * chunk), b.add(chunk * 16 * 128));
                prefetch_weights(weights);
                if self.rows > 16 {
                    std::arch::asm!(
                        "tileloadd tmm4, [{a} + {a_stride}*1]",
                        "tileloadd tmm5, [{a2} + {a_stride}*1]",
                        "tileloadd tmm6, [{b} + {b_stride}*1]",
                        "tileloadd tmm7, [{b2} + {b_stride}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        "tdpbf16ps tmm2, tmm5, tmm6",
                        "tdpbf16ps tmm3, tmm5, tmm7",
                        a = in(reg) a_top,
                        a2 = in(reg) bottom.add(64 * chunk),
                        a_stride = in(reg) a_stride,
                        b = in(reg) weights,
                        b2 = in(reg) weights.add(64),
                        b_stride = in(reg) 128usize,
                        options(nostack, readonly),
                    );
                } else {
                    std::arch::asm!(
                        "tileloadd tmm4, [{a} + {a_stride}*1]",
                        "tileloadd tmm6, [{b} + {b_stride}*1]",
                        "tileloadd tmm7, [{b2} + {b_stride}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        a = in(reg) a_top,
                        a_stride = in(reg) a_stride,
                        b = in(reg) weights,
                        b2 = in(reg) weights.add(64),
                        b_stride = in(reg) 128usize,
                        options(nostack, readonly),
                    );
                }
            }
            self.store(acc);
        }
    }

    /// [`Bf16Tiles::product`] of a split weight (see `crate::bf16`):
    /// `acc = aₗ · wₕ + aₕ · wₕ (+ aₕ · wₗ)`, the terms summed chunk by chunk. Each chunk
    /// loads its tiles of `wₕ` once for both of their terms, and its activation tiles
    /// once for the terms of `wₕ` and `wₗ`: 4 tile loads for 8 products (6 for 12), where
    /// one product over `[aₕ | aₗ | aₕ] · [wₕ | wₕ | wₗ]` took 8 (12).
    ///
    /// `a`: rows of `[aₕ | aₗ]`, each part `chunks · 32` bfloat16 values, `a_stride`
    /// bytes apart. `high` and `low`: the packed weight blocks, `chunks · 16` steps of
    /// 128 bytes each.
    ///
    /// # Safety
    /// `a` must hold the configured rows of `2 · chunks · 32` values at `a_stride`, and
    /// `high` and `low` (where given) `chunks · 16` steps of 128 bytes.
    pub(crate) unsafe fn split_product(
        &self,
        a: *const u16,
        a_stride: usize,
        chunks: usize,
        high: *const u16,
        low: Option<*const u16>,
        acc: &mut [f32; 1024],
    ) {
        let (high, low) = (high.cast::<u8>(), low.map(|low| low.cast::<u8>()));
        let a = a.cast::<u8>();
        // The low parts of the activations start one part (`chunks` tile rows) on.
        let a_low = a.wrapping_add(64 * chunks);
        let bottom = 16 * a_stride;
        // SAFETY (every block): the tiles are configured (`self`), tmm5 with the bottom
        // rows' shape when `rows > 16` and the top rows' otherwise; each load reads the
        // configured rows of 64 bytes within `a`'s rows (`64 · chunk` into either part,
        // the bottom rows `16 · a_stride` on) or within a weight part's steps (the
        // caller's contract), and the stores write at most 16 rows of 64 bytes at 128
        // apart into `acc`'s 32 rows of 128 bytes.
        unsafe {
            std::arch::asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
            if self.rows > 16 {
                std::arch::asm!("tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
            }
            for chunk in 0..chunks {
                let step = chunk * 16 * 128;
                let (xh, xl, wh) = (a.add(64 * chunk), a_low.add(64 * chunk), high.add(step));
                let wl = low.map(|low| low.add(step));
                prefetch_weights(wh);
                if let Some(wl) = wl {
                    prefetch_weights(wl);
                }
                if self.rows > 16 {
                    // tmm4/tmm5: the top/bottom rows of aₗ, then of aₕ (kept for wₗ).
                    std::arch::asm!(
                        "tileloadd tmm6, [{wh} + {b_stride}*1]",
                        "tileloadd tmm7, [{wh2} + {b_stride}*1]",
                        "tileloadd tmm4, [{xl} + {a_stride}*1]",
                        "tileloadd tmm5, [{xl2} + {a_stride}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        "tdpbf16ps tmm2, tmm5, tmm6",
                        "tdpbf16ps tmm3, tmm5, tmm7",
                        "tileloadd tmm4, [{xh} + {a_stride}*1]",
                        "tileloadd tmm5, [{xh2} + {a_stride}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        "tdpbf16ps tmm2, tmm5, tmm6",
                        "tdpbf16ps tmm3, tmm5, tmm7",
                        xh = in(reg) xh,
                        xh2 = in(reg) xh.add(bottom),
                        xl = in(reg) xl,
                        xl2 = in(reg) xl.add(bottom),
                        a_stride = in(reg) a_stride,
                        wh = in(reg) wh,
                        wh2 = in(reg) wh.add(64),
                        b_stride = in(reg) 128usize,
                        options(nostack, readonly),
                    );
                    if let Some(wl) = wl {
                        std::arch::asm!(
                            "tileloadd tmm6, [{wl} + {b_stride}*1]",
                            "tileloadd tmm7, [{wl2} + {b_stride}*1]",
                            "tdpbf16ps tmm0, tmm4, tmm6",
                            "tdpbf16ps tmm1, tmm4, tmm7",
                            "tdpbf16ps tmm2, tmm5, tmm6",
                            "tdpbf16ps tmm3, tmm5, tmm7",
                            wl = in(reg) wl,
                            wl2 = in(reg) wl.add(64),
                            b_stride = in(reg) 128usize,
                            options(nostack, readonly),
                        );
                    }
                } else {
                    // tmm4: aₗ, tmm5: aₕ (kept for wₗ), both the top rows' shape.
                    std::arch::asm!(
                        "tileloadd tmm6, [{wh} + {b_stride}*1]",
                        "tileloadd tmm7, [{wh2} + {b_stride}*1]",
                        "tileloadd tmm4, [{xl} + {a_stride}*1]",
                        "tileloadd tmm5, [{xh} + {a_stride}*1]",
                        "tdpbf16ps tmm0, tmm4, tmm6",
                        "tdpbf16ps tmm1, tmm4, tmm7",
                        "tdpbf16ps tmm0, tmm5, tmm6",
                        "tdpbf16ps tmm1, tmm5, tmm7",
                        xh = in(reg) xh,
                        xl = in(reg) xl,
                        a_stride = in(reg) a_stride,
                        wh = in(reg) wh,
                        wh2 = in(reg) wh.add(64),
                        b_stride = in(reg) 128usize,
                        options(nostack, readonly),
                    );
                    if let Some(wl) = wl {
                        std::arch::asm!(
                            "tileloadd tmm6, [{wl} + {b_stride}*1]",
                            "tileloadd tmm7, [{wl2} + {b_stride}*1]",
                            "tdpbf16ps tmm0, tmm5, tmm6",
                            "tdpbf16ps tmm1, tmm5, tmm7",
                            wl = in(reg) wl,
                            wl2 = in(reg) wl.add(64),
                            b_stride = in(reg) 128usize,
                            options(nostack, readonly),
                        );
                    }
                }
            }
            self.store(acc);
        }
    }

    /// Stores the sums (tmm0–tmm3, as configured) into `acc`'s rows of 32.
    ///
    /// # Safety
    /// The tiles hold a product's sums (`self` configured them).
    unsafe fn store(&self, acc: &mut [f32; 1024]) {
        let out = acc.as_mut_ptr().cast::<u8>();
        // SAFETY: each store writes at most 16 rows of 64 bytes, 128 apart, within
        // `acc`'s 32 rows of 128 bytes; the tiles are configured (`self`), the bottom
        // ones only when `rows > 16`.
        unsafe {
            std::arch::asm!(
                "tilestored [{out} + {stride}*1], tmm0",
                "tilestored [{out2} + {stride}*1], tmm1",
                out = in(reg) out,
                out2 = in(reg) out.add(64),
                stride = in(reg) 128usize,
                options(nostack),
            );
            if self.rows > 16 {
                std::arch::asm!(
                    "tilestored [{out} + {stride}*1], tmm2",
                    "tilestored [{out2} + {stride}*1], tmm3",
                    out = in(reg) out.add(16 * 128),
                    out2 = in(reg) out.add(16 * 128 + 64),
                    stride = in(reg) 128usize,
                    options(nostack),
                );
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Drop for Bf16Tiles {
    fn drop(&mut self) {
        // SAFETY: as `Int8Tiles`' drop.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// Rows of an int8 tile at most: their `f32` sums fill 16 of the 32 vector registers.
#[cfg(target_arch = "x86_64")]
pub(crate) const INT8_TILE_ROWS: usize = 8;

/// The tile registers configured for int8 tiles of `rows` rows (1 to
/// [`INT8_TILE_ROWS`]) and 32 columns: tmm0–tmm1 hold one scale group's products for
/// the two column halves (`rows` × 16 `i32` each) and tmm2–tmm3 the next group's, tmm4
/// and tmm5 the two groups' activations (`rows` × 32 bytes), tmm6–tmm7 the weights'
/// column halves (8 × 64 bytes). Configured once for many tiles (`ldtilecfg` and
/// `tilerelease` cost more than a group's product); released when dropped. A thread
/// holds one at a time.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Int8Tiles {
    rows: usize,
    /// Two groups' stored sums, by group parity.
    sums: Box<StoredSums>,
}

/// [`Int8Tiles`]' stored sums, [`INT8_TILE_ROWS`] rows of 32 `i32` per group, each row
/// on two whole cache lines, so that no tile store or load splits a line (a split tile
/// load took twice as long: `bench/runs/2026-12-08-xeon-2core/amx-int8.md`).
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct StoredSums([[i32; INT8_TILE_ROWS * 32]; 2]);

/// Multiplies one scale group in its own tiles: zero the group's sums (`$c0`, `$c1`),
/// load its activations (`$a`) and both weight halves, multiply.
#[cfg(target_arch = "x86_64")]
macro_rules! int8_group_product {
    ($c0:literal, $c1:literal, $a:literal, $x:expr, $x_stride:expr, $w:expr, $w_stride:expr) => {
        std::arch::asm!(
            concat!("tilezero ", $c0),
            concat!("tilezero ", $c1),
            concat!("tileloadd ", $a, ", [{a} + {a_stride}*1]"),
            "tileloadd tmm6, [{b} + {b_stride}*1]",
            "tileloadd tmm7, [{b2} + {b_stride}*1]",
            concat!("tdpbsud ", $c0, ", ", $a, ", tmm6"),
            concat!("tdpbsud ", $c1, ", ", $a, ", tmm7"),
            a = in(reg) $x,
            a_stride = in(reg) $x_stride,
            b = in(reg) $w,
            b2 = in(reg) $w.add(64),
            b_stride = in(reg) $w_stride,
            options(nostack, readonly),
        )
    };
}

/// Stores one group's sums (`$c0`, `$c1`) as the configured rows of 32 `i32` at `$out`.
#[cfg(target_arch = "x86_64")]
macro_rules! int8_group_store {
    ($c0:literal, $c1:literal, $out:expr) => {
        std::arch::asm!(
            concat!("tilestored [{out} + {stride}*1], ", $c0),
            concat!("tilestored [{out2} + {stride}*1], ", $c1),
            out = in(reg) $out,
            out2 = in(reg) $out.add(16),
            stride = in(reg) 128usize,
            options(nostack),
        )
    };
}

#[cfg(target_arch = "x86_64")]
impl Int8Tiles {
    /// Configures this thread's tiles.
    ///
    /// # Safety
    /// [`int8_ready`] must be true, and no other `Int8Tiles` live on this thread.
    pub(crate) unsafe fn configure(rows: usize) -> Int8Tiles {
        assert!((1..=INT8_TILE_ROWS).contains(&rows), "amx: 1 to 8 rows per int8 tile");
        let (sums, inputs, weights) = ((rows as u8, 64), (rows as u8, 32), (8, 64));
        let shapes = [sums, sums, sums, sums, inputs, inputs, weights, weights];
        // SAFETY: the caller guarantees AMX, the tile state, and no live configuration.
        unsafe { TileConfig::new(&shapes).load() };
        Int8Tiles { rows, sums: Box::new(StoredSums([[0; INT8_TILE_ROWS * 32]; 2])) }
    }

    /// Rows per tile.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// An int8 layer's tile of `rows` rows and 32 columns: for each scale group `g` of
    /// 32 inputs, `raw = Σ a[r, 32g + i] · b[g, i, c]` in `i32` by `tdpbsud` (signed
    /// activations, unsigned weights: the integers the other builds compute), then
    /// `acc[r·32 + c] = (raw as f32).mul_add(scales[r·groups + g], acc)`, the portable
    /// build's operations in its order. Only `acc`'s first `rows` rows are written.
    ///
    /// Each group's sums must leave the tiles through memory to be scaled, and the
    /// stores share the store port with everything else: so the sums in `f32` stay in
    /// 16 registers (8 rows × 32 columns) for the whole product, and step `g`
    /// multiplies group `g`, scales group `g − 2` (stored a step earlier), and only
    /// then stores group `g − 1`, whose products finished a step ago.
    ///
    /// `a`: `rows` rows of `groups · 32` signed bytes, `a_stride` apart. `b`: for each
    /// group, 8 steps of 32 columns × 4 unsigned bytes, `b_stride` apart (the packed
    /// weight's layout).
    ///
    /// # Safety
    /// `a` must hold `rows` rows of `groups · 32` bytes at `a_stride`, `b` `groups · 8`
    /// rows of 128 bytes at `b_stride`, and `scales` `rows · groups` values.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,fma")]
    pub(crate) unsafe fn product(
        &mut self,
        a: *const i8,
        a_stride: usize,
        groups: usize,
        b: *const u8,
        b_stride: usize,
        scales: &[f32],
        acc: &mut [f32; INT8_TILE_ROWS * 32],
    ) {
        use std::arch::x86_64::*;
        let m = self.rows;
        assert!(m <= INT8_TILE_ROWS && scales.len() >= m * groups);
        let mut sums = [_mm512_setzero_ps(); 2 * INT8_TILE_ROWS];
        // Steps `groups` and `groups + 1` only finish the last two groups.
        for g in 0..groups + 2 {
            if g < groups {
                let (x, w) = (a.wrapping_add(32 * g), b.wrapping_add(8 * g * b_stride));
                // SAFETY: the caller guarantees `a`'s `m` rows of this group's 32 bytes
                // and `b`'s 8 rows of 128; the tiles are configured (`self`).
                unsafe {
                    if g % 2 == 0 {
                        int8_group_product!("tmm0", "tmm1", "tmm4", x, a_stride, w, b_stride);
                    } else {
                        int8_group_product!("tmm2", "tmm3", "tmm5", x, a_stride, w, b_stride);
                    }
                }
            }
            if (2..groups + 2).contains(&g) {
                let raw = &self.sums.0[g % 2];
                for (r, pair) in sums.chunks_exact_mut(2).enumerate() {
                    // Rows past `m` are never stored nor read out: their sums stay zero.
                    let scale =
                        _mm512_set1_ps(if r < m { scales[r * groups + g - 2] } else { 0.0 });
                    for (half, sum) in pair.iter_mut().enumerate() {
                        // SAFETY: row `r` of `raw` holds 32 values (r < INT8_TILE_ROWS).
                        let products = unsafe {
                            _mm512_loadu_si512(raw.as_ptr().add(32 * r + 16 * half).cast())
                        };
                        *sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(products), scale, *sum);
                    }
                }
            }
            if (1..groups + 1).contains(&g) {
                let out = self.sums.0[(g - 1) % 2].as_mut_ptr();
                // SAFETY: `out` holds the `m` rows of 128 bytes the stores write, and the
                // pair stored is the one group `g − 1` filled.
                unsafe {
                    if (g - 1) % 2 == 0 {
                        int8_group_store!("tmm0", "tmm1", out);
                    } else {
                        int8_group_store!("tmm2", "tmm3", out);
                    }
                }
            }
        }
        for (r, pair) in sums.chunks_exact(2).enumerate().take(m) {
            for (half, sum) in pair.iter().enumerate() {
                // SAFETY: row `r` of `acc` holds 32 values (r < m ≤ 8).
                unsafe { _mm512_storeu_ps(acc.as_mut_ptr().add(32 * r + 16 * half), *sum) };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Drop for Int8Tiles {
    fn drop(&mut self) {
        // SAFETY: the tiles were configured by `configure`; releasing leaves them as a
        // thread without AMX work has them.
        unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
    }
}
