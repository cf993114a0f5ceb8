//! `POST /graphql` (and `/api/graphql`) of the [`super::GitHubCostServer`]: the aliased
//! `repository(owner:, name:) { issues(states: OPEN, first:, after:) { ... } }` queries of
//! the GitHub importer's `github_api: graphql`, costed by GitHub's published formula.
//!
//! The document is parsed (fields, aliases, arguments, variables; no fragments). The cost is
//! GitHub's: every connection adds the number of requests needed to resolve it — the product
//! of the `first`/`last` of the connections above it (it is resolved once per parent node
//! that may exist) — the sum divided by 100, rounded, at least 1. A connection is a field
//! with a `first`/`last` argument or whose selection asks for `nodes`, `edges`, `totalCount`
//! or `pageInfo`. A query that may return more than 500 000 nodes is refused, uncharged, as
//! GitHub does. The answer carries every field the importer asks for, whatever the
//! selection (a test server, not a schema).

use serde_json::{json, Value};

/// A GraphQL value as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// An enum value, `true`, `false` or `null`.
    Name(String),
    /// `$name`.
    Var(String),
    /// `[...]`.
    List(Vec<GValue>),
    /// `{...}`.
    Object(Vec<(String, GValue)>),
}

/// One field of a selection set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    /// The alias, else the name.
    pub(crate) key: String,
    /// The field name.
    pub(crate) name: String,
    /// Arguments in order.
    pub(crate) args: Vec<(String, GValue)>,
    /// Sub-selection.
    pub(crate) selection: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(char),
    Spread,
    Name(String),
    Str(String),
    Int(i64),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => {
                chars.next();
            }
            '#' => while chars.next().is_some_and(|c| c != '\n') {},
            '{' | '}' | '(' | ')' | ':' | '[' | ']' | '!' | '$' | '=' | '@' | '|' | '&' => {
                out.push(Tok::Punct(c));
                chars.next();
            }
            '.' => {
                let dots: String = (0..3).filter_map(|_| chars.next()).collect();
                if dots != "..." {
                    return Err("a lone '.'".into());
                }
                out.push(Tok::Spread);
            }
            '"' => {
                chars.next();
                out.push(Tok::Str(string_body(&mut chars)?));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let s = take_while(&mut chars, |d| d == '-' || d.is_ascii_digit());
                out.push(Tok::Int(s.parse().map_err(|_| format!("bad number {s}"))?));
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                out.push(Tok::Name(take_while(&mut chars, |d| {
                    d == '_' || d.is_ascii_alphanumeric()
                })));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

/// The characters from here on that `keep` accepts.
fn take_while(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    keep: impl Fn(char) -> bool,
) -> String {
    let mut s = String::new();
    while let Some(c) = chars.next_if(|&c| keep(c)) {
        s.push(c);
    }
    s
}

fn string_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut s = String::new();
    loop {
        match chars.next().ok_or("unterminated string")? {
            '"' => return Ok(s),
            '\\' => match chars.next().ok_or("unterminated escape")? {
                'n' => s.push('\n'),
                't' => s.push('\t'),
                'r' => s.push('\r'),
                'b' => s.push('\u{8}'),
                'f' => s.push('\u{c}'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                    let code = u32::from_str_radix(&hex, 16).map_err(|_| "bad \\u escape")?;
                    s.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                c => s.push(c),
            },
            c => s.push(c),
        }
    }
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}', found {:?}", self.peek()))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Name(n)) => Ok(n),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// `query Name($a: T = v) { ... }` or a bare `{ ... }`.
    fn document(&mut self) -> Result<Vec<Field>, String> {
        if let Some(Tok::Name(n)) = self.peek() {
            if n != "query" {
                return Err(format!("only queries are served, not {n:?}"));
            }
            self.at += 1;
            if let Some(Tok::Name(_)) = self.peek() {
                self.at += 1;
            }
            if self.eat('(') {
                let mut depth = 1;
                while depth > 0 {
                    match self.next().ok_or("unterminated variable definitions")? {
                        Tok::Punct('(') => depth += 1,
                        Tok::Punct(')') => depth -= 1,
                        _ => {}
                    }
                }
            }
        }
        let fields = self.selection()?;
        if self.peek().is_some() {
            return Err("one operation only".into());
        }
        Ok(fields)
    }

    fn selection(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.eat('}') {
            if self.peek() == Some(&Tok::Spread) {
                return Err("fragments are not served".into());
            }
            let first = self.name()?;
            let (key, name) = if self.eat(':') {
                (first, self.name()?)
            } else {
                (first.clone(), first)
            };
            let mut args = Vec::new();
            if self.eat('(') {
                while !self.eat(')') {
                    let n = self.name()?;
                    self.expect(':')?;
                    args.push((n, self.value()?));
                }
            }
            let selection = if self.peek() == Some(&Tok::Punct('{')) {
                self.selection()?
            } else {
                Vec::new()
            };
            fields.push(Field {
                key,
                name,
                args,
                selection,
            });
        }
        Ok(fields)
    }

    fn value(&mut self) -> Result<GValue, String> {
        match self.next().ok_or("expected a value")? {
            Tok::Str(s) => Ok(GValue::Str(s)),
            Tok::Int(i) => Ok(GValue::Int(i)),
            Tok::Name(n) => Ok(GValue::Name(n)),
            Tok::Punct('$') => Ok(GValue::Var(self.name()?)),
            Tok::Punct('[') => {
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value()?);
                }
                Ok(GValue::List(items))
            }
            Tok::Punct('{') => {
                let mut items = Vec::new();
                while !self.eat('}') {
                    let n = self.name()?;
                    self.expect(':')?;
                    items.push((n, self.value()?));
                }
                Ok(GValue::Object(items))
            }
            other => Err(format!("unexpected {other:?} where a value belongs")),
        }
    }
}

