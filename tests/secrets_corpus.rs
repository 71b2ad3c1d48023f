//! The hostile corpus for secrets: environments, URLs and `.env` files that carry secrets,
//! well-formed and broken, through every command that prints or writes something. No byte
//! sequence of a secret (as given, percent-encoded, or inside HTTP basic auth) may appear
//! in stdout, stderr, plans (text, json, markdown, saved), diffs, exports or renders.
//!
//! The broker half runs as a throwaway administrator whose password is itself a secret of
//! the corpus, against the real test broker.

#[path = "common/broker.rs"]
mod broker;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use broker::{TestVhost, code, path_str, stderr};
use serde_json::json;

/// Every secret of the corpus. Some hold the characters that break URL parsing, quoting
/// and shell words; one is not ASCII.
const SECRETS: &[&str] = &[
    "adm1n-Pw/with?odd#chars", // the admin's password: URL-hostile
    "svc-pw-Zk93!x",           // a user's password_env value
    "tok-xyz-8812",            // a service env value through ${TOKEN}
    "db-pw-4471@:",            // inside https://user:${DB_PW}@db
    "dotenv-only-5503",        // a .env value
    "broken-line-6612",        // on a .env line that does not parse
    "url-unparsed-7731",       // in a URL that does not parse
    "ünï-sëcret-9902",         // not ASCII, through RABBITMQ_PASSWORD of a failing run
    "$(touch-pwned)-3318",     // shell syntax, as a service env value
];

