use super::{AmxSupport, bf16_ready, request_permission, tile_steps};

/// On a CPU with AMX int8, the tile loop runs and counts its steps (64 per step in
/// element (0, 0)); elsewhere the test says that it could not run it, so that it never
/// passes silently on a machine without AMX. `TAMIS_REQUIRE_KERNELS` naming `amx-int8`
/// turns the absence into a failure.
#[test]
fn the_amx_int8_loop_counts_its_steps_where_the_cpu_has_it() {
    let support = AmxSupport::detected();
    let required = std::env::var("TAMIS_REQUIRE_KERNELS").is_ok_and(|k| k.contains("amx-int8"));
    if !support.int8_usable() {
        assert!(!required, "amx-int8 is required but this CPU or kernel lacks it: {support:?}");
        eprintln!("amx-int8 not run: this CPU or kernel lacks it ({support:?})");
        return;
    }
    match request_permission() {
        Ok(()) => {}
        Err(errno) => {
            assert!(!required, "amx-int8 is required but Linux refused the tile state ({errno})");
            eprintln!("amx-int8 not run: Linux refused the tile state (errno {errno})");
            return;
        }
    }
    assert_eq!(tile_steps(0, false), 0);
    assert_eq!(tile_steps(3, false), 3 * 64);
    // Another thread holds its own tile state.
    let other = std::thread::spawn(|| tile_steps(5, false)).join().expect("the thread ran");
    assert_eq!(other, 5 * 64);
}

/// The same for AMX bf16: each step adds 32 products of 1.0 to element (0, 0).
#[test]
fn the_amx_bf16_loop_counts_its_steps_where_the_cpu_has_it() {
    let required = std::env::var("TAMIS_REQUIRE_KERNELS").is_ok_and(|k| k.contains("amx-bf16"));
    if !bf16_ready() {
        let support = AmxSupport::detected();
        assert!(!required, "amx-bf16 is required but this CPU or kernel lacks it: {support:?}");
        eprintln!("amx-bf16 not run: this CPU or kernel lacks it, or Linux refused ({support:?})");
        return;
    }
    let sum = |steps| f32::from_bits(tile_steps(steps, true) as u32);
    assert_eq!(sum(0), 0.0);
    assert_eq!(sum(3), 96.0);
}
