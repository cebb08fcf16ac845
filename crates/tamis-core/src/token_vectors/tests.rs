use super::*;

/// Unit rows of a deterministic pseudo-random matrix.
fn unit_rows(rows: usize, dim: usize) -> TokenMatrix {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut data: Vec<f32> = (0..rows * dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect();
    for row in data.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    TokenMatrix { dim, data }
}

#[test]
fn both_storages_give_back_every_row_within_their_rounding() {
    let matrix = unit_rows(37, 96);
    for storage in [TokenStorage::F16, TokenStorage::Int8] {
        let bytes = storage.encode(&matrix);
        assert_eq!(bytes.len(), 37 * storage.row_bytes(96), "{storage:?}");
        let mut out = vec![7.0];
        assert_eq!(storage.decode_into(&bytes, 96, &mut out), Ok(37));
        assert_eq!(out[0], 7.0, "appended, not overwritten");
        for (row, back) in matrix.data.chunks_exact(96).zip(out[1..].chunks_exact(96)) {
            let largest = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            for (x, y) in row.iter().zip(back) {
                let bound = match storage {
                    // Half of fp16's step at |x|, relative 2⁻¹¹.
                    TokenStorage::F16 => x.abs() * 2f32.powi(-11) + 1e-7,
                    // Half of the row's step, plus the scale's own rounding.
                    TokenStorage::Int8 => largest / 127.0 * 0.5 * 1.0001,
                };
                assert!((x - y).abs() <= bound, "{storage:?}: {x} came back as {y}");
            }
        }
    }
}

#[test]
fn a_zero_row_and_no_rows_come_back_as_they_went() {
    let zero = TokenMatrix { dim: 4, data: vec![0.0; 4] };
    let empty = TokenMatrix { dim: 4, data: Vec::new() };
    for storage in [TokenStorage::F16, TokenStorage::Int8] {
        let mut out = Vec::new();
        assert_eq!(storage.decode_into(&storage.encode(&zero), 4, &mut out), Ok(1));
        assert_eq!(out, vec![0.0; 4]);
        assert!(storage.encode(&empty).is_empty());
        assert_eq!(storage.decode_into(&[], 4, &mut out), Ok(0));
    }
}

#[test]
fn bytes_that_are_not_whole_rows_are_refused() {
    let mut out = Vec::new();
    let err = TokenStorage::F16.decode_into(&[0; 7], 2, &mut out).unwrap_err();
    assert_eq!(err, BadTokenBytes { len: 7, storage: TokenStorage::F16, dim: 2 });
    assert!(TokenStorage::Int8.decode_into(&[0; 7], 4, &mut out).is_err());
    assert!(TokenStorage::Int8.decode_into(&[0; 8], 0, &mut out).is_err(), "no dimension");
    assert!(out.is_empty(), "nothing appended on an error");
}