/// Parses a query document into its top-level fields.
pub(crate) fn parse(text: &str) -> Result<Vec<Field>, String> {
    Parser {
        toks: tokenize(text)?,
        at: 0,
    }
    .document()
}

impl Field {
    fn arg(&self, name: &str, vars: &Value) -> Option<Value> {
        let (_, v) = self.args.iter().find(|(n, _)| n == name)?;
        Some(resolve(v, vars))
    }

    fn is_connection(&self) -> bool {
        self.args.iter().any(|(n, _)| n == "first" || n == "last")
            || self.selection.iter().any(|f| {
                matches!(
                    f.name.as_str(),
                    "nodes" | "edges" | "totalCount" | "pageInfo"
                )
            })
    }

    fn page_size(&self, vars: &Value) -> u64 {
        ["first", "last"]
            .iter()
            .filter_map(|k| self.arg(k, vars).and_then(|v| v.as_u64()))
            .max()
            .unwrap_or(1)
    }
}

fn resolve(v: &GValue, vars: &Value) -> Value {
    match v {
        GValue::Str(s) => Value::String(s.clone()),
        GValue::Int(i) => json!(i),
        GValue::Name(n) if n == "null" => Value::Null,
        GValue::Name(n) if n == "true" || n == "false" => Value::Bool(n == "true"),
        GValue::Name(n) => Value::String(n.clone()),
        GValue::Var(n) => vars.get(n).cloned().unwrap_or(Value::Null),
        GValue::List(items) => Value::Array(items.iter().map(|i| resolve(i, vars)).collect()),
        GValue::Object(items) => Value::Object(
            items
                .iter()
                .map(|(k, v)| (k.clone(), resolve(v, vars)))
                .collect(),
        ),
    }
}

/// The requests GitHub counts for `fields` under `parents` possible parent nodes.
fn requests(fields: &[Field], parents: u64, vars: &Value) -> u64 {
    fields
        .iter()
        .map(|f| {
            if f.is_connection() {
                parents
                    + requests(
                        &f.selection,
                        parents.saturating_mul(f.page_size(vars)),
                        vars,
                    )
            } else {
                requests(&f.selection, parents, vars)
            }
        })
        .sum()
}

/// GitHub's most nodes one query may ask for.
pub(crate) const NODE_LIMIT: u64 = 500_000;

/// The nodes `fields` may return under `parents` parent nodes (GitHub's node count: a
/// connection may return its page size per parent).
pub(crate) fn nodes(fields: &[Field], parents: u64, vars: &Value) -> u64 {
    fields
        .iter()
        .map(|f| {
            if f.is_connection() {
                let here = parents.saturating_mul(f.page_size(vars));
                here + nodes(&f.selection, here, vars)
            } else {
                nodes(&f.selection, parents, vars)
            }
        })
        .sum()
}

/// The points a query costs: GitHub's formula (see the module docs).
pub(crate) fn cost(fields: &[Field], vars: &Value) -> u64 {
    ((requests(fields, 1, vars) + 50) / 100).max(1)
}

/// What one top-level `repository` field asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RepoAsk {
    /// The alias (the answer's key).
    pub(crate) key: String,
    /// `owner:`.
    pub(crate) owner: String,
    /// `name:`.
    pub(crate) name: String,
    /// `issues(first:)` (1..=100).
    pub(crate) first: u64,
    /// The issue index to start at (from `after:`).
    pub(crate) offset: u64,
}

