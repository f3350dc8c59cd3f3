//! The JavaScript sandbox: QuickJS (through `rquickjs`) with a memory limit, a stack limit and an interrupt
//! handler that stops code running past its time. A context has JSON, Date, RegExp, Map and Set and nothing of the
//! host: no `std`/`os` modules, no `performance`, no timers, no network, no file.
//!
//! Each thread keeps one runtime and, in it, a few warm contexts: the compiled code of the transformations it ran
//! last, one per owner (an endpoint or a registration). A delivery through a warm context costs a `JSON.parse`, the
//! handler and a `JSON.stringify`, tens of microseconds; making a context and compiling the code again costs ten
//! times that. So a handler's top-level variables live on between deliveries of the same owner with the same code
//! and variables (as in Cloudflare Workers), never across owners. A call that ran out of time or memory drops the
//! runtime with all its contexts; the next call gets a new one. Calls without an owner (dry runs) get a fresh
//! context that is dropped after.
//!
//! Calls block: the caller runs them off the async reactor ([`super::Transformer`]).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rquickjs::context::intrinsic;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Persistent, Runtime, Value};

/// What a transformation may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Heap of the runtime, in bytes.
    pub memory: usize,
    /// Time for one call, compiling the code included.
    pub time: Duration,
    /// Largest JSON the handler may return, in bytes.
    pub output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory: 16 << 20, time: Duration::from_millis(200), output: 1 << 20 }
    }
}

/// Largest code accepted (Svix's limit is of the same order).
pub const MAX_CODE_BYTES: usize = 64 * 1024;

/// Why a call produced nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxError {
    /// The code threw, or did not compile, or has no `handler`; the JavaScript message.
    Script(String),
    Timeout(Duration),
    OutOfMemory(usize),
    /// The returned JSON is larger than allowed.
    Oversized(usize),
}

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxError::Script(m) => write!(f, "{m}"),
            SandboxError::Timeout(d) => write!(f, "ran longer than its time limit of {} ms", d.as_millis()),
            SandboxError::OutOfMemory(n) => write!(f, "used more than its memory limit of {} MiB", n >> 20),
            SandboxError::Oversized(n) => write!(f, "returned more than {} KiB of JSON", n >> 10),
        }
    }
}

/// How many compiled transformations a thread keeps warm. Each context holds QuickJS's built-in objects (about
/// 100 KiB) inside the runtime's memory limit.
const WARM_PER_THREAD: usize = 8;

/// A compiled transformation and the context it lives in. Fields drop in order: the handler before its context.
struct Warm {
    handler: Persistent<Function<'static>>,
    ctx: Context,
    owner: String,
    code: String,
    variables: String,
}

/// A thread's runtime, its warm contexts (most recently used first) and the deadline its interrupt handler
/// checks (nanoseconds since [`epoch`]). The contexts drop before the runtime.
struct Js {
    warm: Vec<Warm>,
    rt: Runtime,
    deadline: Arc<AtomicU64>,
    memory: usize,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_now() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

impl Js {
    fn new(memory: usize) -> Result<Js, SandboxError> {
        let rt = Runtime::new().map_err(|e| SandboxError::Script(format!("starting the JavaScript runtime: {e}")))?;
        rt.set_memory_limit(memory);
        rt.set_max_stack_size(512 * 1024);
        let deadline = Arc::new(AtomicU64::new(u64::MAX));
        let d = deadline.clone();
        rt.set_interrupt_handler(Some(Box::new(move || nanos_now() > d.load(Ordering::Relaxed))));
        Ok(Js { warm: Vec::new(), rt, deadline, memory })
    }

