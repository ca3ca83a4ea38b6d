//! Python's `fnmatch.fnmatchcase` and pytest's `fnmatch_ex`, byte-for-byte in behaviour.

use std::path::Path;

/// `fnmatch.fnmatchcase(name, pattern)`: `*` matches anything (including `/`), `?` one
/// character, `[seq]`/`[!seq]` a character class; anything else literally.
pub fn fnmatchcase(name: &str, pattern: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    match_from(&n, &p)
}

fn match_from(n: &[char], p: &[char]) -> bool {
    // Iterative wildcard matching with backtracking to the last `*`.
    let (mut ni, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    ni += 1;
                    pi += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = match_class(n[ni], &p[pi..]) {
                        if matched {
                            ni += 1;
                            pi += next;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        // An unterminated `[` is a literal, as in Python.
                        ni += 1;
                        pi += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    ni += 1;
                    pi += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[0] == '['`. Returns (matched, pattern
/// length consumed) or None when the class is unterminated.
fn match_class(c: char, p: &[char]) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = i < p.len() && p[i] == '!';
    if negate {
        i += 1;
    }
    // A `]` right after `[` or `[!` is literal.
    let start = i;
    let mut end = None;
    let mut j = start;
    while j < p.len() {
        if p[j] == ']' && j > start {
            end = Some(j);
            break;
        }
        j += 1;
    }
    let end = end?;
    let class = &p[start..end];
    let mut matched = false;
    let mut k = 0;
    while k < class.len() {
        if k + 2 < class.len() && class[k + 1] == '-' {
            if class[k] <= c && c <= class[k + 2] {
                matched = true;
            }
            k += 3;
        } else {
            if class[k] == c {
                matched = true;
            }
            k += 1;
        }
    }
    Some((matched != negate, end + 1))
}

/// pytest's `fnmatch_ex`: a pattern without `/` matches the basename, otherwise the whole
/// path (relative patterns get a `*/` prefix when the path is absolute).
pub fn fnmatch_ex(pattern: &str, path: &Path) -> bool {
    if !pattern.contains('/') {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        fnmatchcase(&name, pattern)
    } else {
        let full = path.to_string_lossy();
        if path.is_absolute() && !pattern.starts_with('/') {
            fnmatchcase(&full, &format!("*/{pattern}"))
        } else {
            fnmatchcase(&full, pattern)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_behave_like_python() {
        assert!(fnmatchcase("test_a.py", "test_*.py"));
        assert!(!fnmatchcase("atest_a.py", "test_*.py"));
        assert!(fnmatchcase("a_test.py", "*_test.py"));
        assert!(fnmatchcase(".git", ".*"));
        assert!(fnmatchcase("x/y/z", "x*z"));
        assert!(fnmatchcase("b", "[abc]"));
        assert!(!fnmatchcase("d", "[abc]"));
        assert!(fnmatchcase("d", "[!abc]"));
        assert!(fnmatchcase("{arch}", "{arch}"));
        assert!(fnmatchcase("[x", "[x"));
        assert!(fnmatchcase("m5", "m[0-9]"));
    }

    #[test]
    fn fnmatch_ex_uses_basename_without_separator() {
        assert!(fnmatch_ex("test_*.py", Path::new("/a/b/test_x.py")));
        assert!(fnmatch_ex("b/test_*.py", Path::new("/a/b/test_x.py")));
        assert!(!fnmatch_ex("c/test_*.py", Path::new("/a/b/test_x.py")));
    }
}
