//! Payload filters: an endpoint receives a message only if its filter matches `{eventType, channels, payload}`.
//!
//! The language is Outpost's (and Hookdeck's): a JSON object whose keys are fields, nested objects match nested
//! fields, a plain value means `$eq`, and an array field matches a plain value it contains. Operators:
//! `$eq $neq $gt $gte $lt $lte` (numbers as numbers, strings in byte order, so RFC 3339 times compare as times),
//! `$in` (the value is one of an array's, or a string field contains the string), `$nin` (its negation),
//! `$startsWith $endsWith`, `$exist` (present and not null), and `$or $and $not` at any level.
//!
//! A filter is compiled once, when it is saved (where a bad operator or operand is a 422 naming its path), and
//! evaluated per message against the payload parsed once for all of an application's endpoints.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The fields a filter may name at its top level.
pub const TOP_FIELDS: [&str; 3] = ["eventType", "channels", "payload"];
const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 1_000;

/// A compiled filter; it serializes as the JSON it was written as.
#[derive(Clone)]
pub struct Filter {
    raw: Value,
    root: Node,
}

#[derive(Clone, Debug)]
enum Node {
    /// A plain value: equal, or contained in an array field.
    Value(Value),
    /// Every clause holds.
    All(Vec<Clause>),
}

#[derive(Clone, Debug)]
enum Clause {
    Field(String, Node),
    Op(Op, Value),
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    StartsWith,
    EndsWith,
    Exist,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "$eq" => Op::Eq,
            "$neq" => Op::Neq,
            "$gt" => Op::Gt,
            "$gte" => Op::Gte,
            "$lt" => Op::Lt,
            "$lte" => Op::Lte,
            "$in" => Op::In,
            "$nin" => Op::Nin,
            "$startsWith" => Op::StartsWith,
            "$endsWith" => Op::EndsWith,
            "$exist" => Op::Exist,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Eq => "$eq",
            Op::Neq => "$neq",
            Op::Gt => "$gt",
            Op::Gte => "$gte",
            Op::Lt => "$lt",
            Op::Lte => "$lte",
            Op::In => "$in",
            Op::Nin => "$nin",
            Op::StartsWith => "$startsWith",
            Op::EndsWith => "$endsWith",
            Op::Exist => "$exist",
        }
    }
}

/// Why a filter was refused: the path of the offending key (`payload.amount.$gtt`) and what is wrong there.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    pub path: Vec<String>,
    pub msg: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", self.path.join("."), self.msg)
        }
    }
}

struct Compiler {
    nodes: usize,
}

impl Compiler {
    fn fail<T>(path: &[String], msg: impl Into<String>) -> Result<T, FilterError> {
        Err(FilterError { path: path.to_vec(), msg: msg.into() })
    }

    fn node(&mut self, v: &Value, path: &mut Vec<String>) -> Result<Node, FilterError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Self::fail(path, format!("a filter may hold at most {MAX_NODES} conditions"));
        }
        if path.len() > MAX_DEPTH {
            return Self::fail(path, format!("a filter may nest at most {MAX_DEPTH} levels"));
        }
        match v {
            Value::Object(map) => self.object(map, path).map(Node::All),
            other => Ok(Node::Value(other.clone())),
        }
    }

    fn object(&mut self, map: &Map<String, Value>, path: &mut Vec<String>) -> Result<Vec<Clause>, FilterError> {
        let mut clauses = Vec::with_capacity(map.len());
        for (key, operand) in map {
            path.push(key.clone());
            let clause = match key.as_str() {
                "$or" | "$and" => {
                    let Some(items) = operand.as_array().filter(|a| !a.is_empty()) else {
                        return Self::fail(path, "expects a non-empty array of conditions");
                    };
                    let mut nodes = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        path.push(i.to_string());
                        if !item.is_object() {
                            return Self::fail(path, "expects an object of conditions");
                        }
                        nodes.push(self.node(item, path)?);
                        path.pop();
                    }
                    if key == "$or" {
                        Clause::Or(nodes)
                    } else {
                        Clause::And(nodes)
                    }
                }
                "$not" => {
                    if !operand.is_object() {
                        return Self::fail(path, "expects an object of conditions");
                    }
                    Clause::Not(Box::new(self.node(operand, path)?))
                }
                k if k.starts_with('$') => {
                    let Some(op) = Op::parse(k) else {
                        return Self::fail(
                            path,
                            "unknown operator (known: $eq $neq $gt $gte $lt $lte $in $nin $startsWith $endsWith \
                             $exist $or $and $not)",
                        );
                    };
                    check_operand(op, operand).or_else(|msg| Self::fail(path, msg))?;
                    Clause::Op(op, operand.clone())
                }
                _ => Clause::Field(key.clone(), self.node(operand, path)?),
            };
            clauses.push(clause);
            path.pop();
        }
        Ok(clauses)
    }
}