    /// The owner's compiled transformation, warm or made now and kept.
    fn warm(&mut self, owner: &str, code: &str, variables: &str) -> Result<&Warm, SandboxError> {
        let hit = self.warm.iter().position(|w| w.owner == owner && w.code == code && w.variables == variables);
        let warm = match hit {
            Some(i) => self.warm.remove(i),
            None => compile(&self.rt, owner, code, variables)?,
        };
        self.warm.insert(0, warm);
        self.warm.truncate(WARM_PER_THREAD);
        Ok(&self.warm[0])
    }
}

thread_local! {
    static JS: RefCell<Option<Js>> = const { RefCell::new(None) };
}

/// Runs `code`'s `handler` on `input` (JSON) with the global `variables` (a JSON object); returns the JSON of what
/// it returned. Blocks for at most about `limits.time`. `owner` (an endpoint's or a registration's id) lets the
/// compiled code be kept warm for that owner's next call; `None` runs it in a fresh context.
pub fn run(
    owner: Option<&str>,
    code: &str,
    input: &str,
    variables: &str,
    limits: &Limits,
) -> Result<String, SandboxError> {
    if code.len() > MAX_CODE_BYTES {
        return Err(SandboxError::Script(format!("the code is longer than {} KiB", MAX_CODE_BYTES >> 10)));
    }
    JS.with(|cell| {
        let mut slot = cell.borrow_mut();
        // The runtime's memory is shared by its warm contexts: what another owner keeps can make this call run out.
        // Then it gets a new runtime and one more try (the first stopped mid-way and left nothing behind).
        let shared = slot.as_ref().is_some_and(|js| js.warm.iter().any(|w| Some(w.owner.as_str()) != owner));
        match run_in(&mut slot, owner, code, Some(input), variables, limits) {
            Err(SandboxError::OutOfMemory(_)) if shared => {
                run_in(&mut slot, owner, code, Some(input), variables, limits)
            }
            other => other,
        }
    })
}

/// Compiles `code` in a fresh context, as a call would, without calling its `handler`: a transformation is checked
/// this way when it is saved, so that a syntax error or a missing `handler` is refused then rather than failing
/// every delivery.
pub fn check(code: &str, variables: &str, limits: &Limits) -> Result<(), SandboxError> {
    if code.len() > MAX_CODE_BYTES {
        return Err(SandboxError::Script(format!("the code is longer than {} KiB", MAX_CODE_BYTES >> 10)));
    }
    JS.with(|cell| run_in(&mut cell.borrow_mut(), None, code, None, variables, limits).map(drop))
}

/// One call on the thread's runtime (made if there is none), or with no `input` only the compilation. A call that
/// ran out of time or memory leaves no runtime behind: what it allocated may still be held.
fn run_in(
    slot: &mut Option<Js>,
    owner: Option<&str>,
    code: &str,
    input: Option<&str>,
    variables: &str,
    limits: &Limits,
) -> Result<String, SandboxError> {
    if slot.as_ref().is_none_or(|js| js.memory != limits.memory) {
        *slot = Some(Js::new(limits.memory)?);
    }
    let js = slot.as_mut().expect("made above");
    let deadline = js.deadline.clone();
    deadline.store(nanos_now() + limits.time.as_nanos() as u64, Ordering::Relaxed);
    let started = Instant::now();
    let result = match (owner, input) {
        (_, None) => compile(&js.rt, "", code, variables).map(|_| String::new()),
        (Some(owner), Some(input)) => js.warm(owner, code, variables).and_then(|warm| call(warm, input, limits)),
        (None, Some(input)) => compile(&js.rt, "", code, variables).and_then(|fresh| call(&fresh, input, limits)),
    };
    deadline.store(u64::MAX, Ordering::Relaxed);
    let result = match result {
        Err(SandboxError::Script(m)) if started.elapsed() >= limits.time && m.contains("interrupted") => {
            Err(SandboxError::Timeout(limits.time))
        }
        Err(SandboxError::Script(m)) if m.contains("out of memory") || m.contains("Allocation failed") => {
            Err(SandboxError::OutOfMemory(limits.memory))
        }
        other => other,
    };
    if let Err(SandboxError::Timeout(_) | SandboxError::OutOfMemory(_)) = &result {
        *slot = None;
    }
    result
}

/// Makes a context, runs the code in it and finds its `handler`.
fn compile(rt: &Runtime, owner: &str, code: &str, variables: &str) -> Result<Warm, SandboxError> {
    // Eval compiles the code (and lets it use `eval`, which reaches nothing more than the code itself does).
    type Intrinsics = (
        intrinsic::Eval,
        intrinsic::Date,
        intrinsic::RegExpCompiler,
        intrinsic::RegExp,
        intrinsic::Json,
        intrinsic::MapSet,
    );
    let ctx = Context::custom::<Intrinsics>(rt).map_err(|e| SandboxError::Script(e.to_string()))?;
    let handler = ctx.with(|ctx| {
        let vars = script(ctx.json_parse(variables).catch(&ctx))?;
        script(ctx.globals().set("variables", vars).catch(&ctx))?;
        script(ctx.eval::<(), _>(code).catch(&ctx))?;
        let handler: Value = script(ctx.eval("typeof handler === 'function' ? handler : undefined").catch(&ctx))?;
        let Some(handler) = handler.into_function() else {
            return Err(SandboxError::Script("the code must declare `function handler(webhook)`".into()));
        };
        Ok(Persistent::save(&ctx, handler))
    })?;
    Ok(Warm { handler, ctx, owner: owner.to_string(), code: code.to_string(), variables: variables.to_string() })
}

fn call(warm: &Warm, input: &str, limits: &Limits) -> Result<String, SandboxError> {
    warm.ctx.with(|ctx| {
        let handler = warm.handler.clone().restore(&ctx).map_err(|e| SandboxError::Script(e.to_string()))?;
        let arg = script(ctx.json_parse(input).catch(&ctx))?;
        let out: Value = script(handler.call::<_, Value>((arg,)).catch(&ctx))?;
        if !out.is_object() {
            return Err(SandboxError::Script("handler must return the webhook object".into()));
        }
        let json = stringify(&ctx, out)?;
        if json.len() > limits.output {
            return Err(SandboxError::Oversized(limits.output));
        }
        Ok(json)
    })
}

fn script<T>(r: Result<T, CaughtError<'_>>) -> Result<T, SandboxError> {
    r.map_err(|e| SandboxError::Script(describe(&e)))
}

fn stringify<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> Result<String, SandboxError> {
    let s = ctx.json_stringify(v).catch(ctx).map_err(|e| SandboxError::Script(describe(&e)))?;
    let s = s.ok_or_else(|| SandboxError::Script("handler returned something that is not JSON".into()))?;
    s.to_string().map_err(|e| SandboxError::Script(e.to_string()))
}

/// `TypeError: message (line 3)` rather than QuickJS's whole stack.
fn describe(e: &CaughtError<'_>) -> String {
    match e {
        CaughtError::Exception(ex) => {
            let name: Option<String> = ex.get("name").ok();
            let message = ex.message().unwrap_or_default();
            // The first frame of the stack, `at handler (eval_script:3:11)`, gives the line.
            let at = ex
                .stack()
                .and_then(|s| {
                    let frame = s.lines().find(|l| l.contains("eval_script:"))?;
                    let line = frame.split("eval_script:").nth(1)?.split(':').next()?.to_string();
                    Some(format!(" (at line {line})"))
                })
                .unwrap_or_default();
            format!("{}: {message}{at}", name.unwrap_or_else(|| "Error".into()))
        }
        CaughtError::Value(v) => {
            let shown = v.as_string().and_then(|s| s.to_string().ok()).unwrap_or_else(|| format!("{v:?}"));
            format!("threw {shown}")
        }
        CaughtError::Error(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEBHOOK: &str = r#"{"method":"POST","url":"https://x.test/","eventType":"a.b","payload":{"n":1}}"#;

    fn run1(code: &str) -> Result<String, SandboxError> {
        run(None, code, WEBHOOK, "{}", &Limits::default())
    }

    #[test]
    fn a_handler_changes_the_webhook() {
        let out = run1("function handler(w) { w.payload = { doubled: w.payload.n * 2 }; w.method = 'PUT'; return w; }")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["payload"]["doubled"], 2);
        assert_eq!(v["method"], "PUT");
    }

    #[test]
    fn errors_loops_and_memory_hogs_are_contained() {
        let e = run1("function handler(w) { throw new TypeError('no way'); }").unwrap_err();
        assert!(matches!(&e, SandboxError::Script(m) if m.starts_with("TypeError: no way")), "{e:?}");
        let e = run1("function handler(w) { for (;;) {} }").unwrap_err();
        assert_eq!(e, SandboxError::Timeout(Limits::default().time));
        let e = run1("function handler(w) { const a = []; for (;;) a.push(new Array(1 << 16).fill(a.length)); }")
            .unwrap_err();
        assert_eq!(e, SandboxError::OutOfMemory(Limits::default().memory));
        let e = run1("function handler(w) { w.payload = 'x'.repeat(2 << 20); return w; }").unwrap_err();
        assert_eq!(e, SandboxError::Oversized(Limits::default().output));
        let e = run1("function handler(w) { return handler(w); }").unwrap_err();
        assert!(matches!(&e, SandboxError::Script(m) if m.contains("stack")), "{e:?}");
        assert!(matches!(run1("const x = 1;").unwrap_err(), SandboxError::Script(m) if m.contains("handler")));
        assert!(
            matches!(run1("function handler(w) {").unwrap_err(), SandboxError::Script(m) if m.contains("SyntaxError"))
        );
        // After all that, the thread's runtime works as before.
        assert!(run1("function handler(w) { return w; }").is_ok());
    }

    #[test]
    fn nothing_of_the_host_is_reachable_and_nothing_survives_a_call() {
        let probe = "function handler(w) { w.payload = [typeof std, typeof os, typeof require, typeof fetch, \
                     typeof performance, typeof setTimeout, typeof globalThis.leak]; globalThis.leak = 1; return w; }";
        for _ in 0..2 {
            let v: serde_json::Value = serde_json::from_str(&run1(probe).unwrap()).unwrap();
            assert!(v["payload"].as_array().unwrap().iter().all(|t| t == "undefined"), "{v}");
        }
    }

    #[test]
    fn a_warm_context_is_kept_per_owner_code_and_variables() {
        let counter =
            "let calls = 0; function handler(w) { calls += 1; w.payload = { calls, v: variables.v }; return w; }";
        let limits = Limits::default();
        let calls = |owner: &str, vars: &str| {
            let out = run(Some(owner), counter, WEBHOOK, vars, &limits).unwrap();
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            (v["payload"]["calls"].as_i64().unwrap(), v["payload"]["v"].as_str().unwrap_or_default().to_string())
        };
        assert_eq!(calls("ep_a", r#"{"v":"1"}"#), (1, "1".into()));
        assert_eq!(calls("ep_a", r#"{"v":"1"}"#), (2, "1".into()));
        // Another owner with the same code never sees ep_a's state.
        assert_eq!(calls("ep_b", r#"{"v":"1"}"#), (1, "1".into()));
        // Changed variables (or code) compile anew.
        assert_eq!(calls("ep_a", r#"{"v":"2"}"#), (1, "2".into()));
        // An owner pushed out by more than WARM_PER_THREAD others starts again.
        for i in 0..WARM_PER_THREAD {
            calls(&format!("ep_{i}"), "{}");
        }
        assert_eq!(calls("ep_b", r#"{"v":"1"}"#), (1, "1".into()));
        // A timeout drops every warm context with the runtime.
        calls("ep_c", "{}");
        let e = run(Some("ep_d"), "function handler(w) { for (;;) {} }", WEBHOOK, "{}", &limits).unwrap_err();
        assert_eq!(e, SandboxError::Timeout(limits.time));
        assert_eq!(calls("ep_c", "{}").0, 1);
    }

    #[test]
    fn an_owner_that_keeps_memory_does_not_make_anothers_call_fail() {
        let limits = Limits::default();
        let hog = "const kept = []; function handler(w) { kept.push('x'.repeat(1 << 20) + kept.length); return w; }";
        for _ in 0..10 {
            run(Some("ep_hog"), hog, WEBHOOK, "{}", &limits).unwrap();
        }
        // 10 MiB kept by ep_hog, 8 MiB wanted now: more than the runtime's 16 MiB together, not alone.
        let big = "function handler(w) { const s = 'y'.repeat(8 << 20); w.payload = { n: s.length }; return w; }";
        let out = run(Some("ep_innocent"), big, WEBHOOK, "{}", &limits).unwrap();
        assert!(out.contains(&format!("{}", 8 << 20)), "{out}");
        // The hog runs out by itself in time (once more than others share its runtime, then alone in one).
        let failed = (0..40).find_map(|_| run(Some("ep_hog"), hog, WEBHOOK, "{}", &limits).err());
        assert_eq!(failed, Some(SandboxError::OutOfMemory(limits.memory)));
    }
}
