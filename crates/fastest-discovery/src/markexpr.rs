//! `-m` and `-k` expressions evaluated in Rust, with pytest's grammar (`_pytest/mark/expression.py`):
//! `expr := and ('or' and)*`, `and := not ('and' not)*`, `not := 'not' not | '(' expr ')'
//! | ident`. Anything else pytest accepts (keyword arguments `mark(x=1)`, strings) or
//! rejects (syntax errors, which pytest reports) is left to Python: `parse` returns None.

/// A parsed `-m` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkExpr {
    /// The empty expression: matches everything.
    True,
    Ident(String),
    Not(Box<MarkExpr>),
    And(Box<MarkExpr>, Box<MarkExpr>),
    Or(Box<MarkExpr>, Box<MarkExpr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    LParen,
    RParen,
    Or,
    And,
    Not,
    Ident(String),
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '+' | '-' | '.' | '[' | ']' | '\\' | '/')
}

fn lex(input: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            ' ' | '\t' => i += 1,
            '(' => {
                tokens.push(Token::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1;
            }
            c if is_ident_char(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(match word.as_str() {
                    "or" => Token::Or,
                    "and" => Token::And,
                    "not" => Token::Not,
                    _ => Token::Ident(word),
                });
            }
            // `=`, `,`, quotes (keyword arguments) or an invalid character.
            _ => return None,
        }
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn accept(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<MarkExpr> {
        let mut left = self.and_expr()?;
        while self.accept(&Token::Or) {
            left = MarkExpr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Some(left)
    }

    fn and_expr(&mut self) -> Option<MarkExpr> {
        let mut left = self.not_expr()?;
        while self.accept(&Token::And) {
            left = MarkExpr::And(Box::new(left), Box::new(self.not_expr()?));
        }
        Some(left)
    }

    fn not_expr(&mut self) -> Option<MarkExpr> {
        if self.accept(&Token::Not) {
            return Some(MarkExpr::Not(Box::new(self.not_expr()?)));
        }
        if self.accept(&Token::LParen) {
            let inner = self.expr()?;
            return self.accept(&Token::RParen).then_some(inner);
        }
        match self.peek().cloned() {
            Some(Token::Ident(name)) => {
                self.pos += 1;
                // `name(...)`: keyword arguments, matched by Python.
                if self.peek() == Some(&Token::LParen) {
                    return None;
                }
                Some(MarkExpr::Ident(name))
            }
            _ => None,
        }
    }
}

impl MarkExpr {
    /// Parses `input` when it uses only what this module evaluates; None otherwise.
    pub fn parse(input: &str) -> Option<MarkExpr> {
        let tokens = lex(input)?;
        if tokens.is_empty() {
            return Some(MarkExpr::True);
        }
        let mut p = Parser { tokens, pos: 0 };
        let e = p.expr()?;
        (p.pos == p.tokens.len()).then_some(e)
    }

    /// Every mark name the expression mentions.
    pub fn names(&self) -> Vec<&str> {
        match self {
            MarkExpr::True => vec![],
            MarkExpr::Ident(n) => vec![n.as_str()],
            MarkExpr::Not(e) => e.names(),
            MarkExpr::And(a, b) | MarkExpr::Or(a, b) => {
                let mut v = a.names();
                v.extend(b.names());
                v
            }
        }
    }

    /// Whether an item with these mark names matches (pytest's `MarkMatcher`: exact names).
    pub fn matches(&self, marks: &[String]) -> bool {
        self.eval(&|n| marks.iter().any(|m| m == n))
    }

    /// `-k`: whether an identifier is a case-insensitive substring of one of the item's
    /// keywords (pytest's `KeywordMatcher`).
    pub fn matches_keywords(&self, keywords: &[String]) -> bool {
        let lowered: Vec<String> = keywords.iter().map(|k| k.to_lowercase()).collect();
        self.eval(&|n| {
            let n = n.to_lowercase();
            lowered.iter().any(|k| k.contains(&n))
        })
    }

    fn eval(&self, ident: &dyn Fn(&str) -> bool) -> bool {
        match self {
            MarkExpr::True => true,
            MarkExpr::Ident(n) => ident(n),
            MarkExpr::Not(e) => !e.eval(ident),
            MarkExpr::And(a, b) => a.eval(ident) && b.eval(ident),
            MarkExpr::Or(a, b) => a.eval(ident) || b.eval(ident),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_and_grouping_follow_pytest() {
        let e = MarkExpr::parse("not stress").unwrap();
        assert!(e.matches(&m(&["parametrize"])));
        assert!(!e.matches(&m(&["stress"])));
        // `and` binds tighter than `or`; `not` tighter than both.
        let e = MarkExpr::parse("a or b and not c").unwrap();
        assert!(e.matches(&m(&["a", "c"])));
        assert!(e.matches(&m(&["b"])));
        assert!(!e.matches(&m(&["b", "c"])));
        let e = MarkExpr::parse("not (a or b)").unwrap();
        assert!(!e.matches(&m(&["b"])));
        assert!(e.matches(&m(&[])));
        assert_eq!(MarkExpr::parse("  "), Some(MarkExpr::True));
        assert_eq!(e.names(), vec!["a", "b"]);
    }

    #[test]
    fn keywords_match_case_insensitive_substrings() {
        let kw = m(&["tests", "test_users.py", "TestUserAdmin", "test_demote[x]"]);
        assert!(MarkExpr::parse("admin").unwrap().matches_keywords(&kw));
        assert!(MarkExpr::parse("users and not orders")
            .unwrap()
            .matches_keywords(&kw));
        assert!(!MarkExpr::parse("not demote").unwrap().matches_keywords(&kw));
        assert!(MarkExpr::parse("test_demote[x]")
            .unwrap()
            .matches_keywords(&kw));
    }

    #[test]
    fn what_python_must_decide_is_not_parsed() {
        for expr in [
            "slow(x=1)",
            "a (b)",
            "a and",
            "(a",
            "a b",
            "'a'",
            "a=1",
            "or",
        ] {
            assert_eq!(MarkExpr::parse(expr), None, "{expr}");
        }
    }
}
