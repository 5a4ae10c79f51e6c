//! jsonb as exported: the document with its object keys sorted at every level, no spaces, as
//! serde_json prints a `Value` (its map is ordered). jsonb's own text orders keys by length
//! first, so it is re-encoded.
//!
//! Documents made of objects, arrays, strings without escapes, whole numbers and literals (a
//! metadata map, nearly always) are re-encoded here, copying each token as it is: those
//! tokens are exactly what serde_json would print. Anything else (escapes, fractions,
//! duplicate keys, text that is not JSON) goes through serde_json, which has the last word.

use serde_json::Value;

/// Deeper documents go through serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 64;

/// An object member being read: the range of its key's text (without quotes), and of its
/// value's output.
type Member = ((usize, usize), (usize, usize));

/// Re-encodes jsonb text; reuses its buffers from row to row.
#[derive(Debug, Default)]
pub struct SortedJson {
    out: String,
    /// The members of the objects being read, innermost last.
    members: Vec<Member>,
    /// An object's members in the order they came, while they are put in key order.
    scratch: String,
}

impl SortedJson {
    /// `text` with sorted keys and no spaces; text that is not JSON (never from jsonb) is kept
    /// as it is.
    pub fn of(&mut self, text: &str) -> &str {
        self.out.clear();
        self.members.clear();
        let mut reader = Reader {
            text,
            members: &mut self.members,
            scratch: &mut self.scratch,
        };
        let done = reader.value(ws(text, 0), 0, &mut self.out);
        if done.map(|end| ws(text, end)) != Some(text.len()) {
            self.out.clear();
            match serde_json::from_str::<Value>(text) {
                Ok(v) => self.out.push_str(&v.to_string()),
                Err(_) => self.out.push_str(text),
            }
        }
        &self.out
    }
}

/// Where the whitespace from `i` ends.
fn ws(text: &str, mut i: usize) -> usize {
    while matches!(text.as_bytes().get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

struct Reader<'t, 'b> {
    text: &'t str,
    members: &'b mut Vec<Member>,
    scratch: &'b mut String,
}

impl Reader<'_, '_> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.text.as_bytes().get(i).copied()
    }

    /// Writes the value at `i` to `out`; returns where it ends, or `None` to leave the
    /// document to serde_json.
    fn value(&mut self, i: usize, depth: usize, out: &mut String) -> Option<usize> {
        let end = match self.byte(i)? {
            b'{' if depth < MAX_DEPTH => return self.object(i, depth, out),
            b'[' if depth < MAX_DEPTH => return self.array(i, depth, out),
            b'"' => self.string(i)?.1 + 1,
            b't' => i + self.literal(i, "true")?,
            b'f' => i + self.literal(i, "false")?,
            b'n' => i + self.literal(i, "null")?,
            b'-' | b'0'..=b'9' => self.integer(i)?,
            _ => return None,
        };
        out.push_str(self.text.get(i..end)?);
        Some(end)
    }

    fn literal(&self, i: usize, word: &str) -> Option<usize> {
        self.text[i..].starts_with(word).then_some(word.len())
    }

    /// A string without escapes or control characters: (where its text starts, where its
    /// closing quote is).
    fn string(&self, i: usize) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let mut j = i + 1;
        loop {
            match *bytes.get(j)? {
                b'"' => return Some((i + 1, j)),
                b'\\' | 0..=0x1f => return None,
                _ => j += 1,
            }
        }
    }

    /// A whole number of up to 18 digits (what fits serde_json's i64 and u64), without `-0`
    /// or leading zeros; where it ends. A fraction or exponent after it is refused by the
    /// caller, which expects a separator.
    fn integer(&self, i: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let start = i + usize::from(bytes[i] == b'-');
        let digits = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let leading_zero = bytes.get(start) == Some(&b'0');
        if digits == 0 || digits > 18 || (leading_zero && (digits > 1 || start > i)) {
            return None;
        }
        Some(start + digits)
    }

    fn array(&mut self, i: usize, depth: usize, out: &mut String) -> Option<usize> {
        out.push('[');
        let mut i = ws(self.text, i + 1);
        if self.byte(i) == Some(b']') {
            out.push(']');
            return Some(i + 1);
        }
        loop {
            i = ws(self.text, self.value(i, depth + 1, out)?);
            match self.byte(i)? {
                b',' => out.push(','),
                b']' => {
                    out.push(']');
                    return Some(i + 1);
                }
                _ => return None,
            }
            i = ws(self.text, i + 1);
        }
    }

    /// The members' values are written in the order they come, then the object is written
    /// again in key order (byte order, as serde_json's map has it).
    fn object(&mut self, i: usize, depth: usize, out: &mut String) -> Option<usize> {
        let base = self.members.len();
        let start = out.len();
        let mut i = ws(self.text, i + 1);
        if self.byte(i) == Some(b'}') {
            out.push_str("{}");
            return Some(i + 1);
        }
        let end = loop {
            if self.byte(i)? != b'"' {
                return None;
            }
            let (key_start, key_end) = self.string(i)?;
            i = ws(self.text, key_end + 1);
            if self.byte(i)? != b':' {
                return None;
            }
            let value_start = out.len();
            i = ws(self.text, self.value(ws(self.text, i + 1), depth + 1, out)?);
            self.members.push((
                (key_start, key_end),
                (value_start - start, out.len() - start),
            ));
            match self.byte(i)? {
                b',' => i = ws(self.text, i + 1),
                b'}' => break i + 1,
                _ => return None,
            }
        };
        let text = self.text.as_bytes();
        let key = |(s, e): (usize, usize)| &text[s..e];
        let members = &mut self.members[base..];
        members.sort_unstable_by(|a, b| key(a.0).cmp(key(b.0)));
        // serde_json keeps the last of equal keys: that is its business.
        if members.windows(2).any(|w| key(w[0].0) == key(w[1].0)) {
            return None;
        }
        self.scratch.clear();
        self.scratch.push_str(&out[start..]);
        out.truncate(start);
        out.push('{');
        for (n, &((ks, ke), (vs, ve))) in members.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(self.text.get(ks..ke)?);
            out.push_str("\":");
            out.push_str(self.scratch.get(vs..ve)?);
        }
        out.push('}');
        self.members.truncate(base);
        Some(end)
    }
}

#[cfg(test)]
mod tests;
