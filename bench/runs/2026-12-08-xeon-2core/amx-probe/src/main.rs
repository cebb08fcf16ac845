use std::arch::asm;
use std::time::Instant;
#[repr(C, align(64))]
struct Cfg([u8; 64]);
fn cfg(shapes: &[(u8, u8)]) -> Cfg {
    let mut b = [0u8; 64];
    b[0] = 1;
    for (t, &(r, c)) in shapes.iter().enumerate() { b[16 + 2 * t] = c; b[48 + t] = r; }
    Cfg(b)
}
fn perm() {
    let ret: i64;
    unsafe { asm!("syscall", inlateout("rax") 158i64 => ret, in("rdi") 0x1023i64, in("rsi") 18i64, out("rcx") _, out("r11") _); }
    assert_eq!(ret, 0);
}
#[repr(C, align(64))]
struct Buf([u8; 65536]);
fn main() {
    perm();
    let a = Box::new(Buf([1; 65536]));
    let b = Box::new(Buf([1; 65536]));
    let mut raw = Box::new(Buf([0; 65536]));
    let n = 2_000_000usize;
    let c = cfg(&[(16,64),(16,64),(16,64),(16,64),(16,32),(16,32),(8,64),(8,64)]);
    let cfull = cfg(&[(16,64);8]);
    macro_rules! run { ($name:expr, $cfg:expr, $ops:expr, $($body:tt)*) => {{
        let t = Instant::now();
        unsafe { asm!("ldtilecfg [{c}]", "tilezero tmm0","tilezero tmm1","tilezero tmm2","tilezero tmm3",
            "tileloadd tmm4, [{a} + {s}*1]","tileloadd tmm5, [{a} + {s}*1]","tileloadd tmm6, [{b} + {s}*1]","tileloadd tmm7, [{b} + {s}*1]",
            c = in(reg) $cfg.0.as_ptr(), a = in(reg) a.0.as_ptr(), b = in(reg) b.0.as_ptr(), s = in(reg) 64usize); }
        for _ in 0..n { unsafe { asm!($($body)*, a = in(reg) a.0.as_ptr(), b = in(reg) b.0.as_ptr(), r = in(reg) raw.0.as_mut_ptr(), s = in(reg) 128usize, options(nostack)); } }
        unsafe { asm!("tilerelease"); }
        let dt = t.elapsed().as_secs_f64();
        println!("{:50} {:7.2} ns/iter  {:6.0} GOP/s", $name, dt * 1e9 / n as f64, $ops * n as f64 / dt / 1e9);
    }}}
    let k32 = 2.0 * 2.0 * 16.0 * 16.0 * 32.0;
    let k64 = 2.0 * 2.0 * 16.0 * 16.0 * 64.0;
    run!("2 tdp K=64 (full), no loads", cfull, k64, "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "/* {a} {b} {r} {s} */");
    run!("2 tdp K=32, no loads", c, k32, "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "/* {a} {b} {r} {s} */");
    run!("4 tdp K=32 alt, no loads", c, 2.0*k32, "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "tdpbsud tmm2, tmm5, tmm6", "tdpbsud tmm3, tmm5, tmm7", "/* {a} {b} {r} {s} */");
    run!("K=32 + 3 loads", c, k32, "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1]", "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "/* {r} */");
    run!("K=32 + 3 loads + zero", c, k32, "tilezero tmm0", "tilezero tmm1", "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1]", "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "/* {r} */");
    run!("K=32 + 3 loads + zero + 2 stores (same tile)", c, k32, "tilezero tmm0", "tilezero tmm1", "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1]", "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "tilestored [{r} + {s}*1], tmm0", "tilestored [{r} + {s}*1 + 64], tmm1");
    run!("alt pair: loads+zero+stores of other pair", c, 2.0*k32,
        "tilezero tmm0", "tilezero tmm1", "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1]", "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "tilestored [{r} + {s}*1], tmm2", "tilestored [{r} + {s}*1 + 64], tmm3",
        "tilezero tmm2", "tilezero tmm3", "tileloadd tmm5, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1]", "tdpbsud tmm2, tmm5, tmm6", "tdpbsud tmm3, tmm5, tmm7", "tilestored [{r} + {s}*1], tmm0", "tilestored [{r} + {s}*1 + 64], tmm1");
    // Moving addresses like the real kernel: group g at a + 32g (rows 384 apart), b + 1024g.
    macro_rules! runmov { ($name:expr, $astride:expr, $bstep:expr, $aadv:expr, $off:expr) => {{ let off: usize = $off;
        let t = Instant::now();
        unsafe { asm!("ldtilecfg [{c}]", c = in(reg) c.0.as_ptr()); }
        let mut zz = vec![0u8; 4096];
        for i in 0..n { let g = i % 12; if $aadv == 33 && g == 0 { unsafe { std::ptr::write_bytes(zz.as_mut_ptr(), 0, std::hint::black_box(4096)); } } unsafe { asm!(
            "tilezero tmm0", "tilezero tmm1", "tileloadd tmm4, [{a} + {sa}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1 + 64]", "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7",
            a = in(reg) a.0.as_ptr().add($aadv * g + off), b = in(reg) b.0.as_ptr().add($bstep * g + off), sa = in(reg) $astride, s = in(reg) 128usize, options(nostack)); } }
        unsafe { asm!("tilerelease"); }
        let dt = t.elapsed().as_secs_f64();
        println!("{:50} {:7.2} ns/iter", $name, dt * 1e9 / n as f64);
    }}}
    runmov!("fixed addresses, stride 128", 128usize, 0, 0, 0);
    runmov!("A stride 384 fixed", 384usize, 0, 0, 0);
    runmov!("A moving 32/group stride 384", 384usize, 0, 32, 0);
    runmov!("B moving 1024/group", 128usize, 1024, 0, 0);
    runmov!("both moving", 384usize, 1024, 32, 0);
    runmov!("both moving + memset 4K per 12", 384usize, 1024, 33, 0);
    runmov!("both moving, misaligned 16", 384usize, 1024, 32, 16);
    runmov!("both moving, misaligned 32", 384usize, 1024, 32, 32);
    runmov!("fixed, misaligned 16", 128usize, 0, 0, 16);
    // The real kernel's loop structure.
    {
        let groups = 12usize;
        let mut rawb = [0i32; 512];
        let t = Instant::now();
        unsafe { asm!("ldtilecfg [{c}]", c = in(reg) c.0.as_ptr()); }
        let calls = n / groups;
        for _ in 0..calls {
            for g in 0..groups {
                let x = a.0.as_ptr().wrapping_add(32 * g);
                let w = b.0.as_ptr().wrapping_add(8 * g * 128);
                let out = rawb.as_mut_ptr();
                let store = false;
                unsafe {
                    if g % 2 == 0 {
                        asm!("tilezero tmm0", "tilezero tmm1", "tileloadd tmm4, [{a} + {a_stride}*1]", "tileloadd tmm6, [{b} + {b_stride}*1]", "tileloadd tmm7, [{b2} + {b_stride}*1]",
                          "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "test {store}, {store}", "jz 2f", "tilestored [{raw} + {raw_stride}*1], tmm2", "tilestored [{raw2} + {raw_stride}*1], tmm3", "2:",
                          a = in(reg) x, a_stride = in(reg) 384usize, b = in(reg) w, b2 = in(reg) w.add(64), b_stride = in(reg) 128usize, raw = in(reg) out, raw2 = in(reg) out.add(16), raw_stride = in(reg) 128usize, store = in(reg) usize::from(store), options(nostack));
                    } else {
                        asm!("tilezero tmm2", "tilezero tmm3", "tileloadd tmm5, [{a} + {a_stride}*1]", "tileloadd tmm6, [{b} + {b_stride}*1]", "tileloadd tmm7, [{b2} + {b_stride}*1]",
                          "tdpbsud tmm2, tmm5, tmm6", "tdpbsud tmm3, tmm5, tmm7", "test {store}, {store}", "jz 2f", "tilestored [{raw} + {raw_stride}*1], tmm0", "tilestored [{raw2} + {raw_stride}*1], tmm1", "2:",
                          a = in(reg) x, a_stride = in(reg) 384usize, b = in(reg) w, b2 = in(reg) w.add(64), b_stride = in(reg) 128usize, raw = in(reg) out, raw2 = in(reg) out.add(16), raw_stride = in(reg) 128usize, store = in(reg) usize::from(store), options(nostack));
                    }
                }
            }
        }
        unsafe { asm!("tilerelease"); }
        let dt = t.elapsed().as_secs_f64();
        println!("{:50} {:7.2} ns/group  {}", "real loop structure", dt * 1e9 / (calls * groups) as f64, rawb[0]);
    }
    // Store -> load round trip: load from the buffer stored `lag` groups earlier (4 buffers).
    for lag in [0usize, 1, 2, 3] {
        let mut bufs = vec![[0i32; 512]; 4];
        let t = Instant::now();
        unsafe { asm!("ldtilecfg [{c}]", "tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", c = in(reg) c.0.as_ptr()); }
        let mut sink = 0i32;
        for g in 0..n {
            let out = bufs[g % 4].as_mut_ptr();
            unsafe {
                asm!("tilezero tmm0", "tilezero tmm1", "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1 + 64]",
                     "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", "tilestored [{raw} + {s}*1], tmm0", "tilestored [{raw} + {s}*1 + 64], tmm1",
                     a = in(reg) a.0.as_ptr(), b = in(reg) b.0.as_ptr(), raw = in(reg) out, s = in(reg) 128usize, options(nostack));
            }
            if g >= lag {
                let src = &bufs[(g - lag) % 4];
                let mut acc = 0i32;
                for r in 0..16 { acc = acc.wrapping_add(unsafe { std::ptr::read_volatile(&src[32 * r]) }); }
                sink = sink.wrapping_add(acc);
            }
        }
        unsafe { asm!("tilerelease"); }
        let dt = t.elapsed().as_secs_f64();
        println!("{:50} {:7.2} ns/group  {}", format!("store then load, lag {lag}"), dt * 1e9 / n as f64, sink);
    }
    // Order: tdp(g) ; read sums of g-2 ; store C(g-1).
    let fresh = [1i32; 512];
    for (read, vecsrc) in [(false, false), (true, true), (true, false)] {
        let mut accf = [0f32; 512];
        let mut bufs = vec![[0i32; 512]; 4];
        let t = Instant::now();
        unsafe { asm!("ldtilecfg [{c}]", "tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", c = in(reg) c.0.as_ptr()); }
        let mut sink = 0i32;
        for g in 0..n {
            unsafe {
                if g % 2 == 0 {
                    asm!("tilezero tmm0", "tilezero tmm1", "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1 + 64]",
                     "tdpbsud tmm0, tmm4, tmm6", "tdpbsud tmm1, tmm4, tmm7", a = in(reg) a.0.as_ptr(), b = in(reg) b.0.as_ptr(), s = in(reg) 128usize, options(nostack));
                } else {
                    asm!("tilezero tmm2", "tilezero tmm3", "tileloadd tmm5, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1 + 64]",
                     "tdpbsud tmm2, tmm5, tmm6", "tdpbsud tmm3, tmm5, tmm7", a = in(reg) a.0.as_ptr(), b = in(reg) b.0.as_ptr(), s = in(reg) 128usize, options(nostack));
                }
            }
            if read && g >= 2 {
                let src = &bufs[(g - 2) % 4];
                unsafe { epi(src, &mut accf, if vecsrc { src } else { &fresh }) };
            }
            if g >= 1 {
                let out = bufs[(g - 1) % 4].as_mut_ptr();
                unsafe {
                    if g % 2 == 0 {
                        asm!("tilestored [{raw} + {s}*1], tmm2", "tilestored [{raw} + {s}*1 + 64], tmm3", raw = in(reg) out, s = in(reg) 128usize, options(nostack));
                    } else {
                        asm!("tilestored [{raw} + {s}*1], tmm0", "tilestored [{raw} + {s}*1 + 64], tmm1", raw = in(reg) out, s = in(reg) 128usize, options(nostack));
                    }
                }
            }
        }
        unsafe { asm!("tilerelease"); }
        let dt = t.elapsed().as_secs_f64();
        println!("{:50} {:7.2} ns/group  {} {}", format!("tdp(g); epi(g-2) {read} tile-src {vecsrc}; store(g-1)"), dt * 1e9 / n as f64, sink, accf[0]);
    }
    run!("stores only (2)", c, 0.0, "tilestored [{r} + {s}*1], tmm0", "tilestored [{r} + {s}*1 + 64], tmm1", "/* {a} {b} */");
    run!("loads only (3)", c, 0.0, "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tileloadd tmm7, [{b} + {s}*1]", "/* {r} */");
}

#[target_feature(enable = "avx512f,fma")]
unsafe fn epi(_tile_src: &[i32; 512], acc: &mut [f32; 512], src: &[i32; 512]) {
    use std::arch::x86_64::*;
    for r in 0..16 {
        let scale = _mm512_set1_ps(1.0 + r as f32);
        for h in 0..2 {
            let at = 32 * r + 16 * h;
            let p = _mm512_cvtepi32_ps(_mm512_loadu_si512(src.as_ptr().add(at).cast()));
            let sp = acc.as_mut_ptr().add(at);
            _mm512_storeu_ps(sp, _mm512_fmadd_ps(p, scale, _mm512_loadu_ps(sp)));
        }
    }
}
