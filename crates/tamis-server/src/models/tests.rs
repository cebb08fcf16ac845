use super::floor_char_boundary;

#[test]
fn an_offset_inside_a_character_cuts_before_it() {
    // "é" is two bytes (1..3), "😀" four (3..7): offsets inside them are not boundaries.
    let text = "aé😀b";
    assert_eq!(floor_char_boundary(text, 2), 1);
    assert_eq!(floor_char_boundary(text, 5), 3);
    assert_eq!(floor_char_boundary(text, 3), 3);
    assert_eq!(floor_char_boundary(text, 7), 7);
    assert_eq!(floor_char_boundary(text, 100), text.len());
    assert!(text.get(..floor_char_boundary(text, 6)).is_some());
}
