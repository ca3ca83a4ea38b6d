//! INI parsing with the exact rules of `iniconfig` (the parser pytest uses).

use std::collections::BTreeMap;

/// Sections in file order, each mapping key to its (possibly multi-line) value.
#[derive(Debug, Default, Clone)]
pub struct IniFile {
    pub sections: Vec<(String, BTreeMap<String, String>)>,
}

impl IniFile {
    pub fn section(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

/// Parses INI text; the error says which line is wrong (1-based).
pub fn parse_ini(text: &str) -> Result<IniFile, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = IniFile::default();
    let mut last_key: Option<String> = None;
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let trimmed_start = raw.trim_start();
        if trimmed_start.starts_with('#') || trimmed_start.starts_with(';') {
            continue;
        }
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let mut header = rest.to_string();
            header.insert(0, '[');
            for c in ['#', ';'] {
                header = header.split(c).next().unwrap_or("").trim_end().to_string();
            }
            if header.ends_with(']') && header.len() >= 2 {
                let name = header[1..header.len() - 1].to_string();
                if name.is_empty() {
                    return Err(format!("line {lineno}: empty section name"));
                }
                if file.section(&name).is_some() {
                    return Err(format!("line {lineno}: duplicate section {name:?}"));
                }
                file.sections.push((name, BTreeMap::new()));
                last_key = None;
                continue;
            }
            // A line starting with `[` that is not a header is a continuation.
            append_continuation(&mut file, &last_key, line.trim(), lineno)?;
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            append_continuation(&mut file, &last_key, line.trim(), lineno)?;
            continue;
        }
        let (name, value) = split_key_value(line)
            .ok_or_else(|| format!("line {lineno}: unexpected line: {line:?}"))?;
        let Some((_, section)) = file.sections.last_mut() else {
            return Err(format!("line {lineno}: no section header defined"));
        };
        if section.contains_key(&name) {
            return Err(format!("line {lineno}: duplicate name {name:?}"));
        }
        section.insert(name.clone(), value);
        last_key = Some(name);
    }
    Ok(file)
}

fn split_key_value(line: &str) -> Option<(String, String)> {
    if let Some((name, value)) = line.split_once('=') {
        if !name.contains(':') {
            return Some((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let (name, value) = line.split_once(':')?;
    Some((name.trim().to_string(), value.trim().to_string()))
}

fn append_continuation(
    file: &mut IniFile,
    last_key: &Option<String>,
    data: &str,
    lineno: usize,
) -> Result<(), String> {
    let (Some(key), Some((_, section))) = (last_key, file.sections.last_mut()) else {
        return Err(format!("line {lineno}: unexpected value continuation"));
    };
    let value = section.get_mut(key).expect("last key exists");
    if value.is_empty() {
        // iniconfig keeps an empty first line out of the joined value.
        *value = data.to_string();
    } else {
        value.push('\n');
        value.push_str(data);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_continuations_and_comments() {
        let ini = parse_ini(
            "# top\n[pytest]\naddopts = -ra\n    --strict-markers\ntestpaths:\n  tests\n  more\n; c\n[other]\nx=1\n",
        )
        .unwrap();
        let s = ini.section("pytest").unwrap();
        assert_eq!(s["addopts"], "-ra\n--strict-markers");
        assert_eq!(s["testpaths"], "tests\nmore");
        assert_eq!(ini.section("other").unwrap()["x"], "1");
    }

    #[test]
    fn reports_bad_lines() {
        assert!(parse_ini("x = 1\n").unwrap_err().contains("no section"));
        assert!(parse_ini("[a]\nnovalue\n").unwrap_err().contains("line 2"));
    }
}
