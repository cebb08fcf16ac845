use std::time::{Duration, Instant};

use indicatif::TermLike;

use super::MinuteLines;

#[test]
fn off_a_terminal_a_bar_prints_its_figures_once_a_minute() {
    let lines = MinuteLines::default();
    let start = lines.state.lock().unwrap().0;
    let draw = |text: &str| {
        // What indicatif writes for one drawing: a return, the line, its filler.
        lines.write_str("\r").unwrap();
        lines.write_str(text).unwrap();
        lines.write_str("    ").unwrap();
    };
    draw("3/10 docs (1/s, eta 7s)");
    assert_eq!(lines.take_due(start + Duration::from_secs(59)), None, "printed within the minute");
    draw("4/10 docs (1/s, eta 6s)");
    let due = lines.take_due(start + Duration::from_secs(61));
    // The latest drawing only, trimmed; the one dropped before is not carried along.
    assert_eq!(due.as_deref(), Some("4/10 docs (1/s, eta 6s)"));
    draw("5/10 docs (1/s, eta 5s)");
    assert_eq!(lines.take_due(start + Duration::from_secs(90)), None, "a second line too soon");
    draw("9/10 docs (1/s, eta 1s) loss 0.5");
    let due = lines.take_due(start + Duration::from_secs(122));
    assert_eq!(due.as_deref(), Some("9/10 docs (1/s, eta 1s) loss 0.5"));
    // An empty drawing (a cleared bar) prints nothing, however late.
    draw("");
    assert_eq!(lines.take_due(Instant::now() + Duration::from_secs(3600)), None);
}
