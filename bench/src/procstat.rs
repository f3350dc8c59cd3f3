//! `hookd-bench proc-cpu`: CPU seconds used so far by a process tree (e.g. a PostgreSQL server: the postmaster and
//! its children) or by every process of one name, read from `/proc/<pid>/stat`. run.sh reads it before and after a
//! scenario and reports the difference.
//!
//! Each process counts `utime + stime` (its own CPU) plus `cutime + cstime` (that of its children it has reaped). The
//! second part matters: a PostgreSQL backend whose connection closes during the run exits, and its CPU then moves into
//! the postmaster's `cutime`/`cstime`, so the sum over the live processes never goes down and misses nothing.

use std::io;
use std::path::Path;

/// One `/proc/<pid>/stat` line, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub comm: String,
    pub ppid: u32,
    /// utime + stime, in clock ticks.
    pub own_ticks: u64,
    /// cutime + cstime (reaped children), in clock ticks.
    pub children_ticks: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name is in parentheses and may itself hold spaces and `)`, so the
/// fields are counted from the last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line[..open].trim().parse().ok()?;
    let comm = line.get(open + 1..close)?.to_string();
    // After ")": state(3) ppid(4) pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
    // cutime(16) cstime(17); index 0 here is field 3.
    let f: Vec<&str> = line[close + 1..].split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<i64>().ok());
    let ppid = num(1)? as u32;
    let (utime, stime, cutime, cstime) = (num(11)?, num(12)?, num(13)?, num(14)?);
    Some(Stat {
        pid,
        comm,
        ppid,
        own_ticks: (utime.max(0) + stime.max(0)) as u64,
        children_ticks: (cutime.max(0) + cstime.max(0)) as u64,
    })
}

/// Every readable process under `proc_root` (normally `/proc`). Processes that exit while being read are skipped.
pub fn all_stats(proc_root: &Path) -> io::Result<Vec<Stat>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(proc_root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) {
            if let Some(s) = parse_stat(&text) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Which processes to count.
#[derive(Debug, Clone)]
pub enum Select {
    /// This process and its direct children (a postmaster and its backends and workers).
    Tree(u32),
    /// Every process with this command name.
    Comm(String),
}

/// Total ticks (own + reaped children) of the selected processes, and how many there were.
pub fn total_ticks(stats: &[Stat], sel: &Select) -> (u64, usize) {
    let picked = stats.iter().filter(|s| match sel {
        Select::Tree(root) => s.pid == *root || s.ppid == *root,
        Select::Comm(c) => s.comm == *c,
    });
    picked.fold((0, 0), |(t, n), s| (t + s.own_ticks + s.children_ticks, n + 1))
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), 100 if unknown.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU seconds of the selection, and the number of processes counted (an error when there is none).
pub fn cpu_seconds(proc_root: &Path, sel: &Select) -> Result<(f64, usize), String> {
    let stats = all_stats(proc_root).map_err(|e| format!("{}: {e}", proc_root.display()))?;
    let (ticks, n) = total_ticks(&stats, sel);
    if n == 0 {
        return Err(format!("no process matches {sel:?}"));
    }
    Ok((ticks as f64 / clock_ticks() as f64, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTMASTER: &str = "2216 (postgres) S 1 2216 2216 0 -1 4194560 9000 20000 3 0 150 70 1200 340 20 0 6 0 900 230000000 7000 18446744073709551615 1 1 0 0 0 0 0 16777216 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn parses_stat_line() {
        let s = parse_stat(POSTMASTER).unwrap();
        assert_eq!(s, Stat { pid: 2216, comm: "postgres".into(), ppid: 1, own_ticks: 220, children_ticks: 1540 });
    }

    #[test]
    fn parses_comm_with_spaces_and_parens() {
        let s = parse_stat("77 (a) b (c)) R 5 77 77 0 -1 0 0 0 0 0 9 1 0 0 20 0 1 0 5 0 0").unwrap();
        assert_eq!((s.pid, s.comm.as_str(), s.ppid, s.own_ticks, s.children_ticks), (77, "a) b (c)", 5, 10, 0));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 0 1"), None);
    }

    #[test]
    fn sums_a_tree_or_a_name() {
        let stats = vec![
            parse_stat(POSTMASTER).unwrap(),
            parse_stat("3000 (postgres) S 2216 3000 3000 0 -1 0 0 0 0 0 30 10 0 0 20 0 1 0 5 0 0").unwrap(),
            parse_stat("3001 (postgres) S 2216 3001 3001 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 5 0 0").unwrap(),
            // Another cluster's postgres, not a child of 2216.
            parse_stat("4000 (postgres) S 1 4000 4000 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 5 0 0").unwrap(),
            parse_stat("5000 (bash) S 1 5000 5000 0 -1 0 0 0 0 0 7 0 0 0 20 0 1 0 5 0 0").unwrap(),
        ];
        assert_eq!(total_ticks(&stats, &Select::Tree(2216)), (220 + 1540 + 40 + 10, 3));
        assert_eq!(total_ticks(&stats, &Select::Comm("postgres".into())), (220 + 1540 + 40 + 10 + 100, 4));
        assert_eq!(total_ticks(&stats, &Select::Tree(9)), (0, 0));
    }

    #[test]
    fn reads_a_proc_directory() {
        let root = std::env::temp_dir().join(format!("hookd-bench-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (pid, line) in [("2216", POSTMASTER), ("3000", "3000 (postgres) S 2216 1 1 0 -1 0 0 0 0 0 30 10 0 0 20")] {
            std::fs::create_dir_all(root.join(pid)).unwrap();
            std::fs::write(root.join(pid).join("stat"), line).unwrap();
        }
        std::fs::create_dir_all(root.join("self")).unwrap(); // not a pid: skipped
        std::fs::create_dir_all(root.join("99")).unwrap(); // exited meanwhile (no stat): skipped
        let (secs, n) = cpu_seconds(&root, &Select::Tree(2216)).unwrap();
        assert_eq!(n, 2);
        assert!((secs - 1800.0 / clock_ticks() as f64).abs() < 1e-9);
        assert!(cpu_seconds(&root, &Select::Comm("nope".into())).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn reads_real_proc() {
        // This test process itself is visible and has a positive or zero CPU time.
        let (secs, n) = cpu_seconds(Path::new("/proc"), &Select::Tree(std::process::id())).unwrap();
        assert!(n >= 1 && secs >= 0.0);
    }
}
