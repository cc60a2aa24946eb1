//! The `medclaim` command line: serve, migrate, manage users, import rosters, verify the audit log.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use medclaim::accounts::domain::{Username, check_new_password, hash_password};
use medclaim::accounts::store;
use medclaim::audit::{self, Actor, Event, Verdict};
use medclaim::http::auth::Role;
use medclaim::roster::{self, Kind};
use medclaim::{Application, Settings};

#[derive(Parser)]
#[command(
    name = "medclaim",
    version,
    about = "Medical reimbursement and insurance claims"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Data directory: SQLite database, uploads and keys.
    #[arg(
        long,
        global = true,
        env = "MEDCLAIM_DATA_DIR",
        default_value = "./data"
    )]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web application and API.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Import the student roster or the coverage list (CSV or XLSX).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The upload store.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Copy the database, the upload store and keys.json into a new directory, with a manifest
    /// of SHA-256 hashes; safe while the server is running.
    Backup {
        /// A directory that does not exist yet or is empty.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into an empty data directory, database and upload store, after checking
    /// every hash of its manifest.
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Copy every stored file to another store and verify each copy's hash; then point
    /// MEDCLAIM_STORAGE_URL at it.
    Migrate {
        /// `s3://bucket/prefix` (with the MEDCLAIM_S3_* connection) or `file:///dir`.
        #[arg(long)]
        to: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MEDCLAIM_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Fill in a demo university and print the demo logins.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// student, reviewer1, reviewer2, admin, finance or auditor (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
    },
    /// Set a user's password, read from standard input.
    Passwd {
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Columns student_id,name,class,phone,id_number,status.
    Students { file: PathBuf },
    /// Columns student_id,year[,insurer_id,policy_no].
    Coverage { file: PathBuf },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain end to end.
    Verify,
}

#[tokio::main]
async fn main() -> ExitCode {
    medclaim::telemetry::init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let password = input.lines().next().unwrap_or("").to_string();
    check_new_password(&password).map_err(|why| anyhow::anyhow!("password {why}"))?;
    Ok(password)
}

/// Opens the data ([`Settings::open`]) and seals medical content written before sealing existed.
async fn open_data(
    settings: &Settings,
) -> anyhow::Result<(medclaim::db::Db, medclaim::crypto::Keys)> {
    let (db, keys) = settings.open().await?;
    medclaim::seal::migrate::seal_existing(
        &db,
        &keys,
        &settings.data_dir,
        medclaim::storage::path_of,
    )
    .await?;
    Ok((db, keys))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::new(cli.data_dir);
    let cli_actor = Actor::system("cli");
    match cli.command {
        Command::Serve(args) => {
            settings.bind = args.bind;
            let (db, keys) = open_data(&settings).await?;
            if args.demo {
                let logins = medclaim::demo::seed_all(&settings, &db, &keys).await?;
                println!(
                    "Demo university ready. Every demo login uses the password: {}",
                    medclaim::demo::DEMO_PASSWORD
                );
                for l in &logins {
                    println!("  {:<12} {}", l.username, l.role);
                }
                println!(
                    "Try: 2025000001 claims a visit the hospital pushed with one tap (一键报销); \
                     finance opens 报表导出 and 账目与对账 (the demo insurer's ledger)."
                );
            }
            let app = Application::build_with(settings, db, keys).await?;
            println!(
                "medclaim listening on http://{}:{}/",
                app.state().settings.bind.ip(),
                app.port()
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let db = medclaim::db::Db::connect(&settings.database_url()).await?;
            let n = medclaim::db::migrate(&db).await?;
            println!("{n} migration(s) applied");
            std::fs::create_dir_all(&settings.data_dir)?;
            let keys = medclaim::crypto::Keys::load_or_create(&settings.data_dir)?;
            let sealed = medclaim::seal::migrate::seal_existing(
                &db,
                &keys,
                &settings.data_dir,
                medclaim::storage::path_of,
            )
            .await?;
            println!(
                "{} value(s) and {} file(s) sealed",
                sealed.values, sealed.files
            );
        }
        Command::User(UserCommand::Add {
            username,
            name,
            roles,
        }) => {
            let username =
                Username::parse(&username).map_err(|why| anyhow::anyhow!("username {why}"))?;
            anyhow::ensure!(!name.trim().is_empty(), "name is empty");
            let password = read_password()?;
            let (db, keys) = open_data(&settings).await?;
            anyhow::ensure!(
                store::find_by_username(&db.pool, username.as_str())
                    .await?
                    .is_none(),
                "a user named {} exists already",
                username.as_str()
            );
            let hash = hash_password(password).await?;
            let mut tx = db.begin().await?;
            let user = store::NewUser {
                username: username.as_str().into(),
                name: name.trim().into(),
                class_name: None,
                phone: None,
                id_number: None,
                enrolment_status: "enrolled".into(),
                password_hash: Some(hash),
                roles: roles.clone(),
            };
            let id = store::insert_user(&mut tx, &keys, &user).await?;
            let roles_text: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            let event = Event {
                action: "user.create",
                object_type: "user",
                object_id: id.to_string(),
                summary: format!("roles {}", roles_text.join(",")),
            };
            audit::record(&mut tx, &cli_actor, event).await?;
            tx.commit().await?;
            println!("user {} added (id {id})", username.as_str());
        }
        Command::User(UserCommand::Passwd { username }) => {
            let password = read_password()?;
            let (db, _keys) = open_data(&settings).await?;
            let user = store::find_by_username(&db.pool, &username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username}"))?;
            let hash = hash_password(password).await?;
            let mut tx = db.begin().await?;
            store::set_password(&mut tx, user.id, &hash).await?;
            let event = Event {
                action: "user.passwd",
                object_type: "user",
                object_id: user.id.to_string(),
                summary: "password set".into(),
            };
            audit::record(&mut tx, &cli_actor, event).await?;
            tx.commit().await?;
            println!("password set for {username}");
        }
        Command::Import(cmd) => {
            let (kind, file) = match cmd {
                ImportCommand::Students { file } => (Kind::Students, file),
                ImportCommand::Coverage { file } => (Kind::Coverage, file),
            };
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let (db, keys) = open_data(&settings).await?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let report = roster::import(&db, &keys, kind, &name, &bytes, &cli_actor).await?;
            if !report.applied {
                eprintln!(
                    "nothing imported: {} problem(s) in {}",
                    report.errors.len(),
                    file.display()
                );
                for e in &report.errors {
                    eprintln!("  {e}");
                }
                return Ok(ExitCode::from(2));
            }
            println!(
                "imported {} row(s): {} created, {} updated, {} unchanged",
                report.rows, report.created, report.updated, report.unchanged
            );
        }
        Command::Storage(StorageCommand::Migrate { to }) => {
            let (db, keys) = open_data(&settings).await?;
            let from = settings.file_store()?;
            let dest = medclaim::db::FileStore::at(&to, &settings.storage)?;
            let report = medclaim::storage::transfer::copy_store(&db, &keys, &from, &dest).await?;
            println!(
                "{} file(s) in {}: {} copied, {} already there, {} verified (SHA-256 and content hash), {} byte(s)",
                report.listed,
                from.url(),
                report.copied,
                report.present,
                report.verified,
                report.bytes
            );
            println!(
                "{} file(s) referenced by the database, {} missing",
                report.referenced,
                report.missing.len()
            );
            if !report.missing.is_empty() {
                for name in &report.missing {
                    eprintln!("  missing: {name}");
                }
                return Ok(ExitCode::from(4));
            }
            println!("now set MEDCLAIM_STORAGE_URL={}", dest.url());
        }
        Command::Backup { to } => {
            let (db, _keys) = open_data(&settings).await?;
            let files = settings.file_store()?;
            let report = medclaim::backup::backup(&settings, &db, &files, &to).await?;
            println!(
                "backup written to {}: database {} byte(s), {} file(s) ({} byte(s)), keys.json {}, {:.2} s",
                to.display(),
                report.database_bytes,
                report.files,
                report.file_bytes,
                if report.keys {
                    "included"
                } else {
                    "not in the data directory (keys come from the environment: keep them safe separately)"
                },
                report.seconds
            );
        }
        Command::Restore { from } => {
            let report = medclaim::backup::restore(&settings, &from).await?;
            println!(
                "restored from {}: {} case(s), {} file(s), {} audit event(s); run `medclaim audit verify` next",
                from.display(),
                report.cases,
                report.files,
                report.audit_events
            );
        }
        Command::Audit(AuditCommand::Verify) => {
            let db = medclaim::db::Db::connect(&settings.database_url()).await?;
            match audit::verify(&db).await? {
                Verdict::Intact { events } => println!("audit log intact: {events} event(s)"),
                Verdict::Broken { seq, event_id, why } => {
                    let id = event_id
                        .map(|i| format!(" (row id {i})"))
                        .unwrap_or_default();
                    eprintln!("audit log BROKEN at event {seq}{id}: {why}");
                    return Ok(ExitCode::from(3));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