fn check_operand(op: Op, operand: &Value) -> Result<(), &'static str> {
    let ok = match op {
        Op::Eq | Op::Neq => true,
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => operand.is_number() || operand.is_string(),
        Op::In | Op::Nin => operand.is_array() || operand.is_string(),
        Op::StartsWith | Op::EndsWith => operand.is_string(),
        Op::Exist => operand.is_boolean(),
    };
    if ok {
        return Ok(());
    }
    Err(match op {
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => "expects a number or a string",
        Op::In | Op::Nin => "expects an array of values or a string",
        Op::StartsWith | Op::EndsWith => "expects a string",
        _ => "expects true or false",
    })
}

impl Filter {
    /// Compiles a filter, refusing what it could not mean. An empty object matches every message.
    pub fn parse(raw: Value) -> Result<Filter, FilterError> {
        let Value::Object(map) = &raw else {
            return Err(FilterError { path: vec![], msg: "must be a JSON object".into() });
        };
        for key in map.keys().filter(|k| !k.starts_with('$')) {
            if !TOP_FIELDS.contains(&key.as_str()) {
                return Err(FilterError {
                    path: vec![key.clone()],
                    msg: "a filter matches `eventType`, `channels` and `payload`".into(),
                });
            }
        }
        let root = Compiler { nodes: 0 }.node(&raw, &mut Vec::new())?;
        Ok(Filter { raw, root })
    }

    pub fn as_json(&self) -> &Value {
        &self.raw
    }

    /// Whether the filter reads the payload (if none does, a message's payload need not be parsed to route it).
    pub fn reads_payload(&self) -> bool {
        fn reads(node: &Node, top: bool) -> bool {
            match node {
                Node::Value(_) => false,
                Node::All(clauses) => clauses.iter().any(|c| match c {
                    Clause::Field(name, _) if top => name == "payload",
                    Clause::Field(..) | Clause::Op(..) => false,
                    Clause::Or(ns) | Clause::And(ns) => ns.iter().any(|n| reads(n, top)),
                    Clause::Not(n) => reads(n, top),
                }),
            }
        }
        reads(&self.root, true)
    }

    /// Matches one message. `payload` is None when no filter of the message's endpoints reads it.
    pub fn matches(&self, msg: &Subject<'_>) -> bool {
        self.explain(msg).is_none()
    }

    /// None if the message matches, or the first condition it fails, as `payload.amount $gte 100`.
    pub fn explain(&self, msg: &Subject<'_>) -> Option<String> {
        let mut path = Vec::new();
        miss(&self.root, Some(&Field::Top(msg)), &mut path)
    }
}

/// What a filter is matched against, without building it as one JSON object per message.
pub struct Subject<'a> {
    pub event_type: &'a str,
    pub channels: Option<&'a [String]>,
    pub payload: Option<&'a Value>,
}

/// A value under test: the message itself (its three fields) or a JSON value inside it.
enum Field<'a> {
    Top(&'a Subject<'a>),
    Json(&'a Value),
    Owned(Value),
}

impl Field<'_> {
    fn get(&self, key: &str) -> Option<Field<'_>> {
        match self {
            Field::Top(s) => match key {
                "eventType" => Some(Field::Owned(Value::String(s.event_type.to_string()))),
                "channels" => {
                    s.channels.map(|c| Field::Owned(Value::Array(c.iter().cloned().map(Value::String).collect())))
                }
                "payload" => s.payload.map(Field::Json),
                _ => None,
            },
            Field::Json(v) => v.get(key).map(Field::Json),
            Field::Owned(v) => v.get(key).map(|v| Field::Owned(v.clone())),
        }
    }

    fn value(&self) -> Option<&Value> {
        match self {
            Field::Top(_) => None,
            Field::Json(v) => Some(v),
            Field::Owned(v) => Some(v),
        }
    }
}

fn describe(path: &[String], what: String) -> Option<String> {
    Some(if path.is_empty() { what } else { format!("{} {what}", path.join(".")) })
}

