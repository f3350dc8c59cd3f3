//! `hookd-bench table`: turns the results file written by run.sh into a Markdown table.
//!
//! Input lines: `server<TAB>scenario<TAB>idle_rss_kib<TAB>peak_rss_kib<TAB>{RESULT json}`, or with two more columns
//! before the JSON, `…<TAB>pg_cpu_seconds<TAB>pg_transactions<TAB>{RESULT json}` (PostgreSQL's CPU and transactions
//! during the scenario, `?` when unknown). Instead of the JSON a line may hold why the scenario has none. Blank lines
//! and lines starting with `#` are skipped.

use serde_json::Value;

/// One line of the results file.
struct Row<'a> {
    server: &'a str,
    scenario: &'a str,
    idle_kib: Option<f64>,
    peak_kib: Option<f64>,
    /// PostgreSQL CPU seconds and transactions during the scenario, when measured.
    pg: Option<(Option<f64>, Option<f64>)>,
    /// The RESULT JSON, or the failure text when there is none.
    result: Result<Value, &'a str>,
}

fn parse_line(line: &str) -> Result<Row<'_>, String> {
    // The JSON (serde_json's compact output) and the failure texts hold no tab, so every tab is a separator.
    let cols: Vec<&str> = line.split('\t').collect();
    let (pg, last) = match cols.len() {
        5 => (None, cols[4]),
        7 => (Some((num(cols[4]), num(cols[5]))), cols[6]),
        _ => return Err("expected 5 or 7 tab-separated columns".into()),
    };
    Ok(Row {
        server: cols[0],
        scenario: cols[1],
        idle_kib: num(cols[2]),
        peak_kib: num(cols[3]),
        pg,
        result: serde_json::from_str::<Value>(last).map_err(|_| last),
    })
}

fn num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

fn mib(k: Option<f64>) -> String {
    k.map(|k| format!("{:.1}", k / 1024.0)).unwrap_or_else(|| "?".into())
}

/// Per 1,000 accepted messages.
fn per_1k(x: Option<f64>, v: &Value) -> String {
    match (x, v["accepted"].as_f64()) {
        (Some(x), Some(n)) if n > 0.0 => format!("{:.3}", x * 1000.0 / n),
        _ => "?".into(),
    }
}

/// The figures that get a ratio to the relay: (label, how to read it from a row).
const RATIO_COLUMNS: &[(&str, &str)] = &[
    ("publish/s", "publish_rate_per_s"),
    ("publish p50", "publish_p50_ms"),
    ("publish p99", "publish_p99_ms"),
    ("publish max", "publish_max_ms"),
    ("delivered/s", "delivered_rate_per_s"),
    ("delivery p50", "delivery_latency_p50_ms"),
    ("delivery p99", "delivery_latency_p99_ms"),
    ("e2e s", "e2e_seconds"),
    ("idle RSS", "@idle"),
    ("peak RSS", "@peak"),
];

fn figure(row: &Row, key: &str) -> Option<f64> {
    match key {
        "@idle" => row.idle_kib,
        "@peak" => row.peak_kib,
        k => row.result.as_ref().ok()?[k].as_f64(),
    }
}

fn ratio(x: Option<f64>, relay: Option<f64>) -> String {
    match (x, relay) {
        (Some(x), Some(r)) if r > 0.0 => format!("{:.3}×", x / r),
        _ => "–".into(),
    }
}

