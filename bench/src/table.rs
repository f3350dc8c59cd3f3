//! `hookd-bench table`: turns the results file written by run.sh into a Markdown table.
//!
//! Input lines: `mode<TAB>scenario<TAB>idle_rss_kib<TAB>peak_rss_kib<TAB>{RESULT json}`. Blank lines and
//! lines starting with `#` are skipped.

use serde_json::Value;

pub fn render(input: &str) -> Result<String, String> {
    let mut out = String::new();
    out.push_str(
        "| sync | scenario | pubs | msgs | publish/s | publish p50 / p99 / max ms | delivered/s | delivery p50 / p99 ms | e2e s | accepted | lost | dups | errors | idle RSS MiB | peak RSS MiB |\n",
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (n, line) in input.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.splitn(5, '\t').collect();
        if cols.len() != 5 {
            return Err(format!("line {}: expected 5 tab-separated columns", n + 1));
        }
        let mib =
            |s: &str| s.trim().parse::<f64>().map(|k| format!("{:.1}", k / 1024.0)).unwrap_or_else(|_| "?".into());
        let (mode, scenario, idle, peak) = (cols[0], cols[1], mib(cols[2]), mib(cols[3]));
        let v: Value = match serde_json::from_str(cols[4]) {
            Ok(v) => v,
            Err(_) => {
                // The scenario failed before producing a RESULT line.
                out.push_str(&format!(
                    "| {mode} | {scenario} | | | failed: {} | | | | | | | | | {idle} | {peak} |\n",
                    cols[4].replace('|', "/")
                ));
                continue;
            }
        };
        let num = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let int = |k: &str| v[k].as_u64().map(|x| x.to_string()).unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "| {mode} | {scenario} | {} | {} | {:.0} | {:.2} / {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {:.2} | {} | {} | {} | {} | {idle} | {peak} |\n",
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
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rows() {
        let input = "normal\tconcurrent\t10240\t20480\t{\"publishers\":32,\"messages\":10,\"publish_rate_per_s\":100.4,\"publish_p50_ms\":1,\"publish_p99_ms\":2,\"publish_max_ms\":3,\"delivered_rate_per_s\":99,\"delivery_latency_p50_ms\":4,\"delivery_latency_p99_ms\":5,\"e2e_seconds\":0.1,\"accepted\":10,\"lost\":0,\"duplicates\":0,\"errors\":0}\n\
                     full\tsingle\t1\t2\tno result\n";
        let t = render(input).unwrap();
        assert!(t.contains("| normal | concurrent | 32 | 10 | 100 | 1.00 / 2.00 / 3.00 | 99 | 4.00 / 5.00 | 0.10 | 10 | 0 | 0 | 0 | 10.0 | 20.0 |"), "{t}");
        assert!(t.contains("| full | single | | | failed: no result |"), "{t}");
    }
}