/// The first failed condition of `node` on `field` (None: it holds).
fn miss(node: &Node, field: Option<&Field<'_>>, path: &mut Vec<String>) -> Option<String> {
    match node {
        Node::Value(want) => {
            let holds = field.and_then(Field::value).is_some_and(|have| contains_or_equals(have, want));
            if holds {
                None
            } else {
                describe(path, format!("= {want}"))
            }
        }
        Node::All(clauses) => {
            for clause in clauses {
                let failed = match clause {
                    Clause::Field(name, sub) => {
                        let inner = field.and_then(|f| f.get(name));
                        path.push(name.clone());
                        let failed = miss(sub, inner.as_ref(), path);
                        path.pop();
                        failed
                    }
                    Clause::Op(op, operand) => {
                        if op_holds(*op, operand, field.and_then(Field::value)) {
                            None
                        } else {
                            describe(path, format!("{} {operand}", op.name()))
                        }
                    }
                    Clause::And(nodes) => nodes.iter().find_map(|n| miss(n, field, path)),
                    Clause::Or(nodes) => {
                        let reasons: Option<Vec<String>> = nodes.iter().map(|n| miss(n, field, path)).collect();
                        reasons.map(|r| format!("none of ({})", r.join("; ")))
                    }
                    Clause::Not(sub) => match miss(sub, field, path) {
                        Some(_) => None,
                        None => describe(path, "matched a $not".into()),
                    },
                };
                if failed.is_some() {
                    return failed;
                }
            }
            None
        }
    }
}

/// A plain value in a filter: equal to the field, or one of an array field's elements (an array in the filter:
/// every element of it in the field).
fn contains_or_equals(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Array(items), Value::Array(wanted)) => {
            equal(have, want) || wanted.iter().all(|w| items.iter().any(|i| equal(i, w)))
        }
        (Value::Array(items), w) => items.iter().any(|i| equal(i, w)),
        (h, w) => equal(h, w),
    }
}

/// JSON equality where 1 and 1.0 are the same number.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

fn compare(have: &Value, operand: &Value) -> Option<Ordering> {
    match (have, operand) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}

fn op_holds(op: Op, operand: &Value, have: Option<&Value>) -> bool {
    let present = have.filter(|v| !v.is_null());
    match op {
        Op::Exist => operand.as_bool() == Some(present.is_some()),
        Op::Eq => have.is_some_and(|h| contains_or_equals(h, operand)),
        Op::Neq => !have.is_some_and(|h| contains_or_equals(h, operand)),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let Some(ord) = have.and_then(|h| compare(h, operand)) else { return false };
            match op {
                Op::Gt => ord == Ordering::Greater,
                Op::Gte => ord != Ordering::Less,
                Op::Lt => ord == Ordering::Less,
                _ => ord != Ordering::Greater,
            }
        }
        Op::In => have.is_some_and(|h| is_in(h, operand)),
        Op::Nin => !have.is_some_and(|h| is_in(h, operand)),
        Op::StartsWith | Op::EndsWith => {
            let Some(affix) = operand.as_str() else { return false };
            let test = |v: &Value| {
                v.as_str().is_some_and(|s| if op == Op::StartsWith { s.starts_with(affix) } else { s.ends_with(affix) })
            };
            match have {
                Some(Value::Array(items)) => items.iter().any(test),
                Some(v) => test(v),
                None => false,
            }
        }
    }
}