/// The repository fields of a parsed document; an error names what is not served.
pub(crate) fn repo_asks(fields: &[Field], vars: &Value) -> Result<Vec<RepoAsk>, String> {
    fields
        .iter()
        .filter(|f| f.name == "repository")
        .map(|f| {
            let text = |k: &str| {
                f.arg(k, vars)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .ok_or_else(|| format!("{}: repository needs `{k}`", f.key))
            };
            let issues = f
                .selection
                .iter()
                .find(|s| s.name == "issues")
                .ok_or_else(|| format!("{}: only `issues` is served", f.key))?;
            let first = issues
                .arg("first", vars)
                .and_then(|v| v.as_u64())
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| format!("{}: issues needs `first` within 1-100", f.key))?;
            let offset = match issues.arg("after", vars) {
                Some(Value::String(c)) => c
                    .strip_prefix("offset:")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("{}: unknown cursor {c:?}", f.key))?,
                _ => 0,
            };
            Ok(RepoAsk {
                key: f.key.clone(),
                owner: text("owner")?,
                name: text("name")?,
                first,
                offset,
            })
        })
        .collect()
}

/// The GraphQL issue node of a REST issue object of the server.
pub(crate) fn node_of(rest: &Value) -> Value {
    let logins = |v: &Value| -> Vec<Value> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.get("login").cloned())
                    .map(|l| json!({ "login": l }))
                    .collect()
            })
            .unwrap_or_default()
    };
    json!({
        "number": rest["number"],
        "url": rest["html_url"],
        "title": rest["title"],
        "body": rest["body"],
        "state": rest["state"].as_str().unwrap_or("open").to_ascii_uppercase(),
        "createdAt": rest["created_at"],
        "updatedAt": rest["updated_at"],
        "author": rest["user"],
        "assignees": { "nodes": logins(&rest["assignees"]) },
        "comments": { "totalCount": rest["comments"] },
        "labels": { "nodes": rest["labels"] },
    })
}

/// The answer of one repository: `issues` of the open `items` from `ask.offset`.
pub(crate) fn repo_answer(ask: &RepoAsk, items: &[Value]) -> Value {
    let start = (ask.offset as usize).min(items.len());
    let end = (start + ask.first as usize).min(items.len());
    let nodes: Vec<Value> = items[start..end].iter().map(node_of).collect();
    json!({
        "issues": {
            "totalCount": items.len(),
            "pageInfo": {
                "hasNextPage": end < items.len(),
                "endCursor": format!("offset:{end}"),
            },
            "nodes": nodes,
        }
    })
}

/// GitHub's error for a repository that does not exist (or that the token cannot see).
pub(crate) fn not_found_error(ask: &RepoAsk) -> Value {
    json!({
        "type": "NOT_FOUND",
        "path": [ask.key],
        "locations": [{"line": 1, "column": 1}],
        "message": format!("Could not resolve to a Repository with the name '{}/{}'.", ask.owner, ask.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_published_example_costs_51() {
        // docs.github.com, "Rate limits and node limits for the GraphQL API": 1 + 100 +
        // 5 000 requests, 51 points.
        let q = "query { viewer { login repositories(first: 100, orderBy: {field: NAME, direction: DESC}) { nodes { name issues(first: 50, states: OPEN) { nodes { title labels(first: 60) { nodes { name } } } } } } } }";
        let fields = parse(q).unwrap();
        assert_eq!(requests(&fields, 1, &Value::Null), 5101);
        // 100 repositories + 5 000 issues + 300 000 labels.
        assert_eq!(nodes(&fields, 1, &Value::Null), 305_100);
        assert_eq!(cost(&fields, &Value::Null), 51);
        // A query with no connection still costs one point.
        assert_eq!(
            cost(&parse("{ viewer { login } }").unwrap(), &Value::Null),
            1
        );
    }

    #[test]
    fn aliases_variables_and_cursors() {
        let q = r#"query Q($o: String!) { a: repository(owner: $o, name: "x\"y") { issues(states: OPEN, first: 5, after: "offset:5") { totalCount nodes { number labels(first: 100) { nodes { name } } comments { totalCount } } } } }"#;
        let vars = json!({"o": "org"});
        let fields = parse(q).unwrap();
        let asks = repo_asks(&fields, &vars).unwrap();
        assert_eq!(
            asks,
            vec![RepoAsk {
                key: "a".into(),
                owner: "org".into(),
                name: "x\"y".into(),
                first: 5,
                offset: 5
            }]
        );
        // issues: 1; labels and comments: 5 each.
        assert_eq!(requests(&fields, 1, &vars), 11);
        assert!(parse("mutation { x }").is_err());
        assert!(parse("{ a { ...F } }").is_err());
    }
}
