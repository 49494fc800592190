//! Parsing templates into a tree, and rendering the tree.

use super::{funcs, Data, TemplateError, Value};

/// How deep parentheses may nest: deeper is refused, not a stack overflow.
const MAX_DEPTH: usize = 32;

fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError(msg.into())
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Print(Pipeline),
    Assign(String, Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

type Pipeline = Vec<Command>;
type Command = Vec<Arg>;

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Func(String),
    Var(String, Vec<String>),
    Dot(Vec<String>),
    Literal(Value),
    Sub(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Var(String),
    Fields(Vec<String>),
    Str(String),
    Number(f64),
    Open,
    Close,
    Pipe,
    Declare,
}

/// A piece of the template text: literal text or an action's inside.
enum Piece {
    Text(String),
    Action(String),
}

/// Splits `text` at `{{ }}`, applying `{{-` and `-}}` trimming.
fn pieces(text: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut literal = &rest[..open];
        if trim_next {
            literal = literal.trim_start();
        }
        let mut inner = &rest[open + 2..];
        let trim_before = inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n");
        if trim_before {
            literal = literal.trim_end();
            inner = &inner[1..];
        }
        out.push(Piece::Text(literal.to_string()));
        let close = find_close(inner).ok_or_else(|| err("unclosed action"))?;
        let mut action = &inner[..close];
        trim_next = action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-");
        if trim_next {
            action = &action[..action.len() - 1];
        }
        out.push(Piece::Action(action.to_string()));
        rest = &inner[close + 2..];
    }
    out.push(Piece::Text(
        if trim_next { rest.trim_start() } else { rest }.to_string(),
    ));
    Ok(out)
}

/// Where the action starting at `s` ends (`}}` outside quotes).
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'"' || b == b'`' => quote = Some(b),
            None if b == b'/' && s[i..].starts_with("/*") => {
                i += s[i..].find("*/")? + 1;
            }
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn tokens(action: &str) -> Result<Vec<Token>, TemplateError> {
    let mut out = Vec::new();
    let chars: Vec<char> = action.chars().collect();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::Declare);
                i += 2;
            }
            '=' => {
                out.push(Token::Declare);
                i += 1;
            }
            '$' => {
                i += 1;
                let name = word(&mut i);
                out.push(Token::Var(name));
                let fields = fields(&chars, &mut i, &word)?;
                if !fields.is_empty() {
                    out.push(Token::Fields(fields));
                }
            }
            '.' => {
                let fields = fields(&chars, &mut i, &word)?;
                out.push(Token::Fields(fields));
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(err("unterminated quoted string"));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Err(err("unterminated quoted string"));
                            };
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' | '"' | '\'' => e,
                                _ => return Err(err(format!("unknown escape \\{e}"))),
                            });
                        }
                        _ => s.push(c),
                    }
                }
                out.push(Token::Str(s));
            }
            '`' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err("unterminated raw string"));
                }
                out.push(Token::Str(chars[start..i].iter().collect()));
                i += 1;
            }
            _ if c.is_ascii_digit()
                || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '+' | '-')) {
                    if matches!(chars[i], '+' | '-') && !matches!(chars[i - 1], 'e' | 'E') {
                        break;
                    }
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse::<f64>()
                    .map_err(|_| err(format!("bad number syntax: {text:?}")))?;
                out.push(Token::Number(n));
            }
            _ if c.is_alphabetic() || c == '_' => out.push(Token::Ident(word(&mut i))),
            _ => return Err(err(format!("unexpected {c:?} in action"))),
        }
    }
    Ok(out)
}

fn fields(chars: &[char], i: &mut usize, word: &dyn Fn(&mut usize) -> String) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::new();
    while chars.get(*i) == Some(&'.') {
        *i += 1;
        let name = word(i);
        if name.is_empty() {
            // A lone `.` is the data itself.
            if out.is_empty() {
                break;
            }
            return Err(err("a field name must follow '.'"));
        }
        out.push(name);
    }
    Ok(out)
}