/// `$in`: the field is one of the operand's values (an array field: shares one with it); with a string operand, a
/// string field contains it, or an array field holds it.
fn is_in(have: &Value, operand: &Value) -> bool {
    match (have, operand) {
        (Value::Array(items), Value::Array(options)) => items.iter().any(|i| options.iter().any(|o| equal(i, o))),
        (h, Value::Array(options)) => options.iter().any(|o| equal(h, o)),
        (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
        (Value::Array(items), s @ Value::String(_)) => items.iter().any(|i| i == s),
        _ => false,
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Filter({})", self.raw)
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Filter::parse(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(filter: Value, payload: Value) -> bool {
        let f = Filter::parse(filter).unwrap();
        let channels = vec!["eu".to_string(), "vip".to_string()];
        f.matches(&Subject { event_type: "invoice.paid", channels: Some(&channels), payload: Some(&payload) })
    }

    #[test]
    fn plain_values_nested_objects_and_arrays() {
        let p = json!({"status": "paid", "amount": 120, "customer": {"tier": "gold"}, "tags": ["urgent", "b"]});
        assert!(check(json!({"payload": {"status": "paid"}}), p.clone()));
        assert!(!check(json!({"payload": {"status": "open"}}), p.clone()));
        assert!(check(json!({"payload": {"customer": {"tier": "gold"}}}), p.clone()));
        assert!(check(json!({"payload": {"tags": "urgent"}}), p.clone()));
        assert!(check(json!({"payload": {"tags": ["b", "urgent"]}}), p.clone()));
        assert!(!check(json!({"payload": {"tags": ["c"]}}), p.clone()));
        assert!(check(json!({"payload": {"amount": 120.0}}), p.clone()));
        assert!(!check(json!({"payload": {"missing": "x"}}), p.clone()));
        assert!(check(json!({"eventType": "invoice.paid", "channels": "vip"}), p.clone()));
        assert!(!check(json!({"eventType": {"$startsWith": "user."}}), p));
        assert!(check(json!({}), json!({})));
    }

    #[test]
    fn operators() {
        let p = json!({"amount": 120, "email": "a@example.com", "at": "2026-03-01T00:00:00Z", "n": null});
        let yes = [
            json!({"amount": {"$gte": 100, "$lt": 500}}),
            json!({"amount": {"$gt": 119.5}}),
            json!({"amount": {"$lte": 120}}),
            json!({"amount": {"$neq": 7}}),
            json!({"amount": {"$in": [1, 120]}}),
            json!({"amount": {"$nin": [1, 2]}}),
            json!({"email": {"$in": "example"}}),
            json!({"email": {"$endsWith": "@example.com"}}),
            json!({"email": {"$startsWith": "a@"}}),
            json!({"at": {"$gt": "2026-01-01T00:00:00Z"}}),
            json!({"missing": {"$exist": false}}),
            json!({"n": {"$exist": false}}),
            json!({"email": {"$exist": true}}),
            json!({"missing": {"$neq": 1}}),
            json!({"$or": [{"amount": 1}, {"email": {"$endsWith": ".com"}}]}),
            json!({"$and": [{"amount": 120}, {"email": {"$endsWith": ".com"}}]}),
            json!({"$not": {"amount": {"$lt": 100}}}),
        ];
        for f in yes {
            assert!(check(json!({"payload": f.clone()}), p.clone()), "{f} should match");
        }
        let no = [
            json!({"amount": {"$gt": 120}}),
            json!({"amount": {"$gt": "120"}}),
            json!({"amount": {"$in": [1, 2]}}),
            json!({"email": {"$nin": "example"}}),
            json!({"missing": {"$gt": 1}}),
            json!({"email": {"$exist": false}}),
            json!({"$or": [{"amount": 1}, {"amount": 2}]}),
            json!({"$not": {"amount": 120}}),
        ];
        for f in no {
            assert!(!check(json!({"payload": f.clone()}), p.clone()), "{f} should not match");
        }
    }

    #[test]
    fn explains_the_first_failed_condition() {
        let f = Filter::parse(json!({"payload": {"amount": {"$gte": 100}, "status": "paid"}})).unwrap();
        let p = json!({"amount": 5, "status": "paid"});
        let why = f.explain(&Subject { event_type: "x", channels: None, payload: Some(&p) });
        assert_eq!(why.as_deref(), Some("payload.amount $gte 100"));
    }

    #[test]
    fn refuses_what_it_cannot_mean() {
        let err = |v: Value| Filter::parse(v).unwrap_err();
        assert_eq!(err(json!({"payload": {"amount": {"$gtt": 1}}})).path, ["payload", "amount", "$gtt"]);
        assert_eq!(err(json!({"payload": {"a": {"$in": 3}}})).msg, "expects an array of values or a string");
        assert_eq!(err(json!({"payload": {"$or": []}})).path, ["payload", "$or"]);
        assert_eq!(err(json!({"payload": {"$or": [1]}})).path, ["payload", "$or", "0"]);
        assert_eq!(err(json!({"data": {}})).path, ["data"]);
        assert_eq!(err(json!([1])).msg, "must be a JSON object");
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "a": deep });
        }
        assert!(err(json!({ "payload": deep })).msg.contains("nest"));
    }

    #[test]
    fn reads_payload_only_when_it_names_it() {
        assert!(Filter::parse(json!({"payload": {"a": 1}})).unwrap().reads_payload());
        assert!(Filter::parse(json!({"$or": [{"payload": {"a": 1}}, {"eventType": "x"}]})).unwrap().reads_payload());
        assert!(!Filter::parse(json!({"eventType": "x"})).unwrap().reads_payload());
    }
}
