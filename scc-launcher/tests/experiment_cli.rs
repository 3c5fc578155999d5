//! `scc experiment`: the CI smoke test (a quick campaign writes a CSV, a JSON and SVG plots
//! that parse, with the plotted boxes of the measured points) and SIGINT in the middle of a
//! campaign (the running chain is torn down, the rows measured so far stay in the files, the
//! exit status is 130). Needs what `scc run` needs: root, or an ordinary user who may create
//! user namespaces (`scc` then makes one).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scc"))
}

/// A fresh folder under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("scc-expt-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The CSV file as header + records (parsed by the csv crate: quoting, equal lengths).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let recs: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    for rec in &recs {
        assert_eq!(rec.len(), header.len());
    }
    (header, recs)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The number of filled boxes in a plot (rect elements with the boxes' opacity).
fn plotted_boxes(svg: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let want = scc_launcher::experiment::plot::BOX_OPACITY.to_string();
    doc.descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("opacity") == Some(want.as_str()))
        .count()
}

#[test]
fn batch_sweep_quick_writes_csv_json_and_plots_that_parse() {
    let dir = TempDir::new("smoke");
    let out = scc()
        .args(["experiment", "batch-sweep", "--quick", "--out"])
        .arg(&dir.0)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // not a terminal: plain progress lines
    assert!(stderr.contains("scc experiment: [1/"), "{stderr}");

    let json = read_json(&dir.0.join("batch-sweep.json"));
    let (header, recs) = read_csv(&dir.0.join("batch-sweep.csv"));
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(recs.len(), rows.len());
    let col = |name: &str| header.iter().position(|c| c == name).unwrap();
    for key in [
        "offered_pps",
        "achieved_pps",
        "sent",
        "received",
        "lost",
        "p1_us",
        "p999_us",
    ] {
        col(key);
    }
    // every run counted: lost = sent - received, in the CSV and in the JSON alike
    for (rec, row) in recs.iter().zip(rows) {
        let n = |k: &str| rec[col(k)].parse::<u64>().unwrap();
        assert_eq!(n("lost"), n("sent") - n("received"));
        assert_eq!(row["sent"].as_u64(), Some(n("sent")));
        assert_eq!(row["interrupted"], false);
    }
    let points: Vec<&Vec<String>> = recs.iter().filter(|r| r[col("phase")] == "point").collect();
    // 3 batches x 2 frame sizes, once each (quick: --repeat 1)
    assert_eq!(points.len(), 6, "{recs:?}");
    assert!(points.iter().all(|r| r[col("error")].is_empty()));
    assert!(
        points
            .iter()
            .all(|r| r[col("nf1_syscalls")].parse::<u64>().unwrap() > 0)
    );
    assert!(
        json["machine"]["uptime_start"]
            .as_str()
            .unwrap()
            .contains("load average")
    );
    assert_eq!(json["summary"].as_array().unwrap().len(), 6);
    assert_eq!(json["interrupted"], false);

    // the plots: well-formed XML; one box per measured point of the frame size
    let files: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let svgs: Vec<&&str> = files.iter().filter(|f| f.ends_with(".svg")).collect();
    assert!(svgs.len() >= 3, "{files:?}");
    for f in &files {
        assert!(dir.0.join(f).is_file(), "{f} listed but missing");
    }
    for size in ["64", "1500"] {
        let f = format!("batch-sweep-{size}-b-75-of-capacity.svg");
        let svg = std::fs::read_to_string(dir.0.join(&f)).unwrap();
        assert_eq!(plotted_boxes(&svg), 3, "{f}");
    }
    for f in svgs {
        let svg = std::fs::read_to_string(dir.0.join(f)).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        // lines have their points drawn (circles), box charts their boxes
        let marks = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle") || n.has_tag_name("rect"))
            .count();
        assert!(marks > 3, "{f}: nothing plotted");
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"))
}

#[test]
fn sigint_tears_down_the_running_chain_and_keeps_the_rows() {
    let dir = TempDir::new("sigint");
    let log = dir.0.join("stderr.log");
    let out = dir.0.join("out");
    let mut child = scc()
        .args(["experiment", "chain-length", "--quick", "-v", "--out"])
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    // Wait for the third run's chain to be up: two rows are written by then.
    let start = Instant::now();
    loop {
        let l = read_log();
        let third = l.find("scc experiment: [2/");
        if third.is_some_and(|i| l[i..].contains("scc: nf r1 pid")) {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("scc ended before the interrupt ({st}): {l}");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{l}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill has no memory arguments; the pid is our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("scc did not end within 30 s of SIGINT: {}", read_log());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let l = read_log();
    assert_eq!(status.code(), Some(130), "{l}");

    // every chain that was deployed was torn down: as many teardowns as runs started, no NF
    // process left
    let started = l.matches("scc experiment: [").count();
    let teardowns = l.lines().filter(|x| *x == "scc: teardown complete").count();
    let pids: Vec<u32> = l
        .lines()
        .filter_map(|x| x.strip_prefix("scc: nf "))
        .filter_map(|x| x.split_whitespace().nth(2)?.parse().ok())
        .collect();
    assert!(!pids.is_empty(), "{l}");
    for p in &pids {
        assert!(!alive(*p), "NF {p} still running");
    }
    // the rows measured so far, the interrupted one marked
    let json = read_json(&out.join("chain-length.json"));
    assert_eq!(json["interrupted"], true);
    let rows = json["rows"].as_array().unwrap();
    let (header, recs) = read_csv(&out.join("chain-length.csv"));
    assert_eq!(recs.len(), rows.len());
    assert!(rows.len() >= 2, "{rows:?}");
    assert_eq!(teardowns, rows.len(), "{l}");
    assert!(started >= rows.len());
    let interrupted = header.iter().position(|c| c == "interrupted").unwrap();
    let marked = recs.iter().filter(|r| r[interrupted] == "true").count();
    assert!(marked <= 1, "{recs:?}");
    assert!(
        recs[..recs.len() - marked]
            .iter()
            .all(|r| r[interrupted] == "false")
    );
    assert!(l.contains("interrupted; the"), "{l}");
}