/// Block structure while parsing: the branches of an open `if`, and the
/// body it sits in (resumed at its `end`).
struct OpenIf {
    branches: Vec<(Pipeline, Vec<Node>)>,
    otherwise: Option<Vec<Node>>,
    parent: Vec<Node>,
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut stack: Vec<OpenIf> = Vec::new();
        let mut current: Vec<Node> = Vec::new();
        for piece in pieces(text)? {
            let action = match piece {
                Piece::Text(t) => {
                    if !t.is_empty() {
                        current.push(Node::Text(t));
                    }
                    continue;
                }
                Piece::Action(a) => a,
            };
            let trimmed = action.trim();
            if trimmed.starts_with("/*") {
                if !trimmed.ends_with("*/") {
                    return Err(err("unclosed comment"));
                }
                continue;
            }
            let toks = tokens(trimmed)?;
            match toks.first() {
                Some(Token::Ident(k)) if k == "if" => {
                    let cond = parse_pipeline(&toks[1..], 0)?;
                    stack.push(OpenIf {
                        branches: vec![(cond, Vec::new())],
                        otherwise: None,
                        parent: std::mem::take(&mut current),
                    });
                }
                Some(Token::Ident(k)) if k == "else" => {
                    let open = stack.last_mut().ok_or_else(|| err("else without if"))?;
                    let body = std::mem::take(&mut current);
                    match &mut open.otherwise {
                        Some(_) => return Err(err("else after else")),
                        None => {
                            if let Some(last) = open.branches.last_mut() {
                                last.1 = body;
                            }
                        }
                    }
                    match toks.get(1) {
                        Some(Token::Ident(k)) if k == "if" => {
                            let cond = parse_pipeline(&toks[2..], 0)?;
                            open.branches.push((cond, Vec::new()));
                        }
                        None => open.otherwise = Some(Vec::new()),
                        Some(_) => return Err(err("unexpected words after else")),
                    }
                }
                Some(Token::Ident(k)) if k == "end" => {
                    if toks.len() > 1 {
                        return Err(err("unexpected words after end"));
                    }
                    let mut open = stack.pop().ok_or_else(|| err("end without if"))?;
                    let body = std::mem::take(&mut current);
                    match &mut open.otherwise {
                        Some(o) => *o = body,
                        None => {
                            if let Some(last) = open.branches.last_mut() {
                                last.1 = body;
                            }
                        }
                    }
                    current = open.parent;
                    current.push(Node::If {
                        branches: open.branches,
                        otherwise: open.otherwise.unwrap_or_default(),
                    });
                }
                Some(Token::Ident(k))
                    if matches!(
                        k.as_str(),
                        "range" | "with" | "define" | "template" | "block" | "break" | "continue"
                    ) =>
                {
                    return Err(err(format!("{k} is not supported in rule templates")));
                }
                Some(Token::Var(name)) if toks.get(1) == Some(&Token::Declare) => {
                    current.push(Node::Assign(name.clone(), parse_pipeline(&toks[2..], 0)?));
                }
                _ => current.push(Node::Print(parse_pipeline(&toks, 0)?)),
            }
        }
        if !stack.is_empty() {
            return Err(err("unclosed if: missing {{ end }}"));
        }
        Ok(Template { nodes: current })
    }

    /// Renders with `data`.
    pub fn render(&self, data: &Data) -> Result<String, TemplateError> {
        let mut scope = Scope::new(data);
        let mut out = String::new();
        scope.run(&self.nodes, &mut out)?;
        Ok(out)
    }
}

fn parse_pipeline(toks: &[Token], depth: usize) -> Result<Pipeline, TemplateError> {
    if depth > MAX_DEPTH {
        return Err(err("parentheses nest too deep"));
    }
    if toks.is_empty() {
        return Err(err("missing value"));
    }
    let mut pipeline = Vec::new();
    let mut command: Command = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Token::Pipe => {
                if command.is_empty() {
                    return Err(err("missing command before |"));
                }
                pipeline.push(std::mem::take(&mut command));
            }
            Token::Open => {
                let close = matching_close(toks, i)?;
                command.push(Arg::Sub(parse_pipeline(&toks[i + 1..close], depth + 1)?));
                i = close;
            }
            Token::Close => return Err(err("unexpected )")),
            Token::Declare => return Err(err("unexpected := or =")),
            Token::Ident(name) => match name.as_str() {
                "true" => command.push(Arg::Literal(Value::Bool(true))),
                "false" => command.push(Arg::Literal(Value::Bool(false))),
                "nil" => command.push(Arg::Literal(Value::Nil)),
                _ if funcs::exists(name) => command.push(Arg::Func(name.clone())),
                "query" | "first" | "label" | "value" | "sortByLabel" | "strvalue" => {
                    return Err(err(format!("{name} is not supported in rule templates")));
                }
                _ => return Err(err(format!("function {name:?} not defined"))),
            },
            Token::Var(name) => {
                let fields = match toks.get(i + 1) {
                    Some(Token::Fields(f)) => {
                        i += 1;
                        f.clone()
                    }
                    _ => Vec::new(),
                };
                command.push(Arg::Var(name.clone(), fields));
            }
            Token::Fields(f) => command.push(Arg::Dot(f.clone())),
            Token::Str(s) => command.push(Arg::Literal(Value::Str(s.clone()))),
            Token::Number(n) => command.push(Arg::Literal(Value::Number(*n))),
        }
        i += 1;
    }
    if command.is_empty() {
        return Err(err("missing command after |"));
    }
    pipeline.push(command);
    for (n, c) in pipeline.iter().enumerate() {
        if !matches!(c.first(), Some(Arg::Func(_))) && (c.len() > 1 || n > 0) {
            return Err(err("only a function can take arguments"));
        }
    }
    Ok(pipeline)
}

