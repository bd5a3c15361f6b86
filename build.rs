//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the `migrations/` folder at compile
//! time, and without this a new migration file could be left out of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
