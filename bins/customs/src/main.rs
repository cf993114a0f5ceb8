//! `customs`: manage the trackers and queries of the host database (the command-line twin of
//! the original `/customs/` pages). Exit status: 0 done, 1 some records of `load` failed,
//! 2 bad arguments, refused change or unusable database. `customs user …` manages the accounts
//! of the web pages. See `docs/host-database.md`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use bugimporters_core::{ConfigFormat, Query};
use bugimporters_hostdb::{
    accounts, parse_option, render_table, tracker_from_args, HostDb, Role, TrackerEdit,
    DEFAULT_DATABASE_URL,
};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "customs", version, about)]
struct Cli {
    /// Database URL: sqlite://FILE (created when missing), postgres://..., mysql://...
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    db: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add a tracker; TYPE and every key are checked against the registered tracker types.
    AddTracker {
        /// Tracker type (`trac`, `github`, or the original `trac.TracBugImporter`).
        kind: String,
        /// Unique tracker name (also the default project name).
        name: String,
        /// Root URL of the tracker.
        #[arg(long)]
        base_url: Option<String>,
        /// A key: KEY=VALUE (string) or KEY:=JSON; common keys (bitesized_text, ...) too.
        #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// A query URL (repeatable).
        #[arg(long = "query", short = 'q', value_name = "URL")]
        queries: Vec<String>,
        /// The project the tracker was created for.
        #[arg(long)]
        project: Option<String>,
    },
    /// Add a query URL to a tracker.
    AddQuery {
        tracker: String,
        url: String,
        /// Query kind where the type has several (Bugzilla: xml or tracker).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the trackers (a table, or JSON with --json).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one tracker with its queries (YAML, or JSON with --json).
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a tracker: --option KEY=VALUE, --unset KEY, --rename NEW, --project NAME.
    Edit {
        name: String,
        #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
        options: Vec<String>,
        #[arg(long = "unset", value_name = "KEY")]
        unset: Vec<String>,
        #[arg(long)]
        rename: Option<String>,
        /// Set the project the tracker was created for ("" clears it).
        #[arg(long)]
        project: Option<String>,
    },
    /// Remove a tracker with its queries and bugs, or only one query with --query.
    Remove {
        name: String,
        /// Remove only this query URL.
        #[arg(long)]
        query: Option<String>,
        /// Do not ask (required when standard input is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Bring a crawl configuration (the original's YAML/JSON format) into the database.
    Load { config: PathBuf },
    /// Make a tracker (or every tracker, --all) due now: `bugimporters serve` runs it next.
    Refresh {
        /// The tracker.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every tracker.
        #[arg(long)]
        all: bool,
    },
    /// The service's schedule: per tracker interval, next due, last run, outcome, failures,
    /// bugs and the process that ran it (a table, or a JSON array with --json).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Apply the database migrations (they also run on first use of any command).
    Migrate,
    /// Manage the accounts of the web pages (/customs/): add, list, remove, passwd.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input when it is not a terminal (one
    /// line), else asked for twice without echo.
    Add {
        /// The login name.
        name: String,
        /// What the user may do: admin (everything, manages accounts) or maintainer (adds
        /// trackers, changes only their own).
        #[arg(long, value_parser = ["admin", "maintainer"])]
        role: String,
    },
    /// List the users: name, role, created.
    List,
    /// Remove a user (their sessions end; their trackers stay, for admins to change).
    Remove { name: String },
    /// Set a user's password (read as for `add`); every session of the user ends.
    Passwd { name: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    bugimporters_core::log::LogSetup::new("warn").init();
    let run = async {
        let db = HostDb::connect(&cli.db).await?;
        let code = run(&db, cli.command).await;
        db.close().await;
        code
    };
    match tokio::runtime::Runtime::new().map(|rt| rt.block_on(run)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            bugimporters_core::redact::eprint_error(format_args!("{e:#}"));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(db: &HostDb, command: Command) -> anyhow::Result<u8> {
    let registry = bugimporters_all::default_registry();
    match command {
        Command::AddTracker {
            kind,
            name,
            base_url,
            options,
            queries,
            project,
        } => {
            let config = tracker_from_args(&kind, &name, base_url.as_deref(), &options, &queries)?;
            let r = db
                .add_tracker(&registry, &config, project.as_deref())
                .await?;
            println!(
                "added tracker {:?} ({})",
                r.config.tracker_name, r.config.bugimporter
            );
        }
        Command::AddQuery {
            tracker,
            url,
            kind,
            description,
        } => {
            let mut q = Query::new(url);
            q.kind = kind;
            q.description = description;
            db.add_query(&registry, &tracker, &q).await?;
            println!("added query to {tracker:?}");
        }
        Command::List { json } => {
            let all = db.trackers().await?;
            if json {
                let v: Vec<_> = all.iter().map(|r| r.to_json()).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", render_table(&all));
            }
        }
        Command::Show { name, json } => {
            let r = db
                .tracker(&name)
                .await?
                .with_context(|| format!("no tracker named {name:?}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r.to_json())?);
            } else {
                print!("{}", bugimporters_hostdb::render_yaml(&r.to_json())?);
            }
        }
        Command::Edit {
            name,
            options,
            unset,
            rename,
            project,
        } => {
            let mut edit = TrackerEdit::default();
            edit.rename = rename;
            edit.unset = unset;
            edit.created_for_project = project.map(|p| Some(p).filter(|p| !p.is_empty()));
            for o in &options {
                edit.set.push(parse_option(o)?);
            }
            let r = db.edit_tracker(&registry, &name, &edit).await?;
            println!("updated tracker {:?}", r.config.tracker_name);
        }
        Command::Remove { name, query, yes } => {
            if let Some(url) = query {
                if !db.remove_query(&name, &url).await? {
                    bail!("tracker {name:?} has no query {url:?}");
                }
                println!("removed query {url:?} from {name:?}");
                return Ok(0);
            }
            let r = db
                .tracker(&name)
                .await?
                .with_context(|| format!("no tracker named {name:?}"))?;
            if !yes
                && !confirm(&format!(
                    "remove tracker {name:?} with {} queries and {} bugs?",
                    r.config.queries.len(),
                    r.bug_count
                ))?
            {
                bail!("not removed (pass --yes to remove without asking)");
            }
            let (q, b) = db.remove_tracker(&name).await?;
            println!("removed tracker {name:?} ({q} queries, {b} bugs)");
        }
        Command::Load { config } => {
            let text =
                std::fs::read_to_string(&config).with_context(|| config.display().to_string())?;
            let json = config.extension().is_some_and(|e| e == "json");
            let format = if json {
                ConfigFormat::Json
            } else {
                ConfigFormat::Yaml
            };
            let report = db.load_config_text(&registry, &text, format).await?;
            for failure in &report.failures {
                bugimporters_core::redact::eprint_error(failure);
            }
            let (c, u, f) = (report.created, report.updated, report.failures.len());
            println!("{c} trackers created, {u} updated, {f} failed");
            return Ok(u8::from(f > 0));
        }
        Command::Refresh { name, all: _ } => {
            let now = bugimporters_core::time::now_naive();
            let n = db.mark_due(name.as_deref(), now).await?;
            println!("{n} tracker(s) due now");
        }
        Command::Status { json } => {
            let now = bugimporters_core::time::now_naive();
            let status = db.schedule_status(now).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", bugimporters_hostdb::schedule::render_status(&status));
            }
        }
        Command::User(user) => return run_user(db, user).await,
        Command::Migrate => {
            for (version, description) in db.migrate().await? {
                println!("{version} {description}");
            }
        }
    }
    Ok(0)
}

async fn run_user(db: &HostDb, command: UserCommand) -> anyhow::Result<u8> {
    match command {
        UserCommand::Add { name, role } => {
            let role: Role = role.parse()?;
            // Name first, so that a bad name fails before a password is asked for.
            accounts::check_user_name(&name)?;
            if db.user(&name).await?.is_some() {
                bail!("a user named {name:?} exists already");
            }
            let password = read_password(&name)?;
            let user = db.add_user(&name, role, &password).await?;
            println!("added user {:?} ({})", user.name, user.role);
        }
        UserCommand::List => {
            println!("NAME\tROLE\tCREATED");
            for u in db.users().await? {
                let created = bugimporters_core::time::format_naive(&u.created_at);
                println!("{}\t{}\t{created}", u.name, u.role);
            }
        }
        UserCommand::Remove { name } => {
            if !db.remove_user(&name).await? {
                bail!("no user named {name:?}");
            }
            println!("removed user {name:?}");
        }
        UserCommand::Passwd { name } => {
            if db.user(&name).await?.is_none() {
                bail!("no user named {name:?}");
            }
            let password = read_password(&name)?;
            db.set_password(&name, &password).await?;
            println!("password of {name:?} changed; their sessions ended");
        }
    }
    Ok(0)
}

/// The new password of `name`: one line of standard input when it is not a terminal, else
/// typed twice without echo. Checked by [`accounts::check_password`] (the message never
/// shows it).
fn read_password(name: &str) -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        accounts::check_password(&first)?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    accounts::check_password(&password)?;
    Ok(password)
}

/// Asks on the terminal; never waits for an answer when standard input is not a terminal.
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
