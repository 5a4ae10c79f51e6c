use super::*;

fn pairs(digits: &[u16]) -> Vec<u8> {
    digits.iter().flat_map(|d| d.to_be_bytes()).collect()
}

/// Plain text the long way: every digit as four, the point placed, zeros trimmed.
fn reference(negative: bool, weight: i16, digits: &[u16]) -> String {
    let all: String = digits.iter().map(|d| format!("{d:04}")).collect();
    let point = 4 * (i64::from(weight) + 1);
    let (whole, fraction) = if point <= 0 {
        (
            String::new(),
            format!("{}{all}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= all.len() {
        (
            format!("{all}{}", "0".repeat(point as usize - all.len())),
            String::new(),
        )
    } else {
        (
            all[..point as usize].to_owned(),
            all[point as usize..].to_owned(),
        )
    };
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let mut text = if whole.is_empty() {
        "0".to_owned()
    } else {
        whole.to_owned()
    };
    if !fraction.is_empty() {
        text = format!("{text}.{fraction}");
    }
    if negative && text != "0" {
        text.insert(0, '-');
    }
    text
}

#[test]
fn plain_text_is_exact_for_any_weight_and_digits() {
    let mut rng = 0x853c_49e6_748f_ea9bu64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut cases: Vec<(bool, i16, Vec<u16>)> = vec![
        (false, 0, vec![]),
        (true, 0, vec![]),
        (true, 3, vec![0, 0]),
        (false, 0, vec![1]),
        (false, -1, vec![1]),
        (false, -3, vec![9999, 10]),
        (true, 2, vec![7]),
        (false, 0, vec![0, 0, 5]),
        (false, 1, vec![0, 5, 0, 0]),
        (false, i16::MAX, vec![1]),
        (true, i16::MIN, vec![1, 2]),
    ];
    for _ in 0..20_000 {
        let len = (next() % 8) as usize;
        // Zeros are common among the digits, as in real values.
        let digits = (0..len)
            .map(|_| match next() % 4 {
                0 => 0,
                1 => (next() % 10) as u16 * 1000,
                _ => (next() % 10_000) as u16,
            })
            .collect();
        cases.push((next() % 2 == 0, (next() % 21) as i16 - 10, digits));
    }
    for (negative, weight, digits) in cases {
        let raw = pairs(&digits);
        let n = Numeric::new(negative, weight, 0, &raw).unwrap();
        let mut out = Vec::new();
        n.write_plain(&mut out);
        let expected = reference(negative, weight, &digits);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            expected,
            "{weight} {digits:?}"
        );
        assert_eq!(n.to_string(), expected);
        // Where a Decimal holds it, the same value.
        if let Some(d) = n.to_decimal() {
            assert_eq!(d, Decimal::from_str_exact(&expected).unwrap(), "{expected}");
        } else {
            assert!(expected.trim_start_matches('-').len() > 28, "{expected}");
        }
    }
}

#[test]
fn only_whole_digit_pairs_below_10000() {
    assert!(Numeric::new(false, 0, 0, &[0x27, 0x0f]).is_some());
    assert!(Numeric::new(false, 0, 0, &[0x27, 0x10]).is_none());
    assert!(Numeric::new(false, 0, 0, &[1]).is_none());
}

#[test]
fn decimals_keep_the_display_scale_when_they_can() {
    let raw = pairs(&[1, 5000]);
    let d = Numeric::new(false, 0, 8, &raw)
        .unwrap()
        .to_decimal()
        .unwrap();
    assert_eq!((d.to_string(), d.scale()), ("1.50000000".to_owned(), 8));
    let d = Numeric::new(true, 0, 40, &raw)
        .unwrap()
        .to_decimal()
        .unwrap();
    assert_eq!(d.scale(), 28);
    assert_eq!(d.normalize().to_string(), "-1.5");
}