/// The forms a secret could leak in: as is, percent-encoded, and as basic auth of a user.
fn forms(secret: &str, users: &[&str]) -> Vec<String> {
    let mut out = vec![
        secret.to_string(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ];
    for u in users {
        out.push(base64::engine::general_purpose::STANDARD.encode(format!("{u}:{secret}")));
    }
    out
}

struct Corpus {
    v: TestVhost,
    admin: String,
    svc: String,
    /// Everything printed or written, with where it came from.
    seen: Vec<(String, Vec<u8>)>,
}

impl Corpus {
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.v.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Run topo in the corpus directory with a hostile environment plus `env`.
    fn run(&mut self, label: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo"));
        cmd.current_dir(self.v.dir.path())
            .args(args)
            .env_remove("TOPO_FILE")
            .env_remove("NO_COLOR")
            .env("TOPO_AMQP_URL", broker::amqp())
            .env("TOPO_MANAGEMENT_URL", broker::mgmt())
            .env("RABBITMQ_USER", &self.admin)
            .env("RABBITMQ_PASSWORD", SECRETS[0])
            .env("SVC_PASSWORD", SECRETS[1])
            .env("TOKEN", SECRETS[2])
            .env("DB_PW", SECRETS[3])
            .env("SHELLY", SECRETS[8])
            // Secrets the file never names: they must not surface either.
            .env("UNRELATED_SECRET", SECRETS[6])
            .env("AWS_SECRET_ACCESS_KEY", SECRETS[7]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run topo");
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{label}: {err}");
        self.seen
            .push((format!("{label}: stdout"), out.stdout.clone()));
        self.seen
            .push((format!("{label}: stderr"), out.stderr.clone()));
        out
    }

    fn written(&mut self, label: &str, path: &Path) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(!bytes.is_empty(), "{label}: nothing written");
        self.seen
            .push((format!("{label}: {}", path.display()), bytes));
    }

    fn written_dir(&mut self, label: &str, dir: &Path) {
        for entry in walk(dir) {
            let bytes = std::fs::read(&entry).expect("read");
            self.seen
                .push((format!("{label}: {}", entry.display()), bytes));
        }
    }

    fn assert_no_secret(&self) {
        let users = [self.admin.as_str(), self.svc.as_str(), "guest"];
        let mut leaks = Vec::new();
        for secret in SECRETS {
            for form in forms(secret, &users) {
                for (where_, bytes) in &self.seen {
                    if contains(bytes, form.as_bytes()) {
                        leaks.push(format!("`{form}` (of `{secret}`) in {where_}"));
                    }
                }
            }
        }
        assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
        assert!(self.seen.len() > 40, "the corpus ran too little");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The topology of the corpus: a user whose password comes from the environment, services
/// whose env carries secrets by reference, and the test vhost.
fn topology(vhost: &str, svc: &str, queue: &str) -> String {
    format!(
        r#"version: 1
name: shop
vhost: {vhost}
queues:
  - {{name: {queue}}}
users:
  - {{name: {svc}, password_env: SVC_PASSWORD}}
permissions:
  - {{user: {svc}, configure: "^{queue}$", write: "^amq\\.default$", read: "^{queue}$"}}
services:
  - name: api
    image: "api:1"
    runtime: nestjs
    port: 3000
    ingress: external
    user: {svc}
    env:
      API_TOKEN: "${{TOKEN}}"
      DATABASE_URL: "https://app:${{DB_PW}}@db:5432/app"
      FROM_DOTENV: "${{DOTENV_SECRET}}"
      SHELL_WORDS: "${{SHELLY}}"
transports:
  - {{from: api, to: api, kind: rmq, queue: {queue}}}
"#
    )
}

#[test]
fn no_secret_reaches_any_output() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    // The throwaway administrator whose password is the first secret.
    let admin = v.user("secrets-admin");
    v.put(
        &["users", &admin],
        &json!({"password": SECRETS[0], "tags": "administrator"}),
    );
    v.put(
        &["permissions", &v.name, &admin],
        &json!({"configure": ".*", "write": ".*", "read": ".*"}),
    );
    let svc = v.user("svc");
    let mut c = Corpus {
        v,
        admin,
        svc,
        seen: Vec::new(),
    };
    let vhost = c.v.name.clone();
    let topo = c.file("topo.yaml", &topology(&vhost, &c.svc, "q1"));
    let topo2 = c.file("topo2.yaml", &topology(&vhost, &c.svc, "q2"));
    c.file(
        ".env",
        &format!("DOTENV_SECRET={}\nREGION=eu\n", SECRETS[4]),
    );
    let topo = path_str(&topo).to_string();
    let topo2 = path_str(&topo2).to_string();

    // Offline commands; each with its exit status (the diff of two different files: 2).
    for (label, args, expected) in [
        ("validate", vec!["validate", &topo], 0),
        (
            "validate json",
            vec!["validate", "--format", "json", &topo],
            0,
        ),
        ("config", vec!["config", &topo], 0),
        ("graph", vec!["graph", &topo], 0),
        ("diff", vec!["diff", &topo, &topo2], 2),
        (
            "diff json",
            vec!["diff", "--format", "json", &topo, &topo2],
            2,
        ),
        ("render compose", vec!["render", "compose", &topo], 0),
        ("render azure", vec!["render", "azure", &topo], 0),
        (
            "render env-example",
            vec!["render", "env-example", &topo],
            0,
        ),
        ("render asyncapi", vec!["render", "asyncapi", &topo], 0),
    ] {
        let out = c.run(label, &args, &[]);
        assert_eq!(code(&out), expected, "{label}: {}", stderr(&out));
    }
    let rendered = c.v.dir.path().join("rendered");
    std::fs::create_dir_all(&rendered).expect("mkdir");
    for target in ["compose", "azure"] {
        let out_path = rendered.join(format!("{target}.out"));
        let out = c.run(
            &format!("render {target} -o"),
            &["render", target, &topo, "-o", path_str(&out_path)],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    c.written_dir("render -o", &rendered);

    // Against the broker, as the throwaway administrator.
    for format in ["text", "json", "markdown"] {
        let out = c.run(
            &format!("plan {format}"),
            &["plan", "--format", format, &topo],
            &[],
        );
        assert_eq!(code(&out), 2, "plan {format}: {}", stderr(&out));
    }
    let saved = c.v.dir.path().join("saved.plan");
    let out = c.run("plan -o", &["plan", &topo, "-o", path_str(&saved)], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    c.written("saved plan", &saved);
    let out = c.run("apply", &["apply", &topo], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = c.run(
        "plan after apply",
        &["plan", "--format", "json", &topo],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = c.run("export", &["export", "--vhost", &vhost], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let exported = c.v.dir.path().join("exported.yaml");
    let out = c.run(
        "export -o",
        &["export", "--vhost", &vhost, "-o", path_str(&exported)],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    c.written("export -o", &exported);

    // The same credentials in URLs: well-formed (encoded) and not (raw `/`, `?`, `#`).
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let good = broker::with_user(&broker::mgmt(), &c.admin, SECRETS[0]);
    let out = c.run(
        "plan, password in the URL",
        &["plan", &topo, "--management-url", &good],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let host = broker::mgmt().replace("http://", "");
    let raw = format!("http://{}:{}@{host}", c.admin, SECRETS[0]);
    let amqp_raw = format!("amqp://{}:{}@{}", c.admin, SECRETS[6], broker::amqp_addr());
    for (label, flag, url) in [
        (
            "raw password in --management-url",
            "--management-url",
            raw.as_str(),
        ),
        (
            "raw password in --amqp-url",
            "--amqp-url",
            amqp_raw.as_str(),
        ),
    ] {
        let out = c.run(label, &["apply", &topo, flag, url], &[]);
        assert_eq!(code(&out), 1, "{label}: {}", stderr(&out));
    }
    let out = c.run(
        "raw password in TOPO_MANAGEMENT_URL",
        &["plan", &topo],
        &[(
            "TOPO_MANAGEMENT_URL",
            &format!("http://x:{}@{host}/a#b?c", SECRETS[6]),
        )],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // A wrong password (not ASCII), through the variable and through an encoded URL.
    let out = c.run(
        "wrong password",
        &["apply", &topo],
        &[("RABBITMQ_PASSWORD", SECRETS[7])],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let wrong = format!("http://{}:{}@{host}", c.admin, enc(SECRETS[7]));
    let out = c.run(
        "wrong password in a URL",
        &["plan", &topo, "--management-url", &wrong],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));

    // A .env line that does not parse, carrying a secret; and an unset password variable.
    c.file(
        ".env",
        &format!(
            "DOTENV_SECRET={}\nthis line {} is not KEY=VALUE\n",
            SECRETS[4], SECRETS[5]
        ),
    );
    for (label, args) in [
        ("validate, broken .env", vec!["validate", &topo]),
        ("plan, broken .env", vec!["plan", &topo]),
        ("render, broken .env", vec!["render", "compose", &topo]),
    ] {
        let out = c.run(label, &args, &[]);
        assert_eq!(code(&out), 1, "{label}: {}", stderr(&out));
    }
    c.file(".env", &format!("DOTENV_SECRET={}\n", SECRETS[4]));
    let out = c.run(
        "plan, empty password variable",
        &["plan", &topo],
        &[("SVC_PASSWORD", "")],
    );
    // An empty value is refused like an unset one (RabbitMQ refuses a blank password at
    // login): 1, and still nothing secret in what it says.
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("which is empty"), "{}", stderr(&out));

    c.assert_no_secret();
}

/// The password inside a shovel's and a federation upstream's URI (given through
/// `uri_env`): through validate, graph, diff, plan in every format, a saved plan, apply, the
/// read-back, export, `TOPO_TRACE=1`, a value the broker refuses, and a literal `uri:`.
#[test]
fn no_link_uri_password_reaches_any_output() {
    let Some(v) = TestVhost::try_new() else {
        return;
    };
    const LINK_SECRET: &str = "sh0vel-Pw/9@x";
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let other = v.extra_vhost();
    v.create_vhost(&other);
    let user = v.user("shovel");
    v.put(
        &["users", &user],
        &json!({"password": LINK_SECRET, "tags": ""}),
    );
    for vh in [&v.name, &other] {
        v.put(
            &["permissions", vh, &user],
            &json!({"configure": ".*", "write": ".*", "read": ".*"}),
        );
    }
    let host = broker::amqp_addr();
    let uri = |vh: &str| format!("amqp://{user}:{}@{host}/{}", enc(LINK_SECRET), enc(vh));
    let (src, dest) = (uri(&v.name), uri(&other));
    let body = |prefetch: u32| {
        format!(
            r#"version: 1
vhost: {}
broker:
  plugins: [rabbitmq_shovel, rabbitmq_federation]
vhosts:
  - {{name: {other}}}
queues:
  - {{name: outbox}}
  - {{name: inbox, vhost: {other}}}
shovels:
  - name: move
    source: {{uri_env: SRC_URI, queue: outbox}}
    destination: {{uri_env: DEST_URI, queue: inbox}}
    prefetch_count: {prefetch}
federation_upstreams:
  - {{name: origin, vhost: {other}, uri_env: SRC_URI}}
"#,
            v.name
        )
    };
    let dir = v.dir.path().to_path_buf();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf-8 path").to_string()
    };
    let file = write("links.yaml", &body(10));
    let file2 = write("links2.yaml", &body(20));
    let literal = write(
        "literal.yaml",
        &format!(
            "version: 1\nshovels:\n  - name: s\n    source: {{uri: \"{src}\", queue: q}}\n    \
             destination: {{queue: r}}\n"
        ),
    );
    // The same on a line the schema stage reports on (an unknown key), before the rules run.
    let typo = write(
        "typo.yaml",
        &format!(
            "version: 1\nshovels:\n  - name: s\n    source: {{uri: \"{src}\", queue: q, qeue: q}}\n    \
             destination: {{queue: r}}\n"
        ),
    );
    // A URI the broker refuses (not a port), which its error could quote.
    let refused = format!("amqp://{user}:{}@{host}:notaport/x", enc(LINK_SECRET));
    let saved = dir.join("saved.plan");
    let exported = dir.join("exported.yaml");
    let saved_s = saved.to_str().expect("utf-8 path").to_string();
    let exported_s = exported.to_str().expect("utf-8 path").to_string();

    let env = [("SRC_URI", src.as_str()), ("DEST_URI", dest.as_str())];
    let refused_env = [("SRC_URI", refused.as_str()), ("DEST_URI", dest.as_str())];
    let traced = [env[0], env[1], ("TOPO_TRACE", "1")];
    // Each run with its exit status: 1 for what is refused, 2 for a plan or diff with
    // changes.
    type Run<'a> = (&'a str, Vec<&'a str>, &'a [(&'a str, &'a str)], i32);
    let runs: Vec<Run> = vec![
        ("validate", vec!["validate", &file], &env, 0),
        ("validate literal", vec!["validate", &literal], &env, 1),
        ("validate typo", vec!["validate", &typo], &env, 1),
        ("plan typo", vec!["plan", &typo], &env, 1),
        ("graph", vec!["graph", &file], &env, 0),
        ("diff", vec!["diff", &file, &file2], &env, 2),
        (
            "diff json",
            vec!["diff", "--format", "json", &file, &file2],
            &env,
            2,
        ),
        ("diff unset", vec!["diff", &file, &file2], &[], 2),
        ("plan", vec!["plan", &file], &env, 2),
        (
            "plan json",
            vec!["plan", "--format", "json", &file],
            &env,
            2,
        ),
        (
            "plan markdown",
            vec!["plan", "--format", "markdown", &file],
            &env,
            2,
        ),
        ("plan -o", vec!["plan", &file, "-o", &saved_s], &env, 2),
        ("plan traced", vec!["plan", &file], &traced, 2),
        ("apply traced", vec!["apply", &file], &traced, 0),
        (
            "plan after apply",
            vec!["plan", "--format", "json", &file],
            &env,
            0,
        ),
        ("plan change", vec!["plan", &file2], &env, 2),
        ("export", vec!["export", "--vhost", &v.name], &[], 0),
        ("export other", vec!["export", "--vhost", &other], &[], 0),
        (
            "export -o",
            vec!["export", "--vhost", &v.name, "-o", &exported_s],
            &[],
            0,
        ),
        ("apply refused", vec!["apply", &file2], &refused_env, 1),
    ];
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    for (label, args, env, expected) in runs {
        let out = broker::topo_cmd(&args, env);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{label}: {err}");
        seen.push((format!("{label}: stdout"), out.stdout.clone()));
        seen.push((format!("{label}: stderr"), out.stderr.clone()));
        assert_eq!(code(&out), expected, "{label}: {err}");
    }
    for path in [&saved, &exported] {
        seen.push((
            path.display().to_string(),
            std::fs::read(path).expect("written"),
        ));
    }
    let mut leaks = Vec::new();
    for form in forms(LINK_SECRET, &[&user]) {
        for (where_, bytes) in &seen {
            if contains(bytes, form.as_bytes()) {
                leaks.push(format!("`{form}` in {where_}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "the URI password leaked:\n{}",
        leaks.join("\n")
    );
}
