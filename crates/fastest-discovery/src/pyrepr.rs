//! Python's text forms that parametrize ids are made of: `str()` of numbers and
//! pytest's `ascii_escaped` for str and bytes.

/// `str(float)` / `repr(float)` in Python 3: shortest round-trip digits, scientific
/// notation when the exponent is < -4 or >= 16.
pub fn float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e3".
    let sci = format!("{:e}", v);
    let (mantissa, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if (point as usize) >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{body}")
}

/// `str(complex)` for a pure imaginary literal like `2j` or `1.5j`.
pub fn imag_repr(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{}j", v as i64)
    } else {
        format!("{}j", float_repr(v))
    }
}

/// pytest's `ascii_escaped` for str: `unicode_escape` encoding.
pub fn ascii_escaped_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out
}

/// pytest's `ascii_escaped` for bytes: `decode("ascii", "backslashreplace")`, then
/// non-printable ASCII escaped.
pub fn ascii_escaped_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for &byte in b {
        match byte {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{:02x}", byte)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_python_str() {
        assert_eq!(float_repr(1.5), "1.5");
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1e20), "1e+20");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(-2.5), "-2.5");
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(123.456), "123.456");
        assert_eq!(float_repr(1.5e-7), "1.5e-07");
        assert_eq!(imag_repr(1.0), "1j");
        assert_eq!(imag_repr(2.5), "2.5j");
    }

    #[test]
    fn escaping_matches_pytest() {
        assert_eq!(ascii_escaped_str("é"), "\\xe9");
        assert_eq!(ascii_escaped_str("a\\b\n"), "a\\\\b\\n");
        assert_eq!(ascii_escaped_str("☃"), "\\u2603");
        assert_eq!(ascii_escaped_bytes(b"q\x00\\\xff"), "q\\x00\\\\xff");
    }
}