/// Renders the results table; with PostgreSQL columns when any row has them, and a second table of every figure as
/// a ratio to the relay's in the same scenario when the results hold a `relay` row.
pub fn render(input: &str) -> Result<String, String> {
    let mut rows = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        rows.push(parse_line(line).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    let with_pg = rows.iter().any(|r| r.pg.is_some());
    let mut out = String::new();
    out.push_str(
        "| server | scenario | pubs | msgs | publish/s | publish p50 / p99 / max ms | delivered/s | delivery p50 / p99 ms | e2e s | accepted | lost | dups | errors | idle RSS MiB | peak RSS MiB |",
    );
    out.push_str(if with_pg { " PG CPU s / 1k msgs | PG xacts / 1k msgs |\n" } else { "\n" });
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    out.push_str(if with_pg { "--:|--:|\n" } else { "\n" });
    for r in &rows {
        let (server, scenario, idle, peak) = (r.server, r.scenario, mib(r.idle_kib), mib(r.peak_kib));
        let v = match &r.result {
            Ok(v) => v,
            Err(text) => {
                // The scenario failed (or was skipped) before producing a RESULT line.
                let why = if text.starts_with("skipped") { text.to_string() } else { format!("failed: {text}") };
                out.push_str(&format!(
                    "| {server} | {scenario} | | | {} | | | | | | | | | {idle} | {peak} |",
                    why.replace('|', "/")
                ));
                out.push_str(if with_pg { " | |\n" } else { "\n" });
                continue;
            }
        };
        let num = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let int = |k: &str| v[k].as_u64().map(|x| x.to_string()).unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "| {server} | {scenario} | {} | {} | {:.0} | {:.2} / {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {:.2} | {} | {} | {} | {} | {idle} | {peak} |",
            int("publishers"),
            int("messages"),
            num("publish_rate_per_s"),
            num("publish_p50_ms"),
            num("publish_p99_ms"),
            num("publish_max_ms"),
            num("delivered_rate_per_s"),
            num("delivery_latency_p50_ms"),
            num("delivery_latency_p99_ms"),
            num("e2e_seconds"),
            int("accepted"),
            int("lost"),
            int("duplicates"),
            int("errors"),
        ));
        match r.pg {
            Some((cpu, xacts)) => out.push_str(&format!(" {} | {} |\n", per_1k(cpu, v), per_1k(xacts, v))),
            None if with_pg => out.push_str(" – | – |\n"),
            None => out.push('\n'),
        }
    }

    // Ratios to the relay of the same scenario.
    let relay_of =
        |scenario: &str| rows.iter().find(|r| r.server == "relay" && r.scenario == scenario && r.result.is_ok());
    if rows.iter().any(|r| r.server == "relay") {
        out.push_str("\nEach figure as a ratio to the relay's in the same scenario (throughput: higher is better; latency, time and memory: lower is better):\n\n| server | scenario |");
        for (label, _) in RATIO_COLUMNS {
            out.push_str(&format!(" {label} |"));
        }
        out.push_str("\n|---|---|");
        out.push_str(&"--:|".repeat(RATIO_COLUMNS.len()));
        out.push('\n');
        for r in &rows {
            out.push_str(&format!("| {} | {} |", r.server, r.scenario));
            let relay = relay_of(r.scenario);
            for (_, key) in RATIO_COLUMNS {
                let cell = match (&r.result, relay) {
                    (Ok(_), Some(rel)) => ratio(figure(r, key), figure(rel, key)),
                    _ => "–".into(),
                };
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rate: f64, p50: f64, accepted: u64) -> String {
        format!(
            "{{\"publishers\":32,\"messages\":{accepted},\"publish_rate_per_s\":{rate},\"publish_p50_ms\":{p50},\"publish_p99_ms\":2,\"publish_max_ms\":3,\"delivered_rate_per_s\":{rate},\"delivery_latency_p50_ms\":4,\"delivery_latency_p99_ms\":5,\"e2e_seconds\":0.1,\"accepted\":{accepted},\"lost\":0,\"duplicates\":0,\"errors\":0}}"
        )
    }

    #[test]
    fn renders_rows() {
        let input =
            format!("normal\tconcurrent\t10240\t20480\t{}\nfull\tsingle\t1\t2\tno result\n", result(100.4, 1.0, 10));
        let t = render(&input).unwrap();
        assert!(t.contains("| normal | concurrent | 32 | 10 | 100 | 1.00 / 2.00 / 3.00 | 100 | 4.00 / 5.00 | 0.10 | 10 | 0 | 0 | 0 | 10.0 | 20.0 |\n"), "{t}");
        assert!(t.contains("| full | single | | | failed: no result |"), "{t}");
        assert!(!t.contains("PG CPU") && !t.contains("ratio"), "{t}");
    }

    #[test]
    fn renders_pg_columns_and_ratios_to_the_relay() {
        let input = format!(
            "relay\tconcurrent\t1024\t2048\t{}\n\
             sqlite normal\tconcurrent\t2048\t4096\t{}\n\
             postgres x1\tconcurrent\t2048\t4096\t1.5\t300\t{}\n\
             postgres x2\tconcurrent\t?\t?\t?\t?\tskipped: the PostgreSQL store is not built yet\n\
             postgres x1\tsingle\t1\t1\t0.5\t10\t{}\n",
            result(40000.0, 0.5, 5000),
            result(10000.0, 2.0, 5000),
            result(4000.0, 5.0, 5000),
            result(900.0, 1.0, 500),
        );
        let t = render(&input).unwrap();
        assert!(t.contains("PG CPU s / 1k msgs | PG xacts / 1k msgs |"), "{t}");
        // 1.5 s and 300 transactions over 5,000 messages.
        assert!(t.contains("| 1.0 | 2.0 | – | – |\n"), "relay row has no PG figures: {t}");
        assert!(t.contains("| 2.0 | 4.0 | 0.300 | 60.000 |\n"), "{t}");
        assert!(t.contains("| postgres x2 | concurrent | | | skipped: the PostgreSQL store is not built yet |"), "{t}");
        assert!(t.contains("ratio to the relay"), "{t}");
        assert!(t.contains("| relay | concurrent | 1.000× | 1.000× |"), "{t}");
        assert!(t.contains("| sqlite normal | concurrent | 0.250× | 4.000× | 1.000× | 1.000× | 0.250× | 1.000× | 1.000× | 1.000× | 2.000× | 2.000× |"), "{t}");
        assert!(t.contains("| postgres x1 | concurrent | 0.100× | 10.000× |"), "{t}");
        assert!(t.contains("| postgres x2 | concurrent | – | – |"), "{t}");
        // No relay row for "single": no ratios there.
        assert!(t.contains("| postgres x1 | single | – | – |"), "{t}");
        assert!(render("a\tb\tc\n").is_err());
    }
}
