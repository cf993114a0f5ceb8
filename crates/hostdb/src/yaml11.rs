//! A YAML writer whose output reads back the same in YAML 1.1 readers (the original crawler's
//! PyYAML, even its 3.x releases) and in YAML 1.2 readers (issue 13 point 12).
//!
//! A general-purpose emitter quotes a string only when a YAML 1.2 reader would take it for
//! something else; PyYAML's 1.1 resolver also reads `yes`/`no`/`on`/`off`, `2001-01-01`,
//! `12:30:00`, `1_000`, `0o17` and friends as booleans, dates and numbers, and fails on the
//! whole file at `<<` (merge) or `=` (value). Here a string is written plain only when it
//! starts with a letter, `/` or `_`, is not one of the YAML 1.1 words, and has no character
//! or sequence that is special in a plain scalar; otherwise it is single-quoted, or
//! double-quoted with escapes when it has characters a YAML 1.1 reader refuses or folds
//! (control characters, line breaks, the byte order mark, characters beyond U+FFFF).
//! Floats always carry a `.` and a signed exponent, as the 1.1 float pattern requires.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// `value` as a YAML document (block style, the layout of `serde_yaml`: sequences inside a
/// mapping are not indented).
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0, false),
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0, false),
        other => {
            scalar(&mut out, other);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Items at `indent`; with `inline` the first one continues the current line.
fn write_seq(out: &mut String, items: &[Value], indent: usize, mut inline: bool) {
    for v in items {
        if !inline {
            pad(out, indent);
        }
        inline = false;
        out.push_str("- ");
        match v {
            Value::Array(a) if !a.is_empty() => write_seq(out, a, indent + 2, true),
            Value::Object(m) if !m.is_empty() => write_map(out, m, indent + 2, true),
            other => {
                scalar(out, other);
                out.push('\n');
            }
        }
    }
}

/// Entries at `indent`; with `inline` the first one continues the current line.
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, mut inline: bool) {
    for (k, v) in map {
        if !inline {
            pad(out, indent);
        }
        inline = false;
        string(out, k);
        out.push(':');
        match v {
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(out, a, indent, false);
            }
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(out, m, indent + 2, false);
            }
            other => {
                out.push(' ');
                scalar(out, other);
                out.push('\n');
            }
        }
    }
}

fn scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(out, n),
        Value::String(s) => string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn number(out: &mut String, n: &Number) {
    if n.is_i64() || n.is_u64() {
        let _ = write!(out, "{n}");
        return;
    }
    let f = n.as_f64().unwrap_or_default();
    // YAML 1.1 floats need a `.` and, with an exponent, a sign: `1.0e+300`, not `1e300`.
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    match exponent {
        "0" => out.push_str(&mantissa),
        e if e.starts_with('-') => {
            let _ = write!(out, "{mantissa}e{e}");
        }
        e => {
            let _ = write!(out, "{mantissa}e+{e}");
        }
    }
}

/// Words that some YAML reader takes for a boolean, a null or a special float.
const WORDS: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
];

/// Characters every YAML 1.1 reader takes inside a quoted or plain scalar as they are
/// (PyYAML 3's printable set, without tab, line breaks and the byte order mark).
fn is_safe_char(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether `s` reads back as this very string, unquoted, in YAML 1.1 and 1.2 (block
/// context).
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic()
        || first == '/'
        || first == '_'
        || first as u32 >= 0xA0 && first.is_alphabetic())
        && s.chars().all(is_safe_char)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with([':', ' '])
        && !WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
}

fn string(out: &mut String, s: &str) {
    if plain_ok(s) {
        out.push_str(s);
    } else if s.chars().all(is_safe_char) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        double_quoted(out, s);
    }
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if is_safe_char(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(s: &str) -> String {
        let mut out = String::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn strings_yaml_1_1_reads_otherwise_are_quoted() {
        for s in [
            "",
            "<<",
            "=",
            "~",
            "null",
            "NULL",
            "yes",
            "No",
            "oN",
            "OFF",
            "y",
            "N",
            "true",
            "2001-01-01",
            "12:30:00",
            "1_000",
            "0x1F",
            "0o17",
            "017",
            ".inf",
            "-.inf",
            ".NaN",
            "+1",
            "1e3",
            "-",
            "- a",
            "? a",
            ": a",
            "a: b",
            "a #b",
            "a:",
            " a",
            "a ",
            "#a",
            "&a",
            "*a",
            "!a",
            "|",
            ">",
            "'a",
            "\"a",
            "%a",
            "@a",
            "`a",
            "[a]",
            "{a}",
            ",a",
        ] {
            let q = one(s);
            assert!(q.starts_with('\'') || q.starts_with('"'), "{s:?} → {q}");
        }
        for s in [
            "Twisted",
            "https://x/trac/?a=1&b=#c",
            "_x",
            "/p",
            "yes please",
            "é",
            "a#b",
        ] {
            assert_eq!(one(s), s);
        }
        assert_eq!(one("it's"), "it's");
        assert_eq!(one("'it's'"), "'''it''s'''");
        assert_eq!(
            one("a\nb\t\u{7F}\u{85}\u{FEFF}🐛\\\""),
            "\"a\\nb\\t\\x7F\\x85\\uFEFF\\U0001F41B\\\\\\\"\""
        );
    }

    #[test]
    fn layout_is_serde_yaml_s() {
        let v = json!([{"a": "x", "q": ["u", {"url": "v", "c": 1}], "e": [], "m": {}, "z": null,
                        "f": 1.5, "g": 1e300, "h": [[1, 2]], "o": {"k": false}}]);
        assert_eq!(
            to_string(&v),
            "- a: x\n  q:\n  - u\n  - url: v\n    c: 1\n  e: []\n  m: {}\n  z: null\n  f: 1.5\n  \
             g: 1.0e+300\n  h:\n  - - 1\n    - 2\n  o:\n    k: false\n"
        );
        assert_eq!(to_string(&json!([])), "[]\n");
    }
}
