use super::*;

/// What serde_json makes of the text: the reference.
fn slow(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => v.to_string(),
        Err(_) => text.to_owned(),
    }
}

/// Whether the text is re-encoded here rather than by serde_json.
fn fast(text: &str) -> bool {
    let (mut members, mut scratch, mut out) = (Vec::new(), String::new(), String::new());
    let mut reader = Reader {
        text,
        members: &mut members,
        scratch: &mut scratch,
    };
    reader
        .value(ws(text, 0), 0, &mut out)
        .map(|end| ws(text, end))
        == Some(text.len())
}

#[test]
fn json_is_reencoded_with_sorted_keys() {
    let mut json = SortedJson::default();
    assert_eq!(
        json.of(r#"{"zz": 1, "a": {"c": [1.50, "<&>"], "b": null}, "é": "ü"}"#),
        r#"{"a":{"b":null,"c":[1.5,"<&>"]},"zz":1,"é":"ü"}"#
    );
    assert_eq!(json.of("not json"), "not json");
    // jsonb's own order (shorter keys first) becomes byte order, here without serde_json.
    let metadata = r#"{"n": "1", "batch": "a", "a b": [true, false, null, -12, 0], "e": {}}"#;
    assert!(fast(metadata));
    assert_eq!(
        json.of(metadata),
        r#"{"a b":[true,false,null,-12,0],"batch":"a","e":{},"n":"1"}"#
    );
    for other in [
        r#"{"a": "\n"}"#,
        "[1.5]",
        "-0",
        r#"{"a":1,"a":2}"#,
        "01",
        "[1,]",
    ] {
        assert!(!fast(other), "{other}");
        assert_eq!(json.of(other), slow(other), "{other}");
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    fn space(&mut self) -> &'static str {
        self.pick(&["", "", " ", "\n\t ", "\r"])
    }

    /// A JSON document (or nearly one) with jsonb's spacing and more.
    fn doc(&mut self, depth: usize) -> String {
        const KEYS: [&str; 12] = [
            "a", "b", "n", "batch", "é", "a b", "A", "aa", "", "k\\\"q", "x\\u0041", "a",
        ];
        const STRINGS: [&str; 8] = [
            "\"\"",
            "\"plain\"",
            "\"with space\"",
            "\"é ü 中\"",
            "\"<&>/\"",
            "\"line\\nbreak\"",
            "\"\\u00e9\"",
            "\"tab\\t\"",
        ];
        const NUMBERS: [&str; 15] = [
            "0",
            "1",
            "-1",
            "42",
            "123456789012345678",
            "1234567890123456789",
            "-9223372036854775808",
            "18446744073709551616",
            "-0",
            "1.5",
            "1e3",
            "1E+2",
            "0.0",
            "-12.50",
            "1.0",
        ];
        match self.below(if depth > 4 { 3 } else { 5 }) {
            0 => self.pick(&STRINGS).to_owned(),
            1 => self.pick(&NUMBERS).to_owned(),
            2 => self.pick(&["true", "false", "null"]).to_owned(),
            3 => {
                let n = self.below(5);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("{}{}", self.space(), self.doc(depth + 1)))
                    .collect();
                format!("[{}{}]", items.join(","), self.space())
            }
            _ => {
                let n = self.below(6);
                let members: Vec<String> = (0..n)
                    .map(|_| {
                        let key = self.pick(&KEYS);
                        let (s1, s2) = (self.space(), self.space());
                        format!("{s1}\"{key}\"{s2}:{}{}", self.space(), self.doc(depth + 1))
                    })
                    .collect();
                format!("{{{}{}}}", members.join(","), self.space())
            }
        }
    }
}

#[test]
fn every_document_comes_out_as_serde_json_prints_it() {
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut json = SortedJson::default();
    let (mut fast_ones, mut broken) = (0, 0);
    for _ in 0..30_000 {
        let mut doc = format!("{}{}{}", rng.space(), rng.doc(0), rng.space());
        // Now and then a character changed, added or taken away.
        if rng.below(3) == 0 {
            let mut chars: Vec<char> = doc.chars().collect();
            let at = rng.below(chars.len() + 1);
            let c = rng.pick(&[
                "{", "}", "[", "]", "\"", ",", ":", "0", "-", ".", "a", "\\", " ",
            ]);
            let c = c.chars().next().unwrap();
            match rng.below(3) {
                0 if at < chars.len() => chars[at] = c,
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.insert(at, c),
            }
            doc = chars.into_iter().collect();
            broken += 1;
        }
        fast_ones += usize::from(fast(&doc));
        assert_eq!(json.of(&doc), slow(&doc), "{doc}");
    }
    assert!(fast_ones > 5_000 && broken > 5_000, "{fast_ones} {broken}");
    // Too deep for the fast path, and too deep for serde_json.
    for depth in [MAX_DEPTH + 1, 200] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(json.of(&deep), slow(&deep));
    }
}