fn matching_close(toks: &[Token], open: usize) -> Result<usize, TemplateError> {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(err("unclosed ("))
}

struct Scope<'a> {
    data: &'a Data,
    vars: Vec<(String, Value)>,
}

impl<'a> Scope<'a> {
    fn new(data: &'a Data) -> Self {
        let vars = vec![
            ("labels".to_string(), Value::Map(data.labels.clone())),
            ("value".to_string(), Value::Number(data.value)),
            ("externalLabels".to_string(), Value::Map(data.external_labels.clone())),
            ("externalURL".to_string(), Value::Str(data.external_url.clone())),
        ];
        Self { data, vars }
    }

    fn run(&mut self, nodes: &[Node], out: &mut String) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Print(p) => out.push_str(&self.pipeline(p)?.render()),
                Node::Assign(name, p) => {
                    let v = self.pipeline(p)?;
                    self.vars.push((name.clone(), v));
                }
                Node::If { branches, otherwise } => {
                    let mut taken = None;
                    for (cond, body) in branches {
                        if self.pipeline(cond)?.truthy() {
                            taken = Some(body);
                            break;
                        }
                    }
                    let depth = self.vars.len();
                    self.run(taken.unwrap_or(otherwise), out)?;
                    // Variables declared inside a branch end with it.
                    self.vars.truncate(depth);
                }
            }
        }
        Ok(())
    }

    fn pipeline(&self, p: &Pipeline) -> Result<Value, TemplateError> {
        let mut piped: Option<Value> = None;
        for command in p {
            let mut args = command.iter();
            let value = match args.next() {
                Some(Arg::Func(name)) => {
                    let mut values = Vec::with_capacity(command.len());
                    for a in args {
                        values.push(self.arg(a)?);
                    }
                    values.extend(piped.take());
                    funcs::call(name, values)?
                }
                Some(a) => self.arg(a)?,
                None => return Err(err("empty command")),
            };
            piped = Some(value);
        }
        piped.ok_or_else(|| err("empty pipeline"))
    }

    fn arg(&self, a: &Arg) -> Result<Value, TemplateError> {
        match a {
            Arg::Func(name) => funcs::call(name, Vec::new()),
            Arg::Literal(v) => Ok(v.clone()),
            Arg::Sub(p) => self.pipeline(p),
            Arg::Var(name, fields) => {
                if name.is_empty() {
                    return self.dot(fields);
                }
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| err(format!("undefined variable ${name}")))?;
                field_chain(v, fields)
            }
            Arg::Dot(fields) => self.dot(fields),
        }
    }

    /// `.` is the data Prometheus passes: `.Labels`, `.Value`,
    /// `.ExternalLabels`, `.ExternalURL`.
    fn dot(&self, fields: &[String]) -> Result<Value, TemplateError> {
        let Some((first, rest)) = fields.split_first() else {
            return Ok(Value::Nil);
        };
        let v = match first.as_str() {
            "Labels" => Value::Map(self.data.labels.clone()),
            "Value" => Value::Number(self.data.value),
            "ExternalLabels" => Value::Map(self.data.external_labels.clone()),
            "ExternalURL" => Value::Str(self.data.external_url.clone()),
            other => return Err(err(format!("can't evaluate field {other}"))),
        };
        field_chain(v, rest)
    }
}

fn field_chain(mut v: Value, fields: &[String]) -> Result<Value, TemplateError> {
    for f in fields {
        v = match v {
            Value::Map(m) => Value::Str(m.get(f).cloned().unwrap_or_default()),
            other => return Err(err(format!("can't read field {f} of {}", other.render()))),
        };
    }
    Ok(v)
}
